//! Fault injection: rules installed over HTTP (`/admin/faults`) or at start (`[[faults]]` in
//! the TOML config) that make matching requests fail, wait, go unanswered or close their
//! connection, so clients' error handling can be tested against a real broker.
//!
//! A rule matches a request by API and, when given, client id, topic (and partition) and
//! group named in the request. The first live rule that matches fires (subject to its
//! `probability`) and counts it; a rule with a `count` fires at most that many times and then
//! stays listed, spent, with `fired == count`, until it is deleted.
//!
//! Cost when no rule is installed: one relaxed atomic load per request ([`Faults::check`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use kafka_protocol::messages::ApiKey;
use kafka_protocol::ResponseError;
use serde::{Deserialize, Serialize};

use crate::protocol::versions::SUPPORTED;

/// Rules installed at once, at most: each request walks them while any is installed.
pub const FAULTS_MAX: usize = 1_000;
/// The longest delay a rule may ask for (10 minutes).
pub const DELAY_MS_MAX: u64 = 600_000;
/// Names in a rule (topic, group, client id) longer than this are refused.
const NAME_BYTES_MAX: usize = 1_024;

/// What a matching request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultAction {
    /// Answered with an error code, its handler not called where its effect must not happen.
    Error,
    /// Handled normally after `delay_ms`.
    Delay,
    /// Read and never answered; nor is anything after it on the connection.
    Drop,
    /// The connection is closed without an answer.
    Close,
}

impl FaultAction {
    pub fn name(self) -> &'static str {
        match self {
            FaultAction::Error => "error",
            FaultAction::Delay => "delay",
            FaultAction::Drop => "drop",
            FaultAction::Close => "close",
        }
    }
}

/// A rule as written in JSON or TOML: the fields of `POST /admin/faults` and `[[faults]]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    pub api: Option<String>,
    pub action: Option<String>,
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub group: Option<String>,
    pub client_id: Option<String>,
    /// Kafka's error name (`NOT_LEADER_OR_FOLLOWER`) or its numeric code.
    pub error: Option<ErrorName>,
    pub delay_ms: Option<u64>,
    pub count: Option<u64>,
    pub probability: Option<f64>,
    /// Seeds the rule's random draws (with `probability`), for repeatable tests.
    pub seed: Option<u64>,
}

/// An error given by name or by code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ErrorName {
    Code(i16),
    Name(String),
}

/// A rule refused: the field at fault and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FaultError {
    pub field: &'static str,
    pub reason: String,
}

fn refuse(field: &'static str, reason: impl Into<String>) -> FaultError {
    FaultError {
        field,
        reason: reason.into(),
    }
}

/// A checked rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    pub id: u64,
    /// Kafka's API name, as the API table spells it (`Produce`).
    pub api: String,
    #[serde(skip)]
    pub api_key: i16,
    pub action: FaultAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Kafka's name of the error code (`NOT_LEADER_OR_FOLLOWER`), for `error` rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Times it fired so far.
    pub fired: u64,
    /// Whether it fired `count` times and fires no more.
    pub spent: bool,
    #[serde(skip)]
    rng: SplitMix64,
}

/// Kafka's upper-case name of an error code (`NotLeaderOrFollower` → `NOT_LEADER_OR_FOLLOWER`).
pub fn error_name(code: i16) -> String {
    let Some(error) = ResponseError::try_from_code(code) else {
        return "NONE".into();
    };
    let camel = error.to_string();
    if matches!(error, ResponseError::Unknown(_)) {
        return camel;
    }
    let mut name = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// The code of a Kafka error name, in either spelling (`NOT_LEADER_OR_FOLLOWER` or
/// `NotLeaderOrFollower`, any case).
pub fn error_code(name: &str) -> Option<i16> {
    let wanted: String = name
        .chars()
        .filter(|c| *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    // Kafka's codes run from -1 to about 130; the crate knows each one's name.
    (-1..=200).find(|&code| {
        ResponseError::try_from_code(code)
            .filter(|e| !matches!(e, ResponseError::Unknown(_)))
            .is_some_and(|e| e.to_string().to_ascii_lowercase() == wanted)
    })
}

/// The key of an API this broker answers, by Kafka's name (any case).
pub fn api_key(name: &str) -> Option<ApiKey> {
    SUPPORTED
        .iter()
        .map(|s| s.key)
        .find(|key| format!("{key:?}").eq_ignore_ascii_case(name))
}

fn check_name(field: &'static str, value: &Option<String>) -> Result<(), FaultError> {
    match value {
        Some(v) if v.is_empty() => Err(refuse(field, "must not be empty")),
        Some(v) if v.len() > NAME_BYTES_MAX => {
            Err(refuse(field, format!("at most {NAME_BYTES_MAX} bytes")))
        }
        _ => Ok(()),
    }
}

impl FaultRule {
    /// Checks the rule; `id` names it from now on.
    pub fn check(&self, id: u64) -> Result<Fault, FaultError> {
        let api_name = self
            .api
            .as_deref()
            .ok_or_else(|| refuse("api", "required (Kafka's API name, e.g. Produce)"))?;
        let key = api_key(api_name).ok_or_else(|| {
            refuse(
                "api",
                format!("{api_name:?} is not an API this broker answers"),
            )
        })?;
        let action = match self.action.as_deref() {
            None => return Err(refuse("action", "required: error, delay, drop or close")),
            Some("error") => FaultAction::Error,
            Some("delay") => FaultAction::Delay,
            Some("drop") => FaultAction::Drop,
            Some("close") => FaultAction::Close,
            Some(other) => {
                return Err(refuse(
                    "action",
                    format!("{other:?}: must be error, delay, drop or close"),
                ))
            }
        };
        check_name("topic", &self.topic)?;
        check_name("group", &self.group)?;
        check_name("client_id", &self.client_id)?;
        if self.partition.is_some_and(|p| p < 0) {
            return Err(refuse("partition", "must be 0 or more"));
        }
        if self.partition.is_some() && self.topic.is_none() {
            return Err(refuse("partition", "needs a topic"));
        }
        let error_code = match (&self.error, action) {
            (None, FaultAction::Error) => return Err(refuse("error", "required for action error")),
            (Some(_), a) if a != FaultAction::Error => {
                return Err(refuse("error", "only for action error"))
            }
            (None, _) => None,
            (Some(ErrorName::Code(code)), _) => match ResponseError::try_from_code(*code) {
                Some(ResponseError::Unknown(_)) | None => {
                    return Err(refuse("error", format!("{code} is not a Kafka error code")))
                }
                Some(_) => Some(*code),
            },
            (Some(ErrorName::Name(name)), _) => {
                Some(error_code(name).ok_or_else(|| {
                    refuse("error", format!("{name:?} is not a Kafka error name"))
                })?)
            }
        };
        if action == FaultAction::Error && !crate::api::fault_answers::answers_errors(key) {
            return Err(refuse(
                "action",
                format!("error is not supported for {key:?}; use delay, drop or close"),
            ));
        }
        match (self.delay_ms, action) {
            (None, FaultAction::Delay) => {
                return Err(refuse("delay_ms", "required for action delay"))
            }
            (Some(_), a) if a != FaultAction::Delay => {
                return Err(refuse("delay_ms", "only for action delay"))
            }
            (Some(ms), _) if ms > DELAY_MS_MAX => {
                return Err(refuse("delay_ms", format!("at most {DELAY_MS_MAX}")))
            }
            _ => {}
        }
        if self.count == Some(0) {
            return Err(refuse(
                "count",
                "must be 1 or more (leave it out: no limit)",
            ));
        }
        if let Some(p) = self.probability {
            if !(0.0..=1.0).contains(&p) {
                return Err(refuse("probability", "must be between 0 and 1"));
            }
        }
        Ok(Fault {
            id,
            api: format!("{key:?}"),
            api_key: key as i16,
            action,
            topic: self.topic.clone(),
            partition: self.partition,
            group: self.group.clone(),
            client_id: self.client_id.clone(),
            error: error_code.map(error_name),
            error_code,
            delay_ms: self.delay_ms,
            count: self.count,
            probability: self.probability,
            fired: 0,
            spent: false,
            rng: SplitMix64(self.seed.unwrap_or_else(|| {
                crate::clock::Clock::System.now_ms() as u64 ^ id.rotate_left(32)
            })),
        })
    }
}

/// What a request names that a rule can match: its topics (with the partitions, when the
/// request names them) and groups.
#[derive(Debug, Default)]
pub struct Targets {
    /// (topic, partitions named; empty: the topic as a whole).
    pub topics: Vec<(String, Vec<i32>)>,
    pub groups: Vec<String>,
}

impl Targets {
    /// Whether the request names `topic` (and `partition`, when given).
    fn names(&self, topic: &str, partition: Option<i32>) -> bool {
        self.topics.iter().any(|(t, partitions)| {
            t == topic && partition.is_none_or(|p| partitions.is_empty() || partitions.contains(&p))
        })
    }
}

/// A rule that fired for a request: what to do to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Injection {
    pub id: u64,
    pub action: FaultAction,
    pub error_code: i16,
    pub delay_ms: u64,
    /// The rule's topic and partition: an `error` touches only those parts of a request.
    pub topic: Option<String>,
    pub partition: Option<i32>,
}

impl Injection {
    /// Whether the rule covers `partition` of `topic` (a rule without a topic covers all).
    pub fn covers(&self, topic: &str, partition: i32) -> bool {
        self.topic.as_deref().is_none_or(|t| t == topic)
            && self.partition.is_none_or(|p| p == partition)
    }

    /// Whether the rule covers `topic` as a whole, any partition of it.
    pub fn covers_topic(&self, topic: &str) -> bool {
        self.topic.as_deref().is_none_or(|t| t == topic)
    }
}

/// The installed rules.
#[derive(Default)]
pub struct Faults {
    /// Rules installed (spent ones included): zero lets every request pass with one load.
    installed: AtomicUsize,
    rules: Mutex<Rules>,
}

#[derive(Default)]
struct Rules {
    next_id: u64,
    list: Vec<Fault>,
}

impl Faults {
    /// The rules of the config (already checked by `Config::validate`).
    pub fn from_rules(rules: &[FaultRule]) -> Result<Faults, FaultError> {
        let faults = Faults::default();
        for rule in rules {
            faults.add(rule)?;
        }
        Ok(faults)
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Installs a rule; returns it with its id.
    pub fn add(&self, rule: &FaultRule) -> Result<Fault, FaultError> {
        let mut rules = self.rules();
        if rules.list.len() >= FAULTS_MAX {
            return Err(refuse(
                "faults",
                format!("at most {FAULTS_MAX} installed; delete some first"),
            ));
        }
        let fault = rule.check(rules.next_id + 1)?;
        rules.next_id += 1;
        rules.list.push(fault.clone());
        self.installed.store(rules.list.len(), Ordering::Relaxed);
        Ok(fault)
    }

    pub fn list(&self) -> Vec<Fault> {
        self.rules().list.clone()
    }

    /// Removes one rule; false if there is none of that id.
    pub fn remove(&self, id: u64) -> bool {
        let mut rules = self.rules();
        let before = rules.list.len();
        rules.list.retain(|f| f.id != id);
        self.installed.store(rules.list.len(), Ordering::Relaxed);
        rules.list.len() != before
    }

    /// Removes every rule; returns how many there were.
    pub fn clear(&self) -> usize {
        let mut rules = self.rules();
        let removed = rules.list.len();
        rules.list.clear();
        self.installed.store(0, Ordering::Relaxed);
        removed
    }

    /// The rule that fires for a request of `api_key` from `client_id`, if any, counted as
    /// fired. `targets` is asked for only when a live rule of that API could match.
    pub fn check(
        &self,
        api_key: i16,
        client_id: &str,
        targets: impl FnOnce() -> Targets,
    ) -> Option<Injection> {
        // Relaxed: a rule installed concurrently with a request may or may not see it,
        // which an HTTP call racing a request cannot tell apart anyway.
        if self.installed.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut rules = self.rules();
        if !rules.list.iter().any(|f| !f.spent && f.api_key == api_key) {
            return None;
        }
        let needs_targets = rules
            .list
            .iter()
            .any(|f| f.api_key == api_key && (f.topic.is_some() || f.group.is_some()));
        let targets = if needs_targets {
            targets()
        } else {
            Targets::default()
        };
        for fault in rules.list.iter_mut() {
            if fault.spent || fault.api_key != api_key {
                continue;
            }
            if fault.client_id.as_deref().is_some_and(|c| c != client_id) {
                continue;
            }
            if let Some(topic) = &fault.topic {
                if !targets.names(topic, fault.partition) {
                    continue;
                }
            }
            if let Some(group) = &fault.group {
                if !targets.groups.iter().any(|g| g == group) {
                    continue;
                }
            }
            if let Some(p) = fault.probability {
                if fault.rng.next_unit() >= p {
                    continue;
                }
            }
            fault.fired += 1;
            fault.spent = fault.count.is_some_and(|c| fault.fired >= c);
            return Some(Injection {
                id: fault.id,
                action: fault.action,
                error_code: fault.error_code.unwrap_or(0),
                delay_ms: fault.delay_ms.unwrap_or(0),
                topic: fault.topic.clone(),
                partition: fault.partition,
            });
        }
        None
    }
}

/// SplitMix64 (Steele, Lea and Flood): a tiny, seedable generator, plenty for fault draws.
#[derive(Debug, Clone, PartialEq)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(api: &str, action: &str) -> FaultRule {
        FaultRule {
            api: Some(api.into()),
            action: Some(action.into()),
            ..FaultRule::default()
        }
    }

    #[test]
    fn error_names_and_codes_go_both_ways() {
        assert_eq!(error_name(6), "NOT_LEADER_OR_FOLLOWER");
        assert_eq!(error_code("NOT_LEADER_OR_FOLLOWER"), Some(6));
        assert_eq!(error_code("notLeaderOrFollower"), Some(6));
        assert_eq!(error_code("UNKNOWN_SERVER_ERROR"), Some(-1));
        assert_eq!(error_code("NO_SUCH_ERROR"), None);
        assert_eq!(api_key("produce"), Some(ApiKey::Produce));
        assert_eq!(api_key("Nope"), None);
    }

    #[test]
    fn bad_rules_name_the_field() {
        let field = |r: FaultRule| r.check(1).unwrap_err().field;
        assert_eq!(field(FaultRule::default()), "api");
        assert_eq!(field(rule("Produce", "explode")), "action");
        assert_eq!(field(rule("Produce", "error")), "error");
        assert_eq!(field(rule("Fetch", "delay")), "delay_ms");
        let mut p = rule("Produce", "close");
        p.probability = Some(1.5);
        assert_eq!(field(p), "probability");
        let mut c = rule("Produce", "close");
        c.count = Some(0);
        assert_eq!(field(c), "count");
        let mut e = rule("Produce", "error");
        e.error = Some(ErrorName::Name("NOPE".into()));
        assert_eq!(field(e), "error");
    }

    #[test]
    fn count_spends_a_rule_and_probability_zero_never_fires() {
        let faults = Faults::default();
        let mut counted = rule("Produce", "close");
        counted.count = Some(2);
        faults.add(&counted).unwrap();
        let produce = ApiKey::Produce as i16;
        assert!(faults.check(produce, "c", Targets::default).is_some());
        assert!(faults.check(produce, "c", Targets::default).is_some());
        assert!(faults.check(produce, "c", Targets::default).is_none());
        let listed = faults.list();
        assert_eq!((listed[0].fired, listed[0].spent), (2, true));

        let mut never = rule("Fetch", "close");
        never.probability = Some(0.0);
        faults.add(&never).unwrap();
        let fetch = ApiKey::Fetch as i16;
        assert!((0..1000).all(|_| faults.check(fetch, "c", Targets::default).is_none()));
        assert_eq!(faults.clear(), 2);
        assert!(faults.check(produce, "c", Targets::default).is_none());
    }

    #[test]
    fn a_seeded_probability_fires_about_that_often_and_repeatably() {
        let fired = |seed| {
            let faults = Faults::default();
            let mut half = rule("Fetch", "close");
            half.probability = Some(0.5);
            half.seed = Some(seed);
            faults.add(&half).unwrap();
            (0..1000)
                .filter(|_| {
                    faults
                        .check(ApiKey::Fetch as i16, "c", Targets::default)
                        .is_some()
                })
                .count()
        };
        let n = fired(7);
        assert!((400..600).contains(&n), "{n}");
        assert_eq!(fired(7), n);
    }

    #[test]
    fn topic_partition_group_and_client_id_narrow_a_rule() {
        let faults = Faults::default();
        let mut narrow = rule("Produce", "close");
        narrow.topic = Some("a".into());
        narrow.partition = Some(1);
        narrow.client_id = Some("app".into());
        faults.add(&narrow).unwrap();
        let produce = ApiKey::Produce as i16;
        let to = |topic: &str, p: i32| {
            let topic = topic.to_string();
            move || Targets {
                topics: vec![(topic, vec![p])],
                groups: vec![],
            }
        };
        assert!(faults.check(produce, "app", to("b", 1)).is_none());
        assert!(faults.check(produce, "app", to("a", 0)).is_none());
        assert!(faults.check(produce, "other", to("a", 1)).is_none());
        assert!(faults.check(produce, "app", to("a", 1)).is_some());
        let mut grouped = rule("Heartbeat", "close");
        grouped.group = Some("g".into());
        faults.add(&grouped).unwrap();
        let beat = ApiKey::Heartbeat as i16;
        let group = |g: &str| {
            let g = g.to_string();
            move || Targets {
                topics: vec![],
                groups: vec![g],
            }
        };
        assert!(faults.check(beat, "x", group("h")).is_none());
        assert!(faults.check(beat, "x", group("g")).is_some());
    }
}
