//! DescribeProducers (key 61, v0): per partition, the idempotent and transactional
//! producers it remembers — producer id, epoch, last sequence and timestamp, the coordinator
//! epoch of its last marker and the start of its open transaction (-1 for either unknown).

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::acl::{Operation, ResourceType};
use crate::broker::producers::ProducersError;
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            // READ on the topic (Kafka's `KafkaApis.handleDescribeProducersRequest`).
            let readable =
                broker.authorize(context, Operation::Read, ResourceType::Topic, &topic.name);
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&index| {
                    let answer = PartitionResponse::default().with_partition_index(index);
                    if !readable {
                        return answer
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code());
                    }
                    match broker.describe_producers(topic.name.as_str(), index) {
                        Ok(producers) => answer.with_active_producers(
                            producers
                                .iter()
                                .map(|p| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(p.producer_id))
                                        .with_producer_epoch(i32::from(p.epoch))
                                        .with_last_sequence(p.last_sequence)
                                        .with_last_timestamp(p.last_timestamp)
                                        .with_coordinator_epoch(p.coordinator_epoch)
                                        .with_current_txn_start_offset(p.current_txn_start_offset)
                                })
                                .collect(),
                        ),
                        Err(e @ ProducersError::UnknownTopicOrPartition) => answer
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(str_bytes(&e.to_string()))),
                    }
                })
                .collect();
            TopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}

impl ErrorCodes for DescribeProducersResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect()
    }
}
