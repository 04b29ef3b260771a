//! The segmented log against a model (a vector of batches), and its recovery from damage.

use std::fs::{self, OpenOptions};
use std::io::Write;

use proptest::prelude::*;

use super::*;
use crate::log::files::{INDEX, TIME_INDEX};
use crate::log::open_files::OpenFiles;
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
    const EPOCH: i32 = 7;
    let fill = vec![(base % 251) as u8; payload];
    // As the log stores it: the model compares reads with these bytes.
    let mut bytes = batch(base, delta, timestamp, &fill);
    bytes[12..16].copy_from_slice(&EPOCH.to_be_bytes());
    let bytes = Bytes::from(bytes);
    let meta = BatchMeta {
        base_offset: base,
        last_offset: base + i64::from(delta),
        max_timestamp: timestamp,
        leader_epoch: EPOCH,
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
            open_files: Default::default(),
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

/// Five logs under a cap of two open segment files: appends taking turns between them (each
/// a reopen of a file the cap closed), reads of sealed and active segments, timestamp
/// lookups, flushes, a clean close and a crash all see every batch, and the logs never hold
/// more than the cap.
#[test]
fn logs_sharing_a_cap_on_open_files_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let open_files = Arc::new(OpenFiles::new(2));
    let config = SegmentConfig {
        open_files: open_files.clone(),
        ..config(1000)
    };
    let dirs: Vec<PathBuf> = (0..5).map(|i| dir.path().join(format!("p{i}"))).collect();
    let open_all = || -> Vec<SegmentedLog> {
        dirs.iter()
            .map(|d| SegmentedLog::open(d, config.clone()).unwrap())
            .collect()
    };
    let mut logs = open_all();
    let mut models: Vec<Model> = (0..5).map(|_| Model::default()).collect();
    for round in 0..30 {
        for (log, model) in logs.iter_mut().zip(&mut models) {
            append(log, model, 2, 1000 + round, 90);
            assert!(open_files.held() <= 2, "{} held", open_files.held());
        }
    }
    assert!(
        open_files.reopened() >= 100,
        "{} reopens",
        open_files.reopened()
    );
    for (log, model) in logs.iter_mut().zip(&models) {
        check(log, model);
        assert_eq!(
            batch_found(log, TimestampTarget::AtOrAfter(1010)),
            model_found(model.first_at_or_after(1010))
        );
        log.flush().unwrap();
    }
    for log in &mut logs {
        log.close().unwrap();
    }
    drop(logs);
    assert_eq!(open_files.held(), 0);
    let mut logs = open_all();
    for (log, model) in logs.iter_mut().zip(&mut models) {
        check(log, model);
        append(log, model, 0, 2000, 10);
    }
    // Dropped without a close: a crash, recovered at the next open.
    drop(logs);
    for (log, model) in open_all().iter().zip(&models) {
        check(log, model);
    }
    assert!(open_files.held() <= 2);
}

mod lifecycle;
mod recovery;
