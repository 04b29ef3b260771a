//! FindCoordinator (key 10): this broker coordinates every group and transactional id.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::session::RequestContext;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;
/// v4 asks for several keys at once.
const FIRST_BATCHED_VERSION: i16 = 4;

/// DESCRIBE on the group or transactional id the key names (Kafka's
/// `KafkaApis.handleFindCoordinatorRequest`), or the code of the refusal.
fn refusal(
    broker: &Broker,
    context: &RequestContext<'_>,
    key_type: i8,
    key: &str,
) -> Option<ResponseError> {
    let (resource_type, error) = match key_type {
        KEY_TYPE_GROUP => (ResourceType::Group, ResponseError::GroupAuthorizationFailed),
        KEY_TYPE_TRANSACTION => (
            ResourceType::TransactionalId,
            ResponseError::TransactionalIdAuthorizationFailed,
        ),
        _ => return None,
    };
    (!broker.authorize(context, Operation::Describe, resource_type, key)).then_some(error)
}

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let known_type = matches!(request.key_type, KEY_TYPE_GROUP | KEY_TYPE_TRANSACTION);
    // The address of the listener the client came in on, as Kafka answers.
    let (host, port) = broker.advertised_address(context.listener());
    let host = StrBytes::from_string(host.to_string());
    if version >= FIRST_BATCHED_VERSION {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let refused = refusal(broker, context, request.key_type, &key);
                let coordinator = Coordinator::default()
                    .with_key(key)
                    .with_error_message(None);
                if let Some(error) = refused {
                    coordinator
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(error.code())
                } else if known_type {
                    coordinator
                        .with_node_id(BrokerId(broker.node_id()))
                        .with_host(host.clone())
                        .with_port(port)
                } else {
                    coordinator
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(ResponseError::InvalidRequest.code())
                }
            })
            .collect();
        return FindCoordinatorResponse::default()
            .with_error_message(None)
            .with_coordinators(coordinators);
    }
    let response = FindCoordinatorResponse::default().with_error_message(None);
    if let Some(error) = refusal(broker, context, request.key_type, &request.key) {
        response
            .with_node_id(BrokerId(-1))
            .with_port(-1)
            .with_error_code(error.code())
    } else if known_type {
        response
            .with_node_id(BrokerId(broker.node_id()))
            .with_host(host)
            .with_port(port)
    } else {
        response
            .with_node_id(BrokerId(-1))
            .with_port(-1)
            .with_error_code(ResponseError::InvalidRequest.code())
    }
}
