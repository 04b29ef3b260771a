//! Topic metadata as records: what a topic is ([`TopicDefinition`]), the changes made to the
//! topics ([`MetadataRecord`]), the [`MetadataStore`] that persists each change before the
//! broker acts on it, and the in-memory [`Registry`] the changes are applied to.
//!
//! The store is the seam a replicated metadata log will use; today it is the topic files of
//! the data directory ([`super::files::FileStore`]) or nothing at all ([`MemoryStore`]).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::Arc;

use uuid::Uuid;

use super::broker_keys::DynamicBrokerConfigs;
use super::{Topic, TopicDefaults};

/// What a topic is, as the metadata store keeps it: its configs as given (the overrides),
/// parsed into typed values once, when the topic is registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDefinition {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
}

/// One change to the topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    /// A topic created, or changed (more partitions): its whole definition.
    TopicDefined(TopicDefinition),
    /// A topic deleted.
    TopicRemoved { name: String },
    /// The dynamic broker configs, all of them, as they are after a change.
    BrokerConfigsSet(DynamicBrokerConfigs),
}

/// Where topic metadata is persisted. Every method blocks on storage: call them off the
/// async workers and never under the registry lock.
pub trait MetadataStore: Send + Sync {
    /// Every topic defined, by name. A definition that cannot be read is an error: starting
    /// without it would lose the topic.
    fn load(&self) -> io::Result<Vec<TopicDefinition>>;

    /// The dynamic broker configs last persisted (none at first, or in a store that keeps
    /// nothing).
    fn load_broker_configs(&self) -> io::Result<DynamicBrokerConfigs> {
        Ok(DynamicBrokerConfigs::default())
    }

    /// Persists one change, so that a crash leaves either the state before it or after it.
    /// A definition need not be durable yet ([`MetadataStore::make_durable`] does that); a
    /// removal and the broker configs are durable when this returns (a deletion's commit
    /// point; a config change acknowledged to an admin client).
    fn persist(&self, record: &MetadataRecord) -> io::Result<()>;

    /// Makes the definition of `topic` durable; called before the first record of the topic
    /// is, since a topic must outlive any record synced to it.
    fn make_durable(&self, topic: &str) -> io::Result<()>;
}

/// A broker without a data directory: changes live as long as the process.
pub struct MemoryStore;

impl MetadataStore for MemoryStore {
    fn load(&self) -> io::Result<Vec<TopicDefinition>> {
        Ok(Vec::new())
    }

    fn persist(&self, _record: &MetadataRecord) -> io::Result<()> {
        Ok(())
    }

    fn make_durable(&self, _topic: &str) -> io::Result<()> {
        Ok(())
    }
}

/// A change the registry applies, once the store has persisted it.
pub(super) enum RegistryChange {
    /// A topic registered, or replaced by a version of itself (more partitions, other
    /// configs).
    Put(Arc<Topic>),
    Remove {
        name: String,
    },
    /// New defaults of topic configs (the dynamic broker configs changed): every topic
    /// without an override follows them.
    Defaults(TopicDefaults),
}

/// The topics the broker serves, by name and by id, and the defaults their configs are
/// over. Pure: no I/O, no locking of its own.
#[derive(Default)]
pub(super) struct Registry {
    by_name: HashMap<String, Arc<Topic>>,
    by_id: HashMap<Uuid, Arc<Topic>>,
    defaults: TopicDefaults,
}

/// `topic` with its configs over `defaults`, the same `Arc` if they already are.
fn over_defaults(topic: Arc<Topic>, defaults: &TopicDefaults) -> Arc<Topic> {
    if topic.config.defaults() == defaults {
        return topic;
    }
    Arc::new(Topic {
        name: topic.name.clone(),
        id: topic.id,
        config: topic.config.with_defaults(defaults.clone()),
        partitions: topic.partitions.clone(),
    })
}

impl Registry {
    pub(super) fn with_defaults(defaults: TopicDefaults) -> Registry {
        Registry {
            defaults,
            ..Registry::default()
        }
    }

    pub(super) fn defaults(&self) -> &TopicDefaults {
        &self.defaults
    }

    pub(super) fn apply(&mut self, change: RegistryChange) {
        match change {
            RegistryChange::Defaults(defaults) => {
                self.defaults = defaults;
                let topics: Vec<Arc<Topic>> = self.by_name.values().cloned().collect();
                for topic in topics {
                    self.apply(RegistryChange::Put(topic));
                }
            }
            RegistryChange::Put(topic) => {
                // A topic made while the defaults changed still gets the new ones.
                let topic = over_defaults(topic, &self.defaults);
                if let Some(old) = self.by_name.insert(topic.name.clone(), topic.clone()) {
                    if old.id != topic.id {
                        self.by_id.remove(&old.id);
                    }
                }
                self.by_id.insert(topic.id, topic);
            }
            RegistryChange::Remove { name } => {
                if let Some(old) = self.by_name.remove(&name) {
                    self.by_id.remove(&old.id);
                }
            }
        }
    }

    pub(super) fn by_name(&self, name: &str) -> Option<&Arc<Topic>> {
        self.by_name.get(name)
    }

    pub(super) fn by_id(&self, id: &Uuid) -> Option<&Arc<Topic>> {
        self.by_id.get(id)
    }

    pub(super) fn topics(&self) -> impl Iterator<Item = &Arc<Topic>> {
        self.by_name.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topics::{TopicConfig, TopicDefaults};

    fn topic(name: &str, id: Uuid) -> Arc<Topic> {
        Arc::new(Topic {
            name: name.to_string(),
            id,
            config: TopicConfig::new(BTreeMap::new(), TopicDefaults::default()).unwrap(),
            partitions: Vec::new(),
        })
    }

    #[test]
    fn the_registry_finds_what_was_put_and_forgets_what_was_removed() {
        let mut registry = Registry::default();
        let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
        registry.apply(RegistryChange::Put(topic("orders", first)));
        assert_eq!(registry.by_name("orders").unwrap().id, first);
        assert_eq!(registry.by_id(&first).unwrap().name, "orders");

        // The same name under a new id (deleted and created again) leaves no stale id behind.
        registry.apply(RegistryChange::Put(topic("orders", second)));
        assert!(registry.by_id(&first).is_none());
        assert_eq!(registry.by_id(&second).unwrap().name, "orders");

        registry.apply(RegistryChange::Remove {
            name: "orders".into(),
        });
        assert!(registry.by_name("orders").is_none());
        assert!(registry.by_id(&second).is_none());
        assert_eq!(registry.topics().count(), 0);
    }
}
