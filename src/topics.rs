//! Topics: name ↔ topic id ↔ partitions, and each topic's configs.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock::Clock;
use crate::log::{Log, MemoryLog, SegmentConfig, SegmentedLog};
use crate::partition::Partition;

/// Longest topic name Kafka accepts.
pub const MAX_TOPIC_NAME_LEN: usize = 249;
/// Partitions a single topic may have; a guard against requests that would exhaust memory.
pub const MAX_PARTITIONS: i32 = 10_000;

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
/// `log.flush.interval.messages` and `log.flush.interval.ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicDefaults {
    pub max_message_bytes: i32,
    pub flush_messages: i64,
    pub flush_ms: i64,
}

impl Default for TopicDefaults {
    fn default() -> Self {
        TopicDefaults {
            max_message_bytes: 1_048_588,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
        }
    }
}

/// A topic's configs: the overrides it was created with, over the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicConfig {
    overrides: BTreeMap<String, String>,
    defaults: TopicDefaults,
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
        Ok(TopicConfig {
            overrides,
            defaults,
        })
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
            _ => {}
        }
        TOPIC_CONFIGS
            .iter()
            .find(|(name, _, _)| *name == key)
            .map_or_else(String::new, |(_, default, _)| default.to_string())
    }

    fn number(&self, key: &str) -> i64 {
        // Values were checked when the config was made.
        self.value(key).trim().parse().unwrap_or(0)
    }

    /// How this topic's partitions cut and index their segments.
    pub fn segment_config(&self, clock: Clock) -> SegmentConfig {
        SegmentConfig {
            segment_bytes: self.number("segment.bytes") as u64,
            segment_ms: self.number("segment.ms"),
            index_interval_bytes: self.number("index.interval.bytes") as usize,
            max_index_bytes: self.number("segment.index.bytes") as usize,
            clock,
        }
    }

    /// `retention.ms` and `retention.bytes` (-1: unlimited).
    pub fn retention(&self) -> (i64, i64) {
        (self.number("retention.ms"), self.number("retention.bytes"))
    }

    /// `flush.messages` and `flush.ms`: how often appended data is fsynced.
    pub fn flush_policy(&self) -> (i64, i64) {
        (self.number("flush.messages"), self.number("flush.ms"))
    }

    /// The largest batch this topic accepts, in bytes.
    pub fn max_message_bytes(&self) -> usize {
        self.value("max.message.bytes").trim().parse().unwrap_or(0)
    }

    /// True when the broker stamps batches with its own time.
    pub fn log_append_time(&self) -> bool {
        self.value("message.timestamp.type") == "LogAppendTime"
    }
}

/// One topic and its partitions.
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub config: TopicConfig,
    pub partitions: Vec<Arc<Partition>>,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topic")
            .field("name", &self.name)
            .field("id", &self.id)
            .field("partitions", &self.partitions.len())
            .finish()
    }
}

/// Why a topic cannot be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateError {
    AlreadyExists,
    InvalidName(String),
    InvalidPartitions(i32),
    InvalidConfig(InvalidConfig),
    /// The topic's files could not be written.
    Storage(String),
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateError::AlreadyExists => write!(f, "topic already exists"),
            CreateError::InvalidName(why) => write!(f, "invalid topic name: {why}"),
            CreateError::InvalidPartitions(n) => {
                write!(
                    f,
                    "number of partitions {n} is outside 1..={MAX_PARTITIONS}"
                )
            }
            CreateError::InvalidConfig(c) => write!(f, "invalid config {}: {}", c.key, c.reason),
            CreateError::Storage(e) => write!(f, "cannot store the topic: {e}"),
        }
    }
}

/// Why a topic cannot grow (CreatePartitions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionsError {
    UnknownTopic,
    /// Partitions only grow, up to [`MAX_PARTITIONS`].
    InvalidCount {
        current: i32,
        count: i32,
    },
    Storage(String),
}

impl fmt::Display for PartitionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionsError::UnknownTopic => write!(f, "the topic does not exist"),
            PartitionsError::InvalidCount { current, count } => write!(
                f,
                "the topic has {current} partitions; {count} is not more, or is more than {MAX_PARTITIONS}"
            ),
            PartitionsError::Storage(e) => write!(f, "cannot store the topic: {e}"),
        }
    }
}

/// Checks a topic name as Kafka does: 1–249 of `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub fn validate_name(name: &str) -> Result<(), CreateError> {
    let invalid = |why: &str| Err(CreateError::InvalidName(why.to_string()));
    if name.is_empty() {
        return invalid("the name is empty");
    }
    if name == "." || name == ".." {
        return invalid("'.' and '..' are not allowed");
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return invalid("the name is longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return invalid("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// What a new topic is to be.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
}

#[derive(Default)]
struct Registry {
    by_name: HashMap<String, Arc<Topic>>,
    by_id: HashMap<Uuid, Arc<Topic>>,
}

/// A topic as stored in `<data>/topics/<name>.toml`.
#[derive(Debug, Serialize, Deserialize)]
struct TopicFile {
    id: Uuid,
    partitions: i32,
    configs: BTreeMap<String, String>,
}

/// Where topics keep their data.
enum Storage {
    Memory,
    /// Partition logs in `<dir>/<topic>-<partition>/`, topic definitions in `<dir>/topics/`.
    Disk(PathBuf),
}

/// All topics of the broker.
pub struct Topics {
    registry: RwLock<Registry>,
    defaults: TopicDefaults,
    storage: Storage,
    clock: Clock,
}

impl Topics {
    /// Topics whose partitions live in memory.
    pub fn new(defaults: TopicDefaults) -> Topics {
        Topics {
            registry: RwLock::new(Registry::default()),
            defaults,
            storage: Storage::Memory,
            clock: Clock::System,
        }
    }

    /// Loads every topic defined under `data_dir` and opens (recovering if need be) its
    /// partition logs.
    pub fn open(data_dir: &Path, defaults: TopicDefaults, clock: Clock) -> io::Result<Topics> {
        let topics = Topics {
            registry: RwLock::new(Registry::default()),
            defaults,
            storage: Storage::Disk(data_dir.to_path_buf()),
            clock,
        };
        let definitions = data_dir.join(TOPICS_DIR);
        std::fs::create_dir_all(&definitions)?;
        // Partition directories of topics whose deletion was cut short.
        for entry in std::fs::read_dir(data_dir)? {
            let path = entry?.path();
            if path.is_dir() && path.to_string_lossy().ends_with(DELETED_SUFFIX) {
                std::fs::remove_dir_all(&path)?;
            }
        }
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&definitions)? {
            let path = entry?.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".toml"))
            else {
                continue;
            };
            names.push((name.to_string(), path.clone()));
        }
        names.sort();
        for (name, path) in names {
            let invalid = |why: String| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {why}", path.display()),
                )
            };
            let text = std::fs::read_to_string(&path)?;
            let file: TopicFile = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
            validate_name(&name).map_err(|e| invalid(e.to_string()))?;
            let config = TopicConfig::new(file.configs, defaults)
                .map_err(|e| invalid(format!("config {}: {}", e.key, e.reason)))?;
            let partitions = (0..file.partitions)
                .map(|index| topics.open_partition(&name, index, &config))
                .collect::<io::Result<Vec<_>>>()?;
            let since_ms = topics.clock.now_ms() - PRODUCER_STATE_WINDOW_MS;
            for partition in &partitions {
                partition.restore_producers(since_ms)?;
            }
            topics.register(Topic {
                name,
                id: file.id,
                config,
                partitions,
            });
        }
        Ok(topics)
    }

    fn open_partition(
        &self,
        topic: &str,
        index: i32,
        config: &TopicConfig,
    ) -> io::Result<Arc<Partition>> {
        let log: Box<dyn Log> = match &self.storage {
            Storage::Memory => Box::new(MemoryLog::new()),
            Storage::Disk(dir) => Box::new(SegmentedLog::open(
                &dir.join(format!("{topic}-{index}")),
                config.segment_config(self.clock.clone()),
            )?),
        };
        Ok(Arc::new(Partition::new(topic.to_string(), index, log)))
    }

    fn register(&self, topic: Topic) -> Arc<Topic> {
        let topic = Arc::new(topic);
        let mut registry = self.registry.write().unwrap_or_else(|p| p.into_inner());
        registry.by_name.insert(topic.name.clone(), topic.clone());
        registry.by_id.insert(topic.id, topic.clone());
        topic
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.read().by_name.get(name).cloned()
    }

    pub fn get_by_id(&self, id: &Uuid) -> Option<Arc<Topic>> {
        self.read().by_id.get(id).cloned()
    }

    /// Every topic, by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut topics: Vec<_> = self.read().by_name.values().cloned().collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        topics
    }

    /// Grows a topic to `count` partitions (CreatePartitions); with `validate_only`, only
    /// checks. Existing partitions are kept as they are.
    pub fn add_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), PartitionsError> {
        let mut registry = self.registry.write().unwrap_or_else(|p| p.into_inner());
        let topic = registry
            .by_name
            .get(name)
            .cloned()
            .ok_or(PartitionsError::UnknownTopic)?;
        let current = topic.partitions.len() as i32;
        if count <= current || count > MAX_PARTITIONS {
            return Err(PartitionsError::InvalidCount { current, count });
        }
        if validate_only {
            return Ok(());
        }
        let storage_error = |e: io::Error| PartitionsError::Storage(e.to_string());
        let mut partitions = topic.partitions.clone();
        for index in current..count {
            partitions.push(
                self.open_partition(name, index, &topic.config)
                    .map_err(storage_error)?,
            );
        }
        if let Storage::Disk(dir) = &self.storage {
            let file = TopicFile {
                id: topic.id,
                partitions: count,
                configs: topic.config.overrides().clone(),
            };
            let text =
                toml::to_string(&file).map_err(|e| PartitionsError::Storage(e.to_string()))?;
            write_atomically(&dir.join(TOPICS_DIR).join(format!("{name}.toml")), &text)
                .map_err(storage_error)?;
        }
        let grown = Arc::new(Topic {
            name: topic.name.clone(),
            id: topic.id,
            config: topic.config.clone(),
            partitions,
        });
        registry.by_name.insert(grown.name.clone(), grown.clone());
        registry.by_id.insert(grown.id, grown);
        tracing::info!(topic = name, from = current, to = count, "added partitions");
        Ok(())
    }

    /// Takes a topic out of the broker (DeleteTopics). Its files are deleted by
    /// [`TopicRemoval::delete_files`], off the async workers.
    pub fn delete(&self, name: &str) -> Option<TopicRemoval> {
        let mut registry = self.registry.write().unwrap_or_else(|p| p.into_inner());
        let topic = registry.by_name.remove(name)?;
        registry.by_id.remove(&topic.id);
        drop(registry);
        let files = match &self.storage {
            Storage::Memory => Vec::new(),
            Storage::Disk(dir) => {
                std::iter::once(dir.join(TOPICS_DIR).join(format!("{name}.toml")))
                    .chain((0..topic.partitions.len()).map(|i| dir.join(format!("{name}-{i}"))))
                    .collect()
            }
        };
        tracing::info!(topic = %topic.name, id = %topic.id, "deleted topic");
        Some(TopicRemoval { topic, files })
    }

    /// Checks everything `create` would, without creating.
    pub fn validate(&self, new: &NewTopic) -> Result<TopicConfig, CreateError> {
        validate_name(&new.name)?;
        if !(1..=MAX_PARTITIONS).contains(&new.partitions) {
            return Err(CreateError::InvalidPartitions(new.partitions));
        }
        let config = TopicConfig::new(new.configs.clone(), self.defaults)
            .map_err(CreateError::InvalidConfig)?;
        if self.get(&new.name).is_some() {
            return Err(CreateError::AlreadyExists);
        }
        Ok(config)
    }

    /// Creates a topic; on disk its definition is written (atomically) before its logs.
    pub fn create(&self, new: NewTopic) -> Result<Arc<Topic>, CreateError> {
        let config = self.validate(&new)?;
        // Creation is rare: holding the write lock across it keeps two creators of one name
        // from both writing files.
        let mut registry = self.registry.write().unwrap_or_else(|p| p.into_inner());
        if registry.by_name.contains_key(&new.name) {
            return Err(CreateError::AlreadyExists);
        }
        let id = Uuid::new_v4();
        let storage_error = |e: io::Error| CreateError::Storage(e.to_string());
        if let Storage::Disk(dir) = &self.storage {
            let file = TopicFile {
                id,
                partitions: new.partitions,
                configs: new.configs.clone(),
            };
            let text = toml::to_string(&file).map_err(|e| CreateError::Storage(e.to_string()))?;
            write_atomically(
                &dir.join(TOPICS_DIR).join(format!("{}.toml", new.name)),
                &text,
            )
            .map_err(storage_error)?;
        }
        let partitions = (0..new.partitions)
            .map(|index| self.open_partition(&new.name, index, &config))
            .collect::<io::Result<Vec<_>>>()
            .map_err(storage_error)?;
        let topic = Arc::new(Topic {
            name: new.name.clone(),
            id,
            config,
            partitions,
        });
        registry.by_name.insert(new.name, topic.clone());
        registry.by_id.insert(topic.id, topic.clone());
        tracing::info!(topic = %topic.name, id = %topic.id, partitions = topic.partitions.len(), "created topic");
        Ok(topic)
    }
}

/// A topic taken out of the broker, whose files are still to be deleted.
pub struct TopicRemoval {
    pub topic: Arc<Topic>,
    /// The definition file, then the partition directories.
    files: Vec<PathBuf>,
}

impl TopicRemoval {
    /// Deletes the topic's files (blocking): the definition first, so a crash midway does not
    /// bring the topic back; each partition directory is renamed aside before it is removed,
    /// and anything left aside is removed at the next start.
    pub fn delete_files(self) -> io::Result<()> {
        let mut files = self.files.into_iter();
        if let Some(definition) = files.next() {
            match std::fs::remove_file(&definition) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            if let Some(dir) = definition.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
        }
        for dir in files {
            let mut aside = dir.clone().into_os_string();
            aside.push(format!(".{}{DELETED_SUFFIX}", self.topic.id.simple()));
            let aside = PathBuf::from(aside);
            match std::fs::rename(&dir, &aside) {
                Ok(()) => std::fs::remove_dir_all(&aside)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Partition directories being deleted end with this.
const DELETED_SUFFIX: &str = "-delete";

/// How far back producer state is rebuilt at start: well past a producer's default delivery
/// timeout (two minutes), within which it retries.
const PRODUCER_STATE_WINDOW_MS: i64 = 15 * 60 * 1000;

/// The directory under the data dir that holds topic definitions.
const TOPICS_DIR: &str = "topics";

/// Writes `text` to `path` so that a crash leaves either the old file or the new one. Like
/// appended records, it reaches the page cache, not necessarily the disk: topic changes run
/// on the async workers, where nothing may wait for an fsync.
fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let aside = path.with_extension("tmp");
    std::fs::write(&aside, text)?;
    std::fs::rename(&aside, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn new_topic(name: &str, partitions: i32) -> NewTopic {
        NewTopic {
            name: name.into(),
            partitions,
            configs: BTreeMap::new(),
        }
    }

    #[test]
    fn names_follow_kafkas_rules() {
        for ok in ["a", "orders.v1", "a_b-c", &"x".repeat(249)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "has space", "ü", &"x".repeat(250)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_then_find_by_name_and_id() {
        let topics = Topics::new(TopicDefaults::default());
        let topic = topics.create(new_topic("t", 3)).unwrap();
        assert_eq!(topics.get("t").unwrap().id, topic.id);
        assert_eq!(topics.get_by_id(&topic.id).unwrap().partitions.len(), 3);
        assert_eq!(
            topics.create(new_topic("t", 1)).unwrap_err(),
            CreateError::AlreadyExists
        );
    }

    #[test]
    fn configs_are_checked_by_key() {
        let topics = Topics::new(TopicDefaults::default());
        let mut bad = new_topic("t", 1);
        bad.configs.insert("retention.ms".into(), "soon".into());
        assert!(
            matches!(topics.validate(&bad), Err(CreateError::InvalidConfig(c)) if c.key == "retention.ms")
        );
        bad.configs.clear();
        bad.configs.insert("no.such.config".into(), "1".into());
        assert!(matches!(
            topics.validate(&bad),
            Err(CreateError::InvalidConfig(_))
        ));
        let mut good = new_topic("t", 1);
        good.configs
            .insert("message.timestamp.type".into(), "LogAppendTime".into());
        good.configs
            .insert("cleanup.policy".into(), "compact,delete".into());
        let config = topics.validate(&good).unwrap();
        assert!(config.log_append_time());
        assert_eq!(config.max_message_bytes(), 1_048_588);
    }

    #[test]
    fn topics_on_disk_come_back_with_their_ids_configs_and_data() {
        let dir = tempfile::tempdir().unwrap();
        let id = {
            let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
            let mut new = new_topic("kept", 2);
            new.configs.insert("retention.ms".into(), "1000".into());
            let topic = topics.create(new).unwrap();
            let batch = crate::protocol::record_batch::tests::batch(0, 0, 5, b"x");
            topic.partitions[1]
                .append(Bytes::from(batch), None)
                .unwrap();
            topic.id
        };
        let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
        let topic = topics.get("kept").unwrap();
        assert_eq!(topic.id, id);
        assert_eq!(topic.partitions.len(), 2);
        assert_eq!(topic.config.retention(), (1000, -1));
        assert_eq!(topic.partitions[1].offsets().high_watermark, 1);
        assert_eq!(topic.partitions[0].offsets().high_watermark, 0);
    }

    #[test]
    fn a_restart_keeps_deduplicating_idempotent_retries() {
        use crate::protocol::record_batch::tests::idempotent_batch;
        let dir = tempfile::tempdir().unwrap();
        let now = Clock::System.now_ms();
        let first = idempotent_batch(77, 0, 0, 3, now);
        let second = idempotent_batch(77, 0, 3, 2, now);
        {
            let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
            let topic = topics.create(new_topic("idem", 1)).unwrap();
            let partition = &topic.partitions[0];
            assert_eq!(
                partition
                    .append(Bytes::from(first.clone()), None)
                    .unwrap()
                    .base_offset,
                0
            );
            assert_eq!(
                partition
                    .append(Bytes::from(second.clone()), None)
                    .unwrap()
                    .base_offset,
                3
            );
        }
        let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
        let partition = topics.get("idem").unwrap().partitions[0].clone();
        let retried = partition.append(Bytes::from(second.clone()), None).unwrap();
        assert_eq!(
            retried.base_offset, 3,
            "the retry is answered with its original offset"
        );
        assert_eq!(
            partition.offsets().high_watermark,
            5,
            "and not appended again"
        );
        let gap = idempotent_batch(77, 0, 9, 1, now);
        assert!(partition.append(Bytes::from(gap.clone()), None).is_err());
    }

    #[test]
    fn a_deleted_topic_is_gone_after_a_restart_and_its_name_can_be_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first_id = {
            let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
            let topic = topics.create(new_topic("gone.v1", 2)).unwrap();
            let batch = crate::protocol::record_batch::tests::batch(0, 0, 5, b"x");
            topic.partitions[0]
                .append(Bytes::from(batch), None)
                .unwrap();
            let removal = topics.delete("gone.v1").unwrap();
            assert!(topics.get("gone.v1").is_none() && topics.get_by_id(&topic.id).is_none());
            assert!(topics.delete("gone.v1").is_none());
            removal.delete_files().unwrap();
            let left: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                left,
                vec![std::ffi::OsString::from("topics")],
                "no partition directory is left"
            );
            topic.id
        };
        let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
        assert!(topics.get("gone.v1").is_none());
        let again = topics.create(new_topic("gone.v1", 1)).unwrap();
        assert_ne!(again.id, first_id);
        assert_eq!(again.partitions[0].offsets().high_watermark, 0);
    }

    #[test]
    fn partitions_only_grow_and_the_new_count_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
            let before = topics.create(new_topic("grows", 2)).unwrap();
            let batch = crate::protocol::record_batch::tests::batch(0, 0, 5, b"x");
            before.partitions[1]
                .append(Bytes::from(batch), None)
                .unwrap();
            assert_eq!(
                topics.add_partitions("grows", 2, false),
                Err(PartitionsError::InvalidCount {
                    current: 2,
                    count: 2
                })
            );
            assert_eq!(
                topics.add_partitions("nope", 3, false),
                Err(PartitionsError::UnknownTopic)
            );
            topics.add_partitions("grows", 5, true).unwrap();
            assert_eq!(
                topics.get("grows").unwrap().partitions.len(),
                2,
                "validate_only changes nothing"
            );
            topics.add_partitions("grows", 5, false).unwrap();
            let after = topics.get("grows").unwrap();
            assert_eq!((after.id, after.partitions.len()), (before.id, 5));
            assert_eq!(
                after.partitions[1].offsets().high_watermark,
                1,
                "existing data kept"
            );
        }
        let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
        assert_eq!(topics.get("grows").unwrap().partitions.len(), 5);
    }

    #[test]
    fn partition_counts_are_bounded() {
        let topics = Topics::new(TopicDefaults::default());
        assert!(matches!(
            topics.validate(&new_topic("t", 0)),
            Err(CreateError::InvalidPartitions(0))
        ));
        assert!(topics
            .validate(&new_topic("t", MAX_PARTITIONS + 1))
            .is_err());
    }
}
