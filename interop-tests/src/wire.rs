//! One client connection speaking the Kafka wire format, for tests that send exact requests
//! (malformed ones included) and decode exact responses with the `kafka-protocol` crate.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest wait for any one read; far above what a healthy broker needs.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One client connection speaking the Kafka wire format.
pub struct Wire {
    stream: TcpStream,
    next_correlation_id: i32,
}

impl Wire {
    pub async fn connect(addr: SocketAddr) -> Wire {
        Wire {
            stream: TcpStream::connect(addr)
                .await
                .expect("connect to the broker"),
            next_correlation_id: 1,
        }
    }

    /// A client whose socket takes in little it has not read (a receive buffer of a few
    /// KiB): a large answer it does not read stays with the broker.
    pub async fn connect_reading_little(addr: SocketAddr) -> Wire {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .set_recv_buffer_size(4096)
            .expect("set the receive buffer size");
        Wire {
            stream: socket.connect(addr).await.expect("connect to the broker"),
            next_correlation_id: 1,
        }
    }

    /// Encodes and sends one request frame; returns its correlation id.
    pub async fn send<R: Encodable>(
        &mut self,
        api_key: i16,
        version: i16,
        header_version: i16,
        body: &R,
        body_version: i16,
    ) -> i32 {
        let (correlation_id, frame) =
            self.frame(api_key, version, header_version, body, body_version);
        self.write(&frame).await;
        correlation_id
    }

    /// Encodes one request frame, length prefix included; returns it with its correlation id.
    pub fn frame<R: Encodable>(
        &mut self,
        api_key: i16,
        version: i16,
        header_version: i16,
        body: &R,
        body_version: i16,
    ) -> (i32, BytesMut) {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api_key)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("sluice-raw-test")));
        let mut payload = BytesMut::new();
        header
            .encode(&mut payload, header_version)
            .expect("encode the request header");
        body.encode(&mut payload, body_version)
            .expect("encode the request body");
        let mut frame = BytesMut::with_capacity(4 + payload.len());
        frame.put_i32(i32::try_from(payload.len()).expect("frame fits an i32"));
        frame.put_slice(&payload);
        (correlation_id, frame)
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .await
            .expect("write to the broker");
    }

    /// Reads one response frame's payload; `None` when the broker closed the connection.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        let read = tokio::time::timeout(READ_TIMEOUT, self.stream.read(&mut size[..1]))
            .await
            .expect("the broker answers or closes in time")
            .expect("read the response size");
        if read == 0 {
            return None;
        }
        tokio::time::timeout(READ_TIMEOUT, self.stream.read_exact(&mut size[1..]))
            .await
            .expect("the size arrives in time")
            .expect("read the response size");
        let size = usize::try_from(i32::from_be_bytes(size)).expect("a non-negative size");
        let mut payload = vec![0u8; size];
        tokio::time::timeout(READ_TIMEOUT, self.stream.read_exact(&mut payload))
            .await
            .expect("the response arrives in time")
            .expect("read the response");
        Some(Bytes::from(payload))
    }

    /// Decodes a response frame: header (in `header_version`), then the body, which must
    /// use up the frame exactly.
    pub async fn receive<R: Decodable>(
        &mut self,
        correlation_id: i32,
        header_version: i16,
        version: i16,
    ) -> R {
        let mut frame = self
            .read_frame()
            .await
            .expect("a response, not a closed connection");
        let header =
            ResponseHeader::decode(&mut frame, header_version).expect("decode the response header");
        assert_eq!(
            header.correlation_id, correlation_id,
            "responses come in request order"
        );
        let body = R::decode(&mut frame, version).expect("decode the response body");
        assert_eq!(frame.remaining(), 0, "the body fills the frame exactly");
        body
    }

    /// Sends a request of a known API at `version` and decodes its response.
    pub async fn call<Q: Encodable, R: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Q,
    ) -> R {
        let correlation_id = self
            .send(
                api_key as i16,
                version,
                api_key.request_header_version(version),
                body,
                version,
            )
            .await;
        let header_version = if api_key == ApiKey::ApiVersions {
            0
        } else {
            api_key.response_header_version(version)
        };
        self.receive(correlation_id, header_version, version).await
    }

    /// Fails unless the broker closes the connection in an orderly way (read returns 0).
    pub async fn expect_closed(&mut self, what: &str) {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(READ_TIMEOUT, self.stream.read(&mut byte))
            .await
            .unwrap_or_else(|_| panic!("{what}: the connection is still open"));
        match read {
            Ok(0) => {}
            Ok(n) => panic!("{what}: expected the connection closed, got {n} byte(s): {byte:?}"),
            Err(e) => panic!("{what}: expected an orderly close, got {e}"),
        }
    }

    /// Fails unless the broker ends the connection (an orderly close or a reset), whatever
    /// it sent first (a TLS alert, say: at most 64 KiB of it).
    pub async fn expect_closed_or_reset(&mut self, what: &str) {
        let mut buffer = [0u8; 4096];
        let mut read_bytes = 0;
        loop {
            let read = tokio::time::timeout(READ_TIMEOUT, self.stream.read(&mut buffer))
                .await
                .unwrap_or_else(|_| panic!("{what}: the connection is still open"));
            match read {
                Ok(0) | Err(_) => return,
                Ok(n) => read_bytes += n,
            }
            assert!(read_bytes <= 64 * 1024, "{what}: the broker keeps sending");
        }
    }
}
