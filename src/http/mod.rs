//! The HTTP admin listener: health and metrics ([`metrics`]), the reset between tests
//! ([`reset`]), fault injection ([`faults`]), the request recorder ([`requests`]), the REST
//! proxy ([`rest`]). Every handler calls the domain layer ([`Broker`]), never a Kafka client.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use tokio::net::TcpListener;

use crate::broker::Broker;

mod faults;
mod metrics;
mod requests;
mod reset;
mod rest;
mod rest_consumers;

/// The largest request body the listener reads (REST produce, fault rules): a REST produce of
/// many records fits; more is refused with 413 before it is buffered.
const BODY_MAX_BYTES: usize = 8 * 1024 * 1024;

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
        .route("/brokers", get(rest::brokers))
        .route("/topics", get(rest::topics))
        .route("/topics/{topic}", get(rest::topic).post(rest::produce_v2))
        .route(
            "/topics/{topic}/partitions/{partition}/records",
            get(rest::partition_records),
        )
        .route("/v3/clusters", get(rest::clusters))
        .route(
            "/v3/clusters/{cluster_id}/topics/{topic}/records",
            post(rest::produce_v3),
        )
        .route("/consumers/{group}", post(rest_consumers::create))
        .route(
            "/consumers/{group}/instances/{id}",
            delete(rest_consumers::delete),
        )
        .route(
            "/consumers/{group}/instances/{id}/subscription",
            post(rest_consumers::subscribe),
        )
        .route(
            "/consumers/{group}/instances/{id}/records",
            get(rest_consumers::records),
        )
        .route(
            "/consumers/{group}/instances/{id}/offsets",
            post(rest_consumers::commit).get(rest_consumers::committed),
        )
        .layer(Extension(Arc::new(rest_consumers::Instances::default())))
        .layer(DefaultBodyLimit::max(BODY_MAX_BYTES))
        .with_state(broker.clone())
        // The console's routes keep their own (smaller) body limit.
        .merge(crate::console::router(broker.clone()));
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
