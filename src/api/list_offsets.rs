//! ListOffsets (key 2): earliest (-2, and -4 "earliest local"), latest (-1), max
//! timestamp (-3), or the first record at or after a timestamp.
//!
//! As in Kafka's `UnifiedLog.fetchOffsetByTimestamp`, a timestamp lookup finds the first
//! batch whose max timestamp reaches the target, then the first record in it that does —
//! which means decoding (and decompressing) that one batch.

use bytes::Bytes;
use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::records::RecordBatchDecoder;
use kafka_protocol::ResponseError;

use super::metadata::LEADER_EPOCH;
use crate::broker::Broker;
use crate::partition::Partition;
use crate::record::batch::BatchHeader;
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
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let topic = broker.topics().get(t.name.as_str());
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut response = list_partition(topic.as_deref(), p);
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

fn list_partition(
    topic: Option<&Topic>,
    request: &ListOffsetsPartition,
) -> ListOffsetsPartitionResponse {
    let index = request.partition_index;
    let Some(partition) = topic.and_then(|t| t.partition(index)) else {
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
    let found = match request.timestamp {
        LATEST => Ok(Some((offsets.high_watermark, -1))),
        EARLIEST | EARLIEST_LOCAL => Ok(Some((offsets.log_start_offset, -1))),
        MAX_TIMESTAMP => max_timestamp(partition),
        target => at_or_after(partition, target),
    };
    match found {
        Ok(found) => answer(index, found),
        Err(e) => {
            tracing::error!(topic = %partition.topic, partition = index, error = %e, "offset lookup failed");
            failed(index, ResponseError::KafkaStorageError)
        }
    }
}

fn at_or_after(partition: &Partition, target: i64) -> std::io::Result<Option<(i64, i64)>> {
    Ok(partition
        .first_batch_at_or_after(target)?
        .and_then(|batch| first_record_at_or_after(batch, target)))
}

fn max_timestamp(partition: &Partition) -> std::io::Result<Option<(i64, i64)>> {
    Ok(partition.batch_with_max_timestamp()?.and_then(|batch| {
        let max = BatchHeader::parse(&batch).ok()?.max_timestamp();
        first_record_at_or_after(batch, max)
    }))
}

/// The offset and timestamp of the first record in `batch` stamped at or after `target`.
fn first_record_at_or_after(batch: Bytes, target: i64) -> Option<(i64, i64)> {
    let header = BatchHeader::parse(&batch).ok()?;
    if header.max_timestamp() < target {
        return None;
    }
    if header.is_log_append_time() {
        // Every record carries the batch's timestamp.
        return Some((header.base_offset(), header.max_timestamp()));
    }
    match RecordBatchDecoder::decode(&mut batch.clone()) {
        Ok(set) => set
            .records
            .iter()
            .find(|r| r.timestamp >= target)
            .map(|r| (r.offset, r.timestamp)),
        Err(e) => {
            // Stored batches passed their CRC on the way in, so this is a format we cannot
            // read; the batch's own bounds are the best answer left.
            tracing::warn!(error = %e, "cannot decode a stored batch for a timestamp lookup");
            Some((header.base_offset(), header.max_timestamp()))
        }
    }
}
