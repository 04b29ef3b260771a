//! The records inside a produce batch, checked as Kafka's `LogValidator` checks them before it
//! stores a batch: framing, count, offset deltas, keys of compacted topics and timestamps, with
//! compressed batches decompressed on the way.
//!
//! [`BatchHeader::parse_checked`] vouches only for the 61-byte header and the CRC, and a CRC
//! proves nothing but that the producer meant to send these bytes: a batch whose header says
//! 100 records over bytes that hold 3, or whose zstd payload does not decompress, passes it.
//! Stored, such a batch breaks every consumer that fetches it — forever, since the log keeps it.
//!
//! Limits first, as everywhere on the wire:
//! - Nothing is allocated from a count or length read off the wire. The records are walked
//!   field by field (see [`walk`](super::walk)), straight over the request's bytes, or over a
//!   small reusable buffer that the decompressor refills
//!   ([`SCRATCH_BYTES`](super::decompress::SCRATCH_BYTES)); decompressed data is never kept.
//! - Decompression stops at a budget ([`RecordRules::decompressed_max_bytes`], derived from the
//!   topic's `max.message.bytes`): a batch that would inflate past it is refused as
//!   CORRUPT_MESSAGE after decoding one byte more than the budget, however large it claims to
//!   be (see [`decompress`](super::decompress) for what memory that takes).
//!
//! What Kafka answers, and what we answer (Kafka's exception → error code):
//! - A record that does not parse, fewer records than the header's count, bytes left after
//!   the last one: `InvalidRecordException` → INVALID_RECORD, as Kafka.
//! - An offset delta other than the record's position: Kafka does not refuse it (it rewrites
//!   compressed batches, and stores uncompressed ones as sent); we never rewrite records, and a
//!   stored batch whose deltas disagree with its offsets gives consumers wrong or duplicate
//!   offsets, so it is INVALID_RECORD here. No client we know sends one.
//! - A compressed payload that does not decompress, or inflates past the budget: Kafka's codec
//!   throws a plain `KafkaException`, which reaches the client as UNKNOWN_SERVER_ERROR (Kafka
//!   has no budget). We answer CORRUPT_MESSAGE, Kafka's code for a batch whose bytes do not
//!   hold together, rather than an error that says the broker failed.
//! - A timestamp outside `message.timestamp.before.max.ms` / `after.max.ms` of a CreateTime
//!   topic: INVALID_TIMESTAMP, which wins over key errors of other records, as in Kafka.
//! - A record without a key on a compacted topic: INVALID_RECORD, as Kafka.
//! - A batch that says LogAppendTime: producers may not set it, INVALID_TIMESTAMP. (Kafka lets
//!   one through on a CreateTime topic when its max timestamp is within bounds, and rewrites
//!   the flag; no client sets it.)

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::ops::ControlFlow;

use super::batch::{BatchHeader, ATTRIBUTES_AT, CRC_AT, HEADER_BYTES, MAX_TIMESTAMP_AT};
use super::decompress::walk_batch;
use super::walk::{walk_records, RecordFields, RecordWalk, Source};

/// Kafka's record error for a keyless record on a compacted topic; the caller appends the
/// partition (`topic-partition`), as Kafka does.
pub const NO_KEY_MESSAGE: &str =
    "Compacted topic cannot accept message without key in topic partition";

/// A record timestamp of -1 means "none": Kafka checks no bounds for it.
pub const NO_TIMESTAMP: i64 = -1;

/// Decompressed bytes a batch may inflate to, per byte of the topic's `max.message.bytes`.
/// `max.message.bytes` bounds the compressed size; a Java producer fills `batch.size` by its
/// *estimated compressed* size, so a batch of repetitive records legitimately inflates tens of
/// times (librdkafka bounds the uncompressed batch by its own 1 MB `batch.size` instead).
/// 64 MiB for the default 1 MiB topic; decoding that costs well under a second of one core.
pub const DECOMPRESSED_PER_MAX_MESSAGE_BYTE: u64 = 64;
/// The budget never drops below this, however small `max.message.bytes` is set.
pub const DECOMPRESSED_MIN_BYTES: u64 = 1 << 20;
/// Nor rises above this: a topic with a huge `max.message.bytes` still bounds the CPU one
/// batch can cost.
pub const DECOMPRESSED_MAX_BYTES: u64 = 512 << 20;

/// What a topic and the broker's clock ask of a batch's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRules {
    /// The broker's clock, for the timestamp bounds.
    pub now_ms: i64,
    /// `message.timestamp.type=CreateTime`: the producer's timestamps are kept, so they are
    /// checked. LogAppendTime topics overwrite them and check nothing.
    pub create_time: bool,
    /// `message.timestamp.before.max.ms`: how far in the past a timestamp may lie.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far in the future.
    pub timestamp_after_max_ms: i64,
    /// `cleanup.policy` includes `compact`: every record needs a key.
    pub keys_required: bool,
    /// How many bytes a compressed batch may inflate to.
    pub decompressed_max_bytes: u64,
}

impl RecordRules {
    /// Rules for a topic with these config overrides (defaults are Kafka's: no timestamp
    /// bounds, `delete` policy), this `max.message.bytes` and timestamp type, at `now_ms`.
    /// Values were validated when the topic was configured; one that does not parse counts
    /// as the default.
    pub fn for_topic(
        overrides: &BTreeMap<String, String>,
        max_message_bytes: usize,
        log_append_time: bool,
        now_ms: i64,
    ) -> RecordRules {
        let millis = |key: &str| {
            overrides
                .get(key)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(i64::MAX)
        };
        let keys_required = overrides
            .get("cleanup.policy")
            .is_some_and(|policy| policy.split(',').any(|p| p.trim() == "compact"));
        RecordRules {
            now_ms,
            create_time: !log_append_time,
            timestamp_before_max_ms: millis("message.timestamp.before.max.ms"),
            timestamp_after_max_ms: millis("message.timestamp.after.max.ms"),
            keys_required,
            decompressed_max_bytes: decompression_budget(max_message_bytes),
        }
    }
}

/// The decompression budget for a topic's `max.message.bytes`.
pub fn decompression_budget(max_message_bytes: usize) -> u64 {
    u64::try_from(max_message_bytes)
        .unwrap_or(u64::MAX)
        .saturating_mul(DECOMPRESSED_PER_MAX_MESSAGE_BYTE)
        .clamp(DECOMPRESSED_MIN_BYTES, DECOMPRESSED_MAX_BYTES)
}

/// Why the records of a batch are refused, by the error Kafka answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// Kafka's `InvalidRecordException`: INVALID_RECORD.
    Invalid(String),
    /// Bytes that do not decompress, or inflate past the budget: CORRUPT_MESSAGE.
    Corrupt(String),
    /// Kafka's `InvalidTimestampException`: INVALID_TIMESTAMP.
    Timestamp(String),
    /// Records without a key on a compacted topic, by their index in the batch: INVALID_RECORD,
    /// with a record error for each, as Kafka answers.
    KeysMissing(Vec<i32>),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Invalid(why) | RecordError::Corrupt(why) | RecordError::Timestamp(why) => {
                f.write_str(why)
            }
            RecordError::KeysMissing(_) => f.write_str(NO_KEY_MESSAGE),
        }
    }
}

/// What the walk learned about records that passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The largest record timestamp ([`NO_TIMESTAMP`] if none has one): what Kafka writes
    /// into the batch header, whatever the producer put there.
    pub max_timestamp: i64,
}

/// Walks every record of `batch` (decompressing it if needed) and checks it against `rules`.
/// The header itself (CRC, count against the offset range) is the caller's to check first.
pub fn check_records(batch: &BatchHeader<'_>, rules: &RecordRules) -> Result<Checked, RecordError> {
    if batch.is_log_append_time() {
        return Err(RecordError::Timestamp(
            "producers may not set the LogAppendTime timestamp type".into(),
        ));
    }
    walk_batch(
        batch,
        rules.decompressed_max_bytes,
        &Validation {
            batch: *batch,
            rules,
        },
    )
}

/// Rewrites the max timestamp of `batch` (exactly one batch) and its CRC, which covers it, as
/// Kafka does when the producer's value is not the largest record timestamp. Bytes too short
/// for a header are left alone.
pub fn set_max_timestamp(batch: &mut [u8], max_timestamp: i64) {
    if batch.len() < HEADER_BYTES {
        return;
    }
    batch[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    refresh_crc(batch);
}

/// Recomputes the CRC32C of `batch` (exactly one batch) after an edit inside what it covers.
/// Bytes too short for a header are left alone.
pub fn refresh_crc(batch: &mut [u8]) {
    if batch.len() < HEADER_BYTES {
        return;
    }
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// The walk of produce: every record, one after the other, as the header declares them.
struct Validation<'a, 'r> {
    batch: BatchHeader<'a>,
    rules: &'r RecordRules,
}

impl RecordWalk for Validation<'_, '_> {
    type Output = Checked;

    fn walk<S: Source>(&self, source: &mut S) -> Result<Checked, RecordError> {
        validate(source, &self.batch, self.rules)
    }
}

fn validate<S: Source>(
    source: &mut S,
    batch: &BatchHeader<'_>,
    rules: &RecordRules,
) -> Result<Checked, RecordError> {
    let count = batch.record_count();
    let base_timestamp = batch.base_timestamp();
    // Record-level refusals (timestamps, keys) are judged over the whole batch, as in Kafka,
    // where a timestamp refusal anywhere makes the batch INVALID_TIMESTAMP; framing errors
    // stop the walk. Per record only a summary is kept: the loop is the hot path of produce.
    let mut max_timestamp = NO_TIMESTAMP;
    let mut min_timestamp = i64::MAX; // of the records that have one
    let mut all_keyed = true;
    // Filled only on a compacted topic, and only by keyless records: refusals are rare.
    let mut keyless = Vec::new();
    let mut summarize = |index: i32, record: RecordFields| {
        if rules.keys_required && !record.has_key {
            keyless.push(index);
        }
        let timestamp = base_timestamp.wrapping_add(record.timestamp_delta);
        max_timestamp = max_timestamp.max(timestamp);
        if timestamp != NO_TIMESTAMP {
            min_timestamp = min_timestamp.min(timestamp);
        }
        all_keyed &= record.has_key;
    };
    let walked = walk_records::<_, Infallible>(source, count, |index, record| {
        summarize(index, record);
        ControlFlow::Continue(())
    })?;
    match walked {
        ControlFlow::Continue(()) => {}
        ControlFlow::Break(never) => match never {},
    }
    let (earliest, latest) = timestamp_bounds(rules);
    let out_of_bounds = if min_timestamp < earliest {
        Some(min_timestamp)
    } else if max_timestamp > latest && max_timestamp != NO_TIMESTAMP {
        // (A max of -1 means no record has a timestamp above -1, and the clock is past 1970.)
        Some(max_timestamp)
    } else {
        None
    };
    if let Some(timestamp) = out_of_bounds {
        return Err(RecordError::Timestamp(format!(
            "record timestamp {timestamp} is out of range [{earliest}, {latest}]"
        )));
    }
    if rules.keys_required && !all_keyed {
        return Err(RecordError::KeysMissing(keyless));
    }
    Ok(Checked { max_timestamp })
}

/// The timestamps a record may carry: `[now - before.max.ms, now + after.max.ms]`, saturated
/// (Kafka's `now - t > before` in exact arithmetic, and the bounds default to `i64::MAX`).
/// Everything on LogAppendTime topics, whose timestamps the broker overwrites.
fn timestamp_bounds(rules: &RecordRules) -> (i64, i64) {
    if !rules.create_time {
        return (i64::MIN, i64::MAX);
    }
    (
        rules.now_ms.saturating_sub(rules.timestamp_before_max_ms),
        rules.now_ms.saturating_add(rules.timestamp_after_max_ms),
    )
}

#[cfg(test)]
mod tests;
