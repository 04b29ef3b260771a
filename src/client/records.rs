//! Records as the command line sees them, and their v2 batches on the wire: built and read by
//! the record module's own builder and bounded reader ([`crate::record::full`]), so a
//! repeated header name keeps every value and a compressed batch is decompressed within
//! [`MAX_DECOMPRESSED_BATCH_BYTES`], whatever the broker sends.

use bytes::Bytes;

use super::error::{ClientError, ClientResult};
use crate::record::batch::BatchHeader;
use crate::record::full::{build_batch, read_batch, NewRecord};

/// The most one fetched batch may decompress to: far above any batch a broker accepts by
/// default (`message.max.bytes` 1 MiB compressed), far below what would exhaust the
/// command line's memory; a batch past it is refused as damaged.
pub const MAX_DECOMPRESSED_BATCH_BYTES: u64 = 256 * 1024 * 1024;

/// One record: what was produced, or what was read with its place in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
    /// The offset when read; ignored when producing.
    pub offset: i64,
    /// Milliseconds since the epoch; when producing, `None` means now.
    pub timestamp: Option<i64>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// In order, a repeated name included.
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// One v2 batch (uncompressed, no producer id) holding `records`, offsets from 0; a record
/// without a timestamp is stamped `now_ms`.
pub fn encode_batch(records: &[Record], now_ms: i64) -> ClientResult<Bytes> {
    let records: Vec<NewRecord> = records
        .iter()
        .map(|record| NewRecord {
            timestamp: record.timestamp,
            key: record.key.as_ref().map(|k| k.to_vec()),
            value: record.value.as_ref().map(|v| v.to_vec()),
            headers: record
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), value.as_ref().map(|v| v.to_vec())))
                .collect(),
        })
        .collect();
    Ok(Bytes::from(build_batch(&records, now_ms)))
}

/// What one partition's fetched bytes held.
#[derive(Debug, Default)]
pub struct DecodedRecords {
    /// The data records, control records and (for read_committed) aborted ones left out.
    pub records: Vec<Record>,
    /// The offset after the last whole batch, when there was one.
    pub next_offset: Option<i64>,
}

/// A transaction Kafka's Fetch says was aborted: its producer, and its first offset.
#[derive(Clone, Copy, Debug)]
pub struct Aborted {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// Size of a batch's fixed header up to and including the last offset delta.
const BATCH_PREFIX_BYTES: usize = 27;
/// Where the magic byte lies.
const MAGIC_AT: usize = 16;

/// Decodes the whole batches of `data` (a trailing partial batch, which a broker may send when
/// a fetch hits its size limit, is left for the next fetch), each checked against its CRC.
/// With `aborted` (read_committed), records of aborted transactions are dropped the way
/// Kafka's consumer does (`CompletedFetch`): a producer is skipped from its aborted
/// transaction's first offset until its abort marker.
pub fn decode_batches(
    partition: i32,
    mut data: Bytes,
    aborted: Option<&[Aborted]>,
) -> ClientResult<DecodedRecords> {
    let mut decoded = DecodedRecords::default();
    let mut pending: Vec<Aborted> = aborted.map(<[Aborted]>::to_vec).unwrap_or_default();
    pending.sort_by_key(|a| a.first_offset);
    let mut pending = pending.into_iter().peekable();
    let mut skipping: std::collections::HashSet<i64> = Default::default();
    while data.len() >= BATCH_PREFIX_BYTES {
        let base_offset = i64::from_be_bytes(data[0..8].try_into().unwrap_or_default());
        let length = i32::from_be_bytes(data[8..12].try_into().unwrap_or_default());
        let last_delta = i32::from_be_bytes(data[23..27].try_into().unwrap_or_default());
        let bad = |why: String| {
            ClientError::Protocol(format!(
                "partition {partition}: the batch at offset {base_offset} {why}"
            ))
        };
        let Ok(length) = usize::try_from(length) else {
            return Err(bad(format!("has length {length}")));
        };
        let whole = 12 + length;
        if data.len() < whole {
            break;
        }
        let batch = data.split_to(whole);
        let last_offset = base_offset + i64::from(last_delta);
        decoded.next_offset = Some(last_offset + 1);
        if batch[MAGIC_AT] != 2 {
            // Message sets before v2: skip (no broker of today writes them).
            continue;
        }
        let header = BatchHeader::parse_checked(&batch).map_err(|e| bad(e.to_string()))?;
        if aborted.is_some() {
            while let Some(next) = pending.next_if(|a| a.first_offset <= last_offset) {
                skipping.insert(next.producer_id);
            }
        }
        let records = read_batch(&header, MAX_DECOMPRESSED_BATCH_BYTES)
            .map_err(|e| bad(format!("cannot be read: {e}")))?;
        if header.is_control() {
            // An abort marker ends its producer's aborted transaction; the key's second
            // i16 is the marker type (0 abort, 1 commit).
            let is_abort = records.iter().any(|r| {
                r.key
                    .as_deref()
                    .and_then(|k| k.get(2..4))
                    .is_some_and(|kind| kind == [0, 0])
            });
            if is_abort {
                skipping.remove(&header.producer_id());
            }
            continue;
        }
        if header.is_transactional() && skipping.contains(&header.producer_id()) {
            continue;
        }
        decoded.records.extend(records.into_iter().map(|record| {
            Record {
                partition,
                offset: record.offset,
                timestamp: Some(record.timestamp),
                key: record.key.map(Bytes::from),
                value: record.value.map(Bytes::from),
                headers: record
                    .headers
                    .into_iter()
                    .map(|(name, value)| (name, value.map(Bytes::from)))
                    .collect(),
            }
        }));
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn record(key: Option<&[u8]>, value: Option<&[u8]>) -> Record {
        Record {
            partition: 0,
            offset: 0,
            timestamp: Some(1_700_000_000_000),
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            headers: vec![
                ("h".into(), Some(Bytes::from_static(b""))),
                ("n".into(), None),
            ],
        }
    }

    #[test]
    fn batches_round_trip_and_a_partial_tail_waits() {
        let records = vec![record(Some(b"\xff\x00"), None), record(None, Some(b"v"))];
        let batch = encode_batch(&records, 0).unwrap();
        let mut two = BytesMut::from(&batch[..]);
        two.extend_from_slice(&batch[..batch.len() - 3]);
        let decoded = decode_batches(0, two.freeze(), None).unwrap();
        assert_eq!(decoded.records.len(), 2);
        assert_eq!(decoded.next_offset, Some(2));
        assert_eq!(decoded.records[0].key, records[0].key);
        assert_eq!(decoded.records[0].value, None);
        assert_eq!(decoded.records[1].offset, 1);
        assert_eq!(decoded.records[1].headers, records[1].headers);
    }

    #[test]
    fn a_batch_claiming_more_records_than_it_holds_is_refused() {
        let batch = encode_batch(&[record(None, Some(b"v"))], 0).unwrap();
        let mut lying = BytesMut::from(&batch[..]);
        lying[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
        crate::record::validate::refresh_crc(&mut lying);
        let error = decode_batches(3, lying.freeze(), None).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("partition 3: the batch at offset 0 cannot be read"),
            "{error}"
        );
    }

    #[test]
    fn a_damaged_batch_is_refused_by_its_crc() {
        let batch = encode_batch(&[record(None, Some(b"value"))], 0).unwrap();
        let mut flipped = BytesMut::from(&batch[..]);
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01;
        let error = decode_batches(0, flipped.freeze(), None).unwrap_err();
        assert!(error.to_string().contains("CRC32C"), "{error}");
    }

    #[test]
    fn repeated_header_names_and_record_timestamps_round_trip() {
        let mut first = record(Some(b"k"), Some(b"v"));
        first.headers = vec![
            ("trace".into(), Some(Bytes::from_static(b"a"))),
            ("trace".into(), Some(Bytes::from_static(b"b"))),
            ("trace".into(), None),
        ];
        let mut second = record(None, None);
        second.timestamp = Some(1_600_000_000_000);
        let batch = encode_batch(&[first.clone(), second.clone()], 0).unwrap();
        let decoded = decode_batches(0, batch, None).unwrap();
        assert_eq!(decoded.records[0].headers, first.headers);
        assert_eq!(decoded.records[0].timestamp, first.timestamp);
        assert_eq!(decoded.records[1].timestamp, second.timestamp);
    }

    #[test]
    fn a_batch_that_decompresses_past_the_cap_is_refused() {
        use crate::record::test_batches::{batch_over, compress, record as raw_record};
        // 300 MiB of zeros in one value compress to a few hundred KiB with zstd.
        let value = vec![0u8; 300 * 1024 * 1024];
        let raw = raw_record(0, 0, None, Some(&value), &[]);
        let batch = batch_over(&compress(4, &raw), 1, 4, 0);
        drop((value, raw));
        let error = decode_batches(0, Bytes::from(batch), None).unwrap_err();
        assert!(
            error.to_string().contains("inflates past 268435456 bytes"),
            "{error}"
        );
    }
}
