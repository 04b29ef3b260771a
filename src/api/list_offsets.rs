//! ListOffsets (key 2): earliest (-2, and -4 "earliest local"), latest (-1), max
//! timestamp (-3), the latest tiered offset (-5, v9+: nothing is tiered, so -1 as Kafka
//! answers without remote storage), or the first record at or after a timestamp. v10 only
//! adds a timeout for remote lookups, which never happen here.
//!
//! As in Kafka's `UnifiedLog.fetchOffsetByTimestamp`, a timestamp lookup finds the first
//! batch whose max timestamp reaches the target, by batch headers and the time index, then
//! the first record in it that does — walking that one batch's records with the bounded
//! decompression of produce, within the topic's budget (see `log::by_timestamp`), on a
//! blocking thread ([`Broker::find_offset`]).

use std::collections::{HashMap, HashSet};

use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;

use crate::acl::{Operation, ResourceType};
use crate::broker::offsets::{FoundOffset, OffsetSpec, OffsetsError};
use crate::broker::Broker;
use crate::partition::LEADER_EPOCH;
use crate::session::RequestContext;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let read_committed = request.isolation_level == READ_COMMITTED;
    let mut topics = Vec::with_capacity(request.topics.len());
    for t in request.topics {
        // A partition asked more than once gets one INVALID_REQUEST answer, as in Kafka.
        let mut asked: HashMap<i32, usize> = HashMap::new();
        for p in &t.partitions {
            *asked.entry(p.partition_index).or_default() += 1;
        }
        let mut answered = HashSet::new();
        let mut partitions = Vec::with_capacity(t.partitions.len());
        // DESCRIBE on the topic (Kafka's `KafkaApis.handleListOffsetRequest`).
        let may_describe =
            broker.authorize(context, Operation::Describe, ResourceType::Topic, &t.name);
        for p in t
            .partitions
            .iter()
            .filter(|p| answered.insert(p.partition_index))
        {
            let mut response = if !may_describe {
                failed(p.partition_index, ResponseError::TopicAuthorizationFailed)
            } else if asked[&p.partition_index] > 1 {
                failed(p.partition_index, ResponseError::InvalidRequest)
            } else if version < first_version_of(p.timestamp) {
                failed(p.partition_index, ResponseError::UnsupportedVersion)
            } else {
                list_partition(broker, t.name.as_str(), p, read_committed).await
            };
            if version < 4 {
                response.leader_epoch = -1;
            }
            partitions.push(response);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}

/// The first version that may ask for a special timestamp, as Kafka 4 checks: an older one
/// gets UNSUPPORTED_VERSION for that partition.
fn first_version_of(timestamp: i64) -> i16 {
    match timestamp {
        MAX_TIMESTAMP => 7,
        EARLIEST_LOCAL => 8,
        LATEST_TIERED => 9,
        _ => 0,
    }
}

fn answer(index: i32, found: Option<FoundOffset>) -> ListOffsetsPartitionResponse {
    let (offset, timestamp, epoch) = match found {
        Some(found) => (found.offset, found.timestamp, LEADER_EPOCH),
        None => (-1, -1, -1),
    };
    ListOffsetsPartitionResponse::default()
        .with_partition_index(index)
        .with_offset(offset)
        .with_timestamp(timestamp)
        .with_leader_epoch(epoch)
}

fn failed(index: i32, error: ResponseError) -> ListOffsetsPartitionResponse {
    answer(index, None).with_error_code(error.code())
}

/// A `read_committed` consumer's LATEST is the last stable offset (its timestamp lookups
/// see the whole log here; in Kafka they stop at the last stable offset too).
const READ_COMMITTED: i8 = 1;

async fn list_partition(
    broker: &Broker,
    topic: &str,
    request: &ListOffsetsPartition,
    read_committed: bool,
) -> ListOffsetsPartitionResponse {
    let index = request.partition_index;
    if request.current_leader_epoch >= 0 && request.current_leader_epoch != LEADER_EPOCH {
        let known = broker
            .topics()
            .get(topic)
            .is_some_and(|t| t.partition(index).is_some());
        if known {
            return failed(
                index,
                if request.current_leader_epoch < LEADER_EPOCH {
                    ResponseError::FencedLeaderEpoch
                } else {
                    ResponseError::UnknownLeaderEpoch
                },
            );
        }
    }
    if request.timestamp == LATEST_TIERED {
        let known = broker
            .topics()
            .get(topic)
            .is_some_and(|t| t.partition(index).is_some());
        return if known {
            answer(index, None)
        } else {
            failed(index, ResponseError::UnknownTopicOrPartition)
        };
    }
    let spec = match request.timestamp {
        LATEST => OffsetSpec::Latest { read_committed },
        EARLIEST | EARLIEST_LOCAL => OffsetSpec::Earliest,
        MAX_TIMESTAMP => OffsetSpec::MaxTimestamp,
        target => OffsetSpec::AtOrAfter(target),
    };
    match broker.find_offset(topic, index, spec).await {
        Ok(found) => answer(index, found),
        Err(OffsetsError::UnknownTopicOrPartition) => {
            failed(index, ResponseError::UnknownTopicOrPartition)
        }
        Err(e) => {
            tracing::error!(topic, partition = index, error = %e, "offset lookup failed");
            failed(index, ResponseError::KafkaStorageError)
        }
    }
}
