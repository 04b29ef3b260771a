//! Changing configs at run time, with Kafka's rules (its `ConfigAdminManager` and the
//! controller's validation, on a single KRaft node): which resources may be altered, how
//! IncrementalAlterConfigs' operations apply, which refusal each mistake gets. `TOPIC`
//! resources change a topic's overrides; `BROKER` resources the dynamic broker configs,
//! named "" (the cluster-wide defaults) or by this broker's node id.

use std::collections::{BTreeMap, HashSet};

use super::Broker;
use crate::topics::{
    self, apply_ops, keys, validate_name, AlterError, BrokerConfigError, BrokerScope, ConfigOp,
};

/// Kafka's `ConfigResource.Type` ids.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// Why a resource's configs were not changed, by Kafka's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigAdminError {
    InvalidRequest(String),
    InvalidConfig(String),
    UnknownTopic(String),
    InvalidTopic(String),
    /// The change could not be persisted.
    Storage(String),
}

/// The resource a request names.
enum Resource {
    Topic(String),
    Broker(BrokerScope),
}

impl Broker {
    /// IncrementalAlterConfigs on one resource: `ops` are (key, Kafka op id, value).
    pub fn incremental_alter_configs(
        &self,
        resource_type: i8,
        name: &str,
        ops: Vec<(String, i8, Option<String>)>,
        validate_only: bool,
    ) -> Result<(), ConfigAdminError> {
        no_duplicate_keys(ops.iter().map(|(k, _, _)| k))?;
        no_null_values(
            ops.iter()
                .filter(|(_, op, value)| *op != 1 && value.is_none())
                .map(|(k, _, _)| k),
        )?;
        let resource = self.resource(resource_type, name)?;
        let mut parsed = Vec::with_capacity(ops.len());
        for (key, op, value) in ops {
            let op = ConfigOp::from_wire(op, value).ok_or_else(|| {
                ConfigAdminError::InvalidRequest(format!("Unknown operations type {op}"))
            })?;
            parsed.push((key, op));
        }
        match resource {
            Resource::Topic(topic) => {
                let current = self
                    .topics()
                    .get(&topic)
                    .map(|t| t.config.overrides().clone())
                    .unwrap_or_default();
                let next = apply_ops(&current, &parsed, topics::is_list_config, |k| {
                    topics::kafka_default(k).map(str::to_string)
                })
                .map_err(|e| {
                    ConfigAdminError::InvalidConfig(format!(
                        "Can't {} to key {} because its type is not LIST.",
                        e.op, e.key
                    ))
                })?;
                self.alter_topic(&topic, next, validate_only)
            }
            Resource::Broker(scope) => {
                for (key, op) in &parsed {
                    if matches!(op, ConfigOp::Append(_) | ConfigOp::Subtract(_)) {
                        if keys::topic_key_of(key).is_none() {
                            return Err(ConfigAdminError::InvalidConfig(format!(
                                "Unknown config name: {key}"
                            )));
                        }
                        if !keys::is_list_broker_key(key) {
                            let verb = match op {
                                ConfigOp::Append(_) => "append",
                                _ => "subtract",
                            };
                            return Err(ConfigAdminError::InvalidConfig(format!(
                                "Config value {verb} is not allowed for config key: {key}"
                            )));
                        }
                    }
                }
                let current = self.topics().broker_configs().scope(scope).clone();
                let next = apply_ops(&current, &parsed, keys::is_list_broker_key, |k| {
                    keys::topic_key_of(k)
                        .and_then(|t| keys::synonyms_of(t).first())
                        .and_then(|(_, default)| default.map(str::to_string))
                })
                .map_err(|e| ConfigAdminError::InvalidConfig(format!("{e:?}")))?;
                self.alter_broker(scope, next, validate_only)
            }
        }
    }

    /// AlterConfigs (the legacy API) on one resource: `configs` replace every dynamic config
    /// the resource has; those left out return to their defaults.
    pub fn alter_configs(
        &self,
        resource_type: i8,
        name: &str,
        configs: Vec<(String, Option<String>)>,
        validate_only: bool,
    ) -> Result<(), ConfigAdminError> {
        no_duplicate_keys(configs.iter().map(|(k, _)| k))?;
        no_null_values(configs.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| k))?;
        let resource = self.resource(resource_type, name)?;
        let configs: BTreeMap<String, String> = configs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        match resource {
            Resource::Topic(topic) => self.alter_topic(&topic, configs, validate_only),
            Resource::Broker(scope) => self.alter_broker(scope, configs, validate_only),
        }
    }

    fn resource(&self, resource_type: i8, name: &str) -> Result<Resource, ConfigAdminError> {
        match resource_type {
            RESOURCE_TOPIC => {
                if name.is_empty() {
                    return Err(ConfigAdminError::InvalidRequest(
                        "Default topic resources are not allowed.".into(),
                    ));
                }
                validate_name(name).map_err(|e| ConfigAdminError::InvalidTopic(e.to_string()))?;
                Ok(Resource::Topic(name.to_string()))
            }
            RESOURCE_BROKER if name.is_empty() => Ok(Resource::Broker(BrokerScope::Cluster)),
            RESOURCE_BROKER => {
                let id: i32 = name.parse().map_err(|_| {
                    ConfigAdminError::InvalidRequest(format!(
                        "Node id must be an integer, but it is: {name}"
                    ))
                })?;
                if id != self.node_id() {
                    return Err(ConfigAdminError::InvalidRequest(format!(
                        "Unexpected broker id, expected {}, but received {name}",
                        self.node_id()
                    )));
                }
                Ok(Resource::Broker(BrokerScope::Node))
            }
            other => Err(ConfigAdminError::InvalidRequest(format!(
                "Unknown resource type {other}"
            ))),
        }
    }

    fn alter_topic(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), ConfigAdminError> {
        crate::blocking::run(|| {
            self.topics()
                .alter_topic_configs(name, configs, validate_only)
        })
        .map_err(admin_error)
    }

    fn alter_broker(
        &self,
        scope: BrokerScope,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), ConfigAdminError> {
        crate::blocking::run(|| {
            self.topics()
                .alter_broker_configs(scope, configs, validate_only)
        })
        .map_err(admin_error)
    }
}

fn admin_error(error: AlterError) -> ConfigAdminError {
    match error {
        AlterError::UnknownTopic(_) => ConfigAdminError::UnknownTopic(error.to_string()),
        AlterError::InvalidConfig(e) => ConfigAdminError::InvalidConfig(e.message()),
        // Kafka answers INVALID_REQUEST for a broker config it cannot apply (KAFKA-13609).
        AlterError::InvalidBrokerConfig(
            BrokerConfigError::NotDynamic(m) | BrokerConfigError::InvalidValue(m),
        ) => ConfigAdminError::InvalidRequest(m),
        AlterError::Storage(e) => {
            tracing::error!(error = %e, "cannot persist a config change");
            ConfigAdminError::Storage(e.to_string())
        }
    }
}

fn no_duplicate_keys<'a>(keys: impl Iterator<Item = &'a String>) -> Result<(), ConfigAdminError> {
    let mut seen = HashSet::new();
    for key in keys {
        if !seen.insert(key) {
            return Err(ConfigAdminError::InvalidRequest(
                "Error due to duplicate config keys".into(),
            ));
        }
    }
    Ok(())
}

fn no_null_values<'a>(keys: impl Iterator<Item = &'a String>) -> Result<(), ConfigAdminError> {
    let nulls: Vec<&str> = keys.map(String::as_str).collect();
    if nulls.is_empty() {
        return Ok(());
    }
    Err(ConfigAdminError::InvalidRequest(format!(
        "Null value not supported for : {}",
        nulls.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::topic_admin::TopicSpec;
    use crate::config::Config;
    use crate::node::Node;

    fn set(key: &str, value: &str) -> (String, i8, Option<String>) {
        (key.into(), 0, Some(value.into()))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kafkas_refusals_for_each_mistake() {
        let node = Node::start(Config::for_tests()).await.unwrap();
        let broker = node.broker();
        let spec = TopicSpec {
            name: "t".into(),
            partitions: Some(1),
            ..TopicSpec::default()
        };
        broker.create_topic(spec, false).unwrap();
        let topic = |ops| broker.incremental_alter_configs(RESOURCE_TOPIC, "t", ops, false);
        let invalid_request =
            |r: Result<(), ConfigAdminError>| matches!(r, Err(ConfigAdminError::InvalidRequest(_)));
        let invalid_config =
            |r: Result<(), ConfigAdminError>| matches!(r, Err(ConfigAdminError::InvalidConfig(_)));

        assert!(invalid_request(topic(vec![
            set("retention.ms", "1"),
            set("retention.ms", "2")
        ])));
        assert!(invalid_request(topic(vec![(
            "retention.ms".into(),
            0,
            None
        )])));
        assert_eq!(
            topic(vec![("retention.ms".into(), 1, None)]),
            Ok(()),
            "DELETE needs no value"
        );
        assert!(invalid_request(topic(vec![(
            "retention.ms".into(),
            9,
            Some("1".into())
        )])));
        assert_eq!(
            topic(vec![("retention.ms".into(), 2, Some("1".into()))]),
            Err(ConfigAdminError::InvalidConfig(
                "Can't APPEND to key retention.ms because its type is not LIST.".into()
            ))
        );
        assert!(invalid_config(topic(vec![set("retention.ms", "soon")])));
        assert!(invalid_config(topic(vec![set("no.such.key", "1")])));
        assert!(matches!(
            broker.incremental_alter_configs(
                RESOURCE_TOPIC,
                "absent",
                vec![set("retention.ms", "1")],
                false
            ),
            Err(ConfigAdminError::UnknownTopic(_))
        ));
        assert!(matches!(
            broker.alter_configs(RESOURCE_TOPIC, "bad name", vec![], false),
            Err(ConfigAdminError::InvalidTopic(_))
        ));
        assert!(invalid_request(broker.alter_configs(
            RESOURCE_TOPIC,
            "",
            vec![],
            false
        )));

        let on_broker =
            |name: &str, ops| broker.incremental_alter_configs(RESOURCE_BROKER, name, ops, false);
        assert!(invalid_request(on_broker(
            "abc",
            vec![set("log.retention.ms", "1")]
        )));
        assert!(invalid_request(on_broker(
            "99",
            vec![set("log.retention.ms", "1")]
        )));
        assert!(invalid_request(on_broker(
            "",
            vec![set("num.partitions", "1")]
        )));
        assert!(invalid_request(on_broker(
            "",
            vec![set("log.retention.ms", "soon")]
        )));
        assert!(invalid_config(on_broker(
            "",
            vec![("log.retention.ms".into(), 2, Some("1".into()))]
        )));
        assert!(invalid_config(on_broker(
            "",
            vec![("no.such".into(), 3, Some("1".into()))]
        )));
        let id = broker.node_id().to_string();
        assert_eq!(
            on_broker(
                &id,
                vec![("log.cleanup.policy".into(), 2, Some("compact".into()))]
            ),
            Ok(())
        );
        assert_eq!(
            broker
                .topics()
                .broker_configs()
                .node
                .get("log.cleanup.policy")
                .map(String::as_str),
            Some("delete,compact"),
            "APPEND starts from the broker key's default"
        );
        let t = broker.topics().get("t").unwrap();
        assert!(t.config.cleanup_policy_compacts() && t.config.cleanup_policy_deletes());
        assert!(invalid_request(broker.alter_configs(8, "x", vec![], false)));
        node.shutdown().await;
    }
}
