//! A full disk, for real: the broker's data directory on a small tmpfs that a ballast file
//! fills to the last byte. Produce must fail with `KAFKA_STORAGE_ERROR` (never kill the
//! process), reads must go on, and once space is freed appends succeed again; after a
//! restart the log holds exactly the acknowledged records.
//!
//! Mounting needs root (CI runs as root). Elsewhere the test says so and passes without
//! running, unless `CI` is set, where not being able to mount is a failure.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};
use sluice::Config;
use sluice_interop_tests::{
    assert_all_delivered, consume_all, consumer_config, create_topic, producer_config,
    unique_topic, Record, TestBroker, TestProducer, TIMEOUT,
};

/// Size of the filesystem: room for the broker's files and some log.
const FILESYSTEM_BYTES: u64 = 32 * 1024 * 1024;
/// Each record's value: one record per batch, each batch gets an index entry.
const VALUE_BYTES: usize = 6000;
/// Records offered once the disk is full: far more than the reserve ahead of the `.log`
/// and the free pages of the index files can take, so the disk is really full before the
/// end.
const OFFERED_WHEN_FULL: usize = 4000;

/// A tmpfs mounted at a fresh directory, unmounted on drop.
struct SmallFilesystem {
    path: PathBuf,
}

impl SmallFilesystem {
    fn mount() -> Option<SmallFilesystem> {
        let path = std::env::temp_dir().join(unique_topic("sluice-full-disk"));
        std::fs::create_dir_all(&path).expect("create the mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={FILESYSTEM_BYTES}"))
            .arg("tmpfs")
            .arg(&path)
            .status()
            .is_ok_and(|status| status.success());
        if mounted {
            Some(SmallFilesystem { path })
        } else {
            let _ = std::fs::remove_dir(&path);
            None
        }
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Writes a file until the filesystem has no byte left; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("ballast");
    let mut file = File::create(&path).expect("create the ballast");
    let chunk = vec![0xAAu8; 64 * 1024];
    let mut piece = chunk.len();
    loop {
        match file.write(&chunk[..piece]) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::StorageFull || e.raw_os_error() == Some(28) => {
                if piece == 1 {
                    break;
                }
                piece = (piece / 2).max(1);
            }
            Err(e) => panic!("fill the disk: {e}"),
        }
    }
    path
}

fn config(data_dir: &Path) -> Config {
    Config {
        memory: false,
        data_dir: data_dir.to_path_buf(),
        ..Config::for_tests()
    }
}

fn record(i: usize) -> Record {
    let mut value = format!("record-{i:06}-").into_bytes();
    value.resize(VALUE_BYTES, b'0' + (i % 10) as u8);
    Record::keyed(format!("k{i}"), value)
}

fn group_consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    let mut config = consumer_config(bootstrap);
    config.set("group.id", group);
    config.create().expect("create the consumer")
}

/// Commits `offset` for partition 0 of `topic` as `group`, synchronously.
fn commit(bootstrap: &str, group: &str, topic: &str, offset: i64) -> Result<(), KafkaError> {
    let consumer = group_consumer(bootstrap, group);
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, 0, Offset::Offset(offset))
        .expect("add the partition");
    consumer.commit(&offsets, CommitMode::Sync)
}

/// The offset `group` has committed for partition 0 of `topic`.
fn committed(bootstrap: &str, group: &str, topic: &str) -> i64 {
    let consumer = group_consumer(bootstrap, group);
    let mut partitions = TopicPartitionList::new();
    partitions.add_partition(topic, 0);
    let committed = consumer
        .committed_offsets(partitions, TIMEOUT)
        .expect("fetch the committed offset");
    match committed.elements()[0].offset() {
        Offset::Offset(offset) => offset,
        other => panic!("no committed offset: {other:?}"),
    }
}

#[test]
fn a_full_disk_refuses_appends_with_a_storage_error_and_recovers_when_space_is_freed() {
    let Some(filesystem) = SmallFilesystem::mount() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a tmpfs (run as root)"
        );
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root)");
        return;
    };
    let data_dir = filesystem.path.join("data");
    let topic = unique_topic("full");
    let mut acknowledged: Vec<Record> = Vec::new();

    let broker = TestBroker::start_with(config(&data_dir));
    create_topic(broker.bootstrap(), &topic, 1, &[]).expect("create the topic");
    let mut producer_settings = producer_config(broker.bootstrap());
    // One record per request, no retries: each failure is seen as the broker answered it.
    producer_settings
        .set("linger.ms", "0")
        .set("retries", "0")
        .set("enable.idempotence", "false")
        .set("max.in.flight.requests.per.connection", "1")
        .set("message.timeout.ms", "10000");
    let producer = TestProducer::new(&producer_settings);

    let before: Vec<Record> = (0..50).map(record).collect();
    assert_all_delivered(&producer.send_all(&topic, &before));
    acknowledged.extend(before);

    let group = unique_topic("full-group");
    commit(broker.bootstrap(), &group, &topic, 7).expect("a commit with room on the disk");

    let ballast = fill(&filesystem.path);
    // Commits go on while the group log's last page has room; the first that needs more is
    // refused, not acknowledged and lost.
    let mut last_committed = 7;
    let refused_commit =
        (8..5000).find_map(
            |offset| match commit(broker.bootstrap(), &group, &topic, offset) {
                Ok(()) => {
                    last_committed = offset;
                    None
                }
                Err(error) => Some(error),
            },
        );
    match refused_commit {
        Some(KafkaError::ConsumerCommit(code)) => {
            assert_eq!(code, RDKafkaErrorCode::CoordinatorNotAvailable)
        }
        other => panic!("a commit on a full disk must fail, got {other:?}"),
    }
    assert_eq!(
        committed(broker.bootstrap(), &group, &topic),
        last_committed
    );
    let mut refused = 0;
    for i in 50..50 + OFFERED_WHEN_FULL {
        let candidate = record(i);
        let report = producer.send_one(&topic, &candidate);
        match report.error_code() {
            None => {
                assert_eq!(report.offset, acknowledged.len() as i64);
                acknowledged.push(candidate);
            }
            Some(code) => {
                assert_eq!(code, RDKafkaErrorCode::KafkaStorageError, "record {i}");
                refused += 1;
                if refused == 20 {
                    break;
                }
            }
        }
    }
    assert_eq!(refused, 20, "a full disk must refuse appends");

    // Reads go on while the disk is full.
    let read = consume_all(broker.bootstrap(), &topic, 1, acknowledged.len());
    assert_eq!(read.len(), acknowledged.len());
    for (got, want) in read.iter().zip(&acknowledged) {
        assert_eq!(got.key, want.key);
        assert_eq!(got.value, want.value);
    }

    // Space comes back: appends succeed again, at the next offset.
    std::fs::remove_file(&ballast).expect("free the space");
    let after: Vec<Record> = (100_000..100_020).map(record).collect();
    let reports = producer.send_all(&topic, &after);
    assert_all_delivered(&reports);
    assert_eq!(reports[0].offset, acknowledged.len() as i64);
    acknowledged.extend(after);
    drop(producer);
    drop(broker);

    // After a restart: exactly what was acknowledged, nothing refused.
    let broker = TestBroker::start_with(config(&data_dir));
    assert_eq!(
        committed(broker.bootstrap(), &group, &topic),
        last_committed
    );
    let read = consume_all(broker.bootstrap(), &topic, 1, acknowledged.len());
    assert_eq!(read.len(), acknowledged.len());
    for (offset, (got, want)) in read.iter().zip(&acknowledged).enumerate() {
        assert_eq!(got.offset, offset as i64);
        assert_eq!(got.key, want.key);
        assert_eq!(got.value, want.value);
    }
    drop(broker);
    drop(filesystem);
}
