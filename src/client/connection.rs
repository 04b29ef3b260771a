//! One connection to one broker: frames out, frames in, answered in order, with the versions
//! the broker and this client both speak (negotiated once with ApiVersions when it opens).

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::error::{ClientError, ClientResult};
use crate::protocol::frame::{read_frame, FrameError};

/// The largest response this client reads: well above a Fetch's `max_bytes` (see
/// `client::fetch`), so only a confused or hostile peer reaches it.
pub const MAX_RESPONSE_BYTES: usize = 128 * 1024 * 1024;

/// A broker connection that has negotiated API versions.
pub struct Connection {
    addr: String,
    stream: BufReader<TcpStream>,
    next_correlation_id: i32,
    client_id: StrBytes,
    timeout: Duration,
    /// API key → the broker's (min, max) version.
    versions: HashMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects to `addr` (HOST:PORT) and asks which versions the broker speaks.
    pub async fn open(addr: &str, client_id: &str, timeout: Duration) -> ClientResult<Connection> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout {
                what: format!("connecting to {addr}"),
                timeout,
            })?
            .map_err(|source| ClientError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let mut connection = Connection {
            addr: addr.to_string(),
            stream: BufReader::new(stream),
            next_correlation_id: 1,
            client_id: StrBytes::from_string(client_id.to_string()),
            timeout,
            versions: HashMap::new(),
        };
        // v3 (flexible, with the client's software name) is spoken by every broker since
        // Kafka 2.4; a broker that does not know it answers in v0 with an error, reported.
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("sluice-cli"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        // A broker older than v3 answers UNSUPPORTED_VERSION in v0, which does not decode as
        // v3: ask again in v0, which every broker speaks.
        let response = match connection.send(&request, 3).await {
            Ok(response) if response.error_code == 0 => response,
            Ok(_) | Err(ClientError::Protocol(_)) => {
                connection.send(&ApiVersionsRequest::default(), 0).await?
            }
            Err(e) => return Err(e),
        };
        ClientError::check(response.error_code, "ApiVersions")?;
        connection.versions = response
            .api_keys
            .iter()
            .map(|api| (api.api_key, (api.min_version, api.max_version)))
            .collect();
        Ok(connection)
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The broker's (min, max) versions of every API it advertised.
    pub fn versions(&self) -> &HashMap<i16, (i16, i16)> {
        &self.versions
    }

    /// The highest version of `R` both sides speak, this client speaking up to `ours_max`.
    pub fn version<R: Request>(&self, ours_max: i16) -> ClientResult<i16> {
        let name = api_name(R::KEY);
        let (broker_min, broker_max) =
            self.versions
                .get(&R::KEY)
                .copied()
                .ok_or_else(|| ClientError::Unsupported {
                    api: name.clone(),
                    detail: format!("the broker at {} does not offer it", self.addr),
                })?;
        let version = ours_max.min(broker_max).min(R::VERSIONS.max);
        if version < broker_min.max(R::VERSIONS.min) {
            return Err(ClientError::Unsupported {
                api: name,
                detail: format!(
                    "the broker speaks v{broker_min}..=v{broker_max}, this client up to v{ours_max}"
                ),
            });
        }
        Ok(version)
    }

    /// Sends `request` at `version` and reads its response, within the connection's timeout.
    pub async fn send<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> ClientResult<R::Response> {
        let timeout = self.timeout;
        self.send_within(request, version, timeout).await
    }

    /// [`Connection::send`] with a timeout of its own (a Fetch that waits on the broker, a
    /// JoinGroup that waits for a rebalance).
    pub async fn send_within<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> ClientResult<R::Response> {
        let api = api_name(R::KEY);
        tokio::time::timeout(timeout, self.exchange(request, version))
            .await
            .map_err(|_| ClientError::Timeout {
                what: format!("{api} v{version} to {}", self.addr),
                timeout,
            })?
    }

    async fn exchange<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> ClientResult<R::Response> {
        let api = api_name(R::KEY);
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        header
            .encode(&mut frame, R::header_version(version))
            .and_then(|()| request.encode(&mut frame, version))
            .map_err(|e| ClientError::Protocol(format!("cannot encode {api} v{version}: {e}")))?;
        let size = i32::try_from(frame.len() - 4)
            .map_err(|_| ClientError::Protocol(format!("{api} request too large")))?;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        self.stream
            .get_mut()
            .write_all(&frame)
            .await
            .map_err(|source| self.io_error(source))?;

        let mut payload = read_frame(&mut self.stream, MAX_RESPONSE_BYTES, |_| {})
            .await
            .map_err(|e| match e {
                FrameError::Closed => ClientError::Closed {
                    addr: self.addr.clone(),
                    api: api.clone(),
                },
                FrameError::Io(source) => self.io_error(source),
                other => ClientError::Protocol(format!("{api} from {}: {other}", self.addr)),
            })?;
        // ApiVersions answers with header v0 whatever its version, so a client that asked
        // too new a version can still read the error.
        let response_header_version = if R::KEY == ApiKey::ApiVersions as i16 {
            0
        } else {
            R::Response::header_version(version)
        };
        let header = ResponseHeader::decode(&mut payload, response_header_version)
            .map_err(|e| ClientError::Protocol(format!("{api} response header: {e}")))?;
        if header.correlation_id != correlation_id {
            return Err(ClientError::Protocol(format!(
                "{api}: correlation id {} answers request {correlation_id}",
                header.correlation_id
            )));
        }
        let response = R::Response::decode(&mut payload, version)
            .map_err(|e| ClientError::Protocol(format!("cannot decode {api} v{version}: {e}")))?;
        if payload.has_remaining() {
            tracing::debug!(
                api,
                left = payload.remaining(),
                "response has bytes after its body"
            );
        }
        Ok(response)
    }

    fn io_error(&self, source: std::io::Error) -> ClientError {
        ClientError::Io {
            addr: self.addr.clone(),
            source,
        }
    }
}

/// An API's name as Kafka spells it ("Produce", "Metadata"), or its key.
pub fn api_name(key: i16) -> String {
    ApiKey::try_from(key)
        .map(|api| format!("{api:?}"))
        .unwrap_or_else(|_| format!("api {key}"))
}
