//! DeleteRecords (key 21): moves partitions' log start offsets forward; whole segments
//! below them are deleted. Disk work runs on a blocking thread.

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::partition::{DeleteRecordsError, Partition};
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    _context: &RequestContext<'_>,
    _version: i16,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let known = broker.topics().get(topic.name.as_str());
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let partition = known
                .as_ref()
                .and_then(|t| t.partition(p.partition_index))
                .cloned();
            let (low_watermark, error) = match partition {
                None => (-1, Some(ResponseError::UnknownTopicOrPartition)),
                Some(partition) => delete(partition, p.offset).await,
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

async fn delete(partition: Arc<Partition>, offset: i64) -> (i64, Option<ResponseError>) {
    let outcome =
        tokio::task::spawn_blocking(move || partition.delete_records_before(offset)).await;
    match outcome {
        Ok(Ok(low_watermark)) => (low_watermark, None),
        Ok(Err(DeleteRecordsError::OffsetOutOfRange)) => {
            (-1, Some(ResponseError::OffsetOutOfRange))
        }
        Ok(Err(DeleteRecordsError::Storage(e))) => {
            tracing::error!(error = %e, "DeleteRecords failed");
            (-1, Some(ResponseError::KafkaStorageError))
        }
        Err(e) => {
            tracing::error!(error = %e, "DeleteRecords task failed");
            (-1, Some(ResponseError::UnknownServerError))
        }
    }
}
