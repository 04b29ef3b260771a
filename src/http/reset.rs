//! `POST /admin/reset[?topics=a,b]`: empties the broker between tests (see
//! [`crate::broker::reset`]); answered only once the reset is durable. With topics declared at
//! start (`--topic`), a full reset goes back to exactly those.

use std::sync::Arc;

use axum::extract::{Query, State as Shared};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::error;
use crate::broker::reset::{ResetError, ResetScope};
use crate::broker::Broker;

/// More topic names than this in `?topics=` are refused.
const TOPICS_MAX: usize = 10_000;

#[derive(Debug, Deserialize)]
pub(super) struct ResetQuery {
    /// Comma-separated topic names; absent: everything.
    topics: Option<String>,
}

pub(super) async fn reset(
    Shared(broker): Shared<Arc<Broker>>,
    Query(query): Query<ResetQuery>,
) -> Response {
    let topics = query.topics.map(|list| {
        list.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect::<Vec<_>>()
    });
    if topics.as_ref().is_some_and(|t| t.len() > TOPICS_MAX) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("topics: at most {TOPICS_MAX} names"),
        );
    }
    // A broker that declared its topics at start goes back to them: the others are deleted,
    // and a declared topic a test deleted is created again. Without declarations every topic
    // is kept, emptied.
    let declared = &broker.config().topics;
    let keep_only = (topics.is_none() && !declared.is_empty())
        .then(|| declared.iter().map(|t| t.name.clone()).collect());
    let scope = ResetScope { topics, keep_only };
    match broker.reset(&scope).await {
        Ok(summary) => match broker.create_declared_topics() {
            Ok(()) => (StatusCode::OK, Json(summary)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "reset: a declared topic could not be created again");
                error(StatusCode::INTERNAL_SERVER_ERROR, e)
            }
        },
        Err(ResetError::UnknownTopic(name)) => {
            error(StatusCode::NOT_FOUND, format!("unknown topic: {name}"))
        }
        Err(e) => {
            tracing::error!(error = %e, "reset failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}
