//! The `sluice` command: parse flags, build the config, run until SIGINT or SIGTERM.

// Unsafe code here: raising RLIMIT_NOFILE with getrlimit/setrlimit; each block says why it is sound.
#![allow(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice::config::UnknownVariable;
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
    /// Check every request against the ACLs (Kafka's StandardAuthorizer); off: all allowed.
    #[arg(long)]
    authorizer: bool,
    /// A principal allowed everything whatever the ACLs say, e.g. User:admin (repeatable).
    #[arg(long = "super-user", value_name = "PRINCIPAL")]
    super_users: Vec<String>,
    /// A TOML config file; SLUICE_<KEY> environment variables override it, flags override both.
    #[arg(long, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
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
    let Command::Serve(args) = Cli::parse().command;
    let config = args.into_config();
    let json = config.as_ref().is_ok_and(|(c, _)| c.log_format == "json");
    init_logging(json);
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
    raise_open_file_limit();
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
    runtime.block_on(serve(config))
}

/// Raises the soft limit on open files to the hard limit: each partition keeps its active
/// segment open (and up to two sealed ones), and the usual soft limit of 1024 is soon reached.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    let raised = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && {
            let before = limit.rlim_cur;
            limit.rlim_cur = limit.rlim_max;
            before == limit.rlim_max || libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
        }
    };
    if raised {
        tracing::debug!(open_files = limit.rlim_cur, "open file limit");
    } else {
        tracing::warn!("cannot raise the open file limit; many partitions may exhaust it");
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

async fn serve(config: Config) -> ExitCode {
    let node = match Node::start(config).await {
        Ok(node) => node,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    wait_for_signal().await;
    tracing::info!("shutting down");
    node.shutdown().await;
    ExitCode::SUCCESS
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
