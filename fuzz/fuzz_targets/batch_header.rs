//! Record batches from a producer: the zero-copy header view
//! (`BatchHeader::parse`, `parse_checked`, every accessor, `split_batches`) and the record
//! validator behind it (`record::validate::check_records`, decompression included), with the
//! header edits produce makes (`set_max_timestamp`, `set_log_append_time`). Nothing may
//! panic, and what passed must still pass after the edits.
//!
//! The first input byte holds options, the rest is the batch:
//! - bit 0: fix the batch length field to the bytes given, and bit 1: fix the CRC32C — a
//!   fuzzer cannot forge a checksum, so without them nearly nothing reaches the records;
//! - bit 2: the topic is compacted (records need keys); bit 3: the topic is LogAppendTime;
//!   bit 4: timestamps are bounded to an hour around the clock;
//! - bit 5: the default topic's decompression budget (64 MiB) instead of the smallest
//!   (1 MiB): a batch that inflates to the budget costs time in proportion to it.

#![no_main]

use std::collections::BTreeMap;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sluice::record::batch::{
    set_base_offset, set_log_append_time, split_batches, BatchError, BatchHeader, HEADER_BYTES,
    LOG_OVERHEAD,
};
use sluice::record::validate::{check_records, set_max_timestamp, RecordRules};

// As the broker binary runs: see the request_decode target for why.
#[global_allocator]
static ALLOCATOR: sluice::alloc_guard::GuardedAlloc = sluice::alloc_guard::GuardedAlloc;

/// A fixed clock: a run must be reproducible from its input alone.
const NOW_MS: i64 = 1_700_000_000_000;
const HOUR_MS: &str = "3600000";
/// The topic default `max.message.bytes`.
const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_588;
/// Small enough that the budget is the 1 MiB floor.
const SMALL_MAX_MESSAGE_BYTES: usize = 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&options, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if options & 1 != 0 && bytes.len() >= HEADER_BYTES {
        let length = (bytes.len() - LOG_OVERHEAD) as i32;
        bytes[8..12].copy_from_slice(&length.to_be_bytes());
    }
    if options & 2 != 0 {
        sluice_fuzz_common::refresh_crc(&mut bytes);
    }

    let view = BatchHeader::parse(&bytes);
    if let Ok(header) = &view {
        touch_every_field(header);
        assert!(header.size() >= HEADER_BYTES && header.size() <= bytes.len());
    }
    let shared = Bytes::from(bytes.clone());
    if let Ok(batches) = split_batches(&shared) {
        assert_eq!(batches.iter().map(Bytes::len).sum::<usize>(), shared.len());
    }

    let Ok(header) = BatchHeader::parse_checked(&bytes) else {
        return;
    };
    // What parse_checked vouches for.
    assert_eq!(header.size(), view.as_ref().map(|v| v.size()).unwrap_or(0));
    assert!(header.verify_crc().is_ok());
    assert!(header.last_offset_delta() >= 0 && header.record_count() >= 0);

    let rules = rules(options);
    let checked = check_records(&header, &rules);
    // The validator keeps per-thread buffers and a zstd context between batches: a second
    // look at the same batch must reach the same verdict, whatever the first left behind.
    assert_eq!(check_records(&header, &rules), checked);
    let Ok(checked) = checked else { return };

    // Produce rewrites the max timestamp (and the CRC): the batch must still check out.
    let mut stamped = bytes[..header.size()].to_vec();
    set_max_timestamp(&mut stamped, checked.max_timestamp);
    let restamped = BatchHeader::parse_checked(&stamped).expect("a restamped batch parses");
    assert_eq!(restamped.max_timestamp(), checked.max_timestamp);
    assert_eq!(check_records(&restamped, &rules), Ok(checked));

    // The log stamps the base offset (outside the CRC) and LogAppendTime topics the time.
    set_base_offset(&mut stamped, 0);
    set_log_append_time(&mut stamped, NOW_MS);
    let appended = BatchHeader::parse_checked(&stamped);
    assert!(
        !matches!(appended, Err(BatchError::CrcMismatch { .. })),
        "set_log_append_time left a wrong CRC: {appended:?}"
    );
});

/// Reads every header field, as produce, the log and fetch do between them.
fn touch_every_field(header: &BatchHeader<'_>) {
    let _ = (
        header.base_offset(),
        header.partition_leader_epoch(),
        header.crc(),
        header.attributes(),
        header.compression(),
        header.is_log_append_time(),
        header.is_transactional(),
        header.is_control(),
        header.last_offset_delta(),
        header.base_timestamp(),
        header.max_timestamp(),
        header.producer_id(),
        header.producer_epoch(),
        header.base_sequence(),
        header.last_sequence(),
        header.record_count(),
        header.bytes().len(),
        format!("{header:?}"),
    );
    // The broker calls this only on batches whose base offset it stamped itself (small,
    // non-negative); a client's own base offset may be anything, so it is read here only
    // where the sum cannot overflow, and the overflow itself is left to the log's own parser.
    if header.base_offset().checked_add(header.last_offset_delta().into()).is_some() {
        let _ = header.last_offset();
    }
}

/// A topic's rules from the option bits, through the same constructor produce uses.
fn rules(options: u8) -> RecordRules {
    let mut overrides = BTreeMap::new();
    if options & 4 != 0 {
        overrides.insert("cleanup.policy".to_string(), "compact".to_string());
    }
    if options & 16 != 0 {
        overrides.insert("message.timestamp.before.max.ms".into(), HOUR_MS.into());
        overrides.insert("message.timestamp.after.max.ms".into(), HOUR_MS.into());
    }
    let max_message_bytes = if options & 32 != 0 {
        DEFAULT_MAX_MESSAGE_BYTES
    } else {
        SMALL_MAX_MESSAGE_BYTES
    };
    RecordRules::for_topic(&overrides, max_message_bytes, options & 8 != 0, NOW_MS)
}
