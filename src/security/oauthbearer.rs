//! SASL OAUTHBEARER (RFC 7628) with unsecured JWS tokens (`alg: none`), as Kafka's
//! `OAuthBearerSaslServer` with its default `OAuthBearerUnsecuredValidatorCallbackHandler`:
//! the principal is the `sub` claim, `exp` must be in the future, `iat` (when present) not
//! in the future; `scope` is optional and not checked (no scope is required). The token is
//! not signed, so anyone may claim any name: enable the mechanism only where that is fine.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use base64::Engine;

/// A validated token: who it names and when it expires.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub principal: String,
    pub expires_at_ms: i64,
}

/// The token of a client's initial response (`gs2-header kvsep auth=Bearer <token> kvsep
/// *(key=value kvsep) kvsep`), validated at `now_ms`.
pub fn validate(message: &[u8], now_ms: i64) -> Result<Token, String> {
    let text = std::str::from_utf8(message).map_err(|_| "not UTF-8".to_string())?;
    let (gs2, rest) = text.split_once('\u{1}').ok_or("no key-value separator")?;
    if !gs2.starts_with("n,") && !gs2.starts_with("y,") {
        return Err("channel binding is not supported".into());
    }
    let authzid = gs2.trim_end_matches(',').split(',').nth(1).unwrap_or("");
    let token = rest
        .split('\u{1}')
        .find_map(|kv| kv.strip_prefix("auth="))
        .ok_or("no auth= value")?;
    let (scheme, token) = token
        .split_once(' ')
        .ok_or("auth is not `Bearer <token>`")?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err("auth is not `Bearer <token>`".into());
    }
    let token = validate_token(token.trim(), now_ms)?;
    if let Some(authzid) = authzid.strip_prefix("a=") {
        if authzid != token.principal {
            return Err("the authorization id is not the token's subject".into());
        }
    }
    Ok(token)
}

fn validate_token(token: &str, now_ms: i64) -> Result<Token, String> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the token is not header.payload.signature".into());
    };
    if !signature.is_empty() {
        return Err("the token is signed; only unsecured tokens are accepted".into());
    }
    let json = |part: &str, what: &str| -> Result<serde_json::Value, String> {
        let bytes = BASE64URL
            .decode(part.trim_end_matches('='))
            .map_err(|_| format!("the token's {what} is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| format!("the token's {what} is not JSON"))
    };
    let header = json(header, "header")?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("none") {
        return Err("the token's alg is not \"none\"".into());
    }
    let claims = json(payload, "payload")?;
    let principal = claims
        .get("sub")
        .and_then(|s| s.as_str())
        .filter(|s| !s.trim().is_empty())
        .ok_or("the token has no sub claim")?
        .to_string();
    // NumericDate: seconds, perhaps with a fraction.
    let seconds_ms = |name: &str| {
        claims
            .get(name)
            .and_then(|v| v.as_f64())
            .map(|s| (s * 1000.0) as i64)
    };
    let expires_at_ms = seconds_ms("exp").ok_or("the token has no exp claim")?;
    if expires_at_ms <= now_ms {
        return Err("the token has expired".into());
    }
    if seconds_ms("iat").is_some_and(|iat| iat > now_ms) {
        return Err("the token was issued in the future".into());
    }
    Ok(Token {
        principal,
        expires_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(claims: &str) -> Vec<u8> {
        let token = format!(
            "{}.{}.",
            BASE64URL.encode(r#"{"alg":"none"}"#),
            BASE64URL.encode(claims)
        );
        format!("n,,\u{1}auth=Bearer {token}\u{1}\u{1}").into_bytes()
    }

    #[test]
    fn unsecured_tokens_name_their_subject_until_they_expire() {
        let now_ms = 1_700_000_000_000;
        let token = validate(
            &message(r#"{"sub":"alice","exp":1700000060,"iat":1699999990}"#),
            now_ms,
        )
        .unwrap();
        assert_eq!(token.principal, "alice");
        assert_eq!(token.expires_at_ms, 1_700_000_060_000);
        assert!(
            validate(&message(r#"{"sub":"alice","exp":1699999999}"#), now_ms)
                .unwrap_err()
                .contains("expired")
        );
        assert!(validate(&message(r#"{"exp":1700000060}"#), now_ms).is_err());
        assert!(validate(b"n,,\x01auth=Bearer a.b.c\x01\x01", now_ms).is_err());
    }
}
