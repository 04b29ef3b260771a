"""confluent-kafka (librdkafka) against Sluice."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
    ResourceType,
)

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


def producer(bootstrap: str, **extra) -> Producer:
    conf = {"bootstrap.servers": bootstrap, "linger.ms": 5, "message.timeout.ms": int(TIMEOUT_S * 1000)}
    conf.update(extra)
    return Producer(conf)


def consumer(bootstrap: str, group: str, **extra) -> Consumer:
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
        "fetch.wait.max.ms": 100,
    }
    conf.update(extra)
    return Consumer(conf)


def produce_all(p: Producer, topic: str, records, partition: int | None = None) -> None:
    """Produce (key, value, headers) records and fail on any delivery error."""
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)

    for key, value, headers in records:
        kwargs = {"key": key, "value": value, "headers": headers or None, "on_delivery": on_delivery}
        if partition is not None:
            kwargs["partition"] = partition
        p.produce(topic, **kwargs)
    remaining = p.flush(TIMEOUT_S)
    assert remaining == 0, f"{remaining} records not delivered within {TIMEOUT_S}s"
    assert not errors, f"delivery errors: {errors}"


def read_partition(bootstrap: str, topic: str, partition: int, count: int):
    """Exactly `count` messages from the start of one partition (assign, no group), then quiet."""
    c = consumer(bootstrap, unique("reader"))
    try:
        c.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        got = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < count and time.monotonic() < deadline:
            msg = c.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            got.append(msg)
        assert len(got) == count, f"read {len(got)} of {count} records within {TIMEOUT_S}s"
        extra = c.poll(QUIET_S)
        assert extra is None or extra.error(), f"unexpected extra record at offset {extra.offset()}"
        return got
    finally:
        c.close()


def test_produce_consume_keys_and_headers(bootstrap):
    topic = unique("cf-keys")
    p = producer(bootstrap)
    produce_all(p, topic, KEYED_RECORDS, partition=0)
    msgs = read_partition(bootstrap, topic, 0, len(KEYED_RECORDS))
    assert [m.offset() for m in msgs] == list(range(len(KEYED_RECORDS)))
    assert_same_records(KEYED_RECORDS, [(m.key(), m.value(), m.headers()) for m in msgs])


def _poll_into(c: Consumer, sink: list) -> None:
    msg = c.poll(0.05)
    if msg is None:
        return
    if msg.error():
        raise KafkaException(msg.error())
    sink.append((msg.partition(), msg.value()))


def test_consumer_group_split_commit_resume(bootstrap):
    topic, group = unique("cf-group"), unique("cf-group")
    create_topic(bootstrap, topic, GROUP_PARTITIONS)
    p = producer(bootstrap)

    members = [consumer(bootstrap, group), consumer(bootstrap, group)]
    received: list[list] = [[], []]
    try:
        for c in members:
            c.subscribe([topic])
        # Both members in the group, each with its share, before anything is produced.
        deadline = time.monotonic() + TIMEOUT_S
        assignments: list[set[int]] = [set(), set()]
        while time.monotonic() < deadline:
            for i, c in enumerate(members):
                _poll_into(c, received[i])
                assignments[i] = {tp.partition for tp in c.assignment()}
            if all(assignments) and len(assignments[0] | assignments[1]) == GROUP_PARTITIONS and not (
                assignments[0] & assignments[1]
            ):
                break
        assert_split(assignments)
        assert received == [[], []], "records before anything was produced"

        produced = first_round()
        for partition, values in produced.items():
            produce_all(p, topic, [(None, v, []) for v in values], partition=partition)
        total = sum(len(v) for v in produced.values())
        deadline = time.monotonic() + TIMEOUT_S
        while len(received[0]) + len(received[1]) < total and time.monotonic() < deadline:
            for i, c in enumerate(members):
                _poll_into(c, received[i])
        quiet_until = time.monotonic() + QUIET_S
        while time.monotonic() < quiet_until:
            for i, c in enumerate(members):
                _poll_into(c, received[i])
        for i in range(2):
            assert_member_received(i, assignments[i], received[i], produced)
        for c in members:
            c.commit(asynchronous=False)
    finally:
        for c in members:
            c.close()

    for partition, values in second_round().items():
        produce_all(p, topic, [(None, v, []) for v in values], partition=partition)

    restarted = consumer(bootstrap, group)
    got: list = []
    try:
        restarted.subscribe([topic])
        total = sum(len(v) for v in second_round().values())
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < total and time.monotonic() < deadline:
            _poll_into(restarted, got)
        quiet_until = time.monotonic() + QUIET_S
        while time.monotonic() < quiet_until:
            _poll_into(restarted, got)
        assert {tp.partition for tp in restarted.assignment()} == set(range(GROUP_PARTITIONS))
    finally:
        restarted.close()
    assert_resumed(got)


def test_admin_create_topic_and_metadata(bootstrap):
    topic = unique("cf-admin")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    assert futures[topic].result(timeout=TIMEOUT_S) is None
    meta = admin.list_topics(topic=topic, timeout=TIMEOUT_S)
    assert topic in meta.topics, f"{topic} missing from metadata: {sorted(meta.topics)}"
    t = meta.topics[topic]
    assert t.error is None, f"metadata error for {topic}: {t.error}"
    assert sorted(t.partitions) == [0, 1, 2]
    # Creating it again is refused with Kafka's TOPIC_ALREADY_EXISTS.
    again = admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    with pytest.raises(KafkaException) as err:
        again[topic].result(timeout=TIMEOUT_S)
    assert err.value.args[0].name() == "TOPIC_ALREADY_EXISTS"


def _described(admin: AdminClient, topic: str) -> dict:
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)])
    (future,) = futures.values()
    return {name: (e.value, ConfigSource(e.source)) for name, e in future.result(timeout=TIMEOUT_S).items()}


def test_admin_alter_configs_legacy_and_incremental_then_describe(bootstrap):
    topic = unique("cf-configs")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    created = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    assert created[topic].result(timeout=TIMEOUT_S) is None

    # Legacy AlterConfigs: the resource's whole set.
    legacy = ConfigResource(
        ResourceType.TOPIC, topic, set_config={"retention.ms": "1000", "segment.ms": "3600000"}
    )
    for future in admin.alter_configs([legacy]).values():
        assert future.result(timeout=TIMEOUT_S) is None
    d = _described(admin, topic)
    assert d["retention.ms"] == ("1000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert d["segment.ms"] == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert d["cleanup.policy"] == ("delete", ConfigSource.DEFAULT_CONFIG)

    # IncrementalAlterConfigs: APPEND to a list, DELETE a key; segment.ms stays.
    incremental = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
            ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ],
    )
    for future in admin.incremental_alter_configs([incremental]).values():
        assert future.result(timeout=TIMEOUT_S) is None
    d = _described(admin, topic)
    assert d["cleanup.policy"] == ("delete,compact", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert d["retention.ms"] == ("604800000", ConfigSource.DEFAULT_CONFIG)
    assert d["segment.ms"] == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG)

    # APPEND to a key that is no list is refused with INVALID_CONFIG; nothing changes.
    refused = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("segment.ms", "1", incremental_operation=AlterConfigOpType.APPEND)
        ],
    )
    (future,) = admin.incremental_alter_configs([refused]).values()
    with pytest.raises(KafkaException) as err:
        future.result(timeout=TIMEOUT_S)
    assert err.value.args[0].name() == "INVALID_CONFIG"
    assert _described(admin, topic) == d


@pytest.mark.parametrize("codec", CODECS)
def test_compression(bootstrap, codec):
    topic = unique(f"cf-{codec}")
    values = compressible_values(200)
    p = producer(bootstrap, **{"compression.type": codec, "linger.ms": 50})
    produce_all(p, topic, [(f"k{i}".encode(), v, [("codec", codec.encode())]) for i, v in enumerate(values)], 0)
    msgs = read_partition(bootstrap, topic, 0, len(values))
    assert_same_records(
        [(f"k{i}".encode(), v, [("codec", codec.encode())]) for i, v in enumerate(values)],
        [(m.key(), m.value(), m.headers()) for m in msgs],
    )


def test_idempotent_producer(bootstrap):
    topic = unique("cf-idem")
    values = [f"idempotent-{i}".encode() for i in range(500)]
    p = producer(bootstrap, **{"enable.idempotence": True, "acks": "all", "max.in.flight.requests.per.connection": 5})
    produce_all(p, topic, [(None, v, []) for v in values], partition=0)
    msgs = read_partition(bootstrap, topic, 0, len(values))
    assert [m.value() for m in msgs] == values
    assert [m.offset() for m in msgs] == list(range(len(values)))


def txn_producer(bootstrap: str, transactional_id: str, **extra) -> Producer:
    p = producer(bootstrap, **{"transactional.id": transactional_id, **extra})
    p.init_transactions(TIMEOUT_S)
    return p


def read_committed(bootstrap: str, topic: str, partition: int, count: int, isolation: str = "read_committed"):
    c = consumer(bootstrap, unique("reader"), **{"isolation.level": isolation})
    try:
        c.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        got = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < count and time.monotonic() < deadline:
            msg = c.poll(0.2)
            if msg is None or msg.error():
                continue
            got.append((msg.offset(), msg.value()))
        extra = c.poll(QUIET_S)
        assert extra is None or extra.error(), f"unexpected extra record at offset {extra.offset()}"
        return got
    finally:
        c.close()


def test_transactions_commit_abort_and_an_open_one(bootstrap):
    topic = unique("cf-txn")
    create_topic(bootstrap, topic, 1)
    p = txn_producer(bootstrap, unique("cf-txn-id"))
    p.begin_transaction()
    produce_all(p, topic, [(None, b"c-0", []), (None, b"c-1", [])], partition=0)
    p.commit_transaction(TIMEOUT_S)
    p.begin_transaction()
    produce_all(p, topic, [(None, b"a-0", [])], partition=0)
    p.abort_transaction(TIMEOUT_S)
    # Open: invisible to read_committed until it commits.
    p.begin_transaction()
    produce_all(p, topic, [(None, b"o-0", [])], partition=0)
    assert read_committed(bootstrap, topic, 0, 2) == [(0, b"c-0"), (1, b"c-1")]
    p.commit_transaction(TIMEOUT_S)
    # 0-1 committed, 2 marker, 3 aborted, 4 marker, 5 the open one, 6 its marker.
    assert read_committed(bootstrap, topic, 0, 3) == [(0, b"c-0"), (1, b"c-1"), (5, b"o-0")]
    everything = read_committed(bootstrap, topic, 0, 4, isolation="read_uncommitted")
    assert everything == [(0, b"c-0"), (1, b"c-1"), (3, b"a-0"), (5, b"o-0")]


def test_transactions_consume_transform_produce_with_a_group(bootstrap):
    source, sink = unique("cf-etl-in"), unique("cf-etl-out")
    create_topic(bootstrap, source, 2)
    create_topic(bootstrap, sink, 1)
    values = [f"in-{i}".encode() for i in range(40)]
    plain = producer(bootstrap)
    for i, v in enumerate(values):
        plain.produce(source, value=v, partition=i % 2)
    assert plain.flush(TIMEOUT_S) == 0
    group = unique("cf-etl-group")
    c = consumer(bootstrap, group, **{"isolation.level": "read_committed"})
    c.subscribe([source])
    p = txn_producer(bootstrap, unique("cf-etl-id"))
    moved = 0
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while moved < len(values) and time.monotonic() < deadline:
            msgs = [m for m in c.consume(num_messages=10, timeout=0.5) if not m.error()]
            if not msgs:
                continue
            p.begin_transaction()
            for m in msgs:
                p.produce(sink, value=m.value().replace(b"in-", b"out-"), partition=0)
            p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), TIMEOUT_S)
            p.commit_transaction(TIMEOUT_S)
            moved += len(msgs)
    finally:
        c.close()
    assert moved == len(values)
    out = sorted(v for _, v in read_committed(bootstrap, sink, 0, len(values)))
    assert out == sorted(v.replace(b"in-", b"out-") for v in values)
    # The group's committed offsets are the ends of both partitions: a new member reads nothing.
    again = consumer(bootstrap, group, **{"isolation.level": "read_committed"})
    try:
        committed = again.committed([TopicPartition(source, 0), TopicPartition(source, 1)], timeout=TIMEOUT_S)
        assert sorted(tp.offset for tp in committed) == [20, 20]
    finally:
        again.close()


def test_transactions_fencing_and_many_producers(bootstrap):
    topic = unique("cf-txn-many")
    create_topic(bootstrap, topic, 4)
    producers = [txn_producer(bootstrap, unique(f"cf-many-{i}")) for i in range(4)]
    for round_ in range(3):
        for i, p in enumerate(producers):
            p.begin_transaction()
            produce_all(p, topic, [(None, f"p{i}-r{round_}-{k}".encode(), []) for k in range(5)], partition=(i + round_) % 4)
            if round_ == 1:
                p.abort_transaction(TIMEOUT_S)
            else:
                p.commit_transaction(TIMEOUT_S)
    seen = []
    for partition in range(4):
        seen += [v for _, v in read_committed(bootstrap, topic, partition, 10)]
    assert len(seen) == 40 and not any(b"-r1-" in v for v in seen)

    fenced_id = unique("cf-fenced")
    zombie = txn_producer(bootstrap, fenced_id)
    zombie.begin_transaction()
    produce_all(zombie, topic, [(None, b"zombie", [])], partition=0)
    txn_producer(bootstrap, fenced_id)
    with pytest.raises(KafkaException) as fenced:
        zombie.commit_transaction(TIMEOUT_S)
    assert fenced.value.args[0].fatal()
