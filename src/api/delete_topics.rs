//! DeleteTopics (key 20): removes topics by name (v1–5) or by name or id (v6), with their
//! data and their groups' committed offsets ([`Broker::delete_topic`]).

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::topic_name;
use crate::acl::{Operation, ResourceType};
use crate::broker::topic_admin::DeleteTopicError;
use crate::broker::Broker;
use crate::session::RequestContext;

/// v6 names topics by name or by id.
const FIRST_TOPIC_ID_VERSION: i16 = 6;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    version: i16,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    // Each wanted topic as (name if known, id if given).
    let wanted: Vec<(Option<String>, Uuid)> = if version >= FIRST_TOPIC_ID_VERSION {
        request
            .topics
            .into_iter()
            .map(|t| {
                let name = t.name.map(|n| n.to_string()).filter(|n| !n.is_empty());
                let name = name.or_else(|| {
                    broker
                        .topics()
                        .get_by_id(&t.topic_id)
                        .map(|topic| topic.name.clone())
                });
                (name, t.topic_id)
            })
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|n| (Some(n.to_string()), Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let result = DeletableTopicResult::default().with_name(name.as_deref().map(topic_name));
        // DELETE on the topic (Kafka's `KafkaApis.handleDeleteTopicsRequest`).
        if let Some(name) = name.as_deref() {
            if !broker.authorize(context, Operation::Delete, ResourceType::Topic, name) {
                responses.push(
                    result
                        .with_topic_id(id)
                        .with_error_code(ResponseError::TopicAuthorizationFailed.code()),
                );
                continue;
            }
        }
        let deleted = match name.as_deref() {
            Some(name) => broker.delete_topic(name).await,
            None => Err(DeleteTopicError::UnknownTopic),
        };
        let topic = match deleted {
            Ok(topic) => topic,
            Err(DeleteTopicError::UnknownTopic) => {
                let error = if version >= FIRST_TOPIC_ID_VERSION && !id.is_nil() {
                    ResponseError::UnknownTopicId
                } else {
                    ResponseError::UnknownTopicOrPartition
                };
                responses.push(result.with_topic_id(id).with_error_code(error.code()));
                continue;
            }
            Err(e @ DeleteTopicError::Storage(_)) => {
                let reason = e.to_string();
                tracing::error!(topic = ?name, %reason, "deleting the topic failed");
                let result = result
                    .with_topic_id(id)
                    .with_error_code(ResponseError::KafkaStorageError.code());
                responses.push(if version >= 5 {
                    result.with_error_message(Some(StrBytes::from_string(reason)))
                } else {
                    result
                });
                continue;
            }
        };
        responses.push(if version >= FIRST_TOPIC_ID_VERSION {
            result.with_topic_id(topic.id)
        } else {
            result
        });
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
