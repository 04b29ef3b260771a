//! ListPartitionReassignments (key 46, v0): a single node never moves a partition, so no
//! reassignment is ever in progress — the answer lists no topics, whichever were asked for,
//! as Kafka lists only partitions being reassigned.

use kafka_protocol::messages::{
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;

pub async fn handle(
    _broker: &Broker,
    _context: &RequestContext<'_>,
    _version: i16,
    _request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    ListPartitionReassignmentsResponse::default()
}

impl ErrorCodes for ListPartitionReassignmentsResponse {
    fn error_codes(&self) -> Vec<i16> {
        vec![self.error_code]
    }
}
