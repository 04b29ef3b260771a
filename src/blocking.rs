//! Disk work (fsyncs, directory changes) called from a request handler.
//!
//! [`run`] tells the runtime that this worker is about to block, so the other connections'
//! tasks move to another worker meanwhile, instead of waiting behind the disk. A handler can
//! then call a blocking operation of the domain as it is, without moving its borrowed state
//! to another thread.

/// Runs `work`, which may block on the disk, without stalling other tasks of a
/// multi-threaded runtime. On a current-thread runtime (some tests), or outside one, it
/// just runs.
pub fn run<R>(work: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
