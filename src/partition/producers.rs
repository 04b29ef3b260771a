//! The partition's idempotent producers across restarts: a snapshot of their state is
//! written beside the log each time it rolls (`<offset>.snapshot`, the state of every batch
//! below that offset), and opening the log loads the newest snapshot it can trust and
//! replays only the batches after it. Without one (a log written before snapshots, or every
//! snapshot damaged) the replay starts at the second-newest segment, as Kafka bounds it.
//!
//! A snapshot is written without an fsync: one lost or torn in a crash fails its checksum
//! and an older one, or the bounded replay, serves instead. One past the recovered log end
//! (its batches were cut away) is ignored and deleted.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::Inner;
use crate::producer_state::{ProducerBatch, ProducerStates};
use crate::record::batch::{self as record_batch, BatchHeader};

const SNAPSHOT_EXTENSION: &str = "snapshot";
/// Snapshots kept: the newest, and one before it in case the newest is damaged.
const SNAPSHOTS_KEPT: usize = 2;
/// Bytes read at a time while replaying.
const REPLAY_READ_BYTES: usize = 1024 * 1024;

fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.{SNAPSHOT_EXTENSION}"))
}

/// The offsets of the snapshots in `dir`, oldest first.
fn snapshots(dir: &Path) -> io::Result<Vec<i64>> {
    let mut offsets: Vec<i64> = fs::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name();
            let (stem, extension) = name.to_str()?.split_once('.')?;
            (extension == SNAPSHOT_EXTENSION && stem.len() == 20)
                .then(|| stem.parse().ok())
                .flatten()
        })
        .collect();
    offsets.sort_unstable();
    Ok(offsets)
}

/// Writes the producer state as of `offset` (the base of the segment just rolled to) and
/// deletes the snapshots older than the ones kept. The temporary name ends in `.tmp`, which
/// the log's open deletes as debris if a crash leaves it.
pub(super) fn write_snapshot(
    dir: &Path,
    offset: i64,
    producers: &ProducerStates,
) -> io::Result<()> {
    let path = snapshot_path(dir, offset);
    let tmp = path.with_extension("snapshot.tmp");
    fs::write(&tmp, producers.encode_snapshot())?;
    fs::rename(&tmp, &path)?;
    let all = snapshots(dir)?;
    for old in &all[..all.len().saturating_sub(SNAPSHOTS_KEPT)] {
        fs::remove_file(snapshot_path(dir, *old))?;
    }
    Ok(())
}

/// Rebuilds the producers of a log just opened: the newest trusted snapshot, then the
/// batches after it.
pub(super) fn restore(inner: &mut Inner) -> io::Result<()> {
    let end = inner.log.end_offset();
    let mut from = None;
    if let Some(dir) = inner.log.dir().map(Path::to_path_buf) {
        for offset in snapshots(&dir)?.into_iter().rev() {
            let path = snapshot_path(&dir, offset);
            if offset > end {
                tracing::info!(path = %path.display(), end, "deleting a producer snapshot past the log's end");
                fs::remove_file(&path)?;
                continue;
            }
            match ProducerStates::decode_snapshot(&fs::read(&path)?) {
                Some(producers) => {
                    inner.producers = producers;
                    from = Some(offset);
                    break;
                }
                None => {
                    tracing::warn!(path = %path.display(), "a damaged producer snapshot is skipped")
                }
            }
        }
    }
    let from = from.unwrap_or_else(|| {
        let bases = inner.log.segment_bases();
        bases[bases.len().saturating_sub(2)..]
            .first()
            .copied()
            .unwrap_or(end)
    });
    replay(inner, from.max(inner.log.start_offset()))
}

/// Applies the batches from `offset` to the log's end to the producer state, as their
/// appends did: data batches are remembered, transaction markers fence older epochs.
fn replay(inner: &mut Inner, mut offset: i64) -> io::Result<()> {
    let end = inner.log.end_offset();
    let invalid =
        |e: record_batch::BatchError| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
    while offset < end {
        let chunks = inner.log.read(offset, REPLAY_READ_BYTES, true)?;
        if chunks.is_empty() {
            break;
        }
        for chunk in &chunks {
            for bytes in record_batch::split_batches(chunk).map_err(invalid)? {
                let batch = BatchHeader::parse(&bytes).map_err(invalid)?;
                if batch.producer_id() >= 0 {
                    if batch.is_control() {
                        // A marker older than the producer's epoch was never appended.
                        let _ = inner
                            .producers
                            .fence(batch.producer_id(), batch.producer_epoch());
                    } else {
                        inner.producers.record(
                            batch.producer_id(),
                            batch.producer_epoch(),
                            ProducerBatch {
                                first_sequence: batch.base_sequence(),
                                last_sequence: batch.last_sequence(),
                                first_offset: batch.base_offset(),
                                last_offset: batch.last_offset(),
                                max_timestamp: batch.max_timestamp(),
                            },
                        );
                    }
                }
                offset = offset.max(batch.last_offset() + 1);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
