//! DeleteTopics through rdkafka's AdminClient: the topic, its data and its groups' committed
//! offsets go; the name can be used again and starts from offset 0.

use rdkafka::admin::AdminOptions;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use sluice_interop_tests::*;

fn delete(bootstrap: &str, topics: &[&str]) -> Vec<Result<String, (String, RDKafkaErrorCode)>> {
    let admin = Admin::new(bootstrap);
    admin
        .wait(admin.client.delete_topics(topics, &AdminOptions::new()))
        .expect("DeleteTopics completes")
}

#[test]
fn a_deleted_topic_goes_with_its_data_and_committed_offsets() {
    let broker = TestBroker::start();
    let topic = unique_topic("deleted");
    create_topic(broker.bootstrap(), &topic, 2, &[]).expect("create");
    let records: Vec<Record> = (0..10).map(|i| Record::value(format!("old-{i}"))).collect();
    assert_all_delivered(&produce(
        &producer_config(broker.bootstrap()),
        &topic,
        &records,
    ));

    // A group commits an offset on the topic.
    let mut config = consumer_config(broker.bootstrap());
    config.set("group.id", "delete-topics-group");
    let consumer: BaseConsumer = config.create().expect("consumer");
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset(&topic, 0, Offset::Offset(3))
        .expect("partition");
    consumer.commit(&commit, CommitMode::Sync).expect("commit");

    let results = delete(broker.bootstrap(), &[&topic, "no-such-topic"]);
    assert_eq!(results[0], Ok(topic.clone()));
    assert_eq!(
        results[1],
        Err((
            "no-such-topic".to_string(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))
    );
    assert!(broker.broker().topics().get(&topic).is_none());
    let metadata = consumer.fetch_metadata(None, TIMEOUT).expect("metadata");
    assert!(
        metadata.topics().iter().all(|t| t.name() != topic),
        "gone from metadata"
    );

    // The same name again: a new, empty topic, and nothing committed on it.
    create_topic(broker.bootstrap(), &topic, 1, &[]).expect("create again");
    let delivered = TestProducer::new(&producer_config(broker.bootstrap()))
        .send_one(&topic, &Record::value("new"));
    assert_eq!((delivered.partition, delivered.offset), (0, 0));
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition(&topic, 0);
    let committed = consumer
        .committed_offsets(wanted, TIMEOUT)
        .expect("committed offsets");
    assert_eq!(
        committed
            .find_partition(&topic, 0)
            .expect("partition")
            .offset(),
        Offset::Invalid,
        "the old topic's commit is gone"
    );
}
