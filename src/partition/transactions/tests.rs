//! A partition's open and aborted transactions: the last stable offset, read_committed
//! reads, markers that fence, and the index surviving a reopen.

use bytes::Bytes;

use super::*;
use crate::log::{MemoryLog, SegmentConfig, SegmentedLog};
use crate::partition::AppendError;
use crate::record::control::TransactionResult::{Abort, Commit};
use crate::record::test_batches::{batch, transactional_batch, TIMESTAMP};

const P1: i64 = 1000;
const P2: i64 = 2000;

fn txn_batch(producer_id: i64, first_sequence: i32, count: i32) -> Bytes {
    Bytes::from(transactional_batch(
        producer_id,
        0,
        first_sequence,
        count,
        TIMESTAMP,
    ))
}

fn plain(count: i32) -> Bytes {
    Bytes::from(batch(0, count - 1, TIMESTAMP, b"plain"))
}

fn on_disk(dir: &std::path::Path) -> Partition {
    let log = SegmentedLog::open(dir, SegmentConfig::default()).expect("open the log");
    Partition::new("t".into(), 0, Box::new(log))
}

/// Base offsets of the batches a read returned.
fn bases(read: &ReadResult) -> Vec<i64> {
    read.batches
        .iter()
        .flat_map(|chunk| record_batch::split_batches(chunk).unwrap())
        .map(|b| BatchHeader::parse(&b).unwrap().base_offset())
        .collect()
}

#[test]
fn the_last_stable_offset_waits_for_the_oldest_open_transaction() {
    let p = Partition::new("t".into(), 0, Box::new(MemoryLog::new()));
    p.append(plain(2), None).unwrap(); // 0..=1
    p.append(txn_batch(P1, 0, 3), None).unwrap(); // 2..=4
    p.append(txn_batch(P2, 0, 1), None).unwrap(); // 5
    p.append(plain(1), None).unwrap(); // 6
    assert_eq!(p.ends().last_stable_offset, 2);
    assert_eq!(p.append_marker(P1, 0, Commit, 0, TIMESTAMP).unwrap(), 7);
    assert_eq!(p.ends().last_stable_offset, 5);
    assert_eq!(p.append_marker(P2, 0, Abort, 0, TIMESTAMP).unwrap(), 8);
    assert_eq!(p.ends().last_stable_offset, 9);
    assert_eq!(p.ends().high_watermark, 9);
}

#[test]
fn a_read_committed_read_stops_below_the_last_stable_offset_and_lists_aborts() {
    let p = Partition::new("t".into(), 0, Box::new(MemoryLog::new()));
    p.append(txn_batch(P1, 0, 2), None).unwrap(); // 0..=1
    p.append_marker(P1, 0, Abort, 0, TIMESTAMP).unwrap(); // 2
    p.append(plain(1), None).unwrap(); // 3
    p.append(txn_batch(P2, 0, 1), None).unwrap(); // 4, open
    p.append(plain(1), None).unwrap(); // 5

    let read = p.read_committed(0, usize::MAX, true).unwrap();
    assert_eq!(bases(&read), vec![0, 2, 3]);
    assert_eq!((read.high_watermark, read.last_stable_offset), (6, 4));
    assert_eq!(
        read.aborted,
        vec![AbortedTxn {
            producer_id: P1,
            first_offset: 0,
            last_offset: 2
        }]
    );
    // Past the abort, nothing aborted is listed; at the last stable offset nothing is read.
    assert!(p
        .read_committed(3, usize::MAX, true)
        .unwrap()
        .aborted
        .is_empty());
    assert!(p
        .read_committed(4, usize::MAX, true)
        .unwrap()
        .batches
        .is_empty());
    // A plain read sees everything and reports the high watermark as stable.
    let uncommitted = p.read(0, usize::MAX, true).unwrap();
    assert_eq!(bases(&uncommitted), vec![0, 2, 3, 4, 5]);
    assert_eq!(uncommitted.last_stable_offset, 6);
}

#[test]
fn a_marker_fences_the_producers_older_epoch() {
    let p = Partition::new("t".into(), 0, Box::new(MemoryLog::new()));
    p.append(txn_batch(P1, 0, 1), None).unwrap();
    // The coordinator aborts with the next epoch (a fence).
    p.append_marker(P1, 1, Abort, 0, TIMESTAMP).unwrap();
    let zombie = p.append(txn_batch(P1, 1, 1), None);
    assert!(
        matches!(
            zombie,
            Err(AppendError::Sequence(
                crate::producer_state::SequenceError::InvalidProducerEpoch { current: 1 }
            ))
        ),
        "{zombie:?}"
    );
    // A marker older than the producer's epoch is refused.
    assert!(p.append_marker(P1, 0, Commit, 0, TIMESTAMP).is_err());
}

#[test]
fn the_index_survives_a_reopen_and_forgets_aborts_before_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    {
        let p = on_disk(dir.path());
        p.append(txn_batch(P1, 0, 2), None).unwrap(); // 0..=1
        p.append_marker(P1, 0, Abort, 0, TIMESTAMP).unwrap(); // 2
        p.append(txn_batch(P2, 0, 1), None).unwrap(); // 3, open
        p.close().unwrap();
    }
    let p = on_disk(dir.path());
    assert_eq!(p.ends().last_stable_offset, 3);
    let read = p.read_committed(0, usize::MAX, true).unwrap();
    assert_eq!(read.aborted.len(), 1);
    p.delete_records_before(3).unwrap();
    drop(p);
    let p = on_disk(dir.path());
    assert!(p
        .read_committed(3, usize::MAX, true)
        .unwrap()
        .aborted
        .is_empty());
    assert_eq!(
        p.ends().last_stable_offset,
        3,
        "the open transaction is kept"
    );
    p.append_marker(P2, 0, Commit, 0, TIMESTAMP).unwrap();
    assert_eq!(p.ends().last_stable_offset, 5);
}

#[test]
fn a_partition_without_transactions_writes_no_index() {
    let dir = tempfile::tempdir().unwrap();
    let p = on_disk(dir.path());
    p.append(plain(3), None).unwrap();
    p.close().unwrap();
    assert!(!dir.path().join(JOURNAL_FILE).exists());
}

#[test]
fn a_requested_abort_ends_a_hanging_transaction() {
    let p = Partition::new("t".into(), 0, Box::new(MemoryLog::new()));
    p.append(plain(1), None).unwrap(); // 0
    p.append(txn_batch(P1, 0, 2), None).unwrap(); // 1..=2, its producer gone
    p.append(plain(1), None).unwrap(); // 3
    assert_eq!(p.ends().last_stable_offset, 1);
    assert_eq!(
        p.append_requested_marker(P1, 0, Abort, 0, TIMESTAMP)
            .unwrap(),
        4
    );
    assert_eq!(p.ends().last_stable_offset, 5);
    assert_eq!(p.ends().high_watermark, 5);
    let read = p.read_committed(0, usize::MAX, true).unwrap();
    assert_eq!(bases(&read), vec![0, 1, 3, 4]);
    assert_eq!(
        read.aborted,
        vec![AbortedTxn {
            producer_id: P1,
            first_offset: 1,
            last_offset: 4
        }]
    );
}

#[test]
fn a_marker_for_a_producer_without_an_open_transaction_leaves_the_stable_offset() {
    let p = Partition::new("t".into(), 0, Box::new(MemoryLog::new()));
    p.append(txn_batch(P1, 0, 1), None).unwrap(); // 0
    p.append_marker(P1, 0, Commit, 0, TIMESTAMP).unwrap(); // 1
    p.append(txn_batch(P2, 0, 1), None).unwrap(); // 2, open
                                                  // P1's transaction here is over, and 77 never wrote here: both markers are written,
                                                  // neither opens, closes or aborts anything.
    for (producer_id, result) in [(P1, Abort), (P1, Commit), (77, Abort)] {
        p.append_requested_marker(producer_id, 0, result, 0, TIMESTAMP)
            .unwrap();
        assert_eq!(p.ends().last_stable_offset, 2);
    }
    assert_eq!(p.ends().high_watermark, 6);
    assert!(p
        .read_committed(0, usize::MAX, true)
        .unwrap()
        .aborted
        .is_empty());
    p.append_marker(P2, 0, Commit, 0, TIMESTAMP).unwrap(); // 6
    assert_eq!(p.ends().last_stable_offset, 7);
}

#[test]
fn a_requested_marker_is_refused_for_an_older_producer_or_coordinator_epoch() {
    let p = Partition::new("t".into(), 0, Box::new(MemoryLog::new()));
    p.append(txn_batch(P1, 0, 1), None).unwrap(); // 0
    p.append_requested_marker(P1, 2, Commit, 5, TIMESTAMP)
        .unwrap(); // 1: epoch 2 fences 0 and 1
    let older_producer = p.append_requested_marker(P1, 1, Abort, 5, TIMESTAMP);
    assert!(
        matches!(
            older_producer,
            Err(MarkerError::InvalidProducerEpoch { current: 2 })
        ),
        "{older_producer:?}"
    );
    let older_coordinator = p.append_requested_marker(P1, 2, Abort, 4, TIMESTAMP);
    assert!(
        matches!(
            older_coordinator,
            Err(MarkerError::CoordinatorFenced { current: 5 })
        ),
        "{older_coordinator:?}"
    );
    assert_eq!(p.ends().high_watermark, 2, "nothing refused was written");
    // The broker's own coordinator is the only one: its markers are not fenced.
    assert_eq!(p.append_marker(P1, 2, Abort, 0, TIMESTAMP).unwrap(), 2);
    p.append_requested_marker(P1, 2, Abort, 0, TIMESTAMP)
        .unwrap();
}
