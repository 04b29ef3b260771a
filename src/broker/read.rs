//! Reading partitions for consumers: Kafka's fetch rules, whoever calls them. A read takes
//! whole batches from each partition's offset up to its high watermark (`read_uncommitted`)
//! or last stable offset (`read_committed`, with the aborted transactions of the range),
//! within a per-partition and a total byte limit; the first partition with data returns at
//! least one batch however large. Short of `min_bytes`, the read waits for the first of: an
//! append to one of its partitions, the deadline, shutdown. Nothing polls.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::select_all;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use super::fetch_memory::Reservation;
use super::Broker;
use crate::partition::{Partition, ReadError, ReadResult, LEADER_EPOCH};

/// Which records a consumer may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    ReadUncommitted,
    /// Only committed transactions: up to the last stable offset.
    ReadCommitted,
}

/// A topic as a consumer names it.
#[derive(Debug, Clone, Copy)]
pub enum TopicRef<'a> {
    Name(&'a str),
    Id(Uuid),
}

/// Why there is no partition by a consumer's name for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlocated {
    UnknownTopicOrPartition,
    UnknownTopicId,
    /// The principal may not read the topic.
    TopicAuthorizationFailed,
}

impl From<Unlocated> for FetchError {
    fn from(unlocated: Unlocated) -> FetchError {
        match unlocated {
            Unlocated::UnknownTopicOrPartition => FetchError::UnknownTopicOrPartition,
            Unlocated::UnknownTopicId => FetchError::UnknownTopicId,
            Unlocated::TopicAuthorizationFailed => FetchError::TopicAuthorizationFailed,
        }
    }
}

/// Why one partition's read has no data.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("this server does not host this topic-partition")]
    UnknownTopicOrPartition,
    #[error("no topic has this id")]
    UnknownTopicId,
    #[error("the principal may not read this topic")]
    TopicAuthorizationFailed,
    /// The consumer's leader epoch is older than the partition's.
    #[error("the leader epoch is older than the partition's")]
    FencedLeaderEpoch,
    /// The consumer's leader epoch is newer than the partition's.
    #[error("the leader epoch is newer than the partition's")]
    UnknownLeaderEpoch,
    #[error("the offset is outside the partition's log")]
    OffsetOutOfRange,
    #[error("{0}")]
    Storage(#[source] io::Error),
}

/// One partition of a read.
pub struct PartitionRead {
    pub partition: Result<Arc<Partition>, Unlocated>,
    pub offset: i64,
    pub max_bytes: usize,
    /// The leader epoch the consumer believes current; negative when it does not say.
    pub current_leader_epoch: i32,
}

/// A consumer's read of several partitions.
pub struct ReadRequest {
    pub partitions: Vec<PartitionRead>,
    pub isolation: Isolation,
    /// Wait until this many bytes are there (or the deadline).
    pub min_bytes: usize,
    /// The whole read's limit; capped by `fetch_max_bytes`.
    pub max_bytes: usize,
    /// Capped by `fetch_wait_max_ms`.
    pub max_wait_ms: u64,
}

/// Each partition's outcome, in the request's order.
pub type ReadResults = Vec<Result<ReadResult, FetchError>>;

/// A finished read: its results, and the fetch memory they hold until they are written.
pub struct Read {
    pub results: ReadResults,
    pub memory: Reservation,
}

impl Broker {
    /// The partition a consumer names, or why there is none.
    pub fn locate(&self, topic: TopicRef<'_>, index: i32) -> Result<Arc<Partition>, Unlocated> {
        let (topic, unknown) = match topic {
            TopicRef::Name(name) => (self.topics().get(name), Unlocated::UnknownTopicOrPartition),
            TopicRef::Id(id) => (self.topics().get_by_id(&id), Unlocated::UnknownTopicId),
        };
        let topic = topic.ok_or(unknown)?;
        topic
            .partition(index)
            .cloned()
            .ok_or(Unlocated::UnknownTopicOrPartition)
    }

    /// Reads every partition of `request`, waiting as its `min_bytes` and `max_wait_ms` say.
    /// Its records come out of the fetch memory budget ([`super::fetch_memory`]): with none
    /// left until the deadline, the read answers without records.
    pub async fn read(&self, request: ReadRequest) -> Read {
        let max_wait_ms = request.max_wait_ms.min(self.config().fetch_wait_max_ms);
        let deadline = Instant::now() + Duration::from_millis(max_wait_ms);
        // As Kafka's `fetch.max.bytes`: a client cannot make one read hold more than this.
        let max_bytes = request.max_bytes.min(self.config().fetch_max_bytes);
        // Subscribed before the first read, so an append between the read and the wait
        // still wakes us.
        let mut watches: Vec<watch::Receiver<i64>> = request
            .partitions
            .iter()
            .filter_map(|read| read.partition.as_ref().ok())
            .map(|partition| partition.watch_high_watermark())
            .collect();
        let mut stopping = false;
        loop {
            for watch in &mut watches {
                watch.borrow_and_update();
            }
            let mut memory = tokio::select! {
                memory = self.fetch_memory.reserve(max_bytes, deadline) => memory,
                _ = self.shutting_down() => {
                    stopping = true;
                    self.fetch_memory.nothing()
                }
            };
            // Kafka's first batch goes whole even past the limit — unless the budget gave
            // nothing at all.
            let starved = memory.bytes() == 0 && max_bytes > 0;
            let (results, bytes) = read_all(&request, memory.bytes(), !starved);
            memory.settle(bytes);
            let has_error = results.iter().any(Result::is_err);
            let waited_enough =
                bytes >= request.min_bytes || has_error || Instant::now() >= deadline;
            if waited_enough || stopping || watches.is_empty() {
                return Read { results, memory };
            }
            drop((results, memory));
            let any_append = select_all(watches.iter_mut().map(|w| Box::pin(w.changed())));
            tokio::select! {
                _ = any_append => {}
                _ = tokio::time::sleep_until(deadline) => {}
                _ = self.shutting_down() => stopping = true,
            }
        }
    }
}

/// One pass over the partitions: each gets what is left of the total; with `first_whole`,
/// the first partition with data returns its first batch however large.
fn read_all(request: &ReadRequest, max_bytes: usize, first_whole: bool) -> (ReadResults, usize) {
    let mut bytes = 0usize;
    let results = request
        .partitions
        .iter()
        .map(|read| {
            let result = read_partition(
                read,
                request.isolation,
                max_bytes.saturating_sub(bytes),
                first_whole && bytes == 0,
            );
            if let Ok(read) = &result {
                bytes += read.batches.iter().map(|b| b.len()).sum::<usize>();
            }
            result
        })
        .collect();
    (results, bytes)
}

fn read_partition(
    read: &PartitionRead,
    isolation: Isolation,
    bytes_left: usize,
    min_one: bool,
) -> Result<ReadResult, FetchError> {
    let partition = match &read.partition {
        Ok(partition) => partition,
        Err(unlocated) => return Err((*unlocated).into()),
    };
    if read.current_leader_epoch >= 0 && read.current_leader_epoch != LEADER_EPOCH {
        return Err(if read.current_leader_epoch < LEADER_EPOCH {
            FetchError::FencedLeaderEpoch
        } else {
            FetchError::UnknownLeaderEpoch
        });
    }
    let limit = read.max_bytes.min(bytes_left);
    let result = match isolation {
        Isolation::ReadCommitted => partition.read_committed(read.offset, limit, min_one),
        Isolation::ReadUncommitted => partition.read(read.offset, limit, min_one),
    };
    result.map_err(|e| match e {
        ReadError::OffsetOutOfRange { .. } => FetchError::OffsetOutOfRange,
        ReadError::Storage(e) => {
            tracing::error!(topic = %partition.topic, partition = partition.index, error = %e, "read failed");
            FetchError::Storage(e)
        }
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::config::Config;
    use crate::node::Node;
    use crate::record::test_batches::batch;
    use crate::topics::NewTopic;

    fn request(broker: &Broker, offset: i64, epoch: i32, min_bytes: usize) -> ReadRequest {
        ReadRequest {
            partitions: vec![
                PartitionRead {
                    partition: broker.locate(TopicRef::Name("t"), 0),
                    offset,
                    max_bytes: 1 << 20,
                    current_leader_epoch: epoch,
                },
                PartitionRead {
                    partition: broker.locate(TopicRef::Name("t"), 9),
                    offset: 0,
                    max_bytes: 1 << 20,
                    current_leader_epoch: -1,
                },
            ],
            isolation: Isolation::ReadUncommitted,
            min_bytes,
            max_bytes: 1 << 20,
            max_wait_ms: 10_000,
        }
    }

    /// A read short of `min_bytes` returns when an append arrives, with that batch; a
    /// partition that does not exist, a leader epoch ahead of the partition's and an offset
    /// past the end each get their error. (No epoch is older than 0, the only one so far.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_waits_for_data_and_refuses_what_it_cannot_serve() {
        let node = Node::start(Config::for_tests()).await.unwrap();
        let broker = node.broker().clone();
        let topic = broker
            .topics()
            .create(NewTopic {
                name: "t".into(),
                partitions: 1,
                configs: Default::default(),
            })
            .unwrap();
        assert!(matches!(
            broker.locate(TopicRef::Id(Uuid::nil()), 0),
            Err(Unlocated::UnknownTopicId)
        ));
        let partition = topic.partition(0).unwrap().clone();
        let waiting = tokio::spawn({
            let broker = broker.clone();
            let mut wanted = request(&broker, 0, -1, 1);
            // An unknown partition would answer at once, as Kafka does with an error.
            wanted.partitions.truncate(1);
            async move { broker.read(wanted).await.results }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "nothing to read yet: it waits");
        let sent = Bytes::from(batch(0, 0, 1_000, b"x"));
        partition.append(sent.clone(), None).unwrap();
        let results = waiting.await.unwrap();
        let read = results[0].as_ref().unwrap();
        assert_eq!(read.batches.concat().len(), sent.len());
        assert_eq!(read.high_watermark, 1);

        let both = broker.read(request(&broker, 0, -1, 1 << 20)).await.results;
        assert_eq!(both[0].as_ref().unwrap().high_watermark, 1);
        assert!(matches!(both[1], Err(FetchError::UnknownTopicOrPartition)));

        let ahead = broker
            .read(request(&broker, 0, LEADER_EPOCH + 1, 0))
            .await
            .results;
        assert!(matches!(ahead[0], Err(FetchError::UnknownLeaderEpoch)));
        let past = broker.read(request(&broker, 5, -1, 0)).await.results;
        assert!(matches!(past[0], Err(FetchError::OffsetOutOfRange)));
        node.shutdown().await;
    }
}
