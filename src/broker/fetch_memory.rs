//! The record bytes all fetches together may hold before their responses are written.
//!
//! A fetch's records are copied out of the log into its response, which stays in memory until
//! the client has read it. One connection holds one response at a time, but thousands of
//! connections that send a large Fetch and read slowly (or never, until the write timeout)
//! would each hold up to `fetch_max_bytes`. So a read first reserves from this budget what it
//! may take — what is left, up to its own limit — and its connection gives the reservation
//! back once the response is written. With nothing left, a read waits for a release until its
//! deadline and then answers without records, as a fetch that found no new data.
//!
//! A reservation may end a little over what it was granted: Kafka sends the first batch whole
//! however large, so the bytes held are at most the budget plus one batch per read in flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The shared budget: a cap, what reservations hold, and a wake-up for waiting reads.
#[derive(Debug)]
pub struct FetchMemory {
    max_bytes: usize,
    held_bytes: AtomicUsize,
    released: Notify,
}

impl FetchMemory {
    pub fn new(max_bytes: usize) -> Arc<FetchMemory> {
        Arc::new(FetchMemory {
            max_bytes,
            held_bytes: AtomicUsize::new(0),
            released: Notify::new(),
        })
    }

    /// Bytes reservations hold now (for the metrics and tests).
    pub fn held_bytes(&self) -> usize {
        self.held_bytes.load(Ordering::Relaxed)
    }

    /// Reserves up to `want` bytes: what is left of the budget, at least one byte, waiting
    /// for a release while nothing is left. At `deadline` with nothing left it returns an
    /// empty reservation: the read then takes no records.
    pub async fn reserve(self: &Arc<Self>, want: usize, deadline: Instant) -> Reservation {
        loop {
            // Registered before the check, so a release between the check and the wait
            // still wakes this read.
            let released = self.released.notified();
            if let Some(granted) = self.try_take(want) {
                return Reservation {
                    budget: Arc::clone(self),
                    bytes: granted,
                };
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return self.nothing();
            }
        }
    }

    /// A reservation of nothing (a read that stops before it takes anything).
    pub fn nothing(self: &Arc<Self>) -> Reservation {
        Reservation {
            budget: Arc::clone(self),
            bytes: 0,
        }
    }

    /// Takes `min(want, left)` if anything is left (or nothing is wanted).
    fn try_take(&self, want: usize) -> Option<usize> {
        let mut held = self.held_bytes.load(Ordering::Relaxed);
        loop {
            let left = self.max_bytes.saturating_sub(held);
            if left == 0 && want > 0 {
                return None;
            }
            let granted = want.min(left);
            match self.held_bytes.compare_exchange_weak(
                held,
                held + granted,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(granted),
                Err(now) => held = now,
            }
        }
    }

    fn release(&self, bytes: usize) {
        if bytes > 0 {
            self.held_bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.released.notify_waiters();
        }
    }
}

/// Bytes of the budget one read holds until dropped (after its response is written).
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<FetchMemory>,
    bytes: usize,
}

impl Reservation {
    /// What the read may take.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Makes the reservation what the read actually took: unused bytes go back at once, a
    /// first batch larger than the grant is counted too.
    pub fn settle(&mut self, taken: usize) {
        if taken < self.bytes {
            self.budget.release(self.bytes - taken);
        } else {
            self.budget
                .held_bytes
                .fetch_add(taken - self.bytes, Ordering::AcqRel);
        }
        self.bytes = taken;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[tokio::test]
    async fn reads_share_the_budget_and_get_it_back_when_dropped() {
        let budget = FetchMemory::new(1000);
        let first = budget.reserve(600, soon(1000)).await;
        assert_eq!(first.bytes(), 600);
        let second = budget.reserve(600, soon(1000)).await;
        assert_eq!(second.bytes(), 400, "what is left, not what is asked");
        assert_eq!(budget.held_bytes(), 1000);

        let started = Instant::now();
        let third = budget.reserve(600, soon(50)).await;
        assert_eq!(third.bytes(), 0, "nothing left: empty at the deadline");
        assert!(started.elapsed() >= Duration::from_millis(50));

        drop(first);
        assert_eq!(budget.held_bytes(), 400);
        let fourth = budget.reserve(600, soon(1000)).await;
        assert_eq!(fourth.bytes(), 600);
        drop((second, third, fourth));
        assert_eq!(budget.held_bytes(), 0);
    }

    #[tokio::test]
    async fn a_waiting_read_is_woken_by_a_release() {
        let budget = FetchMemory::new(100);
        let holder = budget.reserve(100, soon(1000)).await;
        let waiting = {
            let budget = Arc::clone(&budget);
            tokio::spawn(async move { budget.reserve(80, soon(10_000)).await.bytes() })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        drop(holder);
        let granted = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken by the release, not the deadline")
            .unwrap();
        assert_eq!(granted, 80);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn settling_returns_what_was_not_taken_and_counts_a_larger_first_batch() {
        let budget = FetchMemory::new(1000);
        let mut small = budget.reserve(500, soon(1000)).await;
        small.settle(120);
        assert_eq!(budget.held_bytes(), 120);
        let mut large = budget.reserve(100, soon(1000)).await;
        large.settle(4000);
        assert_eq!(budget.held_bytes(), 4120, "over the cap by one batch");
        assert_eq!(
            budget.reserve(1, soon(10)).await.bytes(),
            0,
            "nothing left while over the cap"
        );
        drop(large);
        drop(small);
        assert_eq!(budget.held_bytes(), 0);
    }
}
