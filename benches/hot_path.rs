//! The produce/fetch hot path, piece by piece: batch-header parse + CRC32C, log append and
//! log read (in memory). Run with `cargo bench --bench hot_path`.

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sluice::log::{BatchMeta, Log, MemoryLog};
use sluice::protocol::record_batch::BatchHeader;

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

criterion_group!(benches, header_parse, memory_log);
criterion_main!(benches);
