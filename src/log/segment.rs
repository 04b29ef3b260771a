//! Reading one segment: its `.log` up to a fixed size, found through its two indexes.
//!
//! Active and sealed segments are read the same way, through a [`SegmentView`]; the view of
//! the active segment is taken under the log's lock, so it sees the segment as it was when
//! the read began.

// Unsafe code here: a read into uninitialised spare capacity (no zeroing of every read buffer); each block says why it is sound.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;

use bytes::Bytes;

use super::batch_info::BatchInfo;
use super::indexes::absolute;
use super::offset_index::OffsetIndex;
use super::time_index::TimeIndex;
use crate::record::batch::HEADER_BYTES;

pub(crate) struct SegmentView<'a> {
    pub base_offset: i64,
    pub log: &'a File,
    /// The readable end of the `.log`.
    pub size: u64,
    pub offsets: &'a OffsetIndex,
    pub times: &'a TimeIndex,
    /// The segment's largest timestamp; `i64::MIN` when it has no batches.
    pub max_timestamp: i64,
}

impl SegmentView<'_> {
    fn relative(&self, offset: i64) -> u32 {
        (offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32
    }

    /// The batch holding `offset`, or the first batch after it; `None` when the segment ends
    /// first. An index lookup, then a scan of at most about one index interval of headers.
    pub(crate) fn find(&self, offset: i64) -> io::Result<Option<BatchInfo>> {
        let indexed = self.offsets.lookup(self.relative(offset));
        walk_to(self.log, self.size, indexed, offset)
    }

    /// Where in the `.log` a walk to the batch holding `offset` can start: the position of
    /// the offset index's entry at or before it. Reads nothing but the mapped index.
    pub(crate) fn indexed_position(&self, offset: i64) -> u64 {
        self.offsets.lookup(self.relative(offset))
    }

    /// The offset from which the first batch whose largest timestamp reaches `timestamp` is
    /// to be looked for: the time index says no batch before it does. Reads nothing but the
    /// mapped index.
    pub(crate) fn time_hint(&self, timestamp: i64) -> i64 {
        self.times
            .lookup(timestamp)
            .and_then(|(_, relative)| absolute(self.base_offset, relative).ok())
            .unwrap_or(self.base_offset)
    }

    /// The largest timestamp of the batches holding `from_offset` or later, by a scan: for
    /// the one segment whose start DeleteRecords cut off, where the index's maximum may lie
    /// in the deleted part.
    pub(crate) fn max_timestamp_from(&self, from_offset: i64) -> io::Result<i64> {
        let mut max = i64::MIN;
        let mut next = self.find(from_offset)?;
        while let Some(batch) = next {
            max = max.max(batch.max_timestamp);
            next = BatchInfo::read_at(self.log, batch.end(), self.size)?;
        }
        Ok(max)
    }
}

pub(crate) fn read_batch(log: &File, batch: &BatchInfo) -> io::Result<Bytes> {
    read_at(log, batch.position, batch.size as usize)
}

/// `length` bytes at `position`, read into a buffer that is not zeroed first: fetches read
/// megabytes at a time, and clearing them only to overwrite them cost a tenth of a fetch.
fn read_at(log: &File, position: u64, length: usize) -> io::Result<Bytes> {
    let mut buffer = Vec::<u8>::with_capacity(length);
    while buffer.len() < length {
        let filled = buffer.len();
        let spare = &mut buffer.spare_capacity_mut()[..length - filled];
        let offset = libc::off_t::try_from(position + filled as u64)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "position out of range"))?;
        // SAFETY: the kernel writes at most `spare.len()` bytes into `spare`, memory this
        // function owns; its being uninitialised does not matter to a write.
        let read = unsafe {
            libc::pread(
                log.as_raw_fd(),
                spare.as_mut_ptr().cast(),
                spare.len(),
                offset,
            )
        };
        match read {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            read if read < 0 => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
            // SAFETY: the kernel initialised these `read` bytes just past the old length.
            read => unsafe { buffer.set_len(filled + read as usize) },
        }
    }
    Ok(Bytes::from(buffer))
}

/// Where the batch holding `offset` (or the first after it) starts in `log`, readable up to
/// `size`, found by walking every header from the start: for a segment whose indexes cannot
/// be used.
pub(crate) fn position_by_scan(log: &File, size: u64, offset: i64) -> io::Result<u64> {
    Ok(walk_to(log, size, 0, offset)?.map_or(size, |b| b.position))
}

/// The batch holding `offset`, or the first after it, by reading the headers of `log`
/// (readable up to `size`) from the batch at `position`; `None` when the segment ends first.
fn walk_to(log: &File, size: u64, mut position: u64, offset: i64) -> io::Result<Option<BatchInfo>> {
    while let Some(batch) = BatchInfo::read_at(log, position, size)? {
        if batch.last_offset >= offset {
            return Ok(Some(batch));
        }
        position = batch.end();
    }
    Ok(None)
}

/// Appends to `out` the whole batches of `log` (readable up to `size`) from `position` that
/// fit in `budget`, as one `Bytes` (a fetch sends it on without stitching), taking what they
/// use from the budget. With `min_one`, a first batch larger than the budget is read anyway
/// (and exhausts it). One positional read covers every batch that fits. True when the read
/// got to `size`, so a read may go on into the next segment.
pub(crate) fn read_batches(
    log: &File,
    size: u64,
    position: u64,
    budget: &mut usize,
    min_one: bool,
    out: &mut Vec<Bytes>,
) -> io::Result<bool> {
    let available = size.saturating_sub(position);
    let length = available.min(*budget as u64) as usize;
    let chunk = read_at(log, position, length)?;
    let mut used = 0;
    while length - used >= HEADER_BYTES {
        let batch = BatchInfo::parse(position + used as u64, &chunk[used..])?;
        let end = used.saturating_add(usize::try_from(batch.size).unwrap_or(usize::MAX));
        if end > length {
            break;
        }
        used = end;
    }
    if used > 0 {
        out.push(chunk.slice(..used));
    }
    *budget -= used;
    if used as u64 == available {
        return Ok(true);
    }
    if min_one && used == 0 {
        if let Some(batch) = BatchInfo::read_at(log, position, size)? {
            out.push(read_batch(log, &batch)?);
            *budget = 0;
        }
    }
    Ok(false)
}
