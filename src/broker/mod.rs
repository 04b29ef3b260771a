//! The broker: the domain service every connection shares — the node's identity, the
//! [`Topics`], the producer-id allocator, the group and transaction coordinators, with the
//! metrics and the clock they use. [`crate::node::Node`] builds it and runs the listeners around it.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Config;
use crate::data_dir_lock::DataDirLock;
use crate::faults::Faults;
use crate::group::GroupCoordinator;
use crate::metrics::Metrics;
use crate::request_log::RequestLog;
use crate::security::credentials::CredentialStore;
use crate::topics::Topics;
use crate::txn::TxnCoordinator;
use fetch_memory::FetchMemory;

pub mod acls;
pub mod append;
pub mod browse;
pub mod config_admin;
pub mod fetch_memory;
pub mod log_dirs;
pub mod markers;
pub mod offsets;
pub mod producers;
pub mod read;
pub mod reset;
pub mod topic_admin;
pub mod txn_joins;
pub(crate) use markers::write_markers;

/// What every connection shares: identity, topics, groups and the producer-id allocator.
pub struct Broker {
    config: Config,
    node_id: i32,
    cluster_id: String,
    /// Host and port given to clients in Metadata: the first listener's.
    advertised_host: String,
    advertised_port: i32,
    /// Each listener's name and advertised host and port: a client is answered with the
    /// address of the listener it came in on, as Kafka does.
    advertised_listeners: Vec<AdvertisedListener>,
    /// The users' SCRAM credentials (SASL PLAIN and SCRAM logins).
    credentials: CredentialStore,
    topics: Topics,
    groups: GroupCoordinator,
    txns: TxnCoordinator,
    /// The ACLs and whether they are enforced.
    acls: acls::Acls,
    metrics: Metrics,
    /// Fault rules for tests (`/admin/faults`, `[[faults]]`); none installed costs nothing.
    faults: Faults,
    /// The latest requests answered (`/admin/requests`); off when `request_log_size` is 0.
    request_log: RequestLog,
    /// The record bytes fetches hold until their responses are written, over all connections.
    fetch_memory: Arc<FetchMemory>,
    /// True once the broker serves clients; false again while it shuts down.
    ready: AtomicBool,
    clock: Clock,
    next_producer_id: AtomicI64,
    shutdown: watch::Receiver<bool>,
    /// The data directory's lock (none in memory). Here rather than in the node so that a
    /// node dropped without [`crate::node::Node::shutdown`] keeps it while its tasks still use
    /// the storage; shutdown takes it out once the logs are closed.
    data_dir_lock: Mutex<Option<DataDirLock>>,
}

/// A listener's name and the address its clients are given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedListener {
    pub name: String,
    pub host: String,
    pub port: i32,
}

/// What [`Broker::new`] is built from: the node opened the storage and chose the addresses.
pub(crate) struct BrokerParts {
    pub config: Config,
    pub cluster_id: String,
    /// The listeners' advertised addresses, the first one the default.
    pub advertised_listeners: Vec<AdvertisedListener>,
    pub credentials: CredentialStore,
    pub topics: Topics,
    pub groups: GroupCoordinator,
    pub txns: TxnCoordinator,
    pub acls: acls::Acls,
    pub metrics: Metrics,
    pub clock: Clock,
    pub shutdown: watch::Receiver<bool>,
    pub data_dir_lock: Option<DataDirLock>,
}

impl Broker {
    /// A broker that is not ready yet: the node marks it ready once its listeners serve.
    pub(crate) fn new(parts: BrokerParts) -> Broker {
        Broker {
            node_id: parts.config.node_id,
            cluster_id: parts.cluster_id,
            advertised_host: parts
                .advertised_listeners
                .first()
                .map_or_else(String::new, |l| l.host.clone()),
            advertised_port: parts.advertised_listeners.first().map_or(0, |l| l.port),
            advertised_listeners: parts.advertised_listeners,
            credentials: parts.credentials,
            topics: parts.topics,
            groups: parts.groups,
            txns: parts.txns,
            acls: parts.acls,
            metrics: parts.metrics,
            // The rules were checked by `Config::validate`; one refused now is logged.
            faults: Faults::from_rules(&parts.config.faults).unwrap_or_else(|e| {
                tracing::error!(error = %e, "a fault rule of the config is refused; none installed");
                Faults::default()
            }),
            request_log: RequestLog::new(parts.config.request_log_size),
            fetch_memory: FetchMemory::new(parts.config.fetch_memory_max_bytes),
            ready: AtomicBool::new(false),
            // Seeded from the clock so ids from an earlier run of this data directory are
            // not handed out again.
            next_producer_id: AtomicI64::new(parts.clock.now_ms() * 1000),
            clock: parts.clock,
            shutdown: parts.shutdown,
            data_dir_lock: Mutex::new(parts.data_dir_lock),
            config: parts.config,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn fetch_memory(&self) -> &FetchMemory {
        &self.fetch_memory
    }

    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The host given to clients in Metadata and FindCoordinator.
    pub fn advertised_host(&self) -> &str {
        &self.advertised_host
    }

    /// The port given to clients with [`Broker::advertised_host`].
    pub fn advertised_port(&self) -> i32 {
        self.advertised_port
    }

    /// The host and port given to the clients of `listener` (the first listener's for a
    /// name it does not know).
    pub fn advertised_address(&self, listener: &str) -> (&str, i32) {
        self.advertised_listeners
            .iter()
            .find(|l| l.name == listener)
            .map_or((self.advertised_host.as_str(), self.advertised_port), |l| {
                (l.host.as_str(), l.port)
            })
    }

    pub fn advertised_listeners(&self) -> &[AdvertisedListener] {
        &self.advertised_listeners
    }

    pub fn credentials(&self) -> &CredentialStore {
        &self.credentials
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    pub fn groups(&self) -> &GroupCoordinator {
        &self.groups
    }

    pub fn txns(&self) -> &TxnCoordinator {
        &self.txns
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn request_log(&self) -> &RequestLog {
        &self.request_log
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Whether the broker serves clients (for /health/ready).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub(crate) fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// A fresh producer id for InitProducerId; never reused within this process.
    pub fn allocate_producer_id(&self) -> i64 {
        self.next_producer_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Resolves once the broker starts shutting down.
    pub async fn shutting_down(&self) {
        let mut shutdown = self.shutdown.clone();
        // An error means the sender is gone: the broker is going away too.
        let _ = shutdown.wait_for(|&stop| stop).await;
    }

    /// Gives up the data directory: call once its logs and the group log are closed.
    pub(crate) fn release_data_dir(&self) {
        drop(
            self.data_dir_lock
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
    }
}
