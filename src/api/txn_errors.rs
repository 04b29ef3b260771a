//! The transaction coordinator's errors as Kafka error codes, shared by the transactional
//! APIs. Before PRODUCER_FENCED existed (KIP-588) a fenced producer was told
//! INVALID_PRODUCER_EPOCH; each API says from which version its clients know the new code.

use kafka_protocol::ResponseError;

use crate::txn::TxnError;

pub fn txn_error_code(error: TxnError, knows_producer_fenced: bool) -> i16 {
    let error = match error {
        TxnError::InvalidRequest => ResponseError::InvalidRequest,
        TxnError::InvalidTransactionTimeout => ResponseError::InvalidTransactionTimeout,
        TxnError::ConcurrentTransactions => ResponseError::ConcurrentTransactions,
        TxnError::ProducerFenced if knows_producer_fenced => ResponseError::ProducerFenced,
        TxnError::ProducerFenced => ResponseError::InvalidProducerEpoch,
        TxnError::InvalidProducerIdMapping => ResponseError::InvalidProducerIdMapping,
        TxnError::InvalidTxnState => ResponseError::InvalidTxnState,
        TxnError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        TxnError::UnknownServerError => ResponseError::UnknownServerError,
        TxnError::TransactionalIdNotFound => ResponseError::TransactionalIdNotFound,
        // Asked again inside the coordinator; never answered as such.
        TxnError::NeedsProducerId => ResponseError::ConcurrentTransactions,
    };
    error.code()
}

/// `result`'s error code (0 for success).
pub fn code_of<T>(result: &Result<T, TxnError>, knows_producer_fenced: bool) -> i16 {
    match result {
        Ok(_) => 0,
        Err(e) => txn_error_code(*e, knows_producer_fenced),
    }
}
