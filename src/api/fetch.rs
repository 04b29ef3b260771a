//! Fetch (key 1): raw batch bytes from the logs, up to the high watermark. Short of
//! `min_bytes`, the request waits for the first of: an append to one of its partitions, the
//! deadline, shutdown. Nothing polls.
//!
//! Fetch sessions (KIP-227) are answered the sessionless way: a request for a new session
//! gets session id 0, which tells the client to keep sending full requests.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::future::select_all;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};
use kafka_protocol::ResponseError;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use super::topic_name;
use crate::broker::Broker;
use crate::partition::LEADER_EPOCH;
use crate::partition::{AbortedTxn, Partition, ReadError};
use crate::session::RequestContext;

/// Fetch v13 names topics by id instead of by name.
const FIRST_TOPIC_ID_VERSION: i16 = 13;
const READ_UNCOMMITTED: i8 = 0;
const READ_COMMITTED: i8 = 1;
/// Fetch v7 added the top-level error code.
const FIRST_TOP_LEVEL_ERROR_VERSION: i16 = 7;

/// A requested partition, resolved against the broker's topics.
struct Wanted {
    request: FetchPartition,
    partition: Result<Arc<Partition>, ResponseError>,
}

struct WantedTopic {
    name: String,
    id: Uuid,
    partitions: Vec<Wanted>,
}

pub async fn handle(
    broker: &Broker,
    _context: &RequestContext<'_>,
    version: i16,
    request: FetchRequest,
) -> FetchResponse {
    if version >= 7 {
        if request.session_id != 0 {
            return FetchResponse::default()
                .with_error_code(ResponseError::FetchSessionIdNotFound.code());
        }
        if request.session_epoch > 0 {
            return FetchResponse::default()
                .with_error_code(ResponseError::InvalidFetchSessionEpoch.code());
        }
    }
    let by_id = version >= FIRST_TOPIC_ID_VERSION;
    let topics = resolve(broker, &request, by_id);
    if !matches!(request.isolation_level, READ_UNCOMMITTED | READ_COMMITTED) {
        // Kafka's `IsolationLevel.forId` throws for any other id, once a partition is to be
        // read; the request's error response carries UNKNOWN_SERVER_ERROR. With nothing
        // readable, Kafka never asks, and answers the partitions' own errors.
        if topics
            .iter()
            .flat_map(|t| &t.partitions)
            .any(|w| w.partition.is_ok())
        {
            tracing::debug!(
                isolation_level = request.isolation_level,
                "fetch refused: unknown isolation level"
            );
            return refused(&request, version, ResponseError::UnknownServerError);
        }
    }
    let read_committed = request.isolation_level == READ_COMMITTED;
    let max_wait_ms = u64::try_from(request.max_wait_ms)
        .unwrap_or(0)
        .min(broker.config().fetch_wait_max_ms);
    let deadline = Instant::now() + Duration::from_millis(max_wait_ms);
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    // As Kafka's `fetch.max.bytes`: a client cannot make one fetch hold more than this.
    let max_bytes = usize::try_from(request.max_bytes)
        .unwrap_or(0)
        .min(broker.config().fetch_max_bytes);

    // Subscribed before the first read, so an append between the read and the wait still
    // wakes us.
    let mut watches: Vec<watch::Receiver<i64>> = topics
        .iter()
        .flat_map(|t| &t.partitions)
        .filter_map(|w| w.partition.as_ref().ok().map(|p| p.watch_high_watermark()))
        .collect();
    let mut stopping = false;
    loop {
        for watch in &mut watches {
            watch.borrow_and_update();
        }
        let read = read_all(&topics, version, max_bytes, read_committed);
        let waited_enough = read.bytes >= min_bytes || read.has_error || Instant::now() >= deadline;
        if waited_enough || stopping || watches.is_empty() {
            return FetchResponse::default().with_responses(read.responses);
        }
        let any_append = select_all(watches.iter_mut().map(|w| Box::pin(w.changed())));
        tokio::select! {
            _ = any_append => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = broker.shutting_down() => stopping = true,
        }
    }
}

/// Kafka's error response to a whole Fetch (`FetchRequest.getErrorResponse`): the error at
/// the top (v7+), and before v13 also in every requested partition; from v13 no partitions.
fn refused(request: &FetchRequest, version: i16, error: ResponseError) -> FetchResponse {
    let mut response = FetchResponse::default().with_session_id(request.session_id);
    if version >= FIRST_TOP_LEVEL_ERROR_VERSION {
        response.error_code = error.code();
    }
    if version < FIRST_TOPIC_ID_VERSION {
        response.responses = request
            .topics
            .iter()
            .map(|topic| {
                let partitions = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        PartitionData::default()
                            .with_partition_index(p.partition)
                            .with_error_code(error.code())
                            .with_high_watermark(-1)
                            .with_aborted_transactions(None)
                            .with_records(Some(Bytes::new()))
                    })
                    .collect();
                FetchableTopicResponse::default()
                    .with_topic(topic.topic.clone())
                    .with_partitions(partitions)
            })
            .collect();
    }
    response
}

fn resolve(broker: &Broker, request: &FetchRequest, by_id: bool) -> Vec<WantedTopic> {
    request
        .topics
        .iter()
        .map(|fetch_topic| {
            let topic = if by_id {
                broker.topics().get_by_id(&fetch_topic.topic_id)
            } else {
                broker.topics().get(fetch_topic.topic.as_str())
            };
            let unknown = if by_id {
                ResponseError::UnknownTopicId
            } else {
                ResponseError::UnknownTopicOrPartition
            };
            let partitions = fetch_topic
                .partitions
                .iter()
                .map(|p| Wanted {
                    request: p.clone(),
                    partition: match &topic {
                        None => Err(unknown),
                        Some(topic) => topic
                            .partition(p.partition)
                            .cloned()
                            .ok_or(ResponseError::UnknownTopicOrPartition),
                    },
                })
                .collect();
            WantedTopic {
                name: fetch_topic.topic.to_string(),
                id: fetch_topic.topic_id,
                partitions,
            }
        })
        .collect()
}

struct Read {
    responses: Vec<FetchableTopicResponse>,
    bytes: usize,
    has_error: bool,
}

fn read_all(topics: &[WantedTopic], version: i16, max_bytes: usize, read_committed: bool) -> Read {
    let by_id = version >= FIRST_TOPIC_ID_VERSION;
    let mut bytes = 0usize;
    let mut has_error = false;
    let responses = topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|wanted| {
                    let data = read_partition(
                        wanted,
                        version,
                        max_bytes.saturating_sub(bytes),
                        bytes == 0,
                        read_committed,
                    );
                    bytes += data.records.as_ref().map_or(0, Bytes::len);
                    has_error |= data.error_code != 0;
                    data
                })
                .collect();
            let response = FetchableTopicResponse::default().with_partitions(partitions);
            if by_id {
                response.with_topic_id(topic.id)
            } else {
                response.with_topic(topic_name(&topic.name))
            }
        })
        .collect();
    Read {
        responses,
        bytes,
        has_error,
    }
}

fn read_partition(
    wanted: &Wanted,
    version: i16,
    bytes_left: usize,
    min_one: bool,
    read_committed: bool,
) -> PartitionData {
    let request = &wanted.request;
    let failed = |error: ResponseError| {
        PartitionData::default()
            .with_partition_index(request.partition)
            .with_error_code(error.code())
            .with_high_watermark(-1)
            .with_aborted_transactions(None)
    };
    let partition = match &wanted.partition {
        Ok(partition) => partition,
        Err(error) => return failed(*error),
    };
    if request.current_leader_epoch >= 0 && request.current_leader_epoch != LEADER_EPOCH {
        return failed(if request.current_leader_epoch < LEADER_EPOCH {
            ResponseError::FencedLeaderEpoch
        } else {
            ResponseError::UnknownLeaderEpoch
        });
    }
    let limit = usize::try_from(request.partition_max_bytes)
        .unwrap_or(0)
        .min(bytes_left);
    let read = if read_committed {
        partition.read_committed(request.fetch_offset, limit, min_one)
    } else {
        partition.read(request.fetch_offset, limit, min_one)
    };
    match read {
        Ok(read) => PartitionData::default()
            .with_partition_index(request.partition)
            .with_high_watermark(read.high_watermark)
            .with_last_stable_offset(read.last_stable_offset)
            .with_log_start_offset(if version >= 5 {
                read.log_start_offset
            } else {
                -1
            })
            .with_aborted_transactions(read_committed.then(|| aborted(&read.aborted)))
            .with_records(Some(concat(read.batches))),
        Err(ReadError::OffsetOutOfRange { .. }) => failed(ResponseError::OffsetOutOfRange),
        Err(ReadError::Storage(e)) => {
            tracing::error!(topic = %partition.topic, partition = partition.index, error = %e, "read failed");
            failed(ResponseError::KafkaStorageError)
        }
    }
}

fn aborted(aborted: &[AbortedTxn]) -> Vec<AbortedTransaction> {
    aborted
        .iter()
        .map(|a| {
            AbortedTransaction::default()
                .with_producer_id(ProducerId(a.producer_id))
                .with_first_offset(a.first_offset)
        })
        .collect()
}

fn concat(batches: Vec<Bytes>) -> Bytes {
    match batches.len() {
        0 => Bytes::new(),
        1 => batches.into_iter().next().unwrap_or_default(),
        _ => {
            let mut out = BytesMut::with_capacity(batches.iter().map(Bytes::len).sum());
            for batch in &batches {
                out.extend_from_slice(batch);
            }
            out.freeze()
        }
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::fetch_request::FetchTopic;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;

    /// The refusal of a whole Fetch has Kafka's shape in every version we speak, and encodes.
    #[test]
    fn a_refused_fetch_answers_in_kafkas_shape_for_each_version() {
        let request = FetchRequest::default().with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![
                FetchPartition::default().with_partition(0),
                FetchPartition::default().with_partition(1),
            ])]);
        let unknown = ResponseError::UnknownServerError.code();
        for version in 4..=16 {
            let response = refused(&request, version, ResponseError::UnknownServerError);
            let mut encoded = BytesMut::new();
            response
                .encode(&mut encoded, version)
                .unwrap_or_else(|e| panic!("v{version} encodes: {e}"));
            let top = if version >= 7 { unknown } else { 0 };
            assert_eq!(response.error_code, top, "v{version}");
            let partitions: Vec<(i32, i16, i64)> = response
                .responses
                .iter()
                .flat_map(|t| &t.partitions)
                .map(|p| (p.partition_index, p.error_code, p.high_watermark))
                .collect();
            if version >= 13 {
                assert!(partitions.is_empty(), "v{version}: {partitions:?}");
            } else {
                assert_eq!(
                    partitions,
                    [(0, unknown, -1), (1, unknown, -1)],
                    "v{version}"
                );
            }
        }
    }
}
