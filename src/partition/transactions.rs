//! A partition's transactions: which producers have a transaction open here (from its first
//! transactional batch to its marker), and which transactions were aborted. From them come
//! the last stable offset — the first offset of the oldest open transaction, else the high
//! watermark — up to which a `read_committed` consumer reads, and the aborted ranges it is
//! told to skip (Kafka's producer state's ongoing transactions and its `.txnindex`).
//!
//! In disk mode both are journaled to `txns.log` in the partition's directory (created on the
//! first transaction) before the batch or marker they describe is appended, and replayed when
//! the partition opens; aborted ranges wholly before the log start are forgotten.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{Partition, ReadError, ReadResult};
use crate::coordinator::codec::invalid;
use crate::coordinator::{Journal, JournalRecord};
use crate::log::BatchMeta;
use crate::producer_state::SequenceError;
use crate::record::batch::{self as record_batch, BatchHeader};
use crate::record::control::{self, EndTransactionMarker, TransactionResult};

const JOURNAL_FILE: &str = "txns.log";

/// An aborted transaction's range in this partition: what `read_committed` fetches list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The offset of its ABORT marker.
    pub last_offset: i64,
}

#[derive(Debug, Clone, PartialEq)]
enum TxnIndexRecord {
    Opened { producer_id: i64, first_offset: i64 },
    Committed { producer_id: i64 },
    Aborted(AbortedTxn),
}

const OPENED: u8 = 1;
const COMMITTED: u8 = 2;
const ABORTED: u8 = 3;

impl JournalRecord for TxnIndexRecord {
    fn is_kind(byte: u8) -> bool {
        (OPENED..=ABORTED).contains(&byte)
    }

    fn encode_body(&self, body: &mut BytesMut) {
        match self {
            TxnIndexRecord::Opened {
                producer_id,
                first_offset,
            } => {
                body.put_u8(OPENED);
                body.put_i64(*producer_id);
                body.put_i64(*first_offset);
            }
            TxnIndexRecord::Committed { producer_id } => {
                body.put_u8(COMMITTED);
                body.put_i64(*producer_id);
            }
            TxnIndexRecord::Aborted(aborted) => {
                body.put_u8(ABORTED);
                body.put_i64(aborted.producer_id);
                body.put_i64(aborted.first_offset);
                body.put_i64(aborted.last_offset);
            }
        }
    }

    fn decode_body(mut body: Bytes) -> io::Result<TxnIndexRecord> {
        let expected = match body.first() {
            Some(&OPENED) => 17,
            Some(&COMMITTED) => 9,
            Some(&ABORTED) => 25,
            _ => return Err(invalid("unknown transaction index record")),
        };
        if body.len() != expected {
            return Err(invalid("a transaction index record of the wrong length"));
        }
        Ok(match body.get_u8() {
            OPENED => TxnIndexRecord::Opened {
                producer_id: body.get_i64(),
                first_offset: body.get_i64(),
            },
            COMMITTED => TxnIndexRecord::Committed {
                producer_id: body.get_i64(),
            },
            _ => TxnIndexRecord::Aborted(AbortedTxn {
                producer_id: body.get_i64(),
                first_offset: body.get_i64(),
                last_offset: body.get_i64(),
            }),
        })
    }
}

/// A producer's last marker in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LastMarker {
    pub coordinator_epoch: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
}

/// Open and aborted transactions of one partition.
#[derive(Default)]
pub(super) struct PartitionTxns {
    /// Producer id → the first offset of its open transaction.
    open: HashMap<i64, i64>,
    /// In marker order.
    aborted: VecDeque<AbortedTxn>,
    /// Producer id → its last marker here, for the producers the partition remembers. Not
    /// journaled: after a restart it is unknown until the next marker, and a marker request
    /// is then not checked against its coordinator epoch.
    last_markers: HashMap<i64, LastMarker>,
    /// Where the journal goes (none in memory).
    dir: Option<PathBuf>,
    journal: Option<Journal<TxnIndexRecord>>,
}

impl PartitionTxns {
    /// The transactions of a log in `dir` (none: in memory) whose end offset is `log_end`:
    /// the journal's, less what lies past the log's end (a tail the log lost in a crash).
    pub(super) fn open(dir: Option<&Path>, log_end: i64) -> io::Result<PartitionTxns> {
        let mut txns = PartitionTxns {
            dir: dir.map(Path::to_path_buf),
            ..PartitionTxns::default()
        };
        let Some(dir) = dir else { return Ok(txns) };
        if !dir.join(JOURNAL_FILE).exists() {
            return Ok(txns);
        }
        let (journal, records) = Journal::open(dir, JOURNAL_FILE)?;
        for record in records {
            txns.apply(&record);
        }
        txns.open.retain(|_, first| *first < log_end);
        txns.aborted.retain(|a| a.last_offset < log_end);
        txns.journal = Some(journal);
        Ok(txns)
    }

    fn apply(&mut self, record: &TxnIndexRecord) {
        match record {
            TxnIndexRecord::Opened {
                producer_id,
                first_offset,
            } => {
                self.open.insert(*producer_id, *first_offset);
            }
            TxnIndexRecord::Committed { producer_id } => {
                self.open.remove(producer_id);
            }
            TxnIndexRecord::Aborted(aborted) => {
                self.open.remove(&aborted.producer_id);
                self.aborted.push_back(*aborted);
            }
        }
    }

    /// Journals `record` (disk mode), then applies it.
    fn write(&mut self, record: TxnIndexRecord) -> io::Result<()> {
        if let Some(dir) = &self.dir {
            if self.journal.is_none() {
                self.journal = Some(Journal::open(dir, JOURNAL_FILE)?.0);
            }
            if let Some(journal) = &mut self.journal {
                journal
                    .append(std::slice::from_ref(&record))
                    .map_err(io::Error::other)?;
            }
        }
        self.apply(&record);
        Ok(())
    }

    /// A transactional batch of `producer_id` goes to `offset`: its transaction is open here
    /// from its first batch on.
    pub(super) fn on_batch(&mut self, producer_id: i64, offset: i64) -> io::Result<()> {
        if self.open.contains_key(&producer_id) {
            return Ok(());
        }
        self.write(TxnIndexRecord::Opened {
            producer_id,
            first_offset: offset,
        })
    }

    /// `producer_id`'s marker goes to `marker_offset`.
    pub(super) fn on_marker(
        &mut self,
        producer_id: i64,
        result: TransactionResult,
        marker_offset: i64,
    ) -> io::Result<()> {
        let Some(&first_offset) = self.open.get(&producer_id) else {
            // Nothing of it here (a retried marker, or a transaction that wrote nothing).
            return Ok(());
        };
        self.write(match result {
            TransactionResult::Commit => TxnIndexRecord::Committed { producer_id },
            TransactionResult::Abort => TxnIndexRecord::Aborted(AbortedTxn {
                producer_id,
                first_offset,
                last_offset: marker_offset,
            }),
        })
    }

    /// The first offset of `producer_id`'s open transaction here.
    pub(super) fn open_since(&self, producer_id: i64) -> Option<i64> {
        self.open.get(&producer_id).copied()
    }

    /// Every producer with a transaction open here, with its first offset.
    pub(super) fn open_transactions(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.open
            .iter()
            .map(|(&producer_id, &first)| (producer_id, first))
    }

    /// `producer_id`'s last marker here, if known.
    pub(super) fn last_marker(&self, producer_id: i64) -> Option<LastMarker> {
        self.last_markers.get(&producer_id).copied()
    }

    /// Remembers `producer_id`'s marker, and forgets those of producers neither in
    /// `remembered` nor with a transaction open, so the map is bounded by the producers the
    /// partition knows.
    fn marker_written(&mut self, producer_id: i64, marker: LastMarker, remembered: &[i64]) {
        self.last_markers.insert(producer_id, marker);
        let open = &self.open;
        self.last_markers
            .retain(|id, _| remembered.contains(id) || open.contains_key(id));
    }

    /// The first offset of the oldest open transaction, else `high_watermark`.
    pub(super) fn last_stable(&self, high_watermark: i64) -> i64 {
        self.open
            .values()
            .copied()
            .min()
            .map_or(high_watermark, |first| first.min(high_watermark))
    }

    /// Aborted transactions with records in `[from, to)`.
    pub(super) fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        self.aborted
            .iter()
            .filter(|a| a.last_offset >= from && a.first_offset < to)
            .copied()
            .collect()
    }

    /// Forgets aborted ranges wholly before `log_start`, compacting the journal when any go.
    pub(super) fn forget_before(&mut self, log_start: i64) -> io::Result<()> {
        let before = self.aborted.len();
        while self
            .aborted
            .front()
            .is_some_and(|a| a.last_offset < log_start)
        {
            self.aborted.pop_front();
        }
        if self.aborted.len() == before {
            return Ok(());
        }
        let Some(journal) = &mut self.journal else {
            return Ok(());
        };
        let live: Vec<TxnIndexRecord> = self
            .open
            .iter()
            .map(|(&producer_id, &first_offset)| TxnIndexRecord::Opened {
                producer_id,
                first_offset,
            })
            .chain(self.aborted.iter().copied().map(TxnIndexRecord::Aborted))
            .collect();
        journal.compact(&live)
    }
}

/// Why a marker was not written.
#[derive(Debug)]
pub enum MarkerError {
    /// The marker's producer epoch is older than the producer's here.
    InvalidProducerEpoch {
        current: i16,
    },
    /// A marker of a newer coordinator epoch was written for the producer: the request
    /// comes from a coordinator that was replaced.
    CoordinatorFenced {
        current: i32,
    },
    Storage(io::Error),
}

impl Partition {
    /// Writes `producer_id`'s end-transaction marker for the broker's own transaction
    /// coordinator (an ABORT or COMMIT control batch at the producer's `epoch`, which fences
    /// any older epoch of it here) and returns its offset. A marker of an epoch older than
    /// the producer's is refused. The coordinator is the only one there is, so its markers
    /// are never fenced by a coordinator epoch.
    pub fn append_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        result: TransactionResult,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> Result<i64, MarkerError> {
        self.write_marker(producer_id, epoch, result, coordinator_epoch, false, now_ms)
    }

    /// Writes a marker a WriteTxnMarkers request asks for (e.g. `Admin.abortTransaction`
    /// ending a hanging transaction): as [`Partition::append_marker`], and also refused when
    /// the producer's last marker here came from a newer coordinator epoch. A marker for a
    /// producer with no transaction open here is written but changes no open or aborted
    /// range, so the last stable offset stays where it is.
    pub fn append_requested_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        result: TransactionResult,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> Result<i64, MarkerError> {
        self.write_marker(producer_id, epoch, result, coordinator_epoch, true, now_ms)
    }

    fn write_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        result: TransactionResult,
        coordinator_epoch: i32,
        check_coordinator_epoch: bool,
        now_ms: i64,
    ) -> Result<i64, MarkerError> {
        let mut inner = self.lock();
        let remembered: Vec<(i64, i16)> = inner
            .producers
            .each()
            .map(|(id, current, _)| (id, current))
            .collect();
        // The producer epoch is checked before the coordinator epoch, as Kafka does.
        if let Some(&(_, current)) = remembered.iter().find(|(id, _)| *id == producer_id) {
            if epoch < current {
                return Err(MarkerError::InvalidProducerEpoch { current });
            }
        }
        if check_coordinator_epoch {
            if let Some(current) = inner
                .txns
                .last_marker(producer_id)
                .map(|m| m.coordinator_epoch)
            {
                if current > coordinator_epoch {
                    return Err(MarkerError::CoordinatorFenced { current });
                }
            }
        }
        inner
            .producers
            .fence(producer_id, epoch)
            .map_err(|e| match e {
                SequenceError::InvalidProducerEpoch { current } => {
                    MarkerError::InvalidProducerEpoch { current }
                }
                // A fence refuses only an older epoch; no sequence is checked.
                SequenceError::OutOfOrder { .. } => {
                    MarkerError::InvalidProducerEpoch { current: epoch }
                }
            })?;
        let marker = EndTransactionMarker {
            result,
            coordinator_epoch,
        };
        let batch =
            control::end_transaction_batch(producer_id, epoch, super::LEADER_EPOCH, now_ms, marker);
        let offset = inner.log.end_offset();
        inner
            .txns
            .on_marker(producer_id, result, offset)
            .map_err(MarkerError::Storage)?;
        let meta = BatchMeta {
            base_offset: offset,
            last_offset: offset,
            max_timestamp: now_ms,
            leader_epoch: super::LEADER_EPOCH,
        };
        inner
            .append_to_log(Bytes::from(batch), meta)
            .map_err(MarkerError::Storage)?;
        let remembered: Vec<i64> = remembered.into_iter().map(|(id, _)| id).collect();
        inner.txns.marker_written(
            producer_id,
            LastMarker {
                coordinator_epoch,
                offset,
                timestamp_ms: now_ms,
            },
            &remembered,
        );
        self.high_watermark.send_replace(offset + 1);
        Ok(offset)
    }

    /// A `read_committed` read: whole batches from the one holding `offset` below the last
    /// stable offset, with the aborted transactions among them.
    pub fn read_committed(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadResult, ReadError> {
        let (mut read, aborted) = {
            let inner = self.lock();
            let high_watermark = inner.log.end_offset();
            let last_stable = inner.txns.last_stable(high_watermark);
            let aborted = inner.txns.aborted_between(offset, last_stable);
            drop(inner);
            let mut read = self.read(offset, max_bytes, min_one)?;
            read.last_stable_offset = last_stable;
            (read, aborted)
        };
        if read.last_stable_offset < read.high_watermark {
            read.batches = below(read.batches, read.last_stable_offset).map_err(|e| {
                ReadError::Storage(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
            })?;
        }
        read.aborted = aborted;
        Ok(read)
    }
}

/// The batches of `chunks` (each one or more whole batches) that start below `end`.
fn below(chunks: Vec<Bytes>, end: i64) -> Result<Vec<Bytes>, record_batch::BatchError> {
    let mut kept = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        for batch in record_batch::split_batches(&chunk)? {
            if BatchHeader::parse(&batch)?.base_offset() >= end {
                return Ok(kept);
            }
            kept.push(batch);
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
