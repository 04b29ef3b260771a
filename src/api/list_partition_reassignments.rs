//! ListPartitionReassignments (key 46, v0): a single node never moves a partition, so no
//! reassignment is ever in progress — the answer lists no topics, whichever were asked for,
//! as Kafka lists only partitions being reassigned.

use kafka_protocol::messages::{
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use kafka_protocol::ResponseError;

use crate::acl::Operation;
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    _request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    // DESCRIBE on the cluster (Kafka's `KafkaApis.handleListPartitionReassignmentsRequest`).
    if !broker.authorize_cluster(context, Operation::Describe) {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    ListPartitionReassignmentsResponse::default()
}

impl ErrorCodes for ListPartitionReassignmentsResponse {
    fn error_codes(&self) -> Vec<i16> {
        vec![self.error_code]
    }
}
