//! The HTTP admin listener: health and metrics ([`metrics`]), the reset between tests
//! ([`reset`]), fault injection ([`faults`]), the request recorder ([`requests`]). Every handler calls the domain layer ([`Broker`]), never a Kafka client.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;

use crate::broker::Broker;

mod faults;
mod metrics;
mod requests;
mod reset;

pub async fn serve(listener: TcpListener, broker: Arc<Broker>) {
    let router = Router::new()
        .route("/health/live", get(|| async { "live\n" }))
        .route("/health/ready", get(metrics::ready))
        .route("/metrics", get(metrics::metrics))
        .route("/admin/reset", post(reset::reset))
        .route(
            "/admin/faults",
            post(faults::add).get(faults::list).delete(faults::clear),
        )
        .route("/admin/faults/{id}", delete(faults::remove))
        .route("/admin/requests", get(requests::list))
        .route("/admin/requests/stream", get(requests::stream))
        .with_state(broker.clone());
    let stopping = broker.clone();
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async move { stopping.shutting_down().await })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "HTTP admin listener failed");
    }
}

/// An error answer: `{"error": message}` with `status`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}
