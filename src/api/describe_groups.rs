//! DescribeGroups (key 15): state, protocol and members of each group; an unknown group is
//! described as Dead, as Kafka does — from v6 with GROUP_ID_NOT_FOUND and no authorized
//! operations (KIP-1043).

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, GroupId};
use kafka_protocol::protocol::StrBytes;

use super::{group_error_code, str_bytes};
use kafka_protocol::ResponseError;

use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::group::{GroupError, GroupState};
use crate::session::RequestContext;

/// The version that reports an unknown group as GROUP_ID_NOT_FOUND.
const NOT_FOUND_FIRST_VERSION: i16 = 6;
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let with_operations = version >= 3 && request.include_authorized_operations;
    // Every group operation without an authorizer, as Kafka answers without one.
    let operations = |group: &str| {
        if with_operations {
            broker.authorized_operations(context, ResourceType::Group, group)
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        }
    };
    // DESCRIBE on each group (Kafka's `KafkaApis.handleDescribeGroupsRequest`).
    let refused = |group: &str| {
        (!broker.authorize(context, Operation::Describe, ResourceType::Group, group)).then(|| {
            DescribedGroup::default()
                .with_group_id(GroupId(str_bytes(group)))
                .with_error_code(ResponseError::GroupAuthorizationFailed.code())
                .with_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
        })
    };
    let ids: Vec<String> = request.groups.iter().map(|g| g.to_string()).collect();
    let groups = match broker.groups().describe(ids.clone()).await {
        Ok(descriptions) => descriptions
            .into_iter()
            .map(|d| {
                if let Some(refusal) = refused(&d.group_id) {
                    return refusal;
                }
                let members = d
                    .members
                    .into_iter()
                    .map(|m| {
                        DescribedGroupMember::default()
                            .with_member_id(str_bytes(&m.member_id))
                            .with_group_instance_id(if version >= 4 {
                                m.instance_id.map(StrBytes::from_string)
                            } else {
                                None
                            })
                            .with_client_id(str_bytes(&m.client_id))
                            .with_client_host(str_bytes(&m.client_host))
                            .with_member_metadata(m.metadata)
                            .with_member_assignment(m.assignment)
                    })
                    .collect();
                let described = DescribedGroup::default()
                    .with_group_id(GroupId(str_bytes(&d.group_id)))
                    .with_group_state(StrBytes::from_static_str(d.state.name()))
                    .with_protocol_type(str_bytes(&d.protocol_type))
                    .with_protocol_data(str_bytes(&d.protocol_name));
                // Dead is what the coordinator says of a group it does not have.
                if version >= NOT_FOUND_FIRST_VERSION && d.state == GroupState::Dead {
                    let message = format!("Group {} not found.", d.group_id);
                    return described
                        .with_error_code(group_error_code(GroupError::GroupIdNotFound))
                        .with_error_message(Some(str_bytes(&message)));
                }
                let operations = operations(&d.group_id);
                described
                    .with_members(members)
                    .with_authorized_operations(operations)
            })
            .collect(),
        Err(e) => ids
            .iter()
            .map(|id| {
                refused(id).unwrap_or_else(|| {
                    DescribedGroup::default()
                        .with_group_id(GroupId(str_bytes(id)))
                        .with_error_code(group_error_code(e))
                        .with_authorized_operations(operations(id))
                })
            })
            .collect(),
    };
    DescribeGroupsResponse::default().with_groups(groups)
}
