//! Heartbeat (key 12): keeps a member's session alive and tells it about rebalances.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::group_error_code;
use kafka_protocol::ResponseError;

use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::group::MemberRef;
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    // READ on the group (Kafka's `KafkaApis.handleHeartbeatRequest`).
    if !broker.authorize(
        context,
        Operation::Read,
        ResourceType::Group,
        &request.group_id,
    ) {
        return HeartbeatResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let member = MemberRef {
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
    };
    let outcome = broker
        .groups()
        .heartbeat(request.group_id.to_string(), request.generation_id, member)
        .await;
    HeartbeatResponse::default().with_error_code(outcome.err().map_or(0, group_error_code))
}
