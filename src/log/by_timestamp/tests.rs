//! Timestamp lookups over real batches (records walked, compressed or not), in memory and on
//! disk, with segments open, sealed and never opened, and a start offset cutting a batch.

use std::path::Path;

use bytes::Bytes;

use super::*;
use crate::clock::Clock;
use crate::log::{BatchMeta, Log, MemoryLog, SegmentConfig, SegmentedLog};
use crate::record::test_batches::{batch_over, compress, record, GZIP, LZ4, NONE, TIMESTAMP};
use crate::record::validate::decompression_budget;

use TimestampTarget::{AtOrAfter, Max};

/// A batch of records stamped `TIMESTAMP + delta` each, compressed with `codec`.
fn stamped(deltas: &[i64], codec: i16) -> Bytes {
    let payload: Vec<u8> = deltas
        .iter()
        .enumerate()
        .flat_map(|(i, &delta)| record(i as i32, delta, Some(b"key"), Some(b"value"), &[]))
        .collect();
    let max = deltas.iter().max().copied().unwrap_or(0);
    let count = deltas.len() as i32;
    Bytes::from(batch_over(
        &compress(codec, &payload),
        count,
        codec,
        TIMESTAMP + max,
    ))
}

/// Offsets 0..=2 at +10, +20, +30 (uncompressed); 3..=6 at +40, +60, +50, +70 (gzip); 7 at
/// +80 (lz4).
fn batches() -> Vec<Bytes> {
    vec![
        stamped(&[10, 20, 30], NONE),
        stamped(&[40, 60, 50, 70], GZIP),
        stamped(&[80], LZ4),
    ]
}

fn fill(log: &mut dyn Log, batches: &[Bytes]) {
    for bytes in batches {
        let header = BatchHeader::parse(bytes).unwrap();
        let base_offset = log.end_offset();
        let meta = BatchMeta {
            base_offset,
            last_offset: base_offset + i64::from(header.last_offset_delta()),
            max_timestamp: header.max_timestamp(),
            leader_epoch: 7,
        };
        log.append(bytes.clone(), meta).unwrap();
    }
}

/// (offset, timestamp - TIMESTAMP) of what `target` finds.
fn find(log: &dyn Log, target: TimestampTarget) -> Option<(i64, i64)> {
    let plan = log.timestamp_plan(target).unwrap();
    let found = plan.execute(decompression_budget(1 << 20)).unwrap();
    found.map(|r| (r.offset, r.timestamp - TIMESTAMP))
}

fn at(delta: i64) -> TimestampTarget {
    AtOrAfter(TIMESTAMP + delta)
}

/// One segment per batch (the batches are larger than a segment), indexes every batch.
fn on_disk(dir: &Path) -> SegmentedLog {
    SegmentedLog::open(dir, disk_config(100)).unwrap()
}

fn disk_config(segment_bytes: u64) -> SegmentConfig {
    SegmentConfig {
        segment_bytes,
        index_interval_bytes: 1,
        clock: Clock::manual(TIMESTAMP),
        ..SegmentConfig::default()
    }
}

/// The answers for [`batches`], whatever the log.
fn assert_answers(log: &dyn Log, what: &str) {
    assert_eq!(find(log, AtOrAfter(0)), Some((0, 10)), "{what}: before all");
    assert_eq!(find(log, at(10)), Some((0, 10)), "{what}");
    assert_eq!(find(log, at(15)), Some((1, 20)), "{what}: inside a batch");
    assert_eq!(find(log, at(30)), Some((2, 30)), "{what}");
    assert_eq!(find(log, at(35)), Some((3, 40)), "{what}: between batches");
    assert_eq!(
        find(log, at(55)),
        Some((4, 60)),
        "{what}: inside a gzip batch"
    );
    assert_eq!(find(log, at(61)), Some((6, 70)), "{what}: out of order");
    assert_eq!(find(log, at(75)), Some((7, 80)), "{what}");
    assert_eq!(find(log, at(80)), Some((7, 80)), "{what}");
    assert_eq!(find(log, at(81)), None, "{what}: after the end");
    assert_eq!(find(log, Max), Some((7, 80)), "{what}: the latest");
}

#[test]
fn finds_the_first_record_at_or_after_in_memory_and_on_disk() {
    let mut memory = MemoryLog::new();
    fill(&mut memory, &batches());
    assert_answers(&memory, "memory");

    for segment_bytes in [100, 1 << 20] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = SegmentedLog::open(dir.path(), disk_config(segment_bytes)).unwrap();
        fill(&mut log, &batches());
        assert_answers(&log, &format!("segments of {segment_bytes} bytes"));
        // Reopened, sealed segments are not open and their maxima not known: they are
        // opened after the plan.
        log.close().unwrap();
        drop(log);
        let log = SegmentedLog::open(dir.path(), disk_config(segment_bytes)).unwrap();
        assert_answers(
            &log,
            &format!("reopened, segments of {segment_bytes} bytes"),
        );
    }
}

#[test]
fn the_latest_timestamp_is_its_first_record() {
    let mut memory = MemoryLog::new();
    let dir = tempfile::tempdir().unwrap();
    let mut disk = on_disk(dir.path());
    let batches = [
        stamped(&[5], NONE),
        stamped(&[10, 90, 30, 90], GZIP),
        stamped(&[90], NONE),
    ];
    fill(&mut memory, &batches);
    fill(&mut disk, &batches);
    assert_eq!(find(&memory, Max), Some((2, 90)));
    assert_eq!(find(&disk, Max), Some((2, 90)));
    assert_eq!(find(&MemoryLog::new(), Max), None);
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(find(&on_disk(empty.path()), Max), None);
    assert_eq!(find(&on_disk(empty.path()), AtOrAfter(0)), None);
}

#[test]
fn records_below_the_start_offset_are_no_answer() {
    let mut memory = MemoryLog::new();
    let dir = tempfile::tempdir().unwrap();
    let mut disk = on_disk(dir.path());
    fill(&mut memory, &batches());
    fill(&mut disk, &batches());
    for log in [&mut memory as &mut dyn Log, &mut disk] {
        // The gzip batch (3..=6) now straddles the start.
        log.delete_records_before(5).unwrap();
        assert_eq!(find(log, AtOrAfter(0)), Some((5, 50)));
        assert_eq!(find(log, at(15)), Some((5, 50)));
        // Offset 4 (+60) is gone: the next record reaching +55 is 6.
        assert_eq!(find(log, at(55)), Some((6, 70)));
        assert_eq!(find(log, at(71)), Some((7, 80)));
        assert_eq!(find(log, Max), Some((7, 80)));
        log.delete_records_before(8).unwrap();
        assert_eq!(find(log, AtOrAfter(0)), None);
        assert_eq!(find(log, Max), None);
    }
}

#[test]
fn a_plan_sees_the_log_as_it_was_planned() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = on_disk(dir.path());
    fill(&mut log, &batches());
    log.close().unwrap();
    drop(log);
    let mut log = on_disk(dir.path());
    // Planned: the two sealed segments, never opened, and the active one.
    let plan = log.timestamp_plan(at(15)).unwrap();
    let later = log.timestamp_plan(at(85)).unwrap();
    // Meanwhile DeleteRecords takes the sealed segments, and an append adds +90.
    log.delete_records_before(7).unwrap();
    fill(&mut log, &[stamped(&[90], NONE)]);
    let budget = decompression_budget(1 << 20);
    // Deleted segments are no answer; the active segment is read up to its planned end.
    let found = plan
        .execute(budget)
        .unwrap()
        .map(|r| (r.offset, r.timestamp));
    assert_eq!(found, Some((7, TIMESTAMP + 80)));
    assert_eq!(later.execute(budget).unwrap(), None);
    assert_eq!(find(&log, at(85)), Some((8, 90)));
}

#[test]
fn records_that_no_longer_fit_the_budget_answer_with_their_batch() {
    let mut memory = MemoryLog::new();
    fill(&mut memory, &batches());
    let plan = memory.timestamp_plan(at(55)).unwrap();
    // A budget below what the gzip batch inflates to.
    let found = plan.execute(10).unwrap().map(|r| (r.offset, r.timestamp));
    assert_eq!(found, Some((3, TIMESTAMP + 70)));
}
