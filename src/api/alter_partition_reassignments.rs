//! AlterPartitionReassignments (key 45, v0), answered as a single-node Kafka answers: the
//! only replica set a partition can have is this node, so moving it there changes nothing
//! (success), cancelling finds nothing in progress (NO_REASSIGNMENT_IN_PROGRESS), and any
//! other broker id, an empty or repeated list is an INVALID_REPLICA_ASSIGNMENT, as Kafka's
//! controller refuses a broker that is not registered.

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::acl::Operation;
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    // ALTER on the cluster (Kafka's `KafkaApis.handleAlterPartitionReassignmentsRequest`).
    if !broker.authorize_cluster(context, Operation::Alter) {
        return AlterPartitionReassignmentsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(str_bytes("Cluster authorization failed.")));
    }
    let responses = request
        .topics
        .into_iter()
        .map(|wanted| {
            let topic = broker.topics().get(wanted.name.as_str());
            let partitions = wanted
                .partitions
                .iter()
                .map(|target| {
                    let index = target.partition_index;
                    let outcome = match &topic {
                        None => Err((
                            ResponseError::UnknownTopicOrPartition,
                            format!("Unable to find a topic named {}.", wanted.name.as_str()),
                        )),
                        Some(t) if t.partition(index).is_none() => Err((
                            ResponseError::UnknownTopicOrPartition,
                            format!("Unable to find partition {}:{index}.", t.name),
                        )),
                        Some(_) => check_target(broker.node_id(), target.replicas.as_deref()),
                    };
                    let answer =
                        ReassignablePartitionResponse::default().with_partition_index(index);
                    match outcome {
                        Ok(()) => answer,
                        Err((error, message)) => answer
                            .with_error_code(error.code())
                            .with_error_message(Some(str_bytes(&message))),
                    }
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(wanted.name)
                .with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsResponse::default().with_responses(responses)
}

/// Whether a partition of this node may be given `replicas` (`None`: cancel a reassignment).
fn check_target(
    node_id: i32,
    replicas: Option<&[BrokerId]>,
) -> Result<(), (ResponseError, String)> {
    let invalid = |message: String| Err((ResponseError::InvalidReplicaAssignment, message));
    let Some(replicas) = replicas else {
        return Err((
            ResponseError::NoReassignmentInProgress,
            "No partition reassignment is in progress.".to_string(),
        ));
    };
    let mut sorted: Vec<i32> = replicas.iter().map(|b| b.0).collect();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return invalid("The manual partition assignment includes an empty replica list.".into());
    }
    for pair in sorted.windows(2) {
        if pair[0] == pair[1] {
            return invalid(format!(
                "The manual partition assignment includes the broker {} more than once.",
                pair[0]
            ));
        }
    }
    match sorted.iter().find(|&&id| id != node_id) {
        Some(other) => invalid(format!(
            "The manual partition assignment includes broker {other}, but no such broker is registered."
        )),
        None => Ok(()),
    }
}

impl ErrorCodes for AlterPartitionReassignmentsResponse {
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
