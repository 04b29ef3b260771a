//! The record-level half of log compaction: a stored batch's records read one by one (key,
//! whether the value is null, and the record's bytes as stored), and the batch rebuilt from
//! the records the cleaner keeps.
//!
//! A v2 record carries its offset and timestamp as deltas from the batch's base offset and
//! base timestamp. A rebuilt batch keeps the original's base offset, last offset delta, base
//! timestamp, max timestamp, attributes and producer fields (Kafka keeps the last offset so
//! a producer's sequence numbers still line up), so each kept record's bytes are copied
//! unchanged: offsets, timestamps and headers are preserved by construction. Only the record
//! count, the batch length and the CRC32C change; a compressed batch is decompressed (within
//! a budget) and its kept records recompressed with the same codec.

use std::io::{self, Write};
use std::ops::ControlFlow;

use super::batch::{BatchHeader, BATCH_LENGTH_AT, HEADER_BYTES, LOG_OVERHEAD, RECORD_COUNT_AT};
use super::decompress::walk_batch;
use super::validate::{refresh_crc, RecordError};
use super::walk::{RecordWalk, Source};

/// One record of a batch, borrowed from its (decompressed) records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRecord<'a> {
    /// The record as stored, its length prefix included.
    pub bytes: &'a [u8],
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// A null value: a tombstone.
    pub tombstone: bool,
}

/// The uncompressed records of `batch`: a slice of it when it is not compressed, decompressed
/// with at most `budget` bytes otherwise.
pub fn records_of(batch: &BatchHeader<'_>, budget: u64) -> Result<Vec<u8>, RecordError> {
    if batch.compression() == 0 {
        return Ok(batch.bytes()[HEADER_BYTES..].to_vec());
    }
    walk_batch(batch, budget, &Collect)
}

/// Copies out whatever the source yields.
struct Collect;

impl RecordWalk for Collect {
    type Output = Vec<u8>;
    fn walk<S: Source>(&self, source: &mut S) -> Result<Vec<u8>, RecordError> {
        let mut out = Vec::new();
        loop {
            let buffered = source.buffered();
            let n = buffered.len();
            out.extend_from_slice(buffered);
            source.advance(n);
            if source.at_end()? {
                return Ok(out);
            }
        }
    }
}

/// Splits uncompressed `records` into the `count` records they hold, each parsed as far as
/// compaction needs. A record that does not parse is `Invalid`: stored batches were checked
/// at produce, so this means damage.
pub fn split_records(records: &[u8], count: i32) -> Result<Vec<StoredRecord<'_>>, RecordError> {
    let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(records.len()));
    let mut at = 0usize;
    for index in 0..count {
        let bad = |why: &str| RecordError::Invalid(format!("record {index}: {why}"));
        let start = at;
        let length = read_varint(records, &mut at).ok_or_else(|| bad("bad length"))?;
        let length = usize::try_from(length).map_err(|_| bad("negative length"))?;
        let end = at
            .checked_add(length)
            .filter(|&end| end <= records.len())
            .ok_or_else(|| bad("runs past the batch"))?;
        let body = &records[at..end];
        let mut p = 1; // attributes
        read_varlong(body, &mut p).ok_or_else(|| bad("bad timestamp delta"))?;
        let offset_delta = read_varint(body, &mut p).ok_or_else(|| bad("bad offset delta"))?;
        let key = read_field(body, &mut p).ok_or_else(|| bad("bad key"))?;
        let value = read_field(body, &mut p).ok_or_else(|| bad("bad value"))?;
        out.push(StoredRecord {
            bytes: &records[start..end],
            offset_delta,
            key,
            value,
            tombstone: value.is_none(),
        });
        at = end;
    }
    if at != records.len() {
        return Err(RecordError::Invalid(format!(
            "bytes remain after the {count} records the batch declares"
        )));
    }
    Ok(out)
}

/// `batch` with only `kept` (records of it, in order) in it: the same header but for the
/// record count, the length and the CRC, the records recompressed with the batch's codec.
pub fn rebuild_batch(batch: &BatchHeader<'_>, kept: &[StoredRecord<'_>]) -> io::Result<Vec<u8>> {
    let raw_len = kept.iter().map(|r| r.bytes.len()).sum();
    let mut raw = Vec::with_capacity(raw_len);
    for record in kept {
        raw.extend_from_slice(record.bytes);
    }
    let payload = compress(batch.compression(), raw)?;
    let mut out = Vec::with_capacity(HEADER_BYTES + payload.len());
    out.extend_from_slice(&batch.bytes()[..HEADER_BYTES]);
    out.extend_from_slice(&payload);
    let length = i32::try_from(out.len() - LOG_OVERHEAD)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "batch too large"))?;
    out[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
    let count = i32::try_from(kept.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "too many records"))?;
    out[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&count.to_be_bytes());
    refresh_crc(&mut out);
    Ok(out)
}

/// `raw` compressed with `codec`, as the clients write each codec (lz4 frames of 64 KiB
/// blocks, snappy in snappy-java's framing, which Kafka's Java client reads and writes).
fn compress(codec: i16, raw: Vec<u8>) -> io::Result<Vec<u8>> {
    if raw.is_empty() {
        // An empty batch (kept for its producer's state) has no records to frame.
        return Ok(raw);
    }
    match codec {
        0 => Ok(raw),
        1 => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(&raw)?;
            encoder.finish()
        }
        2 => {
            let mut out = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
            for chunk in raw.chunks(32 * 1024) {
                let compressed = snap::raw::Encoder::new()
                    .compress_vec(chunk)
                    .map_err(io::Error::other)?;
                let length = u32::try_from(compressed.len()).map_err(io::Error::other)?;
                out.extend_from_slice(&length.to_be_bytes());
                out.extend_from_slice(&compressed);
            }
            Ok(out)
        }
        3 => {
            let mut encoder = lz4::EncoderBuilder::new()
                .block_size(lz4::BlockSize::Max64KB)
                .build(Vec::new())?;
            encoder.write_all(&raw)?;
            let (out, result) = encoder.finish();
            result.map(|()| out)
        }
        4 => zstd::encode_all(&raw[..], 3),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown compression type {other}"),
        )),
    }
}

/// Visits `f` with each record of the batch (decompressing it within `budget`).
pub fn for_each_record(
    batch: &BatchHeader<'_>,
    budget: u64,
    mut f: impl FnMut(&StoredRecord<'_>) -> ControlFlow<()>,
) -> Result<(), RecordError> {
    let records = records_of(batch, budget)?;
    for record in split_records(&records, batch.record_count())? {
        if f(&record).is_break() {
            break;
        }
    }
    Ok(())
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Option<i32> {
    let mut raw: u32 = 0;
    for shift in [0, 7, 14, 21, 28] {
        let byte = *bytes.get(*at)?;
        *at += 1;
        raw |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((raw >> 1) as i32 ^ -((raw & 1) as i32));
        }
    }
    None
}

fn read_varlong(bytes: &[u8], at: &mut usize) -> Option<i64> {
    let mut raw: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    None
}

/// A length-prefixed field: `Some(None)` when null.
fn read_field<'a>(body: &'a [u8], at: &mut usize) -> Option<Option<&'a [u8]>> {
    let length = read_varint(body, at)?;
    let Ok(length) = usize::try_from(length) else {
        return Some(None);
    };
    let field = body.get(*at..at.checked_add(length)?)?;
    *at += length;
    Some(Some(field))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_batches::{batch_over, compress as test_compress, record};

    fn keyed(count: i32) -> Vec<u8> {
        let mut raw = Vec::new();
        for i in 0..count {
            let key = format!("k{}", i % 3);
            let value = (i != 4).then(|| format!("v{i}"));
            raw.extend(record(
                i,
                i64::from(i),
                Some(key.as_bytes()),
                value.as_deref().map(str::as_bytes),
                &[(b"h", Some(b"v"))],
            ));
        }
        raw
    }

    #[test]
    fn a_rebuilt_batch_keeps_its_records_bytes_and_gets_a_correct_crc() {
        for codec in 0..=4i16 {
            let raw = keyed(6);
            let bytes = batch_over(&test_compress(codec, &raw), 6, codec, 5);
            let header = BatchHeader::parse_checked(&bytes).unwrap();
            let records = records_of(&header, 1 << 20).unwrap();
            assert_eq!(records, raw);
            let split = split_records(&records, 6).unwrap();
            assert_eq!(split.len(), 6);
            assert!(split[4].tombstone);
            assert_eq!(split[5].key, Some(&b"k2"[..]));
            let kept = [split[1], split[4], split[5]];
            let rebuilt = rebuild_batch(&header, &kept).unwrap();
            let view = BatchHeader::parse_checked(&rebuilt).unwrap();
            assert_eq!(view.record_count(), 3);
            assert_eq!(view.last_offset_delta(), header.last_offset_delta());
            assert_eq!(view.compression(), codec);
            let again = records_of(&view, 1 << 20).unwrap();
            let split_again = split_records(&again, 3).unwrap();
            assert_eq!(split_again, kept.to_vec());
        }
    }
}
