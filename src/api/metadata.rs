//! Metadata (key 3): this one broker, the cluster id, and topics — auto-created when the
//! request allows it and the broker's `auto_create_topics` is on.

use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::topic_name;
use crate::acl::{Operation, ResourceType, CLUSTER_NAME};
use crate::broker::Broker;
use crate::partition::LEADER_EPOCH;
use crate::session::RequestContext;
use crate::topics::{CreateError, Topic};

/// Sent when the client did not ask for authorized operations (Kafka's "omitted").
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;
/// Metadata v8–10 can ask for the cluster's authorized operations; v11 dropped it.
const CLUSTER_OPERATIONS_VERSIONS: std::ops::RangeInclusive<i16> = 8..=10;

/// What the request's principal may see and do, as Kafka's `KafkaApis` metadata path checks
/// it: DESCRIBE hides a topic (or refuses a named one), auto-creation needs CREATE on the
/// cluster or the topic, and each topic's authorized operations when asked for.
struct Access<'a> {
    broker: &'a Broker,
    context: &'a RequestContext<'a>,
    /// Whether the request asked for each topic's authorized operations.
    with_operations: bool,
}

impl Access<'_> {
    fn may_describe(&self, topic: &str) -> bool {
        self.broker.authorize(
            self.context,
            Operation::Describe,
            ResourceType::Topic,
            topic,
        )
    }

    fn may_create(&self, topic: &str) -> bool {
        self.broker
            .authorize_cluster(self.context, Operation::Create)
            || self
                .broker
                .authorize(self.context, Operation::Create, ResourceType::Topic, topic)
    }

    /// The topic's `topic_authorized_operations`: every operation without an authorizer.
    fn operations(&self, topic: &str) -> i32 {
        if self.with_operations {
            self.broker
                .authorized_operations(self.context, ResourceType::Topic, topic)
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        }
    }
}

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: MetadataRequest,
) -> MetadataResponse {
    let asks_auto_create = version < 4 || request.allow_auto_topic_creation;
    let auto_create = broker.config().auto_create_topics && asks_auto_create;
    let access = Access {
        broker,
        context,
        with_operations: version >= 8 && request.include_topic_authorized_operations,
    };
    // Without an authorizer this stays omitted, as it always was.
    let cluster_operations = if broker.acls().enabled()
        && CLUSTER_OPERATIONS_VERSIONS.contains(&version)
        && request.include_cluster_authorized_operations
    {
        broker.authorized_operations(context, ResourceType::Cluster, CLUSTER_NAME)
    } else {
        AUTHORIZED_OPERATIONS_OMITTED
    };
    let requested = match request.topics {
        // v0 has no null: an empty list means every topic.
        Some(topics) if !(version == 0 && topics.is_empty()) => Some(topics),
        _ => None,
    };
    // Topics this request may still auto-create (`auto_create_topics_max_per_request`).
    let mut budget = broker.config().auto_create_topics_max_per_request;
    let topics: Vec<MetadataResponseTopic> = match requested {
        // Every topic the principal may describe; the others are not mentioned.
        None => broker
            .topics()
            .all()
            .iter()
            .filter(|topic| access.may_describe(&topic.name))
            .map(|topic| describe(topic, broker.node_id(), access.operations(&topic.name)))
            .collect(),
        Some(requested) => requested
            .into_iter()
            .map(|wanted| match wanted.name {
                Some(name) if !name.is_empty() => {
                    let name = name.as_str();
                    let refused = !access.may_describe(name)
                        || (asks_auto_create
                            && broker.topics().get(name).is_none()
                            && !access.may_create(name));
                    if refused {
                        return unauthorized(Some(name), Uuid::nil());
                    }
                    let operations = access.operations(name);
                    lookup_or_create(broker, name, auto_create, &mut budget, operations)
                }
                _ => match broker.topics().get_by_id(&wanted.topic_id) {
                    // The name is not told to whom may not describe the topic.
                    Some(topic) if !access.may_describe(&topic.name) => {
                        unauthorized(None, wanted.topic_id)
                    }
                    Some(topic) => {
                        describe(&topic, broker.node_id(), access.operations(&topic.name))
                    }
                    None => MetadataResponseTopic::default()
                        .with_error_code(ResponseError::UnknownTopicId.code())
                        .with_topic_id(wanted.topic_id)
                        .with_topic_authorized_operations(access.operations("")),
                },
            })
            .collect(),
    };
    let topics = topics
        .into_iter()
        .map(|t| for_version(t, version))
        .collect();
    // The address of the listener the client came in on, as Kafka answers.
    let (advertised_host, advertised_port) = broker.advertised_address(context.listener());
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(broker.node_id()))
            .with_host(StrBytes::from_string(advertised_host.to_string()))
            .with_port(advertised_port)])
        .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id().to_string())))
        .with_controller_id(BrokerId(broker.node_id()))
        .with_topics(topics)
        .with_cluster_authorized_operations(cluster_operations)
}

/// A topic the principal may not describe (or may not auto-create).
fn unauthorized(name: Option<&str>, id: Uuid) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(ResponseError::TopicAuthorizationFailed.code())
        .with_name(name.map(topic_name))
        .with_topic_id(id)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}

/// Clears what `version` cannot carry: leader epochs (v7+) and topic ids (v10+).
fn for_version(mut topic: MetadataResponseTopic, version: i16) -> MetadataResponseTopic {
    if version < 7 {
        for partition in &mut topic.partitions {
            partition.leader_epoch = -1;
        }
    }
    if version < 10 {
        topic.topic_id = Uuid::nil();
    }
    topic
}

fn lookup_or_create(
    broker: &Broker,
    name: &str,
    auto_create: bool,
    budget: &mut usize,
    operations: i32,
) -> MetadataResponseTopic {
    if let Some(topic) = broker.topics().get(name) {
        return describe(&topic, broker.node_id(), operations);
    }
    let failed = |error: ResponseError| {
        MetadataResponseTopic::default()
            .with_error_code(error.code())
            .with_name(Some(topic_name(name)))
            .with_topic_id(Uuid::nil())
            .with_topic_authorized_operations(operations)
    };
    if !auto_create {
        return failed(ResponseError::UnknownTopicOrPartition);
    }
    if *budget == 0 {
        // Created by the client's next Metadata request; Kafka answers a topic being
        // created this way too.
        return failed(ResponseError::LeaderNotAvailable);
    }
    *budget -= 1;
    match broker.topic_or_create(name) {
        Ok(topic) => describe(&topic, broker.node_id(), operations),
        Err(CreateError::InvalidName(_)) => failed(ResponseError::InvalidTopicException),
        Err(e @ CreateError::TooManyPartitions { .. }) => {
            tracing::warn!(topic = name, error = %e, "not auto-creating the topic");
            failed(ResponseError::UnknownTopicOrPartition)
        }
        Err(e) => {
            tracing::warn!(topic = name, error = %e, "auto-creation failed");
            failed(ResponseError::UnknownTopicOrPartition)
        }
    }
}

fn describe(topic: &Arc<Topic>, node_id: i32, operations: i32) -> MetadataResponseTopic {
    let replicas = vec![BrokerId(node_id)];
    let partitions = topic
        .partitions
        .iter()
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p.index)
                .with_leader_id(BrokerId(node_id))
                .with_leader_epoch(LEADER_EPOCH)
                .with_replica_nodes(replicas.clone())
                .with_isr_nodes(replicas.clone())
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(&topic.name)))
        .with_topic_id(topic.id)
        .with_partitions(partitions)
        .with_topic_authorized_operations(operations)
}
