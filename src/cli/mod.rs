//! The `sluice` command line beyond `serve`: one module per command group, each speaking
//! the Kafka protocol through [`crate::client`] (so it works against any Kafka-compatible
//! broker) or HTTP to the admin listener ([`http`]).
//!
//! Output is a table by default and JSON with `--json`; a failure prints one line to stderr
//! and exits non-zero.

pub mod cluster;
pub mod consume;
pub mod dump;
pub mod format;
pub mod group;
pub mod http;
pub mod produce;
pub mod table;
pub mod topic;
pub mod wait;

use std::time::Duration;

use crate::client::{Client, ClientConfig, ClientError};

/// Where the Kafka listeners are, and how to print.
#[derive(clap::Args, Clone, Debug)]
pub struct Common {
    /// Bootstrap brokers, HOST:PORT[,HOST:PORT…].
    #[arg(
        short = 'b',
        long,
        env = "SLUICE_BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    pub brokers: String,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

impl Common {
    pub async fn connect(&self) -> Result<Client, CliError> {
        Client::connect(ClientConfig::new(&self.brokers))
            .await
            .map_err(CliError::connection)
    }
}

/// The commands of the command line other than `serve`.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create, list, describe, alter and delete topics.
    #[command(subcommand)]
    Topic(topic::TopicCommand),
    /// Produce lines (or JSON lines) from stdin or a file.
    Produce(produce::ProduceArgs),
    /// Consume records, alone or as a member of a consumer group.
    Consume(consume::ConsumeArgs),
    /// List, describe, seek and delete consumer groups.
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// The cluster's identity, brokers and API versions.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Exit 0 when the broker's admin listener says it is ready, 1 otherwise.
    Health(http::HealthArgs),
    /// Wait until a topic holds N records, or a group has caught up.
    Wait(wait::WaitArgs),
    /// Write every record of a topic as JSON lines.
    Dump(dump::DumpArgs),
    /// Produce the records of a dump back, partitions, timestamps and all.
    Seed(dump::SeedArgs),
    /// Add, list and clear injected faults (admin HTTP API).
    #[command(subcommand)]
    Fault(http::FaultCommand),
    /// Reset the broker's data (admin HTTP API).
    Reset(http::ResetArgs),
}

/// Exit codes.
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// A failed command: what to print, and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub exit_code: u8,
}

impl CliError {
    pub fn failure(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            exit_code: EXIT_FAILURE,
        }
    }

    pub fn usage(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            exit_code: EXIT_USAGE,
        }
    }

    /// A failure to reach the cluster at all.
    pub fn connection(error: ClientError) -> CliError {
        CliError {
            message: error.to_string(),
            exit_code: if error.is_connection() {
                EXIT_USAGE
            } else {
                EXIT_FAILURE
            },
        }
    }
}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> CliError {
        CliError::failure(error.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> CliError {
        CliError::failure(error.to_string())
    }
}

/// Runs one command on a single-threaded runtime and returns its exit code.
pub fn run(command: Command) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sluice: cannot start the runtime: {e}");
            return EXIT_FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Topic(command) => topic::run(command).await,
            Command::Produce(args) => produce::run(args).await,
            Command::Consume(args) => consume::run(args).await,
            Command::Group(command) => group::run(command).await,
            Command::Cluster(command) => cluster::run(command).await,
            Command::Health(args) => http::health(args).await,
            Command::Wait(args) => wait::run(args).await,
            Command::Dump(args) => dump::dump(args).await,
            Command::Seed(args) => dump::seed(args).await,
            Command::Fault(command) => http::fault(command).await,
            Command::Reset(args) => http::reset(args).await,
        }
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("sluice: {}", e.message);
            e.exit_code
        }
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    crate::clock::Clock::System.now_ms()
}

/// A duration as `30s`, `500ms`, `2m` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (like 30s, 500ms, 2m)"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        _ => Err(format!("`{text}`: the unit must be ms, s or m")),
    }
}

/// `key=value`, split at the first `=`.
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{text}` is not key=value"))
}

/// Prints `value` as one line of JSON on stdout.
pub fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3h").is_err());
    }
}
