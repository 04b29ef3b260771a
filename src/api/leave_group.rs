//! LeaveGroup (key 13): one member (v0–2) or a batch of members (v3+) leave.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::group_error_code;
use kafka_protocol::ResponseError;

use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::group::{GroupError, MemberRef};
use crate::session::RequestContext;

const FIRST_BATCHED_VERSION: i16 = 3;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    // READ on the group (Kafka's `KafkaApis.handleLeaveGroupRequest`).
    if !broker.authorize(
        context,
        Operation::Read,
        ResourceType::Group,
        &request.group_id,
    ) {
        return LeaveGroupResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let leaving: Vec<MemberRef> = if version >= FIRST_BATCHED_VERSION {
        request
            .members
            .iter()
            .map(|m| MemberRef {
                member_id: m.member_id.to_string(),
                instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
            })
            .collect()
    } else {
        vec![MemberRef {
            member_id: request.member_id.to_string(),
            instance_id: None,
        }]
    };
    let count = leaving.len();
    let outcomes = match broker
        .groups()
        .leave(request.group_id.to_string(), leaving)
        .await
    {
        Ok(outcomes) => outcomes,
        // A group that does not exist knows none of the members: from v3 Kafka says so per
        // member, the request itself succeeding.
        Err(GroupError::UnknownMemberId) if version >= FIRST_BATCHED_VERSION => {
            vec![Some(GroupError::UnknownMemberId); count]
        }
        Err(error) => {
            return LeaveGroupResponse::default().with_error_code(group_error_code(error))
        }
    };
    if version < FIRST_BATCHED_VERSION {
        let error = outcomes.first().copied().flatten();
        return LeaveGroupResponse::default().with_error_code(error.map_or(0, group_error_code));
    }
    let members = request
        .members
        .into_iter()
        .zip(outcomes)
        .map(|(m, outcome)| {
            MemberResponse::default()
                .with_member_id(m.member_id)
                .with_group_instance_id(m.group_instance_id)
                .with_error_code(outcome.map_or(0, group_error_code))
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}
