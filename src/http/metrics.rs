//! Liveness, readiness and Prometheus metrics.

use std::sync::Arc;

use axum::extract::State as Shared;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use crate::broker::Broker;
use crate::metrics::{GroupPartitionLabels, PartitionLabels, TxnStateLabels};
use crate::txn::TxnState;

pub(super) async fn ready(Shared(broker): Shared<Arc<Broker>>) -> impl IntoResponse {
    if broker.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// Renders the metrics. Per-partition and per-group series are gathered now, at most
/// `metrics_series_max` of each (by topic and partition, then group, in name order): a
/// scrape of a broker with 100,000 partitions costs no more than one of that many.
pub(super) async fn metrics(Shared(broker): Shared<Arc<Broker>>) -> impl IntoResponse {
    let metrics = broker.metrics();
    let series_max = broker.config().metrics_series_max;
    let mut omitted = 0usize;
    metrics.log_end_offset.clear();
    metrics.log_start_offset.clear();
    metrics.last_stable_offset_lag.clear();
    metrics.log_size_bytes.clear();
    let mut end_offsets = std::collections::HashMap::new();
    for topic in broker.topics().all() {
        for partition in &topic.partitions {
            if end_offsets.len() >= series_max {
                omitted += 1;
                continue;
            }
            let labels = PartitionLabels {
                topic: topic.name.clone(),
                partition: partition.index,
            };
            let ends = partition.ends();
            metrics
                .log_end_offset
                .get_or_create(&labels)
                .set(ends.log_end_offset);
            metrics
                .log_start_offset
                .get_or_create(&labels)
                .set(ends.log_start_offset);
            metrics
                .last_stable_offset_lag
                .get_or_create(&labels)
                .set(ends.high_watermark - ends.last_stable_offset);
            metrics
                .log_size_bytes
                .get_or_create(&labels)
                .set(partition.size_bytes() as i64);
            end_offsets.insert((topic.name.clone(), partition.index), ends.high_watermark);
        }
    }
    metrics.committed_offset.clear();
    metrics.consumer_lag.clear();
    if let Ok(mut committed) = broker.groups().all_offsets().await {
        committed.sort_unstable();
        omitted += committed.len().saturating_sub(series_max);
        for (group, topic, partition, offset) in committed.into_iter().take(series_max) {
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
    metrics.series_omitted.set(omitted as i64);
    metrics
        .fetch_memory_bytes
        .set(i64::try_from(broker.fetch_memory().held_bytes()).unwrap_or(i64::MAX));
    let open_files = broker.topics().open_files();
    metrics
        .open_segment_files
        .set(i64::try_from(open_files.held()).unwrap_or(i64::MAX));
    metrics
        .segment_file_reopens
        .set(i64::try_from(open_files.reopened()).unwrap_or(i64::MAX));
    metrics.transactions.clear();
    if let Ok(counts) = broker.txns().count_by_state().await {
        // Open transactions are shown even when there are none.
        let ongoing = TxnStateLabels {
            state: TxnState::Ongoing.name(),
        };
        metrics.transactions.get_or_create(&ongoing).set(0);
        for (state, n) in counts {
            let labels = TxnStateLabels {
                state: state.name(),
            };
            metrics.transactions.get_or_create(&labels).set(n as i64);
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

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::config::Config;
    use crate::topics::NewTopic;

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scrape_renders_at_most_metrics_series_max_partitions_and_counts_the_rest() {
        let node = crate::node::Node::start(Config {
            http: "127.0.0.1:0".into(),
            metrics_series_max: 5,
            ..Config::for_tests()
        })
        .await
        .unwrap();
        node.broker()
            .topics()
            .create(NewTopic {
                name: "many".into(),
                partitions: 8,
                configs: Default::default(),
            })
            .unwrap();
        let text = get(node.http_addr().unwrap(), "/metrics").await;
        let series = text
            .lines()
            .filter(|l| l.starts_with("sluice_log_end_offset{"))
            .count();
        assert_eq!(series, 5, "{text}");
        assert!(
            text.lines().any(|l| l == "sluice_metrics_series_omitted 3"),
            "{text}"
        );
        node.shutdown().await;
    }

    /// An open transaction's records are the partition's last-stable-offset lag until it ends,
    /// and an open transaction counts as Ongoing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_open_transaction_shows_as_last_stable_offset_lag() {
        let node = crate::node::Node::start(Config {
            http: "127.0.0.1:0".into(),
            ..Config::for_tests()
        })
        .await
        .unwrap();
        let topic = node
            .broker()
            .topics()
            .create(NewTopic {
                name: "txn".into(),
                partitions: 1,
                configs: Default::default(),
            })
            .unwrap();
        let partition = topic.partition(0).unwrap();
        let plain = crate::record::test_batches::idempotent_batch(7, 0, 0, 2, 1_000);
        partition.append(bytes::Bytes::from(plain), None).unwrap();
        let open = crate::record::test_batches::transactional_batch(8, 0, 0, 3, 1_000);
        partition.append(bytes::Bytes::from(open), None).unwrap();
        let txns = node.broker().txns();
        let producer = txns
            .init_producer_id("tx".into(), 60_000, None, 8)
            .await
            .unwrap();
        txns.add_partitions("tx".into(), producer, vec![("txn".into(), 0)])
            .await
            .unwrap();
        let text = get(node.http_addr().unwrap(), "/metrics").await;
        let sample = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("{name}{{")))
                .map(|l| l.rsplit(' ').next().unwrap_or_default().to_string())
        };
        assert_eq!(
            sample("sluice_last_stable_offset_lag").as_deref(),
            Some("3"),
            "{text}"
        );
        assert_eq!(
            sample("sluice_log_end_offset").as_deref(),
            Some("5"),
            "{text}"
        );
        node.shutdown().await;
    }
}
