//! A snapshot of a partition's producer state, as bytes: what the partition writes when its
//! log rolls, so a restart replays only the batches after the newest snapshot instead of
//! rescanning the log.
//!
//! Layout (big-endian): a version byte, the producer count (u32), per producer its id (i64),
//! epoch (i16), from version 2 the epoch its batches were written at (i16; older when a
//! marker bumped the epoch), batch count (u8) and batches (first and last sequence as i32, first and last
//! offset and max timestamp as i64), then a CRC32C of everything before it. A snapshot that
//! does not check out is no snapshot: the caller falls back to an older one or a replay.

use bytes::{Buf, BufMut};

use super::{ProducerBatch, ProducerEntry, ProducerStates, BATCHES_REMEMBERED};

const VERSION: u8 = 2;
/// Snapshots before the batches' own epoch: it is the producer's.
const VERSION_1: u8 = 1;
const BATCH_BYTES: usize = 4 + 4 + 8 + 8 + 8;

impl ProducerStates {
    /// The state as snapshot bytes, producers in id order (the same state, the same bytes).
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut ids: Vec<&i64> = self.producers.keys().collect();
        ids.sort_unstable();
        let mut out = Vec::with_capacity(5 + ids.len() * (13 + BATCH_BYTES) + 4);
        out.put_u8(VERSION);
        out.put_u32(ids.len() as u32);
        for id in ids {
            let entry = &self.producers[id];
            out.put_i64(*id);
            out.put_i16(entry.epoch);
            out.put_i16(entry.batches_epoch);
            out.put_u8(entry.batches.len() as u8);
            for batch in &entry.batches {
                out.put_i32(batch.first_sequence);
                out.put_i32(batch.last_sequence);
                out.put_i64(batch.first_offset);
                out.put_i64(batch.last_offset);
                out.put_i64(batch.max_timestamp);
            }
        }
        let crc = crc32c::crc32c(&out);
        out.put_u32(crc);
        out
    }

    /// The state a snapshot holds; `None` for bytes that are not a whole, intact snapshot.
    pub fn decode_snapshot(bytes: &[u8]) -> Option<ProducerStates> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32c::crc32c(body).to_be_bytes() != crc {
            return None;
        }
        let mut body = body;
        let version = body.try_get_u8().ok()?;
        if version != VERSION && version != VERSION_1 {
            return None;
        }
        let count = body.try_get_u32().ok()?;
        let mut states = ProducerStates::new();
        for _ in 0..count {
            let id = body.try_get_i64().ok()?;
            let epoch = body.try_get_i16().ok()?;
            let batches_epoch = match version {
                VERSION_1 => epoch,
                _ => body.try_get_i16().ok()?,
            };
            let batches = usize::from(body.try_get_u8().ok()?);
            if batches > BATCHES_REMEMBERED || body.remaining() < batches * BATCH_BYTES {
                return None;
            }
            let mut entry = ProducerEntry {
                epoch,
                batches_epoch,
                batches: Default::default(),
            };
            for _ in 0..batches {
                entry.batches.push_back(ProducerBatch {
                    first_sequence: body.get_i32(),
                    last_sequence: body.get_i32(),
                    first_offset: body.get_i64(),
                    last_offset: body.get_i64(),
                    max_timestamp: body.get_i64(),
                });
            }
            states.producers.insert(id, entry);
        }
        body.is_empty().then_some(states)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer_state::{ProducerFields, SequenceCheck, SequenceError};

    fn batch(first_sequence: i32, count: i32, first_offset: i64) -> ProducerBatch {
        ProducerBatch {
            first_sequence,
            last_sequence: first_sequence + (count - 1),
            first_offset,
            last_offset: first_offset + i64::from(count) - 1,
            max_timestamp: 1_000 + first_offset,
        }
    }

    fn states() -> ProducerStates {
        let mut states = ProducerStates::new();
        for i in 0..7 {
            states.record(7, 2, batch(i * 3, 3, i64::from(i) * 3));
        }
        states.record(5, 0, batch(0, 1, 100));
        states.record(i64::MAX, i16::MAX, batch(i32::MAX, 1, 101));
        states
    }

    #[test]
    fn a_snapshot_restores_what_the_state_decides() {
        let states = states();
        let restored = ProducerStates::decode_snapshot(&states.encode_snapshot()).unwrap();
        assert_eq!(restored.encode_snapshot(), states.encode_snapshot());
        assert_eq!(restored.len(), 3);
        // The last five batches of producer 7 are remembered: a retry of the newest is a
        // duplicate answered with its offset, the next sequence appends, a gap is refused.
        let retry = ProducerFields {
            producer_id: 7,
            epoch: 2,
            first_sequence: 18,
            last_sequence: 20,
        };
        assert_eq!(
            restored.check(&retry),
            Ok(SequenceCheck::Duplicate(batch(18, 3, 18)))
        );
        let next = ProducerFields {
            first_sequence: 21,
            last_sequence: 21,
            ..retry
        };
        assert_eq!(restored.check(&next), Ok(SequenceCheck::Append));
        let gap = ProducerFields {
            first_sequence: 23,
            last_sequence: 23,
            ..retry
        };
        assert_eq!(
            restored.check(&gap),
            Err(SequenceError::OutOfOrder {
                expected: 21,
                got: 23
            })
        );
        let old_epoch = ProducerFields { epoch: 1, ..next };
        assert_eq!(
            restored.check(&old_epoch),
            Err(SequenceError::InvalidProducerEpoch { current: 2 })
        );
    }

    #[test]
    fn an_empty_state_is_a_snapshot_too() {
        let bytes = ProducerStates::new().encode_snapshot();
        assert!(ProducerStates::decode_snapshot(&bytes).unwrap().is_empty());
    }

    /// Every cut and every flipped byte is refused: a torn or damaged snapshot is never
    /// taken for a state.
    #[test]
    fn a_torn_or_damaged_snapshot_is_refused() {
        let bytes = states().encode_snapshot();
        for cut in 0..bytes.len() {
            assert!(
                ProducerStates::decode_snapshot(&bytes[..cut]).is_none(),
                "cut at {cut}"
            );
        }
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            assert!(
                ProducerStates::decode_snapshot(&damaged).is_none(),
                "flip at {at}"
            );
        }
        let mut longer = bytes.clone();
        longer.insert(5, 0);
        assert!(ProducerStates::decode_snapshot(&longer).is_none());
    }
}
