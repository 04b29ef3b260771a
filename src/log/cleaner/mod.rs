//! Log compaction (`cleanup.policy=compact`): the rules a pass applies, shared by both engines.
//!
//! As Kafka's `LogCleaner`, a pass has two steps. It first reads the *dirty* part of the log
//! (everything after the offset the last pass cleaned up to, and before the part that may not
//! be cleaned yet) into an [`OffsetMap`] of each key's latest offset. It then rewrites the
//! sealed segments from the log start up to where the map ends, keeping a record when no
//! later record of its key exists. The part that may not be cleaned yet is the active
//! segment, anything at or past the last stable offset (an open transaction may still
//! abort) and segments younger than `min.compaction.lag.ms`.
//!
//! Per record, as Kafka's `Cleaner.shouldRetainRecord`:
//! - a record whose key has a later offset in the map is dropped; so is a record without a
//!   key (produce refuses those on compacted topics; older ones are dropped as Kafka does);
//! - a tombstone (a null value) is kept while its segment is younger than the delete horizon:
//!   until `delete.retention.ms` after the segment was first cleaned — a segment's modification
//!   time is when it was cleaned first, and rewrites keep it, as Kafka keeps `lastModified`;
//! - records of aborted transactions are dropped at the first pass, and left out of the map;
//!   a transaction marker (COMMIT or ABORT) goes once its segment is past the delete horizon
//!   and none of its transaction's records is left, as Kafka's cleaner decides: a pass walks
//!   the log from its start, so it has seen every record of a transaction by its marker;
//! - a batch left without records is dropped, unless it is its producer's last batch: it then
//!   stays, empty, so the producer's state (epoch, sequence) is rebuilt after a restart, as
//!   Kafka keeps it.
//!
//! Offsets, timestamps, headers and producer fields of kept records are preserved (see
//! [`record::compact`](crate::record::compact)); offsets then have gaps.

mod offset_map;
mod throttle;

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use offset_map::{OffsetMap, SLOT_BYTES};
pub use throttle::Throttle;

use crate::record::batch::BatchHeader;
use crate::record::compact::{rebuild_batch, records_of, split_records};
use crate::record::control::{control_record_type, ControlRecordType};

/// A pass's work, planned under the partition's lock, run without it.
pub enum CleanJob {
    Segments(super::segmented::SegmentsJob),
    Memory(super::memory::MemoryJob),
}

/// What a job produced, to swap in under the lock.
pub enum Cleaned {
    Segments(super::segmented::SegmentsCleaned),
    Memory(super::memory::MemoryCleaned),
}

impl CleanJob {
    /// Reads and rewrites what the job covers. Blocks on the disk, for long: call it from a
    /// cleaner thread.
    pub fn run(self, params: &CleanParams, throttle: &Throttle) -> io::Result<Cleaned> {
        match self {
            CleanJob::Segments(job) => job.run(params, throttle).map(Cleaned::Segments),
            CleanJob::Memory(job) => job.run(params, throttle).map(Cleaned::Memory),
        }
    }
}

/// What a pass is told by its topic and partition, read afresh for every pass (topic
/// configs may change between passes).
#[derive(Debug, Clone, Default)]
pub struct CleanParams {
    pub now_ms: i64,
    /// Nothing at or past it is cleaned: a transaction open there may still abort.
    pub last_stable_offset: i64,
    pub delete_retention_ms: i64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub min_cleanable_dirty_ratio: f64,
    /// Aborted transactions: producer id, first offset, offset of the ABORT marker.
    pub aborted: Vec<(i64, i64, i64)>,
    /// Each producer's last offset: its last batch survives even when emptied.
    pub producer_last_offsets: HashMap<i64, i64>,
    /// How far a compressed batch may inflate when it is decompressed to be cleaned.
    pub decompressed_max_bytes: u64,
    /// The most memory the offset map may take (`log_cleaner_dedupe_buffer_bytes`).
    pub dedupe_buffer_bytes: usize,
    /// Set at shutdown: a pass in progress gives up (`Interrupted`), leaving nothing behind.
    pub stop: Arc<AtomicBool>,
}

impl CleanParams {
    /// `Interrupted` once the broker is stopping.
    pub(crate) fn check_stop(&self) -> io::Result<()> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "the cleaner is stopping",
            ));
        }
        Ok(())
    }

    /// Whether a transactional data batch of `producer_id` at `offset` was aborted.
    fn is_aborted(&self, producer_id: i64, offset: i64) -> bool {
        self.aborted
            .iter()
            .any(|&(pid, first, last)| pid == producer_id && first <= offset && offset <= last)
    }
}

/// What a log holds that a pass could clean.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cleanable {
    /// Where the last pass stopped: the dirty part starts here.
    pub first_dirty: i64,
    /// Where the cleanable part ends (a segment base).
    pub end: i64,
    /// Bytes before `first_dirty` (cleaned already) and from it to `end`.
    pub clean_bytes: u64,
    pub dirty_bytes: u64,
    /// The oldest dirty data waited longer than `max.compaction.lag.ms`.
    pub max_lag_exceeded: bool,
    /// A cleaned segment holds tombstones past the delete horizon: a pass removes them even
    /// with nothing dirty (as Kafka cleans logs whose delete horizon has passed).
    pub tombstones_due: bool,
}

impl Cleanable {
    /// Dirty bytes over all cleanable bytes, as Kafka's `cleanableRatio`.
    pub fn dirty_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.dirty_bytes;
        if total == 0 {
            0.0
        } else {
            self.dirty_bytes as f64 / total as f64
        }
    }

    /// Whether a pass should run: there is dirty data, and enough of it (or it waited
    /// past `max.compaction.lag.ms`).
    pub fn due(&self, min_ratio: f64) -> bool {
        self.tombstones_due
            || (self.dirty_bytes > 0 && (self.max_lag_exceeded || self.dirty_ratio() >= min_ratio))
    }
}

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanStats {
    /// Bytes of log read (both steps) and written.
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Bytes of the segments rewritten, before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub segments_rewritten: usize,
    pub records_removed: u64,
    /// Where the pass stopped: the next pass's dirty part starts here.
    pub cleaned_to: i64,
    /// When the earliest tombstone the pass kept passes the delete horizon, if it kept any.
    pub tombstone_horizon_ms: Option<i64>,
}

/// Adds the keyed records of one stored batch to the map; false when the map filled up
/// part-way (the batch's later keys are then not in it).
pub(crate) fn map_batch(
    bytes: &[u8],
    map: &mut OffsetMap,
    params: &CleanParams,
) -> io::Result<bool> {
    let batch = BatchHeader::parse(bytes).map_err(invalid)?;
    if batch.is_control()
        || (batch.is_transactional() && params.is_aborted(batch.producer_id(), batch.base_offset()))
    {
        return Ok(true);
    }
    let records = records_of(&batch, params.decompressed_max_bytes).map_err(invalid)?;
    for record in split_records(&records, batch.record_count()).map_err(invalid)? {
        if let Some(key) = record.key {
            let offset = batch.base_offset() + i64::from(record.offset_delta);
            if !map.put(key, offset) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// What becomes of one batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kept {
    /// Every record stays: the batch is copied as it is.
    All,
    /// Some records stay (or none, in a producer's last batch): the rebuilt batch.
    Rebuilt { bytes: Vec<u8>, removed: u64 },
    /// The batch goes.
    Nothing { removed: u64 },
}

/// What a pass has seen of transactions so far, walking the log from its start: whether each
/// producer's current transaction still has records.
#[derive(Debug, Default)]
pub(crate) struct Transactions {
    records_kept: HashMap<i64, bool>,
}

/// Cleans one stored batch against the map. `keep_tombstones`: its segment is not past the
/// delete horizon. Sets `tombstones_kept` when what stays holds a tombstone or a marker a
/// later pass must come back for. Batches are given in log order, from the log start.
pub(crate) fn clean_batch(
    bytes: &[u8],
    map: &OffsetMap,
    params: &CleanParams,
    keep_tombstones: bool,
    tombstones_kept: &mut bool,
    txns: &mut Transactions,
) -> io::Result<Kept> {
    let batch = BatchHeader::parse(bytes).map_err(invalid)?;
    let count = u64::try_from(batch.record_count()).unwrap_or(0);
    let last_of_producer = batch.producer_id() >= 0
        && params.producer_last_offsets.get(&batch.producer_id()) == Some(&batch.last_offset());
    if batch.is_control() {
        let marker = matches!(
            control_record_type(&batch),
            Ok(ControlRecordType::Abort | ControlRecordType::Commit)
        );
        let records_left = txns
            .records_kept
            .remove(&batch.producer_id())
            .unwrap_or(false);
        let removable = marker && !records_left && !last_of_producer;
        if removable && !keep_tombstones {
            return Ok(Kept::Nothing { removed: count });
        }
        *tombstones_kept |= removable;
        return Ok(Kept::All);
    }
    let aborted =
        batch.is_transactional() && params.is_aborted(batch.producer_id(), batch.base_offset());
    let records = records_of(&batch, params.decompressed_max_bytes).map_err(invalid)?;
    let all = split_records(&records, batch.record_count()).map_err(invalid)?;
    let kept: Vec<_> = if aborted {
        Vec::new()
    } else {
        all.iter()
            .filter(|record| {
                let Some(key) = record.key else { return false };
                let offset = batch.base_offset() + i64::from(record.offset_delta);
                let superseded = map.get(key).is_some_and(|latest| latest > offset);
                !superseded && (keep_tombstones || !record.tombstone)
            })
            .copied()
            .collect()
    };
    *tombstones_kept |= kept.iter().any(|r| r.tombstone);
    if batch.is_transactional() && !kept.is_empty() {
        txns.records_kept.insert(batch.producer_id(), true);
    }
    let removed = (all.len() - kept.len()) as u64;
    if removed == 0 {
        return Ok(Kept::All);
    }
    if kept.is_empty() && !last_of_producer {
        return Ok(Kept::Nothing { removed });
    }
    Ok(Kept::Rebuilt {
        bytes: rebuild_batch(&batch, &kept)?,
        removed,
    })
}

/// The number of slots a map for `keys` keys needs, within `buffer_bytes`.
pub(crate) fn map_for(keys: u64, buffer_bytes: usize) -> OffsetMap {
    let wanted = usize::try_from(keys)
        .unwrap_or(usize::MAX)
        .saturating_mul(SLOT_BYTES)
        .saturating_mul(10)
        / 9
        + 2 * SLOT_BYTES;
    OffsetMap::with_bytes(wanted.min(buffer_bytes.max(2 * SLOT_BYTES)))
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("a stored batch cannot be cleaned: {e}"),
    )
}

/// Persists where the last pass of the log in `dir` stopped.
pub fn write_checkpoint(dir: &Path, cleaned_to: i64) -> io::Result<()> {
    super::files::write_cleaned_offset(dir, cleaned_to)
}

#[cfg(test)]
mod tests;
