//! Transaction version 2 (KIP-890) in the coordinator's rules: the epoch bump at every end,
//! its exhaustion handing over to a new producer id, retries of an end and fencing.

use super::records::TxnRecord;
use super::state::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID};
use super::*;
use crate::coordinator::JournalRecord;

const ID: &str = "tx-2";
const TIMEOUT_MS: i32 = 60_000;
const MAX_MINUS_1: i16 = i16::MAX - 1;

fn pe(producer_id: i64, epoch: i16) -> ProducerIdAndEpoch {
    ProducerIdAndEpoch { producer_id, epoch }
}

fn tp(topic: &str, partition: i32) -> (String, i32) {
    (topic.to_string(), partition)
}

/// A machine with `ID` at producer 1000, epoch `epoch`, its transaction open on a-0.
fn ongoing_at(epoch: i16) -> Transactions {
    let txn = TxnMetadata {
        producer_id: 1000,
        last_producer_id: NO_PRODUCER_ID,
        epoch,
        last_epoch: NO_PRODUCER_EPOCH,
        timeout_ms: TIMEOUT_MS,
        state: TxnState::Empty,
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
            value: Some(txn),
        }],
    );
    let (added, fx) = txns.add_partitions(ID, pe(1000, epoch), &[tp("a", 0)], 1);
    assert_eq!((added, fx.records.len()), (Ok(()), 1));
    txns
}

fn end(
    txns: &mut Transactions,
    producer: ProducerIdAndEpoch,
    result: TxnResult,
    fresh_producer_id: i64,
) -> Result<ProducerIdAndEpoch, TxnError> {
    txns.end_txn(ID, producer, result, true, fresh_producer_id, 10)
        .0
}

/// Writes the markers of the one prepared transaction and returns its job.
fn complete(txns: &mut Transactions) -> MarkerJob {
    let mut jobs = txns.pending_markers();
    assert_eq!(jobs.len(), 1);
    let job = jobs.remove(0);
    assert_eq!(txns.complete(&job, 20).records.len(), 1);
    job
}

#[test]
fn every_end_bumps_the_epoch_and_its_markers_carry_the_new_one() {
    let mut txns = ongoing_at(0);
    let (ended, fx) = txns.end_txn(ID, pe(1000, 0), TxnResult::Commit, true, NO_PRODUCER_ID, 5);
    assert_eq!((ended, fx.records.len()), (Ok(pe(1000, 1)), 1));
    let txn = txns.get(ID).unwrap();
    assert_eq!(
        (txn.state, txn.epoch, txn.last_epoch),
        (TxnState::PrepareCommit, 1, 0)
    );
    let job = complete(&mut txns);
    assert_eq!((job.producer_id, job.epoch), (1000, 1));
    assert_eq!(job.partitions, vec![tp("a", 0)]);
    assert_eq!(txns.get(ID).unwrap().state, TxnState::CompleteCommit);
    // The next transaction runs at the bumped epoch; the old one is fenced.
    assert_eq!(
        txns.add_partitions(ID, pe(1000, 0), &[tp("a", 0)], 30).0,
        Err(TxnError::ProducerFenced)
    );
    assert_eq!(
        txns.add_partitions(ID, pe(1000, 1), &[tp("b", 0)], 30).0,
        Ok(())
    );
    assert!(!txns.writes_to(ID, pe(1000, 1), &tp("a", 0)));
    assert!(txns.writes_to(ID, pe(1000, 1), &tp("b", 0)));
    assert_eq!(
        end(&mut txns, pe(1000, 1), TxnResult::Abort, NO_PRODUCER_ID),
        Ok(pe(1000, 2))
    );
    let job = complete(&mut txns);
    assert_eq!((job.epoch, job.result), (2, TxnResult::Abort));
}

#[test]
fn a_retried_end_is_answered_with_the_bumped_epoch() {
    let mut txns = ongoing_at(3);
    assert_eq!(
        end(&mut txns, pe(1000, 3), TxnResult::Commit, NO_PRODUCER_ID),
        Ok(pe(1000, 4))
    );
    // While the markers are written the retry waits; the other result is refused.
    assert_eq!(
        end(&mut txns, pe(1000, 3), TxnResult::Commit, NO_PRODUCER_ID),
        Err(TxnError::ConcurrentTransactions)
    );
    assert_eq!(
        end(&mut txns, pe(1000, 3), TxnResult::Abort, NO_PRODUCER_ID),
        Err(TxnError::InvalidTxnState)
    );
    complete(&mut txns);
    let (retried, fx) = txns.end_txn(ID, pe(1000, 3), TxnResult::Commit, true, NO_PRODUCER_ID, 30);
    assert_eq!(retried, Ok(pe(1000, 4)));
    assert!(fx.records.is_empty(), "a retry changes nothing");
    assert_eq!(
        end(&mut txns, pe(1000, 3), TxnResult::Abort, NO_PRODUCER_ID),
        Err(TxnError::InvalidTxnState)
    );
    // At the new epoch nothing is open: committing it is refused, aborting it is allowed
    // (the producer cannot know whether its produce joined a partition) and bumps again.
    assert_eq!(
        end(&mut txns, pe(1000, 4), TxnResult::Commit, NO_PRODUCER_ID),
        Err(TxnError::InvalidTxnState)
    );
    assert_eq!(
        end(&mut txns, pe(1000, 4), TxnResult::Abort, NO_PRODUCER_ID),
        Ok(pe(1000, 5))
    );
    let job = complete(&mut txns);
    assert!(job.partitions.is_empty());
    assert_eq!(txns.get(ID).unwrap().state, TxnState::CompleteAbort);
}

#[test]
fn an_exhausted_epoch_hands_over_to_a_new_producer_id_once_the_markers_are_written() {
    let mut txns = ongoing_at(MAX_MINUS_1);
    assert_eq!(
        end(
            &mut txns,
            pe(1000, MAX_MINUS_1),
            TxnResult::Commit,
            NO_PRODUCER_ID
        ),
        Err(TxnError::NeedsProducerId)
    );
    assert_eq!(txns.get(ID).unwrap().state, TxnState::Ongoing);
    assert_eq!(
        end(&mut txns, pe(1000, MAX_MINUS_1), TxnResult::Commit, 5000),
        Ok(pe(5000, 0))
    );
    // The markers fence the old producer id at the last epoch.
    let job = complete(&mut txns);
    assert_eq!((job.producer_id, job.epoch), (1000, i16::MAX));
    let txn = txns.get(ID).unwrap();
    assert_eq!(
        (
            txn.producer_id,
            txn.epoch,
            txn.last_producer_id,
            txn.next_producer_id
        ),
        (5000, 0, 1000, NO_PRODUCER_ID)
    );
    // A retry with the old id and its exhausted epoch gets the new producer again.
    assert_eq!(
        end(
            &mut txns,
            pe(1000, MAX_MINUS_1),
            TxnResult::Commit,
            NO_PRODUCER_ID
        ),
        Ok(pe(5000, 0))
    );
    assert_eq!(
        end(&mut txns, pe(1000, 7), TxnResult::Commit, NO_PRODUCER_ID),
        Err(TxnError::InvalidProducerIdMapping)
    );
    assert_eq!(
        txns.add_partitions(ID, pe(5000, 0), &[tp("a", 0)], 30).0,
        Ok(())
    );
}

#[test]
fn wrong_producers_are_fenced_and_a_timed_out_transaction_is_not_retried() {
    let mut txns = ongoing_at(0);
    assert_eq!(
        end(&mut txns, pe(1000, 1), TxnResult::Commit, NO_PRODUCER_ID),
        Err(TxnError::ProducerFenced),
        "an epoch ahead of the coordinator's"
    );
    assert_eq!(
        end(&mut txns, pe(999, 0), TxnResult::Commit, NO_PRODUCER_ID),
        Err(TxnError::InvalidProducerIdMapping)
    );
    // The coordinator aborts the transaction past its timeout with a bumped epoch: the
    // producer's commit at its epoch is fenced, not taken for a retry.
    let fx = txns.tick(1 + i64::from(TIMEOUT_MS));
    assert_eq!(fx.records.len(), 1);
    assert_eq!(
        end(&mut txns, pe(1000, 0), TxnResult::Commit, NO_PRODUCER_ID),
        Err(TxnError::ProducerFenced)
    );
    let job = complete(&mut txns);
    assert_eq!((job.epoch, job.result), (1, TxnResult::Abort));
    assert_eq!(
        end(&mut txns, pe(1000, 0), TxnResult::Abort, NO_PRODUCER_ID),
        Err(TxnError::ProducerFenced)
    );
    // A new producer takes the id over at the next epoch.
    assert_eq!(
        txns.init_producer_id(ID, TIMEOUT_MS, None, 1, 40).0,
        Ok(pe(1000, 2))
    );
}

#[test]
fn version_2_state_is_journaled_and_older_records_replay_as_version_1() {
    let mut txns = ongoing_at(MAX_MINUS_1);
    assert!(end(&mut txns, pe(1000, MAX_MINUS_1), TxnResult::Abort, 5000).is_ok());
    let record = txns.snapshot_records().remove(0);
    let mut body = bytes::BytesMut::new();
    record.encode_body(&mut body);
    let decoded = TxnRecord::decode_body(body.clone().freeze()).unwrap();
    assert_eq!(decoded, record);
    let txn = decoded.value.unwrap();
    assert_eq!((txn.next_producer_id, txn.tv2), (5000, true));
    // A record of an older Sluice ends at its last update time.
    body.truncate(body.len() - 9);
    let old = TxnRecord::decode_body(body.freeze())
        .unwrap()
        .value
        .unwrap();
    assert_eq!((old.next_producer_id, old.tv2), (NO_PRODUCER_ID, false));
    assert_eq!(old.epoch, i16::MAX);
}
