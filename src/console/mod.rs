//! The web console at `/ui` on the admin listener: a page of plain files (vanilla JS
//! modules, one stylesheet) compiled into the binary ([`assets`]), and the JSON API it calls
//! under `/ui/api/` ([`api`]; the live tail, server-sent events, in [`tail`]). The API calls
//! the broker's domain operations directly; nothing runs unless a page asks — no background
//! task, no timer, no Kafka client loop inside the broker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;

use crate::broker::Broker;

mod api;
mod assets;
mod codec;
mod tail;

/// The largest request body the console takes (a produced record with its headers).
pub const BODY_BYTES_MAX: usize = 1 << 20;
/// Records one page of the message browser holds, at most.
pub const PAGE_RECORDS_MAX: usize = 500;
/// Live tails open at once, at most: each holds a connection and a read position.
pub const TAILS_MAX: usize = 16;
/// Groups the groups view lists, at most.
pub const GROUPS_MAX: usize = 1_000;

/// What the console's handlers share.
pub(crate) struct Console {
    broker: Arc<Broker>,
    /// Live tails open now.
    tails: AtomicUsize,
}

impl Console {
    /// A slot for one more live tail, or `None` when [`TAILS_MAX`] are open.
    fn open_tail(self: &Arc<Self>) -> Option<TailSlot> {
        self.tails
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < TAILS_MAX).then_some(n + 1)
            })
            .ok()
            .map(|_| TailSlot {
                console: self.clone(),
            })
    }
}

/// Held by an open live tail; gives its slot back when the stream is dropped.
struct TailSlot {
    console: Arc<Console>,
}

impl Drop for TailSlot {
    fn drop(&mut self) {
        self.console.tails.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The console's routes, to merge into the admin listener's router.
pub fn router(broker: Arc<Broker>) -> Router {
    let console = Arc::new(Console {
        broker,
        tails: AtomicUsize::new(0),
    });
    Router::new()
        .route("/ui", get(assets::index))
        .route("/ui/", get(assets::index))
        .route("/ui/assets/{file}", get(assets::file))
        .route("/ui/api/overview", get(api::overview))
        .route("/ui/api/topics", get(api::topics).post(api::create_topic))
        .route(
            "/ui/api/topics/{topic}",
            get(api::topic).delete(api::delete_topic),
        )
        .route("/ui/api/topics/{topic}/configs", put(api::alter_configs))
        .route(
            "/ui/api/topics/{topic}/records",
            get(api::records).post(api::produce),
        )
        .route("/ui/api/topics/{topic}/tail", get(tail::tail))
        .route("/ui/api/groups", get(api::groups))
        .route("/ui/api/groups/{group}", get(api::group))
        .route("/ui/api/groups/{group}/reset", post(api::reset))
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(console)
}
