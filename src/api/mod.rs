//! One module per Kafka API: each turns a decoded request into calls on the broker and maps
//! the broker's errors to Kafka error codes. Each has
//! `pub async fn handle(&Broker, &RequestContext, version, Request) -> Response` (Produce:
//! `Option<Response>`, for acks=0); the API table (`protocol::apis`) names the module, and
//! [`handle`] dispatches to it.

#[cfg(test)]
mod acl_admin_tests;
pub mod acl_errors;
pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
#[cfg(test)]
mod admin_tests;
pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod alter_user_scram_credentials;
pub mod api_versions;
#[cfg(test)]
mod authorization_tests;
pub mod config_errors;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_topic_partitions;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
pub mod elect_leaders;
pub mod end_txn;
pub mod fault_answers;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;
#[cfg(test)]
mod txn_admin_tests;
pub mod txn_errors;
pub mod txn_offset_commit;
pub mod write_txn_markers;

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::broker::fetch_memory::Reservation;
use crate::broker::Broker;
use crate::group::GroupError;
use crate::protocol::apis::api_table;
use crate::protocol::request::{Request, RequestBody};
use crate::protocol::response::ResponseBody;
use crate::session::{HeldMemory, RequestContext, Session};

/// ApiVersions carries the client's software name and version from this version on.
const CLIENT_SOFTWARE_FIRST_VERSION: i16 = 3;

/// A handled request: its response (`None`: none is written, as for Produce with acks=0)
/// and the fetch memory the response holds until it is written.
pub struct Handled {
    pub body: Option<ResponseBody>,
    pub held: Option<Reservation>,
}

/// Handles one request of `session`.
pub async fn handle(broker: &Broker, session: &mut Session, request: Request) -> Handled {
    handle_faulted(broker, session, request, None).await
}

/// Handles one request of `session`, answered as the `error` fault rule `fault` says when
/// one fired for it (see [`fault_answers`]).
pub async fn handle_faulted(
    broker: &Broker,
    session: &mut Session,
    request: Request,
    fault: Option<&crate::faults::Injection>,
) -> Handled {
    let Request { header, body, .. } = request;
    let version = header.request_api_version;
    if let RequestBody::ApiVersions(r) = &body {
        // Kept for the connection's later requests, as Kafka does.
        if version >= CLIENT_SOFTWARE_FIRST_VERSION {
            session.remember_client_software(
                r.client_software_name.as_str(),
                r.client_software_version.as_str(),
            );
        }
    }
    // The SASL requests change the session's authentication, which the handlers' shared
    // context cannot: they are answered here.
    let body = match body {
        RequestBody::SaslHandshake(r) => {
            return Handled {
                body: Some(ResponseBody::SaslHandshake(sasl_handshake::answer(
                    broker, session, version, r,
                ))),
                held: None,
            }
        }
        RequestBody::SaslAuthenticate(r) => {
            return Handled {
                body: Some(ResponseBody::SaslAuthenticate(sasl_authenticate::answer(
                    broker, session, version, r,
                ))),
                held: None,
            }
        }
        other => other,
    };
    let client_id = header.client_id.as_ref().map_or("", |c| c.as_str());
    let held = HeldMemory::default();
    let context = RequestContext::holding(session, client_id, &held);
    let body = match fault {
        Some(fault) => fault_answers::answer(broker, &context, version, body, fault).await,
        None => dispatch(broker, &context, version, body).await,
    };
    Handled {
        body,
        held: held
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    }
}

/// What a handler returns: its response, or `None` for no response at all.
trait Answer<R> {
    fn into_answer(self) -> Option<R>;
}

macro_rules! dispatch_to_handlers {
    ($(($name:ident, $min:literal, $max:literal, $request:ident, $response:ident, $module:ident)),* $(,)?) => {
        $(
            impl Answer<kafka_protocol::messages::$response> for kafka_protocol::messages::$response {
                fn into_answer(self) -> Option<kafka_protocol::messages::$response> {
                    Some(self)
                }
            }

            impl Answer<kafka_protocol::messages::$response>
                for Option<kafka_protocol::messages::$response>
            {
                fn into_answer(self) -> Option<kafka_protocol::messages::$response> {
                    self
                }
            }
        )*

        /// Calls the table's handler for the body's API.
        async fn dispatch(
            broker: &Broker,
            context: &RequestContext<'_>,
            version: i16,
            body: RequestBody,
        ) -> Option<ResponseBody> {
            match body {
                $(RequestBody::$name(request) => {
                    Answer::<kafka_protocol::messages::$response>::into_answer(
                        $module::handle(broker, context, version, request).await,
                    )
                    .map(ResponseBody::$name)
                })*
            }
        }
    };
}
api_table!(dispatch_to_handlers);

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The wire code of a group coordinator error.
pub fn group_error_code(error: GroupError) -> i16 {
    let error = match error {
        GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        GroupError::InvalidGroupId => ResponseError::InvalidGroupId,
        GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
        GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
        GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
        GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
        GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
        GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
        GroupError::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
        GroupError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
    };
    error.code()
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader};

    use super::*;
    use crate::config::Config;
    use crate::node::Node;
    use crate::session::{ClientSoftware, PLAINTEXT_LISTENER};

    /// The table's (key, min, max) rows, expanded here rather than read from `SUPPORTED`.
    macro_rules! table_rows {
        ($(($name:ident, $min:literal, $max:literal, $request:ident, $response:ident, $module:ident)),* $(,)?) => {
            vec![$((ApiKey::$name as i16, $min, $max),)*]
        };
    }

    fn api_versions(version: i16, request: ApiVersionsRequest) -> Request {
        Request {
            header: RequestHeader::default()
                .with_request_api_key(ApiKey::ApiVersions as i16)
                .with_request_api_version(version)
                .with_client_id(Some(str_bytes("app"))),
            api_key: ApiKey::ApiVersions,
            body: RequestBody::ApiVersions(request),
        }
    }

    #[tokio::test]
    async fn api_versions_answers_the_table_and_v3_names_the_client_software() {
        let node = Node::start(Config::for_tests()).await.unwrap();
        let mut session = Session::new(PLAINTEXT_LISTENER, "127.0.0.1:5000".parse().unwrap());
        let named = ApiVersionsRequest::default()
            .with_client_software_name(str_bytes("librdkafka"))
            .with_client_software_version(str_bytes("2.3.0"));

        let old = handle(node.broker(), &mut session, api_versions(2, named.clone()))
            .await
            .body;
        assert_eq!(session.client_software(), None, "v2 carries no software");
        let Some(ResponseBody::ApiVersions(answer)) = old else {
            panic!("ApiVersions is answered with ApiVersions: {old:?}");
        };
        let advertised: Vec<(i16, i16, i16)> = answer
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        let table: Vec<(i16, i16, i16)> = api_table!(table_rows);
        assert_eq!(advertised, table);
        assert_eq!(answer.error_code, 0);

        handle(node.broker(), &mut session, api_versions(3, named)).await;
        let software = ClientSoftware {
            name: "librdkafka".into(),
            version: "2.3.0".into(),
        };
        assert_eq!(session.client_software(), Some(&software));
        node.shutdown().await;
    }
}
