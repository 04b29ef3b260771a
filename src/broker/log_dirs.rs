//! The log directory and what it holds, for DescribeLogDirs (`kafka-log-dirs.sh`, Cruise
//! Control, admin clients): one directory — the data directory, or in memory a stand-in name
//! — with the bytes of every partition log asked for and the space of its file system.

use std::collections::BTreeSet;
use std::io;
use std::path::PathBuf;

use super::Broker;
use crate::config::Storage;
use crate::log::disk_space::{disk_space, DiskSpace};

/// The log directory reported in memory mode: an absolute path, as tools expect every log
/// directory to be, that says where the logs are.
pub const MEMORY_LOG_DIR: &str = "/memory";

/// One log directory's contents.
#[derive(Debug)]
pub struct LogDir {
    /// The directory's absolute path (or [`MEMORY_LOG_DIR`]).
    pub path: String,
    /// The file system's space; `None` in memory, where Kafka's "unknown" (-1) is reported.
    /// `Err` when the file system could not be asked.
    pub space: io::Result<Option<DiskSpace>>,
    /// Topics by name with their partitions' (index, bytes), only partitions asked for; a
    /// topic with none of them is left out, as Kafka does.
    pub topics: Vec<(String, Vec<(i32, u64)>)>,
}

/// Which partitions to describe.
pub enum LogDirFilter {
    /// Every partition of every topic.
    All,
    /// These (topic, partition) pairs; unknown ones are left out.
    Only(BTreeSet<(String, i32)>),
}

impl Broker {
    /// The log directory with the partitions `filter` names. Reading a partition's size opens
    /// (recovers) its log: blocks on the disk, call it through [`crate::blocking::run`].
    pub fn describe_log_dir(&self, filter: &LogDirFilter) -> LogDir {
        let (path, space) = match self.config().storage() {
            Storage::Memory => (MEMORY_LOG_DIR.to_string(), Ok(None)),
            Storage::Disk(dir) => {
                let absolute = std::path::absolute(&dir).unwrap_or_else(|_| PathBuf::from(&dir));
                let space = disk_space(&absolute).map(Some);
                (absolute.to_string_lossy().into_owned(), space)
            }
        };
        let mut topics: Vec<(String, Vec<(i32, u64)>)> = self
            .topics()
            .all()
            .iter()
            .map(|topic| {
                let partitions = topic
                    .partitions
                    .iter()
                    .filter(|p| match filter {
                        LogDirFilter::All => true,
                        LogDirFilter::Only(wanted) => {
                            wanted.contains(&(topic.name.clone(), p.index))
                        }
                    })
                    .map(|p| (p.index, p.size_bytes()))
                    .collect::<Vec<_>>();
                (topic.name.clone(), partitions)
            })
            .filter(|(_, partitions)| !partitions.is_empty())
            .collect();
        topics.sort_by(|a, b| a.0.cmp(&b.0));
        LogDir {
            path,
            space,
            topics,
        }
    }
}
