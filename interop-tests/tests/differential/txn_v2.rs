//! Scenarios of transaction version 2 (KIP-890): the `transaction.version` feature in
//! ApiVersions, and a transaction run on the wire as a 4.x client runs it — Produce v12
//! joining partitions implicitly, EndTxn v5 bumping the epoch, retried and fenced.
//! Producer ids differ between the two brokers, so a step keeps whether the id stayed the
//! same rather than the id.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use sluice_interop_tests::wire::Wire;

use super::txn_admin::txn_coordinator_ready;
use super::Transcript;
use super::{
    call, coordinator_ready, create_ready, list_offsets_request, name, produce_request, step, text,
};
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};

pub(super) const SCENARIOS: &[&str] = &[
    "api versions: the transaction.version feature",
    "transaction version 2: implicit partitions, epoch bumps, retries and fencing",
    "add partitions to txn v5 (verify only and add) and txn offset commit v5",
    "find coordinator v5 and v6: groups, transactional ids and an unknown key type",
];

const CONCURRENT_TRANSACTIONS: i16 = 51;

/// One transactional batch of two records from `producer` at `sequence`.
fn txn_batch(producer_id: i64, epoch: i16, sequence: i32) -> Bytes {
    let records: Vec<Record> = (0..2)
        .map(|i| Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: sequence + i as i32,
            timestamp: 1_700_000_000_000 + i,
            key: None,
            value: Some(Bytes::from(format!("txn-{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode a batch");
    out.freeze()
}

/// A transactional Produce v12 (the first that joins the partition to the transaction).
/// Kafka may still say NOT_LEADER_OR_FOLLOWER just after a new topic has its leader in the
/// metadata: asked again then, as a client would.
async fn produce(w: &mut Wire, id: &str, topic: &str, records: Bytes) -> (i16, i64) {
    const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    let request = produce_request(topic, 0, records).with_transactional_id(Some(text(id).into()));
    for _ in 0..100 {
        let r: ProduceResponse = call(w, ApiKey::Produce, 12, &request).await;
        let p = &r.responses[0].partition_responses[0];
        if p.error_code != NOT_LEADER_OR_FOLLOWER {
            return (p.error_code, p.base_offset);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{topic} still has no leader for produce after 5 s");
}

/// EndTxn v5; the answer's error code, whether its producer id is `pid`, and its epoch.
async fn end(w: &mut Wire, id: &str, pid: i64, epoch: i16, commit: bool) -> (i16, bool, i16) {
    let request = EndTxnRequest::default()
        .with_transactional_id(text(id).into())
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    let r: EndTxnResponse = call(w, ApiKey::EndTxn, 5, &request).await;
    (r.error_code, r.producer_id.0 == pid, r.producer_epoch)
}

/// EndTxn v5 again while the markers are being written (CONCURRENT_TRANSACTIONS).
async fn end_when_settled(
    w: &mut Wire,
    id: &str,
    pid: i64,
    epoch: i16,
    commit: bool,
) -> (i16, bool, i16) {
    for _ in 0..100 {
        let answer = end(w, id, pid, epoch, commit).await;
        if answer.0 != CONCURRENT_TRANSACTIONS {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("EndTxn still CONCURRENT_TRANSACTIONS after 5 s");
}

/// The last stable offset once every marker is written (it stops moving at the end).
async fn stable_end(w: &mut Wire, topic: &str, want: i64) -> i64 {
    let mut last = -1;
    for _ in 0..100 {
        let r: ListOffsetsResponse = call(
            w,
            ApiKey::ListOffsets,
            8,
            &list_offsets_request(topic, &[-1], 1),
        )
        .await;
        last = r.topics[0].partitions[0].offset;
        if last == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

/// InitProducerId v5 for `id`, once Kafka's transaction log has loaded.
async fn init_transactional(w: &mut Wire, id: &str) -> InitProducerIdResponse {
    const NOT_READY: [i16; 3] = [14, 15, 16];
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(text(id).into()))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    for _ in 0..150 {
        let r: InitProducerIdResponse = call(w, ApiKey::InitProducerId, 5, &request).await;
        if !NOT_READY.contains(&r.error_code) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no producer id for {id} after 15 s");
}

/// AddPartitionsToTxn v5 for one transaction: each partition's code.
async fn add_v5(
    w: &mut Wire,
    id: &str,
    pid: i64,
    epoch: i16,
    verify_only: bool,
    partitions: &[(&str, i32)],
) -> (i16, Vec<(String, i32, i16)>) {
    let topics = partitions
        .iter()
        .map(|(topic, p)| {
            AddPartitionsToTxnTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![*p])
        })
        .collect();
    let request = AddPartitionsToTxnRequest::default().with_transactions(vec![
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id(text(id).into())
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_verify_only(verify_only)
            .with_topics(topics),
    ]);
    let r: AddPartitionsToTxnResponse = call(w, ApiKey::AddPartitionsToTxn, 5, &request).await;
    let mut codes: Vec<(String, i32, i16)> = r
        .results_by_transaction
        .iter()
        .flat_map(|t| &t.topic_results)
        .flat_map(|t| {
            t.results_by_partition.iter().map(|p| {
                (
                    t.name.to_string(),
                    p.partition_index,
                    p.partition_error_code,
                )
            })
        })
        .collect();
    codes.sort();
    (r.error_code, codes)
}

pub(super) async fn run(scenario: &str, w: &mut Wire, topic: &str) -> Option<Transcript> {
    let mut t = Transcript::new();
    match scenario {
        "api versions: the transaction.version feature" => {
            for version in [3, 4] {
                let r: ApiVersionsResponse = call(
                    w,
                    ApiKey::ApiVersions,
                    version,
                    &ApiVersionsRequest::default()
                        .with_client_software_name(text("sluice-differential"))
                        .with_client_software_version(text("1")),
                )
                .await;
                let supported: Vec<_> = r
                    .supported_features
                    .iter()
                    .filter(|f| f.name.as_str() == "transaction.version")
                    .map(|f| (f.min_version, f.max_version))
                    .collect();
                let finalized: Vec<_> = r
                    .finalized_features
                    .iter()
                    .filter(|f| f.name.as_str() == "transaction.version")
                    .map(|f| (f.min_version_level, f.max_version_level))
                    .collect();
                // Kafka's epoch is a metadata offset: only whether there is one compares.
                let epoch_known = r.finalized_features_epoch >= 0;
                step(
                    &mut t,
                    &format!("v{version}: transaction.version supported, finalized, epoch known"),
                    &(r.error_code, supported, finalized, epoch_known),
                );
            }
        }
        "transaction version 2: implicit partitions, epoch bumps, retries and fencing" => {
            create_ready(w, topic, 1).await;
            let id = format!("{topic}-txn");
            txn_coordinator_ready(w, &id).await;
            let init = init_transactional(w, &id).await;
            step(
                &mut t,
                "init producer id",
                &(init.error_code, init.producer_epoch),
            );
            let pid = init.producer_id.0;
            let at = |epoch: i16, sequence: i32| txn_batch(pid, epoch, sequence);
            let produced = produce(w, &id, topic, at(0, 0)).await;
            step(&mut t, "produce v12 to a partition never added", &produced);
            let ended = end(w, &id, pid, 0, true).await;
            step(&mut t, "end txn v5 commit: the epoch is bumped", &ended);
            let retried = end_when_settled(w, &id, pid, 0, true).await;
            step(&mut t, "the commit retried with the epoch before", &retried);
            let other = end(w, &id, pid, 0, false).await;
            step(&mut t, "an abort with the epoch before", &other);
            let stale = produce(w, &id, topic, at(0, 2)).await;
            step(&mut t, "produce at the epoch before", &stale);
            let next = produce(w, &id, topic, at(1, 0)).await;
            step(&mut t, "produce at the bumped epoch from sequence 0", &next);
            let ahead = end(w, &id, pid, 2, true).await;
            step(&mut t, "end txn with an epoch ahead", &ahead);
            let aborted = end(w, &id, pid, 1, false).await;
            step(&mut t, "end txn v5 abort", &aborted);
            let settled = end_when_settled(w, &id, pid, 1, false).await;
            step(&mut t, "the abort retried", &settled);
            // batch 0-1, commit 2, batch 3-4, abort 5: stable up to 6.
            step(
                &mut t,
                "stable end once the markers are written",
                &stable_end(w, topic, 6).await,
            );
        }
        "add partitions to txn v5 (verify only and add) and txn offset commit v5" => {
            create_ready(w, topic, 2).await;
            let id = format!("{topic}-txn");
            let group = format!("{topic}-group");
            txn_coordinator_ready(w, &id).await;
            coordinator_ready(w, &group).await;
            let pid = init_transactional(w, &id).await.producer_id.0;
            let missing = format!("{topic}-missing");
            let both = [(topic, 0), (topic, 1)];
            let r = add_v5(w, &id, pid, 0, true, &both).await;
            step(&mut t, "verify before any add", &r);
            let r = add_v5(w, &id, pid, 0, false, &[(topic, 0)]).await;
            step(&mut t, "add one partition", &r);
            let r = add_v5(w, &id, pid, 0, true, &both).await;
            step(&mut t, "verify: one in, one not", &r);
            let r = add_v5(w, &id, pid, 1, true, &[(topic, 0)]).await;
            step(&mut t, "verify with another epoch", &r);
            let r = add_v5(w, &id, pid + 1, 0, false, &[(topic, 1)]).await;
            step(&mut t, "add with another producer id", &r);
            let r = add_v5(w, &id, pid, 0, false, &[(topic, 1), (missing.as_str(), 0)]).await;
            step(&mut t, "add with an unknown topic", &r);
            let commit = TxnOffsetCommitRequest::default()
                .with_transactional_id(text(&id).into())
                .with_group_id(GroupId(text(&group)))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(0)
                .with_generation_id(-1)
                .with_member_id(text(""))
                .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                    .with_name(name(topic))
                    .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(7)
                        .with_committed_leader_epoch(-1)])]);
            let r: TxnOffsetCommitResponse = call(w, ApiKey::TxnOffsetCommit, 5, &commit).await;
            step(
                &mut t,
                "txn offset commit v5 without AddOffsetsToTxn",
                &r.topics,
            );
            let stale = commit.clone().with_producer_epoch(1);
            let r: TxnOffsetCommitResponse = call(w, ApiKey::TxnOffsetCommit, 5, &stale).await;
            step(&mut t, "txn offset commit v5 with another epoch", &r.topics);
            let ended = end(w, &id, pid, 0, true).await;
            step(&mut t, "commit", &ended);
            let fetch = OffsetFetchRequest::default()
                .with_require_stable(true)
                .with_groups(vec![OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(text(&group)))
                    .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                        .with_name(name(topic))
                        .with_partition_indexes(vec![0])]))]);
            let mut committed = None;
            for _ in 0..100 {
                let r: OffsetFetchResponse = call(w, ApiKey::OffsetFetch, 8, &fetch).await;
                let p = &r.groups[0].topics[0].partitions[0];
                // UNSTABLE_OFFSET_COMMIT until the marker is written.
                if p.error_code != 88 {
                    committed = Some((p.error_code, p.committed_offset));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            step(
                &mut t,
                "the group's offset once the commit is complete",
                &committed,
            );
        }
        "find coordinator v5 and v6: groups, transactional ids and an unknown key type" => {
            let id = format!("{topic}-txn");
            txn_coordinator_ready(w, &id).await;
            coordinator_ready(w, &format!("{topic}-group")).await;
            for version in [5, 6] {
                for (key_type, key) in [(0, "group"), (1, "txn"), (7, "other")] {
                    let request = FindCoordinatorRequest::default()
                        .with_key_type(key_type)
                        .with_coordinator_keys(vec![text(&format!("{topic}-{key}"))]);
                    let r: FindCoordinatorResponse =
                        call(w, ApiKey::FindCoordinator, version, &request).await;
                    let codes: Vec<i16> = r.coordinators.iter().map(|c| c.error_code).collect();
                    step(
                        &mut t,
                        &format!("v{version} key type {key_type}"),
                        &(r.error_code, codes),
                    );
                }
            }
        }
        _ => return None,
    }
    Some(t)
}
