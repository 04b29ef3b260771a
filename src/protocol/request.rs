//! Request decoding: header version by api key and version, then the body, with the
//! `kafka-protocol` crate. Only frames that passed the size check reach the decoders.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader};
use kafka_protocol::protocol::Decodable;

use super::apis::api_table;
use super::versions;

/// A decoded request: its header and its body.
#[derive(Debug)]
pub struct Request {
    pub header: RequestHeader,
    pub api_key: ApiKey,
    pub body: RequestBody,
}

impl Request {
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }

    pub fn correlation_id(&self) -> i32 {
        self.header.correlation_id
    }
}

macro_rules! request_bodies {
    ($(($name:ident, $min:literal, $max:literal, $request:ident, $response:ident, $module:ident)),* $(,)?) => {
        /// The bodies of the APIs this broker implements, one per entry of the API table.
        #[derive(Debug)]
        pub enum RequestBody {
            $($name(kafka_protocol::messages::$request),)*
        }

        /// The body of `api_key` in `version`, by the table's request type.
        fn decode_table_body(api_key: ApiKey, version: i16, mut buf: Bytes) -> anyhow::Result<RequestBody> {
            Ok(match api_key {
                $(ApiKey::$name => RequestBody::$name(
                    kafka_protocol::messages::$request::decode(&mut buf, version)?,
                ),)*
                other => anyhow::bail!("no decoder for {other:?}"),
            })
        }
    };
}
api_table!(request_bodies);

/// Why a frame did not become a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than the fixed part of any request header.
    TooShort(usize),
    UnknownApiKey(i16),
    /// A known API we do not implement, or a version outside our range.
    Unsupported {
        api_key: ApiKey,
        version: i16,
    },
    /// ApiVersions newer than we know: answered in v0 with UNSUPPORTED_VERSION.
    ApiVersionsTooNew {
        correlation_id: i32,
    },
    /// The header or body does not decode.
    Malformed {
        api_key: ApiKey,
        version: i16,
        reason: String,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort(n) => write!(f, "request of {n} bytes is too short"),
            DecodeError::UnknownApiKey(k) => write!(f, "unknown api key {k}"),
            DecodeError::Unsupported { api_key, version } => {
                write!(f, "unsupported request {api_key:?} v{version}")
            }
            DecodeError::ApiVersionsTooNew { .. } => write!(f, "ApiVersions newer than supported"),
            DecodeError::Malformed {
                api_key,
                version,
                reason,
            } => write!(f, "malformed {api_key:?} v{version} request: {reason}"),
        }
    }
}

/// The fixed prefix of every request header: api key, api version, correlation id.
const FIXED_HEADER_BYTES: usize = 8;

/// Produce v0–2 bodies are v3 bodies without the leading nullable transactional id.
pub(crate) const PRODUCE_FIRST_CRATE_VERSION: i16 = 3;

pub fn decode(frame: Bytes) -> Result<Request, DecodeError> {
    if frame.len() < FIXED_HEADER_BYTES {
        return Err(DecodeError::TooShort(frame.len()));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key = ApiKey::try_from(raw_key).map_err(|_| DecodeError::UnknownApiKey(raw_key))?;
    if !versions::is_supported(api_key, version) {
        let too_new_api_versions = api_key == ApiKey::ApiVersions
            && versions::supported(api_key).is_some_and(|s| version > s.max);
        return Err(if too_new_api_versions {
            DecodeError::ApiVersionsTooNew { correlation_id }
        } else {
            DecodeError::Unsupported { api_key, version }
        });
    }
    if api_key == ApiKey::Produce && version < 2 {
        // Their responses have a layout the crate cannot encode; Kafka 4 refuses them too.
        return Err(DecodeError::Unsupported { api_key, version });
    }

    let malformed = |reason: String| DecodeError::Malformed {
        api_key,
        version,
        reason,
    };
    // The decoders are fallible, but a panic on hostile input must still not take the
    // connection task down with it: treat it as a malformed request.
    catch_unwind(AssertUnwindSafe(|| {
        let mut buf = frame;
        let header = RequestHeader::decode(&mut buf, api_key.request_header_version(version))
            .map_err(|e| malformed(format!("header: {e}")))?;
        let body = decode_body(api_key, version, buf).map_err(|e| malformed(e.to_string()))?;
        Ok(Request {
            header,
            api_key,
            body,
        })
    }))
    .unwrap_or_else(|_| Err(malformed("decoder panicked".into())))
}

fn decode_body(api_key: ApiKey, version: i16, buf: Bytes) -> anyhow::Result<RequestBody> {
    if api_key == ApiKey::Produce && version < PRODUCE_FIRST_CRATE_VERSION {
        let mut v3 = BytesMut::with_capacity(buf.len() + 2);
        v3.put_i16(-1);
        v3.put_slice(&buf);
        let mut v3 = v3.freeze();
        return Ok(RequestBody::Produce(ProduceRequest::decode(
            &mut v3,
            PRODUCE_FIRST_CRATE_VERSION,
        )?));
    }
    decode_table_body(api_key, version, buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::{Encodable, StrBytes};
    use proptest::prelude::*;

    fn header_bytes(api_key: ApiKey, version: i16) -> Vec<u8> {
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("proptest")));
        let mut out = BytesMut::new();
        header
            .encode(&mut out, api_key.request_header_version(version))
            .expect("encode header");
        out.to_vec()
    }

    #[test]
    fn short_frames_and_unknown_keys_are_refused() {
        assert_eq!(
            decode(Bytes::from_static(b"\0\0")).unwrap_err(),
            DecodeError::TooShort(2)
        );
        let unknown = [0x03, 0xe7, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            decode(Bytes::copy_from_slice(&unknown)).unwrap_err(),
            DecodeError::UnknownApiKey(999)
        );
    }

    #[test]
    fn too_new_api_versions_is_answered_not_refused() {
        let mut frame = header_bytes(ApiKey::ApiVersions, 3);
        frame[2..4].copy_from_slice(&99i16.to_be_bytes());
        assert_eq!(
            decode(Bytes::from(frame)).unwrap_err(),
            DecodeError::ApiVersionsTooNew { correlation_id: 7 }
        );
    }

    #[test]
    fn produce_v2_decodes_as_v3_without_a_transactional_id() {
        let body = ProduceRequest::default().with_acks(1).with_timeout_ms(1000);
        let mut frame = BytesMut::from(&header_bytes(ApiKey::Produce, 2)[..]);
        // v2 and v3 share everything after v3's leading transactional id.
        let mut v3 = BytesMut::new();
        body.encode(&mut v3, 3).expect("encode");
        frame.extend_from_slice(&v3[2..]);
        let request = decode(frame.freeze()).expect("decodes");
        assert!(
            matches!(request.body, RequestBody::Produce(p) if p.acks == 1 && p.timeout_ms == 1000)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(Bytes::from(bytes));
        }

        #[test]
        fn arbitrary_bodies_of_every_supported_request_never_panic(
            which in 0..versions::SUPPORTED.len(),
            version_pick in any::<u16>(),
            body in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let supported = versions::SUPPORTED[which];
            let span = (supported.max - supported.min + 1) as u16;
            let version = supported.min + (version_pick % span) as i16;
            let mut frame = header_bytes(supported.key, version);
            frame.extend_from_slice(&body);
            let _ = decode(Bytes::from(frame));
        }
    }
}
