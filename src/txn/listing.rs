//! What the transaction tooling (`kafka-transactions.sh`, `Admin.listTransactions` and
//! `describeTransactions`) asks of the coordinator, answered from the state machine with
//! the rules of Kafka's transaction coordinator: every transactional id filtered by state,
//! producer id and how long its transaction has run, and one id's whole state.

use super::state::{Transactions, TxnError, TxnMetadata, TxnState};

/// Every state name Kafka's coordinator reports. `Dead` (an id being expired) and
/// `PrepareEpochFence` (a fence about to abort) are moments Sluice's coordinator never
/// shows — it forgets an expired id and fences into PrepareAbort in one step — so a filter
/// on them matches nothing, yet is a known state, as in Kafka.
const KAFKA_STATE_NAMES: [&str; 8] = [
    "Empty",
    "Ongoing",
    "PrepareCommit",
    "PrepareAbort",
    "CompleteCommit",
    "CompleteAbort",
    "Dead",
    "PrepareEpochFence",
];

/// ListTransactions' filters; each one that is empty (or negative) lets everything through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFilter {
    /// State names, as Kafka spells them (case matters).
    pub states: Vec<String>,
    pub producer_ids: Vec<i64>,
    /// Only transactions that have run longer than this many milliseconds; negative: all.
    pub duration_ms: i64,
}

impl Default for ListFilter {
    fn default() -> Self {
        ListFilter {
            states: Vec::new(),
            producer_ids: Vec::new(),
            duration_ms: -1,
        }
    }
}

/// One transactional id as ListTransactions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTxn {
    pub transactional_id: String,
    pub producer_id: i64,
    pub state: TxnState,
}

/// ListTransactions' answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// Sorted by transactional id.
    pub transactions: Vec<ListedTxn>,
    /// The filter's state names Kafka does not know, each once, in the filter's order.
    pub unknown_states: Vec<String>,
}

impl TxnState {
    /// The state Kafka names `name`; `None` for the names Sluice's coordinator never shows
    /// and for names Kafka does not know.
    pub fn from_name(name: &str) -> Option<TxnState> {
        [
            TxnState::Empty,
            TxnState::Ongoing,
            TxnState::PrepareCommit,
            TxnState::PrepareAbort,
            TxnState::CompleteCommit,
            TxnState::CompleteAbort,
        ]
        .into_iter()
        .find(|state| state.name() == name)
    }
}

impl Transactions {
    /// The transactional ids `filter` lets through at `now_ms`.
    pub fn list(&self, filter: &ListFilter, now_ms: i64) -> Listing {
        let mut unknown_states: Vec<String> = Vec::new();
        for name in &filter.states {
            if !KAFKA_STATE_NAMES.contains(&name.as_str()) && !unknown_states.contains(name) {
                unknown_states.push(name.clone());
            }
        }
        let wanted_states: Vec<TxnState> = filter
            .states
            .iter()
            .filter_map(|name| TxnState::from_name(name))
            .collect();
        let lets_through = |txn: &TxnMetadata| {
            let state_ok = filter.states.is_empty() || wanted_states.contains(&txn.state);
            let producer_ok =
                filter.producer_ids.is_empty() || filter.producer_ids.contains(&txn.producer_id);
            // Kafka's test, as it is: an id with no transaction started (-1) has "run"
            // since the epoch, so a duration filter alone lets it through; combine it
            // with the Ongoing state to find long-running transactions.
            let duration_ok =
                filter.duration_ms < 0 || now_ms.saturating_sub(txn.start_ms) > filter.duration_ms;
            state_ok && producer_ok && duration_ok
        };
        let mut transactions: Vec<ListedTxn> = self
            .iter()
            .filter(|(_, txn)| lets_through(txn))
            .map(|(id, txn)| ListedTxn {
                transactional_id: id.to_string(),
                producer_id: txn.producer_id,
                state: txn.state,
            })
            .collect();
        transactions.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        Listing {
            transactions,
            unknown_states,
        }
    }

    /// The whole state of `id` (DescribeTransactions): refused for the empty id, not found
    /// for an id the coordinator does not know (never used, or expired).
    pub fn describe(&self, id: &str) -> Result<TxnMetadata, TxnError> {
        if id.is_empty() {
            return Err(TxnError::InvalidRequest);
        }
        self.get(id)
            .cloned()
            .ok_or(TxnError::TransactionalIdNotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::state::{ProducerIdAndEpoch, TxnConfig, TxnResult};

    const TIMEOUT_MS: i32 = 60_000;

    fn tp(topic: &str, partition: i32) -> (String, i32) {
        (topic.to_string(), partition)
    }

    /// "empty" (producer 1, no transaction), "ongoing" (producer 2, started at 1000 on
    /// a-1, a-0 and b-0), "committed" (producer 3, its transaction complete at 3000).
    fn three_ids() -> Transactions {
        let mut txns = Transactions::new(TxnConfig::default());
        for (id, producer_id) in [("empty", 1), ("ongoing", 2), ("committed", 3)] {
            let (result, _) = txns.init_producer_id(id, TIMEOUT_MS, None, producer_id, 0);
            assert!(result.is_ok());
        }
        let ongoing = ProducerIdAndEpoch {
            producer_id: 2,
            epoch: 0,
        };
        let (result, _) = txns.add_partitions(
            "ongoing",
            ongoing,
            &[tp("b", 0), tp("a", 1), tp("a", 0)],
            1000,
        );
        assert_eq!(result, Ok(()));
        let committed = ProducerIdAndEpoch {
            producer_id: 3,
            epoch: 0,
        };
        let (result, _) = txns.add_partitions("committed", committed, &[tp("a", 0)], 2000);
        assert_eq!(result, Ok(()));
        let (result, _) = txns.end("committed", committed, TxnResult::Commit, 2500);
        assert_eq!(result, Ok(()));
        let job = txns.pending_markers().remove(0);
        txns.complete(&job, 3000);
        txns
    }

    fn listed(listing: &Listing) -> Vec<(&str, i64, &str)> {
        listing
            .transactions
            .iter()
            .map(|t| (t.transactional_id.as_str(), t.producer_id, t.state.name()))
            .collect()
    }

    fn filter(states: &[&str], producer_ids: &[i64], duration_ms: i64) -> ListFilter {
        ListFilter {
            states: states.iter().map(|s| s.to_string()).collect(),
            producer_ids: producer_ids.to_vec(),
            duration_ms,
        }
    }

    #[test]
    fn without_filters_every_id_is_listed_in_order() {
        let listing = three_ids().list(&ListFilter::default(), 5000);
        assert_eq!(
            listed(&listing),
            vec![
                ("committed", 3, "CompleteCommit"),
                ("empty", 1, "Empty"),
                ("ongoing", 2, "Ongoing")
            ]
        );
        assert!(listing.unknown_states.is_empty());
    }

    #[test]
    fn state_and_producer_filters_each_narrow_the_list() {
        let txns = three_ids();
        let by_state = txns.list(&filter(&["Ongoing", "Empty"], &[], -1), 5000);
        assert_eq!(
            listed(&by_state),
            vec![("empty", 1, "Empty"), ("ongoing", 2, "Ongoing")]
        );
        let by_producer = txns.list(&filter(&[], &[3, 99], -1), 5000);
        assert_eq!(
            listed(&by_producer),
            vec![("committed", 3, "CompleteCommit")]
        );
        let both = txns.list(&filter(&["Ongoing"], &[3], -1), 5000);
        assert!(both.transactions.is_empty());
    }

    #[test]
    fn unknown_state_names_are_reported_once_and_match_nothing() {
        let txns = three_ids();
        let listing = txns.list(&filter(&["Bogus", "ongoing", "Bogus"], &[], -1), 5000);
        assert_eq!(listing.unknown_states, vec!["Bogus", "ongoing"]);
        assert!(listing.transactions.is_empty(), "names are case-sensitive");
        // Kafka's transient states are known names that Sluice never shows.
        let listing = txns.list(&filter(&["Dead", "PrepareEpochFence"], &[], -1), 5000);
        assert!(listing.unknown_states.is_empty());
        assert!(listing.transactions.is_empty());
    }

    #[test]
    fn the_duration_filter_keeps_transactions_running_longer_than_it() {
        let txns = three_ids();
        // "ongoing" started at 1000: at 5000 it has run 4000 ms.
        let ongoing = |duration_ms| {
            let listing = txns.list(&filter(&["Ongoing"], &[], duration_ms), 5000);
            listed(&listing).len()
        };
        assert_eq!(ongoing(3999), 1);
        assert_eq!(ongoing(4000), 0, "running exactly as long is not longer");
        assert_eq!(ongoing(0), 1);
        // As in Kafka, ids without a started transaction pass a duration filter alone.
        let listing = txns.list(&filter(&[], &[], 4000), 5000);
        assert_eq!(
            listed(&listing),
            vec![("committed", 3, "CompleteCommit"), ("empty", 1, "Empty")]
        );
    }

    #[test]
    fn describe_gives_the_whole_state_and_refuses_unknown_and_empty_ids() {
        let txns = three_ids();
        let ongoing = txns.describe("ongoing").unwrap();
        assert_eq!(
            (ongoing.state, ongoing.producer_id, ongoing.epoch),
            (TxnState::Ongoing, 2, 0)
        );
        assert_eq!((ongoing.timeout_ms, ongoing.start_ms), (TIMEOUT_MS, 1000));
        assert_eq!(
            ongoing.partitions.into_iter().collect::<Vec<_>>(),
            vec![tp("a", 0), tp("a", 1), tp("b", 0)]
        );
        let committed = txns.describe("committed").unwrap();
        assert_eq!(committed.state, TxnState::CompleteCommit);
        assert_eq!(committed.start_ms, -1, "no transaction open");
        assert!(committed.partitions.is_empty());
        assert_eq!(
            txns.describe("nope"),
            Err(TxnError::TransactionalIdNotFound)
        );
        assert_eq!(txns.describe(""), Err(TxnError::InvalidRequest));
    }

    #[test]
    fn state_names_read_back() {
        for name in KAFKA_STATE_NAMES {
            let known = TxnState::from_name(name);
            assert_eq!(known.map(TxnState::name).unwrap_or(name), name);
        }
        assert_eq!(TxnState::from_name("Dead"), None);
        assert_eq!(TxnState::from_name("ongoing"), None);
    }
}
