//! Sluice: a Kafka wire-protocol compatible broker.
//!
//! A request travels down this crate in one direction:
//!
//! - [`server`] accepts connections on each listener (a permit each, TLS where the listener
//!   has it) and owns shutdown;
//! - [`connection`] reads frames in order and writes their responses in order (pipelined
//!   Produce responses share a write), with limits on half-sent requests and unread answers,
//!   over any [`transport`] (TCP, or TLS on the SSL listeners);
//! - [`session`] is what a connection knows of its peer (listener, principal, client
//!   software) and the `RequestContext` every handler gets;
//! - [`protocol`] is the wire: frames and the connection's read buffer, the API table
//!   (`protocol::apis`: each API's versions, types and handler, declared once) and the request
//!   decoding, response encoding and advertised versions expanded from it;
//! - [`api`] has one module per Kafka API, turning a request into calls on the broker;
//! - [`broker`] is the domain service every connection shares: cluster identity,
//!   [`topics`], producer ids, the [`group`] and [`txn`] coordinators, and the operations
//!   that own Kafka's rules — append, read, offsets, topic administration, transaction
//!   markers;
//! - [`coordinator`] is the runtime coordinators run on: a pure state machine per
//!   coordinator, driven by one thread that journals its records before releasing any answer;
//! - [`topics`] names topics and partitions, with their configs and their files on disk;
//! - [`partition`] wraps one [`log`] with its locking, producer state (snapshotted when
//!   the log rolls), open and aborted transactions, its leader-epoch cache, and published
//!   ends, opening (recovering) the log when first used;
//! - [`log`] stores raw record batches by offset, in memory or in segment files;
//! - [`producer_state`] de-duplicates idempotent producers' retries, and encodes it as a
//!   snapshot;
//! - [`record`] is the record format, a leaf under all of them: the zero-copy view of v2
//!   batch headers and their CRC, the validation of the records behind them (bounded walks,
//!   bounded decompression), finding a record by timestamp, and control batches.
//!
//! [`node`] runs one process around the broker: it binds the listeners, opens the storage,
//! starts [`server`], [`http`] and [`maintenance`], and shuts them down in order; it is the
//! only module that imports them.
//!
//! [`cli`] is the command line beyond `serve` (topics, produce, consume, groups, wait,
//! dump and seed, health and faults); it talks to any Kafka-compatible broker through
//! [`client`], Sluice's own Kafka client (connections with negotiated versions, Metadata,
//! routing to leaders and coordinators, a classic-protocol group member).
//! [`security`] authenticates connections: TLS, SASL (PLAIN, SCRAM, OAUTHBEARER) and the
//! users' SCRAM credentials.
//! [`acl`] is authorization, pure: the ACLs, indexed by resource, and Kafka's decisions from
//! them; the broker holds them and every handler asks it (`Broker::authorize`).
//!
//! Beside them: [`config`] (TOML, `SLUICE_*` variables, flags), [`http`] (health, metrics, the
//! admin reset, fault rules, the request recorder and the REST proxy) and [`metrics`]
//! (Prometheus), [`faults`] (fault rules the connection checks before each handler),
//! [`request_log`] (the latest requests answered), [`console`] (the web console at `/ui` on
//! the admin listener), [`maintenance`] (retention, flushes,
//! producer expiry, the clean close), [`data_dir_lock`] (one broker per data directory),
//! [`blocking`] (disk work from a handler), [`clock`] and [`alloc_guard`] (hostile-allocation
//! checks in tests).
//!
//! [`Node`] is the embeddable entry point: tests start one on `127.0.0.1:0` and look at what
//! it stores through [`Node::broker`].

pub mod acl;
pub mod alloc_guard;
pub mod api;
pub mod blocking;
pub mod broker;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod connection;
pub mod console;
pub mod coordinator;
pub mod data_dir_lock;
pub mod faults;
pub mod group;
pub mod http;
pub mod log;
pub mod maintenance;
pub mod metrics;
pub mod node;
pub mod open_file_limit;
pub mod partition;
pub mod producer_state;
pub mod protocol;
pub mod record;
pub mod request_log;
pub mod security;
pub mod server;
pub mod session;
pub mod topics;
pub mod transport;
pub mod txn;

pub use broker::Broker;
pub use node::Node;

// Unit tests feed hostile frames to the decoders; see `alloc_guard` for why.
#[cfg(test)]
#[global_allocator]
static ALLOCATOR: alloc_guard::GuardedAlloc = alloc_guard::GuardedAlloc;
pub use config::{Config, ConfigError, Storage};
