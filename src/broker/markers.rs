//! Writing transaction markers. For each transaction the coordinator has prepared to commit
//! or abort, a COMMIT or ABORT control batch on every partition it wrote to and its held
//! offsets committed or dropped in every group it committed for; then the coordinator is
//! told the transaction is complete. Runs beside the coordinator: woken when a transaction
//! ends, and now and then for the ones its timer aborted or a restart found prepared. A
//! marker that cannot be written is tried again on the next round.
//!
//! A WriteTxnMarkers request (`Admin.abortTransaction`, `kafka-transactions.sh abort`, for a
//! transaction its coordinator no longer ends) writes its markers through the same
//! [`Broker::write_marker`], checked also against the coordinator epoch.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::Broker;
use crate::partition::MarkerError;
use crate::record::control::TransactionResult;
use crate::txn::{MarkerJob, TxnResult};

/// The coordinator epoch of the broker's own transaction coordinator's markers: there is one
/// coordinator, never moved, so its epoch never changes.
pub const COORDINATOR_EPOCH: i32 = 0;

/// One marker to write to one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub result: TxnResult,
    pub coordinator_epoch: i32,
}

/// Who asks for a marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerSource {
    /// The broker's transaction coordinator, ending a transaction it prepared.
    Coordinator,
    /// A WriteTxnMarkers request: refused if an older coordinator epoch sent it.
    Request,
}

/// Why a marker was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteMarkerError {
    #[error("this server does not host this topic-partition")]
    UnknownTopicOrPartition,
    #[error("the marker's producer epoch is older than the producer's ({current})")]
    InvalidProducerEpoch { current: i16 },
    #[error("a newer coordinator epoch ({current}) wrote this producer's markers")]
    CoordinatorFenced { current: i32 },
    #[error("{0}")]
    Storage(#[source] io::Error),
}

/// How often prepared transactions are looked for without a wake-up.
const LOOK_AGAIN: Duration = Duration::from_millis(500);

/// Writes markers until the broker shuts down.
pub(crate) async fn write_markers(broker: Arc<Broker>) {
    loop {
        tokio::select! {
            _ = broker.txns().markers_wanted().notified() => {}
            _ = tokio::time::sleep(LOOK_AGAIN) => {}
            _ = broker.shutting_down() => return,
        }
        broker.complete_prepared_transactions().await;
    }
}

impl Broker {
    /// Writes the markers of every prepared transaction and completes each one whose
    /// markers are all written.
    pub async fn complete_prepared_transactions(&self) {
        let jobs = match self.txns().pending_markers().await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list prepared transactions");
                return;
            }
        };
        for job in jobs {
            if self.write_markers_of(&job).await {
                if let Err(e) = self.txns().complete(job).await {
                    tracing::warn!(error = %e, "cannot complete a transaction; retrying");
                }
            }
        }
    }

    /// Whether every marker of `job` is written.
    async fn write_markers_of(&self, job: &MarkerJob) -> bool {
        let marker = Marker {
            producer_id: job.producer_id,
            producer_epoch: job.epoch,
            result: job.result,
            coordinator_epoch: COORDINATOR_EPOCH,
        };
        let mut done = true;
        for (topic, index) in &job.partitions {
            match self.write_marker(topic, *index, marker, MarkerSource::Coordinator) {
                // A partition deleted since needs no marker.
                Ok(_) | Err(WriteMarkerError::UnknownTopicOrPartition) => {}
                Err(e) => {
                    tracing::warn!(topic = %topic, partition = index, error = %e, "cannot write a transaction marker; retrying");
                    done = false;
                }
            }
        }
        for group in &job.groups {
            let commit = job.result == TxnResult::Commit;
            if let Err(e) = self
                .groups()
                .end_txn(group.clone(), job.producer_id, commit)
                .await
            {
                tracing::warn!(group = %group, error = ?e, "cannot complete a transaction's offsets; retrying");
                done = false;
            }
        }
        done
    }
}

impl Broker {
    /// Writes `marker` to `topic`'s partition `index` and returns its offset. Like a
    /// produce, it goes to the page cache; its fsync follows the topic's flush policy with
    /// the next flush.
    pub fn write_marker(
        &self,
        topic: &str,
        index: i32,
        marker: Marker,
        source: MarkerSource,
    ) -> Result<i64, WriteMarkerError> {
        let partition = self
            .topics()
            .get(topic)
            .and_then(|t| t.partition(index).cloned())
            .ok_or(WriteMarkerError::UnknownTopicOrPartition)?;
        let result = match marker.result {
            TxnResult::Commit => TransactionResult::Commit,
            TxnResult::Abort => TransactionResult::Abort,
        };
        let now_ms = self.clock().now_ms();
        let (id, epoch, coordinator_epoch) = (
            marker.producer_id,
            marker.producer_epoch,
            marker.coordinator_epoch,
        );
        let written = match source {
            MarkerSource::Coordinator => {
                partition.append_marker(id, epoch, result, coordinator_epoch, now_ms)
            }
            MarkerSource::Request => {
                partition.append_requested_marker(id, epoch, result, coordinator_epoch, now_ms)
            }
        };
        written.map_err(|e| match e {
            MarkerError::InvalidProducerEpoch { current } => {
                WriteMarkerError::InvalidProducerEpoch { current }
            }
            MarkerError::CoordinatorFenced { current } => {
                WriteMarkerError::CoordinatorFenced { current }
            }
            MarkerError::Storage(e) => WriteMarkerError::Storage(e),
        })
    }
}
