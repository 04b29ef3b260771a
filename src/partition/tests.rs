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
