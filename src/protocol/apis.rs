//! The API table: every Kafka API this broker answers, declared once — its key, the
//! versions it advertises and answers, its request and response types and the `api` module
//! whose `handle` answers it. Request decoding (`request`), response encoding (`response`),
//! ApiVersions' answer and the metric labels (`versions::SUPPORTED`) and the dispatch to the
//! handlers (`api`) are all expanded from `api_table!`; the error codes a response carries
//! (for the metrics) are [`ErrorCodes`], below.
//!
//! Adding an API: one line in the table, and `src/api/<module>.rs` (declared with `pub mod`
//! in `api/mod.rs`) with `pub async fn handle(&Broker, &RequestContext, version, Request) ->
//! Response` (or `-> Option<Response>` when some requests get no answer) and the response's
//! [`ErrorCodes`] (the ones below are here only because they predate the table). The compiler
//! names whatever is missing.

use kafka_protocol::messages::*;

/// Calls `$callback! { (Name, min, max, NameRequest, NameResponse, module), ... }` with the
/// table, in api-key order.
///
/// Produce starts at 0 although v0–2 are answered with UNSUPPORTED_VERSION: librdkafka
/// decides whether the broker supports compression from Produce's minimum version. It also
/// sends LZ4 batches uncompressed unless FindCoordinator is advertised.
macro_rules! api_table {
    ($callback:ident) => {
        $callback! {
            (Produce, 0, 12, ProduceRequest, ProduceResponse, produce),
            (Fetch, 4, 16, FetchRequest, FetchResponse, fetch),
            (ListOffsets, 1, 10, ListOffsetsRequest, ListOffsetsResponse, list_offsets),
            (Metadata, 0, 13, MetadataRequest, MetadataResponse, metadata),
            (OffsetCommit, 2, 9, OffsetCommitRequest, OffsetCommitResponse, offset_commit),
            (OffsetFetch, 1, 9, OffsetFetchRequest, OffsetFetchResponse, offset_fetch),
            (FindCoordinator, 0, 6, FindCoordinatorRequest, FindCoordinatorResponse, find_coordinator),
            (JoinGroup, 0, 9, JoinGroupRequest, JoinGroupResponse, join_group),
            (Heartbeat, 0, 4, HeartbeatRequest, HeartbeatResponse, heartbeat),
            (LeaveGroup, 0, 5, LeaveGroupRequest, LeaveGroupResponse, leave_group),
            (SyncGroup, 0, 5, SyncGroupRequest, SyncGroupResponse, sync_group),
            (DescribeGroups, 0, 6, DescribeGroupsRequest, DescribeGroupsResponse, describe_groups),
            (ListGroups, 0, 5, ListGroupsRequest, ListGroupsResponse, list_groups),
            (SaslHandshake, 0, 1, SaslHandshakeRequest, SaslHandshakeResponse, sasl_handshake),
            (ApiVersions, 0, 4, ApiVersionsRequest, ApiVersionsResponse, api_versions),
            (CreateTopics, 2, 7, CreateTopicsRequest, CreateTopicsResponse, create_topics),
            (DeleteTopics, 1, 6, DeleteTopicsRequest, DeleteTopicsResponse, delete_topics),
            (DeleteRecords, 0, 2, DeleteRecordsRequest, DeleteRecordsResponse, delete_records),
            (InitProducerId, 0, 5, InitProducerIdRequest, InitProducerIdResponse, init_producer_id),
            (OffsetForLeaderEpoch, 2, 4, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, offset_for_leader_epoch),
            (AddPartitionsToTxn, 0, 5, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, add_partitions_to_txn),
            (AddOffsetsToTxn, 0, 4, AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, add_offsets_to_txn),
            (EndTxn, 0, 5, EndTxnRequest, EndTxnResponse, end_txn),
            (WriteTxnMarkers, 1, 1, WriteTxnMarkersRequest, WriteTxnMarkersResponse, write_txn_markers),
            (TxnOffsetCommit, 0, 5, TxnOffsetCommitRequest, TxnOffsetCommitResponse, txn_offset_commit),
            (DescribeAcls, 1, 3, DescribeAclsRequest, DescribeAclsResponse, describe_acls),
            (CreateAcls, 1, 3, CreateAclsRequest, CreateAclsResponse, create_acls),
            (DeleteAcls, 1, 3, DeleteAclsRequest, DeleteAclsResponse, delete_acls),
            (DescribeConfigs, 1, 4, DescribeConfigsRequest, DescribeConfigsResponse, describe_configs),
            (AlterConfigs, 0, 2, AlterConfigsRequest, AlterConfigsResponse, alter_configs),
            (DescribeLogDirs, 1, 4, DescribeLogDirsRequest, DescribeLogDirsResponse, describe_log_dirs),
            (SaslAuthenticate, 0, 2, SaslAuthenticateRequest, SaslAuthenticateResponse, sasl_authenticate),
            (CreatePartitions, 0, 3, CreatePartitionsRequest, CreatePartitionsResponse, create_partitions),
            (DeleteGroups, 0, 2, DeleteGroupsRequest, DeleteGroupsResponse, delete_groups),
            (ElectLeaders, 0, 2, ElectLeadersRequest, ElectLeadersResponse, elect_leaders),
            (IncrementalAlterConfigs, 0, 1, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, incremental_alter_configs),
            (AlterPartitionReassignments, 0, 0, AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, alter_partition_reassignments),
            (ListPartitionReassignments, 0, 0, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, list_partition_reassignments),
            (OffsetDelete, 0, 0, OffsetDeleteRequest, OffsetDeleteResponse, offset_delete),
            (DescribeUserScramCredentials, 0, 0, DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse, describe_user_scram_credentials),
            (AlterUserScramCredentials, 0, 0, AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, alter_user_scram_credentials),
            (DescribeCluster, 0, 2, DescribeClusterRequest, DescribeClusterResponse, describe_cluster),
            (DescribeProducers, 0, 0, DescribeProducersRequest, DescribeProducersResponse, describe_producers),
            (DescribeTransactions, 0, 0, DescribeTransactionsRequest, DescribeTransactionsResponse, describe_transactions),
            (ListTransactions, 0, 1, ListTransactionsRequest, ListTransactionsResponse, list_transactions),
            (DescribeTopicPartitions, 0, 0, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, describe_topic_partitions),
        }
    };
}
pub(crate) use api_table;

/// Every error code in a response — top-level, per topic, per partition or member — zeros
/// included; for the metrics.
pub trait ErrorCodes {
    fn error_codes(&self) -> Vec<i16>;
}

/// Responses whose only code is the top-level one.
macro_rules! top_level_error_code {
    ($($response:ty),* $(,)?) => {
        $(impl ErrorCodes for $response {
            fn error_codes(&self) -> Vec<i16> {
                vec![self.error_code]
            }
        })*
    };
}

top_level_error_code!(
    ApiVersionsResponse,
    InitProducerIdResponse,
    JoinGroupResponse,
    HeartbeatResponse,
    SyncGroupResponse,
    ListGroupsResponse,
);

impl ErrorCodes for MetadataResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.topics
            .iter()
            .flat_map(|t| {
                std::iter::once(t.error_code).chain(t.partitions.iter().map(|p| p.error_code))
            })
            .collect()
    }
}

impl ErrorCodes for ProduceResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.responses
            .iter()
            .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code))
            .collect()
    }
}

impl ErrorCodes for FetchResponse {
    fn error_codes(&self) -> Vec<i16> {
        std::iter::once(self.error_code)
            .chain(
                self.responses
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            )
            .collect()
    }
}

impl ErrorCodes for ListOffsetsResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect()
    }
}

impl ErrorCodes for CreateTopicsResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.topics.iter().map(|t| t.error_code).collect()
    }
}

impl ErrorCodes for OffsetCommitResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect()
    }
}

impl ErrorCodes for OffsetFetchResponse {
    fn error_codes(&self) -> Vec<i16> {
        std::iter::once(self.error_code)
            .chain(self.groups.iter().map(|g| g.error_code))
            .collect()
    }
}

impl ErrorCodes for FindCoordinatorResponse {
    fn error_codes(&self) -> Vec<i16> {
        std::iter::once(self.error_code)
            .chain(self.coordinators.iter().map(|c| c.error_code))
            .collect()
    }
}

impl ErrorCodes for LeaveGroupResponse {
    fn error_codes(&self) -> Vec<i16> {
        std::iter::once(self.error_code)
            .chain(self.members.iter().map(|m| m.error_code))
            .collect()
    }
}

impl ErrorCodes for DescribeGroupsResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.groups.iter().map(|g| g.error_code).collect()
    }
}

impl ErrorCodes for DeleteGroupsResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.results.iter().map(|r| r.error_code).collect()
    }
}

impl ErrorCodes for DeleteTopicsResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.responses.iter().map(|r| r.error_code).collect()
    }
}

impl ErrorCodes for DeleteRecordsResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect()
    }
}

impl ErrorCodes for CreatePartitionsResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.results.iter().map(|r| r.error_code).collect()
    }
}

impl ErrorCodes for DescribeConfigsResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.results.iter().map(|r| r.error_code).collect()
    }
}

impl ErrorCodes for AlterConfigsResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.responses.iter().map(|r| r.error_code).collect()
    }
}

impl ErrorCodes for IncrementalAlterConfigsResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.responses.iter().map(|r| r.error_code).collect()
    }
}

impl ErrorCodes for OffsetDeleteResponse {
    fn error_codes(&self) -> Vec<i16> {
        std::iter::once(self.error_code)
            .chain(
                self.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            )
            .collect()
    }
}
