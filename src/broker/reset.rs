//! The admin reset (`POST /admin/reset`): a broker emptied between tests without a restart.
//! Topics keep their ids, partition counts and configs; their records, idempotent producers
//! and transactions go, and every partition starts again at offset 0. A full reset also
//! forgets every group (with its committed offsets) and every transactional id.
//!
//! Each partition is emptied under its own lock, so a produce racing the reset lands wholly
//! before it (and is gone) or after it (at an offset from 0). Nothing is answered before
//! what the reset removed is durable (see `Log::reset` and `Context::reset`).

use std::collections::HashSet;
use std::io;

use super::Broker;
use crate::group::GroupError;
use crate::topics::Topic;
use crate::txn::TxnError;

/// What to reset.
#[derive(Debug, Default, Clone)]
pub struct ResetScope {
    /// Only these topics' records and producer state (groups and transactions are kept);
    /// `None`: every topic, every group and every transaction.
    pub topics: Option<Vec<String>>,
    /// Topics not in this set are deleted rather than emptied (`None`: none is deleted); for
    /// a broker that keeps only the topics it declared at start.
    pub keep_only: Option<HashSet<String>>,
}

/// What a reset emptied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ResetSummary {
    pub topics: usize,
    pub partitions: usize,
    pub groups: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    #[error("cannot empty partition {topic}-{partition}: {source}")]
    Storage {
        topic: String,
        partition: i32,
        source: io::Error,
    },
    #[error("cannot delete topic {0}")]
    Delete(String),
    #[error("the group coordinator could not be reset: {0:?}")]
    Groups(GroupError),
    #[error("the transaction coordinator could not be reset: {0:?}")]
    Txns(TxnError),
}

impl Broker {
    /// Empties the topics of `scope` (and, for a full reset, the coordinators). An error
    /// leaves the partitions reset before it reset: run it again.
    pub async fn reset(&self, scope: &ResetScope) -> Result<ResetSummary, ResetError> {
        let topics: Vec<std::sync::Arc<Topic>> = match &scope.topics {
            Some(names) => {
                let mut found = Vec::with_capacity(names.len());
                for name in names {
                    let topic = self
                        .topics()
                        .get(name)
                        .ok_or_else(|| ResetError::UnknownTopic(name.clone()))?;
                    found.push(topic);
                }
                found
            }
            None => self.topics().all(),
        };
        let mut summary = ResetSummary {
            topics: 0,
            partitions: 0,
            groups: 0,
        };
        for topic in topics {
            let kept = scope
                .keep_only
                .as_ref()
                .is_none_or(|keep| keep.contains(&topic.name));
            if !kept {
                self.delete_topic(&topic.name)
                    .await
                    .map_err(|_| ResetError::Delete(topic.name.clone()))?;
                continue;
            }
            for partition in &topic.partitions {
                crate::blocking::run(|| partition.reset()).map_err(|source| {
                    ResetError::Storage {
                        topic: topic.name.clone(),
                        partition: partition.index,
                        source,
                    }
                })?;
                summary.partitions += 1;
            }
            summary.topics += 1;
        }
        if scope.topics.is_none() {
            summary.groups = self.groups().reset().await.map_err(ResetError::Groups)?;
            self.txns().reset().await.map_err(ResetError::Txns)?;
        }
        tracing::info!(
            topics = summary.topics,
            partitions = summary.partitions,
            groups = summary.groups,
            "reset"
        );
        Ok(summary)
    }
}
