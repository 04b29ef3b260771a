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
use crate::broker::Broker;
use crate::group::{CommittedOffset, GroupError};
use crate::session::RequestContext;

const FIRST_MULTI_GROUP_VERSION: i16 = 8;
/// `require_stable` exists from this version (KIP-447).
const FIRST_REQUIRE_STABLE_VERSION: i16 = 7;

/// One topic's answers: (partition, committed offset if any, whether an open transaction
/// holds an offset for it and the request wants only stable ones).
type TopicOffsets = BTreeMap<String, Vec<(i32, Option<CommittedOffset>, bool)>>;

/// A partition an open transaction committed an offset for, to a request with
/// `require_stable` (v7+): the client waits and asks again.
fn unstable_code(unstable: bool) -> i16 {
    if unstable {
        ResponseError::UnstableOffsetCommit.code()
    } else {
        0
    }
}

pub async fn handle(
    broker: &Broker,
    _context: &RequestContext<'_>,
    version: i16,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    if version >= FIRST_MULTI_GROUP_VERSION {
        let mut groups = Vec::with_capacity(request.groups.len());
        for group in request.groups {
            let wanted = partitions(group.topics, |t| (t.name.to_string(), t.partition_indexes));
            let fetched = fetch(
                broker,
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
                                        .map(|(p, o, unstable)| {
                                            let (offset, epoch, metadata) = fields(o);
                                            OffsetFetchResponsePartitions::default()
                                                .with_partition_index(p)
                                                .with_error_code(unstable_code(unstable))
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
    match fetch(broker, request.group_id.to_string(), wanted, require_stable).await {
        Ok(offsets) => OffsetFetchResponse::default().with_topics(
            offsets
                .into_iter()
                .map(|(topic, partitions)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(topic_name(&topic))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|(p, o, unstable)| {
                                    let (offset, epoch, metadata) = fields(o);
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_error_code(unstable_code(unstable))
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

async fn fetch(
    broker: &Broker,
    group_id: String,
    wanted: Option<Vec<(String, i32)>>,
    require_stable: bool,
) -> Result<TopicOffsets, GroupError> {
    let unstable: HashSet<(String, i32)> = if require_stable {
        let held = broker
            .groups()
            .unstable_partitions(group_id.clone())
            .await?;
        held.into_iter().collect()
    } else {
        HashSet::new()
    };
    let offsets = broker.groups().fetch_offsets(group_id, wanted).await?;
    let mut by_topic: TopicOffsets = BTreeMap::new();
    for (topic, partition, offset) in offsets {
        let held = unstable.contains(&(topic.clone(), partition));
        let offset = if held { None } else { offset };
        by_topic
            .entry(topic)
            .or_default()
            .push((partition, offset, held));
    }
    Ok(by_topic)
}
