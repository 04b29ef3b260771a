//! Produce (key 0): validate each partition's record batch header, then append it as sent.
//! Errors are per partition; the other partitions of the request still succeed.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::broker::State;
use crate::partition::{AppendError, Partition};
use crate::producer_state::SequenceError;
use crate::protocol::record_batch::{BatchError, BatchHeader};
use crate::topics::Topic;

/// Produce versions the crate decodes; older ones are answered UNSUPPORTED_VERSION.
const FIRST_SUPPORTED_VERSION: i16 = 3;

/// `None` when the producer asked for no acknowledgement (acks=0).
pub async fn handle(
    state: &State,
    version: i16,
    request: ProduceRequest,
) -> Option<ProduceResponse> {
    let refusal = if version < FIRST_SUPPORTED_VERSION {
        Some((
            ResponseError::UnsupportedVersion,
            "Produce v0-2 is not supported",
        ))
    } else if !matches!(request.acks, -1..=1) {
        Some((
            ResponseError::InvalidRequiredAcks,
            "acks must be -1, 0 or 1",
        ))
    } else if request.transactional_id.is_some() {
        Some((
            ResponseError::TransactionalIdAuthorizationFailed,
            "transactions are not supported",
        ))
    } else {
        None
    };
    // A log in memory keeps the bytes it is given, and a batch is a slice of its request's
    // frame: batches that share a frame are copied out, so retention frees each with its
    // own bytes rather than when the frame's last batch goes.
    let batches: usize = request
        .topic_data
        .iter()
        .map(|t| t.partition_data.len())
        .sum();
    let copy_batches = state.config.memory && batches > 1;
    // Partitions whose flush policy (`flush.messages`) says to fsync before acknowledging:
    // (topic position, partition position) in the response, and the partition.
    let mut to_flush: Vec<(usize, usize, Arc<Partition>)> = Vec::new();
    let mut responses: Vec<TopicProduceResponse> = Vec::with_capacity(request.topic_data.len());
    for (t, topic_data) in request.topic_data.into_iter().enumerate() {
        let topic = state.topics.get(topic_data.name.as_str());
        let mut partition_responses = Vec::with_capacity(topic_data.partition_data.len());
        for (p, data) in topic_data.partition_data.into_iter().enumerate() {
            let response = match refusal {
                Some((error, message)) => failed(data.index, error, message.to_string()),
                None => {
                    let (response, flush) =
                        produce_partition(state, version, topic.as_deref(), data, copy_batches);
                    if let Some(partition) = flush {
                        to_flush.push((t, p, partition));
                    }
                    response
                }
            };
            partition_responses.push(for_version(response, version));
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic_data.name)
                .with_partition_responses(partition_responses),
        );
    }
    for (t, p, partition) in to_flush {
        // fsync blocks: never on an async worker.
        let flushed = tokio::task::spawn_blocking(move || partition.flush()).await;
        if let Err(reason) = flushed
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            tracing::error!(%reason, "flush before acknowledging failed");
            let response = &mut responses[t].partition_responses[p];
            *response = for_version(
                failed(response.index, ResponseError::KafkaStorageError, reason),
                version,
            );
        }
    }
    (request.acks != 0).then(|| ProduceResponse::default().with_responses(responses))
}

/// Clears what `version` cannot carry: the log start offset (v5+) and error message (v8+).
fn for_version(mut response: PartitionProduceResponse, version: i16) -> PartitionProduceResponse {
    if version < 5 {
        response.log_start_offset = -1;
    }
    if version < 8 {
        response.error_message = None;
    }
    response
}

fn failed(index: i32, error: ResponseError, message: String) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(error.code())
        .with_base_offset(-1)
        .with_error_message(Some(StrBytes::from_string(message)))
}

/// Appends one partition's batch. The partition comes back when `flush.messages` says the
/// append must be fsynced before it is acknowledged.
fn produce_partition(
    state: &State,
    version: i16,
    topic: Option<&Topic>,
    data: PartitionProduceData,
    copy_batch: bool,
) -> (PartitionProduceResponse, Option<Arc<Partition>>) {
    let index = data.index;
    let Some((topic, partition)) = topic.and_then(|t| Some((t, t.partition(index)?))) else {
        let error = ResponseError::UnknownTopicOrPartition;
        let message = "this server does not host this topic-partition";
        return (failed(index, error, message.into()), None);
    };
    let records = data.records.unwrap_or_default();
    let batch = match validate(&records, version, topic.config.max_message_bytes()) {
        Ok(batch) => batch,
        Err((error, message)) => {
            tracing::debug!(topic = %topic.name, partition = index, %message, "produce refused");
            return (failed(index, error, message), None);
        }
    };
    let log_append_time = topic.config.log_append_time().then(|| state.clock.now_ms());
    let stored = if copy_batch {
        Bytes::copy_from_slice(&records)
    } else {
        records.clone()
    };
    let response = match partition.append(stored, log_append_time) {
        Ok(appended) => {
            let (flush_messages, _) = topic.config.flush_policy();
            let flush =
                (partition.unflushed_records() >= flush_messages).then(|| partition.clone());
            let response = PartitionProduceResponse::default()
                .with_index(index)
                .with_base_offset(appended.base_offset)
                .with_log_append_time_ms(appended.log_append_time_ms)
                .with_log_start_offset(appended.log_start_offset);
            return (response, flush);
        }
        Err(AppendError::Sequence(SequenceError::InvalidProducerEpoch { current })) => failed(
            index,
            ResponseError::InvalidProducerEpoch,
            format!(
                "producer epoch {} is older than {current}",
                batch.producer_epoch()
            ),
        ),
        Err(AppendError::Sequence(SequenceError::OutOfOrder { expected, got })) => failed(
            index,
            ResponseError::OutOfOrderSequenceNumber,
            format!("expected sequence {expected}, got {got}"),
        ),
        Err(AppendError::Storage(e)) => {
            tracing::error!(topic = %topic.name, partition = index, error = %e, "append failed");
            failed(index, ResponseError::KafkaStorageError, e.to_string())
        }
    };
    (response, None)
}

/// Produce v7 is the first that may carry zstd batches (KIP-110).
const FIRST_ZSTD_VERSION: i16 = 7;
const ZSTD: i16 = 4;

/// Checks a partition's records as Kafka's produce path does: exactly one v2 batch, a
/// matching CRC32C, a consistent offset range and count, a size within the topic's
/// `max.message.bytes`, and zstd only from Produce v7.
fn validate(
    records: &[u8],
    version: i16,
    max_message_bytes: usize,
) -> Result<BatchHeader<'_>, (ResponseError, String)> {
    let invalid = |message: &str| (ResponseError::InvalidRecord, message.to_string());
    let batch = BatchHeader::parse_checked(records).map_err(|e| match e {
        BatchError::UnsupportedMagic(_) => (ResponseError::InvalidRecord, e.to_string()),
        BatchError::Truncated | BatchError::CrcMismatch { .. } | BatchError::Invalid(_) => {
            (ResponseError::CorruptMessage, e.to_string())
        }
    })?;
    if batch.compression() == ZSTD && version < FIRST_ZSTD_VERSION {
        return Err((
            ResponseError::UnsupportedCompressionType,
            format!("Produce v{version} may not carry zstd batches (v{FIRST_ZSTD_VERSION}+ may)"),
        ));
    }
    if batch.size() != records.len() {
        return Err(invalid(
            "a produce request must hold exactly one record batch per partition",
        ));
    }
    if batch.size() > max_message_bytes {
        return Err((
            ResponseError::MessageTooLarge,
            format!(
                "record batch of {} bytes is larger than max.message.bytes {max_message_bytes}",
                batch.size()
            ),
        ));
    }
    if batch.record_count() <= 0
        || i64::from(batch.record_count()) != i64::from(batch.last_offset_delta()) + 1
    {
        return Err(invalid(
            "record count does not match the batch's offset range",
        ));
    }
    if batch.producer_id() >= 0 && batch.base_sequence() < 0 {
        return Err(invalid("an idempotent batch must carry a sequence number"));
    }
    if batch.is_transactional() || batch.is_control() {
        return Err((
            ResponseError::InvalidTxnState,
            "transactional batches are not supported".into(),
        ));
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::record_batch::tests::batch;

    /// A batch whose attributes say zstd (the records themselves are opaque here).
    fn zstd_batch() -> Vec<u8> {
        let mut bytes = batch(0, 0, 1, b"payload");
        bytes[22] = ZSTD as u8;
        let crc = crc32c::crc32c(&bytes[21..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    /// A request for topic `t`, partitions 0 and (with `partitions` 2) 1, whose batches are
    /// `frame` cut at `cut`: slices of one frame, as the decoder makes them.
    fn request_from_one_frame(frame: &Bytes, cut: usize, partitions: i32) -> ProduceRequest {
        use kafka_protocol::messages::produce_request::TopicProduceData;
        use kafka_protocol::messages::TopicName;
        let parts = [frame.slice(..cut), frame.slice(cut..)];
        let partition_data = (0..partitions)
            .map(|p| {
                PartitionProduceData::default()
                    .with_index(p)
                    .with_records(Some(parts[p as usize].clone()))
            })
            .collect();
        ProduceRequest::default()
            .with_acks(1)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partition_data(partition_data)])
    }

    /// In memory, batches that share a frame are stored as copies, so the frame is not kept
    /// alive by whichever of them is deleted last; a batch alone in its frame is stored as
    /// it came.
    #[tokio::test]
    async fn in_memory_batches_sharing_a_frame_do_not_keep_it() {
        let broker = crate::broker::Broker::start(crate::config::Config::for_tests())
            .await
            .unwrap();
        let state = broker.state().clone();
        state
            .topics
            .create(crate::topics::NewTopic {
                name: "t".into(),
                partitions: 2,
                configs: Default::default(),
            })
            .unwrap();
        let first = batch(0, 0, 1, b"first");
        let mut frame = first.clone();
        frame.extend(batch(0, 0, 1, b"second"));
        let frame = Bytes::from(frame);

        let response = handle(&state, 9, request_from_one_frame(&frame, first.len(), 2))
            .await
            .unwrap();
        let codes: Vec<i16> = response.responses[0]
            .partition_responses
            .iter()
            .map(|p| p.error_code)
            .collect();
        assert_eq!(codes, [0, 0]);
        assert!(
            frame.is_unique(),
            "both batches were copied out of the frame"
        );

        let alone = Bytes::from(batch(0, 0, 1, b"alone"));
        handle(&state, 9, request_from_one_frame(&alone, alone.len(), 1))
            .await
            .unwrap();
        assert!(
            !alone.is_unique(),
            "a batch alone in its frame is kept as sent"
        );
        broker.shutdown().await;
    }

    #[test]
    fn zstd_needs_produce_v7() {
        let bytes = zstd_batch();
        let refused = validate(&bytes, 6, 1 << 20).unwrap_err();
        assert_eq!(refused.0, ResponseError::UnsupportedCompressionType);
        assert_eq!(validate(&bytes, 7, 1 << 20).unwrap().compression(), ZSTD);
    }

    #[test]
    fn two_batches_and_oversized_batches_are_refused() {
        let mut two = batch(0, 0, 1, b"a");
        two.extend(batch(0, 0, 1, b"b"));
        assert_eq!(
            validate(&two, 9, 1 << 20).unwrap_err().0,
            ResponseError::InvalidRecord
        );
        let one = batch(0, 0, 1, b"abc");
        assert_eq!(
            validate(&one, 9, 10).unwrap_err().0,
            ResponseError::MessageTooLarge
        );
        assert_eq!(
            validate(&one[..30], 9, 1 << 20).unwrap_err().0,
            ResponseError::CorruptMessage
        );
    }
}
