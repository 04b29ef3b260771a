//! TxnOffsetCommit (key 28, v0–5): offsets a transaction commits for a group, held by the
//! group coordinator until the transaction's marker: visible if it commits, gone if it
//! aborts. Up to v4 the producer must have added the group to its open transaction
//! (AddOffsetsToTxn); from v5 (transaction version 2) the commit adds it.
//! Unknown partitions and oversized metadata fail per partition, as in OffsetCommit.

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use kafka_protocol::ResponseError;

use super::group_error_code;
use super::offset_commit::{check_offsets, Wanted};
use super::txn_errors::txn_error_code;
use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::group::MemberRef;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;
use crate::txn::{ProducerIdAndEpoch, TxnError, TxnState};

/// From this version a fenced producer is told PRODUCER_FENCED.
const PRODUCER_FENCED_VERSION: i16 = 3;
/// From this version the commit adds its group to the transaction (KIP-890 part 2).
const FIRST_JOINING_VERSION: i16 = 5;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    // WRITE on the transactional id, then READ on the group, else every partition is
    // refused (Kafka's `KafkaApis.handleTxnOffsetCommitRequest`).
    let refused = if !broker.authorize(
        context,
        Operation::Write,
        ResourceType::TransactionalId,
        &request.transactional_id,
    ) {
        Some(ResponseError::TransactionalIdAuthorizationFailed)
    } else if !broker.authorize(
        context,
        Operation::Read,
        ResourceType::Group,
        &request.group_id,
    ) {
        Some(ResponseError::GroupAuthorizationFailed)
    } else {
        None
    };
    if let Some(error) = refused {
        return every_partition(request, error.code());
    }
    let wanted = request.topics.iter().map(|t| {
        let partitions = t.partitions.iter().map(|p| Wanted {
            partition: p.partition_index,
            offset: p.committed_offset,
            leader_epoch: p.committed_leader_epoch,
            metadata: p.committed_metadata.as_ref(),
        });
        (t.name.as_str(), partitions.collect())
    });
    let (verdicts, offsets) = check_offsets(broker, context, wanted);
    let in_transaction = if version >= FIRST_JOINING_VERSION {
        let producer = ProducerIdAndEpoch {
            producer_id: request.producer_id.0,
            epoch: request.producer_epoch,
        };
        broker
            .join_transaction_group(&request.transactional_id, producer, &request.group_id)
            .await
    } else {
        in_transaction(broker, &request).await
    };
    let error = match in_transaction {
        // The join is the broker's question to the coordinator, whose fenced answer Kafka
        // passes on as INVALID_PRODUCER_EPOCH (as for a produce).
        Err(TxnError::ProducerFenced) if version >= FIRST_JOINING_VERSION => {
            Some(ResponseError::InvalidProducerEpoch.code())
        }
        Err(e) => Some(txn_error_code(e, version >= PRODUCER_FENCED_VERSION)),
        Ok(()) => {
            let member = MemberRef {
                member_id: request.member_id.to_string(),
                instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
            };
            broker
                .groups()
                .txn_commit(
                    request.group_id.to_string(),
                    request.producer_id.0,
                    request.generation_id,
                    member,
                    offsets,
                )
                .await
                .err()
                .map(group_error_code)
        }
    };
    let topics = request
        .topics
        .into_iter()
        .zip(verdicts)
        .map(|(topic, topic_verdicts)| {
            let partitions = topic
                .partitions
                .iter()
                .zip(topic_verdicts)
                .map(|(p, verdict)| {
                    let code = match (error, verdict) {
                        (Some(code), _) => code,
                        (None, Some(e)) => e.code(),
                        (None, None) => 0,
                    };
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// Every partition of the request answered `code`.
fn every_partition(request: TxnOffsetCommitRequest, code: i16) -> TxnOffsetCommitResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// Whether the request's producer has the group in its open transaction.
async fn in_transaction(broker: &Broker, request: &TxnOffsetCommitRequest) -> Result<(), TxnError> {
    let txn = broker
        .txns()
        .describe(request.transactional_id.to_string())
        .await?
        .ok_or(TxnError::InvalidProducerIdMapping)?;
    if txn.producer_id != request.producer_id.0 {
        return Err(TxnError::InvalidProducerIdMapping);
    }
    if txn.epoch != request.producer_epoch {
        return Err(TxnError::ProducerFenced);
    }
    if txn.state != TxnState::Ongoing || !txn.groups.contains(request.group_id.as_str()) {
        return Err(TxnError::InvalidTxnState);
    }
    Ok(())
}

impl ErrorCodes for TxnOffsetCommitResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect()
    }
}
