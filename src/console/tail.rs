//! The live tail: a topic's new records as server-sent events, one `record` event each.
//!
//! The stream reads the log by offset: it holds a position per partition, reads from it up to
//! the high watermark, and when it has caught up waits on the partitions' high-watermark
//! watches. It is polled only when the socket takes more, so a burst is sent in full at the
//! pace the browser reads it — no queue to overflow, nothing dropped — and a tail costs
//! nothing between appends. A `ready` event first gives the positions it starts from.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::future::select_all;
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use super::api::ApiError;
use super::codec::show;
use super::{Console, TailSlot, TAILS_MAX};
use crate::broker::browse::{scan, RecordFilter};
use crate::partition::Partition;
use crate::record::validate::decompression_budget;

/// Records read from one partition per step; the events wait in memory until sent.
const STEP_RECORDS: usize = 500;
/// Bytes of batches looked at per step.
const STEP_BYTES: usize = 1 << 20;

#[derive(Deserialize)]
pub(super) struct TailQuery {
    /// One partition; all of them when absent.
    partition: Option<i32>,
    /// `end` (the default: only new records), `start`, or an offset.
    from: Option<String>,
}

/// One open tail.
struct Tail {
    broker: Arc<crate::broker::Broker>,
    partitions: Vec<Arc<Partition>>,
    positions: Vec<i64>,
    /// The partition read first by the next fill.
    first: usize,
    watches: Vec<watch::Receiver<i64>>,
    budget: u64,
    pending: VecDeque<Event>,
    /// Gives the tail's slot back when the stream is dropped (the browser went away).
    _slot: TailSlot,
}

impl Tail {
    /// Reads what the partitions have past their positions into `pending`: whether there was
    /// anything, or `None` when a read failed (the tail ends; the page may open another).
    async fn fill(&mut self) -> Option<bool> {
        for watch in &mut self.watches {
            watch.borrow_and_update();
        }
        // At most STEP_RECORDS events wait at a time, whatever the partition count; the
        // partitions take turns being read first, so a busy one cannot starve the others.
        let count = self.partitions.len();
        for turn in 0..count {
            if self.pending.len() >= STEP_RECORDS {
                break;
            }
            let i = (self.first + turn) % count;
            let partition = &self.partitions[i];
            let from = self.positions[i];
            let ends = partition.ends();
            if from >= ends.high_watermark {
                continue;
            }
            let partition = partition.clone();
            let budget = self.budget;
            let page = tokio::task::spawn_blocking(move || {
                let none = RecordFilter::default();
                let page = scan(&partition, from, &none, STEP_RECORDS, STEP_BYTES, budget);
                (partition.index, page)
            })
            .await;
            let Ok((index, Ok(page))) = page else {
                tracing::warn!(
                    partition = self.partitions[i].index,
                    "console tail: a read failed; the tail ends"
                );
                return None;
            };
            self.positions[i] = page.next_offset.max(from);
            for record in &page.records {
                let data = serde_json::to_string(&show(index, record)).unwrap_or_default();
                self.pending
                    .push_back(Event::default().event("record").data(data));
            }
        }
        self.first = (self.first + 1) % count;
        Some(!self.pending.is_empty())
    }

    /// The next event, waiting for appends when caught up; `None` once the broker stops or
    /// the topic goes.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.fill().await? {
                continue;
            }
            // Caught up (or only empty reads): positions that did not move wait for appends.
            let any_append = select_all(self.watches.iter_mut().map(|w| Box::pin(w.changed())));
            tokio::select! {
                (changed, _, _) = any_append => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = self.broker.shutting_down() => return None,
            }
        }
    }
}

pub(super) async fn tail(
    State(console): State<Arc<Console>>,
    Path(name): Path<String>,
    Query(query): Query<TailQuery>,
) -> Response {
    match open(&console, &name, query) {
        Ok(sse) => sse.into_response(),
        Err(e) => e.into_response(),
    }
}

fn open(
    console: &Arc<Console>,
    name: &str,
    query: TailQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let topic = console
        .broker
        .topics()
        .get(name)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no topic {name}")))?;
    let partitions: Vec<Arc<Partition>> = match query.partition {
        Some(index) => vec![topic.partition(index).cloned().ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                format!("no partition {index} of {name}"),
            )
        })?],
        None => topic.partitions.clone(),
    };
    if partitions.is_empty() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("{name} has no partitions"),
        ));
    }
    let slot = console.open_tail().ok_or_else(|| {
        ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{TAILS_MAX} live tails are open already"),
        )
    })?;
    // Subscribed before the positions are taken, so an append in between still wakes us.
    let watches: Vec<_> = partitions
        .iter()
        .map(|p| p.watch_high_watermark())
        .collect();
    let from = query.from.as_deref().unwrap_or("end");
    let positions: Vec<i64> = partitions
        .iter()
        .map(|p| {
            let ends = p.ends();
            let wanted = match from {
                "start" => ends.log_start_offset,
                "end" => ends.high_watermark,
                offset => offset.parse().unwrap_or(ends.high_watermark),
            };
            wanted.clamp(ends.log_start_offset, ends.high_watermark)
        })
        .collect();
    let ready = json!({
        "topic": name,
        "positions": partitions.iter().zip(&positions)
            .map(|(p, o)| json!({"partition": p.index, "offset": o}))
            .collect::<Vec<_>>(),
    });
    let tail = Tail {
        broker: console.broker.clone(),
        partitions,
        positions,
        first: 0,
        watches,
        budget: decompression_budget(topic.config.max_message_bytes()),
        pending: VecDeque::from([Event::default().event("ready").data(ready.to_string())]),
        _slot: slot,
    };
    let events = stream::unfold(tail, |mut tail| async move {
        let event = tail.next().await?;
        Some((Ok(event), tail))
    });
    // The keep-alive also finds a closed page while no records come: the write fails.
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
