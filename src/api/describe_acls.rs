//! DescribeAcls (key 29, v1–3; Kafka 4 dropped v0): the ACLs a filter selects, grouped by
//! resource pattern. Needs DESCRIBE on the cluster; without an authorizer Kafka answers
//! SECURITY_DISABLED (its `AclApis`).

use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::ResponseError;

use super::acl_errors::{acl_error, string_of};
use super::str_bytes;
use crate::acl::{AclBinding, AclFilter, Operation};
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: DescribeAclsRequest,
) -> DescribeAclsResponse {
    let refuse = |(code, message): (i16, String)| {
        DescribeAclsResponse::default()
            .with_error_code(code)
            .with_error_message(Some(str_bytes(&message)))
    };
    if broker.acls().enabled() && !broker.authorize_cluster(context, Operation::Describe) {
        return refuse((
            ResponseError::ClusterAuthorizationFailed.code(),
            "Cluster authorization failed.".into(),
        ));
    }
    let filter = match AclFilter::from_wire(
        request.resource_type_filter,
        request.resource_name_filter.as_ref().map(string_of),
        request.pattern_type_filter,
        request.principal_filter.as_ref().map(string_of),
        request.host_filter.as_ref().map(string_of),
        request.operation,
        request.permission_type,
    ) {
        Ok(filter) => filter,
        Err(e) => return refuse((ResponseError::InvalidRequest.code(), e.0)),
    };
    match broker.describe_acls(&filter) {
        Ok(acls) => DescribeAclsResponse::default().with_resources(by_resource(acls)),
        Err(e) => refuse(acl_error(&e)),
    }
}

/// The ACLs grouped by resource pattern; `acls` is sorted by it, so each group is a run.
fn by_resource(acls: Vec<AclBinding>) -> Vec<DescribeAclsResource> {
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for acl in acls {
        let description = AclDescription::default()
            .with_principal(str_bytes(&acl.principal))
            .with_host(str_bytes(&acl.host))
            .with_operation(acl.operation.code())
            .with_permission_type(acl.permission.code());
        match resources.last_mut() {
            Some(last)
                if last.resource_type == acl.resource_type.code()
                    && last.pattern_type == acl.pattern_type.code()
                    && last.resource_name.as_str() == acl.resource_name =>
            {
                last.acls.push(description)
            }
            _ => resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(acl.resource_type.code())
                    .with_resource_name(str_bytes(&acl.resource_name))
                    .with_pattern_type(acl.pattern_type.code())
                    .with_acls(vec![description]),
            ),
        }
    }
    resources
}

impl ErrorCodes for DescribeAclsResponse {
    fn error_codes(&self) -> Vec<i16> {
        vec![self.error_code]
    }
}
