//! Scenarios of the cluster-admin APIs tools call: DescribeCluster, DescribeTopicPartitions
//! with its cursor, OffsetForLeaderEpoch, ElectLeaders, the partition reassignments, and the
//! v5/v6 group listings. Node ids and the cluster id differ between the two brokers: they are
//! blanked in the responses, and reassignments name each broker's own id.

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;
use sluice_interop_tests::wire::Wire;

use super::Transcript;
use super::{
    batch, call, create_ready, list_offsets_request, metadata_request, name, produce_request, step,
    text,
};

pub(super) const SCENARIOS: &[&str] = &[
    "describe cluster: versions, operations and endpoint types",
    "describe topic partitions: pages, cursors and unknown topics",
    "offset for leader epoch: current, older and newer epochs",
    "elect leaders: preferred, unclean and unknown partitions",
    "partition reassignments: to this broker, others, cancel, list",
    "groups v5 and v6: type filters and an unknown group",
    "newest versions: metadata v13, list offsets v9-10 with latest tiered",
];

/// DescribeCluster with the node and cluster ids blanked.
async fn describe_cluster(
    w: &mut Wire,
    version: i16,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let mut r: DescribeClusterResponse = call(w, ApiKey::DescribeCluster, version, &request).await;
    r.cluster_id = text(if r.cluster_id.is_empty() { "" } else { "_" });
    r.controller_id = BrokerId(if r.controller_id.0 < 0 {
        r.controller_id.0
    } else {
        0
    });
    for b in &mut r.brokers {
        b.broker_id = BrokerId(0);
    }
    r
}

async fn node_id(w: &mut Wire) -> i32 {
    let r: DescribeClusterResponse = call(
        w,
        ApiKey::DescribeCluster,
        0,
        &DescribeClusterRequest::default(),
    )
    .await;
    r.brokers[0].broker_id.0
}

/// Produces to partition 0, retrying while Kafka's broker has not yet taken the leadership
/// its metadata already shows (NOT_LEADER_OR_FOLLOWER for a moment after creation).
async fn produce_led(w: &mut Wire, topic: &str, records: bytes::Bytes) -> i16 {
    const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    for _ in 0..50 {
        let r: ProduceResponse = call(
            w,
            ApiKey::Produce,
            9,
            &produce_request(topic, 0, records.clone()),
        )
        .await;
        let code = r.responses[0].partition_responses[0].error_code;
        if code != NOT_LEADER_OR_FOLLOWER {
            return code;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    NOT_LEADER_OR_FOLLOWER
}

/// DescribeTopicPartitions with the leader ids blanked.
async fn describe_pages(
    w: &mut Wire,
    request: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let mut r: DescribeTopicPartitionsResponse =
        call(w, ApiKey::DescribeTopicPartitions, 0, &request).await;
    for p in r.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
        p.leader_id = BrokerId(0);
    }
    r
}

fn pages(
    topics: &[&str],
    limit: i32,
    cursor: Option<(&str, i32)>,
) -> DescribeTopicPartitionsRequest {
    DescribeTopicPartitionsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|t| TopicRequest::default().with_name(name(t)))
                .collect(),
        )
        .with_response_partition_limit(limit)
        .with_cursor(cursor.map(|(t, p)| {
            Cursor::default()
                .with_topic_name(name(t))
                .with_partition_index(p)
        }))
}

fn epochs(
    replica_id: i32,
    topic: &str,
    partitions: &[(i32, i32, i32)],
) -> OffsetForLeaderEpochRequest {
    OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(replica_id))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(name(topic))
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

pub(super) async fn run(scenario: &str, w: &mut Wire, topic: &str) -> Option<Transcript> {
    let mut t = Transcript::new();
    match scenario {
        "describe cluster: versions, operations and endpoint types" => {
            for version in 0..=2 {
                let r = describe_cluster(w, version, DescribeClusterRequest::default()).await;
                step(&mut t, &format!("v{version}"), &r);
            }
            let asked =
                DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
            let r = describe_cluster(w, 2, asked).await;
            step(&mut t, "v2 with authorized operations", &r);
            for (version, endpoint_type) in [(1, 2), (2, 2), (2, 0), (2, 9)] {
                let request = DescribeClusterRequest::default().with_endpoint_type(endpoint_type);
                let r = describe_cluster(w, version, request).await;
                step(
                    &mut t,
                    &format!("v{version} endpoint type {endpoint_type}"),
                    &r,
                );
            }
        }
        "describe topic partitions: pages, cursors and unknown topics" => {
            let (a, b) = (format!("{topic}-a"), format!("{topic}-b"));
            create_ready(w, &a, 3).await;
            create_ready(w, &b, 2).await;
            let missing = format!("{topic}-missing");
            let named = [b.as_str(), missing.as_str(), a.as_str(), "bad/name"];
            let r = describe_pages(w, pages(&named, 100, None)).await;
            step(&mut t, "all in one page", &r);
            for (limit, cursor) in [
                (2, None),
                (2, Some((a.as_str(), 2))),
                (2, Some((b.as_str(), 0))),
                (1, Some((b.as_str(), 1))),
                (0, None),
                (5, Some((a.as_str(), 7))),
            ] {
                let r = describe_pages(w, pages(&[&a, &b], limit, cursor)).await;
                step(&mut t, &format!("limit {limit} from {cursor:?}"), &r);
            }
            let r = describe_pages(w, pages(&[&a], 5, Some((missing.as_str(), 0)))).await;
            step(&mut t, "a cursor on a topic not named", &r);
            let r = describe_pages(w, pages(&[&a], 5, Some((a.as_str(), -1)))).await;
            step(&mut t, "a negative cursor partition", &r);
        }
        "offset for leader epoch: current, older and newer epochs" => {
            create_ready(w, topic, 2).await;
            for _ in 0..2 {
                let code = produce_led(w, topic, batch(3, Compression::None, None)).await;
                step(&mut t, "produce 3", &code);
            }
            let asks = [
                (0, -1, 0),
                (0, 0, 0),
                (1, 0, 0),
                (0, -1, 1),
                (0, 0, 5),
                (0, -1, -1),
                (0, 1, 0),
                (5, -1, 0),
            ];
            for version in 2..=4 {
                for replica_id in [-1, -2] {
                    let r: OffsetForLeaderEpochResponse = call(
                        w,
                        ApiKey::OffsetForLeaderEpoch,
                        version,
                        &epochs(replica_id, topic, &asks),
                    )
                    .await;
                    step(&mut t, &format!("v{version} replica {replica_id}"), &r);
                }
            }
            let unknown = format!("{topic}-missing");
            let r: OffsetForLeaderEpochResponse = call(
                w,
                ApiKey::OffsetForLeaderEpoch,
                4,
                &epochs(-1, &unknown, &[(0, -1, 0)]),
            )
            .await;
            step(&mut t, "an unknown topic", &r);
        }
        "elect leaders: preferred, unclean and unknown partitions" => {
            create_ready(w, topic, 2).await;
            let missing = format!("{topic}-missing");
            let request = ElectLeadersRequest::default()
                .with_timeout_ms(10_000)
                .with_topic_partitions(Some(vec![
                    TopicPartitions::default()
                        .with_topic(name(topic))
                        .with_partitions(vec![0, 1, 2]),
                    TopicPartitions::default()
                        .with_topic(name(&missing))
                        .with_partitions(vec![0]),
                ]));
            for (version, election_type) in [(0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 5)] {
                let r: ElectLeadersResponse = call(
                    w,
                    ApiKey::ElectLeaders,
                    version,
                    &request.clone().with_election_type(election_type),
                )
                .await;
                step(
                    &mut t,
                    &format!("v{version} election type {election_type}"),
                    &r,
                );
            }
        }
        "partition reassignments: to this broker, others, cancel, list" => {
            create_ready(w, topic, 1).await;
            let me = node_id(w).await;
            let target = |index: i32, replicas: Option<Vec<i32>>| {
                ReassignablePartition::default()
                    .with_partition_index(index)
                    .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()))
            };
            let missing = format!("{topic}-missing");
            let request = AlterPartitionReassignmentsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(vec![
                    ReassignableTopic::default()
                        .with_name(name(topic))
                        .with_partitions(vec![
                            target(0, Some(vec![me])),
                            target(0, Some(vec![me + 100])),
                            target(0, Some(vec![me, me])),
                            target(0, Some(vec![])),
                            target(0, None),
                            target(4, Some(vec![me])),
                        ]),
                    ReassignableTopic::default()
                        .with_name(name(&missing))
                        .with_partitions(vec![target(0, Some(vec![me]))]),
                ]);
            let r: AlterPartitionReassignmentsResponse =
                call(w, ApiKey::AlterPartitionReassignments, 0, &request).await;
            step(&mut t, "alter", &r);
            let listing = ListPartitionReassignmentsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(Some(vec![
                    ListPartitionReassignmentsTopics::default()
                        .with_name(name(topic))
                        .with_partition_indexes(vec![0, 3]),
                    ListPartitionReassignmentsTopics::default()
                        .with_name(name(&missing))
                        .with_partition_indexes(vec![0]),
                ]));
            let r: ListPartitionReassignmentsResponse =
                call(w, ApiKey::ListPartitionReassignments, 0, &listing).await;
            step(&mut t, "list named", &r);
            let r: ListPartitionReassignmentsResponse = call(
                w,
                ApiKey::ListPartitionReassignments,
                0,
                &listing.with_topics(None),
            )
            .await;
            step(&mut t, "list all", &r);
        }
        "groups v5 and v6: type filters and an unknown group" => {
            for types in [&["consumer"][..], &["share"], &["bogus"]] {
                let request = ListGroupsRequest::default()
                    .with_types_filter(types.iter().map(|s| text(s)).collect());
                let r: ListGroupsResponse = call(w, ApiKey::ListGroups, 5, &request).await;
                step(&mut t, &format!("list groups of types {types:?}"), &r);
            }
            let group = format!("{topic}-group");
            super::coordinator_ready(w, &group).await;
            let request = DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(text(&group))])
                .with_include_authorized_operations(true);
            for version in [5, 6] {
                let r: DescribeGroupsResponse =
                    call(w, ApiKey::DescribeGroups, version, &request).await;
                step(&mut t, &format!("describe an unknown group v{version}"), &r);
            }
        }
        "newest versions: metadata v13, list offsets v9-10 with latest tiered" => {
            create_ready(w, topic, 1).await;
            let code = produce_led(w, topic, batch(3, Compression::None, None)).await;
            step(&mut t, "produce 3", &code);
            for wanted in [topic.to_string(), format!("{topic}-missing")] {
                let mut r: MetadataResponse =
                    call(w, ApiKey::Metadata, 13, &metadata_request(&wanted)).await;
                for p in r.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                    p.leader_id = BrokerId(0);
                }
                step(&mut t, "metadata v13", &(r.error_code, &r.topics));
            }
            for version in [6, 7, 8, 9, 10] {
                // Latest tiered (-5), earliest local (-4), max timestamp (-3), earliest (-2),
                // latest (-1).
                for timestamp in [-5, -4, -3, -2, -1] {
                    let request =
                        list_offsets_request(topic, &[timestamp], 0).with_timeout_ms(5_000);
                    let r: ListOffsetsResponse =
                        call(w, ApiKey::ListOffsets, version, &request).await;
                    step(
                        &mut t,
                        &format!("list offsets v{version} at {timestamp}"),
                        &r,
                    );
                }
            }
            let unknown = list_offsets_request(&format!("{topic}-missing"), &[-5], 0);
            for version in [8, 10] {
                let r: ListOffsetsResponse = call(w, ApiKey::ListOffsets, version, &unknown).await;
                step(
                    &mut t,
                    &format!("latest tiered of an unknown topic v{version}"),
                    &r,
                );
            }
        }
        _ => return None,
    }
    Some(t)
}
