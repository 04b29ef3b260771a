//! Requests a fault rule (see [`crate::faults`]) answers with an error: what a request names
//! (for the rules' topic, partition and group) and the error answers themselves.
//!
//! Two ways to answer, by whether the handler's effect may happen:
//! - APIs that change state (Produce, OffsetCommit, the group and transaction APIs) are not
//!   handled for what the rule covers: Produce appends only the partitions the rule does not
//!   cover and answers the others with the error; the rest are answered with the error alone.
//! - APIs that only read (Fetch, ListOffsets, Metadata, OffsetFetch, DescribeGroups) are
//!   handled and their codes overwritten where the rule covers them; a fetch's records there
//!   are dropped.
//!
//! Error codes go per topic and partition; the top-level code is set where the response has
//! one and no finer codes (FindCoordinator, JoinGroup, Heartbeat...), and for OffsetFetch's.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::*;

use crate::broker::Broker;
use crate::faults::{Injection, Targets};
use crate::protocol::request::RequestBody;
use crate::protocol::response::ResponseBody;
use crate::session::RequestContext;

/// Whether an `error` rule can be installed for `key`.
pub fn answers_errors(key: ApiKey) -> bool {
    use ApiKey::*;
    matches!(
        key,
        Produce
            | Fetch
            | ListOffsets
            | Metadata
            | OffsetCommit
            | OffsetFetch
            | FindCoordinator
            | JoinGroup
            | Heartbeat
            | LeaveGroup
            | SyncGroup
            | DescribeGroups
            | ListGroups
            | InitProducerId
            | AddOffsetsToTxn
            | EndTxn
    )
}

/// The topics (with partitions) and groups a request names.
pub fn targets(broker: &Broker, body: &RequestBody) -> Targets {
    let mut t = Targets::default();
    let by_id = |id: &uuid::Uuid| {
        broker
            .topics()
            .get_by_id(id)
            .map(|topic| topic.name.clone())
    };
    match body {
        RequestBody::Produce(r) => {
            for topic in &r.topic_data {
                let name = if topic.name.is_empty() {
                    by_id(&topic.topic_id).unwrap_or_default()
                } else {
                    topic.name.to_string()
                };
                t.topics
                    .push((name, topic.partition_data.iter().map(|p| p.index).collect()));
            }
        }
        RequestBody::Fetch(r) => {
            for topic in &r.topics {
                let name = if topic.topic.is_empty() {
                    by_id(&topic.topic_id).unwrap_or_default()
                } else {
                    topic.topic.to_string()
                };
                t.topics
                    .push((name, topic.partitions.iter().map(|p| p.partition).collect()));
            }
        }
        RequestBody::ListOffsets(r) => {
            for topic in &r.topics {
                t.topics.push((
                    topic.name.to_string(),
                    topic.partitions.iter().map(|p| p.partition_index).collect(),
                ));
            }
        }
        RequestBody::Metadata(r) => {
            for topic in r.topics.iter().flatten() {
                if let Some(name) = topic.name.as_ref().map(|n| n.to_string()) {
                    t.topics.push((name, Vec::new()));
                } else if let Some(name) = by_id(&topic.topic_id) {
                    t.topics.push((name, Vec::new()));
                }
            }
        }
        RequestBody::OffsetCommit(r) => {
            t.groups.push(r.group_id.to_string());
            for topic in &r.topics {
                t.topics.push((
                    topic.name.to_string(),
                    topic.partitions.iter().map(|p| p.partition_index).collect(),
                ));
            }
        }
        RequestBody::OffsetFetch(r) => {
            if !r.group_id.is_empty() {
                t.groups.push(r.group_id.to_string());
            }
            for topic in r.topics.iter().flatten() {
                t.topics
                    .push((topic.name.to_string(), topic.partition_indexes.clone()));
            }
            for group in &r.groups {
                t.groups.push(group.group_id.to_string());
                for topic in group.topics.iter().flatten() {
                    t.topics
                        .push((topic.name.to_string(), topic.partition_indexes.clone()));
                }
            }
        }
        RequestBody::TxnOffsetCommit(r) => {
            t.groups.push(r.group_id.to_string());
            for topic in &r.topics {
                t.topics.push((
                    topic.name.to_string(),
                    topic.partitions.iter().map(|p| p.partition_index).collect(),
                ));
            }
        }
        RequestBody::DeleteRecords(r) => {
            for topic in &r.topics {
                t.topics.push((
                    topic.name.to_string(),
                    topic.partitions.iter().map(|p| p.partition_index).collect(),
                ));
            }
        }
        // Key type 0 is a group; its key is the group id.
        RequestBody::FindCoordinator(r) if r.key_type == 0 => {
            if !r.key.is_empty() {
                t.groups.push(r.key.to_string());
            }
            t.groups
                .extend(r.coordinator_keys.iter().map(|k| k.to_string()));
        }
        RequestBody::JoinGroup(r) => t.groups.push(r.group_id.to_string()),
        RequestBody::SyncGroup(r) => t.groups.push(r.group_id.to_string()),
        RequestBody::Heartbeat(r) => t.groups.push(r.group_id.to_string()),
        RequestBody::LeaveGroup(r) => t.groups.push(r.group_id.to_string()),
        RequestBody::AddOffsetsToTxn(r) => t.groups.push(r.group_id.to_string()),
        RequestBody::DescribeGroups(r) => {
            t.groups.extend(r.groups.iter().map(|g| g.to_string()));
        }
        RequestBody::DeleteGroups(r) => {
            t.groups
                .extend(r.groups_names.iter().map(|g| g.to_string()));
        }
        RequestBody::CreateTopics(r) => {
            for topic in &r.topics {
                t.topics.push((topic.name.to_string(), Vec::new()));
            }
        }
        RequestBody::DeleteTopics(r) => {
            for name in &r.topic_names {
                t.topics.push((name.to_string(), Vec::new()));
            }
            for topic in &r.topics {
                if let Some(name) = &topic.name {
                    t.topics.push((name.to_string(), Vec::new()));
                }
            }
        }
        _ => {}
    }
    t
}

/// Answers `body` as the `error` rule `fault` says (see the module's comment).
pub async fn answer(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    body: RequestBody,
    fault: &Injection,
) -> Option<ResponseBody> {
    let code = fault.error_code;
    match body {
        RequestBody::Produce(request) => produce(broker, context, version, request, fault)
            .await
            .map(ResponseBody::Produce),
        RequestBody::Fetch(request) => {
            let mut response = super::fetch::handle(broker, context, version, request).await;
            for topic in &mut response.responses {
                let name = if topic.topic.is_empty() {
                    broker
                        .topics()
                        .get_by_id(&topic.topic_id)
                        .map(|t| t.name.clone())
                        .unwrap_or_default()
                } else {
                    topic.topic.to_string()
                };
                for p in &mut topic.partitions {
                    if fault.covers(&name, p.partition_index) {
                        p.error_code = code;
                        p.records = None;
                        p.high_watermark = -1;
                        p.last_stable_offset = -1;
                        p.log_start_offset = -1;
                        p.aborted_transactions = None;
                    }
                }
            }
            Some(ResponseBody::Fetch(response))
        }
        RequestBody::ListOffsets(request) => {
            let mut response = super::list_offsets::handle(broker, context, version, request).await;
            for topic in &mut response.topics {
                for p in &mut topic.partitions {
                    if fault.covers(topic.name.as_str(), p.partition_index) {
                        p.error_code = code;
                        p.offset = -1;
                        p.timestamp = -1;
                    }
                }
            }
            Some(ResponseBody::ListOffsets(response))
        }
        RequestBody::Metadata(request) => {
            let mut response = super::metadata::handle(broker, context, version, request).await;
            for topic in &mut response.topics {
                let name = topic
                    .name
                    .as_ref()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                if fault.covers_topic(&name) {
                    match fault.partition {
                        None => {
                            topic.error_code = code;
                            topic.partitions.clear();
                        }
                        Some(index) => {
                            for p in &mut topic.partitions {
                                if p.partition_index == index {
                                    p.error_code = code;
                                }
                            }
                        }
                    }
                }
            }
            Some(ResponseBody::Metadata(response))
        }
        RequestBody::OffsetFetch(request) => {
            let mut response = super::offset_fetch::handle(broker, context, version, request).await;
            response.error_code = code;
            for group in &mut response.groups {
                group.error_code = code;
            }
            Some(ResponseBody::OffsetFetch(response))
        }
        RequestBody::DescribeGroups(request) => {
            let mut response =
                super::describe_groups::handle(broker, context, version, request).await;
            for group in &mut response.groups {
                group.error_code = code;
            }
            Some(ResponseBody::DescribeGroups(response))
        }
        RequestBody::OffsetCommit(request) => {
            let topics = request
                .topics
                .iter()
                .map(|topic| {
                    OffsetCommitResponseTopic::default()
                        .with_name(topic.name.clone())
                        .with_topic_id(topic.topic_id)
                        .with_partitions(
                            topic
                                .partitions
                                .iter()
                                .map(|p| {
                                    OffsetCommitResponsePartition::default()
                                        .with_partition_index(p.partition_index)
                                        .with_error_code(code)
                                })
                                .collect(),
                        )
                })
                .collect();
            Some(ResponseBody::OffsetCommit(
                OffsetCommitResponse::default().with_topics(topics),
            ))
        }
        RequestBody::FindCoordinator(request) => {
            let coordinators = request
                .coordinator_keys
                .iter()
                .map(|key| {
                    Coordinator::default()
                        .with_key(key.clone())
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(code)
                })
                .collect();
            Some(ResponseBody::FindCoordinator(
                FindCoordinatorResponse::default()
                    .with_error_code(code)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_coordinators(coordinators),
            ))
        }
        RequestBody::JoinGroup(_) => Some(ResponseBody::JoinGroup(
            JoinGroupResponse::default()
                .with_error_code(code)
                .with_generation_id(-1),
        )),
        RequestBody::SyncGroup(_) => Some(ResponseBody::SyncGroup(
            SyncGroupResponse::default().with_error_code(code),
        )),
        RequestBody::Heartbeat(_) => Some(ResponseBody::Heartbeat(
            HeartbeatResponse::default().with_error_code(code),
        )),
        RequestBody::LeaveGroup(_) => Some(ResponseBody::LeaveGroup(
            LeaveGroupResponse::default().with_error_code(code),
        )),
        RequestBody::ListGroups(_) => Some(ResponseBody::ListGroups(
            ListGroupsResponse::default().with_error_code(code),
        )),
        RequestBody::InitProducerId(_) => Some(ResponseBody::InitProducerId(
            InitProducerIdResponse::default()
                .with_error_code(code)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )),
        RequestBody::AddOffsetsToTxn(_) => Some(ResponseBody::AddOffsetsToTxn(
            AddOffsetsToTxnResponse::default().with_error_code(code),
        )),
        RequestBody::EndTxn(_) => Some(ResponseBody::EndTxn(
            EndTxnResponse::default().with_error_code(code),
        )),
        // Rules refuse `error` for the other APIs (see `answers_errors`); handled normally.
        other => super::dispatch(broker, context, version, other).await,
    }
}

/// Produce: the partitions the rule covers are answered with its error and not appended;
/// the others are handled as usual, in the same response.
async fn produce(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    mut request: ProduceRequest,
    fault: &Injection,
) -> Option<ProduceResponse> {
    let code = fault.error_code;
    let mut refused: Vec<TopicProduceResponse> = Vec::new();
    for topic in &mut request.topic_data {
        let name = if topic.name.is_empty() {
            broker
                .topics()
                .get_by_id(&topic.topic_id)
                .map(|t| t.name.clone())
                .unwrap_or_default()
        } else {
            topic.name.to_string()
        };
        let (covered, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut topic.partition_data)
            .into_iter()
            .partition(|p| fault.covers(&name, p.index));
        topic.partition_data = kept;
        if !covered.is_empty() {
            refused.push(
                TopicProduceResponse::default()
                    .with_name(topic.name.clone())
                    .with_topic_id(topic.topic_id)
                    .with_partition_responses(
                        covered
                            .iter()
                            .map(|p| {
                                PartitionProduceResponse::default()
                                    .with_index(p.index)
                                    .with_error_code(code)
                                    .with_base_offset(-1)
                                    .with_log_append_time_ms(-1)
                                    .with_log_start_offset(-1)
                            })
                            .collect(),
                    ),
            );
        }
    }
    request.topic_data.retain(|t| !t.partition_data.is_empty());
    let acks = request.acks;
    let handled = if request.topic_data.is_empty() {
        (acks != 0).then(ProduceResponse::default)
    } else {
        super::produce::handle(broker, context, version, request).await
    };
    handled.map(|mut response| {
        for topic in refused {
            match response
                .responses
                .iter_mut()
                .find(|t| t.name == topic.name && t.topic_id == topic.topic_id)
            {
                Some(existing) => existing
                    .partition_responses
                    .extend(topic.partition_responses),
                None => response.responses.push(topic),
            }
        }
        response
    })
}
