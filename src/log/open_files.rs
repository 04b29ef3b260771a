//! A cap on the segment files the broker's logs hold open, together.
//!
//! Every partition appends to its active segment, and a consumer reading behind the tail
//! opens sealed ones; held open for good, that is a descriptor per partition, and a broker
//! with more partitions than its open-file limit fails its creations and cannot start again.
//! So the logs share one [`OpenFiles`], which counts what they hold and keeps it at
//! `capacity`:
//!
//! - An active segment's `.log` is a [`SegmentFile`]: open while it is used, closed by the
//!   cap when others are used more recently (the CLOCK approximation of least recently used:
//!   a use sets a flag, a sweep closes the first file whose flag is clear and clears the
//!   flags it passes), and reopened by path at its next use. Appends write at explicit
//!   positions and an fsync covers the file whatever descriptor wrote it, so a reopened
//!   file continues exactly where the closed one stopped.
//! - A sealed segment a read opened is kept in its log's small cache only while the count
//!   is below the cap and sealed segments hold less than half of it
//!   ([`OpenFiles::try_hold`]), so they never crowd out the files appends go to; past that
//!   the read uses the segment and closes it.
//!
//! Reads and flushes planned under a partition's lock hold the `File` they planned with
//! until they finish, so the descriptors in use can exceed the cap by the reads and flushes
//! in flight, which the connection limit bounds.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// The default cap, for logs opened outside a broker (tests, tools): far above what they
/// open, far below any open-file limit worth running a broker under.
const DEFAULT_CAPACITY: usize = 4096;

/// The segment files held open by the logs that share it, and their cap.
#[derive(Debug)]
pub struct OpenFiles {
    capacity: AtomicUsize,
    /// Files held: active segments' open [`SegmentFile`]s and cached sealed segments.
    held: AtomicUsize,
    /// Of those, cached sealed segments.
    sealed: AtomicUsize,
    /// How many times a closed active segment file was opened again.
    reopened: AtomicU64,
    /// The active segment files that are open, for the sweep; entries of dropped files are
    /// removed as the sweep meets them.
    ring: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    files: Vec<Weak<Slot>>,
    hand: usize,
}

impl Default for OpenFiles {
    fn default() -> Self {
        OpenFiles::new(DEFAULT_CAPACITY)
    }
}

impl OpenFiles {
    pub fn new(capacity: usize) -> OpenFiles {
        OpenFiles {
            capacity: AtomicUsize::new(capacity.max(1)),
            held: AtomicUsize::new(0),
            sealed: AtomicUsize::new(0),
            reopened: AtomicU64::new(0),
            ring: Mutex::new(Ring::default()),
        }
    }

    /// Changes the cap; files over a lower cap are closed as others are opened.
    pub fn set_capacity(&self, capacity: usize) {
        self.capacity.store(capacity.max(1), Ordering::Relaxed);
    }

    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Segment files held open now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Closed active segment files opened again since start.
    pub fn reopened(&self) -> u64 {
        self.reopened.load(Ordering::Relaxed)
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        // The ring holds no invariant a panic could break half-way: at worst an entry is
        // missed by a sweep, and the count stays right (it is kept outside the ring).
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a sealed segment its log wants to keep open, if the cap leaves room and sealed
    /// segments hold less than half of it; `None` when not (the caller then closes the
    /// segment after its read).
    pub(crate) fn try_hold(self: &Arc<Self>) -> Option<Held> {
        let capacity = self.capacity();
        let sealed_share = (capacity / 2).max(1);
        self.sealed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |sealed| {
                (sealed < sealed_share).then_some(sealed + 1)
            })
            .ok()?;
        let counted = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < capacity).then_some(held + 1)
            });
        if counted.is_err() {
            self.sealed.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Held {
            files: self.clone(),
        })
    }

    /// Counts an active segment file just opened, then closes others while over the cap.
    fn admit(&self, slot: &Arc<Slot>) {
        self.held.fetch_add(1, Ordering::AcqRel);
        let victims = {
            let mut ring = self.ring();
            ring.files.push(Arc::downgrade(slot));
            // Dropped files leave entries behind; without pressure no sweep removes them.
            if ring.files.len() > 2 * self.held() + 64 {
                ring.files.retain(|w| w.strong_count() > 0);
                ring.hand = 0;
            }
            let over = self.held().saturating_sub(self.capacity());
            ring.take_victims(over)
        };
        // Closed outside the ring's lock: closing takes a file's own lock, which `get`
        // holds while it opens (and then admits, taking the ring's).
        for victim in victims {
            if victim.take_file().is_some() {
                self.held.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

impl Ring {
    /// Removes and returns up to `count` open files not used since the sweep last passed
    /// them, clearing the use flags it passes; at most two turns of the ring, so it ends
    /// even when every file is in use.
    fn take_victims(&mut self, count: usize) -> Vec<Arc<Slot>> {
        let mut victims = Vec::new();
        let mut steps = 2 * self.files.len();
        while victims.len() < count && steps > 0 && !self.files.is_empty() {
            steps -= 1;
            if self.hand >= self.files.len() {
                self.hand = 0;
            }
            let Some(slot) = self.files[self.hand].upgrade() else {
                self.files.swap_remove(self.hand);
                continue;
            };
            if slot.used.swap(false, Ordering::AcqRel) {
                self.hand += 1;
                continue;
            }
            self.files.swap_remove(self.hand);
            victims.push(slot);
        }
        victims
    }
}

/// One sealed segment counted by [`OpenFiles::try_hold`]; the count drops with it.
#[derive(Debug)]
pub(crate) struct Held {
    files: Arc<OpenFiles>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.files.held.fetch_sub(1, Ordering::AcqRel);
        self.files.sealed.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug)]
struct Slot {
    path: PathBuf,
    file: Mutex<Option<Arc<File>>>,
    /// Set by each use, cleared by the sweep: a file the sweep finds clear is closed.
    used: AtomicBool,
    files: Arc<OpenFiles>,
}

impl Slot {
    fn file(&self) -> MutexGuard<'_, Option<Arc<File>>> {
        // An Option has no invariant a panic could break half-way.
        self.file.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_file(&self) -> Option<Arc<File>> {
        self.file().take()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let open = self.file.get_mut().map_or(true, |f| f.is_some());
        if open {
            self.files.held.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// An active segment's `.log`, open (read and write) while the cap allows, reopened by path
/// when it was closed.
#[derive(Debug)]
pub(crate) struct SegmentFile {
    slot: Arc<Slot>,
}

impl SegmentFile {
    /// Takes `file`, just opened at `path`, under the cap of `files`.
    pub(crate) fn new(files: &Arc<OpenFiles>, path: PathBuf, file: File) -> SegmentFile {
        let slot = Arc::new(Slot {
            path,
            file: Mutex::new(Some(Arc::new(file))),
            used: AtomicBool::new(true),
            files: files.clone(),
        });
        files.admit(&slot);
        SegmentFile { slot }
    }

    /// The open file, opened again if the cap closed it.
    pub(crate) fn get(&self) -> io::Result<Arc<File>> {
        let mut held = self.slot.file();
        self.slot.used.store(true, Ordering::Release);
        if let Some(file) = held.as_ref() {
            return Ok(file.clone());
        }
        let file = Arc::new(
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.slot.path)?,
        );
        *held = Some(file.clone());
        drop(held);
        self.slot.files.reopened.fetch_add(1, Ordering::Relaxed);
        self.slot.files.admit(&self.slot);
        Ok(file)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.slot.path
    }

    /// Whether the file is open now (for tests of the cap).
    #[cfg(test)]
    pub(crate) fn is_open(&self) -> bool {
        self.slot.file().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::FileExt;

    fn segment(files: &Arc<OpenFiles>, dir: &Path, name: &str) -> SegmentFile {
        let path = dir.join(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        SegmentFile::new(files, path, file)
    }

    #[test]
    fn the_cap_closes_the_least_recently_used_and_reopens_on_use() {
        let dir = tempfile::tempdir().unwrap();
        let files = Arc::new(OpenFiles::new(3));
        let segments: Vec<SegmentFile> = (0..5)
            .map(|i| segment(&files, dir.path(), &format!("{i}.log")))
            .collect();
        assert_eq!(files.held(), 3);
        assert_eq!(segments.iter().filter(|s| s.is_open()).count(), 3);
        // Every file still reads and writes, whether it was closed or not.
        for (i, segment) in segments.iter().enumerate() {
            segment
                .get()
                .unwrap()
                .write_all_at(format!("segment {i}").as_bytes(), 0)
                .unwrap();
            assert!(files.held() <= 3, "{} held after using {i}", files.held());
        }
        for (i, segment) in segments.iter().enumerate() {
            let mut read = vec![0u8; 9];
            segment.get().unwrap().read_exact_at(&mut read, 0).unwrap();
            assert_eq!(read, format!("segment {i}").as_bytes());
        }
        assert!(files.reopened() >= 2);
        assert_eq!(files.held(), 3);
        drop(segments);
        assert_eq!(files.held(), 0);
    }

    #[test]
    fn a_file_used_since_the_last_sweep_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let files = Arc::new(OpenFiles::new(2));
        let a = segment(&files, dir.path(), "a.log");
        let b = segment(&files, dir.path(), "b.log");
        // Over the cap: the sweep clears every flag and closes the first file it meets again.
        let c = segment(&files, dir.path(), "c.log");
        assert!(!a.is_open() && b.is_open() && c.is_open());
        // `b` is used after that sweep, `c` is not: `c` goes.
        b.get().unwrap();
        let d = segment(&files, dir.path(), "d.log");
        assert!(b.is_open() && !c.is_open() && d.is_open());
        assert_eq!(files.held(), 2);
    }

    #[test]
    fn sealed_segments_are_held_only_below_the_cap_and_in_half_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let files = Arc::new(OpenFiles::new(4));
        let first = files.try_hold().expect("room");
        let second = files.try_hold().expect("room");
        assert!(files.try_hold().is_none(), "half the cap is theirs at most");
        let actives: Vec<SegmentFile> = (0..2)
            .map(|i| segment(&files, dir.path(), &format!("{i}.log")))
            .collect();
        assert_eq!(files.held(), 4);
        drop(first);
        let third = files.try_hold().expect("room again");
        let _more = segment(&files, dir.path(), "more.log");
        drop(second);
        assert!(files.try_hold().is_some(), "one slot is free");
        assert!(files.held() <= 4);
        drop((third, actives, _more));
        assert_eq!(files.held(), 0);
    }

    #[test]
    fn a_reopened_file_appends_where_the_closed_one_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let files = Arc::new(OpenFiles::new(1));
        let first = segment(&files, dir.path(), "first.log");
        first.get().unwrap().write_all_at(b"abc", 0).unwrap();
        let other = segment(&files, dir.path(), "other.log");
        assert!(!first.is_open());
        first.get().unwrap().write_all_at(b"def", 3).unwrap();
        first.get().unwrap().sync_all().unwrap();
        assert_eq!(std::fs::read(first.path()).unwrap(), b"abcdef");
        other.get().unwrap().write_all(b"x").unwrap();
    }
}
