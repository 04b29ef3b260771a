//! A zero-copy view of the 61-byte header of a v2 record batch (magic 2).
//!
//! Produce and the log need only the header: offsets, timestamps, producer fields and the
//! CRC32C. The records themselves stay as the client compressed and sent them.
//!
//! Layout (big-endian): base offset i64 @0, batch length i32 @8 (bytes after this field),
//! partition leader epoch i32 @12, magic i8 @16, CRC32C u32 @17 (covering attributes to the
//! end), attributes i16 @21, last offset delta i32 @23, base timestamp i64 @27, max timestamp
//! i64 @35, producer id i64 @43, producer epoch i16 @51, base sequence i32 @53, record count
//! i32 @57.

use std::fmt;

use bytes::Bytes;

/// Bytes in a v2 batch header.
pub const HEADER_BYTES: usize = 61;
/// Bytes before the batch length field ends: a batch's size is `LOG_OVERHEAD + batch_length`.
pub const LOG_OVERHEAD: usize = 12;

pub(crate) const BATCH_LENGTH_AT: usize = 8;
pub(crate) const LEADER_EPOCH_AT: usize = 12;
pub(crate) const MAGIC_AT: usize = 16;
/// The header's first bytes, which the log writes in (base offset, length, leader epoch):
/// all before the CRC's range, so a stored batch keeps the producer's CRC.
pub(crate) const STAMPED_BYTES: usize = MAGIC_AT;
pub(crate) const CRC_AT: usize = 17;
pub(crate) const ATTRIBUTES_AT: usize = 21;
pub(crate) const LAST_OFFSET_DELTA_AT: usize = 23;
pub(crate) const BASE_TIMESTAMP_AT: usize = 27;
pub(crate) const MAX_TIMESTAMP_AT: usize = 35;
pub(crate) const PRODUCER_ID_AT: usize = 43;
pub(crate) const PRODUCER_EPOCH_AT: usize = 51;
pub(crate) const BASE_SEQUENCE_AT: usize = 53;
pub(crate) const RECORD_COUNT_AT: usize = 57;

pub(crate) const COMPRESSION_MASK: i16 = 0x07;
pub(crate) const TIMESTAMP_TYPE_BIT: i16 = 0x08;
pub(crate) const TRANSACTIONAL_BIT: i16 = 0x10;
pub(crate) const CONTROL_BIT: i16 = 0x20;

/// Why bytes are not a usable v2 batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchError {
    /// Fewer bytes than a header, or a length field that disagrees with the bytes present.
    Truncated,
    /// A message format older than v2 (magic 0 or 1), or an unknown one.
    UnsupportedMagic(i8),
    /// The stored CRC32C does not match the bytes.
    CrcMismatch { stored: u32, computed: u32 },
    /// Offsets or counts that cannot describe a batch (negative delta, count mismatch).
    Invalid(&'static str),
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::Truncated => write!(f, "record batch is truncated"),
            BatchError::UnsupportedMagic(m) => write!(f, "record batch magic {m} is not 2"),
            BatchError::CrcMismatch { stored, computed } => write!(
                f,
                "record batch CRC32C {stored:#010x} does not match computed {computed:#010x}"
            ),
            BatchError::Invalid(why) => write!(f, "invalid record batch: {why}"),
        }
    }
}

/// Read-only access to the header fields of one batch. `bytes` holds exactly one batch.
#[derive(Clone, Copy)]
pub struct BatchHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> BatchHeader<'a> {
    /// Views the first batch in `bytes`, checking only that its header and declared length fit.
    pub fn parse(bytes: &'a [u8]) -> Result<BatchHeader<'a>, BatchError> {
        if bytes.len() < MAGIC_AT + 1 {
            return Err(BatchError::Truncated);
        }
        let magic = bytes[MAGIC_AT] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        if bytes.len() < HEADER_BYTES {
            return Err(BatchError::Truncated);
        }
        let batch_length = read_i32(bytes, BATCH_LENGTH_AT);
        let size = usize::try_from(batch_length)
            .ok()
            .and_then(|length| length.checked_add(LOG_OVERHEAD))
            .filter(|&size| size >= HEADER_BYTES && size <= bytes.len())
            .ok_or(BatchError::Truncated)?;
        Ok(BatchHeader {
            bytes: &bytes[..size],
        })
    }

    /// Parses and checks the CRC and the offset/count fields: what produce demands of a batch.
    pub fn parse_checked(bytes: &'a [u8]) -> Result<BatchHeader<'a>, BatchError> {
        let header = BatchHeader::parse(bytes)?;
        header.verify_crc()?;
        if header.last_offset_delta() < 0 {
            return Err(BatchError::Invalid("negative last offset delta"));
        }
        if header.record_count() < 0 {
            return Err(BatchError::Invalid("negative record count"));
        }
        Ok(header)
    }

    pub fn verify_crc(&self) -> Result<(), BatchError> {
        let stored = self.crc();
        let computed = crc32c::crc32c(&self.bytes[ATTRIBUTES_AT..]);
        if stored == computed {
            Ok(())
        } else {
            Err(BatchError::CrcMismatch { stored, computed })
        }
    }

    /// The whole batch, header included.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Total size in bytes, header included.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    pub fn base_offset(&self) -> i64 {
        read_i64(self.bytes, 0)
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset() + i64::from(self.last_offset_delta())
    }

    pub fn partition_leader_epoch(&self) -> i32 {
        read_i32(self.bytes, LEADER_EPOCH_AT)
    }

    pub fn crc(&self) -> u32 {
        read_i32(self.bytes, CRC_AT) as u32
    }

    pub fn attributes(&self) -> i16 {
        read_i16(self.bytes, ATTRIBUTES_AT)
    }

    /// 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> i16 {
        self.attributes() & COMPRESSION_MASK
    }

    /// True when the broker stamped the timestamps (LogAppendTime).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & TIMESTAMP_TYPE_BIT != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_BIT != 0
    }

    pub fn last_offset_delta(&self) -> i32 {
        read_i32(self.bytes, LAST_OFFSET_DELTA_AT)
    }

    pub fn base_timestamp(&self) -> i64 {
        read_i64(self.bytes, BASE_TIMESTAMP_AT)
    }

    pub fn max_timestamp(&self) -> i64 {
        read_i64(self.bytes, MAX_TIMESTAMP_AT)
    }

    pub fn producer_id(&self) -> i64 {
        read_i64(self.bytes, PRODUCER_ID_AT)
    }

    pub fn producer_epoch(&self) -> i16 {
        read_i16(self.bytes, PRODUCER_EPOCH_AT)
    }

    pub fn base_sequence(&self) -> i32 {
        read_i32(self.bytes, BASE_SEQUENCE_AT)
    }

    /// The sequence of the last record, wrapping at `i32::MAX` as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence() < 0 {
            return -1;
        }
        let base = i64::from(self.base_sequence());
        let last = base + i64::from(self.last_offset_delta());
        if last > i64::from(i32::MAX) {
            (last - i64::from(i32::MAX) - 1) as i32
        } else {
            last as i32
        }
    }

    pub fn record_count(&self) -> i32 {
        read_i32(self.bytes, RECORD_COUNT_AT)
    }
}

impl fmt::Debug for BatchHeader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchHeader")
            .field("base_offset", &self.base_offset())
            .field("size", &self.size())
            .field("last_offset_delta", &self.last_offset_delta())
            .field("max_timestamp", &self.max_timestamp())
            .field("producer_id", &self.producer_id())
            .field("base_sequence", &self.base_sequence())
            .finish()
    }
}

/// Splits a run of concatenated batches into one `Bytes` per batch, without copying.
/// Fails on the first batch that does not parse.
pub fn split_batches(records: &Bytes) -> Result<Vec<Bytes>, BatchError> {
    let mut batches = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let size = BatchHeader::parse(&records[at..])?.size();
        batches.push(records.slice(at..at + size));
        at += size;
    }
    Ok(batches)
}

/// Rewrites the base offset of the batch at the start of `batch`. The base offset lies
/// outside the CRC, so the checksum stays valid.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Turns a batch into a LogAppendTime batch stamped with `now_ms`, as Kafka does for topics
/// with `message.timestamp.type=LogAppendTime`, and recomputes its CRC.
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attributes = read_i16(batch, ATTRIBUTES_AT) | TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

fn read_i16(bytes: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([bytes[at], bytes[at + 1]])
}

fn read_i32(bytes: &[u8], at: usize) -> i32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&bytes[at..at + 4]);
    i32::from_be_bytes(raw)
}

fn read_i64(bytes: &[u8], at: usize) -> i64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[at..at + 8]);
    i64::from_be_bytes(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_batches::batch;
    use proptest::prelude::*;

    #[test]
    fn reads_the_fields_it_was_given() {
        let bytes = batch(42, 9, 1_700_000_000_000, b"records");
        let header = BatchHeader::parse_checked(&bytes).unwrap();
        assert_eq!(header.base_offset(), 42);
        assert_eq!(header.last_offset(), 51);
        assert_eq!(header.max_timestamp(), 1_700_000_000_000);
        assert_eq!(header.record_count(), 10);
        assert_eq!(header.producer_id(), -1);
        assert_eq!(header.size(), HEADER_BYTES + 7);
        assert!(!header.is_log_append_time());
    }

    #[test]
    fn a_flipped_bit_fails_the_crc() {
        let mut bytes = batch(0, 0, 1, b"x");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            BatchHeader::parse_checked(&bytes),
            Err(BatchError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn stamping_the_base_offset_keeps_the_crc_valid() {
        let mut bytes = batch(0, 3, 1, b"abc");
        set_base_offset(&mut bytes, 1234);
        let header = BatchHeader::parse_checked(&bytes).unwrap();
        assert_eq!(header.base_offset(), 1234);
    }

    #[test]
    fn log_append_time_sets_the_flag_and_a_fresh_crc() {
        let mut bytes = batch(0, 0, 5, b"abc");
        set_log_append_time(&mut bytes, 99);
        let header = BatchHeader::parse_checked(&bytes).unwrap();
        assert!(header.is_log_append_time());
        assert_eq!(header.max_timestamp(), 99);
    }

    #[test]
    fn old_magic_is_refused() {
        let mut bytes = batch(0, 0, 5, b"abc");
        bytes[MAGIC_AT] = 1;
        assert_eq!(
            BatchHeader::parse(&bytes).unwrap_err(),
            BatchError::UnsupportedMagic(1)
        );
    }

    #[test]
    fn splits_concatenated_batches() {
        let mut run = batch(0, 1, 1, b"ab");
        run.extend(batch(2, 0, 1, b"c"));
        let split = split_batches(&Bytes::from(run)).unwrap();
        assert_eq!(split.len(), 2);
        assert_eq!(BatchHeader::parse(&split[1]).unwrap().base_offset(), 2);
    }

    #[test]
    fn sequences_wrap_like_kafka() {
        let mut bytes = batch(0, 4, 1, b"");
        bytes[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4]
            .copy_from_slice(&(i32::MAX - 1).to_be_bytes());
        assert_eq!(BatchHeader::parse(&bytes).unwrap().last_sequence(), 2);
    }

    proptest! {
        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = BatchHeader::parse_checked(&bytes);
            let _ = split_batches(&Bytes::from(bytes));
        }
    }
}
