//! Whole records, for people rather than consumers: a stored batch's records read with
//! every field (offset, timestamp, key, value, headers), and a new uncompressed batch built
//! from records typed in by hand. The web console shows the first and produces with the
//! second; consumers never need either (they get batches as stored).
//!
//! The reading trusts nothing more than the compaction split does: every length is checked
//! against the bytes left, and a compressed batch is decompressed within a budget.

use super::batch::{
    BatchHeader, ATTRIBUTES_AT, BASE_SEQUENCE_AT, BASE_TIMESTAMP_AT, BATCH_LENGTH_AT, HEADER_BYTES,
    LAST_OFFSET_DELTA_AT, LOG_OVERHEAD, MAGIC_AT, MAX_TIMESTAMP_AT, PRODUCER_EPOCH_AT,
    PRODUCER_ID_AT, RECORD_COUNT_AT,
};
use super::compact::records_of;
use super::validate::{refresh_crc, RecordError};

/// A record with every field, owned: what a person looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullRecord {
    pub offset: i64,
    /// The record's timestamp, or the batch's for LogAppendTime batches (as consumers see).
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// Header names with their values (`None` is a null value), in the record's order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// The records of one stored batch, decompressed with at most `budget` bytes.
pub fn read_batch(batch: &BatchHeader<'_>, budget: u64) -> Result<Vec<FullRecord>, RecordError> {
    let raw = records_of(batch, budget)?;
    let count = batch.record_count();
    let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(raw.len()));
    let mut at = 0usize;
    for index in 0..count {
        let bad = |why: &str| RecordError::Invalid(format!("record {index}: {why}"));
        let length = varint(&raw, &mut at).ok_or_else(|| bad("bad length"))?;
        let length = usize::try_from(length).map_err(|_| bad("negative length"))?;
        let end = at
            .checked_add(length)
            .filter(|&end| end <= raw.len())
            .ok_or_else(|| bad("runs past the batch"))?;
        let body = &raw[at..end];
        let mut p = 1; // attributes
        let timestamp_delta = varlong(body, &mut p).ok_or_else(|| bad("bad timestamp delta"))?;
        let offset_delta = varint(body, &mut p).ok_or_else(|| bad("bad offset delta"))?;
        let key = field(body, &mut p).ok_or_else(|| bad("bad key"))?;
        let value = field(body, &mut p).ok_or_else(|| bad("bad value"))?;
        let header_count = varint(body, &mut p).ok_or_else(|| bad("bad header count"))?;
        // Each header takes at least two bytes: a count past that is damage, not a size.
        let header_count = usize::try_from(header_count)
            .ok()
            .filter(|&n| n <= body.len().saturating_sub(p) / 2)
            .ok_or_else(|| bad("bad header count"))?;
        let mut headers = Vec::with_capacity(header_count);
        for _ in 0..header_count {
            let name = field(body, &mut p)
                .flatten()
                .ok_or_else(|| bad("bad header name"))?;
            let value = field(body, &mut p).ok_or_else(|| bad("bad header value"))?;
            headers.push((
                String::from_utf8_lossy(name).into_owned(),
                value.map(<[u8]>::to_vec),
            ));
        }
        let timestamp = if batch.is_log_append_time() {
            batch.max_timestamp()
        } else {
            batch.base_timestamp().saturating_add(timestamp_delta)
        };
        out.push(FullRecord {
            offset: batch.base_offset() + i64::from(offset_delta),
            timestamp,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers,
        });
        at = end;
    }
    Ok(out)
}

/// A record to produce: the fields a person gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRecord {
    /// CreateTime in milliseconds; `None`: the batch's.
    pub timestamp: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// An uncompressed v2 batch of `records`, each stamped with its own timestamp or else
/// `timestamp_ms` (CreateTime), with no producer id (not idempotent) and a correct CRC: the
/// batch a plain producer would send. Repeated header names are kept, in order.
pub fn build_batch(records: &[NewRecord], timestamp_ms: i64) -> Vec<u8> {
    let stamp = |record: &NewRecord| record.timestamp.unwrap_or(timestamp_ms);
    let base_timestamp = records.iter().map(stamp).min().unwrap_or(timestamp_ms);
    let max_timestamp = records.iter().map(stamp).max().unwrap_or(timestamp_ms);
    let mut out = vec![0u8; HEADER_BYTES];
    for (delta, record) in records.iter().enumerate() {
        let mut body = vec![0u8]; // attributes
        put_varint(&mut body, stamp(record).saturating_sub(base_timestamp));
        put_varint(&mut body, delta as i64);
        put_field(&mut body, record.key.as_deref());
        put_field(&mut body, record.value.as_deref());
        put_varint(&mut body, record.headers.len() as i64);
        for (name, value) in &record.headers {
            put_field(&mut body, Some(name.as_bytes()));
            put_field(&mut body, value.as_deref());
        }
        put_varint(&mut out, body.len() as i64);
        out.extend_from_slice(&body);
    }
    let length = (out.len() - LOG_OVERHEAD) as i32;
    out[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
    out[MAGIC_AT] = 2;
    // Attributes 0: CreateTime, no compression, not transactional.
    out[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&0i16.to_be_bytes());
    let last_delta = records.len().saturating_sub(1) as i32;
    out[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4].copy_from_slice(&last_delta.to_be_bytes());
    out[BASE_TIMESTAMP_AT..BASE_TIMESTAMP_AT + 8].copy_from_slice(&base_timestamp.to_be_bytes());
    out[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    out[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&(-1i64).to_be_bytes());
    out[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2].copy_from_slice(&(-1i16).to_be_bytes());
    out[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&(-1i32).to_be_bytes());
    let count = records.len() as i32;
    out[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&count.to_be_bytes());
    refresh_crc(&mut out);
    out
}

fn put_varint(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

fn put_field(out: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        Some(bytes) => {
            put_varint(out, bytes.len() as i64);
            out.extend_from_slice(bytes);
        }
        None => put_varint(out, -1),
    }
}

fn varint(bytes: &[u8], at: &mut usize) -> Option<i32> {
    let raw = varlong_raw(bytes, at, 5)?;
    let value = (raw >> 1) as i64 ^ -((raw & 1) as i64);
    i32::try_from(value).ok()
}

fn varlong(bytes: &[u8], at: &mut usize) -> Option<i64> {
    let raw = varlong_raw(bytes, at, 10)?;
    Some((raw >> 1) as i64 ^ -((raw & 1) as i64))
}

fn varlong_raw(bytes: &[u8], at: &mut usize, max_bytes: usize) -> Option<u64> {
    let mut raw: u64 = 0;
    for i in 0..max_bytes {
        let byte = *bytes.get(*at)?;
        *at += 1;
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(raw);
        }
    }
    None
}

/// A length-prefixed field: `Some(None)` when null, `None` when it runs past the bytes.
fn field<'a>(body: &'a [u8], at: &mut usize) -> Option<Option<&'a [u8]>> {
    let length = varint(body, at)?;
    let Ok(length) = usize::try_from(length) else {
        return Some(None);
    };
    let end = at.checked_add(length)?;
    let bytes = body.get(*at..end)?;
    *at = end;
    Some(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::set_base_offset;
    use crate::record::test_batches::{batch_over, compress, record};

    fn sample() -> Vec<NewRecord> {
        vec![
            NewRecord {
                timestamp: None,
                key: Some(b"k1".to_vec()),
                value: Some(br#"{"a":1}"#.to_vec()),
                headers: vec![
                    ("trace".into(), Some(b"abc".to_vec())),
                    ("none".into(), None),
                ],
            },
            NewRecord {
                timestamp: None,
                key: None,
                value: Some(vec![0xff, 0x00, 0x80]),
                headers: vec![],
            },
            NewRecord::default(),
        ]
    }

    #[test]
    fn a_built_batch_reads_back_with_every_field_at_its_offset() {
        let mut bytes = build_batch(&sample(), 1_700_000_000_000);
        set_base_offset(&mut bytes, 40);
        let header = BatchHeader::parse_checked(&bytes).unwrap();
        header.verify_crc().unwrap();
        assert_eq!(header.record_count(), 3);
        let read = read_batch(&header, 1 << 20).unwrap();
        assert_eq!(read.len(), 3);
        for (i, (got, sent)) in read.iter().zip(sample()).enumerate() {
            assert_eq!(got.offset, 40 + i as i64);
            assert_eq!(got.timestamp, 1_700_000_000_000);
            assert_eq!(got.key, sent.key);
            assert_eq!(got.value, sent.value);
            assert_eq!(got.headers, sent.headers);
        }
    }

    #[test]
    fn records_keep_their_own_timestamps_and_repeated_header_names() {
        let records = [
            NewRecord {
                timestamp: Some(5_000),
                headers: vec![
                    ("h".into(), Some(b"1".to_vec())),
                    ("h".into(), Some(b"2".to_vec())),
                ],
                ..NewRecord::default()
            },
            NewRecord {
                timestamp: Some(2_000),
                ..NewRecord::default()
            },
            NewRecord::default(),
        ];
        let bytes = build_batch(&records, 9_000);
        let header = BatchHeader::parse_checked(&bytes).unwrap();
        assert_eq!(
            (header.base_timestamp(), header.max_timestamp()),
            (2_000, 9_000)
        );
        let read = read_batch(&header, 1 << 20).unwrap();
        let stamps: Vec<i64> = read.iter().map(|r| r.timestamp).collect();
        assert_eq!(stamps, [5_000, 2_000, 9_000]);
        assert_eq!(read[0].headers, records[0].headers);
    }

    #[test]
    fn a_compressed_batch_reads_back_and_a_damaged_one_is_refused() {
        let mut raw = Vec::new();
        for i in 0..4 {
            raw.extend(record(
                i,
                i64::from(i) * 10,
                Some(format!("k{i}").as_bytes()),
                Some(b"v"),
                &[(b"h", Some(b"x"))],
            ));
        }
        for codec in 0..=4i16 {
            let payload = compress(codec, &raw);
            let bytes = batch_over(&payload, 4, codec, 30);
            let header = BatchHeader::parse(&bytes).unwrap();
            let read = read_batch(&header, 1 << 20).unwrap();
            let keys: Vec<_> = read.iter().map(|r| r.key.clone().unwrap()).collect();
            assert_eq!(keys, [b"k0", b"k1", b"k2", b"k3"], "codec {codec}");
            assert_eq!(read[3].offset - read[0].offset, 3);
            assert_eq!(read[2].headers, [("h".to_string(), Some(b"x".to_vec()))]);
        }
        let mut cut = batch_over(&raw[..raw.len() - 3], 4, 0, 30);
        refresh_crc(&mut cut);
        let header = BatchHeader::parse(&cut).unwrap();
        assert!(read_batch(&header, 1 << 20).is_err());
    }
}
