//! All wall-clock time goes through [`Clock`], so tests can drive it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Now on the monotonic clock: for durations and deadlines, never for timestamps.
#[allow(clippy::disallowed_methods)] // the one place that reads it
pub fn monotonic_now() -> Instant {
    Instant::now()
}

#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system's wall clock.
    #[default]
    System,
    /// A clock that moves only when told to.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    pub fn manual(start_ms: i64) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(start_ms)))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match self {
            #[allow(clippy::disallowed_methods)] // the one place that reads it
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            Clock::Manual(ms) => ms.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward; the system clock ignores it.
    pub fn advance_ms(&self, by_ms: i64) {
        if let Clock::Manual(ms) = self {
            ms.fetch_add(by_ms, Ordering::SeqCst);
        }
    }
}
