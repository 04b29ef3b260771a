//! A group and its members as the coordinator holds them, with the queries and small
//! mutations every phase of the protocol shares.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;

use super::super::records::{GroupRecord, GroupSnapshot, MemberSnapshot};
use super::super::types::*;
use super::Effects;

#[derive(Debug, Clone)]
pub(super) struct Member {
    pub(super) id: String,
    pub(super) instance_id: Option<String>,
    pub(super) client_id: String,
    pub(super) client_host: String,
    pub(super) session_timeout_ms: i32,
    pub(super) rebalance_timeout_ms: i32,
    pub(super) protocols: Vec<(String, Bytes)>,
    pub(super) assignment: Bytes,
    pub(super) awaiting_join: Option<ReplyId>,
    pub(super) awaiting_sync: Option<ReplyId>,
    /// Joined but not yet through a completed join phase.
    pub(super) is_new: bool,
    pub(super) heartbeat_deadline_ms: i64,
}

impl Member {
    pub(super) fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }

    pub(super) fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// The member's most preferred protocol among the candidates.
    pub(super) fn vote(&self, candidates: &HashSet<&str>) -> Option<String> {
        self.protocols
            .iter()
            .find(|(name, _)| candidates.contains(name.as_str()))
            .map(|(name, _)| name.clone())
    }
}

/// The initial-rebalance delay of a group formed from Empty (Kafka's
/// `group.initial.rebalance.delay.ms`): extended while new members keep arriving.
#[derive(Debug, Clone, Copy)]
pub(super) struct InitialDelay {
    pub(super) delay_ms: i64,
    pub(super) remaining_ms: i64,
}

#[derive(Debug)]
pub(super) struct Group {
    pub(super) id: String,
    pub(super) state: GroupState,
    pub(super) previous_state: GroupState,
    pub(super) state_timestamp_ms: i64,
    pub(super) generation: i32,
    pub(super) protocol_type: Option<String>,
    pub(super) protocol_name: Option<String>,
    pub(super) leader: Option<String>,
    /// In join order: the first member to rejoin becomes leader when one is needed.
    pub(super) members: Vec<Member>,
    pub(super) static_members: HashMap<String, String>,
    /// New dynamic members told MEMBER_ID_REQUIRED, with the deadline to come back.
    pub(super) pending_members: HashMap<String, i64>,
    pub(super) pending_sync: HashSet<String>,
    pub(super) sync_deadline_ms: Option<i64>,
    pub(super) join_deadline_ms: Option<i64>,
    pub(super) initial_delay: Option<InitialDelay>,
    pub(super) new_member_added: bool,
    pub(super) offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// Offsets open transactions committed, by producer id: visible once the transaction
    /// commits.
    pub(super) pending_txn_offsets: HashMap<i64, BTreeMap<(String, i32), CommittedOffset>>,
}

impl Group {
    /// The earliest of the group's timers: member sessions, new members' joins, and the join
    /// and sync phases.
    pub(super) fn next_deadline_ms(&self) -> Option<i64> {
        let members = self.members.iter().map(|m| m.heartbeat_deadline_ms);
        let pending = self.pending_members.values().copied();
        members
            .chain(pending)
            .chain(self.join_deadline_ms)
            .chain(self.sync_deadline_ms)
            .min()
    }

    pub(super) fn new(id: &str, now_ms: i64) -> Group {
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
            pending_txn_offsets: HashMap::new(),
        }
    }

    pub(super) fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.previous_state = self.state;
        self.state = state;
        self.state_timestamp_ms = now_ms;
    }

    pub(super) fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    pub(super) fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    fn has_member(&self, id: &str) -> bool {
        self.member(id).is_some()
    }

    pub(super) fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }

    pub(super) fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .iter()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    pub(super) fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.iter().all(|m| m.awaiting_join.is_some())
    }

    pub(super) fn can_rebalance(&self) -> bool {
        matches!(
            self.state,
            GroupState::Empty | GroupState::CompletingRebalance | GroupState::Stable
        )
    }

    /// Kafka's `supportsProtocols`: an empty group takes any non-empty protocol list; otherwise
    /// the type must match and one protocol must be supported by every member.
    pub(super) fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
    ) -> bool {
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

    pub(super) fn select_protocol(&self) -> Option<String> {
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
    pub(super) fn validate_member(&self, member: &MemberRef) -> Result<(), GroupError> {
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

    pub(super) fn join_result_for(
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

    pub(super) fn complete_join(&mut self, member_id: &str, result: JoinResult, fx: &mut Effects) {
        if let Some(member) = self.member_mut(member_id) {
            if let Some(reply) = member.awaiting_join.take() {
                fx.replies.push(Reply::Join(reply, result));
            }
        }
    }

    pub(super) fn complete_sync(
        &mut self,
        member_id: &str,
        result: SyncResult,
        fx: &mut Effects,
    ) -> bool {
        if let Some(member) = self.member_mut(member_id) {
            if let Some(reply) = member.awaiting_sync.take() {
                fx.replies.push(Reply::Sync(reply, result));
                return true;
            }
        }
        false
    }

    pub(super) fn remove_member(&mut self, member_id: &str) {
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

    pub(super) fn snapshot(&self) -> GroupSnapshot {
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

    pub(super) fn persist(&self, fx: &mut Effects) {
        fx.records.push(GroupRecord::Group {
            group: self.id.clone(),
            value: Some(self.snapshot()),
        });
    }
}

pub(super) fn apply_snapshot(group: &mut Group, snapshot: GroupSnapshot, now_ms: i64) {
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
