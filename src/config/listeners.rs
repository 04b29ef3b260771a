//! Listener settings: `PROTOCOL://HOST:PORT`, as Kafka's `listeners` and
//! `advertised.listeners` with the default `listener.security.protocol.map` (each listener is
//! named after its protocol, so a protocol names one listener at most).

use std::fmt;

/// What a listener runs under the Kafka protocol, as Kafka's `SecurityProtocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    /// Its name, which is also the name of its listener.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn parse(name: &str) -> Option<SecurityProtocol> {
        SecurityProtocol::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `PROTOCOL://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerAddress {
    pub protocol: SecurityProtocol,
    /// `HOST:PORT`, as written.
    pub address: String,
}

impl ListenerAddress {
    /// Parses `PROTOCOL://HOST:PORT`; the error says what is wrong with it.
    pub fn parse(spec: &str) -> Result<ListenerAddress, String> {
        let (protocol, address) = spec
            .split_once("://")
            .ok_or_else(|| format!("{spec:?} is not PROTOCOL://HOST:PORT"))?;
        let protocol = SecurityProtocol::parse(protocol).ok_or_else(|| {
            format!(
                "{spec:?}: unknown protocol {protocol:?} (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)"
            )
        })?;
        if super::split_host_port(address).is_none() {
            return Err(format!("{spec:?}: the address must be HOST:PORT"));
        }
        Ok(ListenerAddress {
            protocol,
            address: address.to_string(),
        })
    }
}

impl fmt::Display for ListenerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.protocol, self.address)
    }
}

/// A list setting from TOML (an array) or from the environment (one string, comma-separated).
pub(super) fn string_or_list<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: From<Vec<String>>,
{
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(T::from(
        match <OneOrMany as serde::Deserialize>::deserialize(deserializer)? {
            OneOrMany::One(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            OneOrMany::Many(v) => v,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_parse_with_their_protocol_and_address() {
        let l = ListenerAddress::parse("SASL_SSL://0.0.0.0:9094").unwrap();
        assert_eq!(l.protocol, SecurityProtocol::SaslSsl);
        assert_eq!(l.address, "0.0.0.0:9094");
        assert_eq!(l.to_string(), "SASL_SSL://0.0.0.0:9094");
        assert!(ListenerAddress::parse("TLS://h:1")
            .unwrap_err()
            .contains("unknown protocol"));
        assert!(ListenerAddress::parse("h:1").is_err());
        assert!(ListenerAddress::parse("SSL://h").is_err());
    }
}
