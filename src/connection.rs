//! One client connection: read a frame, decode it, handle it, write the response — in order,
//! one request at a time, as Kafka mutes a connection until its response is written.
//! Pipelined requests wait in the socket buffer.
//!
//! When a producer pipelines, the responses to its Produce requests are written together:
//! a response waits while the next request, already read, is another Produce, so a window of
//! in-flight requests costs few writes, not one per request. The first response after a wait
//! for the socket still goes out alone, so the peer is never idle while the rest is handled.

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::api;
use crate::broker::fetch_memory::Reservation;
use crate::broker::Broker;
use crate::faults::FaultAction;
use crate::protocol::frame::{self, FrameError, FrameSource};
use crate::protocol::read_buffer::ReadBuffer;
use crate::protocol::request::{self, DecodeError};
use crate::protocol::response;
use crate::request_log::Answered;
use crate::security::sasl;
use crate::session::Session;
use crate::transport::Transport;

const READ_BUFFER_BYTES: usize = 64 * 1024;
/// Responses held back for one write are written at once beyond this many bytes.
const PENDING_RESPONSE_BYTES: usize = 64 * 1024;

/// A connection over any [`Transport`]: requests and responses share the one stream, which
/// is never read and written at the same time (a response is written before the next
/// request is read), so it is not split.
pub struct Connection<S> {
    /// The stream, behind the read buffer; responses are written to `stream.get_mut()`.
    stream: ReadBuffer<S>,
    session: Session,
    broker: Arc<Broker>,
}

impl<S: Transport> Connection<S> {
    pub fn new(stream: S, session: Session, broker: Arc<Broker>) -> Connection<S> {
        Connection {
            stream: ReadBuffer::new(READ_BUFFER_BYTES, stream),
            session,
            broker,
        }
    }

    pub async fn run(mut self) {
        let peer = self.session.peer();
        self.broker.metrics().connection_opened();
        match self.serve().await {
            Ok(()) => tracing::debug!(%peer, "connection closed"),
            Err(reason) => tracing::warn!(%peer, %reason, "closing connection"),
        }
        // The write side is closed before the stream is dropped, as a TCP write half does
        // when it is dropped: the peer sees the end of the responses.
        let _ = self.stream.get_mut().shutdown().await;
        self.broker.metrics().connection_closed();
    }

    /// Serves requests until the peer leaves (`Ok`) or must be cut off (`Err` with the reason).
    /// Responses already made are written first, even when a later request is the reason.
    async fn serve(&mut self) -> Result<(), String> {
        let mut pending = PendingResponses::default();
        let outcome = self.serve_requests(&mut pending).await;
        let written = pending.write_to(self.stream.get_mut(), &self.broker).await;
        outcome.and(written)
    }

    async fn serve_requests(&mut self, pending: &mut PendingResponses) -> Result<(), String> {
        let configured_request_bytes = self.broker.config().max_request_bytes;
        let idle = Duration::from_millis(self.broker.config().connections_max_idle_ms);
        let request_read = Duration::from_millis(self.broker.config().request_read_timeout_ms);
        let low_water_mark = self.stream.get_ref().low_water_mark();
        let expect_more = move |rest: usize| {
            if let Some(mark) = low_water_mark {
                mark.set(rest);
            }
        };
        // The first response after a wait for the socket goes out alone, so the peer works on
        // it while the rest of what it sent is handled.
        let mut first_since_wait = false;
        loop {
            // Before authentication a request is small: a client that has not said who it is
            // cannot make the broker buffer 100 MiB.
            let max_request_bytes = if self.session.sasl().is_authenticated() {
                configured_request_bytes
            } else {
                configured_request_bytes.min(sasl::UNAUTHENTICATED_REQUEST_BYTES_MAX)
            };
            let frame = match frame::buffered_api_key(self.stream.buffered()) {
                // Already read: no wait, no timer. Another Produce lets its predecessor's
                // response wait for the same write.
                Some(api_key) => {
                    if api_key != ApiKey::Produce as i16 || first_since_wait {
                        pending
                            .write_to(self.stream.get_mut(), &self.broker)
                            .await?;
                    }
                    first_since_wait = false;
                    frame::read_frame(&mut self.stream, max_request_bytes, expect_more).await
                }
                None => {
                    pending
                        .write_to(self.stream.get_mut(), &self.broker)
                        .await?;
                    first_since_wait = true;
                    // Idle until the next request's first byte; from then on the whole
                    // request must arrive within `request_read_timeout_ms`.
                    // An idle connection holds no read buffer.
                    self.stream.release();
                    let waiting = self.stream.buffered().is_empty();
                    tokio::select! {
                        started = tokio::time::timeout(idle, async {
                            if waiting {
                                // Waits for a first byte (or the end) without reading it.
                                self.stream.get_mut().wait_for_input().await
                            } else {
                                Ok(())
                            }
                        }) => match started {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => return Err(format!("read failed: {e}")),
                            Err(_) => return Err(format!("idle for {} ms (connections_max_idle_ms)", idle.as_millis())),
                        },
                        _ = self.broker.shutting_down() => return Ok(()),
                    }
                    let next_frame =
                        frame::read_frame(&mut self.stream, max_request_bytes, expect_more);
                    match tokio::time::timeout(request_read, next_frame).await {
                        Ok(frame) => frame,
                        Err(_) => {
                            return Err(format!(
                            "a request did not arrive whole within {} ms (request_read_timeout_ms)",
                            request_read.as_millis()
                        ))
                        }
                    }
                }
            };
            let frame = match frame {
                Ok(frame) => frame,
                Err(FrameError::Closed) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            };
            let arrived = crate::clock::monotonic_now();
            self.broker.metrics().received(frame.len() + 4);
            if self.session.sasl().expects_raw_token() {
                // After SaslHandshake v0: a bare token, answered by a bare frame.
                let answer = sasl::authenticate(&self.broker, &mut self.session, &frame);
                if answer.error_code != sasl::NONE {
                    return Err(self
                        .session
                        .take_closing()
                        .unwrap_or_else(|| "SASL authentication failed".to_string()));
                }
                let size = i32::try_from(answer.auth_bytes.len()).unwrap_or(i32::MAX);
                pending.push(vec![
                    Bytes::copy_from_slice(&size.to_be_bytes()),
                    Bytes::from(answer.auth_bytes),
                ]);
                continue;
            }
            let response = match request::decode(frame) {
                Ok(request) => {
                    let (api_key, version, correlation_id) =
                        (request.api_key, request.version(), request.correlation_id());
                    self.session
                        .sasl()
                        .admit(api_key as i16, self.broker.clock().now_ms())?;
                    let client_id = request.header.client_id.as_ref().map_or("", |c| c.as_str());
                    let fault = self.broker.faults().check(api_key as i16, client_id, || {
                        api::fault_answers::targets(&self.broker, &request.body)
                    });
                    if let Some(fault) = &fault {
                        self.broker
                            .metrics()
                            .fault_fired(api_key as i16, fault.action.name());
                        match fault.action {
                            FaultAction::Close => {
                                return Err(format!(
                                    "{api_key:?} closed by fault rule {}",
                                    fault.id
                                ))
                            }
                            FaultAction::Drop => {
                                // Kafka answers a connection's requests in order, so once one
                                // goes unanswered none after it can be: the connection reads
                                // and discards everything until the client gives up on it.
                                pending
                                    .write_to(self.stream.get_mut(), &self.broker)
                                    .await?;
                                tracing::info!(peer = %self.session.peer(), id = fault.id, "{api_key:?} dropped by a fault rule; nothing more is answered on this connection");
                                // Boxed, as the other rare paths: a connection's task carries only the
                                // state of the requests every connection makes.
                                return Box::pin(self.swallow(max_request_bytes)).await;
                            }
                            FaultAction::Delay => {
                                Box::pin(tokio::time::sleep(Duration::from_millis(fault.delay_ms)))
                                    .await
                            }
                            FaultAction::Error => {}
                        }
                    }
                    let fault_id = fault.as_ref().map(|f| f.id);
                    let fault = fault.filter(|f| f.action == FaultAction::Error);
                    // Only what the recorder needs beyond the metrics, and only while it is on.
                    let recording = self
                        .broker
                        .request_log()
                        .enabled()
                        .then(|| (client_id.to_string(), self.broker.clock().now_ms()));
                    // Boxed: the largest handler's state would otherwise sit in every connection's
                    // task, idle ones included (3.8 KiB of a connection's future).
                    let handled = Box::pin(api::handle_faulted(
                        &self.broker,
                        &mut self.session,
                        request,
                        fault.as_ref(),
                    ))
                    .await;
                    let body = handled.body;
                    if let Some(memory) = handled.held {
                        pending.hold(memory);
                    }
                    let codes = body.as_ref().map(|b| b.error_codes()).unwrap_or_default();
                    let elapsed = arrived.elapsed();
                    if let Some((client_id, time_ms)) = recording {
                        let software = self.session.client_software();
                        self.broker.request_log().record(Answered {
                            time_ms,
                            api_key: api_key as i16,
                            version,
                            correlation_id,
                            client_id,
                            client_software: software
                                .map(|s| (s.name.as_str(), s.version.as_str())),
                            peer: self.session.peer(),
                            duration_us: elapsed.as_micros() as u64,
                            codes: &codes,
                            fault: fault_id,
                        });
                    }
                    self.broker
                        .metrics()
                        .request(api_key as i16, elapsed, codes.into_iter());
                    match body {
                        Some(body) => response::encode(api_key, version, correlation_id, &body)
                            .map_err(|e| anyhow::anyhow!("{api_key:?} v{version}: {e}")),
                        None => continue,
                    }
                }
                Err(DecodeError::ApiVersionsTooNew { correlation_id }) => {
                    api::api_versions::unsupported_version(correlation_id)
                }
                Err(e) => return Err(e.to_string()),
            };
            let response = response.map_err(|e| format!("cannot encode response: {e}"))?;
            pending.push(response);
            if let Some(reason) = self.session.take_closing() {
                // The answer (a failed authentication) goes out first, as Kafka sends it.
                pending
                    .write_to(self.stream.get_mut(), &self.broker)
                    .await?;
                return Err(reason);
            }
            if pending.bytes >= PENDING_RESPONSE_BYTES {
                pending
                    .write_to(self.stream.get_mut(), &self.broker)
                    .await?;
            }
        }
    }
}

impl<S: Transport> Connection<S> {
    /// Reads and discards requests until the peer closes the connection, is idle for
    /// `connections_max_idle_ms`, or the broker stops (a `drop` fault rule fired): nothing
    /// more is answered.
    async fn swallow(&mut self, max_request_bytes: usize) -> Result<(), String> {
        let idle = Duration::from_millis(self.broker.config().connections_max_idle_ms);
        loop {
            let next = frame::read_frame(&mut self.stream, max_request_bytes, |_| {});
            tokio::select! {
                frame = tokio::time::timeout(idle, next) => match frame {
                    Ok(Ok(_)) => continue,
                    Ok(Err(FrameError::Closed)) => return Ok(()),
                    Ok(Err(e)) => return Err(e.to_string()),
                    Err(_) => return Err(format!("idle for {} ms (connections_max_idle_ms) after a dropped request", idle.as_millis())),
                },
                _ = self.broker.shutting_down() => return Ok(()),
            }
        }
    }
}

/// Encoded responses not yet written, in order, and the fetch memory they hold.
#[derive(Default)]
struct PendingResponses {
    chunks: Vec<Bytes>,
    bytes: usize,
    /// Given back to the broker's fetch memory budget once the responses are written.
    held: Vec<Reservation>,
}

impl PendingResponses {
    fn hold(&mut self, memory: Reservation) {
        self.held.push(memory);
    }

    fn push(&mut self, response: Vec<Bytes>) {
        self.bytes += response.iter().map(Bytes::len).sum::<usize>();
        self.chunks.extend(response);
    }

    async fn write_to<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
        broker: &Broker,
    ) -> Result<(), String> {
        if self.chunks.is_empty() {
            self.held.clear();
            return Ok(());
        }
        let stall = Duration::from_millis(broker.config().response_write_timeout_ms);
        let sent = write_chunks(writer, std::mem::take(&mut self.chunks), stall)
            .await
            .map_err(|e| format!("write failed: {e}"))?;
        self.bytes = 0;
        self.held.clear();
        broker.metrics().sent(sent);
        Ok(())
    }
}

/// Writes every chunk in order with vectored writes; returns the bytes written. A peer that
/// takes no byte for `stall` is cut off (`TimedOut`): a client that sends requests and never
/// reads the answers cannot keep them, and the memory they hold, for ever.
async fn write_chunks<W: AsyncWrite + Unpin>(
    writer: &mut W,
    mut chunks: Vec<Bytes>,
    stall: Duration,
) -> io::Result<usize> {
    let total = chunks.iter().map(Bytes::len).sum();
    let mut first = 0;
    while first < chunks.len() {
        let slices: Vec<IoSlice<'_>> = chunks[first..].iter().map(|c| IoSlice::new(c)).collect();
        let write = writer.write_vectored(&slices);
        let mut written = tokio::time::timeout(stall, write).await.map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the client read nothing for {} ms (response_write_timeout_ms)",
                    stall.as_millis()
                ),
            )
        })??;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while first < chunks.len() && written >= chunks[first].len() {
            written -= chunks[first].len();
            first += 1;
        }
        if written > 0 {
            chunks[first].advance(written);
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Frame sizes on both sides of every threshold of the read path: the 64 KiB read buffer,
    /// the 128 KiB rest that is announced to the socket, the 1 MiB read chunk and low-water
    /// mark cap, the sizes (200–260 KB) at which a mark left above the rest was never
    /// reached, and the 100 MiB request limit.
    fn frame_sizes() -> Vec<usize> {
        const KIB: usize = 1024;
        const MIB: usize = 1024 * KIB;
        let mut sizes = vec![KIB, 64 * KIB - 4, 64 * KIB, 64 * KIB + 1, 100 * KIB];
        sizes.extend((128..=300).step_by(4).map(|k| k * 1000));
        sizes.extend([128 * KIB - 1, 128 * KIB, 192 * KIB + 1, 260_000, 512 * KIB]);
        sizes.extend([MIB - 1, MIB, MIB + 1, 2 * MIB + 3, 10 * MIB, 100 * MIB]);
        sizes
    }

    /// Real sockets on loopback, the real low-water mark: each frame is written at once, as
    /// a client does, on a connection of its own (a new socket's receive buffer is small, so
    /// a large frame arrives in several wake-ups), and must arrive whole.
    #[tokio::test]
    async fn frames_of_every_size_arrive_over_a_socket_with_the_low_water_mark() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for size in frame_sizes() {
            let writer = tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                let mut frame = (size as i32).to_be_bytes().to_vec();
                frame.extend((0..size).map(|i| (i % 251) as u8));
                stream.write_all(&frame).await.unwrap();
                stream
            });
            let (socket, _) = listener.accept().await.unwrap();
            let mark = socket
                .low_water_mark()
                .expect("a TCP socket has a low-water mark");
            let mut reader = ReadBuffer::new(READ_BUFFER_BYTES, socket);
            let read = frame::read_frame(&mut reader, 100 * 1024 * 1024, |rest| mark.set(rest));
            let frame = tokio::time::timeout(Duration::from_secs(10), read)
                .await
                .unwrap_or_else(|_| panic!("a frame of {size} bytes never arrived"))
                .unwrap();
            assert_eq!(frame.len(), size);
            assert!(frame.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
            drop(writer.await.unwrap());
        }
    }

    /// Every connection's task holds its future for its whole life, idle or not: the handlers'
    /// states stay out of it (10,000 idle connections are 10,000 of these).
    #[tokio::test]
    async fn a_connection_task_holds_no_handler_state() {
        let node = crate::node::Node::start(crate::config::Config::for_tests())
            .await
            .unwrap();
        let (_client, server) = tokio::io::duplex(1024);
        let session = Session::new(
            crate::session::PLAINTEXT_LISTENER,
            "127.0.0.1:6000".parse().unwrap(),
        );
        let run = Connection::new(server, session, node.broker().clone()).run();
        let bytes = std::mem::size_of_val(&run);
        assert!(bytes <= 2048, "a connection's future is {bytes} bytes");
        drop(run);
        node.shutdown().await;
    }

    /// A stream with no socket under it, as a TLS stream will be. It cannot wait for input
    /// without reading it, so its connection starts the request read timer at once.
    impl Transport for tokio::io::DuplexStream {
        async fn wait_for_input(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The whole path over a non-TCP transport: a request framed in, its response framed out,
    /// and the end of the stream ends the connection.
    #[tokio::test]
    async fn a_connection_serves_a_transport_that_is_not_tcp() {
        use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
        use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
        use tokio::io::AsyncReadExt;

        let node = crate::node::Node::start(crate::config::Config::for_tests())
            .await
            .unwrap();
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let session = Session::new(
            crate::session::PLAINTEXT_LISTENER,
            "127.0.0.1:6000".parse().unwrap(),
        );
        let served = tokio::spawn(Connection::new(server, session, node.broker().clone()).run());

        let mut request = bytes::BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(ApiKey::ApiVersions as i16)
            .with_request_api_version(3)
            .with_correlation_id(11)
            .with_client_id(Some(StrBytes::from_static_str("duplex")))
            .encode(&mut request, ApiKey::ApiVersions.request_header_version(3))
            .unwrap();
        ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("test"))
            .with_client_software_version(StrBytes::from_static_str("1"))
            .encode(&mut request, 3)
            .unwrap();
        client
            .write_all(&(request.len() as i32).to_be_bytes())
            .await
            .unwrap();
        client.write_all(&request).await.unwrap();

        let size = tokio::time::timeout(Duration::from_secs(5), client.read_i32())
            .await
            .expect("a response within 5 s")
            .unwrap();
        let mut response = vec![0u8; usize::try_from(size).unwrap()];
        client.read_exact(&mut response).await.unwrap();
        let mut response = Bytes::from(response);
        assert_eq!(response.get_i32(), 11, "the correlation id comes back");
        let answer = ApiVersionsResponse::decode(&mut response, 3).unwrap();
        assert_eq!(answer.error_code, 0);
        assert_eq!(
            answer.api_keys.len(),
            crate::protocol::versions::SUPPORTED.len()
        );
        assert!(response.is_empty(), "nothing after the body");

        drop(client);
        tokio::time::timeout(Duration::from_secs(5), served)
            .await
            .expect("the connection ends with its stream")
            .unwrap();
        node.shutdown().await;
    }
}
