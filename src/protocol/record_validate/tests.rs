use std::io::Write;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::protocol::record_batch::LOG_OVERHEAD;

pub(crate) const NONE: i16 = 0;
pub(crate) const GZIP: i16 = 1;
pub(crate) const SNAPPY: i16 = 2;
pub(crate) const LZ4: i16 = 3;
pub(crate) const ZSTD: i16 = 4;
const CODECS: [i16; 5] = [NONE, GZIP, SNAPPY, LZ4, ZSTD];

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

fn check(bytes: &[u8], rules: &RecordRules) -> Result<Checked, RecordError> {
    check_records(&BatchHeader::parse_checked(bytes).unwrap(), rules)
}

fn invalid_reason(result: Result<Checked, RecordError>) -> String {
    match result {
        Err(RecordError::Invalid(why)) => why,
        other => panic!("expected INVALID_RECORD, got {other:?}"),
    }
}

fn is_corrupt(result: &Result<Checked, RecordError>) -> bool {
    matches!(result, Err(RecordError::Corrupt(_)))
}

#[test]
fn well_formed_batches_pass_in_every_codec() {
    for codec in CODECS {
        let bytes = valid_batch(100, codec);
        assert_eq!(
            check(&bytes, &rules()),
            Ok(Checked {
                max_timestamp: TIMESTAMP + 99
            }),
            "codec {codec}"
        );
    }
}

#[test]
fn batches_of_the_kafka_protocol_encoder_pass_in_every_codec() {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let records: Vec<Record> = (0..50)
        .map(|i| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: i as i32,
            timestamp: TIMESTAMP + 10 * i,
            key: (i % 2 == 0).then(|| Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(vec![b'v'; 300])),
            headers: [(
                kafka_protocol::protocol::StrBytes::from_static_str("h"),
                Some(Bytes::from_static(b"x")),
            )]
            .into_iter()
            .collect(),
            delete_horizon: false,
        })
        .collect();
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut out = bytes::BytesMut::new();
        RecordBatchEncoder::encode(
            &mut out,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .unwrap();
        assert_eq!(
            check(&out, &rules()).map(|c| c.max_timestamp),
            Ok(TIMESTAMP + 490),
            "{compression:?}"
        );
    }
}

#[test]
fn a_count_that_disagrees_with_the_records_is_invalid() {
    for codec in CODECS {
        // The header says 5 (offsets 0..=4, CRC right), the bytes hold 4 or 6.
        let fewer = batch_over(&compress(codec, &records(4)), 5, codec, TIMESTAMP);
        let why = invalid_reason(check(&fewer, &rules()));
        assert!(why.contains("fewer records"), "codec {codec}: {why}");
        let more = batch_over(&compress(codec, &records(6)), 5, codec, TIMESTAMP);
        let why = invalid_reason(check(&more, &rules()));
        assert!(why.contains("bytes remain"), "codec {codec}: {why}");
    }
}

#[test]
fn offset_deltas_must_count_from_zero() {
    let mut payload = record(0, 0, None, Some(b"a"), &[]);
    payload.extend(record(2, 0, None, Some(b"b"), &[]));
    let bytes = batch_over(&payload, 2, NONE, TIMESTAMP);
    assert!(invalid_reason(check(&bytes, &rules())).contains("offset delta 2"));
}

#[test]
fn malformed_varints_and_lengths_are_invalid() {
    let good = record(0, 0, Some(b"k"), Some(b"v"), &[(b"h", None)]);
    // A six-byte varint where the record length belongs.
    let mut long_varint = vec![0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    long_varint.extend_from_slice(&good[1..]);
    // A record length one more, and one less, than its fields take.
    let mut too_long = good.clone();
    too_long[0] += 2;
    too_long.push(0);
    let mut too_short = good.clone();
    too_short[0] -= 2;
    // A value length that runs past the record.
    let past_end = {
        let mut body = vec![0u8, 0, 0];
        put_varint(&mut body, -1);
        put_varint(&mut body, 1_000);
        body.extend_from_slice(b"v");
        put_varint(&mut body, 0);
        let mut r = Vec::new();
        put_varint(&mut r, body.len() as i64);
        r.extend(body);
        r
    };
    // A negative header count, a header count beyond the record, a negative header key.
    let headers = |count: i64, key_length: i64| {
        let mut body = vec![0u8, 0, 0];
        put_varint(&mut body, -1);
        put_varint(&mut body, -1);
        put_varint(&mut body, count);
        put_varint(&mut body, key_length);
        put_varint(&mut body, -1);
        let mut r = Vec::new();
        put_varint(&mut r, body.len() as i64);
        r.extend(body);
        r
    };
    let negative_length = {
        let mut r = Vec::new();
        put_varint(&mut r, -5);
        r.extend_from_slice(&good[1..]);
        r
    };
    for (what, payload) in [
        ("six-byte varint", long_varint),
        ("length too long", too_long),
        ("length too short", too_short),
        ("value past the end", past_end),
        ("negative header count", headers(-1, 1)),
        ("header count beyond the record", headers(1_000_000, 1)),
        ("negative header key length", headers(1, -1)),
        ("negative record length", negative_length),
    ] {
        for codec in CODECS {
            let bytes = batch_over(&compress(codec, &payload), 1, codec, TIMESTAMP);
            match check(&bytes, &rules()) {
                Err(RecordError::Invalid(_)) => {}
                other => panic!("{what}, codec {codec}: expected INVALID_RECORD, got {other:?}"),
            }
        }
    }
    // The well-formed original passes: the cases above fail for what they change.
    let bytes = batch_over(&good, 1, NONE, TIMESTAMP);
    assert!(check(&bytes, &rules()).is_ok());
}

#[test]
fn trailing_bytes_after_the_last_record_are_invalid() {
    for codec in CODECS {
        let mut payload = records(3);
        payload.push(0);
        let bytes = batch_over(&compress(codec, &payload), 3, codec, TIMESTAMP);
        assert!(invalid_reason(check(&bytes, &rules())).contains("bytes remain"));
    }
}

#[test]
fn compressed_bytes_that_do_not_decompress_are_corrupt() {
    let raw = records(20);
    for codec in [GZIP, SNAPPY, LZ4, ZSTD] {
        let compressed = compress(codec, &raw);
        // Garbage where the compressed payload belongs (CRC right).
        let garbage = batch_over(&[0x5a; 64], 20, codec, TIMESTAMP);
        assert!(
            is_corrupt(&check(&garbage, &rules())),
            "garbage, codec {codec}"
        );
        // The payload cut short.
        let cut = batch_over(&compressed[..compressed.len() - 5], 20, codec, TIMESTAMP);
        assert!(
            is_corrupt(&check(&cut, &rules())),
            "truncated, codec {codec}"
        );
    }
    let unknown = batch_over(&raw, 20, 6, TIMESTAMP);
    assert!(is_corrupt(&check(&unknown, &rules())));
}

#[test]
fn raw_snappy_without_the_java_framing_passes() {
    let raw = records(10);
    let compressed = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    let bytes = batch_over(&compressed, 10, SNAPPY, TIMESTAMP);
    assert!(check(&bytes, &rules()).is_ok());
}

#[test]
fn a_snappy_chunk_claiming_more_than_snappy_can_expand_is_refused_unallocated() {
    // The varint preamble claims 1 GiB from a handful of bytes.
    let mut claim = Vec::new();
    let mut n = 1u64 << 30;
    while n >= 0x80 {
        claim.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    claim.push(n as u8);
    claim.extend_from_slice(&[0; 8]);
    let bytes = batch_over(&claim, 1, SNAPPY, TIMESTAMP);
    assert!(is_corrupt(&check(&bytes, &rules())));
}

/// The record that opens a bomb: one record whose value is `value_bytes` of zeros, without
/// those zeros.
fn bomb_prefix(value_bytes: i64) -> Vec<u8> {
    let mut fields = vec![0u8, 0, 0]; // attributes, timestamp delta, offset delta
    put_varint(&mut fields, -1); // no key
    put_varint(&mut fields, value_bytes);
    let mut prefix = Vec::new();
    // The record length counts the fields, the value and the header count after it.
    put_varint(&mut prefix, fields.len() as i64 + value_bytes + 1);
    prefix.extend(fields);
    prefix
}

const GIB: i64 = 1 << 30;

/// 1 GiB of zeros in ~1 MiB of gzip (deflate cannot do better than ~1032:1): the record
/// prefix as one member, then 1024 members of 1 MiB of zeros each (gzip readers, Kafka's
/// `GZIPInputStream` included, read concatenated members as one stream).
fn gzip_bomb() -> Vec<u8> {
    let mut payload = compress(GZIP, &bomb_prefix(GIB));
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![0u8; 1 << 20]).unwrap();
    let mebibyte = encoder.finish().unwrap();
    for _ in 0..1024 {
        payload.extend_from_slice(&mebibyte);
    }
    payload.extend(compress(GZIP, &[0])); // the header count
    payload
}

/// 1 GiB of zeros in ~32 KiB of zstd: a frame of 8192 RLE blocks of 128 KiB, each 4 bytes.
fn zstd_bomb() -> Vec<u8> {
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd];
    // Frame header: no content size, not single-segment, window 2^(10 + 7) = 128 KiB.
    frame.extend_from_slice(&[0x00, 7 << 3]);
    let block = |last: bool, kind: u32, size: u32| {
        let header = u32::from(last) | (kind << 1) | (size << 3);
        header.to_le_bytes()[..3].to_vec()
    };
    let prefix = bomb_prefix(GIB);
    frame.extend(block(false, 0, prefix.len() as u32));
    frame.extend_from_slice(&prefix);
    for _ in 0..8192 {
        frame.extend(block(false, 1, 128 * 1024));
        frame.push(0);
    }
    frame.extend(block(true, 0, 1));
    frame.push(0); // the header count
    frame
}

/// The process's peak resident set since the last reset, in bytes; `None` where /proc does
/// not offer it.
fn reset_and_read_peak_rss() -> Option<impl Fn() -> u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    Some(|| {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    })
}

#[test]
fn decompression_bombs_are_corrupt_without_inflating_in_memory() {
    let gzip = batch_over(&gzip_bomb(), 1, GZIP, TIMESTAMP);
    let zstd = batch_over(&zstd_bomb(), 1, ZSTD, TIMESTAMP);
    assert!(gzip.len() < 2 << 20, "gzip bomb of {} bytes", gzip.len());
    assert!(zstd.len() < 40 << 10, "zstd bomb of {} bytes", zstd.len());
    // Below the budget, the same construction passes: it is the size that is refused.
    let mut generous = rules();
    generous.decompressed_max_bytes = 2 << 30;
    assert!(check(&zstd, &generous).is_ok());

    let peak = reset_and_read_peak_rss();
    let before = peak.as_ref().map(|read| read());
    for (codec, bytes) in [("gzip", &gzip), ("zstd", &zstd)] {
        let result = check(bytes, &rules());
        match &result {
            Err(RecordError::Corrupt(why)) => assert!(why.contains("inflates past"), "{why}"),
            other => panic!("{codec} bomb: expected CORRUPT_MESSAGE, got {other:?}"),
        }
    }
    if let (Some(read), Some(before)) = (peak, before) {
        // Inflating the 1 GiB would touch 1 GiB; streaming touches the scratch buffer and
        // the codecs' windows. (Other tests share the process, hence the slack.)
        let grown = read().saturating_sub(before);
        assert!(grown < 256 << 20, "peak RSS grew by {grown} bytes");
    }
}

#[test]
fn timestamps_outside_the_topic_bounds_are_invalid_timestamp() {
    let mut overrides = BTreeMap::new();
    overrides.insert("message.timestamp.after.max.ms".into(), "60000".into());
    overrides.insert("message.timestamp.before.max.ms".into(), "3600000".into());
    let now = TIMESTAMP + 50; // the records span TIMESTAMP..TIMESTAMP+99
    let bounded = RecordRules::for_topic(&overrides, 1_048_588, false, now);
    assert_eq!(bounded.timestamp_after_max_ms, 60_000);
    assert!(check(&valid_batch(100, NONE), &bounded).is_ok());

    for codec in CODECS {
        let mut payload = records(2);
        // 61 s ahead of the broker's clock, then 1 h 1 ms behind it.
        payload.extend(record(2, 61_000 + 50, None, Some(b"late"), &[]));
        payload.extend(record(3, -3_600_001 + 50, None, Some(b"old"), &[]));
        let bytes = batch_over(&compress(codec, &payload), 4, codec, TIMESTAMP);
        match check(&bytes, &bounded) {
            // The earliest offender is named (the one 1 h behind).
            Err(RecordError::Timestamp(why)) => {
                assert!(
                    why.contains(&(TIMESTAMP + 50 - 3_600_001).to_string()),
                    "{why}"
                )
            }
            other => panic!("codec {codec}: expected INVALID_TIMESTAMP, got {other:?}"),
        }
        // Without bounds (and on LogAppendTime topics) the same batch passes.
        assert!(check(&bytes, &rules()).is_ok());
        let log_append = RecordRules::for_topic(&overrides, 1_048_588, true, now);
        assert!(check(&bytes, &log_append).is_ok());
    }
    // Only ahead: the latest offender is named.
    let mut payload = records(2);
    payload.extend(record(2, 61_000 + 50, None, Some(b"late"), &[]));
    let ahead = batch_over(&payload, 3, NONE, TIMESTAMP);
    match check(&ahead, &bounded) {
        Err(RecordError::Timestamp(why)) => {
            assert!(why.contains(&(TIMESTAMP + 61_050).to_string()), "{why}")
        }
        other => panic!("expected INVALID_TIMESTAMP, got {other:?}"),
    }
    // -1 is "no timestamp", never out of bounds.
    let none = batch_over(&record(0, 0, None, None, &[]), 1, NONE, -1);
    let mut at_minus_one = none.clone();
    at_minus_one[27..35].copy_from_slice(&(-1i64).to_be_bytes());
    let crc = crc32c::crc32c(&at_minus_one[21..]);
    at_minus_one[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(
        check(&at_minus_one, &bounded).map(|c| c.max_timestamp),
        Ok(-1)
    );
}

#[test]
fn compacted_topics_need_keys_and_timestamps_win_over_keys() {
    let mut overrides = BTreeMap::new();
    overrides.insert("cleanup.policy".into(), "delete, compact".into());
    let compacted = RecordRules::for_topic(&overrides, 1_048_588, false, TIMESTAMP);
    assert!(compacted.keys_required);
    assert!(check(&valid_batch(5, LZ4), &compacted).is_ok());
    let mut payload = records(1);
    payload.extend(record(1, 0, None, Some(b"no key"), &[]));
    let keyless = batch_over(&payload, 2, NONE, TIMESTAMP);
    assert!(invalid_reason(check(&keyless, &compacted)).contains("no key"));
    assert!(check(&keyless, &rules()).is_ok());

    overrides.insert("message.timestamp.after.max.ms".into(), "0".into());
    let both = RecordRules::for_topic(&overrides, 1_048_588, false, TIMESTAMP - 1);
    assert!(matches!(
        check(&keyless, &both),
        Err(RecordError::Timestamp(_))
    ));
}

#[test]
fn producers_may_not_set_log_append_time() {
    let mut bytes = valid_batch(3, NONE);
    bytes[22] |= 0x08;
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(
        check(&bytes, &rules()),
        Err(RecordError::Timestamp(_))
    ));
}

#[test]
fn the_max_timestamp_is_the_records_and_rewriting_it_keeps_the_crc() {
    // The producer claims a max timestamp far in the future.
    let mut bytes = batch_over(&records(3), 3, NONE, i64::MAX);
    let checked = check(&bytes, &rules()).unwrap();
    assert_eq!(checked.max_timestamp, TIMESTAMP + 2);
    set_max_timestamp(&mut bytes, checked.max_timestamp);
    let header = BatchHeader::parse_checked(&bytes).unwrap();
    assert_eq!(header.max_timestamp(), TIMESTAMP + 2);
}

#[test]
fn the_budget_follows_max_message_bytes_within_its_bounds() {
    assert_eq!(decompression_budget(1 << 20), 64 << 20);
    assert_eq!(decompression_budget(100), DECOMPRESSED_MIN_BYTES);
    assert_eq!(decompression_budget(usize::MAX), DECOMPRESSED_MAX_BYTES);
    // A batch that inflates to just past a small budget is refused, just under it passes.
    let raw = records(1000);
    let mut tight = rules();
    for codec in [GZIP, SNAPPY, LZ4, ZSTD] {
        let bytes = batch_over(&compress(codec, &raw), 1000, codec, TIMESTAMP);
        tight.decompressed_max_bytes = raw.len() as u64;
        assert!(check(&bytes, &tight).is_ok(), "codec {codec}");
        tight.decompressed_max_bytes = raw.len() as u64 - 1;
        assert!(is_corrupt(&check(&bytes, &tight)), "codec {codec}");
    }
}

#[test]
fn records_that_straddle_scratch_refills_pass() {
    // ~200 KB of records: compressed, they arrive in several fills of the 64 KiB scratch
    // buffer, and some records are cut across two.
    let raw = records(6000);
    assert!(raw.len() > 2 * SCRATCH_BYTES);
    for codec in CODECS {
        let bytes = batch_over(&compress(codec, &raw), 6000, codec, TIMESTAMP);
        assert_eq!(
            check(&bytes, &rules()).map(|c| c.max_timestamp),
            Ok(TIMESTAMP + 5999),
            "codec {codec}"
        );
    }
}

/// What `read_record` makes of `bytes`: the fields and the bytes taken, or nothing.
fn slow_record(bytes: &[u8], index: i32) -> Option<(i64, bool, u64)> {
    let mut source = SliceSource { bytes, at: 0 };
    let fields = read_record(&mut source, index).ok()?;
    Some((fields.timestamp_delta, fields.has_key, source.position()))
}

proptest! {
    /// The fast path says yes only where the full reader says the same.
    #[test]
    fn the_fast_record_reader_agrees_with_the_full_one(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<usize>(),
        key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
        headers in 0usize..3,
        index in 0i32..3,
    ) {
        let header_list: Vec<(&[u8], Option<&[u8]>)> =
            (0..headers).map(|_| (&b"key"[..], Some(&b"value"[..]))).collect();
        let mut bytes = record(index, 300, key.as_deref(), Some(&[7; 150]), &header_list);
        bytes.extend_from_slice(b"next record");
        for (at, xor) in flips {
            let at = at % bytes.len();
            bytes[at] ^= xor;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        if let Some((fields, size)) = fast_record(&bytes, index) {
            prop_assert_eq!(
                Some((fields.timestamp_delta, fields.has_key, size as u64)),
                slow_record(&bytes, index)
            );
        }
    }

    #[test]
    fn never_panics_on_any_records(
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        count in 1i32..20,
        codec in 0i16..5,
    ) {
        let bytes = batch_over(&payload, count, codec, TIMESTAMP);
        let _ = check(&bytes, &rules());
    }

    #[test]
    fn never_panics_on_mangled_valid_batches(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        codec in 0i16..5,
    ) {
        let raw = records(10);
        let mut payload = compress(codec, &raw);
        for (at, xor) in flips {
            let at = at % payload.len();
            payload[at] ^= xor;
        }
        let bytes = batch_over(&payload, 10, codec, TIMESTAMP);
        let _ = check(&bytes, &rules());
    }
}
