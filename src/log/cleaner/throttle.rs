//! The cleaner's I/O budget (`log_cleaner_io_max_bytes_per_second`), shared by its threads:
//! bytes read and written are counted, and a thread that runs ahead of the rate sleeps
//! until it is back within it, as Kafka's cleaner `Throttler` does.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the rate is measured over before the count starts again: a long idle spell does
/// not bank a burst.
const WINDOW: Duration = Duration::from_secs(1);

pub struct Throttle {
    bytes_per_second: f64,
    window: Mutex<(Instant, f64)>,
}

impl Throttle {
    /// `bytes_per_second` of 0 or less, or infinite, means no limit.
    pub fn new(bytes_per_second: f64) -> Throttle {
        Throttle {
            bytes_per_second,
            window: Mutex::new((crate::clock::monotonic_now(), 0.0)),
        }
    }

    fn unlimited(&self) -> bool {
        !(self.bytes_per_second.is_finite() && self.bytes_per_second > 0.0)
    }

    /// Counts `bytes` of I/O, sleeping if that puts the caller ahead of the rate.
    pub fn account(&self, bytes: usize) {
        if self.unlimited() {
            return;
        }
        let sleep = {
            let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
            let (started, counted) = &mut *window;
            *counted += bytes as f64;
            let elapsed = started.elapsed();
            let due = Duration::from_secs_f64(*counted / self.bytes_per_second);
            if elapsed >= WINDOW && due <= elapsed {
                *started = crate::clock::monotonic_now();
                *counted = 0.0;
            }
            due.saturating_sub(elapsed)
        };
        if !sleep.is_zero() {
            std::thread::sleep(sleep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_caller_to_the_rate() {
        let throttle = Throttle::new(1_000_000.0);
        let started = crate::clock::monotonic_now();
        for _ in 0..4 {
            throttle.account(50_000);
        }
        // 200 KB at 1 MB/s: 200 ms.
        assert!(started.elapsed() >= Duration::from_millis(190));
        let free = Throttle::new(0.0);
        let started = crate::clock::monotonic_now();
        free.account(1 << 30);
        assert!(started.elapsed() < Duration::from_millis(50));
    }
}
