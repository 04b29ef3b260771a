//! The classic group protocol as a pure state machine: every call takes the current time and
//! returns its effects — answers to parked requests and records to persist. No I/O, no
//! tokio, no wall clock; timers are deadlines that [`Coordinator::tick`] acts on.
//!
//! The rules follow Kafka's classic group coordinator (`GroupMetadataManager` and
//! `ClassicGroup` in Apache Kafka's group-coordinator module): join and sync phases,
//! MEMBER_ID_REQUIRED for new dynamic members, leader election among members who rejoined,
//! protocol choice by vote, static membership, session and rebalance timeouts.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;

use super::store::{GroupRecord, GroupSnapshot, MemberSnapshot};
use super::types::*;

/// Coordinator settings (Kafka's `group.*` and `offsets.*` broker configs).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub initial_rebalance_delay_ms: i64,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    /// How long offsets of an empty group are kept.
    pub offsets_retention_ms: i64,
    pub offsets_retention_check_interval_ms: i64,
    /// A new member whose join never completes is dropped after this long.
    pub new_member_join_timeout_ms: i64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 0,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offsets_retention_check_interval_ms: 600_000,
            new_member_join_timeout_ms: 300_000,
        }
    }
}

/// What a call did beyond its return value.
#[derive(Debug, Default, PartialEq)]
pub struct Effects {
    pub replies: Vec<Reply>,
    pub records: Vec<GroupRecord>,
}

#[derive(Debug, Clone)]
struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    awaiting_join: Option<ReplyId>,
    awaiting_sync: Option<ReplyId>,
    /// Joined but not yet through a completed join phase.
    is_new: bool,
    heartbeat_deadline_ms: i64,
}

impl Member {
    fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }

    fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// The member's most preferred protocol among the candidates.
    fn vote(&self, candidates: &HashSet<&str>) -> Option<String> {
        self.protocols
            .iter()
            .find(|(name, _)| candidates.contains(name.as_str()))
            .map(|(name, _)| name.clone())
    }
}

/// The initial-rebalance delay of a group formed from Empty (Kafka's
/// `group.initial.rebalance.delay.ms`): extended while new members keep arriving.
#[derive(Debug, Clone, Copy)]
struct InitialDelay {
    delay_ms: i64,
    remaining_ms: i64,
}

#[derive(Debug)]
struct Group {
    id: String,
    state: GroupState,
    previous_state: GroupState,
    state_timestamp_ms: i64,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    /// In join order: the first member to rejoin becomes leader when one is needed.
    members: Vec<Member>,
    static_members: HashMap<String, String>,
    /// New dynamic members told MEMBER_ID_REQUIRED, with the deadline to come back.
    pending_members: HashMap<String, i64>,
    pending_sync: HashSet<String>,
    sync_deadline_ms: Option<i64>,
    join_deadline_ms: Option<i64>,
    initial_delay: Option<InitialDelay>,
    new_member_added: bool,
    offsets: BTreeMap<(String, i32), CommittedOffset>,
}

impl Group {
    fn new(id: &str, now_ms: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            previous_state: GroupState::Empty,
            state_timestamp_ms: now_ms,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: Vec::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            pending_sync: HashSet::new(),
            sync_deadline_ms: None,
            join_deadline_ms: None,
            initial_delay: None,
            new_member_added: false,
            offsets: BTreeMap::new(),
        }
    }

    fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.previous_state = self.state;
        self.state = state;
        self.state_timestamp_ms = now_ms;
    }

    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    fn has_member(&self, id: &str) -> bool {
        self.member(id).is_some()
    }

    fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }

    fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .iter()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.iter().all(|m| m.awaiting_join.is_some())
    }

    fn can_rebalance(&self) -> bool {
        matches!(
            self.state,
            GroupState::Empty | GroupState::CompletingRebalance | GroupState::Stable
        )
    }

    /// Kafka's `supportsProtocols`: an empty group takes any non-empty protocol list; otherwise
    /// the type must match and one protocol must be supported by every member.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.state == GroupState::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(name, _)| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
    }

    fn select_protocol(&self) -> Option<String> {
        let first = self.members.first()?;
        let candidates: HashSet<&str> = first
            .protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
            .collect();
        let mut votes: Vec<(String, usize)> = Vec::new();
        for vote in self.members.iter().filter_map(|m| m.vote(&candidates)) {
            match votes.iter_mut().find(|(name, _)| *name == vote) {
                Some((_, count)) => *count += 1,
                None => votes.push((vote, 1)),
            }
        }
        // Most votes wins; ties go to the protocol voted for first.
        let best = votes.iter().map(|(_, count)| *count).max()?;
        votes
            .into_iter()
            .find(|(_, count)| *count == best)
            .map(|(name, _)| name)
    }

    /// Validates a member id (and instance id) against the group, as Kafka's `validateMember`.
    fn validate_member(&self, member: &MemberRef) -> Result<(), GroupError> {
        if let Some(instance) = &member.instance_id {
            match self.static_members.get(instance) {
                None => return Err(GroupError::UnknownMemberId),
                Some(existing) if *existing != member.member_id => {
                    return Err(GroupError::FencedInstanceId)
                }
                Some(_) => {}
            }
        }
        if self.has_member(&member.member_id) {
            Ok(())
        } else {
            Err(GroupError::UnknownMemberId)
        }
    }

    fn join_result_for(
        &self,
        member_id: &str,
        with_members: bool,
        skip_assignment: bool,
    ) -> JoinResult {
        JoinResult {
            error: None,
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            skip_assignment,
            member_id: member_id.to_string(),
            members: if with_members {
                self.current_members()
            } else {
                Vec::new()
            },
        }
    }

    fn current_members(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members
            .iter()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                metadata: m.metadata(&protocol),
            })
            .collect()
    }

    fn complete_join(&mut self, member_id: &str, result: JoinResult, fx: &mut Effects) {
        if let Some(member) = self.member_mut(member_id) {
            if let Some(reply) = member.awaiting_join.take() {
                fx.replies.push(Reply::Join(reply, result));
            }
        }
    }

    fn complete_sync(&mut self, member_id: &str, result: SyncResult, fx: &mut Effects) -> bool {
        if let Some(member) = self.member_mut(member_id) {
            if let Some(reply) = member.awaiting_sync.take() {
                fx.replies.push(Reply::Sync(reply, result));
                return true;
            }
        }
        false
    }

    fn remove_member(&mut self, member_id: &str) {
        if let Some(at) = self.members.iter().position(|m| m.id == member_id) {
            let member = self.members.remove(at);
            if let Some(instance) = &member.instance_id {
                if self.static_members.get(instance) == Some(&member.id) {
                    self.static_members.remove(instance);
                }
            }
            if self.is_leader(member_id) {
                self.leader = self.members.first().map(|m| m.id.clone());
            }
        }
        self.pending_members.remove(member_id);
        self.pending_sync.remove(member_id);
    }

    fn snapshot(&self) -> GroupSnapshot {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        GroupSnapshot {
            protocol_type: self.protocol_type.clone(),
            generation: self.generation,
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone(),
            state_timestamp_ms: self.state_timestamp_ms,
            members: self
                .members
                .iter()
                .map(|m| MemberSnapshot {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    subscription: m.metadata(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    fn persist(&self, fx: &mut Effects) {
        fx.records.push(GroupRecord::Group {
            group: self.id.clone(),
            value: Some(self.snapshot()),
        });
    }
}

/// All groups of the broker and their committed offsets.
#[derive(Debug, Default)]
pub struct Coordinator {
    config: GroupConfig,
    groups: HashMap<String, Group>,
    next_retention_check_ms: i64,
}

impl Coordinator {
    pub fn new(config: GroupConfig) -> Coordinator {
        Coordinator {
            config,
            ..Coordinator::default()
        }
    }

    /// Rebuilds the coordinator from persisted records, in log order. Groups that had members
    /// come back Stable with their assignments; each member gets a fresh session to heartbeat.
    pub fn restore(config: GroupConfig, records: Vec<GroupRecord>, now_ms: i64) -> Coordinator {
        let mut coordinator = Coordinator::new(config);
        for record in records {
            match record {
                GroupRecord::Offset {
                    group,
                    topic,
                    partition,
                    value,
                } => {
                    let entry = coordinator
                        .groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now_ms));
                    match value {
                        Some(offset) => {
                            entry.offsets.insert((topic, partition), offset);
                        }
                        None => {
                            entry.offsets.remove(&(topic, partition));
                        }
                    }
                }
                GroupRecord::Group { group, value: None } => {
                    coordinator.groups.remove(&group);
                }
                GroupRecord::Group {
                    group,
                    value: Some(snapshot),
                } => {
                    let entry = coordinator
                        .groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now_ms));
                    apply_snapshot(entry, snapshot, now_ms);
                }
            }
        }
        coordinator
    }

    /// Every live group and offset as records: what a compacted store holds.
    pub fn snapshot_records(&self) -> Vec<GroupRecord> {
        let mut records = Vec::new();
        for group in self.groups.values() {
            records.push(GroupRecord::Group {
                group: group.id.clone(),
                value: Some(group.snapshot()),
            });
            for ((topic, partition), offset) in &group.offsets {
                records.push(GroupRecord::Offset {
                    group: group.id.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                    value: Some(offset.clone()),
                });
            }
        }
        records
    }

    pub fn join(&mut self, request: JoinRequest, reply: ReplyId, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        let failed = |fx: &mut Effects, error| {
            fx.replies.push(Reply::Join(
                reply,
                JoinResult::failed(&request.member_id, error),
            ));
        };
        if request.group_id.is_empty() {
            failed(&mut fx, GroupError::InvalidGroupId);
            return fx;
        }
        if request.session_timeout_ms < self.config.min_session_timeout_ms
            || request.session_timeout_ms > self.config.max_session_timeout_ms
        {
            failed(&mut fx, GroupError::InvalidSessionTimeout);
            return fx;
        }
        let unknown_member = request.member_id.is_empty();
        if !unknown_member && !self.groups.contains_key(&request.group_id) {
            failed(&mut fx, GroupError::UnknownMemberId);
            return fx;
        }
        let config = self.config.clone();
        let group = self
            .groups
            .entry(request.group_id.clone())
            .or_insert_with(|| Group::new(&request.group_id, now_ms));
        if !group.supports_protocols(&request.protocol_type, &request.protocols) {
            let member_id = if unknown_member {
                ""
            } else {
                request.member_id.as_str()
            };
            fx.replies.push(Reply::Join(
                reply,
                JoinResult::failed(member_id, GroupError::InconsistentGroupProtocol),
            ));
            return fx;
        }
        if unknown_member {
            join_new_member(group, request, reply, &config, now_ms, &mut fx);
        } else {
            join_existing_member(group, request, reply, &config, now_ms, &mut fx);
        }
        fx
    }

    pub fn sync(&mut self, request: SyncRequest, reply: ReplyId, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            fx.replies.push(Reply::Sync(
                reply,
                SyncResult::failed(GroupError::UnknownMemberId),
            ));
            return fx;
        };
        let member = MemberRef {
            member_id: request.member_id.clone(),
            instance_id: request.instance_id.clone(),
        };
        let inconsistent = |asked: &Option<String>, ours: &Option<String>| matches!((asked, ours), (Some(a), Some(o)) if a != o);
        let error = if group.state == GroupState::Dead {
            Some(GroupError::CoordinatorNotAvailable)
        } else if let Err(e) = group.validate_member(&member) {
            Some(e)
        } else if request.generation_id != group.generation {
            Some(GroupError::IllegalGeneration)
        } else if inconsistent(&request.protocol_type, &group.protocol_type)
            || inconsistent(&request.protocol_name, &group.protocol_name)
        {
            Some(GroupError::InconsistentGroupProtocol)
        } else {
            match group.state {
                GroupState::Empty => Some(GroupError::UnknownMemberId),
                GroupState::PreparingRebalance => Some(GroupError::RebalanceInProgress),
                _ => None,
            }
        };
        if let Some(error) = error {
            fx.replies
                .push(Reply::Sync(reply, SyncResult::failed(error)));
            return fx;
        }
        group.pending_sync.remove(&request.member_id);
        if group.pending_sync.is_empty() {
            group.sync_deadline_ms = None;
        }
        match group.state {
            GroupState::CompletingRebalance => {
                if let Some(m) = group.member_mut(&request.member_id) {
                    m.awaiting_sync = Some(reply);
                }
                if group.is_leader(&request.member_id) {
                    let assignments: HashMap<String, Bytes> =
                        request.assignments.into_iter().collect();
                    for m in &mut group.members {
                        m.assignment = assignments.get(&m.id).cloned().unwrap_or_default();
                    }
                    group.transition(GroupState::Stable, now_ms);
                    group.persist(&mut fx);
                    propagate_assignment(group, now_ms, &mut fx);
                }
            }
            GroupState::Stable => {
                let assignment = group
                    .member(&request.member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                fx.replies.push(Reply::Sync(
                    reply,
                    SyncResult {
                        error: None,
                        protocol_type: group.protocol_type.clone(),
                        protocol_name: group.protocol_name.clone(),
                        assignment,
                    },
                ));
            }
            _ => {}
        }
        fx
    }

    pub fn heartbeat(
        &mut self,
        group_id: &str,
        generation_id: i32,
        member: &MemberRef,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        let group = self
            .groups
            .get_mut(group_id)
            .ok_or(GroupError::UnknownMemberId)?;
        if group.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        group.validate_member(member)?;
        if generation_id != group.generation {
            return Err(GroupError::IllegalGeneration);
        }
        let state = group.state;
        if state == GroupState::Empty {
            return Err(GroupError::UnknownMemberId);
        }
        if let Some(m) = group.member_mut(&member.member_id) {
            m.heartbeat_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
        }
        match state {
            GroupState::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// Removes members (by member id, or by instance id with an empty member id). Returns
    /// each member's outcome.
    pub fn leave(
        &mut self,
        group_id: &str,
        leaving: &[MemberRef],
        now_ms: i64,
    ) -> Result<(Vec<Option<GroupError>>, Effects), GroupError> {
        let mut fx = Effects::default();
        let group = self
            .groups
            .get_mut(group_id)
            .ok_or(GroupError::UnknownMemberId)?;
        if group.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let mut outcomes = Vec::with_capacity(leaving.len());
        let mut anyone_left = false;
        for member in leaving {
            let outcome = if member.member_id.is_empty() {
                match member
                    .instance_id
                    .as_ref()
                    .and_then(|i| group.static_members.get(i).cloned())
                {
                    Some(member_id) => {
                        remove_current_member(group, &member_id, &mut fx);
                        None
                    }
                    None => Some(GroupError::UnknownMemberId),
                }
            } else if group.pending_members.remove(&member.member_id).is_some() {
                None
            } else {
                match group.validate_member(member) {
                    Ok(()) => {
                        remove_current_member(group, &member.member_id, &mut fx);
                        None
                    }
                    Err(e) => Some(e),
                }
            };
            anyone_left |= outcome.is_none();
            outcomes.push(outcome);
        }
        if anyone_left {
            match group.state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    maybe_prepare_rebalance(group, &self.config, now_ms, &mut fx)
                }
                GroupState::PreparingRebalance => maybe_complete_join(group, now_ms, &mut fx),
                _ => {}
            }
        }
        Ok((outcomes, fx))
    }

    /// Checks that a commit is allowed (Kafka's `validateOffsetCommit`), then stores it.
    pub fn commit(
        &mut self,
        group_id: &str,
        generation_id: i32,
        member: &MemberRef,
        offsets: Vec<OffsetToCommit>,
        now_ms: i64,
    ) -> Result<Effects, GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let group = match self.groups.get_mut(group_id) {
            Some(group) => group,
            None if generation_id < 0 => self
                .groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new(group_id, now_ms)),
            None => return Err(GroupError::IllegalGeneration),
        };
        if group.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let simple_commit = generation_id < 0 && group.state == GroupState::Empty;
        if !simple_commit {
            if generation_id >= 0 || !member.member_id.is_empty() || member.instance_id.is_some() {
                group.validate_member(member)?;
                if generation_id != group.generation {
                    return Err(GroupError::IllegalGeneration);
                }
            } else if group.state != GroupState::Empty {
                return Err(GroupError::UnknownMemberId);
            }
            if group.state == GroupState::CompletingRebalance {
                return Err(GroupError::RebalanceInProgress);
            }
        }
        let mut fx = Effects::default();
        for o in offsets {
            let value = CommittedOffset {
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: o.metadata,
                commit_timestamp_ms: now_ms,
            };
            fx.records.push(GroupRecord::Offset {
                group: group_id.to_string(),
                topic: o.topic.clone(),
                partition: o.partition,
                value: Some(value.clone()),
            });
            group.offsets.insert((o.topic, o.partition), value);
        }
        Ok(fx)
    }

    /// Committed offsets of a group: the given partitions (unknown ones as `None`), or all.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[(String, i32)]>,
    ) -> Vec<(String, i32, Option<CommittedOffset>)> {
        let group = self.groups.get(group_id);
        match partitions {
            Some(partitions) => partitions
                .iter()
                .map(|(topic, partition)| {
                    let offset =
                        group.and_then(|g| g.offsets.get(&(topic.clone(), *partition)).cloned());
                    (topic.clone(), *partition, offset)
                })
                .collect(),
            None => group
                .map(|g| {
                    g.offsets
                        .iter()
                        .map(|((t, p), o)| (t.clone(), *p, Some(o.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Drops every group's committed offsets of a deleted topic, as Kafka does.
    pub fn forget_topic(&mut self, topic: &str) -> Effects {
        let mut fx = Effects::default();
        for group in self.groups.values_mut() {
            let gone: Vec<i32> = group
                .offsets
                .keys()
                .filter(|(t, _)| t == topic)
                .map(|(_, p)| *p)
                .collect();
            for partition in gone {
                group.offsets.remove(&(topic.to_string(), partition));
                fx.records.push(GroupRecord::Offset {
                    group: group.id.clone(),
                    topic: topic.to_string(),
                    partition,
                    value: None,
                });
            }
        }
        fx
    }

    /// Every committed offset: (group, topic, partition, offset).
    pub fn all_offsets(&self) -> Vec<(String, String, i32, i64)> {
        self.groups
            .values()
            .flat_map(|g| {
                g.offsets
                    .iter()
                    .map(|((t, p), o)| (g.id.clone(), t.clone(), *p, o.offset))
            })
            .collect()
    }

    pub fn describe(&self, group_id: &str) -> GroupDescription {
        let Some(group) = self.groups.get(group_id) else {
            return GroupDescription {
                group_id: group_id.to_string(),
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol_name: String::new(),
                members: Vec::new(),
            };
        };
        let protocol = group.protocol_name.clone().unwrap_or_default();
        let stable = group.state == GroupState::Stable;
        GroupDescription {
            group_id: group.id.clone(),
            state: group.state,
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol_name: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: group
                .members
                .iter()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        }
    }

    pub fn list(&self) -> Vec<GroupListing> {
        let mut listings: Vec<GroupListing> = self
            .groups
            .values()
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect();
        listings.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        listings
    }

    /// Deletes an empty group and its offsets.
    pub fn delete_group(&mut self, group_id: &str) -> Result<Effects, GroupError> {
        let group = self
            .groups
            .get(group_id)
            .ok_or(GroupError::GroupIdNotFound)?;
        match group.state {
            GroupState::Dead => return Err(GroupError::GroupIdNotFound),
            GroupState::Empty => {}
            _ => return Err(GroupError::NonEmptyGroup),
        }
        let mut fx = Effects::default();
        if let Some(group) = self.groups.remove(group_id) {
            for (topic, partition) in group.offsets.keys() {
                fx.records.push(GroupRecord::Offset {
                    group: group_id.to_string(),
                    topic: topic.clone(),
                    partition: *partition,
                    value: None,
                });
            }
        }
        fx.records.push(GroupRecord::Group {
            group: group_id.to_string(),
            value: None,
        });
        Ok(fx)
    }

    /// Deletes committed offsets (OffsetDelete); the caller has excluded subscribed topics.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Effects, GroupError> {
        let group = self
            .groups
            .get_mut(group_id)
            .ok_or(GroupError::GroupIdNotFound)?;
        if group.state == GroupState::Dead {
            return Err(GroupError::GroupIdNotFound);
        }
        if group.state != GroupState::Empty && group.protocol_type.as_deref() != Some("consumer") {
            return Err(GroupError::NonEmptyGroup);
        }
        let mut fx = Effects::default();
        for (topic, partition) in partitions {
            if group.offsets.remove(&(topic.clone(), *partition)).is_some() {
                fx.records.push(GroupRecord::Offset {
                    group: group_id.to_string(),
                    topic: topic.clone(),
                    partition: *partition,
                    value: None,
                });
            }
        }
        Ok(fx)
    }

    /// The earliest deadline at which [`Coordinator::tick`] has work, if any.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let groups = self.groups.values().flat_map(|g| {
            let members = g.members.iter().map(|m| m.heartbeat_deadline_ms);
            let pending = g.pending_members.values().copied();
            members
                .chain(pending)
                .chain(g.join_deadline_ms)
                .chain(g.sync_deadline_ms)
        });
        let retention = (!self.groups.is_empty()).then_some(self.next_retention_check_ms);
        groups.chain(retention).min()
    }

    /// Acts on every deadline that has passed: expired sessions, join and sync phases that
    /// ran out of time, and offset retention.
    pub fn tick(&mut self, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        let config = self.config.clone();
        for group in self.groups.values_mut() {
            expire_members(group, &config, now_ms, &mut fx);
            if group.join_deadline_ms.is_some_and(|d| d <= now_ms) {
                group.join_deadline_ms = None;
                on_join_deadline(group, &config, now_ms, &mut fx);
            }
            if group.sync_deadline_ms.is_some_and(|d| d <= now_ms) {
                group.sync_deadline_ms = None;
                expire_pending_sync(group, &config, now_ms, &mut fx);
            }
        }
        if self.next_retention_check_ms == 0 {
            // The first check comes one interval after the coordinator's first tick.
            self.next_retention_check_ms = now_ms + config.offsets_retention_check_interval_ms;
        } else if now_ms >= self.next_retention_check_ms {
            self.next_retention_check_ms = now_ms + config.offsets_retention_check_interval_ms;
            self.expire_offsets(now_ms, &mut fx);
        }
        fx
    }

    fn expire_offsets(&mut self, now_ms: i64, fx: &mut Effects) {
        let retention_ms = self.config.offsets_retention_ms;
        let mut emptied = Vec::new();
        for group in self.groups.values_mut() {
            // As Kafka: offsets of an empty group expire a retention period after it became
            // empty; a group without a protocol (manual assignment) by each commit's time.
            let since_empty = match (&group.protocol_type, group.state) {
                (None, _) => None,
                (Some(_), GroupState::Empty) => Some(group.state_timestamp_ms),
                _ => continue,
            };
            let expired: Vec<(String, i32)> = group
                .offsets
                .iter()
                .filter(|(_, o)| {
                    since_empty.unwrap_or(o.commit_timestamp_ms) + retention_ms <= now_ms
                })
                .map(|(key, _)| key.clone())
                .collect();
            for (topic, partition) in expired {
                group.offsets.remove(&(topic.clone(), partition));
                fx.records.push(GroupRecord::Offset {
                    group: group.id.clone(),
                    topic,
                    partition,
                    value: None,
                });
            }
            if group.state == GroupState::Empty
                && group.offsets.is_empty()
                && group.members.is_empty()
                && group.pending_members.is_empty()
            {
                emptied.push(group.id.clone());
            }
        }
        for id in emptied {
            self.groups.remove(&id);
            fx.records.push(GroupRecord::Group {
                group: id,
                value: None,
            });
        }
    }
}

fn apply_snapshot(group: &mut Group, snapshot: GroupSnapshot, now_ms: i64) {
    group.generation = snapshot.generation;
    group.protocol_type = snapshot.protocol_type;
    group.protocol_name = snapshot.protocol_name.clone();
    group.leader = snapshot.leader;
    group.state_timestamp_ms = snapshot.state_timestamp_ms;
    let protocol = snapshot.protocol_name.unwrap_or_default();
    group.members = snapshot
        .members
        .into_iter()
        .map(|m| Member {
            heartbeat_deadline_ms: now_ms + i64::from(m.session_timeout_ms),
            id: m.member_id,
            instance_id: m.instance_id,
            client_id: m.client_id,
            client_host: m.client_host,
            session_timeout_ms: m.session_timeout_ms,
            rebalance_timeout_ms: m.rebalance_timeout_ms,
            protocols: vec![(protocol.clone(), m.subscription)],
            assignment: m.assignment,
            awaiting_join: None,
            awaiting_sync: None,
            is_new: false,
        })
        .collect();
    group.static_members = group
        .members
        .iter()
        .filter_map(|m| Some((m.instance_id.clone()?, m.id.clone())))
        .collect();
    group.state = if group.members.is_empty() {
        GroupState::Empty
    } else {
        GroupState::Stable
    };
    group.previous_state = group.state;
}

fn new_member_id(client_id: &str, instance_id: Option<&str>) -> String {
    format!(
        "{}-{}",
        instance_id.unwrap_or(client_id),
        uuid::Uuid::new_v4()
    )
}

fn join_new_member(
    group: &mut Group,
    request: JoinRequest,
    reply: ReplyId,
    config: &GroupConfig,
    now_ms: i64,
    fx: &mut Effects,
) {
    if group.state == GroupState::Dead {
        fx.replies.push(Reply::Join(
            reply,
            JoinResult::failed("", GroupError::CoordinatorNotAvailable),
        ));
        return;
    }
    let member_id = new_member_id(&request.client_id, request.instance_id.as_deref());
    match request.instance_id.clone() {
        Some(instance) => match group.static_members.get(&instance).cloned() {
            Some(old_id) => update_static_member(
                group, request, reply, &old_id, member_id, config, now_ms, fx,
            ),
            None => add_member(group, request, reply, member_id, config, now_ms, fx),
        },
        None if request.requires_known_member_id => {
            group.pending_members.insert(
                member_id.clone(),
                now_ms + i64::from(request.session_timeout_ms),
            );
            fx.replies.push(Reply::Join(
                reply,
                JoinResult::failed(&member_id, GroupError::MemberIdRequired),
            ));
        }
        None => add_member(group, request, reply, member_id, config, now_ms, fx),
    }
}

fn join_existing_member(
    group: &mut Group,
    request: JoinRequest,
    reply: ReplyId,
    config: &GroupConfig,
    now_ms: i64,
    fx: &mut Effects,
) {
    let member_id = request.member_id.clone();
    if group.state == GroupState::Dead {
        fx.replies.push(Reply::Join(
            reply,
            JoinResult::failed(&member_id, GroupError::CoordinatorNotAvailable),
        ));
        return;
    }
    if group.pending_members.remove(&member_id).is_some() {
        add_member(group, request, reply, member_id, config, now_ms, fx);
        return;
    }
    let identity = MemberRef {
        member_id: member_id.clone(),
        instance_id: request.instance_id.clone(),
    };
    if let Err(error) = group.validate_member(&identity) {
        fx.replies
            .push(Reply::Join(reply, JoinResult::failed(&member_id, error)));
        return;
    }
    let unchanged = group
        .member(&member_id)
        .is_some_and(|m| m.matches(&request.protocols));
    match group.state {
        GroupState::PreparingRebalance => {
            update_member(group, &request, reply, now_ms);
            maybe_prepare_rebalance(group, config, now_ms, fx);
        }
        GroupState::CompletingRebalance if unchanged => {
            let is_leader = group.is_leader(&member_id);
            fx.replies.push(Reply::Join(
                reply,
                group.join_result_for(&member_id, is_leader, false),
            ));
        }
        GroupState::Stable if unchanged && !group.is_leader(&member_id) => {
            fx.replies.push(Reply::Join(
                reply,
                group.join_result_for(&member_id, false, false),
            ));
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            update_member(group, &request, reply, now_ms);
            maybe_prepare_rebalance(group, config, now_ms, fx);
        }
        GroupState::Empty | GroupState::Dead => {
            fx.replies.push(Reply::Join(
                reply,
                JoinResult::failed(&member_id, GroupError::UnknownMemberId),
            ));
        }
    }
}

fn update_member(group: &mut Group, request: &JoinRequest, reply: ReplyId, now_ms: i64) {
    if let Some(m) = group.member_mut(&request.member_id) {
        m.protocols = request.protocols.clone();
        m.rebalance_timeout_ms = request.rebalance_timeout_ms;
        m.session_timeout_ms = request.session_timeout_ms;
        m.awaiting_join = Some(reply);
        m.heartbeat_deadline_ms = now_ms + i64::from(request.session_timeout_ms);
    }
}

fn add_member(
    group: &mut Group,
    request: JoinRequest,
    reply: ReplyId,
    member_id: String,
    config: &GroupConfig,
    now_ms: i64,
    fx: &mut Effects,
) {
    if group.state == GroupState::PreparingRebalance && group.previous_state == GroupState::Empty {
        group.new_member_added = true;
    }
    if group.members.is_empty() {
        group.protocol_type = Some(request.protocol_type.clone());
    }
    if let Some(instance) = &request.instance_id {
        group
            .static_members
            .insert(instance.clone(), member_id.clone());
    }
    if group.leader.is_none() {
        group.leader = Some(member_id.clone());
    }
    group.members.push(Member {
        id: member_id,
        instance_id: request.instance_id,
        client_id: request.client_id,
        client_host: request.client_host,
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        protocols: request.protocols,
        assignment: Bytes::new(),
        awaiting_join: Some(reply),
        awaiting_sync: None,
        is_new: true,
        // A new member cannot heartbeat until its join completes.
        heartbeat_deadline_ms: now_ms + config.new_member_join_timeout_ms,
    });
    maybe_prepare_rebalance(group, config, now_ms, fx);
}

#[allow(clippy::too_many_arguments)]
fn update_static_member(
    group: &mut Group,
    request: JoinRequest,
    reply: ReplyId,
    old_id: &str,
    new_id: String,
    config: &GroupConfig,
    now_ms: i64,
    fx: &mut Effects,
) {
    // The old incarnation is fenced: its parked requests are answered so.
    group.complete_join(
        old_id,
        JoinResult::failed(old_id, GroupError::FencedInstanceId),
        fx,
    );
    group.complete_sync(old_id, SyncResult::failed(GroupError::FencedInstanceId), fx);
    let previous_leader = group.leader.clone();
    if let Some(m) = group.member_mut(old_id) {
        m.id = new_id.clone();
    }
    if group.is_leader(old_id) {
        group.leader = Some(new_id.clone());
    }
    group.pending_sync.remove(old_id);
    if let Some(instance) = &request.instance_id {
        group
            .static_members
            .insert(instance.clone(), new_id.clone());
    }
    let mut renamed = request.clone();
    renamed.member_id = new_id.clone();
    update_member(group, &renamed, reply, now_ms);

    match group.state {
        GroupState::Stable => {
            let protocol_unchanged = group.select_protocol() == group.protocol_name;
            if protocol_unchanged {
                // A static member back within its session keeps its assignment: no rebalance.
                group.persist(fx);
                let is_leader = group.is_leader(&new_id);
                let result = if request.supports_skip_assignment {
                    group.join_result_for(&new_id, is_leader, is_leader)
                } else {
                    let mut result = group.join_result_for(&new_id, false, false);
                    result.leader = previous_leader.unwrap_or_default();
                    result
                };
                group.complete_join(&new_id, result, fx);
            } else {
                maybe_prepare_rebalance(group, config, now_ms, fx);
            }
        }
        GroupState::CompletingRebalance => prepare_rebalance(group, config, now_ms, fx),
        _ => maybe_complete_join(group, now_ms, fx),
    }
}

fn remove_current_member(group: &mut Group, member_id: &str, fx: &mut Effects) {
    group.complete_join(
        member_id,
        JoinResult::failed("", GroupError::UnknownMemberId),
        fx,
    );
    group.remove_member(member_id);
}

fn maybe_prepare_rebalance(group: &mut Group, config: &GroupConfig, now_ms: i64, fx: &mut Effects) {
    if group.can_rebalance() {
        prepare_rebalance(group, config, now_ms, fx);
    } else {
        maybe_complete_join(group, now_ms, fx);
    }
}

/// Completes the join phase early once everyone is in — but not during the initial delay.
fn maybe_complete_join(group: &mut Group, now_ms: i64, fx: &mut Effects) {
    if group.state == GroupState::PreparingRebalance
        && group.all_members_joined()
        && group.previous_state != GroupState::Empty
    {
        complete_join_phase(group, now_ms, fx);
    }
}

fn prepare_rebalance(group: &mut Group, config: &GroupConfig, now_ms: i64, fx: &mut Effects) {
    if group.state == GroupState::CompletingRebalance {
        for m in &mut group.members {
            m.assignment = Bytes::new();
        }
        let ids: Vec<String> = group.members.iter().map(|m| m.id.clone()).collect();
        for id in ids {
            group.complete_sync(&id, SyncResult::failed(GroupError::RebalanceInProgress), fx);
        }
    }
    group.pending_sync.clear();
    group.sync_deadline_ms = None;
    let initial = group.state == GroupState::Empty;
    group.transition(GroupState::PreparingRebalance, now_ms);
    if initial {
        let delay_ms = config.initial_rebalance_delay_ms;
        group.initial_delay = Some(InitialDelay {
            delay_ms,
            remaining_ms: (group.rebalance_timeout_ms() - delay_ms).max(0),
        });
        group.new_member_added = false;
        group.join_deadline_ms = Some(now_ms + delay_ms);
    } else {
        group.initial_delay = None;
        if group.all_members_joined() {
            complete_join_phase(group, now_ms, fx);
        } else {
            group.join_deadline_ms = Some(now_ms + group.rebalance_timeout_ms());
        }
    }
}

fn on_join_deadline(group: &mut Group, config: &GroupConfig, now_ms: i64, fx: &mut Effects) {
    if group.state != GroupState::PreparingRebalance {
        return;
    }
    if let Some(delay) = group.initial_delay {
        if group.new_member_added && delay.remaining_ms != 0 {
            // New members keep arriving: give them another delay, within the rebalance timeout.
            group.new_member_added = false;
            let next_delay = config.initial_rebalance_delay_ms.min(delay.remaining_ms);
            group.initial_delay = Some(InitialDelay {
                delay_ms: next_delay,
                remaining_ms: (delay.remaining_ms - delay.delay_ms).max(0),
            });
            group.join_deadline_ms = Some(now_ms + next_delay);
            return;
        }
    }
    complete_join_phase(group, now_ms, fx);
}

/// Ends the join phase: drops dynamic members that did not rejoin, elects a leader among
/// those who did, starts the next generation and answers every parked JoinGroup.
fn complete_join_phase(group: &mut Group, now_ms: i64, fx: &mut Effects) {
    group.join_deadline_ms = None;
    group.initial_delay = None;
    let gone: Vec<String> = group
        .members
        .iter()
        .filter(|m| m.awaiting_join.is_none() && m.instance_id.is_none())
        .map(|m| m.id.clone())
        .collect();
    for id in gone {
        group.remove_member(&id);
    }
    let leader_rejoined = group
        .leader
        .as_ref()
        .and_then(|l| group.member(l))
        .is_some_and(|m| m.awaiting_join.is_some());
    if !leader_rejoined {
        group.leader = group
            .members
            .iter()
            .find(|m| m.awaiting_join.is_some())
            .map(|m| m.id.clone());
    }
    if group.leader.is_none() && !group.members.is_empty() {
        // Nobody rejoined (only static members remain): wait another rebalance timeout for
        // their sessions to expire.
        group.join_deadline_ms = Some(now_ms + group.rebalance_timeout_ms());
        return;
    }
    group.generation += 1;
    group.pending_sync.clear();
    if group.members.is_empty() {
        group.protocol_name = None;
        group.leader = None;
        group.transition(GroupState::Empty, now_ms);
        group.persist(fx);
        return;
    }
    group.protocol_name = group.select_protocol();
    group.transition(GroupState::CompletingRebalance, now_ms);
    let ids: Vec<String> = group.members.iter().map(|m| m.id.clone()).collect();
    for id in &ids {
        let result = group.join_result_for(id, group.is_leader(id), false);
        group.complete_join(id, result, fx);
        if let Some(m) = group.member_mut(id) {
            m.is_new = false;
            m.heartbeat_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
        }
        group.pending_sync.insert(id.clone());
    }
    group.sync_deadline_ms = Some(now_ms + group.rebalance_timeout_ms());
}

/// Answers every parked SyncGroup with its member's assignment.
fn propagate_assignment(group: &mut Group, now_ms: i64, fx: &mut Effects) {
    let ids: Vec<String> = group.members.iter().map(|m| m.id.clone()).collect();
    for id in ids {
        let result = SyncResult {
            error: None,
            protocol_type: group.protocol_type.clone(),
            protocol_name: group.protocol_name.clone(),
            assignment: group
                .member(&id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        };
        if group.complete_sync(&id, result, fx) {
            if let Some(m) = group.member_mut(&id) {
                m.heartbeat_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
            }
        }
    }
}

fn expire_members(group: &mut Group, config: &GroupConfig, now_ms: i64, fx: &mut Effects) {
    let expired_pending: Vec<String> = group
        .pending_members
        .iter()
        .filter(|(_, &deadline)| deadline <= now_ms)
        .map(|(id, _)| id.clone())
        .collect();
    for id in expired_pending {
        group.pending_members.remove(&id);
        maybe_complete_join_after_removal(group, now_ms, fx);
    }
    let expired: Vec<String> = group
        .members
        .iter()
        .filter(|m| m.heartbeat_deadline_ms <= now_ms)
        .map(|m| m.id.clone())
        .collect();
    for id in expired {
        let Some(member) = group.member_mut(&id) else {
            continue;
        };
        let waiting = member.awaiting_join.is_some() || member.awaiting_sync.is_some();
        if waiting && !member.is_new {
            // Parked in a join or sync: its session resumes when the phase ends.
            member.heartbeat_deadline_ms = now_ms + i64::from(member.session_timeout_ms);
            continue;
        }
        tracing::info!(group = %group.id, member = %id, "member session expired");
        group.complete_join(&id, JoinResult::failed("", GroupError::UnknownMemberId), fx);
        group.remove_member(&id);
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                maybe_prepare_rebalance(group, config, now_ms, fx)
            }
            GroupState::PreparingRebalance => maybe_complete_join_after_removal(group, now_ms, fx),
            _ => {}
        }
    }
}

fn maybe_complete_join_after_removal(group: &mut Group, now_ms: i64, fx: &mut Effects) {
    if group.state == GroupState::PreparingRebalance && group.all_members_joined() {
        complete_join_phase(group, now_ms, fx);
    }
}

fn expire_pending_sync(group: &mut Group, config: &GroupConfig, now_ms: i64, fx: &mut Effects) {
    if !matches!(
        group.state,
        GroupState::CompletingRebalance | GroupState::Stable
    ) || group.pending_sync.is_empty()
    {
        return;
    }
    let missing: Vec<String> = group.pending_sync.drain().collect();
    tracing::info!(group = %group.id, members = ?missing, "members did not sync in time");
    for id in missing {
        group.remove_member(&id);
    }
    prepare_rebalance(group, config, now_ms, fx);
}
