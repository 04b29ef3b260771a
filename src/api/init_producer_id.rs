//! InitProducerId (key 22) for idempotent producers: a new producer id at epoch 0.
//! Transactions are not implemented, so a transactional id is refused.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    _context: &RequestContext<'_>,
    _version: i16,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    if let Some(id) = &request.transactional_id {
        // An empty id is a malformed request, as Kafka's transaction coordinator says.
        let error = if id.is_empty() {
            ResponseError::InvalidRequest
        } else {
            tracing::warn!(
                "InitProducerId with a transactional id: transactions are not supported"
            );
            ResponseError::TransactionalIdAuthorizationFailed
        };
        return InitProducerIdResponse::default()
            .with_error_code(error.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    InitProducerIdResponse::default()
        .with_producer_id(ProducerId(broker.allocate_producer_id()))
        .with_producer_epoch(0)
}
