//! The sparse offset index of one segment (`.index`): where in the `.log` some batches start.
//!
//! Entries are 8 bytes, big-endian as in Kafka: the batch's base offset relative to the
//! segment's base offset (u32), then its byte position in the `.log` (u32). One entry is
//! added per `index_interval_bytes` appended, so a lookup lands at most that many bytes (plus
//! one batch) before the batch wanted, and the rest is a short scan of batch headers.

use std::io;
use std::path::Path;

use super::index_file::IndexFile;

pub(crate) const ENTRY_BYTES: usize = 8;

pub(crate) struct OffsetIndex {
    file: IndexFile,
}

impl OffsetIndex {
    /// Opens for appending, keeping the first `entries` entries (see [`IndexFile`]).
    pub(crate) fn open_writable(
        path: &Path,
        entries: usize,
        max_entries: usize,
    ) -> io::Result<Self> {
        Ok(OffsetIndex {
            file: IndexFile::open_writable(path, ENTRY_BYTES, entries, max_entries)?,
        })
    }

    /// Opens a sealed segment's index for lookups.
    pub(crate) fn open_read_only(path: &Path) -> io::Result<Self> {
        Ok(OffsetIndex {
            file: IndexFile::open_read_only(path, ENTRY_BYTES)?,
        })
    }

    pub(crate) fn entries(&self) -> usize {
        self.file.entries()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.file.entries() >= self.file.capacity()
    }

    /// Entry `i` as (relative offset, position).
    fn get(&self, i: usize) -> (u32, u32) {
        let entry = self.file.entry(i);
        (
            u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]),
            u32::from_be_bytes([entry[4], entry[5], entry[6], entry[7]]),
        )
    }

    pub(crate) fn last(&self) -> Option<(u32, u32)> {
        self.entries().checked_sub(1).map(|i| self.get(i))
    }

    /// The position of the last indexed batch starting at or before `relative_offset`; the
    /// segment's start (0) when no entry is that early.
    pub(crate) fn lookup(&self, relative_offset: u32) -> u64 {
        let mut low = 0;
        let mut high = self.entries();
        // Binary search directly over the mapped entries: the first entry past the target.
        while low < high {
            let mid = low + (high - low) / 2;
            if self.get(mid).0 <= relative_offset {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low.checked_sub(1).map_or(0, |i| u64::from(self.get(i).1))
    }

    pub(crate) fn append(&mut self, relative_offset: u32, position: u32) -> io::Result<()> {
        let mut entry = [0u8; ENTRY_BYTES];
        entry[..4].copy_from_slice(&relative_offset.to_be_bytes());
        entry[4..].copy_from_slice(&position.to_be_bytes());
        self.file.push(&entry)
    }

    /// Checks what can be checked without reading the `.log`: entries strictly increasing in
    /// both offset and position, and positions inside a `.log` of `log_size` bytes. A file
    /// left untrimmed by a crash, zero-filled by a power loss, or overwritten fails this.
    pub(crate) fn sanity_check(&self, log_size: u64) -> Result<(), String> {
        let mut previous: Option<(u32, u32)> = None;
        for i in 0..self.entries() {
            let (offset, position) = self.get(i);
            if u64::from(position) >= log_size {
                return Err(format!("entry {i} points past the end of the log"));
            }
            if let Some((previous_offset, previous_position)) = previous {
                if offset <= previous_offset || position <= previous_position {
                    return Err(format!("entry {i} does not follow its predecessor"));
                }
            }
            previous = Some((offset, position));
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
    fn finds_the_greatest_entry_at_or_before_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut index = OffsetIndex::open_writable(&path, 0, 10).unwrap();
        assert_eq!(index.lookup(5), 0);
        for (offset, position) in [(10, 100), (20, 200), (30, 300)] {
            index.append(offset, position).unwrap();
        }
        assert_eq!(index.lookup(9), 0);
        assert_eq!(index.lookup(10), 100);
        assert_eq!(index.lookup(25), 200);
        assert_eq!(index.lookup(u32::MAX), 300);
        assert!(index.sanity_check(301).is_ok());
        assert!(index.sanity_check(300).is_err());

        index.trim().unwrap();
        assert!(index.is_full());
        drop(index);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 24);
        let index = OffsetIndex::open_read_only(&path).unwrap();
        assert_eq!(index.last(), Some((30, 300)));
        assert_eq!(index.lookup(21), 200);
    }

    #[test]
    fn zeroed_entries_fail_the_sanity_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        std::fs::write(
            &path,
            [[0u8; 4], 5u32.to_be_bytes(), [0; 4], [0; 4]].concat(),
        )
        .unwrap();
        let index = OffsetIndex::open_read_only(&path).unwrap();
        assert!(index.sanity_check(1000).is_err());
    }
}
