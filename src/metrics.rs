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

/// Labels of an authentication: the listener, the SASL mechanism (or `TLS` for a client
/// certificate) and `success` or `failure`. A few of each: the label sets are bounded.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthenticationLabels {
    pub listener: String,
    pub mechanism: String,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FaultLabels {
    pub api: String,
    pub action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TxnStateLabels {
    pub state: &'static str,
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

/// An authorization the authorizer refused: Kafka's names of the resource type and operation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DenialLabels {
    pub resource_type: &'static str,
    pub operation: &'static str,
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

/// One API's request counter and latency histogram, looked up by api key.
struct ApiMetrics {
    name: String,
    requests: Counter,
    latency: Histogram,
}

pub struct Metrics {
    registry: Registry,
    started: Instant,
    /// Indexed by api key: resolved once, so a request costs no label hashing.
    by_api: Vec<Option<ApiMetrics>>,
    errors: Family<ErrorLabels, Counter>,
    authentications: Family<AuthenticationLabels, Counter>,
    faults_fired: Family<FaultLabels, Counter>,
    bytes_in: Counter,
    bytes_out: Counter,
    connections: Gauge,
    uptime_seconds: Gauge,
    /// Set at scrape time from the broker's fetch memory budget.
    pub fetch_memory_bytes: Gauge,
    /// Set at scrape time from the topics' cap on open segment files.
    pub open_segment_files: Gauge,
    pub segment_file_reopens: Gauge,
    pub log_end_offset: Family<PartitionLabels, Gauge>,
    pub log_start_offset: Family<PartitionLabels, Gauge>,
    pub last_stable_offset_lag: Family<PartitionLabels, Gauge>,
    pub transactions: Family<TxnStateLabels, Gauge>,
    pub log_size_bytes: Family<PartitionLabels, Gauge>,
    pub committed_offset: Family<GroupPartitionLabels, Gauge>,
    pub consumer_lag: Family<GroupPartitionLabels, Gauge>,
    /// Per-partition and per-group series left out of the last scrape by the series limit.
    pub series_omitted: Gauge,
    pub cleaner: CleanerMetrics,
    /// Authorizations refused, by resource type and operation (a few dozen series at most).
    pub authorization_denials: Family<DenialLabels, Counter>,
}

/// The log cleaner's figures (compacted topics).
#[derive(Clone, Default)]
pub struct CleanerMetrics {
    /// The largest dirty ratio among compacted partitions at their last check.
    pub max_dirty_ratio: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Bytes of log the passes read, and wrote.
    pub read_bytes: Counter,
    pub written_bytes: Counter,
    /// Bytes the passes freed (rewritten segments' size before less after).
    pub freed_bytes: Counter,
    /// Passes that rewrote something.
    pub passes: Counter,
    /// How long the last pass took, and when it ended (Unix seconds).
    pub last_pass_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub last_pass_end_seconds: Gauge,
}

impl Metrics {
    /// Metrics for a broker answering `apis` (api key and name).
    pub fn new(apis: &[(i16, String)]) -> Metrics {
        let mut registry = Registry::with_prefix("sluice");
        let requests = Family::<ApiLabels, Counter>::default();
        registry.register("requests", "Requests handled, by API", requests.clone());
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "errors",
            "Error codes in responses (top-level and per partition), by API and code",
            errors.clone(),
        );
        let authentications = Family::<AuthenticationLabels, Counter>::default();
        registry.register(
            "authentications",
            "Authentications (SASL, and TLS client certificates), by listener, mechanism and result",
            authentications.clone(),
        );
        let faults_fired = Family::<FaultLabels, Counter>::default();
        registry.register(
            "faults_fired",
            "Requests a fault rule acted on, by API and action",
            faults_fired.clone(),
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
        let fetch_memory_bytes = Gauge::default();
        registry.register(
            "fetch_memory_bytes",
            "Record bytes held by fetch responses not yet written (bounded by fetch_memory_max_bytes)",
            fetch_memory_bytes.clone(),
        );
        let open_segment_files = Gauge::default();
        registry.register(
            "open_segment_files",
            "Segment files the partitions hold open (bounded by max_open_segment_files)",
            open_segment_files.clone(),
        );
        // A gauge set from the count the logs keep, so it is not reset by a scrape.
        let segment_file_reopens = Gauge::default();
        registry.register(
            "segment_file_reopens",
            "Times an active segment file closed by the open-file cap was opened again",
            segment_file_reopens.clone(),
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
        let last_stable_offset_lag = Family::<PartitionLabels, Gauge>::default();
        registry.register(
            "last_stable_offset_lag",
            "Offsets of each partition between its last stable offset and its high watermark: \
             what open transactions hold back from read_committed consumers",
            last_stable_offset_lag.clone(),
        );
        let transactions = Family::<TxnStateLabels, Gauge>::default();
        registry.register(
            "transactions",
            "Transactional ids by the state of their transaction (Ongoing: open now)",
            transactions.clone(),
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
        let series_omitted = Gauge::default();
        registry.register(
            "metrics_series_omitted",
            "Partition and group series the last scrape left out (metrics_series_max)",
            series_omitted.clone(),
        );
        let mut by_api: Vec<Option<ApiMetrics>> = Vec::new();
        for (key, name) in apis {
            let Ok(index) = usize::try_from(*key) else {
                continue;
            };
            if by_api.len() <= index {
                by_api.resize_with(index + 1, || None);
            }
            let labels = ApiLabels { api: name.clone() };
            by_api[index] = Some(ApiMetrics {
                name: name.clone(),
                requests: requests.get_or_create(&labels).clone(),
                latency: latency.get_or_create(&labels).clone(),
            });
        }
        let cleaner = CleanerMetrics::default();
        registry.register(
            "log_cleaner_max_dirty_ratio",
            "The largest share of dirty (not yet compacted) bytes among compacted partitions",
            cleaner.max_dirty_ratio.clone(),
        );
        registry.register(
            "log_cleaner_read_bytes",
            "Bytes of log the cleaner read",
            cleaner.read_bytes.clone(),
        );
        registry.register(
            "log_cleaner_written_bytes",
            "Bytes of cleaned segments the cleaner wrote",
            cleaner.written_bytes.clone(),
        );
        registry.register(
            "log_cleaner_freed_bytes",
            "Bytes compaction removed from logs",
            cleaner.freed_bytes.clone(),
        );
        registry.register(
            "log_cleaner_passes",
            "Cleaner passes that rewrote segments",
            cleaner.passes.clone(),
        );
        registry.register(
            "log_cleaner_last_pass_seconds",
            "How long the cleaner's last pass took",
            cleaner.last_pass_seconds.clone(),
        );
        registry.register(
            "log_cleaner_last_pass_end_seconds",
            "When the cleaner's last pass ended, in Unix seconds",
            cleaner.last_pass_end_seconds.clone(),
        );
        let authorization_denials = Family::<DenialLabels, Counter>::default();
        registry.register(
            "authorization_denials",
            "Operations the authorizer refused, by resource type and operation",
            authorization_denials.clone(),
        );
        Metrics {
            authorization_denials,
            registry,
            started: crate::clock::monotonic_now(),
            by_api,
            errors,
            authentications,
            faults_fired,
            bytes_in,
            bytes_out,
            connections,
            uptime_seconds,
            fetch_memory_bytes,
            open_segment_files,
            segment_file_reopens,
            log_end_offset,
            log_start_offset,
            last_stable_offset_lag,
            transactions,
            log_size_bytes,
            committed_offset,
            consumer_lag,
            series_omitted,
            cleaner,
        }
    }

    /// Records one answered request.
    pub fn request(&self, api_key: i16, elapsed: Duration, error_codes: impl Iterator<Item = i16>) {
        let known = usize::try_from(api_key)
            .ok()
            .and_then(|i| self.by_api.get(i))
            .and_then(Option::as_ref);
        let name = match known {
            Some(api) => {
                api.requests.inc();
                api.latency.observe(elapsed.as_secs_f64());
                &api.name
            }
            None => "unknown",
        };
        for code in error_codes.filter(|&c| c != 0) {
            self.errors
                .get_or_create(&ErrorLabels {
                    api: name.to_string(),
                    error_code: code,
                })
                .inc();
        }
    }

    /// Records one authentication's outcome.
    pub fn authentication(&self, listener: &str, mechanism: &str, success: bool) {
        self.authentications
            .get_or_create(&AuthenticationLabels {
                listener: listener.to_string(),
                mechanism: mechanism.to_string(),
                result: if success { "success" } else { "failure" },
            })
            .inc();
    }

    /// A fault rule acted on a request of `api_key`.
    pub fn fault_fired(&self, api_key: i16, action: &'static str) {
        let name = usize::try_from(api_key)
            .ok()
            .and_then(|i| self.by_api.get(i))
            .and_then(Option::as_ref)
            .map_or("unknown", |api| api.name.as_str());
        self.faults_fired
            .get_or_create(&FaultLabels {
                api: name.to_string(),
                action,
            })
            .inc();
    }

    pub fn received(&self, bytes: usize) {
        self.bytes_in.inc_by(bytes as u64);
    }

    pub fn sent(&self, bytes: usize) {
        self.bytes_out.inc_by(bytes as u64);
    }

    /// Requests of `api_key` answered since the start (the console's throughput).
    pub fn requests_of(&self, api_key: i16) -> u64 {
        usize::try_from(api_key)
            .ok()
            .and_then(|i| self.by_api.get(i))
            .and_then(Option::as_ref)
            .map_or(0, |api| api.requests.get())
    }

    pub fn bytes_received(&self) -> u64 {
        self.bytes_in.get()
    }

    pub fn bytes_sent(&self) -> u64 {
        self.bytes_out.get()
    }

    pub fn connections(&self) -> i64 {
        self.connections.get()
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
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
