//! The `sluice` binary as an operator runs it: a child process on loopback ports with a data
//! directory, driven by real clients (rdkafka) and raw sockets, stopped by signals.
//!
//! - health and Prometheus metrics move as requests are served;
//! - an acknowledged record survives `kill -9` at exactly its offset, cycle after cycle, and
//!   a topic keeps its id across restarts;
//! - transactions killed mid-way or mid-EndTxn are all or nothing to `read_committed`
//!   consumers, and the coordinator carries on after each restart;
//! - SIGTERM during a produce stream exits 0 quickly and leaves logs that reopen cleanly;
//! - a bad config exits 2 naming the key; `--version` works;
//! - a second broker on a locked data directory, or on a taken port, exits 1 saying why;
//!   `--listen` takes a host name;
//! - `--log-format json` writes one JSON object per line;
//! - ACLs created with `--authorizer` are still there after a restart.
//!
//! Every child is killed when its guard drops, so a failing assertion leaves no broker behind.
//! Every wait is bounded.
//!
//! The binary is `target/<profile>/sluice`, built by the first test that needs it when it is
//! missing or older than the sources (see [`bin`]), so `cargo test --workspace` from a fresh
//! clone runs these tests against the broker as it is in the work tree.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// The longest any one wait may take; a healthy run needs a small fraction of it.
const TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// The binary under test
// ---------------------------------------------------------------------------------------

/// The `sluice` binary of the profile these tests were built with, built first when it is
/// missing or older than the sources (see `sluice_interop_tests::sluice_binary`).
fn bin() -> &'static Path {
    sluice_interop_tests::sluice_binary!()
}

/// The `sluice` package's version, from its manifest (`CARGO_PKG_VERSION` is this crate's).
fn sluice_version() -> &'static str {
    const MANIFEST: &str = include_str!("../../Cargo.toml");
    MANIFEST
        .split_once("\n[package]")
        .and_then(|(_, package)| {
            package
                .lines()
                .take_while(|line| !line.starts_with('['))
                .find_map(|line| line.strip_prefix("version = \""))
        })
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("the root Cargo.toml's [package] has a version = \"...\" line")
}

// ---------------------------------------------------------------------------------------
// The broker process
// ---------------------------------------------------------------------------------------

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// How to start one broker process.
struct Start<'a> {
    data_dir: &'a Path,
    /// Where the child's stdout and stderr go.
    log: PathBuf,
    rust_log: &'a str,
    args: &'a [&'a str],
}

/// A running `sluice serve`; killed (SIGKILL) and reaped on drop unless it already exited.
struct Sluice {
    child: Child,
    kafka: SocketAddr,
    http: SocketAddr,
    log: PathBuf,
}

impl Sluice {
    /// Spawns the broker on fresh ports without waiting for it.
    fn spawn(start: &Start<'_>) -> Sluice {
        Sluice::spawn_limited(start, None)
    }

    /// [`Sluice::spawn`], the child's soft and hard limits on open files set to `open_files`
    /// when given (the broker raises only its soft limit, to the hard one).
    fn spawn_limited(start: &Start<'_>, open_files: Option<u64>) -> Sluice {
        let kafka = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let out = File::create(&start.log).expect("create the broker's log file");
        let err = out.try_clone().expect("clone the log file handle");
        let mut command = Command::new(bin());
        command
            .arg("serve")
            .args(["--listen", &kafka.to_string()])
            .args(["--http", &http.to_string()])
            .arg("--data-dir")
            .arg(start.data_dir)
            .args(start.args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        clean_env(&mut command);
        command.env("RUST_LOG", start.rust_log);
        if let Some(files) = open_files {
            let limit = libc::rlimit {
                rlim_cur: files,
                rlim_max: files,
            };
            // SAFETY: setrlimit is async-signal-safe and touches only the struct it is given,
            // which the closure owns; nothing else runs between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                });
            }
        }
        let child = command.spawn().expect("spawn the sluice binary");
        Sluice {
            child,
            kafka,
            http,
            log: start.log.clone(),
        }
    }

    /// Spawns the broker and waits until `/health/ready` answers 200. Retries with other
    /// ports if one was taken between choosing it and binding it.
    fn start(start: &Start<'_>) -> Sluice {
        Sluice::start_limited(start, None)
    }

    /// [`Sluice::start`] under a limit on open files (see [`Sluice::spawn_limited`]).
    fn start_limited(start: &Start<'_>, open_files: Option<u64>) -> Sluice {
        for attempt in 1..=3 {
            let mut broker = Sluice::spawn_limited(start, open_files);
            match broker.wait_ready() {
                Ok(elapsed) => {
                    eprintln!("broker ready in {elapsed:?} (pid {})", broker.child.id());
                    return broker;
                }
                Err(why) => {
                    let log = broker.log_text();
                    if attempt < 3 && log.contains("in use") {
                        eprintln!("port taken, retrying: {why}");
                        continue;
                    }
                    panic!("the broker did not become ready: {why}\n--- its log ---\n{log}");
                }
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// The broker of one kill cycle on `data`, logging to `broker-<cycle>.log` in `dir`.
    fn start_cycle(dir: &Path, data: &Path, cycle: usize) -> Sluice {
        Sluice::start(&Start {
            data_dir: data,
            log: dir.join(format!("broker-{cycle}.log")),
            rust_log: "sluice=info",
            args: &[],
        })
    }

    /// Polls `/health/ready` until 200, the child exits, or [`TIMEOUT`].
    fn wait_ready(&mut self) -> Result<Duration, String> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("query the child") {
                return Err(format!(
                    "the broker exited with {status} before it was ready"
                ));
            }
            if let Ok((200, _)) = http_get(self.http, "/health/ready") {
                return Ok(started.elapsed());
            }
            if started.elapsed() > TIMEOUT {
                return Err(format!("/health/ready not 200 within {TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn bootstrap(&self) -> String {
        self.kafka.to_string()
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pids fit an i32")
    }

    /// SIGKILL, then reap.
    fn kill9(&mut self) -> ExitStatus {
        self.child.kill().expect("SIGKILL the broker");
        self.child.wait().expect("reap the broker")
    }

    /// Sends SIGTERM and waits up to `limit` for the exit; `None` if it did not exit.
    fn terminate(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        // SAFETY: kill(2) on our own child's pid, which is not reaped yet, so not reused.
        let sent = unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        assert_eq!(sent, 0, "kill(SIGTERM): {}", io::Error::last_os_error());
        self.wait_exit(limit)
    }

    /// Waits up to `limit` for the child to exit by itself; `None` if it is still running.
    fn wait_exit(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("query the child") {
                return Some((status, started.elapsed()));
            }
            if started.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Polls the log until the `sluice ready` line (returned), the child exits, or
    /// [`TIMEOUT`]; for brokers without an admin listener to poll.
    fn wait_ready_line(&mut self) -> String {
        let started = Instant::now();
        loop {
            let text = self.log_text();
            if let Some(line) = text.lines().find(|l| l.contains("sluice ready")) {
                return line.to_string();
            }
            if let Some((status, _)) = self.wait_exit(Duration::ZERO) {
                panic!("exited with {status} before it was ready:\n{text}");
            }
            assert!(
                started.elapsed() < TIMEOUT,
                "not ready in {TIMEOUT:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Keeps the test's own environment (a stray `SLUICE_*` or `RUST_LOG`) out of the child.
fn clean_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let is_ours = name
            .to_str()
            .is_some_and(|n| n.starts_with("SLUICE_") || n == "RUST_LOG");
        if is_ours {
            command.env_remove(&name);
        }
    }
}

/// Runs the binary to completion (killed after [`TIMEOUT`]), capturing its output.
fn run_to_exit(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn the sluice binary");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("query the child").is_some() {
            break;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let output = child.wait_with_output().expect("reap the child");
            panic!(
                "the binary did not exit within {TIMEOUT:?}; it printed:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child
        .wait_with_output()
        .expect("collect the child's output")
}

// ---------------------------------------------------------------------------------------
// HTTP and metrics
// ---------------------------------------------------------------------------------------

/// One GET over a fresh connection: the status code and the body.
fn http_get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{why}: {text:?}"));
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let status = head
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body).ok_or_else(|| bad("bad chunked body"))?
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        body = rest.get(size + 2..)?;
    }
}

fn scrape(http: SocketAddr) -> prometheus_parse::Scrape {
    let (status, body) = http_get(http, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200, "GET /metrics: {body}");
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("/metrics is not Prometheus text ({e}):\n{body}"))
}

/// The value of the sample named `metric` with exactly these label values; `None` if absent.
fn sample(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    use prometheus_parse::Value;
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            other => panic!("{metric} is not a single number: {other:?}"),
        })
}

// ---------------------------------------------------------------------------------------
// Kafka clients
// ---------------------------------------------------------------------------------------

/// Creates `topic` through rdkafka's AdminClient (CreateTopics), with topic `configs`.
fn create_topic(bootstrap: &str, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .create()
        .expect("create the admin client");
    let options = AdminOptions::new()
        .request_timeout(Some(TIMEOUT))
        .operation_timeout(Some(Duration::from_secs(10)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the admin client");
    let results = runtime
        .block_on(admin.create_topics(
            &[configs.iter().fold(
                NewTopic::new(topic, partitions, TopicReplication::Fixed(1)),
                |new, (key, value)| new.set(key, value),
            )],
            &options,
        ))
        .expect("the CreateTopics request completes");
    assert_eq!(results.len(), 1);
    if let Err((name, code)) = &results[0] {
        panic!("creating {name} failed: {code:?}");
    }
}

/// Sends one request of `api_key` at `version` on a fresh connection and decodes the
/// response.
fn call<Q: Encodable, R: Decodable>(
    kafka: SocketAddr,
    api_key: ApiKey,
    version: i16,
    body: &Q,
) -> R {
    const CORRELATION_ID: i32 = 4343;
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(CORRELATION_ID)
        .with_client_id(Some(StrBytes::from_static_str("sluice-process-test")));
    let mut payload = BytesMut::new();
    header
        .encode(&mut payload, api_key.request_header_version(version))
        .expect("encode the request header");
    body.encode(&mut payload, version)
        .expect("encode the request");
    let mut stream =
        TcpStream::connect_timeout(&kafka, Duration::from_secs(5)).expect("connect to the broker");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a read timeout");
    let size = i32::try_from(payload.len()).expect("a small frame");
    stream
        .write_all(&size.to_be_bytes())
        .expect("send the size");
    stream.write_all(&payload).expect("send the request");
    let mut size = [0u8; 4];
    stream
        .read_exact(&mut size)
        .expect("read the response size");
    let size = usize::try_from(i32::from_be_bytes(size)).expect("a non-negative size");
    assert!(size < 1 << 20, "a response of {size} bytes");
    let mut frame = vec![0u8; size];
    stream.read_exact(&mut frame).expect("read the response");
    let mut frame = Bytes::from(frame);
    let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version))
        .expect("decode the response header");
    assert_eq!(header.correlation_id, CORRELATION_ID);
    R::decode(&mut frame, version).expect("decode the response")
}

/// The topic's id, from Metadata through Sluice's own client (rdkafka does not expose topic
/// ids).
fn topic_id(kafka: SocketAddr, topic: &str) -> uuid::Uuid {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the client");
    let layout = runtime.block_on(async {
        let mut client =
            sluice::client::Client::connect(sluice::client::ClientConfig::new(&kafka.to_string()))
                .await
                .expect("connect to the broker");
        client
            .topic(topic)
            .await
            .unwrap_or_else(|e| panic!("Metadata for {topic}: {e}"))
    });
    assert!(!layout.topic_id.is_nil(), "topic {topic} has a nil id");
    layout.topic_id
}

/// What a producer has been told: values acknowledged at (partition, offset), and failures.
#[derive(Default)]
struct Acks {
    acked: Mutex<Vec<Acked>>,
    failed: AtomicUsize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Acked {
    value: Vec<u8>,
    partition: i32,
    offset: i64,
}

impl Acks {
    fn acked(&self) -> Vec<Acked> {
        self.acked.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn count(&self) -> usize {
        self.acked.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

struct AckContext(Arc<Acks>);

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => {
                let acked = Acked {
                    value: message.payload().unwrap_or_default().to_vec(),
                    partition: message.partition(),
                    offset: message.offset(),
                };
                self.0
                    .acked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(acked);
            }
            Err(_) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .set("linger.ms", "1")
        .set("message.timeout.ms", "5000")
        // Bounds what is outstanding when the broker dies.
        .set("queue.buffering.max.messages", "2000");
    config
}

/// A producer sending unique values round-robin over the partitions from its own thread,
/// until stopped.
struct Stream {
    stop: Arc<AtomicBool>,
    acks: Arc<Acks>,
    thread: Option<JoinHandle<usize>>,
}

impl Stream {
    fn start(bootstrap: &str, topic: &str, partitions: i32, prefix: &str) -> Stream {
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(Acks::default());
        let producer: BaseProducer<AckContext> = producer_config(bootstrap)
            .create_with_context(AckContext(acks.clone()))
            .expect("create the producer");
        let (topic, prefix, stopping) = (topic.to_string(), prefix.to_string(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut sent = 0usize;
            while !stopping.load(Ordering::Relaxed) {
                let value = format!("{prefix}-{sent:08}-{}", "x".repeat(sent % 97));
                let partition = i32::try_from(sent).expect("fits") % partitions;
                let mut record = BaseRecord::<[u8], [u8]>::to(&topic)
                    .payload(value.as_bytes())
                    .partition(partition);
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                            record = r;
                            producer.poll(Duration::from_millis(5));
                            if stopping.load(Ordering::Relaxed) {
                                // Dropping the producer purges what is queued.
                                return sent;
                            }
                        }
                        Err((e, _)) => panic!("cannot enqueue a record: {e}"),
                    }
                }
                sent += 1;
                producer.poll(Duration::ZERO);
            }
            // Dropping the producer purges what is left and serves every delivery report.
            sent
        });
        Stream {
            stop,
            acks,
            thread: Some(thread),
        }
    }

    /// Waits until at least `count` records are acknowledged.
    fn wait_for_acks(&self, count: usize) {
        let started = Instant::now();
        while self.acks.count() < count {
            assert!(
                started.elapsed() < TIMEOUT,
                "fewer than {count} acks within {TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops sending and returns (records sent, acknowledged, failed).
    fn finish(mut self) -> (usize, Vec<Acked>, usize) {
        self.stop.store(true, Ordering::Relaxed);
        let sent = self
            .thread
            .take()
            .expect("finished once")
            .join()
            .expect("the producer thread panicked");
        (
            sent,
            self.acks.acked(),
            self.acks.failed.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Everything stored in `topic`, by (partition, offset), read from offset 0 up to each
/// partition's high watermark; also checks each partition's offsets are dense from 0.
fn read_everything(bootstrap: &str, topic: &str, partitions: i32) -> ReadBack {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("group.id", "sluice-process-tests")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "error")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("create the consumer");
    let mut high = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        let (low, hw) = consumer
            .fetch_watermarks(topic, p, TIMEOUT)
            .unwrap_or_else(|e| panic!("watermarks of {topic}/{p}: {e}"));
        assert_eq!(low, 0, "{topic}/{p} starts at 0");
        high.insert(p, hw);
        assignment
            .add_partition_offset(topic, p, Offset::Offset(0))
            .expect("assign");
    }
    consumer.assign(&assignment).expect("assign the partitions");
    let mut next: BTreeMap<i32, i64> = (0..partitions).map(|p| (p, 0)).collect();
    let mut records = HashMap::new();
    let started = Instant::now();
    while next.iter().any(|(p, n)| *n < high[p]) {
        assert!(
            started.elapsed() < TIMEOUT,
            "read {} records of {topic} within {TIMEOUT:?}; at {next:?} of {high:?}",
            records.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let p = message.partition();
                let expected = next[&p];
                assert_eq!(
                    message.offset(),
                    expected,
                    "{topic}/{p}: offsets must be dense from 0"
                );
                next.insert(p, expected + 1);
                if message.offset() < high[&p] {
                    records.insert(
                        (p, message.offset()),
                        message.payload().unwrap_or_default().to_vec(),
                    );
                }
            }
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
    ReadBack { high, records }
}

struct ReadBack {
    /// High watermark of each partition.
    high: BTreeMap<i32, i64>,
    records: HashMap<(i32, i64), Vec<u8>>,
}

impl ReadBack {
    /// Panics unless every acknowledged record is stored at its offset with its value.
    fn assert_holds(&self, acked: &[Acked], context: &str) {
        let mut missing = Vec::new();
        for ack in acked {
            match self.records.get(&(ack.partition, ack.offset)) {
                Some(value) if *value == ack.value => {}
                found => missing.push(format!(
                    "{}/{} expected {:?}, found {:?}",
                    ack.partition,
                    ack.offset,
                    String::from_utf8_lossy(&ack.value),
                    found.map(|v| String::from_utf8_lossy(v).into_owned())
                )),
            }
        }
        assert!(
            missing.is_empty(),
            "{context}: {} of {} acknowledged records lost or changed (high watermarks {:?}); first: {:#?}",
            missing.len(),
            acked.len(),
            self.high,
            &missing[..missing.len().min(10)]
        );
    }
}

/// A seed for [`jitter`] from the clock (odd, so never zero), printed so a failing run's
/// kill timings can be told.
fn kill_timing_seed() -> u64 {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("kill timing seed {seed:#x}");
    seed
}

/// A pseudo-random number from the clock, good enough to vary kill timings between runs.
fn jitter(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

#[test]
fn health_and_metrics_follow_produce_and_fetch() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let start = Start {
        data_dir: &data,
        log: dir.path().join("broker.log"),
        rust_log: "sluice=info",
        args: &[],
    };
    let mut broker = Sluice::spawn(&start);
    // Liveness: the first answer the admin listener gives is 200.
    let spawned = Instant::now();
    let live = loop {
        if let Ok(answer) = http_get(broker.http, "/health/live") {
            break answer;
        }
        assert!(
            broker.child.try_wait().expect("query").is_none(),
            "exited early:\n{}",
            broker.log_text()
        );
        assert!(spawned.elapsed() < TIMEOUT, "/health/live never answered");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(live.0, 200, "/health/live: {}", live.1);
    eprintln!("/health/live answered 200 after {:?}", spawned.elapsed());
    let ready = broker
        .wait_ready()
        .unwrap_or_else(|why| panic!("{why}\n{}", broker.log_text()));
    eprintln!("/health/ready answered 200 after {ready:?}");

    // Before any Kafka request the per-API families have no samples (prometheus-client
    // leaves empty families out), but the text parses and the broker-wide series are there.
    let first = scrape(broker.http);
    for name in ["sluice_build_info", "sluice_received_bytes_total"] {
        assert!(
            first.samples.iter().any(|s| s.metric == name),
            "/metrics has {name}: {:?}",
            first.docs.keys().collect::<Vec<_>>()
        );
    }

    let topic = "metrics-topic";
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, topic, 1, &[]);
    let before = scrape(broker.http);
    assert!(
        before
            .samples
            .iter()
            .any(|s| s.metric == "sluice_requests_total"),
        "sluice_requests_total after CreateTopics"
    );
    let count = |s: &prometheus_parse::Scrape, api: &str| {
        sample(s, "sluice_requests_total", &[("api", api)]).unwrap_or(0.0)
    };
    let total = |s: &prometheus_parse::Scrape, name: &str| {
        sample(s, name, &[]).unwrap_or_else(|| panic!("/metrics has {name}"))
    };

    const N: usize = 200;
    let acks = Arc::new(Acks::default());
    let producer: BaseProducer<AckContext> = producer_config(&bootstrap)
        .create_with_context(AckContext(acks.clone()))
        .expect("create the producer");
    for i in 0..N {
        let value = format!("metric-{i}");
        producer
            .send(BaseRecord::<[u8], [u8]>::to(topic).payload(value.as_bytes()))
            .unwrap_or_else(|(e, _)| panic!("enqueue {i}: {e}"));
        producer.poll(Duration::ZERO);
    }
    producer.flush(TIMEOUT).expect("flush");
    drop(producer);
    assert_eq!(acks.failed.load(Ordering::Relaxed), 0, "failed deliveries");
    assert_eq!(acks.count(), N);
    let read = read_everything(&bootstrap, topic, 1);
    assert_eq!(read.high[&0], N as i64);
    read.assert_holds(&acks.acked(), "metrics topic");

    let after = scrape(broker.http);
    for api in ["Produce", "Fetch"] {
        assert!(
            count(&after, api) > count(&before, api),
            "sluice_requests_total{{api={api:?}}} grew: {} -> {}",
            count(&before, api),
            count(&after, api)
        );
    }
    for name in ["sluice_received_bytes_total", "sluice_sent_bytes_total"] {
        assert!(
            total(&after, name) > total(&before, name),
            "{name} grew: {} -> {}",
            total(&before, name),
            total(&after, name)
        );
    }
    assert_eq!(
        sample(
            &after,
            "sluice_log_end_offset",
            &[("topic", topic), ("partition", "0")]
        ),
        Some(N as f64),
        "sluice_log_end_offset of {topic}/0"
    );
    eprintln!(
        "requests Produce {} -> {}, Fetch {} -> {}",
        count(&before, "Produce"),
        count(&after, "Produce"),
        count(&before, "Fetch"),
        count(&after, "Fetch")
    );
}

#[test]
fn acknowledged_records_survive_kill_dash_nine() {
    const CYCLES: usize = 20;
    const PARTITIONS: i32 = 3;
    let topic = "crash-topic";
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let mut seed = kill_timing_seed();
    let mut all_acked: Vec<Acked> = Vec::new();
    let mut id = None;
    for cycle in 0..=CYCLES {
        let mut broker = Sluice::start_cycle(dir.path(), &data, cycle);
        let bootstrap = broker.bootstrap();
        if cycle == 0 {
            // Small segments, so kills land around rolls and restarts open sealed segments.
            create_topic(
                &bootstrap,
                topic,
                PARTITIONS,
                &[("segment.bytes", "1048576")],
            );
        }
        let this_id = topic_id(broker.kafka, topic);
        match id {
            None => id = Some(this_id),
            Some(first) => assert_eq!(this_id, first, "the topic id changed at restart {cycle}"),
        }
        // Everything acknowledged before the last kill is where it was acknowledged.
        let read = read_everything(&bootstrap, topic, PARTITIONS);
        read.assert_holds(&all_acked, &format!("after kill {cycle}"));
        if cycle > 0 {
            eprintln!(
                "restart {cycle}: all {} acknowledged records present; high watermarks {:?}",
                all_acked.len(),
                read.high
            );
        }
        if cycle == CYCLES {
            break;
        }

        let stream = Stream::start(&bootstrap, topic, PARTITIONS, &format!("c{cycle}"));
        stream.wait_for_acks(1);
        let delay = Duration::from_millis(100 + jitter(&mut seed) % 301);
        std::thread::sleep(delay);
        let acked_at_kill = stream.acks.count();
        let status = broker.kill9();
        let (sent, acked, failed) = stream.finish();
        eprintln!(
            "cycle {cycle}: SIGKILL after first ack + {delay:?} ({status}); sent {sent}, \
             acknowledged {} ({acked_at_kill} seen at the kill), failed {failed}",
            acked.len()
        );
        assert!(!acked.is_empty(), "cycle {cycle} acknowledged nothing");
        // New records continue each partition's log right after what survived.
        for p in 0..PARTITIONS {
            if let Some(first) = acked
                .iter()
                .filter(|a| a.partition == p)
                .map(|a| a.offset)
                .min()
            {
                assert_eq!(
                    first, read.high[&p],
                    "cycle {cycle}: the first record acknowledged on partition {p} follows the log's end"
                );
            }
        }
        all_acked.extend(acked);
    }
    let segments: Vec<usize> = (0..PARTITIONS)
        .map(|p| {
            std::fs::read_dir(data.join(format!("{topic}-{p}")))
                .expect("list the partition directory")
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
                })
                .count()
        })
        .collect();
    eprintln!("segments per partition at the end: {segments:?}");
    assert!(
        segments.iter().all(|&n| n > 1),
        "the crashes spanned rolled segments: {segments:?}"
    );
}

/// Descriptors the process `pid` has open.
fn open_descriptors(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// More partitions than the process may open files: each partition's active segment file is
/// closed while unused and reopened on use, under the cap the limit leaves
/// (`max_open_segment_files` 0: the limit less `max_connections` and 256). Creating them,
/// producing to every one, a kill -9 and a clean stop with the restarts after them all work,
/// and nothing acknowledged is lost.
#[test]
fn more_partitions_than_open_files_are_served_across_restarts() {
    const OPEN_FILES: u64 = 400;
    const MAX_CONNECTIONS: u64 = 64;
    const CAP: u64 = OPEN_FILES - MAX_CONNECTIONS - 256;
    const PARTITIONS: i32 = 500;
    let topic = "many-partitions";
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let config = dir.path().join("sluice.toml");
    std::fs::write(&config, format!("max_connections = {MAX_CONNECTIONS}\n"))
        .expect("write the config");
    let start = |run: &str| {
        let broker = Sluice::start_limited(
            &Start {
                data_dir: &data,
                log: dir.path().join(format!("broker-{run}.log")),
                rust_log: "sluice=info",
                args: &["--config", config.to_str().expect("a UTF-8 path")],
            },
            Some(OPEN_FILES),
        );
        let log = broker.log_text();
        assert!(
            log.contains("are closed while unused and reopened"),
            "the start names the cap:\n{log}"
        );
        broker
    };
    let mut broker = start("first");
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, topic, PARTITIONS, &[]);
    // Records round-robin until every partition has two acknowledged: every active
    // segment is written to, most of them after the cap closed them.
    let stream = Stream::start(&bootstrap, topic, PARTITIONS, "many");
    let started = Instant::now();
    loop {
        let mut per_partition = vec![0usize; PARTITIONS as usize];
        for ack in stream.acks.acked() {
            per_partition[ack.partition as usize] += 1;
        }
        if per_partition.iter().all(|&n| n >= 2) {
            break;
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "not every partition has two acknowledged records within {TIMEOUT:?}: {per_partition:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (sent, acked, failed) = stream.finish();
    eprintln!(
        "sent {sent}, acknowledged {}, failed (purged at the stop) {failed}",
        acked.len()
    );
    read_everything(&bootstrap, topic, PARTITIONS).assert_holds(&acked, "before any restart");
    let scrape = scrape(broker.http);
    let held = sample(&scrape, "sluice_open_segment_files", &[]).expect("the gauge");
    let reopens = sample(&scrape, "sluice_segment_file_reopens", &[]).expect("the gauge");
    eprintln!(
        "held {held} segment files, {reopens} reopens, {} descriptors",
        open_descriptors(broker.pid())
    );
    assert!(
        held <= CAP as f64,
        "{held} segment files held over the cap of {CAP}"
    );
    assert!(reopens > 0.0, "files closed by the cap were opened again");
    assert!(
        open_descriptors(broker.pid()) < OPEN_FILES as usize,
        "descriptors under the limit"
    );

    broker.kill9();
    let mut broker = start("after-kill");
    read_everything(&broker.bootstrap(), topic, PARTITIONS).assert_holds(&acked, "after kill -9");
    let (status, took) = broker
        .terminate(Duration::from_secs(30))
        .expect("SIGTERM stops the broker");
    assert!(
        status.success(),
        "a clean stop exits 0: {status}\n{}",
        broker.log_text()
    );
    eprintln!("clean stop of {PARTITIONS} partitions in {took:?}");
    let broker = start("after-stop");
    read_everything(&broker.bootstrap(), topic, PARTITIONS)
        .assert_holds(&acked, "after a clean stop");
}

#[test]
fn sigterm_during_a_produce_stream_exits_zero_and_reopens_cleanly() {
    // More partitions than the shutdown's closing threads, in uneven shares.
    const PARTITIONS: i32 = 21;
    let topic = "sigterm-topic";
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let first = Start {
        data_dir: &data,
        log: dir.path().join("broker-1.log"),
        rust_log: "sluice=info",
        args: &[],
    };
    let mut broker = Sluice::start(&first);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, topic, PARTITIONS, &[]);
    let stream = Stream::start(&bootstrap, topic, PARTITIONS, "term");
    stream.wait_for_acks(1);
    std::thread::sleep(Duration::from_millis(200));
    let acked_at_signal = stream.acks.count();
    let exit = broker.terminate(Duration::from_secs(5));
    let (sent, acked, failed) = stream.finish();
    let Some((status, took)) = exit else {
        panic!(
            "the broker did not exit within 5 s of SIGTERM\n--- its log ---\n{}",
            broker.log_text()
        );
    };
    eprintln!(
        "SIGTERM: exited with {status} after {took:?}; sent {sent}, acknowledged {} \
         ({acked_at_signal} at the signal), failed {failed}",
        acked.len()
    );
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM\n{}",
        broker.log_text()
    );
    assert!(!acked.is_empty());
    let first_log = broker.log_text();
    assert!(
        first_log.contains("shutdown complete") && !first_log.contains("grace period"),
        "a graceful shutdown, within its grace period:\n{first_log}"
    );

    // A clean close leaves its marker in every partition directory (removed by the next open).
    for p in 0..PARTITIONS {
        let marker = data.join(format!("{topic}-{p}")).join(".clean");
        assert!(
            marker.exists(),
            "{} is missing after a clean shutdown",
            marker.display()
        );
    }

    let second = Start {
        data_dir: &data,
        log: dir.path().join("broker-2.log"),
        rust_log: "sluice=debug",
        args: &[],
    };
    let broker = Sluice::start(&second);
    let read = read_everything(&broker.bootstrap(), topic, PARTITIONS);
    read.assert_holds(&acked, "after SIGTERM");
    let log = broker.log_text();
    let recovery_lines: Vec<&str> = log
        .lines()
        .filter(|l| {
            [
                "truncating",
                "does not check out",
                "index is damaged",
                "leftover file",
                "emptying it",
                "damaged",
            ]
            .iter()
            .any(|needle| l.contains(needle))
        })
        .collect();
    assert!(
        recovery_lines.is_empty(),
        "the restart after a clean shutdown logged recovery work:\n{}",
        recovery_lines.join("\n")
    );
    for p in 0..PARTITIONS {
        assert!(
            !data.join(format!("{topic}-{p}")).join(".clean").exists(),
            "the open takes the clean marker of partition {p}"
        );
    }
    eprintln!(
        "restart after SIGTERM: all {} acknowledged records present; high watermarks {:?}",
        acked.len(),
        read.high
    );
}

#[test]
fn bad_config_exits_two_naming_the_key_and_version_exits_zero() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let serve = |command: &mut Command| {
        command
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{}", free_port())])
            .args(["--http", "none"])
            .arg("--data-dir")
            .arg(dir.path().join("data"));
        clean_env(command);
    };
    let printed = |output: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };

    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "num_partitions = \"many\"\n").expect("write the config file");
    let mut command = Command::new(bin());
    serve(&mut command);
    command.arg("--config").arg(&file);
    let output = run_to_exit(&mut command);
    let text = printed(&output);
    assert_eq!(output.status.code(), Some(2), "exit code; printed:\n{text}");
    assert!(text.contains("num_partitions"), "names the key:\n{text}");

    let mut command = Command::new(bin());
    serve(&mut command);
    command.env("SLUICE_LOG_FORMAT", "xml");
    let output = run_to_exit(&mut command);
    let text = printed(&output);
    assert_eq!(output.status.code(), Some(2), "exit code; printed:\n{text}");
    assert!(text.contains("log_format"), "names the key:\n{text}");

    let output = run_to_exit(Command::new(bin()).arg("--version"));
    let text = printed(&output);
    assert_eq!(output.status.code(), Some(0), "--version; printed:\n{text}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(sluice_version()),
        "--version prints {}:\n{text}",
        sluice_version()
    );
}

#[test]
fn json_log_format_writes_json_lines() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let start = Start {
        data_dir: &data,
        log: dir.path().join("broker.log"),
        rust_log: "sluice=debug",
        args: &["--log-format", "json"],
    };
    let mut broker = Sluice::start(&start);
    // A topic creation and a shutdown log a few more lines.
    create_topic(&broker.bootstrap(), "json-topic", 1, &[]);
    let (status, took) = broker
        .terminate(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no exit within 5 s of SIGTERM:\n{}", broker.log_text()));
    assert_eq!(status.code(), Some(0), "exit after SIGTERM");
    eprintln!("idle broker exited {took:?} after SIGTERM");
    let log = broker.log_text();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() >= 3, "a few log lines:\n{log}");
    let mut messages = Vec::new();
    // The JSON ready line on stdout is the program's output, not a log line.
    let ready_lines = lines
        .iter()
        .filter(|l| l.starts_with(r#"{"sluice":"ready""#))
        .count();
    assert_eq!(ready_lines, 1, "one ready line:\n{log}");
    for line in lines
        .iter()
        .filter(|l| !l.starts_with(r#"{"sluice":"ready""#))
    {
        let json: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
        assert!(json.is_object(), "a JSON object per line: {line}");
        assert!(json.get("level").is_some(), "a level: {line}");
        if let Some(message) = json.pointer("/fields/message").and_then(|m| m.as_str()) {
            messages.push(message.to_string());
        }
    }
    assert!(
        messages.iter().any(|m| m == "sluice ready"),
        "the ready line is among {messages:?}"
    );
    // README: "The broker logs one line when it is ready, with its address".
    let kafka = broker.kafka.to_string();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("sluice ready") && l.contains(&kafka)),
        "the ready line names {kafka}:\n{log}"
    );
}

/// README and config/sluice.toml: environment variables override the file, and
/// "command-line flags override both" — so a valid flag wins over an invalid environment
/// value for the same key.
#[test]
fn a_flag_overrides_an_invalid_environment_value() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let kafka = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let log = dir.path().join("broker.log");
    let out = File::create(&log).expect("create the log file");
    let mut command = Command::new(bin());
    command
        .arg("serve")
        .args(["--listen", &kafka.to_string()])
        .args(["--http", &http.to_string()])
        .arg("--data-dir")
        .arg(&data)
        .args(["--log-format", "json"])
        .stdin(Stdio::null())
        .stderr(out.try_clone().expect("clone the log file handle"))
        .stdout(out);
    clean_env(&mut command);
    command
        .env("RUST_LOG", "sluice=info")
        .env("SLUICE_LOG_FORMAT", "xml");
    let mut broker = Sluice {
        child: command.spawn().expect("spawn the sluice binary"),
        kafka,
        http,
        log,
    };
    if let Err(why) = broker.wait_ready() {
        panic!(
            "SLUICE_LOG_FORMAT=xml with --log-format json: {why}\n--- its log ---\n{}",
            broker.log_text()
        );
    }
    let log = broker.log_text();
    let first = log.lines().next().expect("a ready line");
    serde_json::from_str::<serde_json::Value>(first)
        .unwrap_or_else(|e| panic!("--log-format json wins ({e}): {first:?}"));
}

/// ACLs are in the data directory before CreateAcls answers: a broker started again, this
/// time without a super user, lets User:ANONYMOUS describe them because one of them allows
/// it, and lists both.
#[test]
fn acls_outlive_a_restart_of_the_binary() {
    use kafka_protocol::messages::create_acls_request::AclCreation;
    use kafka_protocol::messages::{
        CreateAclsRequest, CreateAclsResponse, DescribeAclsRequest, DescribeAclsResponse,
    };
    const CLUSTER: i8 = 4;
    const TOPIC: i8 = 2;
    const LITERAL: i8 = 3;
    const DESCRIBE: i8 = 8;
    const WRITE: i8 = 4;
    const ALLOW: i8 = 3;
    let acl = |resource_type: i8, name: &str, operation: i8| {
        AclCreation::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_resource_pattern_type(LITERAL)
            .with_principal(StrBytes::from_static_str("User:ANONYMOUS"))
            .with_host(StrBytes::from_static_str("*"))
            .with_operation(operation)
            .with_permission_type(ALLOW)
    };
    let describe_all = DescribeAclsRequest::default()
        .with_resource_type_filter(1)
        .with_resource_name_filter(None)
        .with_pattern_type_filter(1)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(1)
        .with_permission_type(1);
    let listed = |r: &DescribeAclsResponse| -> Vec<(i8, String, i8)> {
        r.resources
            .iter()
            .flat_map(|res| {
                res.acls.iter().map(|a| {
                    (
                        res.resource_type,
                        res.resource_name.to_string(),
                        a.operation,
                    )
                })
            })
            .collect()
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let mut first = Sluice::start(&Start {
        data_dir: &data,
        log: dir.path().join("broker-1.log"),
        rust_log: "sluice=info",
        args: &["--authorizer", "--super-user", "User:ANONYMOUS"],
    });
    let created: CreateAclsResponse = call(
        first.kafka,
        ApiKey::CreateAcls,
        3,
        &CreateAclsRequest::default().with_creations(vec![
            acl(CLUSTER, "kafka-cluster", DESCRIBE),
            acl(TOPIC, "kept", WRITE),
        ]),
    );
    let codes: Vec<i16> = created.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [0, 0]);
    let (status, _) = first
        .terminate(TIMEOUT)
        .expect("the broker exits on SIGTERM");
    assert!(status.success(), "exit status {status}");
    assert!(
        data.join("acls.toml").exists(),
        "the ACLs are in the data directory"
    );

    let second = Sluice::start(&Start {
        data_dir: &data,
        log: dir.path().join("broker-2.log"),
        rust_log: "sluice=info",
        args: &["--authorizer"],
    });
    let described: DescribeAclsResponse =
        call(second.kafka, ApiKey::DescribeAcls, 3, &describe_all);
    assert_eq!(described.error_code, 0, "{described:?}");
    assert_eq!(
        listed(&described),
        [
            (TOPIC, "kept".to_string(), WRITE),
            (CLUSTER, "kafka-cluster".to_string(), DESCRIBE),
        ]
    );
    // Not a super user any more: creating an ACL needs ALTER on the cluster.
    let refused: CreateAclsResponse = call(
        second.kafka,
        ApiKey::CreateAcls,
        3,
        &CreateAclsRequest::default().with_creations(vec![acl(TOPIC, "other", WRITE)]),
    );
    assert_eq!(refused.results[0].error_code, 31);
}

/// Two brokers on one data directory would overwrite each other's records: the second
/// refuses to start, naming the directory and the first one's pid, and the first serves on.
/// Once the first has stopped, the directory can be used again.
#[test]
fn a_second_broker_on_the_same_data_directory_exits_one_naming_the_holder() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let first_start = Start {
        data_dir: &data,
        log: dir.path().join("first.log"),
        rust_log: "sluice=info",
        args: &[],
    };
    let mut first = Sluice::start(&first_start);

    let mut second = Sluice::spawn(&Start {
        log: dir.path().join("second.log"),
        ..first_start
    });
    let (status, _) = second.wait_exit(TIMEOUT).unwrap_or_else(|| {
        panic!(
            "the second broker still runs after {TIMEOUT:?}:\n{}",
            second.log_text()
        )
    });
    let text = second.log_text();
    assert_eq!(status.code(), Some(1), "exit code; it printed:\n{text}");
    let named = format!(
        "data directory {} is locked by another sluice broker (pid {}",
        data.display(),
        first.pid()
    );
    assert!(
        text.contains(&named),
        "names {named:?}; it printed:\n{text}"
    );
    assert!(
        !text.contains("sluice ready"),
        "the second never served:\n{text}"
    );

    assert_eq!(
        http_get(first.http, "/health/ready")
            .map(|(status, _)| status)
            .ok(),
        Some(200),
        "the first broker still serves"
    );
    assert_eq!(
        std::fs::read_to_string(data.join(".lock")).expect("read the lock file"),
        format!("{}\n", first.pid()),
        "the lock file names the holder"
    );
    create_topic(&first.bootstrap(), "still-mine", 1, &[]);

    let (status, _) = first
        .terminate(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no exit after SIGTERM:\n{}", first.log_text()));
    assert_eq!(status.code(), Some(0), "exit after SIGTERM");
    let mut third = Sluice::start(&Start {
        log: dir.path().join("third.log"),
        ..first_start
    });
    assert_eq!(
        std::fs::read_to_string(data.join(".lock")).expect("read the lock file"),
        format!("{}\n", third.pid()),
        "the directory's new holder"
    );
    let _ = third.terminate(Duration::from_secs(10));
}

/// A taken port stops the broker with exit code 1 and a message naming the address and the
/// flag, for either listener.
#[test]
fn a_taken_port_exits_one_naming_the_address_and_the_flag() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let addr = taken.local_addr().expect("the bound address");
    let printed = |output: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };
    for (flag, other) in [("--listen", "--http"), ("--http", "--listen")] {
        let mut command = Command::new(bin());
        command
            .args(["serve", "--memory"])
            .args([flag, &addr.to_string()])
            .args([other, &format!("127.0.0.1:{}", free_port())]);
        clean_env(&mut command);
        let output = run_to_exit(&mut command);
        let text = printed(&output);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{flag} taken; printed:\n{text}"
        );
        let named = format!("cannot listen on {addr} ({flag}): Address already in use");
        assert!(text.contains(&named), "names {named:?}; printed:\n{text}");
    }
    drop(taken);
}

/// `--listen` and `--http` take host names: `localhost` is resolved at start and bound on
/// its IPv4 address, where clients reach it.
#[test]
fn listeners_take_host_names() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let kafka = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let log = dir.path().join("broker.log");
    let out = File::create(&log).expect("create the log file");
    let mut command = Command::new(bin());
    command
        .args(["serve", "--memory"])
        .args(["--listen", &format!("localhost:{}", kafka.port())])
        .args(["--http", &format!("localhost:{}", http.port())])
        .stdin(Stdio::null())
        .stderr(out.try_clone().expect("clone the log file handle"))
        .stdout(out);
    clean_env(&mut command);
    command.env("RUST_LOG", "sluice=info");
    let mut broker = Sluice {
        child: command.spawn().expect("spawn the sluice binary"),
        kafka,
        http,
        log,
    };
    if let Err(why) = broker.wait_ready() {
        panic!(
            "--listen localhost:{}: {why}\n--- its log ---\n{}",
            kafka.port(),
            broker.log_text()
        );
    }
    create_topic(&format!("localhost:{}", kafka.port()), "by-name", 1, &[]);
    assert_ne!(
        topic_id(kafka, "by-name"),
        uuid::Uuid::nil(),
        "the topic exists"
    );
    let text = broker.log_text();
    assert!(
        text.lines()
            .any(|l| l.contains("sluice ready") && l.contains(&format!("listen={kafka}"))),
        "the ready line names the bound address {kafka}:\n{text}"
    );
}

/// The ready line names the admin listener's address, or `none` (not `Some(..)`/`None`).
#[test]
fn the_ready_line_names_the_http_address_or_none() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let broker = Sluice::start(&Start {
        data_dir: &data,
        log: dir.path().join("with-http.log"),
        rust_log: "sluice=info",
        args: &[],
    });
    let text = broker.log_text();
    let ready = text
        .lines()
        .find(|l| l.contains("sluice ready"))
        .unwrap_or_else(|| panic!("a ready line:\n{text}"));
    assert!(
        ready.contains(&format!(" http={}", broker.http)) && !ready.contains("Some("),
        "names {}: {ready}",
        broker.http
    );
    drop(broker);

    let log = dir.path().join("without-http.log");
    let out = File::create(&log).expect("create the log file");
    let mut command = Command::new(bin());
    command
        .args(["serve", "--memory", "--http", "none"])
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stderr(out.try_clone().expect("clone the log file handle"))
        .stdout(out);
    clean_env(&mut command);
    command.env("RUST_LOG", "sluice=info");
    let mut broker = Sluice {
        child: command.spawn().expect("spawn the sluice binary"),
        kafka: SocketAddr::from(([127, 0, 0, 1], 0)),
        http: SocketAddr::from(([127, 0, 0, 1], 0)),
        log,
    };
    let ready = broker.wait_ready_line();
    assert!(ready.contains(" http=none"), "names none: {ready}");
}

/// For CI: `:0` ports, topics declared with `--topic`, and a ready line of JSON on stdout
/// (and in `--ready-file`) giving the ports actually bound. When the line is out, the declared
/// topics exist with their partitions and configs, and the admin listener answers; a clean
/// stop removes the ready file, and a stale one is removed at start.
#[test]
fn declared_topics_exist_when_the_json_ready_line_names_the_free_ports() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ready_file = dir.path().join("ready.json");
    std::fs::write(&ready_file, "stale").expect("write a stale ready file");
    let log = dir.path().join("broker.log");
    let mut command = Command::new(bin());
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args([
            "--topic",
            "orders:3",
            "--topic",
            "users::cleanup.policy=compact",
        ])
        .arg("--ready-file")
        .arg(&ready_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(&log).expect("create the log file"));
    clean_env(&mut command);
    command.env("RUST_LOG", "sluice=info");
    let mut child = command.spawn().expect("spawn the sluice binary");
    let stdout = child.stdout.take().expect("the child's stdout");
    let mut broker = Sluice {
        child,
        kafka: SocketAddr::from(([127, 0, 0, 1], 0)),
        http: SocketAddr::from(([127, 0, 0, 1], 0)),
        log,
    };
    // The stale file is gone before the broker is ready (it is removed first thing).
    let (lines, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in io::BufRead::lines(io::BufReader::new(stdout)).map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let ready_line = loop {
        let line = receive
            .recv_timeout(TIMEOUT.saturating_sub(started.elapsed()))
            .unwrap_or_else(|_| panic!("no ready line:\n{}", broker.log_text()));
        if line.starts_with('{') && line.contains(r#""sluice":"ready""#) {
            break line;
        }
    };
    let ready: serde_json::Value =
        serde_json::from_str(&ready_line).expect("the ready line is JSON");
    let kafka: SocketAddr = ready["kafka"]
        .as_str()
        .expect("kafka")
        .parse()
        .expect("an address");
    let http: SocketAddr = ready["http"]
        .as_str()
        .expect("http")
        .parse()
        .expect("an address");
    assert_ne!(kafka.port(), 0);
    assert_ne!(http.port(), 0);
    assert_eq!(
        ready["advertised"].as_str(),
        Some(kafka.to_string().as_str())
    );
    assert_eq!(ready["pid"].as_u64(), Some(u64::from(broker.child.id())));
    assert_eq!(
        std::fs::read_to_string(&ready_file).expect("the ready file"),
        format!("{ready_line}\n"),
        "the ready file holds the same line"
    );
    assert_eq!(
        http_get(http, "/health/ready")
            .expect("GET /health/ready")
            .0,
        200
    );
    broker.kafka = kafka;
    broker.http = http;

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", kafka.to_string())
        .create()
        .expect("an admin client");
    let metadata = admin
        .inner()
        .fetch_metadata(None, TIMEOUT)
        .expect("metadata");
    let mut topics: Vec<(String, usize)> = metadata
        .topics()
        .iter()
        .map(|t| (t.name().to_string(), t.partitions().len()))
        .collect();
    topics.sort();
    assert_eq!(
        topics,
        [("orders".to_string(), 3), ("users".to_string(), 1)]
    );
    let configs = rdkafka_block(admin.describe_configs(
        &[rdkafka::admin::ResourceSpecifier::Topic("users")],
        &AdminOptions::new(),
    ));
    let users = configs
        .expect("DescribeConfigs")
        .pop()
        .expect("one resource")
        .expect("users described");
    assert_eq!(
        users.get("cleanup.policy").and_then(|e| e.value.as_deref()),
        Some("compact")
    );

    let (status, _) = broker.terminate(TIMEOUT).expect("exits after SIGTERM");
    assert!(status.success(), "exit status {status}");
    assert!(!ready_file.exists(), "a clean stop removes the ready file");
}

/// Two brokers side by side, both on `:0` ports (two CI jobs on one machine): each picks its
/// own ports, says which in its ready file, and serves its own topics.
#[test]
fn two_brokers_on_zero_ports_run_side_by_side() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let start = |name: &str| -> (Sluice, serde_json::Value) {
        let ready_file = dir.path().join(format!("{name}.ready"));
        let log = dir.path().join(format!("{name}.log"));
        let out = File::create(&log).expect("create the log file");
        let mut command = Command::new(bin());
        command
            .args([
                "serve",
                "--memory",
                "--listen",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
            ])
            .args(["--topic", &format!("{name}-only:2")])
            .arg("--ready-file")
            .arg(&ready_file)
            .stdin(Stdio::null())
            .stderr(out.try_clone().expect("clone the log file handle"))
            .stdout(out);
        clean_env(&mut command);
        let broker = Sluice {
            child: command.spawn().expect("spawn the sluice binary"),
            kafka: SocketAddr::from(([127, 0, 0, 1], 0)),
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        let started = Instant::now();
        let ready = loop {
            if let Ok(text) = std::fs::read_to_string(&ready_file) {
                break serde_json::from_str::<serde_json::Value>(&text).expect("JSON");
            }
            assert!(
                started.elapsed() < TIMEOUT,
                "{name} not ready:\n{}",
                broker.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        (broker, ready)
    };
    let (mut first, first_ready) = start("first");
    let (mut second, second_ready) = start("second");
    let address = |ready: &serde_json::Value, key: &str| -> SocketAddr {
        ready[key]
            .as_str()
            .expect("an address")
            .parse()
            .expect("an address")
    };
    let ports: std::collections::HashSet<u16> = [&first_ready, &second_ready]
        .iter()
        .flat_map(|r| [address(r, "kafka").port(), address(r, "http").port()])
        .collect();
    assert_eq!(
        ports.len(),
        4,
        "four distinct ports: {first_ready} {second_ready}"
    );
    for (ready, own) in [(&first_ready, "first-only"), (&second_ready, "second-only")] {
        assert_eq!(
            http_get(address(ready, "http"), "/health/ready")
                .expect("health")
                .0,
            200
        );
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", address(ready, "kafka").to_string())
            .create()
            .expect("an admin client");
        let metadata = admin
            .inner()
            .fetch_metadata(None, TIMEOUT)
            .expect("metadata");
        let names: Vec<&str> = metadata.topics().iter().map(|t| t.name()).collect();
        assert_eq!(names, [own], "each broker has only its own declared topic");
    }
    for broker in [&mut first, &mut second] {
        let (status, _) = broker.terminate(TIMEOUT).expect("exits after SIGTERM");
        assert!(status.success());
    }
}

/// Blocks on an rdkafka admin future.
fn rdkafka_block<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// A misspelt `SLUICE_*` variable is ignored, but not silently: a warning names it and the
/// setting it was probably meant for. `SLUICE_BIN` (the interop runners') is not warned about.
#[test]
fn a_misspelt_environment_variable_is_warned_about() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = dir.path().join("broker.log");
    let out = File::create(&log).expect("create the log file");
    let mut command = Command::new(bin());
    command
        .args(["serve", "--memory", "--http", "none"])
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stderr(out.try_clone().expect("clone the log file handle"))
        .stdout(out);
    clean_env(&mut command);
    command
        .env("RUST_LOG", "sluice=info")
        .env("SLUICE_NUM_PARTITON", "3")
        .env("SLUICE_BIN", bin());
    let mut broker = Sluice {
        child: command.spawn().expect("spawn the sluice binary"),
        kafka: SocketAddr::from(([127, 0, 0, 1], 0)),
        http: SocketAddr::from(([127, 0, 0, 1], 0)),
        log,
    };
    broker.wait_ready_line();
    let text = broker.log_text();
    // Only warnings about variables: the open-file limit may warn on some machines.
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("environment variable"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning, none for SLUICE_BIN:\n{text}"
    );
    assert!(
        warnings[0].contains(
            "environment variable SLUICE_NUM_PARTITON is not a setting; ignored \
             (did you mean `num_partitions`, SLUICE_NUM_PARTITIONS?)"
        ),
        "names the variable and the key: {}",
        warnings[0]
    );
}

// ---------------------------------------------------------------------------------------
// Transactions across kill -9
// ---------------------------------------------------------------------------------------

/// Records per transaction: three to each of three partitions.
const TXN_RECORDS: usize = 9;
const TXN_PARTITIONS: i32 = 3;

/// What the producer was told of one transaction's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxnEnd {
    Committed,
    Aborted,
}

fn txn_producer(bootstrap: &str) -> BaseProducer {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("transactional.id", "crash-txn")
        .set("transaction.timeout.ms", "60000")
        .set("message.timeout.ms", "5000")
        .set("linger.ms", "1")
        .create()
        .expect("create the transactional producer");
    // Fences the instance before the kill and aborts what it left open.
    producer
        .init_transactions(TIMEOUT)
        .expect("init_transactions after a restart");
    producer
}

/// One transaction named `name`: its records, then commit (or abort when `abort`).
fn run_txn(producer: &BaseProducer, topic: &str, name: &str, abort: bool) -> KafkaResult<TxnEnd> {
    producer.begin_transaction()?;
    for i in 0..TXN_RECORDS {
        let value = format!("{name}-{i}");
        let partition = i32::try_from(i).expect("fits") % TXN_PARTITIONS;
        let record = BaseRecord::<[u8], [u8]>::to(topic)
            .payload(value.as_bytes())
            .partition(partition);
        producer.send(record).map_err(|(e, _)| e)?;
        producer.poll(Duration::ZERO);
    }
    if abort {
        // A BaseProducer's delivery reports are served only when polled: flush does.
        producer.flush(Duration::from_secs(5))?;
        producer.abort_transaction(Duration::from_secs(5))?;
        Ok(TxnEnd::Aborted)
    } else {
        producer.commit_transaction(Duration::from_secs(5))?;
        Ok(TxnEnd::Committed)
    }
}

/// The values a `read_committed` consumer reads from offset 0: every one of `expected`,
/// then whatever else arrives in a quiet second.
fn read_committed_values(bootstrap: &str, topic: &str, expected: &[String]) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("group.id", "sluice-txn-crash")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("create the consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..TXN_PARTITIONS {
        assignment
            .add_partition_offset(topic, p, Offset::Offset(0))
            .expect("assign");
    }
    consumer.assign(&assignment).expect("assign the partitions");
    let mut values = Vec::new();
    let started = Instant::now();
    let mut quiet_since: Option<Instant> = None;
    loop {
        let have_all = expected.iter().all(|e| values.contains(e));
        if have_all {
            let since = *quiet_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(1) {
                return values;
            }
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "read_committed read {} values within {TIMEOUT:?}, not all {} committed ones",
            values.len(),
            expected.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let value = String::from_utf8_lossy(message.payload().unwrap_or_default());
                values.push(value.into_owned());
                quiet_since = None;
            }
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
}

/// A transactional producer commits and aborts transactions while the broker is killed
/// (SIGKILL) at a random moment, cycle after cycle — mid-transaction, or while EndTxn and
/// its markers are under way. After each restart a new producer instance with the same
/// transactional id initialises (fencing the old one and aborting what it left open) and
/// carries on. At the end a `read_committed` consumer sees every transaction whose commit
/// was acknowledged exactly once and whole, nothing of an acknowledged abort, and of a
/// transaction the kill interrupted either all its records or none.
#[test]
fn transactions_are_all_or_nothing_across_kill_dash_nine() {
    const CYCLES: usize = 4;
    let topic = "txn-crash-topic";
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let mut seed = kill_timing_seed();
    // Every transaction begun, with what its producer was told (None: the kill came first).
    let mut outcomes: Vec<(String, Option<TxnEnd>)> = Vec::new();
    for cycle in 0..=CYCLES {
        let mut broker = Sluice::start_cycle(dir.path(), &data, cycle);
        let bootstrap = broker.bootstrap();
        if cycle == 0 {
            create_topic(
                &bootstrap,
                topic,
                TXN_PARTITIONS,
                &[("segment.bytes", "16384")],
            );
        }
        if cycle == CYCLES {
            // The coordinator's state is whole: one more transaction commits.
            let producer = txn_producer(&bootstrap);
            let name = format!("c{cycle}-final");
            let end = run_txn(&producer, topic, &name, false).expect("a last commit");
            outcomes.push((name, Some(end)));
            check_transactions(&bootstrap, topic, &outcomes);
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        // Initialised before the kill timer starts: the kill is to cut transactions.
        let producer = txn_producer(&bootstrap);
        let producing = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut ended = Vec::new();
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let name = format!("c{cycle}-t{n}");
                    let result = run_txn(&producer, topic, &name, n % 4 == 3);
                    if let Err(e) = &result {
                        eprintln!("{name} cut: {e}");
                    }
                    let failed = result.is_err();
                    ended.push((name, result.ok()));
                    if failed {
                        break;
                    }
                }
                ended
            })
        };
        std::thread::sleep(Duration::from_millis(300 + jitter(&mut seed) % 700));
        let status = broker.kill9();
        stop.store(true, Ordering::Relaxed);
        let ended = producing.join().expect("the producer thread panicked");
        let committed = ended
            .iter()
            .filter(|(_, e)| *e == Some(TxnEnd::Committed))
            .count();
        eprintln!(
            "cycle {cycle}: SIGKILL ({status}) after {} transactions, {committed} committed",
            ended.len()
        );
        outcomes.extend(ended);
    }
}

fn check_transactions(bootstrap: &str, topic: &str, outcomes: &[(String, Option<TxnEnd>)]) {
    let committed: Vec<String> = outcomes
        .iter()
        .filter(|(_, end)| *end == Some(TxnEnd::Committed))
        .flat_map(|(name, _)| (0..TXN_RECORDS).map(move |i| format!("{name}-{i}")))
        .collect();
    assert!(
        committed.len() > TXN_RECORDS,
        "some transactions committed before the kills"
    );
    let values = read_committed_values(bootstrap, topic, &committed);
    let mut by_txn: HashMap<&str, Vec<&str>> = HashMap::new();
    for value in &values {
        let (name, _) = value.rsplit_once('-').expect("txn-index values");
        by_txn.entry(name).or_default().push(value);
    }
    for (name, end) in outcomes {
        let seen = by_txn.get(name.as_str()).map_or(0, Vec::len);
        match end {
            Some(TxnEnd::Committed) => assert_eq!(seen, TXN_RECORDS, "committed {name}"),
            Some(TxnEnd::Aborted) => assert_eq!(seen, 0, "aborted {name} is invisible"),
            None => assert!(
                seen == 0 || seen == TXN_RECORDS,
                "{name}, cut by the kill, is all or nothing: {seen} of {TXN_RECORDS}"
            ),
        }
    }
    let mut unique = values.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), values.len(), "every record once");
    eprintln!(
        "{} transactions, {} committed records read back",
        outcomes.len(),
        values.len()
    );
}

// ---------------------------------------------------------------------------------------
// Compaction and kill -9
// ---------------------------------------------------------------------------------------

/// What one keyed producer was told: for each acknowledged record, its key, value and offset.
#[derive(Default)]
struct KeyedAcks {
    acked: Mutex<Vec<(String, String, i64)>>,
}

struct KeyedAckContext(Arc<KeyedAcks>);

impl ClientContext for KeyedAckContext {}

impl ProducerContext for KeyedAckContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Ok(message) = result {
            let text =
                |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
            self.0
                .acked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((
                    text(message.key()),
                    text(message.payload()),
                    message.offset(),
                ));
        }
    }
}

/// Every record of partition 0 of a compacted `topic` up to its high watermark, by offset
/// (offsets have gaps once compacted).
fn read_compacted(bootstrap: &str, topic: &str) -> (i64, BTreeMap<i64, (String, String)>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("group.id", "sluice-compaction-tests")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "error")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("create the consumer");
    let (low, high) = consumer
        .fetch_watermarks(topic, 0, TIMEOUT)
        .unwrap_or_else(|e| panic!("watermarks of {topic}: {e}"));
    assert_eq!(low, 0, "compaction does not move the log start");
    let mut records = BTreeMap::new();
    if high == 0 {
        return (high, records);
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Offset(0))
        .expect("assign");
    consumer.assign(&assignment).expect("assign the partition");
    let started = Instant::now();
    let mut last = -1;
    // The active segment is never cleaned: the last offset below the watermark is there.
    while last < high - 1 {
        assert!(
            started.elapsed() < TIMEOUT,
            "read {topic} to {last} of {high} within {TIMEOUT:?}"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                assert!(message.offset() > last, "offsets go forward");
                last = message.offset();
                let text =
                    |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
                records.insert(last, (text(message.key()), text(message.payload())));
            }
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
    (high, records)
}

/// Kill -9 while the cleaner runs flat out (tiny segments, a dirty ratio of 1%, a backoff of
/// 20 ms) under a stream of updates to 40 keys, again and again; after every restart each
/// key's latest acknowledged value is where it was acknowledged — or the key has a later
/// record (one sent but not acknowledged before the kill).
///
/// The latest acknowledged value of a key is the one acknowledged at the highest offset, not
/// the last acknowledgement to arrive: delivery reports of one batch and retries after a
/// timeout need not arrive in offset order, and taking the last one to arrive is a
/// bookkeeping race that reports a loss where there is none.
#[test]
fn compaction_keeps_every_keys_latest_value_through_kill_dash_nine() {
    const CYCLES: usize = 10;
    const KEYS: usize = 40;
    let topic = "compacted-crash";
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let config = dir.path().join("sluice.toml");
    std::fs::write(&config, "log_cleaner_backoff_ms = 20\n").expect("write the config");
    let mut seed = kill_timing_seed();
    // Per key: the acknowledged (offset, value) with the highest offset.
    let mut latest: BTreeMap<String, (i64, String)> = BTreeMap::new();
    let mut acknowledged = 0usize;
    let mut swaps_finished = 0;
    // Acknowledgements that arrived after one of the same key at a higher offset.
    let mut out_of_order = 0usize;
    for cycle in 0..=CYCLES {
        let mut broker = Sluice::start(&Start {
            data_dir: &data,
            log: dir.path().join(format!("broker-{cycle}.log")),
            rust_log: "sluice=info",
            args: &["--config", config.to_str().expect("a UTF-8 path")],
        });
        let bootstrap = broker.bootstrap();
        if cycle == 0 {
            create_topic(
                &bootstrap,
                topic,
                1,
                &[
                    ("cleanup.policy", "compact"),
                    ("segment.bytes", "16384"),
                    ("min.cleanable.dirty.ratio", "0.01"),
                ],
            );
        }
        let (high, held) = read_compacted(&bootstrap, topic);
        // Read now: the partition was opened (and any swap finished) by the read.
        swaps_finished += broker
            .log_text()
            .matches("completing a cleaned segment's swap")
            .count();
        for (key, (offset, value)) in &latest {
            match held.get(offset) {
                Some((k, v)) if k == key && v == value => {}
                found => {
                    let later = held.range(offset + 1..).find(|(_, (k, _))| k == key);
                    assert!(
                        later.is_some(),
                        "after kill {cycle}: {key}'s latest acknowledged value {value:?} at \
                         {offset} is gone (found {found:?}) and no later record of {key} is held"
                    );
                }
            }
        }
        eprintln!(
            "restart {cycle}: {} records held below {high} for {} acknowledged; every key's latest present",
            held.len(),
            acknowledged
        );
        if cycle == CYCLES {
            assert!(
                (held.len() as i64) < high / 2,
                "compaction removed records: {} held of {high}",
                held.len()
            );
            // The cleaner's metrics move: a pass over what the last cycle left dirty.
            let started = Instant::now();
            loop {
                let metrics = scrape(broker.http);
                let passes = sample(&metrics, "sluice_log_cleaner_passes_total", &[]);
                let read = sample(&metrics, "sluice_log_cleaner_read_bytes_total", &[]);
                if passes.is_some_and(|p| p >= 1.0) {
                    assert!(read.is_some_and(|r| r > 0.0), "bytes read: {read:?}");
                    assert!(sample(&metrics, "sluice_log_cleaner_max_dirty_ratio", &[]).is_some());
                    break;
                }
                assert!(
                    started.elapsed() < TIMEOUT,
                    "no cleaner pass within {TIMEOUT:?}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            break;
        }
        let acks = Arc::new(KeyedAcks::default());
        let producer: BaseProducer<KeyedAckContext> = producer_config(&bootstrap)
            .create_with_context(KeyedAckContext(acks.clone()))
            .expect("create the producer");
        let run_for = Duration::from_millis(300 + jitter(&mut seed) % 700);
        let started = Instant::now();
        let mut sent = 0usize;
        while started.elapsed() < run_for {
            let key = format!("key-{:02}", sent % KEYS);
            let value = format!("c{cycle}-{sent:07}-{}", "v".repeat(100 + sent % 50));
            let record = BaseRecord::to(topic)
                .key(key.as_bytes())
                .payload(value.as_bytes())
                .partition(0);
            match producer.send(record) {
                Ok(()) => sent += 1,
                Err(_) => {
                    producer.poll(Duration::from_millis(5));
                }
            }
            producer.poll(Duration::ZERO);
        }
        let status = broker.kill9();
        drop(producer);
        let acked = std::mem::take(&mut *acks.acked.lock().unwrap_or_else(|p| p.into_inner()));
        eprintln!(
            "cycle {cycle}: SIGKILL after {run_for:?} ({status}); sent {sent}, acknowledged {}",
            acked.len()
        );
        acknowledged += acked.len();
        for (key, value, offset) in acked {
            let entry = latest.entry(key).or_insert((-1, String::new()));
            if offset > entry.0 {
                *entry = (offset, value);
            } else {
                out_of_order += 1;
            }
        }
    }
    eprintln!(
        "restarts that finished an interrupted swap: {swaps_finished}; acknowledgements \
         arriving after a later offset of their key: {out_of_order}"
    );
}
