//! OffsetFetch (key 9): committed offsets of one group (v1–7) or several (v8+); a partition
//! with no commit answers offset -1.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::protocol::StrBytes;

use super::{group_error_code, topic_name};
use crate::broker::Broker;
use crate::group::{CommittedOffset, GroupError};
use crate::session::RequestContext;

const FIRST_MULTI_GROUP_VERSION: i16 = 8;

/// One topic's answers: (partition, committed offset if any).
type TopicOffsets = BTreeMap<String, Vec<(i32, Option<CommittedOffset>)>>;

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
            let response = match fetch(broker, group.group_id.to_string(), wanted).await {
                Ok(offsets) => OffsetFetchResponseGroup::default().with_topics(
                    offsets
                        .into_iter()
                        .map(|(topic, partitions)| {
                            OffsetFetchResponseTopics::default()
                                .with_name(topic_name(&topic))
                                .with_partitions(
                                    partitions
                                        .into_iter()
                                        .map(|(p, o)| {
                                            let (offset, epoch, metadata) = fields(o);
                                            OffsetFetchResponsePartitions::default()
                                                .with_partition_index(p)
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
    match fetch(broker, request.group_id.to_string(), wanted).await {
        Ok(offsets) => OffsetFetchResponse::default().with_topics(
            offsets
                .into_iter()
                .map(|(topic, partitions)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(topic_name(&topic))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|(p, o)| {
                                    let (offset, epoch, metadata) = fields(o);
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(p)
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
) -> Result<TopicOffsets, GroupError> {
    let offsets = broker.groups().fetch_offsets(group_id, wanted).await?;
    let mut by_topic: TopicOffsets = BTreeMap::new();
    for (topic, partition, offset) in offsets {
        by_topic.entry(topic).or_default().push((partition, offset));
    }
    Ok(by_topic)
}
