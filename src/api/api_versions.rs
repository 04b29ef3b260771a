//! ApiVersions (key 18): the advertised table from `protocol::versions`, which is the API
//! table (`protocol::apis`), and from v3 the features: `transaction.version` supported from
//! level 0 to 2 and finalized at the `transaction_version` setting. Clients read the
//! finalized level to choose their transaction protocol (level 2: KIP-890's).

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::protocol::response::{self, ResponseBody};
use crate::protocol::versions::{self, SUPPORTED};
use crate::session::RequestContext;

/// Kafka's name of the transaction protocol feature.
const TRANSACTION_VERSION: &str = "transaction.version";
/// The highest `transaction.version` level Sluice speaks.
const TRANSACTION_VERSION_MAX: i16 = 2;
/// Features appear from this version (tagged fields).
const FIRST_FEATURES_VERSION: i16 = 3;
/// From this version a supported feature may start at level 0.
const FIRST_MIN_0_FEATURES_VERSION: i16 = 4;
/// The epoch of the finalized features. Kafka's is the metadata offset that set them; the
/// level here changes only with the setting, at a restart, and clients take any epoch at or
/// above 0 the first time they see it.
const FINALIZED_FEATURES_EPOCH: i64 = 1;

pub async fn handle(
    broker: &Broker,
    _context: &RequestContext<'_>,
    version: i16,
    _request: ApiVersionsRequest,
) -> ApiVersionsResponse {
    let api_keys = SUPPORTED
        .iter()
        .map(|s| {
            ApiVersion::default()
                .with_api_key(s.key as i16)
                .with_min_version(s.min)
                .with_max_version(s.max)
        })
        .collect();
    let response = ApiVersionsResponse::default().with_api_keys(api_keys);
    if version < FIRST_FEATURES_VERSION {
        return response;
    }
    let name = StrBytes::from_static_str(TRANSACTION_VERSION);
    let level = broker.config().transaction_version;
    // Kafka lists no finalized feature at level 0.
    let finalized = (level > 0)
        .then(|| {
            FinalizedFeatureKey::default()
                .with_name(name.clone())
                .with_min_version_level(level)
                .with_max_version_level(level)
        })
        .into_iter()
        .collect();
    // Before v4 a supported range starting at 0 is left out (KIP-1022): older clients take
    // a minimum of 0 for no feature at all.
    let supported = (version >= FIRST_MIN_0_FEATURES_VERSION)
        .then(|| {
            SupportedFeatureKey::default()
                .with_name(name.clone())
                .with_min_version(0)
                .with_max_version(TRANSACTION_VERSION_MAX)
        })
        .into_iter()
        .collect();
    response
        .with_supported_features(supported)
        .with_finalized_features_epoch(FINALIZED_FEATURES_EPOCH)
        .with_finalized_features(finalized)
}

/// The answer to an ApiVersions request newer than we know: a v0 response with
/// UNSUPPORTED_VERSION and our ApiVersions range, so the client retries with a version we
/// speak (as Kafka answers).
pub fn unsupported_version(correlation_id: i32) -> anyhow::Result<Vec<Bytes>> {
    let range = versions::supported(ApiKey::ApiVersions)
        .ok_or_else(|| anyhow::anyhow!("ApiVersions is not in the advertised table"))?;
    let body = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(vec![ApiVersion::default()
            .with_api_key(ApiKey::ApiVersions as i16)
            .with_min_version(range.min)
            .with_max_version(range.max)]);
    response::encode(
        ApiKey::ApiVersions,
        0,
        correlation_id,
        &ResponseBody::ApiVersions(body),
    )
}
