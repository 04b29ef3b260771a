//! One module per Kafka API: each turns a decoded request into calls on the broker and maps
//! the broker's errors to Kafka error codes.

pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_configs;
pub mod describe_groups;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod produce;
pub mod sync_group;

use std::net::SocketAddr;

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::group::GroupError;
use crate::protocol::request::{Request, RequestBody};
use crate::protocol::response::ResponseBody;

/// Handles one request from `peer`. `None` means no response is written (Produce with acks=0).
pub async fn handle(broker: &Broker, request: Request, peer: SocketAddr) -> Option<ResponseBody> {
    let version = request.version();
    let client_id = request
        .header
        .client_id
        .as_ref()
        .map_or("", |c| c.as_str())
        .to_string();
    let body = match request.body {
        RequestBody::ApiVersions(_) => ResponseBody::ApiVersions(api_versions::handle(version)),
        RequestBody::Metadata(r) => ResponseBody::Metadata(metadata::handle(broker, version, r)),
        RequestBody::Produce(r) => {
            ResponseBody::Produce(produce::handle(broker, version, r).await?)
        }
        RequestBody::Fetch(r) => ResponseBody::Fetch(fetch::handle(broker, version, r).await),
        RequestBody::ListOffsets(r) => {
            ResponseBody::ListOffsets(list_offsets::handle(broker, version, r))
        }
        RequestBody::CreateTopics(r) => {
            ResponseBody::CreateTopics(create_topics::handle(broker, version, r))
        }
        RequestBody::InitProducerId(r) => {
            ResponseBody::InitProducerId(init_producer_id::handle(broker, r))
        }
        RequestBody::FindCoordinator(r) => {
            ResponseBody::FindCoordinator(find_coordinator::handle(broker, version, r))
        }
        RequestBody::JoinGroup(r) => {
            // Kafka shows a member's host as the client address with a leading slash.
            let host = format!("/{}", peer.ip());
            ResponseBody::JoinGroup(join_group::handle(broker, version, &client_id, &host, r).await)
        }
        RequestBody::SyncGroup(r) => {
            ResponseBody::SyncGroup(sync_group::handle(broker, version, r).await)
        }
        RequestBody::Heartbeat(r) => ResponseBody::Heartbeat(heartbeat::handle(broker, r).await),
        RequestBody::LeaveGroup(r) => {
            ResponseBody::LeaveGroup(leave_group::handle(broker, version, r).await)
        }
        RequestBody::OffsetCommit(r) => {
            ResponseBody::OffsetCommit(offset_commit::handle(broker, r).await)
        }
        RequestBody::OffsetFetch(r) => {
            ResponseBody::OffsetFetch(offset_fetch::handle(broker, version, r).await)
        }
        RequestBody::DescribeGroups(r) => {
            ResponseBody::DescribeGroups(describe_groups::handle(broker, version, r).await)
        }
        RequestBody::ListGroups(r) => {
            ResponseBody::ListGroups(list_groups::handle(broker, version, r).await)
        }
        RequestBody::DeleteGroups(r) => {
            ResponseBody::DeleteGroups(delete_groups::handle(broker, r).await)
        }
        RequestBody::OffsetDelete(r) => {
            ResponseBody::OffsetDelete(offset_delete::handle(broker, r).await)
        }
        RequestBody::CreatePartitions(r) => {
            ResponseBody::CreatePartitions(create_partitions::handle(broker, r))
        }
        RequestBody::DescribeConfigs(r) => {
            ResponseBody::DescribeConfigs(describe_configs::handle(broker, version, r))
        }
        RequestBody::DeleteTopics(r) => {
            ResponseBody::DeleteTopics(delete_topics::handle(broker, version, r).await)
        }
        RequestBody::DeleteRecords(r) => {
            ResponseBody::DeleteRecords(delete_records::handle(broker, r).await)
        }
    };
    Some(body)
}

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The wire code of a group coordinator error.
pub fn group_error_code(error: GroupError) -> i16 {
    let error = match error {
        GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        GroupError::InvalidGroupId => ResponseError::InvalidGroupId,
        GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
        GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
        GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
        GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
        GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
        GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
        GroupError::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
    };
    error.code()
}
