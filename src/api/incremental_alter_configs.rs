//! IncrementalAlterConfigs (key 44): SET, DELETE, APPEND and SUBTRACT on single keys of a
//! topic's overrides or the broker's dynamic configs; the other keys stay as they are.

use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::config_errors::{code_and_message, repeated, repeated_error};
use crate::broker::Broker;
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    _context: &RequestContext<'_>,
    _version: i16,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let validate_only = request.validate_only;
    let twice = repeated(
        request
            .resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str())),
    );
    let responses = request
        .resources
        .into_iter()
        .zip(twice)
        .map(|(resource, twice)| {
            let result = if twice {
                repeated_error()
            } else {
                let ops = resource
                    .configs
                    .into_iter()
                    .map(|c| {
                        (
                            c.name.to_string(),
                            c.config_operation,
                            c.value.map(|v| v.to_string()),
                        )
                    })
                    .collect();
                broker.incremental_alter_configs(
                    resource.resource_type,
                    resource.resource_name.as_str(),
                    ops,
                    validate_only,
                )
            };
            let (code, message) = code_and_message(result);
            AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name)
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
