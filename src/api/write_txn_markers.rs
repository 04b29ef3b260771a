//! WriteTxnMarkers (key 27, v1, the only version Kafka 4 has): write a COMMIT or ABORT
//! marker for a producer to each listed partition. Sluice's own coordinator writes its
//! markers itself; clients send this to end a hanging transaction (`Admin.abortTransaction`,
//! `kafka-transactions.sh abort`). Each partition gets its own error code.

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use kafka_protocol::ResponseError;

use crate::acl::Operation;
use crate::broker::markers::{Marker, MarkerSource, WriteMarkerError};
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;
use crate::txn::TxnResult;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    // CLUSTER_ACTION on the cluster: only brokers write markers (Kafka's
    // `KafkaApis.handleWriteTxnMarkersRequest`).
    let allowed = broker.authorize_cluster(context, Operation::ClusterAction);
    let markers = request
        .markers
        .into_iter()
        .map(|requested| {
            let marker = Marker {
                producer_id: requested.producer_id.0,
                producer_epoch: requested.producer_epoch,
                result: if requested.transaction_result {
                    TxnResult::Commit
                } else {
                    TxnResult::Abort
                },
                coordinator_epoch: requested.coordinator_epoch,
            };
            let topics = requested
                .topics
                .into_iter()
                .map(|topic| {
                    let partitions = topic
                        .partition_indexes
                        .iter()
                        .map(|&index| {
                            if !allowed {
                                return WritableTxnMarkerPartitionResult::default()
                                    .with_partition_index(index)
                                    .with_error_code(
                                        ResponseError::ClusterAuthorizationFailed.code(),
                                    );
                            }
                            let written = broker.write_marker(
                                topic.name.as_str(),
                                index,
                                marker,
                                MarkerSource::Request,
                            );
                            WritableTxnMarkerPartitionResult::default()
                                .with_partition_index(index)
                                .with_error_code(error_code(written))
                        })
                        .collect();
                    WritableTxnMarkerTopicResult::default()
                        .with_name(topic.name)
                        .with_partitions(partitions)
                })
                .collect();
            WritableTxnMarkerResult::default()
                .with_producer_id(requested.producer_id)
                .with_topics(topics)
        })
        .collect();
    WriteTxnMarkersResponse::default().with_markers(markers)
}

fn error_code(written: Result<i64, WriteMarkerError>) -> i16 {
    let error = match written {
        Ok(_) => return 0,
        Err(WriteMarkerError::UnknownTopicOrPartition) => ResponseError::UnknownTopicOrPartition,
        Err(WriteMarkerError::InvalidProducerEpoch { .. }) => ResponseError::InvalidProducerEpoch,
        Err(WriteMarkerError::CoordinatorFenced { .. }) => {
            ResponseError::TransactionCoordinatorFenced
        }
        Err(WriteMarkerError::Storage(e)) => {
            tracing::error!(error = %e, "cannot write a requested transaction marker");
            ResponseError::KafkaStorageError
        }
    };
    error.code()
}

impl ErrorCodes for WriteTxnMarkersResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.markers
            .iter()
            .flat_map(|m| m.topics.iter())
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect()
    }
}
