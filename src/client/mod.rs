//! Sluice's own Kafka client: what the command line needs to talk to any Kafka-compatible
//! broker, built on the `kafka-protocol` crate's messages and Sluice's frame reader.
//!
//! - [`connection`]: one broker connection, its API versions negotiated when it opens;
//! - [`Client`]: the bootstrap, Metadata (brokers, topics, leaders), routing each request to
//!   the partition leader or the group coordinator, and the requests several commands share
//!   (ListOffsets, Produce, Fetch);
//! - [`records`]: records and their v2 batches; [`partitioner`]: the Java client's default
//!   partitioner; [`group`]: a classic-protocol group member;
//! - [`error`]: errors named as Kafka names them.

pub mod connection;
pub mod error;
pub mod group;
/// Which partition a record goes to: the record format's partitioner, here for the client's
/// callers.
pub use crate::record::partitioner;
pub mod records;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, FindCoordinatorRequest, ListOffsetsRequest, MetadataRequest,
    MetadataResponse, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::{Request, StrBytes};

pub use connection::Connection;
pub use error::{error_name, ClientError, ClientResult};
pub use records::Record;

/// Kafka's code for a topic or partition the broker does not know.
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// How often a produce is tried when its partition answers a retriable error, and the
/// pause (with a Metadata refresh) between tries.
pub const PRODUCE_ATTEMPTS: u32 = 5;
pub const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// Whether Kafka marks `code` retriable (`RetriableException`): a leader moving, a timeout,
/// a broker not ready yet.
pub fn is_retriable(code: i16) -> bool {
    kafka_protocol::error::ResponseError::try_from_code(code).is_some_and(|e| e.is_retriable())
}

/// ListOffsets' special timestamps.
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const LATEST_TIMESTAMP: i64 = -1;

/// Whether a Fetch or ListOffsets sees uncommitted transactional records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    ReadUncommitted,
    ReadCommitted,
}

impl Isolation {
    fn level(self) -> i8 {
        match self {
            Isolation::ReadUncommitted => 0,
            Isolation::ReadCommitted => 1,
        }
    }
}

/// Where the client starts and how long it waits.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// HOST:PORT of brokers to bootstrap from, tried in order.
    pub bootstrap: Vec<String>,
    pub client_id: String,
    /// The longest any one request may take (a Fetch adds its own wait).
    pub request_timeout: Duration,
}

impl ClientConfig {
    /// A config from a comma-separated broker list.
    pub fn new(brokers: &str) -> ClientConfig {
        ClientConfig {
            bootstrap: brokers
                .split(',')
                .map(str::trim)
                .filter(|b| !b.is_empty())
                .map(str::to_string)
                .collect(),
            client_id: "sluice-cli".to_string(),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// A broker as Metadata names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl BrokerInfo {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One partition of a topic as Metadata describes it.
#[derive(Clone, Debug)]
pub struct PartitionLayout {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub error_code: i16,
}

/// A topic's id and partitions, by partition index.
#[derive(Clone, Debug)]
pub struct TopicLayout {
    pub name: String,
    pub topic_id: uuid::Uuid,
    pub internal: bool,
    pub partitions: Vec<PartitionLayout>,
}

/// The highest versions this client fills its requests for (newer ones change shapes it does
/// not build: topic ids in Produce v13 and Fetch v13, batched groups in OffsetFetch v8).
pub mod ours {
    pub const METADATA: i16 = 12;
    pub const PRODUCE: i16 = 9;
    pub const FETCH: i16 = 12;
    pub const LIST_OFFSETS: i16 = 7;
    pub const FIND_COORDINATOR: i16 = 4;
}

/// A client of one cluster: the bootstrap connection, and one connection per broker used.
pub struct Client {
    config: ClientConfig,
    bootstrap: Connection,
    brokers: BTreeMap<i32, BrokerInfo>,
    connections: HashMap<i32, Connection>,
    cluster_id: Option<String>,
    controller_id: i32,
}

impl Client {
    /// Connects to the first bootstrap broker that answers and reads the cluster's brokers.
    pub async fn connect(config: ClientConfig) -> ClientResult<Client> {
        let mut last_error = None;
        for addr in &config.bootstrap {
            match Connection::open(addr, &config.client_id, config.request_timeout).await {
                Ok(bootstrap) => {
                    let mut client = Client {
                        config: config.clone(),
                        bootstrap,
                        brokers: BTreeMap::new(),
                        connections: HashMap::new(),
                        cluster_id: None,
                        controller_id: -1,
                    };
                    client.metadata(Some(&[])).await?;
                    return Ok(client);
                }
                Err(e) => {
                    tracing::debug!(addr, error = %e, "bootstrap broker unreachable");
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| ClientError::Other("no brokers given".to_string())))
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub fn brokers(&self) -> &BTreeMap<i32, BrokerInfo> {
        &self.brokers
    }

    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    pub fn controller_id(&self) -> i32 {
        self.controller_id
    }

    /// The bootstrap connection: for requests any broker answers.
    pub fn any(&mut self) -> &mut Connection {
        &mut self.bootstrap
    }

    /// The connection to broker `node_id`, opened when first needed.
    pub async fn broker(&mut self, node_id: i32) -> ClientResult<&mut Connection> {
        if !self.connections.contains_key(&node_id) {
            let info = self.brokers.get(&node_id).ok_or_else(|| {
                ClientError::Other(format!("broker {node_id} is not in the cluster's metadata"))
            })?;
            let connection = Connection::open(
                &info.addr(),
                &self.config.client_id,
                self.config.request_timeout,
            )
            .await?;
            self.connections.insert(node_id, connection);
        }
        self.connections
            .get_mut(&node_id)
            .ok_or_else(|| ClientError::Other(format!("no connection to broker {node_id}")))
    }

    /// Forgets a broken connection so the next request opens a new one.
    pub fn drop_connection(&mut self, node_id: i32) {
        self.connections.remove(&node_id);
    }

    /// Sends `request` to the controller (admin requests), else to the bootstrap broker.
    pub async fn controller(&mut self) -> ClientResult<&mut Connection> {
        let controller = self.controller_id;
        if controller >= 0 && self.brokers.contains_key(&controller) {
            self.broker(controller).await
        } else {
            Ok(&mut self.bootstrap)
        }
    }

    /// Metadata for `topics` (`None`: all; `Some(&[])`: none, only brokers), refreshing the
    /// brokers this client knows.
    pub async fn metadata(&mut self, topics: Option<&[String]>) -> ClientResult<MetadataResponse> {
        let version = self.bootstrap.version::<MetadataRequest>(ours::METADATA)?;
        let request = MetadataRequest::default()
            .with_topics(topics.map(|names| {
                names
                    .iter()
                    .map(|name| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(false);
        let response = self.bootstrap.send(&request, version).await?;
        self.brokers = response
            .brokers
            .iter()
            .map(|b| {
                (
                    b.node_id.0,
                    BrokerInfo {
                        node_id: b.node_id.0,
                        host: b.host.to_string(),
                        port: b.port,
                        rack: b.rack.as_ref().map(ToString::to_string),
                    },
                )
            })
            .collect();
        self.cluster_id = response.cluster_id.as_ref().map(ToString::to_string);
        self.controller_id = response.controller_id.0;
        Ok(response)
    }

    /// Every topic's name (internal ones included).
    pub async fn topic_names(&mut self) -> ClientResult<Vec<TopicLayout>> {
        let response = self.metadata(None).await?;
        let mut topics: Vec<TopicLayout> = response.topics.iter().filter_map(layout_of).collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// One topic's layout; an error naming Kafka's code when the topic is unknown.
    pub async fn topic(&mut self, name: &str) -> ClientResult<TopicLayout> {
        let response = self.metadata(Some(&[name.to_string()])).await?;
        let topic = response
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
            .ok_or_else(|| ClientError::Other(format!("topic {name}: not in Metadata's answer")))?;
        ClientError::check(topic.error_code, format!("topic {name}"))?;
        layout_of(topic).ok_or_else(|| ClientError::Other(format!("topic {name} has no name")))
    }

    /// The node id of `group`'s coordinator.
    pub async fn coordinator(&mut self, group: &str) -> ClientResult<i32> {
        let version = self
            .bootstrap
            .version::<FindCoordinatorRequest>(ours::FIND_COORDINATOR)?;
        let mut request = FindCoordinatorRequest::default().with_key_type(0);
        if version >= 4 {
            request.coordinator_keys = vec![StrBytes::from_string(group.to_string())];
        } else {
            request.key = StrBytes::from_string(group.to_string());
        }
        // A coordinator still loading answers COORDINATOR_LOAD_IN_PROGRESS or
        // COORDINATOR_NOT_AVAILABLE for a moment: ask again for a little while.
        for attempt in 0.. {
            let response = self.bootstrap.send(&request, version).await?;
            let (code, message, node_id, host, port) = match response.coordinators.first() {
                Some(c) if version >= 4 => (
                    c.error_code,
                    c.error_message.clone(),
                    c.node_id.0,
                    c.host.to_string(),
                    c.port,
                ),
                _ => (
                    response.error_code,
                    response.error_message.clone(),
                    response.node_id.0,
                    response.host.to_string(),
                    response.port,
                ),
            };
            if (code == 14 || code == 15) && attempt < 50 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            ClientError::check_message(
                code,
                message.as_deref(),
                format!("FindCoordinator for group {group}"),
            )?;
            self.brokers.entry(node_id).or_insert(BrokerInfo {
                node_id,
                host,
                port,
                rack: None,
            });
            return Ok(node_id);
        }
        unreachable!("the loop returns")
    }

    /// Sends `request` to the coordinator of `group`.
    pub async fn call_coordinator<R: Request>(
        &mut self,
        group: &str,
        ours_max: i16,
        build: impl FnOnce(i16) -> R,
    ) -> ClientResult<R::Response> {
        let node = self.coordinator(group).await?;
        let connection = self.broker(node).await?;
        let version = connection.version::<R>(ours_max)?;
        connection.send(&build(version), version).await
    }

    /// The offsets of `partitions` of `topic` at `timestamp` (or [`EARLIEST_TIMESTAMP`],
    /// [`LATEST_TIMESTAMP`]), asking each partition's leader. A partition with no record at or
    /// after the timestamp gets -1.
    pub async fn list_offsets(
        &mut self,
        topic: &TopicLayout,
        partitions: &[i32],
        timestamp: i64,
        isolation: Isolation,
    ) -> ClientResult<BTreeMap<i32, i64>> {
        let mut offsets = BTreeMap::new();
        for (leader, partitions) in by_leader(topic, partitions)? {
            let connection = self.broker(leader).await?;
            let version = connection.version::<ListOffsetsRequest>(ours::LIST_OFFSETS)?;
            let request = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_isolation_level(if version >= 2 { isolation.level() } else { 0 })
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.name.clone())))
                    .with_partitions(
                        partitions
                            .iter()
                            .map(|&p| {
                                ListOffsetsPartition::default()
                                    .with_partition_index(p)
                                    .with_timestamp(timestamp)
                            })
                            .collect(),
                    )]);
            let response = connection.send(&request, version).await?;
            for t in &response.topics {
                for p in &t.partitions {
                    ClientError::check(
                        p.error_code,
                        format!("ListOffsets {}-{}", topic.name, p.partition_index),
                    )?;
                    offsets.insert(p.partition_index, p.offset);
                }
            }
        }
        Ok(offsets)
    }

    /// Start and end offsets of every partition of `topic`.
    pub async fn watermarks(
        &mut self,
        topic: &TopicLayout,
    ) -> ClientResult<BTreeMap<i32, (i64, i64)>> {
        let all: Vec<i32> = topic.partitions.iter().map(|p| p.partition).collect();
        let starts = self
            .list_offsets(topic, &all, EARLIEST_TIMESTAMP, Isolation::ReadUncommitted)
            .await?;
        let ends = self
            .list_offsets(topic, &all, LATEST_TIMESTAMP, Isolation::ReadUncommitted)
            .await?;
        Ok(all
            .iter()
            .map(|p| {
                (
                    *p,
                    (
                        starts.get(p).copied().unwrap_or(0),
                        ends.get(p).copied().unwrap_or(0),
                    ),
                )
            })
            .collect())
    }

    /// Produces `records` (each with its partition set) with acks=all, one batch per
    /// partition per request, and returns how many were acknowledged. A partition answered
    /// with a retriable error (NOT_LEADER_OR_FOLLOWER, a timeout…) is sent again after
    /// Metadata is read anew, up to [`PRODUCE_ATTEMPTS`] times, as Kafka's producer retries
    /// (`Sender`); any other error fails at once. A lost connection is not retried: the
    /// batch may have been written, and this producer is not idempotent.
    pub async fn produce(
        &mut self,
        topic: &TopicLayout,
        records: &[Record],
        now_ms: i64,
    ) -> ClientResult<usize> {
        let mut pending: BTreeMap<i32, Vec<Record>> = BTreeMap::new();
        for record in records {
            pending
                .entry(record.partition)
                .or_default()
                .push(record.clone());
        }
        let mut layout = topic.clone();
        let mut written = 0;
        for attempt in 1..=PRODUCE_ATTEMPTS {
            let partitions: Vec<i32> = pending.keys().copied().collect();
            let mut retry: Option<ClientError> = None;
            for (leader, partitions) in by_leader(&layout, &partitions)? {
                let mut data = Vec::with_capacity(partitions.len());
                for partition in &partitions {
                    data.push(
                        PartitionProduceData::default()
                            .with_index(*partition)
                            .with_records(Some(records::encode_batch(
                                &pending[partition],
                                now_ms,
                            )?)),
                    );
                }
                let timeout_ms =
                    i32::try_from(self.config.request_timeout.as_millis()).unwrap_or(30_000);
                let connection = self.broker(leader).await?;
                let version = connection.version::<ProduceRequest>(ours::PRODUCE)?;
                let request = ProduceRequest::default()
                    .with_acks(-1)
                    .with_timeout_ms(timeout_ms)
                    .with_topic_data(vec![TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(layout.name.clone())))
                        .with_partition_data(data)]);
                let response = connection.send(&request, version).await?;
                for t in &response.responses {
                    for p in &t.partition_responses {
                        let result = ClientError::check_message(
                            p.error_code,
                            p.error_message.as_deref(),
                            format!("Produce to {}-{}", layout.name, p.index),
                        );
                        match result {
                            Ok(()) => {
                                written += pending.remove(&p.index).map_or(0, |r| r.len());
                            }
                            Err(e) if is_retriable(p.error_code) && attempt < PRODUCE_ATTEMPTS => {
                                tracing::debug!(error = %e, attempt, "produce retried");
                                retry = Some(e);
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
            if retry.is_none() {
                return Err(ClientError::Protocol(format!(
                    "Produce to {}: no answer for partitions {:?}",
                    layout.name,
                    pending.keys().collect::<Vec<_>>()
                )));
            }
            tokio::time::sleep(RETRY_BACKOFF).await;
            layout = self.topic(&layout.name).await?;
        }
        Ok(written)
    }

    /// One Fetch round over `positions` (partition → next offset): asks each leader, waiting
    /// up to `max_wait` for data.
    pub async fn fetch(
        &mut self,
        topic: &TopicLayout,
        positions: &BTreeMap<i32, i64>,
        isolation: Isolation,
        max_wait: Duration,
    ) -> ClientResult<Vec<FetchedPartition>> {
        /// Per partition and per request: enough for large batches, small enough to stay far
        /// below the response limit.
        const PARTITION_MAX_BYTES: i32 = 4 * 1024 * 1024;
        const MAX_BYTES: i32 = 32 * 1024 * 1024;
        let partitions: Vec<i32> = positions.keys().copied().collect();
        let mut fetched = Vec::new();
        let wait_ms = i32::try_from(max_wait.as_millis()).unwrap_or(i32::MAX);
        let timeout = self.config.request_timeout + max_wait;
        for (leader, partitions) in by_leader(topic, &partitions)? {
            let connection = self.broker(leader).await?;
            let version = connection.version::<FetchRequest>(ours::FETCH)?;
            let request = FetchRequest::default()
                .with_max_wait_ms(wait_ms)
                .with_min_bytes(1)
                .with_max_bytes(MAX_BYTES)
                .with_isolation_level(isolation.level())
                .with_topics(vec![FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.name.clone())))
                    .with_partitions(
                        partitions
                            .iter()
                            .map(|p| {
                                FetchPartition::default()
                                    .with_partition(*p)
                                    .with_fetch_offset(positions[p])
                                    .with_partition_max_bytes(PARTITION_MAX_BYTES)
                            })
                            .collect(),
                    )]);
            let response = connection.send_within(&request, version, timeout).await?;
            ClientError::check(response.error_code, "Fetch")?;
            for t in response.responses {
                for p in t.partitions {
                    let aborted: Option<Vec<records::Aborted>> =
                        (isolation == Isolation::ReadCommitted).then(|| {
                            p.aborted_transactions
                                .iter()
                                .flatten()
                                .map(|a| records::Aborted {
                                    producer_id: a.producer_id.0,
                                    first_offset: a.first_offset,
                                })
                                .collect()
                        });
                    let decoded = match (&p.records, p.error_code) {
                        (Some(data), 0) => records::decode_batches(
                            p.partition_index,
                            data.clone(),
                            aborted.as_deref(),
                        )?,
                        _ => records::DecodedRecords::default(),
                    };
                    fetched.push(FetchedPartition {
                        partition: p.partition_index,
                        error_code: p.error_code,
                        high_watermark: p.high_watermark,
                        last_stable_offset: p.last_stable_offset,
                        log_start_offset: p.log_start_offset,
                        records: decoded.records,
                        next_offset: decoded.next_offset,
                    });
                }
            }
        }
        Ok(fetched)
    }
}

/// What one Fetch returned for one partition.
#[derive(Debug)]
pub struct FetchedPartition {
    pub partition: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    pub records: Vec<Record>,
    /// Where the next fetch starts, when whole batches came back.
    pub next_offset: Option<i64>,
}

fn layout_of(
    topic: &kafka_protocol::messages::metadata_response::MetadataResponseTopic,
) -> Option<TopicLayout> {
    let name = topic.name.as_ref()?.0.to_string();
    let mut partitions: Vec<PartitionLayout> = topic
        .partitions
        .iter()
        .map(|p| PartitionLayout {
            partition: p.partition_index,
            leader: p.leader_id.0,
            replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
            isr: p.isr_nodes.iter().map(|b| b.0).collect(),
            error_code: p.error_code,
        })
        .collect();
    partitions.sort_by_key(|p| p.partition);
    Some(TopicLayout {
        name,
        topic_id: topic.topic_id,
        internal: topic.is_internal,
        partitions,
    })
}

/// `partitions` grouped by their leader; an error for a partition the topic lacks or whose
/// leader is unknown.
fn by_leader(topic: &TopicLayout, partitions: &[i32]) -> ClientResult<BTreeMap<i32, Vec<i32>>> {
    let mut grouped: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for &partition in partitions {
        let layout = topic
            .partitions
            .iter()
            .find(|p| p.partition == partition)
            .ok_or_else(|| ClientError::Kafka {
                context: format!("partition {}-{partition}", topic.name),
                code: UNKNOWN_TOPIC_OR_PARTITION,
                message: Some(format!(
                    "the topic has {} partitions",
                    topic.partitions.len()
                )),
            })?;
        if layout.leader < 0 {
            return Err(ClientError::Other(format!(
                "partition {}-{partition} has no leader ({})",
                topic.name,
                error_name(layout.error_code)
            )));
        }
        grouped.entry(layout.leader).or_default().push(partition);
    }
    Ok(grouped)
}
