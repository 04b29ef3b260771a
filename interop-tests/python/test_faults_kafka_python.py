"""Fault injection (`/admin/faults`) seen from kafka-python: an injected, retriable Produce
error is retried through and the record lands once; a Fetch delay shows in the first record's
latency (and a topic without the rule reads fast); a closed connection is reconnected and the
send still succeeds.

The broker is shared by the session, so every rule here names this test's own topic and is
deleted at the end."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from conftest import QUIET_S, TIMEOUT_S, create_topic, unique
from test_faults import call, listed

TIMEOUT_MS = int(TIMEOUT_S * 1000)


def producer(bootstrap: str) -> KafkaProducer:
    # Retries on (kafka-python retries retriable errors and broken connections).
    return KafkaProducer(
        bootstrap_servers=bootstrap, retries=5, retry_backoff_ms=50, request_timeout_ms=TIMEOUT_MS
    )


def assigned_consumer(bootstrap: str) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=100
    )


def read_one(c: KafkaConsumer, topic: str) -> tuple[float, list]:
    """Assigns `topic`'s partition 0 from offset 0 and polls until a record arrives: (seconds it
    took, the records of that poll as (key, value, offset))."""
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek(tp, 0)
    started = time.monotonic()
    while time.monotonic() - started < TIMEOUT_S:
        batch = c.poll(timeout_ms=100).get(tp, [])
        if batch:
            return time.monotonic() - started, [(r.key, r.value, r.offset) for r in batch]
    raise AssertionError(f"no record from {topic} within {TIMEOUT_S}s")


def read_all(bootstrap: str, topic: str) -> list:
    """Every record of partition 0: polls until QUIET_S pass without one."""
    c = assigned_consumer(bootstrap)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek(tp, 0)
    got = []
    quiet_since = time.monotonic()
    deadline = quiet_since + TIMEOUT_S
    while time.monotonic() - quiet_since < QUIET_S and time.monotonic() < deadline:
        batch = c.poll(timeout_ms=100).get(tp, [])
        if batch:
            got.extend((r.key, r.value, r.offset) for r in batch)
            quiet_since = time.monotonic()
    c.close()
    return got


def add_fault(admin_http: str, rule: dict) -> int:
    status, body = call(admin_http, "POST", "/admin/faults", rule)
    assert status == 201, body
    return body["id"]


def test_a_produce_error_fault_is_retried_through_and_the_record_lands_once(bootstrap, admin_http):
    topic = unique("kp-fault")
    create_topic(bootstrap, topic, 1)
    fault_id = add_fault(
        admin_http,
        {"api": "Produce", "topic": topic, "action": "error", "error": "NOT_LEADER_OR_FOLLOWER", "count": 2},
    )
    try:
        p = producer(bootstrap)
        meta = p.send(topic, key=b"k", value=b"once", partition=0).get(timeout=TIMEOUT_S)
        p.close()
        assert (meta.partition, meta.offset) == (0, 0)
        fault = listed(admin_http, fault_id)
        assert (fault["fired"], fault["spent"]) == (2, True), fault
        assert read_all(bootstrap, topic) == [(b"k", b"once", 0)]
    finally:
        call(admin_http, "DELETE", f"/admin/faults/{fault_id}")


def test_a_fetch_delay_fault_shows_in_the_first_records_latency(bootstrap, admin_http):
    topic = unique("kp-delay")
    fast = unique("kp-delay-control")
    create_topic(bootstrap, topic, 1)
    create_topic(bootstrap, fast, 1)
    p = producer(bootstrap)
    p.send(topic, value=b"late", partition=0).get(timeout=TIMEOUT_S)
    p.send(fast, value=b"quick", partition=0).get(timeout=TIMEOUT_S)
    p.close()
    fault_id = add_fault(admin_http, {"api": "Fetch", "topic": topic, "action": "delay", "delay_ms": 1500})
    try:
        c = assigned_consumer(bootstrap)
        # The topic without a rule first (this also opens the connections).
        fast_s, fast_got = read_one(c, fast)
        slow_s, slow_got = read_one(c, topic)
        c.close()
        assert fast_got == [(None, b"quick", 0)]
        assert slow_got == [(None, b"late", 0)]
        assert slow_s >= 1.4, f"the delayed record came after {slow_s:.3f}s"
        assert fast_s < 1.0, f"the topic without a rule took {fast_s:.3f}s"
        assert listed(admin_http, fault_id)["fired"] >= 1
    finally:
        call(admin_http, "DELETE", f"/admin/faults/{fault_id}")


def test_a_produce_close_fault_is_reconnected_and_the_send_succeeds(bootstrap, admin_http):
    topic = unique("kp-close")
    create_topic(bootstrap, topic, 1)
    fault_id = add_fault(admin_http, {"api": "Produce", "topic": topic, "action": "close", "count": 1})
    try:
        p = producer(bootstrap)
        meta = p.send(topic, key=b"k", value=b"after-close", partition=0).get(timeout=TIMEOUT_S)
        p.close()
        assert (meta.partition, meta.offset) == (0, 0)
        fault = listed(admin_http, fault_id)
        assert (fault["fired"], fault["spent"]) == (1, True), fault
        assert read_all(bootstrap, topic) == [(b"k", b"after-close", 0)]
    finally:
        call(admin_http, "DELETE", f"/admin/faults/{fault_id}")
