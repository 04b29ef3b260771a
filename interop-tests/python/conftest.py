"""Shared fixtures for the Python client interop tests.

One Sluice broker binary serves the whole pytest session:
`$SLUICE_BIN serve --memory --listen 127.0.0.1:<free port> --http 127.0.0.1:<free port>`
(`SLUICE_BIN` defaults to `target/debug/sluice` in the repository). Its output goes to
`$INTEROP_LOG_DIR/broker-python.log` (default: the system temp dir), and it is stopped at the
end of the session (SIGTERM, then SIGKILL), or by the kernel if pytest itself dies; its pid is
in `$INTEROP_LOG_DIR/broker-python-<pytest pid>.pid` meanwhile, for run-matrix.sh's clean-up.

Every test uses its own topics and groups (`unique`), so tests never see each other's data.
The expectations every client must meet (records with keys and headers, the group split and
resume) live here, so that each client's test file only drives its own API.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Kafka's classic group protocol, tuned to the broker's limits: 6000 ms is the broker's
# minimum session timeout, and its initial rebalance delay is 0.
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 1000
# Longest wait for anything a healthy broker does in well under a second.
TIMEOUT_S = 30.0
# How long a consumer must stay silent to show that nothing more is coming.
QUIET_S = 1.5

GROUP_PARTITIONS = 4
FIRST_ROUND_PER_PARTITION = 10
SECOND_ROUND_PER_PARTITION = 5
CODECS = ["gzip", "snappy", "lz4", "zstd"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the broker's child process: receive SIGTERM when pytest dies (Linux prctl)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def _wait_until_accepting(proc: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"sluice exited with {proc.returncode} before accepting; log:\n{log_path.read_text()}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sluice did not accept on 127.0.0.1:{port} within {TIMEOUT_S}s")


def broker_env() -> dict[str, str]:
    """The environment for the broker: ours without SLUICE_* variables (the broker reads every
    SLUICE_<KEY> as a config key and refuses unknown ones, SLUICE_BIN included)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    env["NO_COLOR"] = "1"
    return env


@pytest.fixture(scope="session")
def broker() -> Iterator[tuple[str, str]]:
    """(`host:port` of the Kafka listener, `host:port` of the HTTP admin listener) of the one
    broker of this session."""
    binary = Path(os.environ.get("SLUICE_BIN", REPO / "target" / "debug" / "sluice"))
    if not binary.is_file():
        pytest.exit(f"no broker binary at {binary}: run `cargo build -p sluice --bin sluice`", 2)
    port = _free_port()
    http_port = _free_port()
    log_dir = Path(os.environ.get("INTEROP_LOG_DIR", tempfile.gettempdir()))
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "broker-python.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [
            str(binary),
            "serve",
            "--memory",
            "--listen",
            f"127.0.0.1:{port}",
            "--http",
            f"127.0.0.1:{http_port}",
        ],
        env=broker_env(),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    pid_file = log_dir / f"broker-python-{os.getpid()}.pid"
    pid_file.write_text(f"{proc.pid}\n")
    try:
        _wait_until_accepting(proc, port, log_path)
        _wait_until_accepting(proc, http_port, log_path)
        yield f"127.0.0.1:{port}", f"127.0.0.1:{http_port}"
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        pid_file.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def bootstrap(broker: tuple[str, str]) -> str:
    """`host:port` of the one broker of this session."""
    return broker[0]


@pytest.fixture(scope="session")
def admin_http(broker: tuple[str, str]) -> str:
    """`http://host:port` of the broker's HTTP admin API (faults, reset, requests)."""
    return f"http://{broker[1]}"


_counter = itertools.count()


def unique(prefix: str) -> str:
    """A topic or group name no other test of this session uses."""
    return f"{prefix}-{os.getpid()}-{next(_counter)}"


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    """Set-up for tests that are not about admin APIs: one CreateTopics through librdkafka,
    so that a failure of the client under test's admin API shows only in its admin test."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout=TIMEOUT_S)


# ---------------------------------------------------------------------------------------------
# (a) records with keys and headers: what every client produces and must read back exactly.
# ---------------------------------------------------------------------------------------------

# (key, value, headers). Headers are ordered (name, value) pairs; a name may repeat.
KEYED_RECORDS: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = [
    (b"key-0", b"value-0", [("trace-id", b"abc-123"), ("attempt", b"1")]),
    (b"key-1", b"value-1", [("dup", b"first"), ("dup", b"second"), ("dup", b"third")]),
    (b"\x00\xffbinary-key", bytes(range(256)), [("bin", bytes(range(255, -1, -1)))]),
    (b"key-3", b"", [("empty", b"")]),
    ("ключ-ü".encode(), "значение-€".encode(), [("ünïcode-name", "välue-✓".encode())]),
    (None, b"no key", [("only-header", b"x")]),
    (b"tombstone-key", None, [("deleted", b"yes")]),
    (b"key-7", b"no headers", []),
]


def assert_same_records(expected, received) -> None:
    """`received` as (key, value, headers) with headers a list of (str, bytes) pairs (an absent
    header list given as [] or None) must equal `expected` exactly, in order."""
    got = [(k, v, list(h or [])) for k, v, h in received]
    assert len(got) == len(expected), f"expected {len(expected)} records, got {len(got)}: {got!r}"
    for i, (want, have) in enumerate(zip(expected, got)):
        assert have == want, f"record {i}: expected {want!r}, got {have!r}"


def compressible_values(count: int) -> list[bytes]:
    """Distinct, highly compressible values (so every codec really compresses)."""
    return [(f"message {i:05d} " + "sluice " * 40).encode() for i in range(count)]


# ---------------------------------------------------------------------------------------------
# (b) a group of two that splits four partitions, commits, and a restart that resumes.
# ---------------------------------------------------------------------------------------------


def first_round() -> dict[int, list[bytes]]:
    return {
        p: [f"round1-p{p}-{i}".encode() for i in range(FIRST_ROUND_PER_PARTITION)]
        for p in range(GROUP_PARTITIONS)
    }


def second_round() -> dict[int, list[bytes]]:
    return {
        p: [f"round2-p{p}-{i}".encode() for i in range(SECOND_ROUND_PER_PARTITION)]
        for p in range(GROUP_PARTITIONS)
    }


def assert_split(assignments: list[set[int]]) -> None:
    """Two members, each with a non-empty share, disjoint, covering every partition."""
    assert len(assignments) == 2, assignments
    a, b = assignments
    assert a and b, f"a member got no partitions: {assignments}"
    assert not (a & b), f"members share partitions: {assignments}"
    assert a | b == set(range(GROUP_PARTITIONS)), f"partitions not covered: {assignments}"


def assert_member_received(
    member: int, assigned: set[int], received: list[tuple[int, bytes]], produced: dict[int, list[bytes]]
) -> None:
    """A member received exactly the records of its own partitions, in partition order."""
    by_partition: dict[int, list[bytes]] = {}
    for partition, value in received:
        by_partition.setdefault(partition, []).append(value)
    assert set(by_partition) <= assigned, (
        f"member {member} received from partitions {sorted(by_partition)} but owns {sorted(assigned)}"
    )
    for p in assigned:
        assert by_partition.get(p, []) == produced[p], (
            f"member {member}, partition {p}: expected {produced[p]!r}, got {by_partition.get(p, [])!r}"
        )


def assert_resumed(received: list[tuple[int, bytes]]) -> None:
    """The restarted member got exactly the second round: nothing committed came back."""
    committed = {v for vs in first_round().values() for v in vs}
    redelivered = [v for _, v in received if v in committed]
    assert not redelivered, f"committed records delivered again after restart: {redelivered!r}"
    by_partition: dict[int, list[bytes]] = {}
    for partition, value in received:
        by_partition.setdefault(partition, []).append(value)
    assert by_partition == second_round(), f"after restart expected {second_round()!r}, got {by_partition!r}"
