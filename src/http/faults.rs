//! `/admin/faults`: install, list and remove fault rules (see [`crate::faults`]).
//!
//! - `POST /admin/faults` with a rule as JSON → `201 {"id": N}`; a bad rule → `400
//!   {"error": ..., "field": ...}`;
//! - `GET /admin/faults` → `[{"id": N, ...the rule..., "fired": K, "spent": bool}]`;
//! - `DELETE /admin/faults/{id}` → `200 {"id": N}` (`404` if unknown);
//! - `DELETE /admin/faults` → `200 {"deleted": K}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State as Shared};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error;
use crate::broker::Broker;
use crate::faults::FaultRule;

pub(super) async fn add(Shared(broker): Shared<Arc<Broker>>, body: Bytes) -> Response {
    let rule: FaultRule = match serde_json::from_slice(&body) {
        Ok(rule) => rule,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": format!("not a fault rule: {e}") })),
            )
                .into_response()
        }
    };
    match broker.faults().add(&rule) {
        Ok(fault) => {
            tracing::info!(id = fault.id, api = %fault.api, action = fault.action.name(), "fault rule installed");
            (StatusCode::CREATED, Json(json!({ "id": fault.id }))).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": e.to_string(), "field": e.field })),
        )
            .into_response(),
    }
}

pub(super) async fn list(Shared(broker): Shared<Arc<Broker>>) -> Response {
    Json(broker.faults().list()).into_response()
}

pub(super) async fn remove(
    Shared(broker): Shared<Arc<Broker>>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("id: {id:?} is not a number"),
        );
    };
    if broker.faults().remove(id) {
        Json(json!({ "id": id })).into_response()
    } else {
        error(StatusCode::NOT_FOUND, format!("no fault rule {id}"))
    }
}

pub(super) async fn clear(Shared(broker): Shared<Arc<Broker>>) -> Response {
    let deleted = broker.faults().clear();
    Json(json!({ "deleted": deleted })).into_response()
}
