//! The transaction coordinator's rules, its journal records and its recovery.

use std::sync::Arc;

use super::records::TxnRecord;
use super::state::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID};
use super::*;
use crate::coordinator::journal::{decode_all, frame, Replay};
use crate::coordinator::{JournalFaults, JournalRecord};

const ID: &str = "tx-1";
const TIMEOUT_MS: i32 = 60_000;

fn pe(producer_id: i64, epoch: i16) -> ProducerIdAndEpoch {
    ProducerIdAndEpoch { producer_id, epoch }
}

fn tp(topic: &str, partition: i32) -> (String, i32) {
    (topic.to_string(), partition)
}

/// A machine with `ID` initialised at producer 1000, epoch 0.
fn initialised() -> Transactions {
    let mut txns = Transactions::new(TxnConfig::default());
    let (result, fx) = txns.init_producer_id(ID, TIMEOUT_MS, None, 1000, 0);
    assert_eq!(result, Ok(pe(1000, 0)));
    assert_eq!(fx.records.len(), 1);
    txns
}

fn state(txns: &Transactions) -> TxnState {
    txns.get(ID).expect("the id is known").state
}

#[test]
fn init_bumps_the_epoch_and_keeps_the_producer_id() {
    let mut txns = initialised();
    let (result, _) = txns.init_producer_id(ID, TIMEOUT_MS, None, 2000, 10);
    assert_eq!(result, Ok(pe(1000, 1)));
    let (result, _) = txns.init_producer_id(ID, TIMEOUT_MS, Some(pe(1000, 1)), 3000, 20);
    assert_eq!(result, Ok(pe(1000, 2)));
    // A retry of that bump (its answer lost) gets the same epoch.
    let (result, fx) = txns.init_producer_id(ID, TIMEOUT_MS, Some(pe(1000, 1)), 3000, 30);
    assert_eq!(result, Ok(pe(1000, 2)));
    assert_eq!(fx.records.len(), 1);
    // Any other expectation is a fenced producer.
    let (result, fx) = txns.init_producer_id(ID, TIMEOUT_MS, Some(pe(1000, 0)), 3000, 40);
    assert_eq!(result, Err(TxnError::ProducerFenced));
    assert!(fx.records.is_empty());
    let (result, _) = txns.init_producer_id(ID, TIMEOUT_MS, Some(pe(77, 2)), 3000, 40);
    assert_eq!(result, Err(TxnError::ProducerFenced));
}

#[test]
fn init_checks_the_id_and_the_timeout() {
    let mut txns = Transactions::new(TxnConfig::default());
    let (result, _) = txns.init_producer_id("", TIMEOUT_MS, None, 1, 0);
    assert_eq!(result, Err(TxnError::InvalidRequest));
    for timeout in [0, -1, 900_001] {
        let (result, fx) = txns.init_producer_id(ID, timeout, None, 1, 0);
        assert_eq!(
            result,
            Err(TxnError::InvalidTransactionTimeout),
            "{timeout}"
        );
        assert!(fx.records.is_empty());
    }
    let (result, _) = txns.init_producer_id(ID, 900_000, None, 1, 0);
    assert_eq!(result, Ok(pe(1, 0)));
}

#[test]
fn an_exhausted_epoch_rotates_to_a_new_producer_id() {
    let mut at_limit = TxnMetadata {
        producer_id: 1000,
        last_producer_id: NO_PRODUCER_ID,
        epoch: i16::MAX - 1,
        last_epoch: NO_PRODUCER_EPOCH,
        timeout_ms: TIMEOUT_MS,
        state: TxnState::CompleteCommit,
        partitions: Default::default(),
        groups: Default::default(),
        start_ms: -1,
        last_update_ms: 0,
        next_producer_id: NO_PRODUCER_ID,
        tv2: false,
    };
    let mut txns = Transactions::restore(
        TxnConfig::default(),
        vec![TxnRecord {
            transactional_id: ID.into(),
            value: Some(at_limit.clone()),
        }],
    );
    let (result, _) = txns.init_producer_id(ID, TIMEOUT_MS, Some(pe(1000, i16::MAX - 1)), 5000, 1);
    assert_eq!(result, Ok(pe(5000, 0)));
    at_limit = txns.get(ID).unwrap().clone();
    assert_eq!(
        (at_limit.last_producer_id, at_limit.last_epoch),
        (1000, i16::MAX - 1)
    );
    // The previous producer retrying with its exhausted epoch is not fenced.
    let (result, _) = txns.init_producer_id(ID, TIMEOUT_MS, Some(pe(1000, i16::MAX - 1)), 6000, 2);
    assert_eq!(result.map(|p| p.producer_id), Ok(5000));
}

#[test]
fn a_transaction_runs_from_empty_to_complete() {
    let mut txns = initialised();
    let producer = pe(1000, 0);
    let (result, fx) = txns.add_partitions(ID, producer, &[tp("a", 0), tp("b", 1)], 5);
    assert_eq!(result, Ok(()));
    assert_eq!(fx.records.len(), 1);
    assert_eq!(state(&txns), TxnState::Ongoing);
    assert_eq!(txns.get(ID).unwrap().start_ms, 5);
    // Partitions already in the transaction change nothing and journal nothing.
    let (result, fx) = txns.add_partitions(ID, producer, &[tp("a", 0)], 6);
    assert_eq!((result, fx.records.len()), (Ok(()), 0));
    let (result, _) = txns.add_offsets(ID, producer, "g", 7);
    assert_eq!(result, Ok(()));
    assert!(txns.writes_to(ID, producer, &tp("b", 1)));
    assert!(!txns.writes_to(ID, producer, &tp("c", 0)));

    let (result, fx) = txns.end(ID, producer, TxnResult::Commit, 8);
    assert_eq!((result, fx.records.len()), (Ok(()), 1));
    assert_eq!(state(&txns), TxnState::PrepareCommit);
    assert!(!txns.writes_to(ID, producer, &tp("b", 1)));
    // While the markers are written: another end of the same kind retries, the other kind
    // is refused, and so is a new partition.
    assert_eq!(
        txns.end(ID, producer, TxnResult::Commit, 9).0,
        Err(TxnError::ConcurrentTransactions)
    );
    assert_eq!(
        txns.end(ID, producer, TxnResult::Abort, 9).0,
        Err(TxnError::InvalidTxnState)
    );
    assert_eq!(
        txns.add_partitions(ID, producer, &[tp("c", 0)], 9).0,
        Err(TxnError::ConcurrentTransactions)
    );
    assert_eq!(
        txns.init_producer_id(ID, TIMEOUT_MS, None, 1, 9).0,
        Err(TxnError::ConcurrentTransactions)
    );

    let jobs = txns.pending_markers();
    assert_eq!(
        jobs,
        vec![MarkerJob {
            transactional_id: ID.into(),
            producer_id: 1000,
            epoch: 0,
            result: TxnResult::Commit,
            partitions: vec![tp("a", 0), tp("b", 1)],
            groups: vec!["g".into()],
        }]
    );
    assert_eq!(txns.complete(&jobs[0], 10).records.len(), 1);
    assert_eq!(state(&txns), TxnState::CompleteCommit);
    assert!(txns.pending_markers().is_empty());
    // Completing again changes nothing; ending again the same way is answered again.
    assert!(txns.complete(&jobs[0], 11).records.is_empty());
    assert_eq!(
        txns.end(ID, producer, TxnResult::Commit, 12),
        (Ok(()), TxnEffects::default())
    );
    assert_eq!(
        txns.end(ID, producer, TxnResult::Abort, 12).0,
        Err(TxnError::InvalidTxnState)
    );
    // The next transaction starts from CompleteCommit.
    assert_eq!(
        txns.add_partitions(ID, producer, &[tp("c", 0)], 13).0,
        Ok(())
    );
    assert_eq!(txns.get(ID).unwrap().partitions.len(), 1);
}

#[test]
fn requests_from_a_wrong_producer_are_refused_with_kafkas_codes() {
    let mut txns = initialised();
    let unknown = txns
        .add_partitions("other", pe(1000, 0), &[tp("a", 0)], 1)
        .0;
    assert_eq!(unknown, Err(TxnError::InvalidProducerIdMapping));
    let wrong_id = txns.add_partitions(ID, pe(999, 0), &[tp("a", 0)], 1).0;
    assert_eq!(wrong_id, Err(TxnError::InvalidProducerIdMapping));
    let old_epoch = txns.add_offsets(ID, pe(1000, -1), "g", 1).0;
    assert_eq!(old_epoch, Err(TxnError::ProducerFenced));
    assert_eq!(
        txns.end(ID, pe(1000, 0), TxnResult::Commit, 1).0,
        Err(TxnError::InvalidTxnState),
        "ending with no transaction open"
    );
    assert_eq!(
        txns.end("", pe(1000, 0), TxnResult::Commit, 1).0,
        Err(TxnError::InvalidRequest)
    );
}

#[test]
fn a_new_producer_fences_the_open_transaction_and_aborts_it() {
    let mut txns = initialised();
    assert!(txns
        .add_partitions(ID, pe(1000, 0), &[tp("a", 0)], 1)
        .0
        .is_ok());
    let (result, fx) = txns.init_producer_id(ID, TIMEOUT_MS, None, 2000, 2);
    assert_eq!(result, Err(TxnError::ConcurrentTransactions));
    assert_eq!(fx.records.len(), 1, "the fence is journaled");
    assert_eq!(state(&txns), TxnState::PrepareAbort);
    let jobs = txns.pending_markers();
    assert_eq!((jobs[0].epoch, jobs[0].result), (1, TxnResult::Abort));
    // The fenced producer cannot go on.
    assert_eq!(
        txns.end(ID, pe(1000, 0), TxnResult::Commit, 3).0,
        Err(TxnError::ProducerFenced)
    );
    txns.complete(&jobs[0], 4);
    // The retry gets the epoch after the fence.
    assert_eq!(
        txns.init_producer_id(ID, TIMEOUT_MS, None, 2000, 5).0,
        Ok(pe(1000, 2))
    );
}

#[test]
fn a_transaction_past_its_timeout_is_aborted_and_an_idle_id_expires() {
    let config = TxnConfig {
        max_timeout_ms: 900_000,
        id_expiration_ms: 1_000_000,
    };
    let mut txns = Transactions::new(config);
    assert!(txns.init_producer_id(ID, 100, None, 1000, 0).0.is_ok());
    assert!(txns
        .add_partitions(ID, pe(1000, 0), &[tp("a", 0)], 50)
        .0
        .is_ok());
    assert_eq!(txns.next_deadline_ms(), Some(150));
    assert!(txns.tick(149).records.is_empty());
    let fx = txns.tick(150);
    assert_eq!(fx.records.len(), 1);
    assert_eq!(state(&txns), TxnState::PrepareAbort);
    assert_eq!(txns.get(ID).unwrap().epoch, 1);
    assert_eq!(
        txns.next_deadline_ms(),
        None,
        "no timer while markers are pending"
    );
    let job = txns.pending_markers().remove(0);
    txns.complete(&job, 200);
    assert_eq!(txns.next_deadline_ms(), Some(1_000_200));
    let fx = txns.tick(1_000_200);
    assert_eq!(
        fx.records,
        vec![TxnRecord {
            transactional_id: ID.into(),
            value: None
        }]
    );
    assert!(txns.get(ID).is_none());
    assert_eq!(txns.next_deadline_ms(), None);
}

#[test]
fn records_round_trip_and_damage_is_refused() {
    let mut txns = initialised();
    assert!(txns
        .add_partitions(ID, pe(1000, 0), &[tp("a", 0), tp("ü-topic", 7)], 5)
        .0
        .is_ok());
    assert!(txns.add_offsets(ID, pe(1000, 0), "g", 6).0.is_ok());
    let mut records = txns.snapshot_records();
    records.push(TxnRecord {
        transactional_id: "gone".into(),
        value: None,
    });
    let bytes: Vec<u8> = records.iter().flat_map(frame).collect();
    let replay: Replay<TxnRecord> = decode_all(&bytes);
    assert_eq!(replay.records, records);
    assert_eq!((replay.valid_bytes, replay.skipped), (bytes.len(), 0));
    // A count the body cannot hold is damage, not an allocation.
    let mut body = bytes::BytesMut::new();
    records[0].encode_body(&mut body);
    let partitions_at = 1 + 4 + ID.len() + 8 + 8 + 2 + 2 + 4 + 1;
    body[partitions_at..partitions_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(TxnRecord::decode_body(body.freeze()).is_err());
}

#[tokio::test]
async fn a_prepared_transaction_survives_a_restart_and_its_markers_are_still_wanted() {
    let dir = tempfile::tempdir().unwrap();
    let coordinator =
        TxnCoordinator::start(TxnConfig::default(), Some(dir.path()), Clock::System).unwrap();
    let producer = coordinator
        .init_producer_id(ID.into(), TIMEOUT_MS, None, 1000)
        .await
        .unwrap();
    coordinator
        .add_partitions(ID.into(), producer, vec![tp("a", 0)])
        .await
        .unwrap();
    coordinator
        .end(ID.into(), producer, TxnResult::Abort)
        .await
        .unwrap();
    coordinator.stop();

    let restarted =
        TxnCoordinator::start(TxnConfig::default(), Some(dir.path()), Clock::System).unwrap();
    let jobs = restarted.pending_markers().await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].result, jobs[0].partitions.clone()),
        (TxnResult::Abort, vec![tp("a", 0)])
    );
    restarted.complete(jobs[0].clone()).await.unwrap();
    let txn = restarted.describe(ID.into()).await.unwrap().unwrap();
    assert_eq!(txn.state, TxnState::CompleteAbort);
    restarted.stop();
}

#[tokio::test]
async fn an_end_the_journal_refuses_is_not_answered_as_done_and_leaves_the_transaction_open() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(JournalFaults::default());
    let coordinator = TxnCoordinator::start_faulty(
        TxnConfig::default(),
        dir.path(),
        faults.clone(),
        Clock::System,
    )
    .unwrap();
    let producer = coordinator
        .init_producer_id(ID.into(), TIMEOUT_MS, None, 1000)
        .await
        .unwrap();
    coordinator
        .add_partitions(ID.into(), producer, vec![tp("a", 0)])
        .await
        .unwrap();
    faults.fail_writes(1);
    let ended = coordinator
        .end(ID.into(), producer, TxnResult::Commit)
        .await;
    assert_eq!(ended, Err(TxnError::CoordinatorNotAvailable));
    let txn = coordinator.describe(ID.into()).await.unwrap().unwrap();
    assert_eq!(
        txn.state,
        TxnState::Ongoing,
        "state kept what is not on disk"
    );
    assert!(coordinator.pending_markers().await.unwrap().is_empty());
    // The retry works and is what a restart finds.
    coordinator
        .end(ID.into(), producer, TxnResult::Commit)
        .await
        .unwrap();
    coordinator.stop();
    let restarted =
        TxnCoordinator::start(TxnConfig::default(), Some(dir.path()), Clock::System).unwrap();
    let jobs = restarted.pending_markers().await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].result, TxnResult::Commit);
    restarted.stop();
}
