//! The wire at both ends of the hot path: decoding a Produce request as it arrives from a
//! client, and encoding a Fetch response around record data read from the log.
//! Run with `cargo bench --bench protocol`.

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, FetchResponse, ProduceRequest, RequestHeader, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use sluice::protocol::request::{self, RequestBody};

mod common;
use common::batch;
use sluice::protocol::response::{self, ResponseBody};

const TOPIC: &str = "bench-topic";

/// A Produce v9 request frame (header and body, no size prefix, as `frame::read_frame`
/// hands it on): one topic, one partition, one batch of 16 records of 1 KB.
fn produce_frame() -> Bytes {
    const VERSION: i16 = 9;
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(VERSION)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("rdkafka")));
    let body = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(16, 1024, 0)))])]);
    let mut frame = BytesMut::new();
    header
        .encode(&mut frame, ApiKey::Produce.request_header_version(VERSION))
        .expect("encode the header");
    body.encode(&mut frame, VERSION).expect("encode the body");
    frame.freeze()
}

/// 1 MiB of record data as the log hands it to a fetch: whole batches of 16 × 1 KB records,
/// concatenated, cut to the last batch that fits.
fn fetched_records() -> Bytes {
    const LIMIT: usize = 1024 * 1024;
    let mut out = BytesMut::with_capacity(LIMIT);
    let mut offset = 0;
    loop {
        let next = batch(16, 1024, offset);
        if out.len() + next.len() > LIMIT {
            break;
        }
        out.put_slice(&next);
        offset += 16;
    }
    out.freeze()
}

fn fetch_response(records: Bytes) -> ResponseBody {
    ResponseBody::Fetch(FetchResponse::default().with_responses(
        vec![FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partitions(vec![PartitionData::default()
                    .with_partition_index(0)
                    .with_high_watermark(1_000_000)
                    .with_last_stable_offset(1_000_000)
                    .with_log_start_offset(0)
                    .with_aborted_transactions(None)
                    .with_records(Some(records))])],
    ))
}

fn produce_decode(c: &mut Criterion) {
    let frame = produce_frame();
    let mut group = c.benchmark_group("produce_request");
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("decode_v9_16x1KB", |b| {
        b.iter(|| {
            let request = request::decode(black_box(frame.clone())).expect("a valid request");
            match request.body {
                RequestBody::Produce(produce) => produce.topic_data.len(),
                _ => unreachable!("a Produce request"),
            }
        })
    });
    group.finish();
}

fn fetch_encode(c: &mut Criterion) {
    const VERSION: i16 = 12;
    let records = fetched_records();
    let body = fetch_response(records.clone());
    let mut group = c.benchmark_group("fetch_response");
    group.throughput(Throughput::Bytes(records.len() as u64));
    group.bench_function("encode_v12_1MiB", |b| {
        b.iter(|| {
            let chunks = response::encode(ApiKey::Fetch, VERSION, 7, black_box(&body))
                .expect("encode the response");
            chunks.len()
        })
    });
    // What a response costs when the records are built per fetch, as the handler does:
    // the PartitionData and its Bytes handle are created, then encoded.
    group.bench_function("build_and_encode_v12_1MiB", |b| {
        b.iter(|| {
            let body = fetch_response(black_box(&records).clone());
            let chunks =
                response::encode(ApiKey::Fetch, VERSION, 7, &body).expect("encode the response");
            chunks.len()
        })
    });
    group.finish();
}

criterion_group!(benches, produce_decode, fetch_encode);
criterion_main!(benches);
