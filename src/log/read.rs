//! Reads in two steps, like flushes: where to read is decided under the partition's lock, and
//! the positional reads of segment files run after it is released, so a consumer reading old
//! data from a cold disk does not hold up the producers of its partition.
//!
//! That is safe because a segment's bytes never change below the size the plan saw: appends
//! only add past it, a sealed segment is immutable, and a segment deleted meanwhile (retention,
//! DeleteRecords) stays readable through the handle the plan holds. A log in memory plans
//! the batches themselves (shared, immutable) and copies them out after the lock too.

use std::fs::File;
use std::io;
use std::sync::Arc;

use bytes::Bytes;

use super::memory::copy_stamped;
use super::sealed::{OpenSegment, ToOpen};
use super::segment::{position_by_scan, read_batches};
use super::BatchMeta;

/// What a read returns, or where to read it. Made by [`Log::read_plan`](super::Log) under the
/// lock; [`execute`](ReadPlan::execute) it after releasing the lock.
pub struct ReadPlan {
    /// A log in memory's batches as stored, with the base offsets their copies get.
    in_memory: Vec<(BatchMeta, Bytes)>,
    /// Segments to read from, in order, until the budget is spent.
    segments: Vec<SegmentRead>,
    max_bytes: usize,
    min_one: bool,
}

/// Where a read goes in one segment.
pub(crate) enum SegmentRead {
    /// The active segment, from a batch boundary found under the lock (its index still
    /// grows), up to the size published when the plan was made.
    Active {
        log: Arc<File>,
        position: u64,
        size: u64,
    },
    /// A sealed segment: nothing in it changes, so even the index lookup waits for the read.
    /// From the batch holding `from_offset`, or from the start.
    Sealed {
        segment: Arc<OpenSegment>,
        from_offset: Option<i64>,
    },
    /// A sealed segment that was not open: opening it (its indexes checked, rebuilt if need
    /// be) waits for the read too.
    Unopened {
        segment: Box<ToOpen>,
        from_offset: Option<i64>,
    },
}

impl ReadPlan {
    pub(crate) fn in_memory(batches: Vec<(BatchMeta, Bytes)>) -> ReadPlan {
        ReadPlan {
            in_memory: batches,
            segments: Vec::new(),
            max_bytes: 0,
            min_one: false,
        }
    }

    pub(crate) fn segments(
        segments: Vec<SegmentRead>,
        max_bytes: usize,
        min_one: bool,
    ) -> ReadPlan {
        ReadPlan {
            in_memory: Vec::new(),
            segments,
            max_bytes,
            min_one,
        }
    }

    /// The copies and positional reads. Blocks on the disk when the data is not cached.
    pub fn execute(self) -> io::Result<Vec<Bytes>> {
        let mut out = Vec::new();
        if !self.in_memory.is_empty() {
            out.push(copy_stamped(&self.in_memory));
        }
        let mut budget = self.max_bytes;
        for segment in self.segments {
            let min_one = self.min_one && out.is_empty();
            let reached_end = match segment {
                SegmentRead::Active {
                    log,
                    position,
                    size,
                } => read_batches(&log, size, position, &mut budget, min_one, &mut out)?,
                SegmentRead::Sealed {
                    segment,
                    from_offset,
                } => read_sealed(&segment, from_offset, &mut budget, min_one, &mut out)?,
                SegmentRead::Unopened {
                    segment,
                    from_offset,
                } => match segment.open()? {
                    Some(open) => read_sealed(&open, from_offset, &mut budget, min_one, &mut out)?,
                    None => {
                        // Deleted since the plan, its indexes perhaps with it: the `.log`
                        // held since then is walked instead.
                        let size = segment.segment.size;
                        let position = match from_offset {
                            Some(offset) => position_by_scan(&segment.log, size, offset)?,
                            None => 0,
                        };
                        read_batches(&segment.log, size, position, &mut budget, min_one, &mut out)?
                    }
                },
            };
            if !reached_end {
                break;
            }
        }
        Ok(out)
    }
}

/// Reads an open sealed segment from the batch holding `from_offset`, or from its start.
fn read_sealed(
    segment: &OpenSegment,
    from_offset: Option<i64>,
    budget: &mut usize,
    min_one: bool,
    out: &mut Vec<Bytes>,
) -> io::Result<bool> {
    let view = segment.view();
    let position = match from_offset {
        Some(offset) => view.find(offset)?.map_or(view.size, |b| b.position),
        None => 0,
    };
    read_batches(view.log, view.size, position, budget, min_one, out)
}
