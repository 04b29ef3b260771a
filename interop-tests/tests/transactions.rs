//! librdkafka's transactional producer and read_committed consumer against the broker:
//! committed records are read, aborted ones are not (but a read_uncommitted consumer sees
//! them), offsets sent to a transaction become the group's only when it commits, a second
//! producer with the same transactional id fences the first, and a transaction left open
//! holds read_committed consumers back until it ends.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use sluice_interop_tests::{
    assert_quiet, assigned_consumer, consume_exactly, consumer_config, create_topic,
    producer_config, unique_topic, Record, TestBroker, TestProducer, TIMEOUT,
};

fn transactional_producer(bootstrap: &str, transactional_id: &str) -> TestProducer {
    let mut config = producer_config(bootstrap);
    config
        .set("transactional.id", transactional_id)
        .set("transaction.timeout.ms", "60000");
    let producer = TestProducer::new(&config);
    producer
        .inner()
        .init_transactions(TIMEOUT)
        .expect("init_transactions");
    producer
}

fn records(prefix: &str, count: usize) -> Vec<Record> {
    (0..count)
        .map(|i| Record::keyed(format!("k{i}"), format!("{prefix}-{i}")))
        .collect()
}

fn reader(bootstrap: &str, topic: &str, isolation: &str) -> BaseConsumer {
    let mut config = consumer_config(bootstrap);
    config.set("isolation.level", isolation);
    assigned_consumer(&config, topic, &[(0, Offset::Offset(0))])
}

fn values(consumer: &BaseConsumer, count: usize) -> Vec<(i64, String)> {
    consume_exactly(consumer, count)
        .into_iter()
        .map(|r| {
            let value = String::from_utf8(r.value.expect("a value")).expect("utf-8");
            (r.offset, value)
        })
        .collect()
}

#[test]
fn committed_records_are_read_and_aborted_ones_are_skipped() {
    let broker = TestBroker::start();
    let topic = unique_topic("txn");
    create_topic(broker.bootstrap(), &topic, 1, &[]).expect("create the topic");
    let producer = transactional_producer(broker.bootstrap(), "txn-commit-abort");
    let txn = producer.inner();

    txn.begin_transaction().expect("begin");
    producer.send_all(&topic, &records("committed", 3));
    txn.commit_transaction(TIMEOUT).expect("commit");

    txn.begin_transaction().expect("begin");
    producer.send_all(&topic, &records("aborted", 2));
    txn.abort_transaction(TIMEOUT).expect("abort");

    txn.begin_transaction().expect("begin");
    producer.send_all(&topic, &records("again", 1));
    txn.commit_transaction(TIMEOUT).expect("commit");

    // Offsets: 0..=2 committed, 3 its marker, 4..=5 aborted, 6 the abort marker, 7 the
    // last record, 8 its marker.
    let committed = reader(broker.bootstrap(), &topic, "read_committed");
    assert_eq!(
        values(&committed, 4),
        vec![
            (0, "committed-0".to_string()),
            (1, "committed-1".to_string()),
            (2, "committed-2".to_string()),
            (7, "again-0".to_string()),
        ]
    );
    let everything = reader(broker.bootstrap(), &topic, "read_uncommitted");
    let seen = values(&everything, 6);
    assert_eq!(
        seen.iter().map(|(offset, _)| *offset).collect::<Vec<_>>(),
        vec![0, 1, 2, 4, 5, 7]
    );
    assert_eq!(seen[3].1, "aborted-0");

    let partition = broker
        .broker()
        .topics()
        .get(&topic)
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    assert_eq!(partition.ends().high_watermark, 9);
    assert_eq!(partition.ends().last_stable_offset, 9);
}

#[test]
fn an_open_transaction_holds_read_committed_consumers_back_until_it_commits() {
    let broker = TestBroker::start();
    let topic = unique_topic("txn-open");
    create_topic(broker.bootstrap(), &topic, 1, &[]).expect("create the topic");
    let producer = transactional_producer(broker.bootstrap(), "txn-open");
    let txn = producer.inner();
    txn.begin_transaction().expect("begin");
    producer.send_all(&topic, &records("pending", 2));

    let committed = reader(broker.bootstrap(), &topic, "read_committed");
    assert_quiet(&committed);
    let everything = reader(broker.bootstrap(), &topic, "read_uncommitted");
    assert_eq!(values(&everything, 2).len(), 2);
    let partition = broker
        .broker()
        .topics()
        .get(&topic)
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    assert_eq!(
        (
            partition.ends().last_stable_offset,
            partition.ends().high_watermark
        ),
        (0, 2)
    );

    txn.commit_transaction(TIMEOUT).expect("commit");
    assert_eq!(
        values(&committed, 2),
        vec![(0, "pending-0".to_string()), (1, "pending-1".to_string())]
    );
}

#[test]
fn offsets_sent_to_a_transaction_are_the_groups_only_once_it_commits() {
    let broker = TestBroker::start();
    let topic = unique_topic("txn-offsets");
    create_topic(broker.bootstrap(), &topic, 1, &[]).expect("create the topic");
    let group = "txn-offsets-group";
    let producer = transactional_producer(broker.bootstrap(), "txn-offsets");
    let txn = producer.inner();
    let mut config = consumer_config(broker.bootstrap());
    // A read_committed consumer asks for stable offsets only (KIP-447) and would be told to
    // wait (UNSTABLE_OFFSET_COMMIT) while the transaction is open; this one looks anyway.
    config
        .set("group.id", group)
        .set("isolation.level", "read_uncommitted");
    let consumer: BaseConsumer = config.create().expect("consumer");
    let metadata = consumer.group_metadata().expect("group metadata");
    let offsets_at = |offset: i64| {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&topic, 0, Offset::Offset(offset))
            .unwrap();
        list
    };
    let committed = || {
        let list = consumer
            .committed_offsets(offsets_at(0), TIMEOUT)
            .expect("committed offsets");
        list.find_partition(&topic, 0).unwrap().offset()
    };

    txn.begin_transaction().expect("begin");
    producer.send_all(&topic, &records("out", 1));
    txn.send_offsets_to_transaction(&offsets_at(5), &metadata, TIMEOUT)
        .expect("send offsets");
    assert_eq!(committed(), Offset::Invalid, "not before the commit");
    txn.abort_transaction(TIMEOUT).expect("abort");
    assert_eq!(
        committed(),
        Offset::Invalid,
        "an aborted transaction commits nothing"
    );

    txn.begin_transaction().expect("begin");
    txn.send_offsets_to_transaction(&offsets_at(7), &metadata, TIMEOUT)
        .expect("send offsets");
    txn.commit_transaction(TIMEOUT).expect("commit");
    // The markers (and so the group's offsets) are written right after the commit answer.
    let deadline = std::time::Instant::now() + TIMEOUT;
    while committed() != Offset::Offset(7) {
        assert!(
            std::time::Instant::now() < deadline,
            "the offset never became the group's"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_new_producer_with_the_same_transactional_id_fences_the_old_one() {
    let broker = TestBroker::start();
    let topic = unique_topic("txn-fence");
    create_topic(broker.bootstrap(), &topic, 1, &[]).expect("create the topic");
    let old = transactional_producer(broker.bootstrap(), "txn-fence");
    old.inner().begin_transaction().expect("begin");
    old.send_all(&topic, &records("zombie", 1));

    // The new producer's init aborts the old transaction and bumps the epoch.
    let new = transactional_producer(broker.bootstrap(), "txn-fence");
    new.inner().begin_transaction().expect("begin");
    new.send_all(&topic, &records("fresh", 1));
    new.inner().commit_transaction(TIMEOUT).expect("commit");

    let error = old
        .inner()
        .commit_transaction(TIMEOUT)
        .expect_err("the fenced producer cannot commit");
    match &error {
        KafkaError::Transaction(e) => assert!(
            e.is_fatal() && e.code() == RDKafkaErrorCode::Fenced,
            "fatal and fenced: {e:?}"
        ),
        other => panic!("unexpected error {other:?}"),
    }
    // zombie-0 at 0 was aborted (its marker at 1), fresh-0 at 2 committed.
    let committed = reader(broker.bootstrap(), &topic, "read_committed");
    assert_eq!(values(&committed, 1), vec![(2, "fresh-0".to_string())]);
}

#[test]
fn a_prepared_commit_survives_a_restart_of_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let topic = unique_topic("txn-restart");
    let config = sluice::config::Config {
        memory: false,
        data_dir: dir.path().to_path_buf(),
        ..sluice::config::Config::for_tests()
    };
    let broker = TestBroker::start_with(config.clone());
    create_topic(broker.bootstrap(), &topic, 1, &[]).expect("create the topic");
    {
        let producer = transactional_producer(broker.bootstrap(), "txn-restart");
        producer.inner().begin_transaction().expect("begin");
        producer.send_all(&topic, &records("kept", 2));
        producer
            .inner()
            .commit_transaction(TIMEOUT)
            .expect("commit");
    }
    drop(broker);
    let broker = TestBroker::start_with(config);
    let committed = reader(broker.bootstrap(), &topic, "read_committed");
    assert_eq!(
        values(&committed, 2),
        vec![(0, "kept-0".to_string()), (1, "kept-1".to_string())]
    );
    // The transactional id carries on from its journaled epoch.
    let producer = transactional_producer(broker.bootstrap(), "txn-restart");
    producer.inner().begin_transaction().expect("begin");
    producer.send_all(&topic, &records("later", 1));
    producer
        .inner()
        .commit_transaction(TIMEOUT)
        .expect("commit");
    assert_eq!(values(&committed, 1), vec![(3, "later-0".to_string())]);
}
