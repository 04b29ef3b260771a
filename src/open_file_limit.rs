//! The process's limit on open files (`RLIMIT_NOFILE`), and the share of it the partitions'
//! segment files get under [`OpenFiles`](crate::log::open_files::OpenFiles).

// Unsafe code here: getrlimit and setrlimit; each block says why it is sound.
#![allow(unsafe_code)]

/// Descriptors kept for everything but segment files and connections: the data directory
/// lock, the group and transaction journals, listeners, the cleaner's files, index files
/// opened for a moment, reads and flushes in flight.
pub const OTHER_FILES: u64 = 256;

/// The least cap on open segment files whatever the limit: a broker under a tiny limit
/// still serves, reopening files more often.
const MIN_SEGMENT_FILES: u64 = 64;

fn read() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct passed to it.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit)
}

/// The soft limit now in force.
pub fn current() -> Option<u64> {
    read().map(|limit| limit.rlim_cur)
}

/// Raises the soft limit to the hard limit (the usual soft limit of 1,024 is soon reached by
/// connections and partitions); returns the limit now in force, `None` when it cannot be read
/// or raised.
pub fn raise() -> Option<u64> {
    let mut limit = read()?;
    if limit.rlim_cur == limit.rlim_max {
        return Some(limit.rlim_cur);
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: setrlimit only reads the struct passed to it.
    (unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0).then_some(limit.rlim_cur)
}

/// The cap on open segment files when `max_open_segment_files` is 0: what `limit` leaves
/// after `max_connections` and [`OTHER_FILES`], at least 64; without a known limit, 4,096.
pub fn segment_file_share(limit: Option<u64>, max_connections: usize) -> usize {
    let Some(limit) = limit else { return 4096 };
    let share = limit
        .saturating_sub(max_connections as u64)
        .saturating_sub(OTHER_FILES)
        .max(MIN_SEGMENT_FILES);
    usize::try_from(share).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_files_get_what_connections_and_the_rest_leave() {
        assert_eq!(segment_file_share(Some(20_000), 10_000), 9_744);
        assert_eq!(segment_file_share(Some(1_024), 10_000), 64);
        assert_eq!(segment_file_share(None, 10), 4096);
        assert!(current().is_some());
    }
}
