//! IncrementalAlterConfigs (key 44): SET, DELETE, APPEND and SUBTRACT on single keys of a
//! topic's overrides or the broker's dynamic configs; the other keys stay as they are.

use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use kafka_protocol::protocol::StrBytes;

use super::config_errors::{code_and_message, config_refusal, repeated, repeated_error};
use crate::acl::Operation;
use crate::broker::Broker;
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
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
            let refused = config_refusal(
                broker,
                context,
                Operation::AlterConfigs,
                resource.resource_type,
                resource.resource_name.as_str(),
            );
            let result = if twice {
                repeated_error()
            } else if let Some((error, message)) = refused {
                let (code, message) = (error.code(), Some(StrBytes::from_string(message)));
                return AlterConfigsResourceResponse::default()
                    .with_error_code(code)
                    .with_error_message(message)
                    .with_resource_type(resource.resource_type)
                    .with_resource_name(resource.resource_name);
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
