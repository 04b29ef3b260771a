//! DeleteGroups (key 42): removes empty groups and their committed offsets.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::group_error_code;
use crate::broker::Broker;
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    _context: &RequestContext<'_>,
    _version: i16,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let ids: Vec<String> = request.groups_names.iter().map(|g| g.to_string()).collect();
    let outcomes = match broker.groups().delete_groups(ids).await {
        Ok(outcomes) => outcomes,
        Err(e) => vec![Some(e); request.groups_names.len()],
    };
    let results = request
        .groups_names
        .into_iter()
        .zip(outcomes)
        .map(|(group_id, outcome)| {
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(outcome.map_or(0, group_error_code))
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
