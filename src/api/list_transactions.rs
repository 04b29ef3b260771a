//! ListTransactions (key 66, v0–1): the coordinator's transactional ids, filtered by state
//! name, producer id and (from v1) how long the transaction has run; state names Kafka does
//! not know come back in `unknown_state_filters`.

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse, ProducerId};

use super::str_bytes;
use super::txn_errors::txn_error_code;

use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;
use crate::txn::ListFilter;

/// The duration filter exists from this version.
const DURATION_FILTER_VERSION: i16 = 1;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let filter = ListFilter {
        states: request
            .state_filters
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        producer_ids: request.producer_id_filters.iter().map(|p| p.0).collect(),
        duration_ms: if version >= DURATION_FILTER_VERSION {
            request.duration_filter
        } else {
            -1
        },
    };
    match broker.txns().list(filter).await {
        Ok(listing) => ListTransactionsResponse::default()
            .with_unknown_state_filters(
                listing
                    .unknown_states
                    .iter()
                    .map(|s| str_bytes(s))
                    .collect(),
            )
            .with_transaction_states(
                listing
                    .transactions
                    .iter()
                    // Only the ids the principal may DESCRIBE, as Kafka's
                    // `KafkaApis.handleListTransactionsRequest` filters them.
                    .filter(|t| {
                        broker.allows_quietly(
                            context,
                            Operation::Describe,
                            ResourceType::TransactionalId,
                            &t.transactional_id,
                        )
                    })
                    .map(|t| {
                        TransactionState::default()
                            .with_transactional_id(str_bytes(&t.transactional_id).into())
                            .with_producer_id(ProducerId(t.producer_id))
                            .with_transaction_state(str_bytes(t.state.name()))
                    })
                    .collect(),
            ),
        Err(e) => ListTransactionsResponse::default().with_error_code(txn_error_code(e, true)),
    }
}

impl ErrorCodes for ListTransactionsResponse {
    fn error_codes(&self) -> Vec<i16> {
        vec![self.error_code]
    }
}
