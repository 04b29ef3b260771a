//! The wire, byte by byte: requests encoded and responses decoded with the kafka-protocol
//! crate over a plain TCP socket, to reach what real clients never send — corrupt batches,
//! bad frame lengths, unknown APIs and versions.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, ApiKey, ApiVersionsRequest, ApiVersionsResponse,
    CreateTopicsRequest, CreateTopicsResponse, DescribeClusterResponse, FetchRequest,
    FetchResponse, MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use sluice::record::batch::BatchHeader;
use sluice_interop_tests::wire::Wire;
use sluice_interop_tests::TestBroker;

const UNKNOWN_SERVER_ERROR: i16 = -1;
const NONE: i16 = 0;
const CORRUPT_MESSAGE: i16 = 2;
const INVALID_TIMESTAMP: i16 = 32;
const UNSUPPORTED_VERSION: i16 = 35;
const INVALID_RECORD: i16 = 87;

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

async fn metadata(wire: &mut Wire, topic: &str) -> MetadataResponse {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(topic)))
        ]))
        .with_allow_auto_topic_creation(true);
    wire.call(ApiKey::Metadata, 12, &request).await
}

/// Asserts a Metadata answer describes `topic` with one healthy partition on node 0.
fn assert_one_partition(response: &MetadataResponse, topic: &str) {
    assert_eq!(response.brokers.len(), 1);
    assert_eq!(response.brokers[0].node_id.0, 0);
    assert_eq!(response.topics.len(), 1);
    let entry = &response.topics[0];
    assert_eq!(entry.error_code, NONE);
    assert_eq!(entry.name.as_ref().map(|n| n.as_str()), Some(topic));
    assert_eq!(entry.partitions.len(), 1);
    assert_eq!(entry.partitions[0].error_code, NONE);
    assert_eq!(entry.partitions[0].leader_id.0, 0);
}

fn records() -> Vec<Record> {
    (0..3)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            // The encoder groups records into one batch while `offset - sequence` stays
            // the same; base sequence -1 is "not idempotent".
            sequence: i as i32 - 1,
            timestamp: 1_700_000_000_000 + i,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(format!("value-{i}"))),
            headers: Default::default(),
        })
        .collect()
}

/// One v2 batch (magic 2) holding `records`.
fn encode_batch(records: &[Record]) -> Bytes {
    encode_compressed(records, Compression::None)
}

/// One v2 batch holding `records`, compressed with `compression`.
fn encode_compressed(records: &[Record], compression: Compression) -> Bytes {
    let mut batch = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut batch,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .expect("encode a v2 record batch");
    let batch = batch.freeze();
    let header = BatchHeader::parse_checked(&batch).expect("a valid batch");
    assert_eq!(header.size(), batch.len(), "exactly one batch");
    assert_eq!(header.record_count() as usize, records.len());
    batch
}

fn produce_request(topic: &str, acks: i16, batch: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch))])])
}

/// The one partition's (error code, base offset) of a Produce answer.
fn produce_outcome(response: &ProduceResponse, topic: &str) -> (i16, i64) {
    assert_eq!(response.responses.len(), 1);
    assert_eq!(response.responses[0].name.as_str(), topic);
    let partitions = &response.responses[0].partition_responses;
    assert_eq!(partitions.len(), 1);
    assert_eq!(partitions[0].index, 0);
    (partitions[0].error_code, partitions[0].base_offset)
}

fn fetch_request(topic: &str, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1024 * 1024)])])
}

/// The one partition's (error code, high watermark, records) of a Fetch answer.
fn fetch_outcome(response: &FetchResponse) -> (i16, i64, Bytes) {
    assert_eq!(response.error_code, NONE);
    assert_eq!(response.responses.len(), 1);
    let partitions = &response.responses[0].partitions;
    assert_eq!(partitions.len(), 1);
    let partition = &partitions[0];
    (
        partition.error_code,
        partition.high_watermark,
        partition.records.clone().unwrap_or_default(),
    )
}

#[test]
fn a_corrupt_batch_is_refused_and_the_connection_keeps_serving() {
    let broker = TestBroker::start();
    let addr = broker.addr();
    broker.block_on(async {
        let topic = "raw-produce";
        let mut wire = Wire::connect(addr).await;
        assert_one_partition(&metadata(&mut wire, topic).await, topic);

        let sent = records();
        let batch = encode_batch(&sent);
        let mut corrupt = BytesMut::from(&batch[..]);
        // The last byte belongs to the last record, inside what the CRC32C covers.
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        let response: ProduceResponse = wire
            .call(
                ApiKey::Produce,
                9,
                &produce_request(topic, -1, corrupt.freeze()),
            )
            .await;
        let (error, base_offset) = produce_outcome(&response, topic);
        assert_eq!(error, CORRUPT_MESSAGE, "a CRC mismatch is CORRUPT_MESSAGE");
        assert_eq!(base_offset, -1);

        // Two batches for one partition: Produce v3+ takes exactly one (INVALID_RECORD).
        let mut two = BytesMut::from(&batch[..]);
        two.extend_from_slice(&batch);
        let response: ProduceResponse = wire
            .call(
                ApiKey::Produce,
                9,
                &produce_request(topic, -1, two.freeze()),
            )
            .await;
        assert_eq!(produce_outcome(&response, topic), (INVALID_RECORD, -1));

        // Same connection: still served.
        assert_one_partition(&metadata(&mut wire, topic).await, topic);

        // The intact batch lands at offset 0: the corrupt one left nothing behind.
        let response: ProduceResponse = wire
            .call(
                ApiKey::Produce,
                9,
                &produce_request(topic, -1, batch.clone()),
            )
            .await;
        assert_eq!(produce_outcome(&response, topic), (NONE, 0));
        let response: ProduceResponse = wire
            .call(ApiKey::Produce, 9, &produce_request(topic, -1, batch))
            .await;
        assert_eq!(produce_outcome(&response, topic), (NONE, 3));

        // And it reads back as sent, at offsets 0..6.
        let response: FetchResponse = wire
            .call(ApiKey::Fetch, 12, &fetch_request(topic, 0, 0))
            .await;
        let (error, high_watermark, mut bytes) = fetch_outcome(&response);
        assert_eq!((error, high_watermark), (NONE, 6));
        let sets = RecordBatchDecoder::decode_all(&mut bytes).expect("decode fetched batches");
        let fetched: Vec<(i64, i64, Option<Bytes>, Option<Bytes>)> = sets
            .iter()
            .flat_map(|set| &set.records)
            .map(|r| (r.offset, r.timestamp, r.key.clone(), r.value.clone()))
            .collect();
        let expected: Vec<(i64, i64, Option<Bytes>, Option<Bytes>)> = sent
            .iter()
            .chain(&sent)
            .enumerate()
            .map(|(i, r)| (i as i64, r.timestamp, r.key.clone(), r.value.clone()))
            .collect();
        assert_eq!(fetched, expected);
    });
}

#[test]
fn pipelined_produces_are_all_answered_in_order_before_a_bad_frame_closes() {
    let broker = TestBroker::start();
    let addr = broker.addr();
    broker.block_on(async {
        let topic = "raw-pipelined";
        let mut wire = Wire::connect(addr).await;
        assert_one_partition(&metadata(&mut wire, topic).await, topic);
        let version = 9;
        let header_version = ApiKey::Produce.request_header_version(version);
        // 20 Produce requests in one write (one with acks=0, which gets no answer), then a
        // Metadata request, 5 more Produce requests and a frame too short to be a request.
        let mut burst = BytesMut::new();
        let mut answered = Vec::new();
        for i in 0..25 {
            let acks = if i == 7 { 0 } else { 1 };
            let request = produce_request(topic, acks, encode_batch(&records()));
            let (id, frame) = wire.frame(
                ApiKey::Produce as i16,
                version,
                header_version,
                &request,
                version,
            );
            burst.extend_from_slice(&frame);
            if acks != 0 {
                answered.push((id, i as i64 * 3));
            }
            if i == 19 {
                let (id, frame) = wire.frame(
                    ApiKey::Metadata as i16,
                    12,
                    ApiKey::Metadata.request_header_version(12),
                    &MetadataRequest::default(),
                    12,
                );
                burst.extend_from_slice(&frame);
                answered.push((id, -1));
            }
        }
        burst.extend_from_slice(&[0, 0, 0, 2, 0, 0]);
        wire.write(&burst).await;

        for (id, base_offset) in answered {
            if base_offset < 0 {
                let response: MetadataResponse = wire
                    .receive(id, ApiKey::Metadata.response_header_version(12), 12)
                    .await;
                assert_eq!(response.brokers.len(), 1);
                continue;
            }
            let response: ProduceResponse = wire
                .receive(
                    id,
                    ApiKey::Produce.response_header_version(version),
                    version,
                )
                .await;
            assert_eq!(produce_outcome(&response, topic), (NONE, base_offset));
        }
        wire.expect_closed("a frame too short for a request header")
            .await;
    });
}

#[test]
fn a_large_request_arriving_in_pieces_is_answered() {
    let broker = TestBroker::start();
    let addr = broker.addr();
    broker.block_on(async {
        let topic = "raw-large-in-pieces";
        let mut wire = Wire::connect(addr).await;
        assert_one_partition(&metadata(&mut wire, topic).await, topic);
        let mut record = records().remove(0);
        record.value = Some(Bytes::from(vec![42u8; 600_000]));
        let batch = encode_batch(std::slice::from_ref(&record));
        let version = 9;
        for round in 0..2 {
            let (id, frame) = wire.frame(
                ApiKey::Produce as i16,
                version,
                ApiKey::Produce.request_header_version(version),
                &produce_request(topic, 1, batch.clone()),
                version,
            );
            // Uneven pieces with pauses: the broker waits for the rest of the frame, however
            // it comes, and is woken for it.
            for piece in frame.chunks(frame.len() / 3 + 7) {
                wire.write(piece).await;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            let response: ProduceResponse = wire
                .receive(
                    id,
                    ApiKey::Produce.response_header_version(version),
                    version,
                )
                .await;
            assert_eq!(produce_outcome(&response, topic), (NONE, round));
        }
        let response: FetchResponse = wire
            .call(ApiKey::Fetch, 12, &fetch_request(topic, 1, 0))
            .await;
        let (error, high_watermark, mut bytes) = fetch_outcome(&response);
        assert_eq!((error, high_watermark), (NONE, 2));
        let set = RecordBatchDecoder::decode(&mut bytes).expect("decode the fetched batch");
        assert_eq!(set.records[0].offset, 1);
        assert_eq!(set.records[0].value, record.value);
    });
}

#[test]
fn acks_zero_gets_no_response_and_the_next_request_is_answered() {
    let broker = TestBroker::start();
    let addr = broker.addr();
    broker.block_on(async {
        let topic = "raw-acks-zero";
        let mut wire = Wire::connect(addr).await;
        assert_one_partition(&metadata(&mut wire, topic).await, topic);
        let batch = encode_batch(&records());
        let request = produce_request(topic, 0, batch);
        let version = 9;
        wire.send(
            ApiKey::Produce as i16,
            version,
            ApiKey::Produce.request_header_version(version),
            &request,
            version,
        )
        .await;
        // The next frame on the wire answers the Metadata request, not the Produce.
        assert_one_partition(&metadata(&mut wire, topic).await, topic);
        let response: FetchResponse = wire
            .call(ApiKey::Fetch, 12, &fetch_request(topic, 0, 0))
            .await;
        assert_eq!(
            fetch_outcome(&response).1,
            3,
            "the acks=0 batch was appended"
        );
    });
}

#[test]
fn a_parked_fetch_waits_for_max_wait_ms_and_wakes_on_append() {
    let broker = TestBroker::start();
    let addr = broker.addr();
    broker.block_on(async {
        let topic = "raw-long-poll";
        let mut fetcher = Wire::connect(addr).await;
        assert_one_partition(&metadata(&mut fetcher, topic).await, topic);

        // Nothing to read: the broker holds the fetch for its max wait, then answers empty.
        let started = Instant::now();
        let response: FetchResponse = fetcher
            .call(ApiKey::Fetch, 12, &fetch_request(topic, 0, 300))
            .await;
        let held = started.elapsed();
        let (error, high_watermark, bytes) = fetch_outcome(&response);
        assert_eq!((error, high_watermark, bytes.len()), (NONE, 0, 0));
        assert!(
            held >= Duration::from_millis(290),
            "held only {held:?} of max_wait_ms=300"
        );

        // A fetch parked for up to 10 s returns as soon as another connection appends.
        let version = 12;
        let correlation_id = fetcher
            .send(
                ApiKey::Fetch as i16,
                version,
                ApiKey::Fetch.request_header_version(version),
                &fetch_request(topic, 0, 10_000),
                version,
            )
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut producer = Wire::connect(addr).await;
        let appended_at = Instant::now();
        let response: ProduceResponse = producer
            .call(
                ApiKey::Produce,
                9,
                &produce_request(topic, 1, encode_batch(&records())),
            )
            .await;
        assert_eq!(produce_outcome(&response, topic), (NONE, 0));
        let response: FetchResponse = fetcher
            .receive(
                correlation_id,
                ApiKey::Fetch.response_header_version(version),
                version,
            )
            .await;
        let woke_after = appended_at.elapsed();
        let (error, high_watermark, mut bytes) = fetch_outcome(&response);
        assert_eq!((error, high_watermark), (NONE, 3));
        let set = RecordBatchDecoder::decode(&mut bytes).expect("decode the fetched batch");
        assert_eq!(set.records.len(), 3);
        assert!(
            woke_after < Duration::from_millis(1_000),
            "the parked fetch answered {woke_after:?} after the append"
        );
    });
}

#[test]
fn bad_frame_lengths_close_only_their_connection() {
    let broker = TestBroker::start();
    let addr = broker.addr();
    let max_request_bytes = broker.broker().config().max_request_bytes;
    broker.block_on(async {
        let mut bystander = Wire::connect(addr).await;
        let response: ApiVersionsResponse = bystander
            .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
            .await;
        assert_eq!(response.error_code, NONE);

        let too_long = i32::try_from(max_request_bytes + 1).expect("the limit fits an i32");
        for length in [-1, i32::MIN, too_long] {
            let mut wire = Wire::connect(addr).await;
            wire.write(&length.to_be_bytes()).await;
            wire.expect_closed(&format!("length {length}")).await;

            // Other connections, old and new, are still served.
            let response: ApiVersionsResponse = bystander
                .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
                .await;
            assert_eq!(response.error_code, NONE, "after length {length}");
            let mut fresh = Wire::connect(addr).await;
            let response: MetadataResponse = fresh
                .call(ApiKey::Metadata, 12, &MetadataRequest::default())
                .await;
            assert_eq!(response.brokers.len(), 1, "after length {length}");
        }
    });
}

#[test]
fn api_versions_newer_than_supported_gets_unsupported_version_in_v0() {
    let broker = TestBroker::start();
    let addr = broker.addr();
    broker.block_on(async {
        let mut wire = Wire::connect(addr).await;
        let key = ApiKey::ApiVersions;
        // The body is a v3 body: a broker that knows v99 would find it there.
        let correlation_id = wire
            .send(
                key as i16,
                99,
                key.request_header_version(3),
                &ApiVersionsRequest::default(),
                3,
            )
            .await;
        let response: ApiVersionsResponse = wire.receive(correlation_id, 0, 0).await;
        assert_eq!(response.error_code, UNSUPPORTED_VERSION);
        let api_versions: Vec<(i16, i16, i16)> = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        assert!(
            api_versions
                .iter()
                .any(|&(k, min, max)| k == key as i16 && min == 0 && max >= 3),
            "the answer names the ApiVersions range to retry with: {api_versions:?}"
        );

        // The client retries on the same connection with a version we speak.
        let response: ApiVersionsResponse = wire.call(key, 3, &ApiVersionsRequest::default()).await;
        assert_eq!(response.error_code, NONE);
        let advertised: Vec<i16> = response.api_keys.iter().map(|k| k.api_key).collect();
        for wanted in [
            ApiKey::Produce,
            ApiKey::Fetch,
            ApiKey::ListOffsets,
            ApiKey::Metadata,
            ApiKey::ApiVersions,
        ] {
            assert!(
                advertised.contains(&(wanted as i16)),
                "{wanted:?} in {advertised:?}"
            );
        }
    });
}

#[test]
fn unknown_apis_and_unsupported_versions_close_the_connection() {
    let broker = TestBroker::start();
    let addr = broker.addr();
    broker.block_on(async {
        // An api key Kafka does not have.
        let mut wire = Wire::connect(addr).await;
        wire.send(999, 0, 1, &ApiVersionsRequest::default(), 0)
            .await;
        wire.expect_closed("api key 999").await;

        // A known API at a version the broker does not advertise (AlterPartitionReassignments
        // v1, Kafka 4's allow_replication_factor_change, is not in 0..=0).
        let mut wire = Wire::connect(addr).await;
        let key = ApiKey::AlterPartitionReassignments;
        wire.send(
            key as i16,
            1,
            key.request_header_version(1),
            &AlterPartitionReassignmentsRequest::default(),
            1,
        )
        .await;
        wire.expect_closed("AlterPartitionReassignments v1").await;

        let mut fresh = Wire::connect(addr).await;
        let response: MetadataResponse = fresh
            .call(ApiKey::Metadata, 12, &MetadataRequest::default())
            .await;
        assert_eq!(response.brokers.len(), 1, "a new connection is served");
    });
}

// Byte positions in a v2 batch header (see `sluice::record::batch`).
const LAST_OFFSET_DELTA_AT: usize = 23;
const RECORD_COUNT_AT: usize = 57;
const RECORDS_AT: usize = 61;

/// Recomputes the CRC32C of an edited batch, so that only the edit is wrong with it.
fn with_fresh_crc(mut batch: BytesMut) -> Bytes {
    sluice::record::validate::refresh_crc(&mut batch);
    batch.freeze()
}

/// Creates `topic` (one partition) with `configs` through CreateTopics.
async fn create_topic(wire: &mut Wire, topic: &str, configs: &[(&str, &str)]) {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(topic))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(
                configs
                    .iter()
                    .map(|(name, value)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string(name.to_string()))
                            .with_value(Some(StrBytes::from_string(value.to_string())))
                    })
                    .collect(),
            )]);
    let response: CreateTopicsResponse = wire.call(ApiKey::CreateTopics, 7, &request).await;
    assert_eq!(response.topics.len(), 1);
    assert_eq!(
        response.topics[0].error_code, NONE,
        "{:?}",
        response.topics[0]
    );
}

async fn produce(wire: &mut Wire, topic: &str, batch: Bytes) -> (i16, i64) {
    let response: ProduceResponse = wire
        .call(ApiKey::Produce, 9, &produce_request(topic, -1, batch))
        .await;
    produce_outcome(&response, topic)
}

#[test]
fn a_batch_whose_count_disagrees_with_its_records_is_invalid_record() {
    let broker = TestBroker::start();
    let addr = broker.addr();
    broker.block_on(async {
        let topic = "raw-miscounted";
        let mut wire = Wire::connect(addr).await;
        assert_one_partition(&metadata(&mut wire, topic).await, topic);
        let batch = encode_batch(&records());
        // The header claims 4 records (and offsets 0..=3, so it agrees with itself), over the
        // bytes of 3; the CRC is recomputed, so only the count is wrong.
        let mut miscounted = BytesMut::from(&batch[..]);
        miscounted[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
            .copy_from_slice(&3i32.to_be_bytes());
        miscounted[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&4i32.to_be_bytes());
        let miscounted = with_fresh_crc(miscounted);
        assert!(BatchHeader::parse_checked(&miscounted).is_ok());
        assert_eq!(
            produce(&mut wire, topic, miscounted).await,
            (INVALID_RECORD, -1)
        );
        // Nothing was stored: the intact batch lands at offset 0.
        assert_eq!(produce(&mut wire, topic, batch).await, (NONE, 0));
    });
}

#[test]
fn a_compressed_batch_that_does_not_decompress_is_corrupt_message() {
    let broker = TestBroker::start();
    let addr = broker.addr();
    broker.block_on(async {
        let topic = "raw-undecompressible";
        let mut wire = Wire::connect(addr).await;
        assert_one_partition(&metadata(&mut wire, topic).await, topic);
        for compression in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let batch = encode_compressed(&records(), compression);
            // The compressed payload overwritten with bytes no codec reads; CRC recomputed.
            let mut garbage = BytesMut::from(&batch[..]);
            for byte in &mut garbage[RECORDS_AT..] {
                *byte = 0xa5;
            }
            assert_eq!(
                produce(&mut wire, topic, with_fresh_crc(garbage)).await,
                (CORRUPT_MESSAGE, -1),
                "{compression:?}"
            );
        }
        // Well-formed compressed batches of every codec are stored, and read back.
        for (i, compression) in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ]
        .into_iter()
        .enumerate()
        {
            let batch = encode_compressed(&records(), compression);
            assert_eq!(
                produce(&mut wire, topic, batch).await,
                (NONE, 3 * i as i64),
                "{compression:?}"
            );
        }
        let response: FetchResponse = wire
            .call(ApiKey::Fetch, 12, &fetch_request(topic, 0, 0))
            .await;
        let (error, high_watermark, mut bytes) = fetch_outcome(&response);
        assert_eq!((error, high_watermark), (NONE, 12));
        let sets = RecordBatchDecoder::decode_all(&mut bytes).expect("decode fetched batches");
        let values: Vec<Option<Bytes>> = sets
            .iter()
            .flat_map(|set| &set.records)
            .map(|r| r.value.clone())
            .collect();
        assert_eq!(values.len(), 12);
        assert_eq!(values[11], records()[2].value);
    });
}

#[test]
fn a_timestamp_past_message_timestamp_after_max_ms_is_invalid_timestamp() {
    let broker = TestBroker::start();
    let addr = broker.addr();
    broker.block_on(async {
        let topic = "raw-future-timestamps";
        let mut wire = Wire::connect(addr).await;
        create_topic(
            &mut wire,
            topic,
            &[("message.timestamp.after.max.ms", "60000")],
        )
        .await;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is past 1970")
            .as_millis() as i64;
        let at = |timestamp: i64| {
            let mut records = records();
            for (i, record) in records.iter_mut().enumerate() {
                record.timestamp = timestamp + i as i64;
            }
            records
        };
        // An hour ahead of the broker's clock, with the topic allowing a minute.
        let ahead = encode_compressed(&at(now_ms + 3_600_000), Compression::Lz4);
        assert_eq!(
            produce(&mut wire, topic, ahead).await,
            (INVALID_TIMESTAMP, -1)
        );
        // Now, and long ago (no `before` bound is set), are fine.
        let current = encode_batch(&at(now_ms));
        assert_eq!(produce(&mut wire, topic, current).await, (NONE, 0));
        let old = encode_batch(&at(1_000_000_000_000));
        assert_eq!(produce(&mut wire, topic, old).await, (NONE, 3));
    });
}

#[test]
fn fetch_with_an_unknown_isolation_level_is_refused() {
    let broker = TestBroker::start();
    let addr = broker.addr();
    broker.block_on(async {
        let topic = "raw-isolation";
        let mut wire = Wire::connect(addr).await;
        assert_one_partition(&metadata(&mut wire, topic).await, topic);
        assert_eq!(
            produce(&mut wire, topic, encode_batch(&records())).await,
            (NONE, 0)
        );
        // Kafka's `IsolationLevel.forId(7)` throws; its error response is UNKNOWN_SERVER_ERROR
        // at the top and, before v13, in every partition.
        let request = fetch_request(topic, 0, 0).with_isolation_level(7);
        let response: FetchResponse = wire.call(ApiKey::Fetch, 12, &request).await;
        assert_eq!(response.error_code, UNKNOWN_SERVER_ERROR);
        assert_eq!(response.responses.len(), 1);
        let partition = &response.responses[0].partitions[0];
        assert_eq!(
            (
                partition.error_code,
                partition.high_watermark,
                partition.records.as_ref().map_or(0, Bytes::len)
            ),
            (UNKNOWN_SERVER_ERROR, -1, 0)
        );
        // The connection still serves, and both known levels read.
        for isolation_level in [0, 1] {
            let request = fetch_request(topic, 0, 0).with_isolation_level(isolation_level);
            let response: FetchResponse = wire.call(ApiKey::Fetch, 12, &request).await;
            let (error, high_watermark, _) = fetch_outcome(&response);
            assert_eq!(
                (error, high_watermark),
                (NONE, 3),
                "level {isolation_level}"
            );
        }
    });
}

/// DescribeCluster as Sarama's `ClusterAdmin.DescribeCluster` writes it (Version V4_0_0_0 →
/// v2, V3_7_0_0 → v1, older → v0): header v2 (flexible) with Sarama's client id, then the body
/// bytes it encodes — include_cluster_authorized_operations false, endpoint type 1 (brokers,
/// v1+), include_fenced_brokers true (v2), no tagged fields.
#[test]
fn describe_cluster_as_sarama_sends_it_is_answered() {
    let broker = TestBroker::start();
    let addr = broker.addr();
    broker.block_on(async {
        let mut wire = Wire::connect(addr).await;
        for (version, body) in [(0i16, &[0u8, 0][..]), (1, &[0, 1, 0]), (2, &[0, 1, 1, 0])] {
            let client_id = b"sluice-interop-sarama";
            let mut frame = BytesMut::new();
            frame.extend_from_slice(&60i16.to_be_bytes());
            frame.extend_from_slice(&version.to_be_bytes());
            frame.extend_from_slice(&(7 + i32::from(version)).to_be_bytes());
            frame.extend_from_slice(&i16::try_from(client_id.len()).unwrap().to_be_bytes());
            frame.extend_from_slice(client_id);
            frame.extend_from_slice(&[0]); // the header's tagged fields
            frame.extend_from_slice(body);
            let mut sized = BytesMut::new();
            sized.extend_from_slice(&i32::try_from(frame.len()).unwrap().to_be_bytes());
            sized.extend_from_slice(&frame);
            wire.write(&sized).await;
            let r: DescribeClusterResponse = wire.receive(7 + i32::from(version), 1, version).await;
            assert_eq!(r.error_code, NONE, "v{version}");
            assert_eq!(r.endpoint_type, 1, "v{version}");
            assert_eq!(r.cluster_id.as_str(), broker.broker().cluster_id());
            assert_eq!(r.controller_id.0, broker.broker().node_id());
            assert_eq!(r.cluster_authorized_operations, i32::MIN);
            assert_eq!(r.brokers.len(), 1);
            let node = &r.brokers[0];
            assert_eq!(
                (
                    node.broker_id.0,
                    node.host.as_str(),
                    node.port,
                    node.is_fenced
                ),
                (
                    broker.broker().node_id(),
                    "127.0.0.1",
                    i32::from(addr.port()),
                    false
                ),
                "v{version}: the advertised address of the listener"
            );
        }
    });
}
