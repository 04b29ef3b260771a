//! The two indexes of a segment being written or rebuilt, and the one rule for when they get
//! entries — shared by appends and recovery scans, so a rebuilt index equals the original.

use std::io;
use std::path::{Path, PathBuf};

use super::batch_info::BatchInfo;
use super::files::{segment_path, INDEX, TIME_INDEX};
use super::offset_index::{self, OffsetIndex};
use super::segmented::SegmentConfig;
use super::time_index::{self, TimeIndex};

pub(crate) struct SegmentIndexes {
    pub offsets: OffsetIndex,
    pub times: TimeIndex,
    base_offset: i64,
    interval_bytes: u64,
    /// Bytes appended since the last offset-index entry.
    bytes_since_entry: u64,
    /// The segment's largest timestamp so far; `i64::MIN` before its first batch.
    max_timestamp: i64,
    /// The base offset of the first batch that reached `max_timestamp`.
    offset_of_max_timestamp: i64,
}

impl SegmentIndexes {
    /// Empty indexes for the segment at `base_offset`, replacing any files already there.
    pub(super) fn create(dir: &Path, base_offset: i64, config: &SegmentConfig) -> io::Result<Self> {
        Self::open(dir, base_offset, config, 0, 0)
    }

    /// The indexes a clean shutdown left, taking every whole entry in each (trimmed) file.
    /// The caller sanity-checks them before trusting them. Missing files are `NotFound`.
    pub(super) fn open_existing(
        dir: &Path,
        base_offset: i64,
        config: &SegmentConfig,
    ) -> io::Result<Self> {
        let entries = |ext: &str, entry_bytes: usize| -> io::Result<usize> {
            let length = std::fs::metadata(segment_path(dir, base_offset, ext))?.len();
            Ok(usize::try_from(length / entry_bytes as u64).unwrap_or(usize::MAX))
        };
        let offset_entries = entries(INDEX, offset_index::ENTRY_BYTES)?;
        let time_entries = entries(TIME_INDEX, time_index::ENTRY_BYTES)?;
        let mut indexes = Self::open(dir, base_offset, config, offset_entries, time_entries)?;
        if let Some((timestamp, relative)) = indexes.times.last() {
            indexes.max_timestamp = timestamp;
            indexes.offset_of_max_timestamp = absolute(base_offset, relative)?;
        }
        Ok(indexes)
    }

    /// Empty indexes for a segment the cleaner writes, in `<base>.index<suffix>` and
    /// `<base>.timeindex<suffix>`.
    pub(super) fn create_beside(
        dir: &Path,
        base_offset: i64,
        config: &SegmentConfig,
        suffix: &str,
    ) -> io::Result<Self> {
        let path = |extension: &str| {
            let mut path = segment_path(dir, base_offset, extension).into_os_string();
            path.push(suffix);
            PathBuf::from(path)
        };
        Self::open_at([path(INDEX), path(TIME_INDEX)], base_offset, config, 0, 0)
    }

    fn open(
        dir: &Path,
        base_offset: i64,
        config: &SegmentConfig,
        offset_entries: usize,
        time_entries: usize,
    ) -> io::Result<Self> {
        let paths = [
            segment_path(dir, base_offset, INDEX),
            segment_path(dir, base_offset, TIME_INDEX),
        ];
        Self::open_at(paths, base_offset, config, offset_entries, time_entries)
    }

    fn open_at(
        [offsets_path, times_path]: [PathBuf; 2],
        base_offset: i64,
        config: &SegmentConfig,
        offset_entries: usize,
        time_entries: usize,
    ) -> io::Result<Self> {
        Ok(SegmentIndexes {
            offsets: OffsetIndex::open_writable(
                &offsets_path,
                offset_entries,
                config.max_entries(offset_index::ENTRY_BYTES),
            )?,
            times: TimeIndex::open_writable(
                &times_path,
                time_entries,
                config.max_entries(time_index::ENTRY_BYTES),
            )?,
            base_offset,
            interval_bytes: config.index_interval_bytes as u64,
            bytes_since_entry: 0,
            max_timestamp: i64::MIN,
            offset_of_max_timestamp: base_offset,
        })
    }

    pub(super) fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// True when either index has no room left: the segment must roll.
    pub(super) fn is_full(&self) -> bool {
        self.offsets.is_full() || self.times.is_full()
    }

    /// Notes one batch written at `batch.position`. As in Kafka, a batch gets an
    /// offset-index entry when more than `index_interval_bytes` were appended since the last
    /// entry, and the time index an entry at the same moment if the largest timestamp grew.
    /// A batch already indexed (a scan resuming at the last entry) is not indexed again.
    /// On an error (an index write failed) nothing is noted: an entry written before the
    /// failure names this batch's offset and position, which the same offsets appended again
    /// occupy.
    pub(super) fn record(&mut self, batch: &BatchInfo) -> io::Result<()> {
        let before = (
            self.max_timestamp,
            self.offset_of_max_timestamp,
            self.bytes_since_entry,
        );
        let recorded = self.try_record(batch);
        if recorded.is_err() {
            (
                self.max_timestamp,
                self.offset_of_max_timestamp,
                self.bytes_since_entry,
            ) = before;
        }
        recorded
    }

    fn try_record(&mut self, batch: &BatchInfo) -> io::Result<()> {
        if batch.max_timestamp > self.max_timestamp {
            self.max_timestamp = batch.max_timestamp;
            self.offset_of_max_timestamp = batch.base_offset;
        }
        let relative = self.relative(batch.base_offset);
        let position = u32::try_from(batch.position).ok();
        let already_indexed = self
            .offsets
            .last()
            .is_some_and(|(last, _)| Some(last) >= relative);
        if let (Some(relative), Some(position)) = (relative, position) {
            if self.bytes_since_entry > self.interval_bytes
                && !already_indexed
                && !self.offsets.is_full()
            {
                self.offsets.append(relative, position)?;
                self.append_time_entry(false)?;
                self.bytes_since_entry = 0;
            }
        }
        self.bytes_since_entry += batch.size;
        Ok(())
    }

    /// Records the final largest timestamp, so a sealed segment's last time-index entry is
    /// its largest timestamp. Called when sealing and on close.
    pub(super) fn finish(&mut self) -> io::Result<()> {
        self.append_time_entry(true)
    }

    fn append_time_entry(&mut self, last: bool) -> io::Result<()> {
        let Some(relative) = self.relative(self.offset_of_max_timestamp) else {
            return Ok(());
        };
        if self.max_timestamp == i64::MIN {
            return Ok(());
        }
        if last {
            self.times.append_final(self.max_timestamp, relative)
        } else {
            self.times.maybe_append(self.max_timestamp, relative)
        }
    }

    fn relative(&self, offset: i64) -> Option<u32> {
        u32::try_from(offset - self.base_offset).ok()
    }

    pub(super) fn trim(&mut self) -> io::Result<()> {
        self.offsets.trim()?;
        self.times.trim()
    }

    pub(super) fn paths(&self) -> [PathBuf; 2] {
        [
            self.offsets.path().to_path_buf(),
            self.times.path().to_path_buf(),
        ]
    }
}

/// The offset an index entry names: `base_offset` plus the entry's relative offset. A
/// damaged index can name one past `i64::MAX`: `InvalidData`, so it is rebuilt.
pub(crate) fn absolute(base_offset: i64, relative: u32) -> io::Result<i64> {
    base_offset.checked_add(i64::from(relative)).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("index entry {relative} past base offset {base_offset} overflows"),
        )
    })
}
