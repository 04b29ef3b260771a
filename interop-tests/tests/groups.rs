//! The consumer-group coordinator against real clients: librdkafka (through rdkafka) as
//! eager, cooperative and static members, kcat's balanced consumer, and raw protocol requests
//! (encoded with the kafka-protocol crate) for what clients never show — a member that dies
//! without leaving, and the exact error codes of Kafka's classic group coordinator.
//!
//! Every test starts its own broker (in memory on 127.0.0.1:0, or on disk for the restart
//! test) and keeps its helpers in this file. Figures a reader may care about (reassignment
//! time, first-message latency) are printed: run with `--nocapture` to see them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolAssignment, ConsumerProtocolSubscription, DeleteGroupsRequest,
    DescribeGroupsRequest, FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest,
    OffsetDeleteRequest, OffsetFetchRequest, RequestHeader, ResponseHeader, SyncGroupRequest,
    SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, RebalanceProtocol,
};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{BorrowedMessage, DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sluice::{Config, Node};

/// Longest wait for anything that should take well under a second on a healthy broker.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long a consumer must stay silent to prove nothing more is coming.
const QUIET: Duration = Duration::from_millis(700);
/// The broker's minimum session timeout (`group_min_session_timeout_ms`), which librdkafka
/// members use here so that a dead member is noticed as soon as the broker allows.
const SESSION_TIMEOUT_MS: i32 = 6000;

// Kafka error codes (org.apache.kafka.common.protocol.Errors).
const NONE: i16 = 0;
const ILLEGAL_GENERATION: i16 = 22;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const MEMBER_ID_REQUIRED: i16 = 79;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;

// ---------------------------------------------------------------------------------------------
// The broker
// ---------------------------------------------------------------------------------------------

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// A broker in its own runtime, so the test thread may block in rdkafka calls.
struct Sluice {
    runtime: Option<tokio::runtime::Runtime>,
    node: Option<Node>,
    addr: SocketAddr,
}

impl Sluice {
    fn start(config: Config) -> Sluice {
        init_tracing();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("build the broker's runtime");
        let node = runtime
            .block_on(Node::start(config))
            .expect("start the broker");
        let addr = node.local_addr();
        Sluice {
            runtime: Some(runtime),
            node: Some(node),
            addr,
        }
    }

    /// An in-memory broker with the test defaults, group settings as shipped.
    fn start_default() -> Sluice {
        Sluice::start(Config::for_tests())
    }

    fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// Graceful shutdown, as on SIGTERM: the group log is flushed.
    fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let (Some(runtime), Some(node)) = (self.runtime.take(), self.node.take()) else {
            return;
        };
        let stopped = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), node.shutdown()).await
        });
        runtime.shutdown_timeout(Duration::from_secs(1));
        if stopped.is_err() && !thread::panicking() {
            panic!("the broker did not shut down within 10 s");
        }
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_nanos();
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create the temp dir");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Topics and records
// ---------------------------------------------------------------------------------------------

/// Creates a topic through rdkafka's AdminClient (CreateTopics).
fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), RDKafkaErrorCode> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .create()
        .expect("create the admin client");
    let options = AdminOptions::new().request_timeout(Some(TIMEOUT));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a runtime for the admin client");
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let mut results = runtime
        .block_on(admin.create_topics([&new_topic], &options))
        .expect("the CreateTopics request completes");
    assert_eq!(results.len(), 1, "one result for one topic");
    results.remove(0).map(|_| ()).map_err(|(_, code)| code)
}

/// One record: where it goes and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Rec {
    partition: i32,
    key: String,
    value: String,
}

/// A record as stored (after produce) or as consumed: comparable exactly.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Msg {
    partition: i32,
    offset: i64,
    key: String,
    value: String,
}

impl Msg {
    fn from_message(m: &BorrowedMessage<'_>) -> Msg {
        let text = |b: Option<&[u8]>| {
            String::from_utf8(b.expect("every test record has a key and a value").to_vec())
                .expect("test records are UTF-8")
        };
        Msg {
            partition: m.partition(),
            offset: m.offset(),
            key: text(m.key()),
            value: text(m.payload()),
        }
    }
}

/// `count` records spread round-robin over `partitions`, named by `tag`.
fn records(tag: &str, count: usize, partitions: i32) -> Vec<Rec> {
    (0..count)
        .map(|i| Rec {
            partition: i as i32 % partitions,
            key: format!("{tag}-k{i}"),
            value: format!("{tag}-v{i}"),
        })
        .collect()
}

/// A delivery report: (partition, offset) or the error.
type Report = Result<(i32, i64), String>;

#[derive(Default)]
struct Deliveries(Mutex<BTreeMap<usize, Report>>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, id: usize) {
        let report = match result {
            Ok(m) => Ok((m.partition(), m.offset())),
            Err((e, _)) => Err(e.to_string()),
        };
        let previous = self.0.lock().unwrap().insert(id, report);
        assert!(previous.is_none(), "record {id} got two delivery reports");
    }
}

/// Produces every record (to its partition), waits for all delivery reports, and returns
/// the records as stored, in the order given.
fn produce(bootstrap: &str, topic: &str, recs: &[Rec]) -> Vec<Msg> {
    let producer: BaseProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "20000")
        .create_with_context(Deliveries::default())
        .expect("create the producer");
    for (id, rec) in recs.iter().enumerate() {
        let mut record = BaseRecord::with_opaque_to(topic, id)
            .partition(rec.partition)
            .key(rec.key.as_bytes())
            .payload(rec.value.as_bytes());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                    r,
                )) => {
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => panic!("cannot enqueue record {id}: {e}"),
            }
        }
    }
    producer.flush(TIMEOUT).expect("flush the producer");
    let deadline = Instant::now() + TIMEOUT;
    while producer.context().0.lock().unwrap().len() < recs.len() {
        assert!(Instant::now() < deadline, "delivery reports missing");
        producer.poll(Duration::from_millis(20));
    }
    let reports = producer.context().0.lock().unwrap().clone();
    recs.iter()
        .enumerate()
        .map(|(id, rec)| match &reports[&id] {
            Ok((partition, offset)) => {
                assert_eq!(
                    *partition, rec.partition,
                    "record {id} went to its partition"
                );
                Msg {
                    partition: *partition,
                    offset: *offset,
                    key: rec.key.clone(),
                    value: rec.value.clone(),
                }
            }
            Err(e) => panic!("record {id} was not delivered: {e}"),
        })
        .collect()
}

fn sorted(mut msgs: Vec<Msg>) -> Vec<Msg> {
    msgs.sort();
    msgs
}

/// Panics with the duplicated records, if any.
fn assert_no_duplicates(msgs: &[Msg]) {
    let mut seen = BTreeSet::new();
    let duplicates: Vec<&Msg> = msgs.iter().filter(|m| !seen.insert(*m)).collect();
    assert!(
        duplicates.is_empty(),
        "{} records delivered more than once, first ones: {:?}",
        duplicates.len(),
        &duplicates[..duplicates.len().min(5)]
    );
}

// ---------------------------------------------------------------------------------------------
// Group members driven by librdkafka
// ---------------------------------------------------------------------------------------------

fn group_config(bootstrap: &str, group: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("group.id", group)
        .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
        .set("heartbeat.interval.ms", "500")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // Short long-polls: the "nothing more" checks end quickly.
        .set("fetch.wait.max.ms", "100");
    config
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Assign,
    Revoke,
    Error(String),
}

/// One rebalance callback: what changed, and the consumer's whole assignment afterwards.
#[derive(Debug, Clone)]
struct RebalanceEvent {
    change: Change,
    partitions: BTreeSet<i32>,
    assignment_after: BTreeSet<i32>,
}

/// Records rebalance callbacks and, for background members, the records consumed.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<RebalanceEvent>>,
    messages: Mutex<Vec<Msg>>,
    errors: Mutex<Vec<String>>,
}

impl ClientContext for Recorder {}

impl ConsumerContext for Recorder {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions_of = |tpl: &TopicPartitionList| -> BTreeSet<i32> {
            tpl.elements().iter().map(|e| e.partition()).collect()
        };
        let (change, partitions) = match rebalance {
            Rebalance::Assign(tpl) => (Change::Assign, partitions_of(tpl)),
            Rebalance::Revoke(tpl) => (Change::Revoke, partitions_of(tpl)),
            Rebalance::Error(e) => (Change::Error(e.to_string()), BTreeSet::new()),
        };
        let assignment_after = consumer
            .assignment()
            .map(|tpl| partitions_of(&tpl))
            .unwrap_or_default();
        self.events.lock().unwrap().push(RebalanceEvent {
            change,
            partitions,
            assignment_after,
        });
    }
}

impl Recorder {
    fn assignment(&self) -> BTreeSet<i32> {
        self.events
            .lock()
            .unwrap()
            .last()
            .map(|e| e.assignment_after.clone())
            .unwrap_or_default()
    }

    fn events(&self) -> Vec<RebalanceEvent> {
        self.events.lock().unwrap().clone()
    }
}

type GroupConsumer = BaseConsumer<Recorder>;

fn subscribed(config: &ClientConfig, topic: &str) -> GroupConsumer {
    let consumer: GroupConsumer = config
        .create_with_context(Recorder::default())
        .expect("create the consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

/// A subscribed consumer polled on its own thread until closed.
struct Member {
    name: String,
    recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
    /// Returns whether the consumer reported the cooperative protocol, and how long the
    /// close (which sends LeaveGroup for dynamic members) took.
    thread: Option<JoinHandle<(RebalanceProtocol, Duration)>>,
}

impl Member {
    fn start(name: &str, config: &ClientConfig, topic: &str) -> Member {
        let consumer = subscribed(config, topic);
        let recorder = consumer.context().clone();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let recorder = recorder.clone();
            thread::Builder::new()
                .name(format!("member-{name}"))
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match consumer.poll(Duration::from_millis(50)) {
                            Some(Ok(m)) => recorder
                                .messages
                                .lock()
                                .unwrap()
                                .push(Msg::from_message(&m)),
                            Some(Err(e)) => recorder.errors.lock().unwrap().push(e.to_string()),
                            None => {}
                        }
                    }
                    let protocol = consumer.rebalance_protocol();
                    let closing = Instant::now();
                    // BaseConsumer's drop closes the consumer: revoke, commit, LeaveGroup.
                    drop(consumer);
                    (protocol, closing.elapsed())
                })
                .expect("spawn the member's thread")
        };
        Member {
            name: name.to_string(),
            recorder,
            stop,
            thread: Some(thread),
        }
    }

    fn assignment(&self) -> BTreeSet<i32> {
        self.recorder.assignment()
    }

    fn events(&self) -> Vec<RebalanceEvent> {
        self.recorder.events()
    }

    fn messages(&self) -> Vec<Msg> {
        self.recorder.messages.lock().unwrap().clone()
    }

    fn assert_no_errors(&self) {
        let errors = self.recorder.errors.lock().unwrap();
        assert!(
            errors.is_empty(),
            "member {} saw consumer errors: {errors:?}",
            self.name
        );
        let events = self.recorder.events.lock().unwrap();
        let failed: Vec<_> = events
            .iter()
            .filter(|e| matches!(e.change, Change::Error(_)))
            .collect();
        assert!(
            failed.is_empty(),
            "member {} saw rebalance errors: {failed:?}",
            self.name
        );
    }

    /// Stops polling and closes the consumer; returns its rebalance protocol and how long
    /// the close took.
    fn close(mut self) -> (RebalanceProtocol, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .expect("closed once")
            .join()
            .expect("the member's thread ended cleanly")
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Polls `check` until it returns `Ok`; on timeout, fails with its last complaint.
fn wait_for(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<(), String>,
) -> Duration {
    let start = Instant::now();
    loop {
        let outcome = check();
        match outcome {
            Ok(()) => return start.elapsed(),
            Err(state) if start.elapsed() > timeout => {
                panic!("timed out after {timeout:?} waiting for {what}; last state: {state}")
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Ok when the assignments are disjoint and cover exactly `0..partitions`.
fn partitioned(assignments: &[BTreeSet<i32>], partitions: i32) -> Result<(), String> {
    let mut union = BTreeSet::new();
    for a in assignments {
        for p in a {
            if !union.insert(*p) {
                return Err(format!("partition {p} assigned twice: {assignments:?}"));
            }
        }
    }
    let all: BTreeSet<i32> = (0..partitions).collect();
    if union == all {
        Ok(())
    } else {
        Err(format!("assignments {assignments:?} do not cover {all:?}"))
    }
}

fn assignments(members: &[&Member]) -> Vec<BTreeSet<i32>> {
    members.iter().map(|m| m.assignment()).collect()
}

/// Polls `consumer` on this thread until `count` records arrived, then proves silence.
fn consume_exactly(consumer: &GroupConsumer, count: usize) -> Vec<Msg> {
    let mut got = Vec::with_capacity(count);
    let deadline = Instant::now() + TIMEOUT;
    while got.len() < count {
        assert!(
            Instant::now() < deadline,
            "consumed {} of {count} records within {TIMEOUT:?}",
            got.len()
        );
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => got.push(Msg::from_message(&m)),
            Some(Err(e)) => panic!("consumer error after {} records: {e}", got.len()),
            None => {}
        }
    }
    let quiet_until = Instant::now() + QUIET;
    while let Some(left) = quiet_until.checked_duration_since(Instant::now()) {
        match consumer.poll(left) {
            Some(Ok(m)) => panic!("an unexpected record arrived: {:?}", Msg::from_message(&m)),
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
    got
}

/// Committed offsets of `group` for `partitions` of `topic`, as librdkafka reads them
/// (OffsetFetch): partition → (offset, metadata); uncommitted partitions are left out.
fn committed(
    consumer: &GroupConsumer,
    topic: &str,
    partitions: i32,
) -> BTreeMap<i32, (i64, String)> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_range(topic, 0, partitions - 1);
    let answer = consumer
        .committed_offsets(tpl, TIMEOUT)
        .expect("OffsetFetch through librdkafka");
    answer
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), (o, e.metadata().to_string()))),
            Offset::Invalid => None,
            other => panic!(
                "unexpected committed offset {other:?} for partition {}",
                e.partition()
            ),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The raw wire
// ---------------------------------------------------------------------------------------------

/// One blocking connection speaking the Kafka wire format with kafka-protocol types.
struct Wire {
    stream: TcpStream,
    next_correlation_id: i32,
}

impl Wire {
    fn connect(addr: SocketAddr) -> Wire {
        let stream = TcpStream::connect(addr).expect("connect to the broker");
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("set a read timeout");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        Wire {
            stream,
            next_correlation_id: 1,
        }
    }

    /// Sends `request` at `version` and reads its response.
    fn call<R: Request>(&mut self, request: &R, version: i16) -> R::Response {
        let api_key = ApiKey::try_from(R::KEY).expect("a known api key");
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("sluice-groups-test")));
        let mut payload = BytesMut::new();
        header
            .encode(&mut payload, api_key.request_header_version(version))
            .expect("encode the request header");
        request
            .encode(&mut payload, version)
            .expect("encode the request body");
        let mut frame = BytesMut::with_capacity(payload.len() + 4);
        frame.put_i32(payload.len() as i32);
        frame.put_slice(&payload);
        self.stream.write_all(&frame).expect("send the request");

        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).unwrap_or_else(|e| {
            panic!("read the size of the {api_key:?} v{version} response: {e}")
        });
        let size = i32::from_be_bytes(size);
        assert!(size > 0 && size < 64 << 20, "response size {size}");
        let mut body = vec![0u8; size as usize];
        self.stream
            .read_exact(&mut body)
            .expect("read the response");
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, api_key.response_header_version(version))
            .expect("decode the response header");
        assert_eq!(header.correlation_id, correlation_id, "correlation id");
        let response = R::Response::decode(&mut body, version).expect("decode the response body");
        assert!(
            !body.has_remaining(),
            "{} bytes left after the response",
            body.remaining()
        );
        response
    }
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn group_id(text: &str) -> GroupId {
    GroupId(s(text))
}

fn topic_name(text: &str) -> TopicName {
    TopicName(s(text))
}

/// Consumer-protocol subscription metadata (v0): a version prefix, then the body.
fn subscription(topics: &[&str]) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| s(t)).collect())
        .encode(&mut out, 0)
        .expect("encode the subscription");
    out.freeze()
}

/// Consumer-protocol assignment (v0) of `partitions` of `topic`.
fn assignment(topic: &str, partitions: &[i32]) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    ConsumerProtocolAssignment::default()
        .with_assigned_partitions(vec![AssignedTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(partitions.to_vec())])
        .encode(&mut out, 0)
        .expect("encode the assignment");
    out.freeze()
}

/// The partitions, by topic, in a consumer-protocol assignment (any version).
fn decode_assignment(mut bytes: Bytes) -> BTreeMap<String, BTreeSet<i32>> {
    if bytes.is_empty() {
        return BTreeMap::new();
    }
    let version = bytes.get_i16();
    let decoded = ConsumerProtocolAssignment::decode(&mut bytes, version.clamp(0, 3))
        .expect("decode the assignment");
    decoded
        .assigned_partitions
        .into_iter()
        .map(|t| (t.topic.to_string(), t.partitions.into_iter().collect()))
        .collect()
}

fn join_request(
    group: &str,
    member_id: &str,
    session_timeout_ms: i32,
    topic: &str,
) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(group_id(group))
        .with_session_timeout_ms(session_timeout_ms)
        .with_rebalance_timeout_ms(session_timeout_ms)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(subscription(&[topic]))])
}

/// A member that joins over the raw protocol: MEMBER_ID_REQUIRED, then the real join.
fn raw_join(wire: &mut Wire, group: &str, topic: &str) -> JoinGroupResponse {
    let first = wire.call(&join_request(group, "", SESSION_TIMEOUT_MS, topic), 5);
    assert_eq!(
        first.error_code, MEMBER_ID_REQUIRED,
        "a new member first gets MEMBER_ID_REQUIRED"
    );
    assert!(
        !first.member_id.is_empty(),
        "MEMBER_ID_REQUIRED carries the member id"
    );
    let member_id = first.member_id.to_string();
    let joined = wire.call(
        &join_request(group, &member_id, SESSION_TIMEOUT_MS, topic),
        5,
    );
    assert_eq!(
        joined.error_code, NONE,
        "the join with the given member id succeeds"
    );
    assert_eq!(
        joined.member_id.as_str(),
        member_id,
        "the member keeps its id"
    );
    joined
}

fn sync_request(
    group: &str,
    generation: i32,
    member_id: &str,
    assignments: Vec<(String, Bytes)>,
) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(
            assignments
                .into_iter()
                .map(|(member, bytes)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(&member))
                        .with_assignment(bytes)
                })
                .collect(),
        )
}

fn heartbeat(wire: &mut Wire, group: &str, generation: i32, member_id: &str) -> i16 {
    wire.call(
        &HeartbeatRequest::default()
            .with_group_id(group_id(group))
            .with_generation_id(generation)
            .with_member_id(s(member_id)),
        4,
    )
    .error_code
}

fn describe(wire: &mut Wire, groups: &[&str]) -> Vec<DescribedGroup> {
    let response = wire.call(
        &DescribeGroupsRequest::default().with_groups(groups.iter().map(|g| group_id(g)).collect()),
        5,
    );
    assert_eq!(
        response.groups.len(),
        groups.len(),
        "one description per group"
    );
    response.groups
}

/// ListGroups v4 with a states filter: (group, state) pairs, sorted.
fn list_groups(wire: &mut Wire, states: &[&str]) -> Vec<(String, String)> {
    let response = wire.call(
        &ListGroupsRequest::default().with_states_filter(states.iter().map(|st| s(st)).collect()),
        4,
    );
    assert_eq!(response.error_code, NONE, "ListGroups error");
    let mut groups: Vec<(String, String)> = response
        .groups
        .into_iter()
        .map(|g| (g.group_id.to_string(), g.group_state.to_string()))
        .collect();
    groups.sort();
    groups
}

fn delete_groups(wire: &mut Wire, groups: &[&str]) -> Vec<(String, i16)> {
    let response = wire.call(
        &DeleteGroupsRequest::default()
            .with_groups_names(groups.iter().map(|g| group_id(g)).collect()),
        2,
    );
    response
        .results
        .into_iter()
        .map(|r| (r.group_id.to_string(), r.error_code))
        .collect()
}

/// OffsetCommit v8 of (partition, offset, metadata) for one topic; the per-partition codes.
fn commit(
    wire: &mut Wire,
    group: &str,
    generation: i32,
    member_id: &str,
    topic: &str,
    offsets: &[(i32, i64, &str)],
) -> Vec<(i32, i16)> {
    let request = OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                offsets
                    .iter()
                    .map(|&(partition, offset, metadata)| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(partition)
                            .with_committed_offset(offset)
                            .with_committed_metadata(Some(s(metadata)))
                    })
                    .collect(),
            )]);
    let response = wire.call(&request, 8);
    assert_eq!(response.topics.len(), 1, "one topic answered");
    assert_eq!(response.topics[0].name.as_str(), topic);
    response.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.error_code))
        .collect()
}

/// OffsetDelete v0 of some partitions of one topic: the top-level code and each partition's.
fn offset_delete(
    wire: &mut Wire,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> (i16, Vec<(i32, i16)>) {
    let request = OffsetDeleteRequest::default()
        .with_group_id(group_id(group))
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&p| OffsetDeleteRequestPartition::default().with_partition_index(p))
                    .collect(),
            )]);
    let response = wire.call(&request, 0);
    let codes = response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.error_code))
        })
        .collect();
    (response.error_code, codes)
}

// ---------------------------------------------------------------------------------------------
// 1. Three members share a topic: every record exactly once, partitions split 2/2/2.
// ---------------------------------------------------------------------------------------------

#[test]
fn three_members_split_the_partitions_and_see_every_record_once() {
    let broker = Sluice::start_default();
    let bootstrap = broker.bootstrap();
    let topic = "shared";
    create_topic(&bootstrap, topic, 6).expect("create the topic");
    // Half the records are there before anyone joins (and may be consumed by a member that
    // loses the partition in a later rebalance), half arrive once the group is stable.
    let mut stored = produce(&bootstrap, topic, &records("before", 300, 6));

    let config = group_config(&bootstrap, "trio");
    let members: Vec<Member> = ["a", "b", "c"]
        .iter()
        .map(|name| Member::start(name, &config, topic))
        .collect();
    let refs: Vec<&Member> = members.iter().collect();
    let took = wait_for("three members to share 6 partitions", TIMEOUT, || {
        let now = assignments(&refs);
        partitioned(&now, 6)?;
        if now.iter().all(|a| a.len() == 2) {
            Ok(())
        } else {
            Err(format!("not 2/2/2 yet: {now:?}"))
        }
    });
    println!("group of 3 stable after {took:?}");

    stored.extend(produce(&bootstrap, topic, &records("after", 300, 6)));
    let total = || refs.iter().map(|m| m.messages().len()).sum::<usize>();
    wait_for("600 records", TIMEOUT, || {
        let n = total();
        if n >= 600 {
            Ok(())
        } else {
            Err(format!("{n} records"))
        }
    });
    thread::sleep(QUIET);

    let final_assignments = assignments(&refs);
    let mut received = Vec::new();
    for m in &members {
        m.assert_no_errors();
        let got = m.messages();
        // Records that arrived after the group was stable went to the partition's owner.
        for msg in got.iter().filter(|msg| msg.key.starts_with("after-")) {
            assert!(
                m.assignment().contains(&msg.partition),
                "member {} got {msg:?} from a partition it does not own ({:?})",
                m.name,
                m.assignment()
            );
        }
        received.extend(got);
    }
    assert_no_duplicates(&received);
    assert_eq!(received.len(), 600, "every record exactly once");
    assert_eq!(sorted(received), sorted(stored), "the records as produced");
    partitioned(&final_assignments, 6).unwrap();
    assert!(
        final_assignments.iter().all(|a| a.len() == 2),
        "{final_assignments:?}"
    );
    drop(members);
}

// ---------------------------------------------------------------------------------------------
// 2. A member that leaves (LeaveGroup on close): the others take its partitions at once.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_leaving_members_partitions_are_reassigned_promptly() {
    let broker = Sluice::start_default();
    let bootstrap = broker.bootstrap();
    let topic = "leave";
    create_topic(&bootstrap, topic, 6).expect("create the topic");
    let config = group_config(&bootstrap, "leavers");
    let a = Member::start("a", &config, topic);
    let b = Member::start("b", &config, topic);
    let c = Member::start("c", &config, topic);
    wait_for("three members to share 6 partitions", TIMEOUT, || {
        let now = assignments(&[&a, &b, &c]);
        partitioned(&now, 6)?;
        if now.iter().all(|p| p.len() == 2) {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    });
    let leaving = c.assignment();

    let start = Instant::now();
    let (_, close_took) = c.close();
    wait_for("a and b to take over c's partitions", TIMEOUT, || {
        let now = assignments(&[&a, &b]);
        partitioned(&now, 6)?;
        if now.iter().all(|p| p.len() == 3) {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    });
    let reassigned = start.elapsed();
    println!(
        "member c (partitions {leaving:?}) closed in {close_took:?}; its partitions were \
         reassigned {reassigned:?} after the close began"
    );
    assert!(
        reassigned < Duration::from_secs(3),
        "reassignment after LeaveGroup took {reassigned:?} (Kafka: the next heartbeat of each \
         remaining member, ~heartbeat.interval.ms = 500 ms, then one join/sync round)"
    );

    // The new owners consume what is produced now, each record once.
    let stored = produce(&bootstrap, topic, &records("later", 60, 6));
    wait_for("60 records", TIMEOUT, || {
        let n = a.messages().len() + b.messages().len();
        if n >= 60 {
            Ok(())
        } else {
            Err(format!("{n} records"))
        }
    });
    thread::sleep(QUIET);
    let mut received = a.messages();
    received.extend(b.messages());
    assert_no_duplicates(&received);
    assert_eq!(sorted(received), sorted(stored));
    a.assert_no_errors();
    b.assert_no_errors();
}

// ---------------------------------------------------------------------------------------------
// 3. A member that dies without leaving: the survivor gets everything after the session.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_member_that_stops_heartbeating_is_expired_after_its_session_timeout() {
    let broker = Sluice::start_default();
    let bootstrap = broker.bootstrap();
    let topic = "expiry";
    create_topic(&bootstrap, topic, 6).expect("create the topic");
    let group = "mortal";
    let survivor = Member::start("survivor", &group_config(&bootstrap, group), topic);
    wait_for("the first member to own all 6 partitions", TIMEOUT, || {
        partitioned(&[survivor.assignment()], 6)
    });

    // A raw member joins; the JoinGroup is answered once librdkafka has rejoined too.
    let mut wire = Wire::connect(broker.addr);
    let joined = raw_join(&mut wire, group, topic);
    let member_id = joined.member_id.to_string();
    assert_ne!(
        joined.leader.as_str(),
        member_id,
        "the librdkafka member, first in the group, stays the leader"
    );
    assert!(joined.members.is_empty(), "a follower gets no member list");
    assert_eq!(
        joined.protocol_name.as_ref().map(|p| p.as_str()),
        Some("range")
    );
    let synced: SyncGroupResponse = wire.call(
        &sync_request(group, joined.generation_id, &member_id, vec![]),
        5,
    );
    let last_contact = Instant::now();
    assert_eq!(synced.error_code, NONE, "SyncGroup");
    let raw_partitions = decode_assignment(synced.assignment)
        .remove(topic)
        .unwrap_or_default();
    assert_eq!(
        raw_partitions.len(),
        3,
        "the raw member got half: {raw_partitions:?}"
    );
    wait_for("the survivor to hold the other half", TIMEOUT, || {
        partitioned(&[survivor.assignment(), raw_partitions.clone()], 6)
    });

    // The raw member's process dies: no LeaveGroup, no more heartbeats, socket closed.
    drop(wire);
    let took = wait_for("the survivor to own all 6 partitions", TIMEOUT, || {
        partitioned(&[survivor.assignment()], 6)
    });
    let since_last_contact = last_contact.elapsed();
    println!(
        "dead member's partitions reassigned {since_last_contact:?} after its last request \
         ({took:?} after the kill; session.timeout.ms = {SESSION_TIMEOUT_MS})"
    );
    assert!(
        since_last_contact >= Duration::from_secs(5)
            && since_last_contact <= Duration::from_secs(15),
        "expected reassignment about {SESSION_TIMEOUT_MS} ms after the member's last contact, \
         took {since_last_contact:?}"
    );
    survivor.assert_no_errors();
}

// ---------------------------------------------------------------------------------------------
// 4 and 5. Commit, stop, resume — on one broker, and across a broker restart on disk.
// ---------------------------------------------------------------------------------------------

const RESUME_PARTITIONS: i32 = 3;
const RESUME_RECORDS: usize = 150;
const CONSUMED_FIRST: usize = 60;

fn resume_config(bootstrap: &str, group: &str) -> ClientConfig {
    let mut config = group_config(bootstrap, group);
    config.set("enable.auto.commit", "false");
    config
}

/// Consumes the first records, commits their next offsets (with metadata) synchronously,
/// closes the consumer, and returns what it consumed and what it committed.
fn consume_and_commit(
    bootstrap: &str,
    group: &str,
    topic: &str,
) -> (Vec<Msg>, BTreeMap<i32, (i64, String)>) {
    let consumer = subscribed(&resume_config(bootstrap, group), topic);
    let mut consumed = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while consumed.len() < CONSUMED_FIRST {
        assert!(
            Instant::now() < deadline,
            "consumed {} records",
            consumed.len()
        );
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => consumed.push(Msg::from_message(&m)),
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for m in &consumed {
        let n = next.entry(m.partition).or_insert(0);
        assert_eq!(
            *n, m.offset,
            "records of a partition arrive in offset order, no gaps"
        );
        *n = m.offset + 1;
    }
    let mut tpl = TopicPartitionList::new();
    let mut expected = BTreeMap::new();
    for (&partition, &offset) in &next {
        let metadata = format!("resume-p{partition}");
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
            .expect("add to the commit");
        tpl.find_partition(topic, partition)
            .expect("just added")
            .set_metadata(metadata.clone());
        expected.insert(partition, (offset, metadata));
    }
    consumer
        .commit(&tpl, CommitMode::Sync)
        .expect("the synchronous commit succeeds");
    assert_eq!(
        committed(&consumer, topic, RESUME_PARTITIONS),
        expected,
        "OffsetFetch returns the commit"
    );
    drop(consumer);
    (consumed, expected)
}

/// A new member of `group` resumes exactly after `consumed`: nothing twice, nothing skipped.
fn resume_and_check(
    bootstrap: &str,
    group: &str,
    topic: &str,
    stored: &[Msg],
    consumed: &[Msg],
    expected_commits: &BTreeMap<i32, (i64, String)>,
) {
    let consumer = subscribed(&resume_config(bootstrap, group), topic);
    assert_eq!(
        committed(&consumer, topic, RESUME_PARTITIONS),
        *expected_commits,
        "the committed offsets, with their metadata"
    );
    let rest = consume_exactly(&consumer, stored.len() - consumed.len());
    for p in 0..RESUME_PARTITIONS {
        let first = rest.iter().find(|m| m.partition == p).map(|m| m.offset);
        let expected_first = expected_commits.get(&p).map_or(0, |(o, _)| *o);
        let partition_end = stored.iter().filter(|m| m.partition == p).count() as i64;
        if expected_first < partition_end {
            assert_eq!(
                first,
                Some(expected_first),
                "partition {p} resumes at its committed offset"
            );
        }
    }
    let mut all = consumed.to_vec();
    all.extend(rest);
    assert_no_duplicates(&all);
    assert_eq!(
        sorted(all),
        sorted(stored.to_vec()),
        "no record twice, none skipped"
    );
}

#[test]
fn a_new_member_resumes_at_the_committed_offsets() {
    let broker = Sluice::start_default();
    let bootstrap = broker.bootstrap();
    let topic = "resume";
    create_topic(&bootstrap, topic, RESUME_PARTITIONS).expect("create the topic");
    let stored = produce(
        &bootstrap,
        topic,
        &records("r", RESUME_RECORDS, RESUME_PARTITIONS),
    );
    let (consumed, commits) = consume_and_commit(&bootstrap, "resumers", topic);
    resume_and_check(&bootstrap, "resumers", topic, &stored, &consumed, &commits);
}

#[test]
fn committed_offsets_survive_a_broker_restart() {
    let dir = TempDir::new("sluice-groups-restart");
    let disk_config = || {
        let mut config = Config::for_tests();
        config.memory = false;
        config.data_dir = dir.path().to_path_buf();
        config
    };
    let topic = "durable";
    let group = "survivors";
    let recs = records("d", RESUME_RECORDS, RESUME_PARTITIONS);

    let broker = Sluice::start(disk_config());
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, topic, RESUME_PARTITIONS).expect("create the topic");
    let stored = produce(&bootstrap, topic, &recs);
    let (consumed, commits) = consume_and_commit(&bootstrap, group, topic);
    broker.stop();
    assert!(
        dir.path().join("groups.log").is_file(),
        "the group log is in the data directory"
    );

    let broker = Sluice::start(disk_config());
    let bootstrap = broker.bootstrap();
    // Disk mode persists topics and their records: the topic is still there, and the new
    // member below reads the records the first broker stored.
    assert_eq!(
        create_topic(&bootstrap, topic, RESUME_PARTITIONS),
        Err(RDKafkaErrorCode::TopicAlreadyExists),
        "the topic survived the restart"
    );
    let mut wire = Wire::connect(broker.addr);
    let described = describe(&mut wire, &[group]);
    assert_eq!(described[0].error_code, NONE);
    assert_eq!(
        described[0].group_state.as_str(),
        "Empty",
        "the group comes back, without members"
    );
    resume_and_check(&bootstrap, group, topic, &stored, &consumed, &commits);
}

// ---------------------------------------------------------------------------------------------
// 6. Static membership: a member restarted within its session keeps its partitions, and
//    nobody else rebalances.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_static_member_restarted_within_its_session_keeps_its_assignment_without_a_rebalance() {
    let broker = Sluice::start_default();
    let bootstrap = broker.bootstrap();
    let topic = "static";
    create_topic(&bootstrap, topic, 6).expect("create the topic");
    let group = "statics";
    let static_config = |instance: &str| {
        let mut config = group_config(&bootstrap, group);
        config
            .set("group.instance.id", instance)
            .set("session.timeout.ms", "10000");
        config
    };
    let a = Member::start("a", &static_config("instance-a"), topic);
    let b = Member::start("b", &static_config("instance-b"), topic);
    wait_for("two static members to split 6 partitions", TIMEOUT, || {
        let now = assignments(&[&a, &b]);
        partitioned(&now, 6)?;
        if now.iter().all(|p| p.len() == 3) {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    });
    // b may have seen more than one rebalance while the two joined; count from here.
    thread::sleep(Duration::from_millis(1200));
    let b_events_before = b.events();
    let b_assignment = b.assignment();
    let a_assignment = a.assignment();

    let mut wire = Wire::connect(broker.addr);
    let before = describe(&mut wire, &[group]).remove(0);
    assert_eq!(before.group_state.as_str(), "Stable");
    let instances = |g: &DescribedGroup| -> BTreeMap<String, String> {
        g.members
            .iter()
            .map(|m| {
                (
                    m.group_instance_id
                        .as_ref()
                        .map(|i| i.to_string())
                        .unwrap_or_default(),
                    m.member_id.to_string(),
                )
            })
            .collect()
    };
    let ids_before = instances(&before);
    assert_eq!(
        ids_before.keys().cloned().collect::<Vec<_>>(),
        vec!["instance-a".to_string(), "instance-b".to_string()]
    );

    // librdkafka sends no LeaveGroup when a static member closes (KIP-345).
    let (_, close_took) = a.close();
    let restarted = Instant::now();
    let a2 = Member::start("a2", &static_config("instance-a"), topic);
    let took = wait_for("the restarted member's assignment", TIMEOUT, || {
        if a2.assignment().is_empty() {
            Err("no assignment yet".into())
        } else {
            Ok(())
        }
    });
    println!(
        "static member closed in {close_took:?}; its restart got its assignment after {took:?}"
    );
    assert!(
        restarted.elapsed() < Duration::from_secs(10),
        "the restart happened within the session timeout"
    );
    assert_eq!(
        a2.assignment(),
        a_assignment,
        "the same partitions as before the restart"
    );

    // Longer than several heartbeat intervals: a rebalance would have reached b by now.
    thread::sleep(Duration::from_millis(2000));
    let after = describe(&mut wire, &[group]).remove(0);
    assert_eq!(after.group_state.as_str(), "Stable");
    let ids_after = instances(&after);
    assert_eq!(
        ids_after["instance-b"], ids_before["instance-b"],
        "b is the same member"
    );
    assert_ne!(
        ids_after["instance-a"], ids_before["instance-a"],
        "the restarted instance got a new member id"
    );
    let b_events_after = b.events();
    assert_eq!(
        b_events_after.len(),
        b_events_before.len(),
        "b saw no rebalance: {:?}",
        &b_events_after[b_events_before.len()..]
    );
    assert_eq!(b.assignment(), b_assignment);
    assert_eq!(
        a2.events().len(),
        1,
        "a2 was assigned once: {:?}",
        a2.events()
    );
    b.assert_no_errors();
    a2.assert_no_errors();
}

// ---------------------------------------------------------------------------------------------
// 7. cooperative-sticky: the first member only gives up what the newcomer takes.
// ---------------------------------------------------------------------------------------------

#[test]
fn cooperative_sticky_members_rebalance_incrementally() {
    let broker = Sluice::start_default();
    let bootstrap = broker.bootstrap();
    let topic = "sticky";
    create_topic(&bootstrap, topic, 6).expect("create the topic");
    let mut config = group_config(&bootstrap, "cooperators");
    config.set("partition.assignment.strategy", "cooperative-sticky");

    let a = Member::start("a", &config, topic);
    wait_for("a to own all 6 partitions", TIMEOUT, || {
        partitioned(&[a.assignment()], 6)
    });
    let b = Member::start("b", &config, topic);
    let took = wait_for("a 3/3 split", TIMEOUT, || {
        let now = assignments(&[&a, &b]);
        partitioned(&now, 6)?;
        if now.iter().all(|p| p.len() == 3) {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    });
    println!("cooperative split after b joined: {took:?}");
    thread::sleep(Duration::from_millis(1000));

    let a_final = a.assignment();
    let b_final = b.assignment();
    partitioned(&[a_final.clone(), b_final.clone()], 6).unwrap();
    assert_eq!((a_final.len(), b_final.len()), (3, 3));

    let a_events = a.events();
    let all: BTreeSet<i32> = (0..6).collect();
    assert_eq!(a_events[0].change, Change::Assign, "{a_events:?}");
    assert_eq!(a_events[0].partitions, all, "a first gets everything");
    let revoked: BTreeSet<i32> = a_events
        .iter()
        .filter(|e| e.change == Change::Revoke)
        .flat_map(|e| e.partitions.iter().copied())
        .collect();
    assert_eq!(
        revoked, b_final,
        "a revoked exactly what b took, nothing it keeps: {a_events:?}"
    );
    for e in &a_events {
        assert!(
            e.assignment_after.is_superset(&a_final),
            "a never lost a partition it keeps (incremental, not eager): {a_events:?}"
        );
    }
    let b_events = b.events();
    assert!(
        b_events.iter().all(|e| e.change == Change::Assign),
        "b only ever gains partitions: {b_events:?}"
    );
    a.assert_no_errors();
    b.assert_no_errors();
    let (a_protocol, _) = a.close();
    let (b_protocol, _) = b.close();
    assert!(
        matches!(a_protocol, RebalanceProtocol::Cooperative),
        "a used the cooperative protocol"
    );
    assert!(
        matches!(b_protocol, RebalanceProtocol::Cooperative),
        "b used the cooperative protocol"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. kcat's balanced consumer (-G).
// ---------------------------------------------------------------------------------------------

#[test]
fn kcat_balanced_consumer_reads_every_record() {
    let broker = Sluice::start_default();
    let bootstrap = broker.bootstrap();
    let topic = "kcat-group";
    create_topic(&bootstrap, topic, 3).expect("create the topic");
    let stored = produce(&bootstrap, topic, &records("line", 90, 3));

    let started = Instant::now();
    let mut child = Command::new("kcat")
        .args([
            "-b",
            &bootstrap,
            "-G",
            "kcat-readers",
            "-X",
            "broker.address.family=v4",
            "-X",
            "auto.offset.reset=earliest",
            "-X",
            "session.timeout.ms=6000",
            "-X",
            "heartbeat.interval.ms=500",
            "-e",
            "-f",
            "%p %o %k %s\n",
            topic,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run kcat ({e}): this test needs `kcat` on PATH (apt-get install kcat)")
        });
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let err = thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).map(|_| text)
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for kcat") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "kcat -G did not exit within {TIMEOUT:?}; stderr: {}",
                err.join().unwrap().unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().unwrap().expect("read kcat's output");
    let stderr = err.join().unwrap().expect("read kcat's errors");
    println!(
        "kcat -G read the topic and exited in {:?}",
        started.elapsed()
    );
    assert!(status.success(), "kcat failed ({status}); stderr: {stderr}");

    let lines: Vec<&str> = stdout.lines().collect();
    let mut expected: Vec<String> = stored
        .iter()
        .map(|m| format!("{} {} {} {}", m.partition, m.offset, m.key, m.value))
        .collect();
    let mut got: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    // Each partition's lines in offset order; partitions interleave freely.
    for p in 0..3 {
        let offsets: Vec<i64> = got
            .iter()
            .filter(|l| l.starts_with(&format!("{p} ")))
            .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
            .collect();
        let mut in_order = offsets.clone();
        in_order.sort();
        assert_eq!(offsets, in_order, "partition {p} in offset order");
    }
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "kcat's lines; stderr: {stderr}");

    // kcat commits what it consumed when it closes (enable.auto.commit on close).
    let probe = subscribed(&group_config(&bootstrap, "kcat-readers"), topic);
    let commits = committed(&probe, topic, 3);
    let ends: BTreeMap<i32, (i64, String)> = (0..3).map(|p| (p, (30, String::new()))).collect();
    assert_eq!(
        commits, ends,
        "kcat committed the end of each partition on close"
    );
}

// ---------------------------------------------------------------------------------------------
// 9. A new group's first record arrives quickly with the default broker configuration.
// ---------------------------------------------------------------------------------------------

/// With the coordinator behaving, librdkafka needs ~150 ms here. While the first group of a
/// fresh broker is dropped by the first offset-retention pass (see
/// `a_new_members_first_join_on_a_fresh_broker_is_remembered`), librdkafka's rejoin with its
/// member id gets UNKNOWN_MEMBER_ID and the first record usually comes after ~3.1 s.
#[test]
fn a_new_groups_first_record_arrives_within_a_second_of_subscribe() {
    let broker = Sluice::start_default();
    let bootstrap = broker.bootstrap();
    let topic = "first";
    create_topic(&bootstrap, topic, 1).expect("create the topic");
    produce(&bootstrap, topic, &records("f", 10, 1));

    let consumer: GroupConsumer = group_config(&bootstrap, "newcomers")
        .create_with_context(Recorder::default())
        .expect("create the consumer");
    let start = Instant::now();
    consumer.subscribe(&[topic]).expect("subscribe");
    let first = loop {
        assert!(start.elapsed() < TIMEOUT, "no record within {TIMEOUT:?}");
        match consumer.poll(Duration::from_millis(10)) {
            Some(Ok(m)) => break Msg::from_message(&m),
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    };
    let latency = start.elapsed();
    println!("first record of a new group {latency:?} after subscribe()");
    assert_eq!(
        (first.partition, first.offset, first.key.as_str()),
        (0, 0, "f-k0")
    );
    assert!(
        latency < Duration::from_millis(1000),
        "subscribe → first record took {latency:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 10. Error codes and admin answers over the raw protocol, as Kafka's classic coordinator.
// ---------------------------------------------------------------------------------------------

#[test]
fn the_coordinator_answers_with_kafkas_error_codes() {
    let broker = Sluice::start_default();
    let bootstrap = broker.bootstrap();
    let topic = "codes";
    create_topic(&bootstrap, topic, 2).expect("create the topic");
    let mut wire = Wire::connect(broker.addr);
    let group = "raw-group";

    // FindCoordinator: this broker, for any group.
    let found = wire.call(
        &FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![s(group)]),
        4,
    );
    assert_eq!(found.coordinators.len(), 1);
    let coordinator = &found.coordinators[0];
    assert_eq!(coordinator.error_code, NONE);
    assert_eq!(coordinator.key.as_str(), group);
    assert_eq!(coordinator.host.as_str(), broker.addr.ip().to_string());
    assert_eq!(coordinator.port, i32::from(broker.addr.port()));

    // A simple commit into a group that does not exist creates it, with the metadata kept.
    // Done first on purpose: the first group created on a fresh broker is dropped by the
    // first offset-retention pass (see
    // `a_new_members_first_join_on_a_fresh_broker_is_remembered`); a group with offsets
    // survives that pass, so the checks below do not depend on that bug.
    let simple = "simple-committer";
    assert_eq!(
        commit(&mut wire, simple, -1, "", topic, &[(0, 42, "meta-0")]),
        vec![(0, NONE)]
    );
    let fetched = wire.call(
        &OffsetFetchRequest::default()
            .with_group_id(group_id(simple))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(vec![0, 1])])),
        7,
    );
    assert_eq!(fetched.error_code, NONE);
    assert_eq!(fetched.topics.len(), 1);
    let partitions: Vec<(i32, i64, String, i16)> = fetched.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.committed_offset,
                p.metadata
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
                p.error_code,
            )
        })
        .collect();
    assert_eq!(
        partitions,
        vec![
            (0, 42, "meta-0".to_string(), NONE),
            (1, -1, String::new(), NONE)
        ],
        "OffsetFetch v7: the commit with its metadata; nothing for partition 1"
    );
    let fetched = wire.call(
        &OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(group_id(simple))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(vec![0])]))]),
        8,
    );
    assert_eq!(fetched.groups.len(), 1);
    assert_eq!(fetched.groups[0].error_code, NONE);
    let p = &fetched.groups[0].topics[0].partitions[0];
    assert_eq!(
        (p.committed_offset, p.metadata.as_ref().map(|m| m.as_str())),
        (42, Some("meta-0")),
        "OffsetFetch v8"
    );

    // JoinGroup with a session timeout outside the broker's bounds.
    for bad in [1000, 5999, 1_800_001] {
        let response = wire.call(&join_request("bad-timeouts", "", bad, topic), 5);
        assert_eq!(
            response.error_code, INVALID_SESSION_TIMEOUT,
            "session timeout {bad} ms"
        );
    }

    // JoinGroup v4+ from a new member: MEMBER_ID_REQUIRED with the id to use.
    let first = wire.call(&join_request(group, "", SESSION_TIMEOUT_MS, topic), 4);
    assert_eq!(
        first.error_code, MEMBER_ID_REQUIRED,
        "JoinGroup v4, empty member id"
    );
    assert!(
        !first.member_id.is_empty(),
        "the response carries the member id"
    );
    assert_eq!(first.generation_id, -1);
    let member_id = first.member_id.to_string();
    let joined = wire.call(
        &join_request(group, &member_id, SESSION_TIMEOUT_MS, topic),
        5,
    );
    assert_eq!(joined.error_code, NONE);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader.as_str(), member_id, "the only member leads");
    assert_eq!(
        joined.protocol_name.as_ref().map(|p| p.as_str()),
        Some("range")
    );
    assert_eq!(joined.members.len(), 1, "the leader gets the member list");
    assert_eq!(joined.members[0].member_id.as_str(), member_id);
    assert_eq!(joined.members[0].metadata, subscription(&[topic]));

    let mine = assignment(topic, &[0, 1]);
    let synced = wire.call(
        &sync_request(
            group,
            1,
            &member_id,
            vec![(member_id.clone(), mine.clone())],
        ),
        5,
    );
    assert_eq!(synced.error_code, NONE);
    assert_eq!(
        synced.assignment, mine,
        "the leader's assignment comes back"
    );
    assert_eq!(
        synced.protocol_type.as_ref().map(|p| p.as_str()),
        Some("consumer")
    );
    assert_eq!(
        synced.protocol_name.as_ref().map(|p| p.as_str()),
        Some("range")
    );

    // Heartbeats.
    assert_eq!(
        heartbeat(&mut wire, group, 1, &member_id),
        NONE,
        "the right generation"
    );
    assert_eq!(
        heartbeat(&mut wire, group, 2, &member_id),
        ILLEGAL_GENERATION,
        "a later generation"
    );
    assert_eq!(
        heartbeat(&mut wire, group, 0, &member_id),
        ILLEGAL_GENERATION,
        "an earlier generation"
    );
    assert_eq!(
        heartbeat(&mut wire, group, 1, "nobody"),
        UNKNOWN_MEMBER_ID,
        "an unknown member"
    );
    let stale_sync = wire.call(&sync_request(group, 7, &member_id, vec![]), 5);
    assert_eq!(
        stale_sync.error_code, ILLEGAL_GENERATION,
        "SyncGroup of another generation"
    );

    // A join with another protocol type into a group of consumers.
    let mut other = join_request(group, "", SESSION_TIMEOUT_MS, topic);
    other.protocol_type = s("connect");
    assert_eq!(
        wire.call(&other, 5).error_code,
        INCONSISTENT_GROUP_PROTOCOL,
        "protocol type differs from the group's"
    );

    // Commits by the member, and by strangers.
    assert_eq!(
        commit(
            &mut wire,
            group,
            1,
            &member_id,
            topic,
            &[(0, 5, "by-member")]
        ),
        vec![(0, NONE)]
    );
    assert_eq!(
        commit(&mut wire, group, 3, &member_id, topic, &[(0, 6, "")]),
        vec![(0, ILLEGAL_GENERATION)],
        "commit with a stale generation"
    );
    assert_eq!(
        commit(&mut wire, group, 1, "nobody", topic, &[(0, 6, "")]),
        vec![(0, UNKNOWN_MEMBER_ID)],
        "commit by an unknown member"
    );
    assert_eq!(
        commit(&mut wire, group, -1, "", topic, &[(0, 6, "")]),
        vec![(0, UNKNOWN_MEMBER_ID)],
        "a simple (generation -1) commit into a group with members"
    );

    // DescribeGroups: Stable for the live group, Dead for an unknown one.
    let described = describe(&mut wire, &[group, "no-such-group"]);
    let live = &described[0];
    assert_eq!(live.error_code, NONE);
    assert_eq!(live.group_id.as_str(), group);
    assert_eq!(live.group_state.as_str(), "Stable");
    assert_eq!(live.protocol_type.as_str(), "consumer");
    assert_eq!(live.protocol_data.as_str(), "range");
    assert_eq!(live.members.len(), 1);
    assert_eq!(live.members[0].member_id.as_str(), member_id);
    assert_eq!(live.members[0].client_id.as_str(), "sluice-groups-test");
    assert_eq!(live.members[0].member_assignment, mine);
    assert_eq!(live.members[0].member_metadata, subscription(&[topic]));
    let unknown = &described[1];
    assert_eq!(
        unknown.error_code, NONE,
        "an unknown group is described, not an error (v5)"
    );
    assert_eq!(unknown.group_id.as_str(), "no-such-group");
    assert_eq!(unknown.group_state.as_str(), "Dead");
    assert!(unknown.members.is_empty());

    // ListGroups v4 with a states filter.
    assert_eq!(
        list_groups(&mut wire, &["Stable"]),
        vec![(group.to_string(), "Stable".to_string())],
        "only the live group is Stable"
    );
    let empty = list_groups(&mut wire, &["Empty"]);
    assert!(
        empty.contains(&(simple.to_string(), "Empty".to_string())),
        "the simple committer's group is Empty: {empty:?}"
    );
    assert!(!empty.iter().any(|(g, _)| g == group), "{empty:?}");
    let everything = list_groups(&mut wire, &[]);
    assert!(
        everything.contains(&(group.to_string(), "Stable".to_string())),
        "{everything:?}"
    );
    assert!(
        everything.contains(&(simple.to_string(), "Empty".to_string())),
        "{everything:?}"
    );
    assert!(
        list_groups(&mut wire, &["PreparingRebalance"]).is_empty(),
        "no group is rebalancing"
    );

    // DeleteGroups: a group with members, and one that does not exist.
    assert_eq!(
        delete_groups(&mut wire, &[group, "no-such-group"]),
        vec![
            (group.to_string(), NON_EMPTY_GROUP),
            ("no-such-group".to_string(), GROUP_ID_NOT_FOUND)
        ]
    );

    // OffsetDelete: refused for a topic the live consumer group subscribes to; allowed for an
    // empty group; an unknown group is not found.
    assert_eq!(
        offset_delete(&mut wire, group, topic, &[0]),
        (NONE, vec![(0, GROUP_SUBSCRIBED_TO_TOPIC)]),
        "the group's member subscribes to the topic"
    );
    assert_eq!(
        offset_delete(&mut wire, simple, topic, &[0]),
        (NONE, vec![(0, NONE)])
    );
    let emptied = wire.call(
        &OffsetFetchRequest::default()
            .with_group_id(group_id(simple))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(vec![0])])),
        7,
    );
    assert_eq!(
        emptied.topics[0].partitions[0].committed_offset, -1,
        "the deleted offset is gone"
    );
    assert_eq!(
        offset_delete(&mut wire, "no-such-group", topic, &[0]).0,
        GROUP_ID_NOT_FOUND
    );

    // LeaveGroup v5: an unknown member fails alone; the real member leaves.
    let left = wire.call(
        &LeaveGroupRequest::default()
            .with_group_id(group_id(group))
            .with_members(vec![
                MemberIdentity::default().with_member_id(s("nobody")),
                MemberIdentity::default().with_member_id(s(&member_id)),
            ]),
        5,
    );
    assert_eq!(left.error_code, NONE);
    let codes: Vec<(String, i16)> = left
        .members
        .iter()
        .map(|m| (m.member_id.to_string(), m.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("nobody".to_string(), UNKNOWN_MEMBER_ID),
            (member_id.clone(), NONE)
        ]
    );
    let after_leave = describe(&mut wire, &[group]).remove(0);
    assert_eq!(after_leave.group_state.as_str(), "Empty");
    assert!(after_leave.members.is_empty());

    // Now empty, it can be deleted; then it is Dead and its offsets are gone.
    assert_eq!(
        delete_groups(&mut wire, &[group]),
        vec![(group.to_string(), NONE)]
    );
    assert_eq!(
        describe(&mut wire, &[group])[0].group_state.as_str(),
        "Dead"
    );
    let gone = wire.call(
        &OffsetFetchRequest::default()
            .with_group_id(group_id(group))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(vec![0])])),
        7,
    );
    assert_eq!(
        gone.topics[0].partitions[0].committed_offset, -1,
        "offsets deleted with the group"
    );

    // The newest JoinGroup version asks for a member id too.
    let v9 = wire.call(&join_request("v9-group", "", SESSION_TIMEOUT_MS, topic), 9);
    assert_eq!(
        v9.error_code, MEMBER_ID_REQUIRED,
        "JoinGroup v9, empty member id"
    );
    assert!(!v9.member_id.is_empty());
}

// ---------------------------------------------------------------------------------------------
// The first group on a fresh broker (found while writing test 9).
// ---------------------------------------------------------------------------------------------

/// KIP-394: a new member told MEMBER_ID_REQUIRED is a pending member of the group until its
/// session timeout; its JoinGroup with that member id must be accepted. Here the group is
/// the first one the broker ever sees.
#[test]
fn a_new_members_first_join_on_a_fresh_broker_is_remembered() {
    let broker = Sluice::start_default();
    let mut wire = Wire::connect(broker.addr);
    let first = wire.call(&join_request("first-group", "", SESSION_TIMEOUT_MS, "t"), 5);
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    let member_id = first.member_id.to_string();
    let joined = wire.call(
        &join_request("first-group", &member_id, SESSION_TIMEOUT_MS, "t"),
        5,
    );
    assert_eq!(
        (
            joined.error_code,
            joined.generation_id,
            joined.member_id.as_str()
        ),
        (NONE, 1, member_id.as_str()),
        "the pending member's JoinGroup with its member id is accepted \
         (UNKNOWN_MEMBER_ID = 25 means the group was forgotten)"
    );
}
