//! The last stable offset and the aborted ranges a `read_committed` read lists, against a
//! model: random interleavings of transactional batches from several producers, plain
//! batches, and commit and abort markers (some for producers with nothing open).

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::log::MemoryLog;
use crate::record::control::TransactionResult;
use crate::record::test_batches::{batch, transactional_batch, TIMESTAMP};

#[derive(Debug, Clone)]
enum Op {
    Txn { producer: usize, count: i32 },
    Plain { count: i32 },
    Marker { producer: usize, commit: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 1..4i32).prop_map(|(producer, count)| Op::Txn { producer, count }),
        2 => (1..4i32).prop_map(|count| Op::Plain { count }),
        3 => (0..3usize, any::<bool>()).prop_map(|(producer, commit)| Op::Marker { producer, commit }),
    ]
}

#[derive(Default)]
struct Model {
    end: i64,
    /// Producer → first offset of its open transaction.
    open: BTreeMap<usize, i64>,
    /// (first offset, marker offset) of each aborted transaction, in order.
    aborted: Vec<(i64, i64)>,
}

impl Model {
    fn last_stable(&self) -> i64 {
        self.open.values().copied().min().unwrap_or(self.end)
    }
}

fn producer_id(producer: usize) -> i64 {
    7_000 + producer as i64
}

proptest! {
    #[test]
    fn the_last_stable_offset_and_aborted_ranges_follow_the_model(
        ops in proptest::collection::vec(op(), 1..40)
    ) {
        let partition = Partition::new("t".into(), 0, Box::new(MemoryLog::new()));
        let mut model = Model::default();
        let mut sequences = [0i32; 3];
        for op in ops {
            match op {
                Op::Txn { producer, count } => {
                    let bytes = transactional_batch(
                        producer_id(producer), 0, sequences[producer], count, TIMESTAMP);
                    sequences[producer] += count;
                    let appended = partition.append(Bytes::from(bytes), None).unwrap();
                    prop_assert_eq!(appended.base_offset, model.end);
                    model.open.entry(producer).or_insert(model.end);
                    model.end += i64::from(count);
                }
                Op::Plain { count } => {
                    let bytes = batch(0, count - 1, TIMESTAMP, b"plain");
                    partition.append(Bytes::from(bytes), None).unwrap();
                    model.end += i64::from(count);
                }
                Op::Marker { producer, commit } => {
                    let result = if commit {
                        TransactionResult::Commit
                    } else {
                        TransactionResult::Abort
                    };
                    let offset = partition
                        .append_marker(producer_id(producer), 0, result, 0, TIMESTAMP)
                        .unwrap();
                    prop_assert_eq!(offset, model.end);
                    if let Some(first) = model.open.remove(&producer) {
                        if !commit {
                            model.aborted.push((first, offset));
                        }
                    }
                    model.end += 1;
                }
            }
            let ends = partition.ends();
            prop_assert_eq!(ends.high_watermark, model.end);
            prop_assert_eq!(ends.last_stable_offset, model.last_stable());
            for from in 0..=model.end {
                let read = partition.read_committed(from, usize::MAX, true).unwrap();
                let lso = model.last_stable();
                prop_assert_eq!(read.last_stable_offset, lso);
                let listed: Vec<(i64, i64)> =
                    read.aborted.iter().map(|a| (a.first_offset, a.last_offset)).collect();
                let expected: Vec<(i64, i64)> = model
                    .aborted
                    .iter()
                    .copied()
                    .filter(|&(first, last)| last >= from && first < lso)
                    .collect();
                prop_assert_eq!(listed, expected, "aborted ranges from {}", from);
                // Nothing at or past the last stable offset is returned.
                for chunk in &read.batches {
                    for b in record_batch::split_batches(chunk).unwrap() {
                        prop_assert!(BatchHeader::parse(&b).unwrap().base_offset() < lso);
                    }
                }
            }
        }
    }
}
