//! The coordinator runtime, shared by every coordinator (consumer groups today; transactions
//! next): a coordinator is a pure [`StateMachine`] whose operations return [`Effects`] —
//! records to journal and replies to parked requests — and the [`runtime`] applies them in
//! that order, so nothing is answered as done before its state is written.
//!
//! - [`journal`] is the coordinator's file: CRC-framed records, replayed at start, damaged
//!   records skipped, torn or failed writes cut back before the next one, compacted by
//!   rewriting the live state;
//! - [`runtime`] is the thread that owns the machine and its journal, runs commands one at a
//!   time, parks requests until the machine answers them, and sleeps until the machine's next
//!   deadline (the machine keeps its timers in a deadline map; nothing scans every group).
//!
//! When a journal write fails, the machine is rebuilt from what the journal holds — the state
//! a restart would find — and the command gets the error, to answer with its Kafka error code.

pub mod codec;
pub(crate) mod deadlines;
pub mod journal;
mod journal_io;
pub mod runtime;

#[cfg(test)]
pub(crate) use journal_io::JournalFaults;

#[cfg(test)]
mod tests;

pub use journal::{AppendError, Journal, JournalRecord};
pub use runtime::{Context, NotJournaled, Runtime, Stopped};

/// Names a parked request: the runtime hands a reply carrying this id back to it.
pub type ReplyId = u64;

/// A reply the machine gives a parked request.
pub trait Addressed {
    fn reply_id(&self) -> ReplyId;
}

/// The replies of a machine that answers every request at once and parks none.
#[derive(Debug, PartialEq)]
pub enum NoReply {}

impl Addressed for NoReply {
    fn reply_id(&self) -> ReplyId {
        match *self {}
    }
}

/// What an operation did beyond its return value: records to journal, then replies to
/// release.
#[derive(Debug, PartialEq)]
pub struct Effects<R, P> {
    pub replies: Vec<P>,
    pub records: Vec<R>,
}

impl<R, P> Default for Effects<R, P> {
    fn default() -> Self {
        Effects {
            replies: Vec::new(),
            records: Vec::new(),
        }
    }
}

/// A coordinator's rules as a pure machine: no I/O, no clock of its own (every call gets the
/// time), timers as deadlines [`StateMachine::tick`] acts on.
pub trait StateMachine: Send + 'static {
    type Record: JournalRecord;
    type Reply: Addressed + Send + 'static;
    type Config: Clone + Send + 'static;

    /// The machine the journaled `records` describe, in journal order (none: a fresh one).
    fn restore(config: Self::Config, records: Vec<Self::Record>, now_ms: i64) -> Self;
    /// The live state as records: what a compacted journal holds.
    fn snapshot_records(&self) -> Vec<Self::Record>;
    /// When [`StateMachine::tick`] next has something to do.
    fn next_deadline_ms(&self) -> Option<i64>;
    /// Acts on every deadline that has passed.
    fn tick(&mut self, now_ms: i64) -> Effects<Self::Record, Self::Reply>;
}
