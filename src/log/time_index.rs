//! The sparse time index of one segment (`.timeindex`): how the largest timestamp grows.
//!
//! Entries are 12 bytes, big-endian as in Kafka: a timestamp (i64), then the offset,
//! relative to the segment's base (u32), of the batch that first reached it. An entry
//! `(t, o)` promises that no batch before the one at `o` has a timestamp of `t` or more; so a
//! search for the first batch at or after `target` may start at the last entry below it.
//!
//! Entries are added alongside offset-index entries, only when the largest timestamp grew,
//! and once more when the segment is sealed or the log closed: the last entry of a sealed
//! segment is therefore its largest timestamp, which retention and ListOffsets need without
//! reading the `.log`. One slot is kept free for that final entry.

use std::io;
use std::path::Path;

use super::index_file::IndexFile;

pub(crate) const ENTRY_BYTES: usize = 12;

pub(crate) struct TimeIndex {
    file: IndexFile,
}

impl TimeIndex {
    /// Opens for appending, keeping the first `entries` entries (see [`IndexFile`]).
    pub(crate) fn open_writable(
        path: &Path,
        entries: usize,
        max_entries: usize,
    ) -> io::Result<Self> {
        Ok(TimeIndex {
            file: IndexFile::open_writable(path, ENTRY_BYTES, entries, max_entries)?,
        })
    }

    /// Opens a sealed segment's index for lookups.
    pub(crate) fn open_read_only(path: &Path) -> io::Result<Self> {
        Ok(TimeIndex {
            file: IndexFile::open_read_only(path, ENTRY_BYTES)?,
        })
    }

    pub(crate) fn entries(&self) -> usize {
        self.file.entries()
    }

    /// Full for ordinary entries: the last slot is kept for [`TimeIndex::append_final`].
    pub(crate) fn is_full(&self) -> bool {
        self.file.entries() + 1 >= self.file.capacity()
    }

    /// Entry `i` as (timestamp, relative offset).
    fn get(&self, i: usize) -> (i64, u32) {
        let entry = self.file.entry(i);
        let mut timestamp = [0u8; 8];
        timestamp.copy_from_slice(&entry[..8]);
        (
            i64::from_be_bytes(timestamp),
            u32::from_be_bytes([entry[8], entry[9], entry[10], entry[11]]),
        )
    }

    pub(crate) fn last(&self) -> Option<(i64, u32)> {
        self.entries().checked_sub(1).map(|i| self.get(i))
    }

    /// The last entry whose timestamp is below `timestamp`: a search for the first batch
    /// at or after `timestamp` can start at its offset. `None`: start at the segment's start.
    pub(crate) fn lookup(&self, timestamp: i64) -> Option<(i64, u32)> {
        let mut low = 0;
        let mut high = self.entries();
        while low < high {
            let mid = low + (high - low) / 2;
            if self.get(mid).0 < timestamp {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low.checked_sub(1).map(|i| self.get(i))
    }

    /// Adds `(timestamp, relative_offset)` if `timestamp` is above the last entry's and the
    /// index has room for an ordinary entry.
    pub(crate) fn maybe_append(&mut self, timestamp: i64, relative_offset: u32) -> io::Result<()> {
        if self.is_full() {
            return Ok(());
        }
        self.append_final(timestamp, relative_offset)
    }

    /// Like [`TimeIndex::maybe_append`], but may use the slot kept for sealing.
    pub(crate) fn append_final(&mut self, timestamp: i64, relative_offset: u32) -> io::Result<()> {
        if self.last().is_some_and(|(last, _)| last >= timestamp) {
            return Ok(());
        }
        let mut entry = [0u8; ENTRY_BYTES];
        entry[..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..].copy_from_slice(&relative_offset.to_be_bytes());
        self.file.push(&entry)
    }

    /// Checks what can be checked without reading the `.log`: timestamps strictly
    /// increasing, offsets never decreasing and below `relative_end` (the segment's end
    /// offset relative to its base), and at least one entry when the segment holds batches.
    pub(crate) fn sanity_check(&self, relative_end: u64, has_batches: bool) -> Result<(), String> {
        if has_batches && self.entries() == 0 {
            return Err("no entry for a segment with batches".to_string());
        }
        let mut previous: Option<(i64, u32)> = None;
        for i in 0..self.entries() {
            let (timestamp, offset) = self.get(i);
            if u64::from(offset) >= relative_end {
                return Err(format!("entry {i} points past the end of the segment"));
            }
            if let Some((previous_timestamp, previous_offset)) = previous {
                if timestamp <= previous_timestamp || offset < previous_offset {
                    return Err(format!("entry {i} does not follow its predecessor"));
                }
            }
            previous = Some((timestamp, offset));
        }
        Ok(())
    }

    pub(crate) fn trim(&mut self) -> io::Result<()> {
        self.file.trim()
    }

    pub(crate) fn path(&self) -> &Path {
        self.file.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_the_last_entry_below_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.timeindex");
        let mut index = TimeIndex::open_writable(&path, 0, 4).unwrap();
        index.maybe_append(100, 0).unwrap();
        index.maybe_append(90, 3).unwrap(); // not a new maximum: ignored
        index.maybe_append(200, 5).unwrap();
        index.maybe_append(300, 9).unwrap();
        assert_eq!(index.entries(), 3);
        assert!(index.is_full());
        index.maybe_append(400, 12).unwrap(); // full: ignored
        index.append_final(400, 12).unwrap(); // the kept slot
        assert_eq!(index.last(), Some((400, 12)));

        assert_eq!(index.lookup(100), None);
        assert_eq!(index.lookup(101), Some((100, 0)));
        assert_eq!(index.lookup(300), Some((200, 5)));
        assert_eq!(index.lookup(i64::MAX), Some((400, 12)));
        assert!(index.sanity_check(13, true).is_ok());
        assert!(index.sanity_check(12, true).is_err());
    }
}
