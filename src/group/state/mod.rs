//! The classic group protocol as a pure state machine: every call takes the current time and
//! returns its effects — answers to parked requests and records to persist. No I/O, no
//! tokio, no wall clock; timers are deadlines that [`Coordinator::tick`] acts on.
//!
//! The rules follow Kafka's classic group coordinator (`GroupMetadataManager` and
//! `ClassicGroup` in Apache Kafka's group-coordinator module): join and sync phases,
//! MEMBER_ID_REQUIRED for new dynamic members, leader election among members who rejoined,
//! protocol choice by vote, static membership, session and rebalance timeouts.

mod group;
mod membership;
mod offsets;
mod rebalance;
mod txn_offsets;

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use bytes::Bytes;

use super::records::GroupRecord;
use super::types::*;
use crate::coordinator::deadlines::Deadlines;
use group::{apply_snapshot, Group};
use rebalance::{expire_members, expire_pending_sync, on_join_deadline};

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
    /// Members a group holds at most; also the most new members it keeps waiting after
    /// MEMBER_ID_REQUIRED.
    pub max_size: usize,
    /// Groups the coordinator creates at most (a restart restores every journaled one).
    pub max_groups: usize,
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
            max_size: 10_000,
            max_groups: 500_000,
        }
    }
}

/// What a call did beyond its return value: group records to journal, then answers to
/// parked joins and syncs.
pub type Effects = crate::coordinator::Effects<GroupRecord, Reply>;

/// All groups of the broker and their committed offsets.
#[derive(Debug, Default)]
pub struct Coordinator {
    config: GroupConfig,
    groups: HashMap<String, Group>,
    /// Each group's earliest deadline, kept current by every call that changes a group.
    deadlines: Deadlines,
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
                GroupRecord::TxnOffset {
                    group,
                    producer_id,
                    topic,
                    partition,
                    value,
                } => {
                    coordinator
                        .groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now_ms))
                        .pending_txn_offsets
                        .entry(producer_id)
                        .or_default()
                        .insert((topic, partition), value);
                }
                GroupRecord::TxnEnd {
                    group,
                    producer_id,
                    commit,
                } => {
                    if let Some(entry) = coordinator.groups.get_mut(&group) {
                        txn_offsets::end_pending(entry, producer_id, commit);
                    }
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
        coordinator.refresh_all_deadlines();
        coordinator
    }

    /// Every live group and offset as records: what a compacted store holds.
    /// `group_id`'s group, created when it is new and there is room for another group.
    fn group_or_new(&mut self, group_id: &str, now_ms: i64) -> Result<&mut Group, GroupError> {
        let full = self.groups.len() >= self.config.max_groups;
        match self.groups.entry(group_id.to_string()) {
            Entry::Occupied(group) => Ok(group.into_mut()),
            Entry::Vacant(_) if full => Err(GroupError::GroupMaxSizeReached),
            Entry::Vacant(slot) => Ok(slot.insert(Group::new(group_id, now_ms))),
        }
    }

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
            for (producer_id, held) in &group.pending_txn_offsets {
                for ((topic, partition), offset) in held {
                    records.push(GroupRecord::TxnOffset {
                        group: group.id.clone(),
                        producer_id: *producer_id,
                        topic: topic.clone(),
                        partition: *partition,
                        value: offset.clone(),
                    });
                }
            }
        }
        records
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

    /// The earliest deadline at which [`Coordinator::tick`] has work, if any.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let retention = (!self.groups.is_empty()).then_some(self.next_retention_check_ms);
        self.deadlines.earliest().into_iter().chain(retention).min()
    }

    /// Acts on every deadline that has passed: expired sessions, join and sync phases that
    /// ran out of time, and offset retention. Only groups with a passed deadline are visited.
    pub fn tick(&mut self, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        let config = self.config.clone();
        for id in self.deadlines.due(now_ms) {
            if let Some(group) = self.groups.get_mut(&id) {
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
            self.refresh_deadline(&id);
        }
        if self.next_retention_check_ms == 0 {
            // The first check comes one interval after the coordinator's first tick.
            self.next_retention_check_ms = now_ms + config.offsets_retention_check_interval_ms;
        } else if now_ms >= self.next_retention_check_ms {
            self.next_retention_check_ms = now_ms + config.offsets_retention_check_interval_ms;
            self.expire_offsets(now_ms, &mut fx);
            self.refresh_all_deadlines();
        }
        fx
    }

    /// How many groups have a timer running: the only ones [`Coordinator::tick`] visits.
    #[cfg(test)]
    pub(crate) fn groups_with_deadlines(&self) -> usize {
        self.deadlines.len()
    }

    /// Puts `group_id`'s earliest deadline (or its absence) in the deadline map.
    fn refresh_deadline(&mut self, group_id: &str) {
        let deadline = self.groups.get(group_id).and_then(Group::next_deadline_ms);
        self.deadlines.set(group_id, deadline);
    }

    /// After a change that may touch any group (a restore, a deleted topic, retention).
    fn refresh_all_deadlines(&mut self) {
        let mut deadlines = Deadlines::default();
        for group in self.groups.values() {
            deadlines.set(&group.id, group.next_deadline_ms());
        }
        self.deadlines = deadlines;
    }

    pub fn join(&mut self, request: JoinRequest, reply: ReplyId, now_ms: i64) -> Effects {
        let group_id = request.group_id.clone();
        let fx = self.join_now(request, reply, now_ms);
        self.refresh_deadline(&group_id);
        fx
    }

    pub fn sync(&mut self, request: SyncRequest, reply: ReplyId, now_ms: i64) -> Effects {
        let group_id = request.group_id.clone();
        let fx = self.sync_now(request, reply, now_ms);
        self.refresh_deadline(&group_id);
        fx
    }

    pub fn heartbeat(
        &mut self,
        group_id: &str,
        generation_id: i32,
        member: &MemberRef,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        let result = self.heartbeat_now(group_id, generation_id, member, now_ms);
        self.refresh_deadline(group_id);
        result
    }

    pub fn leave(
        &mut self,
        group_id: &str,
        leaving: &[MemberRef],
        now_ms: i64,
    ) -> Result<(Vec<Option<GroupError>>, Effects), GroupError> {
        let result = self.leave_now(group_id, leaving, now_ms);
        self.refresh_deadline(group_id);
        result
    }

    pub fn commit(
        &mut self,
        group_id: &str,
        generation_id: i32,
        member: &MemberRef,
        offsets: Vec<OffsetToCommit>,
        now_ms: i64,
    ) -> Result<Effects, GroupError> {
        let result = self.commit_now(group_id, generation_id, member, offsets, now_ms);
        self.refresh_deadline(group_id);
        result
    }

    pub fn delete_group(&mut self, group_id: &str) -> Result<Effects, GroupError> {
        let result = self.delete_group_now(group_id);
        self.refresh_deadline(group_id);
        result
    }

    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Effects, GroupError> {
        let result = self.delete_offsets_now(group_id, partitions);
        self.refresh_deadline(group_id);
        result
    }

    /// TxnOffsetCommit: offsets held for `producer_id`'s transaction.
    pub fn txn_commit(
        &mut self,
        group_id: &str,
        producer_id: i64,
        generation_id: i32,
        member: &MemberRef,
        offsets: Vec<OffsetToCommit>,
        now_ms: i64,
    ) -> Result<Effects, GroupError> {
        let result = self.txn_commit_now(
            group_id,
            producer_id,
            generation_id,
            member,
            offsets,
            now_ms,
        );
        self.refresh_deadline(group_id);
        result
    }

    /// A transaction marker for `group_id`: `producer_id`'s held offsets commit or go.
    pub fn end_txn(&mut self, group_id: &str, producer_id: i64, commit: bool) -> Effects {
        self.end_txn_now(group_id, producer_id, commit)
    }

    /// Drops every group's committed offsets of a deleted topic.
    pub fn forget_topic(&mut self, topic: &str) -> Effects {
        let fx = self.forget_topic_now(topic);
        self.refresh_all_deadlines();
        fx
    }
}
