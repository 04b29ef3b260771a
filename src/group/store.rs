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

use super::journal_io::JournalFile;
#[cfg(test)]
use super::journal_io::{FaultyFile, JournalFaults};

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

/// What a replay of the group log found.
#[derive(Debug, Default)]
pub struct Replay {
    pub records: Vec<GroupRecord>,
    /// Bytes up to the end of the last valid record: anything after it is a torn tail.
    pub valid_bytes: usize,
    /// Damaged stretches skipped between valid records (each loses one or more records).
    pub skipped: usize,
}

/// Record kinds, as the first byte of a body: what a record's start must look like.
const KINDS: std::ops::RangeInclusive<u8> = OFFSET..=GROUP_TOMBSTONE;
/// Bytes the search for the next valid record after a damaged one may checksum before the
/// rest is taken for a torn tail: bounds the time a damaged log costs at start.
const RESYNC_CRC_BYTES_MAX: usize = 256 * 1024 * 1024;

/// The record whose header starts at `at`, if it is whole, has the right CRC and decodes;
/// with the offset just past it. `crc_bytes` counts the bytes checksummed.
fn record_at(data: &[u8], at: usize, crc_bytes: &mut usize) -> Option<(GroupRecord, usize)> {
    let header = data.get(at..at + RECORD_HEADER_BYTES)?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let start = at + RECORD_HEADER_BYTES;
    if len > MAX_RECORD_BYTES || data.len() - start < len || !KINDS.contains(data.get(start)?) {
        return None;
    }
    let body = &data[start..start + len];
    *crc_bytes += len;
    if crc32c::crc32c(body) != crc {
        return None;
    }
    let record = GroupRecord::decode(Bytes::copy_from_slice(body)).ok()?;
    Some((record, start + len))
}

/// Decodes every valid record. A damaged record (a flipped bit, a torn write the process
/// survived) is skipped, not taken for the end: the next valid record is searched for byte
/// by byte, and replay goes on from there. A damaged stretch with no valid record after it
/// (or none within `RESYNC_CRC_BYTES_MAX` bytes of checksumming) is a torn tail.
pub fn decode_all(data: &[u8]) -> Replay {
    let mut replay = Replay::default();
    let mut at = 0;
    while at < data.len() {
        if let Some((record, next)) = record_at(data, at, &mut 0) {
            replay.records.push(record);
            replay.valid_bytes = next;
            at = next;
            continue;
        }
        let mut searched = 0;
        let mut next_valid = None;
        for from in at + 1..data.len() {
            if searched > RESYNC_CRC_BYTES_MAX {
                break;
            }
            if record_at(data, from, &mut searched).is_some() {
                next_valid = Some(from);
                break;
            }
        }
        match next_valid {
            Some(from) => {
                replay.skipped += 1;
                tracing::error!(
                    at,
                    skipped_bytes = from - at,
                    "the group log has a damaged record; skipped it and kept the records after it"
                );
                at = from;
            }
            None => break,
        }
    }
    replay
}

/// The group log file of a data directory.
pub struct GroupStore {
    path: PathBuf,
    file: Box<dyn JournalFile>,
    bytes_written: u64,
    /// A failed write could not be cut back: the next append cuts it first.
    cut_pending: bool,
    /// Faults injected into every file this store opens.
    #[cfg(test)]
    faults: Option<std::sync::Arc<JournalFaults>>,
    /// Size right after the last compaction: the file is compacted again when it has grown
    /// well past it.
    compacted_bytes: u64,
}

impl GroupStore {
    const FILE_NAME: &'static str = "groups.log";

    /// Reads every valid record of `<dir>/groups.log` (creating the file if needed).
    pub fn open(dir: &Path) -> io::Result<(GroupStore, Vec<GroupRecord>)> {
        Self::open_with(dir, |file| Box::new(file))
    }

    /// The same, with faults injected at the I/O seam of every file the store opens.
    #[cfg(test)]
    pub(crate) fn open_faulty(
        dir: &Path,
        faults: std::sync::Arc<JournalFaults>,
    ) -> io::Result<(GroupStore, Vec<GroupRecord>)> {
        let wrap = faults.clone();
        let (mut store, records) = Self::open_with(dir, move |file| {
            Box::new(FaultyFile {
                file,
                faults: wrap.clone(),
            })
        })?;
        store.faults = Some(faults);
        Ok((store, records))
    }

    /// Wraps an opened file in the store's I/O seam.
    fn journal_file(&self, file: File) -> Box<dyn JournalFile> {
        #[cfg(test)]
        if let Some(faults) = &self.faults {
            return Box::new(FaultyFile {
                file,
                faults: faults.clone(),
            });
        }
        Box::new(file)
    }

    fn open_with(
        dir: &Path,
        wrap: impl Fn(File) -> Box<dyn JournalFile>,
    ) -> io::Result<(GroupStore, Vec<GroupRecord>)> {
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
        let Replay {
            records,
            valid_bytes: valid,
            skipped,
        } = decode_all(&data);
        if skipped > 0 {
            tracing::error!(path = %path.display(), skipped, "the group log had damaged records; they were skipped");
        }
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
            file: wrap(file),
            bytes_written: valid as u64,
            cut_pending: false,
            #[cfg(test)]
            faults: None,
            compacted_bytes: valid as u64,
        };
        Ok((store, records))
    }

    /// Appends `records`, all or none: a record over the replay limit is refused before
    /// anything is written (replay would take it for damage), and a failed or partial write
    /// is cut back, so the next append does not land after half a record (when the cut
    /// fails too, the next append makes it before writing, or writes nothing).
    pub fn append(&mut self, records: &[GroupRecord]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut out = BytesMut::new();
        for record in records {
            let encoded = record.encode();
            let body_bytes = encoded.len() - RECORD_HEADER_BYTES;
            if body_bytes > MAX_RECORD_BYTES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "a group record of {body_bytes} bytes is over the {MAX_RECORD_BYTES}-byte limit"
                    ),
                ));
            }
            out.put_slice(&encoded);
        }
        if self.cut_pending {
            self.file.set_len(self.bytes_written)?;
            self.cut_pending = false;
        }
        if let Err(e) = self.file.write_all(&out) {
            if let Err(cut) = self.file.set_len(self.bytes_written) {
                tracing::error!(error = %cut, "cannot cut a failed write off the group log; the next append cuts it first");
                self.cut_pending = true;
            }
            return Err(e);
        }
        self.bytes_written += out.len() as u64;
        Ok(())
    }

    /// Every valid record the file holds now: what the coordinator returns to when a write
    /// failed.
    pub fn replay(&self) -> io::Result<Vec<GroupRecord>> {
        let data = std::fs::read(&self.path)?;
        Ok(decode_all(&data).records)
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
            Write::write_all(&mut f, &out)?;
            f.sync_all()?;
        }
        std::fs::rename(&aside, &self.path)?;
        self.file = self.journal_file(OpenOptions::new().append(true).open(&self.path)?);
        self.cut_pending = false;
        self.bytes_written = out.len() as u64;
        self.compacted_bytes = out.len() as u64;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests;
