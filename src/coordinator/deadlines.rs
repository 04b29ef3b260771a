//! A coordinator's deadline map: each key's (a group's, a transaction's) next deadline, in
//! time order. The coordinator asks for the earliest one and visits only the keys whose
//! deadline has passed, so what a request costs does not grow with the number of keys.

use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    by_time: BTreeSet<(i64, String)>,
    by_key: HashMap<String, i64>,
}

impl Deadlines {
    /// Records `key`'s earliest deadline (none: it has no timer running).
    pub(crate) fn set(&mut self, key: &str, deadline_ms: Option<i64>) {
        if let Some(old) = self.by_key.get(key).copied() {
            if Some(old) == deadline_ms {
                return;
            }
            self.by_time.remove(&(old, key.to_string()));
            self.by_key.remove(key);
        }
        if let Some(deadline_ms) = deadline_ms {
            self.by_time.insert((deadline_ms, key.to_string()));
            self.by_key.insert(key.to_string(), deadline_ms);
        }
    }

    pub(crate) fn earliest(&self) -> Option<i64> {
        self.by_time.first().map(|(deadline_ms, _)| *deadline_ms)
    }

    /// Keys whose deadline is at or before `now_ms`, earliest first.
    pub(crate) fn due(&self, now_ms: i64) -> Vec<String> {
        self.by_time
            .iter()
            .take_while(|(deadline_ms, _)| *deadline_ms <= now_ms)
            .map(|(_, key)| key.clone())
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_come_out_in_time_order_and_follow_their_changes() {
        let mut d = Deadlines::default();
        d.set("b", Some(20));
        d.set("a", Some(30));
        d.set("c", Some(10));
        assert_eq!(d.earliest(), Some(10));
        assert_eq!(d.due(20), vec!["c".to_string(), "b".to_string()]);
        d.set("c", Some(40));
        assert_eq!(d.due(20), vec!["b".to_string()]);
        d.set("b", None);
        assert_eq!(d.earliest(), Some(30));
        assert_eq!(d.len(), 2);
        d.set("a", None);
        d.set("c", None);
        assert_eq!(d.earliest(), None);
        assert!(d.due(i64::MAX).is_empty());
    }
}
