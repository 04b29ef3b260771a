//! Transactions as a pure state machine: every operation takes the time and returns its
//! result with the records to journal before the result may be given. No I/O; the
//! transaction markers an ended transaction needs are work the machine lists
//! ([`Transactions::pending_markers`]) and is told about when done ([`Transactions::complete`]).
//!
//! The rules are those of Kafka's transaction coordinator with transaction version 1
//! (`TransactionCoordinator`, `TransactionMetadata` in Apache Kafka): a transactional id maps
//! to a producer id and epoch; InitProducerId bumps the epoch (fencing the previous producer,
//! aborting its open transaction first), or rotates to a new producer id when the epoch is
//! exhausted; a transaction goes Empty → Ongoing → PrepareCommit / PrepareAbort →
//! CompleteCommit / CompleteAbort; an Ongoing transaction past its timeout is aborted with a
//! bumped epoch; an idle transactional id expires. With transaction version 2 (KIP-890, an
//! EndTxn v5) every end bumps the epoch too ([`Transactions::end_txn`]), and an exhausted one
//! hands over to a new producer id once the markers are written.

use std::collections::{BTreeSet, HashMap};

use super::records::TxnRecord;
use crate::coordinator::deadlines::Deadlines;
use crate::coordinator::{self, NoReply};

/// No producer id or epoch yet (Kafka's `RecordBatch.NO_PRODUCER_ID` / `NO_PRODUCER_EPOCH`).
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// Coordinator settings (Kafka's `transaction.*` broker configs).
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// The largest `transaction.timeout.ms` a producer may ask for.
    pub max_timeout_ms: i32,
    /// How long a transactional id with no transaction open is kept after its last use.
    pub id_expiration_ms: i64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            id_expiration_ms: 7 * 24 * 60 * 60 * 1000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

impl TxnState {
    /// The name Kafka's DescribeTransactions and ListTransactions report.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }
}

/// One transactional id's state.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnMetadata {
    pub producer_id: i64,
    /// The producer id before the last rotation, so a retried InitProducerId is recognised.
    pub last_producer_id: i64,
    pub epoch: i16,
    /// The epoch before the last bump, so a retried InitProducerId is recognised.
    pub last_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// The partitions the open (or ending) transaction wrote to.
    pub partitions: BTreeSet<(String, i32)>,
    /// The groups the open transaction commits offsets for (AddOffsetsToTxn).
    pub groups: BTreeSet<String>,
    /// When the open transaction started; -1 without one.
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// The producer id an ending transaction-version-2 transaction hands over to once its
    /// markers are written (its epoch was exhausted); -1 otherwise.
    pub next_producer_id: i64,
    /// Whether the last end was asked with transaction version 2 (EndTxn v5+): its epoch was
    /// bumped, so a retry of it carries the epoch before.
    pub tv2: bool,
}

/// A producer id with its epoch, as InitProducerId answers and may expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerIdAndEpoch {
    pub producer_id: i64,
    pub epoch: i16,
}

/// Why an operation was refused, as Kafka's transaction coordinator names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    #[error("the request is malformed")]
    InvalidRequest,
    #[error("the transaction timeout is out of range")]
    InvalidTransactionTimeout,
    #[error("another operation on this transaction is in progress; retry")]
    ConcurrentTransactions,
    #[error("a newer producer with the same transactional id fenced this one")]
    ProducerFenced,
    #[error("the producer id does not belong to the transactional id")]
    InvalidProducerIdMapping,
    #[error("the transaction is not in a state that allows this")]
    InvalidTxnState,
    #[error("the coordinator is not available; retry")]
    CoordinatorNotAvailable,
    #[error("the transaction state could not be written")]
    UnknownServerError,
    #[error("the coordinator knows no such transactional id")]
    TransactionalIdNotFound,
    /// An end with transaction version 2 needs a new producer id (the epoch is exhausted)
    /// that was not given: asked again with one.
    #[error("a new producer id is needed to end this transaction")]
    NeedsProducerId,
}

/// Whether an ended transaction commits or aborts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnResult {
    Commit,
    Abort,
}

/// Markers an ended transaction still needs: one control batch per partition, and its
/// groups' pending offsets committed or dropped. Then [`Transactions::complete`].
#[derive(Debug, Clone, PartialEq)]
pub struct MarkerJob {
    pub transactional_id: String,
    pub producer_id: i64,
    pub epoch: i16,
    pub result: TxnResult,
    pub partitions: Vec<(String, i32)>,
    pub groups: Vec<String>,
}

pub type TxnEffects = coordinator::Effects<TxnRecord, NoReply>;
/// An operation's result, to give once its effects are journaled.
pub type Outcome<T> = (Result<T, TxnError>, TxnEffects);

/// An epoch this high is bumped no more: the next InitProducerId takes a new producer id.
const EXHAUSTED_EPOCH: i16 = i16::MAX - 1;

/// Every transactional id the broker coordinates.
#[derive(Debug, Default)]
pub struct Transactions {
    config: TxnConfig,
    txns: HashMap<String, TxnMetadata>,
    /// Each id's next timer: its transaction's timeout while Ongoing, its expiry while idle.
    deadlines: Deadlines,
}

fn refused<T>(error: TxnError) -> Outcome<T> {
    (Err(error), TxnEffects::default())
}

impl Transactions {
    pub fn new(config: TxnConfig) -> Transactions {
        Transactions {
            config,
            ..Transactions::default()
        }
    }

    /// Rebuilds the state the journaled records describe (the last record of an id wins).
    pub fn restore(config: TxnConfig, records: Vec<TxnRecord>) -> Transactions {
        let mut txns = Transactions::new(config);
        for record in records {
            match record.value {
                Some(txn) => txns.txns.insert(record.transactional_id, txn),
                None => txns.txns.remove(&record.transactional_id),
            };
        }
        let ids: Vec<String> = txns.txns.keys().cloned().collect();
        for id in ids {
            txns.refresh_deadline(&id);
        }
        txns
    }

    pub fn snapshot_records(&self) -> Vec<TxnRecord> {
        self.txns
            .iter()
            .map(|(id, txn)| TxnRecord {
                transactional_id: id.clone(),
                value: Some(txn.clone()),
            })
            .collect()
    }

    pub fn get(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.txns.get(transactional_id)
    }

    /// Every transactional id with its state, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TxnMetadata)> {
        self.txns.iter().map(|(id, txn)| (id.as_str(), txn))
    }

    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.deadlines.earliest()
    }

    fn refresh_deadline(&mut self, id: &str) {
        let deadline = self.txns.get(id).and_then(|txn| match txn.state {
            TxnState::Ongoing => Some(txn.start_ms.saturating_add(i64::from(txn.timeout_ms))),
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => Some(
                txn.last_update_ms
                    .saturating_add(self.config.id_expiration_ms),
            ),
            // Waiting for its markers: nothing times out meanwhile.
            TxnState::PrepareCommit | TxnState::PrepareAbort => None,
        });
        self.deadlines.set(id, deadline);
    }

    /// Stores `txn` for `id` and the record that journals it.
    fn put(&mut self, id: &str, txn: TxnMetadata, fx: &mut TxnEffects) {
        fx.records.push(TxnRecord {
            transactional_id: id.to_string(),
            value: Some(txn.clone()),
        });
        self.txns.insert(id.to_string(), txn);
        self.refresh_deadline(id);
    }

    /// InitProducerId with a transactional id. `fresh_producer_id` is used when the id is new
    /// or its epoch is exhausted. With an open transaction the previous producer is fenced
    /// and its transaction aborted, and the answer is `ConcurrentTransactions`: the client
    /// retries once the abort is complete and gets the next epoch.
    pub fn init_producer_id(
        &mut self,
        id: &str,
        timeout_ms: i32,
        expected: Option<ProducerIdAndEpoch>,
        fresh_producer_id: i64,
        now_ms: i64,
    ) -> Outcome<ProducerIdAndEpoch> {
        if id.is_empty() {
            return refused(TxnError::InvalidRequest);
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return refused(TxnError::InvalidTransactionTimeout);
        }
        let mut txn = self.txns.get(id).cloned().unwrap_or(TxnMetadata {
            producer_id: fresh_producer_id,
            last_producer_id: NO_PRODUCER_ID,
            epoch: NO_PRODUCER_EPOCH,
            last_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
            next_producer_id: NO_PRODUCER_ID,
            tv2: false,
        });
        // A producer recovering with its id and epoch is fenced unless it is this one, or
        // the one before a rotation whose answer it never got.
        let known = |e: &ProducerIdAndEpoch| {
            txn.epoch == NO_PRODUCER_EPOCH
                || e.producer_id == txn.producer_id
                || (e.producer_id == txn.last_producer_id && e.epoch >= EXHAUSTED_EPOCH)
        };
        if !expected.as_ref().is_none_or(known) {
            return refused(TxnError::ProducerFenced);
        }
        let mut fx = TxnEffects::default();
        match txn.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                return refused(TxnError::ConcurrentTransactions)
            }
            TxnState::Ongoing => {
                fence_and_abort(&mut txn, now_ms);
                self.put(id, txn, &mut fx);
                return (Err(TxnError::ConcurrentTransactions), fx);
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {}
        }
        if txn.epoch >= EXHAUSTED_EPOCH && expected.is_none_or(|e| e.epoch == txn.epoch) {
            txn.last_producer_id = txn.producer_id;
            txn.last_epoch = if expected.is_some() {
                txn.epoch
            } else {
                NO_PRODUCER_EPOCH
            };
            txn.producer_id = fresh_producer_id;
            txn.epoch = 0;
        } else {
            match expected {
                None => {
                    txn.last_epoch = NO_PRODUCER_EPOCH;
                    txn.epoch += 1;
                }
                Some(e) if txn.epoch == NO_PRODUCER_EPOCH || e.epoch == txn.epoch => {
                    txn.last_epoch = txn.epoch;
                    txn.epoch += 1;
                }
                // A retry of the bump it made: answer the same epoch again.
                Some(e) if e.epoch == txn.last_epoch => {}
                Some(_) => return refused(TxnError::ProducerFenced),
            }
        }
        txn.timeout_ms = timeout_ms;
        txn.state = TxnState::Empty;
        txn.partitions.clear();
        txn.groups.clear();
        txn.start_ms = -1;
        txn.last_update_ms = now_ms;
        let answer = ProducerIdAndEpoch {
            producer_id: txn.producer_id,
            epoch: txn.epoch,
        };
        self.put(id, txn, &mut fx);
        (Ok(answer), fx)
    }

    /// The transaction of `id` as `producer` may change it: its producer id and epoch match
    /// and it is not ending.
    fn open_for(&self, id: &str, producer: ProducerIdAndEpoch) -> Result<TxnMetadata, TxnError> {
        self.open_ref(id, producer).cloned()
    }

    /// As [`open_for`](Self::open_for), borrowed.
    fn open_ref(&self, id: &str, producer: ProducerIdAndEpoch) -> Result<&TxnMetadata, TxnError> {
        if id.is_empty() {
            return Err(TxnError::InvalidRequest);
        }
        let txn = self
            .txns
            .get(id)
            .ok_or(TxnError::InvalidProducerIdMapping)?;
        if txn.producer_id != producer.producer_id {
            return Err(TxnError::InvalidProducerIdMapping);
        }
        if txn.epoch != producer.epoch {
            return Err(TxnError::ProducerFenced);
        }
        if matches!(txn.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return Err(TxnError::ConcurrentTransactions);
        }
        Ok(txn)
    }

    /// AddPartitionsToTxn: the transaction writes to `partitions` (it is open from now on).
    pub fn add_partitions(
        &mut self,
        id: &str,
        producer: ProducerIdAndEpoch,
        partitions: &[(String, i32)],
        now_ms: i64,
    ) -> Outcome<()> {
        let mut txn = match self.open_for(id, producer) {
            Ok(txn) => txn,
            Err(e) => return refused(e),
        };
        if txn.state == TxnState::Ongoing && partitions.iter().all(|p| txn.partitions.contains(p)) {
            return (Ok(()), TxnEffects::default());
        }
        txn.partitions.extend(partitions.iter().cloned());
        self.begin(id, txn, now_ms)
    }

    /// AddOffsetsToTxn: the transaction commits offsets for `group`.
    pub fn add_offsets(
        &mut self,
        id: &str,
        producer: ProducerIdAndEpoch,
        group: &str,
        now_ms: i64,
    ) -> Outcome<()> {
        let mut txn = match self.open_for(id, producer) {
            Ok(txn) => txn,
            Err(e) => return refused(e),
        };
        if txn.state == TxnState::Ongoing && txn.groups.contains(group) {
            return (Ok(()), TxnEffects::default());
        }
        txn.groups.insert(group.to_string());
        self.begin(id, txn, now_ms)
    }

    /// `txn` Ongoing (started now if it was not), journaled.
    fn begin(&mut self, id: &str, mut txn: TxnMetadata, now_ms: i64) -> Outcome<()> {
        if txn.state != TxnState::Ongoing {
            txn.state = TxnState::Ongoing;
            txn.start_ms = now_ms;
        }
        txn.last_update_ms = now_ms;
        let mut fx = TxnEffects::default();
        self.put(id, txn, &mut fx);
        (Ok(()), fx)
    }

    /// Whether `producer` may write transactional batches to `partition` now: its
    /// transaction is open and the partition was added to it.
    pub fn writes_to(
        &self,
        id: &str,
        producer: ProducerIdAndEpoch,
        partition: &(String, i32),
    ) -> bool {
        self.txns.get(id).is_some_and(|txn| {
            txn.producer_id == producer.producer_id
                && txn.epoch == producer.epoch
                && txn.state == TxnState::Ongoing
                && txn.partitions.contains(partition)
        })
    }

    /// Which of `partitions` the open transaction of `producer` holds, with Kafka's
    /// verification rules (AddPartitionsToTxn v4+, verify only): the producer id and epoch
    /// must be the transactional id's, and an ending transaction is to be asked again.
    pub fn verify(
        &self,
        id: &str,
        producer: ProducerIdAndEpoch,
        partitions: &[(String, i32)],
    ) -> Result<Vec<bool>, TxnError> {
        let txn = self.open_ref(id, producer)?;
        Ok(partitions
            .iter()
            .map(|p| txn.partitions.contains(p))
            .collect())
    }

    /// EndTxn with transaction version 1 (v0–4): the epoch stays.
    pub fn end(
        &mut self,
        id: &str,
        producer: ProducerIdAndEpoch,
        result: TxnResult,
        now_ms: i64,
    ) -> Outcome<()> {
        let (ended, fx) = self.end_txn(id, producer, result, false, NO_PRODUCER_ID, now_ms);
        (ended.map(|_| ()), fx)
    }

    /// EndTxn from the producer: commit or abort the open transaction. Answered once the
    /// prepared state is journaled; the markers follow ([`Transactions::pending_markers`]).
    /// The answer is the producer id and epoch the producer goes on with.
    ///
    /// With transaction version 2 (`tv2`, EndTxn v5+) every end bumps the epoch: the markers
    /// carry the new one, which fences any batch of the ended transaction still in flight,
    /// and the producer's next transaction uses it. An exhausted epoch hands over to
    /// `fresh_producer_id` once the markers are written (asked for with
    /// [`TxnError::NeedsProducerId`] when it is -1). A retry carries the epoch before the
    /// bump; one of an end that completed the same way is answered again.
    pub fn end_txn(
        &mut self,
        id: &str,
        producer: ProducerIdAndEpoch,
        result: TxnResult,
        tv2: bool,
        fresh_producer_id: i64,
        now_ms: i64,
    ) -> Outcome<ProducerIdAndEpoch> {
        if id.is_empty() {
            return refused(TxnError::InvalidRequest);
        }
        let Some(txn) = self.txns.get(id) else {
            return refused(TxnError::InvalidProducerIdMapping);
        };
        let ending = matches!(
            txn.state,
            TxnState::PrepareCommit
                | TxnState::PrepareAbort
                | TxnState::CompleteCommit
                | TxnState::CompleteAbort
        );
        // The bumped end of this producer's epoch, asked again.
        let retry_of_bump = ending
            && txn.tv2
            && txn.producer_id == producer.producer_id
            && i32::from(txn.epoch) == i32::from(producer.epoch) + 1;
        // The same after the exhausted epoch handed over to a new producer id.
        let retry_of_rotation = txn.tv2
            && matches!(
                txn.state,
                TxnState::CompleteCommit | TxnState::CompleteAbort
            )
            && txn.last_producer_id == producer.producer_id
            && producer.epoch == EXHAUSTED_EPOCH
            && txn.epoch == 0;
        let retry = retry_of_bump || retry_of_rotation;
        if txn.producer_id != producer.producer_id && !retry_of_rotation {
            return refused(TxnError::InvalidProducerIdMapping);
        }
        let valid_epoch = if ending && txn.tv2 {
            // After a bumped end the same epoch is the next transaction's, not a retry.
            retry || (tv2 && txn.epoch == producer.epoch)
        } else {
            txn.epoch == producer.epoch
        };
        if !valid_epoch {
            return refused(TxnError::ProducerFenced);
        }
        let current = ProducerIdAndEpoch {
            producer_id: txn.producer_id,
            epoch: txn.epoch,
        };
        let same = |commit_state, abort_state| match result {
            TxnResult::Commit => txn.state == commit_state,
            TxnResult::Abort => txn.state == abort_state,
        };
        let opens = match txn.state {
            TxnState::Ongoing => true,
            // With version 2 the producer cannot know whether its produce reached the
            // partitions (they join implicitly), so it may abort what never started.
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                tv2 && !retry && result == TxnResult::Abort
            }
            TxnState::PrepareCommit | TxnState::PrepareAbort => false,
        };
        if opens {
            let mut txn = txn.clone();
            if tv2 {
                if txn.epoch >= EXHAUSTED_EPOCH {
                    if fresh_producer_id == NO_PRODUCER_ID {
                        return refused(TxnError::NeedsProducerId);
                    }
                    txn.next_producer_id = fresh_producer_id;
                }
                txn.last_epoch = txn.epoch;
                txn.epoch += 1;
            }
            if txn.state != TxnState::Ongoing {
                txn.start_ms = now_ms;
            }
            txn.tv2 = tv2;
            txn.state = match result {
                TxnResult::Commit => TxnState::PrepareCommit,
                TxnResult::Abort => TxnState::PrepareAbort,
            };
            txn.last_update_ms = now_ms;
            let answer = next_producer(&txn);
            let mut fx = TxnEffects::default();
            self.put(id, txn, &mut fx);
            return (Ok(answer), fx);
        }
        // Without a bump the same epoch is the retry; with one, only the epoch before is.
        let retried = retry || !txn.tv2;
        match txn.state {
            TxnState::CompleteCommit | TxnState::CompleteAbort
                if retried && same(TxnState::CompleteCommit, TxnState::CompleteAbort) =>
            {
                (Ok(current), TxnEffects::default())
            }
            TxnState::PrepareCommit | TxnState::PrepareAbort
                if same(TxnState::PrepareCommit, TxnState::PrepareAbort) =>
            {
                refused(TxnError::ConcurrentTransactions)
            }
            // The next transaction's end while this one's markers are still being written.
            TxnState::PrepareCommit | TxnState::PrepareAbort if !retried => {
                refused(TxnError::ConcurrentTransactions)
            }
            _ => refused(TxnError::InvalidTxnState),
        }
    }

    /// Every prepared transaction's markers still to write (after a restart too).
    pub fn pending_markers(&self) -> Vec<MarkerJob> {
        let mut jobs: Vec<MarkerJob> = self
            .txns
            .iter()
            .filter_map(|(id, txn)| {
                let result = match txn.state {
                    TxnState::PrepareCommit => TxnResult::Commit,
                    TxnState::PrepareAbort => TxnResult::Abort,
                    _ => return None,
                };
                Some(MarkerJob {
                    transactional_id: id.clone(),
                    producer_id: txn.producer_id,
                    epoch: txn.epoch,
                    result,
                    partitions: txn.partitions.iter().cloned().collect(),
                    groups: txn.groups.iter().cloned().collect(),
                })
            })
            .collect();
        jobs.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        jobs
    }

    /// The markers of `job` are written: its transaction is complete. A job that no longer
    /// matches (done already) changes nothing.
    pub fn complete(&mut self, job: &MarkerJob, now_ms: i64) -> TxnEffects {
        let mut fx = TxnEffects::default();
        let Some(txn) = self.txns.get(&job.transactional_id) else {
            return fx;
        };
        let prepared = match job.result {
            TxnResult::Commit => TxnState::PrepareCommit,
            TxnResult::Abort => TxnState::PrepareAbort,
        };
        if txn.state != prepared || txn.producer_id != job.producer_id || txn.epoch != job.epoch {
            return fx;
        }
        let mut txn = txn.clone();
        txn.state = match job.result {
            TxnResult::Commit => TxnState::CompleteCommit,
            TxnResult::Abort => TxnState::CompleteAbort,
        };
        if txn.next_producer_id != NO_PRODUCER_ID {
            // The exhausted epoch's markers are written: the producer goes on with the new id.
            txn.last_producer_id = txn.producer_id;
            txn.producer_id = txn.next_producer_id;
            txn.next_producer_id = NO_PRODUCER_ID;
            txn.epoch = 0;
        }
        txn.partitions.clear();
        txn.groups.clear();
        txn.start_ms = -1;
        txn.last_update_ms = now_ms;
        self.put(&job.transactional_id, txn, &mut fx);
        fx
    }

    /// Aborts every transaction past its timeout (fencing its producer) and forgets every
    /// transactional id idle past `transactional.id.expiration.ms`.
    pub fn tick(&mut self, now_ms: i64) -> TxnEffects {
        let mut fx = TxnEffects::default();
        for id in self.deadlines.due(now_ms) {
            let Some(txn) = self.txns.get(&id) else {
                self.deadlines.set(&id, None);
                continue;
            };
            match txn.state {
                TxnState::Ongoing => {
                    tracing::info!(transactional_id = %id, "aborting a transaction past its timeout");
                    let mut txn = txn.clone();
                    fence_and_abort(&mut txn, now_ms);
                    self.put(&id, txn, &mut fx);
                }
                TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                    self.txns.remove(&id);
                    self.deadlines.set(&id, None);
                    fx.records.push(TxnRecord {
                        transactional_id: id,
                        value: None,
                    });
                }
                TxnState::PrepareCommit | TxnState::PrepareAbort => self.deadlines.set(&id, None),
            }
        }
        fx
    }
}

/// Fences the transaction's producer (the next epoch, never given to a client) and prepares
/// its abort: markers at the new epoch keep the fenced producer out of every partition.
fn fence_and_abort(txn: &mut TxnMetadata, now_ms: i64) {
    txn.epoch = txn.epoch.saturating_add(1);
    txn.last_epoch = NO_PRODUCER_EPOCH;
    // The fenced producer gets no answer to retry: its epoch is simply over.
    txn.tv2 = false;
    txn.next_producer_id = NO_PRODUCER_ID;
    txn.state = TxnState::PrepareAbort;
    txn.last_update_ms = now_ms;
}

/// The producer id and epoch a producer goes on with after `txn`'s end: the new producer id
/// at epoch 0 when its exhausted epoch hands over, else its (bumped) epoch.
fn next_producer(txn: &TxnMetadata) -> ProducerIdAndEpoch {
    if txn.next_producer_id != NO_PRODUCER_ID {
        ProducerIdAndEpoch {
            producer_id: txn.next_producer_id,
            epoch: 0,
        }
    } else {
        ProducerIdAndEpoch {
            producer_id: txn.producer_id,
            epoch: txn.epoch,
        }
    }
}
