//! Who is on the other end of a connection, and what each of its requests runs with.
//!
//! A [`Session`] lives as long as its connection: the listener it came in on, the peer's
//! address, its principal (anonymous until TLS or SASL authenticates it), its SASL state
//! (`security::sasl`) and the client software it named in ApiVersions. A [`RequestContext`]
//! is what a handler sees of one request: the session plus the request header's client id.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Mutex;

use crate::broker::fetch_memory::Reservation;
use crate::config::SecurityProtocol;
use crate::security::sasl::SaslState;

/// The name Kafka gives a listener without TLS or SASL.
pub const PLAINTEXT_LISTENER: &str = "PLAINTEXT";

/// An authenticated identity, as Kafka writes it: `type:name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    principal_type: String,
    name: String,
}

impl Principal {
    /// A principal of `principal_type` (Kafka's is `User`) named `name`.
    pub fn new(principal_type: &str, name: &str) -> Principal {
        Principal {
            principal_type: principal_type.to_string(),
            name: name.to_string(),
        }
    }

    /// `User:name`, the principal SASL and TLS authentication give.
    pub fn user(name: &str) -> Principal {
        Principal::new("User", name)
    }

    /// Kafka's principal for a connection that did not authenticate: `User:ANONYMOUS`.
    pub fn anonymous() -> Principal {
        Principal {
            principal_type: "User".to_string(),
            name: "ANONYMOUS".to_string(),
        }
    }

    pub fn principal_type(&self) -> &str {
        &self.principal_type
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

/// The client library a connection named in ApiVersions v3+ (`client_software_name`,
/// `client_software_version`), e.g. `librdkafka` `2.3.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSoftware {
    pub name: String,
    pub version: String,
}

/// One connection's state beyond its bytes.
#[derive(Debug, Clone)]
pub struct Session {
    listener: String,
    peer: SocketAddr,
    principal: Principal,
    /// Unknown until an ApiVersions v3+ request names it; kept for the later requests.
    client_software: Option<ClientSoftware>,
    /// Where the connection is in its SASL authentication ([`SaslState::Off`] on a listener
    /// without SASL).
    sasl: SaslState,
    /// Set when the connection must close once the response in hand is written (a failed
    /// authentication), with the reason.
    closing: Option<String>,
}

impl Session {
    /// A new connection from `peer` on `listener` (e.g. [`PLAINTEXT_LISTENER`]): anonymous,
    /// its client software not yet known.
    /// On a SASL listener (named after its protocol) it must authenticate first.
    pub fn new(listener: &str, peer: SocketAddr) -> Session {
        let sasl = match SecurityProtocol::parse(listener) {
            Some(protocol) if protocol.uses_sasl() => SaslState::AwaitingHandshake,
            _ => SaslState::Off,
        };
        Session {
            listener: listener.to_string(),
            peer,
            principal: Principal::anonymous(),
            client_software: None,
            sasl,
            closing: None,
        }
    }

    pub fn sasl(&self) -> &SaslState {
        &self.sasl
    }

    pub fn set_sasl(&mut self, state: SaslState) {
        self.sasl = state;
    }

    /// Closes the connection once the current response is written.
    pub fn close_after_response(&mut self, reason: String) {
        self.closing = Some(reason);
    }

    /// The reason to close the connection now that its response is out, if there is one.
    pub fn take_closing(&mut self) -> Option<String> {
        self.closing.take()
    }

    pub fn listener(&self) -> &str {
        &self.listener
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn client_software(&self) -> Option<&ClientSoftware> {
        self.client_software.as_ref()
    }

    /// Who the connection is from now on, once it has authenticated.
    pub fn set_principal(&mut self, principal: Principal) {
        self.principal = principal;
    }

    /// What an ApiVersions v3+ request said the client is; a later one replaces it.
    pub fn remember_client_software(&mut self, name: &str, version: &str) {
        self.client_software = Some(ClientSoftware {
            name: name.to_string(),
            version: version.to_string(),
        });
    }
}

/// What a handler knows about the request beyond its body. Borrowed: building one for each
/// request costs no allocation.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    session: &'a Session,
    client_id: &'a str,
    /// Where a handler leaves the fetch memory its response holds, for the connection to give
    /// back once the response is written; without one it is given back when the handler ends.
    held: Option<&'a HeldMemory>,
}

/// The fetch memory one response holds until it is written.
pub type HeldMemory = Mutex<Option<Reservation>>;

impl<'a> RequestContext<'a> {
    /// The context of a request of `session` whose header carried `client_id` (empty when
    /// the header had none).
    pub fn new(session: &'a Session, client_id: &'a str) -> RequestContext<'a> {
        RequestContext {
            session,
            client_id,
            held: None,
        }
    }

    /// As [`new`](Self::new), with `held` to receive what the response holds.
    pub fn holding(
        session: &'a Session,
        client_id: &'a str,
        held: &'a HeldMemory,
    ) -> RequestContext<'a> {
        RequestContext {
            session,
            client_id,
            held: Some(held),
        }
    }

    /// Keeps `memory` until the response is written.
    pub fn hold(&self, memory: Reservation) {
        if let Some(held) = self.held {
            *held.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(memory);
        }
    }

    pub fn session(&self) -> &'a Session {
        self.session
    }

    pub fn client_id(&self) -> &'a str {
        self.client_id
    }

    pub fn client_software(&self) -> Option<&'a ClientSoftware> {
        self.session.client_software()
    }

    pub fn peer(&self) -> SocketAddr {
        self.session.peer()
    }

    pub fn listener(&self) -> &'a str {
        self.session.listener()
    }

    pub fn principal(&self) -> &'a Principal {
        self.session.principal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_session_is_anonymous_and_remembers_the_client_software_it_is_told() {
        let peer: SocketAddr = "10.1.2.3:4567".parse().unwrap();
        let mut session = Session::new(PLAINTEXT_LISTENER, peer);
        assert_eq!(session.principal().to_string(), "User:ANONYMOUS");
        assert_eq!(session.client_software(), None);
        session.remember_client_software("librdkafka", "2.3.0");
        let context = RequestContext::new(&session, "my-app");
        assert_eq!(context.client_id(), "my-app");
        assert_eq!(context.peer(), peer);
        assert_eq!(context.listener(), "PLAINTEXT");
        assert_eq!(
            context.client_software(),
            Some(&ClientSoftware {
                name: "librdkafka".into(),
                version: "2.3.0".into()
            })
        );
    }
}
