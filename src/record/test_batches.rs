//! Batches for tests, built by hand as a producer lays them out: headers over opaque bytes,
//! and well-formed records in every codec. Shared by the tests of `record`, `log`,
//! `partition`, `topics` and `api::produce`.

use std::collections::BTreeMap;
use std::io::Write;

use super::batch::*;
use super::validate::RecordRules;

/// Builds a v2 batch by hand-laying the header over `payload` (records are opaque here).
pub(crate) fn batch(
    base_offset: i64,
    last_offset_delta: i32,
    max_ts: i64,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_BYTES];
    b.extend_from_slice(payload);
    let length = (b.len() - LOG_OVERHEAD) as i32;
    b[0..8].copy_from_slice(&base_offset.to_be_bytes());
    b[8..12].copy_from_slice(&length.to_be_bytes());
    b[MAGIC_AT] = 2;
    b[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
        .copy_from_slice(&last_offset_delta.to_be_bytes());
    b[BASE_TIMESTAMP_AT..BASE_TIMESTAMP_AT + 8].copy_from_slice(&max_ts.to_be_bytes());
    b[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&max_ts.to_be_bytes());
    b[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&(-1i64).to_be_bytes());
    b[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2].copy_from_slice(&(-1i16).to_be_bytes());
    b[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&(-1i32).to_be_bytes());
    b[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&(last_offset_delta + 1).to_be_bytes());
    let crc = crc32c::crc32c(&b[ATTRIBUTES_AT..]);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

/// A batch from an idempotent producer: `count` records from `first_sequence`.
pub(crate) fn idempotent_batch(
    producer_id: i64,
    epoch: i16,
    first_sequence: i32,
    count: i32,
    max_ts: i64,
) -> Vec<u8> {
    let mut b = batch(0, count - 1, max_ts, b"records");
    b[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&producer_id.to_be_bytes());
    b[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2].copy_from_slice(&epoch.to_be_bytes());
    b[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&first_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&b[ATTRIBUTES_AT..]);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

/// A transactional producer's batch: [`idempotent_batch`] with the transactional attribute.
pub(crate) fn transactional_batch(
    producer_id: i64,
    epoch: i16,
    first_sequence: i32,
    count: i32,
    max_ts: i64,
) -> Vec<u8> {
    let mut b = idempotent_batch(producer_id, epoch, first_sequence, count, max_ts);
    b[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&TRANSACTIONAL_BIT.to_be_bytes());
    let crc = crc32c::crc32c(&b[ATTRIBUTES_AT..]);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

pub(crate) const NONE: i16 = 0;
pub(crate) const GZIP: i16 = 1;
pub(crate) const SNAPPY: i16 = 2;
pub(crate) const LZ4: i16 = 3;
pub(crate) const ZSTD: i16 = 4;
pub(crate) const CODECS: [i16; 5] = [NONE, GZIP, SNAPPY, LZ4, ZSTD];

/// When the test batches were made: 2023-11-14.
pub(crate) const TIMESTAMP: i64 = 1_700_000_000_000;

pub(crate) fn put_varint(out: &mut Vec<u8>, value: i64) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    while zigzag >= 0x80 {
        out.push((zigzag as u8 & 0x7f) | 0x80);
        zigzag >>= 7;
    }
    out.push(zigzag as u8);
}

/// One record's bytes, length prefix included, as `DefaultRecord.writeTo` lays them out.
pub(crate) fn record(
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&[u8], Option<&[u8]>)],
) -> Vec<u8> {
    let mut body = vec![0u8]; // attributes
    put_varint(&mut body, timestamp_delta);
    put_varint(&mut body, i64::from(offset_delta));
    for field in [key, value] {
        match field {
            Some(bytes) => {
                put_varint(&mut body, bytes.len() as i64);
                body.extend_from_slice(bytes);
            }
            None => put_varint(&mut body, -1),
        }
    }
    put_varint(&mut body, headers.len() as i64);
    for (key, value) in headers {
        put_varint(&mut body, key.len() as i64);
        body.extend_from_slice(key);
        match value {
            Some(bytes) => {
                put_varint(&mut body, bytes.len() as i64);
                body.extend_from_slice(bytes);
            }
            None => put_varint(&mut body, -1),
        }
    }
    let mut out = Vec::new();
    put_varint(&mut out, body.len() as i64);
    out.extend_from_slice(&body);
    out
}

/// `count` well-formed records, keyed `key-i`, timestamps `TIMESTAMP + i`.
pub(crate) fn records(count: i32) -> Vec<u8> {
    (0..count)
        .flat_map(|i| {
            let key = format!("key-{i}");
            let value = format!("value-{i}");
            record(
                i,
                i64::from(i),
                Some(key.as_bytes()),
                Some(value.as_bytes()),
                &[(b"h", Some(b"v"))],
            )
        })
        .collect()
}

pub(crate) fn compress(codec: i16, raw: &[u8]) -> Vec<u8> {
    match codec {
        NONE => raw.to_vec(),
        GZIP => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(raw).unwrap();
            encoder.finish().unwrap()
        }
        SNAPPY => {
            // snappy-java's framing, as the Java client writes it: 32 KiB chunks.
            let mut out = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
            for chunk in raw.chunks(32 * 1024) {
                let compressed = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
                out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
                out.extend_from_slice(&compressed);
            }
            out
        }
        LZ4 => {
            let mut encoder = lz4::EncoderBuilder::new()
                .block_size(lz4::BlockSize::Max64KB)
                .build(Vec::new())
                .unwrap();
            encoder.write_all(raw).unwrap();
            let (out, result) = encoder.finish();
            result.unwrap();
            out
        }
        ZSTD => zstd::encode_all(raw, 3).unwrap(),
        _ => unreachable!("codec {codec}"),
    }
}

/// A v2 batch of `count` records whose (already compressed) payload is `payload`; the
/// header is consistent with `count` and the CRC is right.
pub(crate) fn batch_over(payload: &[u8], count: i32, codec: i16, max_timestamp: i64) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_BYTES];
    b.extend_from_slice(payload);
    let length = (b.len() - LOG_OVERHEAD) as i32;
    b[8..12].copy_from_slice(&length.to_be_bytes());
    b[16] = 2;
    b[21..23].copy_from_slice(&codec.to_be_bytes());
    b[23..27].copy_from_slice(&(count - 1).to_be_bytes());
    b[27..35].copy_from_slice(&TIMESTAMP.to_be_bytes());
    b[35..43].copy_from_slice(&max_timestamp.to_be_bytes());
    b[43..51].copy_from_slice(&(-1i64).to_be_bytes());
    b[51..53].copy_from_slice(&(-1i16).to_be_bytes());
    b[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    b[57..61].copy_from_slice(&count.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// A well-formed batch of `count` records compressed with `codec`.
pub(crate) fn valid_batch(count: i32, codec: i16) -> Vec<u8> {
    batch_over(
        &compress(codec, &records(count)),
        count,
        codec,
        TIMESTAMP + i64::from(count) - 1,
    )
}

/// A CreateTime `delete` topic with no timestamp bounds, at `TIMESTAMP`.
pub(crate) fn rules() -> RecordRules {
    RecordRules::for_topic(&BTreeMap::new(), 1_048_588, false, TIMESTAMP)
}
