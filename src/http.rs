//! The HTTP admin listener: liveness, readiness and Prometheus metrics.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State as Shared;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::broker::State;
use crate::metrics::{GroupPartitionLabels, PartitionLabels};

pub async fn serve(listener: TcpListener, state: Arc<State>) {
    let router = Router::new()
        .route("/health/live", get(|| async { "live\n" }))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state.clone());
    let stopping = state.clone();
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async move { stopping.shutting_down().await })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "HTTP admin listener failed");
    }
}

async fn ready(Shared(state): Shared<Arc<State>>) -> impl IntoResponse {
    if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics(Shared(state): Shared<Arc<State>>) -> impl IntoResponse {
    let metrics = &state.metrics;
    metrics.log_end_offset.clear();
    metrics.log_start_offset.clear();
    metrics.log_size_bytes.clear();
    let mut end_offsets = std::collections::HashMap::new();
    for topic in state.topics.all() {
        for partition in &topic.partitions {
            let labels = PartitionLabels {
                topic: topic.name.clone(),
                partition: partition.index,
            };
            let offsets = partition.offsets();
            metrics
                .log_end_offset
                .get_or_create(&labels)
                .set(offsets.high_watermark);
            metrics
                .log_start_offset
                .get_or_create(&labels)
                .set(offsets.log_start_offset);
            metrics
                .log_size_bytes
                .get_or_create(&labels)
                .set(partition.size_bytes() as i64);
            end_offsets.insert(
                (topic.name.clone(), partition.index),
                offsets.high_watermark,
            );
        }
    }
    metrics.committed_offset.clear();
    metrics.consumer_lag.clear();
    if let Ok(committed) = state.groups.all_offsets().await {
        for (group, topic, partition, offset) in committed {
            let end = end_offsets.get(&(topic.clone(), partition)).copied();
            let labels = GroupPartitionLabels {
                group,
                topic,
                partition,
            };
            metrics.committed_offset.get_or_create(&labels).set(offset);
            if let Some(end) = end {
                metrics
                    .consumer_lag
                    .get_or_create(&labels)
                    .set((end - offset).max(0));
            }
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
}
