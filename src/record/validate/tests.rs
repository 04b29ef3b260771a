use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::record::test_batches::*;

fn check(bytes: &[u8], rules: &RecordRules) -> Result<Checked, RecordError> {
    check_records(&BatchHeader::parse_checked(bytes).unwrap(), rules)
}

fn invalid_reason(result: Result<Checked, RecordError>) -> String {
    match result {
        Err(RecordError::Invalid(why)) => why,
        other => panic!("expected INVALID_RECORD, got {other:?}"),
    }
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
    assert_eq!(
        check(&keyless, &compacted),
        Err(RecordError::KeysMissing(vec![1]))
    );
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

proptest! {
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
