//! A coordinator journal's one I/O seam: every write, cut and sync of its file goes through
//! [`JournalFile`], so tests can make the disk fail (a full disk, a torn write) exactly where
//! a real one would, and check that nothing is answered as written that is not.

use std::fs::File;
use std::io::{self, Write};
#[cfg(test)]
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(test)]
use std::sync::{Arc, Mutex};

/// What the group log does to its file after opening it.
pub(crate) trait JournalFile: Send {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    fn sync_data(&mut self) -> io::Result<()>;
}

impl JournalFile for File {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        Write::write_all(self, bytes)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
}

/// Faults to inject, shared by a test and the file it wraps.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct JournalFaults {
    /// Writes to refuse (as a full disk would) before writing works again.
    pub(crate) failed_writes: AtomicUsize,
    /// The next write puts only this many bytes on disk, then fails: a torn write.
    pub(crate) torn_write_bytes: Mutex<Option<usize>>,
    /// Cutting the file back fails too, so a torn tail stays on disk.
    pub(crate) failed_cuts: AtomicBool,
}

#[cfg(test)]
impl JournalFaults {
    pub(crate) fn fail_writes(&self, count: usize) {
        self.failed_writes.store(count, Ordering::SeqCst);
    }

    pub(crate) fn tear_next_write(&self, bytes: usize, cut_fails: bool) {
        *self
            .torn_write_bytes
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(bytes);
        self.failed_cuts.store(cut_fails, Ordering::SeqCst);
    }
}

/// A real file that fails as [`JournalFaults`] say.
#[cfg(test)]
pub(crate) struct FaultyFile {
    pub(crate) file: File,
    pub(crate) faults: Arc<JournalFaults>,
}

#[cfg(test)]
impl JournalFile for FaultyFile {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let refused = self
            .faults
            .failed_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refused {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        let torn = self
            .faults
            .torn_write_bytes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(kept) = torn {
            Write::write_all(&mut self.file, &bytes[..kept.min(bytes.len())])?;
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        Write::write_all(&mut self.file, bytes)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        if self.faults.failed_cuts.swap(false, Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        self.file.set_len(len)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}
