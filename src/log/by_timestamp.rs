//! ListOffsets by timestamp, in two steps like reads (see [`read`](super::read)): which
//! segments (or, in memory, batches) can hold the answer, and where in them to start, is
//! decided under the partition's lock from what is known without reading a file — segment
//! maxima, the mapped indexes; opening sealed segments, walking batch headers and reading the
//! one batch whose records are searched run after the lock is released.
//!
//! The search is Kafka's (`LogSegment.findOffsetByTimestamp`): the time index gives a start
//! position, batch headers are walked to the first batch holding the log start offset or
//! later whose max timestamp reaches the target, and in that batch the first record at or
//! after the target (and the start offset) is the answer; a batch without one (it straddles
//! the start offset) passes the search on to the next. The records of that one batch are
//! walked by [`record::find`](crate::record::find), with produce's bounded, streaming
//! decompression and budget.
//!
//! For the latest timestamp (ListOffsets' MAX_TIMESTAMP), the target is the largest batch max
//! timestamp from the start offset on; segments whose maximum is not known under the lock
//! (sealed ones not opened since the broker started, and the one the start offset cuts into)
//! are opened, or walked, to learn it, after the lock.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use super::batch_info::BatchInfo;
use super::files::{segment_path, LOG};
use super::memory::copy_stamped;
use super::sealed::{OpenSegment, OpenSegments, SealedSegment, ToOpen};
use super::segment::read_batch;
use super::segmented::SegmentConfig;
use super::BatchMeta;
use crate::record::batch::BatchHeader;
use crate::record::find::{first_record_at_or_after, RecordAt};

/// What a timestamp lookup looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampTarget {
    /// The first record stamped at or after this timestamp.
    AtOrAfter(i64),
    /// The first record stamped with the largest timestamp.
    Max,
}

/// Where a timestamp lookup looks. Made by [`Log::timestamp_plan`](super::Log) under the
/// lock; [`execute`](TimestampPlan::execute) it after releasing the lock.
pub struct TimestampPlan {
    /// The timestamp looked for, as far as known under the lock: for [`TimestampTarget::Max`],
    /// the largest of the maxima known then (`i64::MIN` when none was).
    target: i64,
    find_max: bool,
    /// Records below the log start offset are not answers.
    start_offset: i64,
    /// A log in memory: the candidate batches as stored, with their base offsets.
    in_memory: Vec<(BatchMeta, Bytes)>,
    /// The segments that can hold the answer, in offset order.
    segments: Vec<SegmentSearch>,
}

/// One segment a lookup may search.
pub(crate) struct SegmentSearch {
    /// The segment's largest timestamp, when known under the lock; found when executing
    /// otherwise. For the latest timestamp and the segment the start offset cuts into, of its
    /// batches from the start offset on.
    pub max_timestamp: Option<i64>,
    pub source: SearchSource,
}

pub(crate) enum SearchSource {
    /// The active segment, whose indexes only the lock may read: positions found in them
    /// under the lock, and its size published then.
    Active {
        log: Arc<File>,
        size: u64,
        /// A batch boundary at or before the batch holding the start offset.
        start_position: u64,
        /// A batch boundary from which the first batch reaching the planned target is found.
        hint_position: u64,
    },
    /// A sealed segment open when planned.
    Sealed(Arc<OpenSegment>),
    /// A sealed segment to open when executing (checking, or rebuilding, its indexes).
    Unopened(Box<SegmentToOpen>),
}

/// A sealed segment not open when the lookup was planned.
pub(crate) struct SegmentToOpen {
    pub cache: Arc<OpenSegments>,
    pub dir: PathBuf,
    pub segment: Arc<SealedSegment>,
    /// The next segment's base offset.
    pub end_offset: i64,
    pub config: SegmentConfig,
}

impl TimestampPlan {
    pub(crate) fn in_memory(
        target: i64,
        start_offset: i64,
        batches: Vec<(BatchMeta, Bytes)>,
    ) -> TimestampPlan {
        TimestampPlan {
            target,
            find_max: false,
            start_offset,
            in_memory: batches,
            segments: Vec::new(),
        }
    }

    pub(crate) fn segments(
        target: i64,
        find_max: bool,
        start_offset: i64,
        segments: Vec<SegmentSearch>,
    ) -> TimestampPlan {
        TimestampPlan {
            target,
            find_max,
            start_offset,
            in_memory: Vec::new(),
            segments,
        }
    }

    /// A lookup that finds nothing: an empty log.
    pub(crate) fn nothing() -> TimestampPlan {
        TimestampPlan::segments(i64::MIN, false, 0, Vec::new())
    }

    /// The offset and timestamp of the record looked for, its batch's records walked with at
    /// most `decompressed_max_bytes` decompressed. Blocks on the disk.
    pub fn execute(self, decompressed_max_bytes: u64) -> io::Result<Option<RecordAt>> {
        self.execute_with(|batch, target, from_offset| {
            record_in(batch, target, from_offset, decompressed_max_bytes)
        })
    }

    /// The first batch [`execute`](TimestampPlan::execute) would search, without walking its
    /// records: its base offset, and its max timestamp.
    pub fn execute_to_batch(self) -> io::Result<Option<RecordAt>> {
        self.execute_with(|batch, _, _| {
            Some(RecordAt {
                offset: batch.base_offset(),
                timestamp: batch.max_timestamp(),
            })
        })
    }

    /// [`execute`](TimestampPlan::execute) with another search inside the batch: `in_batch`
    /// gets each batch, in order, whose max timestamp reaches the target and which holds the
    /// start offset or later, with the target and the start offset, until it finds a record.
    pub fn execute_with(
        self,
        mut in_batch: impl FnMut(&BatchHeader<'_>, i64, i64) -> Option<RecordAt>,
    ) -> io::Result<Option<RecordAt>> {
        let start = self.start_offset;
        if !self.in_memory.is_empty() {
            for (meta, bytes) in &self.in_memory {
                let stamped = copy_stamped(&[(*meta, bytes.clone())]);
                let batch = BatchHeader::parse(&stamped).map_err(invalid_data)?;
                if let Some(found) = in_searched(&batch, self.target, start, &mut in_batch) {
                    return Ok(Some(found));
                }
            }
            return Ok(None);
        }
        let mut opened = Vec::with_capacity(self.segments.len());
        for segment in self.segments {
            if let Some(open) = segment.open()? {
                opened.push(open);
            }
        }
        let target = if self.find_max {
            let mut max = self.target;
            for segment in &mut opened {
                max = max.max(segment.max_timestamp_from(start)?);
            }
            if max == i64::MIN {
                // No batch at all.
                return Ok(None);
            }
            max
        } else {
            self.target
        };
        for segment in &opened {
            if segment.max_timestamp.is_some_and(|max| max < target) {
                continue;
            }
            let planned = target == self.target;
            if let Some(found) = segment.search(target, planned, start, &mut in_batch)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

/// A segment ready to be searched, after the lock.
struct OpenedSearch {
    max_timestamp: Option<i64>,
    source: Opened,
}

enum Opened {
    Active {
        log: Arc<File>,
        size: u64,
        start_position: u64,
        hint_position: u64,
    },
    Sealed(Arc<OpenSegment>),
}

impl SegmentSearch {
    /// Opens a sealed segment not open yet; `None` when it was deleted since the plan (by
    /// retention or DeleteRecords): its records are gone from the log, and are no answer.
    fn open(self) -> io::Result<Option<OpenedSearch>> {
        let source = match self.source {
            SearchSource::Active {
                log,
                size,
                start_position,
                hint_position,
            } => Opened::Active {
                log,
                size,
                start_position,
                hint_position,
            },
            SearchSource::Sealed(segment) => Opened::Sealed(segment),
            SearchSource::Unopened(to_open) => {
                let path = segment_path(&to_open.dir, to_open.segment.base_offset, LOG);
                let log = match File::open(path) {
                    Ok(log) => log,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e),
                };
                let to_open = ToOpen {
                    cache: to_open.cache,
                    dir: to_open.dir,
                    segment: to_open.segment,
                    end_offset: to_open.end_offset,
                    config: to_open.config,
                    log,
                };
                match to_open.open()? {
                    Some(open) => Opened::Sealed(open),
                    None => return Ok(None),
                }
            }
        };
        Ok(Some(OpenedSearch {
            max_timestamp: self.max_timestamp,
            source,
        }))
    }
}

impl OpenedSearch {
    /// The largest batch max timestamp from `start` on, learnt now if it was not known.
    fn max_timestamp_from(&mut self, start: i64) -> io::Result<i64> {
        if let Some(max) = self.max_timestamp {
            return Ok(max);
        }
        let max = match &self.source {
            Opened::Active {
                log,
                size,
                start_position,
                ..
            } => max_in_file(log, *size, *start_position, start)?,
            Opened::Sealed(segment) => segment.view().max_timestamp_from(start)?,
        };
        self.max_timestamp = Some(max);
        Ok(max)
    }

    /// The record looked for in this segment. `planned`: `target` is the one the plan found
    /// the active segment's start position for.
    fn search(
        &self,
        target: i64,
        planned: bool,
        start: i64,
        in_batch: &mut impl FnMut(&BatchHeader<'_>, i64, i64) -> Option<RecordAt>,
    ) -> io::Result<Option<RecordAt>> {
        match &self.source {
            Opened::Active {
                log,
                size,
                start_position,
                hint_position,
            } => {
                let position = if planned {
                    *hint_position
                } else {
                    *start_position
                };
                search_file(log, *size, position, target, start, in_batch)
            }
            Opened::Sealed(segment) => {
                let view = segment.view();
                let position = view.indexed_position(view.time_hint(target).max(start));
                search_file(view.log, view.size, position, target, start, in_batch)
            }
        }
    }
}

/// Walks the batch headers of `log` (readable up to `size`) from the batch at `position`, and
/// searches the records of each batch that can hold the answer, until one does.
fn search_file(
    log: &File,
    size: u64,
    position: u64,
    target: i64,
    start: i64,
    in_batch: &mut impl FnMut(&BatchHeader<'_>, i64, i64) -> Option<RecordAt>,
) -> io::Result<Option<RecordAt>> {
    let mut next = BatchInfo::read_at(log, position, size)?;
    while let Some(info) = next {
        if info.last_offset >= start && info.max_timestamp >= target {
            let bytes = read_batch(log, &info)?;
            let batch = BatchHeader::parse(&bytes).map_err(invalid_data)?;
            if let Some(found) = in_batch(&batch, target, start) {
                return Ok(Some(found));
            }
        }
        next = BatchInfo::read_at(log, info.end(), size)?;
    }
    Ok(None)
}

/// The largest max timestamp of the batches of `log` (readable up to `size`) holding `start`
/// or later, walking their headers from the batch at `position`.
fn max_in_file(log: &File, size: u64, position: u64, start: i64) -> io::Result<i64> {
    let mut max = i64::MIN;
    let mut next = BatchInfo::read_at(log, position, size)?;
    while let Some(info) = next {
        if info.last_offset >= start {
            max = max.max(info.max_timestamp);
        }
        next = BatchInfo::read_at(log, info.end(), size)?;
    }
    Ok(max)
}

/// `in_batch` on `batch` if it can hold the answer.
fn in_searched(
    batch: &BatchHeader<'_>,
    target: i64,
    start: i64,
    in_batch: &mut impl FnMut(&BatchHeader<'_>, i64, i64) -> Option<RecordAt>,
) -> Option<RecordAt> {
    if batch.max_timestamp() < target || batch.last_offset() < start {
        return None;
    }
    in_batch(batch, target, start)
}

/// The record looked for in one stored batch. Stored batches passed the record checks on the
/// way in, so records that do not walk now (a topic whose `max.message.bytes`, and with it the
/// decompression budget, was lowered since) get the batch's own bounds as the answer, as a
/// batch of a format we cannot read would.
fn record_in(
    batch: &BatchHeader<'_>,
    target: i64,
    start: i64,
    decompressed_max_bytes: u64,
) -> Option<RecordAt> {
    match first_record_at_or_after(batch, target, start, decompressed_max_bytes) {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(
                base_offset = batch.base_offset(),
                error = %e,
                "cannot walk the records of a stored batch for a timestamp lookup"
            );
            Some(RecordAt {
                offset: batch.base_offset().max(start),
                timestamp: batch.max_timestamp(),
            })
        }
    }
}

fn invalid_data(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

#[cfg(test)]
mod tests;
