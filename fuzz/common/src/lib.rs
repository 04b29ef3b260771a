//! Valid v2 record batches, built by hand, for the fuzz targets and the seed generator.
//!
//! Why a crate of its own: the broker's batch builders live in `#[cfg(test)]` modules that
//! nothing outside the crate can see, and the seed generator must not link libFuzzer (it has
//! a `main` of its own), so it cannot depend on the fuzz crate itself.
//!
//! The layout is the one documented in `sluice::record::batch` (big-endian): base
//! offset i64 @0, batch length i32 @8, leader epoch i32 @12, magic i8 @16, CRC32C u32 @17
//! (of everything from the attributes on), attributes i16 @21, last offset delta i32 @23,
//! base timestamp i64 @27, max timestamp i64 @35, producer id i64 @43, producer epoch i16
//! @51, base sequence i32 @53, record count i32 @57, then the records.

/// Bytes in a v2 batch header.
pub const HEADER_BYTES: usize = 61;
/// Bytes up to the end of the batch length field: a batch is `LOG_OVERHEAD + batch_length`.
pub const LOG_OVERHEAD: usize = 12;

const BATCH_LENGTH_AT: usize = 8;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORD_COUNT_AT: usize = 57;

/// One record of a batch: key and value (`None` is a null field), no headers.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub timestamp_delta: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

/// The records of a batch, uncompressed, with offset deltas 0, 1, 2, ...
pub fn records(records: &[Record<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let mut body = vec![0u8]; // attributes: unused
        put_varlong(&mut body, record.timestamp_delta);
        put_varint(&mut body, index as i32);
        put_field(&mut body, record.key);
        put_field(&mut body, record.value);
        put_varint(&mut body, 0); // no headers
        put_varint(&mut out, body.len() as i32);
        out.extend_from_slice(&body);
    }
    out
}

/// A batch of `count` records over `payload` (the records as [`records`] lays them out, or
/// compressed with the codec `compression` names: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
/// Producer fields say "not idempotent"; the CRC is right.
pub fn batch(
    base_offset: i64,
    timestamp: i64,
    count: i32,
    compression: i16,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_BYTES];
    b.extend_from_slice(payload);
    put_i64(&mut b, 0, base_offset);
    let length = (b.len() - LOG_OVERHEAD) as i32;
    put_i32(&mut b, BATCH_LENGTH_AT, length);
    b[MAGIC_AT] = 2;
    put_i16(&mut b, ATTRIBUTES_AT, compression);
    put_i32(&mut b, LAST_OFFSET_DELTA_AT, count - 1);
    put_i64(&mut b, BASE_TIMESTAMP_AT, timestamp);
    put_i64(&mut b, MAX_TIMESTAMP_AT, timestamp);
    put_i64(&mut b, PRODUCER_ID_AT, -1);
    put_i16(&mut b, PRODUCER_EPOCH_AT, -1);
    put_i32(&mut b, BASE_SEQUENCE_AT, -1);
    put_i32(&mut b, RECORD_COUNT_AT, count);
    refresh_crc(&mut b);
    b
}

/// An uncompressed batch of these records, all at `timestamp`.
pub fn simple_batch(base_offset: i64, timestamp: i64, values: &[&[u8]]) -> Vec<u8> {
    let list: Vec<Record<'_>> = values
        .iter()
        .map(|v| Record {
            timestamp_delta: 0,
            key: Some(b"k"),
            value: Some(v),
        })
        .collect();
    batch(base_offset, timestamp, values.len() as i32, 0, &records(&list))
}

/// Recomputes the CRC32C of the batch that `bytes` starts with, if it holds a whole header
/// and its length field fits: the fuzzer cannot forge a checksum, so targets offer to fix it
/// to get past the check to the code behind it.
pub fn refresh_crc(bytes: &mut [u8]) {
    if let Some(size) = batch_size(bytes) {
        let crc = crc32c::crc32c(&bytes[ATTRIBUTES_AT..size]);
        bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

/// The size the batch at the start of `bytes` declares, if it lies within `bytes`.
pub fn batch_size(bytes: &[u8]) -> Option<usize> {
    let length = i32::from_be_bytes(bytes.get(BATCH_LENGTH_AT..LOG_OVERHEAD)?.try_into().ok()?);
    let size = usize::try_from(length).ok()?.checked_add(LOG_OVERHEAD)?;
    (HEADER_BYTES..=bytes.len()).contains(&size).then_some(size)
}

/// Sets the base offset of the batch at the start of `bytes` (outside the CRC).
pub fn set_base_offset(bytes: &mut [u8], base_offset: i64) {
    put_i64(bytes, 0, base_offset);
}

/// The last offset delta of the batch at the start of `bytes` (which holds a whole header).
pub fn last_offset_delta(bytes: &[u8]) -> i32 {
    i32::from_be_bytes(
        bytes[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
            .try_into()
            .expect("4 bytes"),
    )
}

fn put_field(out: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        Some(bytes) => {
            put_varint(out, bytes.len() as i32);
            out.extend_from_slice(bytes);
        }
        None => put_varint(out, -1),
    }
}

/// Zigzag varint, as Kafka's `ByteUtils.writeVarint`.
fn put_varint(out: &mut Vec<u8>, value: i32) {
    put_varlong(out, i64::from(value));
}

/// Zigzag varlong, as Kafka's `ByteUtils.writeVarlong`.
fn put_varlong(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

fn put_i16(b: &mut [u8], at: usize, v: i16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn put_i32(b: &mut [u8], at: usize, v: i32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn put_i64(b: &mut [u8], at: usize, v: i64) {
    b[at..at + 8].copy_from_slice(&v.to_be_bytes());
}
