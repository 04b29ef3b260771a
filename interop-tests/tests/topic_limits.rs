//! Limits on topic creation, on a broker with its data on disk: one Metadata request naming
//! 25,000 unknown topics creates at most `auto_create_topics_max_per_request` of them, the
//! broker never holds more than `max_partitions`, CreateTopics past a limit gets
//! `POLICY_VIOLATION`, and the broker starts again with everything that was created.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, MetadataRequest, MetadataResponse,
    RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use sluice::Config;
use sluice_interop_tests::TestBroker;

const NONE: i16 = 0;
const LEADER_NOT_AVAILABLE: i16 = 5;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const POLICY_VIOLATION: i16 = 44;

const METADATA_VERSION: i16 = 12;
const CREATE_TOPICS_VERSION: i16 = 7;

/// One request and its response over a blocking socket (both APIs use flexible headers:
/// request header v2, response header v1).
fn exchange<Req: Encodable, Resp: Decodable>(
    addr: SocketAddr,
    api_key: ApiKey,
    version: i16,
    body: &Req,
) -> Resp {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("set a read timeout");
    let mut payload = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("sluice-limits-test")))
        .encode(&mut payload, 2)
        .expect("encode the header");
    body.encode(&mut payload, version).expect("encode the body");
    let mut frame = BytesMut::new();
    frame.put_i32(payload.len() as i32);
    frame.put_slice(&payload);
    stream.write_all(&frame).expect("send the request");
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).expect("read the size");
    let mut response = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut response).expect("read the response");
    let mut response = Bytes::from(response);
    let header = ResponseHeader::decode(&mut response, 1).expect("decode the header");
    assert_eq!(header.correlation_id, 7);
    Resp::decode(&mut response, version).expect("decode the body")
}

fn metadata(addr: SocketAddr, names: &[String]) -> MetadataResponse {
    let request = MetadataRequest::default()
        .with_allow_auto_topic_creation(true)
        .with_topics(Some(
            names
                .iter()
                .map(|name| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
                })
                .collect(),
        ));
    exchange(addr, ApiKey::Metadata, METADATA_VERSION, &request)
}

/// How many of the response's topics carry each of these error codes.
fn count_codes(response: &MetadataResponse, code: i16) -> usize {
    response
        .topics
        .iter()
        .filter(|t| t.error_code == code)
        .count()
}

fn create_topics(addr: SocketAddr, topics: &[(&str, i32)]) -> CreateTopicsResponse {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(
            topics
                .iter()
                .map(|(name, partitions)| {
                    CreatableTopic::default()
                        .with_name(TopicName(StrBytes::from_string(name.to_string())))
                        .with_num_partitions(*partitions)
                        .with_replication_factor(1)
                })
                .collect(),
        );
    exchange(addr, ApiKey::CreateTopics, CREATE_TOPICS_VERSION, &request)
}

fn config(data_dir: &Path) -> Config {
    Config {
        memory: false,
        data_dir: data_dir.to_path_buf(),
        max_partitions: 250,
        max_partitions_per_request: 40,
        ..Config::for_tests()
    }
}

#[test]
fn auto_creation_and_create_topics_are_bounded_and_the_broker_starts_again() {
    let dir = tempfile::tempdir().expect("a data directory");
    let names: Vec<String> = (0..25_000).map(|i| format!("bomb-{i:05}")).collect();
    {
        let broker = TestBroker::start_with(config(dir.path()));
        let first = metadata(broker.addr(), &names);
        assert_eq!(first.topics.len(), names.len());
        assert_eq!(
            count_codes(&first, NONE),
            100,
            "created by the first request"
        );
        assert_eq!(count_codes(&first, LEADER_NOT_AVAILABLE), 24_900);
        assert!(first.topics[..100].iter().all(|t| t.partitions.len() == 1));

        let second = metadata(broker.addr(), &names);
        assert_eq!(
            count_codes(&second, NONE),
            200,
            "100 known, 100 more created"
        );
        let third = metadata(broker.addr(), &names);
        assert_eq!(count_codes(&third, NONE), 250, "max_partitions reached");
        assert_eq!(count_codes(&third, UNKNOWN_TOPIC_OR_PARTITION), 50);
        assert_eq!(count_codes(&third, LEADER_NOT_AVAILABLE), 25_000 - 250 - 50);
        assert_eq!(broker.broker().topics().partition_count(), 250);

        let refused = create_topics(broker.addr(), &[("one-more", 1)]);
        assert_eq!(refused.topics[0].error_code, POLICY_VIOLATION);
        assert!(broker.broker().topics().get("one-more").is_none());
    }
    let on_disk = std::fs::read_dir(dir.path().join("topics"))
        .expect("the definitions")
        .count();
    assert_eq!(
        on_disk, 250,
        "one definition per created topic, nothing half-made"
    );

    // The broker starts again, with every topic, and a per-request limit on CreateTopics.
    let broker = TestBroker::start_with(Config {
        max_partitions: 1_000,
        ..config(dir.path())
    });
    assert_eq!(broker.broker().topics().all().len(), 250);
    let response = create_topics(broker.addr(), &[("a", 30), ("b", 10), ("c", 1)]);
    let codes: Vec<i16> = response.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        vec![NONE, NONE, POLICY_VIOLATION],
        "40 partitions per request"
    );
    assert_eq!(broker.broker().topics().partition_count(), 290);
}
