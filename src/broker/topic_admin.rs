//! Creating, auto-creating and deleting topics: the rules whoever asks (CreateTopics,
//! Metadata's auto-creation, DeleteTopics; the CLI and HTTP admin later). The file work runs
//! without stalling other connections ([`crate::blocking`]); a deleted topic's committed
//! offsets go with it, as in Kafka.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use super::Broker;
use crate::topics::{CreateError, NewTopic, Topic, TopicConfig};

/// A topic to create. `None` partitions take the broker's `num_partitions`; the replication
/// factor, when given, must be 1 (a single broker).
#[derive(Debug, Clone, Default)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: Option<i32>,
    pub replication_factor: Option<i16>,
    pub configs: BTreeMap<String, String>,
}

/// What a creation made (or, validating only, would make).
#[derive(Debug, Clone)]
pub struct CreatedTopic {
    /// Nil when only validated.
    pub id: uuid::Uuid,
    pub partitions: i32,
    pub config: TopicConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateTopicError {
    #[error("replication factor {0} is not 1: this is a single broker")]
    InvalidReplicationFactor(i16),
    #[error(transparent)]
    Refused(#[from] CreateError),
}

#[derive(Debug, thiserror::Error)]
pub enum DeleteTopicError {
    #[error("no such topic")]
    UnknownTopic,
    /// The definition could not be removed: the topic stays, whole.
    #[error("{0}")]
    Storage(#[source] io::Error),
}

impl Broker {
    /// Creates `spec` (or only checks it, `validate_only`).
    pub fn create_topic(
        &self,
        spec: TopicSpec,
        validate_only: bool,
    ) -> Result<CreatedTopic, CreateTopicError> {
        if let Some(factor) = spec.replication_factor.filter(|f| *f != 1) {
            return Err(CreateTopicError::InvalidReplicationFactor(factor));
        }
        let new = NewTopic {
            name: spec.name,
            partitions: spec.partitions.unwrap_or(self.config().num_partitions),
            configs: spec.configs,
        };
        if validate_only {
            let partitions = new.partitions;
            let config = self.topics().validate(&new)?;
            return Ok(CreatedTopic {
                id: uuid::Uuid::nil(),
                partitions,
                config,
            });
        }
        let topic = crate::blocking::run(|| self.topics().create(new))?;
        Ok(CreatedTopic {
            id: topic.id,
            partitions: topic.partitions.len() as i32,
            config: topic.config.clone(),
        })
    }

    /// Creates the topics the configuration declares (`--topic`, `[[topics]]`) that do not
    /// exist: at start, and after a reset. One that exists is left as it is (its records,
    /// partitions and configs are the data directory's), with a warning when it has fewer
    /// partitions than declared. The error names the declaration that could not be created.
    pub fn create_declared_topics(&self) -> Result<(), String> {
        for declared in &self.config().topics {
            if let Some(topic) = self.topics().get(&declared.name) {
                let partitions = topic.partitions.len();
                if declared.partitions.is_some_and(|p| p as usize > partitions) {
                    tracing::warn!(
                        topic = %declared.name, partitions, declared = %declared,
                        "a declared topic exists with fewer partitions; left as it is"
                    );
                }
                continue;
            }
            let spec = TopicSpec {
                name: declared.name.clone(),
                partitions: declared.partitions,
                replication_factor: None,
                configs: declared.configs.clone(),
            };
            let created = self
                .create_topic(spec, false)
                .map_err(|e| format!("cannot create declared topic {declared}: {e}"))?;
            tracing::info!(topic = %declared.name, partitions = created.partitions, "declared topic created");
        }
        Ok(())
    }

    /// The topic `name`, created with the broker's defaults if it does not exist (the
    /// caller checked that auto-creation is allowed). A creation racing another one of the
    /// same name finds the other's topic.
    pub fn topic_or_create(&self, name: &str) -> Result<Arc<Topic>, CreateError> {
        if let Some(topic) = self.topics().get(name) {
            return Ok(topic);
        }
        let new = NewTopic {
            name: name.to_string(),
            partitions: self.config().num_partitions,
            configs: BTreeMap::new(),
        };
        match crate::blocking::run(|| self.topics().create(new)) {
            Err(CreateError::AlreadyExists) => {
                self.topics().get(name).ok_or(CreateError::AlreadyExists)
            }
            created => created,
        }
    }

    /// Deletes the topic `name`, its data and every group's committed offsets of it.
    pub async fn delete_topic(&self, name: &str) -> Result<Arc<Topic>, DeleteTopicError> {
        let topic = crate::blocking::run(|| self.topics().delete(name))
            .map_err(DeleteTopicError::Storage)?
            .ok_or(DeleteTopicError::UnknownTopic)?;
        if let Err(e) = self.groups().forget_topic(topic.name.clone()).await {
            tracing::warn!(topic = %topic.name, error = ?e, "cannot drop the deleted topic's committed offsets");
        }
        Ok(topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::group::{MemberRef, OffsetToCommit};
    use crate::node::Node;

    fn spec(name: &str, partitions: i32) -> TopicSpec {
        TopicSpec {
            name: name.into(),
            partitions: Some(partitions),
            ..TopicSpec::default()
        }
    }

    #[tokio::test]
    async fn create_validate_and_the_rules_of_a_single_broker() {
        let node = Node::start(Config::for_tests()).await.unwrap();
        let broker = node.broker();
        let checked = broker.create_topic(spec("t", 3), true).unwrap();
        assert_eq!((checked.id, checked.partitions), (uuid::Uuid::nil(), 3));
        assert!(
            broker.topics().get("t").is_none(),
            "validating creates nothing"
        );
        let created = broker.create_topic(spec("t", 3), false).unwrap();
        assert_eq!(created.partitions, 3);
        assert!(matches!(
            broker.create_topic(spec("t", 1), false),
            Err(CreateTopicError::Refused(CreateError::AlreadyExists))
        ));
        let replicated = TopicSpec {
            replication_factor: Some(3),
            ..spec("r", 1)
        };
        assert!(matches!(
            broker.create_topic(replicated, false),
            Err(CreateTopicError::InvalidReplicationFactor(3))
        ));
        node.shutdown().await;
    }

    #[tokio::test]
    async fn a_deleted_topic_takes_its_offsets_and_its_name_comes_back_empty() {
        let node = Node::start(Config::for_tests()).await.unwrap();
        let broker = node.broker();
        broker.create_topic(spec("t", 1), false).unwrap();
        let simple = MemberRef {
            member_id: String::new(),
            instance_id: None,
        };
        let offset = OffsetToCommit {
            topic: "t".into(),
            partition: 0,
            offset: 5,
            leader_epoch: -1,
            metadata: String::new(),
        };
        broker
            .groups()
            .commit("g".into(), -1, simple, vec![offset])
            .await
            .unwrap();
        let old = broker.delete_topic("t").await.unwrap();
        assert!(matches!(
            broker.delete_topic("t").await,
            Err(DeleteTopicError::UnknownTopic)
        ));
        assert!(broker.groups().all_offsets().await.unwrap().is_empty());
        let again = broker.topic_or_create("t").unwrap();
        assert_ne!(again.id, old.id);
        assert_eq!(again.partition(0).unwrap().ends().high_watermark, 0);
        node.shutdown().await;
    }
}
