//! `GET /admin/requests`: the request recorder's latest requests (see
//! [`crate::request_log`]), oldest first, filtered by `?api=Produce` and `?client_id=x`, the
//! last `?limit=N` of them. `GET /admin/requests/stream` (or `?stream=true`): server-sent
//! events, one `request` event per request as it is answered, with the same filters; a
//! subscriber that falls behind gets a `lagged` event `{"missed": N}` and goes on from the
//! newest.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State as Shared};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::error;
use crate::broker::Broker;
use crate::request_log::RecordedRequest;

#[derive(Debug, Deserialize)]
pub(super) struct RequestsQuery {
    api: Option<String>,
    client_id: Option<String>,
    limit: Option<usize>,
    stream: Option<bool>,
}

impl RequestsQuery {
    fn matches(&self, r: &RecordedRequest) -> bool {
        self.api
            .as_deref()
            .is_none_or(|a| a.eq_ignore_ascii_case(r.api))
            && self.client_id.as_deref().is_none_or(|c| c == r.client_id)
    }
}

pub(super) async fn list(
    Shared(broker): Shared<Arc<Broker>>,
    Query(query): Query<RequestsQuery>,
) -> Response {
    if !broker.request_log().enabled() {
        return error(
            StatusCode::NOT_FOUND,
            "the request recorder is off (request_log_size = 0)",
        );
    }
    if query.stream == Some(true) {
        return stream_events(broker, query);
    }
    let mut matched: Vec<_> = broker
        .request_log()
        .latest()
        .into_iter()
        .filter(|r| query.matches(r))
        .collect();
    if let Some(limit) = query.limit {
        let skip = matched.len().saturating_sub(limit);
        matched.drain(..skip);
    }
    let matched: Vec<&RecordedRequest> = matched.iter().map(|r| &**r).collect();
    Json(matched).into_response()
}

pub(super) async fn stream(
    Shared(broker): Shared<Arc<Broker>>,
    Query(query): Query<RequestsQuery>,
) -> Response {
    if !broker.request_log().enabled() {
        return error(
            StatusCode::NOT_FOUND,
            "the request recorder is off (request_log_size = 0)",
        );
    }
    stream_events(broker, query)
}

fn stream_events(broker: Arc<Broker>, query: RequestsQuery) -> Response {
    let events = broker.request_log().subscribe();
    let state = (events, query, broker);
    let events = stream::unfold(state, |(mut events, query, broker)| async move {
        loop {
            let event = tokio::select! {
                received = events.recv() => received,
                // Ends the stream, so the listener's graceful shutdown is not held up.
                _ = broker.shutting_down() => return None,
            };
            match event {
                Ok(request) if query.matches(&request) => {
                    let event = Event::default()
                        .event("request")
                        .json_data(&*request)
                        .unwrap_or_else(|_| Event::default().event("request"));
                    return Some((Ok::<_, Infallible>(event), (events, query, broker)));
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => {
                    let event = Event::default()
                        .event("lagged")
                        .data(format!("{{\"missed\":{missed}}}"));
                    return Some((Ok(event), (events, query, broker)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
