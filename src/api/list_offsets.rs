//! ListOffsets (key 2): earliest (-2, and -4 "earliest local"), latest (-1), max
//! timestamp (-3), or the first record at or after a timestamp.
//!
//! As in Kafka's `UnifiedLog.fetchOffsetByTimestamp`, a timestamp lookup finds the first
//! batch whose max timestamp reaches the target, by batch headers and the time index, then
//! the first record in it that does — walking that one batch's records with the bounded
//! decompression of produce, within the topic's budget (see `log::by_timestamp`).

use std::collections::{HashMap, HashSet};

use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;

use super::metadata::LEADER_EPOCH;
use crate::broker::Broker;
use crate::log::TimestampTarget;
use crate::partition::Partition;
use crate::record::validate::decompression_budget;
use crate::session::RequestContext;
use crate::topics::Topic;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

pub async fn handle(
    broker: &Broker,
    _context: &RequestContext<'_>,
    version: i16,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let read_committed = request.isolation_level == READ_COMMITTED;
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let topic = broker.topics().get(t.name.as_str());
            // A partition asked more than once gets one INVALID_REQUEST answer, as in Kafka.
            let mut asked: HashMap<i32, usize> = HashMap::new();
            for p in &t.partitions {
                *asked.entry(p.partition_index).or_default() += 1;
            }
            let mut answered = HashSet::new();
            let partitions = t
                .partitions
                .iter()
                .filter(|p| answered.insert(p.partition_index))
                .map(|p| {
                    if asked[&p.partition_index] > 1 {
                        return failed(p.partition_index, ResponseError::InvalidRequest);
                    }
                    let mut response = list_partition(topic.as_deref(), p, read_committed);
                    if version < 4 {
                        response.leader_epoch = -1;
                    }
                    response
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn answer(index: i32, found: Option<(i64, i64)>) -> ListOffsetsPartitionResponse {
    let (offset, timestamp, epoch) = match found {
        Some((offset, timestamp)) => (offset, timestamp, LEADER_EPOCH),
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

/// A `read_committed` consumer's LATEST is the last stable offset (and its timestamp
/// lookups stop there too, in Kafka; here they see the whole log).
const READ_COMMITTED: i8 = 1;

fn list_partition(
    topic: Option<&Topic>,
    request: &ListOffsetsPartition,
    read_committed: bool,
) -> ListOffsetsPartitionResponse {
    let index = request.partition_index;
    let Some((topic, partition)) = topic.and_then(|t| Some((t, t.partition(index)?))) else {
        return failed(index, ResponseError::UnknownTopicOrPartition);
    };
    if request.current_leader_epoch >= 0 && request.current_leader_epoch != LEADER_EPOCH {
        return failed(
            index,
            if request.current_leader_epoch < LEADER_EPOCH {
                ResponseError::FencedLeaderEpoch
            } else {
                ResponseError::UnknownLeaderEpoch
            },
        );
    }
    let offsets = partition.offsets();
    // The budget produce checked the partition's batches with.
    let budget = decompression_budget(topic.config.max_message_bytes());
    let found = match request.timestamp {
        LATEST if read_committed => Ok(Some((partition.last_stable_offset(), -1))),
        LATEST => Ok(Some((offsets.high_watermark, -1))),
        EARLIEST | EARLIEST_LOCAL => Ok(Some((offsets.log_start_offset, -1))),
        MAX_TIMESTAMP => find(partition, TimestampTarget::Max, budget),
        target => find(partition, TimestampTarget::AtOrAfter(target), budget),
    };
    match found {
        Ok(found) => answer(index, found),
        Err(e) => {
            tracing::error!(topic = %partition.topic, partition = index, error = %e, "offset lookup failed");
            failed(index, ResponseError::KafkaStorageError)
        }
    }
}

/// The offset and timestamp of the record `target` names.
fn find(
    partition: &Partition,
    target: TimestampTarget,
    budget: u64,
) -> std::io::Result<Option<(i64, i64)>> {
    Ok(partition
        .find_by_timestamp(target, budget)?
        .map(|record| (record.offset, record.timestamp)))
}
