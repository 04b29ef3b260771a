"""aiokafka (asyncio) against Sluice."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from conftest import (
    CODECS,
    GROUP_PARTITIONS,
    HEARTBEAT_INTERVAL_MS,
    KEYED_RECORDS,
    QUIET_S,
    SESSION_TIMEOUT_MS,
    TIMEOUT_S,
    assert_member_received,
    assert_resumed,
    assert_same_records,
    assert_split,
    compressible_values,
    create_topic,
    first_round,
    second_round,
    unique,
)

TIMEOUT_MS = int(TIMEOUT_S * 1000)
TOPIC_ALREADY_EXISTS = 36


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=TIMEOUT_S * 3))


def producer(bootstrap: str, **extra) -> AIOKafkaProducer:
    conf = dict(bootstrap_servers=bootstrap, linger_ms=5, request_timeout_ms=TIMEOUT_MS)
    conf.update(extra)
    return AIOKafkaProducer(**conf)


def consumer(bootstrap: str, group: str | None, *topics: str, **extra) -> AIOKafkaConsumer:
    conf = dict(
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        fetch_max_wait_ms=100,
    )
    conf.update(extra)
    return AIOKafkaConsumer(*topics, **conf)


async def produce_all(p: AIOKafkaProducer, topic: str, records, partition: int | None = None) -> None:
    futures = [
        await p.send(topic, key=key, value=value, headers=headers or None, partition=partition)
        for key, value, headers in records
    ]
    await p.flush()
    for f in futures:
        await asyncio.wait_for(f, TIMEOUT_S)  # raises the delivery error, if any


async def poll_records(c: AIOKafkaConsumer, timeout_ms: int = 100) -> list:
    return [r for batch in (await c.getmany(timeout_ms=timeout_ms)).values() for r in batch]


async def read_partition(bootstrap: str, topic: str, partition: int, count: int):
    c = consumer(bootstrap, None)
    await c.start()
    try:
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        await c.seek_to_beginning(tp)
        got = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < count and time.monotonic() < deadline:
            got.extend(await poll_records(c, 200))
        assert len(got) == count, f"read {len(got)} of {count} records within {TIMEOUT_S}s"
        extra = await poll_records(c, int(QUIET_S * 1000))
        assert not extra, f"unexpected extra records at offsets {[r.offset for r in extra]}"
        return got
    finally:
        await c.stop()


def as_pairs(headers) -> list:
    return [(k, v) for k, v in (headers or ())]


def test_produce_consume_keys_and_headers(bootstrap):
    async def scenario():
        topic = unique("aio-keys")
        p = producer(bootstrap)
        await p.start()
        try:
            await produce_all(p, topic, KEYED_RECORDS, partition=0)
        finally:
            await p.stop()
        return await read_partition(bootstrap, topic, 0, len(KEYED_RECORDS))

    recs = run(scenario())
    assert [r.offset for r in recs] == list(range(len(KEYED_RECORDS)))
    assert_same_records(KEYED_RECORDS, [(r.key, r.value, as_pairs(r.headers)) for r in recs])


async def _poll_into(c: AIOKafkaConsumer, sink: list) -> None:
    sink.extend((r.partition, r.value) for r in await poll_records(c, 50))


def test_consumer_group_split_commit_resume(bootstrap):
    topic, group = unique("aio-group"), unique("aio-group")
    create_topic(bootstrap, topic, GROUP_PARTITIONS)

    async def scenario():
        p = producer(bootstrap)
        await p.start()
        members = [consumer(bootstrap, group, topic), consumer(bootstrap, group, topic)]
        received: list[list] = [[], []]
        try:
            for c in members:
                await c.start()
            deadline = time.monotonic() + TIMEOUT_S
            assignments: list[set[int]] = [set(), set()]
            while time.monotonic() < deadline:
                for i, c in enumerate(members):
                    await _poll_into(c, received[i])
                    assignments[i] = {tp.partition for tp in c.assignment()}
                if all(assignments) and len(assignments[0] | assignments[1]) == GROUP_PARTITIONS and not (
                    assignments[0] & assignments[1]
                ):
                    break
            assert_split(assignments)
            assert received == [[], []], "records before anything was produced"

            produced = first_round()
            for partition, values in produced.items():
                await produce_all(p, topic, [(None, v, []) for v in values], partition=partition)
            total = sum(len(v) for v in produced.values())
            deadline = time.monotonic() + TIMEOUT_S
            while len(received[0]) + len(received[1]) < total and time.monotonic() < deadline:
                for i, c in enumerate(members):
                    await _poll_into(c, received[i])
            quiet_until = time.monotonic() + QUIET_S
            while time.monotonic() < quiet_until:
                for i, c in enumerate(members):
                    await _poll_into(c, received[i])
            for i in range(2):
                assert_member_received(i, assignments[i], received[i], produced)
            for c in members:
                await c.commit()
        finally:
            for c in members:
                await c.stop()

        try:
            for partition, values in second_round().items():
                await produce_all(p, topic, [(None, v, []) for v in values], partition=partition)
        finally:
            await p.stop()

        restarted = consumer(bootstrap, group, topic)
        got: list = []
        await restarted.start()
        try:
            total = sum(len(v) for v in second_round().values())
            deadline = time.monotonic() + TIMEOUT_S
            while len(got) < total and time.monotonic() < deadline:
                await _poll_into(restarted, got)
            quiet_until = time.monotonic() + QUIET_S
            while time.monotonic() < quiet_until:
                await _poll_into(restarted, got)
            assert {tp.partition for tp in restarted.assignment()} == set(range(GROUP_PARTITIONS))
        finally:
            await restarted.stop()
        return got

    assert_resumed(run(scenario()))


def _topic_errors(response) -> dict:
    """{topic: error_code} from any CreateTopics response version."""
    return {t[0]: t[1] for t in response.topic_errors}


def test_admin_create_topic_and_metadata(bootstrap):
    async def scenario():
        topic = unique("aio-admin")
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS)
        await admin.start()
        try:
            created = await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
            assert _topic_errors(created) == {topic: 0}, created
            described = await admin.describe_topics([topic])
            again = await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
            assert _topic_errors(again) == {topic: TOPIC_ALREADY_EXISTS}, again
            return topic, described
        finally:
            await admin.close()

    topic, described = run(scenario())
    assert len(described) == 1, described
    t = described[0]
    assert t["topic"] == topic
    assert t["error_code"] == 0, f"metadata error for {topic}: {t}"
    assert sorted(part["partition"] for part in t["partitions"]) == [0, 1, 2]


@pytest.mark.parametrize("codec", CODECS)
def test_compression(bootstrap, codec):
    topic = unique(f"aio-{codec}")
    values = compressible_values(200)
    records = [(f"k{i}".encode(), v, [("codec", codec.encode())]) for i, v in enumerate(values)]

    async def scenario():
        p = producer(bootstrap, compression_type=codec, linger_ms=50)
        await p.start()
        try:
            await produce_all(p, topic, records, partition=0)
        finally:
            await p.stop()
        return await read_partition(bootstrap, topic, 0, len(values))

    recs = run(scenario())
    assert_same_records(records, [(r.key, r.value, as_pairs(r.headers)) for r in recs])


def test_idempotent_producer(bootstrap):
    topic = unique("aio-idem")
    values = [f"idempotent-{i}".encode() for i in range(500)]

    async def scenario():
        p = producer(bootstrap, enable_idempotence=True, acks="all")
        await p.start()
        try:
            await produce_all(p, topic, [(None, v, []) for v in values], partition=0)
            # The producer really is idempotent: it holds a producer id from InitProducerId.
            pid = p._txn_manager.producer_id
            assert pid is not None and pid >= 0, f"no producer id: {pid}"
        finally:
            await p.stop()
        return await read_partition(bootstrap, topic, 0, len(values))

    recs = run(scenario())
    assert [r.value for r in recs] == values
    assert [r.offset for r in recs] == list(range(len(values)))


def test_transactions_commit_abort_and_offsets(bootstrap):
    topic = unique("aio-txn")
    create_topic(bootstrap, topic, 1)
    group = unique("aio-txn-group")

    async def scenario():
        p = producer(bootstrap, transactional_id=unique("aio-txn-id"))
        await p.start()
        try:
            async with p.transaction():
                await produce_all(p, topic, [(None, b"c-0", []), (None, b"c-1", [])], partition=0)
            await p.begin_transaction()
            await produce_all(p, topic, [(None, b"a-0", [])], partition=0)
            await p.abort_transaction()
            async with p.transaction():
                await produce_all(p, topic, [(None, b"c-2", [])], partition=0)
                await p.send_offsets_to_transaction({TopicPartition(topic, 0): 3}, group)
        finally:
            await p.stop()
        c = consumer(bootstrap, None, isolation_level="read_committed")
        await c.start()
        try:
            tp = TopicPartition(topic, 0)
            c.assign([tp])
            await c.seek_to_beginning(tp)
            got = []
            deadline = time.monotonic() + TIMEOUT_S
            while len(got) < 3 and time.monotonic() < deadline:
                got.extend(await poll_records(c, 200))
            got.extend(await poll_records(c, int(QUIET_S * 1000)))
            # 0-1 committed, 2 marker, 3 aborted, 4 marker, 5 committed, 6 marker.
            assert [(r.offset, r.value) for r in got] == [(0, b"c-0"), (1, b"c-1"), (5, b"c-2")]
            assert (await c.end_offsets([tp]))[tp] == 7
        finally:
            await c.stop()
        g = consumer(bootstrap, group)
        await g.start()
        try:
            tp = TopicPartition(topic, 0)
            deadline = time.monotonic() + TIMEOUT_S
            while await g.committed(tp) != 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert await g.committed(tp) == 3
        finally:
            await g.stop()

    run(scenario())
