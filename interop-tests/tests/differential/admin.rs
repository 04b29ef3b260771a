//! Scenarios of the admin and group APIs at their edges: unknown names, invalid counts,
//! corrupt and oversized batches, members and generations a group does not know.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;
use sluice_interop_tests::wire::Wire;

use super::Transcript;
use super::{batch, call, coordinator_ready, create_ready, name, produce_request, step, text};

pub(super) const SCENARIOS: &[&str] = &[
    "produce: corrupt, oversized and empty batches",
    "delete topics: unknown, then twice",
    "create partitions: fewer, same, more, unknown",
    "groups: describe, leave, sync, delete and offset delete of unknown groups",
];

/// The first partition's (error code, base offset) of a Produce answer.
fn outcome(response: &ProduceResponse) -> (i16, i64) {
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

pub(super) async fn run(scenario: &str, w: &mut Wire, topic: &str) -> Option<Transcript> {
    let mut t = Transcript::new();
    match scenario {
        "produce: corrupt, oversized and empty batches" => {
            create_ready(w, topic, 1).await;
            let good = batch(3, Compression::None, None);
            let mut corrupt = BytesMut::from(&good[..]);
            let last = corrupt.len() - 1;
            corrupt[last] ^= 0xff;
            let r: ProduceResponse = call(
                w,
                ApiKey::Produce,
                9,
                &produce_request(topic, 0, corrupt.freeze()),
            )
            .await;
            step(&mut t, "a flipped bit", &outcome(&r));
            let huge: Bytes = {
                let records = batch(1, Compression::None, None);
                // One batch larger than the default max.message.bytes (1 MiB + 12).
                let mut many = BytesMut::new();
                while many.len() < 1_100_000 {
                    many.extend_from_slice(&records);
                }
                many.freeze()
            };
            let r: ProduceResponse =
                call(w, ApiKey::Produce, 9, &produce_request(topic, 0, huge)).await;
            step(&mut t, "1.1 MB of batches in one partition", &outcome(&r));
            let r: ProduceResponse = call(
                w,
                ApiKey::Produce,
                9,
                &produce_request(topic, 0, Bytes::new()),
            )
            .await;
            step(&mut t, "no records", &outcome(&r));
            let r: ProduceResponse = call(
                w,
                ApiKey::Produce,
                9,
                &produce_request(
                    topic,
                    0,
                    Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
                ),
            )
            .await;
            step(&mut t, "ten zero bytes", &outcome(&r));
            let mut unknown_magic = BytesMut::from(&good[..]);
            unknown_magic[16] = 7;
            let r: ProduceResponse = call(
                w,
                ApiKey::Produce,
                9,
                &produce_request(topic, 0, unknown_magic.freeze()),
            )
            .await;
            step(&mut t, "magic 7", &outcome(&r));
            let r: ProduceResponse = call(
                w,
                ApiKey::Produce,
                9,
                &produce_request(topic, 0, good.slice(..good.len() - 5)),
            )
            .await;
            step(&mut t, "a batch cut short", &outcome(&r));
            let mut tiny_length = BytesMut::from(&good[..]);
            tiny_length[8..12].copy_from_slice(&5i32.to_be_bytes());
            let r: ProduceResponse = call(
                w,
                ApiKey::Produce,
                9,
                &produce_request(topic, 0, tiny_length.freeze()),
            )
            .await;
            step(&mut t, "a length of 5", &outcome(&r));
            let r: ProduceResponse =
                call(w, ApiKey::Produce, 9, &produce_request(topic, 0, good)).await;
            step(&mut t, "then a good batch", &outcome(&r));
        }
        "delete topics: unknown, then twice" => {
            // Names go in `topic_names` up to v5 and in `topics` from v6.
            let delete = |names: &[String], version: i16| {
                let request = DeleteTopicsRequest::default().with_timeout_ms(10_000);
                if version >= 6 {
                    request.with_topics(
                        names
                            .iter()
                            .map(|n| DeleteTopicState::default().with_name(Some(name(n))))
                            .collect(),
                    )
                } else {
                    request.with_topic_names(names.iter().map(|n| name(n)).collect())
                }
            };
            let absent = format!("{topic}-absent");
            for version in [1, 4, 6] {
                let r: DeleteTopicsResponse = call(
                    w,
                    ApiKey::DeleteTopics,
                    version,
                    &delete(std::slice::from_ref(&absent), version),
                )
                .await;
                let codes: Vec<_> = r.responses.iter().map(|r| r.error_code).collect();
                step(&mut t, &format!("unknown, v{version}"), &codes);
            }
            create_ready(w, topic, 2).await;
            let r: DeleteTopicsResponse =
                call(w, ApiKey::DeleteTopics, 6, &delete(&[topic.to_string()], 6)).await;
            let codes: Vec<_> = r.responses.iter().map(|r| r.error_code).collect();
            step(&mut t, "existing", &codes);
        }
        "create partitions: fewer, same, more, unknown" => {
            create_ready(w, topic, 2).await;
            let grow = |count: i32, which: &str, validate_only: bool| {
                CreatePartitionsRequest::default()
                    .with_timeout_ms(10_000)
                    .with_validate_only(validate_only)
                    .with_topics(vec![CreatePartitionsTopic::default()
                        .with_name(name(which))
                        .with_count(count)
                        .with_assignments(None)])
            };
            let absent = format!("{topic}-absent");
            for (what, count, which, validate_only) in [
                ("fewer", 1, topic, false),
                ("same", 2, topic, false),
                ("more, validate only", 4, topic, true),
                ("more", 3, topic, false),
                ("unknown topic", 3, absent.as_str(), false),
            ] {
                let r: CreatePartitionsResponse = call(
                    w,
                    ApiKey::CreatePartitions,
                    3,
                    &grow(count, which, validate_only),
                )
                .await;
                let codes: Vec<_> = r.results.iter().map(|r| r.error_code).collect();
                step(&mut t, what, &codes);
            }
            // An assignment list that does not name one broker per new partition.
            let mut empty_assignments = grow(5, topic, false);
            empty_assignments.topics[0].assignments = Some(Vec::new());
            let r: CreatePartitionsResponse =
                call(w, ApiKey::CreatePartitions, 3, &empty_assignments).await;
            let codes: Vec<_> = r.results.iter().map(|r| r.error_code).collect();
            step(&mut t, "an empty assignment list", &codes);
        }
        "groups: describe, leave, sync, delete and offset delete of unknown groups" => {
            create_ready(w, topic, 1).await;
            let group = format!("{topic}-group");
            coordinator_ready(w, &group).await;
            let gid = || GroupId(text(&group));
            let r: DescribeGroupsResponse = call(
                w,
                ApiKey::DescribeGroups,
                5,
                &DescribeGroupsRequest::default().with_groups(vec![gid()]),
            )
            .await;
            let described: Vec<_> = r
                .groups
                .iter()
                .map(|g| {
                    (
                        g.error_code,
                        g.group_state.to_string(),
                        g.protocol_type.to_string(),
                        g.members.len(),
                    )
                })
                .collect();
            step(&mut t, "describe an unknown group", &described);
            let leave = LeaveGroupRequest::default()
                .with_group_id(gid())
                .with_members(vec![
                    MemberIdentity::default().with_member_id(text("nobody"))
                ]);
            let r: LeaveGroupResponse = call(w, ApiKey::LeaveGroup, 5, &leave).await;
            let members: Vec<_> = r.members.iter().map(|m| m.error_code).collect();
            step(&mut t, "leave an unknown group", &(r.error_code, members));
            let single = LeaveGroupRequest::default()
                .with_group_id(gid())
                .with_member_id(text("nobody"));
            let r: LeaveGroupResponse = call(w, ApiKey::LeaveGroup, 2, &single).await;
            step(&mut t, "leave an unknown group, v2", &r.error_code);
            let sync = SyncGroupRequest::default()
                .with_group_id(gid())
                .with_generation_id(1)
                .with_member_id(text("nobody"))
                .with_protocol_type(Some(text("consumer")))
                .with_protocol_name(Some(text("range")));
            let r: SyncGroupResponse = call(w, ApiKey::SyncGroup, 5, &sync).await;
            step(&mut t, "sync an unknown group", &r.error_code);
            let offset_delete = OffsetDeleteRequest::default()
                .with_group_id(gid())
                .with_topics(vec![OffsetDeleteRequestTopic::default()
                    .with_name(name(topic))
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(0)
                    ])]);
            let r: OffsetDeleteResponse = call(w, ApiKey::OffsetDelete, 0, &offset_delete).await;
            step(&mut t, "offset delete, unknown group", &r.error_code);
            let r: DeleteGroupsResponse = call(
                w,
                ApiKey::DeleteGroups,
                2,
                &DeleteGroupsRequest::default().with_groups_names(vec![gid()]),
            )
            .await;
            let codes: Vec<_> = r.results.iter().map(|r| r.error_code).collect();
            step(&mut t, "delete an unknown group", &codes);
        }
        _ => return None,
    }
    Some(t)
}
