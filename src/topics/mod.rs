//! Topics: name ↔ topic id ↔ partitions, and each topic's configs.
//!
//! Every change is a [`MetadataRecord`] persisted by the [`MetadataStore`] (the topic files of
//! the data directory, or nothing in memory) before the in-memory registry applies it; a
//! change the store refuses is not made. Configs are parsed into typed values once, when a
//! topic is registered.
//!
//! Changes of one name (create, grow, delete) are ordered: each claims the name first and
//! waits while another change holds it, so a deletion's files and a new topic's of the same
//! name never mix. File work runs outside the registry lock, on the caller's (blocking)
//! thread: lookups by produce and fetch never wait for a disk.

mod alter;
mod broker_keys;
mod config;
mod config_ops;
mod errors;
mod files;
mod metadata;
mod opening;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use uuid::Uuid;

pub use alter::AlterError;
pub use broker_keys::{BrokerConfigError, BrokerScope, DynamicBrokerConfigs};
pub use config::{
    check_topic_config, cleanup_policy_default, is_list_config, is_topic_config, kafka_default,
    CompactionConfig, ConfigEntry, ConfigSource, ConfigValueType, InvalidConfig, Synonym,
    TopicConfig, TopicDefaults,
};
pub use config_ops::{apply_ops, ConfigOp, NotAList};
pub mod keys {
    //! The broker keys behind topic configs (see `broker_keys`).
    pub use super::broker_keys::{dynamic_keys, is_list_broker_key, synonyms_of, topic_key_of};
}
pub use errors::{validate_name, CreateError, PartitionsError};
pub use metadata::{MemoryStore, MetadataRecord, MetadataStore, TopicDefinition};

use metadata::{Registry, RegistryChange};

use crate::clock::Clock;
use crate::log::open_files::OpenFiles;
use crate::partition::Partition;

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

/// What a new topic is to be.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
}

/// What changes are under way.
#[derive(Default)]
struct Changes {
    /// Names a create, grow or delete holds.
    claimed: HashSet<String>,
    /// Partitions of every topic, counting those being made.
    partitions: usize,
}

/// Where topics keep their records; their definitions go through the [`MetadataStore`].
enum Storage {
    Memory,
    /// Partition logs in `<dir>/<topic>-<partition>/`.
    Disk(PathBuf),
}

/// The default of `max_partitions`: partitions the broker holds at most.
pub const DEFAULT_MAX_PARTITIONS: usize = 20_000;

struct Shared {
    registry: RwLock<Registry>,
    /// Persists every change before the registry applies it.
    store: Arc<dyn MetadataStore>,
    changes: Mutex<Changes>,
    /// Signalled when a claimed name is released.
    released: Condvar,
    /// Held by config changes (a topic's, the broker's), one at a time, so the partitions'
    /// segment settings are set in the order the configs change.
    config_changes: Mutex<()>,
    storage: Storage,
    clock: Clock,
    max_partitions: usize,
    /// The cap on segment files the partitions' logs hold open together.
    open_files: Arc<OpenFiles>,
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
        let store: Arc<dyn MetadataStore> = match &storage {
            Storage::Memory => Arc::new(MemoryStore),
            Storage::Disk(dir) => Arc::new(files::FileStore::new(dir)),
        };
        Topics::with_store(defaults, storage, store, clock)
    }

    fn with_store(
        defaults: TopicDefaults,
        storage: Storage,
        store: Arc<dyn MetadataStore>,
        clock: Clock,
    ) -> Topics {
        Topics {
            shared: Arc::new(Shared {
                registry: RwLock::new(Registry::with_defaults(defaults)),
                store,
                changes: Mutex::new(Changes::default()),
                released: Condvar::new(),
                config_changes: Mutex::new(()),
                storage,
                clock,
                max_partitions: DEFAULT_MAX_PARTITIONS,
                open_files: Arc::default(),
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

    /// The same topics with their logs holding at most `max_open_files` segment files
    /// open together (see [`OpenFiles`]).
    pub fn with_max_open_files(self, max_open_files: usize) -> Topics {
        self.shared.open_files.set_capacity(max_open_files);
        self
    }

    /// The cap on open segment files, and what is held under it.
    pub fn open_files(&self) -> &OpenFiles {
        &self.shared.open_files
    }

    /// Loads every topic defined under `data_dir` and removes partition directories no topic
    /// owns. Partition logs are not opened here: each is opened (and recovered if need be)
    /// by its first use or by [`Topics::recover_all`], so start-up costs the same however
    /// many partitions there are.
    pub fn open(data_dir: &Path, defaults: TopicDefaults, clock: Clock) -> io::Result<Topics> {
        let topics = Topics::with_storage(
            defaults.clone(),
            Storage::Disk(data_dir.to_path_buf()),
            clock,
        );
        let dynamic = topics.shared.store.load_broker_configs()?;
        let defaults = TopicDefaults {
            dynamic: Arc::new(dynamic),
            ..defaults
        };
        topics
            .write()
            .apply(RegistryChange::Defaults(defaults.clone()));
        let definitions = topics.shared.store.load()?;
        files::remove_leftovers(data_dir, &definitions)?;
        for definition in definitions {
            let TopicDefinition {
                name,
                id,
                partitions,
                configs,
            } = definition;
            let invalid = |why: String| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: {why}",
                        files::definition_path(data_dir, &name).display()
                    ),
                )
            };
            let config = TopicConfig::new(configs, defaults.clone())
                .map_err(|e| invalid(format!("config {}: {}", e.key, e.reason)))?;
            let partitions = topics.found_partitions(data_dir, &name, partitions, &config);
            topics.changes().partitions += partitions.len();
            topics.register(Topic {
                name,
                id,
                config,
                partitions,
            });
        }
        Ok(topics)
    }

    /// Puts `topic` in the registry, its configs over the registry's defaults (which may
    /// have changed since its config was made), and returns it as registered.
    fn register(&self, topic: Topic) -> Arc<Topic> {
        let name = topic.name.clone();
        let made_with = topic.config.defaults().clone();
        let topic = Arc::new(topic);
        let mut registry = self.write();
        registry.apply(RegistryChange::Put(topic.clone()));
        let registered = registry.by_name(&name).cloned().unwrap_or(topic);
        drop(registry);
        if registered.config.defaults() != &made_with {
            self.reconfigure_partitions(&registered);
        }
        registered
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
        self.read().by_name(name).cloned()
    }

    pub fn get_by_id(&self, id: &Uuid) -> Option<Arc<Topic>> {
        self.read().by_id(id).cloned()
    }

    /// Every topic, by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut topics: Vec<_> = self.read().topics().cloned().collect();
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
                let grown = MetadataRecord::TopicDefined(TopicDefinition {
                    name: name.to_string(),
                    id: topic.id,
                    partitions: count,
                    configs: topic.config.overrides().clone(),
                });
                if let Err(e) = self.shared.store.persist(&grown) {
                    drop(new);
                    self.remove_new_partition_dirs(name, current..count);
                    return Err(e);
                }
                Ok(new)
            });
        let new = match grown {
            Ok(new) => new,
            Err(e) => {
                self.release_partitions(added);
                return Err(PartitionsError::Storage(Arc::new(e)));
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
        let removed = MetadataRecord::TopicRemoved {
            name: name.to_string(),
        };
        self.shared.store.persist(&removed)?;
        self.write().apply(RegistryChange::Remove {
            name: name.to_string(),
        });
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
        let defaults = self.read().defaults().clone();
        let config =
            TopicConfig::new(new.configs.clone(), defaults).map_err(CreateError::InvalidConfig)?;
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
                let created = MetadataRecord::TopicDefined(TopicDefinition {
                    name: new.name.clone(),
                    id,
                    partitions: new.partitions,
                    configs: new.configs.clone(),
                });
                if let Err(e) = self.shared.store.persist(&created) {
                    drop(partitions);
                    self.remove_new_partition_dirs(&new.name, 0..new.partitions);
                    return Err(e);
                }
                Ok(partitions)
            });
        let partitions = match made {
            Ok(partitions) => partitions,
            Err(e) => {
                self.release_partitions(count);
                return Err(CreateError::Storage(Arc::new(e)));
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
