//! The group coordinator's journal records: committed offsets and group metadata, each with a
//! tombstone form. The framing, replay and compaction are the coordinator runtime's
//! ([`crate::coordinator::journal`]); this module owns the bodies.

use std::io;

use bytes::{BufMut, Bytes, BytesMut};

use super::types::CommittedOffset;
use crate::coordinator::codec::{put_bytes, put_opt_str, put_str, Reader};
use crate::coordinator::{Journal, JournalRecord};

/// The group coordinator's journal, `groups.log` in the data directory.
pub type GroupLog = Journal<GroupRecord>;
/// The group log's file name.
pub const GROUP_LOG_FILE: &str = "groups.log";

/// A member as persisted: the metadata of the group's selected protocol and its assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSnapshot {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    pub protocol_type: Option<String>,
    pub generation: i32,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp_ms: i64,
    pub members: Vec<MemberSnapshot>,
}

/// One change to persist; `None` values are tombstones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRecord {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<CommittedOffset>,
    },
    Group {
        group: String,
        value: Option<GroupSnapshot>,
    },
    /// An offset an open transaction of `producer_id` committed (TxnOffsetCommit).
    TxnOffset {
        group: String,
        producer_id: i64,
        topic: String,
        partition: i32,
        value: CommittedOffset,
    },
    /// `producer_id`'s transaction ended: its held offsets commit or go.
    TxnEnd {
        group: String,
        producer_id: i64,
        commit: bool,
    },
}

const OFFSET: u8 = 1;
const OFFSET_TOMBSTONE: u8 = 2;
const GROUP: u8 = 3;
const GROUP_TOMBSTONE: u8 = 4;
const TXN_OFFSET: u8 = 5;
const TXN_END: u8 = 6;

impl JournalRecord for GroupRecord {
    fn is_kind(byte: u8) -> bool {
        (OFFSET..=TXN_END).contains(&byte)
    }

    fn encode_body(&self, body: &mut BytesMut) {
        match self {
            GroupRecord::Offset {
                group,
                topic,
                partition,
                value,
            } => {
                body.put_u8(if value.is_some() {
                    OFFSET
                } else {
                    OFFSET_TOMBSTONE
                });
                put_str(body, group);
                put_str(body, topic);
                body.put_i32(*partition);
                if let Some(o) = value {
                    body.put_i64(o.offset);
                    body.put_i32(o.leader_epoch);
                    put_str(body, &o.metadata);
                    body.put_i64(o.commit_timestamp_ms);
                }
            }
            GroupRecord::Group { group, value } => {
                body.put_u8(if value.is_some() {
                    GROUP
                } else {
                    GROUP_TOMBSTONE
                });
                put_str(body, group);
                if let Some(g) = value {
                    put_opt_str(body, &g.protocol_type);
                    body.put_i32(g.generation);
                    put_opt_str(body, &g.protocol_name);
                    put_opt_str(body, &g.leader);
                    body.put_i64(g.state_timestamp_ms);
                    body.put_u32(g.members.len() as u32);
                    for m in &g.members {
                        put_str(body, &m.member_id);
                        put_opt_str(body, &m.instance_id);
                        put_str(body, &m.client_id);
                        put_str(body, &m.client_host);
                        body.put_i32(m.session_timeout_ms);
                        body.put_i32(m.rebalance_timeout_ms);
                        put_bytes(body, &m.subscription);
                        put_bytes(body, &m.assignment);
                    }
                }
            }
            GroupRecord::TxnOffset {
                group,
                producer_id,
                topic,
                partition,
                value,
            } => {
                body.put_u8(TXN_OFFSET);
                put_str(body, group);
                body.put_i64(*producer_id);
                put_str(body, topic);
                body.put_i32(*partition);
                body.put_i64(value.offset);
                body.put_i32(value.leader_epoch);
                put_str(body, &value.metadata);
                body.put_i64(value.commit_timestamp_ms);
            }
            GroupRecord::TxnEnd {
                group,
                producer_id,
                commit,
            } => {
                body.put_u8(TXN_END);
                put_str(body, group);
                body.put_i64(*producer_id);
                body.put_u8(u8::from(*commit));
            }
        }
    }

    fn decode_body(body: Bytes) -> io::Result<GroupRecord> {
        let mut r = Reader::new(body);
        let kind = r.u8()?;
        let group = r.str()?;
        match kind {
            OFFSET | OFFSET_TOMBSTONE => {
                let topic = r.str()?;
                let partition = r.i32()?;
                let value = if kind == OFFSET {
                    Some(CommittedOffset {
                        offset: r.i64()?,
                        leader_epoch: r.i32()?,
                        metadata: r.str()?,
                        commit_timestamp_ms: r.i64()?,
                    })
                } else {
                    None
                };
                Ok(GroupRecord::Offset {
                    group,
                    topic,
                    partition,
                    value,
                })
            }
            GROUP => {
                let protocol_type = r.opt_str()?;
                let generation = r.i32()?;
                let protocol_name = r.opt_str()?;
                let leader = r.opt_str()?;
                let state_timestamp_ms = r.i64()?;
                let count = r.i32()? as u32 as usize;
                let mut members = Vec::with_capacity(count.min(1024));
                for _ in 0..count {
                    members.push(MemberSnapshot {
                        member_id: r.str()?,
                        instance_id: r.opt_str()?,
                        client_id: r.str()?,
                        client_host: r.str()?,
                        session_timeout_ms: r.i32()?,
                        rebalance_timeout_ms: r.i32()?,
                        subscription: r.bytes()?,
                        assignment: r.bytes()?,
                    });
                }
                Ok(GroupRecord::Group {
                    group,
                    value: Some(GroupSnapshot {
                        protocol_type,
                        generation,
                        protocol_name,
                        leader,
                        state_timestamp_ms,
                        members,
                    }),
                })
            }
            GROUP_TOMBSTONE => Ok(GroupRecord::Group { group, value: None }),
            TXN_OFFSET => Ok(GroupRecord::TxnOffset {
                group,
                producer_id: r.i64()?,
                topic: r.str()?,
                partition: r.i32()?,
                value: CommittedOffset {
                    offset: r.i64()?,
                    leader_epoch: r.i32()?,
                    metadata: r.str()?,
                    commit_timestamp_ms: r.i64()?,
                },
            }),
            TXN_END => Ok(GroupRecord::TxnEnd {
                group,
                producer_id: r.i64()?,
                commit: r.u8()? != 0,
            }),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown group record kind {other}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
