//! Limits on what one connection may hold: a request that is sent only in part is cut off
//! after `request_read_timeout_ms`, however slowly its bytes keep coming, and a client that
//! never reads its answers after `response_write_timeout_ms`, while other connections are
//! served.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, MetadataRequest, RequestHeader, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use sluice::topics::NewTopic;
use sluice::Config;
use sluice_interop_tests::wire::Wire;
use sluice_interop_tests::{
    assert_delivered, consume_all, create_topic, produce, producer_config, unique_topic, Record,
    TestBroker, TestProducer,
};

/// Waits for the broker to close the connection; how long that took.
fn wait_for_close(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(limit))
        .expect("set a read timeout");
    let mut buffer = [0u8; 64];
    match stream.read(&mut buffer) {
        Ok(0) => started.elapsed(),
        Ok(_) => panic!("no response is due to a partial request"),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => started.elapsed(),
        Err(e) => panic!("the connection was not closed within {limit:?}: {e}"),
    }
}

#[test]
fn a_request_dribbled_byte_by_byte_is_cut_off_at_the_request_read_timeout() {
    let broker = TestBroker::start_with(Config {
        request_read_timeout_ms: 500,
        ..Config::for_tests()
    });
    let mut slow = TcpStream::connect(broker.addr()).expect("connect");
    // A 1 KiB request announced, then one byte every 100 ms: never idle, never whole.
    slow.write_all(&1024i32.to_be_bytes())
        .expect("send the size");
    let writer = {
        let mut slow = slow.try_clone().expect("clone the socket");
        std::thread::spawn(move || {
            for _ in 0..50 {
                if slow.write_all(&[0]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // Meanwhile another client is served as usual.
    let topic = unique_topic("beside-slow");
    create_topic(broker.bootstrap(), &topic, 1, &[]).expect("create the topic");
    produce(
        &producer_config(broker.bootstrap()),
        &topic,
        &[Record::value("ok")],
    );
    assert_eq!(consume_all(broker.bootstrap(), &topic, 1, 1).len(), 1);

    let closed_after = wait_for_close(&mut slow, Duration::from_secs(4));
    assert!(
        closed_after < Duration::from_secs(3),
        "closed after {closed_after:?}, long past the 500 ms limit"
    );
    writer.join().expect("the writer thread");
}

#[test]
fn an_idle_connection_is_not_cut_off_by_the_request_read_timeout() {
    let broker = TestBroker::start_with(Config {
        request_read_timeout_ms: 200,
        ..Config::for_tests()
    });
    let mut idle = TcpStream::connect(broker.addr()).expect("connect");
    idle.set_read_timeout(Some(Duration::from_millis(800)))
        .expect("set a read timeout");
    let mut buffer = [0u8; 8];
    match idle.read(&mut buffer) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("an idle connection stays open past the request read timeout: {other:?}"),
    }
}

/// Reads one response frame: `false` once the broker has closed the connection.
fn read_response(stream: &mut TcpStream) -> bool {
    let closed = |e: &std::io::Error| {
        matches!(
            e.kind(),
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
        )
    };
    let mut size = [0u8; 4];
    match stream.read_exact(&mut size) {
        Ok(()) => {}
        Err(e) if closed(&e) => return false,
        Err(e) => panic!("the broker neither answered nor closed: {e}"),
    }
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    match stream.read_exact(&mut body) {
        Ok(()) => true,
        Err(e) if closed(&e) => false,
        Err(e) => panic!("the broker neither answered nor closed: {e}"),
    }
}

/// A Metadata v12 request for every topic, framed.
fn metadata_frame(correlation_id: i32) -> BytesMut {
    let mut payload = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(ApiKey::Metadata as i16)
        .with_request_api_version(12)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("never-reads")))
        .encode(&mut payload, 2)
        .expect("encode the header");
    MetadataRequest::default()
        .with_topics(None)
        .encode(&mut payload, 12)
        .expect("encode the body");
    let mut frame = BytesMut::new();
    frame.put_i32(payload.len() as i32);
    frame.put_slice(&payload);
    frame
}

#[test]
fn a_client_that_never_reads_its_answers_is_cut_off_at_the_write_timeout() {
    let broker = TestBroker::start_with(Config {
        response_write_timeout_ms: 500,
        ..Config::for_tests()
    });
    // 300 topics make each Metadata answer some 20 KB; 2,000 of them are far more than the
    // sockets' buffers hold.
    for i in 0..300 {
        broker
            .broker()
            .topics()
            .create(NewTopic {
                name: format!("never-read-{i:03}"),
                partitions: 1,
                configs: Default::default(),
            })
            .expect("create a topic");
    }
    const REQUESTS: i32 = 2_000;
    let mut stream = TcpStream::connect(broker.addr()).expect("connect");
    let mut all = BytesMut::new();
    for id in 0..REQUESTS {
        all.extend_from_slice(&metadata_frame(id));
    }
    let writer = {
        let mut stream = stream.try_clone().expect("clone the socket");
        // The broker stops reading once it cannot write: this write may block, then fail.
        std::thread::spawn(move || stream.write_all(&all).is_ok())
    };
    std::thread::sleep(Duration::from_secs(2));
    // Now read what the broker managed to send before it gave up: well short of every
    // answer, then the end of the connection.
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a read timeout");
    let mut answered = 0;
    while read_response(&mut stream) {
        answered += 1;
    }
    assert!(
        answered < REQUESTS,
        "all {answered} answers were written: the client was never cut off"
    );
    let _ = writer.join();
    // The broker still serves others.
    let topic = unique_topic("after-never-read");
    create_topic(broker.bootstrap(), &topic, 1, &[]).expect("create the topic");
}

fn fetch_everything(topic: &str, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(64 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(64 << 20)])])
}

fn records_bytes(response: &FetchResponse) -> usize {
    response.responses[0].partitions[0]
        .records
        .as_ref()
        .map_or(0, |records| records.len())
}

/// Clients that send a large Fetch and never read the answer hold at most the broker's fetch
/// memory between them, plus one first batch each; a client that asks meanwhile is answered
/// at its deadline without records, and reads them once the memory is given back.
#[test]
fn unread_fetch_answers_hold_at_most_the_fetch_memory_budget() {
    // Batches larger than a loopback connection's socket buffers take (4 MiB sent at most),
    // so an answer nobody reads stays with the broker.
    const RECORD: usize = 6 << 20;
    const BATCH_MAX: usize = RECORD + 1024;
    const BUDGET: usize = 8 << 20;
    let broker = TestBroker::start_with(Config {
        fetch_memory_max_bytes: BUDGET,
        ..Config::for_tests()
    });
    let topic = unique_topic("fetch-memory");
    create_topic(
        broker.bootstrap(),
        &topic,
        1,
        &[("max.message.bytes", "10485760")],
    )
    .expect("create the topic");
    let mut config = producer_config(broker.bootstrap());
    config.set("message.max.bytes", "10485760");
    let producer = TestProducer::new(&config);
    for i in 0..4u8 {
        assert_delivered(&producer.send_one(&topic, &Record::value(vec![i; RECORD])));
    }
    let fetch_memory = || broker.broker().fetch_memory().held_bytes();
    broker.block_on(async {
        // The first takes one batch (two do not fit), the second what is left — its first
        // batch whole, past the budget — and the third nothing.
        let mut stuck = Vec::new();
        for _ in 0..3 {
            let mut wire = Wire::connect_reading_little(broker.addr()).await;
            wire.send(
                ApiKey::Fetch as i16,
                4,
                ApiKey::Fetch.request_header_version(4),
                &fetch_everything(&topic, 0),
                4,
            )
            .await;
            stuck.push(wire);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let held = fetch_memory();
        assert!(
            held > 2 * RECORD && held <= 2 * BATCH_MAX,
            "unread answers hold {held} bytes: two batches"
        );

        let mut reader = Wire::connect(broker.addr()).await;
        let started = Instant::now();
        let starved: FetchResponse = reader
            .call(ApiKey::Fetch, 4, &fetch_everything(&topic, 300))
            .await;
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "answered at its deadline"
        );
        let partition = &starved.responses[0].partitions[0];
        assert_eq!(partition.error_code, 0);
        assert_eq!(partition.high_watermark, 4);
        assert_eq!(records_bytes(&starved), 0, "no memory left: no records");

        drop(stuck);
        let freed = Instant::now();
        while fetch_memory() != 0 {
            assert!(
                freed.elapsed() < Duration::from_secs(10),
                "memory given back"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let fed: FetchResponse = reader
            .call(ApiKey::Fetch, 4, &fetch_everything(&topic, 300))
            .await;
        let bytes = records_bytes(&fed);
        assert!(
            bytes > RECORD && bytes <= BATCH_MAX,
            "with the memory back a fetch reads one batch: {bytes} bytes"
        );
        assert_eq!(fetch_memory(), 0, "a written answer gives its memory back");
    });
}
