//! Limits on what one connection may hold: a request that is sent only in part is cut off
//! after `request_read_timeout_ms`, however slowly its bytes keep coming, while other
//! connections are served.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use sluice::Config;
use sluice_interop_tests::{
    consume_all, create_topic, produce, producer_config, unique_topic, Record, TestBroker,
};

/// Reads until the broker closes the connection; how long that took.
fn wait_for_close(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(limit))
        .expect("set a read timeout");
    let mut buffer = [0u8; 64];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return started.elapsed(),
            Ok(_) => panic!("no response is due to a partial request"),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return started.elapsed(),
            Err(e) => panic!("the connection was not closed within {limit:?}: {e}"),
        }
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
