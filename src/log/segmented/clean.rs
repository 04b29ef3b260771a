//! Compaction of a [`SegmentedLog`] (see [`cleaner`](crate::log::cleaner) for the rules), in
//! three steps so that the partition's lock is held only to plan and to swap:
//!
//! 1. [`SegmentedLog::clean_job`], under the lock: which sealed segments are cleanable, each
//!    with its `.log` opened (sealed segments never change, and an open handle keeps a
//!    deleted one readable).
//! 2. [`SegmentsJob::run`], without the lock: the offset map is built from the dirty
//!    segments; each segment that changes is written to `<base>.log.cleaned` (its indexes to
//!    `<base>.index.cleaned` and `<base>.timeindex.cleaned`), fsynced, and renamed to
//!    `<base>.log.swap` — from then on it replaces the original even after a crash
//!    ([`files::finish_swaps`]) — and the directory is fsynced. Segments are swapped
//!    oldest first, so a crash part-way leaves older segments cleaned and newer ones not:
//!    a tombstone is only ever dropped after every older record of its key has gone.
//! 3. [`SegmentedLog::install_cleaned`], under the lock: each old segment is marked deleted
//!    and closed in the cache, the new index files renamed over its old ones, and
//!    `<base>.log.swap` renamed over `<base>.log`. A read planned before holds the old `.log`
//!    (or its open segment, whose index maps stay valid over the replaced files), so it reads
//!    the old version whole; a read planned after opens the new one.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::{SegmentConfig, SegmentedLog};
use crate::log::batch_info::BatchInfo;
use crate::log::cleaner::{
    clean_batch, map_batch, map_for, CleanParams, CleanStats, Cleanable, Kept, Throttle,
    Transactions,
};
use crate::log::files::{
    self, cleaner_path, segment_path, CLEANED_SUFFIX, INDEX, LOG, SWAP_SUFFIX, TIME_INDEX,
};
use crate::log::indexes::SegmentIndexes;
use crate::log::sealed::SealedSegment;
use crate::log::segment::read_batches;
use crate::record::batch::split_batches;

/// Bytes read at a time while cleaning.
const READ_CHUNK_BYTES: usize = 1 << 20;

/// The cleanable segments of a log, to be cleaned without its lock.
pub struct SegmentsJob {
    dir: PathBuf,
    config: SegmentConfig,
    first_dirty: i64,
    segments: Vec<ToClean>,
}

struct ToClean {
    base: i64,
    /// The next segment's base: where this one's offsets end.
    end_offset: i64,
    size: u64,
    sealed: Arc<SealedSegment>,
    log: File,
    modified: SystemTime,
    /// Below the first dirty offset: cleaned by an earlier pass.
    previously_cleaned: bool,
}

/// What a run wrote: segments to swap in.
pub struct SegmentsCleaned {
    swaps: Vec<Swap>,
    stats: CleanStats,
}

struct Swap {
    base: i64,
    old: Arc<SealedSegment>,
    size: u64,
    max_timestamp: i64,
}

impl SegmentedLog {
    /// What is cleanable, and — when a pass is due — the job that cleans it.
    pub(crate) fn clean_job(
        &self,
        params: &CleanParams,
    ) -> io::Result<(Cleanable, Option<SegmentsJob>)> {
        let cleanable = self.cleanable(params)?;
        if !cleanable.due(params.min_cleanable_dirty_ratio) {
            return Ok((cleanable, None));
        }
        let mut segments = Vec::new();
        for (&base, sealed) in self.sealed.range(..cleanable.end) {
            let path = segment_path(&self.dir, base, LOG);
            let log = File::open(&path)?;
            let modified = log.metadata()?.modified().unwrap_or(UNIX_EPOCH);
            segments.push(ToClean {
                base,
                end_offset: self.next_base(base),
                size: sealed.size,
                sealed: sealed.clone(),
                log,
                modified,
                previously_cleaned: base < cleanable.first_dirty,
            });
        }
        let job = SegmentsJob {
            dir: self.dir.clone(),
            config: self.config.clone(),
            first_dirty: cleanable.first_dirty,
            segments,
        };
        Ok((cleanable, Some(job)))
    }

    /// The cleanable part: whole sealed segments below the last stable offset and older
    /// than `min.compaction.lag.ms`.
    fn cleanable(&self, params: &CleanParams) -> io::Result<Cleanable> {
        let first_base = self.first_base();
        let first_dirty = self.cleaned_offset.max(first_base);
        let lag_limit = params.now_ms.saturating_sub(params.min_compaction_lag_ms);
        let mut cleanable = Cleanable {
            first_dirty,
            end: first_base,
            ..Cleanable::default()
        };
        let bases: Vec<(i64, u64)> = self
            .sealed
            .values()
            .map(|s| (s.base_offset, s.size))
            .collect();
        for (base, size) in bases {
            let next = self.next_base(base);
            if next > params.last_stable_offset {
                break;
            }
            if params.min_compaction_lag_ms > 0 && self.max_timestamp_of(base)? > lag_limit {
                break;
            }
            if base >= first_dirty {
                if cleanable.dirty_bytes == 0 && params.max_compaction_lag_ms < i64::MAX {
                    let newest = self.retention_timestamp(base, params.now_ms)?;
                    cleanable.max_lag_exceeded =
                        params.now_ms.saturating_sub(newest) > params.max_compaction_lag_ms;
                }
                cleanable.dirty_bytes += size;
            } else {
                cleanable.clean_bytes += size;
            }
            cleanable.end = next;
        }
        // Unknown after a restart (`i64::MIN`): looked at once.
        cleanable.tombstones_due = cleanable.clean_bytes > 0
            && self
                .tombstone_horizon_ms
                .is_some_and(|horizon| horizon <= params.now_ms);
        Ok(cleanable)
    }

    /// Swaps in what a run cleaned: see the module's step 3. A segment deleted meanwhile
    /// (retention, DeleteRecords) is not brought back: its `.swap` is deleted.
    pub(crate) fn install_cleaned(&mut self, cleaned: SegmentsCleaned) -> io::Result<CleanStats> {
        for swap in cleaned.swaps {
            let swap_path = cleaner_path(&self.dir, swap.base, SWAP_SUFFIX);
            let current = self.sealed.get(&swap.base).cloned();
            match current {
                Some(current) if Arc::ptr_eq(&current, &swap.old) => {
                    current.mark_deleted();
                    self.open_sealed.forget(swap.base);
                    // The new indexes replace the old before the new `.log` does: a crash in
                    // between is a `.log.swap` beside its `.log`, which recovery finishes by
                    // deleting the indexes (reads rebuild them) and renaming the swap.
                    for extension in [INDEX, TIME_INDEX] {
                        let index = segment_path(&self.dir, swap.base, extension);
                        let mut cleaned = index.clone().into_os_string();
                        cleaned.push(CLEANED_SUFFIX);
                        match fs::rename(&cleaned, &index) {
                            Ok(()) => {}
                            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                                files::remove_if_present(&index)?;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    fs::rename(&swap_path, segment_path(&self.dir, swap.base, LOG))?;
                    self.sealed_bytes = self.sealed_bytes - current.size + swap.size;
                    let new = SealedSegment::new(swap.base, swap.size, Some(swap.max_timestamp));
                    self.sealed.insert(swap.base, Arc::new(new));
                    self.dir_changes += 1;
                }
                _ => {
                    files::remove_if_present(&swap_path)?;
                    for extension in [INDEX, TIME_INDEX] {
                        let mut cleaned =
                            segment_path(&self.dir, swap.base, extension).into_os_string();
                        cleaned.push(CLEANED_SUFFIX);
                        files::remove_if_present(&PathBuf::from(cleaned))?;
                    }
                }
            }
        }
        self.cleaned_offset = self.cleaned_offset.max(cleaned.stats.cleaned_to);
        self.tombstone_horizon_ms = cleaned.stats.tombstone_horizon_ms;
        Ok(cleaned.stats)
    }
}

impl SegmentsJob {
    /// Builds the offset map and writes the cleaned segments (see the module's step 2).
    pub fn run(self, params: &CleanParams, throttle: &Throttle) -> io::Result<SegmentsCleaned> {
        let mut written = Vec::new();
        let result = self.run_inner(params, throttle, &mut written);
        if result.is_err() {
            // Not swapped in: what this run wrote goes, so a restart does not swap it in.
            for path in written {
                let _ = files::remove_if_present(&path);
            }
        }
        result
    }

    fn run_inner(
        &self,
        params: &CleanParams,
        throttle: &Throttle,
        written: &mut Vec<PathBuf>,
    ) -> io::Result<SegmentsCleaned> {
        let mut stats = CleanStats {
            cleaned_to: self.first_dirty,
            ..CleanStats::default()
        };
        let dirty: Vec<&ToClean> = self
            .segments
            .iter()
            .filter(|s| !s.previously_cleaned)
            .collect();
        let span: u64 = dirty
            .iter()
            .map(|s| u64::try_from(s.end_offset - s.base).unwrap_or(0))
            .sum();
        let mut map = map_for(span, params.dedupe_buffer_bytes);
        for segment in dirty {
            // Dirty segments were never cleaned, so their offsets are dense: the span is
            // the most keys they can add.
            let keys = usize::try_from(segment.end_offset - segment.base).unwrap_or(usize::MAX);
            if !map.has_room_for(keys) {
                break;
            }
            let mut complete = true;
            for_each_batch(segment, params, throttle, &mut stats, |bytes| {
                complete = complete && map_batch(&bytes, &mut map, params)?;
                Ok(())
            })?;
            if !complete {
                break;
            }
            stats.cleaned_to = segment.end_offset;
        }
        if stats.cleaned_to <= self.first_dirty && span > 0 {
            tracing::warn!(
                dir = %self.dir.display(),
                dedupe_buffer_bytes = params.dedupe_buffer_bytes,
                "the cleaner's offset map cannot hold one dirty segment; raise log_cleaner_dedupe_buffer_bytes"
            );
            return Ok(SegmentsCleaned {
                swaps: Vec::new(),
                stats,
            });
        }
        let mut swaps = Vec::new();
        let mut txns = Transactions::default();
        let cleaned_to = stats.cleaned_to;
        for segment in self.segments.iter().filter(|s| s.base < cleaned_to) {
            let rules = (&map, params, throttle);
            if let Some(swap) = self.rewrite(segment, rules, &mut stats, written, &mut txns)? {
                swaps.push(swap);
            }
        }
        if !swaps.is_empty() {
            files::sync_dir(&self.dir)?;
        }
        Ok(SegmentsCleaned { swaps, stats })
    }

    /// Writes the cleaned version of one segment and makes it its `.swap`; `None` when
    /// nothing in it changes.
    fn rewrite(
        &self,
        segment: &ToClean,
        (map, params, throttle): (&crate::log::cleaner::OffsetMap, &CleanParams, &Throttle),
        stats: &mut CleanStats,
        written: &mut Vec<PathBuf>,
        txns: &mut Transactions,
    ) -> io::Result<Option<Swap>> {
        let modified_ms = segment
            .modified
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let keep_tombstones = !segment.previously_cleaned
            || params.now_ms < modified_ms.saturating_add(params.delete_retention_ms);
        let cleaned_path = cleaner_path(&self.dir, segment.base, CLEANED_SUFFIX);
        written.push(cleaned_path.clone());
        let mut out = BufWriter::with_capacity(READ_CHUNK_BYTES, File::create(&cleaned_path)?);
        let mut indexes =
            SegmentIndexes::create_beside(&self.dir, segment.base, &self.config, CLEANED_SUFFIX)?;
        written.extend(indexes.paths());
        let mut changed = false;
        let mut size = 0u64;
        let mut max_timestamp = i64::MIN;
        let mut removed = 0;
        let mut tombstones_kept = false;
        for_each_batch(segment, params, throttle, stats, |bytes| {
            let kept = match clean_batch(
                &bytes,
                map,
                params,
                keep_tombstones,
                &mut tombstones_kept,
                txns,
            )? {
                Kept::All => Some(bytes.to_vec()),
                Kept::Rebuilt { bytes, removed: r } => {
                    removed += r;
                    changed = true;
                    Some(bytes)
                }
                Kept::Nothing { removed: r } => {
                    removed += r;
                    changed = true;
                    None
                }
            };
            if let Some(kept) = kept {
                let info = BatchInfo::parse(size, &kept)?;
                indexes.record(&info)?;
                max_timestamp = max_timestamp.max(info.max_timestamp);
                out.write_all(&kept)?;
                throttle.account(kept.len());
                size += kept.len() as u64;
            }
            Ok(())
        })?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        // The delete horizon counts from a segment's first cleaning: a first cleaning
        // stamps the broker's time, a later one keeps the stamp.
        let (stamp, stamp_ms) = if segment.previously_cleaned {
            (segment.modified, modified_ms)
        } else {
            let ms = u64::try_from(params.now_ms).unwrap_or(0);
            (UNIX_EPOCH + Duration::from_millis(ms), params.now_ms)
        };
        if tombstones_kept {
            let horizon = stamp_ms.saturating_add(params.delete_retention_ms);
            stats.tombstone_horizon_ms = Some(
                stats
                    .tombstone_horizon_ms
                    .map_or(horizon, |h| h.min(horizon)),
            );
        }
        let index_paths = indexes.paths();
        if !changed {
            drop(file);
            drop(indexes);
            files::remove_if_present(&cleaned_path)?;
            for path in &index_paths {
                files::remove_if_present(path)?;
            }
            if !segment.previously_cleaned {
                // Cleaned now, though nothing changed: the stamp still says since when.
                segment.log.set_modified(stamp)?;
            }
            return Ok(None);
        }
        // Indexes as sealing leaves them; not fsynced: a damaged one is rebuilt on open.
        indexes.finish()?;
        indexes.trim()?;
        drop(indexes);
        file.sync_all()?;
        file.set_modified(stamp)?;
        drop(file);
        let swap_path = cleaner_path(&self.dir, segment.base, SWAP_SUFFIX);
        fs::rename(&cleaned_path, &swap_path)?;
        written.push(swap_path);
        stats.bytes_written += size;
        stats.bytes_before += segment.size;
        stats.bytes_after += size;
        stats.segments_rewritten += 1;
        stats.records_removed += removed;
        Ok(Some(Swap {
            base: segment.base,
            old: segment.sealed.clone(),
            size,
            max_timestamp,
        }))
    }
}

/// Visits every batch of a segment, read a chunk at a time through the throttle.
fn for_each_batch(
    segment: &ToClean,
    params: &CleanParams,
    throttle: &Throttle,
    stats: &mut CleanStats,
    mut visit: impl FnMut(Bytes) -> io::Result<()>,
) -> io::Result<()> {
    let mut position = 0u64;
    while position < segment.size {
        params.check_stop()?;
        let mut budget = READ_CHUNK_BYTES;
        let mut chunks = Vec::new();
        read_batches(
            &segment.log,
            segment.size,
            position,
            &mut budget,
            true,
            &mut chunks,
        )?;
        let mut read = 0u64;
        for chunk in chunks {
            read += chunk.len() as u64;
            let batches = split_batches(&chunk)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            for batch in batches {
                visit(batch)?;
            }
        }
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "segment {} cannot be read past byte {position}",
                    segment.base
                ),
            ));
        }
        throttle.account(read as usize);
        stats.bytes_read += read;
        position += read;
    }
    Ok(())
}
