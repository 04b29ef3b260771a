//! Committed offsets: commits, fetches, deletion and retention.

use super::{Coordinator, Effects};
use crate::group::records::GroupRecord;
use crate::group::types::*;

impl Coordinator {
    /// Checks that a commit is allowed (Kafka's `validateOffsetCommit`), then stores it.
    pub(super) fn commit_now(
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
            None if generation_id < 0 => self.group_or_new(group_id, now_ms)?,
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
    pub(super) fn forget_topic_now(&mut self, topic: &str) -> Effects {
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

    /// Deletes an empty group and its offsets.
    pub(super) fn delete_group_now(&mut self, group_id: &str) -> Result<Effects, GroupError> {
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
    pub(super) fn delete_offsets_now(
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

    pub(super) fn expire_offsets(&mut self, now_ms: i64, fx: &mut Effects) {
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
                && group.pending_txn_offsets.is_empty()
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
