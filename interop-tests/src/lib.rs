//! Shared helpers for the interop tests: real Kafka clients against a real Sluice broker.
//!
//! - [`TestBroker`] runs an in-memory broker on `127.0.0.1:0` in its own tokio runtime, so a
//!   test's clients can block (rdkafka's `BaseProducer`/`BaseConsumer`) on the test thread;
//! - [`producer_config`] / [`consumer_config`] are the rdkafka settings every test starts
//!   from (these consumers use `assign`; groups are tested in `tests/groups.rs`);
//! - [`TestProducer`] sends [`Record`]s and returns one [`Delivered`] report per record;
//! - [`consume_exactly`] / [`consume_all`] return owned [`Received`] records for exact
//!   comparisons, and fail when more records arrive than expected;
//! - [`create_topic`] / [`create_topics`] go through rdkafka's AdminClient (CreateTopics).

pub mod http_client;
pub mod sluice_binary;
pub mod wire;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication, TopicResult};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, DeliveryResult, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, Timestamp, TopicPartitionList};
use sluice::record::batch::split_batches;
use sluice::{Broker, Config, Node};
use tokio::runtime::Runtime;

/// How long any single wait in a test may take before the test fails. Generous: the suite
/// runs on two cores next to other builds; a healthy run needs a fraction of it.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// How long a consumer must stay quiet after the expected records to prove there are no more.
pub const QUIET: Duration = Duration::from_millis(500);

/// Installs a tracing subscriber once (filter from `RUST_LOG`, silent by default).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    // Another test in this binary may have installed it already.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// A topic name no other test in this process uses.
pub fn unique_topic(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// An in-process broker with its own runtime; shut down (and checked to stop) on drop.
pub struct TestBroker {
    runtime: Option<Runtime>,
    node: Option<Node>,
    addr: SocketAddr,
    bootstrap: String,
}

impl TestBroker {
    /// An in-memory broker on a free loopback port with the test defaults.
    pub fn start() -> TestBroker {
        TestBroker::start_with(Config::for_tests())
    }

    /// A broker with `config` (start from `Config::for_tests()`).
    pub fn start_with(config: Config) -> TestBroker {
        init_tracing();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sluice-broker")
            .enable_all()
            .build()
            .expect("build the broker's runtime");
        let node = runtime
            .block_on(Node::start(config))
            .expect("start the broker");
        let addr = node.local_addr();
        assert!(addr.ip().is_loopback(), "tests listen on loopback only");
        let bootstrap = node.bootstrap_servers();
        TestBroker {
            runtime: Some(runtime),
            node: Some(node),
            addr,
            bootstrap,
        }
    }

    /// What a client puts in `bootstrap.servers`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The HTTP admin listener's address; the config must set `http` (`127.0.0.1:0`).
    pub fn http_addr(&self) -> SocketAddr {
        self.node
            .as_ref()
            .expect("the broker lives until drop")
            .http_addr()
            .expect("the broker was started with an HTTP listener (config.http)")
    }

    /// The listener's address, for raw sockets.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the listener of `protocol` (the broker must have one).
    pub fn listener_addr(&self, protocol: sluice::config::SecurityProtocol) -> SocketAddr {
        self.node
            .as_ref()
            .expect("the broker lives until drop")
            .listener_addr(protocol)
            .unwrap_or_else(|| panic!("the broker has a {protocol} listener"))
    }

    /// The broker the node runs: lets a test look at what was stored, byte for byte.
    pub fn broker(&self) -> &Arc<Broker> {
        self.node
            .as_ref()
            .expect("the broker lives until drop")
            .broker()
    }

    /// Runs async client code (raw sockets) on the broker's runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("the runtime lives until drop")
            .block_on(future)
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let (Some(runtime), Some(node)) = (self.runtime.take(), self.node.take()) else {
            return;
        };
        let stopped = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), node.shutdown()).await
        });
        runtime.shutdown_timeout(Duration::from_secs(1));
        if stopped.is_err() && !std::thread::panicking() {
            panic!("the broker did not shut down within 10 s");
        }
    }
}

/// Every batch stored in one partition, as the broker holds it (base offsets stamped).
pub fn stored_batches(broker: &TestBroker, topic: &str, partition: i32) -> Vec<Bytes> {
    let topic = broker
        .broker()
        .topics()
        .get(topic)
        .unwrap_or_else(|| panic!("topic {topic} exists on the broker"));
    topic
        .partition(partition)
        .unwrap_or_else(|| panic!("partition {partition} exists"))
        .read(0, usize::MAX, true)
        .unwrap_or_else(|e| panic!("read partition {partition}: {e:?}"))
        .batches
        .iter()
        .flat_map(|chunk| split_batches(chunk).expect("the log holds whole batches"))
        .collect()
}

/// Producer settings every test starts from.
pub fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("message.timeout.ms", "20000")
        .set("linger.ms", "5");
    config
}

/// Consumer settings every test starts from: `assign` only, nothing ever committed.
///
/// librdkafka's consumer needs a `group.id`, but without `subscribe` or a commit it never
/// talks to the group coordinator, so these tests exercise produce and fetch alone.
pub fn consumer_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("group.id", "sluice-interop-assign-only")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "error")
        // Short long-polls so the "no more records" checks end quickly.
        .set("fetch.wait.max.ms", "100");
    config
}

/// One record to produce. `None` key or value is sent as null.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// CreateTime in ms since the epoch; `None` lets the client stamp it.
    pub timestamp: Option<i64>,
    /// `None` lets the partitioner choose.
    pub partition: Option<i32>,
}

impl Record {
    pub fn value(value: impl Into<Vec<u8>>) -> Record {
        Record {
            value: Some(value.into()),
            ..Record::default()
        }
    }

    pub fn keyed(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Record {
        Record {
            key: Some(key.into()),
            value: Some(value.into()),
            ..Record::default()
        }
    }
}

/// The delivery report of one record.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub partition: i32,
    /// -1 (`Offset::Invalid`) when the producer did not wait for an answer (acks=0).
    pub offset: i64,
    pub error: Option<KafkaError>,
}

impl Delivered {
    /// The error code of a failed delivery, if any.
    pub fn error_code(&self) -> Option<RDKafkaErrorCode> {
        self.error.as_ref().map(|e| {
            e.rdkafka_error_code()
                .unwrap_or_else(|| panic!("delivery error without a code: {e}"))
        })
    }
}

/// Collects delivery reports by the id each record was sent with.
#[derive(Default)]
pub struct DeliveryCollector {
    reports: Mutex<HashMap<usize, Delivered>>,
    duplicates: AtomicUsize,
}

impl ClientContext for DeliveryCollector {}

impl ProducerContext for DeliveryCollector {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, id: usize) {
        let report = match result {
            Ok(message) => Delivered {
                partition: message.partition(),
                offset: message.offset(),
                error: None,
            },
            Err((error, message)) => Delivered {
                partition: message.partition(),
                offset: message.offset(),
                error: Some(error.clone()),
            },
        };
        let mut reports = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        if reports.insert(id, report).is_some() {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A `BaseProducer` that waits for the delivery report of everything it sends.
pub struct TestProducer {
    producer: BaseProducer<DeliveryCollector>,
    next_id: AtomicUsize,
}

impl TestProducer {
    pub fn new(config: &ClientConfig) -> TestProducer {
        TestProducer {
            producer: config
                .create_with_context(DeliveryCollector::default())
                .expect("create the producer"),
            next_id: AtomicUsize::new(0),
        }
    }

    pub fn inner(&self) -> &BaseProducer<DeliveryCollector> {
        &self.producer
    }

    /// Sends every record in order, flushes, and returns their delivery reports in order.
    pub fn send_all(&self, topic: &str, records: &[Record]) -> Vec<Delivered> {
        let first_id = self.next_id.fetch_add(records.len(), Ordering::Relaxed);
        for (i, record) in records.iter().enumerate() {
            self.send(topic, record, first_id + i);
        }
        self.producer.flush(TIMEOUT).expect("flush the producer");
        self.wait_for_reports(first_id..first_id + records.len())
    }

    /// Sends one record and returns its delivery report.
    pub fn send_one(&self, topic: &str, record: &Record) -> Delivered {
        self.send_all(topic, std::slice::from_ref(record))
            .pop()
            .expect("one report for one record")
    }

    fn send(&self, topic: &str, record: &Record, id: usize) {
        let mut base = BaseRecord::<[u8], [u8], usize>::with_opaque_to(topic, id);
        if let Some(key) = &record.key {
            base = base.key(key.as_slice());
        }
        if let Some(value) = &record.value {
            base = base.payload(value.as_slice());
        }
        if let Some(timestamp) = record.timestamp {
            base = base.timestamp(timestamp);
        }
        if let Some(partition) = record.partition {
            base = base.partition(partition);
        }
        if !record.headers.is_empty() {
            let headers =
                record
                    .headers
                    .iter()
                    .fold(OwnedHeaders::new(), |headers, (key, value)| {
                        headers.insert(Header {
                            key,
                            value: value.as_deref(),
                        })
                    });
            base = base.headers(headers);
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.producer.send(base) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned))
                    if Instant::now() < deadline =>
                {
                    // The local queue is full: serve delivery reports, then try again.
                    base = returned;
                    self.producer.poll(Duration::from_millis(20));
                }
                Err((error, _)) => panic!("cannot enqueue record {id}: {error}"),
            }
        }
        self.producer.poll(Duration::ZERO);
    }

    fn wait_for_reports(&self, ids: std::ops::Range<usize>) -> Vec<Delivered> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            {
                let mut reports = self
                    .producer
                    .context()
                    .reports
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if ids.clone().all(|id| reports.contains_key(&id)) {
                    let duplicates = self.producer.context().duplicates.load(Ordering::Relaxed);
                    assert_eq!(duplicates, 0, "a record got two delivery reports");
                    return ids
                        .map(|id| reports.remove(&id).expect("checked above"))
                        .collect();
                }
                let missing = ids.clone().filter(|id| !reports.contains_key(id)).count();
                assert!(
                    Instant::now() < deadline,
                    "{missing} of {} delivery reports missing after {TIMEOUT:?}",
                    ids.len()
                );
            }
            self.producer.poll(Duration::from_millis(50));
        }
    }
}

/// Produces `records` to `topic` with a fresh producer made from `config`.
pub fn produce(config: &ClientConfig, topic: &str, records: &[Record]) -> Vec<Delivered> {
    TestProducer::new(config).send_all(topic, records)
}

/// Panics unless every report is a success.
pub fn assert_all_delivered(reports: &[Delivered]) {
    for (i, report) in reports.iter().enumerate() {
        if let Some(error) = &report.error {
            panic!("record {i} was not delivered: {error}");
        }
    }
}

/// Panics unless the report is a success.
pub fn assert_delivered(report: &Delivered) {
    if let Some(error) = &report.error {
        panic!("the record was not delivered: {error} ({report:?})");
    }
}

/// A consumed record, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Timestamp,
}

impl Received {
    pub fn from_message(message: &BorrowedMessage<'_>) -> Received {
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        Received {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp: message.timestamp(),
        }
    }
}

/// A consumer made from `config` and assigned `topic`'s `partitions` at the given offsets.
pub fn assigned_consumer(
    config: &ClientConfig,
    topic: &str,
    partitions: &[(i32, Offset)],
) -> BaseConsumer {
    let consumer: BaseConsumer = config.create().expect("create the consumer");
    let mut assignment = TopicPartitionList::new();
    for &(partition, offset) in partitions {
        assignment
            .add_partition_offset(topic, partition, offset)
            .expect("add the partition to the assignment");
    }
    consumer.assign(&assignment).expect("assign partitions");
    consumer
}

/// Polls until exactly `count` records arrived, then checks that no more arrive for
/// [`QUIET`]. Consumer errors fail the test.
pub fn consume_exactly(consumer: &BaseConsumer, count: usize) -> Vec<Received> {
    let mut received = Vec::with_capacity(count);
    let deadline = Instant::now() + TIMEOUT;
    while received.len() < count {
        assert!(
            Instant::now() < deadline,
            "consumed {} of {count} records within {TIMEOUT:?}",
            received.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => received.push(Received::from_message(&message)),
            Some(Err(error)) => panic!("consumer error after {} records: {error}", received.len()),
            None => {}
        }
    }
    assert_quiet(consumer);
    received
}

/// Fails if the consumer yields a record or an error within [`QUIET`].
pub fn assert_quiet(consumer: &BaseConsumer) {
    let quiet_until = Instant::now() + QUIET;
    while let Some(left) = quiet_until.checked_duration_since(Instant::now()) {
        match consumer.poll(left) {
            Some(Ok(message)) => panic!(
                "an unexpected record arrived: {:?}",
                Received::from_message(&message)
            ),
            Some(Err(error)) => panic!("consumer error: {error}"),
            None => {}
        }
    }
}

/// Consumes every partition `0..partitions` of `topic` from offset 0 and expects exactly
/// `count` records.
pub fn consume_all(bootstrap: &str, topic: &str, partitions: i32, count: usize) -> Vec<Received> {
    let assignment: Vec<(i32, Offset)> = (0..partitions).map(|p| (p, Offset::Offset(0))).collect();
    let consumer = assigned_consumer(&consumer_config(bootstrap), topic, &assignment);
    consume_exactly(&consumer, count)
}

/// Creates `topic` with `partitions` partitions, replication factor 1, and `configs`.
pub fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<(), RDKafkaErrorCode> {
    let new_topic = configs.iter().fold(
        NewTopic::new(topic, partitions, TopicReplication::Fixed(1)),
        |new_topic, (key, value)| new_topic.set(key, value),
    );
    let mut results = create_topics(bootstrap, &[new_topic]);
    assert_eq!(results.len(), 1, "one result per topic");
    match results.remove(0) {
        Ok(name) => {
            assert_eq!(name, topic, "the result names the topic");
            Ok(())
        }
        Err((name, code)) => {
            assert_eq!(name, topic, "the result names the topic");
            Err(code)
        }
    }
}

/// Sends one CreateTopics request through rdkafka's AdminClient.
pub fn create_topics(bootstrap: &str, topics: &[NewTopic<'_>]) -> Vec<TopicResult> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .create()
        .expect("create the admin client");
    let options = AdminOptions::new()
        .request_timeout(Some(TIMEOUT))
        .operation_timeout(Some(Duration::from_secs(10)));
    // The admin client's futures are completed by librdkafka's own thread: any executor works.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a runtime for the admin client");
    runtime
        .block_on(admin.create_topics(topics, &options))
        .expect("the CreateTopics request completes")
}

/// An AdminClient for `bootstrap`, with a runtime to wait on its futures (completed by
/// librdkafka's own thread, so any executor will do).
pub struct Admin {
    pub client: AdminClient<DefaultClientContext>,
    runtime: Runtime,
}

impl Admin {
    pub fn new(bootstrap: &str) -> Admin {
        Admin {
            client: producer_config(bootstrap)
                .create()
                .expect("create the admin client"),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build a runtime for the admin client"),
        }
    }

    /// Waits for one admin operation.
    pub fn wait<F: Future>(&self, operation: F) -> F::Output {
        self.runtime.block_on(operation)
    }
}
