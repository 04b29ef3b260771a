//! Retention, record deletion, rolling, and the flush and read plans.

use super::*;

#[test]
fn retention_by_time_deletes_old_sealed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut model) = filled(dir.path(), 40);
    let segments = segment_files(dir.path(), LOG).len();
    // Infinite retention deletes nothing.
    assert_eq!(log.apply_retention(10_000, -1, -1).unwrap(), 0);
    // Batches have timestamps 100..140; with 20 ms retention at 140, segments whose largest
    // timestamp is below 120 go.
    let deleted = log.apply_retention(140, 20, -1).unwrap();
    assert!(deleted > 0 && deleted < segments);
    let first = base_of(&segment_files(dir.path(), LOG)[0]);
    assert_eq!(log.start_offset(), first);
    model.start = first;
    let oldest_left = model.visible().next().unwrap().1.max_timestamp;
    assert!(oldest_left <= 120, "{oldest_left}");
    check(&log, &model);
    // Everything expired: all but the active segment go.
    log.apply_retention(1_000_000, 0, -1).unwrap();
    assert_eq!(segment_files(dir.path(), LOG).len(), 1);
    model.start = base_of(&active_log_path(dir.path()));
    check(&log, &model);
    let log = reopen(log, false, &config(1000), |_| {});
    check(&log, &model);
}

#[test]
fn retention_by_size_keeps_at_least_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut model) = filled(dir.path(), 40);
    let limit = 2500;
    let deleted = log.apply_retention(0, -1, limit).unwrap();
    assert!(deleted > 0);
    assert!(log.size_bytes() >= limit as u64);
    let oldest = segment_files(dir.path(), LOG)[0].clone();
    // One more deletion would have gone below the limit.
    assert!(log.size_bytes() - fs::metadata(&oldest).unwrap().len() < limit as u64);
    model.start = base_of(&oldest);
    check(&log, &model);
    let log = reopen(log, true, &config(1000), |_| {});
    check(&log, &model);
}

#[test]
fn deleted_records_stay_deleted_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut model) = filled(dir.path(), 40);
    let segments = segment_files(dir.path(), LOG).len();
    log.delete_records_before(33).unwrap();
    model.start = 33;
    assert!(segment_files(dir.path(), LOG).len() < segments);
    assert!(read(&log, 32, 10_000, true).unwrap().is_empty());
    // The batch holding 33 starts at 32, and is returned whole.
    assert_eq!(
        read(&log, 33, 10_000, true).unwrap()[0],
        model.batches[16].0
    );
    check(&log, &model);
    assert!(log.delete_records_before(model.end + 1).is_err());
    let log = reopen(log, false, &config(1000), |_| {});
    check(&log, &model);
    let log = reopen(log, true, &config(1000), |_| {});
    check(&log, &model);
}

#[test]
fn a_cut_below_the_start_offset_empties_the_log_at_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut model) = filled(dir.path(), 10);
    let end = log.end_offset();
    log.delete_records_before(end).unwrap();
    model.start = end;
    let path = active_log_path(dir.path());
    let mut log = reopen(log, false, &config(1000), |_| {
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
    });
    model.cut_active(base_of(&path), 0);
    check(&log, &model);
    append(&mut log, &mut model, 0, 1, 1);
    check(&log, &model);
}

#[test]
fn segment_ms_rolls_by_timestamps_or_by_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(0);
    let config = SegmentConfig {
        segment_ms: 1000,
        clock: clock.clone(),
        ..config(1 << 20)
    };
    let mut log = SegmentedLog::open(dir.path(), config).unwrap();
    let mut model = Model::default();
    append(&mut log, &mut model, 0, 5000, 10);
    append(&mut log, &mut model, 0, 6000, 10);
    assert_eq!(segment_files(dir.path(), LOG).len(), 1);
    append(&mut log, &mut model, 0, 6001, 10);
    assert_eq!(segment_files(dir.path(), LOG).len(), 2);
    // Without timestamps, the clock decides.
    log.roll(clock.now_ms()).unwrap();
    append(&mut log, &mut model, 0, -1, 10);
    clock.advance_ms(1000);
    append(&mut log, &mut model, 0, -1, 10);
    assert_eq!(segment_files(dir.path(), LOG).len(), 3);
    clock.advance_ms(1);
    append(&mut log, &mut model, 0, -1, 10);
    assert_eq!(segment_files(dir.path(), LOG).len(), 4);
    check(&log, &model);
}

#[test]
fn a_batch_that_does_not_continue_the_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = SegmentedLog::open(dir.path(), config(1000)).unwrap();
    let (bytes, meta) = make(5, 0, 1, 1);
    assert!(log.append(bytes, meta).is_err());
    let (bytes, mut meta) = make(0, 2, 1, 1);
    meta.last_offset = 1;
    assert!(log.append(bytes, meta).is_err());
    assert!(log
        .append(Bytes::from_static(b"junk"), make(0, 0, 1, 1).1)
        .is_err());
    assert_eq!(log.end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
}

#[test]
fn opening_many_logs_is_cheap() {
    let dir = tempfile::tempdir().unwrap();
    for partition in 0..20 {
        let (mut log, _) = filled(&dir.path().join(partition.to_string()), 40);
        log.close().unwrap();
    }
    let started = crate::clock::monotonic_now();
    for _ in 0..5 {
        for partition in 0..20 {
            let log =
                SegmentedLog::open(&dir.path().join(partition.to_string()), config(1000)).unwrap();
            assert_eq!(log.open_sealed.len(), 0);
        }
    }
    // 100 opens of 7-segment logs; generous, for slow CI machines.
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn is_a_log_a_partition_can_own() {
    fn owned_by_a_partition(_: Box<dyn Log>) {}
    let dir = tempfile::tempdir().unwrap();
    owned_by_a_partition(Box::new(
        SegmentedLog::open(dir.path(), SegmentConfig::default()).unwrap(),
    ));
}

#[test]
fn batches_are_stored_with_the_logs_base_offset_and_leader_epoch_not_the_producers() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = SegmentedLog::open(dir.path(), config(1 << 20)).unwrap();
    for (base, delta) in [(0i64, 2i32), (3, 0), (4, 4)] {
        // As a producer sends it: base offset 0 and leader epoch -1 in the header.
        let mut sent = batch(0, delta, 5, b"abc");
        sent[12..16].copy_from_slice(&(-1i32).to_be_bytes());
        let sent = Bytes::from(sent);
        let meta = BatchMeta {
            base_offset: base,
            last_offset: base + i64::from(delta),
            max_timestamp: 5,
            leader_epoch: 7,
        };
        log.append(sent, meta).unwrap();
    }
    // Checked: the producer's CRC still holds over the stamped header.
    let stored = |log: &SegmentedLog| -> Vec<(i64, i32)> {
        read(log, 0, usize::MAX, false)
            .unwrap()
            .iter()
            .map(|b| BatchHeader::parse_checked(b).unwrap())
            .map(|h| (h.base_offset(), h.partition_leader_epoch()))
            .collect()
    };
    assert_eq!(stored(&log), vec![(0, 7), (3, 7), (4, 7)]);
    assert_eq!(log.end_offset(), 9);
    drop(log);
    let reopened = SegmentedLog::open(dir.path(), config(1 << 20)).unwrap();
    assert_eq!(reopened.end_offset(), 9, "a crash recovery scan agrees");
    assert_eq!(stored(&reopened), vec![(0, 7), (3, 7), (4, 7)]);
}

#[test]
fn a_flush_plan_covers_what_was_there_when_it_was_taken() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut model) = filled(dir.path(), 12);
    let sealed_before = log.unsynced.clone();
    assert!(!sealed_before.is_empty(), "segments were sealed");
    let plan = log.flush_plan().unwrap();
    assert!(sealed_before.iter().all(|p| plan.paths.contains(p)));
    assert!(plan.dir.is_some(), "segment files were created");

    // Appends go on while the plan runs: they roll new segments the plan does not cover.
    for i in 0..12 {
        append(&mut log, &mut model, 1, 500 + i, 100);
    }
    let sealed_since: Vec<PathBuf> = log
        .unsynced
        .iter()
        .filter(|p| !sealed_before.contains(p))
        .cloned()
        .collect();
    assert!(!sealed_since.is_empty());
    plan.run().unwrap();
    log.flushed(&plan);
    // The segment active when the plan was taken had its indexes synced by path then.
    let expected: Vec<PathBuf> = sealed_since
        .iter()
        .filter(|p| !plan.paths.contains(p))
        .cloned()
        .collect();
    assert!(
        expected.len() > 3,
        "a segment sealed after the plan: {expected:?}"
    );
    assert_eq!(
        log.unsynced, expected,
        "only what the plan synced is forgotten"
    );
    assert!(
        log.dir_changes > log.dir_changes_synced,
        "the rolls since the plan still need a directory sync"
    );

    log.flush().unwrap();
    assert!(log.unsynced.is_empty());
    assert_eq!(log.dir_changes, log.dir_changes_synced);
    assert!(log.flush_plan().unwrap().dir.is_none());
    check(&log, &model);
}

#[test]
fn a_flush_plan_survives_retention_deleting_what_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = filled(dir.path(), 12);
    let plan = log.flush_plan().unwrap();
    // Everything sealed goes before the plan runs; its files are gone.
    assert!(log.apply_retention(i64::MAX, 0, -1).unwrap() > 0);
    plan.run().unwrap();
    log.flushed(&plan);
}

#[test]
fn a_read_plan_reads_what_was_there_when_it_was_made() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut model) = filled(dir.path(), 20);
    let expected = model.read(0, usize::MAX, true);
    let everything = log.read_plan(0, usize::MAX, true).unwrap();
    // From inside the first segment: its indexes are gone by the time the plan runs.
    let expected_middle = model.read(3, usize::MAX, true);
    let middle = log.read_plan(3, usize::MAX, true).unwrap();
    let tail_offset = model.end - 2;
    let expected_tail = model.read(tail_offset, usize::MAX, true);
    let tail = log.read_plan(tail_offset, usize::MAX, true).unwrap();

    // Before the plans run: more appends (new segments), then retention deletes every
    // sealed segment the first plan names.
    for i in 0..20 {
        append(&mut log, &mut model, 1, 900 + i, 100);
    }
    assert!(log.apply_retention(i64::MAX, 0, -1).unwrap() > 0);

    let split = |chunks: Vec<Bytes>| -> Vec<Bytes> {
        chunks
            .iter()
            .flat_map(|c| split_batches(c).unwrap())
            .collect()
    };
    assert_eq!(split(everything.execute().unwrap()), expected);
    assert_eq!(split(middle.execute().unwrap()), expected_middle);
    assert_eq!(
        split(tail.execute().unwrap()),
        expected_tail,
        "the active segment as it was: nothing appended after the plan"
    );
    // Reading the deleted segments recreated none of their files.
    let logs: Vec<i64> = segment_files(dir.path(), LOG)
        .iter()
        .map(|p| base_of(p))
        .collect();
    for extension in [INDEX, TIME_INDEX] {
        for index in segment_files(dir.path(), extension) {
            assert!(logs.contains(&base_of(&index)), "stray {}", index.display());
        }
    }
}

/// Opening a sealed segment (its index files checked, or rebuilt) is left to the read, after
/// the partition's lock: planning opens nothing.
#[test]
fn sealed_segments_are_opened_when_the_read_runs_not_when_it_is_planned() {
    let dir = tempfile::tempdir().unwrap();
    let (log, model) = filled(dir.path(), 40);
    assert_eq!(log.open_sealed.len(), 0);
    let plan = log.read_plan(5, usize::MAX, true).unwrap();
    assert_eq!(log.open_sealed.len(), 0, "nothing opened under the lock");
    let read: Vec<Bytes> = plan
        .execute()
        .unwrap()
        .iter()
        .flat_map(|c| split_batches(c).unwrap())
        .collect();
    assert_eq!(read, model.read(5, usize::MAX, true));
    assert_eq!(log.open_sealed.len(), 2, "opened by the read, and cached");
    // Open now: the next plan shares it.
    let plan = log.read_plan(5, usize::MAX, true).unwrap();
    assert_eq!(log.open_sealed.len(), 2);
    assert_eq!(
        plan.execute().unwrap().concat(),
        log.read(5, usize::MAX, true).unwrap().concat()
    );
}

/// A damaged start-offset checkpoint never deletes: a number past the end with a wrong
/// checksum, or plain garbage, leaves every record in place.
#[test]
fn a_damaged_start_offset_checkpoint_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (log, model) = filled(dir.path(), 40);
    drop(log);
    for damage in [
        &b"9999999\n"[..],
        b"9999999 0badc0de\n",
        b"30 0badc0de\n",
        b"\xff garbage",
    ] {
        std::fs::write(dir.path().join("log-start-offset"), damage).unwrap();
        let log = SegmentedLog::open(dir.path(), config(1000)).unwrap();
        check(&log, &model);
    }
}

/// An unverified checkpoint past the end is ignored at open and replaced, so that appends
/// taking the end past it do not make the next open believe it (found by fuzzing).
#[test]
fn an_ignored_start_offset_checkpoint_stays_ignored_after_appends() {
    let dir = tempfile::tempdir().unwrap();
    drop(SegmentedLog::open(dir.path(), config(1000)).unwrap());
    std::fs::write(dir.path().join("log-start-offset"), b"2\n").unwrap();
    let mut log = SegmentedLog::open(dir.path(), config(1000)).unwrap();
    assert_eq!((log.start_offset(), log.end_offset()), (0, 0));
    let (bytes, meta) = make(0, 4, 1_000, 10);
    log.append(bytes, meta).unwrap();
    drop(log);
    let log = SegmentedLog::open(dir.path(), config(1000)).unwrap();
    assert_eq!((log.start_offset(), log.end_offset()), (0, 5));
}

/// A batch whose last offset is `i64::MAX` leaves the log no end offset: refused, and the
/// log is unchanged (found by fuzzing: the end overflowed).
#[test]
fn a_batch_ending_at_the_largest_offset_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    crate::log::files::write_start_offset(dir.path(), i64::MAX - 2).unwrap();
    let mut log = SegmentedLog::open(dir.path(), config(1000)).unwrap();
    assert_eq!(log.end_offset(), i64::MAX - 2);
    let (bytes, _) = make(0, 2, 1_000, 10);
    let meta = BatchMeta {
        base_offset: i64::MAX - 2,
        last_offset: i64::MAX,
        max_timestamp: 1_000,
        leader_epoch: 7,
    };
    let error = log.append(bytes, meta).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(log.end_offset(), i64::MAX - 2);
    let (bytes, _) = make(0, 1, 1_000, 10);
    let meta = BatchMeta {
        base_offset: i64::MAX - 2,
        last_offset: i64::MAX - 1,
        max_timestamp: 1_000,
        leader_epoch: 7,
    };
    log.append(bytes, meta).unwrap();
    assert_eq!(log.end_offset(), i64::MAX);
}

#[test]
fn a_reset_empties_the_log_at_offset_zero_and_stays_empty_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = filled(dir.path(), 40);
    log.delete_records_before(7).unwrap();
    assert!(segment_files(dir.path(), LOG).len() > 1);
    log.reset().unwrap();
    assert_eq!((log.start_offset(), log.end_offset()), (0, 0));
    assert_eq!(segment_files(dir.path(), LOG).len(), 1);
    let (batch, meta) = make(0, 2, 500, 10);
    log.append(batch.clone(), meta).unwrap();
    let log = reopen(log, false, &config(1000), |_| {});
    assert_eq!((log.start_offset(), log.end_offset()), (0, 3));
    assert_eq!(read(&log, 0, 10_000, true).unwrap(), vec![batch]);
}

/// A crash right after the reset's commit point: the next open finishes it, and the log
/// opens empty at 0 rather than half-deleted.
#[test]
fn a_reset_cut_short_after_its_marker_is_finished_by_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = filled(dir.path(), 40);
    drop(log);
    crate::log::files::begin_reset(dir.path()).unwrap();
    // Part of the deletion happened before the crash.
    fs::remove_file(&segment_files(dir.path(), LOG)[0]).unwrap();
    let log = SegmentedLog::open(dir.path(), config(1000)).unwrap();
    assert_eq!((log.start_offset(), log.end_offset()), (0, 0));
    assert_eq!(segment_files(dir.path(), LOG).len(), 1);
    assert!(!dir.path().join(".reset").exists());
}
