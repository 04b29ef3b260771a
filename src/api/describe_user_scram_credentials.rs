//! DescribeUserScramCredentials (key 50, v0): each user's SCRAM mechanisms and iterations,
//! never the keys. Errors as Kafka's `ScramControlManager`: a user without credentials is
//! RESOURCE_NOT_FOUND, a user named twice DUPLICATE_RESOURCE; no users named: every user.

use std::collections::HashMap;

use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::session::RequestContext;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    // Kafka's KafkaApis: DESCRIBE on the cluster, or the whole request is refused.
    if !broker.authorize_cluster(context, crate::acl::Operation::Describe) {
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(str_bytes(
                "Not authorized to describe SCRAM credentials (DESCRIBE on the cluster)",
            )));
    }
    let store = broker.credentials();
    let named: Vec<String> = match request.users {
        Some(users) if !users.is_empty() => {
            users.iter().map(|u| u.name.as_str().to_string()).collect()
        }
        _ => store.users(),
    };
    let mut times: HashMap<&str, usize> = HashMap::new();
    for user in &named {
        *times.entry(user.as_str()).or_default() += 1;
    }
    let mut answered = std::collections::HashSet::new();
    let results = named
        .iter()
        .filter(|user| answered.insert(user.as_str()))
        .map(|user| {
            let result = DescribeUserScramCredentialsResult::default().with_user(str_bytes(user));
            if times[user.as_str()] > 1 {
                return result
                    .with_error_code(ResponseError::DuplicateResource.code())
                    .with_error_message(Some(str_bytes(
                        "Cannot describe SCRAM credentials for the same user twice in a single request",
                    )));
            }
            match store.describe(user) {
                Some(credentials) => result.with_credential_infos(
                    credentials
                        .into_iter()
                        .map(|(mechanism, iterations)| {
                            CredentialInfo::default()
                                .with_mechanism(mechanism.code())
                                .with_iterations(iterations)
                        })
                        .collect(),
                ),
                None => result
                    .with_error_code(ResponseError::ResourceNotFound.code())
                    .with_error_message(Some(str_bytes(
                        "Attempt to describe a user credential that does not exist",
                    ))),
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

impl ErrorCodes for DescribeUserScramCredentialsResponse {
    fn error_codes(&self) -> Vec<i16> {
        std::iter::once(self.error_code)
            .chain(self.results.iter().map(|r| r.error_code))
            .collect()
    }
}
