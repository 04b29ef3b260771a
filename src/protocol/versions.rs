//! The API versions this broker advertises, as the API table ([`super::apis`]) declares them:
//! exactly what the `api` modules implement. ApiVersions answers with this list and the
//! request metrics are labelled from it.

use kafka_protocol::messages::ApiKey;

use super::apis::api_table;

/// One advertised API: its key and the inclusive version range we answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supported {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
}

macro_rules! supported_list {
    ($(($name:ident, $min:literal, $max:literal, $request:ident, $response:ident, $module:ident)),* $(,)?) => {
        /// The advertised table, in api-key order (the order of `api_table!`).
        pub const SUPPORTED: &[Supported] = &[
            $(Supported { key: ApiKey::$name, min: $min, max: $max },)*
        ];
    };
}
api_table!(supported_list);

/// The range advertised for `key`, if the broker implements it.
pub fn supported(key: ApiKey) -> Option<Supported> {
    SUPPORTED.iter().copied().find(|s| s.key == key)
}

/// Whether a request of this key and version is one we decode and answer.
pub fn is_supported(key: ApiKey, version: i16) -> bool {
    supported(key).is_some_and(|s| (s.min..=s.max).contains(&version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::request::PRODUCE_FIRST_CRATE_VERSION;
    use kafka_protocol::protocol::Message;

    /// The (key, crate version range) of every table entry's request type.
    macro_rules! crate_ranges {
        ($(($name:ident, $min:literal, $max:literal, $request:ident, $response:ident, $module:ident)),* $(,)?) => {
            vec![$((
                ApiKey::$name,
                <kafka_protocol::messages::$request as Message>::VERSIONS.min,
                <kafka_protocol::messages::$request as Message>::VERSIONS.max,
            ),)*]
        };
    }

    /// Every advertised version must be one the protocol crate can decode (Produce v0–2
    /// excepted: they are answered without the crate's v0–2 support).
    #[test]
    fn the_crate_decodes_every_advertised_version() {
        let ranges: Vec<(ApiKey, i16, i16)> = api_table!(crate_ranges);
        assert_eq!(ranges.len(), SUPPORTED.len());
        for (s, (key, crate_min, crate_max)) in SUPPORTED.iter().zip(ranges) {
            assert_eq!(s.key, key);
            let min = if key == ApiKey::Produce {
                s.min.max(PRODUCE_FIRST_CRATE_VERSION)
            } else {
                s.min
            };
            assert!(
                crate_min <= min && s.max <= crate_max,
                "{key:?} v{}-{} is not all decodable (crate v{crate_min}-{crate_max})",
                s.min,
                s.max
            );
        }
    }

    #[test]
    fn keys_are_unique_and_ordered() {
        let keys: Vec<i16> = SUPPORTED.iter().map(|s| s.key as i16).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn produce_is_advertised_from_version_0_and_api_versions_up_to_4() {
        assert_eq!(
            supported(ApiKey::Produce).map(|s| (s.min, s.max)),
            Some((0, 12))
        );
        assert!(is_supported(ApiKey::ApiVersions, 4));
        assert!(!is_supported(ApiKey::ApiVersions, 5));
        assert!(is_supported(ApiKey::SaslHandshake, 0));
        assert!(!is_supported(ApiKey::SaslHandshake, 2));
    }
}
