//! Changing configs at run time: a topic's overrides (AlterConfigs on a `TOPIC` resource)
//! and the dynamic broker configs that are the defaults of every topic's (a `BROKER`
//! resource). Each change is checked by the topic validator, persisted by the metadata
//! store, then applied to the registry: whatever reads a topic's config next (produce,
//! retention, flushes, the cleaner) sees the new value, and the partitions' logs take the
//! new segment settings for their next roll.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use super::broker_keys::{check_broker_configs, BrokerConfigError, BrokerScope};
use super::metadata::{MetadataRecord, RegistryChange, TopicDefinition};
use super::{DynamicBrokerConfigs, InvalidConfig, Topic, TopicConfig, TopicDefaults, Topics};

/// Why a config change is refused.
#[derive(Debug, thiserror::Error)]
pub enum AlterError {
    #[error("The topic '{0}' does not exist.")]
    UnknownTopic(String),
    #[error("{}", .0.message())]
    InvalidConfig(InvalidConfig),
    #[error("{}", match .0 { BrokerConfigError::NotDynamic(m) | BrokerConfigError::InvalidValue(m) => m })]
    InvalidBrokerConfig(BrokerConfigError),
    /// The change could not be persisted: nothing changed.
    #[error("{0}")]
    Storage(#[source] io::Error),
}

impl Topics {
    /// The defaults topic configs are over now.
    pub fn defaults(&self) -> TopicDefaults {
        self.read().defaults().clone()
    }

    /// The dynamic broker configs now.
    pub fn broker_configs(&self) -> Arc<DynamicBrokerConfigs> {
        self.read().defaults().dynamic.clone()
    }

    /// Replaces topic `name`'s overrides with `configs` (or, `validate_only`, only checks
    /// them). As Kafka does, the configs are checked before the topic's existence. Blocks on
    /// the disk: call it off the async workers.
    pub fn alter_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), AlterError> {
        let _claim = self.claim(name);
        let _changing = self.config_changes();
        let config = TopicConfig::new(configs.clone(), self.defaults())
            .map_err(AlterError::InvalidConfig)?;
        let topic = self
            .get(name)
            .ok_or_else(|| AlterError::UnknownTopic(name.to_string()))?;
        if validate_only {
            return Ok(());
        }
        let defined = MetadataRecord::TopicDefined(TopicDefinition {
            name: name.to_string(),
            id: topic.id,
            partitions: topic.partitions.len() as i32,
            configs,
        });
        self.shared
            .store
            .persist(&defined)
            .and_then(|()| self.shared.store.make_durable(name))
            .map_err(AlterError::Storage)?;
        let registered = self.register(Topic {
            name: topic.name.clone(),
            id: topic.id,
            config,
            partitions: topic.partitions.clone(),
        });
        self.reconfigure_partitions(&registered);
        tracing::info!(topic = name, overrides = ?registered.config.overrides(), "topic configs changed");
        Ok(())
    }

    /// Replaces the dynamic broker configs of `scope` with `configs` (or, `validate_only`,
    /// only checks them); every topic without an override of a changed key follows it.
    /// Blocks on the disk: call it off the async workers.
    pub fn alter_broker_configs(
        &self,
        scope: BrokerScope,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), AlterError> {
        let _changing = self.config_changes();
        check_broker_configs(&configs).map_err(AlterError::InvalidBrokerConfig)?;
        if validate_only {
            return Ok(());
        }
        let defaults = self.defaults();
        let dynamic = defaults.dynamic.with_scope(scope, configs);
        self.shared
            .store
            .persist(&MetadataRecord::BrokerConfigsSet(dynamic.clone()))
            .map_err(AlterError::Storage)?;
        let defaults = TopicDefaults {
            dynamic: Arc::new(dynamic),
            ..defaults
        };
        self.write()
            .apply(RegistryChange::Defaults(defaults.clone()));
        for topic in self.all() {
            self.reconfigure_partitions(&topic);
        }
        tracing::info!(?scope, configs = ?defaults.dynamic.scope(scope), "dynamic broker configs changed");
        Ok(())
    }

    /// Gives each partition of `topic` its config's segment settings.
    pub(super) fn reconfigure_partitions(&self, topic: &Topic) {
        let segments = topic
            .config
            .segment_config(self.shared.clock.clone(), &self.shared.open_files);
        for partition in &topic.partitions {
            partition.reconfigure(segments.clone());
        }
    }

    fn config_changes(&self) -> std::sync::MutexGuard<'_, ()> {
        self.shared
            .config_changes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::clock::Clock;
    use crate::topics::{ConfigSource, NewTopic};

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn create(topics: &Topics, name: &str, pairs: &[(&str, &str)]) {
        topics
            .create(NewTopic {
                name: name.into(),
                partitions: 1,
                configs: configs(pairs),
            })
            .unwrap();
    }

    fn entry(topics: &Topics, topic: &str, key: &str) -> crate::topics::ConfigEntry {
        let entries = topics.get(topic).unwrap().config.entries();
        entries.into_iter().find(|e| e.name == key).unwrap()
    }

    #[test]
    fn a_topic_change_and_a_broker_default_are_in_force_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
            create(&topics, "t", &[("retention.ms", "1000")]);
            create(&topics, "kept", &[("retention.ms", "7")]);
            topics
                .alter_topic_configs("t", configs(&[("segment.ms", "5000")]), false)
                .unwrap();
            // The legacy set replaces the whole: retention.ms is back to its default.
            assert_eq!(
                topics.get("t").unwrap().config.retention(),
                (604_800_000, -1)
            );
            topics
                .alter_broker_configs(
                    BrokerScope::Cluster,
                    configs(&[("log.retention.ms", "42")]),
                    false,
                )
                .unwrap();
            assert_eq!(topics.get("t").unwrap().config.retention(), (42, -1));
            assert_eq!(topics.get("kept").unwrap().config.retention(), (7, -1));
        }
        let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
        assert_eq!(topics.get("t").unwrap().config.retention(), (42, -1));
        assert_eq!(topics.get("kept").unwrap().config.retention(), (7, -1));
        let retention = entry(&topics, "t", "retention.ms");
        assert_eq!(retention.source, ConfigSource::DynamicDefaultBroker);
        let names: Vec<(&str, &str, ConfigSource)> = retention
            .synonyms
            .iter()
            .map(|s| (s.name.as_str(), s.value.as_str(), s.source))
            .collect();
        assert_eq!(
            names,
            [
                ("log.retention.ms", "42", ConfigSource::DynamicDefaultBroker),
                ("log.retention.hours", "168", ConfigSource::Default),
            ]
        );
        let segment = entry(&topics, "t", "segment.ms");
        assert_eq!(
            (segment.value.as_str(), segment.source),
            ("5000", ConfigSource::Topic)
        );
        // A broker config of this node comes before the cluster's default.
        topics
            .alter_broker_configs(
                BrokerScope::Node,
                configs(&[("log.retention.ms", "9")]),
                false,
            )
            .unwrap();
        assert_eq!(topics.get("t").unwrap().config.retention(), (9, -1));
        // A topic made after the change follows it too.
        create(&topics, "later", &[]);
        assert_eq!(topics.get("later").unwrap().config.retention(), (9, -1));
    }

    #[test]
    fn refusals_change_nothing_and_configs_are_checked_before_the_topic_exists() {
        let topics = Topics::new(TopicDefaults::default());
        create(&topics, "t", &[("retention.ms", "1000")]);
        let bad = topics.alter_topic_configs("t", configs(&[("retention.ms", "soon")]), false);
        assert!(matches!(bad, Err(AlterError::InvalidConfig(c)) if c.key == "retention.ms"));
        let unknown_key = topics.alter_topic_configs("absent", configs(&[("nope", "1")]), false);
        assert!(
            matches!(&unknown_key, Err(AlterError::InvalidConfig(c)) if c.message() == "Unknown topic config name: nope"),
            "{unknown_key:?}"
        );
        let absent = topics.alter_topic_configs("absent", configs(&[("retention.ms", "1")]), false);
        assert!(matches!(absent, Err(AlterError::UnknownTopic(_))));
        topics
            .alter_topic_configs("t", configs(&[("retention.ms", "5")]), true)
            .unwrap();
        topics
            .alter_broker_configs(
                BrokerScope::Cluster,
                configs(&[("log.retention.ms", "5")]),
                true,
            )
            .unwrap();
        let refused = topics.alter_broker_configs(
            BrokerScope::Cluster,
            configs(&[("num.partitions", "5")]),
            false,
        );
        assert!(matches!(
            refused,
            Err(AlterError::InvalidBrokerConfig(
                BrokerConfigError::NotDynamic(_)
            ))
        ));
        assert_eq!(topics.get("t").unwrap().config.retention(), (1000, -1));
        assert!(topics.broker_configs().cluster.is_empty());
    }

    #[test]
    fn a_smaller_segment_bytes_rolls_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
        create(&topics, "t", &[]);
        let segments = || {
            std::fs::read_dir(dir.path().join("t-0"))
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "log")
                })
                .count()
        };
        let append = |base: i64| {
            let batch = crate::record::test_batches::batch(base, 0, 1, b"x");
            topics.get("t").unwrap().partitions[0]
                .append(Bytes::from(batch), None)
                .unwrap();
        };
        append(0);
        append(1);
        assert_eq!(segments(), 1);
        topics
            .alter_topic_configs("t", configs(&[("segment.bytes", "14")]), false)
            .unwrap();
        append(2);
        append(3);
        assert_eq!(segments(), 3, "each append past 14 bytes rolls");
    }
}
