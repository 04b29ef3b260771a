//! Reading a `.log` back at open: where its valid batches end, and its indexes rebuilt.
//!
//! Three uses, from cheapest to dearest:
//! - [`resume`]: after a clean shutdown, trust the active segment's indexes and check only
//!   the batches past the last index entry (CRCs included) — at most about one index
//!   interval of data. Anything unexpected falls back to a full scan.
//! - [`rebuild`] with CRCs: after a crash, walk the whole active segment, stopping at the
//!   first torn, corrupt or out-of-sequence batch, which the caller truncates away.
//! - [`rebuild_sealed`]: a sealed segment whose index files are missing or damaged gets new
//!   ones from its headers; sealed data is not re-checked (it was when it was written). A
//!   sealed segment may have been compacted, so its offsets may have gaps (never go back).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::batch_info::BatchInfo;
use super::indexes::{absolute, SegmentIndexes};
use super::segmented::SegmentConfig;
use crate::record::batch::BatchHeader;

/// What a scan found.
#[derive(Debug)]
pub(crate) struct Scanned {
    /// Where the valid batches end: the segment's size after any torn tail is cut.
    pub valid_bytes: u64,
    /// The offset after the last valid batch.
    pub next_offset: i64,
    /// Why the scan stopped before the end of the file, if it did.
    pub problem: Option<String>,
}

/// Walks the batches of `log` from `position` — where a batch with base offset `next_offset`
/// must start — up to `end`, recording each in `indexes`. Stops at the first batch that is
/// torn, out of sequence or, with `verify_crc`, fails its CRC. Without `verify_crc` (a sealed
/// segment, perhaps compacted) offsets may skip forward, never back. I/O errors are returned.
fn scan(
    log: &File,
    mut position: u64,
    end: u64,
    mut next_offset: i64,
    indexes: &mut SegmentIndexes,
    verify_crc: bool,
) -> io::Result<Scanned> {
    let mut buffer = Vec::new();
    let problem = loop {
        let info = match BatchInfo::read_at(log, position, end) {
            Ok(Some(info)) => info,
            Ok(None) => break None,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => break Some(e.to_string()),
            Err(e) => return Err(e),
        };
        let in_sequence = if verify_crc {
            info.base_offset == next_offset
        } else {
            info.base_offset >= next_offset
        };
        if !in_sequence {
            break Some(format!(
                "batch at byte {position} has base offset {} where {next_offset} was expected",
                info.base_offset
            ));
        }
        if verify_crc {
            // The size was checked against `end`, so the buffer is bounded by the file.
            buffer.resize(info.size as usize, 0);
            log.read_exact_at(&mut buffer, position)?;
            if let Err(e) = BatchHeader::parse_checked(&buffer) {
                break Some(format!("batch at byte {position}: {e}"));
            }
        }
        indexes.record(&info)?;
        position = info.end();
        next_offset = info.last_offset + 1;
    };
    Ok(Scanned {
        valid_bytes: position,
        next_offset,
        problem,
    })
}

/// New indexes for the segment at `base_offset` from a scan of its whole `.log`.
pub(crate) fn rebuild(
    dir: &Path,
    base_offset: i64,
    log: &File,
    end: u64,
    config: &SegmentConfig,
    verify_crc: bool,
) -> io::Result<(SegmentIndexes, Scanned)> {
    let mut indexes = SegmentIndexes::create(dir, base_offset, config)?;
    let scanned = scan(log, 0, end, base_offset, &mut indexes, verify_crc)?;
    Ok((indexes, scanned))
}

/// The indexes a clean shutdown left, checked and brought up to the end of the `.log`;
/// `None` when anything disagrees, and the caller should [`rebuild`] instead.
pub(crate) fn resume(
    dir: &Path,
    base_offset: i64,
    log: &File,
    end: u64,
    config: &SegmentConfig,
) -> io::Result<Option<(SegmentIndexes, Scanned)>> {
    let mut indexes = match SegmentIndexes::open_existing(dir, base_offset, config) {
        Ok(indexes) => indexes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            tracing::warn!(base_offset, why = %e, "active segment index is damaged");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let checked = indexes
        .offsets
        .sanity_check(end)
        .and_then(|()| indexes.times.sanity_check(u64::MAX, false));
    if let Err(why) = checked {
        tracing::warn!(base_offset, %why, "active segment index is damaged");
        return Ok(None);
    }
    let (relative, position) = indexes.offsets.last().unwrap_or((0, 0));
    let Ok(start_offset) = absolute(base_offset, relative) else {
        tracing::warn!(
            base_offset,
            relative,
            "active segment index names an offset past the end of the offset range"
        );
        return Ok(None);
    };
    let scanned = scan(
        log,
        u64::from(position),
        end,
        start_offset,
        &mut indexes,
        true,
    )?;
    if let Some(why) = &scanned.problem {
        // Maybe a torn tail, maybe a stale index: only a full scan can tell which.
        tracing::warn!(base_offset, %why, "active segment tail does not check out");
        return Ok(None);
    }
    let time_index_ahead = indexes.times.last().is_some_and(|(_, relative)| {
        absolute(base_offset, relative).map_or(true, |offset| offset >= scanned.next_offset)
    });
    if time_index_ahead {
        return Ok(None);
    }
    Ok(Some((indexes, scanned)))
}

/// Rewrites the index files of a sealed segment from its `.log`, finished and trimmed as
/// sealing leaves them.
pub(crate) fn rebuild_sealed(
    dir: &Path,
    base_offset: i64,
    log: &File,
    size: u64,
    config: &SegmentConfig,
) -> io::Result<()> {
    let (mut indexes, scanned) = rebuild(dir, base_offset, log, size, config, false)?;
    if let Some(why) = scanned.problem {
        // Reads past this point will report the damage; the batches before it stay readable.
        tracing::error!(base_offset, %why, "sealed segment is damaged");
    }
    // Not fsynced: this runs on the read path, and a lost rebuild is simply redone.
    indexes.finish()?;
    indexes.trim()
}
