//! Control batches: what the broker itself writes into a partition to end a transaction (an
//! end-transaction marker, COMMIT or ABORT), and what a reader makes of one.
//!
//! As Kafka writes them (`MemoryRecords.withEndTransactionMarker`): a v2 batch, uncompressed,
//! CreateTime, with the control (0x20) and transactional (0x10) attribute bits, the
//! producer's id and epoch, no sequence (-1), and one record at offset delta 0 and timestamp
//! delta 0, without headers, whose
//! - key is `version: i16 = 0, type: i16` (`ControlRecordType`: 0 ABORT, 1 COMMIT; readers
//!   refuse a key version other than 0 and take other types as unknown, to be skipped), and
//! - value is `version: i16 = 0, coordinator_epoch: i32` (`EndTransactionMarker`: readers
//!   refuse a negative version or fewer than 6 bytes, and read a newer version as 0).

use super::batch::{
    BatchHeader, ATTRIBUTES_AT, BASE_SEQUENCE_AT, BASE_TIMESTAMP_AT, BATCH_LENGTH_AT, CONTROL_BIT,
    CRC_AT, HEADER_BYTES, LAST_OFFSET_DELTA_AT, LEADER_EPOCH_AT, LOG_OVERHEAD, MAGIC_AT,
    MAX_TIMESTAMP_AT, PRODUCER_EPOCH_AT, PRODUCER_ID_AT, RECORD_COUNT_AT, TRANSACTIONAL_BIT,
};
use super::validate::RecordError;
use super::walk::{first_key_value, KeyValue};

/// The only version of the control record key, and of the marker value, Kafka writes.
const CONTROL_KEY_VERSION: i16 = 0;
const MARKER_VALUE_VERSION: i16 = 0;
/// version + type.
const CONTROL_KEY_BYTES: usize = 4;
/// version + coordinator epoch.
const MARKER_VALUE_BYTES: usize = 6;

/// What a control record says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlRecordType {
    Commit,
    Abort,
    /// A type this broker does not know: readers skip the record.
    Unknown(i16),
}

impl ControlRecordType {
    /// The `type` field of the record key.
    pub fn code(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::Unknown(code) => code,
        }
    }

    fn from_code(code: i16) -> ControlRecordType {
        match code {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            other => ControlRecordType::Unknown(other),
        }
    }
}

/// How a transaction ended, as its marker records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionResult {
    Commit,
    Abort,
}

/// The end-transaction marker: the record of a COMMIT or ABORT control batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTransactionMarker {
    pub result: TransactionResult,
    /// The epoch of the transaction coordinator that wrote the marker, for fencing.
    pub coordinator_epoch: i32,
}

impl EndTransactionMarker {
    fn control_type(&self) -> ControlRecordType {
        match self.result {
            TransactionResult::Commit => ControlRecordType::Commit,
            TransactionResult::Abort => ControlRecordType::Abort,
        }
    }
}

/// A control batch holding `marker`, at base offset 0 (the log stamps the real one), stamped
/// `timestamp_ms`, for the producer `producer_id`/`producer_epoch`.
pub fn end_transaction_batch(
    producer_id: i64,
    producer_epoch: i16,
    partition_leader_epoch: i32,
    timestamp_ms: i64,
    marker: EndTransactionMarker,
) -> Vec<u8> {
    let mut key = [0u8; CONTROL_KEY_BYTES];
    key[..2].copy_from_slice(&CONTROL_KEY_VERSION.to_be_bytes());
    key[2..].copy_from_slice(&marker.control_type().code().to_be_bytes());
    let mut value = [0u8; MARKER_VALUE_BYTES];
    value[..2].copy_from_slice(&MARKER_VALUE_VERSION.to_be_bytes());
    value[2..].copy_from_slice(&marker.coordinator_epoch.to_be_bytes());

    // The record: attributes, timestamp delta, offset delta, key, value, header count.
    let mut body = vec![0u8, 0, 0];
    put_varint(&mut body, key.len() as i64);
    body.extend_from_slice(&key);
    put_varint(&mut body, value.len() as i64);
    body.extend_from_slice(&value);
    put_varint(&mut body, 0);

    let mut batch = vec![0u8; HEADER_BYTES];
    put_varint(&mut batch, body.len() as i64);
    batch.extend_from_slice(&body);
    let length = (batch.len() - LOG_OVERHEAD) as i32;
    let mut put = |at: usize, field: &[u8]| batch[at..at + field.len()].copy_from_slice(field);
    put(BATCH_LENGTH_AT, &length.to_be_bytes());
    put(LEADER_EPOCH_AT, &partition_leader_epoch.to_be_bytes());
    put(MAGIC_AT, &[2]);
    put(
        ATTRIBUTES_AT,
        &(CONTROL_BIT | TRANSACTIONAL_BIT).to_be_bytes(),
    );
    put(LAST_OFFSET_DELTA_AT, &0i32.to_be_bytes());
    put(BASE_TIMESTAMP_AT, &timestamp_ms.to_be_bytes());
    put(MAX_TIMESTAMP_AT, &timestamp_ms.to_be_bytes());
    put(PRODUCER_ID_AT, &producer_id.to_be_bytes());
    put(PRODUCER_EPOCH_AT, &producer_epoch.to_be_bytes());
    put(BASE_SEQUENCE_AT, &(-1i32).to_be_bytes());
    put(RECORD_COUNT_AT, &1i32.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// The type of the control record in `batch` (its first record). Not a control batch, a
/// compressed one (the broker never writes those), or a key that is not a version-0 control
/// key: [`RecordError::Invalid`].
pub fn control_record_type(batch: &BatchHeader<'_>) -> Result<ControlRecordType, RecordError> {
    let key = control_key_value(batch)?
        .key
        .filter(|key| key.len() >= CONTROL_KEY_BYTES)
        .ok_or_else(|| invalid("a control record key needs 4 bytes"))?;
    let version = i16::from_be_bytes([key[0], key[1]]);
    if version != CONTROL_KEY_VERSION {
        return Err(invalid(&format!("control record key version {version}")));
    }
    Ok(ControlRecordType::from_code(i16::from_be_bytes([
        key[2], key[3],
    ])))
}

/// The end-transaction marker in `batch`: a COMMIT or ABORT control batch.
pub fn end_transaction_marker(
    batch: &BatchHeader<'_>,
) -> Result<EndTransactionMarker, RecordError> {
    let result = match control_record_type(batch)? {
        ControlRecordType::Commit => TransactionResult::Commit,
        ControlRecordType::Abort => TransactionResult::Abort,
        ControlRecordType::Unknown(code) => {
            return Err(invalid(&format!(
                "control record type {code} is not a transaction marker"
            )))
        }
    };
    let value = control_key_value(batch)?
        .value
        .filter(|value| value.len() >= MARKER_VALUE_BYTES)
        .ok_or_else(|| invalid("an end-transaction marker value needs 6 bytes"))?;
    let version = i16::from_be_bytes([value[0], value[1]]);
    if version < 0 {
        return Err(invalid(&format!(
            "end-transaction marker version {version}"
        )));
    }
    // A newer version is read as version 0, as Kafka does: its fields come first.
    let coordinator_epoch = i32::from_be_bytes([value[2], value[3], value[4], value[5]]);
    Ok(EndTransactionMarker {
        result,
        coordinator_epoch,
    })
}

fn control_key_value<'a>(batch: &BatchHeader<'a>) -> Result<KeyValue<'a>, RecordError> {
    if !batch.is_control() {
        return Err(invalid("not a control batch"));
    }
    if batch.compression() != 0 {
        return Err(invalid("a compressed control batch"));
    }
    if batch.record_count() < 1 {
        return Err(invalid("a control batch without a record"));
    }
    first_key_value(&batch.bytes()[HEADER_BYTES..])
}

fn invalid(why: &str) -> RecordError {
    RecordError::Invalid(why.to_string())
}

/// A zigzag varint, as record fields are written.
fn put_varint(out: &mut Vec<u8>, value: i64) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    while zigzag >= 0x80 {
        out.push((zigzag as u8 & 0x7f) | 0x80);
        zigzag >>= 7;
    }
    out.push(zigzag as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::find::first_record_at_or_after;
    use crate::record::validate::{check_records, RecordRules};

    const NOW: i64 = 1_700_000_000_000;

    fn marker(result: TransactionResult, coordinator_epoch: i32) -> EndTransactionMarker {
        EndTransactionMarker {
            result,
            coordinator_epoch,
        }
    }

    #[test]
    fn a_built_marker_batch_parses_checks_and_round_trips() {
        for (result, code) in [
            (TransactionResult::Abort, 0),
            (TransactionResult::Commit, 1),
        ] {
            let bytes = end_transaction_batch(4242, 7, 3, NOW, marker(result, 19));
            let header = BatchHeader::parse_checked(&bytes).unwrap();
            assert_eq!(header.size(), bytes.len());
            assert!(header.is_control() && header.is_transactional());
            assert!(!header.is_log_append_time());
            assert_eq!(header.compression(), 0);
            assert_eq!(header.attributes(), 0x30);
            assert_eq!(
                (
                    header.base_offset(),
                    header.last_offset(),
                    header.record_count()
                ),
                (0, 0, 1)
            );
            assert_eq!((header.producer_id(), header.producer_epoch()), (4242, 7));
            assert_eq!(
                (header.base_sequence(), header.partition_leader_epoch()),
                (-1, 3)
            );
            assert_eq!(
                (header.base_timestamp(), header.max_timestamp()),
                (NOW, NOW)
            );
            assert_eq!(control_record_type(&header).unwrap().code(), code);
            assert_eq!(end_transaction_marker(&header).unwrap(), marker(result, 19));
            // Its one record is well formed as the record walk reads records.
            let rules = RecordRules::for_topic(&Default::default(), 1 << 20, false, NOW);
            assert_eq!(check_records(&header, &rules).unwrap().max_timestamp, NOW);
            let found = first_record_at_or_after(&header, NOW, 0, 1 << 20).unwrap();
            assert_eq!(found.map(|r| (r.offset, r.timestamp)), Some((0, NOW)));
        }
    }

    #[test]
    fn the_record_is_laid_out_as_kafka_writes_it() {
        let bytes = end_transaction_batch(1, 0, -1, 5, marker(TransactionResult::Abort, -2));
        // Length 16, attributes, timestamp delta, offset delta; key of 4 (version 0, ABORT is
        // type 0 in Kafka's ControlRecordType), value of 6; no headers (varints zigzagged).
        assert_eq!(
            &bytes[HEADER_BYTES..],
            &[32, 0, 0, 0, 8, 0, 0, 0, 0, 12, 0, 0, 0xff, 0xff, 0xff, 0xfe, 0][..]
        );
        let commit = end_transaction_batch(1, 0, -1, 5, marker(TransactionResult::Commit, -2));
        assert_eq!(commit[HEADER_BYTES + 8], 1, "COMMIT is type 1");
    }

    #[test]
    fn other_batches_and_keys_are_refused_and_unknown_types_kept() {
        let mut bytes = end_transaction_batch(1, 0, 0, NOW, marker(TransactionResult::Commit, 0));
        // Key type 5: a control record of a kind this broker does not know.
        bytes[HEADER_BYTES + 8] = 5;
        crate::record::validate::refresh_crc(&mut bytes);
        let header = BatchHeader::parse_checked(&bytes).unwrap();
        assert_eq!(
            control_record_type(&header).unwrap(),
            ControlRecordType::Unknown(5)
        );
        assert!(end_transaction_marker(&header).is_err());
        // Key version 1.
        bytes[HEADER_BYTES + 6] = 1;
        crate::record::validate::refresh_crc(&mut bytes);
        let header = BatchHeader::parse_checked(&bytes).unwrap();
        assert!(control_record_type(&header).is_err());
        // A data batch.
        let data = crate::record::test_batches::valid_batch(1, 0);
        let header = BatchHeader::parse_checked(&data).unwrap();
        assert!(control_record_type(&header).is_err());
    }
}
