//! Topics: creation, deletion and restarts, in memory and on disk.

use super::*;
use bytes::Bytes;
use std::sync::atomic::AtomicBool;

fn new_topic(name: &str, partitions: i32) -> NewTopic {
    NewTopic {
        name: name.into(),
        partitions,
        configs: BTreeMap::new(),
    }
}

#[test]
fn names_follow_kafkas_rules() {
    for ok in ["a", "orders.v1", "a_b-c", &"x".repeat(249)] {
        assert!(validate_name(ok).is_ok(), "{ok}");
    }
    for bad in ["", ".", "..", "has space", "ü", &"x".repeat(250)] {
        assert!(validate_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn create_then_find_by_name_and_id() {
    let topics = Topics::new(TopicDefaults::default());
    let topic = topics.create(new_topic("t", 3)).unwrap();
    assert_eq!(topics.get("t").unwrap().id, topic.id);
    assert_eq!(topics.get_by_id(&topic.id).unwrap().partitions.len(), 3);
    assert!(matches!(
        topics.create(new_topic("t", 1)),
        Err(CreateError::AlreadyExists)
    ));
}

#[test]
fn configs_are_checked_by_key() {
    let topics = Topics::new(TopicDefaults::default());
    let mut bad = new_topic("t", 1);
    bad.configs.insert("retention.ms".into(), "soon".into());
    assert!(
        matches!(topics.validate(&bad), Err(CreateError::InvalidConfig(c)) if c.key == "retention.ms")
    );
    bad.configs.clear();
    bad.configs.insert("no.such.config".into(), "1".into());
    assert!(matches!(
        topics.validate(&bad),
        Err(CreateError::InvalidConfig(_))
    ));
    let mut good = new_topic("t", 1);
    good.configs
        .insert("message.timestamp.type".into(), "LogAppendTime".into());
    good.configs
        .insert("cleanup.policy".into(), "compact,delete".into());
    let config = topics.validate(&good).unwrap();
    assert!(config.log_append_time());
    assert_eq!(config.max_message_bytes(), 1_048_588);
}

#[test]
fn topics_on_disk_come_back_with_their_ids_configs_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
        let mut new = new_topic("kept", 2);
        new.configs.insert("retention.ms".into(), "1000".into());
        let topic = topics.create(new).unwrap();
        let batch = crate::record::test_batches::batch(0, 0, 5, b"x");
        topic.partitions[1]
            .append(Bytes::from(batch), None)
            .unwrap();
        topic.id
    };
    let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
    let topic = topics.get("kept").unwrap();
    assert_eq!(topic.id, id);
    assert_eq!(topic.partitions.len(), 2);
    assert_eq!(topic.config.retention(), (1000, -1));
    assert_eq!(topic.partitions[1].ends().high_watermark, 1);
    assert_eq!(topic.partitions[0].ends().high_watermark, 0);
}

#[test]
fn a_restart_keeps_deduplicating_idempotent_retries() {
    use crate::record::test_batches::idempotent_batch;
    let dir = tempfile::tempdir().unwrap();
    let now = Clock::System.now_ms();
    let first = idempotent_batch(77, 0, 0, 3, now);
    let second = idempotent_batch(77, 0, 3, 2, now);
    {
        let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
        let topic = topics.create(new_topic("idem", 1)).unwrap();
        let partition = &topic.partitions[0];
        assert_eq!(
            partition
                .append(Bytes::from(first.clone()), None)
                .unwrap()
                .base_offset,
            0
        );
        assert_eq!(
            partition
                .append(Bytes::from(second.clone()), None)
                .unwrap()
                .base_offset,
            3
        );
    }
    let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
    let partition = topics.get("idem").unwrap().partitions[0].clone();
    let retried = partition.append(Bytes::from(second.clone()), None).unwrap();
    assert_eq!(
        retried.base_offset, 3,
        "the retry is answered with its original offset"
    );
    assert_eq!(partition.ends().high_watermark, 5, "and not appended again");
    let gap = idempotent_batch(77, 0, 9, 1, now);
    assert!(partition.append(Bytes::from(gap.clone()), None).is_err());
}

#[test]
fn a_deleted_topic_is_gone_after_a_restart_and_its_name_can_be_reused() {
    let dir = tempfile::tempdir().unwrap();
    let first_id = {
        let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
        let topic = topics.create(new_topic("gone.v1", 2)).unwrap();
        let batch = crate::record::test_batches::batch(0, 0, 5, b"x");
        topic.partitions[0]
            .append(Bytes::from(batch), None)
            .unwrap();
        let removed = topics.delete("gone.v1").unwrap().unwrap();
        assert_eq!(removed.id, topic.id);
        assert!(topics.get("gone.v1").is_none() && topics.get_by_id(&topic.id).is_none());
        assert!(topics.delete("gone.v1").unwrap().is_none());
        assert_eq!(topics.partition_count(), 0);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("topics")],
            "no partition directory is left"
        );
        topic.id
    };
    let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
    assert!(topics.get("gone.v1").is_none());
    let again = topics.create(new_topic("gone.v1", 1)).unwrap();
    assert_ne!(again.id, first_id);
    assert_eq!(again.partitions[0].ends().high_watermark, 0);
}

#[test]
fn partitions_only_grow_and_the_new_count_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
        let before = topics.create(new_topic("grows", 2)).unwrap();
        let batch = crate::record::test_batches::batch(0, 0, 5, b"x");
        before.partitions[1]
            .append(Bytes::from(batch), None)
            .unwrap();
        assert!(matches!(
            topics.add_partitions("grows", 2, false),
            Err(PartitionsError::InvalidCount {
                current: 2,
                count: 2
            })
        ));
        assert!(matches!(
            topics.add_partitions("nope", 3, false),
            Err(PartitionsError::UnknownTopic)
        ));
        topics.add_partitions("grows", 5, true).unwrap();
        assert_eq!(
            topics.get("grows").unwrap().partitions.len(),
            2,
            "validate_only changes nothing"
        );
        topics.add_partitions("grows", 5, false).unwrap();
        let after = topics.get("grows").unwrap();
        assert_eq!((after.id, after.partitions.len()), (before.id, 5));
        assert_eq!(
            after.partitions[1].ends().high_watermark,
            1,
            "existing data kept"
        );
    }
    let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
    assert_eq!(topics.get("grows").unwrap().partitions.len(), 5);
}

#[test]
fn partition_counts_are_bounded() {
    let topics = Topics::new(TopicDefaults::default());
    assert!(matches!(
        topics.validate(&new_topic("t", 0)),
        Err(CreateError::InvalidPartitions(0))
    ));
    assert!(topics
        .validate(&new_topic("t", MAX_PARTITIONS + 1))
        .is_err());
}

#[test]
fn the_longest_name_is_created_deleted_and_created_again_empty() {
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
    let name = "n".repeat(MAX_TOPIC_NAME_LEN);
    let topic = topics.create(new_topic(&name, 3)).unwrap();
    let batch = crate::record::test_batches::batch(0, 0, 5, b"x");
    topic.partitions[2]
        .append(Bytes::from(batch), None)
        .unwrap();
    assert!(topics.delete(&name).unwrap().is_some());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("topics")]);
    let again = topics.create(new_topic(&name, 3)).unwrap();
    assert_eq!(again.partitions[2].ends().high_watermark, 0);
    drop(again);
    drop(topics);
    let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
    assert_eq!(
        topics.get(&name).unwrap().partitions[2]
            .ends()
            .high_watermark,
        0
    );
}

#[test]
fn leftovers_of_cut_short_changes_are_removed_at_start_and_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
        let topic = topics.create(new_topic("kept", 1)).unwrap();
        let batch = crate::record::test_batches::batch(0, 0, 5, b"x");
        topic.partitions[0]
            .append(Bytes::from(batch), None)
            .unwrap();
    }
    // A creation cut short before its definition, and a deletion cut short after it.
    let orphan = dir.path().join("half-0");
    std::fs::create_dir(&orphan).unwrap();
    std::fs::write(orphan.join("00000000000000000000.log"), b"old records").unwrap();
    let aside = dir
        .path()
        .join("gone-0.0123456789abcdef0123456789abcdef-delete");
    std::fs::create_dir(&aside).unwrap();
    let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
    assert!(!orphan.exists() && !aside.exists());
    assert_eq!(
        topics.get("kept").unwrap().partitions[0]
            .ends()
            .high_watermark,
        1
    );
    assert_eq!(topics.partition_count(), 1);
}

#[test]
fn a_failed_creation_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
    // The definitions' directory turned into a file: the partitions are made, then writing
    // the definition fails.
    let topics_dir = dir.path().join("topics");
    std::fs::remove_dir(&topics_dir).unwrap();
    std::fs::write(&topics_dir, b"not a directory").unwrap();
    assert!(matches!(
        topics.create(new_topic("blocked", 3)),
        Err(CreateError::Storage(_))
    ));
    assert!(topics.get("blocked").is_none());
    assert_eq!(topics.partition_count(), 0);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        left,
        vec!["topics".to_string()],
        "no partition directory is left"
    );
}

#[test]
fn the_partition_limit_counts_every_topic_and_frees_deleted_ones() {
    let topics = Topics::new(TopicDefaults::default()).with_max_partitions(10);
    topics.create(new_topic("a", 6)).unwrap();
    assert!(matches!(
        topics.create(new_topic("b", 5)),
        Err(CreateError::TooManyPartitions { limit: 10 })
    ));
    assert!(matches!(
        topics.add_partitions("a", 11, false),
        Err(PartitionsError::TooManyPartitions { limit: 10 })
    ));
    topics.create(new_topic("b", 4)).unwrap();
    assert!(topics.delete("a").unwrap().is_some());
    topics.create(new_topic("c", 6)).unwrap();
    assert_eq!(topics.partition_count(), 10);
}

#[test]
fn a_deletion_and_a_creation_of_one_name_are_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
    for round in 0..20 {
        let old = topics.create(new_topic("raced", 2)).unwrap();
        let batch = crate::record::test_batches::batch(0, 0, 5, b"x");
        old.partitions[0].append(Bytes::from(batch), None).unwrap();
        let deleter = {
            let topics = topics.clone();
            std::thread::spawn(move || topics.delete("raced").unwrap())
        };
        let creator = {
            let topics = topics.clone();
            std::thread::spawn(move || topics.create(new_topic("raced", 2)))
        };
        let deleted = deleter.join().unwrap();
        let created = creator.join().unwrap();
        match (deleted, created) {
            // The creation came first (the name existed) and the deletion then took the old
            // topic: nothing is left.
            (Some(gone), Err(CreateError::AlreadyExists)) => {
                assert_eq!(gone.id, old.id);
                assert!(topics.get("raced").is_none(), "round {round}");
            }
            // The deletion came first: the new topic is whole and empty, on disk too.
            (Some(gone), Ok(new)) => {
                assert_eq!(gone.id, old.id);
                assert_eq!(topics.get("raced").unwrap().id, new.id);
                assert_eq!(new.partitions[0].ends().high_watermark, 0);
                let definition = std::fs::read_to_string(dir.path().join("topics/raced.toml"))
                    .expect("the new topic's definition is there");
                assert!(definition.contains(&new.id.to_string()), "round {round}");
                assert!(dir.path().join("raced-0").is_dir() && dir.path().join("raced-1").is_dir());
                topics.delete("raced").unwrap();
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
}

#[test]
fn partitions_found_at_start_open_when_used_and_a_broken_one_is_offline_alone() {
    let dir = tempfile::tempdir().unwrap();
    {
        let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
        let topic = topics.create(new_topic("lazy", 3)).unwrap();
        for partition in &topic.partitions {
            let batch = crate::record::test_batches::batch(0, 0, 5, b"x");
            partition.append(Bytes::from(batch), None).unwrap();
        }
    }
    // Partition 1's segment file made unusable: a directory where the `.log` should be.
    let broken = dir.path().join("lazy-1");
    std::fs::remove_dir_all(&broken).unwrap();
    std::fs::create_dir_all(broken.join("00000000000000000000.log")).unwrap();

    let topics = Topics::open(dir.path(), TopicDefaults::default(), Clock::System).unwrap();
    let topic = topics.get("lazy").unwrap();
    assert!(
        topic.partitions.iter().all(|p| !p.is_open()),
        "nothing opened at start"
    );
    assert_eq!(topic.partitions[0].ends().high_watermark, 1);
    assert!(topic.partitions[0].is_open() && !topic.partitions[2].is_open());

    topics.recover_all(2, &AtomicBool::new(false));
    assert!(topic.partitions.iter().all(|p| p.is_open()));
    assert_eq!(topic.partitions[2].ends().high_watermark, 1);
    let batch = crate::record::test_batches::batch(0, 0, 5, b"y");
    assert!(matches!(
        topic.partitions[1].append(Bytes::from(batch.clone()), None),
        Err(crate::partition::AppendError::Storage(_))
    ));
    assert_eq!(
        topic.partitions[2]
            .append(Bytes::from(batch), None)
            .unwrap()
            .base_offset,
        1
    );
}

/// A metadata store that refuses every change, as a full or failed disk would.
struct RefusingStore;

impl MetadataStore for RefusingStore {
    fn load(&self) -> io::Result<Vec<TopicDefinition>> {
        Ok(Vec::new())
    }

    fn persist(&self, _record: &MetadataRecord) -> io::Result<()> {
        Err(io::Error::other("the metadata store refuses"))
    }

    fn make_durable(&self, _topic: &str) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_change_the_metadata_store_refuses_is_not_made() {
    let topics = Topics::with_store(
        TopicDefaults::default(),
        Storage::Memory,
        Arc::new(RefusingStore),
        Clock::System,
    );
    match topics.create(new_topic("refused", 3)) {
        Err(CreateError::Storage(why)) => assert!(why.to_string().contains("refuses"), "{why}"),
        other => panic!("created although the store refused: {other:?}"),
    }
    assert!(topics.get("refused").is_none());
    assert!(topics.all().is_empty());
    assert_eq!(topics.partition_count(), 0, "the partitions are given back");
}
