//! Topic configs: Kafka's names and defaults, checked once when a topic is made, and read
//! as typed values.

use std::collections::BTreeMap;

use crate::clock::Clock;
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

/// One topic config: its effective value and whether the topic set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: &'static str,
    pub value: String,
    pub is_set: bool,
    pub value_type: ConfigValueType,
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

/// The broker settings that are the defaults of topic configs (Kafka's `message.max.bytes`,
/// `log.flush.interval.messages`, `log.flush.interval.ms` and `log.cleanup.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicDefaults {
    pub max_message_bytes: i32,
    pub flush_messages: i64,
    pub flush_ms: i64,
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
            cleanup_policy: "delete",
        }
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
            let Some((_, _, kind)) = TOPIC_CONFIGS.iter().find(|(name, _, _)| name == key) else {
                return Err(InvalidConfig {
                    key: key.clone(),
                    reason: "unknown topic config".into(),
                });
            };
            check_value(*kind, value).map_err(|reason| InvalidConfig {
                key: key.clone(),
                reason,
            })?;
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

    /// Every known config with its effective value and whether it was set for this topic.
    pub fn entries(&self) -> Vec<ConfigEntry> {
        TOPIC_CONFIGS
            .iter()
            .map(|(name, _, kind)| ConfigEntry {
                name,
                value: self.value(name),
                is_set: self.overrides.contains_key(*name),
                value_type: kind.value_type(),
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
        match key {
            "max.message.bytes" => return self.defaults.max_message_bytes.to_string(),
            "flush.messages" => return self.defaults.flush_messages.to_string(),
            "flush.ms" => return self.defaults.flush_ms.to_string(),
            "cleanup.policy" => return self.defaults.cleanup_policy.to_string(),
            _ => {}
        }
        TOPIC_CONFIGS
            .iter()
            .find(|(name, _, _)| *name == key)
            .map_or_else(String::new, |(_, default, _)| default.to_string())
    }

    /// How this topic's partitions cut and index their segments. On a compacted topic a
    /// segment also rolls by `max.compaction.lag.ms`, as in Kafka: only sealed segments are
    /// cleaned.
    pub fn segment_config(&self, clock: Clock) -> SegmentConfig {
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
