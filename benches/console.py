#!/usr/bin/env python3
"""What the web console costs: produce throughput with nobody looking against with a live tail
open on the topic being produced to, and the broker's RSS idle, after a run without the console
and while tailing. Medians over --runs runs, the two cases alternating.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install confluent-kafka==2.16.1
    /tmp/venv/bin/python benches/console.py --bin target/release/sluice [--runs 5] [--records 200000]

The tail is a plain SSE reader (a socket reading `/ui/api/topics/bench/tail`) that counts its
`record` events and must see exactly as many as were produced. Prints a Markdown report.
"""
import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

from confluent_kafka import Producer


def start(binary):
    proc = subprocess.Popen(
        [binary, "serve", "--memory", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith('{"sluice":"ready"'):
            ready = json.loads(line)
            # Keep draining the log so the broker never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, ready["kafka"], ready["http"]
    raise SystemExit("the broker did not start")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def api(http, method, path, body=None):
    req = urllib.request.Request(f"http://{http}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


class Tail(threading.Thread):
    """Reads the topic's live tail and counts its record events."""

    def __init__(self, http, topic):
        super().__init__(daemon=True)
        host, port = http.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))
        self.sock.sendall(f"GET /ui/api/topics/{topic}/tail HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self.records = 0
        self.ready = threading.Event()
        self.stop = False

    def run(self):
        buf = b""
        while not self.stop:
            try:
                chunk = self.sock.recv(1 << 16)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            lines = buf.split(b"\n")
            buf = lines.pop()
            for line in lines:
                if line.startswith(b"event: record"):
                    self.records += 1
                elif line.startswith(b"event: ready"):
                    self.ready.set()

    def close(self):
        self.stop = True
        self.sock.close()


def produce(kafka, topic, records, size):
    producer = Producer({"bootstrap.servers": kafka, "linger.ms": 5, "batch.size": 1 << 20,
                         "queue.buffering.max.messages": 1_000_000, "acks": "all"})
    value = b"x" * size
    started = time.perf_counter()
    for i in range(records):
        while True:
            try:
                producer.produce(topic, value, key=str(i).encode(), partition=0)
                break
            except BufferError:
                producer.poll(0.01)
        if i % 10_000 == 0:
            producer.poll(0)
    left = producer.flush(60)
    if left:
        raise SystemExit(f"{left} records not delivered")
    return records / (time.perf_counter() - started)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="target/release/sluice")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=100)
    args = ap.parse_args()

    proc, kafka, http = start(args.bin)
    try:
        idle = rss_kib(proc.pid)
        without, with_tail, rss_without, rss_tail, tail_lag = [], [], [], [], []
        for run in range(args.runs):
            for tailing in (False, True):
                topic = f"bench-{run}-{int(tailing)}"
                api(http, "POST", "/ui/api/topics", {"name": topic, "partitions": 1})
                tail = None
                if tailing:
                    tail = Tail(http, topic)
                    tail.start()
                    tail.ready.wait(10)
                rate = produce(kafka, topic, args.records, args.size)
                produced = time.perf_counter()
                if tailing:
                    peak = rss_kib(proc.pid)
                    deadline = time.time() + 120
                    while tail.records < args.records and time.time() < deadline:
                        peak = max(peak, rss_kib(proc.pid))
                        time.sleep(0.05)
                    if tail.records != args.records:
                        raise SystemExit(f"the tail saw {tail.records} of {args.records} records")
                    tail_lag.append(time.perf_counter() - produced)
                    rss_tail.append(peak)
                    with_tail.append(rate)
                    tail.close()
                else:
                    rss_without.append(rss_kib(proc.pid))
                    without.append(rate)
                # The next pair starts from an empty broker's worth of memory.
                api(http, "DELETE", f"/ui/api/topics/{topic}")
        med = statistics.median
        print(f"# Console cost ({args.runs} runs, {args.records} records of {args.size} B, one partition, memory mode)\n")
        print("| case | produce records/s (median) | broker RSS MiB (median) |")
        print("|---|---|---|")
        print(f"| idle, nothing produced | - | {idle / 1024:.1f} |")
        print(f"| nobody has the console open | {med(without):,.0f} | {med(rss_without) / 1024:.1f} |")
        print(f"| live tail open on the topic | {med(with_tail):,.0f} | {med(rss_tail) / 1024:.1f} (peak while tailing) |")
        print(f"\nThe tail had every record {med(tail_lag):.2f} s (median) after the producer's flush; "
              f"throughput with the tail is {100 * med(with_tail) / med(without):.0f}% of without.")
        print(f"Runs without: {[round(r) for r in without]}; with: {[round(r) for r in with_tail]}")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
