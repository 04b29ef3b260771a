//! Topics: name ↔ topic id ↔ partitions, and each topic's configs.
//!
//! Changes of one name (create, grow, delete) are ordered: each claims the name first and
//! waits while another change holds it, so a deletion's files and a new topic's of the same
//! name never mix. File work runs outside the registry lock, on the caller's (blocking)
//! thread: lookups by produce and fetch never wait for a disk.

mod config;
mod files;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use uuid::Uuid;

pub use config::{ConfigEntry, ConfigValueType, InvalidConfig, TopicConfig, TopicDefaults};

use crate::clock::Clock;
use crate::log::{Log, MemoryLog, SegmentedLog};
use crate::partition::{DurableFirst, LogOpener, Partition};

/// Longest topic name Kafka accepts.
pub const MAX_TOPIC_NAME_LEN: usize = 249;
/// Partitions a single topic may have; a guard against requests that would exhaust memory.
pub const MAX_PARTITIONS: i32 = 10_000;

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
    /// The broker holds `limit` partitions at most (`max_partitions`).
    TooManyPartitions {
        limit: usize,
    },
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
            CreateError::TooManyPartitions { limit } => write!(
                f,
                "the broker would hold more than {limit} partitions (max_partitions)"
            ),
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
    /// The broker holds `limit` partitions at most (`max_partitions`).
    TooManyPartitions {
        limit: usize,
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
            PartitionsError::TooManyPartitions { limit } => write!(
                f,
                "the broker would hold more than {limit} partitions (max_partitions)"
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

/// What changes are under way.
#[derive(Default)]
struct Changes {
    /// Names a create, grow or delete holds.
    claimed: HashSet<String>,
    /// Partitions of every topic, counting those being made.
    partitions: usize,
}

/// Where topics keep their data.
enum Storage {
    Memory,
    /// Partition logs in `<dir>/<topic>-<partition>/`, topic definitions in `<dir>/topics/`.
    Disk(PathBuf),
}

/// The default of `max_partitions`: partitions the broker holds at most.
pub const DEFAULT_MAX_PARTITIONS: usize = 20_000;

struct Shared {
    registry: RwLock<Registry>,
    changes: Mutex<Changes>,
    /// Signalled when a claimed name is released.
    released: Condvar,
    defaults: TopicDefaults,
    storage: Storage,
    clock: Clock,
    max_partitions: usize,
}

/// All topics of the broker. Cloning shares them: a clone goes to a blocking thread for the
/// changes that touch files.
#[derive(Clone)]
pub struct Topics {
    shared: Arc<Shared>,
}

/// A name held by one change; released (and waiters woken) on drop.
struct NameClaim<'a> {
    topics: &'a Topics,
    name: String,
}

impl Drop for NameClaim<'_> {
    fn drop(&mut self) {
        let mut changes = self.topics.changes();
        changes.claimed.remove(&self.name);
        drop(changes);
        self.topics.shared.released.notify_all();
    }
}

impl Topics {
    /// Topics whose partitions live in memory.
    pub fn new(defaults: TopicDefaults) -> Topics {
        Topics::with_storage(defaults, Storage::Memory, Clock::System)
    }

    fn with_storage(defaults: TopicDefaults, storage: Storage, clock: Clock) -> Topics {
        Topics {
            shared: Arc::new(Shared {
                registry: RwLock::new(Registry::default()),
                changes: Mutex::new(Changes::default()),
                released: Condvar::new(),
                defaults,
                storage,
                clock,
                max_partitions: DEFAULT_MAX_PARTITIONS,
            }),
        }
    }

    /// The same topics with at most `max_partitions` partitions in all; for a broker that
    /// is starting (before the topics are shared).
    pub fn with_max_partitions(mut self, max_partitions: usize) -> Topics {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.max_partitions = max_partitions;
        }
        self
    }

    /// Loads every topic defined under `data_dir` and removes partition directories no topic
    /// owns. Partition logs are not opened here: each is opened (and recovered if need be)
    /// by its first use or by [`Topics::recover_all`], so start-up costs the same however
    /// many partitions there are.
    pub fn open(data_dir: &Path, defaults: TopicDefaults, clock: Clock) -> io::Result<Topics> {
        let topics = Topics::with_storage(defaults, Storage::Disk(data_dir.to_path_buf()), clock);
        let definitions = files::read_definitions(data_dir)?;
        files::remove_leftovers(data_dir, &definitions)?;
        for (name, file) in definitions {
            let invalid = |why: String| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: {why}",
                        files::definition_path(data_dir, &name).display()
                    ),
                )
            };
            let config = TopicConfig::new(file.configs, defaults)
                .map_err(|e| invalid(format!("config {}: {}", e.key, e.reason)))?;
            let partitions = topics.found_partitions(data_dir, &name, file.partitions, &config);
            topics.changes().partitions += partitions.len();
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
        definition: Option<&Arc<DurableFirst>>,
    ) -> io::Result<Arc<Partition>> {
        let partition = match &self.shared.storage {
            Storage::Memory => Partition::new(topic.to_string(), index, Box::new(MemoryLog::new())),
            Storage::Disk(dir) => {
                let log = SegmentedLog::open(
                    &files::partition_dir(dir, topic, index),
                    config.segment_config(self.shared.clock.clone()),
                )?;
                Partition::new(topic.to_string(), index, Box::new(log))
            }
        };
        Ok(Arc::new(match definition {
            Some(definition) => partition.depending_on(definition.clone()),
            None => partition,
        }))
    }

    /// Opens partitions `range` of a topic. On disk, each fsync of theirs first makes the
    /// topic's definition durable, once for them all.
    fn open_partitions(
        &self,
        topic: &str,
        range: std::ops::Range<i32>,
        config: &TopicConfig,
    ) -> io::Result<Vec<Arc<Partition>>> {
        let definition = match &self.shared.storage {
            Storage::Memory => None,
            Storage::Disk(dir) => {
                let (dir, name) = (dir.clone(), topic.to_string());
                Some(DurableFirst::new(move || {
                    files::sync_definition(&dir, &name)
                }))
            }
        };
        range
            .map(|i| self.open_partition(topic, i, config, definition.as_ref()))
            .collect()
    }

    /// The partitions of a topic found at start, each opened when first used.
    fn found_partitions(
        &self,
        data_dir: &Path,
        topic: &str,
        count: i32,
        config: &TopicConfig,
    ) -> Vec<Arc<Partition>> {
        let (dir, name) = (data_dir.to_path_buf(), topic.to_string());
        let definition = DurableFirst::new(move || files::sync_definition(&dir, &name));
        (0..count)
            .map(|index| {
                let dir = files::partition_dir(data_dir, topic, index);
                let segments = config.segment_config(self.shared.clock.clone());
                let clock = self.shared.clock.clone();
                let opener: LogOpener = Box::new(move || {
                    let log = SegmentedLog::open(&dir, segments)?;
                    let producers_since_ms = clock.now_ms() - PRODUCER_STATE_WINDOW_MS;
                    Ok((Box::new(log) as Box<dyn Log>, Some(producers_since_ms)))
                });
                Arc::new(
                    Partition::recovering(topic.to_string(), index, opener)
                        .depending_on(definition.clone()),
                )
            })
            .collect()
    }

    /// Opens (recovers) every partition not opened yet, on `threads` threads, until done or
    /// until `stop` is set; Kafka's log recovery threads. Blocks: run it on threads of its
    /// own while the broker serves.
    pub fn recover_all(&self, threads: usize, stop: &AtomicBool) {
        let pending: Vec<Arc<Partition>> = self
            .all()
            .iter()
            .flat_map(|topic| topic.partitions.iter().filter(|p| !p.is_open()).cloned())
            .collect();
        let total = pending.len();
        if total == 0 {
            return;
        }
        let started = std::time::Instant::now();
        let queue = Mutex::new(pending);
        std::thread::scope(|scope| {
            for _ in 0..threads.max(1) {
                scope.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
                        match next {
                            Some(partition) => partition.open_now(),
                            None => break,
                        }
                    }
                });
            }
        });
        tracing::info!(
            partitions = total,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "partition logs recovered"
        );
    }

    /// Opens partitions `range` of a topic being created or grown, in fresh directories;
    /// on an error nothing of them is left.
    fn open_new_partitions(
        &self,
        topic: &str,
        range: std::ops::Range<i32>,
        config: &TopicConfig,
    ) -> io::Result<Vec<Arc<Partition>>> {
        let opened = match &self.shared.storage {
            Storage::Memory => return self.open_partitions(topic, range, config),
            Storage::Disk(dir) => files::make_partition_dirs(dir, topic, range.clone())
                .and_then(|()| self.open_partitions(topic, range.clone(), config)),
        };
        if opened.is_err() {
            if let Storage::Disk(dir) = &self.shared.storage {
                files::remove_partition_dirs(dir, topic, range);
            }
        }
        opened
    }

    fn register(&self, topic: Topic) -> Arc<Topic> {
        let topic = Arc::new(topic);
        let mut registry = self.write();
        registry.by_name.insert(topic.name.clone(), topic.clone());
        registry.by_id.insert(topic.id, topic.clone());
        topic
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.shared
            .registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.shared
            .registry
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn changes(&self) -> std::sync::MutexGuard<'_, Changes> {
        self.shared
            .changes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until no other change holds `name`, then holds it.
    fn claim(&self, name: &str) -> NameClaim<'_> {
        let mut changes = self.changes();
        while changes.claimed.contains(name) {
            changes = self
                .shared
                .released
                .wait(changes)
                .unwrap_or_else(|p| p.into_inner());
        }
        changes.claimed.insert(name.to_string());
        NameClaim {
            topics: self,
            name: name.to_string(),
        }
    }

    /// Counts `count` more partitions, unless that would pass `max_partitions`.
    fn reserve_partitions(&self, count: usize) -> Result<(), usize> {
        let mut changes = self.changes();
        let limit = self.shared.max_partitions;
        if changes.partitions + count > limit {
            return Err(limit);
        }
        changes.partitions += count;
        Ok(())
    }

    fn release_partitions(&self, count: usize) {
        let mut changes = self.changes();
        changes.partitions = changes.partitions.saturating_sub(count);
    }

    /// Partitions held, counting those being made.
    pub fn partition_count(&self) -> usize {
        self.changes().partitions
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
    /// checks. Existing partitions are kept as they are. Blocks on the disk: call it off the
    /// async workers.
    pub fn add_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), PartitionsError> {
        let _claim = self.claim(name);
        let topic = self.get(name).ok_or(PartitionsError::UnknownTopic)?;
        let current = topic.partitions.len() as i32;
        if count <= current || count > MAX_PARTITIONS {
            return Err(PartitionsError::InvalidCount { current, count });
        }
        let added = (count - current) as usize;
        if validate_only {
            let limit = self.shared.max_partitions;
            return match self.partition_count() + added > limit {
                true => Err(PartitionsError::TooManyPartitions { limit }),
                false => Ok(()),
            };
        }
        self.reserve_partitions(added)
            .map_err(|limit| PartitionsError::TooManyPartitions { limit })?;
        let grown = self
            .open_new_partitions(name, current..count, &topic.config)
            .and_then(|new| {
                if let Storage::Disk(dir) = &self.shared.storage {
                    let file = files::TopicFile {
                        id: topic.id,
                        partitions: count,
                        configs: topic.config.overrides().clone(),
                    };
                    if let Err(e) = files::write_definition(dir, name, &file) {
                        files::remove_partition_dirs(dir, name, current..count);
                        return Err(e);
                    }
                }
                Ok(new)
            });
        let new = match grown {
            Ok(new) => new,
            Err(e) => {
                self.release_partitions(added);
                return Err(PartitionsError::Storage(e.to_string()));
            }
        };
        let mut partitions = topic.partitions.clone();
        partitions.extend(new);
        self.register(Topic {
            name: topic.name.clone(),
            id: topic.id,
            config: topic.config.clone(),
            partitions,
        });
        tracing::info!(topic = name, from = current, to = count, "added partitions");
        Ok(())
    }

    /// Takes a topic out of the broker (DeleteTopics) with its files: its definition is
    /// removed first (the commit point; if that fails, nothing changed), then its partition
    /// directories are set aside and removed. `None` when there is no such topic. Blocks on
    /// the disk: call it off the async workers.
    pub fn delete(&self, name: &str) -> io::Result<Option<Arc<Topic>>> {
        let claim = self.claim(name);
        let Some(topic) = self.get(name) else {
            return Ok(None);
        };
        if let Storage::Disk(dir) = &self.shared.storage {
            files::remove_definition(dir, name)?;
        }
        {
            let mut registry = self.write();
            registry.by_name.remove(name);
            registry.by_id.remove(&topic.id);
        }
        self.release_partitions(topic.partitions.len());
        let aside = match &self.shared.storage {
            Storage::Memory => Vec::new(),
            Storage::Disk(dir) => {
                files::set_aside(dir, name, topic.id, topic.partitions.len() as i32)
            }
        };
        // The name is free once the directories are aside; removing them can take a while.
        drop(claim);
        files::remove_dirs(aside);
        tracing::info!(topic = %topic.name, id = %topic.id, "deleted topic");
        Ok(Some(topic))
    }

    /// Checks everything `create` would, without creating.
    pub fn validate(&self, new: &NewTopic) -> Result<TopicConfig, CreateError> {
        validate_name(&new.name)?;
        if !(1..=MAX_PARTITIONS).contains(&new.partitions) {
            return Err(CreateError::InvalidPartitions(new.partitions));
        }
        let config = TopicConfig::new(new.configs.clone(), self.shared.defaults)
            .map_err(CreateError::InvalidConfig)?;
        if self.get(&new.name).is_some() {
            return Err(CreateError::AlreadyExists);
        }
        let limit = self.shared.max_partitions;
        if self.partition_count() + new.partitions as usize > limit {
            return Err(CreateError::TooManyPartitions { limit });
        }
        Ok(config)
    }

    /// Creates a topic. On disk its partition directories are made first and its definition
    /// written last, durably; if anything fails, nothing of the topic is left. Blocks on the
    /// disk: call it off the async workers.
    pub fn create(&self, new: NewTopic) -> Result<Arc<Topic>, CreateError> {
        let config = self.validate(&new)?;
        let _claim = self.claim(&new.name);
        if self.get(&new.name).is_some() {
            return Err(CreateError::AlreadyExists);
        }
        let count = new.partitions as usize;
        self.reserve_partitions(count)
            .map_err(|limit| CreateError::TooManyPartitions { limit })?;
        let id = Uuid::new_v4();
        let made = self
            .open_new_partitions(&new.name, 0..new.partitions, &config)
            .and_then(|partitions| {
                if let Storage::Disk(dir) = &self.shared.storage {
                    let file = files::TopicFile {
                        id,
                        partitions: new.partitions,
                        configs: new.configs.clone(),
                    };
                    if let Err(e) = files::write_definition(dir, &new.name, &file) {
                        drop(partitions);
                        files::remove_partition_dirs(dir, &new.name, 0..new.partitions);
                        return Err(e);
                    }
                }
                Ok(partitions)
            });
        let partitions = match made {
            Ok(partitions) => partitions,
            Err(e) => {
                self.release_partitions(count);
                return Err(CreateError::Storage(e.to_string()));
            }
        };
        let topic = self.register(Topic {
            name: new.name,
            id,
            config,
            partitions,
        });
        tracing::info!(topic = %topic.name, id = %topic.id, partitions = topic.partitions.len(), "created topic");
        Ok(topic)
    }
}

/// How far back producer state is rebuilt at start: well past a producer's default delivery
/// timeout (two minutes), within which it retries.
const PRODUCER_STATE_WINDOW_MS: i64 = 15 * 60 * 1000;
