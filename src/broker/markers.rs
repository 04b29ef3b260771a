//! Writing the markers of ended transactions: for each transaction the coordinator has
//! prepared to commit or abort, a COMMIT or ABORT control batch on every partition it wrote
//! to and its held offsets committed or dropped in every group it committed for; then the
//! coordinator is told the transaction is complete. Runs beside the coordinator: woken when
//! a transaction ends, and now and then for the ones its timer aborted or a restart found
//! prepared. A marker that cannot be written is tried again on the next round.

use std::sync::Arc;
use std::time::Duration;

use super::Broker;
use crate::record::control::TransactionResult;
use crate::txn::{MarkerJob, TxnResult};

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
        let result = match job.result {
            TxnResult::Commit => TransactionResult::Commit,
            TxnResult::Abort => TransactionResult::Abort,
        };
        let now_ms = self.clock().now_ms();
        let mut done = true;
        for (topic, index) in &job.partitions {
            // A partition deleted since needs no marker.
            let Some(partition) = self
                .topics()
                .get(topic)
                .and_then(|t| t.partition(*index).cloned())
            else {
                continue;
            };
            // Like a produce, the marker goes to the page cache; its fsync follows the
            // topic's flush policy with the next flush.
            if let Err(e) = partition.append_marker(job.producer_id, job.epoch, result, 0, now_ms) {
                tracing::warn!(topic = %topic, partition = index, error = ?e, "cannot write a transaction marker; retrying");
                done = false;
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
