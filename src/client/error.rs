//! What can go wrong talking to a broker, with Kafka's error names.

use std::time::Duration;

use kafka_protocol::error::ResponseError;

pub type ClientResult<T> = Result<T, ClientError>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("connection to {addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr} closed the connection instead of answering {api}")]
    Closed { addr: String, api: String },
    #[error("timed out after {timeout:?}: {what}")]
    Timeout { what: String, timeout: Duration },
    #[error("{api} is not supported: {detail}")]
    Unsupported { api: String, detail: String },
    /// The broker answered with an error code.
    #[error("{context}: {}{}", error_name(*code), message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kafka {
        context: String,
        code: i16,
        message: Option<String>,
    },
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Anything else the caller should see as is (no such topic, no leader, bad input).
    #[error("{0}")]
    Other(String),
}

impl ClientError {
    /// `Ok` for code 0, else the error named by Kafka's name for `code`.
    pub fn check(code: i16, context: impl Into<String>) -> ClientResult<()> {
        Self::check_message(code, None, context)
    }

    pub fn check_message(
        code: i16,
        message: Option<&str>,
        context: impl Into<String>,
    ) -> ClientResult<()> {
        if code == 0 {
            return Ok(());
        }
        Err(ClientError::Kafka {
            context: context.into(),
            code,
            message: message.filter(|m| !m.is_empty()).map(str::to_string),
        })
    }

    /// The Kafka error code when the broker answered one.
    pub fn code(&self) -> Option<i16> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the connection itself failed (rather than the request).
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            ClientError::Connect { .. }
                | ClientError::Io { .. }
                | ClientError::Closed { .. }
                | ClientError::Timeout { .. }
        )
    }
}

/// Kafka's name for an error code (`UNKNOWN_TOPIC_OR_PARTITION`), as its `Errors` enum spells
/// it; `NONE` for 0 and `UNKNOWN_ERROR_CODE_<n>` for a code this client does not know.
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(ResponseError::Unknown(code)) => format!("UNKNOWN_ERROR_CODE_{code}"),
        // The crate names its variants in CamelCase; Kafka's names are the same words in
        // upper snake case.
        Some(error) => screaming_snake(&format!("{error:?}")),
    }
}

fn screaming_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    let chars: Vec<char> = camel.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
        let prev_lower_or_digit = i > 0 && !chars[i - 1].is_ascii_uppercase();
        if c.is_ascii_uppercase() && i > 0 && (prev_lower_or_digit || next_lower) {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(6), "NOT_LEADER_OR_FOLLOWER");
        assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(25), "UNKNOWN_MEMBER_ID");
        assert_eq!(error_name(27), "REBALANCE_IN_PROGRESS");
        assert_eq!(error_name(68), "NON_EMPTY_GROUP");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(9999), "UNKNOWN_ERROR_CODE_9999");
    }
}
