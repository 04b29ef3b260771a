//! Produce (key 0): validate each partition's record batch — header, CRC, then its records —
//! and append it as sent (with its max timestamp corrected, as Kafka does). Errors are per
//! partition; the other partitions of the request still succeed.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::partition::{AppendError, Partition};
use crate::producer_state::SequenceError;
use crate::record::batch::{BatchError, BatchHeader, LOG_OVERHEAD};
use crate::record::validate::{self as record_validate, RecordError, RecordRules};
use crate::session::RequestContext;
use crate::topics::Topic;

/// Produce versions the crate decodes; older ones are answered UNSUPPORTED_VERSION.
const FIRST_SUPPORTED_VERSION: i16 = 3;

/// `None` when the producer asked for no acknowledgement (acks=0).
pub async fn handle(
    broker: &Broker,
    _context: &RequestContext<'_>,
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
    let copy_batches = broker.config().memory && batches > 1;
    let transactional = request.transactional_id.is_some();
    // Partitions whose flush policy (`flush.messages`) says to fsync before acknowledging:
    // (topic position, partition position) in the response, and the partition.
    let mut to_flush: Vec<(usize, usize, Arc<Partition>)> = Vec::new();
    let mut responses: Vec<TopicProduceResponse> = Vec::with_capacity(request.topic_data.len());
    for (t, topic_data) in request.topic_data.into_iter().enumerate() {
        let topic = broker.topics().get(topic_data.name.as_str());
        let mut partition_responses = Vec::with_capacity(topic_data.partition_data.len());
        for (p, data) in topic_data.partition_data.into_iter().enumerate() {
            let response = match refusal {
                Some((error, message)) => failed(data.index, error, message.to_string()),
                None => {
                    let (response, flush) = produce_partition(
                        broker,
                        version,
                        topic.as_deref(),
                        data,
                        copy_batches,
                        transactional,
                    );
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
/// append must be fsynced before it is acknowledged. A transactional batch needs a request
/// with a transactional id (`transactional`), as in Kafka.
fn produce_partition(
    broker: &Broker,
    version: i16,
    topic: Option<&Topic>,
    data: PartitionProduceData,
    copy_batch: bool,
    transactional: bool,
) -> (PartitionProduceResponse, Option<Arc<Partition>>) {
    let index = data.index;
    let Some((topic, partition)) = topic.and_then(|t| Some((t, t.partition(index)?))) else {
        let error = ResponseError::UnknownTopicOrPartition;
        let message = "this server does not host this topic-partition";
        return (failed(index, error, message.into()), None);
    };
    let records = data.records.unwrap_or_default();
    let max_message_bytes = topic.config.max_message_bytes();
    let log_append_time = topic.config.log_append_time();
    let now_ms = broker.clock().now_ms();
    let rules = RecordRules::for_topic(
        topic.config.overrides(),
        max_message_bytes,
        log_append_time,
        now_ms,
    );
    let (batch, max_timestamp) = match validate(&records, version, max_message_bytes, &rules) {
        Ok(validated) => validated,
        Err((error, message)) => {
            tracing::debug!(topic = %topic.name, partition = index, %message, "produce refused");
            return (failed(index, error, message), None);
        }
    };
    if batch.is_transactional() && !transactional {
        let error = ResponseError::TransactionalIdAuthorizationFailed;
        let message = "a transactional batch needs a transactional id";
        return (failed(index, error, message.into()), None);
    }
    // Kafka stores the largest record timestamp as the batch's, whatever the producer wrote:
    // the time index and time-based retention trust it.
    let fix_max_timestamp = !log_append_time && max_timestamp != batch.max_timestamp();
    let stored = if fix_max_timestamp {
        let mut copy = records.to_vec();
        record_validate::set_max_timestamp(&mut copy, max_timestamp);
        Bytes::from(copy)
    } else if copy_batch {
        Bytes::copy_from_slice(&records)
    } else {
        records.clone()
    };
    let log_append_time = log_append_time.then_some(now_ms);
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

/// What Kafka's batch reader makes of the bytes before looking inside a batch: fewer bytes
/// than a length prefix, or a length reaching past the bytes present, is no batch at all
/// (`INVALID_RECORD`: a partition must carry one); a length below the smallest record is
/// damage (`CORRUPT_MESSAGE`).
fn no_batch_at_all(records: &[u8]) -> Result<(), (ResponseError, String)> {
    /// The smallest record of any format (Kafka's `RECORD_OVERHEAD_V0`).
    const SMALLEST_RECORD_BYTES: i32 = 14;
    let Some(length) = records.get(8..12) else {
        return Err((
            ResponseError::InvalidRecord,
            "a produce request must hold one record batch per partition; this one holds none"
                .into(),
        ));
    };
    let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
    if length < SMALLEST_RECORD_BYTES {
        return Err((
            ResponseError::CorruptMessage,
            format!("record batch length {length} is below the smallest record"),
        ));
    }
    let fits = usize::try_from(length)
        .ok()
        .and_then(|l| l.checked_add(LOG_OVERHEAD))
        .is_some_and(|size| size <= records.len());
    if !fits {
        return Err((
            ResponseError::InvalidRecord,
            format!(
                "the record batch of {length} bytes reaches past the {} bytes sent",
                records.len()
            ),
        ));
    }
    Ok(())
}

/// Checks a partition's records as Kafka's produce path does: exactly one v2 batch, a
/// matching CRC32C, a consistent offset range and count, a size within the topic's
/// `max.message.bytes`, zstd only from Produce v7, and then every record (`rules`). Returns
/// the batch and its largest record timestamp.
fn validate<'a>(
    records: &'a [u8],
    version: i16,
    max_message_bytes: usize,
    rules: &RecordRules,
) -> Result<(BatchHeader<'a>, i64), (ResponseError, String)> {
    let invalid = |message: &str| (ResponseError::InvalidRecord, message.to_string());
    no_batch_at_all(records)?;
    let batch = BatchHeader::parse_checked(records).map_err(|e| match e {
        // Kafka knows magic 0 and 1 (refused from Produce v3) and takes any other for damage.
        BatchError::UnsupportedMagic(0 | 1) => (ResponseError::InvalidRecord, e.to_string()),
        BatchError::UnsupportedMagic(_) => (ResponseError::CorruptMessage, e.to_string()),
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
    if batch.is_control() {
        return Err(invalid("clients may not write control batches"));
    }
    let checked = record_validate::check_records(&batch, rules).map_err(|e| match e {
        RecordError::Invalid(why) => (ResponseError::InvalidRecord, why),
        RecordError::Corrupt(why) => (ResponseError::CorruptMessage, why),
        RecordError::Timestamp(why) => (ResponseError::InvalidTimestamp, why),
    })?;
    Ok((batch, checked.max_timestamp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_batches::{
        batch_over, compress, record, rules, valid_batch, TIMESTAMP,
    };

    /// A well-formed uncompressed batch of one record holding `value`.
    fn batch(value: &[u8]) -> Vec<u8> {
        batch_over(&record(0, 0, None, Some(value), &[]), 1, 0, TIMESTAMP)
    }

    fn with_attributes(mut bytes: Vec<u8>, bits: u8) -> Vec<u8> {
        bytes[22] |= bits;
        let crc = crc32c::crc32c(&bytes[21..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    /// The context of a request from a plaintext client.
    fn context() -> RequestContext<'static> {
        static SESSION: std::sync::LazyLock<crate::session::Session> =
            std::sync::LazyLock::new(|| {
                crate::session::Session::new(
                    crate::session::PLAINTEXT_LISTENER,
                    std::net::SocketAddr::from(([127, 0, 0, 1], 40000)),
                )
            });
        RequestContext::new(&SESSION, "produce-test")
    }

    async fn broker_with_topic(partitions: i32) -> (crate::node::Node, Arc<Broker>) {
        let node = crate::node::Node::start(crate::config::Config::for_tests())
            .await
            .unwrap();
        let broker = node.broker().clone();
        broker
            .topics()
            .create(crate::topics::NewTopic {
                name: "t".into(),
                partitions,
                configs: Default::default(),
            })
            .unwrap();
        (node, broker)
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
        let (node, broker) = broker_with_topic(2).await;
        let first = batch(b"first");
        let mut frame = first.clone();
        frame.extend(batch(b"second"));
        let frame = Bytes::from(frame);

        let response = handle(
            &broker,
            &context(),
            9,
            request_from_one_frame(&frame, first.len(), 2),
        )
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

        let alone = Bytes::from(batch(b"alone"));
        handle(
            &broker,
            &context(),
            9,
            request_from_one_frame(&alone, alone.len(), 1),
        )
        .await
        .unwrap();
        assert!(
            !alone.is_unique(),
            "a batch alone in its frame is kept as sent"
        );
        node.shutdown().await;
    }

    /// The error code `validate` answers `bytes` with (0 when it passes).
    fn code(bytes: &[u8]) -> i16 {
        validate(bytes, 9, 1 << 20, &rules()).map_or_else(|(e, _)| e.code(), |_| 0)
    }

    #[test]
    fn zstd_needs_produce_v7() {
        let bytes = valid_batch(3, ZSTD);
        let refused = validate(&bytes, 6, 1 << 20, &rules()).unwrap_err();
        assert_eq!(refused.0, ResponseError::UnsupportedCompressionType);
        let (batch, _) = validate(&bytes, 7, 1 << 20, &rules()).unwrap();
        assert_eq!(batch.compression(), ZSTD);
    }

    #[test]
    fn two_batches_and_oversized_batches_are_refused() {
        let mut two = batch(b"a");
        two.extend(batch(b"b"));
        assert_eq!(code(&two), ResponseError::InvalidRecord.code());
        let one = batch(b"abc");
        assert_eq!(
            validate(&one, 9, 10, &rules()).unwrap_err().0,
            ResponseError::MessageTooLarge
        );
        // Cut short, the bytes hold no whole batch: Kafka says INVALID_RECORD (the
        // differential suite checks it against Kafka); a length below any record is damage.
        assert_eq!(code(&one[..30]), ResponseError::InvalidRecord.code());
        assert_eq!(code(&[0; 10]), ResponseError::InvalidRecord.code());
        let mut tiny = one.clone();
        tiny[8..12].copy_from_slice(&5i32.to_be_bytes());
        assert_eq!(code(&tiny), ResponseError::CorruptMessage.code());
    }

    #[test]
    fn record_refusals_answer_kafkas_codes() {
        // The header counts 2 records over the bytes of 1: INVALID_RECORD.
        let miscounted = batch_over(&record(0, 0, None, Some(b"v"), &[]), 2, 0, TIMESTAMP);
        assert_eq!(code(&miscounted), ResponseError::InvalidRecord.code());
        // An lz4 batch whose payload is not lz4: CORRUPT_MESSAGE.
        let garbage = batch_over(&[7; 40], 1, 3, TIMESTAMP);
        assert_eq!(code(&garbage), ResponseError::CorruptMessage.code());
        // A timestamp a day ahead on a topic that allows an hour: INVALID_TIMESTAMP.
        let mut overrides = std::collections::BTreeMap::new();
        overrides.insert("message.timestamp.after.max.ms".into(), "3600000".into());
        let bounded = RecordRules::for_topic(&overrides, 1 << 20, false, TIMESTAMP);
        let ahead = batch_over(
            &compress(1, &record(0, 86_400_000, None, Some(b"v"), &[])),
            1,
            1,
            TIMESTAMP + 86_400_000,
        );
        let refused = validate(&ahead, 9, 1 << 20, &bounded).unwrap_err();
        assert_eq!(refused.0, ResponseError::InvalidTimestamp);
        assert_eq!(code(&ahead), 0, "without the bound it passes");
        // Control batches from a client are refused; a transactional batch is valid (the
        // request must carry a transactional id, checked before the append).
        let control = with_attributes(batch(b"v"), 0x20);
        assert_eq!(code(&control), ResponseError::InvalidRecord.code());
        let transactional = with_attributes(batch(b"v"), 0x10);
        assert_eq!(code(&transactional), 0);
    }

    /// A producer's max timestamp is replaced by its records' largest, as Kafka does: the time
    /// index and retention trust it.
    #[tokio::test]
    async fn the_stored_max_timestamp_is_the_records() {
        let (node, broker) = broker_with_topic(1).await;
        let mut payload = record(0, 5, None, Some(b"a"), &[]);
        payload.extend(record(1, 2, None, Some(b"b"), &[]));
        let lying = Bytes::from(batch_over(&payload, 2, 0, i64::MAX));
        let response = handle(
            &broker,
            &context(),
            9,
            request_from_one_frame(&lying, lying.len(), 1),
        )
        .await
        .unwrap();
        assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
        let topic = broker.topics().get("t").unwrap();
        let read = topic.partition(0).unwrap().read(0, 1 << 20, true).unwrap();
        let stored = BatchHeader::parse_checked(&read.batches[0]).unwrap();
        assert_eq!(stored.max_timestamp(), TIMESTAMP + 5);
        node.shutdown().await;
    }
}
