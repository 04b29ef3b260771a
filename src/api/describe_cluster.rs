//! DescribeCluster (key 60, v0–2): the cluster id, this node as the only broker (with the
//! advertised address of the listener) and as the controller clients are told about, as a
//! Kafka broker's endpoint answers.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::acl::{ResourceType, CLUSTER_NAME};
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;

/// Kafka's `EndpointType.BROKER`: the only kind of endpoint this node has.
const BROKER_ENDPOINT: i8 = 1;
/// Kafka's `EndpointType.CONTROLLER`.
const CONTROLLER_ENDPOINT: i8 = 2;
/// Sent when the client did not ask for authorized operations (the schema's default).
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    // v0 has no endpoint type and no code for a wrong one: Kafka answers INVALID_REQUEST.
    let refuse = |error: ResponseError, message: String| {
        let error = if version == 0 {
            ResponseError::InvalidRequest
        } else {
            error
        };
        DescribeClusterResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(str_bytes(&message)))
    };
    match request.endpoint_type {
        BROKER_ENDPOINT => {}
        CONTROLLER_ENDPOINT => {
            return refuse(
                ResponseError::MismatchedEndpointType,
                "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER".into(),
            )
        }
        other => {
            return refuse(
                ResponseError::UnsupportedEndpointType,
                format!("Unsupported endpoint type {other}"),
            )
        }
    }
    // Every cluster operation without an authorizer, as Kafka without one reports.
    let operations = if request.include_cluster_authorized_operations {
        broker.authorized_operations(context, ResourceType::Cluster, CLUSTER_NAME)
    } else {
        AUTHORIZED_OPERATIONS_OMITTED
    };
    // One node, never fenced while it answers: `include_fenced_brokers` (v2) changes nothing.
    // The address of the listener the client came in on, as Kafka answers.
    let (host, port) = broker.advertised_address(context.listener());
    let this_node = DescribeClusterBroker::default()
        .with_broker_id(BrokerId(broker.node_id()))
        .with_host(str_bytes(host))
        .with_port(port);
    DescribeClusterResponse::default()
        .with_endpoint_type(BROKER_ENDPOINT)
        .with_cluster_id(str_bytes(broker.cluster_id()))
        .with_controller_id(BrokerId(broker.node_id()))
        .with_brokers(vec![this_node])
        .with_cluster_authorized_operations(operations)
}

impl ErrorCodes for DescribeClusterResponse {
    fn error_codes(&self) -> Vec<i16> {
        vec![self.error_code]
    }
}
