//! Changing configs at run time through real clients: rdkafka's AdminClient (legacy
//! AlterConfigs, which replaces a resource's whole set; the rdkafka crate has no
//! IncrementalAlterConfigs, so that one goes over the wire as a client sends it), then
//! DescribeConfigs shows each value and its source; a restart keeps them; and a
//! retention.ms change deletes old segments without a restart.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    ApiKey, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminOptions, AlterConfig, ConfigSource, ResourceSpecifier};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use sluice::Config;
use sluice_interop_tests::wire::Wire;
use sluice_interop_tests::*;

fn disk_config(dir: &Path) -> Config {
    Config {
        memory: false,
        data_dir: dir.to_path_buf(),
        log_retention_check_interval_ms: 50,
        ..Config::for_tests()
    }
}

/// (value, source) of each of `keys` of `topic`, as rdkafka describes them.
fn described(
    admin: &Admin,
    topic: &str,
    keys: &[&str],
) -> HashMap<String, (Option<String>, String)> {
    let results = admin
        .wait(
            admin
                .client
                .describe_configs(&[ResourceSpecifier::Topic(topic)], &AdminOptions::new()),
        )
        .expect("DescribeConfigs completes");
    let resource = results[0].as_ref().expect("the topic's configs");
    resource
        .entries
        .iter()
        .filter(|e| keys.contains(&e.name.as_str()))
        .map(|e| (e.name.clone(), (e.value.clone(), format!("{:?}", e.source))))
        .collect()
}

/// How rdkafka names a config source (its enum has no Clone).
fn source(source: ConfigSource) -> String {
    format!("{source:?}")
}

/// Legacy AlterConfigs through rdkafka, which answers Ok for any resource the broker
/// answered (refused or not): its effect is checked by describing.
fn legacy_alter(admin: &Admin, config: AlterConfig<'_>) -> Result<(), RDKafkaErrorCode> {
    let results = admin
        .wait(admin.client.alter_configs(&[config], &AdminOptions::new()))
        .expect("AlterConfigs completes");
    results[0].as_ref().map(|_| ()).map_err(|(_, code)| *code)
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// IncrementalAlterConfigs v1 of one resource; its error code.
fn incremental(broker: &TestBroker, kind: i8, name: &str, ops: &[(&str, i8, Option<&str>)]) -> i16 {
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(text(name))
            .with_configs(
                ops.iter()
                    .map(|(k, op, v)| {
                        AlterableConfig::default()
                            .with_name(text(k))
                            .with_config_operation(*op)
                            .with_value(v.map(text))
                    })
                    .collect(),
            ),
    ]);
    broker.block_on(async {
        let mut wire = Wire::connect(broker.addr()).await;
        let r: IncrementalAlterConfigsResponse = wire
            .call(ApiKey::IncrementalAlterConfigs, 1, &request)
            .await;
        r.responses[0].error_code
    })
}

const KEYS: [&str; 5] = [
    "retention.ms",
    "segment.ms",
    "cleanup.policy",
    "retention.bytes",
    "max.message.bytes",
];

#[test]
fn legacy_and_incremental_changes_are_described_with_their_source_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = unique_topic("altered");
    let expected = {
        let broker = TestBroker::start_with(disk_config(dir.path()));
        create_topic(broker.bootstrap(), &topic, 1, &[("retention.ms", "1000")]).expect("create");
        let admin = Admin::new(broker.bootstrap());

        let replace = AlterConfig::new(ResourceSpecifier::Topic(&topic))
            .set("segment.ms", "3600000")
            .set("max.message.bytes", "65536");
        assert_eq!(legacy_alter(&admin, replace), Ok(()));
        let d = described(&admin, &topic, &KEYS);
        assert_eq!(
            d["segment.ms"],
            (Some("3600000".into()), source(ConfigSource::DynamicTopic))
        );
        assert_eq!(
            d["max.message.bytes"],
            (Some("65536".into()), source(ConfigSource::DynamicTopic))
        );
        // The legacy API replaces the whole set: retention.ms is back to its default.
        assert_eq!(
            d["retention.ms"],
            (Some("604800000".into()), source(ConfigSource::Default))
        );

        // APPEND to a list, SET and DELETE one key each; the rest stays.
        let code = incremental(
            &broker,
            2,
            &topic,
            &[
                ("cleanup.policy", 2, Some("compact")),
                ("retention.ms", 0, Some("5000")),
                ("max.message.bytes", 1, None),
            ],
        );
        assert_eq!(code, 0);
        // A cluster-wide broker default reaches a topic that does not override it.
        let code = incremental(
            &broker,
            4,
            "",
            &[("log.retention.bytes", 0, Some("123456"))],
        );
        assert_eq!(code, 0);
        let d = described(&admin, &topic, &KEYS);
        assert_eq!(
            d["cleanup.policy"],
            (
                Some("delete,compact".into()),
                source(ConfigSource::DynamicTopic)
            )
        );
        assert_eq!(
            d["retention.ms"],
            (Some("5000".into()), source(ConfigSource::DynamicTopic))
        );
        assert_eq!(
            d["segment.ms"],
            (Some("3600000".into()), source(ConfigSource::DynamicTopic))
        );
        assert_eq!(
            d["max.message.bytes"],
            (Some("1048588".into()), source(ConfigSource::Default))
        );
        assert_eq!(
            d["retention.bytes"],
            (
                Some("123456".into()),
                source(ConfigSource::DynamicDefaultBroker)
            )
        );

        // Refused: APPEND to a key that is no list (INVALID_CONFIG), a bad value
        // (INVALID_CONFIG), an unknown topic, a broker key that is not dynamic
        // (INVALID_REQUEST); nothing changes.
        assert_eq!(
            incremental(&broker, 2, &topic, &[("retention.ms", 2, Some("1"))]),
            40
        );
        // (The rdkafka crate reports every AlterConfigs resource as a success, so the
        // refusals are read off the wire.)
        assert_eq!(
            incremental(&broker, 2, &topic, &[("retention.ms", 0, Some("soon"))]),
            40
        );
        assert_eq!(
            incremental(
                &broker,
                2,
                "no-such-topic",
                &[("retention.ms", 0, Some("1"))]
            ),
            3
        );
        assert_eq!(
            incremental(&broker, 4, "", &[("num.partitions", 0, Some("3"))]),
            42
        );
        let after = described(&admin, &topic, &KEYS);
        assert_eq!(after, d);
        d
    };
    let broker = TestBroker::start_with(disk_config(dir.path()));
    let admin = Admin::new(broker.bootstrap());
    assert_eq!(
        described(&admin, &topic, &KEYS),
        expected,
        "a restart keeps every change"
    );
}

fn low_watermark(bootstrap: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = consumer_config(bootstrap).create().expect("consumer");
    consumer
        .fetch_watermarks(topic, 0, TIMEOUT)
        .expect("fetch watermarks")
        .0
}

#[test]
fn a_retention_ms_change_deletes_old_segments_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start_with(disk_config(dir.path()));
    let topic = unique_topic("retention-change");
    create_topic(broker.bootstrap(), &topic, 1, &[("segment.bytes", "1024")]).expect("create");
    let hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
        - 3_600_000;
    let mut config = producer_config(broker.bootstrap());
    config.set("linger.ms", "0");
    let producer = TestProducer::new(&config);
    for i in 0..60 {
        let record = Record {
            value: Some(format!("value-{i:04}").into_bytes()),
            timestamp: Some(hour_ago),
            partition: Some(0),
            ..Record::default()
        };
        assert_delivered(&producer.send_one(&topic, &record));
    }
    // Retention checks every 50 ms; a week's retention.ms deletes nothing.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(low_watermark(broker.bootstrap(), &topic), 0);

    let admin = Admin::new(broker.bootstrap());
    let shorter = AlterConfig::new(ResourceSpecifier::Topic(&topic))
        .set("segment.bytes", "1024")
        .set("retention.ms", "60000");
    assert_eq!(legacy_alter(&admin, shorter), Ok(()));
    let deadline = Instant::now() + Duration::from_secs(10);
    let low = loop {
        let low = low_watermark(broker.bootstrap(), &topic);
        if low > 0 {
            break low;
        }
        assert!(
            Instant::now() < deadline,
            "retention.ms did not take effect"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let partition = broker
        .broker()
        .topics()
        .get(&topic)
        .expect("topic")
        .partitions[0]
        .clone();
    assert!(
        low < 60 && partition.size_bytes() <= 1024,
        "only the active segment is kept: low {low}, {} bytes",
        partition.size_bytes()
    );
}
