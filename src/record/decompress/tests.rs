use std::io::Write;

use super::SCRATCH_BYTES;
use crate::record::batch::BatchHeader;
use crate::record::test_batches::*;
use crate::record::validate::{
    check_records, decompression_budget, Checked, RecordError, RecordRules,
};
use crate::record::validate::{DECOMPRESSED_MAX_BYTES, DECOMPRESSED_MIN_BYTES};

fn check(bytes: &[u8], rules: &RecordRules) -> Result<Checked, RecordError> {
    check_records(&BatchHeader::parse_checked(bytes).unwrap(), rules)
}

fn is_corrupt(result: &Result<Checked, RecordError>) -> bool {
    matches!(result, Err(RecordError::Corrupt(_)))
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
