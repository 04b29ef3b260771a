//! OffsetForLeaderEpoch (key 23, v2–4): for each partition, the end offset of a leader
//! epoch, from the partition's leader-epoch cache, as Kafka's leader answers — consumers
//! ask it to detect log truncation after a leader change (KIP-320). The current leader
//! epoch, when given, is checked first (older: FENCED_LEADER_EPOCH, newer:
//! UNKNOWN_LEADER_EPOCH); an epoch the cache cannot answer (newer than the current one, or
//! undefined) gets epoch and offset -1 with no error. `replica_id` (a follower's id, -1 for
//! a consumer, -2 for debugging tools) changes nothing: Kafka answers all from the leader.

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use kafka_protocol::ResponseError;

use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::partition::LEADER_EPOCH;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;

/// Kafka's `NO_PARTITION_LEADER_EPOCH`: the client does not know the current epoch.
const NO_CURRENT_EPOCH: i32 = -1;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    // Reading the cache opens (recovers) a log not opened yet: disk work.
    let topics = crate::blocking::run(|| {
        request
            .topics
            .into_iter()
            .map(|wanted| {
                let topic = broker.topics().get(wanted.topic.as_str());
                // DESCRIBE on the topic (Kafka's `KafkaApis.handleOffsetForLeaderEpochRequest`).
                let describable = broker.authorize(
                    context,
                    Operation::Describe,
                    ResourceType::Topic,
                    &wanted.topic,
                );
                let partitions = wanted
                    .partitions
                    .iter()
                    .map(|p| {
                        let answer = EpochEndOffset::default().with_partition(p.partition);
                        if !describable {
                            return answer
                                .with_error_code(ResponseError::TopicAuthorizationFailed.code());
                        }
                        let Some(partition) = topic.as_ref().and_then(|t| t.partition(p.partition))
                        else {
                            return answer
                                .with_error_code(ResponseError::UnknownTopicOrPartition.code());
                        };
                        if p.current_leader_epoch != NO_CURRENT_EPOCH {
                            let error = match p.current_leader_epoch.cmp(&LEADER_EPOCH) {
                                std::cmp::Ordering::Less => Some(ResponseError::FencedLeaderEpoch),
                                std::cmp::Ordering::Greater => {
                                    Some(ResponseError::UnknownLeaderEpoch)
                                }
                                std::cmp::Ordering::Equal => None,
                            };
                            if let Some(error) = error {
                                return answer.with_error_code(error.code());
                            }
                        }
                        let (epoch, end_offset) = partition.end_offset_for_epoch(p.leader_epoch);
                        answer.with_leader_epoch(epoch).with_end_offset(end_offset)
                    })
                    .collect();
                OffsetForLeaderTopicResult::default()
                    .with_topic(wanted.topic)
                    .with_partitions(partitions)
            })
            .collect()
    });
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

impl ErrorCodes for OffsetForLeaderEpochResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect()
    }
}
