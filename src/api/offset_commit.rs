//! OffsetCommit (key 8): validates the member and generation, then stores the offsets.
//! Unknown partitions and oversized metadata fail per partition, as in Kafka.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::ResponseError;

use super::group_error_code;
use crate::broker::Broker;
use crate::group::{MemberRef, OffsetToCommit};
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    _context: &RequestContext<'_>,
    _version: i16,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let max_metadata = broker.config().offset_metadata_max_bytes;
    // Each partition's own verdict; the valid ones are committed together.
    let mut verdicts: Vec<Vec<Option<ResponseError>>> = Vec::with_capacity(request.topics.len());
    let mut offsets = Vec::new();
    for topic in &request.topics {
        let known = broker.topics().get(topic.name.as_str());
        let mut topic_verdicts = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let metadata = p
                .committed_metadata
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default();
            let exists = known
                .as_ref()
                .is_some_and(|t| t.partition(p.partition_index).is_some());
            let verdict = if !exists {
                Some(ResponseError::UnknownTopicOrPartition)
            } else if metadata.len() > max_metadata {
                Some(ResponseError::OffsetMetadataTooLarge)
            } else {
                offsets.push(OffsetToCommit {
                    topic: topic.name.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata,
                });
                None
            };
            topic_verdicts.push(verdict);
        }
        verdicts.push(topic_verdicts);
    }
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
