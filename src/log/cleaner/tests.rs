//! Compaction against a model: random keyed writes and tombstones in every codec, cleaning
//! passes, clean and unclean restarts — including a crash between a pass's commit (its
//! `.swap` files) and its swap, and a half-written `.cleaned` file — and reads planned
//! before a swap and executed after it. After every step the log must hold, at its original
//! offset, the latest record of every key (a tombstone may go only once
//! `delete.retention.ms` has passed since it was written), only records that were written
//! at those offsets, and never an older record of a key whose tombstone went.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::clock::Clock;
use crate::log::{BatchMeta, Log, MemoryLog, SegmentConfig, SegmentedLog};
use crate::record::batch::{split_batches, BatchHeader};
use crate::record::compact::for_each_record;
use crate::record::test_batches::{batch_over, compress, record};

const RETENTION_MS: i64 = 10_000;
const START_MS: i64 = 1_700_000_000_000;

/// One record as written: key, value (`None`: tombstone), when.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Written {
    key: String,
    value: Option<String>,
    at_ms: i64,
}

/// A batch of `records` at `base`, compressed with `codec`, base timestamp `at_ms`.
fn keyed_batch(base: i64, records: &[(String, Option<String>)], codec: i16, at_ms: i64) -> Bytes {
    let mut raw = Vec::new();
    for (i, (key, value)) in records.iter().enumerate() {
        raw.extend(record(
            i as i32,
            0,
            Some(key.as_bytes()),
            value.as_deref().map(str::as_bytes),
            &[(b"h", Some(key.as_bytes()))],
        ));
    }
    let mut bytes = batch_over(&compress(codec, &raw), records.len() as i32, codec, at_ms);
    bytes[..8].copy_from_slice(&base.to_be_bytes());
    bytes[27..35].copy_from_slice(&at_ms.to_be_bytes());
    crate::record::validate::refresh_crc(&mut bytes);
    Bytes::from(bytes)
}

/// Every record the log holds, by offset: key, value, and the header key (checked equal).
fn contents(log: &dyn Log) -> BTreeMap<i64, (String, Option<String>)> {
    let mut out = BTreeMap::new();
    let mut offset = log.start_offset();
    let mut last_end = -1;
    while offset < log.end_offset() {
        let chunks = log.read(offset, 1 << 20, true).unwrap();
        let mut next = offset;
        for chunk in chunks {
            for batch in split_batches(&chunk).unwrap() {
                let header = BatchHeader::parse_checked(&batch).expect("a valid CRC");
                assert!(header.base_offset() > last_end, "offsets go forward");
                last_end = header.last_offset();
                if header.is_control() {
                    next = header.last_offset() + 1;
                    continue;
                }
                for_each_record(&header, 1 << 24, |r| {
                    let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
                    let value = r.value.map(|v| String::from_utf8(v.to_vec()).unwrap());
                    out.insert(
                        header.base_offset() + i64::from(r.offset_delta),
                        (key, value),
                    );
                    std::ops::ControlFlow::Continue(())
                })
                .unwrap();
                next = header.last_offset() + 1;
            }
        }
        assert!(next > offset, "a read makes progress");
        offset = next;
    }
    out
}

fn params(now_ms: i64) -> CleanParams {
    CleanParams {
        now_ms,
        last_stable_offset: i64::MAX,
        delete_retention_ms: RETENTION_MS,
        max_compaction_lag_ms: i64::MAX,
        min_cleanable_dirty_ratio: 0.0,
        decompressed_max_bytes: 1 << 24,
        dedupe_buffer_bytes: 1 << 20,
        ..CleanParams::default()
    }
}

fn config(clock: &Clock, segment_bytes: u64) -> SegmentConfig {
    SegmentConfig {
        segment_bytes,
        index_interval_bytes: 100,
        max_index_bytes: 1024,
        clock: clock.clone(),
        ..SegmentConfig::default()
    }
}

/// Checks the log against everything written.
fn check(log: &dyn Log, written: &BTreeMap<i64, Written>, now_ms: i64) {
    let held = contents(log);
    for (offset, (key, value)) in &held {
        let w = written.get(offset).expect("only written offsets");
        assert_eq!((&w.key, &w.value), (key, value), "offset {offset}");
    }
    let mut latest: BTreeMap<&str, (i64, &Written)> = BTreeMap::new();
    for (&offset, w) in written {
        latest.insert(&w.key, (offset, w));
    }
    for (key, (offset, w)) in latest {
        let present = held.contains_key(&offset);
        if w.value.is_some() || now_ms < w.at_ms + RETENTION_MS {
            assert!(
                present,
                "the latest record of {key} (offset {offset}) is held"
            );
        }
        if !present {
            assert!(
                !held.values().any(|(k, _)| k == key),
                "no older record of {key} outlives its tombstone"
            );
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Write {
        keys: Vec<(u8, bool)>,
        codec: i16,
    },
    Advance(i64),
    Clean,
    /// A pass that commits its `.swap` files, then the process dies before the swap.
    CrashBeforeSwap,
    /// A half-written `.cleaned` file, then a crash.
    CrashWhileWriting,
    /// A read planned before a pass's swap, executed after it.
    ReadAcrossSwap,
    Restart {
        clean: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prop::collection::vec((0u8..6, prop::bool::weighted(0.2)), 1..4), prop::sample::select(vec![0i16, 3]))
            .prop_map(|(keys, codec)| Op::Write { keys, codec }),
        2 => (1i64..6_000).prop_map(Op::Advance),
        3 => Just(Op::Clean),
        1 => Just(Op::CrashBeforeSwap),
        1 => Just(Op::CrashWhileWriting),
        1 => Just(Op::ReadAcrossSwap),
        1 => any::<bool>().prop_map(|clean| Op::Restart { clean }),
    ]
}

fn open(dir: &Path, clock: &Clock) -> Box<dyn Log> {
    open_with(dir, clock, 600)
}

fn open_with(dir: &Path, clock: &Clock, segment_bytes: u64) -> Box<dyn Log> {
    Box::new(SegmentedLog::open(dir, config(clock, segment_bytes)).unwrap())
}

fn pass(log: &mut dyn Log, now_ms: i64) {
    let throttle = Throttle::new(0.0);
    let p = params(now_ms);
    if let (_, Some(job)) = log.clean_job(&p).unwrap() {
        let cleaned = job.run(&p, &throttle).unwrap();
        let stats = log.install_cleaned(cleaned).unwrap();
        if let Some(dir) = log.dir() {
            write_checkpoint(dir, stats.cleaned_to).unwrap();
        }
    }
}

fn run_model(ops: Vec<Op>, on_disk: bool) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(START_MS);
    let mut log: Box<dyn Log> = if on_disk {
        open(dir.path(), &clock)
    } else {
        Box::new(MemoryLog::with_segments(config(&clock, 600)))
    };
    let mut written = BTreeMap::new();
    let mut seq = 0;
    for op in ops {
        let now_ms = clock.now_ms();
        match op {
            Op::Write { keys, codec } => {
                let base = log.end_offset();
                let records: Vec<_> = keys
                    .iter()
                    .map(|&(k, tombstone)| {
                        seq += 1;
                        let key = format!("k{k}");
                        (key, (!tombstone).then(|| format!("v:{seq}")))
                    })
                    .collect();
                for (i, (key, value)) in records.iter().enumerate() {
                    let value = value.clone();
                    written.insert(
                        base + i as i64,
                        Written {
                            key: key.clone(),
                            value,
                            at_ms: now_ms,
                        },
                    );
                }
                let bytes = keyed_batch(base, &records, codec, now_ms);
                let meta = BatchMeta {
                    base_offset: base,
                    last_offset: base + records.len() as i64 - 1,
                    max_timestamp: now_ms,
                    leader_epoch: 0,
                };
                log.append(bytes, meta).unwrap();
            }
            Op::Advance(ms) => clock.advance_ms(ms),
            Op::Clean => pass(log.as_mut(), now_ms),
            Op::CrashBeforeSwap if on_disk => {
                let p = params(now_ms);
                if let (_, Some(job)) = log.clean_job(&p).unwrap() {
                    drop(job.run(&p, &Throttle::new(0.0)).unwrap());
                }
                drop(log);
                log = open(dir.path(), &clock);
            }
            Op::CrashWhileWriting if on_disk => {
                let base = log.segment_bases()[0];
                let path = crate::log::files::cleaner_path(dir.path(), base, ".cleaned");
                std::fs::write(path, b"half a segment").unwrap();
                drop(log);
                log = open(dir.path(), &clock);
            }
            Op::ReadAcrossSwap => {
                let before = log.read(log.start_offset(), 1 << 20, true).unwrap();
                let plan = log.read_plan(log.start_offset(), 1 << 20, true).unwrap();
                pass(log.as_mut(), now_ms);
                assert_eq!(
                    plan.execute().unwrap(),
                    before,
                    "a planned read sees one version"
                );
            }
            Op::Restart { clean } if on_disk => {
                if clean {
                    log.close().unwrap();
                }
                drop(log);
                log = open(dir.path(), &clock);
            }
            _ => {}
        }
        check(log.as_ref(), &written, clock.now_ms());
    }
    // Everything cleanable, cleaned twice past the horizon: only the latest values remain
    // in the sealed part, and no tombstone older than the horizon.
    clock.advance_ms(RETENTION_MS * 3);
    pass(log.as_mut(), clock.now_ms());
    clock.advance_ms(RETENTION_MS * 3);
    pass(log.as_mut(), clock.now_ms());
    check(log.as_ref(), &written, clock.now_ms());
    // Fully cleaned: the sealed part holds each key once at most.
    let sealed_end = match log.dir() {
        Some(_) => log.active_base_offset(),
        None => i64::MAX,
    };
    let held = contents(log.as_ref());
    let mut seen = std::collections::HashSet::new();
    for (_, (key, _)) in held.range(..sealed_end) {
        assert!(
            seen.insert(key.clone()) || !on_disk,
            "{key} twice in the sealed part"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_compacted_log_on_disk_keeps_the_latest_record_of_every_key(ops in prop::collection::vec(op(), 1..60)) {
        run_model(ops, true);
    }

    #[test]
    fn a_compacted_log_in_memory_keeps_the_latest_record_of_every_key(ops in prop::collection::vec(op(), 1..60)) {
        run_model(ops, false);
    }
}

/// The exact outcome of one pass over a known log (a segment per batch): superseded
/// records and the batches they emptied are gone, offsets and the survivors stay, the
/// active segment is untouched, and the tombstone stays until a pass past the delete
/// horizon — which runs with nothing dirty.
#[test]
fn one_pass_keeps_the_latest_of_each_key_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(START_MS);
    let mut log = open_with(dir.path(), &clock, 1);
    let writes = [
        ("a", Some("v:1")),
        ("b", Some("v:2")),
        ("a", Some("v:3")),
        ("b", None),
        ("c", Some("v:5")),
        ("a", Some("v:6")),
    ];
    for (i, (key, value)) in writes.iter().enumerate() {
        let records = vec![(key.to_string(), value.map(str::to_string))];
        let bytes = keyed_batch(i as i64, &records, 3, START_MS);
        let meta = BatchMeta {
            base_offset: i as i64,
            last_offset: i as i64,
            max_timestamp: START_MS,
            leader_epoch: 0,
        };
        log.append(bytes, meta).unwrap();
    }
    assert_eq!(log.segment_bases(), vec![0, 1, 2, 3, 4, 5]);
    let before = log.size_bytes();
    let offsets = |log: &dyn Log| contents(log).keys().copied().collect::<Vec<_>>();
    pass(log.as_mut(), START_MS);
    // The swap leaves only segment files, the rewritten ones with the indexes the cleaner
    // wrote (reads do not rebuild them).
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with(".cleaned") || n.ends_with(".swap")),
        "{names:?}"
    );
    for extension in ["index", "timeindex"] {
        assert!(names.contains(&format!("00000000000000000002.{extension}")));
    }
    let time_index = std::fs::metadata(dir.path().join("00000000000000000002.timeindex")).unwrap();
    assert_eq!(
        time_index.len(),
        12,
        "one entry: the segment's largest timestamp"
    );
    assert_eq!(offsets(log.as_ref()), vec![2, 3, 4, 5]);
    assert!(log.size_bytes() < before);
    let held = contents(log.as_ref());
    assert_eq!(held[&3], ("b".to_string(), None), "the tombstone stays");
    assert_eq!(held[&2], ("a".to_string(), Some("v:3".to_string())));
    assert_eq!(held[&5], ("a".to_string(), Some("v:6".to_string())));
    // Not yet past the horizon: nothing to do.
    clock.advance_ms(RETENTION_MS - 1);
    pass(log.as_mut(), clock.now_ms());
    assert_eq!(offsets(log.as_ref()), vec![2, 3, 4, 5]);
    // Past it, counted from the first cleaning: the tombstone goes.
    clock.advance_ms(2);
    pass(log.as_mut(), clock.now_ms());
    assert_eq!(offsets(log.as_ref()), vec![2, 4, 5]);
    // A restart reads the same log back, and reads from a removed offset get the next.
    let after = contents(log.as_ref());
    drop(log);
    let log = open_with(dir.path(), &clock, 1);
    assert_eq!(contents(log.as_ref()), after);
    let from_zero = log.read(0, 1 << 20, true).unwrap();
    let first = split_batches(&from_zero[0]).unwrap();
    assert_eq!(BatchHeader::parse(&first[0]).unwrap().base_offset(), 2);
}

/// The model test cleans for real: random writes over few keys lose records.
#[test]
fn the_model_test_removes_records() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(START_MS);
    let mut log = open(dir.path(), &clock);
    for i in 0..200i64 {
        let records = vec![(format!("k{}", i % 5), Some(format!("v:{i}")))];
        let meta = BatchMeta {
            base_offset: i,
            last_offset: i,
            max_timestamp: START_MS,
            leader_epoch: 0,
        };
        log.append(keyed_batch(i, &records, 0, START_MS), meta)
            .unwrap();
    }
    let active = log.active_base_offset();
    pass(log.as_mut(), START_MS);
    let held = contents(log.as_ref());
    let sealed_held = held.keys().filter(|&&o| o < active).count();
    assert_eq!(sealed_held, 5, "one record per key in the sealed part");
    assert_eq!(held.len() as i64, 5 + (200 - active));
}

/// Sets a batch's producer fields (and the transactional bit) and its CRC.
fn with_producer(batch: Bytes, producer_id: i64, transactional: bool) -> Bytes {
    let mut bytes = batch.to_vec();
    bytes[43..51].copy_from_slice(&producer_id.to_be_bytes());
    bytes[51..53].copy_from_slice(&0i16.to_be_bytes());
    bytes[53..57].copy_from_slice(&0i32.to_be_bytes());
    if transactional {
        let attributes = i16::from_be_bytes([bytes[21], bytes[22]]) | 0x10;
        bytes[21..23].copy_from_slice(&attributes.to_be_bytes());
    }
    crate::record::validate::refresh_crc(&mut bytes);
    Bytes::from(bytes)
}

/// Aborted transactions' records go at the first pass, their ABORT marker once past the
/// delete horizon; a COMMIT marker goes past the horizon too once its transaction's records
/// are all superseded, and stays while one is left; a producer's last batch stays, empty,
/// when all its records are superseded.
#[test]
fn aborted_records_go_and_a_producers_last_batch_stays_empty() {
    use crate::record::control::{end_transaction_batch, EndTransactionMarker, TransactionResult};
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(START_MS);
    let mut log = open_with(dir.path(), &clock, 1);
    let one = |key: &str, value: &str| vec![(key.to_string(), Some(value.to_string()))];
    let marker = |producer_id: i64, result: TransactionResult| {
        let marker = EndTransactionMarker {
            result,
            coordinator_epoch: 0,
        };
        Bytes::from(end_transaction_batch(producer_id, 0, 0, START_MS, marker))
    };
    let batches = [
        with_producer(keyed_batch(0, &one("t", "aborted"), 0, START_MS), 7, true),
        marker(7, TransactionResult::Abort),
        with_producer(keyed_batch(2, &one("a", "committed"), 3, START_MS), 8, true),
        marker(8, TransactionResult::Commit),
        with_producer(
            keyed_batch(4, &one("b", "idempotent"), 0, START_MS),
            9,
            false,
        ),
        keyed_batch(5, &one("b", "plain"), 0, START_MS),
        keyed_batch(6, &one("y", "plain"), 0, START_MS),
        with_producer(
            keyed_batch(7, &one("c", "committed"), 0, START_MS),
            10,
            true,
        ),
        marker(10, TransactionResult::Commit),
        keyed_batch(9, &one("c", "plain"), 0, START_MS),
        keyed_batch(10, &one("z", "active"), 0, START_MS),
    ];
    for (offset, bytes) in batches.into_iter().enumerate() {
        let offset = offset as i64;
        let meta = BatchMeta {
            base_offset: offset,
            last_offset: offset,
            max_timestamp: START_MS,
            leader_epoch: 0,
        };
        log.append(bytes, meta).unwrap();
    }
    let run = |log: &mut Box<dyn Log>, now_ms: i64| {
        let mut p = params(now_ms);
        p.aborted = vec![(7, 0, 1)];
        p.producer_last_offsets = [(9, 4)].into_iter().collect();
        let (_, job) = log.clean_job(&p).unwrap();
        let cleaned = job.unwrap().run(&p, &Throttle::new(0.0)).unwrap();
        log.install_cleaned(cleaned).unwrap();
    };
    // (base offset, record count, control) of every stored batch.
    let stored = |log: &dyn Log| -> Vec<(i64, i32, bool)> {
        let mut out = Vec::new();
        for chunk in log.read(0, 1 << 20, true).unwrap() {
            for batch in split_batches(&chunk).unwrap() {
                let h = BatchHeader::parse_checked(&batch).unwrap();
                assert_eq!(h.last_offset(), h.base_offset(), "offsets are kept");
                out.push((h.base_offset(), h.record_count(), h.is_control()));
            }
        }
        out
    };
    run(&mut log, START_MS);
    assert_eq!(
        stored(log.as_ref()),
        vec![
            (1, 1, true),
            (2, 1, false),
            (3, 1, true),
            (4, 0, false),
            (5, 1, false),
            (6, 1, false),
            (8, 1, true),
            (9, 1, false),
            (10, 1, false)
        ]
    );
    clock.advance_ms(RETENTION_MS + 1);
    run(&mut log, clock.now_ms());
    assert_eq!(
        stored(log.as_ref()),
        vec![
            (2, 1, false),
            (3, 1, true),
            (4, 0, false),
            (5, 1, false),
            (6, 1, false),
            (9, 1, false),
            (10, 1, false)
        ]
    );
}

/// A pass stops before the segment holding the last stable offset, and before the first
/// segment younger than `min.compaction.lag.ms`.
#[test]
fn the_last_stable_offset_and_the_compaction_lag_bound_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(START_MS);
    let mut log = open_with(dir.path(), &clock, 1);
    // Key "a" at offsets 0..8, one segment each, stamped a second apart.
    for i in 0..8i64 {
        let records = vec![("a".to_string(), Some(format!("v:{i}")))];
        let at = START_MS + i * 1000;
        let meta = BatchMeta {
            base_offset: i,
            last_offset: i,
            max_timestamp: at,
            leader_epoch: 0,
        };
        log.append(keyed_batch(i, &records, 0, at), meta).unwrap();
    }
    let offsets = |log: &dyn Log| contents(log).keys().copied().collect::<Vec<_>>();
    let run = |log: &mut Box<dyn Log>, p: CleanParams| {
        if let (_, Some(job)) = log.clean_job(&p).unwrap() {
            let cleaned = job.run(&p, &Throttle::new(0.0)).unwrap();
            log.install_cleaned(cleaned).unwrap();
        }
    };
    // An open transaction from offset 3: segments 0..=2 only; the latest of them stays.
    let mut p = params(START_MS + 10_000);
    p.last_stable_offset = 3;
    run(&mut log, p);
    assert_eq!(offsets(log.as_ref()), vec![2, 3, 4, 5, 6, 7]);
    // Records must be 4.5 s old: segments up to offset 5 (stamped START + 5 s) at START + 9.6 s.
    let mut p = params(START_MS + 9_600);
    p.min_compaction_lag_ms = 4_500;
    run(&mut log, p);
    assert_eq!(offsets(log.as_ref()), vec![5, 6, 7]);
}
