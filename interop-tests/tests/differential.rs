//! The differential suite: the same requests, byte for byte, to Sluice and to Apache Kafka
//! 4.x (started by `interop-tests/kafka-reference/kafka.sh`), their responses decoded with
//! the `kafka-protocol` crate and compared field by field.
//!
//! Only what legitimately differs between two clusters is blanked before comparing
//! ([`normalize`]): throttle times, node ids, hosts and ports, cluster and topic ids, error
//! message wording (the codes are compared). Every other difference fails the suite unless
//! `differential-allowlist.txt` names the scenario with the reason it is accepted.
//!
//! Needs `java` (17+) and `mvn` for the reference broker: without them the suite fails, it
//! does not skip.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use sluice_interop_tests::wire::Wire;
use sluice_interop_tests::TestBroker;

#[path = "differential/admin.rs"]
mod admin;
#[path = "differential/cluster_admin.rs"]
mod cluster_admin;
#[path = "differential/configs.rs"]
mod configs;
#[path = "differential/txn_admin.rs"]
mod txn_admin;
#[path = "differential/txn_v2.rs"]
mod txn_v2;

/// Where the reference broker's script lives.
fn kafka_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("kafka-reference/kafka.sh")
}

/// A running Apache Kafka, stopped on drop.
struct ReferenceKafka {
    dir: tempfile::TempDir,
    bootstrap: SocketAddr,
}

impl ReferenceKafka {
    fn start() -> ReferenceKafka {
        let dir = tempfile::tempdir().expect("a directory for the reference broker");
        let output = Command::new("bash")
            .arg(kafka_script())
            .arg("start")
            .arg(dir.path())
            .output()
            .expect("run kafka-reference/kafka.sh (needs bash, java and mvn)");
        assert!(
            output.status.success(),
            "the reference Kafka did not start: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let printed = String::from_utf8_lossy(&output.stdout);
        let bootstrap = printed
            .lines()
            .rev()
            .find_map(|line| line.trim().parse().ok())
            .unwrap_or_else(|| panic!("kafka.sh printed no address: {printed}"));
        ReferenceKafka { dir, bootstrap }
    }
}

impl Drop for ReferenceKafka {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(kafka_script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// One broker under test, spoken to over one connection per scenario.
struct Target {
    addr: SocketAddr,
}

impl Target {
    async fn connect(&self) -> Wire {
        Wire::connect(self.addr).await
    }
}

/// What a scenario saw: one normalised response (or outcome) per step, in order.
type Transcript = Vec<(String, String)>;

/// Blanks what legitimately differs between two brokers in a response's `{:#?}` text.
fn normalize(debug: &str) -> String {
    use regex::Regex;
    use std::sync::OnceLock;
    static RULES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        [
            (r"throttle_time_ms: \d+", "throttle_time_ms: _"),
            (
                r"(node_id|leader_id|controller_id): BrokerId\(\d+\)",
                "$1: BrokerId(_)",
            ),
            (r"(?s)(replica_nodes|isr_nodes): \[[^\]]*\]", "$1: [_]"),
            (r#"host: "[^"]*""#, "host: _"),
            (r"port: \d+", "port: _"),
            (
                r#"cluster_id: Some\(\s*"[^"]*",?\s*\)"#,
                "cluster_id: Some(_)",
            ),
            (r"(topic_id): [0-9a-f-]{36}", "$1: _"),
            (
                r#"(?s)error_message: Some\(\s*"(?:[^"\\]|\\.)*",?\s*\)"#,
                "error_message: _",
            ),
            (r"error_message: None", "error_message: _"),
            (r#"member_id: "[^"]+""#, r#"member_id: "<member>""#),
        ]
        .into_iter()
        .map(|(pattern, replacement)| (Regex::new(pattern).expect("a valid rule"), replacement))
        .collect()
    });
    let mut text = debug.to_string();
    for (rule, replacement) in rules {
        text = rule.replace_all(&text, *replacement).into_owned();
    }
    text
}

fn step<R: std::fmt::Debug>(transcript: &mut Transcript, what: &str, response: &R) {
    transcript.push((what.to_string(), normalize(&format!("{response:#?}"))));
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

async fn call<Q: Encodable, R: Decodable>(
    wire: &mut Wire,
    key: ApiKey,
    version: i16,
    body: &Q,
) -> R {
    wire.call(key, version, body).await
}

fn create_request(topics: Vec<CreatableTopic>, validate_only: bool) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(10_000)
        .with_validate_only(validate_only)
}

fn creatable(topic: &str, partitions: i32, configs: &[(&str, &str)]) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(name(topic))
        .with_num_partitions(partitions)
        .with_replication_factor(1)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(text(k))
                        .with_value(Some(text(v)))
                })
                .collect(),
        )
}

/// Creates `topic` and waits until its partitions have a leader (Kafka publishes a new topic
/// to its brokers a moment after answering CreateTopics).
async fn create_ready(wire: &mut Wire, topic: &str, partitions: i32) {
    let created: CreateTopicsResponse = call(
        wire,
        ApiKey::CreateTopics,
        7,
        &create_request(vec![creatable(topic, partitions, &[])], false),
    )
    .await;
    assert_eq!(created.topics[0].error_code, 0, "create {topic}");
    wait_for_leaders(wire, topic, partitions).await;
}

/// Waits until every partition of `topic` has a leader, in Metadata and then for requests:
/// Kafka's produce and fetch paths may answer NOT_LEADER_OR_FOLLOWER for a moment after
/// Metadata names the leader (seen on a loaded machine), so each partition is fetched from
/// until it is not.
async fn wait_for_leaders(wire: &mut Wire, topic: &str, partitions: i32) {
    wait_for_metadata_leaders(wire, topic, partitions).await;
    const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    for partition in 0..partitions {
        let mut request = fetch_request(topic, 0);
        request.topics[0].partitions[0].partition = partition;
        let mut led = false;
        for _ in 0..50 {
            let r: FetchResponse = call(wire, ApiKey::Fetch, 12, &request).await;
            if r.responses[0].partitions[0].error_code != NOT_LEADER_OR_FOLLOWER {
                led = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            led,
            "{topic}/{partition} has no leader for requests after 5 s"
        );
    }
}

/// Waits until Metadata names a leader for every partition of `topic`.
async fn wait_for_metadata_leaders(wire: &mut Wire, topic: &str, partitions: i32) {
    for _ in 0..100 {
        let metadata: MetadataResponse =
            call(wire, ApiKey::Metadata, 12, &metadata_request(topic)).await;
        let ready = metadata.topics.first().is_some_and(|t| {
            t.error_code == 0
                && t.partitions.len() == partitions as usize
                && t.partitions
                    .iter()
                    .all(|p| p.error_code == 0 && p.leader_id.0 >= 0)
        });
        if ready {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{topic} has no leader after 10 s");
}

/// Waits until the broker's group coordinator for `group` answers (Kafka creates and loads
/// its offsets topic on the first FindCoordinator).
async fn coordinator_ready(wire: &mut Wire, group: &str) {
    const NOT_READY: [i16; 3] = [14, 15, 16];
    for _ in 0..150 {
        let request = FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![text(group)]);
        let r: FindCoordinatorResponse = call(wire, ApiKey::FindCoordinator, 4, &request).await;
        let code = r.coordinators.first().map_or(-1, |c| c.error_code);
        if code == 0 {
            // A heartbeat says whether the coordinator has loaded the group's own partition of
            // Kafka's offsets topic (another group id may hash to one loaded earlier); to a
            // group that does not exist yet it creates nothing.
            let probe = HeartbeatRequest::default()
                .with_group_id(GroupId(text(group)))
                .with_generation_id(1)
                .with_member_id(text("probe"));
            let h: HeartbeatResponse = call(wire, ApiKey::Heartbeat, 4, &probe).await;
            if !NOT_READY.contains(&h.error_code) {
                return;
            }
        } else if !NOT_READY.contains(&code) {
            panic!("FindCoordinator for {group}: error {code}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no group coordinator for {group} after 15 s");
}

/// An idempotent producer's id, once the broker can give one (Kafka's transaction coordinator
/// loads its log first).
async fn init_producer_id(wire: &mut Wire) -> InitProducerIdResponse {
    const NOT_READY: [i16; 3] = [14, 15, 16];
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    for _ in 0..150 {
        let r: InitProducerIdResponse = call(wire, ApiKey::InitProducerId, 4, &request).await;
        if !NOT_READY.contains(&r.error_code) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no producer id after 15 s");
}

fn metadata_request(topic: &str) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(topic)))
        ]))
        .with_allow_auto_topic_creation(false)
}

const T0: i64 = 1_700_000_000_000;

/// One uncompressed or compressed v2 batch of `count` records timestamped `T0 + 10 * i`.
fn batch(count: i64, compression: Compression, producer: Option<(i64, i16, i32)>) -> Bytes {
    let (producer_id, producer_epoch, first_sequence) = producer.unwrap_or((-1, -1, -1));
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i,
            // The encoder keeps records in one batch while offset - sequence stays the same:
            // without a producer the base sequence is -1 and the rest follow it.
            sequence: first_sequence.wrapping_add(i as i32),
            timestamp: T0 + 10 * i,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(format!("value-{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .expect("encode a batch");
    out.freeze()
}

fn produce_request(topic: &str, partition: i32, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

fn list_offsets_request(
    topic: &str,
    timestamps: &[i64],
    isolation_level: i8,
) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation_level)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(
                timestamps
                    .iter()
                    .map(|&t| {
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(t)
                    })
                    .collect(),
            )])
}

fn fetch_request(topic: &str, offset: i64) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(1 << 20)])])
}

/// A Fetch of `topic`/0 at `offset`, asked again while the answer is NOT_LEADER_OR_FOLLOWER:
/// Kafka's fetch path may not know a new partition's leader for a moment after Metadata does.
async fn fetch_once_led(wire: &mut Wire, topic: &str, offset: i64) -> FetchResponse {
    const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    for _ in 0..50 {
        let r: FetchResponse = call(wire, ApiKey::Fetch, 12, &fetch_request(topic, offset)).await;
        let led = r.responses[0].partitions[0].error_code != NOT_LEADER_OR_FOLLOWER;
        if led {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{topic}/0 has no leader for fetches after 5 s");
}

/// The configs the DescribeConfigs scenarios ask for: two overridden, three defaults.
const DESCRIBED_KEYS: [&str; 5] = [
    "retention.ms",
    "cleanup.policy",
    "segment.bytes",
    "max.message.bytes",
    "message.timestamp.type",
];

/// Creates `topic` (one partition) with `retention.ms` and `cleanup.policy` overridden.
async fn create_with_overrides(wire: &mut Wire, t: &mut Transcript, topic: &str) {
    let overrides = [("retention.ms", "123456"), ("cleanup.policy", "compact")];
    let request = create_request(vec![creatable(topic, 1, &overrides)], false);
    let created: CreateTopicsResponse = call(wire, ApiKey::CreateTopics, 7, &request).await;
    step(t, "create", &created.topics[0].error_code);
    wait_for_leaders(wire, topic, 1).await;
}

/// The scenarios, each a name and the steps it takes; `topic` is unique to the run.
async fn run_scenario(scenario: &str, target: &Target, topic: &str) -> Transcript {
    let mut wire = target.connect().await;
    let mut t = Transcript::new();
    let w = &mut wire;
    match scenario {
        "metadata of an unknown topic" => {
            let r: MetadataResponse = call(w, ApiKey::Metadata, 12, &metadata_request(topic)).await;
            step(&mut t, "metadata v12", &r.topics);
        }
        "create topics: invalid inputs" => {
            let bad = vec![
                creatable(&format!("{topic}.bad/name"), 1, &[]),
                creatable(&format!("{topic}-zero"), 0, &[]),
                creatable(
                    &format!("{topic}-cfg"),
                    1,
                    &[("retention.ms", "not-a-number")],
                ),
                creatable(
                    &format!("{topic}-unknown-cfg"),
                    1,
                    &[("no.such.config", "1")],
                ),
                creatable(&format!("{topic}-rf"), 1, &[]).with_replication_factor(3),
            ];
            for version in [2, 5, 7] {
                let r: CreateTopicsResponse = call(
                    w,
                    ApiKey::CreateTopics,
                    version,
                    &create_request(bad.clone(), false),
                )
                .await;
                let outcome: Vec<_> = r
                    .topics
                    .iter()
                    .map(|t| (t.name.as_str().to_string(), t.error_code))
                    .collect();
                step(&mut t, &format!("create v{version}"), &outcome);
            }
        }
        "create topics: validate only, then exists" => {
            let r: CreateTopicsResponse = call(
                w,
                ApiKey::CreateTopics,
                7,
                &create_request(vec![creatable(topic, 3, &[])], true),
            )
            .await;
            step(
                &mut t,
                "validate only",
                &(r.topics[0].error_code, r.topics[0].num_partitions),
            );
            let m: MetadataResponse = call(w, ApiKey::Metadata, 12, &metadata_request(topic)).await;
            step(&mut t, "not created", &m.topics[0].error_code);
            create_ready(w, topic, 3).await;
            let again: CreateTopicsResponse = call(
                w,
                ApiKey::CreateTopics,
                7,
                &create_request(vec![creatable(topic, 3, &[])], false),
            )
            .await;
            step(&mut t, "exists", &again.topics[0].error_code);
        }
        "produce: unknown partition and unknown topic" => {
            create_ready(w, topic, 1).await;
            let r: ProduceResponse = call(
                w,
                ApiKey::Produce,
                9,
                &produce_request(topic, 7, batch(1, Compression::None, None)),
            )
            .await;
            step(&mut t, "partition 7 of 1", &r.responses);
            let r: ProduceResponse = call(
                w,
                ApiKey::Produce,
                9,
                &produce_request(
                    &format!("{topic}-absent"),
                    0,
                    batch(1, Compression::None, None),
                ),
            )
            .await;
            let codes: Vec<_> = r
                .responses
                .iter()
                .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code))
                .collect();
            step(&mut t, "absent topic", &codes);
        }
        "produce: a keyless record on a compacted topic" => {
            create_with_overrides(w, &mut t, topic).await;
            let records: Vec<Record> = (0..3)
                .map(|i| Record {
                    transactional: false,
                    control: false,
                    delete_horizon: false,
                    partition_leader_epoch: -1,
                    producer_id: -1,
                    producer_epoch: -1,
                    timestamp_type: TimestampType::Creation,
                    offset: i,
                    // One batch: offset minus sequence stays the same.
                    sequence: (-1i32).wrapping_add(i as i32),
                    timestamp: T0 + i,
                    key: (i != 1).then(|| Bytes::from(format!("key-{i}"))),
                    value: Some(Bytes::from(format!("value-{i}"))),
                    headers: Default::default(),
                })
                .collect();
            let mut keyless = BytesMut::new();
            RecordBatchEncoder::encode(
                &mut keyless,
                &records,
                &RecordEncodeOptions {
                    version: 2,
                    compression: Compression::None,
                },
            )
            .expect("encode a batch");
            let r: ProduceResponse = call(
                w,
                ApiKey::Produce,
                9,
                &produce_request(topic, 0, keyless.freeze()),
            )
            .await;
            step(&mut t, "keyless record", &r.responses);
        }
        "produce then list offsets, every spec" => {
            create_ready(w, topic, 1).await;
            for spec in [-2, -1, -3, T0] {
                let r: ListOffsetsResponse = call(
                    w,
                    ApiKey::ListOffsets,
                    7,
                    &list_offsets_request(topic, &[spec], 0),
                )
                .await;
                step(&mut t, &format!("empty partition, spec {spec}"), &r.topics);
            }
            for (count, compression) in [
                (5, Compression::None),
                (5, Compression::Gzip),
                (3, Compression::Lz4),
            ] {
                let r: ProduceResponse = call(
                    w,
                    ApiKey::Produce,
                    9,
                    &produce_request(topic, 0, batch(count, compression, None)),
                )
                .await;
                let p = &r.responses[0].partition_responses[0];
                step(
                    &mut t,
                    "produce",
                    &(
                        p.error_code,
                        p.base_offset,
                        p.log_append_time_ms,
                        p.log_start_offset,
                    ),
                );
            }
            let specs = [
                -2,
                -1,
                -3,
                T0 - 1,
                T0,
                T0 + 5,
                T0 + 20,
                T0 + 40,
                T0 + 41,
                T0 + 10_000,
            ];
            for isolation in [0, 1] {
                for spec in specs {
                    let r: ListOffsetsResponse = call(
                        w,
                        ApiKey::ListOffsets,
                        7,
                        &list_offsets_request(topic, &[spec], isolation),
                    )
                    .await;
                    step(
                        &mut t,
                        &format!("spec {spec}, isolation {isolation}"),
                        &r.topics,
                    );
                }
            }
            let r: ListOffsetsResponse = call(
                w,
                ApiKey::ListOffsets,
                7,
                &list_offsets_request(topic, &[-2, -1], 0),
            )
            .await;
            step(&mut t, "one partition asked twice", &r.topics);
        }
        "fetch: out of range and at the end" => {
            create_ready(w, topic, 1).await;
            let produced: ProduceResponse = call(
                w,
                ApiKey::Produce,
                9,
                &produce_request(topic, 0, batch(4, Compression::None, None)),
            )
            .await;
            let p = &produced.responses[0].partition_responses[0];
            step(&mut t, "produce", &(p.error_code, p.base_offset));
            for offset in [4, 5, -1] {
                let r = fetch_once_led(w, topic, offset).await;
                let p = &r.responses[0].partitions[0];
                step(
                    &mut t,
                    &format!("fetch at {offset}"),
                    &(
                        r.error_code,
                        p.error_code,
                        p.high_watermark,
                        p.last_stable_offset,
                        p.log_start_offset,
                        p.records.as_ref().map(|b| b.len()),
                    ),
                );
            }
        }
        "delete records: within, at and beyond the high watermark" => {
            create_ready(w, topic, 1).await;
            let _: ProduceResponse = call(
                w,
                ApiKey::Produce,
                9,
                &produce_request(topic, 0, batch(6, Compression::None, None)),
            )
            .await;
            for offset in [2, 6, 9, -1] {
                let request = DeleteRecordsRequest::default()
                    .with_timeout_ms(5_000)
                    .with_topics(vec![DeleteRecordsTopic::default()
                        .with_name(name(topic))
                        .with_partitions(vec![DeleteRecordsPartition::default()
                            .with_partition_index(0)
                            .with_offset(offset)])]);
                let r: DeleteRecordsResponse = call(w, ApiKey::DeleteRecords, 2, &request).await;
                step(&mut t, &format!("delete before {offset}"), &r.topics);
            }
            let r: FetchResponse = call(w, ApiKey::Fetch, 12, &fetch_request(topic, 0)).await;
            step(
                &mut t,
                "fetch below the start",
                &r.responses[0].partitions[0].error_code,
            );
        }
        "idempotent producer: sequence errors" => {
            create_ready(w, topic, 1).await;
            let init = init_producer_id(w).await;
            step(&mut t, "init", &(init.error_code, init.producer_epoch));
            let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
            let empty_id: InitProducerIdResponse = call(
                w,
                ApiKey::InitProducerId,
                4,
                &InitProducerIdRequest::default()
                    .with_transactional_id(Some(TransactionalId(text(""))))
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            )
            .await;
            step(&mut t, "an empty transactional id", &empty_id.error_code);
            for (what, first_sequence, epoch) in [
                ("first batch at sequence 0", 0, epoch),
                ("duplicate", 0, epoch),
                ("gap", 7, epoch),
                ("next", 3, epoch),
                ("older epoch", 6, epoch - 1),
            ] {
                let r: ProduceResponse = call(
                    w,
                    ApiKey::Produce,
                    9,
                    &produce_request(
                        topic,
                        0,
                        batch(3, Compression::None, Some((pid, epoch, first_sequence))),
                    ),
                )
                .await;
                let p = &r.responses[0].partition_responses[0];
                step(&mut t, what, &(p.error_code, p.base_offset));
            }
        }
        "groups: unknown members, generations and groups" => {
            create_ready(w, topic, 1).await;
            let group = format!("{topic}-group");
            coordinator_ready(w, &group).await;
            let join = JoinGroupRequest::default()
                .with_group_id(GroupId(text(&group)))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(10_000)
                .with_member_id(text(""))
                .with_protocol_type(text("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(text("range"))
                    .with_metadata(Bytes::new())]);
            let r: JoinGroupResponse = call(w, ApiKey::JoinGroup, 9, &join).await;
            step(
                &mut t,
                "join without a member id",
                &(r.error_code, r.generation_id, r.member_id.is_empty()),
            );
            let too_short = join.clone().with_session_timeout_ms(1);
            let r: JoinGroupResponse = call(w, ApiKey::JoinGroup, 9, &too_short).await;
            step(&mut t, "session timeout 1 ms", &r.error_code);
            let heartbeat = HeartbeatRequest::default()
                .with_group_id(GroupId(text(&format!("{group}-absent"))))
                .with_generation_id(1)
                .with_member_id(text("nobody"));
            let r: HeartbeatResponse = call(w, ApiKey::Heartbeat, 4, &heartbeat).await;
            step(&mut t, "heartbeat, unknown group", &r.error_code);
            let commit = |generation: i32, member: &str| {
                OffsetCommitRequest::default()
                    .with_group_id(GroupId(text(&group)))
                    .with_generation_id_or_member_epoch(generation)
                    .with_member_id(text(member))
                    .with_topics(vec![OffsetCommitRequestTopic::default()
                        .with_name(name(topic))
                        .with_partitions(vec![OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1)])])
            };
            for (what, generation, member) in [
                ("commit, unknown member", 3, "nobody"),
                ("commit without a generation (simple consumer)", -1, ""),
            ] {
                let r: OffsetCommitResponse =
                    call(w, ApiKey::OffsetCommit, 8, &commit(generation, member)).await;
                step(&mut t, what, &r.topics);
            }
            let fetch =
                OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(text(&group)))
                    .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                        .with_name(name(topic))
                        .with_partition_indexes(vec![0, 5])]))]);
            let r: OffsetFetchResponse = call(w, ApiKey::OffsetFetch, 8, &fetch).await;
            step(&mut t, "offset fetch", &r.groups);
        }
        "describe configs: a topic's override and defaults" => {
            create_with_overrides(w, &mut t, topic).await;
            let keys = DESCRIBED_KEYS;
            let request = DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(text(topic))
                    .with_configuration_keys(Some(keys.iter().map(|k| text(k)).collect())),
            ]);
            let r: DescribeConfigsResponse = call(w, ApiKey::DescribeConfigs, 4, &request).await;
            let mut entries: BTreeMap<String, String> = BTreeMap::new();
            for result in &r.results {
                for c in &result.configs {
                    entries.insert(
                        c.name.to_string(),
                        format!(
                            "{:?} source={} read_only={} sensitive={}",
                            c.value, c.config_source, c.read_only, c.is_sensitive
                        ),
                    );
                }
            }
            step(
                &mut t,
                "describe",
                &(
                    r.results.iter().map(|r| r.error_code).collect::<Vec<_>>(),
                    entries,
                ),
            );
            let unknown = DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(text(&format!("{topic}-absent")))
                    .with_configuration_keys(None),
            ]);
            let r: DescribeConfigsResponse = call(w, ApiKey::DescribeConfigs, 4, &unknown).await;
            step(
                &mut t,
                "unknown topic",
                &r.results.iter().map(|r| r.error_code).collect::<Vec<_>>(),
            );
        }
        "describe configs: synonyms of an override and of defaults" => {
            create_with_overrides(w, &mut t, topic).await;
            let keys = DESCRIBED_KEYS;
            let with_synonyms = DescribeConfigsRequest::default()
                .with_include_synonyms(true)
                .with_resources(vec![DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(text(topic))
                    .with_configuration_keys(Some(keys.iter().map(|k| text(k)).collect()))]);
            let r: DescribeConfigsResponse =
                call(w, ApiKey::DescribeConfigs, 4, &with_synonyms).await;
            let synonyms: BTreeMap<String, Vec<String>> = r
                .results
                .iter()
                .flat_map(|result| &result.configs)
                .map(|c| {
                    let list = c
                        .synonyms
                        .iter()
                        .map(|s| format!("{}={:?} source={}", s.name, s.value, s.source))
                        .collect();
                    (c.name.to_string(), list)
                })
                .collect();
            step(&mut t, "describe with synonyms", &synonyms);
        }
        other => {
            if let Some(transcript) = admin::run(other, w, topic).await {
                return transcript;
            }
            if let Some(transcript) = configs::run(other, w, topic).await {
                return transcript;
            }
            if let Some(transcript) = txn_admin::run(other, w, topic).await {
                return transcript;
            }
            if let Some(transcript) = cluster_admin::run(other, w, topic).await {
                return transcript;
            }
            match txn_v2::run(other, w, topic).await {
                Some(transcript) => return transcript,
                None => panic!("no scenario {other:?}"),
            }
        }
    }
    t
}

const SCENARIOS: &[&str] = &[
    "metadata of an unknown topic",
    "create topics: invalid inputs",
    "create topics: validate only, then exists",
    "produce: unknown partition and unknown topic",
    "produce: a keyless record on a compacted topic",
    "produce then list offsets, every spec",
    "fetch: out of range and at the end",
    "delete records: within, at and beyond the high watermark",
    "idempotent producer: sequence errors",
    "groups: unknown members, generations and groups",
    "describe configs: a topic's override and defaults",
    "describe configs: synonyms of an override and of defaults",
];

/// `scenario => reason` lines of differences accepted for now.
fn allow_list() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("differential-allowlist.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            l.split_once(" => ")
                .map(|(s, r)| (s.to_string(), r.to_string()))
        })
        .collect()
}

#[test]
fn sluice_answers_as_kafka_does() {
    sluice_interop_tests::init_tracing();
    let kafka = ReferenceKafka::start();
    let sluice = TestBroker::start();
    let targets = [
        Target {
            addr: kafka.bootstrap,
        },
        Target {
            addr: sluice.addr(),
        },
    ];
    let allowed = allow_list();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (mut same, mut accepted, mut unexplained) = (0, Vec::new(), Vec::new());
    let scenarios: Vec<&str> = SCENARIOS
        .iter()
        .chain(admin::SCENARIOS)
        .chain(configs::SCENARIOS)
        .chain(txn_admin::SCENARIOS)
        .chain(cluster_admin::SCENARIOS)
        .chain(txn_v2::SCENARIOS)
        .copied()
        // DIFFERENTIAL_ONLY=text runs only the scenarios whose name contains text.
        .filter(|s| std::env::var("DIFFERENTIAL_ONLY").map_or(true, |only| s.contains(&only)))
        .collect();
    for (i, scenario) in scenarios.iter().enumerate() {
        let topic = format!("diff-{}-{i}", std::process::id());
        let [kafka_seen, sluice_seen] = [&targets[0], &targets[1]]
            .map(|target| runtime.block_on(run_scenario(scenario, target, &topic)));
        // DIFFERENTIAL_SHOW=1 prints what Kafka answered, step by step.
        if std::env::var_os("DIFFERENTIAL_SHOW").is_some() {
            for (step, seen) in &kafka_seen {
                eprintln!("{scenario} / {step}: {seen}");
            }
        }
        let differences: Vec<String> = kafka_seen
            .iter()
            .zip(&sluice_seen)
            .filter(|(k, s)| k != s)
            .map(|((step, k), (_, s))| format!("  step {step:?}\n    kafka:  {k}\n    sluice: {s}"))
            .collect();
        assert_eq!(
            kafka_seen.len(),
            sluice_seen.len(),
            "{scenario}: the same steps"
        );
        if differences.is_empty() {
            same += 1;
            if allowed.contains_key(*scenario) {
                unexplained.push(format!(
                    "{scenario}: allow-listed but no longer differs; remove it from the list"
                ));
            }
        } else if let Some(reason) = allowed.get(*scenario) {
            accepted.push(format!(
                "{scenario} (allowed: {reason})\n{}",
                differences.join("\n")
            ));
        } else {
            unexplained.push(format!("{scenario}\n{}", differences.join("\n")));
        }
    }
    eprintln!(
        "differential: {} scenarios, {same} identical, {} allow-listed, {} unexplained",
        scenarios.len(),
        accepted.len(),
        unexplained.len()
    );
    for a in &accepted {
        eprintln!("allow-listed difference: {a}");
    }
    assert!(
        unexplained.is_empty(),
        "Sluice differs from Kafka:\n{}",
        unexplained.join("\n\n")
    );
}
