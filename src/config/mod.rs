//! Broker configuration: the one place that knows every setting, its default and its unit.
//!
//! Values come from a TOML file (`--config`), then `SLUICE_<KEY>` environment variables, then
//! command-line flags; `Config::validate` rejects a bad value with the key's name before
//! anything starts.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod declared_topics;
pub use declared_topics::TopicDeclaration;
mod listeners;
pub use listeners::{ListenerAddress, SecurityProtocol};

/// The SASL mechanisms Sluice implements.
pub const SASL_MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

/// Where partition logs live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// Everything in memory; gone when the process exits.
    Memory,
    /// Segment files under this directory.
    Disk(PathBuf),
}

/// Environment variables named `SLUICE_<KEY>` override the file's `key`.
pub const ENV_PREFIX: &str = "SLUICE_";

/// `SLUICE_*` variables that are not settings, so no warning: the config file's path (read by
/// the command line), `serve`'s ready file (a flag's variable), the broker binary the interop
/// test runners start, and the brokers the command line's client commands talk to
/// (`sluice topic`, `produce`, …).
const NOT_SETTINGS: &[&str] = &[
    "SLUICE_CONFIG",
    "SLUICE_READY_FILE",
    "SLUICE_BIN",
    "SLUICE_BROKERS",
];

/// A `SLUICE_*` variable that names no setting: ignored, with a warning, since a misspelt
/// name would otherwise leave its setting at the default without a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVariable {
    /// The variable's name, as set.
    pub name: String,
    /// The setting it most likely meant, when one is close enough to be a typo.
    pub closest: Option<String>,
}

impl fmt::Display for UnknownVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "environment variable {} is not a setting; ignored",
            self.name
        )?;
        if let Some(key) = &self.closest {
            write!(
                f,
                " (did you mean `{key}`, {ENV_PREFIX}{}?)",
                key.to_ascii_uppercase()
            )?;
        }
        Ok(())
    }
}

/// The known key nearest to `key` by edit distance, if it is near enough to be a typo: at
/// most 2 edits, or a third of the key's length for long keys.
fn closest_key<'k>(key: &str, known: &'k [String]) -> Option<&'k str> {
    let (distance, closest) = known
        .iter()
        .map(|k| (edit_distance(key, k), k.as_str()))
        .min()?;
    (distance <= (key.len() / 3).max(2)).then_some(closest)
}

/// Levenshtein distance: insertions, deletions and substitutions, one each.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // One row of the table at a time: the distances from a's prefix to every prefix of b.
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// An environment value as the TOML value it spells: a number or boolean when it reads as
/// one, otherwise a string.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(n) = raw.parse::<i64>() {
        toml::Value::Integer(n)
    } else if let Ok(b) = raw.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(raw.to_string())
    }
}

/// Every broker setting. Field names match the TOML keys in `config/sluice.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `host:port` the Kafka listener binds (`127.0.0.1:0` picks a free port); a host name is
    /// resolved when the broker starts, see [`pick_address`].
    pub listen: String,
    /// `host:port` given to clients in Metadata; the bound address when unset.
    pub advertise: Option<String>,
    /// Data directory for the on-disk logs; ignored when `memory` is true.
    pub data_dir: PathBuf,
    /// Keep every log in memory instead of on disk.
    pub memory: bool,
    /// `host:port` of the HTTP admin listener (health, metrics), or "none"; a host name is
    /// resolved as `listen`'s is.
    pub http: String,
    /// Log line format: "text" or "json".
    pub log_format: String,
    /// This broker's node id, as clients see it in Metadata.
    pub node_id: i32,
    /// Create a topic when a client asks for it in Metadata and allows it.
    pub auto_create_topics: bool,
    /// Partitions of a topic created without an explicit count.
    pub num_partitions: i32,
    /// Partitions the broker holds at most, over all topics; creations past it are refused.
    pub max_partitions: usize,
    /// Partitions one CreateTopics or CreatePartitions request may create.
    pub max_partitions_per_request: usize,
    /// Segment files the partitions hold open together; past it the least recently used
    /// are closed and reopened on use. 0: what the open-file limit leaves after
    /// `max_connections` (see [`Config::segment_file_cap`]).
    pub max_open_segment_files: usize,
    /// Topics one Metadata request may auto-create; the rest are answered
    /// `LEADER_NOT_AVAILABLE`, created by the client's next request.
    pub auto_create_topics_max_per_request: usize,
    /// Largest request frame accepted, in bytes (Kafka's `socket.request.max.bytes`).
    pub max_request_bytes: usize,
    /// Largest record batch accepted, in bytes, unless a topic overrides `max.message.bytes`.
    pub message_max_bytes: i32,
    /// Connections served at once; further clients wait in the accept queue.
    pub max_connections: usize,
    /// Upper bound on a fetch's `max_wait_ms`, so a client cannot park a request for ever.
    pub fetch_wait_max_ms: u64,
    /// Upper bound on the record bytes one fetch response holds (Kafka's `fetch.max.bytes`);
    /// the first batch is still sent whole when it alone is larger.
    pub fetch_max_bytes: usize,
    /// Upper bound on the record bytes all fetch responses not yet written hold together,
    /// over all connections (plus at most one first batch each); a fetch takes what is left,
    /// and with nothing left it waits for its deadline and answers without records.
    pub fetch_memory_max_bytes: usize,
    /// A connection that sends no request for this long is closed (Kafka's
    /// `connections.max.idle.ms`).
    pub connections_max_idle_ms: u64,
    /// Once a request's first byte arrived, the whole request must arrive within this long,
    /// or the connection is closed: a client that dribbles a partial request cannot hold its
    /// connection slot and buffer until the idle timeout.
    pub request_read_timeout_ms: u64,
    /// A connection whose client takes no byte of a response for this long is closed: a
    /// client that never reads cannot keep its answers, and their memory, for ever.
    pub response_write_timeout_ms: u64,
    /// How long a group formed from empty waits for more members before its first
    /// rebalance completes (Kafka's `group.initial.rebalance.delay.ms`; 0 here: quick in dev).
    pub group_initial_rebalance_delay_ms: i64,
    /// Smallest session timeout a group member may ask for, in milliseconds.
    pub group_min_session_timeout_ms: i32,
    /// Largest session timeout a group member may ask for, in milliseconds.
    pub group_max_session_timeout_ms: i32,
    /// Members one group holds at most (Kafka's `group.max.size`), and new members it keeps
    /// waiting after MEMBER_ID_REQUIRED at most; joins past it get GROUP_MAX_SIZE_REACHED.
    pub group_max_size: usize,
    /// Groups the broker holds at most; a join or commit that would create another gets
    /// GROUP_MAX_SIZE_REACHED (Kafka has no such limit; every client-made count needs one).
    pub groups_max: usize,
    /// How long committed offsets of an empty group are kept, in minutes.
    pub offsets_retention_minutes: i64,
    /// Largest `transaction.timeout.ms` a transactional producer may ask for.
    pub transaction_max_timeout_ms: i32,
    /// How long a transactional id with no transaction open is kept after its last use.
    pub transactional_id_expiration_ms: i64,
    /// The `transaction.version` feature level ApiVersions finalizes (Kafka's levels): 2 lets
    /// clients use transaction version 2 (KIP-890: an epoch bump at every end, partitions
    /// and groups joining implicitly); 0 and 1 keep them on the first protocol.
    pub transaction_version: i16,
    /// Largest metadata string stored with a committed offset, in bytes.
    pub offset_metadata_max_bytes: usize,
    /// Records a partition may have unflushed before it is fsynced; the default of topic
    /// config `flush.messages` (Kafka's `log.flush.interval.messages`).
    pub log_flush_interval_messages: i64,
    /// Milliseconds appended data may stay unflushed; the default of topic config `flush.ms`
    /// (Kafka's `log.flush.interval.ms`).
    pub log_flush_interval_ms: i64,
    /// How often retention deletes old segments, in milliseconds
    /// (Kafka's `log.retention.check.interval.ms`).
    pub log_retention_check_interval_ms: i64,
    /// An idempotent producer quiet for this long is forgotten by each partition it wrote to
    /// (Kafka's `producer.id.expiration.ms`), checked with retention.
    pub producer_id_expiration_ms: i64,
    /// Per-partition series, and per-group series, one `/metrics` scrape renders at most.
    pub metrics_series_max: usize,
    /// The default `cleanup.policy` of topics that do not set one: `delete`, `compact` or
    /// `compact,delete` (Kafka's `log.cleanup.policy`).
    pub log_cleanup_policy: String,
    /// Whether the log cleaner compacts `compact` topics (Kafka's `log.cleaner.enable`).
    pub log_cleaner_enable: bool,
    /// Cleaner threads, each cleaning one partition at a time (`log.cleaner.threads`).
    pub log_cleaner_threads: usize,
    /// Memory for the cleaners' key → offset maps, in bytes, shared by the threads
    /// (`log.cleaner.dedupe.buffer.size`): 24 bytes a key.
    pub log_cleaner_dedupe_buffer_bytes: usize,
    /// The cleaners' reads and writes together, in bytes per second
    /// (`log.cleaner.io.max.bytes.per.second`).
    pub log_cleaner_io_max_bytes_per_second: i64,
    /// How long a cleaner sleeps when no partition needs cleaning, in milliseconds
    /// (`log.cleaner.backoff.ms`).
    pub log_cleaner_backoff_ms: i64,
    /// Topics created at start unless they exist (`--topic`, `[[topics]]`, `SLUICE_TOPICS`
    /// with declarations separated by spaces).
    pub topics: Vec<TopicDeclaration>,
    /// Listeners as `PROTOCOL://HOST:PORT` (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL; one
    /// each at most). Empty: `listen` is the one PLAINTEXT listener.
    #[serde(deserialize_with = "listeners::string_or_list")]
    pub listeners: Vec<String>,
    /// `PROTOCOL://HOST:PORT` given to the clients of the listener of that protocol; a
    /// listener not named here advertises its bound address.
    #[serde(deserialize_with = "listeners::string_or_list")]
    pub advertised_listeners: Vec<String>,
    /// PEM certificate chain of the SSL and SASL_SSL listeners.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates: when set, SSL listeners require a client certificate signed by
    /// one of them (mTLS), and its subject is the connection's principal.
    pub tls_client_ca: Option<PathBuf>,
    /// Users as `NAME:PASSWORD`, who may log in with PLAIN and SCRAM-SHA-256/512; kept only
    /// as SCRAM credentials, and applied again at each start.
    #[serde(deserialize_with = "listeners::string_or_list")]
    pub sasl_users: SaslUsers,
    /// SASL mechanisms the SASL listeners offer (Kafka's `sasl.enabled.mechanisms`).
    /// OAUTHBEARER takes unsecured (unsigned) tokens: enable it only where that is fine.
    #[serde(deserialize_with = "listeners::string_or_list")]
    pub sasl_enabled_mechanisms: Vec<String>,
    /// A SASL session lasts this long before the client must re-authenticate (KIP-368,
    /// Kafka's `connections.max.reauth.ms`); 0: for ever.
    pub connections_max_reauth_ms: u64,
    /// Check every request against the ACLs, as Kafka's `StandardAuthorizer` does. Off, every
    /// request is allowed and the ACL APIs answer SECURITY_DISABLED, as Kafka without an
    /// authorizer does.
    pub authorizer: bool,
    /// Principals (`User:admin`) allowed everything whatever the ACLs say (Kafka's
    /// `super.users`). In `SLUICE_SUPER_USERS`, separated by commas or semicolons.
    #[serde(deserialize_with = "principal_list")]
    pub super_users: Vec<String>,
    /// Allow an operation on a resource no ACL names (Kafka's `allow.everyone.if.no.acl.found`).
    pub allow_everyone_if_no_acl_found: bool,
    /// ACLs the broker holds at most; creations past it are refused.
    pub acls_max: usize,
    /// Creations in one CreateAcls, or filters in one DeleteAcls, at most.
    pub acls_max_per_request: usize,
    /// Fault rules installed at start (`[[faults]]`), with the fields of `POST /admin/faults`
    /// (see `crate::faults`).
    pub faults: Vec<crate::faults::FaultRule>,
    /// Requests kept by the request recorder (`GET /admin/requests`); 0 turns it off.
    pub request_log_size: usize,
}

/// `NAME:PASSWORD` entries: a list whose `Debug` shows names only, so a logged config never
/// holds a password.
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct SaslUsers(pub Vec<String>);

impl From<Vec<String>> for SaslUsers {
    fn from(users: Vec<String>) -> SaslUsers {
        SaslUsers(users)
    }
}

impl fmt::Debug for SaslUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.0
                    .iter()
                    .map(|u| u.split(':').next().unwrap_or_default()),
            )
            .finish()
    }
}

impl SaslUsers {
    /// Each entry as (name, password).
    pub fn entries(&self) -> impl Iterator<Item = Option<(&str, &str)>> {
        self.0.iter().map(|u| u.split_once(':'))
    }
}

/// One listener to bind: its protocol, where it binds, and what it advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSetting {
    pub protocol: SecurityProtocol,
    pub bind: String,
    /// `HOST:PORT` given to its clients; the bound address when `None`.
    pub advertise: Option<String>,
    /// The flag that set it, for error messages.
    pub flag: &'static str,
}

/// A list of principals, as a TOML array or as one string separated by `,` or `;` (how an
/// environment variable spells a list; Kafka's `super.users` uses `;`).
fn principal_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Array(Vec<String>),
        Joined(String),
    }
    Ok(match List::deserialize(d)? {
        List::Array(list) => list,
        List::Joined(joined) => joined
            .split([',', ';'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:9092".into(),
            advertise: None,
            data_dir: PathBuf::from("./sluice-data"),
            memory: false,
            http: "127.0.0.1:9644".into(),
            log_format: "text".into(),
            node_id: 0,
            auto_create_topics: true,
            num_partitions: 1,
            max_partitions: crate::topics::DEFAULT_MAX_PARTITIONS,
            max_partitions_per_request: 10_000,
            max_open_segment_files: 0,
            auto_create_topics_max_per_request: 100,
            max_request_bytes: 100 * 1024 * 1024,
            message_max_bytes: 1_048_588,
            max_connections: 10_000,
            fetch_wait_max_ms: 30_000,
            fetch_max_bytes: 57_671_680,
            fetch_memory_max_bytes: 512 * 1024 * 1024,
            connections_max_idle_ms: 600_000,
            request_read_timeout_ms: 30_000,
            response_write_timeout_ms: 30_000,
            group_initial_rebalance_delay_ms: 0,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_max_size: 10_000,
            groups_max: 500_000,
            offsets_retention_minutes: 10_080,
            transaction_max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 604_800_000,
            transaction_version: 2,
            offset_metadata_max_bytes: 4096,
            log_flush_interval_messages: i64::MAX,
            log_flush_interval_ms: i64::MAX,
            log_retention_check_interval_ms: 300_000,
            producer_id_expiration_ms: 86_400_000,
            metrics_series_max: 10_000,
            log_cleanup_policy: "delete".into(),
            log_cleaner_enable: true,
            log_cleaner_threads: 1,
            log_cleaner_dedupe_buffer_bytes: 128 * 1024 * 1024,
            log_cleaner_io_max_bytes_per_second: i64::MAX,
            log_cleaner_backoff_ms: 15_000,
            topics: Vec::new(),
            listeners: Vec::new(),
            advertised_listeners: Vec::new(),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            sasl_users: SaslUsers::default(),
            sasl_enabled_mechanisms: vec![
                "PLAIN".into(),
                "SCRAM-SHA-256".into(),
                "SCRAM-SHA-512".into(),
            ],
            connections_max_reauth_ms: 0,
            authorizer: false,
            super_users: Vec::new(),
            allow_everyone_if_no_acl_found: false,
            acls_max: 100_000,
            acls_max_per_request: 1_000,
            faults: Vec::new(),
            request_log_size: 1_000,
        }
    }
}

/// A setting that cannot be used, named by its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config `{key}`: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl Config {
    /// An in-memory broker on a free loopback port: what tests embed.
    pub fn for_tests() -> Config {
        Config {
            listen: "127.0.0.1:0".into(),
            memory: true,
            http: "none".into(),
            ..Config::default()
        }
    }

    /// Builds the config from a TOML file (if any), overridden by `SLUICE_<KEY>` variables
    /// from `env` (e.g. `SLUICE_NUM_PARTITIONS=4`). Keys left out keep their defaults.
    /// Variables that name no setting are ignored; [`Config::load_with_warnings`] lists them.
    /// Values are checked for their type here; call [`Config::validate`] once command-line
    /// flags are applied too.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        Config::load_with_warnings(file, env).map(|(config, _)| config)
    }

    /// [`Config::load`], and the `SLUICE_*` variables it ignored because they name no setting
    /// (`SLUICE_CONFIG`, `SLUICE_BIN` and `SLUICE_BROKERS`, which are not settings, left out), for the caller to
    /// log once logging is set up.
    pub fn load_with_warnings(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Config, Vec<UnknownVariable>), ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    key: "--config".into(),
                    reason: format!("cannot read {}: {e}", path.display()),
                })?;
                text.parse::<toml::Table>().map_err(|e| ConfigError {
                    key: path.display().to_string(),
                    reason: e.message().to_string(),
                })?
            }
            None => toml::Table::new(),
        };
        let known = Config::keys();
        let mut unknown = Vec::new();
        for (name, value) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            // Ignored rather than refused: other tools may set SLUICE_* variables of their own.
            if !known.contains(&key) {
                if !NOT_SETTINGS.contains(&name.as_str()) {
                    unknown.push(UnknownVariable {
                        closest: closest_key(&key, &known).map(str::to_string),
                        name,
                    });
                }
                continue;
            }
            let value = if key == "topics" {
                // Declarations hold commas and colons but no spaces.
                toml::Value::Array(
                    value
                        .split_whitespace()
                        .map(|d| toml::Value::String(d.to_string()))
                        .collect(),
                )
            } else {
                env_value(&value)
            };
            table.insert(key, value);
        }
        // The environment's order is arbitrary; warnings in name order read the same each run.
        unknown.sort_by(|a, b| a.name.cmp(&b.name));
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    let message = e.to_string().trim().to_string();
                    // Serde names the offending key as "in `key`" (or "unknown field `key`").
                    let key = message
                        .rsplit_once("in `")
                        .or_else(|| message.split_once("unknown field `"))
                        .and_then(|(_, rest)| rest.split('`').next())
                        .unwrap_or("config")
                        .to_string();
                    ConfigError {
                        key,
                        reason: message.lines().next().unwrap_or_default().to_string(),
                    }
                })?;
        Ok((config, unknown))
    }

    /// Every setting's key.
    fn keys() -> Vec<String> {
        let defaults = toml::Table::try_from(Config::default()).unwrap_or_default();
        // Settings unset by default do not serialise.
        defaults
            .keys()
            .cloned()
            .chain(
                ["advertise", "tls_cert", "tls_key", "tls_client_ca"]
                    .into_iter()
                    .map(str::to_string),
            )
            .collect()
    }

    /// The admin HTTP listener's `host:port`, or `None` when `http = "none"`.
    pub fn http_address(&self) -> Option<&str> {
        (self.http != "none").then_some(self.http.as_str())
    }

    /// The broker-wide defaults of topic configs.
    /// The cap on open segment files: `max_open_segment_files`, or when that is 0 what
    /// `open_file_limit` (the process's, when known) leaves after `max_connections`.
    pub fn segment_file_cap(&self, open_file_limit: Option<u64>) -> usize {
        match self.max_open_segment_files {
            0 => crate::open_file_limit::segment_file_share(open_file_limit, self.max_connections),
            cap => cap,
        }
    }

    pub fn topic_defaults(&self) -> crate::topics::TopicDefaults {
        crate::topics::TopicDefaults {
            max_message_bytes: self.message_max_bytes,
            flush_messages: self.log_flush_interval_messages,
            flush_ms: self.log_flush_interval_ms,
            dynamic: Default::default(),
            cleanup_policy: crate::topics::cleanup_policy_default(&self.log_cleanup_policy)
                .unwrap_or("delete"),
        }
    }

    /// The group coordinator's settings.
    pub fn group_config(&self) -> crate::group::GroupConfig {
        crate::group::GroupConfig {
            initial_rebalance_delay_ms: self.group_initial_rebalance_delay_ms,
            min_session_timeout_ms: self.group_min_session_timeout_ms,
            max_session_timeout_ms: self.group_max_session_timeout_ms,
            max_size: self.group_max_size,
            max_groups: self.groups_max,
            offsets_retention_ms: self.offsets_retention_minutes * 60_000,
            ..crate::group::GroupConfig::default()
        }
    }

    pub fn txn_config(&self) -> crate::txn::TxnConfig {
        crate::txn::TxnConfig {
            max_timeout_ms: self.transaction_max_timeout_ms,
            id_expiration_ms: self.transactional_id_expiration_ms,
        }
    }

    /// How the authorizer decides beside the ACLs.
    pub fn authorizer_config(&self) -> crate::acl::AuthorizerConfig {
        crate::acl::AuthorizerConfig {
            super_users: self.super_users.clone(),
            allow_everyone_if_no_acl_found: self.allow_everyone_if_no_acl_found,
        }
    }

    pub fn storage(&self) -> Storage {
        if self.memory {
            Storage::Memory
        } else {
            Storage::Disk(self.data_dir.clone())
        }
    }

    /// The listeners to bind: `listeners` when set, else `listen` as the one PLAINTEXT
    /// listener (advertising `advertise`). Call after [`Config::validate`].
    pub fn listener_settings(&self) -> Result<Vec<ListenerSetting>, ConfigError> {
        let fail = |key: &str, reason: String| ConfigError {
            key: key.into(),
            reason,
        };
        if self.listeners.is_empty() {
            return Ok(vec![ListenerSetting {
                protocol: SecurityProtocol::Plaintext,
                bind: self.listen.clone(),
                advertise: self.advertise.clone(),
                flag: "--listen",
            }]);
        }
        let mut settings: Vec<ListenerSetting> = Vec::new();
        for spec in &self.listeners {
            let listener = ListenerAddress::parse(spec).map_err(|e| fail("listeners", e))?;
            if settings.iter().any(|s| s.protocol == listener.protocol) {
                return Err(fail(
                    "listeners",
                    format!(
                        "{} is listed twice (one listener per protocol)",
                        listener.protocol
                    ),
                ));
            }
            settings.push(ListenerSetting {
                protocol: listener.protocol,
                bind: listener.address,
                advertise: None,
                flag: "--listener",
            });
        }
        for spec in &self.advertised_listeners {
            let advertised =
                ListenerAddress::parse(spec).map_err(|e| fail("advertised_listeners", e))?;
            let Some(setting) = settings
                .iter_mut()
                .find(|s| s.protocol == advertised.protocol)
            else {
                return Err(fail(
                    "advertised_listeners",
                    format!("{spec:?}: no listener of protocol {}", advertised.protocol),
                ));
            };
            if setting.advertise.is_some() {
                return Err(fail(
                    "advertised_listeners",
                    format!("{} is listed twice", advertised.protocol),
                ));
            }
            setting.advertise = Some(advertised.address);
        }
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, reason: &str| {
            Err(ConfigError {
                key: key.into(),
                reason: reason.into(),
            })
        };
        if split_host_port(&self.listen).is_none() {
            return fail("listen", "must be HOST:PORT");
        }
        if self.faults.len() > crate::faults::FAULTS_MAX {
            return fail("faults", "at most 1000 rules");
        }
        for (i, rule) in self.faults.iter().enumerate() {
            if let Err(e) = rule.check(i as u64 + 1) {
                return fail(&format!("faults[{i}].{}", e.field), &e.reason);
            }
        }
        if self.request_log_size > 1_000_000 {
            return fail("request_log_size", "at most 1000000");
        }
        if self
            .http_address()
            .is_some_and(|a| split_host_port(a).is_none())
        {
            return fail("http", "must be HOST:PORT or \"none\"");
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return fail("log_format", "must be \"text\" or \"json\"");
        }
        if self.num_partitions < 1 {
            return fail("num_partitions", "must be at least 1");
        }
        if self.max_partitions == 0 {
            return fail("max_partitions", "must be at least 1");
        }
        if self.node_id < 0 {
            return fail("node_id", "must be 0 or more");
        }
        if self.max_request_bytes < 1024 || self.max_request_bytes > i32::MAX as usize {
            return fail("max_request_bytes", "must be between 1024 and 2147483647");
        }
        if self.message_max_bytes < 64 {
            return fail("message_max_bytes", "must be at least 64");
        }
        if self.fetch_max_bytes == 0 {
            return fail("fetch_max_bytes", "must be at least 1");
        }
        if self.fetch_memory_max_bytes == 0 {
            return fail("fetch_memory_max_bytes", "must be at least 1");
        }
        if self.connections_max_idle_ms == 0 {
            return fail("connections_max_idle_ms", "must be at least 1");
        }
        if self.request_read_timeout_ms == 0 {
            return fail("request_read_timeout_ms", "must be at least 1");
        }
        if self.response_write_timeout_ms == 0 {
            return fail("response_write_timeout_ms", "must be at least 1");
        }
        if self.max_connections == 0 {
            return fail("max_connections", "must be at least 1");
        }
        if self.group_max_size == 0 {
            return fail("group_max_size", "must be at least 1");
        }
        if self.groups_max == 0 {
            return fail("groups_max", "must be at least 1");
        }
        if self.group_initial_rebalance_delay_ms < 0 {
            return fail("group_initial_rebalance_delay_ms", "must be 0 or more");
        }
        if self.group_min_session_timeout_ms < 1
            || self.group_max_session_timeout_ms < self.group_min_session_timeout_ms
        {
            return fail(
                "group_min_session_timeout_ms",
                "must be at least 1 and at most group_max_session_timeout_ms",
            );
        }
        if self.transaction_max_timeout_ms < 1 {
            return fail("transaction_max_timeout_ms", "must be at least 1");
        }
        if self.transactional_id_expiration_ms < 1 {
            return fail("transactional_id_expiration_ms", "must be at least 1");
        }
        if !(0..=2).contains(&self.transaction_version) {
            return fail("transaction_version", "must be 0, 1 or 2");
        }
        if self.log_flush_interval_messages < 1 {
            return fail("log_flush_interval_messages", "must be at least 1");
        }
        if self.log_flush_interval_ms < 0 {
            return fail("log_flush_interval_ms", "must be 0 or more");
        }
        if self.log_retention_check_interval_ms < 1 {
            return fail("log_retention_check_interval_ms", "must be at least 1");
        }
        if self.producer_id_expiration_ms < 1 {
            return fail("producer_id_expiration_ms", "must be at least 1");
        }
        let mut declared = std::collections::HashSet::new();
        for topic in &self.topics {
            if let Err(e) = crate::topics::validate_name(&topic.name) {
                return fail("topics", &format!("{:?}: {e}", topic.name));
            }
            if topic.partitions.is_some_and(|p| p < 1) {
                return fail(
                    "topics",
                    &format!("{}: partitions must be at least 1", topic.name),
                );
            }
            for (key, value) in &topic.configs {
                if let Err(e) = crate::topics::check_topic_config(key, value) {
                    return fail("topics", &format!("{}: {}", topic.name, e.message()));
                }
            }
            if !declared.insert(topic.name.as_str()) {
                return fail("topics", &format!("{} is declared twice", topic.name));
            }
        }
        if crate::topics::cleanup_policy_default(&self.log_cleanup_policy).is_none() {
            return fail(
                "log_cleanup_policy",
                "must be delete, compact or compact,delete",
            );
        }
        if self.log_cleaner_threads < 1 || self.log_cleaner_threads > 64 {
            return fail("log_cleaner_threads", "must be between 1 and 64");
        }
        // Kafka's floor: each thread's map must hold a useful number of keys.
        if self.log_cleaner_dedupe_buffer_bytes / self.log_cleaner_threads < 1024 * 1024 {
            return fail(
                "log_cleaner_dedupe_buffer_bytes",
                "must be at least 1 MiB per cleaner thread",
            );
        }
        if self.log_cleaner_io_max_bytes_per_second < 1 {
            return fail("log_cleaner_io_max_bytes_per_second", "must be at least 1");
        }
        if self.log_cleaner_backoff_ms < 1 {
            return fail("log_cleaner_backoff_ms", "must be at least 1");
        }
        if self.offsets_retention_minutes < 1 {
            return fail("offsets_retention_minutes", "must be at least 1");
        }
        if self.acls_max == 0 {
            return fail("acls_max", "must be at least 1");
        }
        if self.acls_max_per_request == 0 {
            return fail("acls_max_per_request", "must be at least 1");
        }
        if let Some(bad) = self.super_users.iter().find(|p| {
            !p.split_once(':')
                .is_some_and(|(kind, name)| !kind.is_empty() && !name.is_empty())
        }) {
            return fail(
                "super_users",
                &format!("`{bad}` is not a principal TYPE:NAME, e.g. User:admin"),
            );
        }
        if let Some(advertise) = &self.advertise {
            if split_host_port(advertise).is_none() {
                return fail("advertise", "must be HOST:PORT");
            }
        }
        if !self.listeners.is_empty() && self.advertise.is_some() {
            // It would be ignored without a word otherwise.
            return fail(
                "advertise",
                "applies to `listen` only; with `listeners`, use `advertised_listeners`",
            );
        }
        if self.listeners.is_empty() && !self.advertised_listeners.is_empty() {
            return fail("advertised_listeners", "needs `listeners`");
        }
        let listeners = self.listener_settings()?;
        let tls = listeners.iter().any(|l| l.protocol.uses_tls());
        if tls && (self.tls_cert.is_none() || self.tls_key.is_none()) {
            return fail(
                "tls_cert",
                "an SSL or SASL_SSL listener needs tls_cert and tls_key",
            );
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return fail("tls_key", "tls_cert and tls_key go together");
        }
        if self.tls_client_ca.is_some() && self.tls_cert.is_none() {
            return fail("tls_client_ca", "needs tls_cert and tls_key");
        }
        for entry in self.sasl_users.entries() {
            if !entry.is_some_and(|(name, password)| !name.is_empty() && !password.is_empty()) {
                return fail("sasl_users", "each user must be NAME:PASSWORD");
            }
        }
        for mechanism in &self.sasl_enabled_mechanisms {
            if !SASL_MECHANISMS.contains(&mechanism.as_str()) {
                return Err(ConfigError {
                    key: "sasl_enabled_mechanisms".into(),
                    reason: format!(
                        "unknown mechanism {mechanism:?}; known: {}",
                        SASL_MECHANISMS.join(", ")
                    ),
                });
            }
        }
        if self.sasl_enabled_mechanisms.is_empty()
            && listeners.iter().any(|l| l.protocol.uses_sasl())
        {
            return fail(
                "sasl_enabled_mechanisms",
                "a SASL listener needs at least one mechanism",
            );
        }
        // Kafka has no ceiling; a day keeps the expiry arithmetic far from overflow.
        if self.connections_max_reauth_ms > 86_400_000 * 365 {
            return fail("connections_max_reauth_ms", "must be at most a year");
        }
        Ok(())
    }
}

/// The address to bind among those a listener's host name resolved to: the first IPv4 one,
/// else the first. `localhost` often resolves to `::1` first, and clients given
/// `127.0.0.1` (the default everywhere in this project) or `localhost` mostly try IPv4.
pub fn pick_address(resolved: impl IntoIterator<Item = SocketAddr>) -> Option<SocketAddr> {
    let mut first = None;
    for addr in resolved {
        if addr.is_ipv4() {
            return Some(addr);
        }
        first = first.or(Some(addr));
    }
    first
}

/// Splits `host:port` (IPv6 hosts in brackets) into its parts.
pub fn split_host_port(address: &str) -> Option<(String, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some((host.to_string(), port))
}

#[cfg(test)]
mod tests;
