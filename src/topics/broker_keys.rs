//! The broker keys behind topic configs: each topic config's broker synonyms (Kafka's
//! names, such as `log.retention.ms` for `retention.ms`, with Kafka's defaults), the dynamic
//! broker configs AlterConfigs sets (cluster-wide defaults and this broker's own), and the
//! check of a dynamic broker config, by the topic validator of the config it is a default of.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::config::check_topic_config;

/// A broker key and Kafka's default for it (`None`: Kafka has none, and the next synonym's
/// applies).
type BrokerKey = (&'static str, Option<&'static str>);

const MAX: Option<&str> = Some("9223372036854775807");

/// Each topic config, its broker synonyms (the dynamic one first) and a line saying what it
/// does. Only the first synonym can be set dynamically here; the others are the older
/// aliases Kafka reports defaults under.
const SYNONYMS: &[(&str, &[BrokerKey], &str)] = &[
    (
        "cleanup.policy",
        &[("log.cleanup.policy", Some("delete"))],
        "What happens to old segments: delete them (retention), compact them (latest record per key), or both.",
    ),
    (
        "compression.type",
        &[("compression.type", Some("producer"))],
        "The codec batches are stored with; producer keeps the one the producer chose.",
    ),
    (
        "delete.retention.ms",
        &[("log.cleaner.delete.retention.ms", Some("86400000"))],
        "How long a compacted topic keeps a tombstone.",
    ),
    (
        "file.delete.delay.ms",
        &[("log.segment.delete.delay.ms", Some("60000"))],
        "How long a deleted segment's files stay before they are removed.",
    ),
    (
        "flush.messages",
        &[("log.flush.interval.messages", MAX)],
        "Records appended between two fsyncs of a partition.",
    ),
    (
        "flush.ms",
        &[
            ("log.flush.interval.ms", None),
            ("log.flush.scheduler.interval.ms", MAX),
        ],
        "Milliseconds between two fsyncs of a partition.",
    ),
    (
        "index.interval.bytes",
        &[("log.index.interval.bytes", Some("4096"))],
        "Bytes appended between two offset-index entries.",
    ),
    (
        "max.compaction.lag.ms",
        &[("log.cleaner.max.compaction.lag.ms", MAX)],
        "The longest a record may stay uncompacted.",
    ),
    (
        "max.message.bytes",
        &[("message.max.bytes", Some("1048588"))],
        "The largest record batch the topic accepts, in bytes.",
    ),
    (
        "message.timestamp.after.max.ms",
        &[("log.message.timestamp.after.max.ms", MAX)],
        "How far after the broker's clock a CreateTime timestamp may be.",
    ),
    (
        "message.timestamp.before.max.ms",
        &[("log.message.timestamp.before.max.ms", MAX)],
        "How far before the broker's clock a CreateTime timestamp may be.",
    ),
    (
        "message.timestamp.type",
        &[("log.message.timestamp.type", Some("CreateTime"))],
        "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the broker's time.",
    ),
    (
        "min.cleanable.dirty.ratio",
        &[("log.cleaner.min.cleanable.ratio", Some("0.5"))],
        "The share of uncompacted bytes above which the log is compacted.",
    ),
    (
        "min.compaction.lag.ms",
        &[("log.cleaner.min.compaction.lag.ms", Some("0"))],
        "The shortest a record stays uncompacted.",
    ),
    (
        "min.insync.replicas",
        &[("min.insync.replicas", Some("1"))],
        "Replicas that must have a record for acks=all; a single broker is always one.",
    ),
    (
        "preallocate",
        &[("log.preallocate", Some("false"))],
        "Whether segment files are preallocated.",
    ),
    (
        "retention.bytes",
        &[("log.retention.bytes", Some("-1"))],
        "The most bytes a partition keeps before old segments are deleted; -1 is no limit.",
    ),
    (
        "retention.ms",
        &[
            ("log.retention.ms", None),
            ("log.retention.minutes", None),
            ("log.retention.hours", Some("168")),
        ],
        "How long a segment is kept after its newest record; -1 is forever.",
    ),
    (
        "segment.bytes",
        &[("log.segment.bytes", Some("1073741824"))],
        "The size at which a segment is rolled.",
    ),
    (
        "segment.index.bytes",
        &[("log.index.size.max.bytes", Some("10485760"))],
        "The size each segment's index is allocated.",
    ),
    (
        "segment.jitter.ms",
        &[("log.roll.jitter.ms", None), ("log.roll.jitter.hours", Some("0"))],
        "The most random time taken off segment.ms, so segments do not all roll at once.",
    ),
    (
        "segment.ms",
        &[("log.roll.ms", None), ("log.roll.hours", Some("168"))],
        "The age at which a segment is rolled even if not full.",
    ),
    (
        "unclean.leader.election.enable",
        &[("unclean.leader.election.enable", Some("false"))],
        "Whether an out-of-sync replica may lead; a single broker has no other.",
    ),
];

/// The broker synonyms of topic config `key`, the dynamic one first; empty for an unknown
/// key.
pub fn synonyms_of(key: &str) -> &'static [BrokerKey] {
    SYNONYMS
        .iter()
        .find(|(topic, _, _)| *topic == key)
        .map_or(&[], |(_, synonyms, _)| synonyms)
}

/// What topic config `key` does, for DescribeConfigs' documentation.
pub(super) fn documentation(key: &str) -> &'static str {
    SYNONYMS
        .iter()
        .find(|(topic, _, _)| *topic == key)
        .map_or("", |(_, _, doc)| doc)
}

/// The topic config whose default the dynamic broker key `broker_key` is.
pub fn topic_key_of(broker_key: &str) -> Option<&'static str> {
    SYNONYMS
        .iter()
        .find(|(_, synonyms, _)| {
            synonyms
                .first()
                .is_some_and(|(name, _)| *name == broker_key)
        })
        .map(|(topic, _, _)| *topic)
}

/// Every broker key that can be set dynamically, with Kafka's default.
pub fn dynamic_keys() -> impl Iterator<Item = (&'static str, &'static str, Option<&'static str>)> {
    SYNONYMS.iter().filter_map(|(topic, synonyms, _)| {
        synonyms
            .first()
            .map(|(name, default)| (*name, *topic, *default))
    })
}

/// The broker configs set at run time (AlterConfigs on `BROKER` resources): Kafka's
/// cluster-wide defaults (resource name "") and this broker's own (its node id), which come
/// first. Persisted, so a restart keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicBrokerConfigs {
    #[serde(default)]
    pub cluster: BTreeMap<String, String>,
    #[serde(default)]
    pub node: BTreeMap<String, String>,
}

/// Which dynamic broker configs a `BROKER` resource names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerScope {
    /// Resource name "": the cluster-wide defaults.
    Cluster,
    /// The node id: this broker's own.
    Node,
}

impl DynamicBrokerConfigs {
    pub fn scope(&self, scope: BrokerScope) -> &BTreeMap<String, String> {
        match scope {
            BrokerScope::Cluster => &self.cluster,
            BrokerScope::Node => &self.node,
        }
    }

    /// The same configs with `scope`'s replaced.
    pub fn with_scope(&self, scope: BrokerScope, configs: BTreeMap<String, String>) -> Self {
        let mut next = self.clone();
        match scope {
            BrokerScope::Cluster => next.cluster = configs,
            BrokerScope::Node => next.node = configs,
        }
        next
    }
}

/// Why a dynamic broker config is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerConfigError {
    /// Not a key this broker changes at run time (Kafka: INVALID_REQUEST).
    NotDynamic(String),
    /// A value its type refuses (Kafka: INVALID_REQUEST, the message of the ConfigException).
    InvalidValue(String),
}

/// Checks a whole set of dynamic broker configs, as they would be after a change.
pub(super) fn check_broker_configs(
    configs: &BTreeMap<String, String>,
) -> Result<(), BrokerConfigError> {
    let not_dynamic: Vec<&str> = configs
        .keys()
        .filter(|k| topic_key_of(k).is_none())
        .map(String::as_str)
        .collect();
    if !not_dynamic.is_empty() {
        return Err(BrokerConfigError::NotDynamic(format!(
            "Cannot update these configs dynamically: Set({})",
            not_dynamic.join(", ")
        )));
    }
    for (key, value) in configs {
        if let Some(topic_key) = topic_key_of(key) {
            check_topic_config(topic_key, value).map_err(|e| {
                BrokerConfigError::InvalidValue(format!(
                    "Invalid value {value} for configuration {key}: {}",
                    e.reason
                ))
            })?;
        }
    }
    Ok(())
}

/// Whether dynamic broker key `key` holds a list (APPEND and SUBTRACT apply to it).
pub fn is_list_broker_key(key: &str) -> bool {
    topic_key_of(key).is_some_and(super::config::is_list_config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_config_has_broker_synonyms_and_each_dynamic_key_maps_back() {
        for (name, topic, _) in dynamic_keys() {
            assert_eq!(topic_key_of(name), Some(topic));
            assert!(super::super::config::is_topic_config(topic), "{topic}");
        }
        assert_eq!(topic_key_of("log.retention.ms"), Some("retention.ms"));
        assert_eq!(
            topic_key_of("log.retention.hours"),
            None,
            "an alias is not dynamic"
        );
        assert_eq!(synonyms_of("retention.ms").len(), 3);
    }

    #[test]
    fn broker_configs_are_checked_by_the_topic_validator() {
        let set = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert_eq!(
            check_broker_configs(&set("log.retention.ms", "1000")),
            Ok(())
        );
        assert!(matches!(
            check_broker_configs(&set("log.retention.ms", "soon")),
            Err(BrokerConfigError::InvalidValue(m)) if m.contains("log.retention.ms")
        ));
        assert!(matches!(
            check_broker_configs(&set("num.partitions", "3")),
            Err(BrokerConfigError::NotDynamic(m)) if m.contains("num.partitions")
        ));
        assert!(matches!(
            check_broker_configs(&set("log.cleanup.policy", "compact,shred")),
            Err(BrokerConfigError::InvalidValue(_))
        ));
        assert!(is_list_broker_key("log.cleanup.policy"));
        assert!(!is_list_broker_key("log.retention.ms"));
    }
}
