//! ElectLeaders (key 43, v0–2), answered as a single-node Kafka answers: this node leads
//! every partition and is its preferred (only) replica, so no election is ever needed —
//! ELECTION_NOT_NEEDED for each partition named, UNKNOWN_TOPIC_OR_PARTITION for those that
//! do not exist; with no partitions named (all of them), every topic with no partition
//! results, as Kafka leaves out partitions that already have the desired leader.

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, topic_name};
use crate::acl::Operation;
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;

/// Kafka's election types: PREFERRED and UNCLEAN (v1+; v0 is always preferred).
const ELECTION_TYPES: [i8; 2] = [0, 1];

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: ElectLeadersRequest,
) -> ElectLeadersResponse {
    // ALTER on the cluster (Kafka's `KafkaApis.handleElectLeaders`).
    if !broker.authorize_cluster(context, Operation::Alter) {
        let message = "Cluster authorization failed.";
        return refused(request, ResponseError::ClusterAuthorizationFailed, message);
    }
    if !ELECTION_TYPES.contains(&request.election_type) {
        let message = format!("Unknown election type {}", request.election_type);
        return refused(request, ResponseError::InvalidRequest, &message);
    }
    let results = match request.topic_partitions {
        None => broker
            .topics()
            .all()
            .iter()
            .map(|topic| ReplicaElectionResult::default().with_topic(topic_name(&topic.name)))
            .collect(),
        Some(topics) => topics
            .into_iter()
            .map(|wanted| {
                let topic = broker.topics().get(wanted.topic.as_str());
                let partition_result = wanted
                    .partitions
                    .iter()
                    .map(|&index| {
                        let result = PartitionResult::default().with_partition_id(index);
                        let (error, message) = match &topic {
                            None => (
                                ResponseError::UnknownTopicOrPartition,
                                format!("No such topic as {}", wanted.topic.as_str()),
                            ),
                            Some(t) if t.partition(index).is_none() => (
                                ResponseError::UnknownTopicOrPartition,
                                format!("No such partition as {}-{index}", t.name),
                            ),
                            Some(_) => (
                                ResponseError::ElectionNotNeeded,
                                "Leader election not needed for topic partition.".to_string(),
                            ),
                        };
                        result
                            .with_error_code(error.code())
                            .with_error_message(Some(str_bytes(&message)))
                    })
                    .collect();
                ReplicaElectionResult::default()
                    .with_topic(wanted.topic)
                    .with_partition_result(partition_result)
            })
            .collect(),
    };
    ElectLeadersResponse::default().with_replica_election_results(results)
}

/// Kafka's answer to a request refused as a whole: the error at the top (v1+) and on every
/// partition named.
fn refused(
    request: ElectLeadersRequest,
    error: ResponseError,
    message: &str,
) -> ElectLeadersResponse {
    let results = request
        .topic_partitions
        .unwrap_or_default()
        .into_iter()
        .map(|topic| {
            ReplicaElectionResult::default()
                .with_partition_result(
                    topic
                        .partitions
                        .iter()
                        .map(|&index| {
                            PartitionResult::default()
                                .with_partition_id(index)
                                .with_error_code(error.code())
                                .with_error_message(Some(str_bytes(message)))
                        })
                        .collect(),
                )
                .with_topic(topic.topic)
        })
        .collect();
    ElectLeadersResponse::default()
        .with_error_code(error.code())
        .with_replica_election_results(results)
}

impl ErrorCodes for ElectLeadersResponse {
    fn error_codes(&self) -> Vec<i16> {
        std::iter::once(self.error_code)
            .chain(
                self.replica_election_results
                    .iter()
                    .flat_map(|t| t.partition_result.iter().map(|p| p.error_code)),
            )
            .collect()
    }
}
