//! The API versions this broker advertises: exactly what the `api` modules implement.

use kafka_protocol::messages::ApiKey;

/// One advertised API: its key and the inclusive version range we answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supported {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
}

const fn api(key: ApiKey, min: i16, max: i16) -> Supported {
    Supported { key, min, max }
}

/// The advertised table, in api-key order.
///
/// Produce starts at 0 although v0–2 are answered with UNSUPPORTED_VERSION: librdkafka
/// decides whether the broker supports compression from Produce's minimum version. It also
/// sends LZ4 batches uncompressed unless FindCoordinator is advertised.
pub const SUPPORTED: &[Supported] = &[
    api(ApiKey::Produce, 0, 11),
    api(ApiKey::Fetch, 4, 16),
    api(ApiKey::ListOffsets, 1, 8),
    api(ApiKey::Metadata, 0, 12),
    api(ApiKey::OffsetCommit, 2, 9),
    api(ApiKey::OffsetFetch, 1, 9),
    api(ApiKey::FindCoordinator, 0, 4),
    api(ApiKey::JoinGroup, 0, 9),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::DescribeGroups, 0, 5),
    api(ApiKey::ListGroups, 0, 4),
    api(ApiKey::ApiVersions, 0, 4),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 6),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::InitProducerId, 0, 4),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::OffsetDelete, 0, 0),
];

/// The range advertised for `key`, if the broker implements it.
pub fn supported(key: ApiKey) -> Option<Supported> {
    SUPPORTED.iter().copied().find(|s| s.key == key)
}

/// Whether a request of this key and version is one we decode and answer.
pub fn is_supported(key: ApiKey, version: i16) -> bool {
    supported(key).is_some_and(|s| (s.min..=s.max).contains(&version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::Message;

    /// Every advertised version must be one the protocol crate can decode (Produce v0–2
    /// excepted: they are answered without the crate's v0–2 support).
    #[test]
    fn the_crate_decodes_every_advertised_version() {
        fn within<M: Message>(min: i16, max: i16) {
            assert!(M::VERSIONS.min <= min && max <= M::VERSIONS.max);
        }
        for s in SUPPORTED {
            match s.key {
                ApiKey::Produce => within::<ProduceRequest>(3, s.max),
                ApiKey::Fetch => within::<FetchRequest>(s.min, s.max),
                ApiKey::ListOffsets => within::<ListOffsetsRequest>(s.min, s.max),
                ApiKey::Metadata => within::<MetadataRequest>(s.min, s.max),
                ApiKey::ApiVersions => within::<ApiVersionsRequest>(s.min, s.max),
                ApiKey::CreateTopics => within::<CreateTopicsRequest>(s.min, s.max),
                ApiKey::InitProducerId => within::<InitProducerIdRequest>(s.min, s.max),
                ApiKey::OffsetCommit => within::<OffsetCommitRequest>(s.min, s.max),
                ApiKey::OffsetFetch => within::<OffsetFetchRequest>(s.min, s.max),
                ApiKey::FindCoordinator => within::<FindCoordinatorRequest>(s.min, s.max),
                ApiKey::JoinGroup => within::<JoinGroupRequest>(s.min, s.max),
                ApiKey::Heartbeat => within::<HeartbeatRequest>(s.min, s.max),
                ApiKey::LeaveGroup => within::<LeaveGroupRequest>(s.min, s.max),
                ApiKey::SyncGroup => within::<SyncGroupRequest>(s.min, s.max),
                ApiKey::DescribeGroups => within::<DescribeGroupsRequest>(s.min, s.max),
                ApiKey::ListGroups => within::<ListGroupsRequest>(s.min, s.max),
                ApiKey::DeleteGroups => within::<DeleteGroupsRequest>(s.min, s.max),
                ApiKey::OffsetDelete => within::<OffsetDeleteRequest>(s.min, s.max),
                ApiKey::DeleteRecords => within::<DeleteRecordsRequest>(s.min, s.max),
                ApiKey::DeleteTopics => within::<DeleteTopicsRequest>(s.min, s.max),
                ApiKey::DescribeConfigs => within::<DescribeConfigsRequest>(s.min, s.max),
                ApiKey::CreatePartitions => within::<CreatePartitionsRequest>(s.min, s.max),
                other => panic!("advertised {other:?} has no decoder check"),
            }
        }
    }

    #[test]
    fn keys_are_unique_and_ordered() {
        let keys: Vec<i16> = SUPPORTED.iter().map(|s| s.key as i16).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys, sorted);
    }
}
