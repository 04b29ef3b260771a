//! The state machine driven by hand: no tokio, no threads, time passed in.

use bytes::Bytes;

use super::state::{Coordinator, Effects, GroupConfig};
use super::types::*;

const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 30_000;

fn join_request(
    member_id: &str,
    instance_id: Option<&str>,
    metadata: &'static [u8],
) -> JoinRequest {
    JoinRequest {
        group_id: "g".into(),
        member_id: member_id.into(),
        instance_id: instance_id.map(str::to_string),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        protocol_type: "consumer".into(),
        protocols: vec![
            ("range".into(), Bytes::from_static(metadata)),
            ("roundrobin".into(), Bytes::from_static(metadata)),
        ],
        requires_known_member_id: true,
        supports_skip_assignment: true,
    }
}

fn joins(fx: &Effects) -> Vec<(ReplyId, JoinResult)> {
    fx.replies
        .iter()
        .filter_map(|r| match r {
            Reply::Join(id, result) => Some((*id, result.clone())),
            Reply::Sync(..) => None,
        })
        .collect()
}

fn syncs(fx: &Effects) -> Vec<(ReplyId, SyncResult)> {
    fx.replies
        .iter()
        .filter_map(|r| match r {
            Reply::Sync(id, result) => Some((*id, result.clone())),
            Reply::Join(..) => None,
        })
        .collect()
}

fn sync_request(
    member_id: &str,
    generation_id: i32,
    assignments: Vec<(String, Bytes)>,
) -> SyncRequest {
    SyncRequest {
        group_id: "g".into(),
        generation_id,
        member_id: member_id.into(),
        instance_id: None,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments,
    }
}

fn member(id: &str) -> MemberRef {
    MemberRef {
        member_id: id.into(),
        instance_id: None,
    }
}

/// A dynamic member joins a new group: MEMBER_ID_REQUIRED, rejoin, the (zero) initial delay
/// passes, it leads generation 1 and syncs its own assignment. Returns its member id.
fn lone_member_stable(c: &mut Coordinator, now: i64) -> String {
    let fx = c.join(join_request("", None, b"m1"), 1, now);
    let required = &joins(&fx)[0].1;
    assert_eq!(required.error, Some(GroupError::MemberIdRequired));
    let id = required.member_id.clone();
    assert!(id.starts_with("client-"));

    let fx = c.join(join_request(&id, None, b"m1"), 2, now);
    assert!(joins(&fx).is_empty(), "the initial delay parks the join");
    let fx = c.tick(now);
    let (reply, result) = &joins(&fx)[0];
    assert_eq!(*reply, 2);
    assert_eq!(result.error, None);
    assert_eq!(result.generation_id, 1);
    assert_eq!(result.leader, id);
    assert_eq!(result.protocol_name.as_deref(), Some("range"));
    assert_eq!(result.members.len(), 1);

    let fx = c.sync(
        sync_request(&id, 1, vec![(id.clone(), Bytes::from_static(b"all"))]),
        3,
        now,
    );
    assert_eq!(
        syncs(&fx),
        vec![(
            3,
            SyncResult {
                error: None,
                protocol_type: Some("consumer".into()),
                protocol_name: Some("range".into()),
                assignment: Bytes::from_static(b"all"),
            }
        )]
    );
    assert!(!fx.records.is_empty(), "the assignment is persisted");
    assert_eq!(c.describe("g").state, GroupState::Stable);
    id
}

#[test]
fn a_lone_member_forms_a_stable_group() {
    let mut c = Coordinator::new(GroupConfig::default());
    let id = lone_member_stable(&mut c, 1_000);
    assert_eq!(c.heartbeat("g", 1, &member(&id), 2_000), Ok(()));
    assert_eq!(
        c.heartbeat("g", 0, &member(&id), 2_000),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        c.heartbeat("g", 1, &member("nobody"), 2_000),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(
        c.heartbeat("other", 1, &member(&id), 2_000),
        Err(GroupError::UnknownMemberId)
    );
}

#[test]
fn a_second_member_triggers_a_rebalance_that_both_complete() {
    let mut c = Coordinator::new(GroupConfig::default());
    let first = lone_member_stable(&mut c, 0);

    let fx = c.join(join_request("", None, b"m2"), 10, 100);
    let second = joins(&fx)[0].1.member_id.clone();
    let fx = c.join(join_request(&second, None, b"m2"), 11, 100);
    assert!(joins(&fx).is_empty());
    assert_eq!(c.describe("g").state, GroupState::PreparingRebalance);
    assert_eq!(
        c.heartbeat("g", 1, &member(&first), 200),
        Err(GroupError::RebalanceInProgress)
    );

    // The first member rejoins: everyone is in, the join phase completes at once.
    let fx = c.join(join_request(&first, None, b"m1"), 12, 300);
    let results = joins(&fx);
    assert_eq!(results.len(), 2);
    for (reply, result) in &results {
        assert_eq!(result.generation_id, 2);
        assert_eq!(
            result.leader, first,
            "the leader that rejoined stays leader"
        );
        let expected_members = if *reply == 12 { 2 } else { 0 };
        assert_eq!(
            result.members.len(),
            expected_members,
            "only the leader sees the members"
        );
    }
    assert_eq!(c.describe("g").state, GroupState::CompletingRebalance);

    // Commits wait for the sync; the follower's sync parks until the leader's.
    let commit = c.commit("g", 2, &member(&second), vec![], 300);
    assert_eq!(commit.unwrap_err(), GroupError::RebalanceInProgress);
    let fx = c.sync(sync_request(&second, 2, vec![]), 13, 300);
    assert!(syncs(&fx).is_empty());
    let fx = c.sync(
        sync_request(
            &first,
            2,
            vec![
                (first.clone(), Bytes::from_static(b"p0")),
                (second.clone(), Bytes::from_static(b"p1")),
            ],
        ),
        14,
        300,
    );
    let mut assigned: Vec<(ReplyId, Bytes)> = syncs(&fx)
        .into_iter()
        .map(|(id, r)| (id, r.assignment))
        .collect();
    assigned.sort();
    assert_eq!(
        assigned,
        vec![
            (13, Bytes::from_static(b"p1")),
            (14, Bytes::from_static(b"p0"))
        ]
    );
    assert!(c.commit("g", 2, &member(&second), vec![], 400).is_ok());
}

#[test]
fn an_expired_session_removes_the_member_and_rebalances() {
    let mut c = Coordinator::new(GroupConfig::default());
    let id = lone_member_stable(&mut c, 0);
    assert_eq!(c.next_deadline_ms(), Some(i64::from(SESSION_MS)));
    c.tick(i64::from(SESSION_MS) - 1);
    assert_eq!(c.describe("g").members.len(), 1);
    let fx = c.tick(i64::from(SESSION_MS));
    assert!(c.describe("g").members.is_empty());
    assert_eq!(c.describe("g").state, GroupState::Empty);
    assert!(!fx.records.is_empty(), "the empty generation is persisted");
    assert_eq!(
        c.heartbeat("g", 1, &member(&id), SESSION_MS as i64 + 1),
        Err(GroupError::UnknownMemberId)
    );
}

#[test]
fn a_member_that_never_rejoins_is_dropped_at_the_rebalance_timeout() {
    let mut c = Coordinator::new(GroupConfig::default());
    let first = lone_member_stable(&mut c, 0);
    let fx = c.join(join_request("", None, b"m2"), 10, 0);
    let second = joins(&fx)[0].1.member_id.clone();
    c.join(join_request(&second, None, b"m2"), 11, 0);
    // The first member keeps heartbeating (told REBALANCE_IN_PROGRESS) but never rejoins.
    for t in (1_000..i64::from(REBALANCE_MS)).step_by(1_000) {
        let _ = c.heartbeat("g", 1, &member(&first), t);
        c.tick(t);
    }
    let fx = c.tick(i64::from(REBALANCE_MS));
    let results = joins(&fx);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].1.leader, second);
    assert_eq!(results[0].1.members.len(), 1);
}

#[test]
fn leaving_rebalances_and_an_empty_group_can_be_deleted() {
    let mut c = Coordinator::new(GroupConfig::default());
    let id = lone_member_stable(&mut c, 0);
    assert_eq!(c.delete_group("g").unwrap_err(), GroupError::NonEmptyGroup);
    let (outcomes, _) = c
        .leave("g", &[member(&id), member("stranger")], 10)
        .unwrap();
    assert_eq!(outcomes, vec![None, Some(GroupError::UnknownMemberId)]);
    c.tick(10);
    assert_eq!(c.describe("g").state, GroupState::Empty);
    assert!(c.delete_group("g").is_ok());
    assert_eq!(c.describe("g").state, GroupState::Dead);
    assert_eq!(
        c.delete_group("g").unwrap_err(),
        GroupError::GroupIdNotFound
    );
}

#[test]
fn manual_assignment_commits_into_an_empty_group_and_reads_back() {
    let mut c = Coordinator::new(GroupConfig::default());
    let offsets = vec![OffsetToCommit {
        topic: "t".into(),
        partition: 0,
        offset: 42,
        leader_epoch: 0,
        metadata: "note".into(),
    }];
    let fx = c.commit("manual", -1, &member(""), offsets, 5).unwrap();
    assert_eq!(fx.records.len(), 1);
    let fetched = c.fetch_offsets("manual", Some(&[("t".into(), 0), ("t".into(), 1)]));
    assert_eq!(
        fetched[0]
            .2
            .as_ref()
            .map(|o| (o.offset, o.metadata.as_str())),
        Some((42, "note"))
    );
    assert_eq!(fetched[1].2, None);
    assert_eq!(
        c.commit("unknown", 3, &member("m"), vec![], 5).unwrap_err(),
        GroupError::IllegalGeneration
    );
}

#[test]
fn a_static_member_rejoining_keeps_its_assignment_without_a_rebalance() {
    let mut c = Coordinator::new(GroupConfig::default());
    let fx = c.join(join_request("", Some("instance-1"), b"m1"), 1, 0);
    assert!(
        joins(&fx).is_empty(),
        "static members skip MEMBER_ID_REQUIRED"
    );
    let fx = c.tick(0);
    let first = joins(&fx)[0].1.clone();
    assert_eq!(first.generation_id, 1);
    c.sync(
        SyncRequest {
            instance_id: Some("instance-1".into()),
            ..sync_request(
                &first.member_id,
                1,
                vec![(first.member_id.clone(), Bytes::from_static(b"mine"))],
            )
        },
        2,
        0,
    );
    // Restarted with the same instance id, before its session ran out.
    let fx = c.join(join_request("", Some("instance-1"), b"m1"), 3, 5_000);
    let again = joins(&fx)[0].1.clone();
    assert_eq!(again.error, None);
    assert_eq!(again.generation_id, 1, "no new generation");
    assert_ne!(again.member_id, first.member_id);
    assert!(
        again.skip_assignment,
        "a rejoining static leader keeps the current assignment"
    );
    assert_eq!(c.describe("g").state, GroupState::Stable);
    let fx = c.sync(
        SyncRequest {
            instance_id: Some("instance-1".into()),
            ..sync_request(&again.member_id, 1, vec![])
        },
        4,
        5_000,
    );
    assert_eq!(syncs(&fx)[0].1.assignment, Bytes::from_static(b"mine"));
    // The old incarnation is fenced.
    let old = MemberRef {
        member_id: first.member_id,
        instance_id: Some("instance-1".into()),
    };
    assert_eq!(
        c.heartbeat("g", 1, &old, 5_000),
        Err(GroupError::FencedInstanceId)
    );
}

#[test]
fn protocols_must_be_shared_and_session_timeouts_bounded() {
    let mut c = Coordinator::new(GroupConfig::default());
    lone_member_stable(&mut c, 0);
    let mut other = join_request("", None, b"x");
    other.protocols = vec![("sticky-only".into(), Bytes::new())];
    let fx = c.join(other, 9, 0);
    assert_eq!(
        joins(&fx)[0].1.error,
        Some(GroupError::InconsistentGroupProtocol)
    );
    let mut short = join_request("", None, b"x");
    short.session_timeout_ms = 10;
    let fx = c.join(short, 10, 0);
    assert_eq!(
        joins(&fx)[0].1.error,
        Some(GroupError::InvalidSessionTimeout)
    );
}

#[test]
fn the_initial_delay_gathers_members_before_the_first_generation() {
    let config = GroupConfig {
        initial_rebalance_delay_ms: 3_000,
        ..GroupConfig::default()
    };
    let mut c = Coordinator::new(config);
    let mut ids = Vec::new();
    for (i, reply) in [(0, 1), (1, 3)] {
        let fx = c.join(join_request("", None, b"m"), reply, i * 1_000);
        let id = joins(&fx)[0].1.member_id.clone();
        c.join(join_request(&id, None, b"m"), reply + 1, i * 1_000);
        ids.push(id);
    }
    assert!(joins(&c.tick(2_999)).is_empty());
    // A member arrived during the first delay: the delay is extended once more.
    assert!(joins(&c.tick(3_000)).is_empty());
    let fx = c.tick(6_000);
    let results = joins(&fx);
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|(_, r)| r.generation_id == 1));
}

#[test]
fn restore_brings_back_offsets_and_stable_groups() {
    let mut c = Coordinator::new(GroupConfig::default());
    let id = lone_member_stable(&mut c, 0);
    c.commit(
        "g",
        1,
        &member(&id),
        vec![OffsetToCommit {
            topic: "t".into(),
            partition: 2,
            offset: 7,
            leader_epoch: -1,
            metadata: String::new(),
        }],
        1,
    )
    .unwrap();
    let restored = Coordinator::restore(GroupConfig::default(), c.snapshot_records(), 50);
    let description = restored.describe("g");
    assert_eq!(description.state, GroupState::Stable);
    assert_eq!(
        description.members[0].assignment,
        Bytes::from_static(b"all")
    );
    let mut restored = restored;
    assert_eq!(restored.heartbeat("g", 1, &member(&id), 60), Ok(()));
    assert_eq!(
        restored.fetch_offsets("g", None)[0]
            .2
            .as_ref()
            .map(|o| o.offset),
        Some(7)
    );
}

#[test]
fn offsets_of_an_empty_group_expire_after_the_retention_period() {
    let config = GroupConfig {
        offsets_retention_ms: 1_000,
        offsets_retention_check_interval_ms: 100,
        ..GroupConfig::default()
    };
    let mut c = Coordinator::new(config);
    let id = lone_member_stable(&mut c, 0);
    c.commit(
        "g",
        1,
        &member(&id),
        vec![OffsetToCommit {
            topic: "t".into(),
            partition: 0,
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
        }],
        0,
    )
    .unwrap();
    c.leave("g", &[member(&id)], 0).unwrap();
    c.tick(0);
    c.tick(500);
    assert_eq!(c.fetch_offsets("g", None).len(), 1);
    assert_eq!(
        c.fetch_offsets("g", None).len(),
        1,
        "kept within the retention period"
    );
    c.tick(1_000);
    assert!(c.fetch_offsets("g", None).is_empty());
    assert_eq!(
        c.describe("g").state,
        GroupState::Dead,
        "an empty group with no offsets is gone"
    );
}

#[test]
fn a_new_group_survives_the_first_tick_while_its_member_rejoins() {
    let mut c = Coordinator::new(GroupConfig::default());
    let fx = c.join(join_request("", None, b"m1"), 1, 1_000);
    let id = joins(&fx)[0].1.member_id.clone();
    assert_eq!(c.next_deadline_ms(), Some(0));
    c.tick(1_000);
    let fx = c.join(join_request(&id, None, b"m1"), 2, 1_001);
    assert!(joins(&fx).is_empty(), "parked, not refused: {fx:?}");
    c.tick(1_001);
    assert_eq!(c.describe("g").state, GroupState::CompletingRebalance);
}

#[test]
fn only_groups_with_a_running_timer_are_in_the_deadline_map() {
    let mut c = Coordinator::new(GroupConfig::default());
    // Groups that only hold committed offsets have no timer: ticks never visit them.
    for i in 0..1000 {
        let offsets = vec![OffsetToCommit {
            topic: "t".into(),
            partition: 0,
            offset: i,
            leader_epoch: 0,
            metadata: String::new(),
        }];
        c.commit(&format!("idle-{i}"), -1, &member(""), offsets, 0)
            .unwrap();
    }
    assert_eq!(c.groups_with_deadlines(), 0);
    let id = lone_member_stable(&mut c, 0);
    assert_eq!(c.groups_with_deadlines(), 1);
    assert_eq!(c.next_deadline_ms(), Some(i64::from(SESSION_MS)));
    // A heartbeat moves the group's deadline along.
    c.heartbeat("g", 1, &member(&id), 5_000).unwrap();
    assert_eq!(c.next_deadline_ms(), Some(5_000 + i64::from(SESSION_MS)));
    c.tick(i64::from(SESSION_MS));
    assert_eq!(c.describe("g").members.len(), 1, "its session was renewed");
    c.tick(5_000 + i64::from(SESSION_MS));
    assert!(c.describe("g").members.is_empty());
    assert_eq!(c.groups_with_deadlines(), 0, "an empty group has no timer");
    assert_eq!(
        c.fetch_offsets("idle-999", None)[0]
            .2
            .as_ref()
            .map(|o| o.offset),
        Some(999)
    );
}

/// A group takes at most `max_size` members: a third member of a stable group of two gets
/// GROUP_MAX_SIZE_REACHED (as Kafka's `group.max.size`), while the two members already in
/// rejoin as before; and at most `max_size` new members wait after MEMBER_ID_REQUIRED.
#[test]
fn a_full_group_refuses_new_members_and_bounds_those_waiting() {
    let mut c = Coordinator::new(GroupConfig {
        max_size: 1,
        ..GroupConfig::default()
    });
    let now = 1_000;
    let id = lone_member_stable(&mut c, now);

    let fx = c.join(join_request("", None, b"m2"), 10, now);
    let refused = &joins(&fx)[0].1;
    assert_eq!(refused.error, Some(GroupError::GroupMaxSizeReached));
    assert_eq!(refused.member_id, "");
    assert_eq!(c.describe("g").members.len(), 1);

    let fx = c.join(join_request(&id, None, b"m1"), 11, now);
    assert!(
        joins(&fx).iter().all(|(_, r)| r.error.is_none()),
        "a member already in is always taken: {:?}",
        joins(&fx)
    );

    let mut waiting = Coordinator::new(GroupConfig {
        max_size: 2,
        ..GroupConfig::default()
    });
    let errors: Vec<Option<GroupError>> = (0..3)
        .map(|reply| {
            let fx = waiting.join(join_request("", None, b"m"), reply, now);
            joins(&fx)[0].1.error
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            Some(GroupError::MemberIdRequired),
            Some(GroupError::MemberIdRequired),
            Some(GroupError::GroupMaxSizeReached),
        ]
    );
}

/// The coordinator creates at most `max_groups` groups, by join or by commit; the groups it
/// has go on taking commits and joins.
#[test]
fn the_coordinator_creates_at_most_max_groups() {
    let mut c = Coordinator::new(GroupConfig {
        max_groups: 2,
        ..GroupConfig::default()
    });
    let now = 1_000;
    let commit = |c: &mut Coordinator, group: &str| {
        c.commit(
            group,
            -1,
            &member(""),
            vec![OffsetToCommit {
                topic: "t".into(),
                partition: 0,
                offset: 7,
                leader_epoch: 0,
                metadata: String::new(),
            }],
            now,
        )
        .map(|_| ())
    };
    assert_eq!(commit(&mut c, "a"), Ok(()));
    lone_member_stable(&mut c, now);
    assert_eq!(commit(&mut c, "b"), Err(GroupError::GroupMaxSizeReached));
    let mut third = join_request("", None, b"m");
    third.group_id = "c".into();
    let fx = c.join(third, 20, now);
    assert_eq!(joins(&fx)[0].1.error, Some(GroupError::GroupMaxSizeReached));
    assert_eq!(commit(&mut c, "a"), Ok(()));
    assert_eq!(c.list().len(), 2);
}
