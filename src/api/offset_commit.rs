//! OffsetCommit (key 8): validates the member and generation, then stores the offsets.
//! Unknown partitions and oversized metadata fail per partition, as in Kafka.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::group_error_code;
use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::group::{MemberRef, OffsetToCommit};
use crate::session::RequestContext;

/// One partition of a commit, as the request gives it.
pub(super) struct Wanted<'a> {
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) leader_epoch: i32,
    pub(super) metadata: Option<&'a StrBytes>,
}

/// Each partition's own verdict (unknown partition, metadata over the limit) and the
/// offsets that passed, to commit together; shared with TxnOffsetCommit.
pub(super) fn check_offsets<'a>(
    broker: &Broker,
    context: &RequestContext<'_>,
    topics: impl Iterator<Item = (&'a str, Vec<Wanted<'a>>)>,
) -> (Vec<Vec<Option<ResponseError>>>, Vec<OffsetToCommit>) {
    let max_metadata = broker.config().offset_metadata_max_bytes;
    let mut verdicts = Vec::new();
    let mut offsets = Vec::new();
    for (name, partitions) in topics {
        let known = broker.topics().get(name);
        // READ on each topic (Kafka's `KafkaApis.handleOffsetCommitRequest`).
        let readable = broker.authorize(context, Operation::Read, ResourceType::Topic, name);
        let mut topic_verdicts = Vec::with_capacity(partitions.len());
        for p in partitions {
            let metadata = p.metadata.map(|m| m.to_string()).unwrap_or_default();
            let exists = known
                .as_ref()
                .is_some_and(|t| t.partition(p.partition).is_some());
            let verdict = if !readable {
                Some(ResponseError::TopicAuthorizationFailed)
            } else if !exists {
                Some(ResponseError::UnknownTopicOrPartition)
            } else if metadata.len() > max_metadata {
                Some(ResponseError::OffsetMetadataTooLarge)
            } else {
                offsets.push(OffsetToCommit {
                    topic: name.to_string(),
                    partition: p.partition,
                    offset: p.offset,
                    leader_epoch: p.leader_epoch,
                    metadata,
                });
                None
            };
            topic_verdicts.push(verdict);
        }
        verdicts.push(topic_verdicts);
    }
    (verdicts, offsets)
}

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let wanted = request.topics.iter().map(|t| {
        let partitions = t.partitions.iter().map(|p| Wanted {
            partition: p.partition_index,
            offset: p.committed_offset,
            leader_epoch: p.committed_leader_epoch,
            metadata: p.committed_metadata.as_ref(),
        });
        (t.name.as_str(), partitions.collect())
    });
    // READ on the group, else every partition is refused.
    if !broker.authorize(
        context,
        Operation::Read,
        ResourceType::Group,
        &request.group_id,
    ) {
        let error = ResponseError::GroupAuthorizationFailed.code();
        return OffsetCommitResponse::default().with_topics(
            request
                .topics
                .into_iter()
                .map(|topic| {
                    let partitions = topic
                        .partitions
                        .iter()
                        .map(|p| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(error)
                        })
                        .collect();
                    OffsetCommitResponseTopic::default()
                        .with_name(topic.name)
                        .with_partitions(partitions)
                })
                .collect(),
        );
    }
    let (verdicts, offsets) = check_offsets(broker, context, wanted);
    let member = MemberRef {
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
    };
    let group_error = broker
        .groups()
        .commit(
            request.group_id.to_string(),
            request.generation_id_or_member_epoch,
            member,
            offsets,
        )
        .await
        .err();
    let topics = request
        .topics
        .into_iter()
        .zip(verdicts)
        .map(|(topic, topic_verdicts)| {
            let partitions = topic
                .partitions
                .iter()
                .zip(topic_verdicts)
                .map(|(p, verdict)| {
                    let code = match (group_error, verdict) {
                        (Some(e), _) => group_error_code(e),
                        (None, Some(e)) => e.code(),
                        (None, None) => 0,
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
