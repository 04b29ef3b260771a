//! AddPartitionsToTxn (key 24, v0–3, the producer's form): the transaction writes to these
//! partitions. Unknown partitions fail the request as Kafka fails it: each unknown one
//! UNKNOWN_TOPIC_OR_PARTITION, the others OPERATION_NOT_ATTEMPTED.

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
use kafka_protocol::ResponseError;

use super::txn_errors::txn_error_code;
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;
use crate::txn::ProducerIdAndEpoch;

/// From this version a fenced producer is told PRODUCER_FENCED.
const PRODUCER_FENCED_VERSION: i16 = 2;

pub async fn handle(
    broker: &Broker,
    _context: &RequestContext<'_>,
    version: i16,
    request: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let wanted: Vec<(String, i32)> = request
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)))
        .collect();
    let exists = |(topic, index): &(String, i32)| {
        broker
            .topics()
            .get(topic)
            .is_some_and(|t| t.partition(*index).is_some())
    };
    // Every partition shares the coordinator's answer, unless some are unknown.
    let answer = if wanted.iter().all(exists) {
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

impl ErrorCodes for AddPartitionsToTxnResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.results_by_topic_v3_and_below
            .iter()
            .flat_map(|t| {
                t.results_by_partition
                    .iter()
                    .map(|p| p.partition_error_code)
            })
            .collect()
    }
}
