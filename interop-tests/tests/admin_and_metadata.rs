//! Metadata and CreateTopics through rdkafka: auto-creation follows the client's and the
//! broker's settings; the AdminClient gets Kafka's error codes for bad topics.

use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::metadata::Metadata;
use sluice::Config;
use sluice_interop_tests::{
    assert_delivered, consumer_config, create_topic, create_topics, producer_config, unique_topic,
    Record, TestBroker, TestProducer, TIMEOUT,
};

fn metadata_client(bootstrap: &str, allow_auto_create: bool) -> BaseConsumer {
    let mut config = consumer_config(bootstrap);
    config.set("allow.auto.create.topics", allow_auto_create.to_string());
    config.create().expect("create a consumer")
}

/// A partition as Metadata describes it: (id, leader, replicas, in-sync replicas).
type PartitionView = (i32, i32, Vec<i32>, Vec<i32>);

/// The topic's entry in a Metadata answer for just that topic: its error code and, when
/// it exists, its partitions' (id, leader, replicas, isr).
fn describe(client: &BaseConsumer, topic: &str) -> (Option<RDKafkaErrorCode>, Vec<PartitionView>) {
    let metadata: Metadata = client
        .fetch_metadata(Some(topic), TIMEOUT)
        .expect("Metadata answers");
    assert_eq!(metadata.topics().len(), 1, "one topic asked, one answered");
    let entry = &metadata.topics()[0];
    assert_eq!(entry.name(), topic);
    let partitions = entry
        .partitions()
        .iter()
        .map(|p| {
            assert_eq!(p.error(), None, "partition {} error", p.id());
            (p.id(), p.leader(), p.replicas().to_vec(), p.isr().to_vec())
        })
        .collect();
    (entry.error().map(RDKafkaErrorCode::from), partitions)
}

/// Whether a Metadata request for all topics lists `topic`.
fn listed(client: &BaseConsumer, topic: &str) -> bool {
    client
        .fetch_metadata(None, TIMEOUT)
        .expect("Metadata answers")
        .topics()
        .iter()
        .any(|t| t.name() == topic)
}

/// What a topic created on this single broker (node 0) looks like, partition by partition.
fn on_node_zero(partitions: i32) -> Vec<PartitionView> {
    (0..partitions).map(|p| (p, 0, vec![0], vec![0])).collect()
}

#[test]
fn metadata_auto_creates_a_topic_when_the_client_allows_it() {
    let broker = TestBroker::start();
    let allowing = metadata_client(broker.bootstrap(), true);
    let refusing = metadata_client(broker.bootstrap(), false);

    // The broker lists itself as node 0 at the address we connected to.
    let metadata = allowing.fetch_metadata(None, TIMEOUT).expect("Metadata");
    let brokers: Vec<(i32, String, i32)> = metadata
        .brokers()
        .iter()
        .map(|b| (b.id(), b.host().to_string(), b.port()))
        .collect();
    let addr = broker.addr();
    assert_eq!(
        brokers,
        vec![(0, addr.ip().to_string(), i32::from(addr.port()))]
    );

    let created = unique_topic("auto");
    assert_eq!(describe(&allowing, &created), (None, on_node_zero(1)));
    assert!(
        listed(&refusing, &created),
        "an auto-created topic is listed"
    );

    let not_created = unique_topic("not-auto");
    assert_eq!(
        describe(&refusing, &not_created),
        (Some(RDKafkaErrorCode::UnknownTopicOrPartition), vec![])
    );
    assert!(!listed(&allowing, &not_created));
    assert!(broker.broker().topics().get(&not_created).is_none());
}

#[test]
fn a_producer_auto_creates_the_topic_it_writes_to() {
    let broker = TestBroker::start();
    let topic = unique_topic("produced");
    let report = TestProducer::new(&producer_config(broker.bootstrap()))
        .send_one(&topic, &Record::keyed("k", "first"));
    assert_delivered(&report);
    assert_eq!((report.partition, report.offset), (0, 0));
    let client = metadata_client(broker.bootstrap(), false);
    assert_eq!(describe(&client, &topic), (None, on_node_zero(1)));
}

#[test]
fn auto_creation_uses_the_brokers_num_partitions() {
    let broker = TestBroker::start_with(Config {
        num_partitions: 3,
        ..Config::for_tests()
    });
    let client = metadata_client(broker.bootstrap(), true);
    let topic = unique_topic("three");
    assert_eq!(describe(&client, &topic), (None, on_node_zero(3)));
}

#[test]
fn auto_creation_is_off_when_the_broker_disables_it() {
    let broker = TestBroker::start_with(Config {
        auto_create_topics: false,
        ..Config::for_tests()
    });
    let client = metadata_client(broker.bootstrap(), true);
    let topic = unique_topic("never");
    assert_eq!(
        describe(&client, &topic),
        (Some(RDKafkaErrorCode::UnknownTopicOrPartition), vec![])
    );
    assert!(!listed(&client, &topic));
}

#[test]
fn create_topics_reports_kafkas_error_codes() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();

    let existing = unique_topic("existing");
    assert_eq!(create_topic(bootstrap, &existing, 2, &[]), Ok(()));
    assert_eq!(
        create_topic(bootstrap, &existing, 2, &[]),
        Err(RDKafkaErrorCode::TopicAlreadyExists)
    );

    // One request, one result per topic: the good ones are created, the bad ones are not.
    let good = unique_topic("good");
    let defaults = unique_topic("defaults");
    let three_replicas = unique_topic("rf3");
    let unknown_config = unique_topic("unknown-config");
    let bad_value = unique_topic("bad-value");
    let no_partitions = unique_topic("zero");
    let topics = [
        NewTopic::new(&good, 4, TopicReplication::Fixed(1)).set("retention.ms", "60000"),
        NewTopic::new(&defaults, -1, TopicReplication::Fixed(-1)),
        NewTopic::new(&three_replicas, 1, TopicReplication::Fixed(3)),
        NewTopic::new("bad name!", 1, TopicReplication::Fixed(1)),
        NewTopic::new(&unknown_config, 1, TopicReplication::Fixed(1)).set("no.such.config", "1"),
        NewTopic::new(&bad_value, 1, TopicReplication::Fixed(1)).set("retention.ms", "soon"),
        NewTopic::new(&no_partitions, 0, TopicReplication::Fixed(1)),
    ];
    let results = create_topics(bootstrap, &topics);
    let expected = vec![
        Ok(good.clone()),
        Ok(defaults.clone()),
        Err((
            three_replicas.clone(),
            RDKafkaErrorCode::InvalidReplicationFactor,
        )),
        Err(("bad name!".to_string(), RDKafkaErrorCode::InvalidTopic)),
        Err((unknown_config.clone(), RDKafkaErrorCode::InvalidConfig)),
        Err((bad_value.clone(), RDKafkaErrorCode::InvalidConfig)),
        Err((no_partitions.clone(), RDKafkaErrorCode::InvalidPartitions)),
    ];
    assert_eq!(results, expected);

    let client = metadata_client(bootstrap, false);
    assert_eq!(describe(&client, &existing), (None, on_node_zero(2)));
    assert_eq!(describe(&client, &good), (None, on_node_zero(4)));
    // -1 partitions and replication factor -1: the broker's defaults.
    assert_eq!(describe(&client, &defaults), (None, on_node_zero(1)));
    for refused in [&three_replicas, &unknown_config, &bad_value, &no_partitions] {
        assert!(!listed(&client, refused), "{refused} was not created");
        assert!(broker.broker().topics().get(refused).is_none());
    }
    assert!(broker.broker().topics().get("bad name!").is_none());
    let overrides = broker
        .broker()
        .topics()
        .get(&good)
        .expect("created")
        .config
        .overrides()
        .clone();
    assert_eq!(
        overrides.into_iter().collect::<Vec<_>>(),
        vec![("retention.ms".to_string(), "60000".to_string())]
    );
}
