use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;
use crate::log::{SegmentConfig, SegmentedLog};
use crate::record::test_batches::batch;

fn on_disk(dir: &std::path::Path) -> Arc<Partition> {
    let config = SegmentConfig {
        segment_bytes: 4096,
        ..SegmentConfig::default()
    };
    let log = SegmentedLog::open(dir, config).expect("open the log");
    Arc::new(Partition::new("t".into(), 0, Box::new(log)))
}

/// A batch of two records, as a producer sends it (base offset 0).
fn two_records() -> Bytes {
    Bytes::from(batch(0, 1, 1_700_000_000_000, &[7u8; 100]))
}

#[test]
fn unflushed_records_count_appends_since_the_last_flush() {
    let dir = tempfile::tempdir().unwrap();
    let partition = on_disk(dir.path());
    for _ in 0..3 {
        partition.append(two_records(), None).unwrap();
    }
    assert_eq!(partition.unflushed_records(), 6);
    partition.flush().unwrap();
    assert_eq!(partition.unflushed_records(), 0);
    partition.append(two_records(), None).unwrap();
    assert_eq!(partition.unflushed_records(), 2);
}

#[test]
fn flushes_running_beside_appends_lose_nothing_and_count_right() {
    let dir = tempfile::tempdir().unwrap();
    let partition = on_disk(dir.path());
    let appending = Arc::new(AtomicBool::new(true));
    let flusher = {
        let (partition, appending) = (partition.clone(), appending.clone());
        std::thread::spawn(move || {
            let mut flushes = 0;
            while appending.load(Ordering::Relaxed) {
                partition.flush().unwrap();
                flushes += 1;
            }
            flushes
        })
    };
    for i in 0..500 {
        let appended = partition.append(two_records(), None).unwrap();
        assert_eq!(appended.base_offset, 2 * i);
    }
    appending.store(false, Ordering::Relaxed);
    assert!(flusher.join().unwrap() > 0);
    partition.flush().unwrap();
    assert_eq!(partition.unflushed_records(), 0);
    assert_eq!(partition.ends().high_watermark, 1000);
    let read = partition.read(0, usize::MAX, true).unwrap();
    let bytes: usize = read.batches.iter().map(Bytes::len).sum();
    assert_eq!(bytes, 500 * two_records().len());
}

#[test]
fn the_first_flush_makes_the_prerequisite_durable_once_and_a_failure_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let syncs = Arc::new(AtomicUsize::new(0));
    let fail_first = Arc::new(AtomicBool::new(true));
    let prerequisite = {
        let (syncs, fail_first) = (syncs.clone(), fail_first.clone());
        DurableFirst::new(move || {
            syncs.fetch_add(1, Ordering::SeqCst);
            match fail_first.swap(false, Ordering::SeqCst) {
                true => Err(io::Error::other("the disk said no")),
                false => Ok(()),
            }
        })
    };
    let partition = Arc::into_inner(on_disk(dir.path()))
        .unwrap()
        .depending_on(prerequisite);
    partition
        .append(Bytes::from(batch(0, 0, 1, b"x")), None)
        .unwrap();
    assert!(
        partition.flush().is_err(),
        "no flush without its prerequisite"
    );
    partition.flush().unwrap();
    partition.flush().unwrap();
    partition.close().unwrap();
    assert_eq!(syncs.load(Ordering::SeqCst), 2);
}

/// Bytes that are no batch are the client's fault, not the disk's.
#[test]
fn a_malformed_batch_is_refused_as_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let partition = on_disk(dir.path());
    assert!(matches!(
        partition.append(Bytes::from_static(&[0u8; 20]), None),
        Err(AppendError::Malformed(_))
    ));
    assert_eq!(partition.ends().log_end_offset, 0);
}

/// Appends racing resets: every batch lands wholly before a reset (and is gone) or after it
/// (at an offset from 0), so the log always reads back as whole batches at dense offsets
/// from 0, and an idempotent producer's state goes with the reset.
#[test]
fn appends_racing_resets_leave_whole_batches_at_dense_offsets_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let partition = on_disk(dir.path());
    let appending = Arc::new(AtomicBool::new(true));
    let appender = {
        let (partition, appending) = (partition.clone(), appending.clone());
        std::thread::spawn(move || {
            let mut appended = 0;
            while appending.load(Ordering::Relaxed) {
                partition.append(two_records(), None).unwrap();
                appended += 1;
            }
            appended
        })
    };
    for _ in 0..20 {
        partition.reset().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    appending.store(false, Ordering::Relaxed);
    let appended: usize = appender.join().unwrap();
    assert!(appended > 0);
    let ends = partition.ends();
    assert_eq!(ends.log_start_offset, 0);
    let read = partition.read(0, usize::MAX, true).unwrap();
    let mut next = 0;
    for chunk in &read.batches {
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let header = BatchHeader::parse(rest).unwrap();
            assert_eq!(header.base_offset(), next, "dense offsets from 0");
            next = header.base_offset() + i64::from(header.last_offset_delta()) + 1;
            rest = &rest[header.bytes().len()..];
        }
    }
    assert_eq!(next, ends.log_end_offset);

    // The reset forgets idempotent producers: the same producer may start at sequence 0.
    let first = Bytes::from(crate::record::test_batches::idempotent_batch(
        9, 0, 0, 2, 1_000,
    ));
    partition.append(first.clone(), None).unwrap();
    partition.reset().unwrap();
    let again = partition.append(first, None).unwrap();
    assert_eq!(
        again.base_offset, 0,
        "appended anew, not taken for a duplicate"
    );
    // And the log reopens empty but for that batch.
    drop(partition);
    let reopened = on_disk(dir.path());
    assert_eq!(reopened.ends().log_end_offset, 2);
}
