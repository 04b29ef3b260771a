//! OffsetDelete (key 47): deletes committed offsets of topics the group no longer consumes.
//! Partitions of topics its members subscribe to get GROUP_SUBSCRIBED_TO_TOPIC.

use std::collections::HashSet;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    ConsumerProtocolSubscription, OffsetDeleteRequest, OffsetDeleteResponse,
};
use kafka_protocol::protocol::Decodable;
use kafka_protocol::ResponseError;

use super::group_error_code;
use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::group::{GroupError, GroupState};
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    // DELETE on the group, READ on each topic (Kafka's `KafkaApis.handleOffsetDeleteRequest`).
    if !broker.authorize(
        context,
        Operation::Delete,
        ResourceType::Group,
        &request.group_id,
    ) {
        return OffsetDeleteResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let readable: HashSet<String> = request
        .topics
        .iter()
        .filter(|t| broker.authorize(context, Operation::Read, ResourceType::Topic, &t.name))
        .map(|t| t.name.to_string())
        .collect();
    let group_id = request.group_id.to_string();
    let description = match broker.groups().describe(vec![group_id.clone()]).await {
        Ok(mut d) if !d.is_empty() => d.remove(0),
        Ok(_) => return failed(GroupError::CoordinatorNotAvailable),
        Err(e) => return failed(e),
    };
    if description.state == GroupState::Dead {
        return failed(GroupError::GroupIdNotFound);
    }
    // As Kafka: a consumer group still consuming a topic keeps its offsets; when the
    // subscriptions cannot be read (mid-rebalance), every topic counts as subscribed.
    let subscribed: Option<HashSet<String>> = match description.state {
        GroupState::Empty => Some(HashSet::new()),
        GroupState::Stable if description.protocol_type == "consumer" => description
            .members
            .iter()
            .map(|m| subscribed_topics(m.metadata.clone()))
            .collect::<Option<Vec<_>>>()
            .map(|lists| lists.into_iter().flatten().collect()),
        _ => None,
    };
    let is_subscribed = |topic: &str| subscribed.as_ref().is_none_or(|s| s.contains(topic));
    let deletable: Vec<(String, i32)> = request
        .topics
        .iter()
        .filter(|t| readable.contains(t.name.as_str()) && !is_subscribed(t.name.as_str()))
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index))
        })
        .collect();
    if let Err(e) = broker.groups().delete_offsets(group_id, deletable).await {
        return failed(e);
    }
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let code = if !readable.contains(t.name.as_str()) {
                ResponseError::TopicAuthorizationFailed.code()
            } else if is_subscribed(t.name.as_str()) {
                ResponseError::GroupSubscribedToTopic.code()
            } else {
                0
            };
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}

fn failed(error: GroupError) -> OffsetDeleteResponse {
    OffsetDeleteResponse::default().with_error_code(group_error_code(error))
}

/// The topics in a consumer-protocol subscription (a version prefix, then the body).
fn subscribed_topics(mut metadata: Bytes) -> Option<Vec<String>> {
    if metadata.remaining() < 2 {
        return None;
    }
    let version = metadata.get_i16();
    let subscription =
        ConsumerProtocolSubscription::decode(&mut metadata, version.clamp(0, 3)).ok()?;
    Some(subscription.topics.iter().map(|t| t.to_string()).collect())
}
