//! Scenarios of the transaction tooling's APIs: ids, state names and partitions the broker
//! does not know, and markers written by request with stale producer and coordinator epochs.
//! Producer ids differ between the two brokers, so only error codes and offsets are kept
//! where one would show.

use std::time::Duration;

use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;
use sluice_interop_tests::wire::Wire;

use super::Transcript;
use super::{
    batch, call, create_ready, init_producer_id, list_offsets_request, name, produce_request, step,
    text,
};

pub(super) const SCENARIOS: &[&str] = &[
    "transaction tooling: unknown ids, state names and partitions",
    "write txn markers: unknown partitions, stale producer and coordinator epochs",
];

/// Waits until the broker's transaction coordinator for `id` answers: Kafka creates and
/// loads its transaction log on the first FindCoordinator for a transactional id, and says
/// NOT_COORDINATOR (or loading) until then.
pub(super) async fn txn_coordinator_ready(wire: &mut Wire, id: &str) {
    const NOT_READY: [i16; 3] = [14, 15, 16];
    for _ in 0..150 {
        let request = FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![text(id)]);
        let r: FindCoordinatorResponse = call(wire, ApiKey::FindCoordinator, 4, &request).await;
        let code = r.coordinators.first().map_or(-1, |c| c.error_code);
        if code == 0 {
            let probe = DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(text(id))]);
            let d: DescribeTransactionsResponse =
                call(wire, ApiKey::DescribeTransactions, 0, &probe).await;
            if d.transaction_states
                .first()
                .is_some_and(|s| !NOT_READY.contains(&s.error_code))
            {
                return;
            }
        } else if !NOT_READY.contains(&code) {
            panic!("FindCoordinator for {id}: error {code}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no transaction coordinator for {id} after 15 s");
}

/// Waits until ListTransactions answers without COORDINATOR_LOAD_IN_PROGRESS: it asks every
/// partition of Kafka's transaction log, which loads them one by one after the first
/// FindCoordinator (a loaded machine answered 14 after the coordinator of one id was ready).
async fn txn_log_loaded(wire: &mut Wire) {
    const LOAD_IN_PROGRESS: i16 = 14;
    for _ in 0..150 {
        let r: ListTransactionsResponse = call(
            wire,
            ApiKey::ListTransactions,
            0,
            &ListTransactionsRequest::default(),
        )
        .await;
        if r.error_code != LOAD_IN_PROGRESS {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the transaction log is still loading after 15 s");
}

/// Topics with the partitions a marker goes to.
type Partitions<'a> = Vec<(&'a str, &'a [i32])>;

/// A WriteTxnMarkers request of one ABORT marker for `partitions` of each topic.
fn abort_marker(
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    partitions: &[(&str, &[i32])],
) -> WriteTxnMarkersRequest {
    WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(producer_epoch)
        .with_transaction_result(false)
        .with_coordinator_epoch(coordinator_epoch)
        .with_topics(
            partitions
                .iter()
                .map(|(topic, indexes)| {
                    WritableTxnMarkerTopic::default()
                        .with_name(name(topic))
                        .with_partition_indexes(indexes.to_vec())
                })
                .collect(),
        )])
}

/// Each (topic, partition, error code) of a WriteTxnMarkers answer, sorted: Kafka gathers
/// them in a hash map, so its order is not the request's.
fn marker_codes(response: &WriteTxnMarkersResponse, topic: &str) -> Vec<(String, i32, i16)> {
    let mut codes: Vec<(String, i32, i16)> = response
        .markers
        .iter()
        .flat_map(|m| m.topics.iter())
        .flat_map(|t| {
            let label = if t.name.as_str() == topic {
                "<topic>".to_string()
            } else {
                t.name.to_string()
            };
            t.partitions
                .iter()
                .map(move |p| (label.clone(), p.partition_index, p.error_code))
        })
        .collect();
    codes.sort();
    codes
}

pub(super) async fn run(scenario: &str, w: &mut Wire, topic: &str) -> Option<Transcript> {
    let mut t = Transcript::new();
    match scenario {
        "transaction tooling: unknown ids, state names and partitions" => {
            create_ready(w, topic, 1).await;
            let nobody = format!("{topic}-nobody");
            txn_coordinator_ready(w, &nobody).await;
            txn_log_loaded(w).await;
            let ids = vec![TransactionalId(text(&nobody)), TransactionalId(text(""))];
            let r: DescribeTransactionsResponse = call(
                w,
                ApiKey::DescribeTransactions,
                0,
                &DescribeTransactionsRequest::default().with_transactional_ids(ids),
            )
            .await;
            step(
                &mut t,
                "describe an unknown and the empty transactional id",
                &r,
            );
            let r: ListTransactionsResponse = call(
                w,
                ApiKey::ListTransactions,
                1,
                &ListTransactionsRequest::default()
                    .with_state_filters(vec![text("Bogus")])
                    .with_duration_filter(-1),
            )
            .await;
            step(&mut t, "list with an unknown state name", &r);
            let r: ListTransactionsResponse = call(
                w,
                ApiKey::ListTransactions,
                0,
                &ListTransactionsRequest::default()
                    .with_state_filters(vec![text("Dead"), text("PrepareEpochFence")]),
            )
            .await;
            step(&mut t, "list the transient states (v0)", &r);
            let r: DescribeProducersResponse = call(
                w,
                ApiKey::DescribeProducers,
                0,
                &DescribeProducersRequest::default().with_topics(vec![
                    TopicRequest::default()
                        .with_name(name(topic))
                        .with_partition_indexes(vec![0, 7]),
                    TopicRequest::default()
                        .with_name(name(&format!("{topic}-missing")))
                        .with_partition_indexes(vec![0]),
                ]),
            )
            .await;
            step(
                &mut t,
                "producers of an empty, a missing and an unknown partition",
                &r,
            );
        }
        "write txn markers: unknown partitions, stale producer and coordinator epochs" => {
            create_ready(w, topic, 1).await;
            let producer = init_producer_id(w).await;
            let pid = producer.producer_id.0;
            let epoch = producer.producer_epoch;
            let r: ProduceResponse = call(
                w,
                ApiKey::Produce,
                9,
                &produce_request(topic, 0, batch(1, Compression::None, Some((pid, epoch, 0)))),
            )
            .await;
            step(
                &mut t,
                "an idempotent batch at 0",
                &r.responses[0].partition_responses[0].error_code,
            );
            let missing = format!("{topic}-missing");
            let steps: [(&str, i16, i32, Partitions); 4] = [
                (
                    "abort at epoch 3 to partitions 0 and 5 and an unknown topic",
                    epoch + 3,
                    0,
                    vec![(topic, &[0, 5]), (&missing, &[0])],
                ),
                ("abort at epoch 2, older", epoch + 2, 0, vec![(topic, &[0])]),
                (
                    "abort at coordinator epoch 5",
                    epoch + 3,
                    5,
                    vec![(topic, &[0])],
                ),
                (
                    "abort at coordinator epoch 4, older",
                    epoch + 3,
                    4,
                    vec![(topic, &[0])],
                ),
            ];
            for (what, producer_epoch, coordinator_epoch, partitions) in steps {
                let request = abort_marker(pid, producer_epoch, coordinator_epoch, &partitions);
                let r: WriteTxnMarkersResponse =
                    call(w, ApiKey::WriteTxnMarkers, 1, &request).await;
                step(&mut t, what, &marker_codes(&r, topic));
            }
            for (what, isolation) in [("read_uncommitted", 0), ("read_committed", 1)] {
                let r: ListOffsetsResponse = call(
                    w,
                    ApiKey::ListOffsets,
                    8,
                    &list_offsets_request(topic, &[-1], isolation),
                )
                .await;
                let p = &r.topics[0].partitions[0];
                step(
                    &mut t,
                    &format!("the end, {what}"),
                    &(p.error_code, p.offset),
                );
            }
            let r: ProduceResponse = call(
                w,
                ApiKey::Produce,
                9,
                &produce_request(topic, 0, batch(1, Compression::None, Some((pid, epoch, 1)))),
            )
            .await;
            step(
                &mut t,
                "the producer's next batch at its fenced epoch",
                &r.responses[0].partition_responses[0].error_code,
            );
        }
        _ => return None,
    }
    Some(t)
}
