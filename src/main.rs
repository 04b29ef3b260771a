//! The `sluice` command: `serve` parses flags, builds the config and runs until SIGINT or
//! SIGTERM; every other command is the command line of `sluice::cli`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice::config::UnknownVariable;
use sluice::open_file_limit;
use sluice::{Config, Node};

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "A Kafka wire-protocol compatible broker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the broker.
    Serve(ServeArgs),
    #[command(flatten)]
    Tool(sluice::cli::Command),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// HOST:PORT to listen on for Kafka clients; HOST may be a name [default: 127.0.0.1:9092].
    #[arg(long)]
    listen: Option<String>,
    /// HOST:PORT given to clients in Metadata [default: the listen address].
    #[arg(long)]
    advertise: Option<String>,
    /// Directory for the on-disk logs [default: ./sluice-data].
    #[arg(long, conflicts_with = "memory")]
    data_dir: Option<PathBuf>,
    /// Keep all data in memory; nothing is written to disk.
    #[arg(long)]
    memory: bool,
    /// HTTP admin listener HOST:PORT, or "none" [default: 127.0.0.1:9644].
    #[arg(long)]
    http: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long)]
    log_format: Option<String>,
    /// A listener PROTOCOL://HOST:PORT (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), one per
    /// protocol; repeatable. Without any, --listen is the one PLAINTEXT listener.
    #[arg(long = "listener", value_name = "PROTOCOL://HOST:PORT")]
    listeners: Vec<String>,
    /// The address given to the clients of the listener of that protocol; repeatable.
    #[arg(long = "advertised-listener", value_name = "PROTOCOL://HOST:PORT")]
    advertised_listeners: Vec<String>,
    /// PEM certificate chain of the SSL and SASL_SSL listeners.
    #[arg(long, value_name = "FILE.pem")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE.pem")]
    tls_key: Option<PathBuf>,
    /// PEM CA certificates: SSL clients must present a certificate they signed (mTLS).
    #[arg(long, value_name = "FILE.pem")]
    tls_client_ca: Option<PathBuf>,
    /// A SASL user NAME:PASSWORD (PLAIN and SCRAM-SHA-256/512); repeatable.
    #[arg(long = "sasl-user", value_name = "NAME:PASSWORD")]
    sasl_users: Vec<String>,
    /// A SASL mechanism to offer (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER);
    /// repeatable [default: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512].
    #[arg(long = "sasl-mechanism", value_name = "MECHANISM")]
    sasl_mechanisms: Vec<String>,
    /// Check every request against the ACLs (Kafka's StandardAuthorizer); off: all allowed.
    #[arg(long)]
    authorizer: bool,
    /// A principal allowed everything whatever the ACLs say, e.g. User:admin (repeatable).
    #[arg(long = "super-user", value_name = "PRINCIPAL")]
    super_users: Vec<String>,
    /// A TOML config file; SLUICE_<KEY> environment variables override it, flags override both.
    #[arg(long, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
    /// A topic to create at start unless it exists: NAME[:PARTITIONS[:key=value,...]]
    /// (repeatable; added to the config file's [[topics]]).
    #[arg(long = "topic", value_name = "NAME[:PARTITIONS[:key=value,...]]")]
    topics: Vec<String>,
    /// Once ready, write the ready line (JSON: the Kafka and HTTP addresses) to this file too,
    /// atomically; it is removed at start and at a clean stop.
    #[arg(long, env = "SLUICE_READY_FILE")]
    ready_file: Option<PathBuf>,
}

impl ServeArgs {
    /// The config, and the `SLUICE_*` variables it ignored (to be logged once logging is up).
    fn into_config(self) -> Result<(Config, Vec<UnknownVariable>), sluice::ConfigError> {
        let (mut config, unknown) =
            Config::load_with_warnings(self.config.as_deref(), std::env::vars())?;
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if self.advertise.is_some() {
            config.advertise = self.advertise;
        }
        if let Some(dir) = self.data_dir {
            config.data_dir = dir;
            config.memory = false;
        }
        if self.memory {
            config.memory = true;
        }
        if let Some(http) = self.http {
            config.http = http;
        }
        if let Some(format) = self.log_format {
            config.log_format = format;
        }
        for topic in self.topics {
            let declared = topic.parse().map_err(|reason| sluice::ConfigError {
                key: "--topic".into(),
                reason,
            })?;
            config.topics.push(declared);
        }
        if !self.listeners.is_empty() {
            config.listeners = self.listeners;
        }
        if !self.advertised_listeners.is_empty() {
            config.advertised_listeners = self.advertised_listeners;
        }
        if self.tls_cert.is_some() {
            config.tls_cert = self.tls_cert;
        }
        if self.tls_key.is_some() {
            config.tls_key = self.tls_key;
        }
        if self.tls_client_ca.is_some() {
            config.tls_client_ca = self.tls_client_ca;
        }
        if !self.sasl_users.is_empty() {
            config.sasl_users = self.sasl_users.into();
        }
        if !self.sasl_mechanisms.is_empty() {
            config.sasl_enabled_mechanisms = self.sasl_mechanisms;
        }
        if self.authorizer {
            config.authorizer = true;
        }
        if !self.super_users.is_empty() {
            config.super_users = self.super_users;
        }
        config.validate()?;
        Ok((config, unknown))
    }
}

#[global_allocator]
static ALLOCATOR: sluice::alloc_guard::GuardedAlloc = sluice::alloc_guard::GuardedAlloc;

/// Exit code for a configuration the broker cannot start with.
const EXIT_BAD_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let args = match Cli::parse().command {
        Command::Serve(args) => args,
        Command::Tool(command) => {
            init_cli_logging();
            return ExitCode::from(sluice::cli::run(command));
        }
    };
    let ready_file = args.ready_file.clone();
    let config = args.into_config();
    let json = config.as_ref().is_ok_and(|(c, _)| c.log_format == "json");
    init_logging(json);
    // A file left by an earlier run must not say "ready" for this one, even when this one
    // does not get as far as starting.
    if let Some(path) = &ready_file {
        if let Err(e) = remove_if_present(path) {
            tracing::error!(path = %path.display(), error = %e, "cannot remove the old ready file");
            return ExitCode::FAILURE;
        }
    }
    let config = match config {
        Ok((config, unknown)) => {
            for variable in unknown {
                tracing::warn!("{variable}");
            }
            config
        }
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    if let Some(limit) = raise_open_file_limit() {
        warn_if_too_few_files(limit, &config);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config, ready_file))
}

/// Raises the soft limit on open files to the hard limit; returns the limit now in force.
fn raise_open_file_limit() -> Option<u64> {
    let raised = open_file_limit::raise();
    match raised {
        Some(limit) => tracing::debug!(open_files = limit, "open file limit"),
        None => tracing::warn!(
            "cannot raise the open file limit; segment files are closed and reopened sooner"
        ),
    }
    raised
}

/// Says at start, once, when the open-file limit cannot keep every partition's segment file
/// open: past the cap (`max_open_segment_files`, by default what the limit leaves after
/// `max_connections`) the least recently used are closed and reopened on use. Nothing fails,
/// but a broker whose partitions are all busy reopens files often; the fix is the limit
/// (`ulimit -n`). An info line, not a warning: the defaults exceed many machines' hard limit,
/// and most brokers never come near either count.
fn warn_if_too_few_files(limit: u64, config: &Config) {
    let cap = config.segment_file_cap(Some(limit));
    if cap < config.max_partitions {
        let wanted = config.max_partitions as u64
            + config.max_connections as u64
            + open_file_limit::OTHER_FILES;
        tracing::info!(
            open_file_limit = limit,
            open_segment_files = cap,
            max_partitions = config.max_partitions,
            max_connections = config.max_connections,
            "segment files of more than {cap} partitions are closed while unused and reopened \
             on use; to keep them all open, raise the open-file limit (ulimit -n {wanted})"
        );
    }
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

/// The command line logs warnings and errors to stderr (RUST_LOG for more): stdout is the
/// command's output.
fn init_cli_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

async fn serve(config: Config, ready_file: Option<PathBuf>) -> ExitCode {
    let node = match Node::start(config).await {
        Ok(node) => node,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let ready = ReadyLine::of(&node).to_json();
    announce_ready(&ready);
    if let Some(path) = &ready_file {
        if let Err(e) = write_atomically(path, &ready) {
            tracing::error!(path = %path.display(), error = %e, "cannot write the ready file");
            node.shutdown().await;
            return ExitCode::FAILURE;
        }
    }
    wait_for_signal().await;
    tracing::info!("shutting down");
    if let Some(path) = &ready_file {
        if let Err(e) = remove_if_present(path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove the ready file");
        }
    }
    node.shutdown().await;
    ExitCode::SUCCESS
}

/// What a script waiting for the broker needs, as one line of JSON on stdout: the addresses
/// it actually listens on (`:0` in the config picks free ports), for `bootstrap.servers` and
/// the admin API.
#[derive(serde::Serialize)]
struct ReadyLine {
    /// Marks the line among the log lines (which are JSON too with `--log-format json`).
    sluice: &'static str,
    /// The first listener's address (the only one without `--listener`).
    kafka: String,
    /// Every listener's bound address, by security protocol.
    listeners: std::collections::BTreeMap<&'static str, String>,
    advertised: String,
    /// `None` (null) when the admin listener is off.
    http: Option<String>,
    cluster_id: String,
    pid: u32,
    version: &'static str,
}

impl ReadyLine {
    fn of(node: &Node) -> ReadyLine {
        let broker = node.broker();
        ReadyLine {
            sluice: "ready",
            kafka: node.bootstrap_servers(),
            listeners: node
                .listener_addrs()
                .iter()
                .map(|(protocol, addr)| (protocol.name(), addr.to_string()))
                .collect(),
            advertised: format!("{}:{}", broker.advertised_host(), broker.advertised_port()),
            http: node.http_addr().map(|a| a.to_string()),
            cluster_id: broker.cluster_id().to_string(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    fn to_json(&self) -> String {
        // Serialising plain strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The ready line on stdout, flushed: a pipe to a script is block-buffered otherwise.
fn announce_ready(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        tracing::debug!("stdout is closed; the ready line is not printed");
    }
}

/// Writes `text` and a newline to `path` so that a reader sees all of it or no file: a
/// temporary file beside it, renamed over it.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, format!("{text}\n"))?;
    std::fs::rename(&tmp, path)
}

fn remove_if_present(path: &std::path::Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

async fn wait_for_signal() {
    let mut terminate = match tokio::signal::unix::signal(
        tokio::signal::unix::SignalKind::terminate(),
    ) {
        Ok(signal) => signal,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the broker");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
