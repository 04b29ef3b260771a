"""kafka-python (pure Python) against Sluice."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError

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


def producer(bootstrap: str, **extra) -> KafkaProducer:
    conf = dict(bootstrap_servers=bootstrap, linger_ms=5, request_timeout_ms=TIMEOUT_MS)
    conf.update(extra)
    return KafkaProducer(**conf)


def consumer(bootstrap: str, group: str | None, **extra) -> KafkaConsumer:
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
    return KafkaConsumer(**conf)


def produce_all(p: KafkaProducer, topic: str, records, partition: int | None = None) -> None:
    futures = [
        p.send(topic, key=key, value=value, headers=headers, partition=partition)
        for key, value, headers in records
    ]
    p.flush(timeout=TIMEOUT_S)
    for f in futures:
        f.get(timeout=TIMEOUT_S)  # raises the delivery error, if any


def poll_records(c: KafkaConsumer, timeout_ms: int = 100) -> list:
    return [r for batch in c.poll(timeout_ms=timeout_ms).values() for r in batch]


def read_partition(bootstrap: str, topic: str, partition: int, count: int):
    c = consumer(bootstrap, None)
    try:
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        c.seek_to_beginning(tp)
        got = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < count and time.monotonic() < deadline:
            got.extend(poll_records(c, 200))
        assert len(got) == count, f"read {len(got)} of {count} records within {TIMEOUT_S}s"
        extra = poll_records(c, int(QUIET_S * 1000))
        assert not extra, f"unexpected extra records at offsets {[r.offset for r in extra]}"
        return got
    finally:
        c.close()


def test_produce_consume_keys_and_headers(bootstrap):
    topic = unique("kp-keys")
    p = producer(bootstrap)
    try:
        produce_all(p, topic, KEYED_RECORDS, partition=0)
    finally:
        p.close()
    recs = read_partition(bootstrap, topic, 0, len(KEYED_RECORDS))
    assert [r.offset for r in recs] == list(range(len(KEYED_RECORDS)))
    assert_same_records(KEYED_RECORDS, [(r.key, r.value, r.headers) for r in recs])


def _poll_into(c: KafkaConsumer, sink: list) -> None:
    sink.extend((r.partition, r.value) for r in poll_records(c, 50))


def test_consumer_group_split_commit_resume(bootstrap):
    topic, group = unique("kp-group"), unique("kp-group")
    create_topic(bootstrap, topic, GROUP_PARTITIONS)
    p = producer(bootstrap)

    members = [consumer(bootstrap, group), consumer(bootstrap, group)]
    received: list[list] = [[], []]
    try:
        for c in members:
            c.subscribe([topic])
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
            c.commit(timeout_ms=TIMEOUT_MS)
    finally:
        for c in members:
            c.close(autocommit=False)

    for partition, values in second_round().items():
        produce_all(p, topic, [(None, v, []) for v in values], partition=partition)
    p.close()

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
        restarted.close(autocommit=False)
    assert_resumed(got)


def test_admin_create_topic_and_metadata(bootstrap):
    topic = unique("kp-admin")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS)
    try:
        admin.create_topics({topic: {"num_partitions": 3, "replication_factor": 1}})
        described = admin.describe_topics([topic])
        assert len(described) == 1, described
        t = described[0]
        assert t["name"] == topic
        assert t["error_code"] == 0, f"metadata error for {topic}: {t}"
        assert sorted(part["partition_index"] for part in t["partitions"]) == [0, 1, 2]
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics({topic: {"num_partitions": 3, "replication_factor": 1}})
    finally:
        admin.close()


def _described(admin: KafkaAdminClient, topic: str) -> dict:
    described = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all"
    )
    configs = described["topic"][topic]
    return {name: (c["value"], c["config_source"]) for name, c in configs.items()}


def test_admin_alter_configs_legacy_and_incremental_then_describe(bootstrap):
    topic = unique("kp-configs")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS)
    try:
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})
        legacy = ConfigResource(
            ConfigResourceType.TOPIC, topic, configs={"retention.ms": "1000", "segment.ms": "3600000"}
        )
        assert admin.alter_configs([legacy], incremental=False) == {"topic": {topic: "OK"}}
        d = _described(admin, topic)
        assert d["retention.ms"] == ("1000", "DYNAMIC_TOPIC_CONFIG")
        assert d["segment.ms"] == ("3600000", "DYNAMIC_TOPIC_CONFIG")
        assert d["cleanup.policy"] == ("delete", "DEFAULT_CONFIG")

        incremental = ConfigResource(
            ConfigResourceType.TOPIC,
            topic,
            configs={"cleanup.policy": ("APPEND", "compact"), "retention.ms": ("DELETE", None)},
        )
        assert admin.alter_configs([incremental], incremental=True) == {"topic": {topic: "OK"}}
        d = _described(admin, topic)
        assert d["cleanup.policy"] == ("delete,compact", "DYNAMIC_TOPIC_CONFIG")
        assert d["retention.ms"] == ("604800000", "DEFAULT_CONFIG")
        assert d["segment.ms"] == ("3600000", "DYNAMIC_TOPIC_CONFIG")

        # A bad value is refused with INVALID_CONFIG (error code 40); nothing changes.
        bad = ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "soon"})
        result = admin.alter_configs([bad], incremental=True)["topic"][topic]
        assert result.startswith("[Error 40] InvalidConfigurationError"), result
        assert _described(admin, topic) == d
    finally:
        admin.close()


@pytest.mark.parametrize("codec", CODECS)
def test_compression(bootstrap, codec):
    topic = unique(f"kp-{codec}")
    values = compressible_values(200)
    records = [(f"k{i}".encode(), v, [("codec", codec.encode())]) for i, v in enumerate(values)]
    p = producer(bootstrap, compression_type=codec, linger_ms=50)
    try:
        produce_all(p, topic, records, partition=0)
    finally:
        p.close()
    recs = read_partition(bootstrap, topic, 0, len(values))
    assert_same_records(records, [(r.key, r.value, r.headers) for r in recs])


def test_idempotent_producer(bootstrap):
    topic = unique("kp-idem")
    values = [f"idempotent-{i}".encode() for i in range(500)]
    p = producer(bootstrap, enable_idempotence=True, acks="all")
    try:
        produce_all(p, topic, [(None, v, []) for v in values], partition=0)
        # The producer really is idempotent: it holds a producer id from InitProducerId.
        pid = p._transaction_manager.producer_id_and_epoch.producer_id
        assert pid >= 0, f"no producer id: {pid}"
    finally:
        p.close()
    recs = read_partition(bootstrap, topic, 0, len(values))
    assert [r.value for r in recs] == values
    assert [r.offset for r in recs] == list(range(len(values)))


def test_admin_describe_log_dirs(bootstrap):
    """DescribeLogDirs (the highest version kafka-python and Sluice share, v4): one log dir,
    /memory with its space unknown (-1) as the broker runs in memory, each partition asked
    for with its bytes, lag 0; partitions and topics the broker does not have left out."""
    topic = unique("kp-log-dirs")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        admin.create_topics({topic: {"num_partitions": 2, "replication_factor": 1}})
        for i in range(3):
            producer.send(topic, value=b"value-%d" % i, partition=1)
        producer.flush()
        answers = admin.describe_log_dirs({topic: [0, 1, 5], topic + "-missing": [0]})
        assert [a["broker"] for a in answers] == [0], answers
        dirs = answers[0]["log_dirs"]
        assert len(dirs) == 1, dirs
        d = dirs[0]
        assert (d["error_code"], d["log_dir"], d["total_bytes"], d["usable_bytes"]) == (
            0,
            "/memory",
            -1,
            -1,
        ), d
        assert [t["name"] for t in d["topics"]] == [topic], d
        partitions = {p["partition_index"]: p for p in d["topics"][0]["partitions"]}
        assert sorted(partitions) == [0, 1], d
        assert partitions[0]["partition_size"] == 0
        assert partitions[1]["partition_size"] > 0
        assert all(p["offset_lag"] == 0 and not p["is_future_key"] for p in partitions.values())
        # Without partitions named: every partition of every topic, this one's included.
        everything = admin.describe_log_dirs()[0]["log_dirs"][0]
        mine = [t for t in everything["topics"] if t["name"] == topic]
        assert len(mine) == 1 and len(mine[0]["partitions"]) == 2, everything
    finally:
        producer.close()
        admin.close()
