//! Retention and DeleteRecords through a real client against a broker on disk: the log start
//! offset advances by whole segments, earliest offsets and fetches follow it, and a restart
//! keeps the topic id, the offsets and the log start offset.

use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::admin::AdminOptions;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use sluice::Config;
use sluice_interop_tests::*;

fn disk_config(dir: &Path) -> Config {
    Config {
        memory: false,
        data_dir: dir.to_path_buf(),
        log_retention_check_interval_ms: 50,
        ..Config::for_tests()
    }
}

/// A CreateTime an hour before now, in ms since the epoch.
fn an_hour_ago_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
        - 3_600_000
}

/// Produces `count` records one per batch (each waits for its acknowledgement), valued by
/// their index, with the given CreateTime.
fn produce_one_by_one(bootstrap: &str, topic: &str, count: usize, timestamp: Option<i64>) {
    let mut config = producer_config(bootstrap);
    config.set("linger.ms", "0");
    let producer = TestProducer::new(&config);
    for i in 0..count {
        let record = Record {
            value: Some(format!("value-{i:04}").into_bytes()),
            timestamp,
            partition: Some(0),
            ..Record::default()
        };
        let delivered = producer.send_one(topic, &record);
        assert_delivered(&delivered);
        assert_eq!(delivered.offset, i as i64);
    }
}

fn watermarks(bootstrap: &str, topic: &str) -> (i64, i64) {
    let consumer: BaseConsumer = consumer_config(bootstrap).create().expect("consumer");
    consumer
        .fetch_watermarks(topic, 0, TIMEOUT)
        .expect("fetch watermarks")
}

/// Waits (bounded) until the low watermark moves off 0.
fn wait_for_retention(bootstrap: &str, topic: &str) -> (i64, i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let marks = watermarks(bootstrap, topic);
        if marks.0 > 0 {
            return marks;
        }
        assert!(Instant::now() < deadline, "retention never ran: {marks:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A consumer starting at `offset` gets exactly the records from there to the end.
fn assert_readable_from(bootstrap: &str, topic: &str, offset: i64, end: i64) {
    let consumer = assigned_consumer(
        &consumer_config(bootstrap),
        topic,
        &[(0, Offset::Offset(offset))],
    );
    let received = consume_exactly(&consumer, (end - offset) as usize);
    for (i, record) in received.iter().enumerate() {
        let expected = offset + i as i64;
        assert_eq!(record.offset, expected);
        assert_eq!(
            record.value.as_deref(),
            Some(format!("value-{expected:04}").as_bytes())
        );
    }
}

/// A fetch below the log start offset is OFFSET_OUT_OF_RANGE.
fn assert_out_of_range(bootstrap: &str, topic: &str, offset: i64) {
    let consumer = assigned_consumer(
        &consumer_config(bootstrap),
        topic,
        &[(0, Offset::Offset(offset))],
    );
    let deadline = Instant::now() + TIMEOUT;
    loop {
        assert!(
            Instant::now() < deadline,
            "no error for a fetch at {offset}"
        );
        match consumer.poll(Duration::from_millis(100)) {
            // With auto.offset.reset=error and an explicit offset, librdkafka reports the
            // broker's OFFSET_OUT_OF_RANGE as a failed automatic reset: nothing else at a
            // fixed offset makes it reset.
            Some(Err(KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset))) => return,
            Some(Ok(message)) => panic!("fetched offset {} below the log start", message.offset()),
            Some(Err(other)) => panic!("unexpected consumer error: {other}"),
            None => {}
        }
    }
}

#[test]
fn retention_bytes_deletes_whole_old_segments_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = unique_topic("retention-bytes");
    let (id, marks) = {
        let broker = TestBroker::start_with(disk_config(dir.path()));
        create_topic(
            broker.bootstrap(),
            &topic,
            1,
            &[("segment.bytes", "1024"), ("retention.bytes", "2048")],
        )
        .expect("create the topic");
        produce_one_by_one(broker.bootstrap(), &topic, 120, None);
        let marks = wait_for_retention(broker.bootstrap(), &topic);
        assert_eq!(marks.1, 120);
        let partition = broker
            .broker()
            .topics()
            .get(&topic)
            .expect("topic")
            .partitions[0]
            .clone();
        // Kafka keeps deleting the oldest segment while the rest still holds retention.bytes,
        // so what is left is at least retention.bytes and at most that plus a segment.
        let left = partition.size_bytes();
        assert!(
            (2048..2048 + 1024 + 200).contains(&left),
            "{left} bytes left"
        );
        assert_out_of_range(broker.bootstrap(), &topic, 0);
        assert_readable_from(broker.bootstrap(), &topic, marks.0, marks.1);
        (
            broker.broker().topics().get(&topic).expect("topic").id,
            marks,
        )
    };
    let broker = TestBroker::start_with(disk_config(dir.path()));
    assert_eq!(
        broker
            .broker()
            .topics()
            .get(&topic)
            .expect("topic survives")
            .id,
        id
    );
    assert_eq!(watermarks(broker.bootstrap(), &topic), marks);
    assert_readable_from(broker.bootstrap(), &topic, marks.0, marks.1);
    // Appends continue at the old end.
    let mut config = producer_config(broker.bootstrap());
    config.set("linger.ms", "0");
    let delivered = TestProducer::new(&config).send_one(&topic, &Record::value("value-0120"));
    assert_eq!(delivered.offset, 120);
}

#[test]
fn retention_ms_deletes_segments_whose_records_are_old() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start_with(disk_config(dir.path()));
    let topic = unique_topic("retention-ms");
    create_topic(
        broker.bootstrap(),
        &topic,
        1,
        &[("segment.bytes", "1024"), ("retention.ms", "60000")],
    )
    .expect("create the topic");
    let hour_ago = an_hour_ago_ms();
    produce_one_by_one(broker.bootstrap(), &topic, 60, Some(hour_ago));
    let (low, high) = wait_for_retention(broker.bootstrap(), &topic);
    assert_eq!(high, 60);
    // Every sealed segment is older than retention.ms; only the active one is kept.
    let partition = broker
        .broker()
        .topics()
        .get(&topic)
        .expect("topic")
        .partitions[0]
        .clone();
    assert!(
        partition.size_bytes() <= 1024,
        "{} bytes left",
        partition.size_bytes()
    );
    assert_readable_from(broker.bootstrap(), &topic, low, high);
}

/// A `compact` topic (a Streams changelog, a Connect or Schema Registry topic) is never
/// shortened by time or size: only the cleaner removes its records, and it is off here.
#[test]
fn a_compact_topic_keeps_every_record_past_retention_ms_and_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = disk_config(dir.path());
    config.log_cleaner_enable = false;
    let broker = TestBroker::start_with(config);
    let topic = unique_topic("compacted");
    create_topic(
        broker.bootstrap(),
        &topic,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1024"),
            ("retention.ms", "1000"),
            ("retention.bytes", "1024"),
        ],
    )
    .expect("create the topic");
    let hour_ago = an_hour_ago_ms();
    // A compacted topic takes only keyed records, as in Kafka.
    let mut config = producer_config(broker.bootstrap());
    config.set("linger.ms", "0");
    let producer = TestProducer::new(&config);
    for i in 0..60 {
        let record = Record {
            key: Some(format!("key-{}", i % 7).into_bytes()),
            value: Some(format!("value-{i:04}").into_bytes()),
            timestamp: Some(hour_ago),
            partition: Some(0),
            ..Record::default()
        };
        let delivered = producer.send_one(&topic, &record);
        assert_delivered(&delivered);
        assert_eq!(delivered.offset, i as i64);
    }
    // Retention runs every 50 ms: give it a few dozen chances.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(watermarks(broker.bootstrap(), &topic), (0, 60));
    assert_readable_from(broker.bootstrap(), &topic, 0, 60);
}

#[test]
fn delete_records_moves_the_log_start_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = unique_topic("delete-records");
    {
        let broker = TestBroker::start_with(disk_config(dir.path()));
        create_topic(broker.bootstrap(), &topic, 1, &[("segment.bytes", "1024")]).expect("create");
        produce_one_by_one(broker.bootstrap(), &topic, 40, None);

        let admin = Admin::new(broker.bootstrap());
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(&topic, 0, Offset::Offset(25))
            .expect("add the partition");
        let result = admin
            .wait(admin.client.delete_records(&offsets, &AdminOptions::new()))
            .expect("DeleteRecords completes");
        let element = result
            .find_partition(&topic, 0)
            .expect("a result for the partition");
        assert_eq!(element.error(), Ok(()));
        assert_eq!(
            element.offset(),
            Offset::Offset(25),
            "the new low watermark"
        );

        let mut beyond = TopicPartitionList::new();
        beyond
            .add_partition_offset(&topic, 0, Offset::Offset(41))
            .expect("add the partition");
        let result = admin
            .wait(admin.client.delete_records(&beyond, &AdminOptions::new()))
            .expect("DeleteRecords completes");
        let element = result
            .find_partition(&topic, 0)
            .expect("a result for the partition");
        assert_eq!(
            element.error(),
            Err(KafkaError::OffsetFetch(RDKafkaErrorCode::OffsetOutOfRange)),
            "past the high watermark"
        );

        assert_eq!(watermarks(broker.bootstrap(), &topic), (25, 40));
        assert_out_of_range(broker.bootstrap(), &topic, 24);
        assert_readable_from(broker.bootstrap(), &topic, 25, 40);
    }
    let broker = TestBroker::start_with(disk_config(dir.path()));
    assert_eq!(
        watermarks(broker.bootstrap(), &topic),
        (25, 40),
        "kept across a restart"
    );
    assert_readable_from(broker.bootstrap(), &topic, 25, 40);
}

#[test]
fn flush_messages_fsyncs_before_the_acknowledgement() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start_with(disk_config(dir.path()));
    let flushed = unique_topic("flush-each");
    let lazy = unique_topic("flush-never");
    create_topic(broker.bootstrap(), &flushed, 1, &[("flush.messages", "1")]).expect("create");
    create_topic(broker.bootstrap(), &lazy, 1, &[]).expect("create");
    produce_one_by_one(broker.bootstrap(), &flushed, 5, None);
    produce_one_by_one(broker.bootstrap(), &lazy, 5, None);
    let unflushed = |topic: &str| {
        broker
            .broker()
            .topics()
            .get(topic)
            .expect("topic")
            .partitions[0]
            .unflushed_records()
    };
    assert_eq!(
        unflushed(&flushed),
        0,
        "each acknowledged append was fsynced first"
    );
    assert_eq!(unflushed(&lazy), 5, "the default leaves flushing to the OS");
}
