//! Produce (key 0): the wire side of appending. Refuses what only the wire can get wrong
//! (old versions, bad acks), hands every partition's batch to the broker's append
//! ([`crate::broker::append`]), and turns its outcomes into Kafka error codes.

use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::acl::{Operation, ResourceType};
use crate::broker::append::{AppendRequest, ProduceError};
use crate::broker::Broker;
use crate::session::RequestContext;
use crate::txn::TxnError;

/// Produce versions the crate decodes; older ones are answered UNSUPPORTED_VERSION.
const FIRST_SUPPORTED_VERSION: i16 = 3;

/// `None` when the producer asked for no acknowledgement (acks=0).
pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: ProduceRequest,
) -> Option<ProduceResponse> {
    // A transactional producer needs WRITE on its transactional id, else every partition is
    // refused (Kafka's `KafkaApis.handleProduceRequest`).
    let transactional_id_refused = request.transactional_id.as_ref().is_some_and(|id| {
        !broker.authorize(
            context,
            Operation::Write,
            ResourceType::TransactionalId,
            id.as_str(),
        )
    });
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
    } else if transactional_id_refused {
        Some((
            ResponseError::TransactionalIdAuthorizationFailed,
            "Transactional id authorization failed.",
        ))
    } else {
        None
    };
    let acks = request.acks;
    if let Some((error, message)) = refusal {
        let responses = request
            .topic_data
            .into_iter()
            .map(|topic| {
                let partitions = topic
                    .partition_data
                    .iter()
                    .map(|data| {
                        for_version(failed(data.index, error, message.to_string()), version)
                    })
                    .collect();
                TopicProduceResponse::default()
                    .with_name(topic.name)
                    .with_partition_responses(partitions)
            })
            .collect();
        return (acks != 0).then(|| ProduceResponse::default().with_responses(responses));
    }
    let mut names = Vec::with_capacity(request.topic_data.len());
    let mut append = AppendRequest {
        version,
        transactional_id: request.transactional_id.map(|id| id.to_string()),
        topics: Vec::with_capacity(request.topic_data.len()),
    };
    // Topics the principal may not WRITE are answered TOPIC_AUTHORIZATION_FAILED per
    // partition and never reach the append; before anything else, so whether such a topic
    // exists is not told. Each keeps its place in the response (`slots`).
    let mut slots: Vec<Option<TopicProduceResponse>> = Vec::with_capacity(names.capacity());
    for topic in request.topic_data {
        if !broker.authorize(context, Operation::Write, ResourceType::Topic, &topic.name) {
            let partitions = topic
                .partition_data
                .iter()
                .map(|data| {
                    for_version(
                        failed(
                            data.index,
                            ResponseError::TopicAuthorizationFailed,
                            "Topic authorization failed.".into(),
                        ),
                        version,
                    )
                })
                .collect();
            slots.push(Some(
                TopicProduceResponse::default()
                    .with_name(topic.name)
                    .with_partition_responses(partitions),
            ));
            continue;
        }
        slots.push(None);
        let partitions = topic
            .partition_data
            .into_iter()
            .map(|data| (data.index, data.records.unwrap_or_default()))
            .collect::<Vec<_>>();
        append.topics.push((topic.name.to_string(), partitions));
        names.push(topic.name);
    }
    let indexes: Vec<Vec<i32>> = append
        .topics
        .iter()
        .map(|(_, partitions)| partitions.iter().map(|(index, _)| *index).collect())
        .collect();
    let results = broker.append(append).await;
    let mut appended =
        names
            .into_iter()
            .zip(indexes)
            .zip(results)
            .map(|((name, indexes), outcomes)| {
                let partitions = indexes
                    .into_iter()
                    .zip(outcomes)
                    .map(|(index, outcome)| {
                        let response = match outcome {
                            Ok(appended) => PartitionProduceResponse::default()
                                .with_index(index)
                                .with_base_offset(appended.base_offset)
                                .with_log_append_time_ms(appended.log_append_time_ms)
                                .with_log_start_offset(appended.log_start_offset),
                            Err(ProduceError::RecordErrors {
                                errors,
                                log_start_offset,
                            }) => {
                                let message = ProduceError::RecordErrors {
                                    errors: errors.clone(),
                                    log_start_offset,
                                }
                                .to_string();
                                failed(index, ResponseError::InvalidRecord, message)
                                    .with_log_start_offset(log_start_offset)
                                    .with_record_errors(record_errors(errors))
                            }
                            Err(e) => failed(index, error_code(&e, version), e.to_string()),
                        };
                        for_version(response, version)
                    })
                    .collect();
                TopicProduceResponse::default()
                    .with_name(name)
                    .with_partition_responses(partitions)
            });
    // The appended topics fill the places left empty, in order.
    let responses = slots
        .into_iter()
        .filter_map(|slot| slot.or_else(|| appended.next()))
        .collect();
    (acks != 0).then(|| ProduceResponse::default().with_responses(responses))
}

/// From this version a transactional batch outside its transaction is TRANSACTION_ABORTABLE
/// (KIP-890); below it, INVALID_TXN_STATE.
const TRANSACTION_ABORTABLE_VERSION: i16 = 11;

/// Kafka's code for each way an append fails, in `version`'s terms.
pub fn error_code(error: &ProduceError, version: i16) -> ResponseError {
    match error {
        ProduceError::NotInTransaction if version >= TRANSACTION_ABORTABLE_VERSION => {
            ResponseError::TransactionAbortable
        }
        ProduceError::NotInTransaction => ResponseError::InvalidTxnState,
        // Kafka answers a produce whose verification could not reach the coordinator with
        // this retriable code: the producer tries again.
        ProduceError::CoordinatorUnavailable(_) => ResponseError::NotEnoughReplicas,
        ProduceError::JoinRefused(e) => join_error_code(*e),
        ProduceError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
        ProduceError::InvalidRecord(_) | ProduceError::RecordErrors { .. } => {
            ResponseError::InvalidRecord
        }
        ProduceError::CorruptMessage(_) => ResponseError::CorruptMessage,
        ProduceError::InvalidTimestamp(_) => ResponseError::InvalidTimestamp,
        ProduceError::UnsupportedCompression(_) => ResponseError::UnsupportedCompressionType,
        ProduceError::MessageTooLarge(_) => ResponseError::MessageTooLarge,
        ProduceError::TransactionalIdRequired => ResponseError::TransactionalIdAuthorizationFailed,
        ProduceError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        ProduceError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        ProduceError::Storage(_) => ResponseError::KafkaStorageError,
    }
}

/// The code of a partition the coordinator would not add to the transaction, as Kafka's
/// produce path translates the coordinator's answer: a fenced producer is told
/// INVALID_PRODUCER_EPOCH, and what the producer should simply retry (the previous
/// transaction's markers are still being written) NOT_ENOUGH_REPLICAS, which every client
/// retries without refreshing its metadata.
fn join_error_code(error: TxnError) -> ResponseError {
    match error {
        TxnError::ProducerFenced => ResponseError::InvalidProducerEpoch,
        TxnError::ConcurrentTransactions
        | TxnError::CoordinatorNotAvailable
        | TxnError::NeedsProducerId => ResponseError::NotEnoughReplicas,
        TxnError::InvalidProducerIdMapping => ResponseError::InvalidProducerIdMapping,
        TxnError::InvalidRequest => ResponseError::InvalidRequest,
        TxnError::UnknownServerError => ResponseError::UnknownServerError,
        TxnError::InvalidTxnState
        | TxnError::InvalidTransactionTimeout
        | TxnError::TransactionalIdNotFound => ResponseError::InvalidTxnState,
    }
}

/// Clears what `version` cannot carry: the log start offset (v5+) and error message (v8+).
fn for_version(mut response: PartitionProduceResponse, version: i16) -> PartitionProduceResponse {
    if version < 5 {
        response.log_start_offset = -1;
    }
    if version < 8 {
        response.error_message = None;
        response.record_errors.clear();
    }
    response
}

/// Record errors (Produce v8+), as Kafka lists them.
fn record_errors(errors: Vec<(i32, String)>) -> Vec<BatchIndexAndErrorMessage> {
    errors
        .into_iter()
        .map(|(index, why)| {
            BatchIndexAndErrorMessage::default()
                .with_batch_index(index)
                .with_batch_index_error_message(Some(StrBytes::from_string(why)))
        })
        .collect()
}

fn failed(index: i32, error: ResponseError, message: String) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(error.code())
        .with_base_offset(-1)
        .with_error_message(Some(StrBytes::from_string(message)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;
    use kafka_protocol::messages::produce_request::PartitionProduceData;

    use crate::broker::append::{validate, ZSTD};
    use crate::record::batch::BatchHeader;
    use crate::record::test_batches::{
        batch_over, compress, record, rules, valid_batch, TIMESTAMP,
    };
    use crate::record::validate::RecordRules;

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
        validate(bytes, 9, 1 << 20, &rules()).map_or_else(|e| error_code(&e, 9).code(), |_| 0)
    }

    #[test]
    fn zstd_needs_produce_v7() {
        let bytes = valid_batch(3, ZSTD);
        let refused = validate(&bytes, 6, 1 << 20, &rules()).unwrap_err();
        assert_eq!(
            error_code(&refused, 9),
            ResponseError::UnsupportedCompressionType
        );
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
            error_code(&validate(&one, 9, 10, &rules()).unwrap_err(), 9),
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
        assert_eq!(error_code(&refused, 9), ResponseError::InvalidTimestamp);
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

    /// KIP-890: producers from v11 understand TRANSACTION_ABORTABLE; older ones are told
    /// INVALID_TXN_STATE for the same refusal.
    #[test]
    fn a_batch_outside_its_transaction_is_told_in_its_versions_terms() {
        let outside = ProduceError::NotInTransaction;
        assert_eq!(error_code(&outside, 10), ResponseError::InvalidTxnState);
        assert_eq!(
            error_code(&outside, 11),
            ResponseError::TransactionAbortable
        );
    }
}
