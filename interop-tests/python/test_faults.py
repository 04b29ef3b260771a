"""Fault injection (`/admin/faults`) seen from confluent-kafka: an injected, retriable
Produce error is retried through and the record lands once; a Fetch delay slows the consumer; a
closed connection is reconnected and the send succeeds.

The broker is shared by the session, so every rule here names this test's own topic and is
deleted at the end."""

from __future__ import annotations

import json
import time
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import TIMEOUT_S, create_topic, unique


def call(admin_http: str, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        admin_http + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
        return answer.status, json.loads(answer.read() or b"null")


def listed(admin_http: str, fault_id: int) -> dict:
    _, faults = call(admin_http, "GET", "/admin/faults")
    return next(f for f in faults if f["id"] == fault_id)


def test_a_produce_error_fault_is_retried_through_and_the_record_lands_once(bootstrap, admin_http):
    topic = unique("py-fault")
    create_topic(bootstrap, topic, 1)
    status, body = call(
        admin_http,
        "POST",
        "/admin/faults",
        {"api": "Produce", "topic": topic, "action": "error", "error": "NOT_LEADER_OR_FOLLOWER", "count": 2},
    )
    assert status == 201, body
    fault_id = body["id"]
    try:
        p = Producer({"bootstrap.servers": bootstrap, "retry.backoff.ms": 50, "message.timeout.ms": 20000})
        reports = []
        p.produce(topic, key=b"k", value=b"once", on_delivery=lambda err, msg: reports.append((err, msg)))
        assert p.flush(TIMEOUT_S) == 0
        assert len(reports) == 1
        err, msg = reports[0]
        assert err is None, err
        assert (msg.partition(), msg.offset()) == (0, 0)
        fault = listed(admin_http, fault_id)
        assert (fault["fired"], fault["spent"]) == (2, True), fault

        c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("py-fault-g"), "enable.auto.commit": False})
        c.assign([TopicPartition(topic, 0, 0)])
        got = []
        deadline = time.monotonic() + TIMEOUT_S
        while not got and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got.append((m.key(), m.value(), m.offset()))
        # Nothing else arrives: the record was appended once.
        quiet_until = time.monotonic() + 1.0
        while time.monotonic() < quiet_until:
            m = c.poll(0.2)
            assert m is None or m.error() is not None, (m.key(), m.value(), m.offset())
        c.close()
        assert got == [(b"k", b"once", 0)]
    finally:
        call(admin_http, "DELETE", f"/admin/faults/{fault_id}")


def test_a_fetch_delay_fault_slows_the_consumer(bootstrap, admin_http):
    topic = unique("py-delay")
    create_topic(bootstrap, topic, 1)
    p = Producer({"bootstrap.servers": bootstrap})
    p.produce(topic, value=b"late", partition=0)
    assert p.flush(TIMEOUT_S) == 0
    status, body = call(
        admin_http, "POST", "/admin/faults", {"api": "Fetch", "topic": topic, "action": "delay", "delay_ms": 1500}
    )
    assert status == 201, body
    try:
        started = time.monotonic()
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("py-delay-g"), "enable.auto.commit": False})
        c.assign([TopicPartition(topic, 0, 0)])
        value = None
        while value is None and time.monotonic() - started < TIMEOUT_S:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                value = m.value()
        waited = time.monotonic() - started
        c.close()
        assert value == b"late"
        assert waited >= 1.5, waited
        assert listed(admin_http, body["id"])["fired"] >= 1
    finally:
        call(admin_http, "DELETE", f"/admin/faults/{body['id']}")


def test_a_produce_close_fault_is_reconnected_and_the_send_succeeds(bootstrap, admin_http):
    topic = unique("py-close")
    create_topic(bootstrap, topic, 1)
    status, body = call(admin_http, "POST", "/admin/faults", {"api": "Produce", "topic": topic, "action": "close", "count": 1})
    assert status == 201, body
    fault_id = body["id"]
    try:
        p = Producer({"bootstrap.servers": bootstrap, "retry.backoff.ms": 50, "message.timeout.ms": 20000})
        reports = []
        p.produce(topic, key=b"k", value=b"after-close", on_delivery=lambda err, msg: reports.append((err, msg)))
        assert p.flush(TIMEOUT_S) == 0
        assert len(reports) == 1
        err, msg = reports[0]
        assert err is None, err
        assert (msg.partition(), msg.offset()) == (0, 0)
        fault = listed(admin_http, fault_id)
        assert (fault["fired"], fault["spent"]) == (1, True), fault

        c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("py-close-g"), "enable.auto.commit": False})
        c.assign([TopicPartition(topic, 0, 0)])
        got = []
        quiet_since = time.monotonic()
        deadline = quiet_since + TIMEOUT_S
        while (not got or time.monotonic() - quiet_since < 1.0) and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got.append((m.key(), m.value(), m.offset()))
                quiet_since = time.monotonic()
        c.close()
        # Sent again after the reconnection, appended once.
        assert got == [(b"k", b"after-close", 0)]
    finally:
        call(admin_http, "DELETE", f"/admin/faults/{fault_id}")
