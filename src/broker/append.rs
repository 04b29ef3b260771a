//! Appending producers' record batches: the rules of Kafka's produce path, whoever calls them
//! (the Kafka handler today; the CLI and the HTTP admin later). Each partition's batch is
//! validated — header, CRC, then its records — and appended as sent (its max timestamp
//! corrected, as Kafka does); partitions whose `flush.messages` policy says so are fsynced
//! together before any answer. Errors are per partition; the others still succeed. A
//! transactional batch is appended only to a partition its producer's open transaction
//! holds, asked of the transaction coordinator first.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use bytes::Bytes;

use super::Broker;
use crate::partition::{AppendError, Appended, Partition};
use crate::producer_state::SequenceError;
use crate::record::batch::{BatchError, BatchHeader, LOG_OVERHEAD};
use crate::record::validate::{self as record_validate, RecordError, RecordRules};
use crate::topics::Topic;
use crate::txn::{ProducerIdAndEpoch, TxnError};

/// Kafka's summary of record errors (`LogValidator`'s), the partition's error message.
fn record_errors_message(errors: &[(i32, String)]) -> String {
    let shown: Vec<String> = errors
        .iter()
        .take(3)
        .map(|(index, why)| format!("RecordError(batchIndex={index}, message='{why}')"))
        .collect();
    format!(
        "One or more records have been rejected due to {} record errors in total, and only \
         showing the first three errors at most: [{}]",
        errors.len(),
        shown.join(", ")
    )
}

/// Why a partition's batch was not appended. The messages are what the client is told.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("this server does not host this topic-partition")]
    UnknownTopicOrPartition,
    #[error("{0}")]
    InvalidRecord(String),
    /// Records refused one by one (INVALID_RECORD with record errors): each record's index in
    /// its batch and why, and the partition's log start offset, which Kafka reports with them.
    #[error("{}", record_errors_message(.errors))]
    RecordErrors {
        errors: Vec<(i32, String)>,
        log_start_offset: i64,
    },
    #[error("{0}")]
    CorruptMessage(String),
    #[error("{0}")]
    InvalidTimestamp(String),
    #[error("{0}")]
    UnsupportedCompression(String),
    #[error("{0}")]
    MessageTooLarge(String),
    #[error("a transactional batch needs a transactional id")]
    TransactionalIdRequired,
    /// A transactional batch for a partition its producer's open transaction does not hold
    /// (never added, or the transaction ended): appending it would open a transaction no
    /// marker ever closes.
    #[error("the partition is not in the producer's open transaction")]
    NotInTransaction,
    #[error("the transaction coordinator cannot be asked: {0}")]
    CoordinatorUnavailable(String),
    /// The coordinator would not add the partition to the producer's transaction (a
    /// produce of transaction version 2, which joins implicitly).
    #[error("the partition cannot join the transaction: {0}")]
    JoinRefused(TxnError),
    #[error("producer epoch {sent} is older than {current}")]
    InvalidProducerEpoch { sent: i16, current: i16 },
    #[error("expected sequence {expected}, got {got}")]
    OutOfOrderSequence { expected: i32, got: i32 },
    #[error("{0}")]
    Storage(#[source] io::Error),
}

/// One produce request's batches, by topic name and partition.
#[derive(Debug, Default)]
pub struct AppendRequest {
    /// The producer's protocol version (zstd needs v7+; from v12 a transactional batch
    /// joins its transaction).
    pub version: i16,
    /// The transactional id the request carries.
    pub transactional_id: Option<String>,
    pub topics: Vec<(String, Vec<(i32, Bytes)>)>,
}

/// A partition's place in a request: its topic's index, then its own.
type Place = (usize, usize);
/// A topic name and partition index.
type TopicPartition = (String, i32);

/// Each partition's outcome, in the request's order.
pub type AppendResults = Vec<Vec<Result<Appended, ProduceError>>>;

impl Broker {
    /// Validates and appends every batch of `request`, then fsyncs the partitions whose
    /// flush policy asks for it before returning: a result that says appended is durable as
    /// the topic's policy promises.
    pub async fn append(&self, request: AppendRequest) -> AppendResults {
        let batches: usize = request.topics.iter().map(|(_, p)| p.len()).sum();
        // A log in memory keeps the bytes it is given, and a batch is a slice of its
        // request's frame: batches that share a frame are copied out, so retention frees each
        // with its own bytes rather than when the frame's last batch goes.
        let copy = self.config().memory && batches > 1;
        let mut to_flush: Vec<(usize, usize, Arc<Partition>)> = Vec::new();
        let mut results: AppendResults = Vec::with_capacity(request.topics.len());
        let mut refused = match &request.transactional_id {
            Some(id) => {
                self.outside_transaction(id, &request.topics, request.version)
                    .await
            }
            None => HashMap::new(),
        };
        let transactional = request.transactional_id.is_some();
        for (t, (name, partitions)) in request.topics.into_iter().enumerate() {
            let topic = self.topics().get(&name);
            let mut topic_results = Vec::with_capacity(partitions.len());
            for (p, (index, records)) in partitions.into_iter().enumerate() {
                if let Some(error) = refused.remove(&(t, p)) {
                    topic_results.push(Err(error));
                    continue;
                }
                let appended = self.append_batch(
                    topic.as_deref(),
                    index,
                    records,
                    request.version,
                    transactional,
                    copy,
                );
                topic_results.push(appended.map(|(appended, flush)| {
                    if let Some(partition) = flush {
                        to_flush.push((t, p, partition));
                    }
                    appended
                }));
            }
            results.push(topic_results);
        }
        for (t, p, partition) in to_flush {
            // fsync blocks: never on an async worker.
            let flushed = tokio::task::spawn_blocking(move || partition.flush()).await;
            let failed = match flushed {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(e) => Some(io::Error::other(e.to_string())),
            };
            if let Some(e) = failed {
                tracing::error!(error = %e, "flush before acknowledging failed");
                results[t][p] = Err(ProduceError::Storage(e));
            }
        }
        results
    }

    /// The transactional batches of `topics` (by their places in the request) that their
    /// producer's transaction does not hold, each with its error: Kafka's verification
    /// before a transactional append. One question to the coordinator per producer. From
    /// Produce v12 (transaction version 2) the question adds the partitions that exist to
    /// the transaction instead.
    async fn outside_transaction(
        &self,
        transactional_id: &str,
        topics: &[(String, Vec<(i32, Bytes)>)],
        version: i16,
    ) -> HashMap<Place, ProduceError> {
        let mut by_producer: HashMap<ProducerIdAndEpoch, Vec<(Place, TopicPartition)>> =
            HashMap::new();
        for (t, (name, partitions)) in topics.iter().enumerate() {
            for (p, (index, records)) in partitions.iter().enumerate() {
                // What does not parse is refused by validation later, with its own code.
                let Ok(batch) = BatchHeader::parse(records) else {
                    continue;
                };
                if batch.is_transactional() {
                    let producer = ProducerIdAndEpoch {
                        producer_id: batch.producer_id(),
                        epoch: batch.producer_epoch(),
                    };
                    let place = ((t, p), (name.clone(), *index));
                    by_producer.entry(producer).or_default().push(place);
                }
            }
        }
        let mut refused = HashMap::new();
        for (producer, places) in by_producer {
            let (at, partitions): (Vec<_>, Vec<_>) = places.into_iter().unzip();
            if version >= FIRST_JOINING_VERSION {
                // A partition that does not exist is refused by the append with its own code.
                let (at, partitions): (Vec<_>, Vec<_>) = at
                    .into_iter()
                    .zip(partitions)
                    .filter(|(_, (topic, index))| {
                        self.topics()
                            .get(topic)
                            .is_some_and(|t| t.partition(*index).is_some())
                    })
                    .unzip();
                if partitions.is_empty() {
                    continue;
                }
                let joined = self
                    .join_transaction(transactional_id, producer, partitions)
                    .await;
                if let Err(e) = joined {
                    refused.extend(at.into_iter().map(|at| (at, ProduceError::JoinRefused(e))));
                }
                continue;
            }
            let id = transactional_id.to_string();
            match self.txns().writes_to(id, producer, partitions).await {
                Ok(held) => refused.extend(
                    at.into_iter()
                        .zip(held)
                        .filter(|(_, held)| !held)
                        .map(|(at, _)| (at, ProduceError::NotInTransaction)),
                ),
                Err(e) => refused.extend(
                    at.into_iter()
                        .map(|at| (at, ProduceError::CoordinatorUnavailable(e.to_string()))),
                ),
            }
        }
        refused
    }

    /// Appends one partition's batch. The partition comes back when `flush.messages` says
    /// the append must be fsynced before it is acknowledged.
    fn append_batch(
        &self,
        topic: Option<&Topic>,
        index: i32,
        records: Bytes,
        version: i16,
        transactional: bool,
        copy_batch: bool,
    ) -> Result<(Appended, Option<Arc<Partition>>), ProduceError> {
        let Some((topic, partition)) = topic.and_then(|t| Some((t, t.partition(index)?))) else {
            return Err(ProduceError::UnknownTopicOrPartition);
        };
        let max_message_bytes = topic.config.max_message_bytes();
        let log_append_time = topic.config.log_append_time();
        let now_ms = self.clock().now_ms();
        let mut rules = RecordRules::for_topic(
            topic.config.overrides(),
            max_message_bytes,
            log_append_time,
            now_ms,
        );
        // The effective policy, which may come from the broker's `log_cleanup_policy`.
        rules.keys_required = topic.config.cleanup_policy_compacts();
        let (batch, max_timestamp) = validate(&records, version, max_message_bytes, &rules)
            .map_err(|e| match e {
                // Kafka names the partition in these, and reports the log start offset.
                ProduceError::RecordErrors { errors, .. } => ProduceError::RecordErrors {
                    errors: errors
                        .into_iter()
                        .map(|(i, why)| (i, format!("{why} {}-{index}", topic.name)))
                        .collect(),
                    log_start_offset: partition.ends().log_start_offset,
                },
                other => other,
            })
            .inspect_err(|e| {
                tracing::debug!(topic = %topic.name, partition = index, error = %e, "produce refused");
            })?;
        if batch.is_transactional() && !transactional {
            return Err(ProduceError::TransactionalIdRequired);
        }
        // Kafka stores the largest record timestamp as the batch's, whatever the producer
        // wrote: the time index and time-based retention trust it.
        let fix_max_timestamp = !log_append_time && max_timestamp != batch.max_timestamp();
        let sent_epoch = batch.producer_epoch();
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
        match partition.append(stored, log_append_time) {
            Ok(appended) => {
                let (flush_messages, _) = topic.config.flush_policy();
                let flush =
                    (partition.unflushed_records() >= flush_messages).then(|| partition.clone());
                Ok((appended, flush))
            }
            Err(AppendError::Sequence(SequenceError::InvalidProducerEpoch { current })) => {
                Err(ProduceError::InvalidProducerEpoch {
                    sent: sent_epoch,
                    current,
                })
            }
            Err(AppendError::Sequence(SequenceError::OutOfOrder { expected, got })) => {
                Err(ProduceError::OutOfOrderSequence { expected, got })
            }
            Err(AppendError::Malformed(e)) => Err(ProduceError::CorruptMessage(e.to_string())),
            Err(AppendError::Storage(e)) => {
                tracing::error!(topic = %topic.name, partition = index, error = %e, "append failed");
                Err(ProduceError::Storage(e))
            }
        }
    }
}

/// From this Produce version a transactional batch joins its producer's transaction
/// (transaction version 2, KIP-890); before it, the producer must have added the partition.
pub const FIRST_JOINING_VERSION: i16 = 12;

/// Produce v7 is the first that may carry zstd batches (KIP-110).
const FIRST_ZSTD_VERSION: i16 = 7;
pub(crate) const ZSTD: i16 = 4;

/// What Kafka's batch reader makes of the bytes before looking inside a batch: fewer bytes
/// than a length prefix, or a length reaching past the bytes present, is no batch at all
/// (`INVALID_RECORD`: a partition must carry one); a length below the smallest record is
/// damage (`CORRUPT_MESSAGE`).
fn no_batch_at_all(records: &[u8]) -> Result<(), ProduceError> {
    /// The smallest record of any format (Kafka's `RECORD_OVERHEAD_V0`).
    const SMALLEST_RECORD_BYTES: i32 = 14;
    let Some(length) = records.get(8..12) else {
        return Err(ProduceError::InvalidRecord(
            "a produce request must hold one record batch per partition; this one holds none"
                .into(),
        ));
    };
    let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
    if length < SMALLEST_RECORD_BYTES {
        return Err(ProduceError::CorruptMessage(format!(
            "record batch length {length} is below the smallest record"
        )));
    }
    let fits = usize::try_from(length)
        .ok()
        .and_then(|l| l.checked_add(LOG_OVERHEAD))
        .is_some_and(|size| size <= records.len());
    if !fits {
        return Err(ProduceError::InvalidRecord(format!(
            "the record batch of {length} bytes reaches past the {} bytes sent",
            records.len()
        )));
    }
    Ok(())
}

/// Checks a partition's records as Kafka's produce path does: exactly one v2 batch, a
/// matching CRC32C, a consistent offset range and count, a size within the topic's
/// `max.message.bytes`, zstd only from Produce v7, and then every record (`rules`). Returns
/// the batch and its largest record timestamp.
pub(crate) fn validate<'a>(
    records: &'a [u8],
    version: i16,
    max_message_bytes: usize,
    rules: &RecordRules,
) -> Result<(BatchHeader<'a>, i64), ProduceError> {
    let invalid = |message: &str| ProduceError::InvalidRecord(message.to_string());
    no_batch_at_all(records)?;
    let batch = BatchHeader::parse_checked(records).map_err(|e| match e {
        // Kafka knows magic 0 and 1 (refused from Produce v3) and takes any other for damage.
        BatchError::UnsupportedMagic(0 | 1) => ProduceError::InvalidRecord(e.to_string()),
        BatchError::UnsupportedMagic(_) => ProduceError::CorruptMessage(e.to_string()),
        BatchError::Truncated | BatchError::CrcMismatch { .. } | BatchError::Invalid(_) => {
            ProduceError::CorruptMessage(e.to_string())
        }
    })?;
    if batch.compression() == ZSTD && version < FIRST_ZSTD_VERSION {
        return Err(ProduceError::UnsupportedCompression(format!(
            "Produce v{version} may not carry zstd batches (v{FIRST_ZSTD_VERSION}+ may)"
        )));
    }
    if batch.size() != records.len() {
        return Err(invalid(
            "a produce request must hold exactly one record batch per partition",
        ));
    }
    if batch.size() > max_message_bytes {
        return Err(ProduceError::MessageTooLarge(format!(
            "record batch of {} bytes is larger than max.message.bytes {max_message_bytes}",
            batch.size()
        )));
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
        RecordError::Invalid(why) => ProduceError::InvalidRecord(why),
        RecordError::KeysMissing(indexes) => ProduceError::RecordErrors {
            errors: indexes
                .into_iter()
                .map(|i| (i, record_validate::NO_KEY_MESSAGE.to_string()))
                .collect(),
            log_start_offset: -1,
        },
        RecordError::Corrupt(why) => ProduceError::CorruptMessage(why),
        RecordError::Timestamp(why) => ProduceError::InvalidTimestamp(why),
    })?;
    Ok((batch, checked.max_timestamp))
}

#[cfg(test)]
mod tests;
