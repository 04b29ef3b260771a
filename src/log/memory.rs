//! The log contract kept in memory (`--memory`): batches in a vector, found by binary search.
//!
//! A batch is kept as the producer sent it — the `Bytes` of its request, not a copy — with
//! its base offset beside it; reads write the base offset in as they copy batches out into
//! one buffer, the one copy a fetch of several batches needs anyway. The copy is made after
//! the partition's lock is released (see [`ReadPlan`]), so a large fetch does not hold up
//! the partition's producers.
//!
//! With no segments, DeleteRecords and retention free whole batches: retention deletes the
//! oldest batches by their own largest timestamp and size, and may empty the log (the end
//! offset is kept).

use std::io;

use bytes::{BufMut, Bytes, BytesMut};

use super::cleaner::{CleanJob, CleanParams, CleanStats, Cleanable, Cleaned};
use super::{BatchMeta, FlushPlan, Log, ReadPlan, SegmentConfig, TimestampPlan, TimestampTarget};

mod clean;
use crate::record::batch::{LEADER_EPOCH_AT, STAMPED_BYTES};
pub use clean::{MemoryCleaned, MemoryJob};

/// The base-offset field that opens every batch.
/// The batch length field, between the base offset and the leader epoch.
const LENGTH_FIELD: std::ops::Range<usize> = 8..LEADER_EPOCH_AT;

struct StoredBatch {
    meta: BatchMeta,
    /// The largest timestamp of this batch and every batch before it: monotonic, so a
    /// timestamp lookup is a binary search, as with a time index.
    running_max_timestamp: i64,
    /// As sent: the base-offset field still holds what the producer put there.
    bytes: Bytes,
    /// When the cleaner first cleaned it (the delete horizon counts from then).
    cleaned_ms: Option<i64>,
}

/// Batches as stored, copied out one after another into one buffer with their base offsets
/// and leader epochs written in.
pub(super) fn copy_stamped(batches: &[(BatchMeta, Bytes)]) -> Bytes {
    let mut out = BytesMut::with_capacity(batches.iter().map(|(_, b)| b.len()).sum());
    for (meta, bytes) in batches {
        match (bytes.get(LENGTH_FIELD), bytes.get(STAMPED_BYTES..)) {
            (Some(length), Some(rest)) => {
                out.put_i64(meta.base_offset);
                out.put_slice(length);
                out.put_i32(meta.leader_epoch);
                out.put_slice(rest);
            }
            _ => out.put_slice(bytes),
        }
    }
    out.freeze()
}

/// A log held entirely in memory.
#[derive(Default)]
pub struct MemoryLog {
    batches: Vec<StoredBatch>,
    start_offset: i64,
    size_bytes: u64,
    /// Where the cleaner's last pass stopped.
    cleaned_offset: i64,
    /// When the earliest tombstone the last pass kept passes the delete horizon.
    tombstone_horizon_ms: Option<i64>,
    /// Segments as the topic would cut them on disk (`segment.bytes`, `segment.ms`), kept
    /// only as where the last one starts: the cleaner leaves that one alone, as it leaves an
    /// active segment, so a compacted topic keeps what Kafka would keep.
    segments: SegmentConfig,
    active: VirtualSegment,
}

/// Where the segment appends go to would start, its bytes, and what its age is counted from.
#[derive(Debug, Default, Clone, Copy)]
struct VirtualSegment {
    base_offset: i64,
    bytes: u64,
    first_timestamp: Option<i64>,
    opened_ms: i64,
}

impl MemoryLog {
    /// A log whose compaction leaves the last 1 GiB segment alone (Kafka's default
    /// `segment.bytes` and `segment.ms`).
    pub fn new() -> MemoryLog {
        MemoryLog::with_segments(SegmentConfig::default())
    }

    /// A log whose compaction leaves alone what the last segment cut by `segments` would hold.
    pub fn with_segments(segments: SegmentConfig) -> MemoryLog {
        let opened_ms = segments.clock.now_ms();
        MemoryLog {
            segments,
            active: VirtualSegment {
                opened_ms,
                ..VirtualSegment::default()
            },
            ..MemoryLog::default()
        }
    }

    /// The first offset of the segment appends would go to on disk.
    pub(crate) fn active_segment_base(&self) -> i64 {
        self.active.base_offset
    }

    /// Moves the virtual active segment as `SegmentedLog` rolls its real one.
    fn roll_if_due(&mut self, meta: &BatchMeta, size: u64) {
        let now_ms = self.segments.clock.now_ms();
        let active = &self.active;
        let age_ms = match active.first_timestamp {
            Some(first) if first >= 0 => meta.max_timestamp.saturating_sub(first),
            _ => now_ms.saturating_sub(active.opened_ms),
        };
        let roll = active.bytes > 0
            && (active.bytes + size > self.segments.segment_bytes()
                || age_ms > self.segments.segment_ms);
        if roll {
            self.active = VirtualSegment {
                base_offset: meta.base_offset,
                bytes: 0,
                first_timestamp: None,
                opened_ms: now_ms,
            };
        }
        if self.active.bytes == 0 {
            self.active.first_timestamp = Some(meta.max_timestamp);
        }
        self.active.bytes += size;
    }

    /// Index of the batch holding `offset`, or of the first batch after it.
    fn position(&self, offset: i64) -> usize {
        self.batches
            .partition_point(|b| b.meta.last_offset < offset)
    }

    /// Drops the first `count` batches and moves the start offset to at least `new_start`.
    /// The running maxima are recomputed: the largest timestamp may have been dropped.
    fn drop_front(&mut self, count: usize, new_start: i64) {
        for batch in self.batches.drain(..count) {
            self.size_bytes -= batch.bytes.len() as u64;
        }
        self.start_offset = self.start_offset.max(new_start);
        let mut max = i64::MIN;
        for batch in &mut self.batches {
            max = max.max(batch.meta.max_timestamp);
            batch.running_max_timestamp = max;
        }
    }

    /// The batches a timestamp lookup for `timestamp` searches, shared with the log: the
    /// first whose own max timestamp reaches it, and — when that one holds records before
    /// the start offset, which are no answers — the next such batch too.
    fn candidates(&self, timestamp: i64) -> Vec<(BatchMeta, Bytes)> {
        let at = self
            .batches
            .partition_point(|b| b.running_max_timestamp < timestamp);
        let mut reaching = self.batches[at..]
            .iter()
            .filter(|b| b.meta.max_timestamp >= timestamp);
        let mut candidates = Vec::new();
        if let Some(first) = reaching.next() {
            candidates.push((first.meta, first.bytes.clone()));
            if first.meta.base_offset < self.start_offset {
                if let Some(next) = reaching.next() {
                    candidates.push((next.meta, next.bytes.clone()));
                }
            }
        }
        candidates
    }

    /// The batches a read gets, with their base offsets, shared with the log: they are
    /// copied out after the lock is released.
    fn to_read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Vec<(BatchMeta, Bytes)> {
        if offset < self.start_offset {
            return Vec::new();
        }
        let from = self.position(offset);
        let mut total = 0usize;
        self.batches[from..]
            .iter()
            .take_while(|batch| {
                let fits = total + batch.bytes.len() <= max_bytes;
                let taken = fits || (min_one && total == 0);
                if taken {
                    total += batch.bytes.len();
                }
                taken
            })
            .map(|batch| (batch.meta, batch.bytes.clone()))
            .collect()
    }
}

impl Log for MemoryLog {
    fn reset(&mut self) -> io::Result<()> {
        *self = MemoryLog::with_segments(self.segments.clone());
        Ok(())
    }

    fn append(&mut self, batch: Bytes, meta: BatchMeta) -> io::Result<()> {
        assert_eq!(meta.base_offset, self.end_offset(), "appends are dense");
        assert!(meta.last_offset >= meta.base_offset);
        let previous_max = self
            .batches
            .last()
            .map_or(i64::MIN, |b| b.running_max_timestamp);
        self.size_bytes += batch.len() as u64;
        self.roll_if_due(&meta, batch.len() as u64);
        self.batches.push(StoredBatch {
            meta,
            running_max_timestamp: previous_max.max(meta.max_timestamp),
            bytes: batch,
            cleaned_ms: None,
        });
        Ok(())
    }

    fn read_plan(&self, offset: i64, max_bytes: usize, min_one: bool) -> io::Result<ReadPlan> {
        Ok(ReadPlan::in_memory(
            self.to_read(offset, max_bytes, min_one),
        ))
    }

    fn start_offset(&self) -> i64 {
        self.start_offset
    }

    fn end_offset(&self) -> i64 {
        self.batches
            .last()
            .map_or(self.start_offset, |b| b.meta.last_offset + 1)
    }

    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn timestamp_plan(&self, target: TimestampTarget) -> io::Result<TimestampPlan> {
        let timestamp = match target {
            TimestampTarget::AtOrAfter(timestamp) => timestamp,
            TimestampTarget::Max => match self.batches.last() {
                Some(last) => last.running_max_timestamp,
                None => {
                    return Ok(TimestampPlan::in_memory(
                        i64::MIN,
                        self.start_offset,
                        Vec::new(),
                    ))
                }
            },
        };
        Ok(TimestampPlan::in_memory(
            timestamp,
            self.start_offset,
            self.candidates(timestamp),
        ))
    }

    fn flush_plan(&self) -> io::Result<FlushPlan> {
        Ok(FlushPlan::default())
    }

    fn flushed(&mut self, _plan: &FlushPlan) {}

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
        if offset > self.start_offset {
            self.drop_front(self.position(offset), offset);
        }
        Ok(())
    }

    fn apply_retention(
        &mut self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
    ) -> io::Result<usize> {
        let end = self.end_offset();
        let mut count = 0;
        if retention_ms >= 0 {
            count = self
                .batches
                .iter()
                .take_while(|b| now_ms.saturating_sub(b.meta.max_timestamp) > retention_ms)
                .count();
        }
        if let Ok(limit) = u64::try_from(retention_bytes) {
            let mut remaining: u64 = self.batches[count..]
                .iter()
                .map(|b| b.bytes.len() as u64)
                .sum();
            for batch in &self.batches[count..] {
                let size = batch.bytes.len() as u64;
                if remaining - size < limit {
                    break;
                }
                remaining -= size;
                count += 1;
            }
        }
        let new_start = self.batches.get(count).map_or(end, |b| b.meta.base_offset);
        self.drop_front(count, new_start);
        Ok(count)
    }

    fn close(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn clean_job(&self, params: &CleanParams) -> io::Result<(Cleanable, Option<CleanJob>)> {
        let (cleanable, job) = MemoryLog::clean_job(self, params);
        Ok((cleanable, job.map(CleanJob::Memory)))
    }

    fn install_cleaned(&mut self, cleaned: Cleaned) -> io::Result<CleanStats> {
        match cleaned {
            Cleaned::Memory(cleaned) => Ok(MemoryLog::install_cleaned(self, cleaned)),
            Cleaned::Segments(_) => Err(io::Error::other("segments cleaned for a log in memory")),
        }
    }

    fn tidy_for_close(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn mark_clean(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(base: i64, last: i64, ts: i64) -> BatchMeta {
        BatchMeta {
            base_offset: base,
            last_offset: last,
            max_timestamp: ts,
            leader_epoch: 7,
        }
    }

    fn log_of(batches: &[(i64, i64, i64, usize)]) -> MemoryLog {
        let mut log = MemoryLog::new();
        for &(base, last, ts, size) in batches {
            log.append(Bytes::from(vec![base as u8; size]), meta(base, last, ts))
                .unwrap();
        }
        log
    }

    #[test]
    fn reads_from_the_batch_holding_the_offset() {
        let log = log_of(&[(0, 4, 10, 100), (5, 9, 20, 100), (10, 10, 30, 100)]);
        assert_eq!(log.end_offset(), 11);
        let read = log.read(7, 1000, false).unwrap();
        assert_eq!(read.len(), 1, "one buffer");
        assert_eq!(read[0].len(), 200, "two batches");
        // Base offsets and leader epochs written in; the rest as appended.
        assert_eq!(read[0][..8], 5i64.to_be_bytes());
        assert_eq!(read[0][8..12], [5u8; 4]);
        assert_eq!(read[0][12..16], 7i32.to_be_bytes());
        assert_eq!(read[0][16..100], [5u8; 84]);
        assert_eq!(read[0][100..108], 10i64.to_be_bytes());
        assert_eq!(read[0][112..116], 7i32.to_be_bytes());
        assert!(log.read(11, 1000, true).unwrap().is_empty());
    }

    /// The copy is made when the plan is executed, after the lock: batches deleted meanwhile
    /// are still in it, with their base offsets written in.
    #[test]
    fn a_read_plan_returns_what_was_there_when_it_was_made() {
        let mut log = log_of(&[(0, 4, 10, 100), (5, 9, 20, 100)]);
        let plan = log.read_plan(0, 1000, false).unwrap();
        log.delete_records_before(10).unwrap();
        assert_eq!(log.size_bytes(), 0);
        let read = plan.execute().unwrap();
        assert_eq!(read.len(), 1, "one buffer");
        assert_eq!(read[0].len(), 200);
        assert_eq!(read[0][..8], 0i64.to_be_bytes());
        assert_eq!(read[0][100..108], 5i64.to_be_bytes());
        assert_eq!(read[0][116..200], [5u8; 84]);
    }

    #[test]
    fn max_bytes_is_a_limit_except_for_the_first_batch_with_min_one() {
        let log = log_of(&[(0, 0, 1, 300), (1, 1, 1, 300)]);
        let bytes_read = |max_bytes, min_one| -> usize {
            let read = log.read(0, max_bytes, min_one).unwrap();
            read.iter().map(Bytes::len).sum()
        };
        assert_eq!(bytes_read(500, false), 300);
        assert_eq!(bytes_read(600, false), 600);
        assert_eq!(bytes_read(100, false), 0);
        assert_eq!(bytes_read(100, true), 300);
    }

    #[test]
    fn deleting_records_frees_whole_batches_and_hides_what_is_below() {
        let mut log = log_of(&[(0, 4, 90, 100), (5, 9, 20, 100), (10, 10, 30, 100)]);
        log.delete_records_before(7).unwrap();
        assert_eq!(log.start_offset(), 7);
        assert_eq!(log.size_bytes(), 200);
        assert!(log.read(6, 1000, true).unwrap().is_empty());
        assert_eq!(log.read(7, 1000, true).unwrap()[0][7], 5);
        assert!(log.delete_records_before(12).is_err());
        log.delete_records_before(11).unwrap();
        assert_eq!(
            (log.start_offset(), log.end_offset(), log.size_bytes()),
            (11, 11, 0)
        );
    }

    #[test]
    fn retention_deletes_the_oldest_batches() {
        let mut log = log_of(&[(0, 0, 10, 100), (1, 1, 20, 100), (2, 2, 30, 100)]);
        assert_eq!(log.apply_retention(1000, -1, -1).unwrap(), 0);
        assert_eq!(log.apply_retention(35, 20, -1).unwrap(), 1);
        assert_eq!(log.start_offset(), 1);
        assert_eq!(log.apply_retention(35, -1, 100).unwrap(), 1);
        assert_eq!(log.start_offset(), 2);
        assert_eq!(log.apply_retention(1000, 0, -1).unwrap(), 1);
        assert_eq!((log.start_offset(), log.end_offset()), (3, 3));
    }

    /// The batch a lookup settles on, as (base offset, max timestamp), whatever its records.
    fn batch_found(log: &MemoryLog, target: TimestampTarget) -> Option<(i64, i64)> {
        let plan = log.timestamp_plan(target).unwrap();
        let found = plan.execute_to_batch().unwrap();
        found.map(|r| (r.offset, r.timestamp))
    }

    /// A log of real batches: (base offset, last offset delta, max timestamp) each.
    fn log_of_batches(batches: &[(i64, i32, i64)]) -> MemoryLog {
        let mut log = MemoryLog::new();
        for &(base, delta, ts) in batches {
            // As a producer sends it: base offset 0, stamped by the log.
            let bytes = crate::record::test_batches::batch(0, delta, ts, b"x");
            log.append(Bytes::from(bytes), meta(base, base + i64::from(delta), ts))
                .unwrap();
        }
        log
    }

    #[test]
    fn timestamp_lookups_follow_the_running_maximum() {
        let log = log_of_batches(&[(0, 0, 50), (1, 0, 10), (2, 0, 70), (3, 0, 70)]);
        use TimestampTarget::{AtOrAfter, Max};
        assert_eq!(batch_found(&log, AtOrAfter(20)), Some((0, 50)));
        assert_eq!(batch_found(&log, AtOrAfter(60)), Some((2, 70)));
        assert_eq!(batch_found(&log, AtOrAfter(71)), None);
        assert_eq!(batch_found(&log, Max), Some((2, 70)));
        assert_eq!(batch_found(&MemoryLog::new(), Max), None);
    }

    #[test]
    fn timestamp_lookups_skip_what_deleting_records_hid() {
        let mut log = log_of_batches(&[(0, 4, 90), (5, 4, 20), (10, 0, 30)]);
        log.delete_records_before(7).unwrap();
        use TimestampTarget::{AtOrAfter, Max};
        // The largest timestamp went with the first batch.
        assert_eq!(batch_found(&log, Max), Some((10, 30)));
        assert_eq!(batch_found(&log, AtOrAfter(25)), Some((10, 30)));
        // The batch holding the start offset, with its records from the start on.
        assert_eq!(batch_found(&log, AtOrAfter(20)), Some((5, 20)));
    }
}
