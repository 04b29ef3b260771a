use std::path::Path;

use bytes::Bytes;

use super::{snapshot_path, snapshots};
use crate::log::{Log, SegmentConfig, SegmentedLog};
use crate::partition::{AppendError, Partition};
use crate::producer_state::SequenceError;
use crate::record::control::TransactionResult;
use crate::record::test_batches::{idempotent_batch, transactional_batch};

/// Small segments: a batch of ten records below fills most of one.
fn config() -> SegmentConfig {
    SegmentConfig {
        segment_bytes: 100,
        ..SegmentConfig::default()
    }
}

fn fresh(dir: &Path) -> Partition {
    let log = SegmentedLog::open(dir, config()).unwrap();
    Partition::new("t".into(), 0, Box::new(log))
}

/// The partition as a restart finds it: opened (and its producers rebuilt) on first use.
fn reopened(dir: &Path) -> Partition {
    let dir = dir.to_path_buf();
    Partition::recovering(
        "t".into(),
        0,
        Box::new(move || Ok(Box::new(SegmentedLog::open(&dir, config())?) as Box<dyn Log>)),
    )
}

/// Ten records of producer 7 at epoch 0 from `first_sequence`.
fn ten(first_sequence: i32) -> Bytes {
    Bytes::from(idempotent_batch(7, 0, first_sequence, 10, 1_000))
}

/// Six batches of producer 7, sequences 0..60 at offsets 0..60, each in its own segment.
fn written(dir: &Path) {
    let partition = fresh(dir);
    for i in 0..6 {
        let appended = partition.append(ten(i * 10), None).unwrap();
        assert_eq!(appended.base_offset, i64::from(i) * 10);
    }
    assert_eq!(partition.ends().log_end_offset, 60);
}

#[test]
fn each_roll_writes_a_snapshot_and_two_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    written(dir.path());
    // Rolls at 10, 20, 30, 40 and 50; the newest two are kept.
    assert_eq!(snapshots(dir.path()).unwrap(), vec![40, 50]);
}

/// A retry of a batch from before the newest snapshot is still answered as a duplicate
/// after a restart, however old its timestamp: the snapshot, not a time window, holds it.
#[test]
fn a_restart_rebuilds_the_producers_from_the_snapshot_and_the_batches_after_it() {
    let dir = tempfile::tempdir().unwrap();
    written(dir.path());
    let partition = reopened(dir.path());
    // Sequences 10..20 went to offset 10: remembered through the snapshot at 50.
    assert_eq!(partition.append(ten(10), None).unwrap().base_offset, 10);
    // 50..60 went to offset 50: after the snapshot, replayed.
    assert_eq!(partition.append(ten(50), None).unwrap().base_offset, 50);
    assert!(matches!(
        partition.append(ten(70), None),
        Err(AppendError::Sequence(SequenceError::OutOfOrder {
            expected: 60,
            got: 70
        }))
    ));
    assert_eq!(partition.append(ten(60), None).unwrap().base_offset, 60);
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    written(dir.path());
    std::fs::write(snapshot_path(dir.path(), 50), b"torn").unwrap();
    let partition = reopened(dir.path());
    assert_eq!(partition.append(ten(10), None).unwrap().base_offset, 10);
    assert_eq!(partition.append(ten(60), None).unwrap().base_offset, 60);
}

/// Without any snapshot (a log written before they existed) the last two segments are
/// replayed: the producer continues, and its latest batches are still recognised.
#[test]
fn without_snapshots_the_last_two_segments_are_replayed() {
    let dir = tempfile::tempdir().unwrap();
    written(dir.path());
    for offset in snapshots(dir.path()).unwrap() {
        std::fs::remove_file(snapshot_path(dir.path(), offset)).unwrap();
    }
    let partition = reopened(dir.path());
    assert_eq!(partition.append(ten(40), None).unwrap().base_offset, 40);
    assert_eq!(partition.append(ten(60), None).unwrap().base_offset, 60);
}

/// A snapshot past the log's end (its batches were lost in a crash) describes batches that
/// are not there: it is deleted, and the older one serves.
#[test]
fn a_snapshot_past_the_recovered_end_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    written(dir.path());
    std::fs::copy(snapshot_path(dir.path(), 50), snapshot_path(dir.path(), 90)).unwrap();
    let partition = reopened(dir.path());
    assert_eq!(partition.append(ten(60), None).unwrap().base_offset, 60);
    assert!(!snapshot_path(dir.path(), 90).exists());
}

/// A transactional producer's sequences run on across its transactions: after a restart,
/// a commit marker among the replayed batches fences nothing and restarts no sequence.
#[test]
fn a_replayed_marker_leaves_the_producers_sequence_running() {
    let dir = tempfile::tempdir().unwrap();
    {
        let partition = fresh(dir.path());
        let txn = Bytes::from(transactional_batch(9, 3, 0, 5, 1_000));
        partition.append(txn, None).unwrap();
        partition
            .append_marker(9, 3, TransactionResult::Commit, 0, 2_000)
            .unwrap();
    }
    for path in std::fs::read_dir(dir.path()).unwrap() {
        let path = path.unwrap().path();
        if path.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let partition = reopened(dir.path());
    let next = Bytes::from(transactional_batch(9, 3, 5, 5, 3_000));
    assert_eq!(partition.append(next, None).unwrap().base_offset, 6);
    let old_epoch = Bytes::from(transactional_batch(9, 2, 10, 1, 3_000));
    assert!(matches!(
        partition.append(old_epoch, None),
        Err(AppendError::Sequence(SequenceError::InvalidProducerEpoch {
            current: 3
        }))
    ));
}
