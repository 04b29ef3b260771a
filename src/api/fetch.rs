//! Fetch (key 1): translates a fetch to the domain's read ([`Broker::read`], which owns
//! the limits and the long-poll wait) and its results to the wire.
//!
//! Fetch sessions (KIP-227) are answered the sessionless way: a request for a new session
//! gets session id 0, which tells the client to keep sending full requests.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};
use kafka_protocol::ResponseError;

use super::topic_name;
use crate::acl::{Operation, ResourceType};
use crate::broker::read::{FetchError, Isolation, PartitionRead, ReadRequest, TopicRef, Unlocated};
use crate::broker::Broker;
use crate::partition::{AbortedTxn, ReadResult};
use crate::session::RequestContext;

/// Fetch v13 names topics by id instead of by name.
const FIRST_TOPIC_ID_VERSION: i16 = 13;
const READ_UNCOMMITTED: i8 = 0;
const READ_COMMITTED: i8 = 1;
/// Fetch v7 added the top-level error code.
const FIRST_TOP_LEVEL_ERROR_VERSION: i16 = 7;
/// Fetch v5 added the log start offset.
const FIRST_LOG_START_VERSION: i16 = 5;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
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
    let partitions: Vec<PartitionRead> = request
        .topics
        .iter()
        .flat_map(|topic| {
            let name = if by_id {
                TopicRef::Id(topic.topic_id)
            } else {
                TopicRef::Name(topic.topic.as_str())
            };
            let readable = may_read(broker, context, name);
            topic.partitions.iter().map(move |p| (name, readable, p))
        })
        .map(|(name, readable, p)| {
            let mut read = partition_read(broker, name, p);
            if !readable {
                read.partition = Err(Unlocated::TopicAuthorizationFailed);
            }
            read
        })
        .collect();
    let isolation = match request.isolation_level {
        READ_UNCOMMITTED => Isolation::ReadUncommitted,
        READ_COMMITTED => Isolation::ReadCommitted,
        // Kafka's `IsolationLevel.forId` throws for any other id, once a partition is to be
        // read; the request's error response carries UNKNOWN_SERVER_ERROR. With nothing
        // readable, Kafka never asks, and answers the partitions' own errors.
        level if partitions.iter().any(|p| p.partition.is_ok()) => {
            tracing::debug!(
                isolation_level = level,
                "fetch refused: unknown isolation level"
            );
            return refused(&request, version, ResponseError::UnknownServerError);
        }
        _ => Isolation::ReadUncommitted,
    };
    let read = ReadRequest {
        partitions,
        isolation,
        min_bytes: usize::try_from(request.min_bytes).unwrap_or(0),
        max_bytes: usize::try_from(request.max_bytes).unwrap_or(0),
        max_wait_ms: u64::try_from(request.max_wait_ms).unwrap_or(0),
    };
    let read = broker.read(read).await;
    context.hold(read.memory);
    let mut results = read.results.into_iter();
    let responses = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let result = results
                        .next()
                        .unwrap_or(Err(FetchError::UnknownTopicOrPartition));
                    partition_data(p.partition, result, version, isolation)
                })
                .collect();
            let response = FetchableTopicResponse::default().with_partitions(partitions);
            if by_id {
                response.with_topic_id(topic.topic_id)
            } else {
                response.with_topic(topic_name(topic.topic.as_str()))
            }
        })
        .collect();
    FetchResponse::default().with_responses(responses)
}

/// Whether the principal may READ the topic (Kafka's `KafkaApis.handleFetchRequest`); a topic
/// id no topic has is left to answer UNKNOWN_TOPIC_ID, as Kafka does before authorizing.
fn may_read(broker: &Broker, context: &RequestContext<'_>, topic: TopicRef<'_>) -> bool {
    let name = match topic {
        TopicRef::Name(name) => name.to_string(),
        TopicRef::Id(id) => match broker.topics().get_by_id(&id) {
            Some(topic) => topic.name.clone(),
            None => return true,
        },
    };
    broker.authorize(context, Operation::Read, ResourceType::Topic, &name)
}

fn partition_read(broker: &Broker, topic: TopicRef<'_>, p: &FetchPartition) -> PartitionRead {
    PartitionRead {
        partition: broker.locate(topic, p.partition),
        offset: p.fetch_offset,
        max_bytes: usize::try_from(p.partition_max_bytes).unwrap_or(0),
        current_leader_epoch: p.current_leader_epoch,
    }
}

fn partition_data(
    index: i32,
    result: Result<ReadResult, FetchError>,
    version: i16,
    isolation: Isolation,
) -> PartitionData {
    let read = match result {
        Ok(read) => read,
        Err(error) => {
            return PartitionData::default()
                .with_partition_index(index)
                .with_error_code(error_code(&error).code())
                .with_high_watermark(-1)
                .with_aborted_transactions(None)
        }
    };
    let read_committed = isolation == Isolation::ReadCommitted;
    PartitionData::default()
        .with_partition_index(index)
        .with_high_watermark(read.high_watermark)
        .with_last_stable_offset(read.last_stable_offset)
        .with_log_start_offset(if version >= FIRST_LOG_START_VERSION {
            read.log_start_offset
        } else {
            -1
        })
        .with_aborted_transactions(read_committed.then(|| aborted(&read.aborted)))
        .with_records(Some(concat(read.batches)))
}

/// Kafka's code for each way a partition's read fails.
fn error_code(error: &FetchError) -> ResponseError {
    match error {
        FetchError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
        FetchError::UnknownTopicId => ResponseError::UnknownTopicId,
        FetchError::TopicAuthorizationFailed => ResponseError::TopicAuthorizationFailed,
        FetchError::FencedLeaderEpoch => ResponseError::FencedLeaderEpoch,
        FetchError::UnknownLeaderEpoch => ResponseError::UnknownLeaderEpoch,
        FetchError::OffsetOutOfRange => ResponseError::OffsetOutOfRange,
        FetchError::Storage(_) => ResponseError::KafkaStorageError,
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
