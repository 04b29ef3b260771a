//! The log on disk: a directory of segments (see [`super::files`] for the layout),
//! appended to at the last, the active one; all others are sealed and never change.
//!
//! Opening costs a directory listing and a `stat` per segment, whatever the log's size:
//! sealed segments are opened on first read (see [`sealed`](super::sealed)), and only the
//! active segment is read back — fully after a crash, its tail only after a clean close.
//!
//! Durability is the caller's policy, as in Kafka: appends go to the page cache, and
//! [`Log::flush`] fsyncs everything appended so far. The active segment reserves disk space
//! ahead of its end (see [`reserve`](super::reserve)), given back when it is sealed. Dropping a log without
//! [`Log::close`] is a crash as far as the next open is concerned.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;

use super::active::ActiveSegment;
use super::batch_info::BatchInfo;
use super::cleaner::{CleanJob, CleanParams, CleanStats, Cleanable, Cleaned};
use super::files::{self, segment_path, LOG};
use super::open_files::OpenFiles;
use super::read::SegmentRead;
use super::sealed::{OpenSegment, OpenSegments, SealedSegment, ToOpen};
use super::{BatchMeta, FlushPlan, Log, ReadPlan, TimestampPlan, TimestampTarget};
use crate::clock::Clock;
use crate::record::batch::{HEADER_BYTES, LEADER_EPOCH_AT, STAMPED_BYTES};

/// Sealed segments kept open per log: enough for consumers reading a little behind the
/// tail, small enough for thousands of partitions.
const OPEN_SEALED_SEGMENTS: usize = 2;

/// How a [`SegmentedLog`] cuts and indexes its segments (Kafka's topic settings of the same
/// names).
#[derive(Debug, Clone)]
pub struct SegmentConfig {
    /// `segment.bytes`: a segment is rolled before it would grow past this. Capped at
    /// `i32::MAX`, as in Kafka, so positions fit the index's 32 bits.
    pub segment_bytes: u64,
    /// `segment.ms`: a segment is rolled once its batches span more than this. As in Kafka,
    /// the span is between the first batch's timestamp and the new batch's; for batches
    /// without timestamps, it is the time since the segment was opened, by `clock`.
    pub segment_ms: i64,
    /// `index.interval.bytes`: bytes appended between two offset-index entries.
    pub index_interval_bytes: usize,
    /// `segment.index.bytes`: the size each index file is pre-allocated to; a segment whose
    /// index fills up rolls. At least two entries fit whatever the value.
    pub max_index_bytes: usize,
    /// The clock for `segment.ms` when batches carry no timestamps.
    pub clock: Clock,
    /// The cap on segment files held open, shared by every log of a broker.
    pub open_files: Arc<OpenFiles>,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            index_interval_bytes: 4096,
            max_index_bytes: 10 * 1024 * 1024,
            clock: Clock::System,
            open_files: Arc::default(),
        }
    }
}

impl SegmentConfig {
    pub(crate) fn segment_bytes(&self) -> u64 {
        self.segment_bytes.min(i32::MAX as u64)
    }

    /// Entries an index file of `entry_bytes`-byte entries is allocated for.
    pub(crate) fn max_entries(&self, entry_bytes: usize) -> usize {
        (self.max_index_bytes / entry_bytes).max(2)
    }
}

/// A [`Log`] in a directory of segment files.
pub struct SegmentedLog {
    dir: PathBuf,
    config: SegmentConfig,
    /// Shared with reads that open a segment after the lock is released.
    sealed: BTreeMap<i64, Arc<SealedSegment>>,
    sealed_bytes: u64,
    active: ActiveSegment,
    open_sealed: Arc<OpenSegments>,
    start_offset: i64,
    /// Files of segments sealed since the last flush, which it must fsync.
    unsynced: Vec<PathBuf>,
    /// Creations and deletions of files in `dir`, counted; and how many of them a
    /// completed flush has made durable.
    dir_changes: u64,
    dir_changes_synced: u64,
    /// Whether the clean-shutdown marker is on disk: written by `close`, removed by the
    /// next append, so a crash after that append is recovered as one.
    clean_marker: bool,
    /// Where the cleaner's last pass stopped (compacted topics); persisted after each pass.
    cleaned_offset: i64,
    /// When the earliest tombstone the last pass kept passes the delete horizon; `None`
    /// when it kept none. Not persisted: after a restart, a pass looks once.
    tombstone_horizon_ms: Option<i64>,
}

impl SegmentedLog {
    /// Opens the log in `dir`, creating the directory and an empty first segment if need be,
    /// and recovering the active segment if the log was not closed cleanly.
    pub fn open(dir: &Path, config: SegmentConfig) -> io::Result<SegmentedLog> {
        fs::create_dir_all(dir)?;
        if files::finish_reset(dir)? {
            tracing::info!(dir = %dir.display(), "finished a reset interrupted by a restart");
        }
        let clean = files::take_clean_marker(dir)?;
        let bases = files::list_segments(dir)?;
        let persisted_start = files::read_start_offset(dir)?;
        let now_ms = config.clock.now_ms();
        let (active, sealed_bases) = match bases.split_last() {
            Some((&last, sealed)) => (
                ActiveSegment::open(dir, last, &config, clean, now_ms)?,
                sealed,
            ),
            None => {
                let base = persisted_start
                    .filter(|s| s.verified)
                    .map_or(0, |s| s.offset);
                (ActiveSegment::create(dir, base, &config, now_ms)?, &[][..])
            }
        };
        let mut sealed = BTreeMap::new();
        let mut sealed_bytes = 0;
        for &base in sealed_bases {
            let size = fs::metadata(segment_path(dir, base, LOG))?.len();
            sealed_bytes += size;
            sealed.insert(base, Arc::new(SealedSegment::new(base, size, None)));
        }
        let mut log = SegmentedLog {
            dir: dir.to_path_buf(),
            config,
            sealed,
            sealed_bytes,
            active,
            open_sealed: Arc::new(OpenSegments::new(OPEN_SEALED_SEGMENTS)),
            start_offset: 0,
            unsynced: Vec::new(),
            dir_changes: u64::from(bases.is_empty()),
            dir_changes_synced: 0,
            clean_marker: false,
            cleaned_offset: files::read_cleaned_offset(dir),
            tombstone_horizon_ms: Some(i64::MIN),
        };
        let first_base = log.first_base();
        // Only a checkpoint that proves itself may move the start past the end (and so empty
        // the log); an unverified one is believed only within what the log holds.
        let start = match persisted_start {
            Some(start) if start.verified || start.offset <= log.end_offset() => start.offset,
            Some(start) => {
                tracing::warn!(
                    dir = %dir.display(),
                    start_offset = start.offset,
                    end_offset = log.end_offset(),
                    "ignoring an unverified log start offset past the end of the log"
                );
                // Replaced, so that the next open, after appends have taken the end past
                // it, does not believe it then (found by fuzzing: the start moved forward
                // over acknowledged records at the second open).
                files::write_start_offset(dir, first_base)?;
                first_base
            }
            None => first_base,
        };
        log.start_offset = start.max(first_base);
        if log.start_offset > log.end_offset() {
            // A cut tail took the end below the start DeleteRecords had set. As Kafka does,
            // start over, empty, at the start offset: offsets below it were deleted anyway.
            tracing::warn!(
                dir = %dir.display(),
                start_offset = log.start_offset,
                "log ends before its start offset; emptying it"
            );
            log.reset_at(log.start_offset)?;
        }
        log.delete_segments_below_start()?;
        Ok(log)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn first_base(&self) -> i64 {
        self.sealed
            .keys()
            .next()
            .copied()
            .unwrap_or(self.active.base_offset())
    }

    /// The base offset of the segment after the one at `base`: where `base`'s batches end.
    fn next_base(&self, base: i64) -> i64 {
        self.sealed
            .range(base + 1..)
            .next()
            .map_or(self.active.base_offset(), |(&next, _)| next)
    }

    /// The base offsets of the segment holding `offset` and of every later one.
    fn bases_from(&self, offset: i64) -> impl Iterator<Item = i64> + '_ {
        let active = self.active.base_offset();
        let first = if offset >= active {
            active
        } else {
            self.sealed
                .range(..=offset)
                .next_back()
                .map_or(i64::MIN, |(&base, _)| base)
        };
        self.sealed
            .range(first..)
            .map(|(&base, _)| base)
            .chain(std::iter::once(active))
    }

    fn sealed_at(&self, base: i64) -> io::Result<&Arc<SealedSegment>> {
        self.sealed
            .get(&base)
            .ok_or_else(|| io::Error::other(format!("no segment at {base}")))
    }

    fn open_sealed(&self, base: i64) -> io::Result<Arc<OpenSegment>> {
        let segment = self.sealed_at(base)?;
        self.open_sealed
            .get(&self.dir, segment, self.next_base(base), &self.config, None)
    }

    fn max_timestamp_of(&self, base: i64) -> io::Result<i64> {
        if base == self.active.base_offset() {
            return Ok(self.active.max_timestamp());
        }
        match self.sealed.get(&base).and_then(|s| s.known_max_timestamp()) {
            Some(max) => Ok(max),
            None => Ok(self.open_sealed(base)?.view().max_timestamp),
        }
    }

    /// Seals the active segment and starts a new one at the end offset.
    fn roll(&mut self, now_ms: i64) -> io::Result<()> {
        let next = ActiveSegment::create(&self.dir, self.end_offset(), &self.config, now_ms)?;
        let (sealed, paths) = std::mem::replace(&mut self.active, next).seal();
        self.sealed_bytes += sealed.size;
        self.sealed.insert(sealed.base_offset, Arc::new(sealed));
        self.unsynced.extend(paths);
        self.dir_changes += 1;
        Ok(())
    }

    fn delete_sealed(&mut self, base: i64) -> io::Result<()> {
        if let Some(segment) = self.sealed.get(&base) {
            segment.mark_deleted();
        }
        self.open_sealed.forget(base);
        files::remove_segment(&self.dir, base)?;
        if let Some(segment) = self.sealed.remove(&base) {
            self.sealed_bytes -= segment.size;
        }
        self.dir_changes += 1;
        Ok(())
    }

    /// Deletes the sealed segments whose every offset is below the start offset.
    fn delete_segments_below_start(&mut self) -> io::Result<()> {
        while let Some(&base) = self.sealed.keys().next() {
            if self.next_base(base) > self.start_offset {
                break;
            }
            self.delete_sealed(base)?;
        }
        Ok(())
    }

    /// Deletes every segment and starts a new, empty one at `offset`.
    fn reset_at(&mut self, offset: i64) -> io::Result<()> {
        let bases: Vec<i64> = self.sealed.keys().copied().collect();
        for base in bases {
            self.delete_sealed(base)?;
        }
        let now_ms = self.config.clock.now_ms();
        let old = self.active.base_offset();
        self.active = ActiveSegment::create(&self.dir, offset, &self.config, now_ms)?;
        if old != offset {
            files::remove_segment(&self.dir, old)?;
        }
        self.dir_changes += 1;
        Ok(())
    }

    /// The largest timestamp of a sealed segment as retention sees it: as in Kafka, the
    /// `.log` file's modification time when its batches carry no timestamps.
    fn retention_timestamp(&self, base: i64, now_ms: i64) -> io::Result<i64> {
        let max = self.max_timestamp_of(base)?;
        if max >= 0 {
            return Ok(max);
        }
        let modified = fs::metadata(segment_path(&self.dir, base, LOG))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        Ok(modified.map_or(now_ms, |d| d.as_millis() as i64))
    }
}

impl Log for SegmentedLog {
    /// The marker first (the commit point), then every file removed, then a fresh log opened
    /// in the same directory. Files still open for reads planned before the reset stay
    /// readable until those reads drop them (unlinked files live on while open).
    fn reset(&mut self) -> io::Result<()> {
        files::begin_reset(&self.dir)?;
        files::finish_reset(&self.dir)?;
        let fresh = SegmentedLog::open(&self.dir, self.config.clone())?;
        *self = fresh;
        // The new first segment's directory entry, so a restart finds the log at 0.
        files::sync_dir(&self.dir)?;
        self.dir_changes_synced = self.dir_changes;
        Ok(())
    }

    fn reconfigure(&mut self, config: SegmentConfig) {
        self.config = config;
    }

    fn dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    fn active_base_offset(&self) -> i64 {
        self.active.base_offset()
    }

    fn segment_bases(&self) -> Vec<i64> {
        let sealed = self.sealed.keys().copied();
        sealed.chain([self.active.base_offset()]).collect()
    }

    /// The batch's own header is what is stored and what recovery reads back, so it must
    /// agree with `meta` on offsets; its max timestamp is the one indexed.
    fn append(&mut self, batch: Bytes, meta: BatchMeta) -> io::Result<()> {
        let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
        // The header as stored: the producer's base offset and leader epoch replaced by
        // ours (both lie before the CRC's range, so the CRC still holds).
        let mut header = [0u8; HEADER_BYTES];
        let sent = batch
            .get(..HEADER_BYTES)
            .ok_or_else(|| invalid(format!("a batch of {} bytes has no header", batch.len())))?;
        header.copy_from_slice(sent);
        header[..8].copy_from_slice(&meta.base_offset.to_be_bytes());
        header[LEADER_EPOCH_AT..STAMPED_BYTES].copy_from_slice(&meta.leader_epoch.to_be_bytes());
        let info =
            BatchInfo::parse(self.active.size(), &header).map_err(|e| invalid(e.to_string()))?;
        if meta.base_offset != self.end_offset()
            || info.last_offset != meta.last_offset
            || info.size != batch.len() as u64
        {
            return Err(invalid(format!(
                "batch {meta:?} of {} bytes does not continue the log at offset {}",
                batch.len(),
                self.end_offset()
            )));
        }
        if self.clean_marker {
            files::remove_clean_marker(&self.dir)?;
            self.clean_marker = false;
        }
        let now_ms = self.config.clock.now_ms();
        if self.active.should_roll(&info, &self.config, now_ms) {
            self.roll(now_ms)?;
        }
        let info = BatchInfo {
            position: self.active.size(),
            ..info
        };
        self.active
            .append(&header[..STAMPED_BYTES], &batch[STAMPED_BYTES..], &info)
    }

    fn read_plan(&self, offset: i64, max_bytes: usize, min_one: bool) -> io::Result<ReadPlan> {
        let mut segments = Vec::new();
        if offset < self.start_offset || offset >= self.end_offset() {
            return Ok(ReadPlan::segments(segments, max_bytes, min_one));
        }
        // The first segment is read from the batch holding `offset`, the next from their
        // start; segments are planned until their bytes could fill `max_bytes`.
        let mut from = Some(offset);
        let mut planned = 0u64;
        for base in self.bases_from(offset) {
            if base == self.active.base_offset() {
                let position = match from.take() {
                    Some(offset) => self.active.position_of(offset)?,
                    None => 0,
                };
                segments.push(SegmentRead::Active {
                    log: self.active.log_handle()?,
                    position,
                    size: self.active.size(),
                });
            } else {
                let sealed = self.sealed_at(base)?;
                let from_offset = from.take();
                if from_offset.is_none() {
                    // Where in the first segment the read starts is found later: only the
                    // segments after it count.
                    planned += sealed.size;
                }
                segments.push(match self.open_sealed.get_open(base) {
                    Some(segment) => SegmentRead::Sealed {
                        segment,
                        from_offset,
                    },
                    None => SegmentRead::Unopened {
                        segment: Box::new(ToOpen {
                            cache: self.open_sealed.clone(),
                            dir: self.dir.clone(),
                            segment: sealed.clone(),
                            end_offset: self.next_base(base),
                            config: self.config.clone(),
                            log: fs::File::open(segment_path(&self.dir, base, LOG))?,
                        }),
                        from_offset,
                    },
                });
            }
            if planned > 0 && planned >= max_bytes as u64 {
                break;
            }
        }
        Ok(ReadPlan::segments(segments, max_bytes, min_one))
    }

    fn start_offset(&self) -> i64 {
        self.start_offset
    }

    fn end_offset(&self) -> i64 {
        self.active.next_offset()
    }

    fn size_bytes(&self) -> u64 {
        self.sealed_bytes + self.active.size()
    }

    fn timestamp_plan(&self, target: TimestampTarget) -> io::Result<TimestampPlan> {
        self.plan_timestamp_lookup(target)
    }

    fn flush_plan(&self) -> io::Result<FlushPlan> {
        let (log, indexes) = self.active.files_to_sync()?;
        let mut paths = self.unsynced.clone();
        paths.extend(indexes);
        Ok(FlushPlan {
            files: vec![log],
            paths,
            dir: (self.dir_changes > self.dir_changes_synced)
                .then(|| (self.dir.clone(), self.dir_changes)),
        })
    }

    fn flushed(&mut self, plan: &FlushPlan) {
        self.unsynced.retain(|path| !plan.paths.contains(path));
        if let Some((_, changes)) = plan.dir {
            self.dir_changes_synced = self.dir_changes_synced.max(changes);
        }
    }

    fn delete_records_before(&mut self, offset: i64) -> io::Result<()> {
        if offset > self.end_offset() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot delete records before {offset}: the log ends at {}",
                    self.end_offset()
                ),
            ));
        }
        if offset <= self.start_offset {
            return Ok(());
        }
        files::write_start_offset(&self.dir, offset)?;
        self.start_offset = offset;
        self.delete_segments_below_start()
    }

    fn apply_retention(
        &mut self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
    ) -> io::Result<usize> {
        let mut deleted = 0;
        if retention_ms >= 0 {
            while let Some(&base) = self.sealed.keys().next() {
                let largest = self.retention_timestamp(base, now_ms)?;
                if now_ms.saturating_sub(largest) <= retention_ms {
                    break;
                }
                self.delete_sealed(base)?;
                deleted += 1;
            }
        }
        if let Ok(limit) = u64::try_from(retention_bytes) {
            // As in Kafka: delete the oldest while what remains would still be at the limit.
            while let Some((base, size)) =
                self.sealed.values().next().map(|s| (s.base_offset, s.size))
            {
                if self.size_bytes() - size < limit {
                    break;
                }
                self.delete_sealed(base)?;
                deleted += 1;
            }
        }
        self.start_offset = self.start_offset.max(self.first_base());
        Ok(deleted)
    }

    fn tidy_for_close(&mut self) -> io::Result<()> {
        self.active.close()
    }

    fn clean_job(&self, params: &CleanParams) -> io::Result<(Cleanable, Option<CleanJob>)> {
        let (cleanable, job) = SegmentedLog::clean_job(self, params)?;
        Ok((cleanable, job.map(CleanJob::Segments)))
    }

    fn install_cleaned(&mut self, cleaned: Cleaned) -> io::Result<CleanStats> {
        match cleaned {
            Cleaned::Segments(cleaned) => SegmentedLog::install_cleaned(self, cleaned),
            Cleaned::Memory(_) => Err(io::Error::other("batches cleaned for a log on disk")),
        }
    }

    fn mark_clean(&mut self) -> io::Result<()> {
        // Everything is durable now: nothing is left for a flush to sync.
        self.unsynced.clear();
        self.dir_changes_synced = self.dir_changes;
        files::write_clean_marker(&self.dir)?;
        self.clean_marker = true;
        Ok(())
    }
}

mod clean;
#[cfg(test)]
mod tests;
mod timestamp_plan;
pub use clean::{SegmentsCleaned, SegmentsJob};
