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
use super::{call, create_ready, list_offsets_request, name, produce_request, step, text};

pub(super) const SCENARIOS: &[&str] = &[
    "api versions: the transaction.version feature",
    "transaction version 2: implicit partitions, epoch bumps, retries and fencing",
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
        _ => return None,
    }
    Some(t)
}
