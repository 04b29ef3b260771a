//! The group log failing under the coordinator, at its I/O seam: a commit is acknowledged only
//! when it is written, and what a restart finds is what was acknowledged.

use std::path::Path;
use std::sync::Arc;

use super::records::{GroupLog, GroupRecord, GROUP_LOG_FILE};
use super::{GroupConfig, GroupCoordinator, GroupError, MemberRef, OffsetToCommit};
use crate::api::group_error_code;
use crate::clock::Clock;
use crate::coordinator::journal::decode_all;
use crate::coordinator::JournalFaults;

const GROUP: &str = "g";

fn offsets(offset: i64) -> Vec<OffsetToCommit> {
    vec![OffsetToCommit {
        topic: "t".into(),
        partition: 0,
        offset,
        leader_epoch: 0,
        metadata: String::new(),
    }]
}

/// A simple consumer's commit (no generation, no member), as manual assignment sends it.
async fn commit(coordinator: &GroupCoordinator, offset: i64) -> Result<(), GroupError> {
    let member = MemberRef {
        member_id: String::new(),
        instance_id: None,
    };
    coordinator
        .commit(GROUP.into(), -1, member, offsets(offset))
        .await
}

async fn committed(coordinator: &GroupCoordinator) -> Option<i64> {
    let fetched = coordinator
        .fetch_offsets(GROUP.into(), Some(vec![("t".into(), 0)]))
        .await
        .expect("the coordinator answers");
    fetched[0].2.as_ref().map(|o| o.offset)
}

/// A coordinator on `dir` whose group log fails as the returned faults are told to.
fn start_faulty(dir: &Path) -> (GroupCoordinator, Arc<JournalFaults>) {
    let faults = Arc::new(JournalFaults::default());
    let coordinator =
        GroupCoordinator::start_faulty(GroupConfig::default(), dir, faults.clone(), Clock::System)
            .expect("the group log opens");
    (coordinator, faults)
}

/// The committed offset a broker restarted on `dir` finds.
async fn committed_after_restart(dir: &Path) -> Option<i64> {
    let restarted = GroupCoordinator::start(GroupConfig::default(), Some(dir), Clock::System)
        .expect("the group log opens");
    let found = committed(&restarted).await;
    restarted.stop();
    found
}

/// Every offset the group log on disk holds for the partition, in order.
fn offsets_on_disk(dir: &Path) -> Vec<i64> {
    let (_, records) = GroupLog::open(dir, GROUP_LOG_FILE).expect("the group log opens");
    records
        .into_iter()
        .filter_map(|r| match r {
            GroupRecord::Offset { value, .. } => value.map(|v| v.offset),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_commit_the_journal_refuses_gets_an_error_code_and_is_not_found_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (coordinator, faults) = start_faulty(dir.path());
    commit(&coordinator, 1).await.unwrap();

    faults.fail_writes(1);
    let refused = commit(&coordinator, 2).await.unwrap_err();
    assert_eq!(refused, GroupError::CoordinatorNotAvailable);
    // The code OffsetCommit answers with: clients retry it.
    assert_eq!(group_error_code(refused), 15, "COORDINATOR_NOT_AVAILABLE");
    assert_eq!(
        committed(&coordinator).await,
        Some(1),
        "the coordinator's state is what the log holds"
    );
    coordinator.stop();
    assert_eq!(committed_after_restart(dir.path()).await, Some(1));
}

#[tokio::test]
async fn commits_after_a_refused_one_are_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (coordinator, faults) = start_faulty(dir.path());
    commit(&coordinator, 1).await.unwrap();
    faults.fail_writes(2);
    assert!(commit(&coordinator, 2).await.is_err());
    assert!(commit(&coordinator, 3).await.is_err());
    commit(&coordinator, 4).await.unwrap();
    assert_eq!(committed(&coordinator).await, Some(4));
    coordinator.stop();
    assert_eq!(committed_after_restart(dir.path()).await, Some(4));
    assert_eq!(
        offsets_on_disk(dir.path()),
        vec![4],
        "compacted at the restart"
    );
}

#[tokio::test]
async fn a_torn_write_whose_cut_fails_is_cut_before_the_next_commit_and_later_commits_survive() {
    for cut_fails in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (coordinator, faults) = start_faulty(dir.path());
        commit(&coordinator, 1).await.unwrap();
        // Half a record reaches the disk, then the write fails.
        faults.tear_next_write(11, cut_fails);
        assert_eq!(
            commit(&coordinator, 2).await,
            Err(GroupError::CoordinatorNotAvailable)
        );
        commit(&coordinator, 3).await.unwrap();
        commit(&coordinator, 4).await.unwrap();
        coordinator.stop();
        // Before any restart compacts it: the log holds the acknowledged commits only, with
        // no torn bytes between them.
        let on_disk = std::fs::read(dir.path().join("groups.log")).unwrap();
        let replay = decode_all::<GroupRecord>(&on_disk);
        assert_eq!(replay.skipped, 0, "cut_fails={cut_fails}: no damage left");
        assert_eq!(replay.valid_bytes, on_disk.len());
        assert_eq!(
            offsets_on_disk(dir.path()),
            vec![1, 3, 4],
            "every acknowledged commit, and not the torn one"
        );
        assert_eq!(committed_after_restart(dir.path()).await, Some(4));
    }
}
