//! Background upkeep of the logs: retention (`retention.ms`, `retention.bytes`), the expiry
//! of quiet idempotent producers (`producer.id.expiration.ms`, with retention's schedule) and
//! the flush policy (`flush.messages`, `flush.ms`). Disk work runs on blocking threads, never on
//! the async workers. Compaction runs on its own threads: see [`cleaner`].

// Unsafe code here: syncfs, which std does not wrap; each block says why it is sound.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub mod cleaner;

use crate::broker::Broker;
use crate::config::Storage;
use crate::partition::Partition;

/// Threads that tidy logs and write their markers at shutdown. The work is file-system
/// calls (truncates, unmaps, small writes) that mostly wait on the file system's journal, so
/// more threads than cores help: 10,000 partitions took 19 s to tidy one after another.
const CLOSE_THREADS: usize = 8;

/// How often flush deadlines are checked.
const TICK: Duration = Duration::from_millis(100);

pub async fn run(broker: Arc<Broker>) {
    // By topic id and partition: no allocation per partition per tick.
    let mut last_flush_ms: HashMap<(uuid::Uuid, i32), i64> = HashMap::new();
    let mut next_retention_ms = 0i64;
    let producer_id_expiration_ms = broker.config().producer_id_expiration_ms;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = broker.shutting_down() => return,
        }
        let now_ms = broker.clock().now_ms();
        let retention_due = now_ms >= next_retention_ms;
        if retention_due {
            next_retention_ms = now_ms + broker.config().log_retention_check_interval_ms;
        }
        for topic in broker.topics().all() {
            let (flush_messages, flush_ms) = topic.config.flush_policy();
            let (retention_ms, retention_bytes) = topic.config.retention();
            for partition in &topic.partitions {
                let key = (topic.id, partition.index);
                let last = *last_flush_ms.entry(key).or_insert(now_ms);
                let unflushed = partition.unflushed_records();
                let flush_due = unflushed > 0
                    && (unflushed >= flush_messages || now_ms.saturating_sub(last) >= flush_ms);
                if !flush_due && !retention_due {
                    continue;
                }
                if flush_due {
                    last_flush_ms.insert(key, now_ms);
                }
                let partition = partition.clone();
                let work = tokio::task::spawn_blocking(move || {
                    if flush_due {
                        if let Err(e) = partition.flush() {
                            tracing::error!(topic = %partition.topic, partition = partition.index, error = %e, "flush failed");
                        }
                    }
                    if retention_due {
                        partition.expire_producers(now_ms, producer_id_expiration_ms);
                        match partition.apply_retention(now_ms, retention_ms, retention_bytes) {
                            Ok(0) => {}
                            Ok(deleted) => tracing::info!(
                                topic = %partition.topic,
                                partition = partition.index,
                                deleted,
                                "retention deleted old segments"
                            ),
                            Err(e) => {
                                tracing::error!(topic = %partition.topic, partition = partition.index, error = %e, "retention failed")
                            }
                        }
                    }
                });
                if let Err(e) = work.await {
                    tracing::error!(error = %e, "log upkeep task failed");
                }
            }
        }
    }
}

/// Closes every log cleanly, on a blocking thread: each is tidied, the data directory's
/// filesystem is made durable with one `syncfs` — instead of an fsync per file of every
/// partition, one after another (33 s for 10,000 partitions) — and only then is each log's
/// clean-shutdown marker written, and those made durable the same way. A log that could not
/// be tidied gets no marker: its next start recovers it.
pub async fn close_logs(broker: Arc<Broker>) {
    let closed = tokio::task::spawn_blocking(move || {
        let partitions: Vec<_> = broker
            .topics()
            .all()
            .iter()
            .flat_map(|topic| topic.partitions.clone())
            .collect();
        let dir = match broker.config().storage() {
            Storage::Disk(dir) => dir,
            Storage::Memory => return,
        };
        let failed = |partition: &Partition, e: &io::Error| {
            tracing::error!(topic = %partition.topic, partition = partition.index, error = %e, "close failed");
        };
        let started = crate::clock::monotonic_now();
        let tidied: Vec<_> = in_parallel(&partitions, |p| match p.tidy_for_close() {
            Ok(open) => open.then_some(p),
            Err(e) => {
                failed(p, &e);
                None
            }
        });
        let tidy_ms = started.elapsed().as_millis();
        if let Err(e) = sync_filesystem(&dir) {
            tracing::error!(dir = %dir.display(), error = %e, "cannot make the data directory durable; no log is marked clean");
            return;
        }
        let sync_ms = started.elapsed().as_millis() - tidy_ms;
        let tidied_count = tidied.len();
        in_parallel(&tidied, |partition| {
            if let Err(e) = partition.mark_clean() {
                failed(partition, &e);
            }
            None::<()>
        });
        if let Err(e) = sync_filesystem(&dir) {
            tracing::error!(dir = %dir.display(), error = %e, "cannot make the clean-shutdown markers durable");
        }
        tracing::info!(
            logs = tidied_count,
            tidy_ms,
            sync_ms,
            total_ms = started.elapsed().as_millis(),
            "logs closed"
        );
    })
    .await;
    if let Err(e) = closed {
        tracing::error!(error = %e, "closing the logs failed");
    }
}

/// Runs `work` on every item on up to [`CLOSE_THREADS`] threads; returns what it kept.
fn in_parallel<'a, T: Sync, R: Send>(
    items: &'a [T],
    work: impl Fn(&'a T) -> Option<R> + Sync,
) -> Vec<R> {
    let chunk = items.len().div_ceil(CLOSE_THREADS).max(1);
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().filter_map(work).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            // A panic was reported where it happened; those logs stay unmarked and their
            // next start recovers them.
            .flat_map(|handle| handle.join().unwrap_or_default())
            .collect()
    })
}

/// Makes everything written to the filesystem holding `dir` durable, in one call.
fn sync_filesystem(dir: &Path) -> io::Result<()> {
    let dir = std::fs::File::open(dir)?;
    // SAFETY: a plain system call on a descriptor `dir` owns for the whole call.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
