//! One record of a stored batch found by its timestamp, for ListOffsets: the batch was chosen
//! by its header (its max timestamp reaches the target), and its records are walked — with
//! the same bounded, streaming decompression as at produce, and the same budget — up to the
//! first one stamped at or after the target. Nothing is decoded past that record, and nothing
//! is allocated from the batch's counts.
//!
//! As Kafka's `FileRecords.searchForTimestamp`: the first record whose timestamp is at least
//! the target and whose offset is at least the log start offset (a batch may straddle it
//! after DeleteRecords). In a LogAppendTime batch every record carries the batch's max
//! timestamp, so the answer is its first record at or after the start, without a walk.

use std::ops::ControlFlow;

use super::batch::BatchHeader;
use super::decompress::walk_batch;
use super::validate::RecordError;
use super::walk::{walk_records, RecordWalk, Source};

/// Where a record is, and its timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordAt {
    pub offset: i64,
    pub timestamp: i64,
}

/// The first record of `batch` stamped at or after `target` whose offset is at least
/// `from_offset`; `None` when no record of the batch is both. Decompression stops at
/// `decompressed_max_bytes`; records that do not parse or decompress are a [`RecordError`].
pub fn first_record_at_or_after(
    batch: &BatchHeader<'_>,
    target: i64,
    from_offset: i64,
    decompressed_max_bytes: u64,
) -> Result<Option<RecordAt>, RecordError> {
    if batch.max_timestamp() < target || batch.last_offset() < from_offset {
        return Ok(None);
    }
    if batch.is_log_append_time() {
        return Ok(Some(RecordAt {
            offset: batch.base_offset().max(from_offset),
            timestamp: batch.max_timestamp(),
        }));
    }
    walk_batch(
        batch,
        decompressed_max_bytes,
        &FirstAtOrAfter {
            batch: *batch,
            target,
            from_offset,
        },
    )
}

struct FirstAtOrAfter<'a> {
    batch: BatchHeader<'a>,
    target: i64,
    from_offset: i64,
}

impl RecordWalk for FirstAtOrAfter<'_> {
    type Output = Option<RecordAt>;

    fn walk<S: Source>(&self, source: &mut S) -> Result<Option<RecordAt>, RecordError> {
        let base_offset = self.batch.base_offset();
        let base_timestamp = self.batch.base_timestamp();
        let walked = walk_records(source, self.batch.record_count(), |index, record| {
            // Offset deltas were checked at produce to count from zero.
            let offset = base_offset + i64::from(index);
            let timestamp = base_timestamp.wrapping_add(record.timestamp_delta);
            if timestamp >= self.target && offset >= self.from_offset {
                ControlFlow::Break(RecordAt { offset, timestamp })
            } else {
                ControlFlow::Continue(())
            }
        })?;
        Ok(match walked {
            ControlFlow::Break(found) => Some(found),
            ControlFlow::Continue(()) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::set_log_append_time;
    use crate::record::test_batches::{batch_over, compress, record, CODECS, TIMESTAMP};

    const BUDGET: u64 = 1 << 20;

    /// Five records at offsets 100..=104, stamped TIMESTAMP + 0, 10, 10, 30, 20 (not in
    /// order: a producer may send them so).
    fn five_records(codec: i16) -> Vec<u8> {
        let payload: Vec<u8> = [0, 10, 10, 30, 20]
            .iter()
            .enumerate()
            .flat_map(|(i, &delta)| record(i as i32, delta, Some(b"k"), Some(b"v"), &[]))
            .collect();
        let mut bytes = batch_over(&compress(codec, &payload), 5, codec, TIMESTAMP + 30);
        bytes[..8].copy_from_slice(&100i64.to_be_bytes());
        bytes
    }

    fn find(bytes: &[u8], target: i64, from_offset: i64) -> Option<(i64, i64)> {
        let header = BatchHeader::parse_checked(bytes).unwrap();
        first_record_at_or_after(&header, target, from_offset, BUDGET)
            .unwrap()
            .map(|r| (r.offset, r.timestamp - TIMESTAMP))
    }

    #[test]
    fn finds_the_first_record_reaching_the_target_in_every_codec() {
        for codec in CODECS {
            let bytes = five_records(codec);
            assert_eq!(find(&bytes, 0, 0), Some((100, 0)), "codec {codec}");
            assert_eq!(find(&bytes, TIMESTAMP - 5, 0), Some((100, 0)));
            assert_eq!(find(&bytes, TIMESTAMP + 1, 0), Some((101, 10)));
            assert_eq!(find(&bytes, TIMESTAMP + 10, 0), Some((101, 10)));
            assert_eq!(find(&bytes, TIMESTAMP + 11, 0), Some((103, 30)));
            assert_eq!(find(&bytes, TIMESTAMP + 20, 0), Some((103, 30)));
            assert_eq!(find(&bytes, TIMESTAMP + 30, 0), Some((103, 30)));
            assert_eq!(find(&bytes, TIMESTAMP + 31, 0), None);
            // Records below the log start offset do not count.
            assert_eq!(find(&bytes, TIMESTAMP + 1, 102), Some((102, 10)));
            assert_eq!(find(&bytes, TIMESTAMP + 11, 104), Some((104, 20)));
            assert_eq!(find(&bytes, TIMESTAMP + 21, 104), None);
            assert_eq!(find(&bytes, TIMESTAMP, 105), None);
        }
    }

    #[test]
    fn a_log_append_time_batch_answers_its_first_record_at_its_timestamp() {
        let mut bytes = five_records(0);
        set_log_append_time(&mut bytes, TIMESTAMP + 500);
        assert_eq!(find(&bytes, TIMESTAMP + 500, 0), Some((100, 500)));
        assert_eq!(find(&bytes, 0, 103), Some((103, 500)));
        assert_eq!(find(&bytes, TIMESTAMP + 501, 0), None);
    }

    #[test]
    fn a_batch_past_the_budget_or_not_decompressing_is_an_error() {
        let bytes = five_records(4);
        let header = BatchHeader::parse_checked(&bytes).unwrap();
        let result = first_record_at_or_after(&header, TIMESTAMP + 30, 0, 10);
        assert!(matches!(result, Err(RecordError::Corrupt(_))), "{result:?}");
        let garbage = batch_over(&[0x5a; 64], 5, 1, TIMESTAMP);
        let header = BatchHeader::parse_checked(&garbage).unwrap();
        assert!(matches!(
            first_record_at_or_after(&header, TIMESTAMP, 0, BUDGET),
            Err(RecordError::Corrupt(_))
        ));
    }
}
