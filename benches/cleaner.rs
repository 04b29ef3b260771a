//! The log cleaner: throughput of one pass over a dirty log on disk (MB/s of log, and CPU
//! seconds per GB), uncompressed and lz4; and append throughput while a cleaner runs flat out
//! on another log, against appends alone. Medians of several runs.
//!
//! `cargo bench --bench cleaner` (`-- --runs N --dirty-mb M` to change the defaults: 5 runs,
//! 64 MB). The dirty log is 16-record batches of 1 KB values (half text, half noise: lz4
//! about halves them) over 20,000 keys, so a pass keeps about a third of the records.

// A bench measures real time.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use sluice::log::cleaner::{CleanParams, Throttle};
use sluice::log::{BatchMeta, Log, SegmentConfig, SegmentedLog};
use sluice::record::batch::{set_base_offset, BatchHeader};

const RECORDS_PER_BATCH: usize = 16;
const VALUE_BYTES: usize = 1000;
const KEYS: usize = 20_000;

/// A keyed batch as a producer sends it: keys `key-<n>`, values of varied text.
fn keyed_batch(first: usize, compression: Compression) -> Bytes {
    let records: Vec<Record> = (0..RECORDS_PER_BATCH)
        .map(|i| {
            let n = first + i;
            // Half text, half noise: lz4 roughly halves it, as it does typical JSON.
            let mut state = (n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let value: Vec<u8> = format!("value {n} ")
                .bytes()
                .cycle()
                .take(VALUE_BYTES / 2)
                .chain((0..VALUE_BYTES / 2).map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    b'a' + (state % 16) as u8
                }))
                .collect();
            Record {
                transactional: false,
                control: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: 1_700_000_000_000,
                key: Some(Bytes::from(format!("key-{}", (n * 7919) % KEYS))),
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
            compression,
        },
    )
    .expect("encode a batch");
    out.freeze()
}

fn config() -> SegmentConfig {
    SegmentConfig {
        segment_bytes: 8 * 1024 * 1024,
        ..SegmentConfig::default()
    }
}

/// Appends batches until the log holds `bytes`; returns the bytes appended.
fn fill(log: &mut dyn Log, bytes: u64, compression: Compression) -> u64 {
    let mut appended = 0;
    let mut n = 0;
    while appended < bytes {
        let batch = keyed_batch(n, compression);
        n += RECORDS_PER_BATCH;
        let header = BatchHeader::parse(&batch).expect("a valid batch");
        let base_offset = log.end_offset();
        let mut stamped = BytesMut::from(&batch[..]);
        set_base_offset(&mut stamped, base_offset);
        let meta = BatchMeta {
            base_offset,
            last_offset: base_offset + i64::from(header.last_offset_delta()),
            max_timestamp: header.max_timestamp(),
            leader_epoch: 0,
        };
        appended += batch.len() as u64;
        log.append(stamped.freeze(), meta).expect("append");
    }
    appended
}

fn params() -> CleanParams {
    CleanParams {
        now_ms: 1_700_000_000_000,
        last_stable_offset: i64::MAX,
        delete_retention_ms: 86_400_000,
        max_compaction_lag_ms: i64::MAX,
        min_cleanable_dirty_ratio: 0.0,
        decompressed_max_bytes: 64 << 20,
        dedupe_buffer_bytes: 128 << 20,
        ..CleanParams::default()
    }
}

/// User plus system CPU seconds of this process so far (Linux `/proc/self/stat`).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

/// One pass over a freshly filled log: (MB/s of dirty log, CPU s per GB, share kept).
fn one_pass(dir: &Path, dirty_bytes: u64, compression: Compression) -> (f64, f64, f64) {
    let mut log = SegmentedLog::open(dir, config()).expect("open");
    fill(&mut log, dirty_bytes, compression);
    let before = log.size_bytes();
    let params = params();
    let throttle = Throttle::new(0.0);
    let (cleanable, job) = Log::clean_job(&log, &params).expect("plan");
    let job = job.expect("a pass is due");
    let cpu = cpu_seconds();
    let started = Instant::now();
    let cleaned = job.run(&params, &throttle).expect("clean");
    Log::install_cleaned(&mut log, cleaned).expect("swap");
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let mb = cleanable.dirty_bytes as f64 / 1e6;
    (
        mb / seconds,
        cpu / (mb / 1000.0),
        log.size_bytes() as f64 / before as f64,
    )
}

/// MB/s of appends of `bytes` to a fresh log, with or without a cleaner running flat out
/// (planning, rewriting and committing passes over another dirty log, again and again).
fn appends(dir: &Path, bytes: u64, with_cleaner: bool) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let cleaner = with_cleaner.then(|| {
        let dirty = dir.join("dirty");
        let mut log = SegmentedLog::open(&dirty, config()).expect("open");
        fill(&mut log, 32 << 20, Compression::None);
        let stop = stop.clone();
        std::thread::spawn(move || {
            let params = params();
            let throttle = Throttle::new(0.0);
            let mut passes = 0;
            while !stop.load(Ordering::Relaxed) {
                let (_, job) = Log::clean_job(&log, &params).expect("plan");
                // Never swapped in: the log stays dirty for the next pass.
                drop(job.expect("due").run(&params, &throttle).expect("clean"));
                passes += 1;
            }
            passes
        })
    });
    let mut log = SegmentedLog::open(&dir.join("appended"), config()).expect("open");
    let started = Instant::now();
    let appended = fill(&mut log, bytes, Compression::None);
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    if let Some(cleaner) = cleaner {
        let passes = cleaner.join().expect("the cleaner thread");
        eprintln!("  (the cleaner made {passes} passes meanwhile)");
    }
    appended as f64 / 1e6 / seconds
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    // `cargo bench` passes `--bench`; a filter is not used here.
    let runs = flag("--runs", 5) as usize;
    let dirty_bytes = flag("--dirty-mb", 64) << 20;
    for (name, compression) in [
        ("uncompressed", Compression::None),
        ("lz4", Compression::Lz4),
    ] {
        let mut rates = Vec::new();
        let mut cpus = Vec::new();
        let mut kept = Vec::new();
        for _ in 0..runs {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let (rate, cpu, share) = one_pass(dir.path(), dirty_bytes, compression);
            eprintln!(
                "  {name}: {rate:.1} MB/s, {cpu:.2} CPU s/GB, {:.0}% kept",
                share * 100.0
            );
            rates.push(rate);
            cpus.push(cpu);
            kept.push(share);
        }
        println!(
            "cleaner pass, {name}, {} MB dirty: median {:.1} MB/s, {:.2} CPU s per GB, {:.0}% of the log kept ({runs} runs)",
            dirty_bytes >> 20,
            median(rates),
            median(cpus),
            median(kept) * 100.0
        );
    }
    for with_cleaner in [false, true] {
        let mut rates = Vec::new();
        for _ in 0..runs {
            let dir = tempfile::tempdir().expect("a temporary directory");
            rates.push(appends(dir.path(), dirty_bytes, with_cleaner));
        }
        println!(
            "appends of {} MB of 16 KB batches {}: median {:.1} MB/s ({runs} runs)",
            dirty_bytes >> 20,
            if with_cleaner {
                "while a cleaner runs flat out"
            } else {
                "alone"
            },
            median(rates)
        );
    }
}
