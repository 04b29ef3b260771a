//! Idempotent-producer state of one partition: per producer id, its epoch and the last five
//! batches' sequence ranges, so a retried batch is recognised and a gap is refused.
//!
//! The rules follow Kafka's `ProducerStateManager` / `ProducerAppendInfo`: a duplicate is a
//! batch of the current epoch whose first and last sequence match a remembered batch; a new
//! epoch must start at sequence 0; otherwise the first sequence must follow the last one.

use std::collections::{HashMap, VecDeque};

mod snapshot;

/// How many batches per producer are remembered for de-duplication (Kafka's
/// `max.in.flight.requests.per.connection` bound for idempotence).
pub const BATCHES_REMEMBERED: usize = 5;

/// A batch appended for a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

/// The producer fields of an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerFields {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_sequence: i32,
    pub last_sequence: i32,
}

/// What to do with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New and in order: append it.
    Append,
    /// Already appended: answer with where it went, append nothing.
    Duplicate(ProducerBatch),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceError {
    /// The batch's epoch is older than the producer's current one.
    InvalidProducerEpoch { current: i16 },
    /// The first sequence does not follow the last appended one.
    OutOfOrder { expected: i32, got: i32 },
}

#[derive(Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    /// The epoch `batches` were written at: older than `epoch` after a marker bumped it
    /// (transaction version 2 bumps the epoch at every transaction end). Such batches still
    /// age the producer towards expiry, but the new epoch's sequence starts again at 0.
    batches_epoch: i16,
    batches: VecDeque<ProducerBatch>,
}

impl ProducerEntry {
    fn last_sequence(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_sequence)
    }
}

/// All producers that wrote to one partition.
#[derive(Debug, Default)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStates {
    pub fn new() -> ProducerStates {
        ProducerStates::default()
    }

    /// Decides whether a batch is appended, answered as a duplicate, or refused.
    pub fn check(&self, batch: &ProducerFields) -> Result<SequenceCheck, SequenceError> {
        // A producer we know nothing of (new, or its batches are gone with retention or a
        // restart) may start at any sequence, as in Kafka.
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            return Ok(SequenceCheck::Append);
        };
        if batch.epoch < entry.epoch {
            return Err(SequenceError::InvalidProducerEpoch {
                current: entry.epoch,
            });
        }
        if batch.epoch > entry.epoch {
            return if batch.first_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(SequenceError::OutOfOrder {
                    expected: 0,
                    got: batch.first_sequence,
                })
            };
        }
        if entry.batches_epoch != entry.epoch {
            // The epoch came with a marker: this is its first batch.
            return if batch.first_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(SequenceError::OutOfOrder {
                    expected: 0,
                    got: batch.first_sequence,
                })
            };
        }
        if let Some(original) = entry.batches.iter().find(|b| {
            b.first_sequence == batch.first_sequence && b.last_sequence == batch.last_sequence
        }) {
            return Ok(SequenceCheck::Duplicate(*original));
        }
        let expected = entry.last_sequence().map_or(0, next_sequence);
        if batch.first_sequence == expected {
            Ok(SequenceCheck::Append)
        } else {
            Err(SequenceError::OutOfOrder {
                expected,
                got: batch.first_sequence,
            })
        }
    }

    /// Remembers an appended batch; a newer epoch forgets the older epoch's batches.
    pub fn record(&mut self, producer_id: i64, epoch: i16, batch: ProducerBatch) {
        let entry = self.producers.entry(producer_id).or_default();
        if epoch != entry.epoch || epoch != entry.batches_epoch {
            entry.epoch = epoch;
            entry.batches_epoch = epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == BATCHES_REMEMBERED {
            entry.batches.pop_front();
        }
        entry.batches.push_back(batch);
    }
}

impl ProducerStates {
    /// Forgets producers whose latest batch is `expiration_ms` or more older than `now_ms`
    /// (Kafka's `producer.id.expiration.ms`, measured as Kafka does, from the batch's
    /// largest timestamp), so what a partition remembers is bounded by its recent writers.
    /// A forgotten producer that writes again is treated as new. Returns how many were
    /// forgotten.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, entry| {
            entry
                .batches
                .back()
                .is_some_and(|last| now_ms.saturating_sub(last.max_timestamp) < expiration_ms)
        });
        before - self.producers.len()
    }

    /// A transaction marker of `producer_id` at `epoch`: an older epoch of the producer is
    /// fenced from here on (its batches are refused); a marker older than the producer's
    /// epoch is refused itself.
    pub fn fence(&mut self, producer_id: i64, epoch: i16) -> Result<(), SequenceError> {
        match self.producers.get_mut(&producer_id) {
            Some(entry) if epoch < entry.epoch => Err(SequenceError::InvalidProducerEpoch {
                current: entry.epoch,
            }),
            Some(entry) => {
                // Its batches stay, so the producer expires as its last write ages.
                entry.epoch = epoch;
                Ok(())
            }
            // Nothing of it here: no batch to fence.
            None => Ok(()),
        }
    }

    /// Every remembered producer: its id, epoch and latest batch of that epoch
    /// (DescribeProducers; none after a marker bumped the epoch, as Kafka forgets them then).
    pub fn each(&self) -> impl Iterator<Item = (i64, i16, Option<&ProducerBatch>)> + '_ {
        self.producers.iter().map(|(&id, entry)| {
            let latest = entry
                .batches
                .back()
                .filter(|_| entry.batches_epoch == entry.epoch);
            (id, entry.epoch, latest)
        })
    }

    /// How many producers are remembered.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

/// The sequence after `sequence`, wrapping from `i32::MAX` to 0 as Kafka does.
fn next_sequence(sequence: i32) -> i32 {
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PID: i64 = 7;

    #[test]
    fn producers_quiet_for_the_expiration_time_are_forgotten() {
        let mut states = ProducerStates::new();
        for (pid, timestamp) in [(1, 1_000), (2, 5_000), (3, 9_999)] {
            states.record(
                pid,
                0,
                ProducerBatch {
                    first_sequence: 0,
                    last_sequence: 0,
                    first_offset: pid,
                    last_offset: pid,
                    max_timestamp: timestamp,
                },
            );
        }
        assert_eq!(
            states.expire(11_000, 6_000),
            2,
            "1 and 2 are 6 s or more quiet"
        );
        assert_eq!(states.len(), 1);
        let retry = ProducerFields {
            producer_id: 1,
            epoch: 0,
            first_sequence: 5,
            last_sequence: 5,
        };
        assert_eq!(
            states.check(&retry),
            Ok(SequenceCheck::Append),
            "an expired producer starts afresh, at any sequence"
        );
        assert_eq!(states.expire(11_000, 6_000), 0);
    }

    fn fields(epoch: i16, first: i32, last: i32) -> ProducerFields {
        ProducerFields {
            producer_id: PID,
            epoch,
            first_sequence: first,
            last_sequence: last,
        }
    }

    fn appended(states: &mut ProducerStates, epoch: i16, first: i32, last: i32, offset: i64) {
        assert_eq!(
            states.check(&fields(epoch, first, last)),
            Ok(SequenceCheck::Append)
        );
        states.record(
            PID,
            epoch,
            ProducerBatch {
                first_sequence: first,
                last_sequence: last,
                first_offset: offset,
                last_offset: offset + i64::from(last - first),
                max_timestamp: 0,
            },
        );
    }

    #[test]
    fn an_unknown_producer_may_start_anywhere() {
        let states = ProducerStates::new();
        assert_eq!(states.check(&fields(0, 3, 4)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn a_retried_batch_is_a_duplicate_with_its_original_offset() {
        let mut states = ProducerStates::new();
        appended(&mut states, 0, 0, 9, 100);
        appended(&mut states, 0, 10, 19, 110);
        match states.check(&fields(0, 0, 9)) {
            Ok(SequenceCheck::Duplicate(b)) => assert_eq!(b.first_offset, 100),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_gap_is_out_of_order() {
        let mut states = ProducerStates::new();
        appended(&mut states, 0, 0, 9, 0);
        assert_eq!(
            states.check(&fields(0, 11, 12)),
            Err(SequenceError::OutOfOrder {
                expected: 10,
                got: 11
            })
        );
    }

    #[test]
    fn only_five_batches_are_remembered() {
        let mut states = ProducerStates::new();
        for i in 0..6 {
            appended(&mut states, 0, i, i, i64::from(i));
        }
        assert!(matches!(
            states.check(&fields(0, 0, 0)),
            Err(SequenceError::OutOfOrder { .. })
        ));
        assert!(matches!(
            states.check(&fields(0, 1, 1)),
            Ok(SequenceCheck::Duplicate(_))
        ));
    }

    #[test]
    fn an_older_epoch_is_fenced_and_a_newer_one_restarts_at_zero() {
        let mut states = ProducerStates::new();
        appended(&mut states, 1, 0, 0, 0);
        assert_eq!(
            states.check(&fields(0, 1, 1)),
            Err(SequenceError::InvalidProducerEpoch { current: 1 })
        );
        assert!(matches!(
            states.check(&fields(2, 5, 5)),
            Err(SequenceError::OutOfOrder { .. })
        ));
        appended(&mut states, 2, 0, 0, 1);
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        let mut states = ProducerStates::new();
        appended(&mut states, 0, 0, 0, 0);
        states.record(
            PID,
            0,
            ProducerBatch {
                first_sequence: i32::MAX - 1,
                last_sequence: i32::MAX,
                first_offset: 1,
                last_offset: 2,
                max_timestamp: 0,
            },
        );
        assert_eq!(states.check(&fields(0, 0, 3)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn a_marker_at_a_newer_epoch_restarts_the_sequence_of_that_epoch() {
        // Transaction version 2: the end's marker carries epoch 1, the next transaction's
        // batches epoch 1 from sequence 0.
        let mut states = ProducerStates::new();
        appended(&mut states, 0, 0, 1, 0);
        assert_eq!(states.fence(PID, 1), Ok(()));
        assert_eq!(
            states.check(&fields(0, 2, 2)),
            Err(SequenceError::InvalidProducerEpoch { current: 1 })
        );
        assert_eq!(
            states.check(&fields(1, 2, 2)),
            Err(SequenceError::OutOfOrder {
                expected: 0,
                got: 2
            })
        );
        // A snapshot keeps it so.
        let restored = ProducerStates::decode_snapshot(&states.encode_snapshot()).unwrap();
        assert_eq!(restored.check(&fields(1, 0, 0)), Ok(SequenceCheck::Append));
        assert!(
            restored.check(&fields(1, 0, 1)).is_ok(),
            "no old batch is a duplicate"
        );
        assert_eq!(states.check(&fields(1, 0, 0)), Ok(SequenceCheck::Append));
        appended(&mut states, 1, 0, 0, 3);
        assert_eq!(states.check(&fields(1, 1, 1)), Ok(SequenceCheck::Append));
        assert_eq!(
            states.check(&fields(1, 0, 0)),
            Ok(SequenceCheck::Duplicate(ProducerBatch {
                first_sequence: 0,
                last_sequence: 0,
                first_offset: 3,
                last_offset: 3,
                max_timestamp: 0,
            }))
        );
    }
}
