//! AddPartitionsToTxn (key 24): the transaction writes to these partitions. v0–3 is the
//! producer's form (transaction version 1); v4–5 is the broker's form of transaction version
//! 2 (KIP-890), a batch of transactions each either added to or, `verify_only`, checked
//! against (a partition not in the transaction: TRANSACTION_ABORTABLE) — the question
//! Sluice's own produce path asks its coordinator directly
//! ([`crate::broker::txn_joins`]). Unknown partitions fail their transaction as Kafka fails
//! it: each unknown one UNKNOWN_TOPIC_OR_PARTITION, the others OPERATION_NOT_ATTEMPTED.

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTransaction;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
use kafka_protocol::ResponseError;

use super::txn_errors::txn_error_code;
use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;
use crate::txn::ProducerIdAndEpoch;

/// From this version a fenced producer is told PRODUCER_FENCED.
const PRODUCER_FENCED_VERSION: i16 = 2;
/// From this version the request is the broker's batch of transactions.
const FIRST_BATCHED_VERSION: i16 = 4;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    if version >= FIRST_BATCHED_VERSION {
        // The batched form is the brokers' verification: CLUSTER_ACTION on the cluster
        // (Kafka's `KafkaApis.handleAddPartitionsToTxnRequest`).
        if !broker.authorize_cluster(context, Operation::ClusterAction) {
            return AddPartitionsToTxnResponse::default()
                .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
        }
        let mut results = Vec::with_capacity(request.transactions.len());
        for transaction in request.transactions {
            results.push(one_transaction(broker, transaction).await);
        }
        return AddPartitionsToTxnResponse::default().with_results_by_transaction(results);
    }
    let wanted: Vec<(String, i32)> = request
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)))
        .collect();
    // WRITE on the transactional id, else every partition is refused; WRITE on each topic.
    if !broker.authorize(
        context,
        Operation::Write,
        ResourceType::TransactionalId,
        &request.v3_and_below_transactional_id,
    ) {
        return every_partition_v3(
            request,
            ResponseError::TransactionalIdAuthorizationFailed.code(),
        );
    }
    let writable: std::collections::HashMap<String, bool> = request
        .v3_and_below_topics
        .iter()
        .map(|t| {
            let allowed = broker.authorize(context, Operation::Write, ResourceType::Topic, &t.name);
            (t.name.to_string(), allowed)
        })
        .collect();
    let may_write =
        |partition: &(String, i32)| writable.get(&partition.0).copied().unwrap_or(false);
    let exists = |partition: &(String, i32)| partition_exists(broker, partition);
    // Every partition shares the coordinator's answer, unless some are unknown or refused.
    let answer = if wanted.iter().all(|p| may_write(p) && exists(p)) {
        let producer = ProducerIdAndEpoch {
            producer_id: request.v3_and_below_producer_id.0,
            epoch: request.v3_and_below_producer_epoch,
        };
        let added = broker
            .txns()
            .add_partitions(
                request.v3_and_below_transactional_id.to_string(),
                producer,
                wanted.clone(),
            )
            .await;
        Some(match added {
            Ok(()) => 0,
            Err(e) => txn_error_code(e, version >= PRODUCER_FENCED_VERSION),
        })
    } else {
        None
    };
    let code_for = |partition: &(String, i32)| match answer {
        Some(code) => code,
        None if !may_write(partition) => ResponseError::TopicAuthorizationFailed.code(),
        None if exists(partition) => ResponseError::OperationNotAttempted.code(),
        None => ResponseError::UnknownTopicOrPartition.code(),
    };
    let results = request
        .v3_and_below_topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|&index| {
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(index)
                        .with_partition_error_code(code_for(&(topic.name.to_string(), index)))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(topic.name)
                .with_results_by_partition(partitions)
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}

/// Every partition of a v0–3 request answered `code`.
fn every_partition_v3(request: AddPartitionsToTxnRequest, code: i16) -> AddPartitionsToTxnResponse {
    let results = request
        .v3_and_below_topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|&index| {
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(index)
                        .with_partition_error_code(code)
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(topic.name)
                .with_results_by_partition(partitions)
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}

/// One transaction of a v4+ request: added to, or only checked.
async fn one_transaction(
    broker: &Broker,
    transaction: AddPartitionsToTxnTransaction,
) -> AddPartitionsToTxnResult {
    let wanted: Vec<(String, i32)> = transaction
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)))
        .collect();
    let exists = |partition: &(String, i32)| partition_exists(broker, partition);
    let producer = ProducerIdAndEpoch {
        producer_id: transaction.producer_id.0,
        epoch: transaction.producer_epoch,
    };
    let id = transaction.transactional_id.to_string();
    let codes: Vec<i16> = if !wanted.iter().all(exists) {
        wanted
            .iter()
            .map(|p| match exists(p) {
                true => ResponseError::OperationNotAttempted.code(),
                false => ResponseError::UnknownTopicOrPartition.code(),
            })
            .collect()
    } else if transaction.verify_only {
        match broker.txns().verify(id, producer, wanted.clone()).await {
            Ok(held) => held
                .into_iter()
                .map(|held| match held {
                    true => 0,
                    false => ResponseError::TransactionAbortable.code(),
                })
                .collect(),
            Err(e) => vec![txn_error_code(e, true); wanted.len()],
        }
    } else {
        let added = broker
            .txns()
            .add_partitions(id, producer, wanted.clone())
            .await;
        let code = added.map_or_else(|e| txn_error_code(e, true), |()| 0);
        vec![code; wanted.len()]
    };
    let mut codes = codes.into_iter();
    let topic_results = transaction
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|&index| {
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(index)
                        .with_partition_error_code(codes.next().unwrap_or_default())
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(topic.name)
                .with_results_by_partition(partitions)
        })
        .collect();
    AddPartitionsToTxnResult::default()
        .with_transactional_id(transaction.transactional_id)
        .with_topic_results(topic_results)
}

impl ErrorCodes for AddPartitionsToTxnResponse {
    fn error_codes(&self) -> Vec<i16> {
        let batched = self
            .results_by_transaction
            .iter()
            .flat_map(|t| t.topic_results.iter());
        // The top-level code exists from v4, whose answers are by transaction.
        let top_level = (!self.results_by_transaction.is_empty()).then_some(self.error_code);
        top_level
            .into_iter()
            .chain(
                self.results_by_topic_v3_and_below
                    .iter()
                    .chain(batched)
                    .flat_map(|t| {
                        t.results_by_partition
                            .iter()
                            .map(|p| p.partition_error_code)
                    }),
            )
            .collect()
    }
}

/// Whether the broker holds `topic`'s partition `index`.
fn partition_exists(broker: &Broker, (topic, index): &(String, i32)) -> bool {
    broker
        .topics()
        .get(topic)
        .is_some_and(|t| t.partition(*index).is_some())
}
