//! A file of fixed-size entries mapped into memory: the storage under both segment indexes.
//!
//! The active segment's index files are sized to their maximum up front, sparse, so appending
//! an entry is a store into the map with no system call; the file is trimmed to its entries
//! when the segment is sealed or the log closed, so a trimmed file's length says how many
//! entries it holds. Sealed segments map their trimmed files read-only.
//!
//! A store into a page with no disk block behind it makes the filesystem allocate one, and on
//! a full disk that store raises SIGBUS and kills the process. So pages are backed before
//! they are stored into: zeros are written ahead, one page at a time, through a positional
//! write that reports a full disk as `ENOSPC` instead. That is one open and write per page
//! of entries (a page holds hundreds; an entry is added per `index.interval.bytes` of log),
//! and no descriptor is held between them.

// Unsafe code here: mmap of index files and the page size; each block says why it is sound.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use memmap2::{Mmap, MmapMut};

enum Map {
    Writable(MmapMut),
    ReadOnly(Mmap),
    /// Briefly, while the file is resized.
    Unmapped,
}

impl Map {
    fn bytes(&self) -> &[u8] {
        match self {
            Map::Writable(map) => map,
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
    /// The file's bytes below this have disk blocks behind them (were written): stores into
    /// them cannot fault on a full disk.
    backed_bytes: usize,
}

/// The unit in which the kernel backs a mapping: backing ahead page by page covers every
/// block a store can touch.
fn page_bytes() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf reads a constant of the running system; no pointers involved.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(page)
            .ok()
            .filter(|&p| p > 0)
            .unwrap_or(4096)
    })
}

impl IndexFile {
    /// Opens `path` for appending, creating it if needed: the first `entries` entries already
    /// in the file are kept, anything after them is discarded, and the file grows to room for
    /// `max_entries` (at least `entries`).
    pub(super) fn open_writable(
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
        // SAFETY: the file belongs to this log alone and is only resized while unmapped.
        let map = unsafe { MmapMut::map_mut(&file)? };
        Ok(IndexFile {
            path: path.to_path_buf(),
            map: Map::Writable(map),
            entry_bytes,
            entries,
            backed_bytes: used as usize,
        })
    }

    /// Opens a sealed segment's trimmed index read-only; every whole entry in it counts.
    pub(super) fn open_read_only(path: &Path, entry_bytes: usize) -> io::Result<IndexFile> {
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
        let backed_bytes = map.len();
        Ok(IndexFile {
            path: path.to_path_buf(),
            map: Map::ReadOnly(map),
            entry_bytes,
            entries,
            backed_bytes,
        })
    }

    pub(super) fn entries(&self) -> usize {
        self.entries
    }

    /// How many entries fit without growing the file.
    pub(super) fn capacity(&self) -> usize {
        self.map.bytes().len() / self.entry_bytes
    }

    /// The bytes of entry `i`, which must be below `entries()`.
    pub(super) fn entry(&self, i: usize) -> &[u8] {
        let at = i * self.entry_bytes;
        &self.map.bytes()[at..at + self.entry_bytes]
    }

    /// Writes the next entry; on an error (a full disk) the index is as it was. Callers
    /// check `capacity()` first: a full or read-only index is a bug in the caller, reported
    /// as an error rather than a panic.
    pub(super) fn push(&mut self, entry: &[u8]) -> io::Result<()> {
        debug_assert_eq!(entry.len(), self.entry_bytes);
        let at = self.entries * self.entry_bytes;
        let end = at + self.entry_bytes;
        let mapped = match &self.map {
            Map::Writable(map) => map.len(),
            _ => 0,
        };
        if end > mapped {
            return Err(io::Error::other("index is full or read-only"));
        }
        if end > self.backed_bytes {
            self.back_to(end.next_multiple_of(page_bytes()).min(mapped))?;
        }
        if let Map::Writable(map) = &mut self.map {
            map[at..end].copy_from_slice(entry);
            self.entries += 1;
        }
        Ok(())
    }

    /// Writes zeros from `backed_bytes` to `to`, so the filesystem allocates (or refuses)
    /// those blocks now, in a call that can fail, rather than in a store that cannot.
    fn back_to(&mut self, to: usize) -> io::Result<()> {
        let from = self.backed_bytes;
        let file = OpenOptions::new().write(true).open(&self.path)?;
        file.write_all_at(&vec![0u8; to - from], from as u64)?;
        self.backed_bytes = to;
        Ok(())
    }

    /// Shrinks the file to its entries. The index stays usable for lookups; having no spare
    /// room it reports itself full, so an append after a trim rolls a new segment.
    pub(super) fn trim(&mut self) -> io::Result<()> {
        let used = (self.entries * self.entry_bytes) as u64;
        if self.map.bytes().len() as u64 == used {
            return Ok(());
        }
        let file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        // Unmap before shrinking: touching a mapped page past the end of a file is SIGBUS.
        self.map = Map::Unmapped;
        let resized = file.set_len(used);
        // SAFETY: as in `open_writable`.
        match unsafe { MmapMut::map_mut(&file) } {
            Ok(map) => self.map = Map::Writable(map),
            // Without a map the entries are out of reach: lookups fall back to scanning
            // from the segment's start, which is slow but still right.
            Err(e) => {
                self.entries = 0;
                return Err(e);
            }
        }
        self.entries = self.entries.min(self.capacity());
        self.backed_bytes = self.backed_bytes.min(self.map.bytes().len());
        resized
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}
