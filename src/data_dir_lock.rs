//! One broker per data directory: an exclusive `flock` on `<data_dir>/.lock`, held for the
//! broker's life.
//!
//! Two brokers on one directory would append to the same segments and overwrite each other's
//! topic and group files, so the second must refuse to start. `flock` (not a pid file alone)
//! because the kernel releases it when the holder exits, even by `kill -9`: a stale file never
//! blocks a restart. The holder writes its pid into the file so the refused broker can say who
//! holds it. The file is never deleted: unlinking a lock file lets a third process lock a fresh
//! file while a second still waits on the old inode.

// Unsafe code here: flock, which std does not wrap; each block says why it is sound.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = ".lock";

/// An exclusive lock on a data directory; released when dropped (the descriptor closes).
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Locks `dir` (creating it if needed) and records this process's pid in the lock file.
    /// Fails at once, without waiting, if another process (or another open of the file in
    /// this one) holds it; the error names the directory and the holder's pid.
    pub fn acquire(dir: &Path) -> io::Result<DataDirLock> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(LOCK_FILE);
        // No truncation on open: until we hold the lock the pid in it is the holder's.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display()))
            })?;
        if let Err(e) = try_lock_exclusive(&file) {
            if e.kind() != io::ErrorKind::WouldBlock {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot lock {}: {e}", path.display()),
                ));
            }
            let holder = match read_pid(&mut file) {
                Some(pid) => format!("pid {pid}"),
                // The holder locked the file but has not written its pid yet.
                None => "pid unknown".to_string(),
            };
            return Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                format!(
                    "data directory {} is locked by another sluice broker ({holder}, lock file {}); \
                     stop it or use another --data-dir",
                    dir.display(),
                    path.display()
                ),
            ));
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "{}", std::process::id())?;
        Ok(DataDirLock { file, path })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DataDirLock {
    fn drop(&mut self) {
        // Clears our pid while we still hold the lock, so the file never names a process
        // that no longer holds it (after a clean stop, at least). Closing the descriptor,
        // right after, releases the lock.
        let _ = self.file.set_len(0);
    }
}

/// `flock(LOCK_EX | LOCK_NB)` on `file`: `WouldBlock` if another open file description holds
/// it. The lock belongs to the open file description, so it lasts until `file` is closed.
fn try_lock_exclusive(file: &File) -> io::Result<()> {
    // SAFETY: flock only reads its arguments; the descriptor is valid for the call because
    // `file` is borrowed for its duration.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The pid the holder wrote, if the file holds one.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    // A pid is a few digits; a larger file is not ours to read whole.
    file.take(64).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_naming_the_directory_and_pid_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = DataDirLock::acquire(&data).unwrap();
        assert_eq!(first.path(), data.join(LOCK_FILE));
        assert_eq!(
            std::fs::read_to_string(data.join(LOCK_FILE)).unwrap(),
            format!("{}\n", std::process::id())
        );

        // A second open of the file is a different open file description: flock refuses it
        // even within this process.
        let refused = DataDirLock::acquire(&data).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ResourceBusy);
        let message = refused.to_string();
        assert!(
            message.contains(&data.display().to_string()),
            "names the directory: {message}"
        );
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "names the holder's pid: {message}"
        );
        // The refused attempt did not clobber the holder's pid.
        assert_eq!(
            std::fs::read_to_string(data.join(LOCK_FILE)).unwrap(),
            format!("{}\n", std::process::id())
        );

        drop(first);
        assert_eq!(std::fs::read_to_string(data.join(LOCK_FILE)).unwrap(), "");
        let again = DataDirLock::acquire(&data).unwrap();
        drop(again);
    }
}
