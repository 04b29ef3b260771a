//! TLS on the SSL and SASL_SSL listeners: rustls (TLS 1.2 and 1.3, the ring provider) through
//! tokio-rustls. With a client CA, client certificates are required and the connection's
//! principal is `User:` and the certificate subject's RFC 2253 name, as Kafka's
//! `DefaultKafkaPrincipalBuilder` gives by default.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::transport::Transport;

/// The acceptor of TLS listeners, from `tls_cert`, `tls_key` and, when `verify_clients`,
/// `tls_client_ca`; `None` when no certificate is set. The errors name the file.
pub fn acceptor(config: &Config, verify_clients: bool) -> io::Result<Option<TlsAcceptor>> {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    let chain = certificates(cert, "tls_cert")?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| invalid(format!("tls_key {}: no private key ({e})", key.display())))?;
    // Deprecated in rustls 0.23.48 for its lack of post-quantum key exchange, which only the
    // aws-lc-rs provider has; that one needs cmake to build, ring a C compiler alone.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| invalid(format!("TLS: {e}")))?;
    let builder = match config.tls_client_ca.as_ref().filter(|_| verify_clients) {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for certificate in certificates(ca, "tls_client_ca")? {
                roots
                    .add(certificate)
                    .map_err(|e| invalid(format!("tls_client_ca {}: {e}", ca.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| invalid(format!("tls_client_ca {}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let server = builder
        .with_single_cert(chain, key)
        .map_err(|e| invalid(format!("tls_cert and tls_key do not go together: {e}")))?;
    Ok(Some(TlsAcceptor::from(Arc::new(server))))
}

fn certificates(path: &Path, key: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(format!("{key} {}: {e}", path.display())))?;
    if chain.is_empty() {
        return Err(invalid(format!("{key} {}: no certificate", path.display())));
    }
    Ok(chain)
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// The RFC 2253 name of the subject of the peer's certificate (the first of its chain), as
/// Java's `X500Principal.getName()`: the most specific RDN first, `,` between them, known
/// attribute types by keyword and the others as dotted OIDs.
pub fn peer_subject(stream: &TlsStream<TcpStream>) -> Option<String> {
    let certificate = stream.get_ref().1.peer_certificates()?.first()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    Some(rfc2253(parsed.subject()))
}

fn rfc2253(name: &x509_parser::x509::X509Name<'_>) -> String {
    use x509_parser::oid_registry::*;
    let keyword = |oid: &x509_parser::der_parser::oid::Oid<'_>| -> Option<&'static str> {
        [
            (OID_X509_COMMON_NAME, "CN"),
            (OID_X509_LOCALITY_NAME, "L"),
            (OID_X509_STATE_OR_PROVINCE_NAME, "ST"),
            (OID_X509_ORGANIZATION_NAME, "O"),
            (OID_X509_ORGANIZATIONAL_UNIT, "OU"),
            (OID_X509_COUNTRY_NAME, "C"),
            (OID_X509_STREET_ADDRESS, "STREET"),
            (OID_DOMAIN_COMPONENT, "DC"),
            (OID_USERID, "UID"),
        ]
        .into_iter()
        .find(|(known, _)| known == oid)
        .map(|(_, k)| k)
    };
    let mut rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attribute| {
                    let value = attribute.as_str().map(escape).unwrap_or_else(|_| {
                        // Not a string: RFC 2253's `#` and the hex of its DER.
                        let hex: String = attribute
                            .attr_value()
                            .data
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect();
                        format!("#{hex}")
                    });
                    match keyword(attribute.attr_type()) {
                        Some(k) => format!("{k}={value}"),
                        None => format!("{}={value}", attribute.attr_type().to_id_string()),
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.reverse();
    rdns.join(",")
}

/// RFC 2253 escaping of an attribute value.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A TLS connection. Waiting for input peeks at the socket under it unless rustls already
/// holds decrypted bytes; an idle connection then holds only rustls's record buffer, which
/// it shrinks to 4 KiB once it is empty (rustls 0.23's deframer), and no plaintext.
impl Transport for TlsStream<TcpStream> {
    async fn wait_for_input(&mut self) -> io::Result<()> {
        let (socket, connection) = self.get_mut();
        let state = connection
            .process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() {
            return Ok(());
        }
        socket.peek(&mut [0u8; 1]).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_escape_as_rfc_2253_says() {
        assert_eq!(escape("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape("#x "), "\\#x\\ ");
        assert_eq!(escape("plain"), "plain");
    }
}
