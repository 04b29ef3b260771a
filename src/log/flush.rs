//! Flushing in two steps: what must be fsynced is taken under the partition's lock, and the
//! fsyncs run after it is released, so appends and reads go on while the disk syncs — and a
//! flush that ends after several appends made them all durable at once.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::files;

/// What makes a log's appends so far durable. Taken by [`Log::flush_plan`](super::Log),
/// run without the lock, and reported back with [`Log::flushed`](super::Log).
#[derive(Debug, Default)]
pub struct FlushPlan {
    /// Open files to fsync: the active segment's `.log`, shared, so it stays valid if the
    /// segment is sealed or deleted meanwhile.
    pub(super) files: Vec<Arc<File>>,
    /// Files to fsync by path. One deleted meanwhile needs no sync.
    pub(super) paths: Vec<PathBuf>,
    /// A directory whose entries changed, with the count of changes the sync covers.
    pub(super) dir: Option<(PathBuf, u64)>,
}

impl FlushPlan {
    /// The fsyncs. Blocks on the disk: call it off the async workers, without the lock.
    pub fn run(&self) -> io::Result<()> {
        for file in &self.files {
            file.sync_data()?;
        }
        for path in &self.paths {
            files::sync_path(path)?;
        }
        if let Some((dir, _)) = &self.dir {
            match files::sync_dir(dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}
