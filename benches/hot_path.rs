//! The produce/fetch hot path, piece by piece: batch-header parse + CRC32C, the record-level
//! checks of a produce batch (uncompressed and compressed), log append and log read (in
//! memory). Run with `cargo bench --bench hot_path`.

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use sluice::log::{BatchMeta, Log, MemoryLog};
use sluice::record::batch::BatchHeader;
use sluice::record::validate::{check_records, RecordRules};

mod common;

/// One v2 batch of `count` records of `value_bytes` each, as a client would send it.
fn batch(count: usize, value_bytes: usize) -> Bytes {
    common::batch(count, value_bytes, 0)
}

fn header_parse(c: &mut Criterion) {
    let bytes = batch(100, 1000);
    let mut group = c.benchmark_group("batch_header");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("parse_checked_100x1KB", |b| {
        b.iter(|| {
            BatchHeader::parse_checked(black_box(&bytes))
                .expect("valid batch")
                .size()
        })
    });
    group.finish();
}

fn memory_log(c: &mut Criterion) {
    let bytes = batch(100, 1000);
    let header = BatchHeader::parse(&bytes).expect("valid batch");
    let records_per_batch = i64::from(header.last_offset_delta()) + 1;
    let batches_per_log = 1000;

    let mut group = c.benchmark_group("memory_log");
    group.throughput(Throughput::Bytes((bytes.len() * batches_per_log) as u64));
    group.bench_function("append_1000_batches_of_100x1KB", |b| {
        b.iter_batched(
            MemoryLog::new,
            |mut log| {
                for _ in 0..batches_per_log {
                    let base_offset = log.end_offset();
                    let meta = BatchMeta {
                        base_offset,
                        last_offset: base_offset + records_per_batch - 1,
                        max_timestamp: header.max_timestamp(),
                        leader_epoch: 0,
                    };
                    let mut stamped = BytesMut::from(&bytes[..]);
                    stamped[..8].copy_from_slice(&base_offset.to_be_bytes());
                    log.append(stamped.freeze(), meta).expect("append");
                }
                log
            },
            BatchSize::LargeInput,
        )
    });

    let mut log = MemoryLog::new();
    for _ in 0..batches_per_log {
        let base_offset = log.end_offset();
        let meta = BatchMeta {
            base_offset,
            last_offset: base_offset + records_per_batch - 1,
            max_timestamp: header.max_timestamp(),
            leader_epoch: 0,
        };
        log.append(bytes.clone(), meta).expect("append");
    }
    group.bench_function("read_all_1MB_fetches", |b| {
        b.iter(|| {
            let mut offset = 0;
            while offset < log.end_offset() {
                let read = log.read(offset, 1024 * 1024, true).expect("read");
                offset += read.len() as i64 * records_per_batch;
            }
            offset
        })
    });
    group.finish();
}

/// `count` records of JSON-ish values of about `value_bytes`, uncompressed: 100 of 141 bytes
/// make a 16 KiB batch. The values vary like real events, so codecs work for their ratio
/// (3-4× here) instead of collapsing one repeated byte.
fn event_batch(count: i64, value_bytes: usize) -> Bytes {
    let mut seed: u32 = 0x9e37_79b9;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    const WORDS: [&str; 8] = [
        "click", "view", "scroll", "purchase", "login", "logout", "search", "share",
    ];
    let records: Vec<Record> = (0..count)
        .map(|i| {
            let mut value = format!(
                "{{\"id\":{},\"user\":\"u{:08x}\",\"event\":\"{}\",\"page\":\"/p/{}\",\"ms\":{}",
                1_000_000 + i,
                next(),
                WORDS[next() as usize % WORDS.len()],
                next() % 5000,
                next() % 100_000,
            );
            while value.len() < value_bytes {
                value.push_str(&format!(",\"x{}\":{}", value.len(), next() % 1000));
            }
            value.push('}');
            Record {
                transactional: false,
                control: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: i as i32,
                timestamp: 1_700_000_000_000 + i,
                key: Some(Bytes::from(format!("user-{}", i % 10))),
                value: Some(Bytes::from(value)),
                headers: Default::default(),
                delete_horizon: false,
            }
        })
        .collect();
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode a batch");
    out.freeze()
}

/// `batch` with its records compressed by `codec` (attributes value `id`) as the Java client
/// and librdkafka write them: gzip at the default level; snappy in snappy-java's framing;
/// lz4 frames of 64 KiB blocks without checksums; zstd level 3, streamed (no
/// content size, so the frame declares a 2 MiB window).
fn compressed(batch: &Bytes, id: u8) -> Bytes {
    use std::io::Write;
    const HEADER_BYTES: usize = 61;
    let records = &batch[HEADER_BYTES..];
    let payload = match id {
        1 => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(records).expect("gzip");
            encoder.finish().expect("gzip")
        }
        2 => {
            let mut out = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
            for chunk in records.chunks(32 * 1024) {
                let block = snap::raw::Encoder::new()
                    .compress_vec(chunk)
                    .expect("snappy");
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            out
        }
        3 => {
            let mut encoder = lz4::EncoderBuilder::new()
                .block_size(lz4::BlockSize::Max64KB)
                .block_mode(lz4::BlockMode::Independent)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .block_checksum(lz4::liblz4::BlockChecksum::NoBlockChecksum)
                .build(Vec::new())
                .expect("lz4");
            encoder.write_all(records).expect("lz4");
            let (out, result) = encoder.finish();
            result.expect("lz4");
            out
        }
        4 => {
            let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3).expect("zstd");
            encoder.write_all(records).expect("zstd");
            encoder.finish().expect("zstd")
        }
        _ => unreachable!("codec {id}"),
    };
    let mut out = BytesMut::from(&batch[..HEADER_BYTES]);
    out.extend_from_slice(&payload);
    let length = (out.len() - 12) as i32;
    out[8..12].copy_from_slice(&length.to_be_bytes());
    out[22] = id;
    sluice::record::validate::refresh_crc(&mut out);
    out.freeze()
}

/// What produce checks of a 16 KiB batch of 100 records: the header and CRC alone, then with
/// every record walked (and decompressed), per codec. `records_*` against `crc_only_none` is
/// the cost of the record checks. `small` is the walk's worst case: 16 KiB of 100-byte
/// records, 150 of them.
fn record_checks(c: &mut Criterion) {
    let rules = RecordRules::for_topic(&Default::default(), 1_048_588, false, 1_700_000_000_000);
    let plain = event_batch(100, 141);
    let mut group = c.benchmark_group("record_checks");
    for (name, bytes) in [
        ("none", plain.clone()),
        ("none_small", event_batch(150, 86)),
        ("lz4", compressed(&plain, 3)),
        ("zstd", compressed(&plain, 4)),
        ("snappy", compressed(&plain, 2)),
        ("gzip", compressed(&plain, 1)),
    ] {
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("crc_only_{name}_{}B", bytes.len()), |b| {
            b.iter(|| {
                BatchHeader::parse_checked(black_box(&bytes))
                    .expect("valid batch")
                    .size()
            })
        });
        group.bench_function(format!("records_{name}_{}B", bytes.len()), |b| {
            b.iter(|| {
                let header = BatchHeader::parse_checked(black_box(&bytes)).expect("valid batch");
                check_records(&header, &rules).expect("valid records")
            })
        });
    }
    group.finish();
}

/// What the admin API adds to every request: the fault check (none installed, and one rule
/// of another API installed) and the request recorder (off, and on with 1,000 kept).
fn admin_hooks(c: &mut Criterion) {
    use sluice::faults::{FaultRule, Faults, Targets};
    use sluice::request_log::{Answered, RequestLog};
    let mut group = c.benchmark_group("admin_hooks");
    let produce = kafka_protocol::messages::ApiKey::Produce as i16;
    let none = Faults::default();
    group.bench_function("fault_check_none_installed", |b| {
        b.iter(|| black_box(none.check(black_box(produce), "client", Targets::default)))
    });
    let other = Faults::default();
    other
        .add(&FaultRule {
            api: Some("Fetch".into()),
            action: Some("close".into()),
            ..FaultRule::default()
        })
        .unwrap();
    group.bench_function("fault_check_one_rule_of_another_api", |b| {
        b.iter(|| black_box(other.check(black_box(produce), "client", Targets::default)))
    });
    let codes = [0i16; 4];
    let answered = || Answered {
        time_ms: 1,
        api_key: produce,
        version: 9,
        correlation_id: 1,
        client_id: "client".to_string(),
        client_software: Some(("librdkafka", "2.10.0")),
        peer: "127.0.0.1:5000".parse().unwrap(),
        duration_us: 100,
        codes: &codes,
        fault: None,
    };
    for size in [0, 1_000] {
        let log = RequestLog::new(size);
        group.bench_function(format!("recorder_size_{size}"), |b| {
            b.iter(|| {
                if log.enabled() {
                    log.record(answered())
                }
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    header_parse,
    record_checks,
    memory_log,
    admin_hooks
);
criterion_main!(benches);
