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

fn request(topic: &str, batches: Vec<Bytes>, transactional_id: Option<&str>) -> AppendRequest {
    AppendRequest {
        version: 9,
        transactional_id: transactional_id.map(str::to_string),
        topics: vec![(topic.into(), batches.into_iter().map(|b| (0, b)).collect())],
    }
}

#[tokio::test]
async fn batches_append_at_consecutive_offsets_and_unknown_partitions_are_refused() {
    let node = broker_with("t", &[]).await;
    let broker = node.broker();
    let results = broker
        .append(request("t", vec![one_record(b"a"), one_record(b"b")], None))
        .await;
    let offsets: Vec<i64> = results[0]
        .iter()
        .map(|r| r.as_ref().unwrap().base_offset)
        .collect();
    assert_eq!(offsets, vec![0, 1]);
    let unknown = broker
        .append(request("nope", vec![one_record(b"a")], None))
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
        .append(request("small", vec![big], None))
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
    let refused = node.broker().append(request("t", vec![batch], None)).await;
    assert!(matches!(
        refused[0][0],
        Err(ProduceError::TransactionalIdRequired)
    ));
    node.shutdown().await;
}

/// Kafka's verification: a transactional batch lands only in a partition its producer's
/// open transaction holds — not before the partition is added, not after the end.
#[tokio::test]
async fn a_transactional_batch_needs_its_partition_in_the_open_transaction() {
    use crate::txn::{ProducerIdAndEpoch, TxnResult};
    let node = broker_with("t", &[]).await;
    let broker = node.broker();
    let producer = broker
        .txns()
        .init_producer_id("tx".into(), 60_000, None, 4_000)
        .await
        .unwrap();
    let ProducerIdAndEpoch { producer_id, epoch } = producer;
    // One valid record, then the producer fields and the transactional attribute, CRC fixed.
    let batch = |sequence: i32| {
        let mut batch = one_record(b"t").to_vec();
        batch[22] |= 0x10;
        batch[43..51].copy_from_slice(&producer_id.to_be_bytes());
        batch[51..53].copy_from_slice(&epoch.to_be_bytes());
        batch[53..57].copy_from_slice(&sequence.to_be_bytes());
        let crc = crc32c::crc32c(&batch[21..]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
        Bytes::from(batch)
    };
    let send = |sequence| broker.append(request("t", vec![batch(sequence)], Some("tx")));
    assert!(matches!(
        send(0).await[0][0],
        Err(ProduceError::NotInTransaction)
    ));
    broker
        .txns()
        .add_partitions("tx".into(), producer, vec![("t".into(), 0)])
        .await
        .unwrap();
    assert_eq!(send(0).await[0][0].as_ref().unwrap().base_offset, 0);
    broker
        .txns()
        .end("tx".into(), producer, TxnResult::Commit)
        .await
        .unwrap();
    assert!(matches!(
        send(1).await[0][0],
        Err(ProduceError::NotInTransaction)
    ));
    node.shutdown().await;
}

/// A keyless record on a compacted topic — by its own `cleanup.policy` or by the broker's
/// `log_cleanup_policy` — is INVALID_RECORD with Kafka's message naming the partition.
#[tokio::test]
async fn a_keyless_record_on_a_compacted_topic_is_invalid() {
    let expected = vec![(
        0,
        "Compacted topic cannot accept message without key in topic partition c-0".to_string(),
    )];
    let node = broker_with("c", &[("cleanup.policy", "compact,delete")]).await;
    let results = node
        .broker()
        .append(request("c", vec![one_record(b"a")], None))
        .await;
    match &results[0][0] {
        Err(ProduceError::RecordErrors { errors, .. }) => assert_eq!(errors, &expected),
        other => panic!("{other:?}"),
    }
    node.shutdown().await;

    let mut config = Config::for_tests();
    config.log_cleanup_policy = "compact".into();
    let node = Node::start(config).await.unwrap();
    let topics = node.broker().topics();
    topics
        .create(NewTopic {
            name: "c".into(),
            partitions: 1,
            configs: Default::default(),
        })
        .unwrap();
    assert!(topics.get("c").unwrap().config.cleanup_policy_compacts());
    let results = node
        .broker()
        .append(request("c", vec![one_record(b"a")], None))
        .await;
    assert!(
        matches!(&results[0][0], Err(ProduceError::RecordErrors { errors, log_start_offset: 0 }) if *errors == expected)
    );
    node.shutdown().await;
}

/// Produce v12 (transaction version 2): a transactional batch adds its partition to the
/// transaction; right after a bumped end it waits for the markers, then goes on at the new
/// epoch from sequence 0; the epoch before is fenced.
#[tokio::test]
async fn a_version_12_transactional_batch_joins_its_transaction() {
    use crate::txn::{ProducerIdAndEpoch, TxnError, TxnResult, TxnState};
    let node = broker_with("t", &[]).await;
    let broker = node.broker();
    let ProducerIdAndEpoch { producer_id, .. } = broker
        .txns()
        .init_producer_id("tx".into(), 60_000, None, 4_000)
        .await
        .unwrap();
    let batch = |epoch: i16, sequence: i32| {
        let mut batch = one_record(b"t").to_vec();
        batch[22] |= 0x10;
        batch[43..51].copy_from_slice(&producer_id.to_be_bytes());
        batch[51..53].copy_from_slice(&epoch.to_be_bytes());
        batch[53..57].copy_from_slice(&sequence.to_be_bytes());
        let crc = crc32c::crc32c(&batch[21..]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
        Bytes::from(batch)
    };
    let send = |epoch, sequence| {
        let mut request = request("t", vec![batch(epoch, sequence)], Some("tx"));
        request.version = 12;
        broker.append(request)
    };
    assert_eq!(send(0, 0).await[0][0].as_ref().unwrap().base_offset, 0);
    let txn = broker.txns().describe("tx".into()).await.unwrap().unwrap();
    assert_eq!(txn.state, TxnState::Ongoing);
    assert!(txn.partitions.contains(&("t".to_string(), 0)));
    let next = broker
        .txns()
        .end_txn(
            "tx".into(),
            ProducerIdAndEpoch {
                producer_id,
                epoch: 0,
            },
            TxnResult::Commit,
            true,
            &|| -1,
        )
        .await
        .unwrap();
    assert_eq!(next.epoch, 1);
    // Sent at once: the join waits for the commit marker (offset 1) to be written.
    assert_eq!(send(1, 0).await[0][0].as_ref().unwrap().base_offset, 2);
    assert!(matches!(
        send(0, 1).await[0][0],
        Err(ProduceError::JoinRefused(TxnError::ProducerFenced))
    ));
    node.shutdown().await;
}
