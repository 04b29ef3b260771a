//! SaslAuthenticate (key 36, v0–2): one step of the mechanism chosen by SaslHandshake.
//! Answered by the session's SASL state machine (`security::sasl`); v1+ carries the session's
//! lifetime for re-authentication (KIP-368).

use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::security::sasl;
use crate::session::{RequestContext, Session};

/// SaslAuthenticate carries the session's lifetime from this version on.
const SESSION_LIFETIME_FIRST_VERSION: i16 = 1;

/// One authentication step, on the connection's session.
pub fn answer(
    broker: &Broker,
    session: &mut Session,
    version: i16,
    request: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    let answer = sasl::authenticate(broker, session, &request.auth_bytes);
    let response = SaslAuthenticateResponse::default()
        .with_error_code(answer.error_code)
        .with_error_message(answer.error_message.as_deref().map(str_bytes))
        .with_auth_bytes(Bytes::from(answer.auth_bytes));
    if version >= SESSION_LIFETIME_FIRST_VERSION {
        response.with_session_lifetime_ms(answer.session_lifetime_ms)
    } else {
        response
    }
}

/// Only reached if the dispatch did not route the request to [`answer`]: refused as out of
/// place, as Kafka's request handler does.
pub async fn handle(
    _broker: &Broker,
    _context: &RequestContext<'_>,
    _version: i16,
    _request: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(sasl::ILLEGAL_SASL_STATE)
        .with_error_message(Some(str_bytes("SaslAuthenticate is not expected now")))
}

impl ErrorCodes for SaslAuthenticateResponse {
    fn error_codes(&self) -> Vec<i16> {
        vec![self.error_code]
    }
}
