//! The SASL state of a connection on a SASL listener, as Kafka's `SaslServerAuthenticator`:
//! ApiVersions and SaslHandshake first, then SaslAuthenticate until the mechanism is done,
//! then the other APIs. Any other request before that closes the connection, and so does a
//! failed authentication once its answer is sent. With `connections_max_reauth_ms` set, a
//! session lasts that long (less for an OAUTHBEARER token that expires sooner); the client
//! re-authenticates on the same connection (KIP-368) with the same mechanism and principal,
//! and a connection whose session expired is closed on its next request other than
//! SaslHandshake.
//!
//! SaslHandshake v0 is followed, as Kafka does it, by the mechanism's tokens as bare
//! size-prefixed frames (no request header, no SaslAuthenticate), each answered by a bare
//! frame; a failure there can only close the connection.

use crate::broker::Broker;
use crate::session::{Principal, Session};

use super::oauthbearer;
use super::plain;
use super::scram::{ScramError, ScramExchange, ScramMechanism, ScramStep};

/// The most a client may send in one request before it has authenticated (Kafka's
/// `sasl.server.max.receive.size`).
pub const UNAUTHENTICATED_REQUEST_BYTES_MAX: usize = 512 * 1024;

/// Kafka's API keys that matter here (the wire layer's `ApiKey` stays out of this module).
pub const API_VERSIONS: i16 = 18;
pub const SASL_HANDSHAKE: i16 = 17;
pub const SASL_AUTHENTICATE: i16 = 36;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Scram(ScramMechanism),
    OAuthBearer,
}

impl Mechanism {
    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            "OAUTHBEARER" => Some(Mechanism::OAuthBearer),
            other => ScramMechanism::from_name(other).map(Mechanism::Scram),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(m) => m.name(),
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

/// Where a connection is in its authentication.
#[derive(Debug, Clone)]
pub enum SaslState {
    /// Not a SASL listener: nothing to authenticate.
    Off,
    /// Waiting for SaslHandshake.
    AwaitingHandshake,
    /// Handshake done; the mechanism's exchange is under way.
    Authenticating {
        mechanism: Mechanism,
        scram: Option<Box<ScramExchange>>,
        /// After SaslHandshake v0: the tokens come as bare frames.
        raw_tokens: bool,
        /// The principal of the session being renewed (KIP-368), which must not change.
        reauthenticating: Option<Principal>,
    },
    Authenticated {
        mechanism: Mechanism,
        /// When the session ends unless renewed (ms, the broker's clock); `None`: never.
        expires_at_ms: Option<i64>,
    },
}

impl SaslState {
    /// Whether a request of `api_key` may run now; `Err` with the reason to close.
    pub fn admit(&self, api_key: i16, now_ms: i64) -> Result<(), String> {
        match self {
            SaslState::Off => Ok(()),
            SaslState::AwaitingHandshake => {
                if api_key == API_VERSIONS || api_key == SASL_HANDSHAKE {
                    Ok(())
                } else {
                    Err(format!(
                        "request of api key {api_key} before SASL authentication"
                    ))
                }
            }
            SaslState::Authenticating { raw_tokens, .. } => {
                if api_key == SASL_AUTHENTICATE && !raw_tokens {
                    Ok(())
                } else {
                    Err(format!(
                        "request of api key {api_key} while SASL authentication is under way"
                    ))
                }
            }
            SaslState::Authenticated { expires_at_ms, .. } => match expires_at_ms {
                Some(at) if *at <= now_ms && api_key != SASL_HANDSHAKE => Err(
                    "the SASL session expired without re-authentication (connections_max_reauth_ms)"
                        .to_string(),
                ),
                _ => Ok(()),
            },
        }
    }

    /// Whether the next frame is a bare SASL token (after SaslHandshake v0).
    pub fn expects_raw_token(&self) -> bool {
        matches!(
            self,
            SaslState::Authenticating {
                raw_tokens: true,
                ..
            }
        )
    }

    pub fn is_authenticated(&self) -> bool {
        matches!(self, SaslState::Off | SaslState::Authenticated { .. })
    }
}

/// A SaslHandshake's answer: the error code (0, UNSUPPORTED_SASL_MECHANISM or
/// ILLEGAL_SASL_STATE) and the enabled mechanisms.
pub struct HandshakeAnswer {
    pub error_code: i16,
    pub mechanisms: Vec<String>,
}

pub const NONE: i16 = 0;
pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
pub const ILLEGAL_SASL_STATE: i16 = 34;
pub const SASL_AUTHENTICATION_FAILED: i16 = 58;

pub fn handshake(
    broker: &Broker,
    session: &mut Session,
    version: i16,
    requested: &str,
) -> HandshakeAnswer {
    let enabled = broker.config().sasl_enabled_mechanisms.clone();
    let answer = |error_code| HandshakeAnswer {
        error_code,
        mechanisms: enabled.clone(),
    };
    let reauth_on = broker.config().connections_max_reauth_ms > 0;
    let previous = match session.sasl() {
        SaslState::AwaitingHandshake => None,
        // A renewal (KIP-368): only with re-authentication on, and with SaslAuthenticate.
        SaslState::Authenticated { mechanism, .. } if reauth_on && version >= 1 => Some(*mechanism),
        // Kafka's request handler: a handshake out of place on a plain or authenticated
        // connection.
        _ => return answer(ILLEGAL_SASL_STATE),
    };
    let mechanism =
        Mechanism::from_name(requested).filter(|m| enabled.iter().any(|e| e == m.name()));
    let Some(mechanism) = mechanism else {
        tracing::info!(peer = %session.peer(), mechanism = requested, "unsupported SASL mechanism");
        session.close_after_response(format!(
            "SASL mechanism {requested:?} is not enabled ({})",
            enabled.join(", ")
        ));
        return answer(UNSUPPORTED_SASL_MECHANISM);
    };
    if previous.is_some_and(|p| p != mechanism) {
        session.close_after_response(format!(
            "re-authentication with {} instead of {}",
            mechanism.name(),
            previous.map_or("", Mechanism::name)
        ));
        return answer(ILLEGAL_SASL_STATE);
    }
    let reauthenticating = previous.map(|_| session.principal().clone());
    session.set_sasl(SaslState::Authenticating {
        mechanism,
        scram: None,
        raw_tokens: version == 0,
        reauthenticating,
    });
    answer(NONE)
}

/// A SaslAuthenticate's answer.
pub struct AuthenticateAnswer {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub auth_bytes: Vec<u8>,
    pub session_lifetime_ms: i64,
}

impl AuthenticateAnswer {
    fn error(error_code: i16, message: &str) -> AuthenticateAnswer {
        AuthenticateAnswer {
            error_code,
            error_message: Some(message.to_string()),
            auth_bytes: Vec::new(),
            session_lifetime_ms: 0,
        }
    }
}

/// One SaslAuthenticate (or a bare token after SaslHandshake v0).
pub fn authenticate(broker: &Broker, session: &mut Session, token: &[u8]) -> AuthenticateAnswer {
    let SaslState::Authenticating {
        mechanism,
        scram,
        raw_tokens,
        reauthenticating,
    } = session.sasl().clone()
    else {
        // Kafka's request handler, for SaslAuthenticate out of place.
        return AuthenticateAnswer::error(
            ILLEGAL_SASL_STATE,
            "SaslAuthenticate is not expected now",
        );
    };
    let now_ms = broker.clock().now_ms();
    let peer = session.peer();
    let listener = session.listener().to_string();
    let failed = |session: &mut Session, user: &str, why: &str| {
        tracing::info!(%peer, listener = %listener, mechanism = mechanism.name(), user, reason = why, "SASL authentication failed");
        broker
            .metrics()
            .authentication(&listener, mechanism.name(), false);
        session.close_after_response(format!("SASL authentication failed for {user:?}: {why}"));
        // Kafka's message for a bad user or password alike: it does not say which.
        AuthenticateAnswer::error(
            SASL_AUTHENTICATION_FAILED,
            &format!("Authentication failed during authentication due to invalid credentials with SASL mechanism {}", mechanism.name()),
        )
    };
    let (user, final_bytes, token_expires_ms) = match mechanism {
        Mechanism::Plain => match plain::parse(token) {
            Err(why) => return failed(session, "", &why),
            Ok((user, password)) => {
                // PBKDF2 of up to 16384 iterations: CPU work off the other connections' way.
                let matches = crate::blocking::run(|| {
                    broker
                        .credentials()
                        .any(&user)
                        .is_some_and(|(m, c)| c.matches_password(m, &password))
                });
                drop(password);
                if !matches {
                    return failed(session, &user, "invalid user or password");
                }
                (user, Vec::new(), None)
            }
        },
        Mechanism::Scram(hash) => {
            let exchange = scram.map_or(ScramExchange::Start, |s| *s);
            match exchange.step(hash, token, |user| broker.credentials().get(user, hash)) {
                Ok(ScramStep::Challenge(challenge, next)) => {
                    session.set_sasl(SaslState::Authenticating {
                        mechanism,
                        scram: Some(Box::new(next)),
                        raw_tokens,
                        reauthenticating,
                    });
                    return AuthenticateAnswer {
                        error_code: NONE,
                        error_message: None,
                        auth_bytes: challenge,
                        session_lifetime_ms: 0,
                    };
                }
                Ok(ScramStep::Done { user, server_final }) => (user, server_final, None),
                Err(ScramError::UnknownUser(user)) => {
                    return failed(session, &user, "unknown user")
                }
                Err(ScramError::BadProof(user)) => {
                    return failed(session, &user, "invalid password")
                }
                Err(ScramError::Malformed(why)) => return failed(session, "", &why),
            }
        }
        Mechanism::OAuthBearer => match oauthbearer::validate(token, now_ms) {
            // Kafka first sends RFC 7628's error challenge and fails on the client's answer;
            // failing at once gives the client the same error one round trip sooner.
            Err(why) => return failed(session, "", &why),
            Ok(token) => (token.principal, Vec::new(), Some(token.expires_at_ms)),
        },
    };
    let principal = Principal::user(&user);
    if let Some(previous) = &reauthenticating {
        if *previous != principal {
            return failed(
                session,
                &user,
                "re-authentication may not change the principal",
            );
        }
    }
    // Kafka's ReauthInfo: the session ends at the earlier of the re-authentication period
    // and the credential's own expiry, and only when re-authentication is on.
    let reauth_ms = broker.config().connections_max_reauth_ms;
    let expires_at_ms = (reauth_ms > 0).then(|| {
        let by_setting = now_ms.saturating_add(i64::try_from(reauth_ms).unwrap_or(i64::MAX));
        token_expires_ms.map_or(by_setting, |t| t.min(by_setting))
    });
    let session_lifetime_ms = expires_at_ms.map_or(0, |at| (at - now_ms).max(0));
    tracing::info!(
        peer = %session.peer(),
        listener = session.listener(),
        mechanism = mechanism.name(),
        principal = %principal,
        reauthentication = reauthenticating.is_some(),
        "SASL authentication succeeded"
    );
    broker
        .metrics()
        .authentication(session.listener(), mechanism.name(), true);
    session.set_principal(principal);
    session.set_sasl(SaslState::Authenticated {
        mechanism,
        expires_at_ms,
    });
    AuthenticateAnswer {
        error_code: NONE,
        error_message: None,
        auth_bytes: final_bytes,
        session_lifetime_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_sasl_requests_run_before_authentication_and_expiry_closes() {
        let waiting = SaslState::AwaitingHandshake;
        assert!(waiting.admit(API_VERSIONS, 0).is_ok());
        assert!(waiting.admit(SASL_HANDSHAKE, 0).is_ok());
        assert!(waiting.admit(SASL_AUTHENTICATE, 0).is_err());
        assert!(waiting.admit(0, 0).is_err(), "Produce");
        assert!(waiting.admit(3, 0).is_err(), "Metadata");
        let done = SaslState::Authenticated {
            mechanism: Mechanism::Plain,
            expires_at_ms: Some(100),
        };
        assert!(done.admit(0, 99).is_ok());
        assert!(done.admit(0, 100).is_err());
        assert!(
            done.admit(SASL_HANDSHAKE, 100).is_ok(),
            "a renewal may start"
        );
    }
}
