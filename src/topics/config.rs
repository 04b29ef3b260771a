//! Topic configs: Kafka's names and defaults, checked once when a topic is made, and read
//! as typed values.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::broker_keys::{self, DynamicBrokerConfigs};
use crate::clock::Clock;
use crate::log::open_files::OpenFiles;
use crate::log::SegmentConfig;

/// How a topic config value is checked.
#[derive(Debug, Clone, Copy)]
enum ConfigKind {
    Int {
        min: i64,
    },
    Long {
        min: i64,
    },
    Ratio,
    Bool,
    OneOf(&'static [&'static str]),
    /// A comma-separated list whose items are each one of these.
    ListOf(&'static [&'static str]),
}

impl ConfigKind {
    fn value_type(self) -> ConfigValueType {
        match self {
            ConfigKind::Int { .. } => ConfigValueType::Int,
            ConfigKind::Long { .. } => ConfigValueType::Long,
            ConfigKind::Ratio => ConfigValueType::Double,
            ConfigKind::Bool => ConfigValueType::Boolean,
            ConfigKind::OneOf(_) => ConfigValueType::String,
            ConfigKind::ListOf(_) => ConfigValueType::List,
        }
    }
}

/// A config value's type, as DescribeConfigs reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigValueType {
    Boolean,
    String,
    Int,
    Long,
    Double,
    List,
}

/// Where a config's value comes from, as Kafka's `ConfigSource` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// The topic's own override.
    Topic,
    /// A dynamic config of this broker (`BROKER` resource named by the node id).
    DynamicBroker,
    /// A dynamic cluster-wide default (`BROKER` resource named "").
    DynamicDefaultBroker,
    /// The broker's configuration at start.
    StaticBroker,
    /// Kafka's default.
    Default,
}

impl ConfigSource {
    /// Kafka's `ConfigSource` id.
    pub fn code(self) -> i8 {
        match self {
            ConfigSource::Topic => 1,
            ConfigSource::DynamicBroker => 2,
            ConfigSource::DynamicDefaultBroker => 3,
            ConfigSource::StaticBroker => 4,
            ConfigSource::Default => 5,
        }
    }
}

/// One name a config's value is found under, and where: the topic override or a broker
/// key (DescribeConfigs' synonyms, most specific first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    pub name: String,
    pub value: String,
    pub source: ConfigSource,
}

/// One topic config: its effective value, where it comes from and the synonyms it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: &'static str,
    pub value: String,
    pub is_set: bool,
    pub value_type: ConfigValueType,
    pub source: ConfigSource,
    pub synonyms: Vec<Synonym>,
    pub documentation: &'static str,
}

/// The topic configs Sluice knows, with Kafka's names and defaults.
const TOPIC_CONFIGS: &[(&str, &str, ConfigKind)] = &[
    (
        "cleanup.policy",
        "delete",
        ConfigKind::ListOf(&["delete", "compact"]),
    ),
    (
        "compression.type",
        "producer",
        ConfigKind::OneOf(&["uncompressed", "producer", "gzip", "snappy", "lz4", "zstd"]),
    ),
    (
        "delete.retention.ms",
        "86400000",
        ConfigKind::Long { min: 0 },
    ),
    ("file.delete.delay.ms", "60000", ConfigKind::Long { min: 0 }),
    (
        "flush.messages",
        "9223372036854775807",
        ConfigKind::Long { min: 1 },
    ),
    (
        "flush.ms",
        "9223372036854775807",
        ConfigKind::Long { min: 0 },
    ),
    ("index.interval.bytes", "4096", ConfigKind::Int { min: 0 }),
    (
        "max.compaction.lag.ms",
        "9223372036854775807",
        ConfigKind::Long { min: 1 },
    ),
    ("max.message.bytes", "1048588", ConfigKind::Int { min: 0 }),
    (
        "message.timestamp.after.max.ms",
        "9223372036854775807",
        ConfigKind::Long { min: 0 },
    ),
    (
        "message.timestamp.before.max.ms",
        "9223372036854775807",
        ConfigKind::Long { min: 0 },
    ),
    (
        "message.timestamp.type",
        "CreateTime",
        ConfigKind::OneOf(&["CreateTime", "LogAppendTime"]),
    ),
    ("min.cleanable.dirty.ratio", "0.5", ConfigKind::Ratio),
    ("min.compaction.lag.ms", "0", ConfigKind::Long { min: 0 }),
    ("min.insync.replicas", "1", ConfigKind::Int { min: 1 }),
    ("preallocate", "false", ConfigKind::Bool),
    ("retention.bytes", "-1", ConfigKind::Long { min: -1 }),
    ("retention.ms", "604800000", ConfigKind::Long { min: -1 }),
    ("segment.bytes", "1073741824", ConfigKind::Int { min: 14 }),
    (
        "segment.index.bytes",
        "10485760",
        ConfigKind::Int { min: 4 },
    ),
    ("segment.jitter.ms", "0", ConfigKind::Long { min: 0 }),
    ("segment.ms", "604800000", ConfigKind::Long { min: 1 }),
    ("unclean.leader.election.enable", "false", ConfigKind::Bool),
];

/// A topic config value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidConfig {
    pub key: String,
    pub reason: String,
    /// The value refused; `None` when the key itself is unknown.
    pub value: Option<String>,
}

impl InvalidConfig {
    /// The reason as Kafka words it: `Unknown topic config name: x` or `Invalid value v for
    /// configuration x: why`.
    pub fn message(&self) -> String {
        match &self.value {
            None => format!("Unknown topic config name: {}", self.key),
            Some(value) => format!(
                "Invalid value {value} for configuration {}: {}",
                self.key, self.reason
            ),
        }
    }
}

fn kind_of(key: &str) -> Option<ConfigKind> {
    TOPIC_CONFIGS
        .iter()
        .find(|(name, _, _)| *name == key)
        .map(|(_, _, kind)| *kind)
}

/// Whether `key` is a known topic config.
pub fn is_topic_config(key: &str) -> bool {
    kind_of(key).is_some()
}

/// Whether `key` is a topic config whose value is a comma-separated list (the only kind
/// IncrementalAlterConfigs may APPEND to or SUBTRACT from).
pub fn is_list_config(key: &str) -> bool {
    matches!(kind_of(key), Some(ConfigKind::ListOf(_)))
}

/// Kafka's default of a topic config, before any broker setting.
pub fn kafka_default(key: &str) -> Option<&'static str> {
    TOPIC_CONFIGS
        .iter()
        .find(|(name, _, _)| *name == key)
        .map(|(_, default, _)| *default)
}

/// Checks one topic config: the key must be known and the value fit its type. The one
/// validator of topic configs, whoever sets them (CreateTopics, AlterConfigs, broker
/// defaults).
pub fn check_topic_config(key: &str, value: &str) -> Result<(), InvalidConfig> {
    let Some(kind) = kind_of(key) else {
        return Err(InvalidConfig {
            key: key.to_string(),
            reason: "unknown topic config".into(),
            value: None,
        });
    };
    check_value(kind, value).map_err(|reason| InvalidConfig {
        key: key.to_string(),
        reason,
        value: Some(value.to_string()),
    })
}

fn check_value(kind: ConfigKind, value: &str) -> Result<(), String> {
    let within = |min: i64, max: i64| match value.trim().parse::<i64>() {
        Ok(v) if v >= min && v <= max => Ok(()),
        Ok(v) => Err(format!("{v} is outside {min}..={max}")),
        Err(_) => Err(format!("{value:?} is not a whole number")),
    };
    match kind {
        ConfigKind::Int { min } => within(min, i64::from(i32::MAX)),
        ConfigKind::Long { min } => within(min, i64::MAX),
        ConfigKind::Ratio => match value.trim().parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => Ok(()),
            _ => Err(format!("{value:?} is not a number between 0 and 1")),
        },
        ConfigKind::Bool => match value.trim() {
            "true" | "false" => Ok(()),
            _ => Err(format!("{value:?} is not true or false")),
        },
        ConfigKind::OneOf(allowed) => {
            if allowed.contains(&value) {
                Ok(())
            } else {
                Err(format!("{value:?} is not one of {}", allowed.join(", ")))
            }
        }
        ConfigKind::ListOf(allowed) => {
            if value.split(',').all(|item| allowed.contains(&item.trim())) {
                Ok(())
            } else {
                Err(format!("{value:?} is not a list of {}", allowed.join(", ")))
            }
        }
    }
}

/// The broker settings that are the defaults of topic configs: those of the broker's
/// configuration at start (Kafka's `message.max.bytes`, `log.flush.interval.messages`,
/// `log.flush.interval.ms` and `log.cleanup.policy`) and the dynamic ones AlterConfigs sets,
/// which come first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDefaults {
    pub max_message_bytes: i32,
    pub flush_messages: i64,
    pub flush_ms: i64,
    /// Shared by every topic's config: cloning a config must not copy them.
    pub dynamic: Arc<DynamicBrokerConfigs>,
    /// One of [`CLEANUP_POLICIES`].
    pub cleanup_policy: &'static str,
}

/// The broker-wide `cleanup.policy` defaults there can be.
const CLEANUP_POLICIES: [&str; 3] = ["delete", "compact", "compact,delete"];

/// The default policy `setting` names (either order of `compact,delete`), if any.
pub fn cleanup_policy_default(setting: &str) -> Option<&'static str> {
    let mut items: Vec<&str> = setting.split(',').map(str::trim).collect();
    items.sort_unstable();
    items.dedup();
    match items.as_slice() {
        ["delete"] => Some(CLEANUP_POLICIES[0]),
        ["compact"] => Some(CLEANUP_POLICIES[1]),
        ["compact", "delete"] => Some(CLEANUP_POLICIES[2]),
        _ => None,
    }
}

/// What the log cleaner reads of a topic at each pass (Kafka's names): `delete.retention.ms`,
/// `min.compaction.lag.ms`, `max.compaction.lag.ms`, `min.cleanable.dirty.ratio`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactionConfig {
    pub delete_retention_ms: i64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub min_cleanable_dirty_ratio: f64,
}

impl Default for TopicDefaults {
    fn default() -> Self {
        TopicDefaults {
            max_message_bytes: 1_048_588,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            dynamic: Arc::default(),
            cleanup_policy: "delete",
        }
    }
}

impl TopicDefaults {
    /// The value the broker's configuration at start gives `broker_key`, when it is one
    /// Sluice takes from its own settings and differs from Kafka's default (Kafka reports
    /// those as STATIC_BROKER_CONFIG).
    fn static_value(&self, broker_key: &str) -> Option<String> {
        if broker_key == "log.cleanup.policy" {
            return (self.cleanup_policy != "delete").then(|| self.cleanup_policy.to_string());
        }
        let (value, kafka_default) = match broker_key {
            "message.max.bytes" => (i64::from(self.max_message_bytes), 1_048_588),
            "log.flush.interval.messages" => (self.flush_messages, i64::MAX),
            "log.flush.interval.ms" => (self.flush_ms, i64::MAX),
            _ => return None,
        };
        (value != kafka_default).then(|| value.to_string())
    }

    /// The default of topic config `key` and where it comes from: this broker's dynamic
    /// config, the cluster's dynamic default, the configuration at start, Kafka's default.
    fn default_of(&self, key: &str) -> (String, ConfigSource) {
        let synonyms = broker_keys::synonyms_of(key);
        if let Some(primary) = synonyms.first().map(|(name, _)| *name) {
            if let Some(v) = self.dynamic.node.get(primary) {
                return (v.clone(), ConfigSource::DynamicBroker);
            }
            if let Some(v) = self.dynamic.cluster.get(primary) {
                return (v.clone(), ConfigSource::DynamicDefaultBroker);
            }
            if let Some(v) = self.static_value(primary) {
                return (v, ConfigSource::StaticBroker);
            }
        }
        let value = kafka_default(key).unwrap_or_default().to_string();
        (value, ConfigSource::Default)
    }

    /// The broker keys that give topic config `key` a value, most specific first, as
    /// Kafka's DescribeConfigs lists them: dynamic per-broker, dynamic cluster default,
    /// static, default; starting at the key's own broker name (a value found only under an
    /// older alias, such as `log.retention.hours`, is not listed).
    pub fn broker_synonyms(&self, key: &str) -> Vec<Synonym> {
        let synonyms = broker_keys::synonyms_of(key);
        let Some(primary) = synonyms.first().map(|(name, _)| *name) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        let mut add = |name: &str, value: Option<String>, source| {
            if let Some(value) = value {
                found.push(Synonym {
                    name: name.to_string(),
                    value,
                    source,
                });
            }
        };
        for (name, _) in synonyms {
            add(
                name,
                self.dynamic.node.get(*name).cloned(),
                ConfigSource::DynamicBroker,
            );
        }
        for (name, _) in synonyms {
            add(
                name,
                self.dynamic.cluster.get(*name).cloned(),
                ConfigSource::DynamicDefaultBroker,
            );
        }
        for (name, _) in synonyms {
            add(name, self.static_value(name), ConfigSource::StaticBroker);
        }
        for (name, default) in synonyms {
            add(name, default.map(str::to_string), ConfigSource::Default);
        }
        let first = found.iter().position(|s| s.name == primary);
        found.split_off(first.unwrap_or(found.len()))
    }
}

/// A topic's configs: the overrides it was created with, over the defaults, and the
/// effective values parsed once, when the config is made — produce and the upkeep loop read
/// typed fields, never strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicConfig {
    overrides: BTreeMap<String, String>,
    defaults: TopicDefaults,
    typed: Typed,
}

/// The effective values the broker acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Typed {
    segment_bytes: u64,
    segment_ms: i64,
    index_interval_bytes: usize,
    max_index_bytes: usize,
    retention_ms: i64,
    retention_bytes: i64,
    cleanup_deletes: bool,
    cleanup_compacts: bool,
    flush_messages: i64,
    flush_ms: i64,
    max_message_bytes: usize,
    log_append_time: bool,
    timestamp_before_max_ms: i64,
    timestamp_after_max_ms: i64,
}

impl TopicConfig {
    /// Validates every override; an unknown key or a bad value names the key.
    pub fn new(
        overrides: BTreeMap<String, String>,
        defaults: TopicDefaults,
    ) -> Result<TopicConfig, InvalidConfig> {
        for (key, value) in &overrides {
            check_topic_config(key, value)?;
        }
        let mut config = TopicConfig {
            overrides,
            defaults,
            typed: Typed::default(),
        };
        config.typed = config.parse();
        Ok(config)
    }

    /// The effective values, from strings already checked by [`check_value`].
    fn parse(&self) -> Typed {
        let number = |key: &str| -> i64 { self.value(key).trim().parse().unwrap_or(0) };
        let policies = self.value("cleanup.policy");
        let policy = |wanted: &str| policies.split(',').any(|p| p.trim() == wanted);
        Typed {
            segment_bytes: number("segment.bytes") as u64,
            segment_ms: number("segment.ms"),
            index_interval_bytes: number("index.interval.bytes") as usize,
            max_index_bytes: number("segment.index.bytes") as usize,
            retention_ms: number("retention.ms"),
            retention_bytes: number("retention.bytes"),
            cleanup_deletes: policy("delete"),
            cleanup_compacts: policy("compact"),
            flush_messages: number("flush.messages"),
            flush_ms: number("flush.ms"),
            max_message_bytes: number("max.message.bytes").max(0) as usize,
            log_append_time: self.value("message.timestamp.type") == "LogAppendTime",
            timestamp_before_max_ms: number("message.timestamp.before.max.ms"),
            timestamp_after_max_ms: number("message.timestamp.after.max.ms"),
        }
    }

    /// The same overrides over other defaults (the broker's dynamic defaults changed). The
    /// overrides were checked when this config was made.
    pub fn with_defaults(&self, defaults: TopicDefaults) -> TopicConfig {
        let mut config = TopicConfig {
            overrides: self.overrides.clone(),
            defaults,
            typed: Typed::default(),
        };
        config.typed = config.parse();
        config
    }

    pub fn defaults(&self) -> &TopicDefaults {
        &self.defaults
    }

    /// Every known config with its effective value, its source and its synonyms.
    pub fn entries(&self) -> Vec<ConfigEntry> {
        TOPIC_CONFIGS
            .iter()
            .map(|(name, _, kind)| {
                let mut synonyms = self.defaults.broker_synonyms(name);
                let value = self.value(name);
                if self.overrides.contains_key(*name) {
                    synonyms.insert(
                        0,
                        Synonym {
                            name: name.to_string(),
                            value: value.clone(),
                            source: ConfigSource::Topic,
                        },
                    );
                }
                ConfigEntry {
                    name,
                    value,
                    is_set: self.overrides.contains_key(*name),
                    value_type: kind.value_type(),
                    source: synonyms.first().map_or(ConfigSource::Default, |s| s.source),
                    synonyms,
                    documentation: broker_keys::documentation(name),
                }
            })
            .collect()
    }

    pub fn overrides(&self) -> &BTreeMap<String, String> {
        &self.overrides
    }

    fn value(&self, key: &str) -> String {
        if let Some(v) = self.overrides.get(key) {
            return v.clone();
        }
        self.defaults.default_of(key).0
    }

    /// How this topic's partitions cut and index their segments. On a compacted topic a
    /// segment also rolls by `max.compaction.lag.ms`, as in Kafka: only sealed segments are
    /// cleaned.
    pub fn segment_config(&self, clock: Clock, open_files: &Arc<OpenFiles>) -> SegmentConfig {
        let segment_ms = if self.typed.cleanup_compacts {
            self.typed
                .segment_ms
                .min(self.number("max.compaction.lag.ms"))
        } else {
            self.typed.segment_ms
        };
        SegmentConfig {
            segment_bytes: self.typed.segment_bytes,
            segment_ms,
            index_interval_bytes: self.typed.index_interval_bytes,
            max_index_bytes: self.typed.max_index_bytes,
            clock,
            open_files: open_files.clone(),
        }
    }

    /// `retention.ms` and `retention.bytes` (-1: unlimited), as retention applies them:
    /// only to topics whose `cleanup.policy` includes `delete`. A `compact` topic (a Kafka
    /// Streams changelog, a Connect or Schema Registry topic) keeps every record until
    /// compaction exists to shorten it.
    pub fn retention(&self) -> (i64, i64) {
        if !self.typed.cleanup_deletes {
            return (-1, -1);
        }
        (self.typed.retention_ms, self.typed.retention_bytes)
    }

    /// Whether `cleanup.policy` includes `delete`.
    pub fn cleanup_policy_deletes(&self) -> bool {
        self.typed.cleanup_deletes
    }

    /// Whether `cleanup.policy` includes `compact` (records must then have keys).
    pub fn cleanup_policy_compacts(&self) -> bool {
        self.typed.cleanup_compacts
    }

    /// The settings the log cleaner applies, parsed at each call (a pass reads them afresh).
    pub fn compaction(&self) -> CompactionConfig {
        CompactionConfig {
            delete_retention_ms: self.number("delete.retention.ms"),
            min_compaction_lag_ms: self.number("min.compaction.lag.ms"),
            max_compaction_lag_ms: self.number("max.compaction.lag.ms"),
            min_cleanable_dirty_ratio: self
                .value("min.cleanable.dirty.ratio")
                .trim()
                .parse()
                .unwrap_or(0.5),
        }
    }

    /// A whole-number config's effective value (validated when the config was made).
    fn number(&self, key: &str) -> i64 {
        self.value(key).trim().parse().unwrap_or(0)
    }

    /// `flush.messages` and `flush.ms`: how often appended data is fsynced.
    pub fn flush_policy(&self) -> (i64, i64) {
        (self.typed.flush_messages, self.typed.flush_ms)
    }

    /// The largest batch this topic accepts, in bytes.
    pub fn max_message_bytes(&self) -> usize {
        self.typed.max_message_bytes
    }

    /// True when the broker stamps batches with its own time.
    pub fn log_append_time(&self) -> bool {
        self.typed.log_append_time
    }

    /// `message.timestamp.before.max.ms` and `message.timestamp.after.max.ms`: how far a
    /// CreateTime record may lie before and after the broker's clock.
    pub fn timestamp_bounds_ms(&self) -> (i64, i64) {
        (
            self.typed.timestamp_before_max_ms,
            self.typed.timestamp_after_max_ms,
        )
    }
}
