//! Sealed segments: immutable, known at open by name and size only, opened on first read.
//!
//! A log may hold many sealed segments and a broker many logs, so opening a log must not
//! touch them: it lists the directory and stats each `.log`, nothing more. A read opens the
//! segment's files, checks its index files and rebuilds any that is missing or damaged, and
//! keeps it in a small per-log cache of open segments; the least recently used is closed
//! when the cache is full, and none is kept while the broker's cap on open files is reached
//! (see [`open_files`](super::open_files)): the read then closes the segment when it ends. A fetch opens a segment after the partition's lock is released
//! ([`ToOpen`]): opening may rebuild an index, which reads the whole segment.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::files::{segment_path, INDEX, LOG, TIME_INDEX};
use super::offset_index::OffsetIndex;
use super::open_files::Held;
use super::recovery;
use super::segment::SegmentView;
use super::segmented::SegmentConfig;
use super::time_index::TimeIndex;

/// What a log keeps of a sealed segment while it is closed.
pub(crate) struct SealedSegment {
    pub base_offset: i64,
    pub size: u64,
    /// The largest timestamp, from the last time-index entry: known once the segment has
    /// been opened (or when it was sealed by this process).
    max_timestamp: OnceLock<i64>,
    /// Set before its files are deleted: a read planned earlier must not open (or rebuild
    /// the indexes of) what is going away.
    deleted: AtomicBool,
}

impl SealedSegment {
    pub(crate) fn new(base_offset: i64, size: u64, max_timestamp: Option<i64>) -> SealedSegment {
        let cell = OnceLock::new();
        if let Some(max) = max_timestamp {
            let _ = cell.set(max);
        }
        SealedSegment {
            base_offset,
            size,
            max_timestamp: cell,
            deleted: AtomicBool::new(false),
        }
    }

    pub(crate) fn known_max_timestamp(&self) -> Option<i64> {
        self.max_timestamp.get().copied()
    }

    pub(crate) fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::SeqCst);
    }

    fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::SeqCst)
    }
}

/// A sealed segment's files, open for reading.
pub(crate) struct OpenSegment {
    base_offset: i64,
    log: File,
    size: u64,
    offsets: OffsetIndex,
    times: TimeIndex,
    max_timestamp: i64,
    /// Counted under the cap on open files while the log's cache keeps it (`None`: it
    /// closes when the read that opened it ends).
    _held: Option<Held>,
}

impl OpenSegment {
    /// Opens the segment whose batches end just before `end_offset` (the next segment's
    /// base), rebuilding its index files if they fail their checks.
    fn open(
        dir: &Path,
        segment: &SealedSegment,
        end_offset: i64,
        config: &SegmentConfig,
        log: Option<File>,
        held: Option<Held>,
    ) -> io::Result<OpenSegment> {
        let base_offset = segment.base_offset;
        let log = match log {
            Some(log) => log,
            None => File::open(segment_path(dir, base_offset, LOG))?,
        };
        let size = segment.size;
        let relative_end = u64::try_from(end_offset - base_offset).unwrap_or(0);
        let (offsets, times) = match open_indexes(dir, base_offset, size, relative_end) {
            Ok(indexes) => indexes,
            Err(why) => {
                tracing::warn!(
                    dir = %dir.display(),
                    base_offset,
                    %why,
                    "rebuilding the indexes of a sealed segment"
                );
                recovery::rebuild_sealed(dir, base_offset, &log, size, config)?;
                open_indexes(dir, base_offset, size, relative_end)
                    .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))?
            }
        };
        let max_timestamp = times.last().map_or(i64::MIN, |(timestamp, _)| timestamp);
        let _ = segment.max_timestamp.set(max_timestamp);
        Ok(OpenSegment {
            base_offset,
            log,
            size,
            offsets,
            times,
            max_timestamp,
            _held: held,
        })
    }

    pub(crate) fn view(&self) -> SegmentView<'_> {
        SegmentView {
            base_offset: self.base_offset,
            log: &self.log,
            size: self.size,
            offsets: &self.offsets,
            times: &self.times,
            max_timestamp: self.max_timestamp,
        }
    }
}

fn open_indexes(
    dir: &Path,
    base_offset: i64,
    size: u64,
    relative_end: u64,
) -> Result<(OffsetIndex, TimeIndex), String> {
    let offsets = OffsetIndex::open_read_only(&segment_path(dir, base_offset, INDEX))
        .map_err(|e| format!("offset index: {e}"))?;
    let times = TimeIndex::open_read_only(&segment_path(dir, base_offset, TIME_INDEX))
        .map_err(|e| format!("time index: {e}"))?;
    offsets.sanity_check(size)?;
    times.sanity_check(relative_end, size > 0)?;
    Ok((offsets, times))
}

/// The sealed segments of one log that are open, most recently used last.
pub(crate) struct OpenSegments {
    capacity: usize,
    open: Mutex<Vec<Arc<OpenSegment>>>,
}

impl OpenSegments {
    pub(crate) fn new(capacity: usize) -> OpenSegments {
        OpenSegments {
            capacity: capacity.max(1),
            open: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<OpenSegment>>> {
        // The cache holds no invariant a panic could break half-way.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open segment, opening it (and closing the least recently used) if need be; from
    /// `log` when the caller has its `.log` open already.
    pub(crate) fn get(
        &self,
        dir: &Path,
        segment: &SealedSegment,
        end_offset: i64,
        config: &SegmentConfig,
        log: Option<File>,
    ) -> io::Result<Arc<OpenSegment>> {
        let mut open = self.lock();
        if let Some(found) = Self::take_open(&mut open, segment.base_offset) {
            return Ok(found);
        }
        // Deletion marks the segment, then waits for this lock to forget it: a segment is
        // never opened, nor its indexes rebuilt, once its files may be going.
        if segment.is_deleted() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("segment {} was deleted", segment.base_offset),
            ));
        }
        let held = config.open_files.try_hold();
        let cached = held.is_some();
        let opened = Arc::new(OpenSegment::open(
            dir, segment, end_offset, config, log, held,
        )?);
        if cached {
            if open.len() >= self.capacity {
                open.remove(0);
            }
            open.push(opened.clone());
        }
        Ok(opened)
    }

    /// The segment at `base_offset` if it is open, without opening it.
    pub(crate) fn get_open(&self, base_offset: i64) -> Option<Arc<OpenSegment>> {
        Self::take_open(&mut self.lock(), base_offset)
    }

    /// Finds an open segment and marks it most recently used.
    fn take_open(open: &mut Vec<Arc<OpenSegment>>, base_offset: i64) -> Option<Arc<OpenSegment>> {
        let at = open.iter().position(|s| s.base_offset == base_offset)?;
        let found = open.remove(at);
        open.push(found.clone());
        Some(found)
    }

    /// Closes the segment at `base_offset` if it is open (before its files are deleted).
    pub(crate) fn forget(&self, base_offset: i64) {
        self.lock().retain(|s| s.base_offset != base_offset);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// A sealed segment a read opens after the log's lock is released, with its `.log` already
/// open so a deletion in between does not take the data away.
pub(crate) struct ToOpen {
    pub cache: Arc<OpenSegments>,
    pub dir: PathBuf,
    pub segment: Arc<SealedSegment>,
    /// The next segment's base offset.
    pub end_offset: i64,
    pub config: SegmentConfig,
    pub log: File,
}

impl ToOpen {
    /// The segment, opened (or found open); `None` when it was deleted meanwhile, and only
    /// the `.log` held here can still be read.
    pub(crate) fn open(&self) -> io::Result<Option<Arc<OpenSegment>>> {
        if let Some(open) = self.cache.get_open(self.segment.base_offset) {
            return Ok(Some(open));
        }
        let log = Some(self.log.try_clone()?);
        match self
            .cache
            .get(&self.dir, &self.segment, self.end_offset, &self.config, log)
        {
            Ok(open) => Ok(Some(open)),
            Err(_) if self.segment.is_deleted() => Ok(None),
            Err(e) => Err(e),
        }
    }
}
