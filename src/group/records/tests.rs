//! The group log: group records through the journal's framing — round trips, torn and
//! damaged records, limits, compaction.

use super::*;
use crate::coordinator::journal::{decode_all, frame, AppendError, Replay, MAX_RECORD_BYTES};

fn decode(data: &[u8]) -> Replay<GroupRecord> {
    decode_all(data)
}

fn samples() -> Vec<GroupRecord> {
    vec![
        GroupRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
            value: Some(CommittedOffset {
                offset: 42,
                leader_epoch: 0,
                metadata: "meta".into(),
                commit_timestamp_ms: 1_700_000_000_000,
            }),
        },
        GroupRecord::Group {
            group: "g".into(),
            value: Some(GroupSnapshot {
                protocol_type: Some("consumer".into()),
                generation: 7,
                protocol_name: Some("range".into()),
                leader: Some("m1".into()),
                state_timestamp_ms: 5,
                members: vec![MemberSnapshot {
                    member_id: "m1".into(),
                    instance_id: Some("i1".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    session_timeout_ms: 10_000,
                    rebalance_timeout_ms: 30_000,
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"asg"),
                }],
            }),
        },
        GroupRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
            value: None,
        },
        GroupRecord::Group {
            group: "g".into(),
            value: None,
        },
        GroupRecord::TxnOffset {
            group: "g".into(),
            producer_id: 4000,
            topic: "t".into(),
            partition: 1,
            value: CommittedOffset {
                offset: 9,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp_ms: 3,
            },
        },
        GroupRecord::TxnEnd {
            group: "g".into(),
            producer_id: 4000,
            commit: true,
        },
    ]
}

#[test]
fn records_round_trip() {
    let mut data = Vec::new();
    for r in samples() {
        data.extend_from_slice(&frame(&r));
    }
    let replay = decode(&data);
    assert_eq!(replay.records, samples());
    assert_eq!(replay.valid_bytes, data.len());
    assert_eq!(replay.skipped, 0);
}

#[test]
fn a_torn_tail_is_dropped_and_the_rest_kept() {
    let mut data = Vec::new();
    for r in samples() {
        data.extend_from_slice(&frame(&r));
    }
    let whole = data.len();
    let last = samples().len() - 1;
    for cut in 1..frame(&samples()[last]).len() {
        let replay = decode(&data[..whole - cut]);
        assert_eq!(replay.records.len(), last);
        assert!(replay.valid_bytes < whole);
    }
}

#[test]
fn a_damaged_record_is_skipped_and_every_later_one_kept() {
    let mut data = Vec::new();
    for r in samples() {
        data.extend_from_slice(&frame(&r));
    }
    let first = frame(&samples()[0]).len();
    // Every single-byte flip of the first record, its header included, loses that
    // record alone.
    for at in 0..first {
        let mut damaged = data.clone();
        damaged[at] ^= 0x40;
        let replay = decode(&damaged);
        assert_eq!(replay.records, samples()[1..].to_vec(), "flip at {at}");
        assert_eq!(replay.skipped, 1);
        assert_eq!(replay.valid_bytes, data.len());
    }
}

#[test]
fn a_torn_write_followed_by_more_records_keeps_the_later_ones() {
    let mut data = Vec::new();
    data.extend_from_slice(&frame(&samples()[0]));
    let torn = frame(&samples()[1]);
    data.extend_from_slice(&torn[..torn.len() / 2]);
    data.extend_from_slice(&frame(&samples()[2]));
    data.extend_from_slice(&frame(&samples()[3]));
    let replay = decode(&data);
    assert_eq!(
        replay.records,
        vec![
            samples()[0].clone(),
            samples()[2].clone(),
            samples()[3].clone()
        ]
    );
    assert_eq!(replay.skipped, 1);
}

#[test]
fn a_record_over_the_limit_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = GroupLog::open(dir.path(), GROUP_LOG_FILE).unwrap();
    store.append(&samples()[..1]).unwrap();
    let huge = GroupRecord::Group {
        group: "g".into(),
        value: Some(GroupSnapshot {
            protocol_type: Some("consumer".into()),
            generation: 1,
            protocol_name: Some("range".into()),
            leader: Some("m1".into()),
            state_timestamp_ms: 5,
            members: vec![MemberSnapshot {
                member_id: "m1".into(),
                instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 30_000,
                subscription: Bytes::new(),
                assignment: Bytes::from(vec![7u8; MAX_RECORD_BYTES + 1]),
            }],
        }),
    };
    let error = store.append(&[samples()[2].clone(), huge]).unwrap_err();
    assert!(
        matches!(error, AppendError::RecordTooLarge { bytes } if bytes > MAX_RECORD_BYTES),
        "{error:?}"
    );
    store.append(&samples()[3..4]).unwrap();
    drop(store);
    let (_, replayed) = GroupLog::open(dir.path(), GROUP_LOG_FILE).unwrap();
    assert_eq!(replayed, vec![samples()[0].clone(), samples()[3].clone()]);
}

#[test]
fn the_group_log_replays_what_it_appended_and_compacts() {
    let dir = std::env::temp_dir().join(format!("sluice-groups-{}", uuid::Uuid::new_v4()));
    let (mut store, replayed) = GroupLog::open(&dir, GROUP_LOG_FILE).unwrap();
    assert!(replayed.is_empty());
    store.append(&samples()[..2]).unwrap();
    drop(store);
    let (mut store, replayed) = GroupLog::open(&dir, GROUP_LOG_FILE).unwrap();
    assert_eq!(replayed, samples()[..2].to_vec());
    store.compact(&samples()[1..2]).unwrap();
    drop(store);
    let (_, replayed) = GroupLog::open(&dir, GROUP_LOG_FILE).unwrap();
    assert_eq!(replayed, samples()[1..2].to_vec());
    std::fs::remove_dir_all(&dir).unwrap();
}
