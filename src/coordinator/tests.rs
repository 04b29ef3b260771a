//! The runtime with a small machine of its own (a journaled counter with parked waiters and
//! one timer): replies wait for the journal, a failed write leaves the machine at what the
//! journal holds, a torn write is cut before the next, and deadlines fire with no request.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::sync::oneshot;

use super::*;
use crate::clock::Clock;

const FILE: &str = "counter.log";

/// One record: add this much to the total.
#[derive(Debug, Clone, PartialEq)]
struct Added(u64);

impl JournalRecord for Added {
    fn is_kind(byte: u8) -> bool {
        byte == 7
    }

    fn encode_body(&self, body: &mut BytesMut) {
        body.put_u8(7);
        body.put_u64(self.0);
    }

    fn decode_body(mut body: Bytes) -> io::Result<Added> {
        if body.remaining() != 9 || body.get_u8() != 7 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "not an Added"));
        }
        Ok(Added(body.get_u64()))
    }
}

/// The total after an addition, for the waiter parked under the id.
#[derive(Debug)]
struct Total(ReplyId, u64);

impl Addressed for Total {
    fn reply_id(&self) -> ReplyId {
        self.0
    }
}

/// A total, and a timer that adds its amount once when it fires.
#[derive(Debug)]
struct Counter {
    total: u64,
    timer: Option<(i64, u64)>,
}

impl Counter {
    fn add(&mut self, amount: u64, reply: ReplyId) -> Effects<Added, Total> {
        self.total += amount;
        Effects {
            records: vec![Added(amount)],
            replies: vec![Total(reply, self.total)],
        }
    }
}

impl StateMachine for Counter {
    type Record = Added;
    type Reply = Total;
    type Config = ();

    fn restore(_: (), records: Vec<Added>, _now_ms: i64) -> Counter {
        Counter {
            total: records.iter().map(|r| r.0).sum(),
            timer: None,
        }
    }

    fn snapshot_records(&self) -> Vec<Added> {
        vec![Added(self.total)]
    }

    fn next_deadline_ms(&self) -> Option<i64> {
        self.timer.map(|(at, _)| at)
    }

    fn tick(&mut self, now_ms: i64) -> Effects<Added, Total> {
        match self.timer {
            Some((at, amount)) if at <= now_ms => {
                self.timer = None;
                self.total += amount;
                Effects {
                    records: vec![Added(amount)],
                    replies: Vec::new(),
                }
            }
            _ => Effects::default(),
        }
    }
}

fn start(dir: &std::path::Path, faults: Arc<JournalFaults>) -> Runtime<Counter> {
    let journal = Journal::open_faulty(dir, FILE, faults).expect("the journal opens");
    Runtime::start("test-counter", (), Some(journal), Clock::System).expect("the runtime starts")
}

/// Adds through a parked waiter, as a JoinGroup is answered: `None` when the runtime
/// released the waiter without an answer.
async fn add(runtime: &Runtime<Counter>, amount: u64) -> Option<u64> {
    let (tx, rx) = oneshot::channel();
    runtime
        .send(move |cx, _now| {
            let reply = cx.park(move |total: Option<Total>| {
                let _ = tx.send(total.map(|t| t.1));
            });
            let fx = cx.machine().add(amount, reply);
            let _ = cx.apply(fx, 0);
        })
        .expect("the runtime runs");
    rx.await.expect("every waiter is released")
}

async fn total(runtime: &Runtime<Counter>) -> u64 {
    runtime
        .call(|cx, _| cx.machine().total)
        .await
        .expect("the runtime runs")
}

fn on_disk(dir: &std::path::Path) -> Vec<u64> {
    let (_, records) = Journal::<Added>::open(dir, FILE).expect("the journal opens");
    records.into_iter().map(|r| r.0).collect()
}

#[tokio::test]
async fn a_reply_is_released_only_with_its_record_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(JournalFaults::default());
    let runtime = start(dir.path(), faults.clone());
    assert_eq!(add(&runtime, 5).await, Some(5));
    faults.fail_writes(1);
    assert_eq!(add(&runtime, 3).await, None, "answered without its record");
    assert_eq!(
        total(&runtime).await,
        5,
        "the machine kept what is not on disk"
    );
    assert_eq!(add(&runtime, 2).await, Some(7));
    runtime.stop();
    // Compaction at start wrote the empty state as one record of 0.
    assert_eq!(on_disk(dir.path()), vec![0, 5, 2]);
}

#[tokio::test]
async fn a_torn_write_whose_cut_fails_is_cut_before_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(JournalFaults::default());
    let runtime = start(dir.path(), faults.clone());
    assert_eq!(add(&runtime, 1).await, Some(1));
    faults.tear_next_write(5, true);
    assert_eq!(add(&runtime, 10).await, None);
    assert_eq!(add(&runtime, 100).await, Some(101));
    runtime.stop();
    assert_eq!(on_disk(dir.path()), vec![0, 1, 100]);
    let restarted = start(dir.path(), Arc::new(JournalFaults::default()));
    assert_eq!(total(&restarted).await, 101);
}

#[tokio::test]
async fn a_record_over_the_limit_is_refused_with_its_error() {
    struct Huge;
    impl JournalRecord for Huge {
        fn is_kind(_: u8) -> bool {
            true
        }
        fn encode_body(&self, body: &mut BytesMut) {
            body.put_bytes(1, journal::MAX_RECORD_BYTES + 1);
        }
        fn decode_body(_: Bytes) -> io::Result<Huge> {
            Ok(Huge)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::<Huge>::open(dir.path(), "huge.log").unwrap();
    let error = journal.append(&[Huge]).unwrap_err();
    assert!(
        matches!(error, AppendError::RecordTooLarge { bytes } if bytes == journal::MAX_RECORD_BYTES + 1),
        "{error:?}"
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("huge.log"))
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test]
async fn a_deadline_fires_with_no_request_and_its_record_is_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = start(dir.path(), Arc::new(JournalFaults::default()));
    runtime
        .call(|cx, now| cx.machine().timer = Some((now + 50, 9)))
        .await
        .unwrap();
    let waited = crate::clock::monotonic_now();
    while total(&runtime).await != 9 {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "the timer never fired"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    runtime.stop();
    assert_eq!(on_disk(dir.path()), vec![0, 9]);
}

#[tokio::test]
async fn a_stopped_runtime_refuses_commands() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = start(dir.path(), Arc::new(JournalFaults::default()));
    runtime.stop();
    assert!(runtime.call(|cx, _| cx.machine().total).await.is_err());
}
