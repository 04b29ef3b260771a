//! The layout of a log directory, and the small files beside the segments.
//!
//! A log directory holds, per segment, `<base>.log`, `<base>.index` and `<base>.timeindex`,
//! `<base>` being the segment's base offset padded to 20 digits as in Kafka. Beside them:
//!
//! - `log-start-offset`: the log start offset in decimal, when DeleteRecords moved it inside
//!   the first segment; replaced atomically (write a `.tmp`, fsync, rename).
//! - `.clean`: written by a clean close, removed by the next open. Its presence means the
//!   active segment's indexes were flushed and trimmed, so open need not rebuild them.
//! - `cleaner-offset`: where the log cleaner's last pass stopped (compacted topics), written
//!   as the start offset is.
//! - `<base>.log.cleaned`: a segment being rewritten by the cleaner; `<base>.log.swap`: a
//!   rewritten segment, complete and durable, that replaces `<base>.log` (see
//!   [`finish_swaps`]).
//!
//! Open lists the directory once and deletes what can only be debris of an interrupted
//! operation: index files whose `.log` is gone (a deletion cut short) and `.tmp` files.
//! Anything else it does not recognise is left alone.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub(crate) const LOG: &str = "log";
pub(crate) const INDEX: &str = "index";
pub(crate) const TIME_INDEX: &str = "timeindex";

const START_OFFSET_FILE: &str = "log-start-offset";
const CLEANED_OFFSET_FILE: &str = "cleaner-offset";
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
pub(crate) const SWAP_SUFFIX: &str = ".swap";
const CLEAN_MARKER: &str = ".clean";
const TMP_SUFFIX: &str = ".tmp";
/// Present while a reset empties the directory: the reset's commit point (see [`begin_reset`]).
const RESET_MARKER: &str = ".reset";

pub(crate) fn segment_path(dir: &Path, base_offset: i64, extension: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{extension}"))
}

/// The base offset and extension of a segment file name; `None` for any other name.
fn parse_segment_name(name: &str) -> Option<(i64, &str)> {
    let (stem, extension) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, extension))
}

/// A segment file the cleaner writes: `<base>.log` with `suffix`.
pub(crate) fn cleaner_path(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{LOG}{suffix}"))
}

/// Finishes or undoes what a cleaner pass interrupted by a crash left, so that every segment
/// is whole — the old version or the new, never a mix:
/// - a `.log.cleaned` was not complete: deleted;
/// - a `.log.swap` was complete and durable before the swap began: it replaces its `.log`,
///   whose index files are deleted first (they describe the old `.log`; reads rebuild them).
///   Without a `.log` beside it, retention or DeleteRecords deleted the segment while it
///   was being cleaned: it is deleted too.
///
/// Returns whether anything changed (the directory then needs a sync).
pub(crate) fn finish_swaps(dir: &Path) -> io::Result<bool> {
    let mut changed = false;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(CLEANED_SUFFIX) {
            remove_debris(&entry.path())?;
            changed = true;
            continue;
        }
        let Some(stem) = name.strip_suffix(SWAP_SUFFIX) else {
            continue;
        };
        let Some((base, LOG)) = parse_segment_name(stem) else {
            continue;
        };
        let log = segment_path(dir, base, LOG);
        if log.exists() {
            tracing::warn!(dir = %dir.display(), base_offset = base, "completing a cleaned segment's swap");
            remove_if_present(&segment_path(dir, base, INDEX))?;
            remove_if_present(&segment_path(dir, base, TIME_INDEX))?;
            fs::rename(entry.path(), &log)?;
        } else {
            remove_debris(&entry.path())?;
        }
        changed = true;
    }
    Ok(changed)
}

/// The base offsets of the segments in `dir`, in order, after deleting debris.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<i64>> {
    if finish_swaps(dir)? {
        sync_dir(dir)?;
    }
    let mut logs = BTreeSet::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(TMP_SUFFIX) {
            remove_debris(&entry.path())?;
            continue;
        }
        match parse_segment_name(name) {
            Some((base, LOG)) => {
                logs.insert(base);
            }
            Some((base, INDEX | TIME_INDEX)) => indexes.push((base, entry.path())),
            _ => {}
        }
    }
    for (base, path) in indexes {
        if !logs.contains(&base) {
            remove_debris(&path)?;
        }
    }
    Ok(logs.into_iter().collect())
}

fn remove_debris(path: &Path) -> io::Result<()> {
    tracing::warn!(path = %path.display(), "deleting a leftover file");
    remove_if_present(path)
}

pub(crate) fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Deletes a segment's files, the `.log` first: an interruption then leaves only index
/// files without a `.log`, which the next open recognises as debris.
pub(crate) fn remove_segment(dir: &Path, base_offset: i64) -> io::Result<()> {
    for extension in [LOG, INDEX, TIME_INDEX] {
        remove_if_present(&segment_path(dir, base_offset, extension))?;
    }
    Ok(())
}

/// Removes the clean-shutdown marker, returning whether it was there.
///
/// The removal is not fsynced: that would cost a disk flush per partition at startup. A
/// marker that survives a power loss only spares the active segment a full scan; the tail
/// past its last index entry is still checked, CRCs included.
pub(crate) fn take_clean_marker(dir: &Path) -> io::Result<bool> {
    match fs::remove_file(dir.join(CLEAN_MARKER)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) fn write_clean_marker(dir: &Path) -> io::Result<()> {
    File::create(dir.join(CLEAN_MARKER)).map(drop)
}

pub(crate) fn remove_clean_marker(dir: &Path) -> io::Result<()> {
    remove_if_present(&dir.join(CLEAN_MARKER))
}

/// Commits a reset of the log in `dir` (the admin reset): once the marker is durable, the
/// next open finishes the reset even if this process dies before [`finish_reset`] ran, so a
/// crash leaves either the old log, whole, or an empty one — never a half-deleted log.
pub(crate) fn begin_reset(dir: &Path) -> io::Result<()> {
    File::create(dir.join(RESET_MARKER))?.sync_all()?;
    sync_dir(dir)
}

/// Finishes a reset begun by [`begin_reset`], if one is pending: removes every other file in
/// `dir` (segments, indexes, checkpoints, snapshots, the transaction index), makes that
/// durable, then removes the marker. Returns whether a reset was pending. Running it again
/// after an interruption removes what is left.
pub(crate) fn finish_reset(dir: &Path) -> io::Result<bool> {
    let marker = dir.join(RESET_MARKER);
    if !marker.exists() {
        return Ok(false);
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == RESET_MARKER {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            remove_if_present(&path)?;
        }
    }
    sync_dir(dir)?;
    fs::remove_file(&marker)?;
    sync_dir(dir)?;
    Ok(true)
}

/// A log start offset read back from its checkpoint file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PersistedStart {
    pub offset: i64,
    /// The file carried the checksum this version writes, and it matched. A file without
    /// one (written by an older version) is believed only where believing it deletes
    /// nothing that is there.
    pub verified: bool,
}

/// The CRC32C a start-offset checkpoint carries: of the offset's decimal digits.
fn start_offset_crc(offset: i64) -> u32 {
    crc32c::crc32c(offset.to_string().as_bytes())
}

/// The persisted log start offset, if any. A damaged file (unreadable, or a checksum that
/// does not match) is ignored with a warning: the start offset then falls back to the first
/// segment's base, which loses nothing.
pub(crate) fn read_start_offset(dir: &Path) -> io::Result<Option<PersistedStart>> {
    let path = dir.join(START_OFFSET_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => String::new(),
        Err(e) => return Err(e),
    };
    let mut fields = text.split_whitespace();
    let offset = fields.next().and_then(|f| f.parse::<i64>().ok());
    let crc = fields.next().map(|f| u32::from_str_radix(f, 16).ok());
    let parsed = match (offset, crc, fields.next()) {
        (Some(offset), None, None) if offset >= 0 => Some(PersistedStart {
            offset,
            verified: false,
        }),
        (Some(offset), Some(Some(crc)), None) if offset >= 0 && crc == start_offset_crc(offset) => {
            Some(PersistedStart {
                offset,
                verified: true,
            })
        }
        _ => None,
    };
    if parsed.is_none() {
        tracing::warn!(path = %path.display(), "ignoring a damaged log start offset checkpoint");
    }
    Ok(parsed)
}

pub(crate) fn write_start_offset(dir: &Path, offset: i64) -> io::Result<()> {
    write_offset_file(dir, START_OFFSET_FILE, offset)
}

/// Where the cleaner's last pass stopped; 0 when unknown (a damaged or missing file only
/// makes the next pass treat cleaned segments as dirty, which loses nothing).
pub(crate) fn read_cleaned_offset(dir: &Path) -> i64 {
    let text = fs::read_to_string(dir.join(CLEANED_OFFSET_FILE)).unwrap_or_default();
    let mut fields = text.split_whitespace();
    let offset = fields.next().and_then(|f| f.parse::<i64>().ok());
    let crc = fields.next().and_then(|f| u32::from_str_radix(f, 16).ok());
    match (offset, crc) {
        (Some(offset), Some(crc)) if offset >= 0 && crc == start_offset_crc(offset) => offset,
        _ => 0,
    }
}

pub(crate) fn write_cleaned_offset(dir: &Path, offset: i64) -> io::Result<()> {
    write_offset_file(dir, CLEANED_OFFSET_FILE, offset)
}

/// Replaces the offset file `name` atomically: a `.tmp`, fsynced, renamed over it.
fn write_offset_file(dir: &Path, name: &str, offset: i64) -> io::Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
    let mut file = File::create(&tmp)?;
    writeln!(file, "{offset} {:08x}", start_offset_crc(offset))?;
    file.sync_all()?;
    fs::rename(&tmp, &path)?;
    sync_dir(dir)
}

/// fsyncs the file at `path`, if it still exists (a segment may be deleted before the flush
/// that would have synced it).
pub(crate) fn sync_path(path: &Path) -> io::Result<()> {
    match File::open(path) {
        Ok(file) => file.sync_all(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes file creations, renames and deletions in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_segments_like_kafka() {
        let path = segment_path(Path::new("/d"), 42, LOG);
        assert_eq!(path, Path::new("/d/00000000000000000042.log"));
        assert_eq!(
            parse_segment_name("00000000000000000042.timeindex"),
            Some((42, TIME_INDEX))
        );
        assert_eq!(parse_segment_name("42.log"), None);
        assert_eq!(parse_segment_name("0000000000000000004x.log"), None);
    }

    #[test]
    fn listing_deletes_orphan_indexes_and_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in [
            "00000000000000000000.log",
            "00000000000000000000.index",
            "00000000000000000010.log",
            "00000000000000000020.index",
            "00000000000000000020.timeindex",
            "log-start-offset.tmp",
            "something-else",
        ] {
            fs::write(d.join(name), b"").unwrap();
        }
        assert_eq!(list_segments(d).unwrap(), vec![0, 10]);
        assert!(!d.join("00000000000000000020.index").exists());
        assert!(!d.join("log-start-offset.tmp").exists());
        assert!(d.join("00000000000000000000.index").exists());
        assert!(d.join("something-else").exists());
    }

    #[test]
    fn the_start_offset_round_trips_and_garbage_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_start_offset(dir.path()).unwrap(), None);
        write_start_offset(dir.path(), 1234).unwrap();
        let verified = PersistedStart {
            offset: 1234,
            verified: true,
        };
        assert_eq!(read_start_offset(dir.path()).unwrap(), Some(verified));
        let file = dir.path().join(START_OFFSET_FILE);
        fs::write(&file, b"\xff\x00junk").unwrap();
        assert_eq!(read_start_offset(dir.path()).unwrap(), None);
        // One digit changed: the checksum no longer matches.
        let text = format!("1284 {:08x}\n", start_offset_crc(1234));
        fs::write(&file, text).unwrap();
        assert_eq!(read_start_offset(dir.path()).unwrap(), None);
        fs::write(&file, b"77\n").unwrap();
        assert_eq!(
            read_start_offset(dir.path()).unwrap(),
            Some(PersistedStart {
                offset: 77,
                verified: false
            })
        );
    }
}
