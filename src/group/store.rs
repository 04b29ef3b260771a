//! Durable group state: an append-only file of records (committed offsets and group
//! metadata, each with a tombstone form), replayed at start and compacted by rewriting the
//! live state.
//!
//! Each record on disk is `u32 length | u32 CRC32C of the body | body`. Replay stops at the
//! first record that is cut short or fails its CRC — the tail of an interrupted write — and
//! the file is rewritten without it. Records reach the page cache before the coordinator
//! answers, so they survive the broker being killed; `fsync` is left to the OS, as Kafka
//! leaves it by default.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::types::CommittedOffset;

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
}

const OFFSET: u8 = 1;
const OFFSET_TOMBSTONE: u8 = 2;
const GROUP: u8 = 3;
const GROUP_TOMBSTONE: u8 = 4;

/// Bytes before a record's body: length and CRC.
const RECORD_HEADER_BYTES: usize = 8;
/// A record larger than this is corrupt (a group with thousands of members stays far below).
const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

fn put_str(out: &mut BytesMut, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_bytes(out: &mut BytesMut, b: &[u8]) {
    out.put_u32(b.len() as u32);
    out.put_slice(b);
}

fn put_opt_str(out: &mut BytesMut, s: &Option<String>) {
    match s {
        Some(s) => {
            out.put_u8(1);
            put_str(out, s);
        }
        None => out.put_u8(0),
    }
}

/// A cursor over a record body whose reads fail instead of panicking.
struct Reader(Bytes);

impl Reader {
    fn need(&self, n: usize) -> io::Result<()> {
        if self.0.remaining() < n {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "group record is cut short",
            ))
        } else {
            Ok(())
        }
    }

    fn u8(&mut self) -> io::Result<u8> {
        self.need(1)?;
        Ok(self.0.get_u8())
    }

    fn i32(&mut self) -> io::Result<i32> {
        self.need(4)?;
        Ok(self.0.get_i32())
    }

    fn i64(&mut self) -> io::Result<i64> {
        self.need(8)?;
        Ok(self.0.get_i64())
    }

    fn bytes(&mut self) -> io::Result<Bytes> {
        self.need(4)?;
        let len = self.0.get_u32() as usize;
        self.need(len)?;
        Ok(self.0.split_to(len))
    }

    fn str(&mut self) -> io::Result<String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "group record holds invalid UTF-8",
            )
        })
    }

    fn opt_str(&mut self) -> io::Result<Option<String>> {
        match self.u8()? {
            0 => Ok(None),
            _ => Ok(Some(self.str()?)),
        }
    }
}

impl GroupRecord {
    pub fn encode(&self) -> Bytes {
        let mut body = BytesMut::new();
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
                put_str(&mut body, group);
                put_str(&mut body, topic);
                body.put_i32(*partition);
                if let Some(o) = value {
                    body.put_i64(o.offset);
                    body.put_i32(o.leader_epoch);
                    put_str(&mut body, &o.metadata);
                    body.put_i64(o.commit_timestamp_ms);
                }
            }
            GroupRecord::Group { group, value } => {
                body.put_u8(if value.is_some() {
                    GROUP
                } else {
                    GROUP_TOMBSTONE
                });
                put_str(&mut body, group);
                if let Some(g) = value {
                    put_opt_str(&mut body, &g.protocol_type);
                    body.put_i32(g.generation);
                    put_opt_str(&mut body, &g.protocol_name);
                    put_opt_str(&mut body, &g.leader);
                    body.put_i64(g.state_timestamp_ms);
                    body.put_u32(g.members.len() as u32);
                    for m in &g.members {
                        put_str(&mut body, &m.member_id);
                        put_opt_str(&mut body, &m.instance_id);
                        put_str(&mut body, &m.client_id);
                        put_str(&mut body, &m.client_host);
                        body.put_i32(m.session_timeout_ms);
                        body.put_i32(m.rebalance_timeout_ms);
                        put_bytes(&mut body, &m.subscription);
                        put_bytes(&mut body, &m.assignment);
                    }
                }
            }
        }
        let mut out = BytesMut::with_capacity(RECORD_HEADER_BYTES + body.len());
        out.put_u32(body.len() as u32);
        out.put_u32(crc32c::crc32c(&body));
        out.put_slice(&body);
        out.freeze()
    }

    fn decode(body: Bytes) -> io::Result<GroupRecord> {
        let mut r = Reader(body);
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
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown group record kind {other}"),
            )),
        }
    }
}

/// Decodes records until the data ends or stops making sense; returns them and the number
/// of bytes that held whole, valid records.
pub fn decode_all(data: &[u8]) -> (Vec<GroupRecord>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while data.len() - at >= RECORD_HEADER_BYTES {
        let len = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize;
        let crc = u32::from_be_bytes([data[at + 4], data[at + 5], data[at + 6], data[at + 7]]);
        let start = at + RECORD_HEADER_BYTES;
        if len > MAX_RECORD_BYTES || data.len() - start < len {
            break;
        }
        let body = &data[start..start + len];
        if crc32c::crc32c(body) != crc {
            break;
        }
        match GroupRecord::decode(Bytes::copy_from_slice(body)) {
            Ok(record) => records.push(record),
            Err(_) => break,
        }
        at = start + len;
    }
    (records, at)
}

/// The group log file of a data directory.
pub struct GroupStore {
    path: PathBuf,
    file: File,
    bytes_written: u64,
    /// Size right after the last compaction: the file is compacted again when it has grown
    /// well past it.
    compacted_bytes: u64,
}

impl GroupStore {
    const FILE_NAME: &'static str = "groups.log";

    /// Reads every valid record of `<dir>/groups.log` (creating the file if needed).
    pub fn open(dir: &Path) -> io::Result<(GroupStore, Vec<GroupRecord>)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(Self::FILE_NAME);
        let mut data = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut data)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let (records, valid) = decode_all(&data);
        if valid < data.len() {
            tracing::warn!(
                path = %path.display(),
                dropped_bytes = data.len() - valid,
                "group log had a torn or corrupt tail; dropped it"
            );
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        file.set_len(valid as u64)?;
        let store = GroupStore {
            path,
            file,
            bytes_written: valid as u64,
            compacted_bytes: valid as u64,
        };
        Ok((store, records))
    }

    pub fn append(&mut self, records: &[GroupRecord]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut out = BytesMut::new();
        for record in records {
            out.put_slice(&record.encode());
        }
        self.file.write_all(&out)?;
        self.bytes_written += out.len() as u64;
        Ok(())
    }

    /// Whether enough dead records piled up to make a rewrite worth it.
    pub fn wants_compaction(&self) -> bool {
        self.bytes_written > 4 * self.compacted_bytes + 16 * 1024 * 1024
    }

    /// Replaces the file with `live`, atomically (write aside, fsync, rename).
    pub fn compact(&mut self, live: &[GroupRecord]) -> io::Result<()> {
        let aside = self.path.with_extension("log.compacting");
        let mut out = BytesMut::new();
        for record in live {
            out.put_slice(&record.encode());
        }
        {
            let mut f = File::create(&aside)?;
            f.write_all(&out)?;
            f.sync_all()?;
        }
        std::fs::rename(&aside, &self.path)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.bytes_written = out.len() as u64;
        self.compacted_bytes = out.len() as u64;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<GroupRecord> {
        vec![
            GroupRecord::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 3,
                value: Some(CommittedOffset {
                    offset: 42,
                    leader_epoch: 0,
                    metadata: "meta".into(),
                    commit_timestamp_ms: 1_700_000_000_000,
                }),
            },
            GroupRecord::Group {
                group: "g".into(),
                value: Some(GroupSnapshot {
                    protocol_type: Some("consumer".into()),
                    generation: 7,
                    protocol_name: Some("range".into()),
                    leader: Some("m1".into()),
                    state_timestamp_ms: 5,
                    members: vec![MemberSnapshot {
                        member_id: "m1".into(),
                        instance_id: Some("i1".into()),
                        client_id: "c".into(),
                        client_host: "/127.0.0.1".into(),
                        session_timeout_ms: 10_000,
                        rebalance_timeout_ms: 30_000,
                        subscription: Bytes::from_static(b"sub"),
                        assignment: Bytes::from_static(b"asg"),
                    }],
                }),
            },
            GroupRecord::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 3,
                value: None,
            },
            GroupRecord::Group {
                group: "g".into(),
                value: None,
            },
        ]
    }

    #[test]
    fn records_round_trip() {
        let mut data = Vec::new();
        for r in samples() {
            data.extend_from_slice(&r.encode());
        }
        let (decoded, valid) = decode_all(&data);
        assert_eq!(decoded, samples());
        assert_eq!(valid, data.len());
    }

    #[test]
    fn a_torn_tail_is_dropped_and_the_rest_kept() {
        let mut data = Vec::new();
        for r in samples() {
            data.extend_from_slice(&r.encode());
        }
        let whole = data.len();
        for cut in 1..samples()[3].encode().len() {
            let (decoded, valid) = decode_all(&data[..whole - cut]);
            assert_eq!(decoded.len(), 3);
            assert!(valid < whole);
        }
        data[10] ^= 0xff;
        assert!(decode_all(&data).0.is_empty());
    }

    #[test]
    fn the_store_replays_what_it_appended_and_compacts() {
        let dir = std::env::temp_dir().join(format!("sluice-groups-{}", uuid::Uuid::new_v4()));
        let (mut store, replayed) = GroupStore::open(&dir).unwrap();
        assert!(replayed.is_empty());
        store.append(&samples()[..2]).unwrap();
        drop(store);
        let (mut store, replayed) = GroupStore::open(&dir).unwrap();
        assert_eq!(replayed, samples()[..2].to_vec());
        store.compact(&samples()[1..2]).unwrap();
        drop(store);
        let (_, replayed) = GroupStore::open(&dir).unwrap();
        assert_eq!(replayed, samples()[1..2].to_vec());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
