//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the server's side, as Kafka's
//! `ScramSaslServer` and `ScramFormatter`: credentials are a salt, an iteration count and
//! the stored and server keys derived from the password; the password itself is never kept.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// The fewest and most PBKDF2 iterations a credential may have (Kafka's bounds).
pub const ITERATIONS_MIN: i32 = 4096;
pub const ITERATIONS_MAX: i32 = 16384;
/// Iterations of the credentials made from `sasl_users` passwords.
pub const ITERATIONS_DEFAULT: i32 = 4096;
/// Bytes of a generated salt, and of the server's part of a nonce.
const SALT_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

/// A SCRAM hash: the mechanism's name and Kafka's numbering of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        ScramMechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The `mechanism` number of Describe/AlterUserScramCredentials (Kafka's `ScramMechanism`).
    pub fn code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn from_code(code: i8) -> Option<ScramMechanism> {
        ScramMechanism::ALL.into_iter().find(|m| m.code() == code)
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length, so `new_from_slice` cannot fail.
        match self {
            ScramMechanism::Sha256 => match Hmac::<Sha256>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(data);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
            ScramMechanism::Sha512 => match Hmac::<Sha512>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(data);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with this hash's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec()
            }
            ScramMechanism::Sha512 => {
                pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec()
            }
        }
    }
}

/// What the broker keeps of a password for one mechanism.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredential")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramCredential {
    /// The credential of `password` with a fresh random salt.
    pub fn from_password(
        mechanism: ScramMechanism,
        password: &str,
        iterations: i32,
    ) -> std::io::Result<ScramCredential> {
        let mut salt = vec![0u8; SALT_BYTES];
        getrandom::fill(&mut salt).map_err(std::io::Error::other)?;
        let salted =
            mechanism.salted_password(password.as_bytes(), &salt, iterations.unsigned_abs());
        Ok(ScramCredential::from_salted_password(
            mechanism, &salted, salt, iterations,
        ))
    }

    /// The credential of an already salted password (as AlterUserScramCredentials sends it).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salted_password: &[u8],
        salt: Vec<u8>,
        iterations: i32,
    ) -> ScramCredential {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        ScramCredential {
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
            salt,
            iterations,
        }
    }

    /// Whether `password` is the one this credential was made from (PLAIN logins): the
    /// stored key derived again and compared in constant time.
    pub fn matches_password(&self, mechanism: ScramMechanism, password: &str) -> bool {
        let salted = mechanism.salted_password(
            password.as_bytes(),
            &self.salt,
            self.iterations.unsigned_abs(),
        );
        let stored_key = mechanism.hash(&mechanism.hmac(&salted, b"Client Key"));
        bool::from(stored_key.ct_eq(&self.stored_key))
    }
}

/// Why a SCRAM exchange failed. `UnknownUser` and `BadProof` read the same to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScramError {
    Malformed(String),
    UnknownUser(String),
    BadProof(String),
}

/// A SCRAM exchange, server side: client-first → server-first, client-final → server-final.
#[derive(Debug, Clone)]
pub enum ScramExchange {
    /// Waiting for the client-first message.
    Start,
    /// Sent server-first; waiting for the client-final message.
    SentChallenge {
        user: String,
        credential: ScramCredential,
        client_first_bare: String,
        server_first: String,
        nonce: String,
        gs2_header: String,
    },
}

/// What one step of an exchange gives.
pub enum ScramStep {
    /// Send this challenge and wait for the next message.
    Challenge(Vec<u8>, ScramExchange),
    /// Authenticated as this user; send the final message.
    Done { user: String, server_final: Vec<u8> },
}

impl ScramExchange {
    /// Takes the client's next message; `credential` looks a user's credential up.
    pub fn step(
        self,
        mechanism: ScramMechanism,
        message: &[u8],
        credential: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<ScramStep, ScramError> {
        let message =
            std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8".into()))?;
        match self {
            ScramExchange::Start => client_first(message, credential),
            ScramExchange::SentChallenge {
                user,
                credential,
                client_first_bare,
                server_first,
                nonce,
                gs2_header,
            } => {
                let (without_proof, proof) = message
                    .rsplit_once(",p=")
                    .ok_or_else(|| ScramError::Malformed("client-final has no proof".into()))?;
                let mut fields = without_proof.split(',');
                let channel_binding = fields
                    .next()
                    .and_then(|f| f.strip_prefix("c="))
                    .ok_or_else(|| ScramError::Malformed("client-final has no c=".into()))?;
                if channel_binding != BASE64.encode(gs2_header.as_bytes()) {
                    return Err(ScramError::Malformed(
                        "channel binding does not match".into(),
                    ));
                }
                let client_nonce = fields
                    .next()
                    .and_then(|f| f.strip_prefix("r="))
                    .ok_or_else(|| ScramError::Malformed("client-final has no r=".into()))?;
                if client_nonce != nonce {
                    return Err(ScramError::Malformed("the nonce does not match".into()));
                }
                let proof = BASE64
                    .decode(proof)
                    .map_err(|_| ScramError::Malformed("the proof is not base64".into()))?;
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let client_signature =
                    mechanism.hmac(&credential.stored_key, auth_message.as_bytes());
                if proof.len() != client_signature.len() {
                    return Err(ScramError::BadProof(user));
                }
                let client_key: Vec<u8> = proof
                    .iter()
                    .zip(&client_signature)
                    .map(|(p, s)| p ^ s)
                    .collect();
                if !bool::from(mechanism.hash(&client_key).ct_eq(&credential.stored_key)) {
                    return Err(ScramError::BadProof(user));
                }
                let server_signature =
                    mechanism.hmac(&credential.server_key, auth_message.as_bytes());
                Ok(ScramStep::Done {
                    user,
                    server_final: format!("v={}", BASE64.encode(server_signature)).into_bytes(),
                })
            }
        }
    }
}

fn client_first(
    message: &str,
    credential: impl FnOnce(&str) -> Option<ScramCredential>,
) -> Result<ScramStep, ScramError> {
    let malformed = |why: &str| ScramError::Malformed(why.to_string());
    // gs2-header: "n,," or "y,," (no channel binding), optionally "a=authzid" in between.
    let mut parts = message.splitn(3, ',');
    let binding = parts.next().ok_or_else(|| malformed("empty"))?;
    if binding != "n" && binding != "y" {
        return Err(malformed("channel binding is not supported"));
    }
    let authzid = parts.next().ok_or_else(|| malformed("no gs2 header"))?;
    let bare = parts
        .next()
        .ok_or_else(|| malformed("no client-first-bare"))?;
    let gs2_header = format!("{binding},{authzid},");
    let mut fields = bare.split(',');
    let user = fields
        .next()
        .and_then(|f| f.strip_prefix("n="))
        .ok_or_else(|| malformed("no user name"))?;
    let user = sasl_name(user).ok_or_else(|| malformed("a bad user name"))?;
    if let Some(authzid) = authzid.strip_prefix("a=") {
        if sasl_name(authzid).as_deref() != Some(user.as_str()) {
            return Err(malformed("the authorization id is not the user name"));
        }
    }
    let client_nonce = fields
        .next()
        .and_then(|f| f.strip_prefix("r="))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| malformed("no nonce"))?;
    // Further fields are extensions (Kafka's `tokenauth`, which Sluice has no tokens for): ignored.
    let credential = credential(&user).ok_or_else(|| ScramError::UnknownUser(user.clone()))?;
    let mut server_nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut server_nonce).map_err(|e| malformed(&e.to_string()))?;
    let nonce = format!(
        "{client_nonce}{}",
        BASE64.encode(server_nonce).replace(',', "-")
    );
    let server_first = format!(
        "r={nonce},s={},i={}",
        BASE64.encode(&credential.salt),
        credential.iterations
    );
    Ok(ScramStep::Challenge(
        server_first.clone().into_bytes(),
        ScramExchange::SentChallenge {
            user,
            credential,
            client_first_bare: bare.to_string(),
            server_first,
            nonce,
            gs2_header,
        },
    ))
}

/// A saslname (RFC 5802): `=2C` is `,` and `=3D` is `=`; any other `=` is an error.
fn sasl_name(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        match rest.get(at..at + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's side of the exchange, as RFC 5802 computes it.
    fn client_final(
        mechanism: ScramMechanism,
        password: &str,
        client_first_bare: &str,
        server_first: &str,
    ) -> String {
        let fields: Vec<&str> = server_first.split(',').collect();
        let nonce = fields[0].strip_prefix("r=").unwrap();
        let salt = BASE64
            .decode(fields[1].strip_prefix("s=").unwrap())
            .unwrap();
        let iterations: u32 = fields[2].strip_prefix("i=").unwrap().parse().unwrap();
        let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations);
        let client_key = mechanism.hmac(&salted, b"Client Key");
        let stored_key = mechanism.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = mechanism.hmac(&stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        format!("{without_proof},p={}", BASE64.encode(proof))
    }

    fn exchange(
        mechanism: ScramMechanism,
        stored: &str,
        tried: &str,
    ) -> Result<ScramStep, ScramError> {
        let credential = ScramCredential::from_password(mechanism, stored, 4096).unwrap();
        let first = "n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL";
        let ScramStep::Challenge(challenge, next) =
            ScramExchange::Start.step(mechanism, first.as_bytes(), |u| {
                (u == "alice").then(|| credential.clone())
            })?
        else {
            panic!("the first step is a challenge");
        };
        let challenge = String::from_utf8(challenge).unwrap();
        assert!(challenge.starts_with("r=fyko+d2lbbFgONRv9qkxdawL"));
        let last = client_final(mechanism, tried, &first[3..], &challenge);
        next.step(mechanism, last.as_bytes(), |_| None)
    }

    #[test]
    fn the_right_password_authenticates_and_a_wrong_one_does_not() {
        for mechanism in ScramMechanism::ALL {
            let Ok(ScramStep::Done { user, server_final }) =
                exchange(mechanism, "secret", "secret")
            else {
                panic!("{mechanism:?}: the right password is accepted");
            };
            assert_eq!(user, "alice");
            assert!(server_final.starts_with(b"v="));
            assert!(matches!(
                exchange(mechanism, "secret", "wrong"),
                Err(ScramError::BadProof(u)) if u == "alice"
            ));
        }
    }

    #[test]
    fn an_unknown_user_and_channel_binding_are_refused() {
        let m = ScramMechanism::Sha256;
        assert!(matches!(
            ScramExchange::Start.step(m, b"n,,n=bob,r=abc", |_| None),
            Err(ScramError::UnknownUser(u)) if u == "bob"
        ));
        assert!(matches!(
            ScramExchange::Start.step(m, b"p=tls-unique,,n=bob,r=abc", |_| None),
            Err(ScramError::Malformed(_))
        ));
    }

    #[test]
    fn plain_passwords_are_checked_against_the_scram_credential() {
        let c = ScramCredential::from_password(ScramMechanism::Sha512, "pw", 4096).unwrap();
        assert!(c.matches_password(ScramMechanism::Sha512, "pw"));
        assert!(!c.matches_password(ScramMechanism::Sha512, "pW"));
    }

    #[test]
    fn sasl_names_unescape() {
        assert_eq!(sasl_name("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(sasl_name("a=b"), None);
    }
}
