//! The segmented log against a model (a vector of batches), and its recovery from damage.

use std::fs::{self, OpenOptions};
use std::io::Write;

use proptest::prelude::*;

use super::*;
use crate::log::files::{INDEX, TIME_INDEX};
use crate::record::batch::{split_batches, BatchHeader};
use crate::record::test_batches::batch;

/// A read split into one `Bytes` per batch (the log may return several batches in one).
fn read(
    log: &SegmentedLog,
    offset: i64,
    max_bytes: usize,
    min_one: bool,
) -> io::Result<Vec<Bytes>> {
    let mut batches = Vec::new();
    for chunk in log.read(offset, max_bytes, min_one)? {
        batches.extend(
            split_batches(&chunk)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?,
        );
    }
    Ok(batches)
}

/// The batch a timestamp lookup settles on, as (base offset, max timestamp): the records of
/// these batches are opaque, so the lookup is asked for the batch only.
fn batch_found(log: &SegmentedLog, target: TimestampTarget) -> Option<(i64, i64)> {
    let plan = log.timestamp_plan(target).unwrap();
    let found = plan.execute_to_batch().unwrap();
    found.map(|r| (r.offset, r.timestamp))
}

/// What the model's batch gives [`batch_found`].
fn model_found(batch: Option<Bytes>) -> Option<(i64, i64)> {
    let batch = batch?;
    let header = BatchHeader::parse(&batch).unwrap();
    Some((header.base_offset(), header.max_timestamp()))
}

fn config(segment_bytes: u64) -> SegmentConfig {
    SegmentConfig {
        segment_bytes,
        index_interval_bytes: 150,
        max_index_bytes: 1024,
        clock: Clock::manual(1_000_000),
        ..SegmentConfig::default()
    }
}

fn make(base: i64, delta: i32, timestamp: i64, payload: usize) -> (Bytes, BatchMeta) {
    let fill = vec![(base % 251) as u8; payload];
    let bytes = Bytes::from(batch(base, delta, timestamp, &fill));
    let meta = BatchMeta {
        base_offset: base,
        last_offset: base + i64::from(delta),
        max_timestamp: timestamp,
    };
    (bytes, meta)
}

/// The model: every batch appended (in order, none ever dropped unless the log is emptied),
/// the start offset and the end offset.
#[derive(Default)]
struct Model {
    batches: Vec<(Bytes, BatchMeta)>,
    start: i64,
    end: i64,
}

impl Model {
    fn visible(&self) -> impl Iterator<Item = &(Bytes, BatchMeta)> {
        self.batches
            .iter()
            .filter(|(_, m)| m.last_offset >= self.start)
    }

    fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Vec<Bytes> {
        let mut out = Vec::new();
        if offset < self.start || offset >= self.end {
            return out;
        }
        let mut total = 0;
        for (bytes, _) in self.batches.iter().filter(|(_, m)| m.last_offset >= offset) {
            if total + bytes.len() > max_bytes && !(min_one && out.is_empty()) {
                break;
            }
            total += bytes.len();
            out.push(bytes.clone());
        }
        out
    }

    fn first_at_or_after(&self, timestamp: i64) -> Option<Bytes> {
        self.visible()
            .find(|(_, m)| m.max_timestamp >= timestamp)
            .map(|(b, _)| b.clone())
    }

    fn with_max_timestamp(&self) -> Option<Bytes> {
        let max = self.visible().map(|(_, m)| m.max_timestamp).max()?;
        self.first_at_or_after(max)
    }

    /// After the active segment at `active_base` was cut to `cut` bytes.
    fn cut_active(&mut self, active_base: i64, cut: u64) {
        let mut position = 0u64;
        self.batches.retain(|(bytes, meta)| {
            if meta.base_offset < active_base {
                return true;
            }
            position += bytes.len() as u64;
            position <= cut
        });
        self.end = self
            .batches
            .last()
            .map_or(active_base, |(_, m)| m.last_offset + 1);
        if self.end < self.start {
            self.batches.clear();
            self.end = self.start;
        }
    }
}

fn append(log: &mut SegmentedLog, model: &mut Model, delta: i32, timestamp: i64, payload: usize) {
    let (bytes, meta) = make(log.end_offset(), delta, timestamp, payload);
    log.append(bytes.clone(), meta).unwrap();
    model.end = meta.last_offset + 1;
    model.batches.push((bytes, meta));
}

fn segment_files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    paths.sort();
    paths
}

fn active_log_path(dir: &Path) -> PathBuf {
    segment_files(dir, LOG).pop().unwrap()
}

fn base_of(path: &Path) -> i64 {
    path.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

/// Everything the log serves agrees with the model.
fn check(log: &SegmentedLog, model: &Model) {
    assert_eq!(log.start_offset(), model.start, "start offset");
    assert_eq!(log.end_offset(), model.end, "end offset");
    for offset in model.start - 1..=model.end {
        assert_eq!(
            read(log, offset, usize::MAX, false).unwrap(),
            model.read(offset, usize::MAX, false),
            "read at {offset}"
        );
    }
    let on_disk: u64 = segment_files(log.dir(), LOG)
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(log.size_bytes(), on_disk, "size");
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        delta: i32,
        timestamp: i64,
        payload: usize,
    },
    Read {
        at: u16,
        max_bytes: usize,
        min_one: bool,
    },
    FirstAtOrAfter {
        timestamp: i64,
    },
    MaxTimestamp,
    Flush,
    Reopen,
    Crash,
    Cut {
        at: u16,
        clean: bool,
    },
    Garbage {
        bytes: Vec<u8>,
        clean: bool,
    },
    DeleteRecords {
        at: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0..4i32, prop_oneof![9 => 0..1000i64, 1 => Just(-1i64)], 0..300usize)
            .prop_map(|(delta, timestamp, payload)| Op::Append { delta, timestamp, payload }),
        4 => (any::<u16>(), 0..2000usize, any::<bool>())
            .prop_map(|(at, max_bytes, min_one)| Op::Read { at, max_bytes, min_one }),
        2 => (-5..1005i64).prop_map(|timestamp| Op::FirstAtOrAfter { timestamp }),
        1 => Just(Op::MaxTimestamp),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
        1 => (any::<u16>(), any::<bool>()).prop_map(|(at, clean)| Op::Cut { at, clean }),
        1 => (proptest::collection::vec(any::<u8>(), 1..100), any::<bool>())
            .prop_map(|(bytes, clean)| Op::Garbage { bytes, clean }),
        1 => any::<u16>().prop_map(|at| Op::DeleteRecords { at }),
    ]
}

fn scaled(at: u16, low: i64, high: i64) -> i64 {
    low + (high - low) * i64::from(at) / i64::from(u16::MAX)
}

/// Closes (or not) and drops the log, damages its files with `damage`, and reopens it.
fn reopen(
    log: SegmentedLog,
    clean: bool,
    config: &SegmentConfig,
    damage: impl FnOnce(&Path),
) -> SegmentedLog {
    let mut log = log;
    if clean {
        log.close().unwrap();
    }
    let dir = log.dir().to_path_buf();
    drop(log);
    damage(&dir);
    SegmentedLog::open(&dir, config.clone()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    #[test]
    fn behaves_like_the_model(
        segment_bytes in 200..2000u64,
        index_interval_bytes in 0..400usize,
        max_index_bytes in prop_oneof![8..64usize, 64..4096usize],
        segment_ms in 100..5000i64,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = SegmentConfig {
            segment_bytes,
            segment_ms,
            index_interval_bytes,
            max_index_bytes,
            clock: Clock::manual(0),
        };
        let mut log = SegmentedLog::open(dir.path(), config.clone()).unwrap();
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Append { delta, timestamp, payload } => {
                    append(&mut log, &mut model, delta, timestamp, payload);
                }
                Op::Read { at, max_bytes, min_one } => {
                    let offset = scaled(at, model.start - 1, model.end + 1);
                    prop_assert_eq!(
                        read(&log, offset, max_bytes, min_one).unwrap(),
                        model.read(offset, max_bytes, min_one)
                    );
                }
                Op::FirstAtOrAfter { timestamp } => {
                    prop_assert_eq!(
                        batch_found(&log, TimestampTarget::AtOrAfter(timestamp)),
                model_found(model.first_at_or_after(timestamp))
                    );
                }
                Op::MaxTimestamp => {
                    prop_assert_eq!(
                        batch_found(&log, TimestampTarget::Max),
                model_found(model.with_max_timestamp())
                    );
                }
                Op::Flush => log.flush().unwrap(),
                Op::Reopen => log = reopen(log, true, &config, |_| {}),
                Op::Crash => log = reopen(log, false, &config, |_| {}),
                Op::Cut { at, clean } => {
                    let path = active_log_path(log.dir());
                    let size = fs::metadata(&path).unwrap().len();
                    let cut = scaled(at, 0, size as i64) as u64;
                    model.cut_active(base_of(&path), cut);
                    log = reopen(log, clean, &config, |_| {
                        OpenOptions::new().write(true).open(&path).unwrap().set_len(cut).unwrap();
                    });
                }
                Op::Garbage { bytes, clean } => {
                    let path = active_log_path(log.dir());
                    log = reopen(log, clean, &config, |_| {
                        OpenOptions::new().append(true).open(&path).unwrap().write_all(&bytes).unwrap();
                    });
                }
                Op::DeleteRecords { at } => {
                    let offset = scaled(at, model.start, model.end);
                    log.delete_records_before(offset).unwrap();
                    model.start = model.start.max(offset);
                }
            }
            prop_assert_eq!(log.start_offset(), model.start);
            prop_assert_eq!(log.end_offset(), model.end);
        }
        check(&log, &model);
        log = reopen(log, false, &config, |_| {});
        check(&log, &model);
    }
}

/// A log of `count` batches of 2 records and ~160 bytes each, over several segments.
fn filled(dir: &Path, count: usize) -> (SegmentedLog, Model) {
    let mut log = SegmentedLog::open(dir, config(1000)).unwrap();
    let mut model = Model::default();
    for i in 0..count {
        append(&mut log, &mut model, 1, 100 + i as i64, 100);
    }
    (log, model)
}

#[test]
fn rolls_segments_and_reads_across_them() {
    let dir = tempfile::tempdir().unwrap();
    let (log, model) = filled(dir.path(), 40);
    let logs = segment_files(dir.path(), LOG);
    assert!(logs.len() > 5, "{logs:?}");
    assert_eq!(base_of(&logs[1]) % 2, 0);
    check(&log, &model);
    // A read limited to 400 bytes gets two whole batches, crossing a segment boundary.
    assert_eq!(
        read(&log, 10, 400, false).unwrap(),
        model.read(10, 400, false)
    );
    assert_eq!(read(&log, 10, 400, false).unwrap().len(), 2);
    assert_eq!(read(&log, 10, 10, true).unwrap().len(), 1);
    assert!(read(&log, 10, 10, false).unwrap().is_empty());
}

/// The active segment remembers where its latest batches start, and finds older ones through
/// its index: reads from either, and across the boundary between them, match the model, also
/// one batch at a time.
#[test]
fn reads_from_the_latest_and_older_batches_of_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let config = SegmentConfig {
        max_index_bytes: 64 * 1024,
        ..config(1 << 20)
    };
    let mut log = SegmentedLog::open(dir.path(), config).unwrap();
    let mut model = Model::default();
    for i in 0..300 {
        append(&mut log, &mut model, i % 3, 100 + i64::from(i), 50);
    }
    assert_eq!(
        segment_files(dir.path(), LOG).len(),
        1,
        "all in the active segment"
    );
    check(&log, &model);
    for offset in model.start..model.end {
        assert_eq!(
            read(&log, offset, 1, true).unwrap(),
            model.read(offset, 1, true),
            "the batch holding {offset}"
        );
    }
}

#[test]
fn a_clean_reopen_trusts_the_indexes_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut model) = filled(dir.path(), 30);
    log.close().unwrap();
    assert!(dir.path().join(".clean").exists());
    // Closed, the log still serves reads; an append removes the marker and rolls.
    append(&mut log, &mut model, 0, 500, 10);
    assert!(!dir.path().join(".clean").exists());
    log.close().unwrap();
    drop(log);

    let mut log = SegmentedLog::open(dir.path(), config(1000)).unwrap();
    assert!(!dir.path().join(".clean").exists());
    // Opening touched no sealed segment.
    assert_eq!(log.open_sealed.len(), 0);
    check(&log, &model);
    assert!(log.open_sealed.len() <= OPEN_SEALED_SEGMENTS);
    append(&mut log, &mut model, 3, 600, 50);
    check(&log, &model);
}

#[test]
fn garbage_after_the_last_batch_is_cut_away() {
    for clean in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (log, mut model) = filled(dir.path(), 25);
        let path = active_log_path(dir.path());
        let size = fs::metadata(&path).unwrap().len();
        let mut log = reopen(log, clean, &config(1000), |_| {
            let mut file = OpenOptions::new().append(true).open(&path).unwrap();
            file.write_all(&[0xab; 300]).unwrap();
        });
        assert_eq!(fs::metadata(&path).unwrap().len(), size);
        check(&log, &model);
        append(&mut log, &mut model, 0, 1, 1);
        check(&log, &model);
    }
}

#[test]
fn a_torn_last_batch_is_cut_away() {
    let dir = tempfile::tempdir().unwrap();
    let (log, mut model) = filled(dir.path(), 25);
    let path = active_log_path(dir.path());
    let (torn, _) = make(model.end, 0, 7, 100);
    let mut log = reopen(log, false, &config(1000), |_| {
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&torn[..torn.len() - 1]).unwrap();
    });
    check(&log, &model);
    append(&mut log, &mut model, 0, 1, 1);
    check(&log, &model);
}

#[test]
fn a_corrupt_batch_in_the_middle_cuts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (log, mut model) = filled(dir.path(), 27);
    let path = active_log_path(dir.path());
    let active_base = base_of(&path);
    let active: Vec<_> = model
        .batches
        .iter()
        .filter(|(_, m)| m.base_offset >= active_base)
        .map(|(b, _)| b.len() as u64)
        .collect();
    assert!(active.len() >= 2);
    // Flip a payload byte of the second batch of the active segment.
    let at = active[0] + active[1] - 1;
    let log = reopen(log, false, &config(1000), |_| {
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, &[0xff], at).unwrap();
    });
    model.cut_active(active_base, active[0]);
    check(&log, &model);
}

#[test]
fn missing_index_files_are_rebuilt() {
    for clean in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (log, model) = filled(dir.path(), 40);
        let log = reopen(log, clean, &config(1000), |dir| {
            for path in [segment_files(dir, INDEX), segment_files(dir, TIME_INDEX)].concat() {
                fs::remove_file(path).unwrap();
            }
        });
        check(&log, &model);
        assert_eq!(
            batch_found(&log, TimestampTarget::AtOrAfter(120)),
            model_found(model.first_at_or_after(120))
        );
        assert_eq!(
            batch_found(&log, TimestampTarget::Max),
            model_found(model.with_max_timestamp())
        );
        // Reading rebuilt every sealed segment's indexes.
        assert_eq!(
            segment_files(dir.path(), INDEX).len(),
            segment_files(dir.path(), LOG).len()
        );
    }
}

#[test]
fn garbage_index_files_are_rebuilt() {
    for clean in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (log, model) = filled(dir.path(), 40);
        let log = reopen(log, clean, &config(1000), |dir| {
            let mut noise = 0x9e37_79b9_7f4a_7c15u64;
            for path in [segment_files(dir, INDEX), segment_files(dir, TIME_INDEX)].concat() {
                let length = fs::metadata(&path).unwrap().len().max(24);
                let bytes: Vec<u8> = (0..length)
                    .map(|_| {
                        noise ^= noise << 13;
                        noise ^= noise >> 7;
                        noise ^= noise << 17;
                        noise as u8
                    })
                    .collect();
                fs::write(path, bytes).unwrap();
            }
        });
        check(&log, &model);
        for timestamp in [0, 100, 117, 139, 140] {
            assert_eq!(
                batch_found(&log, TimestampTarget::AtOrAfter(timestamp)),
                model_found(model.first_at_or_after(timestamp))
            );
        }
        assert_eq!(
            batch_found(&log, TimestampTarget::Max),
            model_found(model.with_max_timestamp())
        );
    }
}

#[test]
fn stray_files_are_deleted_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (log, model) = filled(dir.path(), 10);
    let stray = dir.path().join("00000000000000099999.index");
    let log = reopen(log, true, &config(1000), |_| {
        fs::write(&stray, b"x").unwrap()
    });
    assert!(!stray.exists());
    check(&log, &model);
}

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
fn batches_are_stored_with_the_logs_base_offset_not_the_producers() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = SegmentedLog::open(dir.path(), config(1 << 20)).unwrap();
    for (base, delta) in [(0i64, 2i32), (3, 0), (4, 4)] {
        // As a producer sends it: base offset 0 in the header.
        let sent = Bytes::from(batch(0, delta, 5, b"abc"));
        let meta = BatchMeta {
            base_offset: base,
            last_offset: base + i64::from(delta),
            max_timestamp: 5,
        };
        log.append(sent, meta).unwrap();
    }
    let bases: Vec<i64> = read(&log, 0, usize::MAX, false)
        .unwrap()
        .iter()
        .map(|b| BatchHeader::parse_checked(b).unwrap().base_offset())
        .collect();
    assert_eq!(bases, vec![0, 3, 4]);
    assert_eq!(log.end_offset(), 9);
    drop(log);
    let reopened = SegmentedLog::open(dir.path(), config(1 << 20)).unwrap();
    assert_eq!(reopened.end_offset(), 9, "a crash recovery scan agrees");
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
    };
    let error = log.append(bytes, meta).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(log.end_offset(), i64::MAX - 2);
    let (bytes, _) = make(0, 1, 1_000, 10);
    let meta = BatchMeta {
        base_offset: i64::MAX - 2,
        last_offset: i64::MAX - 1,
        max_timestamp: 1_000,
    };
    log.append(bytes, meta).unwrap();
    assert_eq!(log.end_offset(), i64::MAX);
}
