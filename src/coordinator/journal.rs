//! A coordinator's journal: an append-only file of records, replayed at start and compacted
//! by rewriting the live state. The records are the coordinator's own ([`JournalRecord`]);
//! the framing, the damage handling and the I/O are the same for every coordinator.
//!
//! Each record on disk is `u32 length | u32 CRC32C of the body | body`. A record that is cut
//! short or fails its CRC is damage: replay skips it and goes on with the next valid record,
//! and a damaged stretch with nothing valid after it is the tail of an interrupted write,
//! which is cut off. Records reach the page cache before the coordinator answers, so they
//! survive the broker being killed; `fsync` is left to the OS, as Kafka leaves it by default.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes, BytesMut};

use super::journal_io::JournalFile;
#[cfg(test)]
use super::journal_io::{FaultyFile, JournalFaults};

/// A record a coordinator journals: its body encoding, and which first bytes a body may have
/// (its kinds), which lets replay find the next record after a damaged one.
pub trait JournalRecord: Sized + Send + 'static {
    /// Whether a body may start with `byte`.
    fn is_kind(byte: u8) -> bool;
    fn encode_body(&self, body: &mut BytesMut);
    fn decode_body(body: Bytes) -> io::Result<Self>;
}

/// Bytes before a record's body: length and CRC.
pub(crate) const RECORD_HEADER_BYTES: usize = 8;
/// A record larger than this is refused when written and taken for damage when read (a group
/// with thousands of members stays far below).
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;
/// Bytes the search for the next valid record after a damaged one may checksum before the
/// rest is taken for a torn tail: bounds the time a damaged journal costs at start.
const RESYNC_CRC_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Why records could not be journaled. Nothing of them is on disk either way.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("a journal record of {bytes} bytes is over the {MAX_RECORD_BYTES}-byte limit")]
    RecordTooLarge { bytes: usize },
    #[error("cannot write the journal")]
    Io(#[from] io::Error),
}

/// `record` as it lies on disk: header and body.
pub fn frame<R: JournalRecord>(record: &R) -> Bytes {
    let mut out = BytesMut::new();
    frame_into(record, &mut out);
    out.freeze()
}

/// Appends `record`'s frame to `out`; returns its body's length.
fn frame_into<R: JournalRecord>(record: &R, out: &mut BytesMut) -> usize {
    let start = out.len();
    out.put_bytes(0, RECORD_HEADER_BYTES);
    record.encode_body(out);
    let body_len = out.len() - start - RECORD_HEADER_BYTES;
    let crc = crc32c::crc32c(&out[start + RECORD_HEADER_BYTES..]);
    out[start..start + 4].copy_from_slice(&(body_len as u32).to_be_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
    body_len
}

/// What a replay of a journal found.
#[derive(Debug)]
pub struct Replay<R> {
    pub records: Vec<R>,
    /// Bytes up to the end of the last valid record: anything after it is a torn tail.
    pub valid_bytes: usize,
    /// Damaged stretches skipped between valid records (each loses one or more records).
    pub skipped: usize,
}

/// The record whose header starts at `at`, if it is whole, has the right CRC and decodes;
/// with the offset just past it. `crc_bytes` counts the bytes checksummed.
fn record_at<R: JournalRecord>(
    data: &[u8],
    at: usize,
    crc_bytes: &mut usize,
) -> Option<(R, usize)> {
    let header = data.get(at..at.checked_add(RECORD_HEADER_BYTES)?)?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let start = at + RECORD_HEADER_BYTES;
    if len > MAX_RECORD_BYTES || data.len() - start < len || !R::is_kind(*data.get(start)?) {
        return None;
    }
    let body = &data[start..start + len];
    *crc_bytes += len;
    if crc32c::crc32c(body) != crc {
        return None;
    }
    let record = R::decode_body(Bytes::copy_from_slice(body)).ok()?;
    Some((record, start + len))
}

/// Decodes every valid record. A damaged record (a flipped bit, a torn write the process
/// survived) is skipped, not taken for the end: the next valid record is searched for byte
/// by byte, and replay goes on from there. A damaged stretch with no valid record after it
/// (or none within `RESYNC_CRC_BYTES_MAX` bytes of checksumming) is a torn tail.
pub fn decode_all<R: JournalRecord>(data: &[u8]) -> Replay<R> {
    let mut replay = Replay {
        records: Vec::new(),
        valid_bytes: 0,
        skipped: 0,
    };
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
            if record_at::<R>(data, from, &mut searched).is_some() {
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
                    "a coordinator journal has a damaged record; skipped it and kept the records after it"
                );
                at = from;
            }
            None => break,
        }
    }
    replay
}

/// A journal just opened, with the records it holds.
pub type Opened<R> = (Journal<R>, Vec<R>);

/// One coordinator's journal file.
pub struct Journal<R> {
    path: PathBuf,
    file: Box<dyn JournalFile>,
    bytes_written: u64,
    /// A failed write could not be cut back: the next append cuts it first.
    cut_pending: bool,
    /// Faults injected into every file this journal opens.
    #[cfg(test)]
    faults: Option<std::sync::Arc<JournalFaults>>,
    /// Size right after the last compaction: the file is compacted again when it has grown
    /// well past it.
    compacted_bytes: u64,
    records: PhantomData<fn(R) -> R>,
}

impl<R: JournalRecord> Journal<R> {
    /// Reads every valid record of `<dir>/<file_name>` (creating the file if needed) and cuts
    /// a torn tail off.
    pub fn open(dir: &Path, file_name: &str) -> io::Result<Opened<R>> {
        Self::open_with(dir, file_name, |file| Box::new(file))
    }

    /// The same, with faults injected at the I/O seam of every file the journal opens.
    #[cfg(test)]
    pub(crate) fn open_faulty(
        dir: &Path,
        file_name: &str,
        faults: std::sync::Arc<JournalFaults>,
    ) -> io::Result<Opened<R>> {
        let wrap = faults.clone();
        let (mut journal, records) = Self::open_with(dir, file_name, move |file| {
            Box::new(FaultyFile {
                file,
                faults: wrap.clone(),
            })
        })?;
        journal.faults = Some(faults);
        Ok((journal, records))
    }

    /// Wraps an opened file in the journal's I/O seam.
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
        file_name: &str,
        wrap: impl Fn(File) -> Box<dyn JournalFile>,
    ) -> io::Result<Opened<R>> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(file_name);
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
            tracing::error!(path = %path.display(), skipped, "a coordinator journal had damaged records; they were skipped");
        }
        if valid < data.len() {
            tracing::warn!(
                path = %path.display(),
                dropped_bytes = data.len() - valid,
                "a coordinator journal had a torn or corrupt tail; dropped it"
            );
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        file.set_len(valid as u64)?;
        let journal = Journal {
            path,
            file: wrap(file),
            bytes_written: valid as u64,
            cut_pending: false,
            #[cfg(test)]
            faults: None,
            compacted_bytes: valid as u64,
            records: PhantomData,
        };
        Ok((journal, records))
    }

    /// Appends `records`, all or none: a record over the replay limit is refused before
    /// anything is written (replay would take it for damage), and a failed or partial write
    /// is cut back, so the next append does not land after half a record (when the cut
    /// fails too, the next append makes it before writing, or writes nothing).
    pub fn append(&mut self, records: &[R]) -> Result<(), AppendError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut out = BytesMut::new();
        for record in records {
            let bytes = frame_into(record, &mut out);
            if bytes > MAX_RECORD_BYTES {
                return Err(AppendError::RecordTooLarge { bytes });
            }
        }
        if self.cut_pending {
            self.file.set_len(self.bytes_written)?;
            self.cut_pending = false;
        }
        if let Err(e) = self.file.write_all(&out) {
            if let Err(cut) = self.file.set_len(self.bytes_written) {
                tracing::error!(error = %cut, path = %self.path.display(), "cannot cut a failed write off a coordinator journal; the next append cuts it first");
                self.cut_pending = true;
            }
            return Err(e.into());
        }
        self.bytes_written += out.len() as u64;
        Ok(())
    }

    /// Every valid record the file holds now: what the coordinator returns to when a write
    /// failed.
    pub fn replay(&self) -> io::Result<Vec<R>> {
        let data = std::fs::read(&self.path)?;
        Ok(decode_all(&data).records)
    }

    /// Whether enough dead records piled up to make a rewrite worth it.
    pub fn wants_compaction(&self) -> bool {
        self.bytes_written > 4 * self.compacted_bytes + 16 * 1024 * 1024
    }

    /// Replaces the file with `live`, atomically (write aside, fsync, rename).
    pub fn compact(&mut self, live: &[R]) -> io::Result<()> {
        let aside = self.path.with_extension("compacting");
        let mut out = BytesMut::new();
        for record in live {
            frame_into(record, &mut out);
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

    /// Empties the journal durably (the admin reset): compacted to nothing, and the rename
    /// that replaced the file made durable with its directory, so a restart replays nothing.
    pub fn clear(&mut self) -> io::Result<()> {
        self.compact(&[])?;
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
            _ => File::open(".")?.sync_all(),
        }
    }
}
