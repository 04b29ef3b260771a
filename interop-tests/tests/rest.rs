//! The REST proxy (Confluent REST v2 / Redpanda HTTP Proxy shapes, Confluent v3 produce)
//! against real clients: records produced over HTTP are read back by rdkafka byte for byte,
//! and records produced by rdkafka are read over HTTP.

use rdkafka::Offset;
use serde_json::{json, Value};
use sluice::Config;
use sluice_interop_tests::http_client::http;
use sluice_interop_tests::*;

const V2_JSON: &str = "application/vnd.kafka.json.v2+json";
const V2_BINARY: &str = "application/vnd.kafka.binary.v2+json";

/// A record as read: partition, offset, key, value.
type Placed = (i32, i64, Option<Vec<u8>>, Option<Vec<u8>>);

fn start() -> TestBroker {
    TestBroker::start_with(Config {
        http: "127.0.0.1:0".into(),
        ..Config::for_tests()
    })
}

fn post(broker: &TestBroker, path: &str, content_type: &str, body: &Value) -> (u16, Value) {
    let text = body.to_string();
    let answer = http(
        broker.http_addr(),
        "POST",
        path,
        Some((content_type, text.as_bytes())),
    );
    (
        answer.status,
        serde_json::from_slice(&answer.body).unwrap_or(Value::Null),
    )
}

fn b64(bytes: &[u8]) -> String {
    // The test's own encoder, so the proxy's decoder is checked against something else.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn v2_json_and_binary_and_v3_records_are_read_back_by_rdkafka_exactly() {
    let broker = start();
    let topic = unique_topic("rest");
    create_topic(broker.bootstrap(), &topic, 2, &[]).unwrap();

    let (status, body) = post(
        &broker,
        &format!("/topics/{topic}"),
        V2_JSON,
        &json!({"records": [
            {"key": {"id": 1}, "value": {"a": "b"}, "partition": 1},
            {"value": "plain", "partition": 0},
        ]}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["offsets"],
        json!([
            {"partition": 1, "offset": 0, "error_code": null, "error": null},
            {"partition": 0, "offset": 0, "error_code": null, "error": null},
        ])
    );

    let binary_value: Vec<u8> = (0..=255).collect();
    let (status, body) = post(
        &broker,
        &format!("/topics/{topic}"),
        V2_BINARY,
        &json!({"records": [{"key": b64(b"k\x00bin"), "value": b64(&binary_value), "partition": 0}]}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["offsets"][0]["offset"], 1);

    let clusters = http(broker.http_addr(), "GET", "/v3/clusters", None);
    let clusters: Value = serde_json::from_slice(&clusters.body).unwrap();
    let cluster_id = clusters["data"][0]["cluster_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(cluster_id, broker.broker().cluster_id());
    let (status, body) = post(
        &broker,
        &format!("/v3/clusters/{cluster_id}/topics/{topic}/records"),
        "application/json",
        &json!({
            "partition_id": 1,
            "headers": [{"name": "h1", "value": b64(b"v1")}, {"name": "h2", "value": b64(b"")}],
            "key": {"type": "STRING", "data": "string-key"},
            "value": {"type": "BINARY", "data": b64(b"\x01\x02")},
        }),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["partition_id"].clone(), body["offset"].clone()),
        (json!(1), json!(1))
    );
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'), "{body}");

    let consumer = assigned_consumer(
        &consumer_config(broker.bootstrap()),
        &topic,
        &[(0, Offset::Offset(0)), (1, Offset::Offset(0))],
    );
    let mut read = consume_exactly(&consumer, 4);
    read.sort_by_key(|r| (r.partition, r.offset));
    let summary: Vec<Placed> = read
        .iter()
        .map(|r| (r.partition, r.offset, r.key.clone(), r.value.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, 0, None, Some(b"\"plain\"".to_vec())),
            (0, 1, Some(b"k\x00bin".to_vec()), Some(binary_value)),
            (
                1,
                0,
                Some(b"{\"id\":1}".to_vec()),
                Some(b"{\"a\":\"b\"}".to_vec())
            ),
            (1, 1, Some(b"string-key".to_vec()), Some(vec![1, 2])),
        ]
    );
    assert_eq!(
        read[3].headers,
        vec![
            ("h1".to_string(), Some(b"v1".to_vec())),
            ("h2".to_string(), Some(Vec::new())),
        ]
    );
}

#[test]
fn records_produced_by_rdkafka_are_read_through_the_records_endpoint() {
    let broker = start();
    let topic = unique_topic("rest-read");
    create_topic(broker.bootstrap(), &topic, 1, &[]).unwrap();
    assert_all_delivered(&produce(
        &producer_config(broker.bootstrap()),
        &topic,
        &[
            Record::keyed("k0", "{\"n\":0}"),
            Record::keyed(b"\xff\x00".to_vec(), b"\x00\x01".to_vec()),
            Record::value("{\"n\":2}"),
        ],
    ));
    let path =
        format!("/topics/{topic}/partitions/0/records?offset=1&max_bytes=100000&timeout=500");
    let answer = http(broker.http_addr(), "GET", &path, None);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let records: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(
        records,
        json!([
            {"topic": topic, "key": "\u{fffd}\u{0}", "value": "\u{0}\u{1}", "partition": 0, "offset": 1},
            {"topic": topic, "key": null, "value": {"n": 2}, "partition": 0, "offset": 2},
        ])
    );

    let mut stream = std::net::TcpStream::connect(broker.http_addr()).unwrap();
    use std::io::{Read, Write};
    write!(
        stream,
        "GET /topics/{topic}/partitions/0/records?offset=0 HTTP/1.1\r\nHost: x\r\nAccept: {V2_BINARY}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    let records: Value = serde_json::from_str(body).unwrap();
    assert_eq!(records.as_array().unwrap().len(), 3, "{records}");
    assert_eq!(records[0]["key"], b64(b"k0"));
    assert_eq!(records[1]["key"], b64(b"\xff\x00"));
    assert_eq!(records[1]["value"], b64(b"\x00\x01"));
    assert_eq!(records[2]["offset"], 2);
}

#[test]
fn metadata_endpoints_and_refusals() {
    let broker = start();
    let topic = unique_topic("rest-meta");
    create_topic(broker.bootstrap(), &topic, 3, &[]).unwrap();
    let get = |path: &str| {
        let answer = http(broker.http_addr(), "GET", path, None);
        (
            answer.status,
            serde_json::from_slice::<Value>(&answer.body).unwrap(),
        )
    };
    assert_eq!(get("/brokers"), (200, json!({"brokers": [0]})));
    assert_eq!(get("/topics"), (200, json!([topic])));
    let (status, described) = get(&format!("/topics/{topic}"));
    assert_eq!(status, 200);
    assert_eq!(described["name"], topic);
    assert_eq!(described["partitions"].as_array().unwrap().len(), 3);
    assert_eq!(described["partitions"][2]["partition"], 2);
    assert_eq!(get("/topics/nope").0, 404);
    let (status, body) = post(
        &broker,
        "/topics/nope",
        V2_JSON,
        &json!({"records": [{"value": 1}]}),
    );
    assert_eq!((status, body["error_code"].clone()), (404, json!(40401)));
    let (status, _) = post(
        &broker,
        &format!("/topics/{topic}"),
        "application/vnd.kafka.avro.v2+json",
        &json!({"records": []}),
    );
    assert_eq!(status, 415);
    let (status, _) = post(
        &broker,
        &format!("/topics/{topic}"),
        V2_JSON,
        &json!({"records": [{"value": 1, "partition": 7}]}),
    );
    assert_eq!(status, 404);
    let (status, _) = post(
        &broker,
        &format!("/topics/{topic}"),
        V2_BINARY,
        &json!({"records": [{"value": "not base64!"}]}),
    );
    assert_eq!(status, 422);
}

#[test]
fn a_consumer_instance_subscribes_reads_commits_and_a_new_instance_resumes_from_the_commit() {
    let broker = start();
    let topic = unique_topic("rest-consumer");
    create_topic(broker.bootstrap(), &topic, 2, &[]).unwrap();
    let config = producer_config(broker.bootstrap());
    let records: Vec<Record> = (0..4)
        .map(|i| Record {
            partition: Some(i % 2),
            ..Record::keyed(format!("k{i}"), format!("v{i}"))
        })
        .collect();
    assert_all_delivered(&produce(&config, &topic, &records));
    let group = "rest-group";
    let v2 = "application/vnd.kafka.v2+json";

    let (status, created) = post(
        &broker,
        &format!("/consumers/{group}"),
        v2,
        &json!({"name": "c1", "format": "binary"}),
    );
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["instance_id"], "c1");
    assert!(created["base_uri"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/consumers/{group}/instances/c1")));
    let base = format!("/consumers/{group}/instances/c1");
    let answer = http(
        broker.http_addr(),
        "POST",
        &format!("{base}/subscription"),
        Some((v2, json!({"topics": [topic]}).to_string().as_bytes())),
    );
    assert_eq!(answer.status, 204, "{}", answer.text());

    let read = |base: &str| {
        let answer = http(
            broker.http_addr(),
            "GET",
            &format!("{base}/records?timeout=200"),
            None,
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        let records: Value = serde_json::from_slice(&answer.body).unwrap();
        let mut got: Vec<(i64, i64, String, String)> = records
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["partition"].as_i64().unwrap(),
                    r["offset"].as_i64().unwrap(),
                    r["key"].as_str().unwrap().to_string(),
                    r["value"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        got.sort();
        got
    };
    assert_eq!(
        read(&base),
        vec![
            (0, 0, b64(b"k0"), b64(b"v0")),
            (0, 1, b64(b"k2"), b64(b"v2")),
            (1, 0, b64(b"k1"), b64(b"v1")),
            (1, 1, b64(b"k3"), b64(b"v3")),
        ]
    );
    assert_eq!(read(&base), vec![], "positions moved on");
    let committed = http(broker.http_addr(), "POST", &format!("{base}/offsets"), None);
    assert_eq!(committed.status, 200, "{}", committed.text());
    let asked =
        json!({"partitions": [{"topic": topic, "partition": 0}, {"topic": topic, "partition": 1}]})
            .to_string();
    let answer = http(
        broker.http_addr(),
        "GET",
        &format!("{base}/offsets"),
        Some((v2, asked.as_bytes())),
    );
    let offsets: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(
        offsets["offsets"],
        json!([
            {"topic": topic, "partition": 0, "offset": 2, "metadata": ""},
            {"topic": topic, "partition": 1, "offset": 2, "metadata": ""},
        ])
    );
    // The commit is the group's: Kafka clients see it too.
    let seen = broker
        .block_on(broker.broker().groups().fetch_offsets(group.into(), None))
        .unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen
        .iter()
        .all(|(_, _, o)| o.as_ref().map(|o| o.offset) == Some(2)));

    let (status, _) = post(
        &broker,
        &format!("/consumers/{group}"),
        v2,
        &json!({"name": "c2", "format": "binary"}),
    );
    assert_eq!(status, 200);
    let second = format!("/consumers/{group}/instances/c2");
    http(
        broker.http_addr(),
        "POST",
        &format!("{second}/subscription"),
        Some((v2, json!({"topics": [topic]}).to_string().as_bytes())),
    );
    assert_eq!(read(&second), vec![], "resumes from the commit");
    assert_all_delivered(&produce(
        &config,
        &topic,
        &[Record {
            partition: Some(1),
            ..Record::keyed("k4", "v4")
        }],
    ));
    assert_eq!(read(&second), vec![(1, 2, b64(b"k4"), b64(b"v4"))]);

    assert_eq!(http(broker.http_addr(), "DELETE", &base, None).status, 204);
    assert_eq!(
        http(broker.http_addr(), "GET", &format!("{base}/records"), None).status,
        404
    );
}
