//! Why a topic change is refused, and the topic-name rule.

use std::fmt;

use super::{InvalidConfig, MAX_PARTITIONS, MAX_TOPIC_NAME_LEN};

/// Why a topic cannot be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateError {
    AlreadyExists,
    InvalidName(String),
    InvalidPartitions(i32),
    InvalidConfig(InvalidConfig),
    /// The broker holds `limit` partitions at most (`max_partitions`).
    TooManyPartitions {
        limit: usize,
    },
    /// The topic's files could not be written.
    Storage(String),
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateError::AlreadyExists => write!(f, "topic already exists"),
            CreateError::InvalidName(why) => write!(f, "invalid topic name: {why}"),
            CreateError::InvalidPartitions(n) => {
                write!(
                    f,
                    "number of partitions {n} is outside 1..={MAX_PARTITIONS}"
                )
            }
            CreateError::InvalidConfig(c) => write!(f, "invalid config {}: {}", c.key, c.reason),
            CreateError::TooManyPartitions { limit } => write!(
                f,
                "the broker would hold more than {limit} partitions (max_partitions)"
            ),
            CreateError::Storage(e) => write!(f, "cannot store the topic: {e}"),
        }
    }
}

/// Why a topic cannot grow (CreatePartitions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionsError {
    UnknownTopic,
    /// Partitions only grow, up to [`MAX_PARTITIONS`].
    InvalidCount {
        current: i32,
        count: i32,
    },
    /// The broker holds `limit` partitions at most (`max_partitions`).
    TooManyPartitions {
        limit: usize,
    },
    Storage(String),
}

impl fmt::Display for PartitionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionsError::UnknownTopic => write!(f, "the topic does not exist"),
            PartitionsError::InvalidCount { current, count } => write!(
                f,
                "the topic has {current} partitions; {count} is not more, or is more than {MAX_PARTITIONS}"
            ),
            PartitionsError::TooManyPartitions { limit } => write!(
                f,
                "the broker would hold more than {limit} partitions (max_partitions)"
            ),
            PartitionsError::Storage(e) => write!(f, "cannot store the topic: {e}"),
        }
    }
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
