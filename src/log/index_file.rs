//! A file of fixed-size entries mapped into memory: the storage under both segment indexes.
//!
//! The active segment's index files are sized to their maximum up front (sparse: no blocks
//! are allocated), mapped for lookups, and appended to with positional writes. A store into
//! the map would be cheaper, but the first store into a page with no block behind it makes
//! the filesystem allocate one, and on a full disk that store raises SIGBUS and kills the
//! process; a write reports the full disk as `ENOSPC` instead. Entries are sparse (one per
//! `index.interval.bytes` appended), so the write costs one system call per few KiB of log.
//! The mapping shares the page cache with the file, so a written entry is seen by lookups at
//! once. The file is trimmed to its entries when the segment is sealed or the log closed, so
//! a trimmed file's length says how many entries it holds. Sealed segments map their trimmed
//! files read-only.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

enum Map {
    /// The active segment's index: mapped for lookups, written through the file.
    Writable {
        map: Mmap,
        file: File,
    },
    ReadOnly(Mmap),
    /// Briefly, while the file is resized.
    Unmapped,
}

impl Map {
    fn bytes(&self) -> &[u8] {
        match self {
            Map::Writable { map, .. } => map,
            Map::ReadOnly(map) => map,
            Map::Unmapped => &[],
        }
    }
}

pub(crate) struct IndexFile {
    path: PathBuf,
    map: Map,
    entry_bytes: usize,
    entries: usize,
}

impl IndexFile {
    /// Opens `path` for appending, creating it if needed: the first `entries` entries already
    /// in the file are kept, anything after them is discarded, and the file grows to room for
    /// `max_entries` (at least `entries`).
    pub fn open_writable(
        path: &Path,
        entry_bytes: usize,
        entries: usize,
        max_entries: usize,
    ) -> io::Result<IndexFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let used = (entries * entry_bytes) as u64;
        // Zero whatever follows the kept entries, so stale entries can never reappear.
        file.set_len(used)?;
        file.set_len((max_entries.max(entries) * entry_bytes) as u64)?;
        // SAFETY: the file belongs to this log alone and is only shrunk while unmapped.
        let map = unsafe { Mmap::map(&file)? };
        Ok(IndexFile {
            path: path.to_path_buf(),
            map: Map::Writable { map, file },
            entry_bytes,
            entries,
        })
    }

    /// Opens a sealed segment's trimmed index read-only; every whole entry in it counts.
    pub fn open_read_only(path: &Path, entry_bytes: usize) -> io::Result<IndexFile> {
        let file = File::open(path)?;
        let length = file.metadata()?.len();
        if length % entry_bytes as u64 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: {length} bytes is not a whole number of entries",
                    path.display()
                ),
            ));
        }
        // SAFETY: sealed index files are never written while mapped.
        let map = unsafe { Mmap::map(&file)? };
        let entries = map.len() / entry_bytes;
        Ok(IndexFile {
            path: path.to_path_buf(),
            map: Map::ReadOnly(map),
            entry_bytes,
            entries,
        })
    }

    pub fn entries(&self) -> usize {
        self.entries
    }

    /// How many entries fit without growing the file.
    pub fn capacity(&self) -> usize {
        self.map.bytes().len() / self.entry_bytes
    }

    /// The bytes of entry `i`, which must be below `entries()`.
    pub fn entry(&self, i: usize) -> &[u8] {
        let at = i * self.entry_bytes;
        &self.map.bytes()[at..at + self.entry_bytes]
    }

    /// Writes the next entry; on an error (a full disk) the index is as it was. Callers
    /// check `capacity()` first: a full or read-only index is a bug in the caller, reported
    /// as an error rather than a panic.
    pub fn push(&mut self, entry: &[u8]) -> io::Result<()> {
        debug_assert_eq!(entry.len(), self.entry_bytes);
        let at = self.entries * self.entry_bytes;
        match &self.map {
            Map::Writable { map, file } if at + self.entry_bytes <= map.len() => {
                file.write_all_at(entry, at as u64)?;
                self.entries += 1;
                Ok(())
            }
            _ => Err(io::Error::other("index is full or read-only")),
        }
    }

    /// Shrinks the file to its entries. The index stays usable for lookups; having no spare
    /// room it reports itself full, so an append after a trim rolls a new segment.
    pub fn trim(&mut self) -> io::Result<()> {
        let used = (self.entries * self.entry_bytes) as u64;
        if self.map.bytes().len() as u64 == used {
            return Ok(());
        }
        let file = match std::mem::replace(&mut self.map, Map::Unmapped) {
            Map::Writable { file, .. } => file,
            _ => OpenOptions::new().read(true).write(true).open(&self.path)?,
        };
        // Unmapped before shrinking (above): touching a mapped page past the end of a file
        // is SIGBUS.
        let resized = file.set_len(used);
        // SAFETY: as in `open_writable`.
        match unsafe { Mmap::map(&file) } {
            Ok(map) => self.map = Map::Writable { map, file },
            // Without a map the entries are out of reach: lookups fall back to scanning
            // from the segment's start, which is slow but still right.
            Err(e) => {
                self.entries = 0;
                return Err(e);
            }
        }
        self.entries = self.entries.min(self.capacity());
        resized
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
