//! Response encoding: the size prefix, the header in the version its API and version call
//! for, then the body.

use bytes::{BufMut, Bytes};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, CreatePartitionsResponse, CreateTopicsResponse,
    DeleteGroupsResponse, DeleteRecordsResponse, DeleteTopicsResponse, DescribeConfigsResponse,
    DescribeGroupsResponse, FetchResponse, FindCoordinatorResponse, HeartbeatResponse,
    InitProducerIdResponse, JoinGroupResponse, LeaveGroupResponse, ListGroupsResponse,
    ListOffsetsResponse, MetadataResponse, OffsetCommitResponse, OffsetDeleteResponse,
    OffsetFetchResponse, ProduceResponse, ResponseHeader, SyncGroupResponse,
};
use kafka_protocol::protocol::Encodable;

use super::rope::Rope;

/// The bodies of the responses this broker sends.
#[derive(Debug)]
pub enum ResponseBody {
    ApiVersions(ApiVersionsResponse),
    Metadata(MetadataResponse),
    Produce(ProduceResponse),
    Fetch(FetchResponse),
    ListOffsets(ListOffsetsResponse),
    CreateTopics(CreateTopicsResponse),
    InitProducerId(InitProducerIdResponse),
    OffsetCommit(OffsetCommitResponse),
    OffsetFetch(OffsetFetchResponse),
    FindCoordinator(FindCoordinatorResponse),
    JoinGroup(JoinGroupResponse),
    Heartbeat(HeartbeatResponse),
    LeaveGroup(LeaveGroupResponse),
    SyncGroup(SyncGroupResponse),
    DescribeGroups(DescribeGroupsResponse),
    ListGroups(ListGroupsResponse),
    DeleteGroups(DeleteGroupsResponse),
    OffsetDelete(OffsetDeleteResponse),
    DeleteRecords(DeleteRecordsResponse),
    DeleteTopics(DeleteTopicsResponse),
    DescribeConfigs(DescribeConfigsResponse),
    CreatePartitions(CreatePartitionsResponse),
}

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
    let size = header.compute_size(header_version)? + body_size(body, version)?;
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
    match body {
        ResponseBody::ApiVersions(b) => b.encode(&mut out, version)?,
        ResponseBody::Metadata(b) => b.encode(&mut out, version)?,
        ResponseBody::Produce(b) => b.encode(&mut out, version)?,
        ResponseBody::Fetch(b) => b.encode(&mut out, version)?,
        ResponseBody::ListOffsets(b) => b.encode(&mut out, version)?,
        ResponseBody::CreateTopics(b) => b.encode(&mut out, version)?,
        ResponseBody::InitProducerId(b) => b.encode(&mut out, version)?,
        ResponseBody::OffsetCommit(b) => b.encode(&mut out, version)?,
        ResponseBody::OffsetFetch(b) => b.encode(&mut out, version)?,
        ResponseBody::FindCoordinator(b) => b.encode(&mut out, version)?,
        ResponseBody::JoinGroup(b) => b.encode(&mut out, version)?,
        ResponseBody::Heartbeat(b) => b.encode(&mut out, version)?,
        ResponseBody::LeaveGroup(b) => b.encode(&mut out, version)?,
        ResponseBody::SyncGroup(b) => b.encode(&mut out, version)?,
        ResponseBody::DescribeGroups(b) => b.encode(&mut out, version)?,
        ResponseBody::ListGroups(b) => b.encode(&mut out, version)?,
        ResponseBody::DeleteGroups(b) => b.encode(&mut out, version)?,
        ResponseBody::OffsetDelete(b) => b.encode(&mut out, version)?,
        ResponseBody::DeleteRecords(b) => b.encode(&mut out, version)?,
        ResponseBody::DeleteTopics(b) => b.encode(&mut out, version)?,
        ResponseBody::DescribeConfigs(b) => b.encode(&mut out, version)?,
        ResponseBody::CreatePartitions(b) => b.encode(&mut out, version)?,
    }
    debug_assert_eq!(out.len(), 4 + size);
    Ok(out.into_chunks())
}

fn body_size(body: &ResponseBody, version: i16) -> anyhow::Result<usize> {
    match body {
        ResponseBody::ApiVersions(b) => b.compute_size(version),
        ResponseBody::Metadata(b) => b.compute_size(version),
        ResponseBody::Produce(b) => b.compute_size(version),
        ResponseBody::Fetch(b) => b.compute_size(version),
        ResponseBody::ListOffsets(b) => b.compute_size(version),
        ResponseBody::CreateTopics(b) => b.compute_size(version),
        ResponseBody::InitProducerId(b) => b.compute_size(version),
        ResponseBody::OffsetCommit(b) => b.compute_size(version),
        ResponseBody::OffsetFetch(b) => b.compute_size(version),
        ResponseBody::FindCoordinator(b) => b.compute_size(version),
        ResponseBody::JoinGroup(b) => b.compute_size(version),
        ResponseBody::Heartbeat(b) => b.compute_size(version),
        ResponseBody::LeaveGroup(b) => b.compute_size(version),
        ResponseBody::SyncGroup(b) => b.compute_size(version),
        ResponseBody::DescribeGroups(b) => b.compute_size(version),
        ResponseBody::ListGroups(b) => b.compute_size(version),
        ResponseBody::DeleteGroups(b) => b.compute_size(version),
        ResponseBody::OffsetDelete(b) => b.compute_size(version),
        ResponseBody::DeleteRecords(b) => b.compute_size(version),
        ResponseBody::DeleteTopics(b) => b.compute_size(version),
        ResponseBody::DescribeConfigs(b) => b.compute_size(version),
        ResponseBody::CreatePartitions(b) => b.compute_size(version),
    }
}

impl ResponseBody {
    /// Every error code in the response — top-level, per topic, per partition or member —
    /// zeros included; for the metrics.
    pub fn error_codes(&self) -> Vec<i16> {
        match self {
            ResponseBody::ApiVersions(b) => vec![b.error_code],
            ResponseBody::Metadata(b) => b
                .topics
                .iter()
                .flat_map(|t| {
                    std::iter::once(t.error_code).chain(t.partitions.iter().map(|p| p.error_code))
                })
                .collect(),
            ResponseBody::Produce(b) => b
                .responses
                .iter()
                .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code))
                .collect(),
            ResponseBody::Fetch(b) => std::iter::once(b.error_code)
                .chain(
                    b.responses
                        .iter()
                        .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
                )
                .collect(),
            ResponseBody::ListOffsets(b) => b
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
                .collect(),
            ResponseBody::CreateTopics(b) => b.topics.iter().map(|t| t.error_code).collect(),
            ResponseBody::InitProducerId(b) => vec![b.error_code],
            ResponseBody::OffsetCommit(b) => b
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
                .collect(),
            ResponseBody::OffsetFetch(b) => std::iter::once(b.error_code)
                .chain(b.groups.iter().map(|g| g.error_code))
                .collect(),
            ResponseBody::FindCoordinator(b) => std::iter::once(b.error_code)
                .chain(b.coordinators.iter().map(|c| c.error_code))
                .collect(),
            ResponseBody::JoinGroup(b) => vec![b.error_code],
            ResponseBody::Heartbeat(b) => vec![b.error_code],
            ResponseBody::LeaveGroup(b) => std::iter::once(b.error_code)
                .chain(b.members.iter().map(|m| m.error_code))
                .collect(),
            ResponseBody::SyncGroup(b) => vec![b.error_code],
            ResponseBody::DescribeGroups(b) => b.groups.iter().map(|g| g.error_code).collect(),
            ResponseBody::ListGroups(b) => vec![b.error_code],
            ResponseBody::DeleteGroups(b) => b.results.iter().map(|r| r.error_code).collect(),
            ResponseBody::DeleteTopics(b) => b.responses.iter().map(|r| r.error_code).collect(),
            ResponseBody::DeleteRecords(b) => b
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
                .collect(),
            ResponseBody::CreatePartitions(b) => b.results.iter().map(|r| r.error_code).collect(),
            ResponseBody::DescribeConfigs(b) => b.results.iter().map(|r| r.error_code).collect(),
            ResponseBody::OffsetDelete(b) => std::iter::once(b.error_code)
                .chain(
                    b.topics
                        .iter()
                        .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
                )
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::TopicName;
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
