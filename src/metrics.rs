//! Prometheus metrics: request counts, errors and latencies by API, bytes in and out, open
//! connections, and — gathered when scraped — per-partition offsets and sizes and per-group
//! committed offsets and lag.

use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub api: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub api: String,
    pub error_code: i16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub topic: String,
    pub partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupPartitionLabels {
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
}

type LatencyFamily = Family<ApiLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 50 µs to ~1.6 s: produce and fetch answers, and long polls up to their deadline.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    started: Instant,
    requests: Family<ApiLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    latency: LatencyFamily,
    bytes_in: Counter,
    bytes_out: Counter,
    connections: Gauge,
    uptime_seconds: Gauge,
    pub log_end_offset: Family<PartitionLabels, Gauge>,
    pub log_start_offset: Family<PartitionLabels, Gauge>,
    pub log_size_bytes: Family<PartitionLabels, Gauge>,
    pub committed_offset: Family<GroupPartitionLabels, Gauge>,
    pub consumer_lag: Family<GroupPartitionLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("sluice");
        let requests = Family::<ApiLabels, Counter>::default();
        registry.register("requests", "Requests handled, by API", requests.clone());
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "errors",
            "Error codes in responses (top-level and per partition), by API and code",
            errors.clone(),
        );
        let latency = LatencyFamily::new_with_constructor(latency_histogram);
        registry.register(
            "request_duration_seconds",
            "Time from a request's arrival to its response, by API",
            latency.clone(),
        );
        let bytes_in = Counter::default();
        registry.register("received_bytes", "Request bytes received", bytes_in.clone());
        let bytes_out = Counter::default();
        registry.register("sent_bytes", "Response bytes sent", bytes_out.clone());
        let connections = Gauge::default();
        registry.register(
            "connections_open",
            "Client connections open",
            connections.clone(),
        );
        let uptime_seconds = Gauge::default();
        registry.register(
            "uptime_seconds",
            "Seconds since the broker started",
            uptime_seconds.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        registry.register("build_info", "The running build, as labels", build_info);
        let log_end_offset = Family::<PartitionLabels, Gauge>::default();
        registry.register(
            "log_end_offset",
            "The next offset of each partition",
            log_end_offset.clone(),
        );
        let log_start_offset = Family::<PartitionLabels, Gauge>::default();
        registry.register(
            "log_start_offset",
            "The first offset still held by each partition",
            log_start_offset.clone(),
        );
        let log_size_bytes = Family::<PartitionLabels, Gauge>::default();
        registry.register(
            "log_size_bytes",
            "Bytes held by each partition's log",
            log_size_bytes.clone(),
        );
        let committed_offset = Family::<GroupPartitionLabels, Gauge>::default();
        registry.register(
            "group_committed_offset",
            "The committed offset of each group and partition",
            committed_offset.clone(),
        );
        let consumer_lag = Family::<GroupPartitionLabels, Gauge>::default();
        registry.register(
            "group_lag",
            "Log end offset minus committed offset, by group and partition",
            consumer_lag.clone(),
        );
        Metrics {
            registry,
            started: Instant::now(),
            requests,
            errors,
            latency,
            bytes_in,
            bytes_out,
            connections,
            uptime_seconds,
            log_end_offset,
            log_start_offset,
            log_size_bytes,
            committed_offset,
            consumer_lag,
        }
    }

    /// Records one answered request.
    pub fn request(&self, api: &str, elapsed: Duration, error_codes: impl Iterator<Item = i16>) {
        let labels = ApiLabels {
            api: api.to_string(),
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        for code in error_codes.filter(|&c| c != 0) {
            self.errors
                .get_or_create(&ErrorLabels {
                    api: api.to_string(),
                    error_code: code,
                })
                .inc();
        }
    }

    pub fn received(&self, bytes: usize) {
        self.bytes_in.inc_by(bytes as u64);
    }

    pub fn sent(&self, bytes: usize) {
        self.bytes_out.inc_by(bytes as u64);
    }

    pub fn connection_opened(&self) {
        self.connections.inc();
    }

    pub fn connection_closed(&self) {
        self.connections.dec();
    }

    /// The registry in Prometheus text format. Scrape-time gauges must be set beforehand.
    pub fn render(&self) -> String {
        self.uptime_seconds
            .set(self.started.elapsed().as_secs() as i64);
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}
