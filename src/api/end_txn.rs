//! EndTxn (key 26, v0–4): commit or abort the open transaction. Answered once the
//! coordinator has written the prepared state; the markers follow in the background, and
//! the producer's next transaction waits (CONCURRENT_TRANSACTIONS) until they are written.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use super::txn_errors::code_of;
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;
use crate::txn::{ProducerIdAndEpoch, TxnResult};

/// From this version a fenced producer is told PRODUCER_FENCED.
const PRODUCER_FENCED_VERSION: i16 = 2;

pub async fn handle(
    broker: &Broker,
    _context: &RequestContext<'_>,
    version: i16,
    request: EndTxnRequest,
) -> EndTxnResponse {
    let producer = ProducerIdAndEpoch {
        producer_id: request.producer_id.0,
        epoch: request.producer_epoch,
    };
    let result = if request.committed {
        TxnResult::Commit
    } else {
        TxnResult::Abort
    };
    let ended = broker
        .txns()
        .end(request.transactional_id.to_string(), producer, result)
        .await;
    EndTxnResponse::default()
        .with_error_code(code_of(&ended, version >= PRODUCER_FENCED_VERSION))
        .with_producer_id(request.producer_id)
        .with_producer_epoch(request.producer_epoch)
}

impl ErrorCodes for EndTxnResponse {
    fn error_codes(&self) -> Vec<i16> {
        vec![self.error_code]
    }
}
