//! ApiVersions (key 18): the advertised table from `protocol::versions`, which is the API
//! table (`protocol::apis`).

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::protocol::response::{self, ResponseBody};
use crate::protocol::versions::{self, SUPPORTED};
use crate::session::RequestContext;

pub async fn handle(
    _broker: &Broker,
    _context: &RequestContext<'_>,
    _version: i16,
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
    ApiVersionsResponse::default().with_api_keys(api_keys)
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
