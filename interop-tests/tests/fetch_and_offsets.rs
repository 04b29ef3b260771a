//! Fetch long-polls and ListOffsets, through rdkafka: a parked fetch wakes on append;
//! `offsets_for_times`, earliest and latest follow Kafka's semantics.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use sluice::record::batch::BatchHeader;
use sluice_interop_tests::{
    assert_delivered, assigned_consumer, consume_exactly, consumer_config, create_topic,
    producer_config, stored_batches, unique_topic, Received, Record, TestBroker, TestProducer,
    TIMEOUT,
};

#[test]
fn a_consumer_waiting_at_the_end_gets_a_new_record_promptly() {
    const FETCH_WAIT_MAX_MS: u64 = 5_000;
    const PROMPT: Duration = Duration::from_millis(1_000);

    let broker = TestBroker::start();
    let topic = unique_topic("long-poll");
    create_topic(broker.bootstrap(), &topic, 1, &[]).expect("create topic");

    let mut config = consumer_config(broker.bootstrap());
    config.set("fetch.wait.max.ms", FETCH_WAIT_MAX_MS.to_string());
    let consumer = assigned_consumer(&config, &topic, &[(0, Offset::Offset(0))]);
    let mut producer_config = producer_config(broker.bootstrap());
    producer_config.set("linger.ms", "0");
    let producer = TestProducer::new(&producer_config);

    for round in 0..3_i64 {
        // Long enough for the consumer to reach the end and park a fetch on the broker,
        // short of the 5 s the broker may hold it.
        idle(&consumer, Duration::from_millis(800));

        let sent_at = Instant::now();
        let report = producer.send_one(&topic, &Record::value(format!("wake {round}")));
        let delivered_at = Instant::now();
        assert_delivered(&report);
        assert_eq!(report.offset, round);

        let message = loop {
            assert!(
                sent_at.elapsed() < TIMEOUT,
                "round {round}: nothing consumed"
            );
            match consumer.poll(Duration::from_millis(10)) {
                Some(Ok(message)) => break Received::from_message(&message),
                Some(Err(error)) => panic!("consumer error: {error}"),
                None => {}
            }
        };
        let since_delivery = delivered_at.elapsed();
        let since_send = sent_at.elapsed();
        assert_eq!(message.offset, round);
        assert_eq!(message.value, Some(format!("wake {round}").into_bytes()));
        assert!(
            since_delivery < PROMPT && since_send < PROMPT,
            "round {round}: consumed {since_delivery:?} after delivery ({since_send:?} after \
             send) while fetch.wait.max.ms={FETCH_WAIT_MAX_MS}: the parked fetch did not wake \
             on append"
        );
    }
}

/// Polls for `duration`, failing on any record or error.
fn idle(consumer: &BaseConsumer, duration: Duration) {
    let until = Instant::now() + duration;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if let Some(result) = consumer.poll(left) {
            let result = result.map(|m| Received::from_message(&m));
            panic!("nothing should arrive while idle: {result:?}");
        }
    }
}

const T0: i64 = 1_650_000_000_000;

/// Batches of (timestamp offsets from T0): three in order, then one out of order.
const BATCHES: [&[i64]; 4] = [
    &[0, 10, 20, 30, 40],
    &[50, 60, 70, 80, 90],
    &[100, 110, 120, 130, 140],
    &[200, 170, 190],
];

fn offsets_for_times(consumer: &BaseConsumer, topic: &str, targets: &[i64]) -> Vec<Offset> {
    targets
        .iter()
        .map(|&target| {
            let mut query = TopicPartitionList::new();
            query
                .add_partition_offset(topic, 0, Offset::Offset(target))
                .expect("add the partition");
            let answer = consumer
                .offsets_for_times(query, TIMEOUT)
                .expect("ListOffsets answers");
            let elements = answer.elements_for_topic(topic);
            assert_eq!(elements.len(), 1);
            elements[0]
                .error()
                .unwrap_or_else(|e| panic!("target {target}: partition error {e}"));
            elements[0].offset()
        })
        .collect()
}

fn timestamps_and_offsets(codec: &str) {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic(&format!("times-{codec}"));
    create_topic(bootstrap, &topic, 1, &[]).expect("create topic");

    let mut config = producer_config(bootstrap);
    config
        .set("compression.type", codec)
        // All of one send_all in one batch; the flush at its end closes the batch.
        .set("linger.ms", "200");
    let producer = TestProducer::new(&config);
    let mut next_offset = 0;
    for batch in BATCHES {
        let records: Vec<Record> = batch
            .iter()
            .map(|&dt| Record {
                value: Some(format!("at {dt}").into_bytes()),
                timestamp: Some(T0 + dt),
                ..Record::default()
            })
            .collect();
        for report in producer.send_all(&topic, &records) {
            assert!(report.error.is_none(), "{report:?}");
            assert_eq!(report.offset, next_offset);
            next_offset += 1;
        }
    }
    let stored: Vec<i32> = stored_batches(&broker, &topic, 0)
        .iter()
        .map(|b| BatchHeader::parse(b).expect("parse").record_count())
        .collect();
    assert_eq!(stored, vec![5, 5, 5, 3], "the batches are laid out as sent");

    let consumer: BaseConsumer = consumer_config(bootstrap).create().expect("consumer");
    let cases: &[(i64, Offset)] = &[
        (T0 - 1_000, Offset::Offset(0)), // before everything: the first record
        (T0, Offset::Offset(0)),         // exact match on the first record
        (T0 + 15, Offset::Offset(2)),    // between records of one batch
        (T0 + 40, Offset::Offset(4)),    // exact match on a batch's last record
        (T0 + 45, Offset::Offset(5)),    // between batches: the next batch's first record
        (T0 + 60, Offset::Offset(6)),    // exact match inside a batch
        (T0 + 141, Offset::Offset(15)),  // past batch 3: the first record of batch 4 (ts 200)
        (T0 + 175, Offset::Offset(15)),  // out-of-order batch: first in offset order >= target
        (T0 + 200, Offset::Offset(15)),  // the largest timestamp
        (T0 + 201, Offset::End),         // beyond every record: -1
    ];
    let targets: Vec<i64> = cases.iter().map(|&(t, _)| t).collect();
    let expected: Vec<Offset> = cases.iter().map(|&(_, o)| o).collect();
    assert_eq!(
        offsets_for_times(&consumer, &topic, &targets),
        expected,
        "{codec}: offsets for timestamps {targets:?}"
    );

    assert_eq!(
        consumer
            .fetch_watermarks(&topic, 0, TIMEOUT)
            .expect("watermarks"),
        (0, 18),
        "{codec}: earliest and latest"
    );

    // Earliest and latest as a consumer's starting positions.
    let from_start = assigned_consumer(
        &consumer_config(bootstrap),
        &topic,
        &[(0, Offset::Beginning)],
    );
    let all = consume_exactly(&from_start, 18);
    let timestamps: Vec<i64> = all
        .iter()
        .map(|r| r.timestamp.to_millis().expect("CreateTime") - T0)
        .collect();
    assert_eq!(timestamps, BATCHES.concat(), "{codec}: stored timestamps");
    // The latest offset as a starting position: the last two records (tail 2 = 18 - 2).
    let tail = assigned_consumer(
        &consumer_config(bootstrap),
        &topic,
        &[(0, Offset::OffsetTail(2))],
    );
    let last_two: Vec<(i64, i64)> = consume_exactly(&tail, 2)
        .iter()
        .map(|r| (r.offset, r.timestamp.to_millis().expect("CreateTime") - T0))
        .collect();
    assert_eq!(last_two, vec![(16, 170), (17, 190)], "{codec}: the tail");
}

#[test]
fn offsets_for_times_earliest_and_latest_follow_kafka() {
    timestamps_and_offsets("none");
}

#[test]
fn offsets_for_times_decodes_compressed_batches() {
    timestamps_and_offsets("gzip");
}
