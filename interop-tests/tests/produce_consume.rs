//! rdkafka producers and consumers against the broker: what goes in comes out, byte for
//! byte, in order, at the offsets the delivery reports named.

use std::collections::{BTreeMap, HashMap, HashSet};

use rdkafka::consumer::Consumer;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{Offset, Timestamp};
use sluice::record::batch::BatchHeader;
use sluice_interop_tests::{
    assert_all_delivered, assert_delivered, assigned_consumer, consume_all, consume_exactly,
    consumer_config, create_topic, produce, producer_config, stored_batches, unique_topic,
    Delivered, Received, Record, TestBroker, TestProducer, TIMEOUT,
};

/// A CreateTime far from "now", so a timestamp the client made up would stand out.
const T0: i64 = 1_600_000_000_000;

/// Record `i` of a keyed stream: 500 keys, two headers (one null), an explicit timestamp.
fn keyed_record(i: usize) -> Record {
    Record {
        key: Some(format!("key-{:03}", i % 500).into_bytes()),
        value: Some(format!("value-{i:05}-{}", "x".repeat(i % 37)).into_bytes()),
        headers: vec![
            ("index".to_string(), Some((i as u64).to_be_bytes().to_vec())),
            ("nothing".to_string(), None),
        ],
        timestamp: Some(T0 + 3 * i as i64),
        partition: None,
    }
}

fn index_of(received: &Received) -> usize {
    let (name, value) = received
        .headers
        .first()
        .expect("the index header comes first");
    assert_eq!(name, "index");
    let bytes: [u8; 8] = value
        .as_deref()
        .expect("the index header has a value")
        .try_into()
        .expect("the index header is 8 bytes");
    u64::from_be_bytes(bytes) as usize
}

/// Checks that each partition's records arrived at offsets 0, 1, 2, … and returns the
/// partition → count map.
fn assert_contiguous_per_partition(received: &[Received]) -> BTreeMap<i32, i64> {
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for record in received {
        let expected = next.entry(record.partition).or_insert(0);
        assert_eq!(
            record.offset, *expected,
            "partition {} offsets are contiguous from 0",
            record.partition
        );
        *expected += 1;
    }
    next
}

fn assert_watermarks(bootstrap: &str, topic: &str, counts: &BTreeMap<i32, i64>) {
    let consumer: rdkafka::consumer::BaseConsumer = consumer_config(bootstrap)
        .create()
        .expect("create a consumer for watermarks");
    for (&partition, &count) in counts {
        assert_eq!(
            consumer
                .fetch_watermarks(topic, partition, TIMEOUT)
                .expect("fetch watermarks"),
            (0, count),
            "watermarks of partition {partition}"
        );
    }
}

#[test]
fn ten_thousand_keyed_records_with_headers_and_timestamps_round_trip() {
    let broker = TestBroker::start();
    let topic = unique_topic("keyed");
    create_topic(broker.bootstrap(), &topic, 4, &[]).expect("create a 4-partition topic");

    let sent: Vec<Record> = (0..10_000).map(keyed_record).collect();
    let reports = produce(&producer_config(broker.bootstrap()), &topic, &sent);
    assert_all_delivered(&reports);

    let received = consume_all(broker.bootstrap(), &topic, 4, sent.len());
    assert_eq!(received.len(), 10_000);

    let mut seen = HashSet::new();
    let mut key_partition: HashMap<Vec<u8>, i32> = HashMap::new();
    let mut last_index_in_partition: HashMap<i32, usize> = HashMap::new();
    for record in &received {
        let i = index_of(record);
        assert!(seen.insert(i), "record {i} arrived twice");
        let expected = &sent[i];
        assert_eq!(record.key, expected.key, "key of record {i}");
        assert_eq!(record.value, expected.value, "value of record {i}");
        assert_eq!(record.headers, expected.headers, "headers of record {i}");
        assert_eq!(
            record.timestamp,
            Timestamp::CreateTime(expected.timestamp.expect("set")),
            "timestamp of record {i}"
        );
        let report = &reports[i];
        assert_eq!(
            (record.partition, record.offset),
            (report.partition, report.offset),
            "record {i} is where its delivery report said"
        );
        let key = record.key.clone().expect("keyed");
        let partition = *key_partition.entry(key).or_insert(record.partition);
        assert_eq!(partition, record.partition, "one key, one partition");
        // Within a partition, records come back in the order they were sent.
        if let Some(&previous) = last_index_in_partition.get(&record.partition) {
            assert!(
                previous < i,
                "partition {}: {previous} then {i}",
                record.partition
            );
        }
        last_index_in_partition.insert(record.partition, i);
    }
    assert_eq!(seen.len(), 10_000);

    let counts = assert_contiguous_per_partition(&received);
    assert_eq!(counts.len(), 4, "500 keys spread over all 4 partitions");
    assert_eq!(counts.values().sum::<i64>(), 10_000);
    assert_watermarks(broker.bootstrap(), &topic, &counts);
}

/// Produces 500 records with `compression.type=codec`, checks the broker stored batches
/// compressed with that codec (`attribute`: Kafka's 1 gzip, 2 snappy, 3 lz4, 4 zstd), and
/// consumes them back equal.
fn compression_round_trip(codec: &str, attribute: i16) {
    let broker = TestBroker::start();
    let topic = unique_topic(codec);
    create_topic(broker.bootstrap(), &topic, 1, &[]).expect("create topic");
    let sent: Vec<Record> = (0..500)
        .map(|i| Record {
            key: Some(format!("{codec}-key-{i}").into_bytes()),
            // Repetitive enough that every codec shrinks even a batch holding one record:
            // librdkafka sends a batch uncompressed when compressing would not make it
            // smaller, which made a lone first record arrive uncompressed on a slow machine.
            value: Some(
                format!("{codec} value {i} ")
                    .repeat(20 + i % 20)
                    .into_bytes(),
            ),
            headers: vec![("codec".into(), Some(codec.as_bytes().to_vec()))],
            timestamp: Some(T0 + i as i64),
            partition: None,
        })
        .collect();
    let mut config = producer_config(broker.bootstrap());
    config.set("compression.type", codec).set("linger.ms", "50");
    let reports = produce(&config, &topic, &sent);
    assert_all_delivered(&reports);

    // librdkafka silently sends uncompressed batches when it believes the broker cannot
    // take the codec, so the round trip alone would not prove the codec was used.
    let batches = stored_batches(&broker, &topic, 0);
    assert!(!batches.is_empty());
    for batch in &batches {
        let header = BatchHeader::parse(batch).expect("stored batches parse");
        assert_eq!(
            header.compression(),
            attribute,
            "{codec}: the producer sent a {codec}-compressed batch"
        );
    }

    let received = consume_all(broker.bootstrap(), &topic, 1, sent.len());
    for (i, (record, expected)) in received.iter().zip(&sent).enumerate() {
        assert_eq!(record.offset, i as i64, "{codec}: offset of record {i}");
        assert_eq!(reports[i].offset, i as i64, "{codec}: reported offset {i}");
        assert_eq!(record.key, expected.key, "{codec}: key {i}");
        assert_eq!(record.value, expected.value, "{codec}: value {i}");
        assert_eq!(record.headers, expected.headers, "{codec}: headers {i}");
        assert_eq!(
            record.timestamp,
            Timestamp::CreateTime(T0 + i as i64),
            "{codec}: timestamp {i}"
        );
    }
}

#[test]
fn gzip_round_trips() {
    compression_round_trip("gzip", 1);
}

#[test]
fn snappy_round_trips() {
    compression_round_trip("snappy", 2);
}

#[test]
fn lz4_round_trips() {
    compression_round_trip("lz4", 3);
}

#[test]
fn zstd_round_trips() {
    compression_round_trip("zstd", 4);
}

/// Records `0..count` with unique values, keyed over 50 keys.
fn numbered(prefix: &str, count: usize) -> Vec<Record> {
    (0..count)
        .map(|i| Record::keyed(format!("k{}", i % 50), format!("{prefix}-{i}")))
        .collect()
}

/// Consumes `count` records from every partition and checks they are exactly `sent`, once.
fn assert_exactly_once(
    broker: &TestBroker,
    topic: &str,
    partitions: i32,
    sent: &[Record],
) -> Vec<Received> {
    let received = consume_all(broker.bootstrap(), topic, partitions, sent.len());
    let expected: HashMap<&[u8], &Record> = sent
        .iter()
        .map(|r| (r.value.as_deref().expect("valued"), r))
        .collect();
    let mut seen = HashSet::new();
    for record in &received {
        let value = record.value.as_deref().expect("valued");
        let original = expected
            .get(value)
            .unwrap_or_else(|| panic!("unexpected value {:?}", String::from_utf8_lossy(value)));
        assert_eq!(record.key, original.key);
        assert!(seen.insert(value.to_vec()), "a duplicate arrived");
    }
    assert_eq!(seen.len(), sent.len());
    let counts = assert_contiguous_per_partition(&received);
    assert_eq!(counts.values().sum::<i64>(), sent.len() as i64);
    assert_watermarks(broker.bootstrap(), topic, &counts);
    received
}

/// Delivery reports name offsets 0..n in each partition, each once.
fn assert_reported_offsets_contiguous(reports: &[Delivered]) {
    let mut by_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for report in reports {
        by_partition
            .entry(report.partition)
            .or_default()
            .push(report.offset);
    }
    for (partition, mut offsets) in by_partition {
        offsets.sort_unstable();
        let expected: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(
            offsets, expected,
            "reported offsets of partition {partition}"
        );
    }
}

#[test]
fn acks_zero_one_and_all_deliver_exact_counts() {
    let broker = TestBroker::start();
    for acks in ["0", "1", "all"] {
        let topic = unique_topic(&format!("acks{acks}"));
        create_topic(broker.bootstrap(), &topic, 2, &[]).expect("create topic");
        let sent = numbered(&format!("acks{acks}"), 1_000);
        let mut config = producer_config(broker.bootstrap());
        config.set("acks", acks);
        let reports = produce(&config, &topic, &sent);
        assert_all_delivered(&reports);
        if acks != "0" {
            // acks=0 gets no answer, so no offsets; the consumer checks those records.
            assert_reported_offsets_contiguous(&reports);
        }
        let received = assert_exactly_once(&broker, &topic, 2, &sent);
        if acks != "0" {
            for record in &received {
                let i: usize = String::from_utf8_lossy(record.value.as_deref().expect("valued"))
                    .rsplit('-')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("numbered value");
                assert_eq!(
                    (record.partition, record.offset),
                    (reports[i].partition, reports[i].offset),
                    "acks={acks}: record {i} is where its report said"
                );
            }
        }
    }
}

#[test]
fn an_idempotent_producer_writes_each_record_once_with_contiguous_offsets() {
    let broker = TestBroker::start();
    let topic = unique_topic("idempotent");
    create_topic(broker.bootstrap(), &topic, 3, &[]).expect("create topic");
    let sent = numbered("idem", 5_000);
    let mut config = producer_config(broker.bootstrap());
    config
        .set("enable.idempotence", "true")
        .set("batch.num.messages", "200");
    let reports = produce(&config, &topic, &sent);
    assert_all_delivered(&reports);
    assert_reported_offsets_contiguous(&reports);
    assert_exactly_once(&broker, &topic, 3, &sent);

    // The batches really were idempotent: one producer id, sequences following on.
    let mut producer_ids = HashSet::new();
    for partition in 0..3 {
        let mut next_sequence = 0;
        for batch in stored_batches(&broker, &topic, partition) {
            let header = BatchHeader::parse(&batch).expect("stored batches parse");
            assert!(
                header.producer_id() >= 0,
                "an idempotent batch has a producer id"
            );
            producer_ids.insert(header.producer_id());
            assert_eq!(
                header.base_sequence(),
                next_sequence,
                "partition {partition}"
            );
            next_sequence += header.record_count();
        }
    }
    assert_eq!(producer_ids.len(), 1, "one producer, one id");
}

#[test]
fn null_and_empty_keys_and_values_round_trip() {
    let broker = TestBroker::start();
    let topic = unique_topic("nulls");
    create_topic(broker.bootstrap(), &topic, 1, &[]).expect("create topic");
    let sent = vec![
        Record::default(),
        Record {
            key: Some(Vec::new()),
            value: Some(Vec::new()),
            ..Record::default()
        },
        Record {
            value: Some(b"no key".to_vec()),
            ..Record::default()
        },
        Record {
            key: Some(b"no value".to_vec()),
            ..Record::default()
        },
    ];
    let config = producer_config(broker.bootstrap());
    let producer = TestProducer::new(&config);
    for record in &sent {
        assert_delivered(&producer.send_one(&topic, record));
    }
    let received = consume_all(broker.bootstrap(), &topic, 1, sent.len());
    for (i, (record, expected)) in received.iter().zip(&sent).enumerate() {
        assert_eq!(record.offset, i as i64);
        assert_eq!(
            (&record.key, &record.value),
            (&expected.key, &expected.value),
            "record {i}"
        );
    }
}

/// Bytes that do not compress and are not all alike.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[test]
fn a_one_mebibyte_record_round_trips_where_the_topic_allows_it() {
    let broker = TestBroker::start();
    let topic = unique_topic("large");
    create_topic(
        broker.bootstrap(),
        &topic,
        1,
        &[("max.message.bytes", "2097152")],
    )
    .expect("create topic");
    let value = noise(1024 * 1024);
    let mut config = producer_config(broker.bootstrap());
    config.set("message.max.bytes", "2000000");
    let report = TestProducer::new(&config).send_one(&topic, &Record::keyed("big", value.clone()));
    assert_delivered(&report);
    assert_eq!((report.partition, report.offset), (0, 0));

    let consumer = assigned_consumer(
        &consumer_config(broker.bootstrap()),
        &topic,
        &[(0, Offset::Offset(0))],
    );
    let received = consume_exactly(&consumer, 1);
    assert_eq!(received[0].offset, 0);
    assert_eq!(received[0].key.as_deref(), Some(&b"big"[..]));
    let got = received[0].value.as_deref().expect("a value");
    assert_eq!(got.len(), value.len());
    assert!(
        got == value.as_slice(),
        "the 1 MiB value comes back byte-equal"
    );
}

/// librdkafka with ordinary settings sends these 1,000 records of 260 bytes as one request
/// of about 270 KB: a size at which the broker once asked the socket to wait for more bytes
/// than were still to come, and never answered.
#[test]
fn a_thousand_records_of_260_bytes_in_one_request_are_answered() {
    let broker = TestBroker::start();
    let topic = unique_topic("burst");
    create_topic(broker.bootstrap(), &topic, 1, &[]).expect("create topic");
    let records: Vec<Record> = (0..1000)
        .map(|i| Record::value(format!("{i:04}-{}", "v".repeat(255))))
        .collect();
    let mut config = producer_config(broker.bootstrap());
    // A long linger keeps the 1,000 records in one batch even when a loaded machine is slow
    // to queue them; the flush at the end sends it at once.
    config
        .set("linger.ms", "5000")
        .set("message.timeout.ms", "10000");
    let reports = TestProducer::new(&config).send_all(&topic, &records);
    assert_all_delivered(&reports);
    assert_reported_offsets_contiguous(&reports);
    let batches = stored_batches(&broker, &topic, 0);
    assert!(
        batches.len() <= 2,
        "the records went in few requests, as sent ({} batches)",
        batches.len()
    );
    let received = consume_all(broker.bootstrap(), &topic, 1, records.len());
    for (got, want) in received.iter().zip(&records) {
        assert_eq!(got.value, want.value);
    }
}

#[test]
fn a_record_larger_than_max_message_bytes_is_refused() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();

    // The topic's own limit.
    let small = unique_topic("small-limit");
    create_topic(bootstrap, &small, 1, &[("max.message.bytes", "10000")]).expect("create topic");
    let producer = TestProducer::new(&producer_config(bootstrap));
    let refused = producer.send_one(&small, &Record::value(noise(20_000)));
    assert_eq!(
        refused.error_code(),
        Some(RDKafkaErrorCode::MessageSizeTooLarge),
        "{refused:?}"
    );
    // Nothing was appended, and a record that fits still goes to offset 0.
    let fits = producer.send_one(&small, &Record::value(noise(5_000)));
    assert_delivered(&fits);
    assert_eq!(fits.offset, 0);

    // The broker's default (message_max_bytes, 1048588) for a topic without an override.
    let default_limit = unique_topic("default-limit");
    create_topic(bootstrap, &default_limit, 1, &[]).expect("create topic");
    let mut config = producer_config(bootstrap);
    config.set("message.max.bytes", "2000000");
    let refused =
        TestProducer::new(&config).send_one(&default_limit, &Record::value(noise(1_500_000)));
    assert_eq!(
        refused.error_code(),
        Some(RDKafkaErrorCode::MessageSizeTooLarge),
        "{refused:?}"
    );

    let consumer: rdkafka::consumer::BaseConsumer = consumer_config(bootstrap)
        .create()
        .expect("create consumer");
    assert_eq!(
        consumer
            .fetch_watermarks(&small, 0, TIMEOUT)
            .expect("watermarks"),
        (0, 1)
    );
    assert_eq!(
        consumer
            .fetch_watermarks(&default_limit, 0, TIMEOUT)
            .expect("watermarks"),
        (0, 0)
    );
}
