//! Transactional offsets: held until the marker, then committed or dropped; kept across a
//! restore; a held offset keeps its partition unstable.

use super::super::{Coordinator, GroupConfig};
use crate::group::types::*;

const PRODUCER: i64 = 4000;

fn simple() -> MemberRef {
    MemberRef {
        member_id: String::new(),
        instance_id: None,
    }
}

fn offset(topic: &str, partition: i32, offset: i64) -> OffsetToCommit {
    OffsetToCommit {
        topic: topic.into(),
        partition,
        offset,
        leader_epoch: -1,
        metadata: "m".into(),
    }
}

fn committed(c: &Coordinator, topic: &str, partition: i32) -> Option<i64> {
    c.fetch_offsets("g", Some(&[(topic.to_string(), partition)]))[0]
        .2
        .as_ref()
        .map(|o| o.offset)
}

#[test]
fn held_offsets_are_invisible_until_the_commit_marker() {
    let mut c = Coordinator::new(GroupConfig::default());
    let fx = c
        .txn_commit("g", PRODUCER, -1, &simple(), vec![offset("t", 0, 10)], 1)
        .unwrap();
    assert_eq!(fx.records.len(), 1);
    assert_eq!(committed(&c, "t", 0), None);
    assert_eq!(c.unstable_partitions("g"), vec![("t".to_string(), 0)]);
    let fx = c.end_txn("g", PRODUCER, true);
    assert_eq!(fx.records.len(), 1);
    assert_eq!(committed(&c, "t", 0), Some(10));
    assert!(c.unstable_partitions("g").is_empty());
    // A second marker for the same producer has nothing to do.
    assert!(c.end_txn("g", PRODUCER, true).records.is_empty());
}

#[test]
fn an_abort_drops_held_offsets_and_keeps_the_committed_ones() {
    let mut c = Coordinator::new(GroupConfig::default());
    c.commit("g", -1, &simple(), vec![offset("t", 0, 5)], 1)
        .unwrap();
    c.txn_commit("g", PRODUCER, -1, &simple(), vec![offset("t", 0, 10)], 2)
        .unwrap();
    c.end_txn("g", PRODUCER, false);
    assert_eq!(committed(&c, "t", 0), Some(5));
    assert!(c.unstable_partitions("g").is_empty());
}

#[test]
fn held_offsets_survive_a_restore_and_complete_after_it() {
    let mut c = Coordinator::new(GroupConfig::default());
    let mut journal = Vec::new();
    let fx = c
        .txn_commit("g", PRODUCER, -1, &simple(), vec![offset("t", 1, 7)], 1)
        .unwrap();
    journal.extend(fx.records);
    // From the journal as written, and from a compacted snapshot.
    for records in [journal.clone(), c.snapshot_records()] {
        let mut restored = Coordinator::restore(GroupConfig::default(), records, 5);
        assert_eq!(
            restored.unstable_partitions("g"),
            vec![("t".to_string(), 1)]
        );
        assert_eq!(committed(&restored, "t", 1), None);
        let end = restored.end_txn("g", PRODUCER, true);
        assert_eq!(committed(&restored, "t", 1), Some(7));
        let mut replayed = journal.clone();
        replayed.extend(end.records);
        let again = Coordinator::restore(GroupConfig::default(), replayed, 6);
        assert_eq!(committed(&again, "t", 1), Some(7));
    }
}

#[test]
fn a_txn_commit_with_a_member_is_checked_like_a_plain_one() {
    let mut c = Coordinator::new(GroupConfig::default());
    let stranger = MemberRef {
        member_id: "nobody".into(),
        instance_id: None,
    };
    let refused = c.txn_commit("g", PRODUCER, 3, &stranger, vec![offset("t", 0, 1)], 1);
    assert_eq!(refused.unwrap_err(), GroupError::UnknownMemberId);
    assert_eq!(
        c.txn_commit("", PRODUCER, -1, &simple(), vec![], 1)
            .unwrap_err(),
        GroupError::InvalidGroupId
    );
}
