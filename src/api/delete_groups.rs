//! DeleteGroups (key 42): removes empty groups and their committed offsets.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::group_error_code;
use kafka_protocol::ResponseError;

use crate::acl::{Operation, ResourceType};
use crate::broker::Broker;
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    // DELETE on each group (Kafka's `KafkaApis.handleDeleteGroupsRequest`); the refused
    // ones are not asked of the coordinator.
    let allowed: Vec<bool> = request
        .groups_names
        .iter()
        .map(|g| broker.authorize(context, Operation::Delete, ResourceType::Group, g))
        .collect();
    let ids: Vec<String> = request
        .groups_names
        .iter()
        .zip(&allowed)
        .filter(|(_, &allowed)| allowed)
        .map(|(g, _)| g.to_string())
        .collect();
    let count = ids.len();
    let outcomes = if count == 0 {
        Vec::new()
    } else {
        match broker.groups().delete_groups(ids).await {
            Ok(outcomes) => outcomes,
            Err(e) => vec![Some(e); count],
        }
    };
    let mut outcomes = outcomes.into_iter();
    let results = request
        .groups_names
        .into_iter()
        .zip(allowed)
        .map(|(group_id, allowed)| {
            let code = if allowed {
                outcomes.next().flatten().map_or(0, group_error_code)
            } else {
                ResponseError::GroupAuthorizationFailed.code()
            };
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(code)
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
