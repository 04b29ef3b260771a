//! The request recorder (`GET /admin/requests`): the latest requests the broker answered, in
//! a bounded ring (`request_log_size`; 0 turns it off), and a bounded broadcast of each one as
//! it completes, for `GET /admin/requests/stream`.
//!
//! Cost per request while on: one short mutex (a push and, when full, a pop on a `VecDeque`)
//! and a broadcast send that never waits (a slow subscriber loses the oldest events and is
//! told how many). Off, a request costs one branch on a plain bool.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

/// Events a subscriber may fall behind by before it loses the oldest.
pub const STREAM_BUFFER: usize = 1_024;
/// Distinct error codes kept per request.
const CODES_MAX: usize = 64;

/// One answered request.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    /// Increases by one per recorded request, from 1.
    pub seq: u64,
    /// When the request arrived, in ms since the epoch.
    pub time_ms: i64,
    pub api: &'static str,
    pub api_key: i16,
    pub version: i16,
    pub correlation_id: i32,
    pub client_id: String,
    pub client_software_name: Option<String>,
    pub client_software_version: Option<String>,
    pub peer: SocketAddr,
    pub duration_us: u64,
    /// The distinct error codes of the response, in order of first appearance, zeros left
    /// out (empty: no error); none for a request that gets no response (acks=0).
    pub error_codes: Vec<i16>,
    /// Kafka's names of `error_codes`.
    pub errors: Vec<String>,
    /// Whether a fault rule acted on it (its id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<u64>,
}

/// What the connection knows of a request when it is answered.
pub struct Answered<'a> {
    pub time_ms: i64,
    pub api_key: i16,
    pub version: i16,
    pub correlation_id: i32,
    pub client_id: String,
    pub client_software: Option<(&'a str, &'a str)>,
    pub peer: SocketAddr,
    pub duration_us: u64,
    pub codes: &'a [i16],
    pub fault: Option<u64>,
}

pub struct RequestLog {
    size: usize,
    ring: Mutex<VecDeque<Arc<RecordedRequest>>>,
    next_seq: AtomicU64,
    events: broadcast::Sender<Arc<RecordedRequest>>,
}

impl RequestLog {
    /// A recorder keeping the latest `size` requests; 0: off.
    pub fn new(size: usize) -> RequestLog {
        let (events, _) = broadcast::channel(STREAM_BUFFER);
        RequestLog {
            size,
            ring: Mutex::new(VecDeque::with_capacity(size.min(STREAM_BUFFER))),
            next_seq: AtomicU64::new(1),
            events,
        }
    }

    pub fn enabled(&self) -> bool {
        self.size > 0
    }

    pub fn record(&self, answered: Answered<'_>) {
        if !self.enabled() {
            return;
        }
        let mut error_codes = Vec::new();
        for &code in answered.codes {
            if code != 0 && !error_codes.contains(&code) && error_codes.len() < CODES_MAX {
                error_codes.push(code);
            }
        }
        let recorded = Arc::new(RecordedRequest {
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
            time_ms: answered.time_ms,
            api: api_name(answered.api_key),
            api_key: answered.api_key,
            version: answered.version,
            correlation_id: answered.correlation_id,
            client_id: answered.client_id,
            client_software_name: answered.client_software.map(|(n, _)| n.to_string()),
            client_software_version: answered.client_software.map(|(_, v)| v.to_string()),
            peer: answered.peer,
            duration_us: answered.duration_us,
            errors: error_codes
                .iter()
                .map(|&c| crate::faults::error_name(c))
                .collect(),
            error_codes,
            fault: answered.fault,
        });
        {
            let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            if ring.len() >= self.size {
                ring.pop_front();
            }
            ring.push_back(recorded.clone());
        }
        // No subscriber is no error: nobody is watching.
        let _ = self.events.send(recorded);
    }

    /// The recorded requests, oldest first.
    pub fn latest(&self) -> Vec<Arc<RecordedRequest>> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.iter().cloned().collect()
    }

    /// Each request recorded from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<RecordedRequest>> {
        self.events.subscribe()
    }
}

/// Kafka's name of an API this broker answers, as the API table spells it.
pub fn api_name(api_key: i16) -> &'static str {
    macro_rules! names {
        ($(($name:ident, $min:literal, $max:literal, $request:ident, $response:ident, $module:ident)),* $(,)?) => {
            match api_key {
                $(k if k == kafka_protocol::messages::ApiKey::$name as i16 => stringify!($name),)*
                _ => "Unknown",
            }
        };
    }
    crate::protocol::apis::api_table!(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(api_key: i16, codes: &[i16]) -> Answered<'_> {
        Answered {
            time_ms: 1,
            api_key,
            version: 9,
            correlation_id: 4,
            client_id: "c".into(),
            client_software: Some(("librdkafka", "2.0")),
            peer: "127.0.0.1:5000".parse().unwrap(),
            duration_us: 10,
            codes,
            fault: None,
        }
    }

    #[test]
    fn the_ring_keeps_the_latest_and_a_size_of_zero_keeps_nothing() {
        let log = RequestLog::new(2);
        for key in [0, 1, 3] {
            log.record(answered(key, &[0, 3, 0, 3, 6]));
        }
        let latest = log.latest();
        assert_eq!(
            latest.iter().map(|r| r.api).collect::<Vec<_>>(),
            ["Fetch", "Metadata"]
        );
        assert_eq!(latest[1].seq, 3);
        assert_eq!(latest[1].error_codes, [3, 6]);
        assert_eq!(
            latest[1].errors,
            ["UNKNOWN_TOPIC_OR_PARTITION", "NOT_LEADER_OR_FOLLOWER"]
        );
        let off = RequestLog::new(0);
        off.record(answered(0, &[]));
        assert!(off.latest().is_empty());
    }

    #[test]
    fn a_subscriber_that_falls_behind_is_told_how_many_it_lost() {
        let log = RequestLog::new(10);
        let mut events = log.subscribe();
        for _ in 0..STREAM_BUFFER + 5 {
            log.record(answered(0, &[]));
        }
        match events.try_recv() {
            Err(broadcast::error::TryRecvError::Lagged(n)) => assert_eq!(n, 5),
            other => panic!("{other:?}"),
        }
    }
}
