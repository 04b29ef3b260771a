//! The REST proxy's consumer instances (Confluent REST v2 shapes):
//! `POST /consumers/{group}` creates one → `{"instance_id", "base_uri"}`; under
//! `/consumers/{group}/instances/{id}`: `POST subscription` `{"topics": [...]}`, `GET
//! records`, `POST offsets` (commit; without a body, the positions reached), `GET offsets`
//! `{"partitions": [{"topic", "partition"}]}` (committed), `DELETE` the instance.
//!
//! Partial, by design for now: an instance does not join the group as a member. It reads
//! every partition of its subscribed topics, starting from the group's committed offsets
//! (or, without one, `auto.offset.reset`: `earliest`, the default, or `latest`), and commits
//! as a simple consumer does (no generation), so two instances of one group each read
//! everything. Instances live in the broker's memory (at most [`INSTANCES_MAX`]) and are not
//! expired.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State as Shared};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::rest::{read_records, records_json, rest_error, Embedded, V2};
use crate::broker::Broker;
use crate::group::{MemberRef, OffsetToCommit};

/// Consumer instances the proxy keeps at most.
pub(super) const INSTANCES_MAX: usize = 1_000;
/// Topics one instance may subscribe to.
const SUBSCRIBED_MAX: usize = 1_000;
/// Bytes one records read returns at most by default, over all partitions.
const READ_BYTES_DEFAULT: usize = 1024 * 1024;

struct Instance {
    embedded: Embedded,
    earliest: bool,
    topics: Vec<String>,
    /// The next offset to read, per partition; filled at the first read of each.
    positions: BTreeMap<(String, i32), i64>,
}

/// The consumer instances, by (group, instance id).
#[derive(Default)]
pub(super) struct Instances {
    next_id: AtomicU64,
    by_id: Mutex<HashMap<(String, String), Instance>>,
}

impl Instances {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Instance>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn no_instance() -> Response {
    rest_error(StatusCode::NOT_FOUND, 40403, "Consumer instance not found.")
}

#[derive(Debug, Default, Deserialize)]
struct CreateRequest {
    name: Option<String>,
    format: Option<String>,
    #[serde(rename = "auto.offset.reset")]
    auto_offset_reset: Option<String>,
}

pub(super) async fn create(
    Extension(instances): Extension<Arc<Instances>>,
    Path(group): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: CreateRequest = if body.is_empty() {
        CreateRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return rest_error(StatusCode::UNPROCESSABLE_ENTITY, 42204, e.to_string()),
        }
    };
    let embedded = match request.format.as_deref() {
        None | Some("json") => Embedded::Json,
        Some("binary") => Embedded::Binary,
        Some(other) => {
            return rest_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                42204,
                format!("format {other:?}: json or binary"),
            )
        }
    };
    let earliest = match request.auto_offset_reset.as_deref() {
        None | Some("earliest") | Some("smallest") => true,
        Some("latest") | Some("largest") => false,
        Some(other) => {
            return rest_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                42204,
                format!("auto.offset.reset {other:?}: earliest or latest"),
            )
        }
    };
    let id = match request.name {
        Some(name) if !name.is_empty() && name.len() <= 255 => name,
        Some(_) => {
            return rest_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                42204,
                "name: 1 to 255 bytes",
            )
        }
        None => format!(
            "rest-consumer-{}",
            instances.next_id.fetch_add(1, Ordering::Relaxed) + 1
        ),
    };
    let mut by_id = instances.lock();
    if by_id.len() >= INSTANCES_MAX {
        return rest_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            42204,
            format!("at most {INSTANCES_MAX} consumer instances; delete some"),
        );
    }
    if by_id.contains_key(&(group.clone(), id.clone())) {
        return rest_error(
            StatusCode::CONFLICT,
            40902,
            format!("Consumer instance {id} already exists."),
        );
    }
    by_id.insert(
        (group.clone(), id.clone()),
        Instance {
            embedded,
            earliest,
            topics: Vec::new(),
            positions: BTreeMap::new(),
        },
    );
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    (
        [(header::CONTENT_TYPE, V2)],
        Json(json!({
            "instance_id": id,
            "base_uri": format!("http://{host}/consumers/{group}/instances/{id}"),
        })),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct Subscription {
    topics: Vec<String>,
}

pub(super) async fn subscribe(
    Extension(instances): Extension<Arc<Instances>>,
    Path((group, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let subscription: Subscription = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return rest_error(StatusCode::UNPROCESSABLE_ENTITY, 42204, e.to_string()),
    };
    if subscription.topics.len() > SUBSCRIBED_MAX {
        return rest_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            42204,
            format!("at most {SUBSCRIBED_MAX} topics"),
        );
    }
    let mut by_id = instances.lock();
    let Some(instance) = by_id.get_mut(&(group, id)) else {
        return no_instance();
    };
    instance.topics = subscription.topics;
    instance
        .positions
        .retain(|(topic, _), _| instance.topics.contains(topic));
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct ReadQuery {
    timeout: Option<u64>,
    max_bytes: Option<usize>,
}

pub(super) async fn records(
    Shared(broker): Shared<Arc<Broker>>,
    Extension(instances): Extension<Arc<Instances>>,
    Path((group, id)): Path<(String, String)>,
    Query(query): Query<ReadQuery>,
) -> Response {
    let key = (group.clone(), id);
    let (topics, earliest, embedded, mut positions) = {
        let by_id = instances.lock();
        let Some(instance) = by_id.get(&key) else {
            return no_instance();
        };
        (
            instance.topics.clone(),
            instance.earliest,
            instance.embedded,
            instance.positions.clone(),
        )
    };
    // Partitions first read now start from the group's committed offsets.
    let mut unplaced = Vec::new();
    for topic in &topics {
        if let Some(found) = broker.topics().get(topic) {
            for p in &found.partitions {
                if !positions.contains_key(&(topic.clone(), p.index)) {
                    unplaced.push((topic.clone(), p.index));
                }
            }
        }
    }
    if !unplaced.is_empty() {
        let committed = broker
            .groups()
            .fetch_offsets(group.clone(), Some(unplaced.clone()))
            .await
            .unwrap_or_default();
        for (topic, partition, offset) in committed {
            let start = match offset {
                Some(c) if c.offset >= 0 => c.offset,
                _ => broker
                    .topics()
                    .get(&topic)
                    .and_then(|t| t.partition(partition).map(|p| p.ends()))
                    .map_or(0, |ends| {
                        if earliest {
                            ends.log_start_offset
                        } else {
                            ends.high_watermark
                        }
                    }),
            };
            positions.insert((topic, partition), start);
        }
    }
    let mut budget = query.max_bytes.unwrap_or(READ_BYTES_DEFAULT);
    let wait = query.timeout.unwrap_or(0);
    let mut out = Vec::new();
    let places: Vec<((String, i32), i64)> =
        positions.iter().map(|(k, v)| (k.clone(), *v)).collect();
    for ((topic, partition), offset) in places {
        if budget == 0 {
            break;
        }
        // Only the first partition waits: an empty topic does not cost a wait per partition.
        let wait_ms = if out.is_empty() { wait } else { 0 };
        let read = match read_records(&broker, &topic, partition, offset, budget, wait_ms).await {
            Ok(read) => read,
            // A partition out of range (a reset, DeleteRecords) starts again by the policy.
            Err(_) => {
                positions.remove(&(topic.clone(), partition));
                continue;
            }
        };
        if let Some(last) = read.last() {
            positions.insert((topic.clone(), partition), last.offset + 1);
        }
        let size: usize = read
            .iter()
            .map(|r| {
                r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len())
            })
            .sum();
        budget = budget.saturating_sub(size.max(1));
        if let Value::Array(records) = records_json(&topic, partition, &read, embedded) {
            out.extend(records);
        }
    }
    if let Some(instance) = instances.lock().get_mut(&key) {
        instance.positions = positions;
    }
    let content_type = match embedded {
        Embedded::Json => "application/vnd.kafka.json.v2+json",
        Embedded::Binary => "application/vnd.kafka.binary.v2+json",
    };
    (
        [(header::CONTENT_TYPE, content_type)],
        Json(Value::Array(out)),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct OffsetEntry {
    topic: String,
    partition: i32,
    offset: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct OffsetsBody {
    #[serde(default)]
    offsets: Vec<OffsetEntry>,
    #[serde(default)]
    partitions: Vec<OffsetEntry>,
}

pub(super) async fn commit(
    Shared(broker): Shared<Arc<Broker>>,
    Extension(instances): Extension<Arc<Instances>>,
    Path((group, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let requested: Vec<OffsetEntry> = if body.is_empty() {
        Vec::new()
    } else {
        match serde_json::from_slice::<OffsetsBody>(&body) {
            Ok(b) => b.offsets,
            Err(e) => return rest_error(StatusCode::UNPROCESSABLE_ENTITY, 42204, e.to_string()),
        }
    };
    let offsets: Vec<OffsetToCommit> = {
        let by_id = instances.lock();
        let Some(instance) = by_id.get(&(group.clone(), id)) else {
            return no_instance();
        };
        let chosen: Vec<(String, i32, i64)> = if requested.is_empty() {
            instance
                .positions
                .iter()
                .map(|((t, p), o)| (t.clone(), *p, *o))
                .collect()
        } else {
            requested
                .into_iter()
                .filter_map(|e| e.offset.map(|o| (e.topic, e.partition, o)))
                .collect()
        };
        chosen
            .into_iter()
            .map(|(topic, partition, offset)| OffsetToCommit {
                topic,
                partition,
                offset,
                leader_epoch: -1,
                metadata: String::new(),
            })
            .collect()
    };
    let member = MemberRef {
        member_id: String::new(),
        instance_id: None,
    };
    match broker.groups().commit(group, -1, member, offsets).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => rest_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            50003,
            format!("cannot commit: {e:?}"),
        ),
    }
}

pub(super) async fn committed(
    Shared(broker): Shared<Arc<Broker>>,
    Extension(instances): Extension<Arc<Instances>>,
    Path((group, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if !instances.lock().contains_key(&(group.clone(), id)) {
        return no_instance();
    }
    let asked: Vec<(String, i32)> = if body.is_empty() {
        Vec::new()
    } else {
        match serde_json::from_slice::<OffsetsBody>(&body) {
            Ok(b) => b
                .partitions
                .into_iter()
                .map(|e| (e.topic, e.partition))
                .collect(),
            Err(e) => return rest_error(StatusCode::UNPROCESSABLE_ENTITY, 42204, e.to_string()),
        }
    };
    let partitions = (!asked.is_empty()).then_some(asked);
    let found = match broker.groups().fetch_offsets(group, partitions).await {
        Ok(found) => found,
        Err(e) => {
            return rest_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                50003,
                format!("cannot fetch offsets: {e:?}"),
            )
        }
    };
    let offsets: Vec<Value> = found
        .into_iter()
        .filter_map(|(topic, partition, offset)| {
            offset.map(|c| {
                json!({"topic": topic, "partition": partition, "offset": c.offset, "metadata": c.metadata})
            })
        })
        .collect();
    (
        [(header::CONTENT_TYPE, V2)],
        Json(json!({ "offsets": offsets })),
    )
        .into_response()
}

pub(super) async fn delete(
    Extension(instances): Extension<Arc<Instances>>,
    Path((group, id)): Path<(String, String)>,
) -> Response {
    match instances.lock().remove(&(group, id)) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => no_instance(),
    }
}
