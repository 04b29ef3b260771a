//! ListGroups (key 16): every group, optionally filtered by state (v4+) and by type (v5+).
//! Every group is a classic group (JoinGroup/SyncGroup): a filter of types without
//! "classic" lists none.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{group_error_code, str_bytes};
use crate::acl::{Operation, ResourceType, CLUSTER_NAME};
use crate::broker::Broker;
use crate::session::RequestContext;

/// Kafka's name of the classic group protocol's type.
const CLASSIC: &str = "classic";

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let listings = match broker.groups().list().await {
        Ok(listings) => listings,
        Err(e) => return ListGroupsResponse::default().with_error_code(group_error_code(e)),
    };
    let wanted = |state_name: &str| {
        request.states_filter.is_empty()
            || request
                .states_filter
                .iter()
                .any(|s| s.as_str().eq_ignore_ascii_case(state_name))
    };
    // Kafka compares the types case-insensitively too.
    let classic_wanted = request.types_filter.is_empty()
        || request
            .types_filter
            .iter()
            .any(|t| t.as_str().eq_ignore_ascii_case(CLASSIC));
    if version >= 5 && !classic_wanted {
        return ListGroupsResponse::default();
    }
    // DESCRIBE on the cluster lists every group, else those the principal may DESCRIBE
    // (Kafka's `KafkaApis.handleListGroupsRequest`); the groups left out are no denials.
    let all_visible = broker.allows_quietly(
        context,
        Operation::Describe,
        ResourceType::Cluster,
        CLUSTER_NAME,
    );
    let visible = |group: &str| {
        all_visible
            || broker.allows_quietly(context, Operation::Describe, ResourceType::Group, group)
    };
    let groups = listings
        .into_iter()
        .filter(|g| version < 4 || wanted(g.state.name()))
        .filter(|g| visible(&g.group_id))
        .map(|g| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&g.group_id)))
                .with_protocol_type(str_bytes(&g.protocol_type));
            let listed = if version >= 4 {
                listed.with_group_state(StrBytes::from_static_str(g.state.name()))
            } else {
                listed
            };
            if version >= 5 {
                listed.with_group_type(StrBytes::from_static_str(CLASSIC))
            } else {
                listed
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
