//! One client connection: read a frame, decode it, handle it, write the response — in order,
//! one request at a time, as Kafka mutes a connection until its response is written.
//! Pipelined requests wait in the socket buffer.
//!
//! When a producer pipelines, the responses to its Produce requests are written together:
//! a response waits while the next request, already read, is another Produce, so a window of
//! in-flight requests costs few writes, not one per request. The first response after a wait
//! for the socket still goes out alone, so the peer is never idle while the rest is handled.

// Unsafe code here: the SO_RCVLOWAT socket option, which std does not wrap; each block says why it is sound.
#![allow(unsafe_code)]

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ApiKey;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::api;
use crate::broker::Broker;
use crate::protocol::frame::{self, FrameError, FrameSource};
use crate::protocol::read_buffer::ReadBuffer;
use crate::protocol::request::{self, DecodeError};
use crate::protocol::response;

const READ_BUFFER_BYTES: usize = 64 * 1024;
/// Responses held back for one write are written at once beyond this many bytes.
const PENDING_RESPONSE_BYTES: usize = 64 * 1024;

pub struct Connection {
    reader: ReadBuffer<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    peer: SocketAddr,
    broker: Arc<Broker>,
}

impl Connection {
    pub fn new(socket: TcpStream, peer: SocketAddr, broker: Arc<Broker>) -> Connection {
        let (reader, writer) = socket.into_split();
        Connection {
            reader: ReadBuffer::new(READ_BUFFER_BYTES, reader),
            writer,
            peer,
            broker,
        }
    }

    pub async fn run(mut self) {
        let peer = self.peer;
        self.broker.metrics().connection_opened();
        match self.serve().await {
            Ok(()) => tracing::debug!(%peer, "connection closed"),
            Err(reason) => tracing::warn!(%peer, %reason, "closing connection"),
        }
        self.broker.metrics().connection_closed();
    }

    /// Serves requests until the peer leaves (`Ok`) or must be cut off (`Err` with the reason).
    /// Responses already made are written first, even when a later request is the reason.
    async fn serve(&mut self) -> Result<(), String> {
        let mut pending = PendingResponses::default();
        let outcome = self.serve_requests(&mut pending).await;
        let written = pending.write_to(&mut self.writer, &self.broker).await;
        outcome.and(written)
    }

    async fn serve_requests(&mut self, pending: &mut PendingResponses) -> Result<(), String> {
        let max_request_bytes = self.broker.config().max_request_bytes;
        let idle = Duration::from_millis(self.broker.config().connections_max_idle_ms);
        let request_read = Duration::from_millis(self.broker.config().request_read_timeout_ms);
        let socket = self.reader.get_ref().as_ref().as_raw_fd();
        // The first response after a wait for the socket goes out alone, so the peer works on
        // it while the rest of what it sent is handled.
        let mut first_since_wait = false;
        loop {
            let frame = match frame::buffered_api_key(self.reader.buffered()) {
                // Already read: no wait, no timer. Another Produce lets its predecessor's
                // response wait for the same write.
                Some(api_key) => {
                    if api_key != ApiKey::Produce as i16 || first_since_wait {
                        pending.write_to(&mut self.writer, &self.broker).await?;
                    }
                    first_since_wait = false;
                    frame::read_frame(&mut self.reader, max_request_bytes, |rest| {
                        receive_low_water_mark(socket, rest)
                    })
                    .await
                }
                None => {
                    pending.write_to(&mut self.writer, &self.broker).await?;
                    first_since_wait = true;
                    // Idle until the next request's first byte; from then on the whole
                    // request must arrive within `request_read_timeout_ms`.
                    // An idle connection holds no read buffer.
                    self.reader.release();
                    let waiting = self.reader.buffered().is_empty();
                    tokio::select! {
                        started = tokio::time::timeout(idle, async {
                            if waiting {
                                // Waits for a first byte (or the end) without reading it.
                                self.reader.get_mut().peek(&mut [0u8; 1]).await.map(drop)
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
                        frame::read_frame(&mut self.reader, max_request_bytes, |rest| {
                            receive_low_water_mark(socket, rest)
                        });
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
            let response = match request::decode(frame) {
                Ok(request) => {
                    let (api_key, version, correlation_id) =
                        (request.api_key, request.version(), request.correlation_id());
                    let body = api::handle(&self.broker, request, self.peer).await;
                    let codes = body.as_ref().map(|b| b.error_codes()).unwrap_or_default();
                    self.broker.metrics().request(
                        api_key as i16,
                        arrived.elapsed(),
                        codes.into_iter(),
                    );
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
            if pending.bytes >= PENDING_RESPONSE_BYTES {
                pending.write_to(&mut self.writer, &self.broker).await?;
            }
        }
    }
}

/// Encoded responses not yet written, in order.
#[derive(Default)]
struct PendingResponses {
    chunks: Vec<Bytes>,
    bytes: usize,
}

impl PendingResponses {
    fn push(&mut self, response: Vec<Bytes>) {
        self.bytes += response.iter().map(Bytes::len).sum::<usize>();
        self.chunks.extend(response);
    }

    async fn write_to(
        &mut self,
        writer: &mut OwnedWriteHalf,
        broker: &Broker,
    ) -> Result<(), String> {
        if self.chunks.is_empty() {
            return Ok(());
        }
        let stall = Duration::from_millis(broker.config().response_write_timeout_ms);
        let sent = write_chunks(writer, std::mem::take(&mut self.chunks), stall)
            .await
            .map_err(|e| format!("write failed: {e}"))?;
        self.bytes = 0;
        broker.metrics().sent(sent);
        Ok(())
    }
}

/// Writes every chunk in order with vectored writes; returns the bytes written. A peer that
/// takes no byte for `stall` is cut off (`TimedOut`): a client that sends requests and never
/// reads the answers cannot keep them, and the memory they hold, for ever.
async fn write_chunks(
    writer: &mut OwnedWriteHalf,
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

/// The most a socket is asked to gather before it wakes the connection.
const LOW_WATER_MARK_MAX_BYTES: usize = 1024 * 1024;

/// Asks the socket not to wake the connection before `rest` bytes (at most
/// [`LOW_WATER_MARK_MAX_BYTES`]) have arrived, or before any, for 0: a large produce request
/// is then received in a few large reads rather than many small ones, each a wake-up. The
/// kernel still wakes the reader when its receive window would otherwise close. Failure only
/// costs wake-ups, so it is logged, not returned.
fn receive_low_water_mark(socket: RawFd, rest: usize) {
    let bytes = rest.clamp(1, LOW_WATER_MARK_MAX_BYTES) as libc::c_int;
    // SAFETY: a socket option on a descriptor the connection owns, with a live `c_int`.
    let set = unsafe {
        libc::setsockopt(
            socket,
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "cannot set SO_RCVLOWAT");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
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
            let fd = socket.as_raw_fd();
            let mut reader = ReadBuffer::new(READ_BUFFER_BYTES, socket);
            let read = frame::read_frame(&mut reader, 100 * 1024 * 1024, |rest| {
                receive_low_water_mark(fd, rest)
            });
            let frame = tokio::time::timeout(Duration::from_secs(10), read)
                .await
                .unwrap_or_else(|_| panic!("a frame of {size} bytes never arrived"))
                .unwrap();
            assert_eq!(frame.len(), size);
            assert!(frame.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
            drop(writer.await.unwrap());
        }
    }
}
