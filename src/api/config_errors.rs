//! The wire code and message of a refused config change, shared by AlterConfigs and
//! IncrementalAlterConfigs; and the check both make first, that no resource appears twice.

use std::collections::HashMap;

use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::acl::{Operation, ResourceType, CLUSTER_NAME};
use crate::broker::config_admin::{ConfigAdminError, RESOURCE_BROKER, RESOURCE_TOPIC};
use crate::broker::Broker;
use crate::session::RequestContext;

/// Whether the principal may do `operation` (DESCRIBE_CONFIGS, ALTER_CONFIGS) on a config
/// resource, or the code and message of the refusal: a topic's need the operation on the
/// topic (TOPIC_AUTHORIZATION_FAILED), a broker's on the cluster
/// (CLUSTER_AUTHORIZATION_FAILED), as Kafka's `AuthHelper` and `ConfigAdminManager` check.
pub fn config_refusal(
    broker: &Broker,
    context: &RequestContext<'_>,
    operation: Operation,
    resource_type: i8,
    name: &str,
) -> Option<(ResponseError, String)> {
    let (resource_type, name, error) = match resource_type {
        RESOURCE_TOPIC => (
            ResourceType::Topic,
            name,
            ResponseError::TopicAuthorizationFailed,
        ),
        RESOURCE_BROKER => (
            ResourceType::Cluster,
            CLUSTER_NAME,
            ResponseError::ClusterAuthorizationFailed,
        ),
        _ => return None,
    };
    (!broker.authorize(context, operation, resource_type, name)).then(|| {
        (
            error,
            format!("{} authorization failed.", resource_type.as_str()),
        )
    })
}

/// Kafka's error code and message for `result`.
pub fn code_and_message(result: Result<(), ConfigAdminError>) -> (i16, Option<StrBytes>) {
    let (error, message) = match result {
        Ok(()) => return (0, None),
        Err(ConfigAdminError::InvalidRequest(m)) => (ResponseError::InvalidRequest, m),
        Err(ConfigAdminError::InvalidConfig(m)) => (ResponseError::InvalidConfig, m),
        Err(ConfigAdminError::UnknownTopic(m)) => (ResponseError::UnknownTopicOrPartition, m),
        Err(ConfigAdminError::InvalidTopic(m)) => (ResponseError::InvalidTopicException, m),
        Err(ConfigAdminError::Storage(m)) => (ResponseError::KafkaStorageError, m),
    };
    (error.code(), Some(StrBytes::from_string(message)))
}

/// For each resource (type, name) in order, whether it appears more than once: Kafka
/// refuses every copy with INVALID_REQUEST.
pub fn repeated<'a>(resources: impl Iterator<Item = (i8, &'a str)> + Clone) -> Vec<bool> {
    let mut counts: HashMap<(i8, &str), usize> = HashMap::new();
    for r in resources.clone() {
        *counts.entry(r).or_default() += 1;
    }
    resources
        .map(|r| counts.get(&r).is_some_and(|c| *c > 1))
        .collect()
}

/// The refusal of a repeated resource.
pub fn repeated_error() -> Result<(), ConfigAdminError> {
    Err(ConfigAdminError::InvalidRequest(
        "Each resource must appear at most once.".into(),
    ))
}
