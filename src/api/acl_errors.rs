//! The wire codes and messages of ACL administration errors, shared by CreateAcls,
//! DescribeAcls and DeleteAcls.

use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::broker::acls::AclAdminError;

/// The code and message Kafka answers for `error`.
pub fn acl_error(error: &AclAdminError) -> (i16, String) {
    match error {
        AclAdminError::SecurityDisabled => (
            ResponseError::SecurityDisabled.code(),
            "No Authorizer is configured.".into(),
        ),
        AclAdminError::Invalid(message) => (ResponseError::InvalidRequest.code(), message.clone()),
        AclAdminError::LimitReached(max) => (
            ResponseError::PolicyViolation.code(),
            format!("The broker holds {max} ACLs, the most it may (acls_max)"),
        ),
        AclAdminError::Storage(message) => (
            ResponseError::UnknownServerError.code(),
            format!("The ACLs could not be persisted: {message}"),
        ),
    }
}

pub fn string_of(s: &StrBytes) -> String {
    s.as_str().to_string()
}
