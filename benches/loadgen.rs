//! The end-to-end load generator: real clients (rdkafka, and a raw kafka-protocol client for
//! single-message produce) against a `sluice` broker process, measuring throughput, latency,
//! and the broker's own CPU time and memory.
//!
//! ```sh
//! cargo build --release -p sluice
//! cargo bench -p sluice-interop-tests --bench loadgen -- produce --broker-bin target/release/sluice --memory \
//!     --messages 1000000 --size 100 --acks 1 --linger-ms 5
//! cargo bench -p sluice-interop-tests --bench loadgen -- consume --broker-bin target/release/sluice \
//!     --data-dir target/loadgen-data --messages 200000 --size 1000 --group
//! cargo bench -p sluice-interop-tests --bench loadgen -- e2e --broker-bin target/release/sluice --memory \
//!     --rate 10000 --duration-s 20 --linger-ms 0
//! cargo bench -p sluice-interop-tests --bench loadgen -- single-produce --broker-bin target/release/sluice --memory
//! cargo bench -p sluice-interop-tests --bench loadgen -- startup --broker-bin target/release/sluice --memory --runs 10
//! cargo bench -p sluice-interop-tests --bench loadgen -- produce --bootstrap 127.0.0.1:9092   # a running broker
//! ```
//!
//! With `--broker-bin` the generator starts the broker itself (`--memory`, or `--data-dir DIR`
//! for a fresh directory under DIR, removed afterwards) on a free 127.0.0.1 port and kills it
//! at the end; it then reads the broker's CPU seconds (utime + stime from `/proc/<pid>/stat`)
//! around the measured phase only, and its RSS (`VmRSS`, `VmHWM` from `/proc/<pid>/status`).
//! With `--bootstrap` it drives a running broker; `--broker-pid` adds the CPU figures.
//!
//! Every run prints a human line and one `RESULT mode=... key=value ...` line for scripts
//! (`benches/run.sh`). MB and GB are 10^6 and 10^9 bytes of message payload (values only).
//! Every loop is bounded by a message count and by `--timeout-s`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use clap::{Args, Parser, Subcommand};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

type Result<T, E = String> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "Drive a Sluice broker with real Kafka clients and measure it"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// N messages of S bytes through an rdkafka producer; msgs/s, MB/s, broker CPU per GB.
    Produce(ProduceArgs),
    /// Read N messages from the beginning (prefilled first if the topic is short).
    Consume(ConsumeArgs),
    /// A fixed rate for a fixed time; end-to-end latency percentiles.
    E2e(E2eArgs),
    /// One connection, single-record Produce requests, `--in-flight` of them outstanding (raw protocol client).
    SingleProduce(SingleProduceArgs),
    /// Start the broker binary repeatedly: time to the first Metadata answer, idle RSS.
    Startup(StartupArgs),
}

#[derive(Args, Clone)]
struct Target {
    /// Start this broker binary as a child process (then CPU and RSS are measured).
    #[arg(long, conflicts_with = "bootstrap")]
    broker_bin: Option<PathBuf>,
    /// Keep the started broker's data in memory.
    #[arg(long, requires = "broker_bin", conflicts_with = "data_dir")]
    memory: bool,
    /// Give the started broker a fresh data directory under DIR (removed at the end).
    #[arg(long, requires = "broker_bin")]
    data_dir: Option<PathBuf>,
    /// Drive an already running broker at HOST:PORT instead.
    #[arg(long)]
    bootstrap: Option<String>,
    /// With --bootstrap: the running broker's pid, to read its CPU time and RSS.
    #[arg(long, requires = "bootstrap")]
    broker_pid: Option<i32>,
    /// Topic to use [default: a fresh, unique name].
    #[arg(long)]
    topic: Option<String>,
    /// Partitions of the topic created for the run.
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// librdkafka `debug` contexts for every client (e.g. "fetch,protocol"), logged to stderr.
    #[arg(long)]
    rdkafka_debug: Option<String>,
    /// A librdkafka property for every client, applied last (repeatable), as kcat's -X.
    #[arg(short = 'X', long = "client-config", value_name = "KEY=VALUE")]
    client_config: Vec<String>,
    /// Upper bound on the whole run, in seconds.
    #[arg(long, default_value_t = 180)]
    timeout_s: u64,
    /// Pin this process and the broker it starts to these CPUs (e.g. "0" or "0,1"). On a
    /// VM, ping-pong workloads (single-produce, e2e) pay for every cross-vCPU wakeup (an IPI,
    /// a VM exit); on one CPU they measure the broker rather than the hypervisor.
    #[arg(long, value_name = "LIST")]
    pin_cpus: Option<String>,
}

#[derive(Args, Clone)]
struct ProducerSettings {
    /// Payload bytes per message.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// 0, 1 or all.
    #[arg(long, default_value = "1")]
    acks: String,
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
    /// librdkafka batch.size, in bytes.
    #[arg(long, default_value_t = 1_000_000)]
    batch_size: u64,
    /// librdkafka batch.num.messages.
    #[arg(long, default_value_t = 10_000)]
    batch_num_messages: u64,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    compression: String,
    /// enable.idempotence=true.
    #[arg(long)]
    idempotence: bool,
    /// Produce in transactions of this many records each (a transactional producer:
    /// idempotent, acks=all); 0 for none.
    #[arg(long, default_value_t = 0)]
    transaction_records: u64,
}

#[derive(Args)]
struct ProduceArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    producer: ProducerSettings,
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
    /// rdkafka, or sluice: Sluice's own client (`sluice::client`), acks=all, one request of
    /// up to --batch-num-messages records per partition at a time (no pipelining, no
    /// compression, no transactions; the other producer settings are rdkafka's).
    #[arg(long, default_value = "rdkafka", value_parser = ["rdkafka", "sluice"])]
    client: String,
}

#[derive(Args)]
struct ConsumeArgs {
    #[command(flatten)]
    target: Target,
    /// How the topic is prefilled when it holds fewer than --messages.
    #[command(flatten)]
    producer: ProducerSettings,
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
    /// Consume as a member of a fresh consumer group (subscribe) instead of `assign`.
    #[arg(long)]
    group: bool,
    /// isolation.level=read_committed (the default is read_uncommitted).
    #[arg(long)]
    read_committed: bool,
}

#[derive(Args)]
struct E2eArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    producer: ProducerSettings,
    /// Messages per second.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    #[arg(long, default_value_t = 20)]
    duration_s: u64,
    /// Samples sent in the first seconds are left out of the percentiles.
    #[arg(long, default_value_t = 1)]
    warmup_s: u64,
}

#[derive(Args)]
struct SingleProduceArgs {
    #[command(flatten)]
    target: Target,
    /// Value bytes of the one record in each request.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// 1 or -1 (all); 0 would get no response to wait for.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    acks: i16,
    #[arg(long, default_value_t = 10)]
    duration_s: u64,
    /// Stop after this many requests even if time remains.
    #[arg(long, default_value_t = 5_000_000)]
    max_requests: u64,
    /// Requests sent before the first response is awaited, as a producer's
    /// `max.in.flight.requests.per.connection` (Kafka's default is 5); 1 is ping-pong.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    in_flight: u32,
}

#[derive(Args)]
struct StartupArgs {
    #[arg(long)]
    broker_bin: PathBuf,
    #[arg(long, conflicts_with = "data_dir")]
    memory: bool,
    /// Each start gets a fresh data directory under DIR.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// How long the broker idles before its RSS is read, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    idle_ms: u64,
}

fn main() -> ExitCode {
    // `cargo bench` appends `--bench` to a harness-less target's arguments.
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    if args.len() == 1 {
        println!(
            "loadgen: nothing to do without a mode; try `cargo bench -p sluice-interop-tests --bench loadgen -- --help`"
        );
        return ExitCode::SUCCESS;
    }
    let cli = Cli::parse_from(args);
    let outcome = match cli.mode {
        Mode::Produce(args) => produce_mode(&args),
        Mode::Consume(args) => consume_mode(&args),
        Mode::E2e(args) => e2e_mode(&args),
        Mode::SingleProduce(args) => single_produce_mode(&args),
        Mode::Startup(args) => startup_mode(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------
// The broker under test
// ---------------------------------------------------------------------------------------

enum Storage {
    Memory,
    /// A fresh directory under this one.
    Disk(PathBuf),
}

impl Storage {
    fn from_flags(memory: bool, data_dir: &Option<PathBuf>) -> Result<Storage> {
        match (memory, data_dir) {
            (true, None) => Ok(Storage::Memory),
            (false, Some(dir)) => Ok(Storage::Disk(dir.clone())),
            _ => Err("with --broker-bin, give --memory or --data-dir DIR".into()),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Storage::Memory => "memory",
            Storage::Disk(_) => "disk",
        }
    }
}

/// A `sluice serve` child on a loopback port; SIGKILLed and reaped on drop.
struct BrokerProcess {
    child: Child,
    addr: SocketAddr,
    /// Holds the data directory and the broker's log; removed on drop.
    _scratch: tempfile::TempDir,
    log: PathBuf,
}

impl BrokerProcess {
    /// Spawns the broker without waiting for it.
    fn spawn(bin: &Path, storage: &Storage) -> Result<BrokerProcess> {
        let parent = match storage {
            Storage::Memory => std::env::temp_dir(),
            Storage::Disk(dir) => dir.clone(),
        };
        std::fs::create_dir_all(&parent)
            .map_err(|e| format!("create {}: {e}", parent.display()))?;
        let scratch = tempfile::Builder::new()
            .prefix("sluice-loadgen-")
            .tempdir_in(&parent)
            .map_err(|e| format!("a scratch directory under {}: {e}", parent.display()))?;
        let log = scratch.path().join("broker.log");
        let out = File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .args(["--listen", &addr.to_string()])
            .args(["--http", "none"]);
        match storage {
            Storage::Memory => {
                command.arg("--memory");
            }
            Storage::Disk(_) => {
                command.arg("--data-dir").arg(scratch.path().join("data"));
            }
        }
        // Keep our own environment's SLUICE_* settings out of the broker.
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("SLUICE_")) {
                command.env_remove(&name);
            }
        }
        command
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = command
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        Ok(BrokerProcess {
            child,
            addr,
            _scratch: scratch,
            log,
        })
    }

    /// Spawns the broker and waits for its first Metadata answer; retries on a port race.
    fn start(bin: &Path, storage: &Storage) -> Result<BrokerProcess> {
        let mut last_error = String::new();
        for _ in 0..3 {
            let mut broker = BrokerProcess::spawn(bin, storage)?;
            match broker.wait_ready(Duration::from_secs(30)) {
                Ok(_) => return Ok(broker),
                Err(e) => last_error = format!("{e}\n--- broker log ---\n{}", broker.log_text()),
            }
        }
        Err(format!("the broker did not start: {last_error}"))
    }

    /// Polls a raw Metadata request until the broker answers it; the time since `spawn`
    /// is measured by the caller.
    fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the broker exited with {status}"));
            }
            if metadata_answered(self.addr).is_ok() {
                return Ok(());
            }
            if started.elapsed() > limit {
                return Err(format!("no Metadata answer within {limit:?}"));
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(i32::MAX)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "the broker exited with {status}\n--- broker log ---\n{}",
                self.log_text()
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("find a free port: {e}"))
}

/// CPU time (user + system, all threads, dead ones included) a process has used so far.
#[derive(Clone, Copy)]
struct Cpu {
    /// utime + stime from `/proc/<pid>/stat`: clock ticks (10 ms), so coarse for short runs.
    ticks_s: f64,
    /// The process CPU-time clock (`clock_getcpuclockid`): the same quantity in nanoseconds.
    clock_s: Option<f64>,
}

impl Cpu {
    fn read(pid: i32) -> Option<Cpu> {
        Some(Cpu {
            ticks_s: stat_cpu_seconds(pid)?,
            clock_s: clock_cpu_seconds(pid),
        })
    }

    /// The CPU used between `before` and `self`.
    fn since(self, before: Cpu) -> Cpu {
        Cpu {
            ticks_s: self.ticks_s - before.ticks_s,
            clock_s: self.clock_s.zip(before.clock_s).map(|(a, b)| a - b),
        }
    }

    /// The most precise figure available.
    fn seconds(&self) -> f64 {
        self.clock_s.unwrap_or(self.ticks_s)
    }
}

/// `broker_cpu_s=` (precise) and `broker_cpu_ticks_s=` (from /proc/<pid>/stat), or NA.
fn cpu_fields(cpu: Option<Cpu>) -> String {
    format!(
        "broker_cpu_s={} broker_cpu_ticks_s={}",
        opt(cpu.map(|c| c.seconds()), 4),
        opt(cpu.map(|c| c.ticks_s), 2)
    )
}

fn stat_cpu_seconds(pid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields resume after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of proc(5); `rest` starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| (utime + stime) as f64 / ticks as f64)
}

fn clock_cpu_seconds(pid: i32) -> Option<f64> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: both calls only write through the valid pointers given to them.
    unsafe {
        if libc::clock_getcpuclockid(pid, &mut clock) != 0 {
            return None;
        }
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        if libc::clock_gettime(clock, &mut now) != 0 {
            return None;
        }
        Some(now.tv_sec as f64 + now.tv_nsec as f64 / 1e9)
    }
}

/// (VmRSS, VmHWM) of the process, in MiB.
fn rss_mib(pid: i32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The broker a run talks to: one we started, or one given by address.
struct Session {
    bootstrap: String,
    addr: SocketAddr,
    pid: Option<i32>,
    storage: &'static str,
    process: Option<BrokerProcess>,
    deadline: Instant,
    rdkafka_debug: Option<String>,
    client_config: Vec<(String, String)>,
    pinned: Option<String>,
}

impl Session {
    fn open(target: &Target) -> Result<Session> {
        let deadline = Instant::now() + Duration::from_secs(target.timeout_s);
        if let Some(cpus) = &target.pin_cpus {
            // Before any client thread or the broker exists: both inherit the mask.
            pin_to_cpus(cpus)?;
        }
        let client_config = target
            .client_config
            .iter()
            .map(|pair| {
                pair.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| format!("-X {pair}: expected KEY=VALUE"))
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(bin) = &target.broker_bin {
            let storage = Storage::from_flags(target.memory, &target.data_dir)?;
            let process = BrokerProcess::start(bin, &storage)?;
            Ok(Session {
                bootstrap: process.addr.to_string(),
                addr: process.addr,
                pid: Some(process.pid()),
                storage: storage.name(),
                process: Some(process),
                deadline,
                rdkafka_debug: target.rdkafka_debug.clone(),
                client_config: client_config.clone(),
                pinned: target.pin_cpus.clone(),
            })
        } else if let Some(bootstrap) = &target.bootstrap {
            let addr = std::net::ToSocketAddrs::to_socket_addrs(bootstrap.as_str())
                .map_err(|e| format!("resolve {bootstrap}: {e}"))?
                .next()
                .ok_or_else(|| format!("{bootstrap} resolves to nothing"))?;
            Ok(Session {
                bootstrap: bootstrap.clone(),
                addr,
                pid: target.broker_pid,
                storage: "external",
                process: None,
                deadline,
                rdkafka_debug: target.rdkafka_debug.clone(),
                client_config: client_config.clone(),
                pinned: target.pin_cpus.clone(),
            })
        } else {
            Err("give --broker-bin BIN (--memory | --data-dir DIR) or --bootstrap HOST:PORT".into())
        }
    }

    /// What every rdkafka client of this run starts from.
    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("broker.address.family", "v4");
        if let Some(debug) = &self.rdkafka_debug {
            config
                .set("debug", debug)
                .set_log_level(RDKafkaLogLevel::Debug);
        }
        config
    }

    /// Applies the `-X` properties, which win over everything the harness sets.
    fn overrides<'c>(&self, config: &'c mut ClientConfig) -> &'c mut ClientConfig {
        for (key, value) in &self.client_config {
            config.set(key, value);
        }
        config
    }

    fn cpu(&self) -> Option<Cpu> {
        self.pid.and_then(Cpu::read)
    }

    fn check(&mut self) -> Result<()> {
        if Instant::now() > self.deadline {
            return Err("the run exceeded --timeout-s".into());
        }
        match &mut self.process {
            Some(process) => process.check_alive(),
            None => Ok(()),
        }
    }

    /// `rss_mib=... peak_rss_mib=... pinned_cpus=...` to end a RESULT line.
    fn rss_fields(&self) -> String {
        let pinned = self.pinned.as_deref().unwrap_or("none");
        match self.pid.and_then(rss_mib) {
            Some((rss, peak)) => {
                format!("rss_mib={rss:.1} peak_rss_mib={peak:.1} pinned_cpus={pinned}")
            }
            None => format!("rss_mib=NA peak_rss_mib=NA pinned_cpus={pinned}"),
        }
    }
}

/// Restricts the calling thread — and so every thread and process it starts later — to the
/// CPUs in `list` ("0", "0,1", "0-1").
fn pin_to_cpus(list: &str) -> Result<()> {
    let bad = || format!("--pin-cpus {list}: expected CPU numbers like 0 or 0,1 or 0-1");
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for part in list.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            ),
            None => {
                let cpu: usize = part.trim().parse().map_err(|_| bad())?;
                (cpu, cpu)
            }
        };
        if first > last || last >= libc::CPU_SETSIZE as usize {
            return Err(bad());
        }
        for cpu in first..=last {
            // SAFETY: cpu is below CPU_SETSIZE, checked above.
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
    }
    // SAFETY: the set is initialised and its size is passed along.
    let done = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if done != 0 {
        return Err(format!("--pin-cpus {list}: {}", io::Error::last_os_error()));
    }
    Ok(())
}

/// Formats an optional figure, `NA` when absent.
fn opt(value: Option<f64>, precision: usize) -> String {
    value.map_or_else(|| "NA".into(), |v| format!("{v:.precision$}"))
}

fn unique_topic(mode: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("loadgen-{mode}-{}-{nanos}", std::process::id())
}

// ---------------------------------------------------------------------------------------
// Raw protocol client (kafka-protocol's encoders over one TcpStream)
// ---------------------------------------------------------------------------------------

const CLIENT_ID: &str = "sluice-loadgen";
/// Largest response frame a raw client accepts.
const RESPONSE_BYTES_MAX: usize = 64 << 20;

struct RawClient {
    stream: TcpStream,
    /// Buffered, so a response costs one read call, or none when it came with the last one.
    reader: io::BufReader<TcpStream>,
    correlation_id: i32,
    out: BytesMut,
}

impl RawClient {
    fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<RawClient> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        let reader = io::BufReader::with_capacity(64 * 1024, stream.try_clone()?);
        Ok(RawClient {
            stream,
            reader,
            correlation_id: 0,
            out: BytesMut::with_capacity(64 * 1024),
        })
    }

    /// Sends one request whose body is already encoded; returns its correlation id.
    fn send_encoded(&mut self, api_key: ApiKey, version: i16, body: &[u8]) -> io::Result<i32> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        self.out.clear();
        self.out.put_i32(0);
        header
            .encode(&mut self.out, api_key.request_header_version(version))
            .map_err(invalid)?;
        self.out.extend_from_slice(body);
        let size = i32::try_from(self.out.len() - 4).map_err(invalid)?;
        self.out[..4].copy_from_slice(&size.to_be_bytes());
        self.stream.write_all(&self.out)?;
        Ok(self.correlation_id)
    }

    /// Reads one response frame and checks its header; returns the body.
    fn receive(&mut self, api_key: ApiKey, version: i16, correlation_id: i32) -> io::Result<Bytes> {
        let mut size = [0u8; 4];
        self.reader.read_exact(&mut size)?;
        let size = usize::try_from(i32::from_be_bytes(size)).map_err(invalid)?;
        if size > RESPONSE_BYTES_MAX {
            return Err(invalid(format!("a response of {size} bytes")));
        }
        let mut frame = vec![0u8; size];
        self.reader.read_exact(&mut frame)?;
        let mut frame = Bytes::from(frame);
        let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version))
            .map_err(invalid)?;
        if header.correlation_id != correlation_id {
            return Err(invalid(format!(
                "correlation id {} for request {correlation_id}",
                header.correlation_id
            )));
        }
        Ok(frame)
    }

    fn request<Q: Encodable, R: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Q,
    ) -> io::Result<R> {
        let mut encoded = BytesMut::new();
        body.encode(&mut encoded, version).map_err(invalid)?;
        let id = self.send_encoded(api_key, version, &encoded)?;
        let mut response = self.receive(api_key, version, id)?;
        R::decode(&mut response, version).map_err(invalid)
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

const METADATA_VERSION: i16 = 12;

/// One Metadata v12 request naming no topics, over a fresh connection.
fn metadata_answered(addr: SocketAddr) -> io::Result<MetadataResponse> {
    let mut client = RawClient::connect(addr, Duration::from_millis(200))?;
    let body = MetadataRequest::default()
        .with_topics(Some(Vec::<MetadataRequestTopic>::new()))
        .with_allow_auto_topic_creation(false);
    client.request(ApiKey::Metadata, METADATA_VERSION, &body)
}

// ---------------------------------------------------------------------------------------
// rdkafka helpers
// ---------------------------------------------------------------------------------------

/// Creates the run's topic with the run's client settings, `-X` ones included (a TLS or SASL
/// listener needs them for the admin client too).
fn create_topic(session: &Session, topic: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = session
        .overrides(&mut session.client_config())
        .create()
        .map_err(|e| format!("admin client: {e}"))?;
    let options = AdminOptions::new()
        .request_timeout(Some(Duration::from_secs(30)))
        .operation_timeout(Some(Duration::from_secs(10)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = runtime
        .block_on(admin.create_topics([&new_topic], &options))
        .map_err(|e| format!("CreateTopics: {e}"))?;
    match results.first() {
        Some(Ok(_)) => Ok(()),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(()),
        Some(Err((name, code))) => Err(format!("creating {name}: {code:?}")),
        None => Err("CreateTopics answered nothing".into()),
    }
}

/// Counts delivery reports; served on the thread that polls the producer.
#[derive(Default)]
struct Deliveries {
    ok: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Deliveries {
    fn done(&self) -> u64 {
        self.ok.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }

    fn check(&self) -> Result<()> {
        let failed = self.failed.load(Ordering::Relaxed);
        if failed == 0 {
            return Ok(());
        }
        let first = self
            .first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_default();
        Err(format!("{failed} deliveries failed; the first: {first}"))
    }
}

struct DeliveryCounter(Arc<Deliveries>);

impl ClientContext for DeliveryCounter {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        log_to_stderr(level, facility, message);
    }
}

/// librdkafka's own log lines (with `--rdkafka-debug`, its debug output) go to stderr:
/// this harness installs no `log` backend.
fn log_to_stderr(level: RDKafkaLogLevel, facility: &str, message: &str) {
    eprintln!("rdkafka {level:?} {facility}: {message}");
}

/// The consumers' context: nothing but the logging.
struct Logging;

impl ClientContext for Logging {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        log_to_stderr(level, facility, message);
    }
}

impl ConsumerContext for Logging {}

fn consumer(session: &Session, mut config: ClientConfig) -> Result<BaseConsumer<Logging>> {
    session
        .overrides(&mut config)
        .create_with_context(Logging)
        .map_err(|e| format!("consumer: {e}"))
}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.0.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.0.first_error.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

fn producer(
    session: &Session,
    settings: &ProducerSettings,
) -> Result<(BaseProducer<DeliveryCounter>, Arc<Deliveries>)> {
    let deliveries = Arc::new(Deliveries::default());
    let timeout = session.deadline.saturating_duration_since(Instant::now());
    let mut config = session.client_config();
    config
        .set("acks", &settings.acks)
        .set("linger.ms", settings.linger_ms.to_string())
        .set("batch.size", settings.batch_size.to_string())
        .set(
            "batch.num.messages",
            settings.batch_num_messages.to_string(),
        )
        .set("compression.type", &settings.compression)
        .set("enable.idempotence", settings.idempotence.to_string())
        // A queue large enough that enqueueing never waits on the broker in these runs.
        .set("queue.buffering.max.messages", "2000000")
        .set("queue.buffering.max.kbytes", "2097151")
        .set(
            "message.timeout.ms",
            timeout.as_millis().max(1000).to_string(),
        );
    if settings.transaction_records > 0 {
        // librdkafka wants a delivery timeout within the transaction's.
        let message_timeout = timeout.as_millis().max(1000).to_string();
        config
            .set(
                "transactional.id",
                format!("loadgen-{}", unique_topic("txn")),
            )
            .set("enable.idempotence", "true")
            .set("transaction.timeout.ms", message_timeout);
    }
    let producer: BaseProducer<DeliveryCounter> = session
        .overrides(&mut config)
        .create_with_context(DeliveryCounter(deliveries.clone()))
        .map_err(|e| format!("producer: {e}"))?;
    if settings.transaction_records > 0 {
        producer
            .init_transactions(timeout)
            .map_err(|e| format!("init_transactions: {e}"))?;
    }
    Ok((producer, deliveries))
}

/// Payload bytes that are neither all equal nor random: pseudo-random letters and digits,
/// so compression has something, but not everything, to win.
fn payload(size: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -";
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state % ALPHABET.len() as u64) as usize]
        })
        .collect()
}

/// Sends one record, waiting (polling delivery reports) while the local queue is full.
fn send_one(
    producer: &BaseProducer<DeliveryCounter>,
    topic: &str,
    value: &[u8],
    deadline: Instant,
) -> Result<()> {
    let mut record = BaseRecord::<(), [u8]>::to(topic).payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                producer.poll(Duration::from_millis(1));
                if Instant::now() > deadline {
                    return Err("the producer queue stayed full past --timeout-s".into());
                }
            }
            Err((e, _)) => return Err(format!("enqueue: {e}")),
        }
    }
}

/// Polls until every one of `count` sends has its delivery report.
fn wait_deliveries(
    producer: &BaseProducer<DeliveryCounter>,
    deliveries: &Deliveries,
    count: u64,
    session: &mut Session,
) -> Result<()> {
    while deliveries.done() < count {
        producer.poll(Duration::from_millis(5));
        session.check()?;
    }
    deliveries.check()
}

/// Produces `count` messages of `settings.size` bytes; returns the elapsed time from the
/// first send to the last delivery report.
fn produce_messages(
    session: &mut Session,
    topic: &str,
    settings: &ProducerSettings,
    count: u64,
) -> Result<Duration> {
    let (producer, deliveries) = producer(session, settings)?;
    let value = payload(settings.size);
    let per_txn = settings.transaction_records;
    let txn_timeout = Duration::from_secs(30);
    let txn_error = |what: &str, e: KafkaError| format!("{what}: {e}");
    let started = Instant::now();
    for i in 0..count {
        if per_txn > 0 && i.is_multiple_of(per_txn) {
            producer
                .begin_transaction()
                .map_err(|e| txn_error("begin_transaction", e))?;
        }
        send_one(&producer, topic, &value, session.deadline)?;
        if i.is_multiple_of(1024) {
            producer.poll(Duration::ZERO);
            session.check()?;
        }
        if per_txn > 0 && ((i + 1).is_multiple_of(per_txn) || i + 1 == count) {
            // A BaseProducer serves delivery reports only when polled: flush first.
            producer
                .flush(txn_timeout)
                .map_err(|e| txn_error("flush", e))?;
            producer
                .commit_transaction(txn_timeout)
                .map_err(|e| txn_error("commit_transaction", e))?;
            session.check()?;
        }
    }
    wait_deliveries(&producer, &deliveries, count, session)?;
    let elapsed = started.elapsed();
    producer
        .flush(Duration::from_secs(10))
        .map_err(|e| format!("flush: {e}"))?;
    Ok(elapsed)
}

/// Produces `count` messages through Sluice's own client: requests of up to
/// `batch_num_messages` records (and about `batch_size` bytes), spread round-robin over the
/// partitions, each acknowledged (acks=all) before the next is sent. Returns the elapsed time
/// from the first request to the last acknowledgement.
fn produce_with_sluice_client(
    session: &mut Session,
    topic: &str,
    settings: &ProducerSettings,
    count: u64,
) -> Result<Duration> {
    use sluice::client::{Client, ClientConfig, Record as ClientRecord};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let mut client = runtime
        .block_on(Client::connect(ClientConfig::new(&session.bootstrap)))
        .map_err(|e| format!("sluice client: {e}"))?;
    let layout = runtime
        .block_on(client.topic(topic))
        .map_err(|e| format!("sluice client: {e}"))?;
    let partitions = layout.partitions.len().max(1) as i32;
    let value = bytes::Bytes::from(payload(settings.size));
    // A record costs its value and about 24 bytes of framing: keep a batch within
    // batch.size, which the broker's max.message.bytes (1 MiB by default) allows.
    let per_request = (settings.batch_num_messages as usize)
        .min(settings.batch_size as usize / (settings.size + 24))
        .max(1);
    let started = Instant::now();
    let mut sent = 0u64;
    let mut partition = 0;
    while sent < count {
        let n = per_request.min((count - sent) as usize);
        let records: Vec<ClientRecord> = (0..n)
            .map(|_| ClientRecord {
                partition,
                offset: 0,
                timestamp: None,
                key: None,
                value: Some(value.clone()),
                headers: Vec::new(),
            })
            .collect();
        let now_ms = i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
        )
        .unwrap_or(0);
        runtime
            .block_on(client.produce(&layout, &records, now_ms))
            .map_err(|e| format!("sluice client produce: {e}"))?;
        sent += n as u64;
        partition = (partition + 1) % partitions;
        session.check()?;
    }
    Ok(started.elapsed())
}

fn mb_per_s(bytes: f64, elapsed: Duration) -> f64 {
    bytes / 1e6 / elapsed.as_secs_f64()
}

// ---------------------------------------------------------------------------------------
// produce
// ---------------------------------------------------------------------------------------

fn produce_mode(args: &ProduceArgs) -> Result<()> {
    let mut session = Session::open(&args.target)?;
    let topic = args
        .target
        .topic
        .clone()
        .unwrap_or_else(|| unique_topic("produce"));
    create_topic(&session, &topic, args.target.partitions)?;
    let p = &args.producer;
    let cpu_before = session.cpu();
    let elapsed = if args.client == "sluice" {
        produce_with_sluice_client(&mut session, &topic, p, args.messages)?
    } else {
        produce_messages(&mut session, &topic, p, args.messages)?
    };
    let cpu = session
        .cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.since(before));
    let cpu_s = cpu.map(|c| c.seconds());
    let bytes = (args.messages * p.size as u64) as f64;
    let msgs_per_s = args.messages as f64 / elapsed.as_secs_f64();
    let mb_s = mb_per_s(bytes, elapsed);
    let per_gb = cpu_s.map(|c| c / (bytes / 1e9));
    // Sluice's client always asks acks=all.
    let acks = if args.client == "sluice" {
        "all"
    } else {
        p.acks.as_str()
    };
    println!(
        "produce [{}] {} x {} B, client={}, acks={}, linger={} ms, compression={}: {:.3} s, {:.0} msgs/s, {:.1} MB/s, broker CPU {} s = {} core·s/GB",
        session.storage, args.messages, p.size, args.client, acks, p.linger_ms, p.compression,
        elapsed.as_secs_f64(), msgs_per_s, mb_s, opt(cpu_s, 2), opt(per_gb, 3)
    );
    println!(
        "RESULT mode=produce client={} storage={} msgs={} size={} partitions={} acks={} linger_ms={} compression={} transaction_records={} elapsed_s={:.3} msgs_per_s={:.0} mb_per_s={:.2} {} cpu_s_per_gb={} {}",
        args.client, session.storage, args.messages, p.size, args.target.partitions, acks, p.linger_ms,
        p.compression, p.transaction_records, elapsed.as_secs_f64(), msgs_per_s, mb_s, cpu_fields(cpu), opt(per_gb, 3),
        session.rss_fields()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// consume
// ---------------------------------------------------------------------------------------

fn consumer_config(session: &Session) -> ClientConfig {
    let mut config = session.client_config();
    config
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest");
    config
}

/// Messages already in the topic: the sum of its partitions' high watermarks.
fn stored_messages(session: &Session, topic: &str, partitions: i32) -> Result<u64> {
    let consumer = consumer(session, consumer_config(session))?;
    let mut total = 0u64;
    for partition in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .map_err(|e| format!("watermarks of {topic}/{partition}: {e}"))?;
        total += u64::try_from(high - low).unwrap_or(0);
    }
    Ok(total)
}

fn consume_mode(args: &ConsumeArgs) -> Result<()> {
    let mut session = Session::open(&args.target)?;
    let partitions = args.target.partitions;
    let topic = args
        .target
        .topic
        .clone()
        .unwrap_or_else(|| unique_topic("consume"));
    create_topic(&session, &topic, partitions)?;
    let stored = stored_messages(&session, &topic, partitions)?;
    if stored < args.messages {
        produce_messages(&mut session, &topic, &args.producer, args.messages - stored)?;
    }

    let mut config = consumer_config(&session);
    config.set("enable.partition.eof", "false");
    if args.read_committed {
        config.set("isolation.level", "read_committed");
    }
    // librdkafka refuses `assign` without a group id too; that group only names the client.
    let group = if args.group { "group" } else { "assign" };
    config.set("group.id", format!("{topic}-{group}"));
    let consumer = consumer(&session, config)?;

    if !args.group {
        // Assigned before it knows the partition's leader, librdkafka waits out a 500 ms
        // offset-query retry timer; a warm client (metadata known) measures the broker.
        // The group consumer is measured cold, from `subscribe`.
        consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .map_err(|e| format!("metadata: {e}"))?;
    }
    let cpu_before = session.cpu();
    let started = Instant::now();
    if args.group {
        consumer
            .subscribe(&[&topic])
            .map_err(|e| format!("subscribe: {e}"))?;
    } else {
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment
                .add_partition_offset(&topic, partition, Offset::Beginning)
                .map_err(|e| e.to_string())?;
        }
        consumer
            .assign(&assignment)
            .map_err(|e| format!("assign: {e}"))?;
    }
    let mut received = 0u64;
    let mut bytes = 0u64;
    let mut first_message = None;
    while received < args.messages {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                first_message.get_or_insert_with(|| started.elapsed());
                received += 1;
                bytes += message.payload_len() as u64;
                if received.is_multiple_of(4096) {
                    session.check()?;
                }
            }
            Some(Err(e)) => return Err(format!("consume: {e}")),
            // Nothing for 100 ms: the deadline may have passed.
            None => session.check()?,
        }
    }
    let elapsed = started.elapsed();
    let cpu = session
        .cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.since(before));
    let cpu_s = cpu.map(|c| c.seconds());
    drop(consumer);

    let first_ms = first_message.unwrap_or_default().as_secs_f64() * 1e3;
    let msgs_per_s = received as f64 / elapsed.as_secs_f64();
    let mb_s = mb_per_s(bytes as f64, elapsed);
    let per_gb = cpu_s.map(|c| c / (bytes as f64 / 1e9));
    let how = if args.group { "group" } else { "assign" };
    println!(
        "consume [{}] {} x {} B ({how}): {:.3} s, first message after {:.1} ms, {:.0} msgs/s, {:.1} MB/s, broker CPU {} s = {} core·s/GB",
        session.storage, received, args.producer.size, elapsed.as_secs_f64(), first_ms,
        msgs_per_s, mb_s, opt(cpu_s, 2), opt(per_gb, 3)
    );
    println!(
        "RESULT mode=consume storage={} how={how} isolation={} msgs={received} size={} partitions={partitions} elapsed_s={:.3} first_msg_ms={:.1} msgs_per_s={:.0} mb_per_s={:.2} {} cpu_s_per_gb={} {}",
        session.storage,
        if args.read_committed { "read_committed" } else { "read_uncommitted" },
        args.producer.size, elapsed.as_secs_f64(), first_ms, msgs_per_s, mb_s,
        cpu_fields(cpu), opt(per_gb, 3), session.rss_fields()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// e2e
// ---------------------------------------------------------------------------------------

/// The value at quantile `q` of sorted samples (nearest rank).
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// How long the e2e consumer may take to receive the last messages once all are acknowledged.
const E2E_DRAIN_GRACE: Duration = Duration::from_secs(10);

/// Bytes 0..8 of each e2e payload: nanoseconds since the run's base instant at send time.
const STAMP_BYTES: usize = 8;

/// The e2e producer's schedule: send i is due at `started + i / rate`; overdue sends go at
/// once, and each payload is stamped with its actual send time.
struct Pacing {
    total: u64,
    rate: u64,
    started: Instant,
    base: Instant,
    /// The latest any send left after it was due.
    lag_max: Duration,
}

impl Pacing {
    fn send_all(
        &mut self,
        producer: &BaseProducer<DeliveryCounter>,
        topic: &str,
        value: &mut [u8],
        session: &mut Session,
    ) -> Result<()> {
        let interval_ns = 1e9 / self.rate as f64;
        let mut sent = 0u64;
        while sent < self.total {
            let due = self.started + Duration::from_nanos((sent as f64 * interval_ns) as u64);
            let now = Instant::now();
            if now < due {
                producer.poll(Duration::ZERO);
                std::thread::sleep(due - now);
                continue;
            }
            self.lag_max = self.lag_max.max(now - due);
            let stamp = self.base.elapsed().as_nanos() as u64;
            value[..STAMP_BYTES].copy_from_slice(&stamp.to_le_bytes());
            send_one(producer, topic, value, session.deadline)?;
            sent += 1;
            producer.poll(Duration::ZERO);
            if sent.is_multiple_of(1000) {
                session.check()?;
            }
        }
        Ok(())
    }
}

fn e2e_mode(args: &E2eArgs) -> Result<()> {
    if args.rate == 0 || args.duration_s == 0 {
        return Err("--rate and --duration-s must be positive".into());
    }
    let mut session = Session::open(&args.target)?;
    let partitions = args.target.partitions;
    let topic = args
        .target
        .topic
        .clone()
        .unwrap_or_else(|| unique_topic("e2e"));
    create_topic(&session, &topic, partitions)?;
    let total = args.rate * args.duration_s;
    let base = Instant::now();
    let deadline = session.deadline;

    // The consumer: at the end of every partition before the producer starts.
    let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
    let stop = Arc::new(AtomicBool::new(false));
    let consumer_thread = {
        let mut config = consumer_config(&session);
        config
            .set("group.id", format!("{topic}-e2e"))
            .set("enable.partition.eof", "true")
            .set("fetch.wait.max.ms", "500");
        let consumer = consumer(&session, config)?;
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment
                .add_partition_offset(&topic, partition, Offset::End)
                .map_err(|e| e.to_string())?;
        }
        consumer
            .assign(&assignment)
            .map_err(|e| format!("assign: {e}"))?;
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut samples = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
            let mut at_end = 0;
            let mut ready_tx = Some(ready_tx);
            while Instant::now() < deadline {
                match consumer.poll(Duration::from_millis(50)) {
                    Some(Ok(message)) => {
                        let now_ns = base.elapsed().as_nanos() as u64;
                        let stamp = message
                            .payload()
                            .and_then(|p| p.get(..STAMP_BYTES))
                            .and_then(|p| <[u8; 8]>::try_from(p).ok())
                            .map(u64::from_le_bytes);
                        if let Some(sent_ns) = stamp {
                            samples.push((sent_ns, now_ns.saturating_sub(sent_ns)));
                        }
                        if samples.len() as u64 >= total {
                            break;
                        }
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) => {
                        at_end += 1;
                        if at_end == partitions {
                            if let Some(tx) = ready_tx.take() {
                                let _ = tx.send(Ok(()));
                            }
                        }
                    }
                    Some(Err(e)) => {
                        if let Some(tx) = ready_tx.take() {
                            let _ = tx.send(Err(format!("consume: {e}")));
                        }
                        break;
                    }
                    None => {}
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            samples
        })
    };
    let wait = deadline.saturating_duration_since(Instant::now());
    ready_rx
        .recv_timeout(wait.min(Duration::from_secs(30)))
        .map_err(|_| "the consumer did not reach the end of the topic".to_string())??;

    // The producer: send i is due at start + i / rate; overdue sends go at once.
    let (producer, deliveries) = producer(&session, &args.producer)?;
    let mut value = payload(args.producer.size.max(STAMP_BYTES));
    let cpu_before = session.cpu();
    let started = Instant::now();
    let mut pacing = Pacing {
        total,
        rate: args.rate,
        started,
        base,
        lag_max: Duration::ZERO,
    };
    let outcome = pacing
        .send_all(&producer, &topic, &mut value, &mut session)
        .and_then(|()| wait_deliveries(&producer, &deliveries, total, &mut session));
    let lag_max = pacing.lag_max;
    let send_elapsed = started.elapsed();
    // Everything is acknowledged: what has not arrived within the grace period is lost.
    let grace_end = Instant::now() + E2E_DRAIN_GRACE;
    while outcome.is_ok() && !consumer_thread.is_finished() && Instant::now() < grace_end {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let samples = consumer_thread
        .join()
        .map_err(|_| "the consumer thread panicked".to_string())?;
    let elapsed = started.elapsed();
    let cpu = session
        .cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.since(before));
    let cpu_s = cpu.map(|c| c.seconds());
    outcome?;
    drop(producer);

    let received = samples.len() as u64;
    let warmup_end_ns = (started + Duration::from_secs(args.warmup_s))
        .duration_since(base)
        .as_nanos() as u64;
    let mut latencies: Vec<u64> = samples
        .iter()
        .filter(|(sent_ns, _)| *sent_ns >= warmup_end_ns)
        .map(|(_, latency)| *latency)
        .collect();
    latencies.sort_unstable();
    let ms = |ns: u64| ns as f64 / 1e6;
    let (p50, p99, p999) = (
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 0.999)),
    );
    let max = ms(latencies.last().copied().unwrap_or(0));
    let cpu_pct = cpu_s.map(|c| 100.0 * c / elapsed.as_secs_f64());
    let p = &args.producer;
    println!(
        "e2e [{}] {} msg/s x {} s, {} B, acks={}, linger={} ms: received {received}/{total}, p50 {p50:.3} ms, p99 {p99:.3} ms, p99.9 {p999:.3} ms, max {max:.3} ms (over {} samples after {} s warm-up); sending took {:.2} s, worst pacing lag {:.3} ms; broker CPU {} %",
        session.storage, args.rate, args.duration_s, value.len(), p.acks, p.linger_ms,
        latencies.len(), args.warmup_s, send_elapsed.as_secs_f64(), lag_max.as_secs_f64() * 1e3,
        opt(cpu_pct, 1)
    );
    println!(
        "RESULT mode=e2e storage={} rate={} duration_s={} size={} partitions={partitions} acks={} linger_ms={} sent={total} received={received} samples={} p50_ms={p50:.3} p99_ms={p99:.3} p999_ms={p999:.3} max_ms={max:.3} pacing_lag_max_ms={:.3} {} broker_cpu_pct={} {}",
        session.storage, args.rate, args.duration_s, value.len(), p.acks, p.linger_ms,
        latencies.len(), lag_max.as_secs_f64() * 1e3, cpu_fields(cpu), opt(cpu_pct, 1),
        session.rss_fields()
    );
    if received < total {
        return Err(format!("only {received} of {total} messages arrived"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// single-produce
// ---------------------------------------------------------------------------------------

const PRODUCE_VERSION: i16 = 9;

/// A Produce v9 body carrying one batch with one record of `size` bytes, encoded once:
/// the broker stamps offsets itself, so every request can carry the same bytes.
fn single_record_produce(topic: &str, size: usize, acks: i16) -> Result<Bytes> {
    let record = Record {
        transactional: false,
        control: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        key: None,
        value: Some(Bytes::from(payload(size))),
        headers: Default::default(),
        delete_horizon: false,
    };
    let mut batch = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut batch,
        [&record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| format!("encode the batch: {e}"))?;
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch.freeze()))])]);
    let mut body = BytesMut::new();
    request
        .encode(&mut body, PRODUCE_VERSION)
        .map_err(|e| format!("encode the request: {e}"))?;
    Ok(body.freeze())
}

fn single_produce_mode(args: &SingleProduceArgs) -> Result<()> {
    if args.acks == 0 {
        return Err("acks=0 gets no response to wait for; use 1 or -1".into());
    }
    let mut session = Session::open(&args.target)?;
    let topic = args
        .target
        .topic
        .clone()
        .unwrap_or_else(|| unique_topic("single"));
    create_topic(&session, &topic, args.target.partitions)?;
    let body = single_record_produce(&topic, args.size, args.acks)?;
    let mut client = RawClient::connect(session.addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    let send = |client: &mut RawClient| -> Result<(i32, Instant)> {
        let sent = Instant::now();
        let id = client
            .send_encoded(ApiKey::Produce, PRODUCE_VERSION, &body)
            .map_err(|e| format!("send: {e}"))?;
        Ok((id, sent))
    };
    let receive = |client: &mut RawClient, id: i32| -> Result<()> {
        let mut frame = client
            .receive(ApiKey::Produce, PRODUCE_VERSION, id)
            .map_err(|e| format!("receive: {e}"))?;
        let response =
            ProduceResponse::decode(&mut frame, PRODUCE_VERSION).map_err(|e| e.to_string())?;
        let code = response
            .responses
            .first()
            .and_then(|t| t.partition_responses.first())
            .map(|p| p.error_code);
        match code {
            Some(0) => Ok(()),
            other => Err(format!("Produce answered error {other:?}")),
        }
    };
    // A few requests outside the measurement: connection and topic warm.
    for _ in 0..100 {
        let (id, _) = send(&mut client)?;
        receive(&mut client, id)?;
    }
    let duration = Duration::from_secs(args.duration_s);
    let cap = usize::try_from(args.max_requests).unwrap_or(usize::MAX);
    let window = args.in_flight as usize;
    let mut latencies_ns: Vec<u64> = Vec::with_capacity(cap.min(4_000_000));
    // Requests sent and not yet answered, oldest first: responses come back in order.
    let mut in_flight: std::collections::VecDeque<(i32, Instant)> =
        std::collections::VecDeque::with_capacity(window);
    let cpu_before = session.cpu();
    let started = Instant::now();
    loop {
        let sending = started.elapsed() < duration && latencies_ns.len() + in_flight.len() < cap;
        if sending && in_flight.len() < window {
            in_flight.push_back(send(&mut client)?);
            continue;
        }
        let Some((id, sent)) = in_flight.pop_front() else {
            break;
        };
        receive(&mut client, id)?;
        latencies_ns.push(sent.elapsed().as_nanos() as u64);
        if latencies_ns.len().is_multiple_of(8192) {
            session.check()?;
        }
    }
    let elapsed = started.elapsed();
    let cpu = session
        .cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.since(before));
    let cpu_s = cpu.map(|c| c.seconds());
    let requests = latencies_ns.len();
    latencies_ns.sort_unstable();
    let us = |ns: u64| ns as f64 / 1e3;
    let (p50, p99, p999) = (
        us(percentile(&latencies_ns, 0.50)),
        us(percentile(&latencies_ns, 0.99)),
        us(percentile(&latencies_ns, 0.999)),
    );
    let per_s = requests as f64 / elapsed.as_secs_f64();
    let cpu_us = cpu_s.map(|c| c * 1e6 / requests.max(1) as f64);
    println!(
        "single-produce [{}] {} B, acks={}, {window} in flight: {requests} requests in {:.2} s = {per_s:.0} requests/s; p50 {p50:.1} µs, p99 {p99:.1} µs, p99.9 {p999:.1} µs; broker CPU {} µs/request",
        session.storage, args.size, args.acks, elapsed.as_secs_f64(), opt(cpu_us, 1)
    );
    println!(
        "RESULT mode=single-produce storage={} size={} acks={} in_flight={window} requests={requests} elapsed_s={:.3} requests_per_s={per_s:.0} p50_us={p50:.1} p99_us={p99:.1} p999_us={p999:.1} {} broker_cpu_us_per_request={} {}",
        session.storage, args.size, args.acks, elapsed.as_secs_f64(), cpu_fields(cpu),
        opt(cpu_us, 1), session.rss_fields()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// startup
// ---------------------------------------------------------------------------------------

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn startup_mode(args: &StartupArgs) -> Result<()> {
    let storage = Storage::from_flags(args.memory, &args.data_dir)?;
    let binary_bytes = std::fs::metadata(&args.broker_bin)
        .map_err(|e| format!("{}: {e}", args.broker_bin.display()))?
        .len();
    let mut ready_ms = Vec::new();
    let mut idle_rss = Vec::new();
    for _ in 0..args.runs.max(1) {
        let started = Instant::now();
        let mut broker = BrokerProcess::spawn(&args.broker_bin, &storage)?;
        broker
            .wait_ready(Duration::from_secs(30))
            .map_err(|e| format!("{e}\n--- broker log ---\n{}", broker.log_text()))?;
        ready_ms.push(started.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(args.idle_ms));
        broker.check_alive()?;
        let (rss, _) = rss_mib(broker.pid()).ok_or("cannot read the broker's RSS")?;
        idle_rss.push(rss);
    }
    let (min, max) = (
        ready_ms.iter().copied().fold(f64::INFINITY, f64::min),
        ready_ms.iter().copied().fold(0.0, f64::max),
    );
    let ready = median(&mut ready_ms);
    let rss = median(&mut idle_rss);
    let size_mib = binary_bytes as f64 / (1024.0 * 1024.0);
    println!(
        "startup [{}] median of {} starts: first Metadata answer after {ready:.1} ms (min {min:.1}, max {max:.1}); idle RSS after {} ms {rss:.1} MiB; binary {size_mib:.1} MiB",
        storage.name(), args.runs.max(1), args.idle_ms
    );
    println!(
        "RESULT mode=startup storage={} runs={} ready_ms={ready:.1} ready_min_ms={min:.1} ready_max_ms={max:.1} idle_rss_mib={rss:.1} binary_bytes={binary_bytes}",
        storage.name(),
        args.runs.max(1)
    );
    Ok(())
}
