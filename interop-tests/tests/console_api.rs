//! The web console's JSON API (`/ui/api/…` on the admin listener) against a real broker, with
//! rdkafka on the Kafka side: records produced by a client are shown with their exact keys,
//! values, headers and offsets (and found by filters); a record produced through the API is
//! consumed byte for byte; the live tail streams a burst in full, in order; an offset reset
//! through the API is where a group's consumer resumes.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};
use sluice::Config;
use sluice_interop_tests::{
    assert_all_delivered, assigned_consumer, consume_exactly, consumer_config, produce,
    producer_config, unique_topic, Record, TestBroker,
};

fn broker() -> (TestBroker, SocketAddr) {
    let broker = TestBroker::start_with(Config {
        http: "127.0.0.1:0".into(),
        ..Config::for_tests()
    });
    let http = broker.http_addr();
    (broker, http)
}

/// One request over a fresh connection: the status and the JSON body.
fn call(http: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut stream = TcpStream::connect_timeout(&http, Duration::from_secs(2)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a whole response");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn create(http: SocketAddr, name: &str, partitions: i32) {
    let (status, body) = call(
        http,
        "POST",
        "/ui/api/topics",
        Some(json!({ "name": name, "partitions": partitions })),
    );
    assert_eq!(status, 201, "{body}");
}

fn with_headers(key: &str, value: &str, headers: &[(&str, &str)]) -> Record {
    Record {
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.as_bytes().to_vec())))
            .collect(),
        partition: Some(1),
        ..Record::keyed(key, value)
    }
}

/// A record as a page shows it: offset, key text, value text, (header, value text) pairs.
type Shown = (i64, String, String, Vec<(String, String)>);

fn shown(page: &Value) -> Vec<Shown> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let headers = r["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    let name = h["name"].as_str().unwrap().to_string();
                    (name, h["value"]["text"].as_str().unwrap().to_string())
                })
                .collect();
            (
                r["offset"].as_i64().unwrap(),
                r["key"]["text"].as_str().unwrap().to_string(),
                r["value"]["text"].as_str().unwrap().to_string(),
                headers,
            )
        })
        .collect()
}

#[test]
fn records_produced_by_a_client_are_shown_exactly_and_found_by_filters() {
    let (broker, http) = broker();
    let topic = unique_topic("console-browse");
    create(http, &topic, 2);
    let records = [
        with_headers("k0", r#"{"n":0}"#, &[("trace", "t-0"), ("src", "a")]),
        with_headers("k1", "plain one", &[("trace", "t-1")]),
        with_headers("k2", r#"{"n":2}"#, &[("trace", "t-2"), ("src", "b")]),
    ];
    assert_all_delivered(&produce(
        &producer_config(broker.bootstrap()),
        &topic,
        &records,
    ));

    let (status, page) = call(
        http,
        "GET",
        &format!("/ui/api/topics/{topic}/records?partition=1&offset=0"),
        None,
    );
    assert_eq!(status, 200, "{page}");
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(
        shown(&page),
        [
            (
                0,
                "k0".into(),
                r#"{"n":0}"#.into(),
                vec![pair("trace", "t-0"), pair("src", "a")]
            ),
            (
                1,
                "k1".into(),
                "plain one".into(),
                vec![pair("trace", "t-1")]
            ),
            (
                2,
                "k2".into(),
                r#"{"n":2}"#.into(),
                vec![pair("trace", "t-2"), pair("src", "b")]
            ),
        ]
    );
    assert_eq!(page["end_offset"], 3);
    assert!(page["records"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["partition"] == 1 && r["timestamp"].as_i64().unwrap() > 0));

    let found = |query: &str| {
        let (status, page) = call(
            http,
            "GET",
            &format!("/ui/api/topics/{topic}/records?partition=1&{query}"),
            None,
        );
        assert_eq!(status, 200, "{page}");
        shown(&page).into_iter().map(|r| r.0).collect::<Vec<_>>()
    };
    assert_eq!(found("offset=0&header=src=b"), [2]);
    assert_eq!(found("offset=0&header=src"), [0, 2]);
    assert_eq!(found("offset=0&value=plain"), [1]);
    assert_eq!(found("offset=0&key=k2"), [2]);
    assert_eq!(found("last=2"), [1, 2]);
    assert_eq!(found("offset=1&limit=1"), [1]);
    assert_eq!(found("timestamp=0&limit=1"), [0]);
    let (status, _) = call(
        http,
        "GET",
        &format!("/ui/api/topics/{topic}/records?partition=9"),
        None,
    );
    assert_eq!(status, 404);
    let (status, _) = call(
        http,
        "GET",
        &format!("/ui/api/topics/{topic}/records?offset=1&last=2"),
        None,
    );
    assert_eq!(status, 400, "one start only");
}

#[test]
fn a_record_produced_through_the_api_is_consumed_byte_for_byte() {
    let (broker, http) = broker();
    let topic = unique_topic("console-produce");
    create(http, &topic, 1);
    let (status, body) = call(
        http,
        "POST",
        &format!("/ui/api/topics/{topic}/records"),
        Some(json!({
            "partition": 0,
            "key": { "text": "order-7" },
            "value": { "base64": "/wCAAQ==" },
            "headers": [
                { "name": "trace", "value": { "text": "abc" } },
                { "name": "empty", "value": null },
            ],
        })),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body, json!({ "partition": 0, "offset": 0 }));
    let consumer = assigned_consumer(
        &consumer_config(broker.bootstrap()),
        &topic,
        &[(0, Offset::Beginning)],
    );
    let got = consume_exactly(&consumer, 1);
    assert_eq!(got[0].offset, 0);
    assert_eq!(got[0].key.as_deref(), Some(&b"order-7"[..]));
    assert_eq!(got[0].value.as_deref(), Some(&[0xff, 0x00, 0x80, 0x01][..]));
    assert_eq!(
        got[0].headers,
        [
            ("trace".to_string(), Some(b"abc".to_vec())),
            ("empty".to_string(), None)
        ]
    );
    let (status, body) = call(
        http,
        "POST",
        &format!("/ui/api/topics/{topic}/records"),
        Some(json!({ "value": { "base64": "not base64!" } })),
    );
    assert_eq!(status, 400, "{body}");
}

/// The next SSE event of `reader`: its name and data.
fn next_event(reader: &mut impl BufRead) -> io::Result<(String, String)> {
    let (mut name, mut data) = (String::new(), String::new());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if !name.is_empty() {
                return Ok((name, data));
            }
            continue;
        }
        if let Some(n) = line.strip_prefix("event: ") {
            name = n.to_string();
        } else if let Some(d) = line.strip_prefix("data: ") {
            data.push_str(d);
        }
    }
}

#[test]
fn the_live_tail_streams_a_burst_in_full_and_in_order() {
    let (broker, http) = broker();
    let topic = unique_topic("console-tail");
    create(http, &topic, 1);
    let mut stream = TcpStream::connect(http).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET /ui/api/topics/{topic}/tail?partition=0 HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    // A chunked body: the chunk-size lines are not SSE lines and are skipped as such.
    let mut reader = BufReader::new(stream);
    let (name, data) = next_event(&mut reader).unwrap();
    assert_eq!(name, "ready");
    let ready: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(ready["positions"], json!([{ "partition": 0, "offset": 0 }]));

    let burst: Vec<Record> = (0..2_000)
        .map(|i| Record {
            partition: Some(0),
            ..Record::keyed(format!("k{i}"), format!("v{i}"))
        })
        .collect();
    assert_all_delivered(&produce(
        &producer_config(broker.bootstrap()),
        &topic,
        &burst,
    ));
    for i in 0..2_000i64 {
        let (name, data) = next_event(&mut reader).unwrap();
        assert_eq!(name, "record");
        let record: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(record["offset"], i);
        assert_eq!(record["key"]["text"], format!("k{i}"));
        assert_eq!(record["value"]["text"], format!("v{i}"));
    }
}

#[test]
fn an_offset_reset_through_the_api_is_where_the_group_resumes() {
    let (broker, http) = broker();
    let topic = unique_topic("console-reset");
    create(http, &topic, 1);
    let records: Vec<Record> = (0..10)
        .map(|i| Record {
            partition: Some(0),
            ..Record::keyed(format!("k{i}"), format!("v{i}"))
        })
        .collect();
    assert_all_delivered(&produce(
        &producer_config(broker.bootstrap()),
        &topic,
        &records,
    ));
    let group = unique_topic("console-group");
    let mut config = consumer_config(broker.bootstrap());
    config.set("group.id", &group);
    // A committed offset of 10, as a consumer that read everything leaves it.
    let committer: BaseConsumer = config.create().unwrap();
    let mut done = TopicPartitionList::new();
    done.add_partition_offset(&topic, 0, Offset::Offset(10))
        .unwrap();
    committer.commit(&done, CommitMode::Sync).unwrap();
    drop(committer);

    let (status, body) = call(http, "GET", &format!("/ui/api/groups/{group}"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["offsets"],
        json!([{ "topic": topic, "partition": 0, "committed": 10, "end_offset": 10, "lag": 0 }])
    );

    let (status, body) = call(
        http,
        "POST",
        &format!("/ui/api/groups/{group}/reset"),
        Some(json!({ "topic": topic, "partition": 0, "to": "offset", "offset": 6 })),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["offset"], 6);
    let consumer = assigned_consumer(&config, &topic, &[(0, Offset::Stored)]);
    let resumed = consume_exactly(&consumer, 4);
    let offsets: Vec<i64> = resumed.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [6, 7, 8, 9]);
    assert_eq!(resumed[0].key.as_deref(), Some(&b"k6"[..]));

    let (status, body) = call(
        http,
        "POST",
        &format!("/ui/api/groups/{group}/reset"),
        Some(json!({ "topic": topic, "partition": 0, "to": "earliest" })),
    );
    assert_eq!((status, body["offset"].as_i64()), (200, Some(0)));
    let (status, _) = call(
        http,
        "POST",
        &format!("/ui/api/groups/{group}/reset"),
        Some(json!({ "topic": topic, "partition": 0, "to": "offset" })),
    );
    assert_eq!(status, 400, "an offset reset needs its offset");
}
