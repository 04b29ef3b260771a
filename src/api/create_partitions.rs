//! CreatePartitions (key 37): grows topics to a larger partition count; partitions never
//! shrink. Manual assignments must put every new partition on this broker.

use std::collections::HashSet;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::session::RequestContext;
use crate::topics::{PartitionsError, MAX_PARTITIONS};

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut seen = HashSet::new();
    // Partitions this request may still create (`max_partitions_per_request`).
    let mut budget = broker.config().max_partitions_per_request;
    let results = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.to_string();
            let on_this_broker = topic.assignments.as_ref().is_none_or(|assignments| {
                assignments
                    .iter()
                    .all(|a| a.broker_ids.len() == 1 && a.broker_ids[0].0 == broker.node_id())
            });
            let outcome = if !seen.insert(name.clone()) {
                Err((
                    ResponseError::InvalidRequest,
                    "the topic is named twice".to_string(),
                ))
            } else if !broker.authorize(context, Operation::Alter, ResourceType::Topic, &name) {
                // ALTER on the topic (Kafka's `KafkaApis.handleCreatePartitionsRequest`).
                Err((
                    ResponseError::TopicAuthorizationFailed,
                    "The topic authorization is failed.".to_string(),
                ))
            } else if !on_this_broker {
                Err((
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "new partitions can only be placed on broker {}",
                        broker.node_id()
                    ),
                ))
            } else {
                grow(
                    broker,
                    &name,
                    topic.count,
                    topic.assignments.as_ref().map(Vec::len),
                    request.validate_only,
                    &mut budget,
                )
            };
            let result = CreatePartitionsTopicResult::default().with_name(topic.name);
            match outcome {
                Ok(()) => result,
                Err((error, message)) => result
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

/// Grows one topic, within what the request may still create. `assignments`: how many manual
/// assignments the request lists, when it lists them.
fn grow(
    broker: &Broker,
    name: &str,
    count: i32,
    assignments: Option<usize>,
    validate_only: bool,
    budget: &mut usize,
) -> Result<(), (ResponseError, String)> {
    let current = broker.topics().get(name).map(|t| t.partitions.len());
    let added = usize::try_from(count)
        .unwrap_or(0)
        .saturating_sub(current.unwrap_or(0));
    // Kafka checks the list's length once the count itself is valid: one per new partition.
    let grows = current.is_some() && added > 0 && count <= MAX_PARTITIONS;
    if let Some(listed) = assignments.filter(|&listed| grows && listed != added) {
        return Err((
            ResponseError::InvalidReplicaAssignment,
            format!("{added} partitions are to be added, but {listed} assignments are given"),
        ));
    }
    if added > *budget {
        return Err((
            ResponseError::PolicyViolation,
            format!(
                "the request would create more than {} partitions (max_partitions_per_request)",
                broker.config().max_partitions_per_request
            ),
        ));
    }
    crate::blocking::run(|| broker.topics().add_partitions(name, count, validate_only)).map_err(
        |e| {
            let error = match e {
                PartitionsError::UnknownTopic => ResponseError::UnknownTopicOrPartition,
                PartitionsError::InvalidCount { .. } => ResponseError::InvalidPartitions,
                PartitionsError::TooManyPartitions { .. } => ResponseError::PolicyViolation,
                PartitionsError::Storage(_) => ResponseError::KafkaStorageError,
            };
            (error, e.to_string())
        },
    )?;
    *budget -= added;
    Ok(())
}
