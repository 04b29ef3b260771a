//! Transaction version 2's implicit joins (KIP-890 part 2): a transactional produce (v12+)
//! adds its partitions to the producer's transaction, and a transactional offset commit (v5+)
//! its group, as the broker asks the coordinator in Kafka (AddPartitionsToTxn v4+, not
//! verify-only) instead of the producer asking first.
//!
//! Right after an end the previous transaction's markers may still be on their way: the
//! coordinator answers CONCURRENT_TRANSACTIONS until they are written. The join is asked
//! again for a short while (Kafka's `add.partitions.to.txn.retry.backoff.max.ms`, 100 ms)
//! before that answer is given, which the produce path turns into a retriable code.

use std::time::Duration;

use tokio::time::Instant;

use super::Broker;
use crate::txn::{ProducerIdAndEpoch, TxnError};

/// How long a join waits for the previous transaction's markers at most (Kafka's default).
const JOIN_RETRY_MAX: Duration = Duration::from_millis(100);
/// The first pause before asking again; it doubles up to `JOIN_BACKOFF_MAX`. Markers take
/// a few milliseconds, so a short first pause keeps the next transaction's first produce
/// from waiting the full Kafka backoff of 20 ms.
const JOIN_BACKOFF_FIRST: Duration = Duration::from_millis(2);
const JOIN_BACKOFF_MAX: Duration = Duration::from_millis(20);

impl Broker {
    /// Adds `partitions` to the open transaction of `producer` (opening one).
    pub async fn join_transaction(
        &self,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        partitions: Vec<(String, i32)>,
    ) -> Result<(), TxnError> {
        retrying(|| {
            self.txns()
                .add_partitions(transactional_id.to_string(), producer, partitions.clone())
        })
        .await
    }

    /// Adds `group` to the open transaction of `producer` (opening one): its offsets commit
    /// or abort with the transaction.
    pub async fn join_transaction_group(
        &self,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        group: &str,
    ) -> Result<(), TxnError> {
        retrying(|| {
            self.txns()
                .add_offsets(transactional_id.to_string(), producer, group.to_string())
        })
        .await
    }
}

/// `ask` until it is answered with something else than CONCURRENT_TRANSACTIONS or
/// `JOIN_RETRY_MAX` has passed.
async fn retrying<F, Fut>(mut ask: F) -> Result<(), TxnError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), TxnError>>,
{
    let deadline = Instant::now() + JOIN_RETRY_MAX;
    let mut backoff = JOIN_BACKOFF_FIRST;
    loop {
        let answer = ask().await;
        if answer != Err(TxnError::ConcurrentTransactions) || Instant::now() >= deadline {
            return answer;
        }
        tokio::time::sleep(backoff.min(deadline.saturating_duration_since(Instant::now()))).await;
        backoff = (backoff * 2).min(JOIN_BACKOFF_MAX);
    }
}
