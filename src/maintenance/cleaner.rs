//! The log cleaner's threads (`log_cleaner_threads`): each in turn picks the compacted
//! partition with the largest dirty ratio that no other thread is cleaning, runs a pass on
//! it (see [`Partition::clean`]), and sleeps `log_cleaner_backoff_ms` when nothing is due.
//! Topic configs are read afresh at every pass: AlterConfigs may change them.
//!
//! Plain threads rather than tokio's blocking pool: a pass reads and writes whole segments
//! for as long as it takes, which would hold a blocking-pool thread that fetches and
//! flushes need. Memory is bounded by `log_cleaner_dedupe_buffer_bytes`, shared by the
//! threads; their I/O by `log_cleaner_io_max_bytes_per_second`, shared too.

use std::collections::HashSet;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::broker::Broker;
use crate::log::cleaner::{CleanParams, Throttle};
use crate::partition::Partition;
use crate::record::validate::decompression_budget;

/// The running cleaner threads.
pub struct Cleaner {
    threads: Vec<std::thread::JoinHandle<()>>,
    shared: Arc<Shared>,
}

struct Shared {
    stop: Arc<AtomicBool>,
    /// Partitions being cleaned, by topic id and index.
    busy: Mutex<HashSet<(uuid::Uuid, i32)>>,
    wake: Condvar,
    throttle: Throttle,
}

impl Cleaner {
    /// Starts the threads, or none when `log_cleaner_enable` is off.
    pub fn start(broker: Arc<Broker>) -> io::Result<Cleaner> {
        let config = broker.config();
        let shared = Arc::new(Shared {
            stop: Arc::new(AtomicBool::new(false)),
            busy: Mutex::new(HashSet::new()),
            wake: Condvar::new(),
            throttle: Throttle::new(config.log_cleaner_io_max_bytes_per_second as f64),
        });
        let count = if config.log_cleaner_enable {
            config.log_cleaner_threads
        } else {
            0
        };
        let mut threads = Vec::new();
        for n in 0..count {
            let (broker, shared) = (broker.clone(), shared.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("sluice-cleaner-{n}"))
                    .spawn(move || run(&broker, &shared, count))?,
            );
        }
        Ok(Cleaner { threads, shared })
    }

    /// Stops the threads: a pass in progress gives up, leaving its log as it was.
    pub fn stop(self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // A thread checks the flag and starts waiting under this lock: taken here, no thread
        // can be between the two, so none sleeps through the notification.
        drop(lock(&self.shared.busy));
        self.shared.wake.notify_all();
        for thread in self.threads {
            if thread.join().is_err() {
                tracing::error!("a log cleaner thread failed");
            }
        }
    }
}

fn run(broker: &Broker, shared: &Shared, threads: usize) {
    let backoff = Duration::from_millis(broker.config().log_cleaner_backoff_ms as u64);
    let buffer_bytes = broker.config().log_cleaner_dedupe_buffer_bytes / threads.max(1);
    while !shared.stop.load(Ordering::SeqCst) {
        let mut cleaned = false;
        for (key, partition, params) in candidates(broker, shared) {
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            if !lock(&shared.busy).insert(key) {
                continue;
            }
            cleaned |= clean_one(broker, shared, &partition, params, buffer_bytes);
            lock(&shared.busy).remove(&key);
        }
        if !cleaned {
            let busy = lock(&shared.busy);
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            let _ = shared.wake.wait_timeout(busy, backoff);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

type Candidate = ((uuid::Uuid, i32), Arc<Partition>, CleanParams);

/// The compacted partitions, the dirtiest (at their last check) first, each with its
/// topic's settings as they are now; records the largest ratio for the metrics. Checking a
/// partition that is not due costs a walk over its segment list under its lock.
fn candidates(broker: &Broker, shared: &Shared) -> Vec<Candidate> {
    let now_ms = broker.clock().now_ms();
    let mut ranked: Vec<(f64, Candidate)> = Vec::new();
    let mut max_ratio = 0f64;
    for topic in broker.topics().all() {
        if !topic.config.cleanup_policy_compacts() {
            continue;
        }
        let compaction = topic.config.compaction();
        let params = CleanParams {
            now_ms,
            delete_retention_ms: compaction.delete_retention_ms,
            min_compaction_lag_ms: compaction.min_compaction_lag_ms,
            max_compaction_lag_ms: compaction.max_compaction_lag_ms,
            min_cleanable_dirty_ratio: compaction.min_cleanable_dirty_ratio,
            decompressed_max_bytes: decompression_budget(topic.config.max_message_bytes()),
            stop: shared.stop.clone(),
            ..CleanParams::default()
        };
        for partition in &topic.partitions {
            let ratio = partition.last_dirty_ratio();
            max_ratio = max_ratio.max(ratio.unwrap_or(0.0));
            // Never checked yet: first, so its ratio gets known.
            let rank = ratio.unwrap_or(f64::INFINITY);
            let key = (topic.id, partition.index);
            ranked.push((rank, (key, partition.clone(), params.clone())));
        }
    }
    broker.metrics().cleaner.max_dirty_ratio.set(max_ratio);
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked.into_iter().map(|(_, candidate)| candidate).collect()
}

/// One pass over one partition; true when it rewrote something.
fn clean_one(
    broker: &Broker,
    shared: &Shared,
    partition: &Partition,
    mut params: CleanParams,
    buffer_bytes: usize,
) -> bool {
    params.dedupe_buffer_bytes = buffer_bytes;
    let started = crate::clock::monotonic_now();
    match partition.clean(params, &shared.throttle) {
        Ok((_, None)) => false,
        Ok((cleanable, Some(stats))) => {
            let metrics = &broker.metrics().cleaner;
            metrics.read_bytes.inc_by(stats.bytes_read);
            metrics.written_bytes.inc_by(stats.bytes_written);
            metrics
                .freed_bytes
                .inc_by(stats.bytes_before.saturating_sub(stats.bytes_after));
            metrics.passes.inc();
            let seconds = started.elapsed().as_secs_f64();
            metrics.last_pass_seconds.set(seconds);
            let end = broker.clock().now_ms() / 1000;
            metrics.last_pass_end_seconds.set(end);
            tracing::info!(
                topic = %partition.topic,
                partition = partition.index,
                dirty_ratio = cleanable.dirty_ratio(),
                segments = stats.segments_rewritten,
                records_removed = stats.records_removed,
                bytes_before = stats.bytes_before,
                bytes_after = stats.bytes_after,
                cleaned_to = stats.cleaned_to,
                seconds,
                "log cleaned"
            );
            stats.segments_rewritten > 0
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
        Err(e) => {
            tracing::error!(topic = %partition.topic, partition = partition.index, error = %e, "log cleaning failed");
            false
        }
    }
}
