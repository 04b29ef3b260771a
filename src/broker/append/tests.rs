//! The append rules called directly, without Kafka's encoding.

use bytes::Bytes;

use super::*;
use crate::config::Config;
use crate::node::Node;
use crate::record::test_batches::{batch_over, record, TIMESTAMP};
use crate::topics::NewTopic;

async fn broker_with(topic: &str, configs: &[(&str, &str)]) -> Node {
    let node = Node::start(Config::for_tests()).await.unwrap();
    node.broker()
        .topics()
        .create(NewTopic {
            name: topic.into(),
            partitions: 1,
            configs: configs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
        .unwrap();
    node
}

fn one_record(value: &[u8]) -> Bytes {
    Bytes::from(batch_over(
        &record(0, 0, None, Some(value), &[]),
        1,
        0,
        TIMESTAMP,
    ))
}

fn request(topic: &str, batches: Vec<Bytes>, transactional: bool) -> AppendRequest {
    AppendRequest {
        version: 9,
        transactional,
        topics: vec![(topic.into(), batches.into_iter().map(|b| (0, b)).collect())],
    }
}

#[tokio::test]
async fn batches_append_at_consecutive_offsets_and_unknown_partitions_are_refused() {
    let node = broker_with("t", &[]).await;
    let broker = node.broker();
    let results = broker
        .append(request(
            "t",
            vec![one_record(b"a"), one_record(b"b")],
            false,
        ))
        .await;
    let offsets: Vec<i64> = results[0]
        .iter()
        .map(|r| r.as_ref().unwrap().base_offset)
        .collect();
    assert_eq!(offsets, vec![0, 1]);
    let unknown = broker
        .append(request("nope", vec![one_record(b"a")], false))
        .await;
    assert!(matches!(
        unknown[0][0],
        Err(ProduceError::UnknownTopicOrPartition)
    ));
    node.shutdown().await;
}

#[tokio::test]
async fn a_batch_over_max_message_bytes_is_too_large() {
    let node = broker_with("small", &[("max.message.bytes", "100")]).await;
    let big = one_record(&[7u8; 200]);
    let results = node
        .broker()
        .append(request("small", vec![big], false))
        .await;
    assert!(
        matches!(&results[0][0], Err(ProduceError::MessageTooLarge(why)) if why.contains("max.message.bytes 100")),
        "{:?}",
        results[0][0]
    );
    node.shutdown().await;
}

#[tokio::test]
async fn a_transactional_batch_needs_a_transactional_request() {
    let node = broker_with("t", &[]).await;
    // A well-formed batch with the transactional attribute set.
    let mut batch = one_record(b"t").to_vec();
    batch[22] |= 0x10;
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    let batch = Bytes::from(batch);
    let refused = node.broker().append(request("t", vec![batch], false)).await;
    assert!(matches!(
        refused[0][0],
        Err(ProduceError::TransactionalIdRequired)
    ));
    node.shutdown().await;
}
