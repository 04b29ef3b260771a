//! CreateAcls (key 30, v1–3; Kafka 4 dropped v0): each creation validated as Kafka's
//! `AclControlManager` does, stored and persisted before the answer. Needs ALTER on the
//! cluster; without an authorizer every creation gets SECURITY_DISABLED.

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};
use kafka_protocol::ResponseError;

use super::acl_errors::{acl_error, string_of};
use super::str_bytes;
use crate::acl::{AclBinding, InvalidAcl, Operation, WireBinding};
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: CreateAclsRequest,
) -> CreateAclsResponse {
    let every = |code: i16, message: &str| {
        CreateAclsResponse::default().with_results(
            request
                .creations
                .iter()
                .map(|_| {
                    AclCreationResult::default()
                        .with_error_code(code)
                        .with_error_message(Some(str_bytes(message)))
                })
                .collect(),
        )
    };
    if broker.acls().enabled() && !broker.authorize_cluster(context, Operation::Alter) {
        return every(
            ResponseError::ClusterAuthorizationFailed.code(),
            "Cluster authorization failed.",
        );
    }
    let max = broker.config().acls_max_per_request;
    if request.creations.len() > max {
        return every(
            ResponseError::InvalidRequest.code(),
            &format!("A CreateAcls request may create {max} ACLs at most (acls_max_per_request)"),
        );
    }
    let creations: Vec<Result<AclBinding, InvalidAcl>> = request
        .creations
        .iter()
        .map(|c| {
            AclBinding::from_wire(WireBinding {
                resource_type: c.resource_type,
                resource_name: string_of(&c.resource_name),
                pattern_type: c.resource_pattern_type,
                principal: string_of(&c.principal),
                host: string_of(&c.host),
                operation: c.operation,
                permission: c.permission_type,
            })
        })
        .collect();
    let results = crate::blocking::run(|| broker.create_acls(creations));
    CreateAclsResponse::default().with_results(
        results
            .into_iter()
            .map(|result| match result {
                Ok(()) => AclCreationResult::default(),
                Err(e) => {
                    let (code, message) = acl_error(&e);
                    AclCreationResult::default()
                        .with_error_code(code)
                        .with_error_message(Some(str_bytes(&message)))
                }
            })
            .collect(),
    )
}

impl ErrorCodes for CreateAclsResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.results.iter().map(|r| r.error_code).collect()
    }
}
