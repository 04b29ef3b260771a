//! The producers a partition knows, as DescribeProducers shows them (Kafka's active
//! producer state): each idempotent or transactional producer it remembers, with its epoch,
//! last sequence and timestamp, the coordinator epoch of its last marker and where its open
//! transaction starts — what `kafka-transactions.sh` reads to find a hanging transaction.

use super::Partition;

/// One producer of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    /// -1 when the partition has its open transaction but no longer its batches.
    pub epoch: i16,
    /// -1 without a batch remembered.
    pub last_sequence: i32,
    /// The time of its last write: its latest batch's largest timestamp, or its marker's
    /// if that came after (as in Kafka); -1 with neither remembered.
    pub last_timestamp: i64,
    /// The coordinator epoch of its last marker here; -1 when unknown.
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction here; -1 without one.
    pub current_txn_start_offset: i64,
}

impl Partition {
    /// Every producer the partition remembers, by producer id. A producer with a transaction
    /// open here whose batches are forgotten (expired, or older than what a restart
    /// rebuilds) is listed too, with what is known of it: a hanging transaction stays
    /// visible to the tooling that ends it.
    pub fn active_producers(&self) -> Vec<ActiveProducer> {
        let inner = self.lock();
        let mut producers: Vec<ActiveProducer> = inner
            .producers
            .each()
            .map(|(producer_id, epoch, latest)| {
                let marker = inner.txns.last_marker(producer_id);
                let last_timestamp = match (latest, marker) {
                    (Some(batch), Some(m)) if m.offset < batch.last_offset => batch.max_timestamp,
                    (_, Some(m)) => m.timestamp_ms,
                    (Some(batch), None) => batch.max_timestamp,
                    (None, None) => -1,
                };
                ActiveProducer {
                    producer_id,
                    epoch,
                    last_sequence: latest.map_or(-1, |b| b.last_sequence),
                    last_timestamp,
                    coordinator_epoch: marker.map_or(-1, |m| m.coordinator_epoch),
                    current_txn_start_offset: inner.txns.open_since(producer_id).unwrap_or(-1),
                }
            })
            .collect();
        for (producer_id, first_offset) in inner.txns.open_transactions() {
            if !producers.iter().any(|p| p.producer_id == producer_id) {
                producers.push(ActiveProducer {
                    producer_id,
                    epoch: -1,
                    last_sequence: -1,
                    last_timestamp: -1,
                    coordinator_epoch: inner
                        .txns
                        .last_marker(producer_id)
                        .map_or(-1, |m| m.coordinator_epoch),
                    current_txn_start_offset: first_offset,
                });
            }
        }
        producers.sort_by_key(|p| p.producer_id);
        producers
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::log::MemoryLog;
    use crate::record::control::TransactionResult::{Abort, Commit};
    use crate::record::test_batches::{idempotent_batch, transactional_batch, TIMESTAMP};

    const IDEMPOTENT: i64 = 1000;
    const TRANSACTIONAL: i64 = 2000;

    fn partition() -> Partition {
        Partition::new("t".into(), 0, Box::new(MemoryLog::new()))
    }

    fn producer(
        producer_id: i64,
        epoch: i16,
        last_sequence: i32,
        last_timestamp: i64,
        coordinator_epoch: i32,
        current_txn_start_offset: i64,
    ) -> ActiveProducer {
        ActiveProducer {
            producer_id,
            epoch,
            last_sequence,
            last_timestamp,
            coordinator_epoch,
            current_txn_start_offset,
        }
    }

    #[test]
    fn idempotent_and_transactional_producers_are_listed_with_their_state() {
        let p = partition();
        assert!(p.active_producers().is_empty());
        let idempotent =
            |first, count, ts| Bytes::from(idempotent_batch(IDEMPOTENT, 3, first, count, ts));
        let transactional =
            |first, count, ts| Bytes::from(transactional_batch(TRANSACTIONAL, 0, first, count, ts));
        p.append(idempotent(0, 3, TIMESTAMP), None).unwrap(); // 0..=2
        p.append(transactional(0, 2, TIMESTAMP + 1), None).unwrap(); // 3..=4
        p.append(idempotent(3, 2, TIMESTAMP + 2), None).unwrap(); // 5..=6
        assert_eq!(
            p.active_producers(),
            vec![
                producer(IDEMPOTENT, 3, 4, TIMESTAMP + 2, -1, -1),
                producer(TRANSACTIONAL, 0, 1, TIMESTAMP + 1, -1, 3),
            ]
        );
        // The coordinator commits (coordinator epoch 0); the next transaction opens at 8.
        assert_eq!(
            p.append_marker(TRANSACTIONAL, 0, Commit, 0, TIMESTAMP)
                .unwrap(),
            7
        );
        p.append(transactional(2, 1, TIMESTAMP + 3), None).unwrap(); // 8
        assert_eq!(
            p.active_producers()[1],
            producer(TRANSACTIONAL, 0, 2, TIMESTAMP + 3, 0, 8)
        );
        // A requested abort at coordinator epoch 4 ends it, its time the last write's.
        p.append_requested_marker(TRANSACTIONAL, 0, Abort, 4, TIMESTAMP + 9)
            .unwrap();
        assert_eq!(
            p.active_producers()[1],
            producer(TRANSACTIONAL, 0, 2, TIMESTAMP + 9, 4, -1)
        );
    }

    #[test]
    fn a_producer_forgotten_with_its_transaction_open_is_still_listed() {
        let p = partition();
        p.append(
            Bytes::from(transactional_batch(TRANSACTIONAL, 0, 0, 1, TIMESTAMP)),
            None,
        )
        .unwrap();
        // Quiet past producer.id.expiration.ms: its batches are forgotten, not its transaction.
        assert_eq!(p.expire_producers(TIMESTAMP + 10_000, 1_000), 1);
        assert_eq!(
            p.active_producers(),
            vec![producer(TRANSACTIONAL, -1, -1, -1, -1, 0)]
        );
        p.append_requested_marker(TRANSACTIONAL, 0, Abort, 0, TIMESTAMP)
            .unwrap();
        assert!(p.active_producers().is_empty());
        assert_eq!(p.ends().last_stable_offset, 2);
    }
}
