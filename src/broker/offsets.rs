//! Offsets of a partition: looking one up (the ends, or by timestamp) and moving the log
//! start forward (DeleteRecords). File reads and deletions run on a blocking thread, never on
//! an async worker, and a lookup by timestamp walks at most one batch with produce's bounded
//! decompression.

use std::io;
use std::sync::Arc;

use super::Broker;
use crate::log::TimestampTarget;
use crate::partition::{DeleteRecordsError, Partition};
use crate::record::validate::decompression_budget;
use crate::topics::Topic;

/// Which offset to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The end: the high watermark, or the last stable offset for `read_committed`.
    Latest { read_committed: bool },
    /// The log start offset.
    Earliest,
    /// The record with the largest timestamp.
    MaxTimestamp,
    /// The first record stamped at or after this time.
    AtOrAfter(i64),
}

/// An offset found, with its record's timestamp (-1 for the ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundOffset {
    pub offset: i64,
    pub timestamp: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum OffsetsError {
    #[error("this server does not host this topic-partition")]
    UnknownTopicOrPartition,
    #[error("the offset is past the high watermark")]
    OffsetOutOfRange,
    #[error("the principal may not change this topic")]
    TopicAuthorizationFailed,
    #[error("{0}")]
    Storage(#[source] io::Error),
}

impl Broker {
    fn partition_of(&self, topic: &str, index: i32) -> Option<(Arc<Topic>, Arc<Partition>)> {
        let topic = self.topics().get(topic)?;
        let partition = topic.partition(index)?.clone();
        Some((topic, partition))
    }

    /// The offset `spec` names in `topic`'s partition `index`; `None` when there is no such
    /// record (an empty partition, or nothing stamped that late).
    pub async fn find_offset(
        &self,
        topic: &str,
        index: i32,
        spec: OffsetSpec,
    ) -> Result<Option<FoundOffset>, OffsetsError> {
        let (topic, partition) = self
            .partition_of(topic, index)
            .ok_or(OffsetsError::UnknownTopicOrPartition)?;
        let end = |offset| {
            Ok(Some(FoundOffset {
                offset,
                timestamp: -1,
            }))
        };
        let target = match spec {
            OffsetSpec::Latest {
                read_committed: true,
            } => return end(partition.ends().last_stable_offset),
            OffsetSpec::Latest { .. } => return end(partition.ends().high_watermark),
            OffsetSpec::Earliest => return end(partition.ends().log_start_offset),
            OffsetSpec::MaxTimestamp => TimestampTarget::Max,
            OffsetSpec::AtOrAfter(timestamp) => TimestampTarget::AtOrAfter(timestamp),
        };
        // The budget produce checked the partition's batches with.
        let budget = decompression_budget(topic.config.max_message_bytes());
        let found =
            tokio::task::spawn_blocking(move || partition.find_by_timestamp(target, budget))
                .await
                .map_err(|e| OffsetsError::Storage(io::Error::other(e.to_string())))?
                .map_err(OffsetsError::Storage)?;
        Ok(found.map(|record| FoundOffset {
            offset: record.offset,
            timestamp: record.timestamp,
        }))
    }

    /// Moves the log start offset of `topic`'s partition `index` to `before` (-1: the high
    /// watermark); returns the new log start offset (Kafka's low watermark).
    pub async fn delete_records(
        &self,
        topic: &str,
        index: i32,
        before: i64,
    ) -> Result<i64, OffsetsError> {
        let (_, partition) = self
            .partition_of(topic, index)
            .ok_or(OffsetsError::UnknownTopicOrPartition)?;
        let deleted = tokio::task::spawn_blocking(move || partition.delete_records_before(before))
            .await
            .map_err(|e| OffsetsError::Storage(io::Error::other(e.to_string())))?;
        deleted.map_err(|e| match e {
            DeleteRecordsError::OffsetOutOfRange => OffsetsError::OffsetOutOfRange,
            DeleteRecordsError::Storage(e) => OffsetsError::Storage(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::broker::append::AppendRequest;
    use crate::config::Config;
    use crate::node::Node;
    use crate::record::test_batches::{batch_over, record, TIMESTAMP};
    use crate::topics::NewTopic;

    #[tokio::test]
    async fn ends_timestamps_and_deleting_records() {
        let node = Node::start(Config::for_tests()).await.unwrap();
        let broker = node.broker();
        broker
            .topics()
            .create(NewTopic {
                name: "t".into(),
                partitions: 1,
                configs: Default::default(),
            })
            .unwrap();
        let batches = (0..4)
            .map(|i| {
                // Base timestamp TIMESTAMP, the record 10 ms later per batch.
                let one = record(0, 10 * i, None, Some(b"v"), &[]);
                (0, Bytes::from(batch_over(&one, 1, 0, TIMESTAMP + 10 * i)))
            })
            .collect();
        let appended = broker
            .append(AppendRequest {
                version: 9,
                transactional_id: None,
                topics: vec![("t".into(), batches)],
            })
            .await;
        assert!(appended[0].iter().all(Result::is_ok));
        let find = |spec| broker.find_offset("t", 0, spec);
        let at = |offset, timestamp| Some(FoundOffset { offset, timestamp });
        let latest = OffsetSpec::Latest {
            read_committed: false,
        };
        assert_eq!(find(latest).await.unwrap(), at(4, -1));
        assert_eq!(
            find(OffsetSpec::AtOrAfter(TIMESTAMP + 15)).await.unwrap(),
            at(2, TIMESTAMP + 20)
        );
        assert_eq!(
            find(OffsetSpec::MaxTimestamp).await.unwrap(),
            at(3, TIMESTAMP + 30)
        );
        assert_eq!(
            find(OffsetSpec::AtOrAfter(TIMESTAMP + 31)).await.unwrap(),
            None
        );
        assert!(matches!(
            broker.delete_records("t", 0, 5).await,
            Err(OffsetsError::OffsetOutOfRange)
        ));
        assert_eq!(broker.delete_records("t", 0, 2).await.unwrap(), 2);
        assert_eq!(find(OffsetSpec::Earliest).await.unwrap(), at(2, -1));
        assert!(matches!(
            broker.find_offset("t", 1, OffsetSpec::Earliest).await,
            Err(OffsetsError::UnknownTopicOrPartition)
        ));
        node.shutdown().await;
    }
}
