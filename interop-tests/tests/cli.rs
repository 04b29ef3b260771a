//! The `sluice` command line against a `sluice serve` process, both the real binary, with
//! kcat and rdkafka as the independent readers and writers:
//!
//! - `produce` with keys and headers is read back exactly by kcat, and kcat's records by
//!   `consume -f`;
//! - `topic create/list/describe/alter-config/add-partitions/delete`, checked through
//!   rdkafka's Metadata and admin client;
//! - a `consume -g` member and an rdkafka member split a topic's partitions; `group
//!   describe` shows exact lag; `group seek` moves an inactive group (an rdkafka consumer
//!   resumes there) and is refused while the group has members;
//! - `wait --topic --count` and `wait --group --caught-up`: exit codes and timeouts;
//! - `dump` then `seed` into a fresh broker round-trips every field;
//! - `health` exit codes; `fault` and `reset` send the admin API's requests (checked by a
//!   small HTTP server in the test: the admin endpoints are another module's).
//!
//! kcat must be on PATH: CI installs it, so a missing kcat fails the tests that use it.
//! Every child is killed when its guard drops; every wait is bounded.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminOptions, ConfigResource, ResourceSpecifier};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::Producer;
use rdkafka::{ClientConfig, Offset};
use sluice_interop_tests::{
    assert_all_delivered, consumer_config, producer_config, unique_topic, Admin, Record,
    TestProducer,
};

/// The longest any one wait may take; a healthy run needs a small fraction of it.
const TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// The binary (found and built as tests/process.rs does)
// ---------------------------------------------------------------------------------------

/// `target/<profile>/sluice`, built first when it is missing or older than the sources.
fn bin() -> &'static Path {
    sluice_interop_tests::sluice_binary!()
}

/// A command with no `SLUICE_*` or `RUST_LOG` of the caller's environment.
fn clean(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|n| n.starts_with("SLUICE_") || n == "RUST_LOG")
        {
            command.env_remove(&name);
        }
    }
    command
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

// ---------------------------------------------------------------------------------------
// The broker, and runs of the command line
// ---------------------------------------------------------------------------------------

/// A `sluice serve --memory` child, killed on drop.
struct Broker {
    child: Child,
    kafka: SocketAddr,
    http: SocketAddr,
}

impl Broker {
    fn start() -> Broker {
        for _attempt in 0..3 {
            let kafka = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let child = clean(&mut Command::new(bin()))
                .args(["serve", "--memory"])
                .args(["--listen", &kafka.to_string(), "--http", &http.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn sluice serve");
            let mut broker = Broker { child, kafka, http };
            let deadline = Instant::now() + TIMEOUT;
            loop {
                if broker.child.try_wait().expect("query the broker").is_some() {
                    break; // a port was taken: try others
                }
                if TcpStream::connect(kafka).is_ok() && TcpStream::connect(http).is_ok() {
                    return broker;
                }
                assert!(
                    Instant::now() < deadline,
                    "the broker did not listen in time"
                );
                thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("the broker did not start in three attempts");
    }

    fn bootstrap(&self) -> String {
        self.kafka.to_string()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Run {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
    took: Duration,
}

impl Run {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).to_string()
    }

    fn ok(self, what: &str) -> Run {
        assert!(
            self.status.success(),
            "{what}: {}\nstdout: {}\nstderr: {}",
            self.status,
            self.text(),
            self.stderr
        );
        self
    }
}

/// Runs `program args` to its end (killed after [`TIMEOUT`]), feeding `stdin`.
fn run(program: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let started = Instant::now();
    let mut child = clean(&mut Command::new(program))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let input = input.to_vec();
        thread::spawn(move || pipe.write_all(&input));
    }
    let mut out_pipe = child.stdout.take().expect("stdout is piped");
    let mut err_pipe = child.stderr.take().expect("stderr is piped");
    let out = thread::spawn(move || {
        let mut out = Vec::new();
        out_pipe.read_to_end(&mut out).map(|_| out)
    });
    let err = thread::spawn(move || {
        let mut err = String::new();
        err_pipe.read_to_string(&mut err).map(|_| err)
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!(
                "{} {args:?} did not finish within {TIMEOUT:?}",
                program.display()
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    Run {
        status,
        stdout: out.join().expect("stdout reader").unwrap_or_default(),
        stderr: err.join().expect("stderr reader").unwrap_or_default(),
        took: started.elapsed(),
    }
}

/// `sluice args… -b BROKER`.
fn sluice(broker: &Broker, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let bootstrap = broker.bootstrap();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-b", &bootstrap]);
    run(bin(), &all, stdin)
}

fn kcat(args: &[&str], stdin: Option<&[u8]>) -> Run {
    run(Path::new("kcat"), args, stdin)
}

fn create(broker: &Broker, topic: &str, partitions: &str) {
    sluice(broker, &["topic", "create", topic, "-p", partitions], None).ok("topic create");
}

/// The exit code, or a failure naming the run.
fn code(run: &Run) -> i32 {
    run.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {}", run.stderr))
}

/// Lines of `sluice consume -g` running in the background.
struct Member {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Member {
    fn start(broker: &Broker, args: &[&str]) -> Member {
        let mut child = clean(&mut Command::new(bin()))
            .args(args)
            .args(["-b", &broker.bootstrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sluice consume");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (send, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Member { child, lines }
    }

    /// The next `n` lines, within [`TIMEOUT`].
    fn take(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + TIMEOUT;
        (0..n)
            .map(|i| {
                let left = deadline.saturating_duration_since(Instant::now());
                self.lines
                    .recv_timeout(left)
                    .unwrap_or_else(|_| panic!("line {} of {n} did not come", i + 1))
            })
            .collect()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Produces `count` records `v<i>` with key `k<i>` round-robin over `partitions` via
/// rdkafka, explicitly partitioned, so the test knows where each lands.
fn produce_spread(broker: &Broker, topic: &str, partitions: i32, count: i32, from: i32) {
    let records: Vec<Record> = (from..from + count)
        .map(|i| Record {
            key: Some(format!("k{i}").into_bytes()),
            value: Some(format!("v{i}").into_bytes()),
            partition: Some(i % partitions),
            ..Record::default()
        })
        .collect();
    let producer = TestProducer::new(&producer_config(&broker.bootstrap()));
    assert_all_delivered(&producer.send_all(topic, &records));
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[test]
fn produce_with_keys_and_headers_is_read_back_by_kcat() {
    let broker = Broker::start();
    let topic = unique_topic("cli-produce");
    create(&broker, &topic, "3");
    let input = "alpha:one\nbeta:two:with:colons\ngamma:\n:empty-key\nno-separator\n";
    let produced = sluice(
        &broker,
        &[
            "produce",
            &topic,
            "-k",
            ":",
            "-H",
            "source=cli",
            "-H",
            "empty=",
            // A repeated name keeps both values, in order, as Kafka's clients send them.
            "-H",
            "source=again",
        ],
        Some(input.as_bytes()),
    )
    .ok("produce");
    assert!(
        produced.stderr.contains("5 records written"),
        "{}",
        produced.stderr
    );

    let read = kcat(
        &[
            "-b",
            &broker.bootstrap(),
            "-C",
            "-t",
            &topic,
            "-e",
            "-q",
            "-f",
            "%k|%s|%h|%K\n",
        ],
        None,
    )
    .ok("kcat -C");
    let mut lines: Vec<String> = read.text().lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "alpha|one|source=cli,empty=,source=again|5",
            "beta|two:with:colons|source=cli,empty=,source=again|4",
            "gamma||source=cli,empty=,source=again|5",
            "|empty-key|source=cli,empty=,source=again|0",
            "|no-separator|source=cli,empty=,source=again|-1",
        ]
    );

    // Keys land where the Java client's murmur2 partitioner puts them.
    let placed = kcat(
        &[
            "-b",
            &broker.bootstrap(),
            "-C",
            "-t",
            &topic,
            "-e",
            "-q",
            "-f",
            "%k %p\n",
        ],
        None,
    )
    .ok("kcat partitions");
    let partition_of = |key: &str| {
        placed
            .text()
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")).map(str::to_string))
            .unwrap_or_else(|| panic!("{key} not read back"))
    };
    for key in ["alpha", "beta", "gamma"] {
        let expected = sluice::client::partitioner::partition_for_key(key.as_bytes(), 3);
        assert_eq!(
            partition_of(key),
            expected.to_string(),
            "partition of {key}"
        );
    }

    // -p writes to one partition.
    sluice(&broker, &["produce", &topic, "-p", "2"], Some(b"x\ny\n")).ok("produce -p");
    let p2 = kcat(
        &[
            "-b",
            &broker.bootstrap(),
            "-C",
            "-t",
            &topic,
            "-p",
            "2",
            "-e",
            "-q",
            "-f",
            "%s\n",
        ],
        None,
    )
    .ok("kcat -p 2");
    assert!(p2.text().ends_with("x\ny\n"), "{}", p2.text());
}

#[test]
fn kcat_records_are_read_back_by_consume_format() {
    let broker = Broker::start();
    let topic = unique_topic("cli-consume");
    create(&broker, &topic, "2");
    let input = "a;1\nb;2\nc;3\n";
    for partition in ["0", "1"] {
        kcat(
            &[
                "-b",
                &broker.bootstrap(),
                "-P",
                "-t",
                &topic,
                "-p",
                partition,
                "-K",
                ";",
                // A repeated header name: the CLI's reader keeps both values, in order.
                "-H",
                "h=x",
                "-H",
                "h=y",
            ],
            Some(input.as_bytes()),
        )
        .ok("kcat -P");
    }
    let read = sluice(
        &broker,
        &["consume", &topic, "-f", "%k %s %o %p %h\\n"],
        None,
    )
    .ok("consume");
    let mut lines: Vec<String> = read.text().lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "a 1 0 0 h=x,h=y",
            "a 1 0 1 h=x,h=y",
            "b 2 1 0 h=x,h=y",
            "b 2 1 1 h=x,h=y",
            "c 3 2 0 h=x,h=y",
            "c 3 2 1 h=x,h=y"
        ]
    );

    // -o -1: the last record of each partition; -n 1: one record; -p and @timestamp.
    let last = sluice(
        &broker,
        &["consume", &topic, "-o", "-1", "-f", "%s%p,"],
        None,
    )
    .ok("-o -1");
    assert_eq!(last.text(), "30,31,");
    let one = sluice(
        &broker,
        &["consume", &topic, "-p", "1", "-o", "1", "-n", "1"],
        None,
    )
    .ok("-o 1 -n 1");
    assert_eq!(one.text(), "2\n");
    let future = sluice(
        &broker,
        &["consume", &topic, "-o", "@99999999999999", "-f", "%s\\n"],
        None,
    )
    .ok("-o @future");
    assert_eq!(future.text(), "");

    // --json: one object per record.
    let json = sluice(
        &broker,
        &["consume", &topic, "-p", "0", "-n", "1", "--json"],
        None,
    )
    .ok("--json");
    let record: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(record["key"], "a");
    assert_eq!(record["value"], "1");
    assert_eq!(record["offset"], 0);
    assert_eq!(record["partition"], 0);
    assert_eq!(record["topic"], topic.as_str());

    // An unknown topic fails with Kafka's error name.
    let missing = sluice(&broker, &["consume", "no-such-topic"], None);
    assert_eq!(code(&missing), 1);
    assert!(
        missing.stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{}",
        missing.stderr
    );
}

#[test]
fn topic_commands_round_trip_through_rdkafka() {
    let broker = Broker::start();
    let topic = unique_topic("cli-topic");
    sluice(
        &broker,
        &[
            "topic",
            "create",
            &topic,
            "-p",
            "2",
            "-c",
            "retention.ms=123456",
            "-c",
            "cleanup.policy=compact",
        ],
        None,
    )
    .ok("create");
    let again = sluice(&broker, &["topic", "create", &topic], None);
    assert_eq!(code(&again), 1);
    assert!(
        again.stderr.contains("TOPIC_ALREADY_EXISTS"),
        "{}",
        again.stderr
    );

    let consumer: BaseConsumer = consumer_config(&broker.bootstrap())
        .create()
        .expect("a consumer");
    let partitions = |consumer: &BaseConsumer| {
        let metadata = consumer
            .fetch_metadata(Some(&topic), TIMEOUT)
            .expect("Metadata");
        metadata.topics()[0].partitions().len()
    };
    assert_eq!(partitions(&consumer), 2);

    let listed = sluice(&broker, &["topic", "list", "--json"], None).ok("list");
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    let entry = listed
        .as_array()
        .expect("an array")
        .iter()
        .find(|t| t["name"] == topic.as_str())
        .expect("the topic is listed");
    assert_eq!(entry["partitions"], 2);

    sluice(
        &broker,
        &[
            "topic",
            "alter-config",
            &topic,
            "-c",
            "retention.ms=999",
            "--delete",
            "cleanup.policy",
        ],
        None,
    )
    .ok("alter-config");
    let admin = Admin::new(&broker.bootstrap());
    let configs = admin
        .wait(admin.client.describe_configs(
            &[ResourceSpecifier::Topic(&topic)],
            &AdminOptions::new().request_timeout(Some(TIMEOUT)),
        ))
        .expect("DescribeConfigs");
    let resource: &ConfigResource = configs[0].as_ref().expect("the topic's configs");
    let value = |name: &str| resource.get(name).and_then(|e| e.value.clone());
    assert_eq!(value("retention.ms").as_deref(), Some("999"));
    assert_eq!(value("cleanup.policy").as_deref(), Some("delete"));

    produce_spread(&broker, &topic, 2, 5, 0);
    let described = sluice(&broker, &["topic", "describe", &topic, "--json"], None).ok("describe");
    let described: serde_json::Value = serde_json::from_slice(&described.stdout).expect("JSON");
    let ends: Vec<(i64, i64)> = described["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| {
            (
                p["start_offset"].as_i64().unwrap(),
                p["end_offset"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ends, vec![(0, 3), (0, 2)]);
    assert_eq!(described["configs"]["retention.ms"], "999");
    assert!(
        described["configs"].get("cleanup.policy").is_none(),
        "{described}"
    );

    sluice(
        &broker,
        &["topic", "add-partitions", &topic, "-p", "5"],
        None,
    )
    .ok("add-partitions");
    assert_eq!(partitions(&consumer), 5);
    let shrink = sluice(
        &broker,
        &["topic", "add-partitions", &topic, "-p", "3"],
        None,
    );
    assert_eq!(code(&shrink), 1);
    assert!(
        shrink.stderr.contains("INVALID_PARTITIONS"),
        "{}",
        shrink.stderr
    );

    sluice(&broker, &["topic", "delete", &topic], None).ok("delete");
    let metadata = consumer
        .fetch_metadata(Some(&topic), TIMEOUT)
        .expect("Metadata");
    assert!(
        metadata.topics()[0].error().is_some(),
        "the deleted topic is unknown to Metadata"
    );
}

/// An rdkafka consumer subscribed to `topic` in `group`.
fn rdkafka_member(broker: &Broker, group: &str, topic: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("broker.address.family", "v4")
        .set("group.id", group)
        .set("partition.assignment.strategy", "range")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "100")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("an rdkafka group consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

#[test]
fn a_cli_member_and_an_rdkafka_member_split_a_topic() {
    let broker = Broker::start();
    let topic = unique_topic("cli-group");
    let group = unique_topic("cli-group-g");
    create(&broker, &topic, "4");
    let member = Member::start(
        &broker,
        &[
            "consume", &topic, "-g", &group, "--follow", "-f", "%p %s\\n",
        ],
    );
    produce_spread(&broker, &topic, 4, 4, 0);
    // Alone, the CLI member owns all four partitions.
    let mut first = member.take(4);
    first.sort();
    assert_eq!(first, ["0 v0", "1 v1", "2 v2", "3 v3"]);

    let rdkafka = rdkafka_member(&broker, &group, &topic);
    let deadline = Instant::now() + TIMEOUT;
    let mut mine: Vec<i32> = Vec::new();
    while mine.len() != 2 {
        assert!(
            Instant::now() < deadline,
            "rdkafka got no two partitions: {mine:?}"
        );
        if let Some(Err(e)) = rdkafka.poll(Duration::from_millis(100)) {
            panic!("rdkafka consumer error: {e}");
        }
        mine = rdkafka
            .assignment()
            .expect("assignment")
            .elements()
            .iter()
            .map(|e| e.partition())
            .collect();
    }
    mine.sort();
    // Wait until the group is stable with both members before producing more.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let described = sluice(&broker, &["group", "describe", &group, "--json"], None);
        let described: serde_json::Value =
            serde_json::from_slice(&described.stdout).unwrap_or_default();
        if described["state"] == "Stable"
            && described["members"].as_array().map(Vec::len) == Some(2)
        {
            let mut assigned: Vec<i64> = described["members"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|m| {
                    m["assignment"][&topic]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|p| p.as_i64())
                .collect();
            assigned.sort();
            assert_eq!(assigned, [0, 1, 2, 3], "{described}");
            let mut clients: Vec<String> = described["members"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| m["client_id"].as_str().unwrap_or_default().to_string())
                .collect();
            clients.sort();
            assert_eq!(clients, ["rdkafka", "sluice-cli"], "{described}");
            assert!(
                described["members"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .all(|m| m["client_host"]
                        .as_str()
                        .is_some_and(|h| h.contains("127.0.0.1"))),
                "{described}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the group did not settle: {described}"
        );
        let _ = rdkafka.poll(Duration::from_millis(100));
    }

    produce_spread(&broker, &topic, 4, 8, 4);
    let mut theirs: Vec<String> = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while theirs.len() < 4 {
        assert!(Instant::now() < deadline, "rdkafka read {theirs:?}");
        if let Some(message) = rdkafka.poll(Duration::from_millis(100)) {
            let message = message.expect("a record");
            let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).to_string();
            let index: i32 = value[1..].parse().expect("v<i>");
            if index >= 4 {
                theirs.push(format!("{} {value}", message.partition()));
            }
        }
    }
    let cli: Vec<String> = member.take(4);
    for line in &cli {
        let partition: i32 = line[..1].parse().expect("a partition");
        assert!(
            !mine.contains(&partition),
            "the CLI read {line}, rdkafka owns {mine:?}"
        );
    }
    for line in &theirs {
        let partition: i32 = line[..1].parse().expect("a partition");
        assert!(
            mine.contains(&partition),
            "rdkafka read {line} outside {mine:?}"
        );
    }
}

#[test]
fn group_describe_shows_exact_lag_and_seek_moves_an_inactive_group() {
    let broker = Broker::start();
    let topic = unique_topic("cli-lag");
    let group = unique_topic("cli-lag-g");
    create(&broker, &topic, "2");
    produce_spread(&broker, &topic, 2, 10, 0); // 5 records per partition
    sluice(
        &broker,
        &["consume", &topic, "-g", &group, "-n", "3", "-f", "%p %o\\n"],
        None,
    )
    .ok("consume -g -n 3");
    let described = sluice(&broker, &["group", "describe", &group, "--json"], None).ok("describe");
    let described: serde_json::Value = serde_json::from_slice(&described.stdout).expect("JSON");
    assert_eq!(described["state"], "Empty");
    let offsets: BTreeMap<i64, (i64, i64, i64)> = described["offsets"]
        .as_array()
        .expect("offsets")
        .iter()
        .map(|o| {
            (
                o["partition"].as_i64().unwrap(),
                (
                    o["committed"].as_i64().unwrap_or(-1),
                    o["end"].as_i64().unwrap(),
                    o["lag"].as_i64().unwrap_or(-1),
                ),
            )
        })
        .collect();
    let committed: i64 = offsets.values().map(|(c, _, _)| *c).sum();
    let lag: i64 = offsets.values().map(|(_, _, l)| *l).sum();
    assert_eq!(committed, 3, "{described}");
    assert_eq!(lag, 7, "{described}");
    for (c, end, l) in offsets.values() {
        assert_eq!(*end, 5);
        assert_eq!(*l, end - c);
    }
    // Reading on from the commits prints exactly the other seven.
    let rest = sluice(
        &broker,
        &["consume", &topic, "-g", &group, "-f", "%p %o\\n"],
        None,
    )
    .ok("consume -g rest");
    assert_eq!(rest.text().lines().count(), 7, "{}", rest.text());
    sluice(
        &broker,
        &["wait", "--group", &group, "--caught-up", "--timeout", "5s"],
        None,
    )
    .ok("wait --caught-up");

    // Seek to offset 2: an rdkafka member of the group resumes there.
    sluice(
        &broker,
        &["group", "seek", &group, "--to", "2", "--topic", &topic],
        None,
    )
    .ok("seek");
    let behind = sluice(
        &broker,
        &[
            "wait",
            "--group",
            &group,
            "--caught-up",
            "--timeout",
            "300ms",
        ],
        None,
    );
    assert_eq!(code(&behind), 1, "{}", behind.stderr);
    assert!(behind.stderr.contains("lag 6"), "{}", behind.stderr);

    let rdkafka = rdkafka_member(&broker, &group, &topic);
    let mut seen: Vec<(i32, i64)> = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while seen.len() < 6 {
        assert!(Instant::now() < deadline, "rdkafka read {seen:?}");
        if let Some(message) = rdkafka.poll(Duration::from_millis(100)) {
            let message = message.expect("a record");
            seen.push((message.partition(), message.offset()));
        }
    }
    seen.sort();
    assert_eq!(seen, [(0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4)]);

    // With a member in the group, seek is refused as kafka-consumer-groups refuses it.
    let refused = sluice(&broker, &["group", "seek", &group, "--to", "start"], None);
    assert_eq!(code(&refused), 1);
    assert!(
        refused.stderr.contains(&format!(
            "Assignments can only be reset if the group '{group}' is inactive"
        )),
        "{}",
        refused.stderr
    );
    drop(rdkafka);

    let listed = sluice(&broker, &["group", "list"], None).ok("group list");
    assert!(listed.text().contains(&group), "{}", listed.text());
}

#[test]
fn wait_for_a_count_reaches_it_or_times_out() {
    let broker = Broker::start();
    let topic = unique_topic("cli-wait");
    create(&broker, &topic, "3");
    let timed_out = sluice(
        &broker,
        &[
            "wait",
            "--topic",
            &topic,
            "--count",
            "5",
            "--timeout",
            "700ms",
        ],
        None,
    );
    assert_eq!(code(&timed_out), 1, "{}", timed_out.stderr);
    assert!(
        timed_out.stderr.contains("holds 0 of 5"),
        "{}",
        timed_out.stderr
    );
    assert!(
        timed_out.took >= Duration::from_millis(700) && timed_out.took < Duration::from_secs(10),
        "the timeout was {:?}",
        timed_out.took
    );

    let bootstrap = broker.bootstrap();
    let waiter = {
        let topic = topic.clone();
        thread::spawn(move || {
            run(
                bin(),
                &[
                    "wait",
                    "--topic",
                    &topic,
                    "--count",
                    "5",
                    "--timeout",
                    "20s",
                    "-b",
                    &bootstrap,
                ],
                None,
            )
        })
    };
    thread::sleep(Duration::from_millis(300));
    produce_spread(&broker, &topic, 3, 5, 0);
    let reached = waiter.join().expect("the waiter");
    assert_eq!(code(&reached), 0, "{}", reached.stderr);
    assert!(
        reached.text().contains("holds 5 of 5"),
        "{}",
        reached.text()
    );

    // Nothing listening: a connection error, exit 2.
    let port = free_port();
    let nowhere = run(
        bin(),
        &[
            "wait",
            "--topic",
            &topic,
            "--count",
            "1",
            "-b",
            &format!("127.0.0.1:{port}"),
        ],
        None,
    );
    assert_eq!(code(&nowhere), 2, "{}", nowhere.stderr);
}

#[test]
fn dump_then_seed_round_trips_every_field() {
    let source = Broker::start();
    let topic = unique_topic("cli-dump");
    create(&source, &topic, "6");
    // Binary keys and values, null keys, tombstones, empty and null header values, explicit
    // timestamps, every partition.
    // Recent timestamps: older ones would be past the topic's retention.
    let base = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after the epoch")
            .as_millis(),
    )
    .expect("ms fit an i64")
        - 60_000;
    let mut records = Vec::new();
    let mut expected = Vec::new();
    for i in 0..60u8 {
        let key: Option<Vec<u8>> = match i % 3 {
            0 => None,
            1 => Some(vec![0xff, i, 0x00, 0x80]),
            _ => Some(format!("key-{i}").into_bytes()),
        };
        let value: Option<Vec<u8>> = match i % 4 {
            0 => None,
            1 => Some(vec![0xc3, 0x28, i]),
            2 => Some(Vec::new()),
            _ => Some(format!("value {i} \u{2713}").into_bytes()),
        };
        let partition = i32::from(i % 6);
        let timestamp = base + i64::from(i);
        records.push(Record {
            key: key.clone(),
            value: value.clone(),
            headers: vec![
                ("empty".to_string(), Some(Vec::new())),
                ("bin".to_string(), Some(vec![0xfe, i])),
                ("none".to_string(), None),
            ],
            timestamp: Some(timestamp),
            partition: Some(partition),
        });
        expected.push((partition, key, value, timestamp));
    }
    let producer = TestProducer::new(&producer_config(&source.bootstrap()));
    assert_all_delivered(&producer.send_all(&topic, &records));

    let dumped = sluice(&source, &["dump", &topic], None).ok("dump");
    assert_eq!(dumped.text().lines().count(), 60, "{}", dumped.stderr);
    assert!(
        dumped.stderr.contains("60 records dumped"),
        "{}",
        dumped.stderr
    );

    let target = Broker::start();
    let fresh = unique_topic("cli-seeded");
    create(&target, &fresh, "6");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("dump.jsonl");
    std::fs::write(&file, &dumped.stdout).expect("write the dump");
    sluice(
        &target,
        &[
            "seed",
            file.to_str().expect("UTF-8 path"),
            "--topic",
            &fresh,
        ],
        None,
    )
    .ok("seed");

    // Read back with rdkafka: every field as produced.
    let assignment: Vec<(i32, Offset)> = (0..6).map(|p| (p, Offset::Beginning)).collect();
    let consumer = sluice_interop_tests::assigned_consumer(
        &consumer_config(&target.bootstrap()),
        &fresh,
        &assignment,
    );
    let mut got = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while got.len() < 60 {
        assert!(Instant::now() < deadline, "read {} of 60", got.len());
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.expect("a record");
            let headers: Vec<(String, Option<Vec<u8>>)> = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                        .collect()
                })
                .unwrap_or_default();
            let i = message.timestamp().to_millis().expect("a timestamp") - base;
            let i = u8::try_from(i).expect("a timestamp of this test");
            assert_eq!(
                headers,
                vec![
                    ("empty".to_string(), Some(Vec::new())),
                    ("bin".to_string(), Some(vec![0xfe, i])),
                    ("none".to_string(), None),
                ]
            );
            got.push((
                message.partition(),
                message.key().map(<[u8]>::to_vec),
                message.payload().map(<[u8]>::to_vec),
                message.timestamp().to_millis().expect("a timestamp"),
            ));
        }
    }
    got.sort_by_key(|r| r.3);
    assert_eq!(got, expected);

    // And a second dump is the first one, but for the topic's name.
    let again = sluice(&target, &["dump", &fresh], None).ok("dump again");
    assert_eq!(again.text().replace(&fresh, &topic), dumped.text());
}

#[test]
fn health_exit_codes() {
    let broker = Broker::start();
    let http = broker.http.to_string();
    let ready = run(bin(), &["health", "--http", &http], None);
    assert_eq!(code(&ready), 0, "{}", ready.stderr);
    assert_eq!(ready.text(), "ready\n");
    let json = run(bin(), &["health", "--json", "--http", &http], None);
    assert_eq!(code(&json), 0, "{}", json.stderr);
    assert_eq!(json.text(), "{\"ready\":true,\"status\":200}\n");
    let nowhere = format!("127.0.0.1:{}", free_port());
    let down = run(bin(), &["health", "--http", &nowhere], None);
    assert_eq!(code(&down), 1, "{}", down.stderr);
    assert!(down.stderr.contains("not ready"), "{}", down.stderr);
    let down_json = run(bin(), &["health", "--json", "--http", &nowhere], None);
    assert_eq!(code(&down_json), 1, "{}", down_json.stderr);
    assert_eq!(down_json.text(), "{\"ready\":false,\"status\":null}\n");
}

/// One HTTP request as a tiny server saw it.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    method: String,
    path: String,
    body: String,
}

/// A server on an ephemeral port that answers each of `answers` in turn (status, body) and
/// reports the requests it saw.
fn http_server(answers: Vec<(u16, &'static str)>) -> (SocketAddr, thread::JoinHandle<Vec<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("its address");
    let handle = thread::spawn(move || {
        let mut seen = Vec::new();
        for (status, answer) in answers {
            let (stream, _) = listener.accept().expect("a connection");
            stream
                .set_read_timeout(Some(TIMEOUT))
                .expect("a read timeout");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request_line = String::new();
            reader
                .read_line(&mut request_line)
                .expect("the request line");
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("a header");
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().expect("a length");
                    }
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("the body");
            let mut parts = request_line.split_whitespace();
            seen.push(Seen {
                method: parts.next().unwrap_or_default().to_string(),
                path: parts.next().unwrap_or_default().to_string(),
                body: String::from_utf8(body).expect("a UTF-8 body"),
            });
            let mut stream = stream;
            write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            )
            .expect("answer");
        }
        seen
    });
    (addr, handle)
}

#[test]
fn fault_and_reset_send_the_admin_api_requests() {
    let (addr, server) = http_server(vec![
        (200, r#"{"id":7}"#),
        (
            200,
            r#"[{"id":7,"api":"Produce","action":"error","error":"NOT_LEADER_OR_FOLLOWER","topic":"t","count":2,"fired":1}]"#,
        ),
        (200, ""),
        (204, ""),
        (200, ""),
        (200, ""),
        (404, r#"{"error":"no fault 9"}"#),
    ]);
    let http = addr.to_string();
    let added = run(
        bin(),
        &[
            "fault",
            "add",
            "--api",
            "Produce",
            "--action",
            "error",
            "--error",
            "NOT_LEADER_OR_FOLLOWER",
            "--topic",
            "t",
            "--count",
            "2",
            "--http",
            &http,
        ],
        None,
    )
    .ok("fault add");
    assert_eq!(added.text(), "fault 7 added\n");
    let listed = run(bin(), &["fault", "list", "--http", &http], None).ok("fault list");
    assert!(
        listed.text().contains("NOT_LEADER_OR_FOLLOWER"),
        "{}",
        listed.text()
    );
    assert!(
        listed
            .text()
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("7 ")),
        "{}",
        listed.text()
    );
    run(bin(), &["fault", "clear", "7", "--http", &http], None).ok("fault clear 7");
    run(bin(), &["fault", "clear", "--http", &http], None).ok("fault clear");
    run(bin(), &["reset", "--http", &http], None).ok("reset");
    run(bin(), &["reset", "--topics", "a,b", "--http", &http], None).ok("reset --topics");
    let missing = run(bin(), &["fault", "clear", "9", "--http", &http], None);
    assert_eq!(code(&missing), 1);
    assert!(missing.stderr.contains("404"), "{}", missing.stderr);

    let seen = server.join().expect("the server");
    let body: serde_json::Value = serde_json::from_str(&seen[0].body).expect("a JSON body");
    assert_eq!(
        body,
        serde_json::json!({
            "api": "Produce", "action": "error", "error": "NOT_LEADER_OR_FOLLOWER",
            "topic": "t", "count": 2,
        })
    );
    let requests: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(
        requests,
        [
            ("POST", "/admin/faults"),
            ("GET", "/admin/faults"),
            ("DELETE", "/admin/faults/7"),
            ("DELETE", "/admin/faults"),
            ("POST", "/admin/reset"),
            ("POST", "/admin/reset?topics=a,b"),
            ("DELETE", "/admin/faults/9"),
        ]
    );
}

/// `fault` and `reset` against the real admin API: a Produce error rule added with the CLI
/// makes `sluice produce` fail with Kafka's error name while it lasts (and the broker counts
/// it in `fault list`), is cleared, and `reset` empties the topic.
#[test]
fn fault_and_reset_drive_a_real_broker() {
    let broker = Broker::start();
    let http = broker.http.to_string();
    create(&broker, "faulted", "1");
    let added = run(
        bin(),
        &[
            "fault",
            "add",
            "--api",
            "Produce",
            "--action",
            "error",
            "--error",
            "INVALID_REQUIRED_ACKS",
            "--topic",
            "faulted",
            "--http",
            &http,
        ],
        None,
    )
    .ok("fault add");
    let id: String = added
        .text()
        .trim()
        .strip_prefix("fault ")
        .and_then(|rest| rest.strip_suffix(" added"))
        .unwrap_or_else(|| panic!("fault add says {:?}", added.text()))
        .to_string();
    // Not retriable: the CLI's produce gives up at once, naming the error.
    let refused = sluice(&broker, &["produce", "faulted"], Some(b"refused\n"));
    assert_ne!(code(&refused), 0, "a faulted produce fails");
    assert!(
        refused.stderr.contains("INVALID_REQUIRED_ACKS"),
        "{}",
        refused.stderr
    );
    let listed = run(bin(), &["fault", "list", "--json", "--http", &http], None).ok("fault list");
    let rules: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON rules");
    assert_eq!(rules[0]["id"].to_string(), id);
    assert!(
        rules[0]["fired"].as_u64().is_some_and(|n| n >= 1),
        "{rules}"
    );

    run(bin(), &["fault", "clear", &id, "--http", &http], None).ok("fault clear");
    sluice(&broker, &["produce", "faulted"], Some(b"one\ntwo\n")).ok("produce");
    let read = sluice(&broker, &["consume", "faulted", "-f", "%o %s\n"], None).ok("consume");
    assert_eq!(read.text(), "0 one\n1 two\n");

    run(bin(), &["reset", "--http", &http], None).ok("reset");
    let after = sluice(&broker, &["consume", "faulted", "-f", "%o %s\n"], None).ok("consume");
    assert_eq!(after.text(), "", "reset emptied the topic");
}

#[test]
fn consume_reads_uncommitted_by_default_and_skips_aborted_records_when_committed() {
    let broker = Broker::start();
    let topic = unique_topic("cli-txn");
    create(&broker, &topic, "1");
    let mut config = producer_config(&broker.bootstrap());
    config
        .set("transactional.id", unique_topic("cli-txn-id"))
        .set("transaction.timeout.ms", "60000");
    let producer = TestProducer::new(&config);
    let txn = producer.inner();
    txn.init_transactions(TIMEOUT).expect("init_transactions");
    let batch = |prefix: &str, count: usize| -> Vec<Record> {
        (0..count)
            .map(|i| Record::value(format!("{prefix}-{i}")))
            .collect()
    };
    txn.begin_transaction().expect("begin");
    assert_all_delivered(&producer.send_all(&topic, &batch("committed", 2)));
    txn.commit_transaction(TIMEOUT).expect("commit");
    txn.begin_transaction().expect("begin");
    assert_all_delivered(&producer.send_all(&topic, &batch("aborted", 2)));
    txn.abort_transaction(TIMEOUT).expect("abort");
    txn.begin_transaction().expect("begin");
    assert_all_delivered(&producer.send_all(&topic, &batch("again", 1)));
    txn.commit_transaction(TIMEOUT).expect("commit");

    // Offsets: 0-1 committed, 2 marker, 3-4 aborted, 5 marker, 6 again, 7 marker.
    let committed = sluice(
        &broker,
        &[
            "consume",
            &topic,
            "--isolation",
            "committed",
            "-f",
            "%o %s\\n",
        ],
        None,
    )
    .ok("consume --isolation committed");
    assert_eq!(
        committed.text(),
        "0 committed-0\n1 committed-1\n6 again-0\n"
    );
    let uncommitted =
        sluice(&broker, &["consume", &topic, "-f", "%o %s\\n"], None).ok("consume (uncommitted)");
    assert_eq!(
        uncommitted.text(),
        "0 committed-0\n1 committed-1\n3 aborted-0\n4 aborted-1\n6 again-0\n"
    );
}

#[test]
fn json_input_timestamps_cluster_info_and_group_delete() {
    let broker = Broker::start();
    let topic = unique_topic("cli-json");
    create(&broker, &topic, "2");
    let base = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after the epoch")
            .as_millis(),
    )
    .expect("ms fit an i64")
        - 10_000;
    let input = format!(
        concat!(
            r#"{{"key":"a","value":"first","timestamp":{},"partition":1,"headers":{{"h":"1"}}}}"#,
            "\n",
            r#"{{"key":null,"value":null,"timestamp":{},"partition":1,"headers":[["x",null]]}}"#,
            "\n",
            r#"{{"value":"third","timestamp":{},"partition":1}}"#,
            "\n"
        ),
        base,
        base + 1000,
        base + 2000
    );
    let produced = sluice(
        &broker,
        &["produce", &topic, "--format", "json"],
        Some(input.as_bytes()),
    )
    .ok("produce --format json");
    assert!(
        produced.stderr.contains("3 records written"),
        "{}",
        produced.stderr
    );
    let from = format!("@{}", base + 500);
    let read = sluice(
        &broker,
        &["consume", &topic, "-o", &from, "-f", "%p %o %T [%k] %S %h|"],
        None,
    )
    .ok("consume -o @ts");
    assert_eq!(
        read.text(),
        format!("1 1 {} [] -1 x=|1 2 {} [] 5 |", base + 1000, base + 2000)
    );

    // A partition the topic lacks fails the produce, naming Kafka's error.
    let bad = sluice(&broker, &["produce", &topic, "-p", "7"], Some(b"x\n"));
    assert_eq!(code(&bad), 1);
    assert!(bad.stderr.contains("partition 7"), "{}", bad.stderr);
    let bad_json = sluice(
        &broker,
        &["produce", &topic, "--format", "json"],
        Some(b"{nope\n"),
    );
    assert_eq!(code(&bad_json), 1);
    assert!(bad_json.stderr.contains("line 1"), "{}", bad_json.stderr);

    let info =
        sluice(&broker, &["cluster", "info", "--versions", "--json"], None).ok("cluster info");
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("JSON");
    assert!(
        info["cluster_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{info}"
    );
    let broker0 = &info["brokers"][0];
    assert_eq!(
        format!(
            "{}:{}",
            broker0["host"].as_str().unwrap_or_default(),
            broker0["port"]
        ),
        broker.bootstrap()
    );
    assert_eq!(info["controller"], broker0["node_id"]);
    let produce = info["api_versions"]
        .as_array()
        .expect("api versions")
        .iter()
        .find(|a| a["name"] == "Produce")
        .expect("Produce is offered")
        .clone();
    assert_eq!(produce["api_key"], 0);
    assert_eq!(produce["min"], 0);

    let group = unique_topic("cli-json-g");
    sluice(
        &broker,
        &["consume", &topic, "-g", &group, "-f", "%o\\n"],
        None,
    )
    .ok("consume -g");
    assert!(sluice(&broker, &["group", "list"], None)
        .ok("list")
        .text()
        .contains(&group));
    sluice(&broker, &["group", "delete", &group], None).ok("group delete");
    assert!(!sluice(&broker, &["group", "list"], None)
        .ok("list")
        .text()
        .contains(&group));
    let gone = sluice(&broker, &["group", "delete", &group], None);
    assert_eq!(code(&gone), 1);
    assert!(
        gone.stderr.contains("GROUP_ID_NOT_FOUND"),
        "{}",
        gone.stderr
    );
}
