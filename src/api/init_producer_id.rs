//! InitProducerId (key 22): without a transactional id, a new idempotent producer id at
//! epoch 0; with one, the transaction coordinator's answer — the id's producer id at its
//! next epoch, fencing the previous producer (CONCURRENT_TRANSACTIONS while its open
//! transaction is aborted; the client retries).

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::txn_errors::txn_error_code;
use kafka_protocol::ResponseError;

use crate::acl::{Operation, ResourceType, CLUSTER_NAME};
use crate::broker::Broker;
use crate::session::RequestContext;
use crate::txn::state::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID};
use crate::txn::ProducerIdAndEpoch;

/// From this version a fenced producer is told PRODUCER_FENCED (KIP-588).
const PRODUCER_FENCED_VERSION: i16 = 4;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    // WRITE on the transactional id; an idempotent producer needs IDEMPOTENT_WRITE on the
    // cluster or WRITE on some topic (Kafka's `KafkaApis.handleInitProducerIdRequest`).
    let refused = match &request.transactional_id {
        Some(id) => {
            (!broker.authorize(context, Operation::Write, ResourceType::TransactionalId, id))
                .then_some(ResponseError::TransactionalIdAuthorizationFailed)
        }
        None => (!broker.allows_quietly(
            context,
            Operation::IdempotentWrite,
            ResourceType::Cluster,
            CLUSTER_NAME,
        ) && !broker.allows_any(context, Operation::Write, ResourceType::Topic))
        .then_some(ResponseError::ClusterAuthorizationFailed),
    };
    if let Some(error) = refused {
        if error == ResponseError::ClusterAuthorizationFailed {
            broker.count_denial(Operation::IdempotentWrite, ResourceType::Cluster);
        }
        return InitProducerIdResponse::default()
            .with_error_code(error.code())
            .with_producer_id(ProducerId(NO_PRODUCER_ID))
            .with_producer_epoch(NO_PRODUCER_EPOCH);
    }
    let Some(transactional_id) = &request.transactional_id else {
        return InitProducerIdResponse::default()
            .with_producer_id(ProducerId(broker.allocate_producer_id()))
            .with_producer_epoch(0);
    };
    // A producer recovering (KIP-360) says which id and epoch it had.
    let expected = (request.producer_id.0 != NO_PRODUCER_ID).then_some(ProducerIdAndEpoch {
        producer_id: request.producer_id.0,
        epoch: request.producer_epoch,
    });
    let initialised = broker
        .txns()
        .init_producer_id(
            transactional_id.to_string(),
            request.transaction_timeout_ms,
            expected,
            broker.allocate_producer_id(),
        )
        .await;
    match initialised {
        Ok(producer) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(producer.producer_id))
            .with_producer_epoch(producer.epoch),
        Err(e) => InitProducerIdResponse::default()
            .with_error_code(txn_error_code(e, version >= PRODUCER_FENCED_VERSION))
            .with_producer_id(ProducerId(NO_PRODUCER_ID))
            .with_producer_epoch(NO_PRODUCER_EPOCH),
    }
}
