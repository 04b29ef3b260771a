//! CreatePartitions through rdkafka's AdminClient: a topic grows, keeps its data, and takes
//! records on its new partitions; shrinking or an unknown topic is refused.

use rdkafka::admin::{AdminOptions, NewPartitions};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use sluice_interop_tests::*;

#[test]
fn a_topic_grows_and_its_new_partitions_take_records() {
    let broker = TestBroker::start();
    let topic = unique_topic("grows");
    create_topic(broker.bootstrap(), &topic, 2, &[]).expect("create");
    let old = Record {
        partition: Some(1),
        ..Record::value("before")
    };
    assert_delivered(
        &TestProducer::new(&producer_config(broker.bootstrap())).send_one(&topic, &old),
    );

    let admin = Admin::new(broker.bootstrap());
    let requests = [
        NewPartitions::new(&topic, 4),
        NewPartitions::new("no-such-topic", 2),
    ];
    let results = admin
        .wait(
            admin
                .client
                .create_partitions(&requests, &AdminOptions::new()),
        )
        .expect("CreatePartitions completes");
    assert_eq!(results[0], Ok(topic.clone()));
    assert_eq!(
        results[1],
        Err((
            "no-such-topic".to_string(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))
    );
    let shrink = admin
        .wait(
            admin
                .client
                .create_partitions(&[NewPartitions::new(&topic, 3)], &AdminOptions::new()),
        )
        .expect("CreatePartitions completes");
    assert_eq!(
        shrink[0],
        Err((topic.clone(), RDKafkaErrorCode::InvalidPartitions))
    );

    let consumer: BaseConsumer = consumer_config(broker.bootstrap())
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(&topic), TIMEOUT)
        .expect("metadata");
    assert_eq!(metadata.topics()[0].partitions().len(), 4);
    assert_eq!(
        consumer
            .fetch_watermarks(&topic, 1, TIMEOUT)
            .expect("watermarks"),
        (0, 1)
    );

    let new = Record {
        partition: Some(3),
        ..Record::value("after")
    };
    let delivered = TestProducer::new(&producer_config(broker.bootstrap())).send_one(&topic, &new);
    assert_eq!((delivered.partition, delivered.offset), (3, 0));
}
