//! DescribeTransactions (key 65, v0): each transactional id's state as the coordinator
//! holds it — state name, producer id and epoch, timeout, start time (-1 without an open
//! transaction) and the partitions of its transaction by topic.

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId,
};

use super::txn_errors::txn_error_code;
use super::{str_bytes, topic_name};
use kafka_protocol::ResponseError;

use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;
use crate::txn::TxnMetadata;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut states = Vec::with_capacity(request.transactional_ids.len());
    for id in request.transactional_ids {
        // DESCRIBE on each transactional id (Kafka's `KafkaApis.handleDescribeTransactionsRequest`).
        if !broker.authorize(
            context,
            Operation::Describe,
            ResourceType::TransactionalId,
            &id,
        ) {
            states.push(
                TransactionState::default()
                    .with_transactional_id(id)
                    .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code()),
            );
            continue;
        }
        let described = broker.txns().describe_transaction(id.to_string()).await;
        let state = TransactionState::default().with_transactional_id(id);
        states.push(match described {
            Ok(txn) => described_state(state, &txn),
            // Every client of this API knows PRODUCER_FENCED (which it never gets here).
            Err(e) => state.with_error_code(txn_error_code(e, true)),
        });
    }
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

fn described_state(state: TransactionState, txn: &TxnMetadata) -> TransactionState {
    // The partitions are ordered by topic, so each topic's are together.
    let mut topics: Vec<TopicData> = Vec::new();
    for (topic, partition) in &txn.partitions {
        match topics.last_mut() {
            Some(last) if last.topic.as_str() == topic.as_str() => last.partitions.push(*partition),
            _ => topics.push(
                TopicData::default()
                    .with_topic(topic_name(topic))
                    .with_partitions(vec![*partition]),
            ),
        }
    }
    state
        .with_transaction_state(str_bytes(txn.state.name()))
        .with_transaction_timeout_ms(txn.timeout_ms)
        .with_transaction_start_time_ms(txn.start_ms)
        .with_producer_id(ProducerId(txn.producer_id))
        .with_producer_epoch(txn.epoch)
        .with_topics(topics)
}

impl ErrorCodes for DescribeTransactionsResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.transaction_states
            .iter()
            .map(|s| s.error_code)
            .collect()
    }
}
