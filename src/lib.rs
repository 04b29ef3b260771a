//! Sluice: a Kafka wire-protocol compatible broker.
//!
//! A request travels down this crate in one direction:
//!
//! - [`server`] accepts connections and owns shutdown;
//! - [`connection`] reads frames in order and writes their responses in order (pipelined
//!   Produce responses share a write);
//! - [`protocol`] is the wire: frames, request and response headers, the advertised
//!   versions, and our zero-copy view of record-batch headers;
//! - [`api`] has one module per Kafka API, turning a request into calls on the broker;
//! - [`broker`] is the shared state: cluster identity, [`topics`], producer ids, and the
//!   [`group`] coordinator;
//! - [`partition`] wraps one [`log`] with its locking and published end offsets;
//! - [`log`] stores raw record batches by offset, in memory or in segment files.
//!
//! [`Broker`] is the embeddable entry point: tests start one on `127.0.0.1:0`.

pub mod alloc_guard;
pub mod api;
pub mod blocking;
pub mod broker;
pub mod clock;
pub mod config;
pub mod connection;
pub mod data_dir_lock;
pub mod group;
pub mod http;
pub mod log;
pub mod maintenance;
pub mod metrics;
pub mod partition;
pub mod producer_state;
pub mod protocol;
pub mod server;
pub mod topics;

pub use broker::Broker;

// Unit tests feed hostile frames to the decoders; see `alloc_guard` for why.
#[cfg(test)]
#[global_allocator]
static ALLOCATOR: alloc_guard::GuardedAlloc = alloc_guard::GuardedAlloc;
pub use config::{Config, ConfigError, Storage};
