//! DescribeLogDirs (key 35, v1–4): the one log directory, each asked-for partition's bytes
//! (offset lag 0: the log is its own leader; never a future replica), and from v4 the
//! file system's total and usable bytes (-1, Kafka's "unknown", in memory).

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, topic_name};
use crate::acl::Operation;
use crate::broker::log_dirs::LogDirFilter;
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;

/// Kafka's value for a space it does not know.
const UNKNOWN_BYTES: i64 = -1;
/// The version that reports the file system's space.
const SPACE_FIRST_VERSION: i16 = 4;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    // DESCRIBE on the cluster (Kafka's `KafkaApis.handleDescribeLogDirsRequest`); v3 added
    // the top-level code, older versions are answered no directory.
    if !broker.authorize_cluster(context, Operation::Describe) {
        let response = DescribeLogDirsResponse::default();
        return if version >= 3 {
            response.with_error_code(ResponseError::ClusterAuthorizationFailed.code())
        } else {
            response
        };
    }
    let filter = match request.topics {
        None => LogDirFilter::All,
        Some(topics) => LogDirFilter::Only(
            topics
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(|&index| (t.topic.as_str().to_string(), index))
                })
                .collect(),
        ),
    };
    let dir = crate::blocking::run(|| broker.describe_log_dir(&filter));
    let result = DescribeLogDirsResult::default().with_log_dir(str_bytes(&dir.path));
    let result = match dir.space {
        Err(e) => {
            tracing::warn!(dir = %dir.path, error = %e, "cannot read the log directory's file system");
            result.with_error_code(ResponseError::KafkaStorageError.code())
        }
        Ok(space) => {
            // Versions before 4 have no space fields: they keep their default.
            let space = space.filter(|_| version >= SPACE_FIRST_VERSION);
            result
                .with_total_bytes(space.map_or(UNKNOWN_BYTES, |s| s.total_bytes))
                .with_usable_bytes(space.map_or(UNKNOWN_BYTES, |s| s.usable_bytes))
                .with_topics(
                    dir.topics
                        .iter()
                        .map(|(name, partitions)| {
                            DescribeLogDirsTopic::default()
                                .with_name(topic_name(name))
                                .with_partitions(
                                    partitions
                                        .iter()
                                        .map(|&(index, bytes)| {
                                            DescribeLogDirsPartition::default()
                                                .with_partition_index(index)
                                                .with_partition_size(
                                                    i64::try_from(bytes).unwrap_or(i64::MAX),
                                                )
                                                .with_offset_lag(0)
                                                .with_is_future_key(false)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                )
        }
    };
    DescribeLogDirsResponse::default().with_results(vec![result])
}

impl ErrorCodes for DescribeLogDirsResponse {
    fn error_codes(&self) -> Vec<i16> {
        std::iter::once(self.error_code)
            .chain(self.results.iter().map(|r| r.error_code))
            .collect()
    }
}
