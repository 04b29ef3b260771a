//! The few header fields the log needs to walk a `.log` file, read with positional reads.
//!
//! [`BatchHeader`](crate::record::batch::BatchHeader) wants the whole batch in
//! memory; walking a segment to find an offset must not read every batch in full, so this
//! reads only the first [`HEADER_BYTES`] of each. The field positions are those documented
//! in `record::batch`; a test checks that both parsers agree.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::record::batch::{HEADER_BYTES, LOG_OVERHEAD};

const BATCH_LENGTH_AT: usize = 8;
const MAGIC_AT: usize = 16;
const LAST_OFFSET_DELTA_AT: usize = 23;
const MAX_TIMESTAMP_AT: usize = 35;

/// One batch in a `.log` file: where it lies and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchInfo {
    /// Byte position of the batch in its segment.
    pub position: u64,
    /// Bytes of the whole batch, header included.
    pub size: u64,
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

impl BatchInfo {
    /// Reads the fields from the first [`HEADER_BYTES`] of `header` (more bytes are ignored).
    /// Anything that cannot be a v2 batch header is `InvalidData`.
    pub(crate) fn parse(position: u64, header: &[u8]) -> io::Result<BatchInfo> {
        if header.len() < HEADER_BYTES {
            return Err(invalid(position, "header is truncated"));
        }
        if header[MAGIC_AT] != 2 {
            return Err(invalid(position, "magic is not 2"));
        }
        let batch_length = i32::from_be_bytes(array(header, BATCH_LENGTH_AT));
        let size = u64::try_from(batch_length)
            .ok()
            .map(|length| length + LOG_OVERHEAD as u64)
            .filter(|&size| size >= HEADER_BYTES as u64)
            .ok_or_else(|| invalid(position, "batch length is out of range"))?;
        let base_offset = i64::from_be_bytes(array(header, 0));
        let delta = i32::from_be_bytes(array(header, LAST_OFFSET_DELTA_AT));
        if delta < 0 || base_offset < 0 {
            return Err(invalid(position, "offsets are negative"));
        }
        // The log's end is `last_offset + 1`: a batch ending at i64::MAX leaves no end.
        let last_offset = base_offset
            .checked_add(i64::from(delta))
            .filter(|&last| last < i64::MAX)
            .ok_or_else(|| invalid(position, "last offset overflows"))?;
        Ok(BatchInfo {
            position,
            size,
            base_offset,
            last_offset,
            max_timestamp: i64::from_be_bytes(array(header, MAX_TIMESTAMP_AT)),
        })
    }

    /// Reads the header of the batch at `position` in a `.log` file whose readable end is
    /// `end`. `None` exactly at `end`; a header or batch running past `end` is `InvalidData`.
    pub(crate) fn read_at(log: &File, position: u64, end: u64) -> io::Result<Option<BatchInfo>> {
        if position >= end {
            return Ok(None);
        }
        if end - position < HEADER_BYTES as u64 {
            return Err(invalid(position, "header runs past the end of the segment"));
        }
        let mut header = [0u8; HEADER_BYTES];
        log.read_exact_at(&mut header, position)?;
        let info = BatchInfo::parse(position, &header)?;
        if info.end() > end {
            return Err(invalid(position, "batch runs past the end of the segment"));
        }
        Ok(Some(info))
    }

    /// The position just past this batch: where the next one starts.
    pub(crate) fn end(&self) -> u64 {
        self.position + self.size
    }
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

fn invalid(position: u64, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad record batch at byte {position}: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::BatchHeader;
    use crate::record::test_batches::batch;

    #[test]
    fn agrees_with_the_protocol_parser() {
        let bytes = batch(1234, 7, 99, b"payload");
        let header = BatchHeader::parse_checked(&bytes).unwrap();
        let info = BatchInfo::parse(10, &bytes).unwrap();
        assert_eq!(info.base_offset, header.base_offset());
        assert_eq!(info.last_offset, header.last_offset());
        assert_eq!(info.max_timestamp, header.max_timestamp());
        assert_eq!(info.size, header.size() as u64);
        assert_eq!(info.end(), 10 + bytes.len() as u64);
    }

    #[test]
    fn refuses_what_is_not_a_header() {
        let mut bytes = batch(0, 0, 1, b"");
        assert!(BatchInfo::parse(0, &bytes[..HEADER_BYTES - 1]).is_err());
        bytes[MAGIC_AT] = 1;
        assert!(BatchInfo::parse(0, &bytes).is_err());
        let mut short = batch(0, 0, 1, b"");
        short[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert!(BatchInfo::parse(0, &short).is_err());
    }
}
