//! The log of a partition whose files could not be opened (damaged beyond recovery, a
//! descriptor limit, a disk error): it holds nothing, and every operation that would touch
//! storage fails with why, so the partition answers `KAFKA_STORAGE_ERROR` while the rest of
//! the broker serves. Its files are left as they were, for an operator to look at.

use std::io;

use bytes::Bytes;

use super::{BatchMeta, FlushPlan, Log, ReadPlan, TimestampPlan, TimestampTarget};

pub struct OfflineLog {
    why: String,
}

impl OfflineLog {
    pub fn new(why: String) -> OfflineLog {
        OfflineLog { why }
    }

    fn error(&self) -> io::Error {
        io::Error::other(format!("the partition's log is offline: {}", self.why))
    }
}

impl Log for OfflineLog {
    fn append(&mut self, _batch: Bytes, _meta: BatchMeta) -> io::Result<()> {
        Err(self.error())
    }

    fn read_plan(&self, _offset: i64, _max_bytes: usize, _min_one: bool) -> io::Result<ReadPlan> {
        Err(self.error())
    }

    fn start_offset(&self) -> i64 {
        0
    }

    fn end_offset(&self) -> i64 {
        0
    }

    fn size_bytes(&self) -> u64 {
        0
    }

    fn timestamp_plan(&self, _target: TimestampTarget) -> io::Result<TimestampPlan> {
        Err(self.error())
    }

    fn flush_plan(&self) -> io::Result<FlushPlan> {
        Err(self.error())
    }

    fn flushed(&mut self, _plan: &FlushPlan) {}

    fn delete_records_before(&mut self, _offset: i64) -> io::Result<()> {
        Err(self.error())
    }

    fn reset(&mut self) -> io::Result<()> {
        Err(self.error())
    }

    fn apply_retention(
        &mut self,
        _now_ms: i64,
        _retention_ms: i64,
        _retention_bytes: i64,
    ) -> io::Result<usize> {
        Ok(0)
    }

    fn tidy_for_close(&mut self) -> io::Result<()> {
        Err(self.error())
    }

    fn mark_clean(&mut self) -> io::Result<()> {
        Err(self.error())
    }
}
