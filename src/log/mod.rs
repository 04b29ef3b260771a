//! The storage engine: raw record batches by offset. Synchronous, no tokio, and no Kafka
//! messages — only bytes, offsets and timestamps. [`Partition`](crate::partition::Partition)
//! wraps a log with its lock and publishes its end offset.

pub mod memory;

use std::io;

use bytes::Bytes;

pub use memory::MemoryLog;

/// What the log needs to know of a batch it stores, read off its header by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

/// A log of record batches. Offsets are dense: each append starts at `end_offset()`.
pub trait Log: Send {
    /// Appends one batch whose base offset is already `end_offset()`.
    fn append(&mut self, batch: Bytes, meta: BatchMeta) -> io::Result<()>;

    /// Whole batches from the one holding `offset`, up to `max_bytes` in total; with
    /// `min_one`, the first batch is returned even when it alone is larger.
    fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> io::Result<Vec<Bytes>>;

    /// The first offset still held.
    fn start_offset(&self) -> i64;

    /// The offset the next append gets.
    fn end_offset(&self) -> i64;

    /// Bytes held, across all batches.
    fn size_bytes(&self) -> u64;

    /// The first batch whose max timestamp is at least `timestamp`.
    fn first_batch_at_or_after(&self, timestamp: i64) -> io::Result<Option<Bytes>>;

    /// The first batch holding the log's largest timestamp.
    fn batch_with_max_timestamp(&self) -> io::Result<Option<Bytes>>;
}
