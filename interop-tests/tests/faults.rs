//! Fault injection (`/admin/faults`) against real clients: an rdkafka producer that retries
//! through injected errors, a consumer slowed by a delayed Fetch, connections closed or left
//! unanswered, and rules narrowed to a topic or made never to fire.

use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::Offset;
use serde_json::{json, Value};
use sluice::Config;
use sluice_interop_tests::http_client::{http, http_json};
use sluice_interop_tests::wire::Wire;
use sluice_interop_tests::*;

fn start() -> TestBroker {
    TestBroker::start_with(Config {
        http: "127.0.0.1:0".into(),
        ..Config::for_tests()
    })
}

fn add_fault(broker: &TestBroker, rule: Value) -> u64 {
    let (status, body) = http_json(broker.http_addr(), "POST", "/admin/faults", Some(&rule));
    assert_eq!(status, 201, "{body}");
    body["id"].as_u64().expect("an id")
}

fn fault(broker: &TestBroker, id: u64) -> Value {
    let (status, list) = http_json(broker.http_addr(), "GET", "/admin/faults", None);
    assert_eq!(status, 200);
    list.as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("fault {id} is listed: {list}"))
}

#[test]
fn a_produce_error_fault_with_count_two_is_retried_through_and_the_record_lands_once() {
    let broker = start();
    let topic = unique_topic("fault-produce");
    create_topic(broker.bootstrap(), &topic, 1, &[]).unwrap();
    let id = add_fault(
        &broker,
        json!({"api": "Produce", "topic": topic, "action": "error",
               "error": "NOT_LEADER_OR_FOLLOWER", "count": 2}),
    );
    let mut config = producer_config(broker.bootstrap());
    config.set("retry.backoff.ms", "50");
    let delivered = produce(&config, &topic, &[Record::keyed("k", "once")]);
    assert_all_delivered(&delivered);
    assert_eq!(delivered[0].offset, 0);
    let listed = fault(&broker, id);
    assert_eq!(listed["fired"], 2, "{listed}");
    assert_eq!(listed["spent"], true, "{listed}");
    assert_eq!(listed["error"], "NOT_LEADER_OR_FOLLOWER");
    let read = consume_all(broker.bootstrap(), &topic, 1, 1);
    assert_eq!(read[0].value.as_deref(), Some(&b"once"[..]));

    let metrics = http(broker.http_addr(), "GET", "/metrics", None).text();
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"sluice_faults_fired_total{api="Produce",action="error"} 2"#),
        "{metrics}"
    );
}

#[test]
fn a_fault_on_topic_a_leaves_topic_b_alone_and_probability_zero_never_fires() {
    let broker = start();
    let (a, b) = (unique_topic("fault-a"), unique_topic("fault-b"));
    create_topic(broker.bootstrap(), &a, 1, &[]).unwrap();
    create_topic(broker.bootstrap(), &b, 1, &[]).unwrap();
    let on_a = add_fault(
        &broker,
        json!({"api": "Produce", "topic": a, "action": "error", "error": 29}),
    );
    let config = producer_config(broker.bootstrap());
    let refused = produce(&config, &a, &[Record::value("no")]);
    assert_eq!(
        refused[0].error_code(),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed),
        "{refused:?}"
    );
    assert_all_delivered(&produce(&config, &b, &[Record::value("yes")]));
    assert_eq!(fault(&broker, on_a)["fired"], 1);
    assert_eq!(
        broker.broker().topics().get(&a).unwrap().partitions[0]
            .ends()
            .log_end_offset,
        0,
        "nothing was appended to A"
    );

    let (status, _) = http_json(broker.http_addr(), "DELETE", "/admin/faults", None);
    assert_eq!(status, 200);
    let never = add_fault(
        &broker,
        json!({"api": "Produce", "action": "close", "probability": 0.0}),
    );
    let records: Vec<Record> = (0..20).map(|i| Record::value(format!("r{i}"))).collect();
    assert_all_delivered(&produce(&config, &a, &records));
    assert_eq!(fault(&broker, never)["fired"], 0);
}

#[test]
fn a_fetch_delay_fault_delays_the_consumer() {
    let broker = start();
    let topic = unique_topic("fault-delay");
    create_topic(broker.bootstrap(), &topic, 1, &[]).unwrap();
    assert_all_delivered(&produce(
        &producer_config(broker.bootstrap()),
        &topic,
        &[Record::value("late")],
    ));
    add_fault(
        &broker,
        json!({"api": "Fetch", "topic": topic, "action": "delay", "delay_ms": 1500}),
    );
    let started = Instant::now();
    let consumer = assigned_consumer(
        &consumer_config(broker.bootstrap()),
        &topic,
        &[(0, Offset::Offset(0))],
    );
    let read = consume_exactly(&consumer, 1);
    let waited = started.elapsed();
    assert_eq!(read[0].value.as_deref(), Some(&b"late"[..]));
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
}

#[test]
fn close_closes_the_connection_and_drop_leaves_it_open_and_unanswered() {
    let broker = start();
    let close = add_fault(
        &broker,
        json!({"api": "ApiVersions", "client_id": "closer", "action": "close", "count": 1}),
    );
    let request = ApiVersionsRequest::default();
    broker.block_on(async {
        let mut wire = Wire::connect(broker.addr()).await;
        // Not the rule's client id: answered.
        let answer: ApiVersionsResponse = wire.call(ApiKey::ApiVersions, 0, &request).await;
        assert_eq!(answer.error_code, 0);
    });
    assert_eq!(fault(&broker, close)["fired"], 0);
    http_json(
        broker.http_addr(),
        "DELETE",
        &format!("/admin/faults/{close}"),
        None,
    );
    add_fault(
        &broker,
        json!({"api": "ApiVersions", "action": "close", "count": 1}),
    );
    broker.block_on(async {
        let mut wire = Wire::connect(broker.addr()).await;
        wire.send(ApiKey::ApiVersions as i16, 0, 1, &request, 0)
            .await;
        wire.expect_closed("a close fault").await;
    });
    add_fault(
        &broker,
        json!({"api": "ApiVersions", "action": "drop", "count": 1}),
    );
    broker.block_on(async {
        let mut wire = Wire::connect(broker.addr()).await;
        wire.send(ApiKey::ApiVersions as i16, 0, 1, &request, 0)
            .await;
        // The next request is not answered either: responses come in order.
        wire.send(ApiKey::ApiVersions as i16, 0, 1, &request, 0)
            .await;
        let answer = tokio::time::timeout(Duration::from_millis(1000), wire.read_frame()).await;
        assert!(answer.is_err(), "no answer, and the connection stays open");
        // A new connection is answered again: the rule was spent.
        let mut fresh = Wire::connect(broker.addr()).await;
        let answer: ApiVersionsResponse = fresh.call(ApiKey::ApiVersions, 0, &request).await;
        assert_eq!(answer.error_code, 0);
    });
}

#[test]
fn a_dropped_produce_times_the_producer_out() {
    let broker = start();
    let topic = unique_topic("fault-drop");
    create_topic(broker.bootstrap(), &topic, 1, &[]).unwrap();
    add_fault(
        &broker,
        json!({"api": "Produce", "topic": topic, "action": "drop"}),
    );
    let mut config = producer_config(broker.bootstrap());
    config
        .set("request.timeout.ms", "1000")
        .set("message.timeout.ms", "2000");
    let delivered = produce(&config, &topic, &[Record::value("lost")]);
    assert_eq!(
        delivered[0].error_code(),
        Some(RDKafkaErrorCode::MessageTimedOut),
        "{delivered:?}"
    );
}

#[test]
fn bad_rules_are_refused_naming_the_field_and_unknown_ids_are_not_found() {
    let broker = start();
    let addr = broker.http_addr();
    for (rule, field) in [
        (json!({"action": "error", "error": 6}), "api"),
        (json!({"api": "NoSuchApi", "action": "close"}), "api"),
        (json!({"api": "Produce", "action": "explode"}), "action"),
        (
            json!({"api": "Produce", "action": "error", "error": "NOPE"}),
            "error",
        ),
        (json!({"api": "Fetch", "action": "delay"}), "delay_ms"),
        (
            json!({"api": "Fetch", "action": "close", "probability": 2}),
            "probability",
        ),
    ] {
        let (status, body) = http_json(addr, "POST", "/admin/faults", Some(&rule));
        assert_eq!(status, 400, "{rule}: {body}");
        assert_eq!(body["field"], field, "{rule}: {body}");
    }
    let (status, body) = http_json(
        addr,
        "POST",
        "/admin/faults",
        Some(&json!({"api": "Produce", "action": "close", "colour": "red"})),
    );
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("colour"), "{body}");
    let (status, _) = http_json(addr, "DELETE", "/admin/faults/99", None);
    assert_eq!(status, 404);
    let (status, list) = http_json(addr, "GET", "/admin/faults", None);
    assert_eq!((status, list), (200, json!([])));
}
