//! The rebalance itself: the join phase, its (initial) delay and timeout, the sync phase,
//! and members whose session or sync ran out.

use bytes::Bytes;

use super::group::{Group, InitialDelay};
use super::{Effects, GroupConfig};
use crate::group::types::*;

pub(super) fn remove_current_member(group: &mut Group, member_id: &str, fx: &mut Effects) {
    group.complete_join(
        member_id,
        JoinResult::failed("", GroupError::UnknownMemberId),
        fx,
    );
    group.remove_member(member_id);
}

pub(super) fn maybe_prepare_rebalance(
    group: &mut Group,
    config: &GroupConfig,
    now_ms: i64,
    fx: &mut Effects,
) {
    if group.can_rebalance() {
        prepare_rebalance(group, config, now_ms, fx);
    } else {
        maybe_complete_join(group, now_ms, fx);
    }
}

/// Completes the join phase early once everyone is in — but not during the initial delay.
pub(super) fn maybe_complete_join(group: &mut Group, now_ms: i64, fx: &mut Effects) {
    if group.state == GroupState::PreparingRebalance
        && group.all_members_joined()
        && group.previous_state != GroupState::Empty
    {
        complete_join_phase(group, now_ms, fx);
    }
}

pub(super) fn prepare_rebalance(
    group: &mut Group,
    config: &GroupConfig,
    now_ms: i64,
    fx: &mut Effects,
) {
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

pub(super) fn on_join_deadline(
    group: &mut Group,
    config: &GroupConfig,
    now_ms: i64,
    fx: &mut Effects,
) {
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
pub(super) fn propagate_assignment(group: &mut Group, now_ms: i64, fx: &mut Effects) {
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

pub(super) fn expire_members(
    group: &mut Group,
    config: &GroupConfig,
    now_ms: i64,
    fx: &mut Effects,
) {
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

pub(super) fn expire_pending_sync(
    group: &mut Group,
    config: &GroupConfig,
    now_ms: i64,
    fx: &mut Effects,
) {
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
