//! EndTxn (key 26, v0–5): commit or abort the open transaction. Answered once the
//! coordinator has written the prepared state; the markers follow in the background, and
//! the producer's next transaction waits (CONCURRENT_TRANSACTIONS) until they are written.
//! From v5 (transaction version 2, KIP-890) every end bumps the producer epoch and the
//! answer carries the producer id and epoch the producer goes on with.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::txn_errors::code_of;
use kafka_protocol::ResponseError;

use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;
use crate::txn::state::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID};
use crate::txn::{ProducerIdAndEpoch, TxnResult};

/// From this version a fenced producer is told PRODUCER_FENCED.
const PRODUCER_FENCED_VERSION: i16 = 2;
/// From this version the client speaks transaction version 2.
const TV2_VERSION: i16 = 5;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: EndTxnRequest,
) -> EndTxnResponse {
    // WRITE on the transactional id (Kafka's `KafkaApis.handleEndTxnRequest`).
    if !broker.authorize(
        context,
        Operation::Write,
        ResourceType::TransactionalId,
        &request.transactional_id,
    ) {
        return EndTxnResponse::default()
            .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
            .with_producer_id(ProducerId(NO_PRODUCER_ID))
            .with_producer_epoch(NO_PRODUCER_EPOCH);
    }
    let producer = ProducerIdAndEpoch {
        producer_id: request.producer_id.0,
        epoch: request.producer_epoch,
    };
    let result = if request.committed {
        TxnResult::Commit
    } else {
        TxnResult::Abort
    };
    let tv2 = version >= TV2_VERSION;
    let ended = broker
        .txns()
        .end_txn(
            request.transactional_id.to_string(),
            producer,
            result,
            tv2,
            &|| broker.allocate_producer_id(),
        )
        .await;
    let response = EndTxnResponse::default()
        .with_error_code(code_of(&ended, version >= PRODUCER_FENCED_VERSION));
    match ended {
        Ok(next) if tv2 => response
            .with_producer_id(ProducerId(next.producer_id))
            .with_producer_epoch(next.epoch),
        // Kafka answers no producer on an error, and v0–4 carry none.
        _ => response
            .with_producer_id(ProducerId(NO_PRODUCER_ID))
            .with_producer_epoch(NO_PRODUCER_EPOCH),
    }
}

impl ErrorCodes for EndTxnResponse {
    fn error_codes(&self) -> Vec<i16> {
        vec![self.error_code]
    }
}
