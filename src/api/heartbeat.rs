//! Heartbeat (key 12): keeps a member's session alive and tells it about rebalances.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::group_error_code;
use crate::broker::Broker;
use crate::group::MemberRef;
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    _context: &RequestContext<'_>,
    _version: i16,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
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
