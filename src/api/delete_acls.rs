//! DeleteAcls (key 31, v1–3; Kafka 4 dropped v0): for each filter, the ACLs it selected,
//! deleted and persisted before the answer. Needs ALTER on the cluster; without an
//! authorizer every filter gets SECURITY_DISABLED.

use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};
use kafka_protocol::ResponseError;

use super::acl_errors::{acl_error, string_of};
use super::str_bytes;
use crate::acl::{AclFilter, InvalidAcl, Operation};
use crate::broker::acls::AclAdminError;
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let every = |(code, message): (i16, String)| {
        DeleteAclsResponse::default().with_filter_results(
            request
                .filters
                .iter()
                .map(|_| {
                    DeleteAclsFilterResult::default()
                        .with_error_code(code)
                        .with_error_message(Some(str_bytes(&message)))
                })
                .collect(),
        )
    };
    if broker.acls().enabled() && !broker.authorize_cluster(context, Operation::Alter) {
        return every((
            ResponseError::ClusterAuthorizationFailed.code(),
            "Cluster authorization failed.".into(),
        ));
    }
    let max = broker.config().acls_max_per_request;
    if request.filters.len() > max {
        return every((
            ResponseError::InvalidRequest.code(),
            format!("A DeleteAcls request may carry {max} filters at most (acls_max_per_request)"),
        ));
    }
    let filters: Result<Vec<AclFilter>, InvalidAcl> = request
        .filters
        .iter()
        .map(|f| {
            AclFilter::from_wire(
                f.resource_type_filter,
                f.resource_name_filter.as_ref().map(string_of),
                f.pattern_type_filter,
                f.principal_filter.as_ref().map(string_of),
                f.host_filter.as_ref().map(string_of),
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    let deleted = match filters {
        Ok(filters) => crate::blocking::run(|| broker.delete_acls(&filters)),
        Err(e) => Err(AclAdminError::Invalid(e.0)),
    };
    let deleted = match deleted {
        Ok(deleted) => deleted,
        Err(e) => return every(acl_error(&e)),
    };
    DeleteAclsResponse::default().with_filter_results(
        deleted
            .into_iter()
            .map(|acls| {
                DeleteAclsFilterResult::default().with_matching_acls(
                    acls.into_iter()
                        .map(|acl| {
                            DeleteAclsMatchingAcl::default()
                                .with_resource_type(acl.resource_type.code())
                                .with_resource_name(str_bytes(&acl.resource_name))
                                .with_pattern_type(acl.pattern_type.code())
                                .with_principal(str_bytes(&acl.principal))
                                .with_host(str_bytes(&acl.host))
                                .with_operation(acl.operation.code())
                                .with_permission_type(acl.permission.code())
                        })
                        .collect(),
                )
            })
            .collect(),
    )
}

impl ErrorCodes for DeleteAclsResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.filter_results
            .iter()
            .flat_map(|f| {
                std::iter::once(f.error_code).chain(f.matching_acls.iter().map(|a| a.error_code))
            })
            .collect()
    }
}
