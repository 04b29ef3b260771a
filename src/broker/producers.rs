//! The producers of a partition, for the transaction tooling (DescribeProducers): what
//! `kafka-transactions.sh describe-producers` and `find-hanging` read, and where
//! `abortTransaction` takes a hanging transaction's producer epoch from.

use super::Broker;
use crate::partition::ActiveProducer;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProducersError {
    /// Worded as Kafka's message, which DescribeProducers carries.
    #[error("This server does not host this topic-partition.")]
    UnknownTopicOrPartition,
}

impl Broker {
    /// The producers `topic`'s partition `index` remembers, by producer id.
    pub fn describe_producers(
        &self,
        topic: &str,
        index: i32,
    ) -> Result<Vec<ActiveProducer>, ProducersError> {
        let partition = self
            .topics()
            .get(topic)
            .and_then(|t| t.partition(index).cloned())
            .ok_or(ProducersError::UnknownTopicOrPartition)?;
        Ok(partition.active_producers())
    }
}
