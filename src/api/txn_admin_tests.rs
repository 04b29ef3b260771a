//! The transaction tooling's APIs through their handlers: per-partition errors of
//! DescribeProducers and WriteTxnMarkers, and ListTransactions' versions.

use std::sync::Arc;

use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    DescribeProducersRequest, ListTransactionsRequest, ProducerId, WriteTxnMarkersRequest,
};
use kafka_protocol::ResponseError;

use super::{describe_producers, list_transactions, str_bytes, topic_name, write_txn_markers};
use crate::broker::Broker;
use crate::node::Node;
use crate::record::test_batches::{transactional_batch, TIMESTAMP};
use crate::session::{RequestContext, Session, PLAINTEXT_LISTENER};

const PRODUCER_ID: i64 = 4242;

/// A marker's producer id with each topic's (partition, error code) pairs.
type MarkerCodes = (i64, Vec<(String, Vec<(i32, i16)>)>);

async fn broker_with_topic() -> (Node, Arc<Broker>) {
    let node = Node::start(crate::config::Config::for_tests())
        .await
        .unwrap();
    let broker = node.broker().clone();
    broker
        .topics()
        .create(crate::topics::NewTopic {
            name: "t".into(),
            partitions: 1,
            configs: Default::default(),
        })
        .unwrap();
    (node, broker)
}

fn session() -> Session {
    Session::new(PLAINTEXT_LISTENER, "127.0.0.1:5000".parse().unwrap())
}

fn abort(epoch: i16, topics: Vec<(&str, Vec<i32>)>) -> WritableTxnMarker {
    WritableTxnMarker::default()
        .with_producer_id(ProducerId(PRODUCER_ID))
        .with_producer_epoch(epoch)
        .with_transaction_result(false)
        .with_coordinator_epoch(0)
        .with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    WritableTxnMarkerTopic::default()
                        .with_name(topic_name(name))
                        .with_partition_indexes(partitions)
                })
                .collect(),
        )
}

#[tokio::test]
async fn write_txn_markers_answers_each_partition_of_each_marker() {
    let (node, broker) = broker_with_topic().await;
    let partition = broker
        .topics()
        .get("t")
        .unwrap()
        .partition(0)
        .unwrap()
        .clone();
    // t-0 knows the producer (a transaction's batch at 0, its epoch 0).
    let batch = transactional_batch(PRODUCER_ID, 0, 0, 1, TIMESTAMP);
    partition.append(batch.into(), None).unwrap();
    let session = session();
    let context = RequestContext::new(&session, "test");
    let request = WriteTxnMarkersRequest::default().with_markers(vec![
        abort(3, vec![("t", vec![0, 1]), ("nope", vec![0])]),
        abort(2, vec![("t", vec![0])]),
    ]);
    let response = write_txn_markers::handle(&broker, &context, 1, request).await;
    let codes: Vec<MarkerCodes> = response
        .markers
        .iter()
        .map(|m| {
            let topics = m
                .topics
                .iter()
                .map(|t| {
                    let partitions = t
                        .partitions
                        .iter()
                        .map(|p| (p.partition_index, p.error_code))
                        .collect();
                    (t.name.to_string(), partitions)
                })
                .collect();
            (m.producer_id.0, topics)
        })
        .collect();
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    let stale = ResponseError::InvalidProducerEpoch.code();
    assert_eq!(
        codes,
        vec![
            (
                PRODUCER_ID,
                vec![
                    ("t".to_string(), vec![(0, 0), (1, unknown)]),
                    ("nope".to_string(), vec![(0, unknown)])
                ]
            ),
            // The first marker's epoch 3 fenced epoch 2 on t-0.
            (PRODUCER_ID, vec![("t".to_string(), vec![(0, stale)])]),
        ]
    );
    assert_eq!(partition.ends().high_watermark, 2, "one marker written");
    assert_eq!(
        partition.ends().last_stable_offset,
        2,
        "the transaction is aborted"
    );
    node.shutdown().await;
}

#[tokio::test]
async fn describe_producers_names_a_missing_partition_with_kafkas_message() {
    let (node, broker) = broker_with_topic().await;
    let session = session();
    let context = RequestContext::new(&session, "test");
    let request = DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
        .with_name(topic_name("t"))
        .with_partition_indexes(vec![0, 5])]);
    let response = describe_producers::handle(&broker, &context, 0, request).await;
    let partitions = &response.topics[0].partitions;
    assert_eq!(
        (
            partitions[0].error_code,
            partitions[0].active_producers.len()
        ),
        (0, 0)
    );
    assert_eq!(
        (partitions[1].partition_index, partitions[1].error_code),
        (5, ResponseError::UnknownTopicOrPartition.code())
    );
    assert_eq!(
        partitions[1].error_message.as_ref().map(|m| m.to_string()),
        Some("This server does not host this topic-partition.".to_string())
    );
    node.shutdown().await;
}

#[tokio::test]
async fn list_transactions_v0_has_no_duration_filter_and_reports_unknown_states() {
    let (node, broker) = broker_with_topic().await;
    let producer = broker
        .txns()
        .init_producer_id("tx".into(), 60_000, None, PRODUCER_ID)
        .await
        .unwrap();
    broker
        .txns()
        .add_partitions("tx".into(), producer, vec![("t".into(), 0)])
        .await
        .unwrap();
    let session = session();
    let context = RequestContext::new(&session, "test");
    // The transaction started just now: running longer than an hour it is not, so only a
    // version that ignores the duration filter lists it.
    let request = || {
        ListTransactionsRequest::default()
            .with_state_filters(vec![str_bytes("Ongoing"), str_bytes("Sleeping")])
            .with_duration_filter(3_600_000)
    };
    for (version, expected) in [(0, vec!["tx"]), (1, vec![])] {
        let response = list_transactions::handle(&broker, &context, version, request()).await;
        assert_eq!(response.error_code, 0);
        assert_eq!(
            response
                .unknown_state_filters
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
            vec!["Sleeping"]
        );
        let listed: Vec<String> = response
            .transaction_states
            .iter()
            .map(|t| {
                assert_eq!(t.producer_id.0, PRODUCER_ID);
                assert_eq!(t.transaction_state.as_str(), "Ongoing");
                t.transactional_id.to_string()
            })
            .collect();
        assert_eq!(listed, expected, "v{version}");
    }
    node.shutdown().await;
}
