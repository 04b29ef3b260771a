//! The transaction coordinator's journal records: one per transactional id, the latest state
//! of its transaction (or a tombstone once the id expired). The framing, replay and
//! compaction are the coordinator runtime's ([`crate::coordinator::journal`]).

use std::collections::BTreeSet;
use std::io;

use bytes::{BufMut, Bytes, BytesMut};

use super::state::{TxnMetadata, TxnState, NO_PRODUCER_ID};
use crate::coordinator::codec::{invalid, put_str, Reader};
use crate::coordinator::{Journal, JournalRecord};

/// The transaction coordinator's journal, `transactions.log` in the data directory.
pub type TxnLog = Journal<TxnRecord>;
/// The transaction log's file name.
pub const TXN_LOG_FILE: &str = "transactions.log";

/// A transactional id's state as journaled; `None` is a tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnRecord {
    pub transactional_id: String,
    pub value: Option<TxnMetadata>,
}

const TXN: u8 = 1;
const TXN_TOMBSTONE: u8 = 2;

impl TxnState {
    fn code(self) -> u8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
        }
    }

    fn from_code(code: u8) -> io::Result<TxnState> {
        Ok(match code {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            _ => return Err(invalid("unknown transaction state")),
        })
    }
}

impl JournalRecord for TxnRecord {
    fn is_kind(byte: u8) -> bool {
        byte == TXN || byte == TXN_TOMBSTONE
    }

    fn encode_body(&self, body: &mut BytesMut) {
        body.put_u8(if self.value.is_some() {
            TXN
        } else {
            TXN_TOMBSTONE
        });
        put_str(body, &self.transactional_id);
        let Some(txn) = &self.value else { return };
        body.put_i64(txn.producer_id);
        body.put_i64(txn.last_producer_id);
        body.put_i16(txn.epoch);
        body.put_i16(txn.last_epoch);
        body.put_i32(txn.timeout_ms);
        body.put_u8(txn.state.code());
        body.put_u32(txn.partitions.len() as u32);
        for (topic, partition) in &txn.partitions {
            put_str(body, topic);
            body.put_i32(*partition);
        }
        body.put_u32(txn.groups.len() as u32);
        for group in &txn.groups {
            put_str(body, group);
        }
        body.put_i64(txn.start_ms);
        body.put_i64(txn.last_update_ms);
        // Transaction version 2's fields come last: a record journaled without them (by an
        // older Sluice) still replays, as a version-1 transaction.
        body.put_i64(txn.next_producer_id);
        body.put_u8(u8::from(txn.tv2));
    }

    fn decode_body(body: Bytes) -> io::Result<TxnRecord> {
        let mut r = Reader::new(body);
        let kind = r.u8()?;
        let transactional_id = r.str()?;
        let value = match kind {
            TXN_TOMBSTONE => None,
            TXN => {
                let producer_id = r.i64()?;
                let last_producer_id = r.i64()?;
                let epoch = r.i16()?;
                let last_epoch = r.i16()?;
                let timeout_ms = r.i32()?;
                let state = TxnState::from_code(r.u8()?)?;
                let mut partitions = BTreeSet::new();
                // A partition is at least its name's length prefix and its index.
                for _ in 0..r.count(8)? {
                    partitions.insert((r.str()?, r.i32()?));
                }
                let mut groups = BTreeSet::new();
                for _ in 0..r.count(4)? {
                    groups.insert(r.str()?);
                }
                let start_ms = r.i64()?;
                let last_update_ms = r.i64()?;
                let (next_producer_id, tv2) = if r.finished() {
                    (NO_PRODUCER_ID, false)
                } else {
                    (r.i64()?, r.u8()? != 0)
                };
                Some(TxnMetadata {
                    producer_id,
                    last_producer_id,
                    epoch,
                    last_epoch,
                    timeout_ms,
                    state,
                    partitions,
                    groups,
                    start_ms,
                    last_update_ms,
                    next_producer_id,
                    tv2,
                })
            }
            _ => return Err(invalid("unknown transaction record kind")),
        };
        if !r.finished() {
            return Err(invalid("a transaction record has trailing bytes"));
        }
        Ok(TxnRecord {
            transactional_id,
            value,
        })
    }
}
