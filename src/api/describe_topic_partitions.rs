//! DescribeTopicPartitions (key 75, v0): topics with their partitions a page at a time, as
//! the Java admin client's `describeTopics` asks from Kafka 3.8 on. Topics go in name order,
//! from the request's cursor, and at most `response_partition_limit` partitions (capped at
//! Kafka's `max.request.partition.size.limit`, 2000) fill one answer; the next cursor says
//! where the following page starts. Named topics not found are answered with their error;
//! with no names, every topic is described and none is missing.

use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::topic_name;
use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::partition::LEADER_EPOCH;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;
use crate::topics::validate_name;

/// Kafka's `max.request.partition.size.limit` default: the most partitions in one answer.
const PARTITIONS_PER_RESPONSE_MAX: i32 = 2000;
/// A refused topic's authorized operations: none told (Kafka's "omitted"). Kafka always
/// reports the others' here, for topics not found too.
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let describe_all = request.topics.is_empty();
    let (cursor_topic, cursor_partition) =
        request.cursor.as_ref().map_or((String::new(), 0), |c| {
            (c.topic_name.as_str().to_string(), c.partition_index)
        });
    let mut names: Vec<String> = if describe_all {
        broker
            .topics()
            .all()
            .iter()
            .map(|t| t.name.clone())
            .collect()
    } else {
        request
            .topics
            .iter()
            .map(|t| t.name.as_str().to_string())
            .collect()
    };
    names.retain(|name| *name >= cursor_topic);
    // DESCRIBE on each topic (Kafka's `DescribeTopicPartitionsRequestHandler`): a listing
    // of all leaves the others out, a named one is refused.
    let mut refused: Vec<String> = Vec::new();
    names.retain(|name| {
        let allowed = if describe_all {
            broker.allows_quietly(context, Operation::Describe, ResourceType::Topic, name)
        } else {
            broker.authorize(context, Operation::Describe, ResourceType::Topic, name)
        };
        if !allowed && !describe_all {
            refused.push(name.clone());
        }
        allowed
    });
    names.sort();
    names.dedup();
    let cursor_listed = names.contains(&cursor_topic);
    if (request.cursor.is_some() && !describe_all && !cursor_listed) || cursor_partition < 0 {
        // Kafka refuses the whole request: every named topic gets INVALID_REQUEST.
        return invalid(&request);
    }
    let mut remaining = PARTITIONS_PER_RESPONSE_MAX
        .min(request.response_partition_limit)
        .max(1);
    let mut response = DescribeTopicPartitionsResponse::default();
    // Every topic operation without an authorizer, as Kafka answers without one.
    let operations = |name: &str| broker.authorized_operations(context, ResourceType::Topic, name);
    refused.sort();
    refused.dedup();
    for name in refused {
        response.topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                .with_name(Some(topic_name(&name)))
                .with_topic_id(Uuid::nil())
                .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED),
        );
    }
    for name in names {
        if remaining == 0 {
            // The page is full: the next one starts with this topic.
            response.next_cursor = Some(cursor(&name, 0));
            break;
        }
        let Some(topic) = broker.topics().get(&name) else {
            if !describe_all {
                let error = match validate_name(&name) {
                    Ok(()) => ResponseError::UnknownTopicOrPartition,
                    Err(_) => ResponseError::InvalidTopicException,
                };
                response.topics.push(
                    DescribeTopicPartitionsResponseTopic::default()
                        .with_error_code(error.code())
                        .with_name(Some(topic_name(&name)))
                        .with_topic_id(Uuid::nil())
                        .with_topic_authorized_operations(operations(&name)),
                );
            }
            continue;
        };
        let start = if name == cursor_topic {
            cursor_partition
        } else {
            0
        };
        let count = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
        let end = count.min(start.saturating_add(remaining));
        let replicas = vec![BrokerId(broker.node_id())];
        let partitions: Vec<_> = (start..end)
            .map(|index| {
                DescribeTopicPartitionsResponsePartition::default()
                    .with_partition_index(index)
                    .with_leader_id(BrokerId(broker.node_id()))
                    .with_leader_epoch(LEADER_EPOCH)
                    .with_replica_nodes(replicas.clone())
                    .with_isr_nodes(replicas.clone())
                    .with_eligible_leader_replicas(Some(Vec::new()))
                    .with_last_known_elr(Some(Vec::new()))
            })
            .collect();
        let described = i32::try_from(partitions.len()).unwrap_or(i32::MAX);
        response.topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(topic_name(&name)))
                .with_topic_id(topic.id)
                .with_partitions(partitions)
                .with_topic_authorized_operations(operations(&name)),
        );
        if end < count {
            // This topic did not fit: the next page goes on from its first partition left.
            response.next_cursor = Some(cursor(&name, end));
            break;
        }
        remaining -= described;
    }
    response
}

fn cursor(name: &str, partition_index: i32) -> Cursor {
    Cursor::default()
        .with_topic_name(topic_name(name))
        .with_partition_index(partition_index)
}

/// Kafka's answer to a request it refuses as invalid.
fn invalid(request: &DescribeTopicPartitionsRequest) -> DescribeTopicPartitionsResponse {
    DescribeTopicPartitionsResponse::default().with_topics(
        request
            .topics
            .iter()
            .map(|t| {
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_name(Some(t.name.clone()))
                    .with_topic_id(Uuid::nil())
            })
            .collect(),
    )
}

impl ErrorCodes for DescribeTopicPartitionsResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.topics.iter().map(|t| t.error_code).collect()
    }
}
