//! Disk space reserved ahead of the active segment's end.
//!
//! Appending to a file block by block makes the filesystem reserve and map every new block
//! inside each write (ext4's delayed allocation). Reserving extents ahead with
//! `fallocate(FALLOC_FL_KEEP_SIZE)` moves that work out of the write path; the file's size
//! is untouched, so readers and recovery see only what was written. When the segment is
//! sealed or closed, what was reserved and not written is given back.

// Unsafe code here: fallocate, which std does not wrap; each block says why it is sound.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;

/// The least reserved at a time.
const MIN_RESERVE_BYTES: u64 = 64 * 1024;
/// The most reserved at a time: what an idle partition can hold unused is bounded by this,
/// and by what its segment already holds (reservations double with the segment).
const MAX_RESERVE_BYTES: u64 = 8 * 1024 * 1024;

/// The reservation of one active segment file.
#[derive(Debug)]
pub(crate) struct Reservation {
    /// The file is reserved up to here (at least its size).
    reserved_to: u64,
    /// False once the filesystem said it cannot reserve: appends then just write.
    supported: bool,
}

impl Reservation {
    /// A file of `size` bytes with nothing reserved beyond them (that this process knows of).
    pub(super) fn new(size: u64) -> Reservation {
        Reservation {
            reserved_to: size,
            supported: cfg!(target_os = "linux"),
        }
    }

    /// Makes sure `[size, size + len)` is reserved before it is written. Failure is not an
    /// error: the write that follows allocates as usual, and reports a full disk itself.
    pub(super) fn before_write(&mut self, file: &File, size: u64, len: u64, segment_bytes: u64) {
        let end = size + len;
        if !self.supported || end <= self.reserved_to {
            return;
        }
        let ahead = size.clamp(MIN_RESERVE_BYTES, MAX_RESERVE_BYTES);
        // Never past the segment's own limit, but always what this write needs.
        let to = (end + ahead).min(segment_bytes.max(end));
        let from = self.reserved_to.max(size);
        match allocate(file, from, to - from) {
            Ok(()) => self.reserved_to = to,
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                tracing::debug!("the filesystem cannot reserve space ahead; appends just write");
                self.supported = false;
            }
            Err(e) => tracing::debug!(error = %e, "could not reserve space ahead of appends"),
        }
    }

    /// Gives back what was reserved past `size`: the segment will not grow any more.
    /// Truncating to the size it already has is what frees blocks past the end (a hole
    /// punched past the end is ignored by ext4).
    pub(super) fn release(&mut self, file: &File, size: u64) {
        if self.reserved_to > size {
            if let Err(e) = file.set_len(size) {
                tracing::debug!(error = %e, "could not give back space reserved past the end");
            }
        }
        self.reserved_to = size;
    }
}

#[cfg(target_os = "linux")]
fn fallocate(file: &File, mode: libc::c_int, offset: u64, len: u64) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let out_of_range = || io::Error::new(io::ErrorKind::InvalidInput, "range out of bounds");
    let offset = libc::off_t::try_from(offset).map_err(|_| out_of_range())?;
    let len = libc::off_t::try_from(len).map_err(|_| out_of_range())?;
    loop {
        // SAFETY: a plain syscall on a descriptor this `File` owns for the whole call.
        if unsafe { libc::fallocate(file.as_raw_fd(), mode, offset, len) } == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

#[cfg(target_os = "linux")]
fn allocate(file: &File, offset: u64, len: u64) -> io::Result<()> {
    fallocate(file, libc::FALLOC_FL_KEEP_SIZE, offset, len)
}

#[cfg(not(target_os = "linux"))]
fn allocate(_file: &File, _offset: u64, _len: u64) -> io::Result<()> {
    Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::os::unix::fs::{FileExt, MetadataExt};

    use super::*;

    fn allocated_bytes(file: &File) -> u64 {
        file.metadata().unwrap().blocks() * 512
    }

    #[test]
    fn reserves_ahead_without_growing_the_file_and_gives_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("segment.log"))
            .unwrap();
        let mut reservation = Reservation::new(0);
        let batch = vec![7u8; 100_000];
        let mut size = 0u64;
        for _ in 0..20 {
            reservation.before_write(&file, size, batch.len() as u64, 1 << 30);
            file.write_all_at(&batch, size).unwrap();
            size += batch.len() as u64;
        }
        assert_eq!(
            file.metadata().unwrap().len(),
            size,
            "the size is what was written"
        );
        if !reservation.supported {
            return; // a filesystem without fallocate: nothing more to see
        }
        assert!(reservation.reserved_to > size);
        assert!(
            reservation.reserved_to - size
                <= size.clamp(MIN_RESERVE_BYTES, MAX_RESERVE_BYTES) + batch.len() as u64
        );
        assert!(allocated_bytes(&file) >= reservation.reserved_to);

        reservation.release(&file, size);
        assert!(
            allocated_bytes(&file) < size + 64 * 1024,
            "{} bytes still allocated for a {size}-byte file",
            allocated_bytes(&file)
        );
        let mut read = vec![0u8; batch.len()];
        file.read_exact_at(&mut read, size - batch.len() as u64)
            .unwrap();
        assert_eq!(read, batch, "giving back the reserve keeps the data");
    }

    #[test]
    fn never_reserves_past_the_segment_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("small.log")).unwrap();
        let mut reservation = Reservation::new(0);
        reservation.before_write(&file, 0, 1000, 4096);
        assert!(reservation.reserved_to <= 4096);
        // A batch larger than the limit (a segment's first batch may be) is still covered.
        reservation.before_write(&file, 0, 10_000, 4096);
        assert!(!reservation.supported || reservation.reserved_to >= 10_000);
    }
}
