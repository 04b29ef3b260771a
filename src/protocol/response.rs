//! Response encoding: the size prefix, the header in the version its API and version call
//! for, then the body.

use bytes::{BufMut, Bytes};
use kafka_protocol::messages::{ApiKey, ResponseHeader};
use kafka_protocol::protocol::Encodable;

use super::apis::{api_table, ErrorCodes};
use super::rope::Rope;

macro_rules! response_bodies {
    ($(($name:ident, $min:literal, $max:literal, $request:ident, $response:ident, $module:ident)),* $(,)?) => {
        /// The bodies of the responses this broker sends, one per entry of the API table.
        #[derive(Debug)]
        pub enum ResponseBody {
            $($name(kafka_protocol::messages::$response),)*
        }

        impl ResponseBody {
            /// Every error code in the response — top-level, per topic, per partition or
            /// member — zeros included; for the metrics.
            pub fn error_codes(&self) -> Vec<i16> {
                match self {
                    $(ResponseBody::$name(b) => b.error_codes(),)*
                }
            }

            fn encode_body(&self, out: &mut Rope, version: i16) -> anyhow::Result<()> {
                match self {
                    $(ResponseBody::$name(b) => b.encode(out, version),)*
                }
            }

            fn body_size(&self, version: i16) -> anyhow::Result<usize> {
                match self {
                    $(ResponseBody::$name(b) => b.compute_size(version),)*
                }
            }
        }
    };
}
api_table!(response_bodies);

/// The version the crate must encode a response in. Produce v2's response has the same
/// layout as v3, the crate's first.
fn encoding_version(api_key: ApiKey, version: i16) -> i16 {
    match api_key {
        ApiKey::Produce => version.max(3),
        _ => version,
    }
}

/// Encodes a whole response frame, size prefix included, as chunks to write in order.
/// Fetched record data is not copied: its chunks are the log's own `Bytes`.
pub fn encode(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseBody,
) -> anyhow::Result<Vec<Bytes>> {
    let header_version = if api_key == ApiKey::ApiVersions {
        // Clients parse ApiVersions responses before they know our versions: always v0.
        0
    } else {
        api_key.response_header_version(version)
    };
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let version = encoding_version(api_key, version);
    let size = header.compute_size(header_version)? + body.body_size(version)?;
    let mut out = Rope::with_capacity((4 + size).min(64 * 1024));
    if let ResponseBody::Fetch(fetch) = body {
        for records in fetch
            .responses
            .iter()
            .flat_map(|t| &t.partitions)
            .filter_map(|p| p.records.as_ref())
        {
            out.share(records);
        }
    }
    out.put_i32(i32::try_from(size)?);
    header.encode(&mut out, header_version)?;
    body.encode_body(&mut out, version)?;
    debug_assert_eq!(out.len(), 4 + size);
    Ok(out.into_chunks())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::{FetchResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;

    fn fetch_with(records: Vec<Bytes>) -> FetchResponse {
        let partitions = records
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                PartitionData::default()
                    .with_partition_index(i as i32)
                    .with_high_watermark(10)
                    .with_records(Some(r))
            })
            .collect();
        FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(partitions)])
    }

    /// The chunks, joined, are exactly what the crate writes into one buffer.
    #[test]
    fn shared_record_chunks_encode_the_same_bytes() {
        let big = Bytes::from(vec![3u8; 100_000]);
        let small = Bytes::from_static(b"tiny");
        for version in [4i16, 11, 12, 16] {
            let body = fetch_with(vec![big.clone(), small.clone(), big.slice(10..50_000)]);
            let chunks = encode(
                ApiKey::Fetch,
                version,
                42,
                &ResponseBody::Fetch(body.clone()),
            )
            .unwrap();
            assert!(
                chunks.iter().any(|c| c.as_ptr() == big.as_ptr()),
                "v{version} shares"
            );

            let mut plain = BytesMut::new();
            let header_version = ApiKey::Fetch.response_header_version(version);
            let header = ResponseHeader::default().with_correlation_id(42);
            let size =
                header.compute_size(header_version).unwrap() + body.compute_size(version).unwrap();
            plain.put_i32(size as i32);
            header.encode(&mut plain, header_version).unwrap();
            body.encode(&mut plain, version).unwrap();
            let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
            assert_eq!(joined, plain.to_vec(), "v{version}");
        }
    }
}
