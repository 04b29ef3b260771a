//! DescribeConfigs through rdkafka's AdminClient: a topic's effective configs with their
//! sources, the broker's settings under Kafka's names, and an unknown topic's error.

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::DescribeConfigsRequest;
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminOptions, ConfigSource, ResourceSpecifier};
use rdkafka::types::RDKafkaErrorCode;
use sluice::session::{RequestContext, Session, PLAINTEXT_LISTENER};
use sluice_interop_tests::*;

#[test]
fn topic_and_broker_configs_are_described() {
    let broker = TestBroker::start();
    let topic = unique_topic("described");
    create_topic(broker.bootstrap(), &topic, 1, &[("retention.ms", "1000")]).expect("create");

    let admin = Admin::new(broker.bootstrap());
    let resources = [
        ResourceSpecifier::Topic(&topic),
        ResourceSpecifier::Broker(0),
        ResourceSpecifier::Topic("no-such-topic"),
    ];
    let results = admin
        .wait(
            admin
                .client
                .describe_configs(&resources, &AdminOptions::new()),
        )
        .expect("DescribeConfigs completes");
    assert_eq!(results.len(), 3);

    let topic_configs = results[0].as_ref().expect("the topic's configs");
    let entries = topic_configs.entry_map();
    let retention = entries["retention.ms"];
    assert_eq!(retention.value.as_deref(), Some("1000"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    assert!(!retention.is_default);
    let cleanup = entries["cleanup.policy"];
    assert_eq!(cleanup.value.as_deref(), Some("delete"));
    assert_eq!(cleanup.source, ConfigSource::Default);
    assert_eq!(
        entries["max.message.bytes"].value.as_deref(),
        Some("1048588")
    );

    let broker_configs = results[1].as_ref().expect("the broker's configs");
    let entries = broker_configs.entry_map();
    assert_eq!(entries["num.partitions"].value.as_deref(), Some("1"));
    assert_eq!(
        entries["auto.create.topics.enable"].value.as_deref(),
        Some("true")
    );
    assert!(entries["num.partitions"].is_read_only);
    assert_eq!(entries["num.partitions"].source, ConfigSource::StaticBroker);

    // The rdkafka crate reports no per-resource error codes: the unknown topic comes back
    // without configs, and the code itself is checked against the handler below.
    assert!(results[2].as_ref().expect("a result").entries.is_empty());
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("no-such-topic"))]);
    let session = Session::new(PLAINTEXT_LISTENER, broker.addr());
    let context = RequestContext::new(&session, "describe-configs-test");
    let response = broker.block_on(sluice::api::describe_configs::handle(
        broker.broker(),
        &context,
        4,
        request,
    ));
    assert_eq!(
        response.results[0].error_code,
        RDKafkaErrorCode::UnknownTopicOrPartition as i16
    );
}
