//! Why a topic change is refused, and the topic-name rule.

use std::io;
use std::sync::Arc;

use super::{InvalidConfig, MAX_PARTITIONS, MAX_TOPIC_NAME_LEN};

/// Why a topic cannot be created.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CreateError {
    #[error("topic already exists")]
    AlreadyExists,
    #[error("invalid topic name: {0}")]
    InvalidName(String),
    #[error("number of partitions {0} is outside 1..={MAX_PARTITIONS}")]
    InvalidPartitions(i32),
    #[error("invalid config {}: {}", .0.key, .0.reason)]
    InvalidConfig(InvalidConfig),
    /// The broker holds `limit` partitions at most (`max_partitions`).
    #[error("the broker would hold more than {limit} partitions (max_partitions)")]
    TooManyPartitions { limit: usize },
    /// The topic's files could not be written. Shared, so the error stays cloneable.
    #[error("cannot store the topic: {0}")]
    Storage(#[source] Arc<io::Error>),
}

/// Why a topic cannot grow (CreatePartitions).
#[derive(Debug, Clone, thiserror::Error)]
pub enum PartitionsError {
    #[error("the topic does not exist")]
    UnknownTopic,
    /// Partitions only grow, up to [`MAX_PARTITIONS`].
    #[error(
        "the topic has {current} partitions; {count} is not more, or is more than {MAX_PARTITIONS}"
    )]
    InvalidCount { current: i32, count: i32 },
    /// The broker holds `limit` partitions at most (`max_partitions`).
    #[error("the broker would hold more than {limit} partitions (max_partitions)")]
    TooManyPartitions { limit: usize },
    #[error("cannot store the topic: {0}")]
    Storage(#[source] Arc<io::Error>),
}

/// Checks a topic name as Kafka does: 1–249 of `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub fn validate_name(name: &str) -> Result<(), CreateError> {
    let invalid = |why: &str| Err(CreateError::InvalidName(why.to_string()));
    if name.is_empty() {
        return invalid("the name is empty");
    }
    if name == "." || name == ".." {
        return invalid("'.' and '..' are not allowed");
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return invalid("the name is longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return invalid("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}
