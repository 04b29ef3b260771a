//! The storage engine: raw record batches by offset. Synchronous, no tokio, and no Kafka
//! messages — only bytes, offsets and timestamps. [`Partition`](crate::partition::Partition)
//! wraps a log with its lock and publishes its end offset.
//!
//! Two implementations: [`MemoryLog`] (`--memory`) and [`SegmentedLog`], segment files in a
//! directory laid out as Kafka lays out a partition.

mod active;
mod batch_info;
mod by_timestamp;
pub mod cleaner;
pub mod disk_space;
mod files;
mod flush;
mod index_file;
mod indexes;
pub mod memory;
mod offline;
mod offset_index;
pub mod open_files;
mod read;
mod recovery;
mod reserve;
mod sealed;
mod segment;
pub mod segmented;
mod time_index;

use std::io;

use bytes::Bytes;

use cleaner::{CleanJob, CleanParams, CleanStats, Cleanable, Cleaned};

pub use by_timestamp::{TimestampPlan, TimestampTarget};
pub use flush::FlushPlan;
pub use memory::MemoryLog;
pub use offline::OfflineLog;
pub use read::ReadPlan;
pub use segmented::{SegmentConfig, SegmentedLog};

/// What the log needs to know of a batch it stores, read off its header by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    /// The partition leader epoch the stored header carries (a producer sends -1; the
    /// leader writes its epoch in, as Kafka does, for consumers' offset validation).
    pub leader_epoch: i32,
}

/// A log of record batches. Offsets are dense: each append starts at `end_offset()`.
pub trait Log: Send {
    /// Appends one batch at `end_offset()` (`meta.base_offset`). The batch is passed as the
    /// producer sent it: the log stores it with its base-offset field (the first 8 bytes,
    /// outside the CRC) set to `meta.base_offset`, so the caller need not copy it to stamp it.
    fn append(&mut self, batch: Bytes, meta: BatchMeta) -> io::Result<()>;

    /// Whole batches from the one holding `offset`, up to `max_bytes` in total; with
    /// `min_one`, the first batch is returned even when it alone is larger. Each `Bytes`
    /// holds one or more whole, consecutive batches (a segmented log returns one per
    /// segment read), so callers that need single batches split them. Nothing for an
    /// offset below `start_offset()` or at or past `end_offset()`.
    fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> io::Result<Vec<Bytes>> {
        self.read_plan(offset, max_bytes, min_one)?.execute()
    }

    /// [`read`](Log::read) in two steps: the plan is made under the caller's lock, and
    /// [`executed`](ReadPlan::execute) after it is released.
    fn read_plan(&self, offset: i64, max_bytes: usize, min_one: bool) -> io::Result<ReadPlan>;

    /// The first offset still held. It may lie inside a batch (after DeleteRecords); reads
    /// from it still return that whole batch.
    fn start_offset(&self) -> i64;

    /// The offset the next append gets.
    fn end_offset(&self) -> i64;

    /// Bytes held, across all batches (including any before the start offset that share a
    /// segment or batch with batches after it).
    fn size_bytes(&self) -> u64;

    /// Where to look for the first record at or after the start offset stamped at or after a
    /// timestamp, or with the largest timestamp there (ListOffsets): planned under the
    /// caller's lock, [`executed`](TimestampPlan::execute) after it is released.
    fn timestamp_plan(&self, target: TimestampTarget) -> io::Result<TimestampPlan>;

    /// What makes everything appended so far durable, to [`run`](FlushPlan::run) once the
    /// caller's lock is released. Empty in memory.
    fn flush_plan(&self) -> io::Result<FlushPlan>;

    /// `plan` ran: what it synced need not be synced again.
    fn flushed(&mut self, plan: &FlushPlan);

    /// Makes everything appended so far durable (fsync), in one step. Blocks on the disk:
    /// call it off the async workers.
    fn flush(&mut self) -> io::Result<()> {
        let plan = self.flush_plan()?;
        plan.run()?;
        self.flushed(&plan);
        Ok(())
    }

    /// Moves the start offset forward to `offset` (DeleteRecords): reads below it return
    /// nothing, and storage wholly below it is freed. No effect when `offset` is not above
    /// the start; `InvalidInput` when it is past `end_offset()`.
    fn delete_records_before(&mut self, offset: i64) -> io::Result<()>;

    /// Empties the log and starts it again at offset 0 (the admin reset), with every file
    /// that describes it (checkpoints, snapshots, transaction index) gone. Durable when it
    /// returns; a crash in the middle leaves the old log or an empty one, both of which open.
    fn reset(&mut self) -> io::Result<()>;

    /// Deletes the oldest data by `retention.ms` and `retention.bytes` (-1: no limit), as
    /// Kafka does with whole segments, never the one being appended to: first while the
    /// oldest's largest timestamp is more than `retention_ms` before `now_ms`, then while
    /// the log would still hold at least `retention_bytes` without the oldest. The start
    /// offset moves to the first offset left. Returns how many segments (or, in memory,
    /// batches) were deleted.
    fn apply_retention(
        &mut self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
    ) -> io::Result<usize>;

    /// Flushes and leaves the storage tidy for a fast restart; for a clean shutdown. The log
    /// stays usable.
    fn close(&mut self) -> io::Result<()> {
        self.tidy_for_close()?;
        self.flush()?;
        self.mark_clean()
    }

    /// The first half of [`close`](Log::close) for a broker closing many logs at once: tidies
    /// the storage for a fast restart (indexes trimmed, reserved space given back) without
    /// making anything durable. The caller then makes the whole data directory durable at
    /// once (`syncfs`) and calls [`mark_clean`](Log::mark_clean), instead of an fsync per
    /// file of every partition.
    fn tidy_for_close(&mut self) -> io::Result<()>;

    /// Leaves the clean-shutdown marker: only once everything the log holds is durable.
    fn mark_clean(&mut self) -> io::Result<()>;

    /// The base offset of the segment appends go to: it changes when the log rolls. A log
    /// in memory has no segments and never rolls.
    fn active_base_offset(&self) -> i64 {
        0
    }

    /// The base offsets of the log's segments, oldest first, the active one last; in
    /// memory, the start offset alone.
    fn segment_bases(&self) -> Vec<i64> {
        vec![self.start_offset()]
    }

    /// What compaction could clean now, and — when a pass is due — the job that cleans it,
    /// made under the caller's lock and [`run`](CleanJob::run) after it is released. A log
    /// that cannot be compacted has nothing cleanable.
    fn clean_job(&self, _params: &CleanParams) -> io::Result<(Cleanable, Option<CleanJob>)> {
        Ok((Cleanable::default(), None))
    }

    /// Swaps in what a clean job produced, under the caller's lock.
    fn install_cleaned(&mut self, _cleaned: Cleaned) -> io::Result<CleanStats> {
        Err(io::Error::other("this log cannot be compacted"))
    }

    /// The directory holding the log's files; none in memory. Files that describe the log
    /// (a partition's transaction index) live beside them.
    /// Takes new segment settings (the topic's config changed): they apply from the next
    /// roll and to the segments made after it. Logs without segments ignore them.
    fn reconfigure(&mut self, _config: SegmentConfig) {}

    fn dir(&self) -> Option<&std::path::Path> {
        None
    }
}
