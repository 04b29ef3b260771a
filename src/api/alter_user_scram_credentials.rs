//! AlterUserScramCredentials (key 51, v0): deletions and upsertions (a salt and a salted
//! password, from which the stored and server keys are derived; the salted password is not
//! kept). Checks and errors as Kafka's `ScramControlManager`: a user altered twice in one
//! request is DUPLICATE_RESOURCE, an unknown mechanism UNSUPPORTED_SASL_MECHANISM, iterations
//! outside 4096..=16384 or an empty name or salt UNACCEPTABLE_CREDENTIAL, deleting a
//! credential that does not exist RESOURCE_NOT_FOUND.

use std::collections::HashMap;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::broker::Broker;
use crate::protocol::apis::ErrorCodes;
use crate::security::credentials::{CredentialChange, CredentialError};
use crate::security::scram::{ScramCredential, ScramMechanism, ITERATIONS_MAX, ITERATIONS_MIN};
use crate::session::RequestContext;

/// Bounds on what a client sends for one credential.
const SALT_BYTES_MAX: usize = 1024;
const SALTED_PASSWORD_BYTES_MAX: usize = 1024;

/// Why one user's change is refused: its code and message.
type Refusal = (ResponseError, &'static str);

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    _version: i16,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    // Kafka's KafkaApis: ALTER on the cluster, or every user is refused.
    let authorized = broker.authorize_cluster(context, crate::acl::Operation::Alter);
    let mut times: HashMap<String, usize> = HashMap::new();
    let users = request
        .deletions
        .iter()
        .map(|d| d.name.as_str())
        .chain(request.upsertions.iter().map(|u| u.name.as_str()));
    for user in users {
        *times.entry(user.to_string()).or_default() += 1;
    }
    // Each user's outcome in request order; `Ok(change)` still to apply.
    let mut outcomes: Vec<(String, Result<CredentialChange, Refusal>)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let check = |name: &str, mechanism: i8| -> Result<ScramMechanism, Refusal> {
        if !authorized {
            return Err((
                ResponseError::ClusterAuthorizationFailed,
                "Not authorized to alter SCRAM credentials (ALTER on the cluster)",
            ));
        }
        if times[name] > 1 {
            return Err((
                ResponseError::DuplicateResource,
                "A user credential cannot be altered twice in the same request",
            ));
        }
        if name.is_empty() {
            return Err((
                ResponseError::UnacceptableCredential,
                "Username must not be empty",
            ));
        }
        ScramMechanism::from_code(mechanism).ok_or((
            ResponseError::UnsupportedSaslMechanism,
            "Unknown SCRAM mechanism",
        ))
    };
    for deletion in &request.deletions {
        let name = deletion.name.as_str();
        if !seen.insert(name.to_string()) {
            continue;
        }
        let change = check(name, deletion.mechanism).map(|mechanism| CredentialChange::Delete {
            user: name.to_string(),
            mechanism,
        });
        outcomes.push((name.to_string(), change));
    }
    for upsertion in &request.upsertions {
        let name = upsertion.name.as_str();
        if !seen.insert(name.to_string()) {
            continue;
        }
        let change = check(name, upsertion.mechanism).and_then(|mechanism| {
            if upsertion.iterations < ITERATIONS_MIN {
                return Err((ResponseError::UnacceptableCredential, "Too few iterations"));
            }
            if upsertion.iterations > ITERATIONS_MAX {
                return Err((ResponseError::UnacceptableCredential, "Too many iterations"));
            }
            if upsertion.salt.is_empty() || upsertion.salt.len() > SALT_BYTES_MAX {
                return Err((
                    ResponseError::UnacceptableCredential,
                    "The salt must be 1 to 1024 bytes",
                ));
            }
            if upsertion.salted_password.is_empty()
                || upsertion.salted_password.len() > SALTED_PASSWORD_BYTES_MAX
            {
                return Err((
                    ResponseError::UnacceptableCredential,
                    "The salted password must be 1 to 1024 bytes",
                ));
            }
            Ok(CredentialChange::Upsert {
                user: name.to_string(),
                mechanism,
                credential: ScramCredential::from_salted_password(
                    mechanism,
                    &upsertion.salted_password,
                    upsertion.salt.to_vec(),
                    upsertion.iterations,
                ),
            })
        });
        outcomes.push((name.to_string(), change));
    }
    let changes: Vec<CredentialChange> = outcomes
        .iter()
        .filter_map(|(_, o)| o.as_ref().ok().cloned())
        .collect();
    let applied = crate::blocking::run(|| broker.credentials().alter(changes));
    let mut applied = match applied {
        Ok(applied) => applied.into_iter(),
        Err(e) => {
            tracing::error!(error = %e, "cannot persist SCRAM credentials");
            let results = outcomes
                .into_iter()
                .map(|(user, _)| {
                    AlterUserScramCredentialsResult::default()
                        .with_user(str_bytes(&user))
                        .with_error_code(ResponseError::UnknownServerError.code())
                        .with_error_message(Some(str_bytes("cannot persist the credentials")))
                })
                .collect();
            return AlterUserScramCredentialsResponse::default().with_results(results);
        }
    };
    let results = outcomes
        .into_iter()
        .map(|(user, outcome)| {
            let result = AlterUserScramCredentialsResult::default().with_user(str_bytes(&user));
            let error = match outcome {
                Err(error) => Some(error),
                Ok(_) => match applied.next() {
                    Some(Ok(())) | None => None,
                    Some(Err(CredentialError::NotFound)) => Some((
                        ResponseError::ResourceNotFound,
                        "Attempt to delete a user credential that does not exist",
                    )),
                    Some(Err(CredentialError::TooManyUsers)) => Some((
                        ResponseError::PolicyViolation,
                        "The broker holds the most users it may",
                    )),
                },
            };
            match error {
                Some((code, message)) => result
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(message))),
                None => result,
            }
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}

impl ErrorCodes for AlterUserScramCredentialsResponse {
    fn error_codes(&self) -> Vec<i16> {
        self.results.iter().map(|r| r.error_code).collect()
    }
}
