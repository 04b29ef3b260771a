//! Joining, syncing, heartbeats and leaving: the requests members send.

use std::collections::HashMap;

use bytes::Bytes;

use super::group::{Group, Member};
use super::rebalance::{
    maybe_complete_join, maybe_prepare_rebalance, prepare_rebalance, propagate_assignment,
    remove_current_member,
};
use super::{Coordinator, Effects, GroupConfig};
use crate::group::types::*;

impl Coordinator {
    pub(super) fn join_now(
        &mut self,
        request: JoinRequest,
        reply: ReplyId,
        now_ms: i64,
    ) -> Effects {
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
        let group = match self.group_or_new(&request.group_id, now_ms) {
            Ok(group) => group,
            Err(error) => {
                failed(&mut fx, error);
                return fx;
            }
        };
        if !accepts_join(group, &request.member_id, config.max_size) {
            group.pending_members.remove(&request.member_id);
            fx.replies.push(Reply::Join(
                reply,
                JoinResult::failed("", GroupError::GroupMaxSizeReached),
            ));
            return fx;
        }
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

    pub(super) fn sync_now(
        &mut self,
        request: SyncRequest,
        reply: ReplyId,
        now_ms: i64,
    ) -> Effects {
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

    pub(super) fn heartbeat_now(
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
    pub(super) fn leave_now(
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
}

/// Whether `group` takes a join from `member_id` ("" for a new member), as Kafka's
/// `acceptJoiningMember`: members already in are always taken; others while a rebalancing
/// group has fewer than `max_size` members awaiting their join answer, or a settled one fewer
/// than `max_size` members. An empty group takes anyone, but keeps at most `max_size` new
/// members waiting after MEMBER_ID_REQUIRED (Kafka keeps any number).
fn accepts_join(group: &Group, member_id: &str, max_size: usize) -> bool {
    if member_id.is_empty() && group.pending_members.len() >= max_size {
        return false;
    }
    let member = group.member(member_id);
    match group.state {
        GroupState::Empty | GroupState::Dead => true,
        GroupState::PreparingRebalance => {
            member.is_some_and(|m| m.awaiting_join.is_some())
                || group
                    .members
                    .iter()
                    .filter(|m| m.awaiting_join.is_some())
                    .count()
                    < max_size
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            member.is_some() || group.members.len() < max_size
        }
    }
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
