//! One partition: a [`Log`] behind a short lock, its producers' sequence state, its
//! leader-epoch cache ([`leader_epochs`]), and the published high watermark that waiting
//! fetches watch.
//!
//! With a single replica the high watermark is the log end offset; it is published after
//! each append, so a fetch never sees a batch before its append completed.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::{Bytes, BytesMut};
use tokio::sync::watch;

use crate::log::{BatchMeta, Log, OfflineLog, SegmentConfig, TimestampTarget};
use crate::producer_state::{
    ProducerBatch, ProducerFields, ProducerStates, SequenceCheck, SequenceError,
};
use crate::record::batch::{self as record_batch, BatchHeader};
use crate::record::find::RecordAt;

mod cleaning;
pub mod leader_epochs;
mod producers;
mod producers_view;
mod transactions;
use leader_epochs::LeaderEpochs;
pub use producers_view::ActiveProducer;
use transactions::PartitionTxns;
pub use transactions::{AbortedTxn, MarkerError};

/// The leader epoch of every partition: one broker leads it from its creation and is never
/// re-elected. Metadata reports it, and appended batches carry it.
pub const LEADER_EPOCH: i32 = 0;

/// Where an appended (or de-duplicated) batch went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    /// The broker's timestamp for LogAppendTime topics; -1 otherwise.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
}

#[derive(Debug)]
pub enum AppendError {
    Sequence(SequenceError),
    /// Not a v2 batch header: the client's bytes, not the disk, are at fault.
    Malformed(record_batch::BatchError),
    Storage(io::Error),
}

/// Batches read for a fetch, with the offsets the response reports.
#[derive(Debug, Default)]
pub struct ReadResult {
    pub batches: Vec<Bytes>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// Below it no transaction is open (a plain read reports the high watermark).
    pub last_stable_offset: i64,
    /// Aborted transactions among the batches (`read_committed` reads only).
    pub aborted: Vec<AbortedTxn>,
}

#[derive(Debug)]
pub enum ReadError {
    OffsetOutOfRange {
        high_watermark: i64,
        log_start_offset: i64,
    },
    Storage(io::Error),
}

/// A partition's ends, read together: `log_start <= last_stable <= high_watermark <=
/// log_end`. With one replica the high watermark is the log end; the last stable offset
/// is below it while a transaction is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ends {
    pub log_start_offset: i64,
    /// Below it no transaction is open: what `read_committed` consumers may read.
    pub last_stable_offset: i64,
    pub high_watermark: i64,
    pub log_end_offset: i64,
}

struct Inner {
    log: Box<dyn Log>,
    producers: ProducerStates,
    txns: PartitionTxns,
    /// Epoch → start offset (OffsetForLeaderEpoch). Appends do not touch it: every batch
    /// carries [`LEADER_EPOCH`], whose entry exists from the open on.
    epochs: LeaderEpochs,
    /// The end offset the last completed flush made durable, for `flush.messages`.
    flushed_offset: i64,
}

/// Writes the leader-epoch checkpoint beside the log's files (none in memory). A failed
/// write only costs a rebuild at the next open, so it is logged, not returned.
fn store_leader_epochs(log: &dyn Log, epochs: &LeaderEpochs) {
    if let Some(dir) = log.dir() {
        if let Err(e) = epochs.store(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot write the leader-epoch checkpoint; the next open rebuilds it");
        }
    }
}

impl Inner {
    /// The log start moved to `log_start`: the epoch cache follows, as Kafka's does.
    fn epochs_start_at(&mut self, log_start: i64) {
        if self.epochs.truncate_from_start(log_start) {
            store_leader_epochs(self.log.as_ref(), &self.epochs);
        }
    }

    /// Appends to the log. When the append rolled the log, the producers are snapshotted
    /// as of the new segment's base, before the batch that rolled it is recorded.
    fn append_to_log(&mut self, batch: Bytes, meta: BatchMeta) -> io::Result<()> {
        let active = self.log.active_base_offset();
        self.log.append(batch, meta)?;
        let rolled_to = self.log.active_base_offset();
        if rolled_to != active {
            if let Some(dir) = self.log.dir() {
                if let Err(e) = producers::write_snapshot(dir, rolled_to, &self.producers) {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot write a producer snapshot; a restart replays more of the log");
                }
            }
        }
        Ok(())
    }
}

/// Why records could not be deleted (DeleteRecords).
#[derive(Debug)]
pub enum DeleteRecordsError {
    /// Past the high watermark.
    OffsetOutOfRange,
    Storage(io::Error),
}

/// What a partition's data depends on, made durable once, before the partition's first
/// fsync: its topic's definition and directory entries. A topic is then created without a
/// disk flush (a test suite creating a topic per test pays none), yet is durable no later
/// than the first of its records.
pub struct DurableFirst {
    done: AtomicBool,
    sync: Box<dyn Fn() -> io::Result<()> + Send + Sync>,
}

impl DurableFirst {
    pub fn new(sync: impl Fn() -> io::Result<()> + Send + Sync + 'static) -> Arc<DurableFirst> {
        Arc::new(DurableFirst {
            done: AtomicBool::new(false),
            sync: Box::new(sync),
        })
    }

    /// Runs the sync unless one already succeeded. Two callers at once may both run it,
    /// which is harmless.
    fn ensure(&self) -> io::Result<()> {
        if self.done.load(Ordering::Acquire) {
            return Ok(());
        }
        (self.sync)()?;
        self.done.store(true, Ordering::Release);
        Ok(())
    }
}

/// Opens a partition's log, recovering it if need be; its idempotent producers are then
/// rebuilt from their snapshot and the batches after it.
pub type LogOpener = Box<dyn FnOnce() -> io::Result<Box<dyn Log>> + Send>;

pub struct Partition {
    pub topic: String,
    pub index: i32,
    /// Set once the log is open: at creation, or — for a partition found at start — by the
    /// first use or the background recovery, whichever comes first.
    inner: OnceLock<Mutex<Inner>>,
    opener: Mutex<Option<LogOpener>>,
    /// Segment settings changed before the log was opened, given to it when it opens.
    reconfigured: Mutex<Option<SegmentConfig>>,
    high_watermark: watch::Sender<i64>,
    durable_first: Option<Arc<DurableFirst>>,
    /// The dirty ratio the cleaner last saw (`f64` bits; NaN: never looked at).
    dirty_ratio: std::sync::atomic::AtomicU64,
}

impl Partition {
    pub fn new(topic: String, index: i32, log: Box<dyn Log>) -> Partition {
        let partition = Partition::unopened(topic, index, None);
        let _ = partition.inner.set(Mutex::new(partition.inner_for(log)));
        partition
    }

    /// A partition whose log is opened (and recovered) by `opener` when it is first used,
    /// or by [`open_now`](Partition::open_now): a broker with many partitions serves at once
    /// and recovers them behind, instead of recovering every log before it starts. A log
    /// that cannot be opened makes the partition offline, not the broker.
    pub fn recovering(topic: String, index: i32, opener: LogOpener) -> Partition {
        Partition::unopened(topic, index, Some(opener))
    }

    fn unopened(topic: String, index: i32, opener: Option<LogOpener>) -> Partition {
        let (high_watermark, _) = watch::channel(0);
        Partition {
            topic,
            index,
            inner: OnceLock::new(),
            opener: Mutex::new(opener),
            reconfigured: Mutex::new(None),
            high_watermark,
            durable_first: None,
            dirty_ratio: std::sync::atomic::AtomicU64::new(f64::NAN.to_bits()),
        }
    }

    fn inner_for(&self, log: Box<dyn Log>) -> Inner {
        let end_offset = log.end_offset();
        self.high_watermark.send_replace(end_offset);
        let txns = PartitionTxns::open(log.dir(), end_offset).unwrap_or_else(|e| {
            tracing::error!(topic = %self.topic, partition = self.index, error = %e, "cannot read the partition's transaction index; its aborted transactions are not known");
            PartitionTxns::default()
        });
        let epochs = self.open_leader_epochs(log.as_ref());
        Inner {
            log,
            producers: ProducerStates::new(),
            txns,
            epochs,
            flushed_offset: end_offset,
        }
    }

    /// Gives the log new segment settings (its topic's config changed), for its next roll.
    /// A log not opened yet gets them when it opens: a config change does not recover logs.
    pub fn reconfigure(&self, config: SegmentConfig) {
        if let Some(mut inner) = self.lock_if_open() {
            inner.log.reconfigure(config);
            return;
        }
        *self.reconfigured.lock().unwrap_or_else(|p| p.into_inner()) = Some(config.clone());
        // The log may have opened between the two looks; then it takes them now.
        if let Some(mut inner) = self.lock_if_open() {
            inner.log.reconfigure(config);
        }
    }

    /// The leader-epoch cache, reconciled with the log as Kafka's log loading does: entries
    /// past its end or before its start cut, then this node's epoch assigned. A missing (or
    /// unreadable) checkpoint is rebuilt: every batch this broker wrote carries
    /// [`LEADER_EPOCH`], so that epoch starts at the log start.
    fn open_leader_epochs(&self, log: &dyn Log) -> LeaderEpochs {
        let (start, end) = (log.start_offset(), log.end_offset());
        let mut epochs = match log.dir().map(LeaderEpochs::load) {
            None => LeaderEpochs::default(),
            Some(Ok(epochs)) => epochs,
            Some(Err(e)) => {
                tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "cannot read the leader-epoch checkpoint; rebuilding it");
                LeaderEpochs::default()
            }
        };
        let read = epochs.clone();
        epochs.truncate_from_end(end);
        epochs.truncate_from_start(start);
        let first = if epochs.entries().is_empty() {
            start
        } else {
            end
        };
        epochs.assign(LEADER_EPOCH, first);
        // An empty log's entry is cut and assigned again: written only when it differs.
        if epochs != read {
            store_leader_epochs(log, &epochs);
        }
        epochs
    }

    /// Opens the log now if it is not open yet. Blocks on the disk.
    pub fn open_now(&self) {
        drop(self.lock());
    }

    /// Whether the log is open (recovered).
    pub fn is_open(&self) -> bool {
        self.inner.get().is_some()
    }

    fn open(&self) -> Mutex<Inner> {
        let opener = self.opener.lock().unwrap_or_else(|p| p.into_inner()).take();
        let opened = match opener {
            Some(open) => open(),
            None => Err(io::Error::other("the partition has no log to open")),
        };
        let log: Box<dyn Log> = match opened {
            Ok(log) => log,
            Err(e) => {
                tracing::error!(topic = %self.topic, partition = self.index, error = %e, "cannot open the partition's log; it is offline");
                Box::new(OfflineLog::new(e.to_string()))
            }
        };
        let mut log = log;
        let changed = self
            .reconfigured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(config) = changed {
            log.reconfigure(config);
        }
        let mut inner = self.inner_for(log);
        if let Err(e) = producers::restore(&mut inner) {
            tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "cannot rebuild idempotent producers");
        }
        Mutex::new(inner)
    }

    /// The log's lock, if the log is open; `None` leaves an unopened log unopened.
    fn lock_if_open(&self) -> Option<MutexGuard<'_, Inner>> {
        self.inner
            .get()
            .map(|inner| inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The same partition, whose fsyncs first make `prerequisite` durable.
    pub fn depending_on(mut self, prerequisite: Arc<DurableFirst>) -> Partition {
        self.durable_first = Some(prerequisite);
        self
    }

    fn ensure_prerequisite(&self) -> io::Result<()> {
        match &self.durable_first {
            Some(prerequisite) => prerequisite.ensure(),
            None => Ok(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the log half-written (appends are one
        // call), so a poisoned lock is still usable.
        self.inner
            .get_or_init(|| self.open())
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one validated batch (exactly one, as the producer sent it); the log stamps its
    /// base offset, and LogAppendTime topics get the broker's time. An idempotent producer's
    /// retry is answered without appending.
    pub fn append(
        &self,
        bytes: Bytes,
        log_append_time_ms: Option<i64>,
    ) -> Result<Appended, AppendError> {
        let batch = BatchHeader::parse(&bytes).map_err(AppendError::Malformed)?;
        let mut inner = self.lock();
        let producer = (batch.producer_id() >= 0).then(|| ProducerFields {
            producer_id: batch.producer_id(),
            epoch: batch.producer_epoch(),
            first_sequence: batch.base_sequence(),
            last_sequence: batch.last_sequence(),
        });
        if let Some(producer) = &producer {
            match inner.producers.check(producer) {
                Ok(SequenceCheck::Append) => {}
                Ok(SequenceCheck::Duplicate(original)) => {
                    return Ok(Appended {
                        base_offset: original.first_offset,
                        log_append_time_ms: -1,
                        log_start_offset: inner.log.start_offset(),
                    })
                }
                Err(e) => return Err(AppendError::Sequence(e)),
            }
        }

        let base_offset = inner.log.end_offset();
        if let Some(producer) = producer.as_ref().filter(|_| batch.is_transactional()) {
            inner
                .txns
                .on_batch(producer.producer_id, base_offset)
                .map_err(AppendError::Storage)?;
        }
        // The batch goes to the log as sent (the log writes the base offset): only a
        // LogAppendTime topic needs a changed copy.
        let stored = match log_append_time_ms {
            Some(now_ms) => {
                let mut stamped = BytesMut::from(batch.bytes());
                record_batch::set_log_append_time(&mut stamped, now_ms);
                stamped.freeze()
            }
            None => bytes.clone(),
        };
        let max_timestamp = log_append_time_ms.unwrap_or(batch.max_timestamp());
        let meta = BatchMeta {
            base_offset,
            last_offset: base_offset + i64::from(batch.last_offset_delta()),
            max_timestamp,
            leader_epoch: LEADER_EPOCH,
        };
        inner
            .append_to_log(stored, meta)
            .map_err(AppendError::Storage)?;
        if let Some(producer) = producer {
            inner.producers.record(
                producer.producer_id,
                producer.epoch,
                ProducerBatch {
                    first_sequence: producer.first_sequence,
                    last_sequence: producer.last_sequence,
                    first_offset: meta.base_offset,
                    last_offset: meta.last_offset,
                    max_timestamp,
                },
            );
        }
        self.high_watermark.send_replace(meta.last_offset + 1);
        Ok(Appended {
            base_offset,
            log_append_time_ms: log_append_time_ms.unwrap_or(-1),
            log_start_offset: inner.log.start_offset(),
        })
    }

    /// Whole batches from the one holding `offset`, bounded by `max_bytes` (see [`Log::read`]).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadResult, ReadError> {
        let (plan, log_start_offset, high_watermark) = {
            let inner = self.lock();
            let log_start_offset = inner.log.start_offset();
            let high_watermark = inner.log.end_offset();
            if offset < log_start_offset || offset > high_watermark {
                return Err(ReadError::OffsetOutOfRange {
                    high_watermark,
                    log_start_offset,
                });
            }
            let plan = inner
                .log
                .read_plan(offset, max_bytes, min_one)
                .map_err(ReadError::Storage)?;
            (plan, log_start_offset, high_watermark)
        };
        // The file reads run without the lock: appends go on meanwhile.
        let batches = plan.execute().map_err(ReadError::Storage)?;
        Ok(ReadResult {
            batches,
            high_watermark,
            log_start_offset,
            last_stable_offset: high_watermark,
            aborted: Vec::new(),
        })
    }

    pub fn ends(&self) -> Ends {
        let inner = self.lock();
        let log_end_offset = inner.log.end_offset();
        Ends {
            log_start_offset: inner.log.start_offset(),
            last_stable_offset: inner.txns.last_stable(log_end_offset),
            high_watermark: log_end_offset,
            log_end_offset,
        }
    }

    /// The epoch and end offset for a requested leader epoch (OffsetForLeaderEpoch), from
    /// the leader-epoch cache; (-1, -1) for an epoch it cannot answer.
    pub fn end_offset_for_epoch(&self, requested: i32) -> (i32, i64) {
        let inner = self.lock();
        inner
            .epochs
            .end_offset_for(requested, inner.log.end_offset())
    }

    /// The leader-epoch cache's entries (epoch, start offset).
    pub fn leader_epochs(&self) -> Vec<(i32, i64)> {
        self.lock().epochs.entries().to_vec()
    }

    /// Bytes held by the log.
    pub fn size_bytes(&self) -> u64 {
        self.lock().log.size_bytes()
    }

    /// The first record from the log start offset on stamped at or after a timestamp, or with
    /// the largest timestamp (ListOffsets), its batch's records walked with at most
    /// `decompressed_max_bytes` decompressed. Planned under the lock; the file reads run after
    /// it, as a fetch's do.
    pub fn find_by_timestamp(
        &self,
        target: TimestampTarget,
        decompressed_max_bytes: u64,
    ) -> io::Result<Option<RecordAt>> {
        let plan = self.lock().log.timestamp_plan(target)?;
        plan.execute(decompressed_max_bytes)
    }

    /// Records appended since the last completed flush began (offsets are dense).
    pub fn unflushed_records(&self) -> i64 {
        self.lock_if_open().map_or(0, |inner| {
            (inner.log.end_offset() - inner.flushed_offset).max(0)
        })
    }

    /// Makes everything appended so far durable. Blocks on the disk: call it from a
    /// blocking thread. The lock is held only to see what to sync, not during the fsyncs.
    pub fn flush(&self) -> io::Result<()> {
        if !self.is_open() {
            // Nothing was appended to a log not yet opened.
            return Ok(());
        }
        self.ensure_prerequisite()?;
        let (plan, end_offset) = {
            let inner = self.lock();
            (inner.log.flush_plan()?, inner.log.end_offset())
        };
        plan.run()?;
        let mut inner = self.lock();
        inner.log.flushed(&plan);
        inner.flushed_offset = inner.flushed_offset.max(end_offset);
        Ok(())
    }

    /// Flushes and marks the log cleanly closed, for a fast restart. Blocks on the disk.
    pub fn close(&self) -> io::Result<()> {
        if !self.is_open() {
            // Its files are as the last clean close or crash left them.
            return Ok(());
        }
        self.ensure_prerequisite()?;
        let mut inner = self.lock();
        inner.log.close()?;
        inner.flushed_offset = inner.log.end_offset();
        Ok(())
    }

    /// [`Log::tidy_for_close`]: the first half of closing, with nothing made durable.
    /// `false` for a log never opened, which is left as it is (its files are as the last
    /// clean close or crash left them, and get no new marker).
    pub fn tidy_for_close(&self) -> io::Result<bool> {
        match self.lock_if_open() {
            Some(mut inner) => inner.log.tidy_for_close().map(|()| true),
            None => Ok(false),
        }
    }

    /// [`Log::mark_clean`], once the caller made the whole data directory durable.
    pub fn mark_clean(&self) -> io::Result<()> {
        let mut inner = self.lock();
        inner.log.mark_clean()?;
        inner.flushed_offset = inner.log.end_offset();
        Ok(())
    }

    /// Forgets idempotent producers quiet for `expiration_ms` (`producer.id.expiration.ms`).
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        self.lock_if_open()
            .map_or(0, |mut inner| inner.producers.expire(now_ms, expiration_ms))
    }

    /// Deletes old segments by `retention.ms` / `retention.bytes`. Blocks on the disk.
    pub fn apply_retention(
        &self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
    ) -> io::Result<usize> {
        // A log not opened yet is left to its recovery; retention runs again soon.
        let Some(mut inner) = self.lock_if_open() else {
            return Ok(0);
        };
        let deleted = inner
            .log
            .apply_retention(now_ms, retention_ms, retention_bytes)?;
        if deleted > 0 {
            let log_start = inner.log.start_offset();
            inner.txns.forget_before(log_start)?;
            inner.epochs_start_at(log_start);
        }
        Ok(deleted)
    }

    /// Moves the log start offset to `offset` (-1: the high watermark) and returns the new
    /// log start offset (Kafka's low watermark). Blocks on the disk.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, DeleteRecordsError> {
        let mut inner = self.lock();
        let high_watermark = inner.log.end_offset();
        let offset = if offset == -1 { high_watermark } else { offset };
        if offset < 0 || offset > high_watermark {
            return Err(DeleteRecordsError::OffsetOutOfRange);
        }
        inner
            .log
            .delete_records_before(offset)
            .map_err(DeleteRecordsError::Storage)?;
        let log_start = inner.log.start_offset();
        inner
            .txns
            .forget_before(log_start)
            .map_err(DeleteRecordsError::Storage)?;
        inner.epochs_start_at(log_start);
        Ok(log_start)
    }

    /// Empties the partition (the admin reset): its log starts again at offset 0, its
    /// idempotent producers, open and aborted transactions and leader epochs are forgotten.
    /// Under the lock, so a racing append lands wholly before (and is gone) or after (at an
    /// offset from 0). Fetches waiting on the partition wake: their offset is now past the
    /// end, and they answer OFFSET_OUT_OF_RANGE, as after DeleteRecords. Blocks on the disk.
    pub fn reset(&self) -> io::Result<()> {
        let mut inner = self.lock();
        inner.log.reset()?;
        let log = std::mem::replace(
            &mut inner.log,
            Box::new(OfflineLog::new("being reset".into())),
        );
        *inner = self.inner_for(log);
        Ok(())
    }

    /// A receiver that changes whenever the high watermark moves.
    pub fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }
}

#[cfg(test)]
mod tests;
