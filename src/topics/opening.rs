//! Opening partition logs: new ones in fresh directories, those found at start when first
//! used or by the recovery threads.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::{files, Storage, TopicConfig, Topics};
use crate::log::{Log, MemoryLog, SegmentedLog};
use crate::partition::{DurableFirst, LogOpener, Partition};

impl Topics {
    fn open_partition(
        &self,
        topic: &str,
        index: i32,
        config: &TopicConfig,
        definition: Option<&Arc<DurableFirst>>,
    ) -> io::Result<Arc<Partition>> {
        let partition = match &self.shared.storage {
            Storage::Memory => {
                let segments =
                    config.segment_config(self.shared.clock.clone(), &self.shared.open_files);
                let log = MemoryLog::with_segments(segments);
                Partition::new(topic.to_string(), index, Box::new(log))
            }
            Storage::Disk(dir) => {
                let log = SegmentedLog::open(
                    &files::partition_dir(dir, topic, index),
                    config.segment_config(self.shared.clock.clone(), &self.shared.open_files),
                )?;
                Partition::new(topic.to_string(), index, Box::new(log))
            }
        };
        Ok(Arc::new(match definition {
            Some(definition) => partition.depending_on(definition.clone()),
            None => partition,
        }))
    }

    /// Opens partitions `range` of a topic. On disk, each fsync of theirs first makes the
    /// topic's definition durable, once for them all.
    fn open_partitions(
        &self,
        topic: &str,
        range: std::ops::Range<i32>,
        config: &TopicConfig,
    ) -> io::Result<Vec<Arc<Partition>>> {
        let definition = match &self.shared.storage {
            Storage::Memory => None,
            Storage::Disk(_) => Some(self.definition_durable_first(topic)),
        };
        range
            .map(|i| self.open_partition(topic, i, config, definition.as_ref()))
            .collect()
    }

    /// The partitions of a topic found at start, each opened when first used.
    pub(super) fn found_partitions(
        &self,
        data_dir: &Path,
        topic: &str,
        count: i32,
        config: &TopicConfig,
    ) -> Vec<Arc<Partition>> {
        let definition = self.definition_durable_first(topic);
        (0..count)
            .map(|index| {
                let dir = files::partition_dir(data_dir, topic, index);
                let segments =
                    config.segment_config(self.shared.clock.clone(), &self.shared.open_files);
                let opener: LogOpener = Box::new(move || {
                    Ok(Box::new(SegmentedLog::open(&dir, segments)?) as Box<dyn Log>)
                });
                Arc::new(
                    Partition::recovering(topic.to_string(), index, opener)
                        .depending_on(definition.clone()),
                )
            })
            .collect()
    }

    /// Opens (recovers) every partition not opened yet, on `threads` threads, until done or
    /// until `stop` is set; Kafka's log recovery threads. Blocks: run it on threads of its
    /// own while the broker serves.
    pub fn recover_all(&self, threads: usize, stop: &AtomicBool) {
        let pending: Vec<Arc<Partition>> = self
            .all()
            .iter()
            .flat_map(|topic| topic.partitions.iter().filter(|p| !p.is_open()).cloned())
            .collect();
        let total = pending.len();
        if total == 0 {
            return;
        }
        let started = crate::clock::monotonic_now();
        let queue = Mutex::new(pending);
        std::thread::scope(|scope| {
            for _ in 0..threads.max(1) {
                scope.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
                        match next {
                            Some(partition) => partition.open_now(),
                            None => break,
                        }
                    }
                });
            }
        });
        tracing::info!(
            partitions = total,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "partition logs recovered"
        );
    }

    /// Opens partitions `range` of a topic being created or grown, in fresh directories;
    /// on an error nothing of them is left.
    pub(super) fn open_new_partitions(
        &self,
        topic: &str,
        range: std::ops::Range<i32>,
        config: &TopicConfig,
    ) -> io::Result<Vec<Arc<Partition>>> {
        let opened = match &self.shared.storage {
            Storage::Memory => return self.open_partitions(topic, range, config),
            Storage::Disk(dir) => files::make_partition_dirs(dir, topic, range.clone())
                .and_then(|()| self.open_partitions(topic, range.clone(), config)),
        };
        if opened.is_err() {
            self.remove_new_partition_dirs(topic, range);
        }
        opened
    }

    /// Removes the directories of partitions whose creation failed (none in memory).
    pub(super) fn remove_new_partition_dirs(&self, topic: &str, range: std::ops::Range<i32>) {
        if let Storage::Disk(dir) = &self.shared.storage {
            files::remove_partition_dirs(dir, topic, range);
        }
    }

    /// Makes `topic`'s definition durable before the first fsync of its partitions' records,
    /// once for them all.
    fn definition_durable_first(&self, topic: &str) -> Arc<DurableFirst> {
        let (store, name) = (self.shared.store.clone(), topic.to_string());
        DurableFirst::new(move || store.make_durable(&name))
    }
}
