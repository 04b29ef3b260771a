//! OffsetFetch (key 9): committed offsets of one group (v1–7) or several (v8+); a partition
//! with no commit answers offset -1.

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{group_error_code, topic_name};
use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::group::{CommittedOffset, GroupError};
use crate::session::RequestContext;

const FIRST_MULTI_GROUP_VERSION: i16 = 8;
/// `require_stable` exists from this version (KIP-447).
const FIRST_REQUIRE_STABLE_VERSION: i16 = 7;

/// One topic's answers: (partition, committed offset if any, its error code: 0,
/// UNSTABLE_OFFSET_COMMIT when an open transaction holds an offset for it and the request
/// wants only stable ones, TOPIC_AUTHORIZATION_FAILED when the principal may not describe
/// the topic).
type TopicOffsets = BTreeMap<String, Vec<(i32, Option<CommittedOffset>, i16)>>;

/// A partition an open transaction committed an offset for, to a request with
/// `require_stable` (v7+): the client waits and asks again.
fn unstable_code(unstable: bool) -> i16 {
    if unstable {
        ResponseError::UnstableOffsetCommit.code()
    } else {
        0
    }
}

/// DESCRIBE on the group (Kafka's `KafkaApis.handleOffsetFetchRequest`).
fn may_describe_group(broker: &Broker, context: &RequestContext<'_>, group: &str) -> bool {
    broker.authorize(context, Operation::Describe, ResourceType::Group, group)
}

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    if version >= FIRST_MULTI_GROUP_VERSION {
        let mut groups = Vec::with_capacity(request.groups.len());
        for group in request.groups {
            if !may_describe_group(broker, context, &group.group_id) {
                groups.push(
                    OffsetFetchResponseGroup::default()
                        .with_group_id(GroupId(group.group_id.0))
                        .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
                );
                continue;
            }
            let wanted = partitions(group.topics, |t| (t.name.to_string(), t.partition_indexes));
            let fetched = fetch(
                broker,
                context,
                group.group_id.to_string(),
                wanted,
                request.require_stable,
            )
            .await;
            let response = match fetched {
                Ok(offsets) => OffsetFetchResponseGroup::default().with_topics(
                    offsets
                        .into_iter()
                        .map(|(topic, partitions)| {
                            OffsetFetchResponseTopics::default()
                                .with_name(topic_name(&topic))
                                .with_partitions(
                                    partitions
                                        .into_iter()
                                        .map(|(p, o, code)| {
                                            let (offset, epoch, metadata) = fields(o);
                                            OffsetFetchResponsePartitions::default()
                                                .with_partition_index(p)
                                                .with_error_code(code)
                                                .with_committed_offset(offset)
                                                .with_committed_leader_epoch(epoch)
                                                .with_metadata(Some(metadata))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
                Err(e) => OffsetFetchResponseGroup::default().with_error_code(group_error_code(e)),
            };
            groups.push(response.with_group_id(GroupId(group.group_id.0)));
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }

    let wanted = partitions(request.topics, |t| {
        (t.name.to_string(), t.partition_indexes)
    });
    let require_stable = version >= FIRST_REQUIRE_STABLE_VERSION && request.require_stable;
    if !may_describe_group(broker, context, &request.group_id) {
        let error = ResponseError::GroupAuthorizationFailed.code();
        // Before v2 there is no top-level code: each partition asked for carries it.
        return if version >= 2 {
            OffsetFetchResponse::default().with_error_code(error)
        } else {
            let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (topic, partition) in wanted.unwrap_or_default() {
                by_topic.entry(topic).or_default().push(partition);
            }
            OffsetFetchResponse::default().with_topics(
                by_topic
                    .into_iter()
                    .map(|(topic, partitions)| {
                        OffsetFetchResponseTopic::default()
                            .with_name(topic_name(&topic))
                            .with_partitions(
                                partitions
                                    .into_iter()
                                    .map(|p| {
                                        OffsetFetchResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(-1)
                                            .with_error_code(error)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
        };
    }
    match fetch(
        broker,
        context,
        request.group_id.to_string(),
        wanted,
        require_stable,
    )
    .await
    {
        Ok(offsets) => OffsetFetchResponse::default().with_topics(
            offsets
                .into_iter()
                .map(|(topic, partitions)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(topic_name(&topic))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|(p, o, code)| {
                                    let (offset, epoch, metadata) = fields(o);
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_error_code(code)
                                        .with_committed_offset(offset)
                                        .with_committed_leader_epoch(if version >= 5 {
                                            epoch
                                        } else {
                                            -1
                                        })
                                        .with_metadata(Some(metadata))
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
        Err(e) if version >= 2 => {
            OffsetFetchResponse::default().with_error_code(group_error_code(e))
        }
        Err(_) => OffsetFetchResponse::default(),
    }
}

/// The requested (topic, partition) pairs; `None` (all committed offsets) stays `None`.
fn partitions<T>(
    topics: Option<Vec<T>>,
    name_and_indexes: impl Fn(T) -> (String, Vec<i32>),
) -> Option<Vec<(String, i32)>> {
    topics.map(|topics| {
        topics
            .into_iter()
            .map(&name_and_indexes)
            .flat_map(|(name, indexes)| indexes.into_iter().map(move |p| (name.clone(), p)))
            .collect()
    })
}

fn fields(offset: Option<CommittedOffset>) -> (i64, i32, StrBytes) {
    match offset {
        Some(o) => (o.offset, o.leader_epoch, StrBytes::from_string(o.metadata)),
        None => (-1, -1, StrBytes::default()),
    }
}

/// The group's offsets of `wanted` (all when `None`). Topics the principal may not DESCRIBE
/// answer TOPIC_AUTHORIZATION_FAILED when named and are left out of "all", as Kafka does.
async fn fetch(
    broker: &Broker,
    context: &RequestContext<'_>,
    group_id: String,
    wanted: Option<Vec<(String, i32)>>,
    require_stable: bool,
) -> Result<TopicOffsets, GroupError> {
    let mut describable: BTreeMap<String, bool> = BTreeMap::new();
    let mut may_describe = |topic: &str| {
        if let Some(&known) = describable.get(topic) {
            return known;
        }
        let allowed = broker.authorize(context, Operation::Describe, ResourceType::Topic, topic);
        describable.insert(topic.to_string(), allowed);
        allowed
    };
    let mut refused: Vec<(String, i32)> = Vec::new();
    let wanted = wanted.map(|wanted| {
        let (allowed, denied): (Vec<_>, Vec<_>) = wanted
            .into_iter()
            .partition(|(topic, _)| may_describe(topic));
        refused = denied;
        allowed
    });
    let unstable: HashSet<(String, i32)> = if require_stable {
        let held = broker
            .groups()
            .unstable_partitions(group_id.clone())
            .await?;
        held.into_iter().collect()
    } else {
        HashSet::new()
    };
    let asked_all = wanted.is_none();
    let offsets = broker.groups().fetch_offsets(group_id, wanted).await?;
    let mut by_topic: TopicOffsets = BTreeMap::new();
    for (topic, partition, offset) in offsets {
        if asked_all && !may_describe(&topic) {
            continue;
        }
        let held = unstable.contains(&(topic.clone(), partition));
        let offset = if held { None } else { offset };
        by_topic
            .entry(topic)
            .or_default()
            .push((partition, offset, unstable_code(held)));
    }
    for (topic, partition) in refused {
        by_topic.entry(topic).or_default().push((
            partition,
            None,
            ResponseError::TopicAuthorizationFailed.code(),
        ));
    }
    Ok(by_topic)
}
