//! The size and free space of the file system holding a directory (statvfs), for
//! DescribeLogDirs' `total_bytes` and `usable_bytes`.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What a file system holds, in bytes, as Java's `FileStore` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    /// Blocks × fragment size (`getTotalSpace`).
    pub total_bytes: i64,
    /// Blocks free to unprivileged users × fragment size (`getUsableSpace`).
    pub usable_bytes: i64,
}

/// The space of the file system `dir` is on.
pub fn disk_space(dir: &Path) -> io::Result<DiskSpace> {
    let path = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the path"))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `stats` is a buffer of the struct statvfs fills.
    let rc = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let stats = unsafe { stats.assume_init() };
    let fragment = u128::from(stats.f_frsize);
    // Kafka reports a file system larger than i64 bytes as i64::MAX.
    let bytes = |blocks: u128| i64::try_from(blocks * fragment).unwrap_or(i64::MAX);
    Ok(DiskSpace {
        total_bytes: bytes(u128::from(stats.f_blocks)),
        usable_bytes: bytes(u128::from(stats.f_bavail)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_has_a_total_at_least_its_usable_space() {
        let dir = tempfile::tempdir().unwrap();
        let space = disk_space(dir.path()).unwrap();
        assert!(space.total_bytes > 0);
        assert!((0..=space.total_bytes).contains(&space.usable_bytes));
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let error = disk_space(Path::new("/no/such/dir/anywhere")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }
}
