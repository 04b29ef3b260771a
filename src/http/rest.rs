//! A REST proxy in the shapes of Confluent's REST Proxy v2 / Redpanda's HTTP Proxy, and
//! Confluent's v3 single-record produce:
//!
//! - `GET /brokers`, `GET /topics`, `GET /topics/{t}`;
//! - `POST /topics/{t}` (`application/vnd.kafka.json.v2+json` or `...binary.v2+json`):
//!   `{"records": [{"key", "value", "partition"}]}` → `{"offsets": [{"partition", "offset",
//!   "error_code", "error"}]}`;
//! - `GET /topics/{t}/partitions/{p}/records?offset=O&max_bytes=B&timeout=MS` (Redpanda's
//!   form; the `Accept` header picks JSON or binary) → `[{"topic", "key", "value",
//!   "partition", "offset"}]`;
//! - `GET /v3/clusters`, `POST /v3/clusters/{id}/topics/{t}/records`;
//! - consumer instances: see [`super::rest_consumers`].
//!
//! Records become ordinary v2 batches (one per partition per request, encoded with the
//! protocol crate) appended through [`Broker::append`], the path every producer's batches
//! take, so every client reads them as any other records.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Path, Query, State as Shared};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use kafka_protocol::records::{Record, RecordBatchDecoder};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::broker::append::AppendRequest;
use crate::broker::read::{Isolation, PartitionRead, ReadRequest, TopicRef};
use crate::broker::Broker;
use crate::record::full::{build_batch, NewRecord};
use crate::record::partitioner::partition_for_key;

/// Records one produce request may carry.
pub(super) const RECORDS_MAX: usize = 10_000;
/// Bytes a records read returns at most when `max_bytes` is not given.
const READ_BYTES_DEFAULT: usize = 1024 * 1024;
/// The longest a records read waits for data when `timeout` is not given, in ms.
const READ_WAIT_DEFAULT_MS: u64 = 1_000;

const V2_JSON: &str = "application/vnd.kafka.json.v2+json";
const V2_BINARY: &str = "application/vnd.kafka.binary.v2+json";
pub(super) const V2: &str = "application/vnd.kafka.v2+json";

/// Keys and values as JSON documents, or as base64 of their bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Embedded {
    Json,
    Binary,
}

/// An error in the proxies' shape: `{"error_code": N, "message": ...}` with the HTTP status
/// its code starts with (Confluent's codes: 40401 is a 404, 42201 a 422).
pub(super) fn rest_error(
    status: StatusCode,
    error_code: u32,
    message: impl Into<String>,
) -> Response {
    (
        status,
        Json(json!({ "error_code": error_code, "message": message.into() })),
    )
        .into_response()
}

fn with_type(content_type: &'static str, body: Value) -> Response {
    ([(header::CONTENT_TYPE, content_type)], Json(body)).into_response()
}

fn unknown_topic(topic: &str) -> Response {
    rest_error(
        StatusCode::NOT_FOUND,
        40401,
        format!("Topic {topic} not found."),
    )
}

pub(super) async fn brokers(Shared(broker): Shared<Arc<Broker>>) -> Response {
    with_type(V2, json!({ "brokers": [broker.node_id()] }))
}

pub(super) async fn topics(Shared(broker): Shared<Arc<Broker>>) -> Response {
    let mut names: Vec<String> = broker
        .topics()
        .all()
        .iter()
        .map(|t| t.name.clone())
        .collect();
    names.sort();
    with_type(V2, json!(names))
}

pub(super) async fn topic(
    Shared(broker): Shared<Arc<Broker>>,
    Path(name): Path<String>,
) -> Response {
    let Some(topic) = broker.topics().get(&name) else {
        return unknown_topic(&name);
    };
    let node = broker.node_id();
    let partitions: Vec<Value> = topic
        .partitions
        .iter()
        .map(|p| {
            json!({
                "partition": p.index,
                "leader": node,
                "replicas": [{"broker": node, "leader": true, "in_sync": true}],
            })
        })
        .collect();
    with_type(
        V2,
        json!({ "name": topic.name, "configs": {}, "partitions": partitions }),
    )
}

/// One record of a v2 produce.
#[derive(Debug, Deserialize)]
struct V2Record {
    #[serde(default)]
    key: Option<Value>,
    #[serde(default)]
    value: Option<Value>,
    partition: Option<i32>,
}

#[derive(Debug, Deserialize)]
struct V2Produce {
    records: Vec<V2Record>,
}

fn embedded_of(content_type: &str) -> Option<Embedded> {
    let base = content_type.split(';').next().unwrap_or("").trim();
    match base {
        V2_JSON | "application/json" | V2 => Some(Embedded::Json),
        V2_BINARY => Some(Embedded::Binary),
        _ => None,
    }
}

/// The bytes of a key or value as sent: JSON text, or decoded base64.
fn payload(value: Option<Value>, embedded: Embedded, what: &str) -> Result<Option<Bytes>, String> {
    match (value, embedded) {
        (None | Some(Value::Null), _) => Ok(None),
        (Some(v), Embedded::Json) => Ok(Some(Bytes::from(v.to_string()))),
        (Some(Value::String(s)), Embedded::Binary) => BASE64
            .decode(s.as_bytes())
            .map(|b| Some(Bytes::from(b)))
            .map_err(|e| format!("{what}: not base64: {e}")),
        (Some(_), Embedded::Binary) => Err(format!("{what}: must be a base64 string")),
    }
}

/// A record to append: its partition (if chosen) and its parts.
struct Outgoing {
    partition: Option<i32>,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(String, Option<Bytes>)>,
}

/// Unkeyed records without a partition go round the partitions.
static NEXT_PARTITION: AtomicUsize = AtomicUsize::new(0);

fn choose_partition(key: Option<&Bytes>, partitions: usize) -> i32 {
    let n = partitions.max(1);
    match key {
        Some(key) => partition_for_key(key, n as i32),
        None => (NEXT_PARTITION.fetch_add(1, Ordering::Relaxed) % n) as i32,
    }
}

/// Where each record went: (partition, offset or the error), in the records' order.
type Placed = Vec<(i32, Result<(i64, i64), (u32, String)>)>;

/// Appends `records` to `topic`, one v2 batch per partition.
async fn append_records(
    broker: &Broker,
    topic: &str,
    records: Vec<Outgoing>,
) -> Result<Placed, Response> {
    let Some(found) = broker.topics().get(topic) else {
        return Err(unknown_topic(topic));
    };
    let partitions = found.partitions.len();
    let now_ms = broker.clock().now_ms();
    // Partition → (the records' places in the request, the records).
    let mut by_partition: BTreeMap<i32, (Vec<usize>, Vec<NewRecord>)> = BTreeMap::new();
    for (i, outgoing) in records.into_iter().enumerate() {
        let partition = outgoing
            .partition
            .unwrap_or_else(|| choose_partition(outgoing.key.as_ref(), partitions));
        if partition < 0 || partition as usize >= partitions {
            return Err(rest_error(
                StatusCode::NOT_FOUND,
                40402,
                format!("Partition {partition} of topic {topic} not found."),
            ));
        }
        let entry = by_partition.entry(partition).or_default();
        entry.0.push(i);
        entry.1.push(NewRecord {
            timestamp: None,
            key: outgoing.key.map(|k| k.to_vec()),
            value: outgoing.value.map(|v| v.to_vec()),
            // Kept in order, a repeated name included, as a Kafka producer sends them.
            headers: outgoing
                .headers
                .into_iter()
                .map(|(name, value)| (name, value.map(|v| v.to_vec())))
                .collect(),
        });
    }
    let mut batches = Vec::with_capacity(by_partition.len());
    let mut places = Vec::with_capacity(by_partition.len());
    for (partition, (indexes, records)) in by_partition {
        batches.push((partition, Bytes::from(build_batch(&records, now_ms))));
        places.push((partition, indexes));
    }
    let results = broker
        .append(AppendRequest {
            // The newest Produce version the broker answers: every codec and feature allowed.
            version: 12,
            transactional_id: None,
            topics: vec![(topic.to_string(), batches)],
        })
        .await;
    let total: usize = places.iter().map(|(_, i)| i.len()).sum();
    let mut placed: Placed = vec![(0, Ok((-1, -1))); total];
    let results = results.into_iter().next().unwrap_or_default();
    for ((partition, indexes), result) in places.into_iter().zip(results) {
        for (n, &i) in indexes.iter().enumerate() {
            placed[i] = match &result {
                Ok(appended) => (partition, Ok((appended.base_offset + n as i64, now_ms))),
                Err(e) => {
                    let code = crate::api::produce::error_code(e, 12);
                    // Confluent's convention: 2 for a retriable Kafka error, 1 otherwise.
                    let rest_code = if code.is_retriable() { 2 } else { 1 };
                    (partition, Err((rest_code, e.to_string())))
                }
            };
        }
    }
    Ok(placed)
}

pub(super) async fn produce_v2(
    Shared(broker): Shared<Arc<Broker>>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(V2_JSON);
    let Some(embedded) = embedded_of(content_type) else {
        return rest_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            415,
            format!("{content_type}: use {V2_JSON} or {V2_BINARY}"),
        );
    };
    let request: V2Produce = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return rest_error(StatusCode::UNPROCESSABLE_ENTITY, 42201, e.to_string()),
    };
    if request.records.len() > RECORDS_MAX {
        return rest_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            42201,
            format!("at most {RECORDS_MAX} records per request"),
        );
    }
    let mut outgoing = Vec::with_capacity(request.records.len());
    for (i, r) in request.records.into_iter().enumerate() {
        let key = payload(r.key, embedded, &format!("records[{i}].key"));
        let value = payload(r.value, embedded, &format!("records[{i}].value"));
        match (key, value) {
            (Ok(key), Ok(value)) => outgoing.push(Outgoing {
                partition: r.partition,
                key,
                value,
                headers: Vec::new(),
            }),
            (Err(e), _) | (_, Err(e)) => {
                return rest_error(StatusCode::UNPROCESSABLE_ENTITY, 42205, e)
            }
        }
    }
    let placed = match append_records(&broker, &topic, outgoing).await {
        Ok(placed) => placed,
        Err(response) => return response,
    };
    let offsets: Vec<Value> = placed
        .into_iter()
        .map(|(partition, result)| match result {
            Ok((offset, _)) => json!({"partition": partition, "offset": offset, "error_code": null, "error": null}),
            Err((code, message)) => json!({"partition": partition, "offset": null, "error_code": code, "error": message}),
        })
        .collect();
    with_type(
        V2,
        json!({"offsets": offsets, "key_schema_id": null, "value_schema_id": null}),
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct RecordsQuery {
    offset: Option<i64>,
    max_bytes: Option<usize>,
    timeout: Option<u64>,
}

/// Records of one partition from `offset`, as the stored batches hold them.
pub(super) async fn read_records(
    broker: &Broker,
    topic: &str,
    partition: i32,
    offset: i64,
    max_bytes: usize,
    max_wait_ms: u64,
) -> Result<Vec<Record>, Response> {
    let located = broker.locate(TopicRef::Name(topic), partition);
    if located.is_err() && broker.topics().get(topic).is_none() {
        return Err(unknown_topic(topic));
    }
    let read = broker
        .read(ReadRequest {
            partitions: vec![PartitionRead {
                partition: located,
                offset,
                max_bytes,
                current_leader_epoch: -1,
            }],
            isolation: Isolation::ReadUncommitted,
            min_bytes: 1,
            max_bytes,
            max_wait_ms,
        })
        .await;
    let result = match read.results.into_iter().next() {
        Some(Ok(result)) => result,
        Some(Err(e)) => {
            let status = match e {
                crate::broker::read::FetchError::UnknownTopicOrPartition => StatusCode::NOT_FOUND,
                crate::broker::read::FetchError::OffsetOutOfRange => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            return Err(rest_error(
                status,
                u32::from(status.as_u16()) * 100 + 2,
                e.to_string(),
            ));
        }
        None => return Ok(Vec::new()),
    };
    let mut records = Vec::new();
    for chunk in result.batches {
        let mut chunk = chunk;
        // Batches the broker stored: their records were checked, decompressed within a
        // budget, when they were produced.
        let sets = RecordBatchDecoder::decode_all(&mut chunk).map_err(|e| {
            rest_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                50002,
                format!("cannot decode stored records: {e}"),
            )
        })?;
        for set in sets {
            records.extend(
                set.records
                    .into_iter()
                    .filter(|r| !r.control && r.offset >= offset),
            );
        }
    }
    Ok(records)
}

fn encode_payload(bytes: &Option<Bytes>, embedded: Embedded) -> Value {
    match (bytes, embedded) {
        (None, _) => Value::Null,
        (Some(b), Embedded::Binary) => Value::String(BASE64.encode(b)),
        // Not JSON (a record from a Kafka client, say): given as a string rather than lost.
        (Some(b), Embedded::Json) => serde_json::from_slice(b)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned())),
    }
}

pub(super) fn records_json(
    topic: &str,
    partition: i32,
    records: &[Record],
    embedded: Embedded,
) -> Value {
    Value::Array(
        records
            .iter()
            .map(|r| {
                json!({
                    "topic": topic,
                    "key": encode_payload(&r.key, embedded),
                    "value": encode_payload(&r.value, embedded),
                    "partition": partition,
                    "offset": r.offset,
                })
            })
            .collect(),
    )
}

fn accepted(headers: &HeaderMap) -> Embedded {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("binary") {
        Embedded::Binary
    } else {
        Embedded::Json
    }
}

pub(super) async fn partition_records(
    Shared(broker): Shared<Arc<Broker>>,
    Path((topic, partition)): Path<(String, i32)>,
    Query(query): Query<RecordsQuery>,
    headers: HeaderMap,
) -> Response {
    let embedded = accepted(&headers);
    let offset = query.offset.unwrap_or(0);
    let max_bytes = query.max_bytes.unwrap_or(READ_BYTES_DEFAULT);
    let wait = query.timeout.unwrap_or(READ_WAIT_DEFAULT_MS);
    match read_records(&broker, &topic, partition, offset, max_bytes, wait).await {
        Ok(records) => {
            let content_type = match embedded {
                Embedded::Json => V2_JSON,
                Embedded::Binary => V2_BINARY,
            };
            with_type(
                content_type,
                records_json(&topic, partition, &records, embedded),
            )
        }
        Err(response) => response,
    }
}

pub(super) async fn clusters(Shared(broker): Shared<Arc<Broker>>) -> Response {
    let id = broker.cluster_id();
    Json(json!({
        "kind": "KafkaClusterList",
        "metadata": {"self": "/v3/clusters", "next": null},
        "data": [{
            "kind": "KafkaCluster",
            "metadata": {"self": format!("/v3/clusters/{id}"), "resource_name": format!("crn:///kafka={id}")},
            "cluster_id": id,
            "controller": {"related": format!("/v3/clusters/{id}/brokers/{}", broker.node_id())},
        }],
    }))
    .into_response()
}

/// A v3 key or value: `{"type": "JSON" | "BINARY" | "STRING", "data": ...}`.
#[derive(Debug, Deserialize)]
struct V3Data {
    #[serde(rename = "type")]
    kind: Option<String>,
    data: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct V3Header {
    name: String,
    /// base64
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
struct V3Produce {
    partition_id: Option<i32>,
    #[serde(default)]
    headers: Vec<V3Header>,
    key: Option<V3Data>,
    value: Option<V3Data>,
}

/// Headers one v3 record may carry.
const HEADERS_MAX: usize = 1_000;

fn v3_bytes(data: Option<V3Data>, what: &str) -> Result<(Option<Bytes>, &'static str), String> {
    let Some(data) = data else {
        return Ok((None, "JSON"));
    };
    let kind = data.kind.as_deref().unwrap_or("JSON").to_ascii_uppercase();
    match (kind.as_str(), data.data) {
        (_, None | Some(Value::Null)) => Ok((None, "JSON")),
        ("JSON", Some(v)) => Ok((Some(Bytes::from(v.to_string())), "JSON")),
        ("STRING", Some(Value::String(s))) => Ok((Some(Bytes::from(s)), "STRING")),
        ("BINARY", Some(Value::String(s))) => BASE64
            .decode(s.as_bytes())
            .map(|b| (Some(Bytes::from(b)), "BINARY"))
            .map_err(|e| format!("{what}.data: not base64: {e}")),
        ("STRING" | "BINARY", Some(_)) => Err(format!("{what}.data: must be a string")),
        (other, _) => Err(format!(
            "{what}.type: {other:?} is not JSON, BINARY or STRING"
        )),
    }
}

/// An ISO-8601 UTC time of `ms` since the epoch, as Confluent's v3 answers give it.
fn iso8601(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let s = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms_of_day % 1000
    )
}

pub(super) async fn produce_v3(
    Shared(broker): Shared<Arc<Broker>>,
    Path((cluster_id, topic)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if cluster_id != broker.cluster_id() {
        return rest_error(
            StatusCode::NOT_FOUND,
            404,
            format!("Cluster {cluster_id} not found."),
        );
    }
    let request: V3Produce = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return rest_error(StatusCode::BAD_REQUEST, 400, e.to_string()),
    };
    if request.headers.len() > HEADERS_MAX {
        return rest_error(
            StatusCode::BAD_REQUEST,
            400,
            format!("at most {HEADERS_MAX} headers"),
        );
    }
    let mut headers = Vec::with_capacity(request.headers.len());
    for (i, h) in request.headers.into_iter().enumerate() {
        let value = match h.value {
            None => None,
            Some(v) => match BASE64.decode(v.as_bytes()) {
                Ok(b) => Some(Bytes::from(b)),
                Err(e) => {
                    return rest_error(
                        StatusCode::BAD_REQUEST,
                        400,
                        format!("headers[{i}].value: not base64: {e}"),
                    )
                }
            },
        };
        headers.push((h.name, value));
    }
    let (key, key_type) = match v3_bytes(request.key, "key") {
        Ok(k) => k,
        Err(e) => return rest_error(StatusCode::BAD_REQUEST, 400, e),
    };
    let (value, value_type) = match v3_bytes(request.value, "value") {
        Ok(v) => v,
        Err(e) => return rest_error(StatusCode::BAD_REQUEST, 400, e),
    };
    let sizes = (
        key.as_ref().map_or(0, Bytes::len),
        value.as_ref().map_or(0, Bytes::len),
    );
    let outgoing = vec![Outgoing {
        partition: request.partition_id,
        key,
        value,
        headers,
    }];
    let mut placed = match append_records(&broker, &topic, outgoing).await {
        Ok(placed) => placed,
        Err(response) => return response,
    };
    let Some((partition, result)) = placed.pop() else {
        return rest_error(StatusCode::INTERNAL_SERVER_ERROR, 500, "no result");
    };
    match result {
        Ok((offset, timestamp_ms)) => Json(json!({
            "error_code": 200,
            "cluster_id": cluster_id,
            "topic_name": topic,
            "partition_id": partition,
            "offset": offset,
            "timestamp": iso8601(timestamp_ms),
            "key": {"type": key_type, "size": sizes.0},
            "value": {"type": value_type, "size": sizes.1},
        }))
        .into_response(),
        Err((_, message)) => rest_error(StatusCode::INTERNAL_SERVER_ERROR, 500, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_formats_utc_milliseconds() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_612_552_482_123), "2021-02-05T19:14:42.123Z");
    }
}
