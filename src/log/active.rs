//! The active segment: the one segment appended to, with its indexes mapped for writing.

// Unsafe code here: pwritev, which std does not wrap for a positioned write; each block says why it is sound.
#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch_info::BatchInfo;
use super::files::{segment_path, LOG};
use super::indexes::SegmentIndexes;
use super::open_files::SegmentFile;
use super::recovery;
use super::reserve::Reservation;
use super::sealed::SealedSegment;
use super::segment::SegmentView;
use super::segmented::SegmentConfig;

/// How many of the latest batches the active segment remembers the positions of: a consumer
/// that keeps up is a few behind, and at 16 bytes each a partition holds at most 1 KiB.
const RECENT_BATCHES: usize = 64;

pub(crate) struct ActiveSegment {
    base_offset: i64,
    /// Under the broker's cap on open files: closed while unused when others need room.
    /// Reads planned under the lock hold the `File` they were planned with.
    log: SegmentFile,
    size: u64,
    indexes: SegmentIndexes,
    next_offset: i64,
    /// The largest timestamp of the first batch: Kafka measures `segment.ms` from it.
    first_timestamp: Option<i64>,
    /// When this process opened the segment: `segment.ms` for batches without timestamps.
    opened_ms: i64,
    /// Space reserved ahead of `size`, given back on seal and close.
    reservation: Reservation,
    /// `segment.bytes` when the segment was opened: how far ahead there is point reserving.
    segment_bytes: u64,
    /// (base offset, position) of the latest batches appended, oldest first. A consumer that
    /// keeps up reads from one of them: found here, its read is planned under the log's lock
    /// without the index lookup and header reads of [`SegmentView::find`].
    recent: VecDeque<(i64, u64)>,
}

impl ActiveSegment {
    /// A new, empty segment at `base_offset`, replacing any files of that name.
    pub(super) fn create(
        dir: &Path,
        base_offset: i64,
        config: &SegmentConfig,
        now_ms: i64,
    ) -> io::Result<ActiveSegment> {
        let log_path = segment_path(dir, base_offset, LOG);
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)?;
        Ok(ActiveSegment {
            base_offset,
            log: SegmentFile::new(&config.open_files, log_path, log),
            size: 0,
            indexes: SegmentIndexes::create(dir, base_offset, config)?,
            next_offset: base_offset,
            first_timestamp: None,
            opened_ms: now_ms,
            reservation: Reservation::new(0),
            segment_bytes: config.segment_bytes(),
            recent: VecDeque::new(),
        })
    }

    /// Opens the last segment of a log. After a clean shutdown its indexes are trusted and
    /// only the tail past the last index entry is checked; otherwise, or if that check
    /// fails, every batch is checked and the indexes rebuilt. A torn or corrupt tail is cut.
    pub(super) fn open(
        dir: &Path,
        base_offset: i64,
        config: &SegmentConfig,
        clean: bool,
        now_ms: i64,
    ) -> io::Result<ActiveSegment> {
        let log_path = segment_path(dir, base_offset, LOG);
        let log = OpenOptions::new().read(true).write(true).open(&log_path)?;
        let size = log.metadata()?.len();
        let resumed = if clean {
            recovery::resume(dir, base_offset, &log, size, config)?
        } else {
            None
        };
        // A clean close vouches for the batches before the last index entry, but the first
        // one is read below (its timestamp starts the segment's age): when it does not read
        // back, nothing before the tail is trusted and the whole segment is scanned.
        let resumed = match resumed {
            Some(resumed) if first_batch_reads(&log, size)? => Some(resumed),
            Some(_) => {
                tracing::warn!(dir = %dir.display(), base_offset, "first batch of the active segment does not read back after a clean close");
                None
            }
            None => None,
        };
        let (indexes, scanned) = match resumed {
            Some(resumed) => resumed,
            None => recovery::rebuild(dir, base_offset, &log, size, config, true)?,
        };
        if scanned.valid_bytes < size {
            tracing::warn!(
                dir = %dir.display(),
                base_offset,
                kept_bytes = scanned.valid_bytes,
                cut_bytes = size - scanned.valid_bytes,
                why = scanned.problem.as_deref().unwrap_or(""),
                "truncating the damaged tail of the log"
            );
            log.set_len(scanned.valid_bytes)?;
        }
        let size = scanned.valid_bytes;
        let first_timestamp = BatchInfo::read_at(&log, 0, size)?.map(|b| b.max_timestamp);
        // A process that stopped without closing may have left space reserved past the end.
        let mut reservation = Reservation::new(size.max(config.segment_bytes()));
        reservation.release(&log, size);
        Ok(ActiveSegment {
            base_offset,
            log: SegmentFile::new(&config.open_files, log_path, log),
            size,
            indexes,
            next_offset: scanned.next_offset,
            first_timestamp,
            opened_ms: now_ms,
            reservation,
            segment_bytes: config.segment_bytes(),
            recent: VecDeque::new(),
        })
    }

    pub(super) fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub(super) fn size(&self) -> u64 {
        self.size
    }

    pub(super) fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub(super) fn max_timestamp(&self) -> i64 {
        self.indexes.max_timestamp()
    }

    /// Whether `batch` must go to a new segment: this one is not empty and the batch would
    /// take it past `segment.bytes`, its offsets would not fit the indexes' 32-bit relative
    /// offsets, an index is full, or `segment.ms` has passed since the first batch — measured
    /// between batch timestamps as in Kafka, or by the clock for batches without them.
    pub(super) fn should_roll(
        &self,
        batch: &BatchInfo,
        config: &SegmentConfig,
        now_ms: i64,
    ) -> bool {
        if self.size == 0 {
            return false;
        }
        let too_big = self.size + batch.size > config.segment_bytes();
        let offsets_overflow = batch.last_offset - self.base_offset > i64::from(i32::MAX);
        let age_ms = match self.first_timestamp {
            Some(first) if first >= 0 => batch.max_timestamp.saturating_sub(first),
            _ => now_ms.saturating_sub(self.opened_ms),
        };
        too_big || offsets_overflow || self.indexes.is_full() || age_ms > config.segment_ms
    }

    /// Appends one batch at the end of the `.log`, given as its stamped first bytes (base
    /// offset, length, leader epoch) and the rest as sent, written together. On a failed write (of the `.log` or of an index entry: a full
    /// disk) the file is cut back and the segment is as it was, so a later append does not
    /// land after half a batch and the batch is not found by a restart.
    pub(super) fn append(
        &mut self,
        stamped: &[u8],
        rest: &[u8],
        batch: &BatchInfo,
    ) -> io::Result<()> {
        debug_assert_eq!(batch.position, self.size);
        debug_assert_eq!((stamped.len() + rest.len()) as u64, batch.size);
        let log = self.log.get()?;
        self.reservation
            .before_write(&log, self.size, batch.size, self.segment_bytes);
        let written = write_all_vectored_at(&log, &[stamped, rest], self.size)
            .and_then(|()| self.indexes.record(batch));
        if let Err(e) = written {
            let _ = log.set_len(self.size);
            return Err(e);
        }
        self.size += batch.size;
        self.next_offset = batch.last_offset + 1;
        self.first_timestamp.get_or_insert(batch.max_timestamp);
        if self.recent.len() == RECENT_BATCHES {
            self.recent.pop_front();
        }
        self.recent.push_back((batch.base_offset, batch.position));
        Ok(())
    }

    /// Where the batch holding `offset` starts (the segment's size when none does yet). For
    /// the latest batches this reads nothing; older ones are found through the index.
    pub(super) fn position_of(&self, offset: i64) -> io::Result<u64> {
        if offset >= self.next_offset {
            return Ok(self.size);
        }
        match self.recent.front() {
            Some(&(oldest, _)) if offset >= oldest => {
                // Offsets are dense: the batch holding `offset` is the last starting at or
                // before it.
                let after = self.recent.partition_point(|&(base, _)| base <= offset);
                Ok(self.recent[after - 1].1)
            }
            _ => {
                let log = self.log.get()?;
                Ok(self
                    .view(&log)
                    .find(offset)?
                    .map_or(self.size, |b| b.position))
            }
        }
    }

    /// The `.log`, for reads that run after the log's lock is released (opened again if the
    /// cap on open files closed it).
    pub(super) fn log_handle(&self) -> io::Result<Arc<File>> {
        self.log.get()
    }

    /// The segment as read through `log`, its `.log` from [`log_handle`](Self::log_handle).
    pub(super) fn view<'a>(&'a self, log: &'a File) -> SegmentView<'a> {
        SegmentView {
            base_offset: self.base_offset,
            log,
            size: self.size,
            offsets: &self.indexes.offsets,
            times: &self.indexes.times,
            max_timestamp: self.indexes.max_timestamp(),
        }
    }

    /// What a flush syncs: the `.log`, shared, and the paths of both indexes (an fsync of an
    /// index file writes what was stored through its mapping too).
    pub(super) fn files_to_sync(&self) -> io::Result<(Arc<File>, [PathBuf; 2])> {
        Ok((self.log.get()?, self.indexes.paths()))
    }

    /// Writes the final time-index entry and trims both indexes, for a clean close; the
    /// caller flushes next. The segment stays readable, and its now full indexes make the
    /// next append roll a new segment.
    pub(super) fn close(&mut self) -> io::Result<()> {
        self.reservation.release(&*self.log.get()?, self.size);
        self.indexes.finish()?;
        self.indexes.trim()
    }

    /// Turns this segment into a sealed one: final time-index entry, indexes trimmed. The
    /// paths of its files are returned, for the next flush to fsync. A failure here touches only the
    /// index files, which the first read of the sealed segment checks and rebuilds if need
    /// be, so it is logged rather than returned: the segment is sealed either way.
    pub(super) fn seal(mut self) -> (SealedSegment, Vec<PathBuf>) {
        match self.log.get() {
            Ok(log) => self.reservation.release(&log, self.size),
            // What was reserved past the end stays allocated (a few MiB at most): not a loss.
            Err(e) => {
                tracing::warn!(base_offset = self.base_offset, error = %e, "could not give back reserved space")
            }
        }
        if let Err(e) = self.indexes.finish().and_then(|()| self.indexes.trim()) {
            tracing::warn!(base_offset = self.base_offset, error = %e, "could not trim indexes");
        }
        let sealed = SealedSegment::new(
            self.base_offset,
            self.size,
            Some(self.indexes.max_timestamp()),
        );
        let [index, time_index] = self.indexes.paths();
        (
            sealed,
            vec![self.log.path().to_path_buf(), index, time_index],
        )
    }
}

/// Writes `parts` one after another at `position`, with as few `pwritev` calls as the kernel
/// allows.
fn write_all_vectored_at(file: &File, parts: &[&[u8]], mut position: u64) -> io::Result<()> {
    let mut parts: Vec<&[u8]> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    while !parts.is_empty() {
        let iovecs: Vec<libc::iovec> = parts
            .iter()
            .map(|p| libc::iovec {
                iov_base: p.as_ptr() as *mut libc::c_void,
                iov_len: p.len(),
            })
            .collect();
        let offset = libc::off_t::try_from(position)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "position out of range"))?;
        // SAFETY: each iovec points into a live slice of `parts` for the length of the call.
        let written = unsafe {
            libc::pwritev(
                file.as_raw_fd(),
                iovecs.as_ptr(),
                iovecs.len() as libc::c_int,
                offset,
            )
        };
        if written < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let mut written = written as usize;
        position += written as u64;
        while written > 0 {
            if written >= parts[0].len() {
                written -= parts[0].len();
                parts.remove(0);
            } else {
                parts[0] = &parts[0][written..];
                written = 0;
            }
        }
    }
    Ok(())
}

/// Whether the segment's first batch header reads back (an empty segment does).
fn first_batch_reads(log: &File, size: u64) -> io::Result<bool> {
    match BatchInfo::read_at(log, 0, size) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(false),
        Err(e) => Err(e),
    }
}
