#!/usr/bin/env python3
"""How Sluice's costs grow with the work: partitions and idle connections.

For each partition count (10 -> 10,000, as topics of up to 100 partitions) it starts a
`sluice serve` on a fresh data directory and prints:
  create_s      CreateTopics of all partitions, answered
  produce_mps   messages/s of 100-byte records spread over every partition, and the same
                over 3 partitions (so the ratio shows what spreading costs)
  cpu_us/msg    CPU per message of the spread produce, the broker's and the client's
                (librdkafka and this script): which side spreading costs
  rss_mib/fds   the broker's resident memory and open descriptors after the produce
  stop_s        SIGTERM to exit (a clean shutdown: everything durable, logs marked clean)
  ready_s       restart to the first Metadata answer, after that clean stop and after kill -9
Then idle connections (1,000 -> 10,000, after one ApiVersions each): RSS growth per connection.

Usage: python3 benches/scale.py [--binary target/release/sluice] [--partitions 10,100,1000,10000]
           [--connections 1000,5000,10000] [--runs 3] [--max-open-segment-files N]
--max-open-segment-files sets the broker's cap on open segment files (default: what its
open-file limit leaves), to measure what a cap below the partition count costs: fds then
stays near N, and appends spread over more partitions than N reopen files.
Needs confluent-kafka (`pip install confluent-kafka==2.16.1`). Every figure is the median of
--runs runs; the machine is noisy, so compare medians and ratios, not single runs.
Everything listens on 127.0.0.1, ephemeral ports; data goes to a temporary directory.
"""

import argparse
import os
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

DEADLINE_S = 300


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Settings for every broker started, as SLUICE_* variables (--max-open-segment-files).
BROKER_ENV = {}


class Broker:
    def __init__(self, binary, data_dir=None):
        self.binary, self.data_dir, self.port = binary, data_dir, free_port()
        self.proc = None

    def start(self):
        storage = ["--data-dir", self.data_dir] if self.data_dir else ["--memory"]
        self.proc = subprocess.Popen(
            [self.binary, "serve", *storage, "--listen", f"127.0.0.1:{self.port}", "--http", "none"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **BROKER_ENV},
        )
        return self.wait_ready()

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def wait_ready(self):
        started = time.monotonic()
        while time.monotonic() - started < DEADLINE_S:
            if self.proc.poll() is not None:
                sys.exit(f"the broker exited with {self.proc.returncode}")
            try:
                AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=0.5)
                return time.monotonic() - started
            except Exception:
                time.sleep(0.01)
        sys.exit("the broker did not answer Metadata in time")

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def cpu_s(self):
        """User and system CPU the broker has used so far, in seconds."""
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self, kill=False):
        started = time.monotonic()
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        self.proc.wait(timeout=DEADLINE_S)
        return time.monotonic() - started


def topics_for(partitions):
    per_topic = min(partitions, 100)
    return [(f"scale-{i}", per_topic) for i in range(partitions // per_topic)]


def create(broker, topics):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    started = time.monotonic()
    futures = admin.create_topics(
        [NewTopic(name, count, 1) for name, count in topics], request_timeout=DEADLINE_S
    )
    for future in futures.values():
        future.result()
    return time.monotonic() - started


def produce_rate(broker, targets, messages, cpu=None):
    """Messages/s of `messages` 100-byte records, round-robin over (topic, partition); with a
    dict as `cpu`, the broker's and this process's CPU per message (µs) go in it."""
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "queue.buffering.max.messages": 1000000}
    )
    value = b"x" * 100
    started = time.monotonic()
    broker_cpu, client = broker.cpu_s(), os.times()
    for i in range(messages):
        topic, partition = targets[i % len(targets)]
        while True:
            try:
                producer.produce(topic, value, partition=partition)
                break
            except BufferError:
                producer.poll(0.01)
        if i % 10000 == 0:
            producer.poll(0)
    producer.flush(DEADLINE_S)
    elapsed = time.monotonic() - started
    if cpu is not None:
        after = os.times()
        cpu["broker_cpu_us_per_msg"] = (broker.cpu_s() - broker_cpu) * 1e6 / messages
        client_s = (after.user - client.user) + (after.system - client.system)
        cpu["client_cpu_us_per_msg"] = client_s * 1e6 / messages
    return messages / elapsed


def partitions_run(binary, partitions):
    data_dir = tempfile.mkdtemp(prefix="sluice-scale-")
    try:
        broker = Broker(binary, data_dir)
        broker.start()
        topics = topics_for(partitions)
        figures = {"create_s": create(broker, topics)}
        everywhere = [(name, p) for name, count in topics for p in range(count)]
        messages = max(50_000, 5 * len(everywhere))
        figures["produce_mps_all"] = produce_rate(broker, everywhere, messages, figures)
        figures["produce_mps_3"] = produce_rate(broker, everywhere[:3], messages)
        figures["rss_mib"], figures["fds"] = broker.rss_mib(), broker.fds()
        figures["stop_s"] = broker.stop()
        figures["ready_after_stop_s"] = broker.start()
        broker.stop(kill=True)
        figures["ready_after_kill_s"] = broker.start()
        broker.stop()
        return figures
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def connections_run(binary, count):
    broker = Broker(binary)
    broker.start()
    time.sleep(0.2)
    before = broker.rss_mib()
    header = struct.pack(">hhih", 18, 0, 1, 5) + b"scale"
    frame = struct.pack(">i", len(header)) + header
    sockets = []
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", broker.port))
            s.sendall(frame)
            sockets.append(s)
        for s in sockets:
            s.recv(65536)
        time.sleep(0.5)
        after = broker.rss_mib()
        return {"rss_mib": after, "kib_per_connection": (after - before) * 1024 / count}
    finally:
        for s in sockets:
            s.close()
        broker.stop()


def medians(runs):
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default="target/release/sluice")
    parser.add_argument("--partitions", default="10,100,1000,10000")
    parser.add_argument("--connections", default="1000,5000,10000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-open-segment-files", type=int)
    args = parser.parse_args()
    if args.max_open_segment_files is not None:
        BROKER_ENV["SLUICE_MAX_OPEN_SEGMENT_FILES"] = str(args.max_open_segment_files)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    print("partitions  create_s  produce_mps_all  produce_mps_3  broker_cpu_us/msg  client_cpu_us/msg"
          "  rss_mib  fds  stop_s  ready_after_stop_s  ready_after_kill_s")
    for partitions in map(int, args.partitions.split(",")):
        m = medians([partitions_run(args.binary, partitions) for _ in range(args.runs)])
        print(
            f"{partitions:>10}  {m['create_s']:8.2f}  {m['produce_mps_all']:15.0f}  {m['produce_mps_3']:13.0f}"
            f"  {m['broker_cpu_us_per_msg']:17.1f}  {m['client_cpu_us_per_msg']:17.1f}"
            f"  {m['rss_mib']:7.1f}  {m['fds']:4.0f}  {m['stop_s']:6.2f}  {m['ready_after_stop_s']:18.2f}"
            f"  {m['ready_after_kill_s']:18.2f}",
            flush=True,
        )
    print("connections  rss_mib  kib_per_connection")
    for count in map(int, args.connections.split(",")):
        m = medians([connections_run(args.binary, count) for _ in range(args.runs)])
        print(f"{count:>11}  {m['rss_mib']:7.1f}  {m['kib_per_connection']:18.1f}", flush=True)


if __name__ == "__main__":
    main()
