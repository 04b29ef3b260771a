//! CreateTopics (key 19): partitions, replication factor 1 (or -1, the default), configs,
//! and `validate_only`.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::acl::{Operation, ResourceType, CLUSTER_NAME};
use crate::broker::topic_admin::{CreateTopicError, TopicSpec};
use crate::broker::Broker;
use crate::session::RequestContext;
use crate::topics::{CreateError, TopicConfig};

/// Kafka's `ConfigSource` values for describe-style config entries.
pub const SOURCE_TOPIC_CONFIG: i8 = 1;
pub const SOURCE_DEFAULT_CONFIG: i8 = 5;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut seen = std::collections::HashSet::new();
    // Partitions this request may still create (`max_partitions_per_request`).
    let mut budget = broker.config().max_partitions_per_request;
    // Not a denial when refused: CREATE on each topic may allow instead.
    let may_create_any = broker.allows_quietly(
        context,
        Operation::Create,
        ResourceType::Cluster,
        CLUSTER_NAME,
    );
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.clone();
            // CREATE on the cluster or on the topic (Kafka's `KafkaApis.handleCreateTopicsRequest`).
            let may_create = may_create_any
                || broker.authorize(context, Operation::Create, ResourceType::Topic, &name);
            let result = if !seen.insert(name.to_string()) {
                Err((
                    ResponseError::InvalidRequest,
                    "the topic is named twice in one request".into(),
                ))
            } else if !may_create {
                Err((
                    ResponseError::TopicAuthorizationFailed,
                    "Authorization failed.".into(),
                ))
            } else {
                create(broker, topic, request.validate_only, &mut budget)
            };
            let base = CreatableTopicResult::default().with_name(name);
            match result {
                Ok((id, partitions, config)) => {
                    let result = base
                        .with_error_message(None)
                        .with_topic_id(if version >= 7 { id } else { uuid::Uuid::nil() })
                        .with_num_partitions(partitions)
                        .with_replication_factor(1);
                    // The configs are shown only to whom may DESCRIBE_CONFIGS the topic (Kafka's
                    // `KafkaApis.handleCreateTopicsRequest`); the topic is created regardless.
                    let configs_refused = version >= 5
                        && !broker.allows_quietly(
                            context,
                            Operation::DescribeConfigs,
                            ResourceType::Topic,
                            &result.name,
                        );
                    if configs_refused {
                        result
                            .with_topic_config_error_code(
                                ResponseError::TopicAuthorizationFailed.code(),
                            )
                            .with_configs(None)
                    } else if version >= 5 {
                        result.with_configs(Some(describe(&config)))
                    } else {
                        result.with_num_partitions(-1).with_replication_factor(-1)
                    }
                }
                Err((error, message)) => base
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(message)))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

type Created = (uuid::Uuid, i32, TopicConfig);

fn create(
    broker: &Broker,
    topic: CreatableTopic,
    validate_only: bool,
    budget: &mut usize,
) -> Result<Created, (ResponseError, String)> {
    let partitions = if !topic.assignments.is_empty() {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err((
                ResponseError::InvalidRequest,
                "give either assignments or a partition count and replication factor".into(),
            ));
        }
        let mut indexes: Vec<i32> = topic
            .assignments
            .iter()
            .map(|a| a.partition_index)
            .collect();
        indexes.sort();
        let dense = indexes.iter().enumerate().all(|(i, &p)| p == i as i32);
        let on_this_broker = topic
            .assignments
            .iter()
            .all(|a| a.broker_ids.len() == 1 && a.broker_ids[0].0 == broker.node_id());
        if !dense || !on_this_broker {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                format!(
                    "assignments must cover partitions 0.. on broker {} only",
                    broker.node_id()
                ),
            ));
        }
        Some(indexes.len() as i32)
    } else {
        (topic.num_partitions != -1).then_some(topic.num_partitions)
    };
    let mut configs = BTreeMap::new();
    for config in &topic.configs {
        match &config.value {
            Some(value) => {
                configs.insert(config.name.to_string(), value.to_string());
            }
            None => {
                return Err((
                    ResponseError::InvalidConfig,
                    format!("config {} has a null value", config.name),
                ))
            }
        }
    }
    let spec = TopicSpec {
        name: topic.name.to_string(),
        partitions,
        replication_factor: (topic.replication_factor != -1).then_some(topic.replication_factor),
        configs,
    };
    let wanted = usize::try_from(partitions.unwrap_or(broker.config().num_partitions)).unwrap_or(0);
    if wanted > *budget {
        return Err((
            ResponseError::PolicyViolation,
            format!(
                "the request would create more than {} partitions (max_partitions_per_request)",
                broker.config().max_partitions_per_request
            ),
        ));
    }
    let created = broker.create_topic(spec, validate_only);
    if created.is_ok() {
        *budget -= wanted;
    }
    created
        .map(|c| (c.id, c.partitions, c.config))
        .map_err(|e| match &e {
            CreateTopicError::InvalidReplicationFactor(_) => {
                (ResponseError::InvalidReplicationFactor, e.to_string())
            }
            CreateTopicError::Refused(refused) => (create_error_code(refused), e.to_string()),
        })
}

/// The wire code of a failed creation.
pub fn create_error_code(error: &CreateError) -> ResponseError {
    match error {
        CreateError::AlreadyExists => ResponseError::TopicAlreadyExists,
        CreateError::InvalidName(_) => ResponseError::InvalidTopicException,
        CreateError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        CreateError::InvalidConfig(_) => ResponseError::InvalidConfig,
        CreateError::TooManyPartitions { .. } => ResponseError::PolicyViolation,
        CreateError::Storage(_) => ResponseError::KafkaStorageError,
    }
}

fn describe(config: &TopicConfig) -> Vec<CreatableTopicConfigs> {
    config
        .entries()
        .into_iter()
        .map(|entry| {
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(entry.name))
                .with_value(Some(StrBytes::from_string(entry.value)))
                .with_config_source(if entry.is_set {
                    SOURCE_TOPIC_CONFIG
                } else {
                    SOURCE_DEFAULT_CONFIG
                })
        })
        .collect()
}
