//! DeleteRecords (key 21): moves partitions' log start offsets forward; whole segments
//! below them are deleted ([`Broker::delete_records`]).

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use kafka_protocol::ResponseError;

use crate::acl::{Operation, ResourceType};
use crate::broker::offsets::OffsetsError;
use crate::broker::Broker;
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        // DELETE on the topic (Kafka's `KafkaApis.handleDeleteRecordsRequest`).
        let may_delete =
            broker.authorize(context, Operation::Delete, ResourceType::Topic, &topic.name);
        for p in &topic.partitions {
            let deleted = if may_delete {
                broker
                    .delete_records(topic.name.as_str(), p.partition_index, p.offset)
                    .await
            } else {
                Err(OffsetsError::TopicAuthorizationFailed)
            };
            let (low_watermark, error) = match deleted {
                Err(OffsetsError::TopicAuthorizationFailed) => {
                    (-1, Some(ResponseError::TopicAuthorizationFailed))
                }
                Ok(low_watermark) => (low_watermark, None),
                Err(OffsetsError::UnknownTopicOrPartition) => {
                    (-1, Some(ResponseError::UnknownTopicOrPartition))
                }
                Err(OffsetsError::OffsetOutOfRange) => (-1, Some(ResponseError::OffsetOutOfRange)),
                Err(OffsetsError::Storage(e)) => {
                    tracing::error!(error = %e, "DeleteRecords failed");
                    (-1, Some(ResponseError::KafkaStorageError))
                }
            };
            partitions.push(
                DeleteRecordsPartitionResult::default()
                    .with_partition_index(p.partition_index)
                    .with_low_watermark(low_watermark)
                    .with_error_code(error.map_or(0, |e| e.code())),
            );
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
