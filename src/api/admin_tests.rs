//! The cluster-admin APIs through their handlers: DescribeCluster, DescribeLogDirs,
//! DescribeTopicPartitions, ElectLeaders, the partition reassignments, OffsetForLeaderEpoch
//! and ListGroups' type filter. Every answer is also encoded in its version, which fails on
//! a field the version lacks.

use std::sync::Arc;

use bytes::BytesMut;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;
use kafka_protocol::ResponseError;

use super::{
    alter_partition_reassignments, describe_cluster, describe_log_dirs, describe_topic_partitions,
    elect_leaders, list_groups, list_partition_reassignments, offset_for_leader_epoch, str_bytes,
    topic_name,
};
use crate::broker::Broker;
use crate::config::Config;
use crate::node::Node;
use crate::record::test_batches::batch;
use crate::session::{RequestContext, Session, PLAINTEXT_LISTENER};

fn session() -> Session {
    Session::new(PLAINTEXT_LISTENER, "127.0.0.1:5000".parse().unwrap())
}

async fn broker_with(config: Config, topics: &[(&str, i32)]) -> (Node, Arc<Broker>) {
    let node = Node::start(config).await.unwrap();
    let broker = node.broker().clone();
    for &(name, partitions) in topics {
        broker
            .topics()
            .create(crate::topics::NewTopic {
                name: name.into(),
                partitions,
                configs: Default::default(),
            })
            .unwrap();
    }
    (node, broker)
}

fn encodes<M: Encodable>(message: &M, version: i16) {
    let mut buf = BytesMut::new();
    message
        .encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("v{version} does not encode: {e}"));
}

/// Appends `count` batches of `records` records to a partition.
fn fill(broker: &Broker, topic: &str, index: i32, count: usize, records: i32) {
    let partition = broker
        .topics()
        .get(topic)
        .unwrap()
        .partition(index)
        .unwrap()
        .clone();
    for _ in 0..count {
        let bytes = batch(0, records - 1, 1_700_000_000_000, b"payload");
        partition.append(bytes.into(), None).unwrap();
    }
}

#[tokio::test]
async fn describe_cluster_answers_this_node_and_refuses_other_endpoints() {
    let (node, broker) = broker_with(Config::for_tests(), &[]).await;
    let session = session();
    let context = RequestContext::new(&session, "test");
    for version in 0..=2 {
        let r = describe_cluster::handle(
            &broker,
            &context,
            version,
            DescribeClusterRequest::default(),
        )
        .await;
        encodes(&r, version);
        assert_eq!(r.error_code, 0);
        assert_eq!(r.cluster_id.as_str(), broker.cluster_id());
        assert_eq!(r.controller_id.0, broker.node_id());
        assert_eq!(r.cluster_authorized_operations, i32::MIN);
        assert_eq!(r.brokers.len(), 1);
        assert_eq!(r.brokers[0].broker_id.0, broker.node_id());
        assert_eq!(r.brokers[0].host.as_str(), broker.advertised_host());
        assert_eq!(r.brokers[0].port, broker.advertised_port());
        assert!(!r.brokers[0].is_fenced);
    }
    let asked = DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
    let r = describe_cluster::handle(&broker, &context, 1, asked).await;
    // CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE.
    assert_eq!(r.cluster_authorized_operations, 8096);
    let controller = DescribeClusterRequest::default().with_endpoint_type(2);
    let r = describe_cluster::handle(&broker, &context, 1, controller.clone()).await;
    assert_eq!(r.error_code, ResponseError::MismatchedEndpointType.code());
    assert!(r.brokers.is_empty());
    let r = describe_cluster::handle(&broker, &context, 0, controller).await;
    assert_eq!(r.error_code, ResponseError::InvalidRequest.code());
    let unknown = DescribeClusterRequest::default().with_endpoint_type(9);
    let r = describe_cluster::handle(&broker, &context, 2, unknown).await;
    encodes(&r, 2);
    assert_eq!(r.error_code, ResponseError::UnsupportedEndpointType.code());
    node.shutdown().await;
}

/// (dir, total, usable, [(topic, [(partition, size)])]) of the one result.
type LogDirView = (String, i64, i64, Vec<(String, Vec<(i32, i64)>)>);

fn view(r: &DescribeLogDirsResponse) -> LogDirView {
    assert_eq!(r.results.len(), 1);
    let d = &r.results[0];
    assert_eq!(d.error_code, 0);
    let topics = d
        .topics
        .iter()
        .map(|t| {
            for p in &t.partitions {
                assert_eq!((p.offset_lag, p.is_future_key), (0, false));
            }
            let partitions = t
                .partitions
                .iter()
                .map(|p| (p.partition_index, p.partition_size))
                .collect();
            (t.name.to_string(), partitions)
        })
        .collect();
    (d.log_dir.to_string(), d.total_bytes, d.usable_bytes, topics)
}

#[tokio::test]
async fn describe_log_dirs_in_memory_reports_sizes_and_unknown_space() {
    let (node, broker) = broker_with(Config::for_tests(), &[("a", 2), ("b", 1)]).await;
    fill(&broker, "a", 1, 3, 2);
    let size = i64::try_from(broker.topics().get("a").unwrap().partitions[1].size_bytes()).unwrap();
    assert_eq!(
        size,
        3 * i64::try_from(batch(0, 1, 0, b"payload").len()).unwrap()
    );
    let session = session();
    let context = RequestContext::new(&session, "test");
    let r = describe_log_dirs::handle(
        &broker,
        &context,
        4,
        DescribeLogDirsRequest::default().with_topics(None),
    )
    .await;
    encodes(&r, 4);
    assert_eq!(
        view(&r),
        (
            "/memory".to_string(),
            -1,
            -1,
            vec![
                ("a".to_string(), vec![(0, 0), (1, size)]),
                ("b".to_string(), vec![(0, 0)])
            ]
        )
    );
    // Only what is asked for; unknown topics and partitions are left out.
    let some = DescribeLogDirsRequest::default().with_topics(Some(vec![
        DescribableLogDirTopic::default()
            .with_topic(topic_name("a"))
            .with_partitions(vec![1, 7]),
        DescribableLogDirTopic::default()
            .with_topic(topic_name("nope"))
            .with_partitions(vec![0]),
    ]));
    let r = describe_log_dirs::handle(&broker, &context, 1, some).await;
    encodes(&r, 1);
    assert_eq!(view(&r).3, vec![("a".to_string(), vec![(1, size)])]);
    let none = DescribeLogDirsRequest::default().with_topics(Some(vec![]));
    let r = describe_log_dirs::handle(&broker, &context, 3, none).await;
    assert!(view(&r).3.is_empty());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_log_dirs_on_disk_reports_the_data_dir_and_its_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        memory: false,
        data_dir: dir.path().to_path_buf(),
        ..Config::for_tests()
    };
    let (node, broker) = broker_with(config, &[("a", 1)]).await;
    fill(&broker, "a", 0, 2, 1);
    let session = session();
    let context = RequestContext::new(&session, "test");
    let r = describe_log_dirs::handle(
        &broker,
        &context,
        4,
        DescribeLogDirsRequest::default().with_topics(None),
    )
    .await;
    let (path, total, usable, topics) = view(&r);
    assert_eq!(path, dir.path().to_string_lossy());
    let space = crate::log::disk_space::disk_space(dir.path()).unwrap();
    assert_eq!(total, space.total_bytes);
    assert!(usable > 0 && usable <= total);
    let size = i64::try_from(2 * batch(0, 0, 0, b"payload").len()).unwrap();
    assert_eq!(topics, vec![("a".to_string(), vec![(0, size)])]);
    // Before v4 the space fields keep their defaults.
    let r = describe_log_dirs::handle(
        &broker,
        &context,
        3,
        DescribeLogDirsRequest::default().with_topics(None),
    )
    .await;
    encodes(&r, 3);
    assert_eq!((view(&r).1, view(&r).2), (-1, -1));
    node.shutdown().await;
}

/// (name, error, [partition index]) per topic, and the next cursor.
type PageView = (Vec<(String, i16, Vec<i32>)>, Option<(String, i32)>);

fn page(r: &DescribeTopicPartitionsResponse) -> PageView {
    let topics = r
        .topics
        .iter()
        .map(|t| {
            let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
            let indexes = t.partitions.iter().map(|p| p.partition_index).collect();
            (name, t.error_code, indexes)
        })
        .collect();
    let cursor = r
        .next_cursor
        .as_ref()
        .map(|c| (c.topic_name.to_string(), c.partition_index));
    (topics, cursor)
}

fn dtp(topics: &[&str], limit: i32, cursor: Option<(&str, i32)>) -> DescribeTopicPartitionsRequest {
    DescribeTopicPartitionsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|t| TopicRequest::default().with_name(topic_name(t)))
                .collect(),
        )
        .with_response_partition_limit(limit)
        .with_cursor(cursor.map(|(t, p)| {
            Cursor::default()
                .with_topic_name(topic_name(t))
                .with_partition_index(p)
        }))
}

#[tokio::test]
async fn describe_topic_partitions_pages_through_topics_in_name_order() {
    let (node, broker) = broker_with(Config::for_tests(), &[("b", 3), ("a", 2), ("c", 1)]).await;
    let session = session();
    let context = RequestContext::new(&session, "test");
    let ask = |request| describe_topic_partitions::handle(&broker, &context, 0, request);
    let s = |x: &str| x.to_string();
    let r = ask(dtp(&[], 2000, None)).await;
    encodes(&r, 0);
    assert_eq!(
        page(&r),
        (
            vec![
                (s("a"), 0, vec![0, 1]),
                (s("b"), 0, vec![0, 1, 2]),
                (s("c"), 0, vec![0])
            ],
            None
        )
    );
    let t = &r.topics[0];
    assert_eq!(t.topic_id, broker.topics().get("a").unwrap().id);
    assert_eq!(t.topic_authorized_operations, 3576);
    let p = &t.partitions[0];
    assert_eq!((p.leader_id.0, p.leader_epoch), (broker.node_id(), 0));
    assert_eq!(p.replica_nodes, vec![BrokerId(broker.node_id())]);
    assert_eq!(p.isr_nodes, vec![BrokerId(broker.node_id())]);
    // Pages of 2 partitions: a topic cut in its middle, or the next one starting a page.
    let r = ask(dtp(&[], 2, None)).await;
    assert_eq!(page(&r), (vec![(s("a"), 0, vec![0, 1])], Some((s("b"), 0))));
    let r = ask(dtp(&[], 2, Some(("b", 0)))).await;
    assert_eq!(page(&r), (vec![(s("b"), 0, vec![0, 1])], Some((s("b"), 2))));
    let r = ask(dtp(&[], 2, Some(("b", 2)))).await;
    assert_eq!(
        page(&r),
        (vec![(s("b"), 0, vec![2]), (s("c"), 0, vec![0])], None)
    );
    // Named topics: those not found get their error, in name order with the others.
    let r = ask(dtp(&["c", "zz", "a", "bad name!"], 0, None)).await;
    assert_eq!(
        page(&r),
        (vec![(s("a"), 0, vec![0])], Some((s("a"), 1))),
        "a limit below 1 is 1"
    );
    let r = ask(dtp(&["c", "zz", "a", "bad name!"], 10, None)).await;
    assert_eq!(
        page(&r),
        (
            vec![
                (s("a"), 0, vec![0, 1]),
                (
                    s("bad name!"),
                    ResponseError::InvalidTopicException.code(),
                    vec![]
                ),
                (s("c"), 0, vec![0]),
                (
                    s("zz"),
                    ResponseError::UnknownTopicOrPartition.code(),
                    vec![]
                ),
            ],
            None
        )
    );
    // A cursor must name a listed topic and a partition not below 0.
    let invalid = ResponseError::InvalidRequest.code();
    let r = ask(dtp(&["a", "c"], 10, Some(("b", 0)))).await;
    assert_eq!(
        page(&r).0,
        vec![(s("a"), invalid, vec![]), (s("c"), invalid, vec![])]
    );
    let r = ask(dtp(&[], 10, Some(("a", -1)))).await;
    assert_eq!(page(&r), (vec![], None));
    node.shutdown().await;
}

#[tokio::test]
async fn elect_leaders_finds_no_election_needed() {
    let (node, broker) = broker_with(Config::for_tests(), &[("t", 2)]).await;
    let session = session();
    let context = RequestContext::new(&session, "test");
    let request = ElectLeadersRequest::default().with_topic_partitions(Some(vec![
        TopicPartitions::default()
            .with_topic(topic_name("t"))
            .with_partitions(vec![0, 1, 2]),
        TopicPartitions::default()
            .with_topic(topic_name("nope"))
            .with_partitions(vec![0]),
    ]));
    for (version, election_type) in [(0, 0), (1, 1), (2, 0)] {
        let r = elect_leaders::handle(
            &broker,
            &context,
            version,
            request.clone().with_election_type(election_type),
        )
        .await;
        encodes(&r, version);
        let codes: Vec<(String, Vec<(i32, i16)>)> = r
            .replica_election_results
            .iter()
            .map(|t| {
                (
                    t.topic.to_string(),
                    t.partition_result
                        .iter()
                        .map(|p| (p.partition_id, p.error_code))
                        .collect(),
                )
            })
            .collect();
        let not_needed = ResponseError::ElectionNotNeeded.code();
        let unknown = ResponseError::UnknownTopicOrPartition.code();
        assert_eq!(
            codes,
            vec![
                (
                    "t".to_string(),
                    vec![(0, not_needed), (1, not_needed), (2, unknown)]
                ),
                ("nope".to_string(), vec![(0, unknown)]),
            ]
        );
    }
    // Every partition: each topic, with no partition needing an election.
    let r = elect_leaders::handle(
        &broker,
        &context,
        2,
        ElectLeadersRequest::default().with_topic_partitions(None),
    )
    .await;
    assert_eq!(r.replica_election_results.len(), 1);
    assert!(r.replica_election_results[0].partition_result.is_empty());
    let r = elect_leaders::handle(&broker, &context, 2, request.with_election_type(7)).await;
    assert_eq!(r.error_code, ResponseError::InvalidRequest.code());
    assert_eq!(
        r.replica_election_results[0].partition_result[0].error_code,
        ResponseError::InvalidRequest.code()
    );
    node.shutdown().await;
}

#[tokio::test]
async fn reassignments_are_never_in_progress_and_other_brokers_are_refused() {
    let (node, broker) = broker_with(Config::for_tests(), &[("t", 1)]).await;
    let session = session();
    let context = RequestContext::new(&session, "test");
    let me = broker.node_id();
    let target = |index: i32, replicas: Option<Vec<i32>>| {
        ReassignablePartition::default()
            .with_partition_index(index)
            .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()))
    };
    let request = AlterPartitionReassignmentsRequest::default().with_topics(vec![
        ReassignableTopic::default()
            .with_name(topic_name("t"))
            .with_partitions(vec![
                target(0, Some(vec![me])),
                target(0, Some(vec![me + 1])),
                target(0, Some(vec![me, me])),
                target(0, Some(vec![])),
                target(0, None),
                target(3, Some(vec![me])),
            ]),
        ReassignableTopic::default()
            .with_name(topic_name("nope"))
            .with_partitions(vec![target(0, Some(vec![me]))]),
    ]);
    let r = alter_partition_reassignments::handle(&broker, &context, 0, request).await;
    encodes(&r, 0);
    let codes: Vec<Vec<i16>> = r
        .responses
        .iter()
        .map(|t| t.partitions.iter().map(|p| p.error_code).collect())
        .collect();
    let invalid = ResponseError::InvalidReplicaAssignment.code();
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    assert_eq!(
        codes,
        vec![
            vec![
                0,
                invalid,
                invalid,
                invalid,
                ResponseError::NoReassignmentInProgress.code(),
                unknown
            ],
            vec![unknown]
        ]
    );
    assert_eq!(r.error_code, 0);
    let r = list_partition_reassignments::handle(
        &broker,
        &context,
        0,
        ListPartitionReassignmentsRequest::default().with_topics(None),
    )
    .await;
    encodes(&r, 0);
    assert_eq!((r.error_code, r.topics.len()), (0, 0));
    node.shutdown().await;
}

fn epoch_request(topic: &str, partitions: &[(i32, i32, i32)]) -> OffsetForLeaderEpochRequest {
    OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&(partition, current, epoch)| {
                        OffsetForLeaderPartition::default()
                            .with_partition(partition)
                            .with_current_leader_epoch(current)
                            .with_leader_epoch(epoch)
                    })
                    .collect(),
            )])
}

/// (error, epoch, end offset) per partition of the first topic.
fn epoch_view(r: &OffsetForLeaderEpochResponse) -> Vec<(i16, i32, i64)> {
    r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.error_code, p.leader_epoch, p.end_offset))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_for_leader_epoch_answers_from_the_epoch_cache_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        memory: false,
        data_dir: dir.path().to_path_buf(),
        ..Config::for_tests()
    };
    let (node, broker) = broker_with(config.clone(), &[("t", 2)]).await;
    fill(&broker, "t", 0, 4, 5);
    let session = session();
    let context = RequestContext::new(&session, "test");
    let request = epoch_request(
        "t",
        &[
            (0, -1, 0),
            (0, 0, 0),
            (1, 0, 0),
            (0, -1, 1),
            (0, -1, -1),
            (0, 1, 0),
            (5, -1, 0),
        ],
    );
    let expected = vec![
        (0, 0, 20),
        (0, 0, 20),
        (0, 0, 0),
        (0, -1, -1),
        (0, -1, -1),
        (ResponseError::UnknownLeaderEpoch.code(), -1, -1),
        (ResponseError::UnknownTopicOrPartition.code(), -1, -1),
    ];
    for version in 2..=4 {
        let r = offset_for_leader_epoch::handle(&broker, &context, version, request.clone()).await;
        encodes(&r, version);
        assert_eq!(epoch_view(&r), expected, "v{version}");
    }
    let checkpoint = dir.path().join("t-0").join("leader-epoch-checkpoint");
    assert_eq!(std::fs::read_to_string(&checkpoint).unwrap(), "0\n1\n0 0\n");
    // DeleteRecords moves the epoch's start with the log start.
    broker.topics().get("t").unwrap().partitions[0]
        .delete_records_before(10)
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&checkpoint).unwrap(),
        "0\n1\n0 10\n"
    );
    node.shutdown().await;

    // After a restart the cache is read back; a lost checkpoint is rebuilt from the log.
    let partition_1 = dir.path().join("t-1").join("leader-epoch-checkpoint");
    std::fs::remove_file(&partition_1).unwrap();
    let (node, broker) = broker_with(config, &[]).await;
    let r = offset_for_leader_epoch::handle(
        &broker,
        &context,
        4,
        epoch_request("t", &[(0, 0, 0), (1, 0, 0)]),
    )
    .await;
    assert_eq!(epoch_view(&r), vec![(0, 0, 20), (0, 0, 0)]);
    assert_eq!(
        broker.topics().get("t").unwrap().partitions[0].leader_epochs(),
        vec![(0, 10)]
    );
    assert_eq!(
        std::fs::read_to_string(&partition_1).unwrap(),
        "0\n1\n0 0\n"
    );
    node.shutdown().await;
}

#[tokio::test]
async fn list_groups_v5_filters_by_type_and_names_classic() {
    let (node, broker) = broker_with(Config::for_tests(), &[]).await;
    let session = session();
    let context = RequestContext::new(&session, "test");
    // A group exists once an offset is committed for it.
    let member = crate::group::MemberRef {
        member_id: String::new(),
        instance_id: None,
    };
    let offset = crate::group::OffsetToCommit {
        topic: "t".into(),
        partition: 0,
        offset: 5,
        leader_epoch: -1,
        metadata: String::new(),
    };
    broker
        .groups()
        .commit("g".into(), -1, member, vec![offset])
        .await
        .unwrap();
    let ask = |types: &[&str]| {
        ListGroupsRequest::default().with_types_filter(types.iter().map(|t| str_bytes(t)).collect())
    };
    let r = list_groups::handle(&broker, &context, 5, ask(&[])).await;
    encodes(&r, 5);
    assert_eq!(r.groups.len(), 1);
    assert_eq!(r.groups[0].group_type.as_str(), "classic");
    let r = list_groups::handle(&broker, &context, 5, ask(&["Classic"])).await;
    assert_eq!(r.groups.len(), 1);
    let r = list_groups::handle(&broker, &context, 5, ask(&["consumer"])).await;
    assert!(r.groups.is_empty());
    let r = list_groups::handle(&broker, &context, 4, ask(&[])).await;
    encodes(&r, 4);
    assert_eq!(r.groups.len(), 1);
    node.shutdown().await;
}

#[tokio::test]
async fn describe_cluster_gives_the_advertised_address_not_the_bound_one() {
    let config = Config {
        advertise: Some("kafka.example:19092".into()),
        ..Config::for_tests()
    };
    let (node, broker) = broker_with(config, &[]).await;
    let session = session();
    let context = RequestContext::new(&session, "test");
    let r = describe_cluster::handle(&broker, &context, 2, DescribeClusterRequest::default()).await;
    let b = &r.brokers[0];
    assert_eq!((b.host.as_str(), b.port), ("kafka.example", 19092));
    node.shutdown().await;
}
