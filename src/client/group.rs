//! A consumer group member speaking the classic protocol (JoinGroup, SyncGroup, Heartbeat,
//! OffsetCommit, LeaveGroup) with the range assignor, so it shares a group with the members
//! of other Kafka clients; and the group's committed offsets (OffsetFetch, OffsetCommit).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::clock::monotonic_now;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    consumer_protocol_assignment, ConsumerProtocolAssignment, ConsumerProtocolSubscription,
    GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, OffsetCommitRequest,
    OffsetFetchRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::error::{ClientError, ClientResult};
use super::Client;

/// Kafka's error codes a member reacts to.
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const REBALANCE_IN_PROGRESS: i16 = 27;
const MEMBER_ID_REQUIRED: i16 = 79;

/// Versions this client fills requests for.
const JOIN_GROUP: i16 = 7;
const SYNC_GROUP: i16 = 5;
const HEARTBEAT: i16 = 4;
const LEAVE_GROUP: i16 = 4;
const OFFSET_COMMIT: i16 = 8;
const OFFSET_FETCH: i16 = 7;

/// The group protocol and assignor, as the Java consumer names them.
const PROTOCOL_TYPE: &str = "consumer";
const RANGE: &str = "range";

/// Timeouts of the member, as the Java consumer's defaults (`session.timeout.ms` 45 s is
/// shortened so that a member killed in a test leaves soon).
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
pub const REBALANCE_TIMEOUT: Duration = Duration::from_secs(30);
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// What a heartbeat says the member should do.
#[derive(Debug, PartialEq, Eq)]
pub enum Heartbeat {
    /// Nothing changed.
    Stable,
    /// A rebalance started (or the member was dropped): commit, then join again.
    Rejoin,
}

/// One member of a consumer group subscribed to some topics.
pub struct GroupMember {
    group: String,
    topics: Vec<String>,
    member_id: String,
    generation_id: i32,
    /// topic → partitions, from the last SyncGroup.
    assignment: BTreeMap<String, Vec<i32>>,
    last_heartbeat: Instant,
}

impl GroupMember {
    pub fn new(group: &str, topics: Vec<String>) -> GroupMember {
        GroupMember {
            group: group.to_string(),
            topics,
            member_id: String::new(),
            generation_id: -1,
            assignment: BTreeMap::new(),
            last_heartbeat: monotonic_now(),
        }
    }

    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }

    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// This member's partitions of `topic` after the last join.
    pub fn assigned(&self, topic: &str) -> Vec<i32> {
        self.assignment.get(topic).cloned().unwrap_or_default()
    }

    /// Joins (or rejoins) the group and returns once this member has its assignment.
    pub async fn join(&mut self, client: &mut Client) -> ClientResult<()> {
        let subscription = encode_versioned(
            &ConsumerProtocolSubscription::default().with_topics(
                self.topics
                    .iter()
                    .map(|t| StrBytes::from_string(t.clone()))
                    .collect(),
            ),
            1,
        )?;
        for _attempt in 0..20 {
            let member_id = self.member_id.clone();
            let protocols = vec![JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str(RANGE))
                .with_metadata(subscription.clone())];
            let group = self.group.clone();
            let node = client.coordinator(&group).await?;
            let connection = client.broker(node).await?;
            let version = connection.version::<JoinGroupRequest>(JOIN_GROUP)?;
            let request = JoinGroupRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(group.clone())))
                .with_session_timeout_ms(millis(SESSION_TIMEOUT))
                .with_rebalance_timeout_ms(millis(REBALANCE_TIMEOUT))
                .with_member_id(StrBytes::from_string(member_id))
                .with_protocol_type(StrBytes::from_static_str(PROTOCOL_TYPE))
                .with_protocols(protocols);
            let response = connection
                .send_within(
                    &request,
                    version,
                    REBALANCE_TIMEOUT + Duration::from_secs(5),
                )
                .await?;
            match response.error_code {
                MEMBER_ID_REQUIRED => {
                    self.member_id = response.member_id.to_string();
                    continue;
                }
                UNKNOWN_MEMBER_ID => {
                    self.member_id.clear();
                    continue;
                }
                REBALANCE_IN_PROGRESS => continue,
                code => ClientError::check(code, format!("JoinGroup {group}"))?,
            }
            self.member_id = response.member_id.to_string();
            self.generation_id = response.generation_id;
            let assignments = if response.leader == response.member_id {
                self.assign(client, &response.members).await?
            } else {
                Vec::new()
            };
            let node = client.coordinator(&group).await?;
            let connection = client.broker(node).await?;
            let version = connection.version::<SyncGroupRequest>(SYNC_GROUP)?;
            let mut request = SyncGroupRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(group.clone())))
                .with_generation_id(self.generation_id)
                .with_member_id(StrBytes::from_string(self.member_id.clone()))
                .with_assignments(assignments);
            if version >= 5 {
                request.protocol_type = Some(StrBytes::from_static_str(PROTOCOL_TYPE));
                request.protocol_name = Some(StrBytes::from_static_str(RANGE));
            }
            let response = connection
                .send_within(
                    &request,
                    version,
                    REBALANCE_TIMEOUT + Duration::from_secs(5),
                )
                .await?;
            match response.error_code {
                REBALANCE_IN_PROGRESS | ILLEGAL_GENERATION => continue,
                UNKNOWN_MEMBER_ID => {
                    self.member_id.clear();
                    continue;
                }
                code => ClientError::check(code, format!("SyncGroup {group}"))?,
            }
            self.assignment = decode_assignment(response.assignment)?;
            self.last_heartbeat = monotonic_now();
            tracing::debug!(group, generation = self.generation_id, assignment = ?self.assignment, "joined");
            return Ok(());
        }
        Err(ClientError::Other(format!(
            "group {}: the group kept rebalancing; gave up joining",
            self.group
        )))
    }

    /// The leader's range assignment (Kafka's `RangeAssignor`): per topic, the members
    /// subscribed to it in member id order each get a contiguous range, the first
    /// `partitions % members` one more.
    async fn assign(
        &self,
        client: &mut Client,
        members: &[kafka_protocol::messages::join_group_response::JoinGroupResponseMember],
    ) -> ClientResult<Vec<SyncGroupRequestAssignment>> {
        let mut subscriptions: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for member in members {
            let topics = decode_subscription(member.metadata.clone())?;
            subscriptions.insert(member.member_id.to_string(), topics);
        }
        let mut topics: Vec<String> = subscriptions.values().flatten().cloned().collect();
        topics.sort();
        topics.dedup();
        let mut counts = BTreeMap::new();
        for topic in topics {
            match client.topic(&topic).await {
                Ok(layout) => {
                    counts.insert(topic, layout.partitions.len() as i32);
                }
                Err(e) => tracing::warn!(topic, error = %e, "subscribed topic not assigned"),
            }
        }
        let plan = range_assign(&subscriptions, &counts);
        plan.into_iter()
            .map(|(member, assignment)| {
                let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
                    assignment
                        .into_iter()
                        .map(|(topic, partitions)| {
                            consumer_protocol_assignment::TopicPartition::default()
                                .with_topic(TopicName(StrBytes::from_string(topic)))
                                .with_partitions(partitions)
                        })
                        .collect(),
                );
                Ok(SyncGroupRequestAssignment::default()
                    .with_member_id(StrBytes::from_string(member))
                    .with_assignment(encode_versioned(&assignment, 1)?))
            })
            .collect()
    }

    /// Sends a heartbeat when one is due.
    pub async fn heartbeat_if_due(&mut self, client: &mut Client) -> ClientResult<Heartbeat> {
        if self.last_heartbeat.elapsed() < HEARTBEAT_INTERVAL {
            return Ok(Heartbeat::Stable);
        }
        self.last_heartbeat = monotonic_now();
        let group = self.group.clone();
        let (generation, member) = (self.generation_id, self.member_id.clone());
        let response = client
            .call_coordinator(&group, HEARTBEAT, |_| {
                HeartbeatRequest::default()
                    .with_group_id(GroupId(StrBytes::from_string(group.clone())))
                    .with_generation_id(generation)
                    .with_member_id(StrBytes::from_string(member))
            })
            .await?;
        match response.error_code {
            0 => Ok(Heartbeat::Stable),
            REBALANCE_IN_PROGRESS | ILLEGAL_GENERATION => Ok(Heartbeat::Rejoin),
            UNKNOWN_MEMBER_ID => {
                self.member_id.clear();
                Ok(Heartbeat::Rejoin)
            }
            code => {
                ClientError::check(code, format!("Heartbeat {group}"))?;
                Ok(Heartbeat::Stable)
            }
        }
    }

    /// Commits `offsets` (topic → partition → next offset) as this member. A commit refused
    /// because the group is rebalancing is reported as `Ok(false)`: the next owner reads
    /// from the last commit that went through.
    pub async fn commit(
        &mut self,
        client: &mut Client,
        offsets: &BTreeMap<String, BTreeMap<i32, i64>>,
    ) -> ClientResult<bool> {
        let result = commit_offsets(
            client,
            &self.group,
            self.generation_id,
            &self.member_id,
            offsets,
        )
        .await;
        match result {
            Err(ClientError::Kafka {
                code: REBALANCE_IN_PROGRESS | ILLEGAL_GENERATION | UNKNOWN_MEMBER_ID,
                ..
            }) => Ok(false),
            other => other.map(|()| true),
        }
    }

    /// Leaves the group, so its partitions move to the others at once.
    pub async fn leave(&mut self, client: &mut Client) -> ClientResult<()> {
        if self.member_id.is_empty() {
            return Ok(());
        }
        let group = self.group.clone();
        let member = self.member_id.clone();
        let response = client
            .call_coordinator(&group, LEAVE_GROUP, |version| {
                let request = LeaveGroupRequest::default()
                    .with_group_id(GroupId(StrBytes::from_string(group.clone())));
                if version >= 3 {
                    request.with_members(vec![
                        MemberIdentity::default().with_member_id(StrBytes::from_string(member))
                    ])
                } else {
                    request.with_member_id(StrBytes::from_string(member))
                }
            })
            .await?;
        ClientError::check(response.error_code, format!("LeaveGroup {group}"))
    }
}

/// Commits offsets for `group`: as a member with its generation, or with generation -1 and
/// no member id as an admin commit (the way `kafka-consumer-groups --reset-offsets` does),
/// which the coordinator accepts only while the group has no members.
pub async fn commit_offsets(
    client: &mut Client,
    group: &str,
    generation_id: i32,
    member_id: &str,
    offsets: &BTreeMap<String, BTreeMap<i32, i64>>,
) -> ClientResult<()> {
    let topics: Vec<OffsetCommitRequestTopic> = offsets
        .iter()
        .map(|(topic, partitions)| {
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.clone())))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|(&partition, &offset)| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(partition)
                                .with_committed_offset(offset)
                                .with_committed_metadata(Some(StrBytes::from_static_str("")))
                        })
                        .collect(),
                )
        })
        .collect();
    let response = client
        .call_coordinator(group, OFFSET_COMMIT, |_| {
            OffsetCommitRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
                .with_generation_id_or_member_epoch(generation_id)
                .with_member_id(StrBytes::from_string(member_id.to_string()))
                .with_topics(topics)
        })
        .await?;
    for topic in &response.topics {
        for partition in &topic.partitions {
            ClientError::check(
                partition.error_code,
                format!(
                    "OffsetCommit {group} {}-{}",
                    topic.name.0, partition.partition_index
                ),
            )?;
        }
    }
    Ok(())
}

/// The offsets `group` committed: topic → partition → offset (partitions without a commit
/// left out). `topics` `None` asks for every topic the group committed for.
pub async fn committed_offsets(
    client: &mut Client,
    group: &str,
    topics: Option<&BTreeMap<String, Vec<i32>>>,
) -> ClientResult<BTreeMap<String, BTreeMap<i32, i64>>> {
    let response = client
        .call_coordinator(group, OFFSET_FETCH, |_| {
            OffsetFetchRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
                .with_topics(topics.map(|topics| {
                    topics
                        .iter()
                        .map(|(topic, partitions)| {
                            OffsetFetchRequestTopic::default()
                                .with_name(TopicName(StrBytes::from_string(topic.clone())))
                                .with_partition_indexes(partitions.clone())
                        })
                        .collect()
                }))
        })
        .await?;
    ClientError::check(response.error_code, format!("OffsetFetch {group}"))?;
    let mut committed: BTreeMap<String, BTreeMap<i32, i64>> = BTreeMap::new();
    for topic in &response.topics {
        for partition in &topic.partitions {
            ClientError::check(
                partition.error_code,
                format!(
                    "OffsetFetch {group} {}-{}",
                    topic.name.0, partition.partition_index
                ),
            )?;
            if partition.committed_offset >= 0 {
                committed
                    .entry(topic.name.0.to_string())
                    .or_default()
                    .insert(partition.partition_index, partition.committed_offset);
            }
        }
    }
    Ok(committed)
}

/// Kafka's `RangeAssignor`: member → topic → partitions.
pub fn range_assign(
    subscriptions: &BTreeMap<String, Vec<String>>,
    partition_counts: &BTreeMap<String, i32>,
) -> BTreeMap<String, BTreeMap<String, Vec<i32>>> {
    let mut plan: BTreeMap<String, BTreeMap<String, Vec<i32>>> = subscriptions
        .keys()
        .map(|member| (member.clone(), BTreeMap::new()))
        .collect();
    for (topic, &count) in partition_counts {
        let members: Vec<&String> = subscriptions
            .iter()
            .filter(|(_, topics)| topics.contains(topic))
            .map(|(member, _)| member)
            .collect();
        if members.is_empty() {
            continue;
        }
        let n = members.len() as i32;
        let (per_member, extra) = (count / n, count % n);
        for (i, member) in members.iter().enumerate() {
            let i = i as i32;
            let start = per_member * i + i.min(extra);
            let length = per_member + i32::from(i < extra);
            if let Some(assignment) = plan.get_mut(*member) {
                assignment.insert(topic.clone(), (start..start + length).collect());
            }
        }
    }
    plan
}

fn millis(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}

/// The consumer protocol's embedded messages carry their version first.
fn encode_versioned<M: Encodable>(message: &M, version: i16) -> ClientResult<Bytes> {
    let mut out = BytesMut::new();
    out.extend_from_slice(&version.to_be_bytes());
    message
        .encode(&mut out, version)
        .map_err(|e| ClientError::Protocol(format!("cannot encode the group metadata: {e}")))?;
    Ok(out.freeze())
}

fn read_version(data: &mut Bytes) -> ClientResult<i16> {
    if data.len() < 2 {
        return Err(ClientError::Protocol(
            "group metadata shorter than its version".to_string(),
        ));
    }
    let version = i16::from_be_bytes([data[0], data[1]]);
    let _ = data.split_to(2);
    // A newer version starts with the fields of the versions this client knows.
    Ok(version.clamp(0, 3))
}

pub fn decode_subscription(mut data: Bytes) -> ClientResult<Vec<String>> {
    let version = read_version(&mut data)?;
    let subscription = ConsumerProtocolSubscription::decode(&mut data, version)
        .map_err(|e| ClientError::Protocol(format!("a member's subscription: {e}")))?;
    Ok(subscription
        .topics
        .iter()
        .map(ToString::to_string)
        .collect())
}

pub fn decode_assignment(mut data: Bytes) -> ClientResult<BTreeMap<String, Vec<i32>>> {
    if data.is_empty() {
        return Ok(BTreeMap::new());
    }
    let version = read_version(&mut data)?;
    let assignment = ConsumerProtocolAssignment::decode(&mut data, version)
        .map_err(|e| ClientError::Protocol(format!("the member's assignment: {e}")))?;
    Ok(assignment
        .assigned_partitions
        .into_iter()
        .map(|tp| (tp.topic.0.to_string(), tp.partitions))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_gives_the_first_members_the_extra_partitions() {
        let subscriptions: BTreeMap<String, Vec<String>> = [
            ("a".to_string(), vec!["t".to_string()]),
            ("b".to_string(), vec!["t".to_string(), "u".to_string()]),
        ]
        .into();
        let counts: BTreeMap<String, i32> = [("t".to_string(), 5), ("u".to_string(), 2)].into();
        let plan = range_assign(&subscriptions, &counts);
        assert_eq!(plan["a"]["t"], vec![0, 1, 2]);
        assert_eq!(plan["b"]["t"], vec![3, 4]);
        assert_eq!(plan["b"]["u"], vec![0, 1]);
        assert!(!plan["a"].contains_key("u"));
    }

    #[test]
    fn assignments_round_trip_with_their_version() {
        let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            consumer_protocol_assignment::TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![1, 3]),
        ]);
        let bytes = encode_versioned(&assignment, 1).unwrap();
        let decoded = decode_assignment(bytes).unwrap();
        assert_eq!(decoded["t"], vec![1, 3]);
        assert!(decode_assignment(Bytes::new()).unwrap().is_empty());
    }
}
