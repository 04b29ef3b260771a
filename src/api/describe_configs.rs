//! DescribeConfigs (key 32): a topic's configs (effective value, source and, when asked,
//! the synonyms it is found under and what it does), or the broker's: its settings at start
//! under Kafka's names (read-only) and the dynamic configs AlterConfigs changes. A `BROKER`
//! resource named "" answers the cluster-wide dynamic defaults only, as Kafka does.

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::config_errors::config_refusal;
use crate::acl::Operation;
use crate::broker::Broker;
use crate::session::RequestContext;
use crate::topics::{keys, ConfigSource, ConfigValueType, Synonym};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// Kafka's `ConfigSource.STATIC_BROKER_CONFIG`: set in the broker's config at start.
const SOURCE_STATIC_BROKER_CONFIG: i8 = 4;
/// v3 added config types and documentation.
const FIRST_TYPED_VERSION: i16 = 3;

/// One config as answered: name, value, source, read-only, type, synonyms, documentation.
struct Described {
    name: String,
    value: Option<String>,
    source: i8,
    read_only: bool,
    value_type: ConfigValueType,
    synonyms: Vec<Synonym>,
    documentation: &'static str,
}

/// What the request asks to see besides values.
#[derive(Clone, Copy)]
struct Wanted {
    synonyms: bool,
    documentation: bool,
}

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let asked = Wanted {
        synonyms: request.include_synonyms,
        documentation: request.include_documentation && version >= FIRST_TYPED_VERSION,
    };
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let refused = config_refusal(
                broker,
                context,
                Operation::DescribeConfigs,
                resource.resource_type,
                resource.resource_name.as_str(),
            );
            let described = match (refused, resource.resource_type) {
                (Some(refusal), _) => Err(refusal),
                (None, RESOURCE_TOPIC) => topic_configs(broker, resource.resource_name.as_str()),
                (None, RESOURCE_BROKER) => broker_configs(broker, resource.resource_name.as_str()),
                (None, other) => Err((
                    ResponseError::InvalidRequest,
                    format!("resource type {other} has no configs here"),
                )),
            };
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match described {
                Ok(configs) => {
                    let wanted = |name: &str| {
                        resource
                            .configuration_keys
                            .as_ref()
                            .is_none_or(|keys| keys.iter().any(|k| k.as_str() == name))
                    };
                    let configs = configs
                        .into_iter()
                        .filter(|c| wanted(&c.name))
                        .map(|c| answer(c, version, asked))
                        .collect();
                    result.with_configs(configs)
                }
                Err((error, message)) => result
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn answer(config: Described, version: i16, wanted: Wanted) -> DescribeConfigsResourceResult {
    let synonyms = match wanted.synonyms {
        true => config
            .synonyms
            .into_iter()
            .map(|s| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_string(s.name))
                    .with_value(Some(StrBytes::from_string(s.value)))
                    .with_source(s.source.code())
            })
            .collect(),
        false => Vec::new(),
    };
    let documentation = wanted
        .documentation
        .then(|| StrBytes::from_static_str(config.documentation));
    let result = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(config.name))
        .with_value(config.value.map(StrBytes::from_string))
        .with_read_only(config.read_only)
        .with_config_source(config.source)
        .with_is_sensitive(false)
        .with_synonyms(synonyms)
        .with_documentation(documentation);
    if version >= FIRST_TYPED_VERSION {
        // Kafka's ConfigType codes.
        result.with_config_type(match config.value_type {
            ConfigValueType::Boolean => 1,
            ConfigValueType::String => 2,
            ConfigValueType::Int => 3,
            ConfigValueType::Long => 5,
            ConfigValueType::Double => 6,
            ConfigValueType::List => 7,
        })
    } else {
        result
    }
}

/// A resource's configs, or why there are none.
type Configs = Result<Vec<Described>, (ResponseError, String)>;

fn topic_configs(broker: &Broker, name: &str) -> Configs {
    let topic = broker.topics().get(name).ok_or_else(|| {
        (
            ResponseError::UnknownTopicOrPartition,
            format!("topic {name} does not exist"),
        )
    })?;
    Ok(topic
        .config
        .entries()
        .into_iter()
        .map(|entry| Described {
            name: entry.name.to_string(),
            value: Some(entry.value),
            source: entry.source.code(),
            read_only: false,
            value_type: entry.value_type,
            synonyms: entry.synonyms,
            documentation: entry.documentation,
        })
        .collect())
}

/// The dynamic broker keys: each with its value, source and synonyms; `cluster_only`, only
/// those set as cluster-wide defaults (the `BROKER` resource "").
fn dynamic_broker_configs(broker: &Broker, cluster_only: bool) -> Vec<Described> {
    let defaults = broker.topics().defaults();
    keys::dynamic_keys()
        .filter_map(|(name, topic_key, _)| {
            let mut synonyms = defaults.broker_synonyms(topic_key);
            if cluster_only {
                let value = defaults.dynamic.cluster.get(name)?.clone();
                synonyms.retain(|s| s.source != ConfigSource::DynamicBroker);
                return Some(Described {
                    name: name.to_string(),
                    value: Some(value),
                    source: ConfigSource::DynamicDefaultBroker.code(),
                    read_only: false,
                    value_type: topic_value_type(topic_key),
                    synonyms,
                    documentation: "",
                });
            }
            let first = synonyms.first();
            Some(Described {
                name: name.to_string(),
                value: first.map(|s| s.value.clone()),
                source: first.map_or(ConfigSource::Default, |s| s.source).code(),
                read_only: false,
                value_type: topic_value_type(topic_key),
                synonyms,
                documentation: "",
            })
        })
        .collect()
}

/// The type of the topic config a broker key is the default of.
fn topic_value_type(topic_key: &str) -> ConfigValueType {
    crate::topics::TopicConfig::default()
        .entries()
        .into_iter()
        .find(|e| e.name == topic_key)
        .map_or(ConfigValueType::String, |e| e.value_type)
}

/// The broker's settings that have a Kafka name.
fn broker_configs(broker: &Broker, name: &str) -> Configs {
    if name.is_empty() {
        return Ok(dynamic_broker_configs(broker, true));
    }
    if name != broker.node_id().to_string() {
        return Err((
            ResponseError::InvalidRequest,
            format!("this is broker {}, not {name}", broker.node_id()),
        ));
    }
    let c = &broker.config();
    let settings: [(&str, String, ConfigValueType); 15] = [
        (
            "broker.id",
            broker.node_id().to_string(),
            ConfigValueType::Int,
        ),
        (
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
            ConfigValueType::Boolean,
        ),
        (
            "num.partitions",
            c.num_partitions.to_string(),
            ConfigValueType::Int,
        ),
        (
            "default.replication.factor",
            "1".into(),
            ConfigValueType::Int,
        ),
        (
            "message.max.bytes",
            c.message_max_bytes.to_string(),
            ConfigValueType::Int,
        ),
        (
            "socket.request.max.bytes",
            c.max_request_bytes.to_string(),
            ConfigValueType::Int,
        ),
        (
            "fetch.max.bytes",
            c.fetch_max_bytes.to_string(),
            ConfigValueType::Int,
        ),
        (
            "connections.max.idle.ms",
            c.connections_max_idle_ms.to_string(),
            ConfigValueType::Long,
        ),
        (
            "log.flush.interval.messages",
            c.log_flush_interval_messages.to_string(),
            ConfigValueType::Long,
        ),
        (
            "log.flush.interval.ms",
            c.log_flush_interval_ms.to_string(),
            ConfigValueType::Long,
        ),
        (
            "log.retention.check.interval.ms",
            c.log_retention_check_interval_ms.to_string(),
            ConfigValueType::Long,
        ),
        (
            "group.initial.rebalance.delay.ms",
            c.group_initial_rebalance_delay_ms.to_string(),
            ConfigValueType::Int,
        ),
        (
            "group.min.session.timeout.ms",
            c.group_min_session_timeout_ms.to_string(),
            ConfigValueType::Int,
        ),
        (
            "group.max.session.timeout.ms",
            c.group_max_session_timeout_ms.to_string(),
            ConfigValueType::Int,
        ),
        (
            "offsets.retention.minutes",
            c.offsets_retention_minutes.to_string(),
            ConfigValueType::Int,
        ),
    ];
    let dynamic = dynamic_broker_configs(broker, false);
    let mut configs: Vec<Described> = settings
        .into_iter()
        .filter(|(name, _, _)| keys::topic_key_of(name).is_none())
        .map(|(name, value, value_type)| Described {
            name: name.to_string(),
            value: Some(value.clone()),
            source: SOURCE_STATIC_BROKER_CONFIG,
            read_only: true,
            value_type,
            synonyms: vec![Synonym {
                name: name.to_string(),
                value,
                source: ConfigSource::StaticBroker,
            }],
            documentation: "",
        })
        .collect();
    configs.extend(dynamic);
    Ok(configs)
}
