//! Transactional offset commits (TxnOffsetCommit): offsets a transaction commits are held per
//! producer, invisible to OffsetFetch, until the transaction's marker reaches the group —
//! then they become the group's committed offsets (commit) or are dropped (abort). As in
//! Kafka's `GroupMetadata.prepareTxnOffsetCommit` / `completePendingTxnOffsetCommit`.

use super::group::Group;
use super::{Coordinator, Effects};
use crate::group::records::GroupRecord;
use crate::group::types::*;

impl Coordinator {
    /// Holds `offsets` for `producer_id`'s open transaction. A group that does not exist is
    /// created empty (a transactional producer may commit for a group no consumer joined);
    /// a generation or member, when given, must match as for a plain commit.
    pub(super) fn txn_commit_now(
        &mut self,
        group_id: &str,
        producer_id: i64,
        generation_id: i32,
        member: &MemberRef,
        offsets: Vec<OffsetToCommit>,
        now_ms: i64,
    ) -> Result<Effects, GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let group = self.group_or_new(group_id, now_ms)?;
        if group.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if generation_id >= 0 || !member.member_id.is_empty() || member.instance_id.is_some() {
            group.validate_member(member)?;
            if generation_id != group.generation {
                return Err(GroupError::IllegalGeneration);
            }
        }
        let mut fx = Effects::default();
        let pending = group.pending_txn_offsets.entry(producer_id).or_default();
        for o in offsets {
            let value = CommittedOffset {
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: o.metadata,
                commit_timestamp_ms: now_ms,
            };
            fx.records.push(GroupRecord::TxnOffset {
                group: group_id.to_string(),
                producer_id,
                topic: o.topic.clone(),
                partition: o.partition,
                value: value.clone(),
            });
            pending.insert((o.topic, o.partition), value);
        }
        Ok(fx)
    }

    /// The marker of `producer_id`'s transaction reached `group_id`: its held offsets are
    /// committed or dropped. A group with nothing held for the producer changes nothing.
    pub(super) fn end_txn_now(
        &mut self,
        group_id: &str,
        producer_id: i64,
        commit: bool,
    ) -> Effects {
        let mut fx = Effects::default();
        let Some(group) = self.groups.get_mut(group_id) else {
            return fx;
        };
        if end_pending(group, producer_id, commit) {
            fx.records.push(GroupRecord::TxnEnd {
                group: group_id.to_string(),
                producer_id,
                commit,
            });
        }
        fx
    }

    /// Partitions of `group_id` with offsets held by an open transaction: OffsetFetch with
    /// `require_stable` answers them UNSTABLE_OFFSET_COMMIT.
    pub fn unstable_partitions(&self, group_id: &str) -> Vec<(String, i32)> {
        let Some(group) = self.groups.get(group_id) else {
            return Vec::new();
        };
        let mut partitions: Vec<(String, i32)> = group
            .pending_txn_offsets
            .values()
            .flat_map(|held| held.keys().cloned())
            .collect();
        partitions.sort();
        partitions.dedup();
        partitions
    }
}

/// Commits or drops what `group` holds for `producer_id`; whether it held anything.
pub(super) fn end_pending(group: &mut Group, producer_id: i64, commit: bool) -> bool {
    let Some(held) = group.pending_txn_offsets.remove(&producer_id) else {
        return false;
    };
    if commit {
        group.offsets.extend(held);
    }
    true
}

#[cfg(test)]
mod tests;
