//! The console's JSON API: each handler turns a page's request into calls on the broker's
//! domain operations (the same ones the Kafka APIs use, so the same rules and validation)
//! and answers JSON; a refusal is `{"error": ".."}` with a 4xx status.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::{Buf, Bytes};
use kafka_protocol::messages::ConsumerProtocolAssignment;
use kafka_protocol::protocol::Decodable;
use serde::Deserialize;
use serde_json::{json, Value};

use super::codec::{show, GivenRecord};
use super::{Console, GROUPS_MAX, PAGE_RECORDS_MAX};
use crate::broker::browse::{BrowseError, BrowseStart, RecordFilter, ResetError, ResetTarget};
use crate::broker::config_admin::{ConfigAdminError, RESOURCE_TOPIC};
use crate::broker::topic_admin::{CreateTopicError, DeleteTopicError, TopicSpec};
use crate::group::GroupState;
use crate::topics::Topic;

/// A refusal: its status and what the page shows.
pub(super) struct ApiError(pub(super) StatusCode, pub(super) String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad_request(why: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, why.into())
}

fn not_found(why: impl Into<String>) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, why.into())
}

fn internal(why: impl ToString) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, why.to_string())
}

type ApiResult = Result<Json<Value>, ApiError>;

/// Kafka's api keys for the throughput the overview shows.
const PRODUCE: i16 = 0;
const FETCH: i16 = 1;

pub(super) async fn overview(State(console): State<Arc<Console>>) -> ApiResult {
    let broker = &console.broker;
    let topics = broker.topics().all();
    let mut partitions = 0usize;
    let mut records = 0i64;
    let mut bytes = 0u64;
    let mut high_watermarks = 0i64;
    for topic in &topics {
        for partition in &topic.partitions {
            partitions += 1;
            let ends = partition.ends();
            records += ends.high_watermark - ends.log_start_offset;
            high_watermarks += ends.high_watermark;
            bytes += partition.size_bytes();
        }
    }
    let groups = broker.groups().list().await.map(|g| g.len()).unwrap_or(0);
    let metrics = broker.metrics();
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "node_id": broker.node_id(),
        "cluster_id": broker.cluster_id(),
        "uptime_ms": metrics.uptime().as_millis() as u64,
        "topics": topics.len(),
        "partitions": partitions,
        "groups": groups,
        "records": records,
        "size_bytes": bytes,
        // The page turns these counters into rates between two polls.
        "high_watermark_sum": high_watermarks,
        "produce_requests": metrics.requests_of(PRODUCE),
        "fetch_requests": metrics.requests_of(FETCH),
        "received_bytes": metrics.bytes_received(),
        "sent_bytes": metrics.bytes_sent(),
        "connections": metrics.connections(),
        "now_ms": broker.clock().now_ms(),
    })))
}

fn topic_summary(topic: &Topic) -> Value {
    let (retention_ms, retention_bytes) = topic.config.retention();
    let mut records = 0i64;
    let mut bytes = 0u64;
    for partition in &topic.partitions {
        let ends = partition.ends();
        records += ends.high_watermark - ends.log_start_offset;
        bytes += partition.size_bytes();
    }
    let policy = match (
        topic.config.cleanup_policy_deletes(),
        topic.config.cleanup_policy_compacts(),
    ) {
        (true, true) => "delete,compact",
        (false, true) => "compact",
        _ => "delete",
    };
    json!({
        "name": topic.name,
        "id": topic.id.to_string(),
        "partitions": topic.partitions.len(),
        "records": records,
        "size_bytes": bytes,
        "retention_ms": retention_ms,
        "retention_bytes": retention_bytes,
        "cleanup_policy": policy,
    })
}

pub(super) async fn topics(State(console): State<Arc<Console>>) -> ApiResult {
    let mut topics = console.broker.topics().all();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(Value::Array(
        topics.iter().map(|t| topic_summary(t)).collect(),
    )))
}

#[derive(Deserialize)]
pub(super) struct NewTopicBody {
    name: String,
    partitions: Option<i32>,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

pub(super) async fn create_topic(
    State(console): State<Arc<Console>>,
    Json(body): Json<NewTopicBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let spec = TopicSpec {
        name: body.name.clone(),
        partitions: body.partitions,
        replication_factor: None,
        configs: body.configs,
    };
    match console.broker.create_topic(spec, false) {
        Ok(created) => Ok((
            StatusCode::CREATED,
            Json(json!({
                "name": body.name,
                "id": created.id.to_string(),
                "partitions": created.partitions,
            })),
        )),
        Err(CreateTopicError::Refused(e)) => Err(ApiError(StatusCode::BAD_REQUEST, e.to_string())),
        Err(e) => Err(bad_request(e.to_string())),
    }
}

pub(super) async fn delete_topic(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
) -> ApiResult {
    match console.broker.delete_topic(&name).await {
        Ok(_) => Ok(Json(json!({ "deleted": name }))),
        Err(DeleteTopicError::UnknownTopic) => Err(not_found(format!("no topic {name}"))),
        Err(e) => Err(internal(e)),
    }
}

pub(super) async fn topic(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
) -> ApiResult {
    let topic = console
        .broker
        .topics()
        .get(&name)
        .ok_or_else(|| not_found(format!("no topic {name}")))?;
    let partitions: Vec<Value> = topic
        .partitions
        .iter()
        .map(|p| {
            let ends = p.ends();
            json!({
                "partition": p.index,
                "start_offset": ends.log_start_offset,
                "end_offset": ends.high_watermark,
                "last_stable_offset": ends.last_stable_offset,
                "size_bytes": p.size_bytes(),
            })
        })
        .collect();
    let configs: Vec<Value> = topic
        .config
        .entries()
        .into_iter()
        .map(|e| {
            json!({
                "name": e.name,
                "value": e.value,
                "is_set": e.is_set,
                "source": format!("{:?}", e.source),
                "documentation": e.documentation,
            })
        })
        .collect();
    let mut summary = topic_summary(&topic);
    summary["partition_list"] = Value::Array(partitions);
    summary["configs"] = Value::Array(configs);
    Ok(Json(summary))
}

#[derive(Deserialize)]
pub(super) struct ConfigsBody {
    /// Keys to set; a `null` value removes the topic's override (back to the default).
    configs: BTreeMap<String, Option<String>>,
}

/// IncrementalAlterConfigs' SET and DELETE, so the typed validation and the rules of
/// `ConfigAdmin` apply as they do to a Kafka client's change.
pub(super) async fn alter_configs(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    Json(body): Json<ConfigsBody>,
) -> ApiResult {
    const SET: i8 = 0;
    const DELETE: i8 = 1;
    let ops = body
        .configs
        .into_iter()
        .map(|(key, value)| match value {
            Some(v) => (key, SET, Some(v)),
            None => (key, DELETE, None),
        })
        .collect();
    match console
        .broker
        .incremental_alter_configs(RESOURCE_TOPIC, &name, ops, false)
    {
        Ok(()) => Ok(Json(json!({ "altered": name }))),
        Err(ConfigAdminError::UnknownTopic(why)) => Err(not_found(why)),
        Err(ConfigAdminError::Storage(why)) => Err(internal(why)),
        Err(
            ConfigAdminError::InvalidConfig(why)
            | ConfigAdminError::InvalidRequest(why)
            | ConfigAdminError::InvalidTopic(why),
        ) => Err(bad_request(why)),
    }
}

/// The message browser's query: where to start, which records, how many.
#[derive(Deserialize)]
pub(super) struct RecordsQuery {
    #[serde(default)]
    partition: i32,
    offset: Option<i64>,
    timestamp: Option<i64>,
    /// The last N records.
    last: Option<u32>,
    limit: Option<usize>,
    key: Option<String>,
    value: Option<String>,
    /// `name` or `name=value` (a substring of the value).
    header: Option<String>,
}

pub(super) async fn records(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    Query(query): Query<RecordsQuery>,
) -> ApiResult {
    let start = match (query.offset, query.timestamp, query.last) {
        (Some(offset), None, None) => BrowseStart::Offset(offset),
        (None, Some(ts), None) => BrowseStart::Timestamp(ts),
        (None, None, Some(n)) => BrowseStart::Last(n.min(PAGE_RECORDS_MAX as u32)),
        (None, None, None) => BrowseStart::Offset(0),
        _ => return Err(bad_request("give one of offset, timestamp and last")),
    };
    let limit = query.limit.unwrap_or(100).clamp(1, PAGE_RECORDS_MAX);
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let header = non_empty(query.header).map(|h| match h.split_once('=') {
        Some((name, value)) => (name.to_string(), Some(value.to_string())),
        None => (h, None),
    });
    let filter = RecordFilter {
        key: non_empty(query.key),
        value: non_empty(query.value),
        header,
    };
    let page = console
        .broker
        .browse(&name, query.partition, start, filter, limit)
        .await
        .map_err(|e| match e {
            BrowseError::UnknownTopicOrPartition => {
                not_found(format!("no partition {} of {name}", query.partition))
            }
            BrowseError::Storage(e) => internal(e),
        })?;
    let shown: Vec<_> = page
        .records
        .iter()
        .map(|r| show(query.partition, r))
        .collect();
    Ok(Json(json!({
        "records": shown,
        "next_offset": page.next_offset,
        "start_offset": page.log_start_offset,
        "end_offset": page.high_watermark,
    })))
}

pub(super) async fn produce(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    Json(body): Json<GivenRecord>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let partition = body.partition.unwrap_or(0);
    let record = body.into_record().map_err(bad_request)?;
    match console
        .broker
        .produce_record(&name, partition, record)
        .await
    {
        Ok(offset) => Ok((
            StatusCode::CREATED,
            Json(json!({ "partition": partition, "offset": offset })),
        )),
        Err(crate::broker::append::ProduceError::UnknownTopicOrPartition) => {
            Err(not_found(format!("no partition {partition} of {name}")))
        }
        Err(e) => Err(bad_request(e.to_string())),
    }
}

/// The partitions a consumer-protocol assignment gives its member, by topic.
fn assigned(mut assignment: Bytes) -> Vec<Value> {
    if assignment.remaining() < 2 {
        return Vec::new();
    }
    let version = assignment.get_i16();
    match ConsumerProtocolAssignment::decode(&mut assignment, version.clamp(0, 3)) {
        Ok(decoded) => decoded
            .assigned_partitions
            .iter()
            .map(|t| json!({ "topic": t.topic.to_string(), "partitions": t.partitions }))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Each committed offset of `group` with its partition's end and the lag.
async fn group_offsets(console: &Console, group: &str) -> Result<Vec<Value>, ApiError> {
    let committed = console
        .broker
        .groups()
        .fetch_offsets(group.to_string(), None)
        .await
        .map_err(|e| internal(format!("{e:?}")))?;
    let mut rows: Vec<Value> = committed
        .into_iter()
        .filter_map(|(topic, partition, offset)| {
            let offset = offset?;
            let end = console
                .broker
                .topics()
                .get(&topic)
                .and_then(|t| t.partition(partition).map(|p| p.ends().high_watermark));
            Some(json!({
                "topic": topic,
                "partition": partition,
                "committed": offset.offset,
                "end_offset": end,
                "lag": end.map(|e| (e - offset.offset).max(0)),
            }))
        })
        .collect();
    rows.sort_by_key(|r| {
        (
            r["topic"].as_str().map(str::to_string),
            r["partition"].as_i64(),
        )
    });
    Ok(rows)
}

pub(super) async fn groups(State(console): State<Arc<Console>>) -> ApiResult {
    let mut listed = console
        .broker
        .groups()
        .list()
        .await
        .map_err(|e| internal(format!("{e:?}")))?;
    listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    listed.truncate(GROUPS_MAX);
    let ids: Vec<String> = listed.iter().map(|g| g.group_id.clone()).collect();
    let described = console
        .broker
        .groups()
        .describe(ids)
        .await
        .map_err(|e| internal(format!("{e:?}")))?;
    let members: HashMap<String, usize> = described
        .into_iter()
        .map(|d| (d.group_id, d.members.len()))
        .collect();
    let mut out = Vec::with_capacity(listed.len());
    for g in &listed {
        let offsets = group_offsets(&console, &g.group_id).await?;
        let lag: i64 = offsets.iter().filter_map(|o| o["lag"].as_i64()).sum();
        out.push(json!({
            "group": g.group_id,
            "state": g.state.name(),
            "protocol_type": g.protocol_type,
            "members": members.get(&g.group_id).copied().unwrap_or(0),
            "lag": lag,
        }));
    }
    Ok(Json(Value::Array(out)))
}

pub(super) async fn group(
    State(console): State<Arc<Console>>,
    Path(group): Path<String>,
) -> ApiResult {
    let described = console
        .broker
        .groups()
        .describe(vec![group.clone()])
        .await
        .map_err(|e| internal(format!("{e:?}")))?;
    let offsets = group_offsets(&console, &group).await?;
    let Some(d) = described.into_iter().next() else {
        return Err(not_found(format!("no group {group}")));
    };
    if d.state == GroupState::Dead && offsets.is_empty() {
        return Err(not_found(format!("no group {group}")));
    }
    let members: Vec<Value> = d
        .members
        .into_iter()
        .map(|m| {
            json!({
                "member_id": m.member_id,
                "instance_id": m.instance_id,
                "client_id": m.client_id,
                "host": m.client_host,
                "assignment": assigned(m.assignment),
            })
        })
        .collect();
    Ok(Json(json!({
        "group": d.group_id,
        "state": d.state.name(),
        "protocol_type": d.protocol_type,
        "protocol": d.protocol_name,
        "members": members,
        "offsets": offsets,
    })))
}

#[derive(Deserialize)]
pub(super) struct ResetBody {
    topic: String,
    partition: i32,
    /// `offset`, `earliest`, `latest` or `timestamp`.
    to: String,
    offset: Option<i64>,
    timestamp: Option<i64>,
}

pub(super) async fn reset(
    State(console): State<Arc<Console>>,
    Path(group): Path<String>,
    Json(body): Json<ResetBody>,
) -> ApiResult {
    let target = match (body.to.as_str(), body.offset, body.timestamp) {
        ("offset", Some(offset), _) => ResetTarget::Offset(offset),
        ("earliest", ..) => ResetTarget::Earliest,
        ("latest", ..) => ResetTarget::Latest,
        ("timestamp", _, Some(ts)) => ResetTarget::Timestamp(ts),
        _ => {
            return Err(bad_request(
                "to: offset (with offset), earliest, latest or timestamp (with timestamp)",
            ))
        }
    };
    match console
        .broker
        .reset_group_offset(&group, &body.topic, body.partition, target)
        .await
    {
        Ok(offset) => Ok(Json(json!({
            "group": group,
            "topic": body.topic,
            "partition": body.partition,
            "offset": offset,
        }))),
        Err(ResetError::UnknownTopicOrPartition) => Err(not_found(format!(
            "no partition {} of {}",
            body.partition, body.topic
        ))),
        Err(e @ (ResetError::GroupHasMembers { .. } | ResetError::MemberJoined)) => {
            Err(ApiError(StatusCode::CONFLICT, e.to_string()))
        }
        Err(e) => Err(internal(e)),
    }
}
