//! The storage engine: append and sequential read of 1 KB-record batches in memory and on
//! disk, what a fetch does under the partition's lock (its read plan), offset lookups, and
//! opening many partitions. Run with `cargo bench --bench log`.

// A bench measures real time.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sluice::log::{BatchMeta, Log, MemoryLog, SegmentConfig, SegmentedLog};
use sluice::record::batch::{set_base_offset, split_batches, BatchHeader};

mod common;

const RECORDS_PER_BATCH: usize = 16;
const RECORD_BYTES: usize = 1000;
const BATCHES: usize = 2_000;

/// A v2 batch of 16 records of 1 KB, as a client sends it.
fn client_batch() -> Bytes {
    common::batch(RECORDS_PER_BATCH, RECORD_BYTES, 0)
}

/// Appends `count` copies of `batch`, stamping offsets as the partition does.
fn fill(log: &mut dyn Log, batch: &Bytes, count: usize) {
    let header = BatchHeader::parse(batch).expect("valid batch");
    let delta = i64::from(header.last_offset_delta());
    for _ in 0..count {
        let base_offset = log.end_offset();
        let mut stamped = BytesMut::from(&batch[..]);
        set_base_offset(&mut stamped, base_offset);
        let meta = BatchMeta {
            base_offset,
            last_offset: base_offset + delta,
            max_timestamp: header.max_timestamp(),
            leader_epoch: 0,
        };
        log.append(stamped.freeze(), meta).expect("append");
    }
}

fn read_all(log: &dyn Log) -> usize {
    let mut offset = log.start_offset();
    let mut bytes = 0;
    while offset < log.end_offset() {
        let chunks = log.read(offset, 1024 * 1024, true).expect("read");
        for chunk in &chunks {
            bytes += chunk.len();
            let batches = split_batches(chunk).expect("whole stored batches");
            let last = batches.last().expect("a chunk holds a batch");
            offset = BatchHeader::parse(last)
                .expect("stored batch")
                .last_offset()
                + 1;
        }
    }
    bytes
}

fn disk_config() -> SegmentConfig {
    SegmentConfig {
        segment_bytes: 64 * 1024 * 1024,
        ..SegmentConfig::default()
    }
}

fn append(c: &mut Criterion) {
    let batch = client_batch();
    let mut group = c.benchmark_group("append_1KB_records");
    group.sample_size(10);
    group.throughput(Throughput::Bytes((batch.len() * BATCHES) as u64));
    group.bench_function("memory", |b| {
        b.iter_batched(
            MemoryLog::new,
            |mut log| {
                fill(&mut log, &batch, BATCHES);
                log
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("disk", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("tempdir"),
            |dir| {
                let mut log = SegmentedLog::open(dir.path(), disk_config()).expect("open");
                fill(&mut log, &batch, BATCHES);
                dir
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn read(c: &mut Criterion) {
    let batch = client_batch();
    let mut memory = MemoryLog::new();
    fill(&mut memory, &batch, BATCHES);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut disk = SegmentedLog::open(dir.path(), disk_config()).expect("open");
    fill(&mut disk, &batch, BATCHES);
    disk.close().expect("close");

    let mut group = c.benchmark_group("sequential_read_1MB_fetches");
    group.sample_size(20);
    group.throughput(Throughput::Bytes((batch.len() * BATCHES) as u64));
    group.bench_function("memory", |b| b.iter(|| read_all(&memory)));
    group.bench_function("disk", |b| b.iter(|| read_all(&disk)));
    group.finish();

    // What a 1 MB fetch does under the partition's lock (the plan), and in all.
    let mut group = c.benchmark_group("fetch_1MB");
    group.bench_function("memory_plan", |b| {
        b.iter(|| memory.read_plan(0, 1024 * 1024, true).expect("plan"))
    });
    group.bench_function("memory_plan_and_read", |b| {
        b.iter(|| memory.read(0, 1024 * 1024, true).expect("read").len())
    });
    group.finish();

    // One offset lookup and one batch read at a pseudo-random offset: the index's binary
    // search plus a positional read.
    let end = disk.end_offset();
    let mut group = c.benchmark_group("offset_lookup");
    let mut next = 0x9E37_79B9_7F4A_7C15u64;
    group.bench_function("disk_random_offset_one_batch", |b| {
        b.iter(|| {
            next = next
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let offset = (next >> 33) as i64 % end;
            disk.read(offset, 1, true).expect("read").len()
        })
    });
    group.finish();
}

/// A consumer keeping up with a producer of single-record batches: it reads from the batch
/// appended last. The plan is the part made under the partition's lock.
fn tail_read(c: &mut Criterion) {
    let batch = common::batch(1, 100, 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut disk = SegmentedLog::open(dir.path(), disk_config()).expect("open");
    fill(&mut disk, &batch, BATCHES);
    let last = disk.end_offset() - 1;
    let mut group = c.benchmark_group("tail_read_100B_batches");
    group.bench_function("disk_plan", |b| {
        b.iter(|| disk.read_plan(last, 1024 * 1024, true).expect("plan"))
    });
    group.bench_function("disk_plan_and_read", |b| {
        b.iter(|| disk.read(last, 1024 * 1024, true).expect("read").len())
    });
    group.finish();
}

/// A read from a sealed segment that is not open yet: the plan (made under the partition's
/// lock) and the whole read, which opens the segment and checks its index files.
fn cold_sealed_read(c: &mut Criterion) {
    let batch = client_batch();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = SegmentConfig {
        segment_bytes: 1024 * 1024,
        ..SegmentConfig::default()
    };
    let mut disk = SegmentedLog::open(dir.path(), config.clone()).expect("open");
    fill(&mut disk, &batch, 200);
    disk.close().expect("close");
    drop(disk);
    let reopened = || {
        let log = SegmentedLog::open(dir.path(), config.clone()).expect("open");
        let middle = log.end_offset() / 2;
        (log, middle)
    };
    let mut group = c.benchmark_group("cold_sealed_read_1MB");
    group.bench_function("disk_plan", |b| {
        b.iter_batched(
            reopened,
            |(log, middle)| {
                log.read_plan(middle, 1024 * 1024, true).expect("plan");
                log
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("disk_plan_and_read", |b| {
        b.iter_batched(
            reopened,
            |(log, middle)| {
                log.read(middle, 1024 * 1024, true).expect("read");
                log
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// Opening 1,000 partitions of three segments each: what a broker restart costs.
fn open_many(c: &mut Criterion) {
    let batch = client_batch();
    let root = tempfile::tempdir().expect("tempdir");
    let config = SegmentConfig {
        segment_bytes: 40 * 1024,
        ..SegmentConfig::default()
    };
    let started = Instant::now();
    for p in 0..1_000 {
        let mut log =
            SegmentedLog::open(&root.path().join(format!("t-{p}")), config.clone()).expect("open");
        fill(&mut log, &batch, 6);
        log.close().expect("close");
    }
    eprintln!("built 1,000 partitions in {:?}", started.elapsed());
    let mut group = c.benchmark_group("open");
    group.sample_size(10);
    group.bench_function("1000_partitions_3_segments", |b| {
        b.iter(|| open_all(root.path(), &config))
    });
    group.finish();
}

fn open_all(root: &Path, config: &SegmentConfig) -> usize {
    let mut logs = Vec::with_capacity(1_000);
    for p in 0..1_000 {
        let mut log =
            SegmentedLog::open(&root.join(format!("t-{p}")), config.clone()).expect("open");
        log.close().expect("close");
        logs.push(log);
    }
    logs.len()
}

criterion_group!(
    benches,
    append,
    read,
    tail_read,
    cold_sealed_read,
    open_many
);
criterion_main!(benches);
