//! SaslHandshake (key 17, v0–1): the client picks a mechanism. Answered by the session's SASL
//! state machine (`security::sasl`), which the connection's own session lets change; the
//! dispatch in [`super::handle`] sends it there before the table's handlers.

use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::security::sasl;
use crate::session::{RequestContext, Session};

/// The handshake, on the connection's session.
pub fn answer(
    broker: &Broker,
    session: &mut Session,
    version: i16,
    request: SaslHandshakeRequest,
) -> SaslHandshakeResponse {
    let answer = sasl::handshake(broker, session, version, request.mechanism.as_str());
    SaslHandshakeResponse::default()
        .with_error_code(answer.error_code)
        .with_mechanisms(answer.mechanisms.iter().map(|m| str_bytes(m)).collect())
}

/// Only reached if the dispatch did not route the request to [`answer`]: the session cannot
/// change through a shared context, so the handshake is refused as out of place.
pub async fn handle(
    broker: &Broker,
    _context: &RequestContext<'_>,
    _version: i16,
    _request: SaslHandshakeRequest,
) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default()
        .with_error_code(sasl::ILLEGAL_SASL_STATE)
        .with_mechanisms(
            broker
                .config()
                .sasl_enabled_mechanisms
                .iter()
                .map(|m| str_bytes(m))
                .collect(),
        )
}

impl ErrorCodes for SaslHandshakeResponse {
    fn error_codes(&self) -> Vec<i16> {
        vec![self.error_code]
    }
}
