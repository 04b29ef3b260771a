//! SASL PLAIN (RFC 4616), as Kafka's `PlainSaslServer`: `[authzid] NUL authcid NUL passwd`,
//! the authorization id empty or the user's own name.

/// The user and password of a PLAIN message, or why it is malformed.
pub fn parse(message: &[u8]) -> Result<(String, String), String> {
    let text = std::str::from_utf8(message).map_err(|_| "not UTF-8".to_string())?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("expected [authzid] NUL user NUL password".into());
    };
    if user.is_empty() {
        return Err("the user name is empty".into());
    }
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    if !authzid.is_empty() && authzid != user {
        return Err("the authorization id is not the user name".into());
    }
    Ok((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages_parse() {
        assert_eq!(
            parse(b"\0alice\0secret").unwrap(),
            ("alice".into(), "secret".into())
        );
        assert_eq!(
            parse(b"alice\0alice\0s").unwrap(),
            ("alice".into(), "s".into())
        );
        assert!(parse(b"bob\0alice\0s").is_err());
        assert!(parse(b"\0alice").is_err());
        assert!(parse(b"\0\0s").is_err());
    }
}
