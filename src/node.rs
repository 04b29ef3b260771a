//! The node: one running Sluice process, embeddable. It binds the listeners, opens the
//! storage (the cluster id, the topics' logs, the group log), builds the [`Broker`] and runs
//! the front ends ([`server`], [`http`]) and the upkeep tasks ([`maintenance`]) around it,
//! and shuts them down in order. The only module that imports the front ends.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::acl::store::AclStore;
use crate::broker::acls::Acls;
use crate::broker::{AdvertisedListener, Broker, BrokerParts};
use crate::clock::Clock;
use crate::config::{pick_address, split_host_port, Config, SecurityProtocol, Storage};
use crate::data_dir_lock::DataDirLock;
use crate::group::GroupCoordinator;
use crate::metrics::Metrics;
use crate::open_file_limit;
use crate::protocol::versions;
use crate::security::credentials::CredentialStore;
use crate::topics::Topics;
use crate::txn::TxnCoordinator;
use crate::{http, maintenance, server};

/// How long shutdown waits for connections to finish their requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running node. Dropping it does not stop it; call [`Node::shutdown`].
pub struct Node {
    local_addr: SocketAddr,
    /// Each listener's protocol and bound address, in the order configured.
    listener_addrs: Vec<(SecurityProtocol, SocketAddr)>,
    http_addr: Option<SocketAddr>,
    broker: Arc<Broker>,
    shutdown: watch::Sender<bool>,
    /// One accept loop per listener.
    servers: Vec<JoinHandle<()>>,
    http: Option<JoinHandle<()>>,
    maintenance: JoinHandle<()>,
    /// Compacts `compact` topics.
    cleaner: maintenance::cleaner::Cleaner,
    /// Writes the markers of ended transactions.
    markers: JoinHandle<()>,
    /// Recovers the partition logs found at start while the broker serves.
    recovery: Option<std::thread::JoinHandle<()>>,
    stop_recovery: Arc<AtomicBool>,
}

impl Node {
    /// Binds the listener, loads or creates the broker's identity, and starts serving.
    pub async fn start(config: Config) -> io::Result<Node> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        // Before anything reads or writes the data directory. Before the ports too: a second
        // broker started with the same settings then names the real conflict, the directory
        // and who holds it, rather than a taken port.
        let data_dir_lock = match config.storage() {
            Storage::Memory => None,
            Storage::Disk(dir) => Some(
                tokio::task::spawn_blocking(move || DataDirLock::acquire(&dir))
                    .await
                    .map_err(io::Error::other)??,
            ),
        };
        // The admin listener comes first, so /health/ready can say "not yet" during recovery.
        let http_listener = match config.http_address() {
            Some(address) => Some(bind(address, "--http").await?),
            None => None,
        };
        let settings = config
            .listener_settings()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        // Client certificates are required on SSL listeners only when a client CA is set;
        // SASL_SSL clients authenticate with SASL (as Kafka's SASL_SSL listeners without a
        // listener-specific ssl.client.auth).
        let ssl_tls = crate::security::tls::acceptor(&config, true)?;
        let sasl_ssl_tls = crate::security::tls::acceptor(&config, false)?;
        let mut listeners = Vec::new();
        let mut listener_addrs = Vec::new();
        let mut advertised_listeners = Vec::new();
        for setting in &settings {
            let flag = if setting.flag == "--listen" {
                "--listen".to_string()
            } else {
                format!("--listener {}://{}", setting.protocol, setting.bind)
            };
            let socket = bind(&setting.bind, &flag).await?;
            let bound = socket.local_addr()?;
            let (host, port) = match &setting.advertise {
                Some(address) => split_host_port(address).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "an advertised address must be HOST:PORT",
                    )
                })?,
                None => (bound.ip().to_string(), bound.port()),
            };
            advertised_listeners.push(AdvertisedListener {
                name: setting.protocol.name().to_string(),
                host,
                port: i32::from(port),
            });
            listener_addrs.push((setting.protocol, bound));
            listeners.push(server::Listener {
                socket,
                protocol: setting.protocol,
                tls: match setting.protocol {
                    SecurityProtocol::Ssl => ssl_tls.clone(),
                    SecurityProtocol::SaslSsl => sasl_ssl_tls.clone(),
                    _ => None,
                },
            });
        }
        let local_addr = listener_addrs
            .first()
            .map(|(_, addr)| *addr)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no listener"))?;
        // Opening the data directory reads and recovers logs: a blocking thread's work.
        let opening = config.clone();
        let OpenedStorage {
            cluster_id,
            topics,
            groups,
            txns,
            credentials,
            acls,
        } = tokio::task::spawn_blocking(move || open_storage(&opening))
            .await
            .map_err(io::Error::other)??;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let broker = Arc::new(Broker::new(BrokerParts {
            cluster_id,
            advertised_listeners,
            credentials,
            topics,
            groups,
            txns,
            acls,
            metrics: Metrics::new(
                &versions::SUPPORTED
                    .iter()
                    .map(|s| (s.key as i16, format!("{:?}", s.key)))
                    .collect::<Vec<_>>(),
            ),
            clock: Clock::System,
            shutdown: shutdown_rx,
            data_dir_lock,
            config,
        }));
        // Before the listeners serve: a client that connects finds the declared topics.
        broker
            .create_declared_topics()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let http_addr = match &http_listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let http = http_listener.map(|l| tokio::spawn(http::serve(l, broker.clone())));
        let permits = Arc::new(tokio::sync::Semaphore::new(broker.config().max_connections));
        let servers = listeners
            .into_iter()
            .map(|l| tokio::spawn(server::run(l, permits.clone(), broker.clone())))
            .collect();
        let maintenance = tokio::spawn(maintenance::run(broker.clone()));
        let cleaner = maintenance::cleaner::Cleaner::start(broker.clone())?;
        let markers = tokio::spawn(crate::broker::write_markers(broker.clone()));
        let stop_recovery = Arc::new(AtomicBool::new(false));
        let recovery = {
            let (topics, stop) = (broker.topics().clone(), stop_recovery.clone());
            let threads = std::thread::available_parallelism().map_or(2, usize::from);
            std::thread::Builder::new()
                .name("sluice-recovery".into())
                .spawn(move || topics.recover_all(threads, &stop))?
        };
        broker.set_ready(true);
        tracing::info!(
            listen = %local_addr,
            listeners = %listener_addrs
                .iter()
                .map(|(p, a)| format!("{p}://{a}"))
                .collect::<Vec<_>>()
                .join(","),
            advertise = %format!("{}:{}", broker.advertised_host(), broker.advertised_port()),
            cluster_id = %broker.cluster_id(),
            http = %http_addr.map_or_else(|| "none".to_string(), |a| a.to_string()),
            "sluice ready"
        );
        Ok(Node {
            local_addr,
            listener_addrs,
            http_addr,
            broker,
            shutdown,
            servers,
            http,
            maintenance,
            cleaner,
            markers,
            recovery: Some(recovery),
            stop_recovery,
        })
    }

    /// The address the first listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address the listener of `protocol` is bound to, if there is one.
    pub fn listener_addr(&self, protocol: SecurityProtocol) -> Option<SocketAddr> {
        self.listener_addrs
            .iter()
            .find(|(p, _)| *p == protocol)
            .map(|(_, addr)| *addr)
    }

    /// Every listener's protocol and bound address.
    pub fn listener_addrs(&self) -> &[(SecurityProtocol, SocketAddr)] {
        &self.listener_addrs
    }

    /// The admin HTTP listener's address, when it is on.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// What a client puts in `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        self.local_addr.to_string()
    }

    /// The broker this node runs: lets an embedder (or a test) look at what it holds.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Stops accepting, lets in-flight requests finish (for up to five seconds), then stops
    /// the group coordinator and closes the logs.
    pub async fn shutdown(self) {
        self.broker.set_ready(false);
        self.shutdown.send_replace(true);
        let aborts: Vec<_> = self.servers.iter().map(|s| s.abort_handle()).collect();
        let servers = futures_util::future::join_all(self.servers);
        match tokio::time::timeout(SHUTDOWN_GRACE, servers).await {
            Ok(results) => {
                for e in results.into_iter().filter_map(Result::err) {
                    tracing::error!(error = %e, "server task failed");
                }
            }
            Err(_) => {
                tracing::warn!(
                    "connections still busy after the shutdown grace period; closing them"
                );
                for abort in aborts {
                    abort.abort();
                }
            }
        }
        if let Some(http) = self.http {
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, http).await;
        }
        let _ = self.maintenance.await;
        let cleaner = self.cleaner;
        if tokio::task::spawn_blocking(move || cleaner.stop())
            .await
            .is_err()
        {
            tracing::error!("stopping the log cleaner failed");
        }
        let _ = self.markers.await;
        // Logs being recovered finish; the others stay as they are on disk.
        self.stop_recovery.store(true, Ordering::SeqCst);
        if let Some(recovery) = self.recovery {
            let joined = tokio::task::spawn_blocking(move || recovery.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                tracing::error!("the log recovery thread failed");
            }
        }
        self.broker.groups().stop();
        self.broker.txns().stop();
        maintenance::close_logs(self.broker.clone()).await;
        // The logs and the group log are closed: another broker may have the directory now.
        self.broker.release_data_dir();
        tracing::info!("shutdown complete");
    }
}

/// Resolves `address` (`host:port`, the host a name or an IP) and binds a listener there. The
/// errors name the address and the setting's flag: "Address already in use" alone does not say
/// which of the two listeners failed.
async fn bind(address: &str, flag: &str) -> io::Result<TcpListener> {
    let fail = |what: String, e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    let (host, port) = split_host_port(address).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{flag} must be HOST:PORT, not {address:?}"),
        )
    })?;
    let resolved = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| fail(format!("cannot resolve {address} ({flag})"), e))?;
    let addr = pick_address(resolved).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("cannot resolve {address} ({flag}): no addresses"),
        )
    })?;
    // The configured name too, when it is not the address itself (nor in the flag already).
    let setting = if addr.to_string() == address || flag.ends_with(address) {
        flag.to_string()
    } else {
        format!("{flag} {address}")
    };
    TcpListener::bind(addr)
        .await
        .map_err(|e| fail(format!("cannot listen on {addr} ({setting})"), e))
}

/// What the configured storage holds: the cluster id, the topics (logs recovered lazily)
/// and the coordinators, their journals replayed.
struct OpenedStorage {
    cluster_id: String,
    topics: Topics,
    groups: GroupCoordinator,
    txns: TxnCoordinator,
    credentials: CredentialStore,
    acls: Acls,
}

fn open_storage(config: &Config) -> io::Result<OpenedStorage> {
    let dir = match config.storage() {
        Storage::Memory => None,
        Storage::Disk(dir) => Some(dir),
    };
    let credentials = CredentialStore::open(dir.as_deref())?;
    // The flag's users are applied again at every start, over what the file had for them.
    credentials.apply_users(&config.sasl_users)?;
    let acl_store = match config.storage() {
        Storage::Memory => AclStore::Memory,
        Storage::Disk(dir) => AclStore::Disk(dir),
    };
    let acls = Acls::open(
        config.authorizer,
        config.authorizer_config(),
        config.acls_max,
        acl_store,
    )?;
    Ok(match config.storage() {
        Storage::Memory => OpenedStorage {
            cluster_id: new_cluster_id(),
            topics: Topics::new(config.topic_defaults()).with_max_partitions(config.max_partitions),
            groups: GroupCoordinator::start(config.group_config(), None, Clock::System)?,
            txns: TxnCoordinator::start(config.txn_config(), None, Clock::System)?,
            credentials,
            acls,
        },
        Storage::Disk(dir) => OpenedStorage {
            cluster_id: load_or_create_cluster_id(&dir)?,
            topics: Topics::open(&dir, config.topic_defaults(), Clock::System)?
                .with_max_partitions(config.max_partitions)
                .with_max_open_files(config.segment_file_cap(open_file_limit::current())),
            groups: GroupCoordinator::start(config.group_config(), Some(&dir), Clock::System)?,
            txns: TxnCoordinator::start(config.txn_config(), Some(&dir), Clock::System)?,
            credentials,
            acls,
        },
    })
}

/// A cluster id as Kafka writes them: a random UUID in URL-safe base64, unpadded.
fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 3];
        group[..chunk.len()].copy_from_slice(chunk);
        let n = u32::from_be_bytes([0, group[0], group[1], group[2]]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn load_or_create_cluster_id(data_dir: &Path) -> io::Result<String> {
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join("cluster_id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is empty", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let id = new_cluster_id();
            let temporary = data_dir.join("cluster_id.tmp");
            std::fs::write(&temporary, format!("{id}\n"))?;
            std::fs::rename(&temporary, &path)?;
            Ok(id)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_look_like_kafkas() {
        let id = new_cluster_id();
        assert_eq!(id.len(), 22);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(id, new_cluster_id());
    }

    #[tokio::test]
    async fn a_taken_port_names_the_listener_and_its_flag() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let config = Config {
            listeners: vec![
                "PLAINTEXT://127.0.0.1:0".into(),
                format!("SASL_PLAINTEXT://127.0.0.1:{port}"),
            ],
            ..Config::for_tests()
        };
        let error = Node::start(config).await.err().expect("the port is taken");
        let message = error.to_string();
        assert!(
            message.contains(&format!(
                "cannot listen on 127.0.0.1:{port} (--listener SASL_PLAINTEXT://127.0.0.1:{port})"
            )),
            "{message}"
        );
    }

    #[test]
    fn the_cluster_id_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("sluice-cluster-id-{}", uuid::Uuid::new_v4()));
        let first = load_or_create_cluster_id(&dir).unwrap();
        assert_eq!(load_or_create_cluster_id(&dir).unwrap(), first);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
