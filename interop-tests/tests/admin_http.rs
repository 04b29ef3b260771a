//! The HTTP admin API against real clients: `POST /admin/reset` empties the broker between
//! tests (records, groups, producer state), and rdkafka clients see an empty broker after it.

use std::path::Path;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use sluice::Config;
use sluice_interop_tests::http_client::{self, http_json};
use sluice_interop_tests::*;

fn http_config() -> Config {
    Config {
        http: "127.0.0.1:0".into(),
        ..Config::for_tests()
    }
}

fn disk_config(dir: &Path) -> Config {
    Config {
        memory: false,
        data_dir: dir.to_path_buf(),
        ..http_config()
    }
}

fn records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            partition: Some((i % 2) as i32),
            ..Record::keyed(format!("k{i}"), format!("v{i}"))
        })
        .collect()
}

/// Commits `offset` for `group` on partition 0 of `topic` with an assign-only consumer.
fn commit(bootstrap: &str, group: &str, topic: &str, offset: i64) {
    let consumer = assigned_consumer(
        consumer_config(bootstrap).set("group.id", group),
        topic,
        &[(0, Offset::Offset(0))],
    );
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, 0, Offset::Offset(offset))
        .unwrap();
    consumer.commit(&offsets, CommitMode::Sync).unwrap();
}

fn group_count(broker: &TestBroker) -> usize {
    broker
        .block_on(broker.broker().groups().list())
        .unwrap()
        .len()
}

#[test]
fn reset_empties_topics_groups_and_producer_state_and_offsets_start_again_at_zero() {
    let broker = TestBroker::start_with(http_config());
    let topic = unique_topic("reset");
    create_topic(broker.bootstrap(), &topic, 2, &[]).unwrap();
    let mut idempotent = producer_config(broker.bootstrap());
    idempotent.set("enable.idempotence", "true");
    assert_all_delivered(&produce(&idempotent, &topic, &records(6)));
    commit(broker.bootstrap(), "reset-group", &topic, 3);
    assert_eq!(group_count(&broker), 1);

    let (status, body) = http_json(broker.http_addr(), "POST", "/admin/reset", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"topics": 1, "partitions": 2, "groups": 1}));

    let consumer = assigned_consumer(
        &consumer_config(broker.bootstrap()),
        &topic,
        &[(0, Offset::Beginning), (1, Offset::Beginning)],
    );
    assert_quiet(&consumer);
    assert_eq!(group_count(&broker), 0, "no group is left");
    for p in 0..2 {
        let ends = broker.broker().topics().get(&topic).unwrap().partitions[p].ends();
        assert_eq!((ends.log_start_offset, ends.log_end_offset), (0, 0));
    }
    // A restarted idempotent producer (a new producer id) writes from offset 0 again.
    let delivered = produce(
        &idempotent,
        &topic,
        &[Record {
            partition: Some(0),
            ..Record::keyed("after", "reset")
        }],
    );
    assert_all_delivered(&delivered);
    assert_eq!((delivered[0].partition, delivered[0].offset), (0, 0));
    let read = consume_exactly(&consumer, 1);
    assert_eq!(read[0].offset, 0);
    assert_eq!(read[0].key.as_deref(), Some(&b"after"[..]));
    // The topic kept its partition count.
    assert_eq!(
        broker
            .broker()
            .topics()
            .get(&topic)
            .unwrap()
            .partitions
            .len(),
        2
    );
}

#[test]
fn reset_of_named_topics_keeps_the_others_and_the_groups_and_refuses_unknown_topics() {
    let broker = TestBroker::start_with(http_config());
    let (a, b) = (unique_topic("reset-a"), unique_topic("reset-b"));
    create_topic(broker.bootstrap(), &a, 2, &[]).unwrap();
    create_topic(broker.bootstrap(), &b, 2, &[]).unwrap();
    let config = producer_config(broker.bootstrap());
    assert_all_delivered(&produce(&config, &a, &records(4)));
    assert_all_delivered(&produce(&config, &b, &records(4)));
    commit(broker.bootstrap(), "kept-group", &a, 2);

    let (status, body) = http_json(
        broker.http_addr(),
        "POST",
        &format!("/admin/reset?topics={a}"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"topics": 1, "partitions": 2, "groups": 0}));
    assert_eq!(group_count(&broker), 1, "groups are kept");
    let ends = |t: &str, p: usize| {
        broker.broker().topics().get(t).unwrap().partitions[p]
            .ends()
            .log_end_offset
    };
    assert_eq!((ends(&a, 0), ends(&a, 1)), (0, 0));
    assert_eq!((ends(&b, 0), ends(&b, 1)), (2, 2));
    assert_eq!(consume_all(broker.bootstrap(), &b, 2, 4).len(), 4);

    let (status, body) = http_json(
        broker.http_addr(),
        "POST",
        &format!("/admin/reset?topics={a},no-such-topic"),
        None,
    );
    assert_eq!(status, 404);
    assert!(
        body["error"].as_str().unwrap().contains("no-such-topic"),
        "{body}"
    );
}

/// A broker that declared its topics at start goes back to exactly those: the declared ones
/// are emptied (and created again if a test deleted one, with their partitions and configs),
/// every other topic is deleted.
#[test]
fn a_reset_goes_back_to_the_declared_topics() {
    let broker = TestBroker::start_with(Config {
        topics: vec![
            "orders:2".parse().unwrap(),
            "users::cleanup.policy=compact".parse().unwrap(),
        ],
        ..http_config()
    });
    let scratch = unique_topic("reset-scratch");
    create_topic(broker.bootstrap(), &scratch, 1, &[]).unwrap();
    let config = producer_config(broker.bootstrap());
    assert_all_delivered(&produce(&config, "orders", &records(4)));
    broker
        .block_on(broker.broker().delete_topic("users"))
        .unwrap();

    let (status, body) = http_json(broker.http_addr(), "POST", "/admin/reset", None);
    assert_eq!(status, 200, "{body}");
    let mut names: Vec<String> = broker
        .broker()
        .topics()
        .all()
        .iter()
        .map(|t| t.name.clone())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["orders", "users"],
        "only the declared topics are left"
    );
    let orders = broker.broker().topics().get("orders").unwrap();
    assert_eq!(orders.partitions.len(), 2);
    for partition in &orders.partitions {
        assert_eq!(partition.ends().log_end_offset, 0);
    }
    let users = broker.broker().topics().get("users").unwrap();
    assert!(
        users.config.cleanup_policy_compacts(),
        "created again as declared"
    );
}

/// A consumer long-polling an emptied partition wakes and applies its reset policy: with
/// `auto.offset.reset=earliest` it reads the first record produced after the reset at 0.
#[test]
fn a_waiting_fetch_wakes_at_a_reset_and_the_consumer_starts_again_from_zero() {
    let broker = TestBroker::start_with(http_config());
    let topic = unique_topic("reset-wait");
    create_topic(broker.bootstrap(), &topic, 1, &[]).unwrap();
    let config = producer_config(broker.bootstrap());
    assert_all_delivered(&produce(
        &config,
        &topic,
        &[Record::value("a"), Record::value("b")],
    ));
    let mut consumer_config = consumer_config(broker.bootstrap());
    consumer_config
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "5000");
    let consumer = assigned_consumer(&consumer_config, &topic, &[(0, Offset::Offset(0))]);
    assert_eq!(consume_exactly(&consumer, 2).len(), 2);
    // The consumer now waits at offset 2.
    let (status, _) = http_json(broker.http_addr(), "POST", "/admin/reset", None);
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert_all_delivered(&produce(&config, &topic, &[Record::value("fresh")]));
    let read = consume_exactly(&consumer, 1);
    assert_eq!(
        (read[0].offset, read[0].value.as_deref()),
        (0, Some(&b"fresh"[..]))
    );
}

#[test]
fn on_disk_a_reset_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let topic = unique_topic("reset-disk");
    {
        let broker = TestBroker::start_with(disk_config(dir.path()));
        create_topic(broker.bootstrap(), &topic, 2, &[]).unwrap();
        assert_all_delivered(&produce(
            &producer_config(broker.bootstrap()),
            &topic,
            &records(6),
        ));
        commit(broker.bootstrap(), "disk-group", &topic, 3);
        let (status, body) = http_json(broker.http_addr(), "POST", "/admin/reset", None);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"topics": 1, "partitions": 2, "groups": 1}));
    }
    let broker = TestBroker::start_with(disk_config(dir.path()));
    assert_eq!(group_count(&broker), 0, "the groups stay deleted");
    let stored = broker.broker().topics().get(&topic).unwrap();
    assert_eq!(stored.partitions.len(), 2);
    for p in &stored.partitions {
        let ends = p.ends();
        assert_eq!((ends.log_start_offset, ends.log_end_offset), (0, 0));
    }
    let consumer = assigned_consumer(
        &consumer_config(broker.bootstrap()),
        &topic,
        &[(0, Offset::Beginning), (1, Offset::Beginning)],
    );
    assert_quiet(&consumer);
    let delivered = produce(
        &producer_config(broker.bootstrap()),
        &topic,
        &[Record {
            partition: Some(1),
            ..Record::value("new")
        }],
    );
    assert_eq!((delivered[0].partition, delivered[0].offset), (1, 0));
}

fn recorder_config() -> Config {
    Config {
        auto_create_topics: false,
        ..http_config()
    }
}

#[test]
fn the_recorder_lists_a_clients_requests_with_api_names_software_and_error_codes() {
    let broker = TestBroker::start_with(recorder_config());
    let topic = unique_topic("recorded");
    create_topic(broker.bootstrap(), &topic, 1, &[]).unwrap();
    let mut config = producer_config(broker.bootstrap());
    config.set("client.id", "recorded-app");
    assert_all_delivered(&produce(&config, &topic, &[Record::value("r")]));
    broker.block_on(async {
        use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
        use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse};
        let mut wire = wire::Wire::connect(broker.addr()).await;
        let request =
            MetadataRequest::default()
                .with_topics(Some(vec![MetadataRequestTopic::default()
                    .with_name(Some(sluice::api::topic_name("missing")))]));
        let answer: MetadataResponse = wire.call(ApiKey::Metadata, 12, &request).await;
        assert_eq!(answer.topics[0].error_code, 3);
    });

    let (status, listed) = http_json(
        broker.http_addr(),
        "GET",
        "/admin/requests?client_id=recorded-app",
        None,
    );
    assert_eq!(status, 200);
    let listed = listed.as_array().unwrap();
    let apis: Vec<&str> = listed.iter().map(|r| r["api"].as_str().unwrap()).collect();
    assert!(
        apis.contains(&"ApiVersions") && apis.contains(&"Metadata"),
        "{apis:?}"
    );
    assert!(listed.iter().all(|r| r["client_id"] == "recorded-app"));
    let produce = listed
        .iter()
        .find(|r| r["api"] == "Produce")
        .expect("the Produce is recorded");
    assert_eq!(produce["error_codes"], json!([]));
    assert_eq!(produce["client_software_name"], "librdkafka");
    assert!(produce["version"].as_i64().unwrap() >= 3);
    assert!(produce["peer"].as_str().unwrap().starts_with("127.0.0.1:"));

    let (_, missing) = http_json(
        broker.http_addr(),
        "GET",
        "/admin/requests?api=Metadata&client_id=sluice-raw-test&limit=1",
        None,
    );
    assert_eq!(missing.as_array().unwrap().len(), 1, "{missing}");
    assert_eq!(missing[0]["error_codes"], json!([3]));
    assert_eq!(missing[0]["errors"], json!(["UNKNOWN_TOPIC_OR_PARTITION"]));
    assert_eq!(missing[0]["version"], 12);
}

#[test]
fn the_request_stream_sends_an_event_per_request() {
    use std::io::BufRead;
    let broker = TestBroker::start_with(recorder_config());
    let topic = unique_topic("streamed");
    create_topic(broker.bootstrap(), &topic, 1, &[]).unwrap();
    let (status, mut events) = http_client::open_stream(
        broker.http_addr(),
        "/admin/requests/stream?client_id=streamed-app",
    );
    assert_eq!(status, 200);
    let mut config = producer_config(broker.bootstrap());
    config.set("client.id", "streamed-app");
    let records: Vec<Record> = (0..3).map(|i| Record::value(format!("s{i}"))).collect();
    let producer = TestProducer::new(&config);
    for record in &records {
        assert_all_delivered(&producer.send_all(&topic, std::slice::from_ref(record)));
    }
    let mut produces = 0;
    let mut seen = Vec::new();
    while produces < 3 {
        let mut line = String::new();
        events.read_line(&mut line).expect("an event within 30 s");
        let Some(data) = line.trim_end().strip_prefix("data: ") else {
            continue;
        };
        let event: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(event["client_id"], "streamed-app");
        seen.push(event["api"].as_str().unwrap().to_string());
        if event["api"] == "Produce" {
            assert_eq!(event["error_codes"], json!([]));
            produces += 1;
        }
    }
    assert!(seen.contains(&"ApiVersions".to_string()), "{seen:?}");
}
