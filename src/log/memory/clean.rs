//! Compaction of a [`MemoryLog`] (see [`cleaner`](crate::log::cleaner) for the rules): its
//! batches are shared `Bytes`, so a job takes them under the lock, cleans them without it,
//! and the cleaned batches replace the originals under the lock — those still there (a
//! batch deleted meanwhile by retention or DeleteRecords stays deleted). The batches of what
//! would be the active segment on disk are never cleaned, as Kafka never cleans the active
//! segment; each batch remembers when it was first cleaned, for the delete horizon.

use std::io;

use bytes::Bytes;

use super::{copy_stamped, MemoryLog, StoredBatch};
use crate::log::cleaner::{
    clean_batch, map_batch, map_for, CleanParams, CleanStats, Cleanable, Kept, Throttle,
    Transactions,
};
use crate::log::BatchMeta;

pub struct MemoryJob {
    first_dirty: i64,
    /// Cleanable batches, stamped with their offsets, and when each was first cleaned.
    batches: Vec<(BatchMeta, Bytes, Option<i64>)>,
}

pub struct MemoryCleaned {
    /// By base offset: the new bytes (`None`: the batch goes).
    replaced: Vec<(i64, Option<Bytes>)>,
    stats: CleanStats,
    cleaned_at_ms: i64,
}

impl MemoryLog {
    pub(crate) fn clean_job(&self, params: &CleanParams) -> (Cleanable, Option<MemoryJob>) {
        let lag_limit = params.now_ms.saturating_sub(params.min_compaction_lag_ms);
        let first_dirty = self.cleaned_offset.max(self.start_offset);
        let mut cleanable = Cleanable {
            first_dirty,
            end: self.start_offset,
            ..Cleanable::default()
        };
        let mut taken = Vec::new();
        let active = self.active_segment_base();
        for batch in &self.batches {
            if batch.meta.last_offset >= active
                || batch.meta.last_offset >= params.last_stable_offset
                || (params.min_compaction_lag_ms > 0 && batch.meta.max_timestamp > lag_limit)
            {
                break;
            }
            let size = batch.bytes.len() as u64;
            if batch.meta.base_offset >= first_dirty {
                if cleanable.dirty_bytes == 0 {
                    cleanable.max_lag_exceeded =
                        params.now_ms.saturating_sub(batch.meta.max_timestamp)
                            > params.max_compaction_lag_ms;
                }
                cleanable.dirty_bytes += size;
            } else {
                cleanable.clean_bytes += size;
            }
            cleanable.end = batch.meta.last_offset + 1;
            taken.push(batch);
        }
        cleanable.tombstones_due = cleanable.clean_bytes > 0
            && self
                .tombstone_horizon_ms
                .is_some_and(|horizon| horizon <= params.now_ms);
        if !cleanable.due(params.min_cleanable_dirty_ratio) {
            return (cleanable, None);
        }
        let batches = taken
            .into_iter()
            .map(|b| (b.meta, stamped(b), b.cleaned_ms))
            .collect();
        (
            cleanable,
            Some(MemoryJob {
                first_dirty,
                batches,
            }),
        )
    }

    pub(crate) fn install_cleaned(&mut self, cleaned: MemoryCleaned) -> CleanStats {
        let now_ms = cleaned.cleaned_at_ms;
        for (base, bytes) in cleaned.replaced {
            let at = self.position(base);
            let Some(batch) = self.batches.get_mut(at) else {
                continue;
            };
            if batch.meta.base_offset != base {
                continue;
            }
            self.size_bytes -= batch.bytes.len() as u64;
            match bytes {
                Some(bytes) => {
                    self.size_bytes += bytes.len() as u64;
                    batch.bytes = bytes;
                    batch.cleaned_ms.get_or_insert(now_ms);
                }
                None => {
                    self.batches.remove(at);
                }
            }
        }
        for batch in self.batches.iter_mut() {
            if batch.meta.last_offset < cleaned.stats.cleaned_to {
                batch.cleaned_ms.get_or_insert(now_ms);
            }
        }
        self.cleaned_offset = self.cleaned_offset.max(cleaned.stats.cleaned_to);
        self.tombstone_horizon_ms = cleaned.stats.tombstone_horizon_ms;
        let mut max = i64::MIN;
        for batch in &mut self.batches {
            max = max.max(batch.meta.max_timestamp);
            batch.running_max_timestamp = max;
        }
        cleaned.stats
    }
}

fn stamped(batch: &StoredBatch) -> Bytes {
    copy_stamped(&[(batch.meta, batch.bytes.clone())])
}

impl MemoryJob {
    pub fn run(self, params: &CleanParams, throttle: &Throttle) -> io::Result<MemoryCleaned> {
        let mut stats = CleanStats {
            cleaned_to: self.first_dirty,
            ..CleanStats::default()
        };
        let dirty: Vec<_> = self
            .batches
            .iter()
            .filter(|(meta, _, _)| meta.base_offset >= self.first_dirty)
            .collect();
        let span = dirty
            .iter()
            .map(|(meta, _, _)| u64::try_from(meta.last_offset - meta.base_offset + 1).unwrap_or(0))
            .sum();
        let mut map = map_for(span, params.dedupe_buffer_bytes);
        for (meta, bytes, _) in dirty {
            let keys =
                usize::try_from(meta.last_offset - meta.base_offset + 1).unwrap_or(usize::MAX);
            if !map.has_room_for(keys) || !map_batch(bytes, &mut map, params)? {
                break;
            }
            throttle.account(bytes.len());
            stats.bytes_read += bytes.len() as u64;
            stats.cleaned_to = meta.last_offset + 1;
        }
        let mut replaced = Vec::new();
        let mut txns = Transactions::default();
        for (meta, bytes, cleaned_ms) in &self.batches {
            if meta.base_offset >= stats.cleaned_to {
                break;
            }
            params.check_stop()?;
            let keep_tombstones = cleaned_ms
                .is_none_or(|at| params.now_ms < at.saturating_add(params.delete_retention_ms));
            throttle.account(bytes.len());
            stats.bytes_read += bytes.len() as u64;
            stats.bytes_before += bytes.len() as u64;
            let mut tombstones_kept = false;
            let kept = clean_batch(
                bytes,
                &map,
                params,
                keep_tombstones,
                &mut tombstones_kept,
                &mut txns,
            )?;
            if tombstones_kept {
                let horizon = cleaned_ms
                    .unwrap_or(params.now_ms)
                    .saturating_add(params.delete_retention_ms);
                stats.tombstone_horizon_ms = Some(
                    stats
                        .tombstone_horizon_ms
                        .map_or(horizon, |h| h.min(horizon)),
                );
            }
            match kept {
                Kept::All => stats.bytes_after += bytes.len() as u64,
                Kept::Rebuilt { bytes, removed } => {
                    stats.records_removed += removed;
                    stats.bytes_written += bytes.len() as u64;
                    stats.bytes_after += bytes.len() as u64;
                    replaced.push((meta.base_offset, Some(Bytes::from(bytes))));
                }
                Kept::Nothing { removed } => {
                    stats.records_removed += removed;
                    replaced.push((meta.base_offset, None));
                }
            }
        }
        stats.segments_rewritten = replaced.len();
        Ok(MemoryCleaned {
            replaced,
            stats,
            cleaned_at_ms: params.now_ms,
        })
    }
}
