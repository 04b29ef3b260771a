//! AddOffsetsToTxn (key 25): the transaction commits offsets for a group (TxnOffsetCommit
//! follows; the offsets become the group's when the transaction commits).

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::txn_errors::code_of;
use kafka_protocol::ResponseError;

use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;
use crate::txn::ProducerIdAndEpoch;

/// From this version a fenced producer is told PRODUCER_FENCED.
const PRODUCER_FENCED_VERSION: i16 = 2;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    // WRITE on the transactional id, then READ on the group (Kafka's
    // `KafkaApis.handleAddOffsetsToTxnRequest`).
    if !broker.authorize(
        context,
        Operation::Write,
        ResourceType::TransactionalId,
        &request.transactional_id,
    ) {
        return AddOffsetsToTxnResponse::default()
            .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
    }
    if !broker.authorize(
        context,
        Operation::Read,
        ResourceType::Group,
        &request.group_id,
    ) {
        return AddOffsetsToTxnResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let producer = ProducerIdAndEpoch {
        producer_id: request.producer_id.0,
        epoch: request.producer_epoch,
    };
    let added = broker
        .txns()
        .add_offsets(
            request.transactional_id.to_string(),
            producer,
            request.group_id.to_string(),
        )
        .await;
    AddOffsetsToTxnResponse::default()
        .with_error_code(code_of(&added, version >= PRODUCER_FENCED_VERSION))
}

impl ErrorCodes for AddOffsetsToTxnResponse {
    fn error_codes(&self) -> Vec<i16> {
        vec![self.error_code]
    }
}
