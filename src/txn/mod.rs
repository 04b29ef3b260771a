//! Transactions: the transaction coordinator.
//!
//! [`state::Transactions`] is a pure state machine (Kafka's transaction coordinator rules,
//! transaction versions 1 and 2); [`TxnCoordinator`] runs it on the coordinator runtime
//! ([`crate::coordinator`]), which journals every change to `transactions.log` before the
//! answer leaves. An ended transaction is answered once its prepared state is written; its
//! markers are work the broker picks up ([`TxnCoordinator::pending_markers`], woken by
//! [`TxnCoordinator::markers_wanted`]) and reports done ([`TxnCoordinator::complete`]) — after
//! a restart, a prepared transaction's markers are picked up the same way.

pub mod listing;
pub mod records;
pub mod state;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tv2_tests;

use std::io;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::clock::Clock;
use crate::coordinator::journal::Opened;
use crate::coordinator::{self, AppendError, NoReply, Runtime, StateMachine};
pub use listing::{ListFilter, ListedTxn, Listing};
use records::{TxnLog, TxnRecord, TXN_LOG_FILE};
use state::NO_PRODUCER_ID;
pub use state::{
    MarkerJob, Outcome, ProducerIdAndEpoch, Transactions, TxnConfig, TxnEffects, TxnError,
    TxnMetadata, TxnResult, TxnState,
};

impl StateMachine for Transactions {
    type Record = TxnRecord;
    type Reply = NoReply;
    type Config = TxnConfig;

    fn restore(config: TxnConfig, records: Vec<TxnRecord>, _now_ms: i64) -> Transactions {
        Transactions::restore(config, records)
    }

    fn snapshot_records(&self) -> Vec<TxnRecord> {
        Transactions::snapshot_records(self)
    }

    fn next_deadline_ms(&self) -> Option<i64> {
        Transactions::next_deadline_ms(self)
    }

    fn tick(&mut self, now_ms: i64) -> TxnEffects {
        Transactions::tick(self, now_ms)
    }
}

/// A change that could not be journaled is gone; Kafka answers the same way when its
/// transaction log refuses an append (retriable unless the record itself is too large).
impl From<coordinator::NotJournaled> for TxnError {
    fn from(e: coordinator::NotJournaled) -> TxnError {
        match e.0 {
            AppendError::RecordTooLarge { .. } => TxnError::UnknownServerError,
            AppendError::Io(_) => TxnError::CoordinatorNotAvailable,
        }
    }
}

impl From<coordinator::Stopped> for TxnError {
    fn from(_: coordinator::Stopped) -> TxnError {
        TxnError::CoordinatorNotAvailable
    }
}

/// The handle requests use to reach the transaction coordinator.
pub struct TxnCoordinator {
    runtime: Runtime<Transactions>,
    /// Woken when a transaction was prepared and its markers are wanted.
    markers_wanted: Arc<Notify>,
}

impl TxnCoordinator {
    /// Starts the coordinator; with a directory, state is replayed from and journaled to
    /// `<dir>/transactions.log`.
    pub fn start(
        config: TxnConfig,
        dir: Option<&Path>,
        clock: Clock,
    ) -> io::Result<TxnCoordinator> {
        let journal = match dir {
            Some(dir) => Some(TxnLog::open(dir, TXN_LOG_FILE)?),
            None => None,
        };
        Self::start_with(config, journal, clock)
    }

    fn start_with(
        config: TxnConfig,
        journal: Option<Opened<TxnRecord>>,
        clock: Clock,
    ) -> io::Result<TxnCoordinator> {
        Ok(TxnCoordinator {
            runtime: Runtime::start("sluice-txns", config, journal, clock)?,
            markers_wanted: Arc::new(Notify::new()),
        })
    }

    /// Starts the coordinator on a journal opened with faults injected at its I/O seam.
    #[cfg(test)]
    pub(crate) fn start_faulty(
        config: TxnConfig,
        dir: &Path,
        faults: Arc<coordinator::JournalFaults>,
        clock: Clock,
    ) -> io::Result<TxnCoordinator> {
        let journal = TxnLog::open_faulty(dir, TXN_LOG_FILE, faults)?;
        Self::start_with(config, Some(journal), clock)
    }

    /// Runs `op` on the coordinator's thread; its result is given once its records are
    /// journaled.
    async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut Transactions, i64) -> Outcome<T> + Send + 'static,
    ) -> Result<T, TxnError> {
        self.runtime
            .call(move |cx, now_ms| {
                let (result, fx) = op(cx.machine(), now_ms);
                cx.apply(fx, now_ms)?;
                result
            })
            .await?
    }

    /// InitProducerId for `transactional_id`; `fresh_producer_id` is taken if a new producer
    /// id is needed.
    pub async fn init_producer_id(
        &self,
        transactional_id: String,
        timeout_ms: i32,
        expected: Option<ProducerIdAndEpoch>,
        fresh_producer_id: i64,
    ) -> Result<ProducerIdAndEpoch, TxnError> {
        let result = self
            .run(move |txns, now| {
                txns.init_producer_id(
                    &transactional_id,
                    timeout_ms,
                    expected,
                    fresh_producer_id,
                    now,
                )
            })
            .await;
        if result == Err(TxnError::ConcurrentTransactions) {
            // An open transaction may have been fenced and prepared to abort just now.
            self.markers_wanted.notify_one();
        }
        result
    }

    pub async fn add_partitions(
        &self,
        transactional_id: String,
        producer: ProducerIdAndEpoch,
        partitions: Vec<(String, i32)>,
    ) -> Result<(), TxnError> {
        self.run(move |txns, now| {
            txns.add_partitions(&transactional_id, producer, &partitions, now)
        })
        .await
    }

    pub async fn add_offsets(
        &self,
        transactional_id: String,
        producer: ProducerIdAndEpoch,
        group: String,
    ) -> Result<(), TxnError> {
        self.run(move |txns, now| txns.add_offsets(&transactional_id, producer, &group, now))
            .await
    }

    /// EndTxn with transaction version 1: answered once the commit or abort is prepared; the
    /// markers follow.
    pub async fn end(
        &self,
        transactional_id: String,
        producer: ProducerIdAndEpoch,
        result: TxnResult,
    ) -> Result<(), TxnError> {
        self.end_txn(transactional_id, producer, result, false, &|| {
            NO_PRODUCER_ID
        })
        .await
        .map(|_| ())
    }

    /// EndTxn, with transaction version 2 when `tv2` (the epoch is bumped); the answer is the
    /// producer id and epoch the producer goes on with. `fresh_producer_id` is called only
    /// when an exhausted epoch needs a new producer id.
    pub async fn end_txn(
        &self,
        transactional_id: String,
        producer: ProducerIdAndEpoch,
        result: TxnResult,
        tv2: bool,
        fresh_producer_id: &(dyn Fn() -> i64 + Sync),
    ) -> Result<ProducerIdAndEpoch, TxnError> {
        let mut fresh = NO_PRODUCER_ID;
        loop {
            let id = transactional_id.clone();
            let ended = self
                .run(move |txns, now| txns.end_txn(&id, producer, result, tv2, fresh, now))
                .await;
            match ended {
                Err(TxnError::NeedsProducerId) if fresh == NO_PRODUCER_ID => {
                    fresh = fresh_producer_id();
                }
                Err(TxnError::NeedsProducerId) => return Err(TxnError::ConcurrentTransactions),
                Ok(answer) => {
                    self.markers_wanted.notify_one();
                    return Ok(answer);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether `producer` of `transactional_id` may write to each of `partitions` now (its
    /// transaction is open and holds the partition), asked at once.
    pub async fn writes_to(
        &self,
        transactional_id: String,
        producer: ProducerIdAndEpoch,
        partitions: Vec<(String, i32)>,
    ) -> Result<Vec<bool>, TxnError> {
        Ok(self
            .runtime
            .call(move |cx, _| {
                let txns = cx.machine();
                partitions
                    .iter()
                    .map(|partition| txns.writes_to(&transactional_id, producer, partition))
                    .collect()
            })
            .await?)
    }

    /// Which of `partitions` the open transaction of `producer` holds (AddPartitionsToTxn
    /// v4+, verify only), with the coordinator's refusals.
    pub async fn verify(
        &self,
        transactional_id: String,
        producer: ProducerIdAndEpoch,
        partitions: Vec<(String, i32)>,
    ) -> Result<Vec<bool>, TxnError> {
        self.runtime
            .call(move |cx, _| {
                cx.machine()
                    .verify(&transactional_id, producer, &partitions)
            })
            .await?
    }

    /// The state of one transactional id (DescribeTransactions).
    pub async fn describe(
        &self,
        transactional_id: String,
    ) -> Result<Option<TxnMetadata>, TxnError> {
        Ok(self
            .runtime
            .call(move |cx, _| cx.machine().get(&transactional_id).cloned())
            .await?)
    }

    /// One transactional id's whole state for the tooling (DescribeTransactions), with its
    /// rules: [`TxnError::InvalidRequest`] for the empty id,
    /// [`TxnError::TransactionalIdNotFound`] for an unknown one.
    pub async fn describe_transaction(
        &self,
        transactional_id: String,
    ) -> Result<TxnMetadata, TxnError> {
        self.runtime
            .call(move |cx, _| cx.machine().describe(&transactional_id))
            .await?
    }

    /// The transactional ids `filter` lets through now (ListTransactions).
    pub async fn list(&self, filter: ListFilter) -> Result<Listing, TxnError> {
        Ok(self
            .runtime
            .call(move |cx, now_ms| cx.machine().list(&filter, now_ms))
            .await?)
    }

    /// How many transactional ids are in each state, for the metrics.
    pub async fn count_by_state(&self) -> Result<Vec<(TxnState, usize)>, TxnError> {
        Ok(self
            .runtime
            .call(|cx, _| {
                let mut counts: Vec<(TxnState, usize)> = Vec::new();
                for (_, txn) in cx.machine().iter() {
                    match counts.iter_mut().find(|(state, _)| *state == txn.state) {
                        Some((_, n)) => *n += 1,
                        None => counts.push((txn.state, 1)),
                    }
                }
                counts
            })
            .await?)
    }

    /// Every prepared transaction whose markers are still to write.
    pub async fn pending_markers(&self) -> Result<Vec<MarkerJob>, TxnError> {
        Ok(self
            .runtime
            .call(|cx, _| cx.machine().pending_markers())
            .await?)
    }

    /// The markers of `job` are written: the transaction completes.
    pub async fn complete(&self, job: MarkerJob) -> Result<(), TxnError> {
        self.runtime
            .call(move |cx, now| {
                let fx = cx.machine().complete(&job, now);
                cx.apply(fx, now)?;
                Ok(())
            })
            .await?
    }

    /// Resolves when markers may be wanted (a transaction ended or was fenced); a timed-out
    /// transaction is prepared by the coordinator's timer, so callers also look now and then.
    /// Forgets every transactional id and its transaction (the admin reset), durably.
    pub async fn reset(&self) -> Result<(), TxnError> {
        self.runtime
            .call(|cx, now_ms| {
                cx.reset(now_ms).map_err(|e| {
                    tracing::error!(error = %e, "cannot empty the transaction log");
                    TxnError::CoordinatorNotAvailable
                })
            })
            .await?
    }

    pub fn markers_wanted(&self) -> &Notify {
        &self.markers_wanted
    }

    /// Stops the coordinator after the commands already sent, and flushes its journal.
    pub fn stop(&self) {
        self.runtime.stop();
    }
}
