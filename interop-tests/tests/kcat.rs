//! kcat (Debian's, with its own librdkafka) against the broker: listing, producing lines
//! (plain, and snappy-compressed with keys), and consuming them back exactly.
//!
//! kcat must be on PATH: CI installs it, so a missing kcat fails these tests.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use sluice::record::batch::BatchHeader;
use sluice_interop_tests::{create_topic, stored_batches, unique_topic, TestBroker};

/// How long one kcat run may take before it is killed and the test fails.
const KCAT_TIMEOUT: Duration = Duration::from_secs(30);

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `kcat args`, feeding `stdin`, killing it after [`KCAT_TIMEOUT`].
fn kcat(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new("kcat")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run kcat ({e}): these tests need the `kcat` binary on PATH \
                 (Debian/Ubuntu: apt-get install kcat); CI installs it"
            )
        });
    let writer = stdin.map(|input| {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let input = input.to_string();
        // Dropping the pipe at the end closes kcat's stdin: the end of input.
        thread::spawn(move || pipe.write_all(input.as_bytes()))
    });
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut out = String::new();
            pipe.read_to_string(&mut out).map(|_| out)
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout is piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr is piped")));

    let deadline = Instant::now() + KCAT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for kcat") {
            break status;
        }
        if Instant::now() >= deadline {
            child.kill().expect("kill kcat");
            child.wait().expect("reap kcat");
            let stderr = stderr.join().expect("stderr reader").unwrap_or_default();
            panic!("kcat {args:?} ran longer than {KCAT_TIMEOUT:?}; stderr:\n{stderr}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    if let Some(writer) = writer {
        writer
            .join()
            .expect("stdin writer")
            .expect("write kcat's stdin");
    }
    Run {
        status,
        stdout: stdout.join().expect("stdout reader").expect("read stdout"),
        stderr: stderr.join().expect("stderr reader").expect("read stderr"),
    }
}

/// Runs kcat and fails the test unless it exits successfully.
fn kcat_ok(args: &[&str], stdin: Option<&str>) -> String {
    let run = kcat(args, stdin);
    assert!(
        run.status.success(),
        "kcat {args:?} failed ({}); stderr:\n{}",
        run.status,
        run.stderr
    );
    run.stdout
}

/// Consumes all of `topic` from the beginning, one `key:value` line per record.
fn consume_lines(bootstrap: &str, topic: &str) -> String {
    kcat_ok(
        &[
            "-b",
            bootstrap,
            "-C",
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-f",
            "%k:%s\n",
        ],
        None,
    )
}

#[test]
fn kcat_lists_the_broker_and_its_topics() {
    let broker = TestBroker::start();
    let topic = unique_topic("listed");
    create_topic(broker.bootstrap(), &topic, 2, &[]).expect("create topic");

    let listing = kcat_ok(&["-b", broker.bootstrap(), "-L"], None);
    let lines: Vec<&str> = listing.lines().map(str::trim).collect();
    let addr = broker.addr();
    assert!(lines.contains(&"1 brokers:"), "{listing}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("broker 0 at {}:{}", addr.ip(), addr.port()))),
        "{listing}"
    );
    assert!(
        lines.contains(&format!("topic \"{topic}\" with 2 partitions:").as_str()),
        "{listing}"
    );
    for partition in 0..2 {
        assert!(
            lines.contains(
                &format!("partition {partition}, leader 0, replicas: 0, isrs: 0").as_str()
            ),
            "{listing}"
        );
    }
}

#[test]
fn kcat_produces_lines_and_consumes_them_back() {
    let broker = TestBroker::start();
    let topic = unique_topic("kcat-lines");
    let input: String = (0..100).map(|i| format!("line {i} of 100\n")).collect();
    // The topic does not exist yet: kcat's producer has it auto-created.
    kcat_ok(
        &["-b", broker.bootstrap(), "-P", "-t", &topic],
        Some(&input),
    );

    let expected: String = (0..100).map(|i| format!(":line {i} of 100\n")).collect();
    assert_eq!(consume_lines(broker.bootstrap(), &topic), expected);
}

#[test]
fn kcat_produces_snappy_keyed_lines_and_consumes_them_back() {
    let broker = TestBroker::start();
    let topic = unique_topic("kcat-snappy");
    let input: String = (0..100)
        .map(|i| format!("key-{}:value {i} {}\n", i % 7, "abc".repeat(i % 10)))
        .collect();
    kcat_ok(
        &[
            "-b",
            broker.bootstrap(),
            "-P",
            "-t",
            &topic,
            "-z",
            "snappy",
            "-K:",
            // One batch of all the lines: librdkafka sends a batch uncompressed when snappy
            // does not make it smaller, as with the few lines a short linger gathers on a
            // loaded machine.
            "-X",
            "linger.ms=1000",
        ],
        Some(&input),
    );

    // kcat's librdkafka really sent snappy batches (attribute 2).
    let batches = stored_batches(&broker, &topic, 0);
    assert!(!batches.is_empty());
    for batch in &batches {
        assert_eq!(BatchHeader::parse(batch).expect("parse").compression(), 2);
    }
    assert_eq!(consume_lines(broker.bootstrap(), &topic), input);
}

/// kcat reads a compacted topic as the cleaner left it: three runs of kcat's producer (lz4,
/// keyed) make three batches; the second supersedes ten of the first's fifteen keys, whose
/// batch is rebuilt (still lz4) with the other five at their offsets; the last (which stands
/// for the active segment) is never cleaned; kcat's consumer reads the survivors at their
/// original offsets, past the gap.
#[test]
fn kcat_reads_a_compacted_topic_at_its_original_offsets() {
    for memory in [true, false] {
        let data = tempfile::tempdir().expect("a data directory");
        let mut config = sluice::Config::for_tests();
        config.memory = memory;
        config.data_dir = data.path().to_path_buf();
        config.log_cleaner_backoff_ms = 20;
        let broker = TestBroker::start_with(config);
        let topic = unique_topic("kcat-compacted");
        create_topic(
            broker.bootstrap(),
            &topic,
            1,
            &[
                ("cleanup.policy", "compact"),
                ("segment.bytes", "100"),
                ("min.cleanable.dirty.ratio", "0.01"),
            ],
        )
        .expect("create topic");
        let round = |tag: &str, keys: usize| -> String {
            (0..keys).map(|i| format!("key-{i}:{tag}-{i}\n")).collect()
        };
        let produce = |input: &str| {
            kcat_ok(
                &[
                    "-b",
                    broker.bootstrap(),
                    "-P",
                    "-t",
                    &topic,
                    "-z",
                    "lz4",
                    "-K:",
                ],
                Some(input),
            );
        };
        produce(&round("first", 15));
        produce(&round("second", 10));
        produce(&round("third", 1));
        let expected: String = (10..15)
            .map(|i| format!("{i} key-{i}:first-{i}\n"))
            .chain((0..10).map(|i| format!("{} key-{i}:second-{i}\n", 15 + i)))
            .chain(["25 key-0:third-0\n".to_string()])
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        let read = loop {
            let read = kcat_ok(
                &[
                    "-b",
                    broker.bootstrap(),
                    "-C",
                    "-t",
                    &topic,
                    "-o",
                    "beginning",
                    "-e",
                    "-f",
                    "%o %k:%s\n",
                ],
                None,
            );
            if read == expected || Instant::now() > deadline {
                break read;
            }
            thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(read, expected, "memory: {memory}");
        // The rebuilt batch keeps its offsets (0 to 14, records 10 to 14 left) and is still
        // lz4, as kcat sent it.
        let batches = stored_batches(&broker, &topic, 0);
        let rebuilt = BatchHeader::parse(&batches[0]).expect("parse");
        assert_eq!(
            (
                rebuilt.base_offset(),
                rebuilt.last_offset(),
                rebuilt.record_count()
            ),
            (0, 14, 5)
        );
        assert_eq!(rebuilt.compression(), 3);
    }
}
