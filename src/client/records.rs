//! Records as the command line sees them, and their v2 batches on the wire (through the
//! `kafka-protocol` crate's encoder and decoder).

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record as WireRecord, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType,
};

use super::error::{ClientError, ClientResult};

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
    /// In order. The crate's record keeps headers by name, so a repeated name keeps its last
    /// value only.
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// One v2 batch (uncompressed, no producer id) holding `records`, offsets from 0.
pub fn encode_batch(records: &[Record], now_ms: i64) -> ClientResult<Bytes> {
    let wire: Vec<WireRecord> = records
        .iter()
        .enumerate()
        .map(|(i, record)| WireRecord {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // No producer id, so no sequence: the batch's base sequence is -1. The encoder
            // keeps records in one batch while offset minus sequence stays the same.
            sequence: (i as i32).wrapping_sub(1),
            timestamp: record.timestamp.unwrap_or(now_ms),
            key: record.key.clone(),
            value: record.value.clone(),
            headers: record
                .headers
                .iter()
                .map(|(name, value)| (StrBytes::from_string(name.clone()), value.clone()))
                .collect(),
        })
        .collect();
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        wire.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| ClientError::Protocol(format!("cannot encode a record batch: {e}")))?;
    Ok(out.freeze())
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

/// Decodes the whole batches of `data` (a trailing partial batch, which a broker may send when
/// a fetch hits its size limit, is left for the next fetch). With `aborted` (read_committed),
/// records of aborted transactions are dropped the way Kafka's consumer does
/// (`CompletedFetch`): a producer is skipped from its aborted transaction's first offset until
/// its abort marker.
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
        let Ok(length) = usize::try_from(length) else {
            return Err(ClientError::Protocol(format!(
                "partition {partition}: a batch at offset {base_offset} has length {length}"
            )));
        };
        let whole = 12 + length;
        if data.len() < whole {
            break;
        }
        let mut batch = data.split_to(whole);
        let last_offset = base_offset + i64::from(last_delta);
        decoded.next_offset = Some(last_offset + 1);
        if batch[16] != 2 {
            // Message sets before v2: skip (no broker of today writes them).
            continue;
        }
        check_record_count(partition, base_offset, &batch)?;
        let set = RecordBatchDecoder::decode(&mut batch).map_err(|e| {
            ClientError::Protocol(format!(
                "partition {partition}: cannot decode the batch at offset {base_offset}: {e}"
            ))
        })?;
        if aborted.is_some() {
            while let Some(next) = pending.next_if(|a| a.first_offset <= last_offset) {
                skipping.insert(next.producer_id);
            }
        }
        for record in set.records {
            if record.control {
                // An abort marker ends its producer's aborted transaction; the key's second
                // i16 is the marker type (0 abort, 1 commit).
                let is_abort = record
                    .key
                    .as_ref()
                    .filter(|k| k.len() >= 4)
                    .is_some_and(|k| (&k[2..4]).get_i16() == 0);
                if is_abort {
                    skipping.remove(&record.producer_id);
                }
                continue;
            }
            if record.transactional && skipping.contains(&record.producer_id) {
                continue;
            }
            decoded.records.push(Record {
                partition,
                offset: record.offset,
                timestamp: Some(record.timestamp),
                key: record.key,
                value: record.value,
                headers: record
                    .headers
                    .into_iter()
                    .map(|(name, value)| (name.to_string(), value))
                    .collect(),
            });
        }
    }
    Ok(decoded)
}

/// The smallest a record can be in an uncompressed v2 batch: length, attributes, timestamp
/// and offset deltas, key and value lengths and header count, one byte each at least.
const MIN_RECORD_BYTES: usize = 7;
/// The most records a compressed batch may claim: the decoder reserves room for them all
/// before decompressing, so a confused broker must not be able to ask for gigabytes.
const MAX_COMPRESSED_RECORDS: usize = 1_000_000;

/// Refuses a batch whose record count cannot be true, before the crate's decoder reserves
/// memory for it. `batch` is the whole batch, header included (61 bytes).
fn check_record_count(partition: i32, base_offset: i64, batch: &[u8]) -> ClientResult<()> {
    const HEADER_BYTES: usize = 61;
    let bad = |why: String| {
        Err(ClientError::Protocol(format!(
            "partition {partition}: the batch at offset {base_offset} {why}"
        )))
    };
    let Some(count) = batch.get(57..61) else {
        return bad("is shorter than a batch header".to_string());
    };
    let count = i32::from_be_bytes([count[0], count[1], count[2], count[3]]);
    let Ok(count) = usize::try_from(count) else {
        return bad(format!("claims {count} records"));
    };
    let compressed = batch[22] & 0x07 != 0;
    let most = if compressed {
        MAX_COMPRESSED_RECORDS
    } else {
        (batch.len() - HEADER_BYTES.min(batch.len())) / MIN_RECORD_BYTES
    };
    if count > most {
        return bad(format!(
            "claims {count} records, more than its bytes can hold"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let error = decode_batches(3, lying.freeze(), None).unwrap_err();
        assert!(
            error.to_string().contains("claims 2147483647 records"),
            "{error}"
        );
    }
}
