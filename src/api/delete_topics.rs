//! DeleteTopics (key 20): removes topics by name (v1–5) or by name or id (v6), with their
//! data and their groups' committed offsets. Files are deleted on a blocking thread.

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::topic_name;
use crate::broker::State;

/// v6 names topics by name or by id.
const FIRST_TOPIC_ID_VERSION: i16 = 6;

pub async fn handle(
    state: &State,
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
                    state
                        .topics
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
        let removal = name.as_deref().and_then(|n| state.topics.delete(n));
        let Some(removal) = removal else {
            let error = if version >= FIRST_TOPIC_ID_VERSION && !id.is_nil() {
                ResponseError::UnknownTopicId
            } else {
                ResponseError::UnknownTopicOrPartition
            };
            responses.push(result.with_topic_id(id).with_error_code(error.code()));
            continue;
        };
        let topic_id = removal.topic.id;
        let topic = removal.topic.name.clone();
        let deleted = tokio::task::spawn_blocking(move || removal.delete_files()).await;
        let failure = match deleted {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Err(e) = state.groups.forget_topic(topic.clone()).await {
            tracing::warn!(%topic, error = ?e, "cannot drop the deleted topic's committed offsets");
        }
        let result = if version >= FIRST_TOPIC_ID_VERSION {
            result.with_topic_id(topic_id)
        } else {
            result
        };
        responses.push(match failure {
            None => result,
            Some(reason) => {
                tracing::error!(%topic, %reason, "deleting the topic's files failed");
                let result = result.with_error_code(ResponseError::KafkaStorageError.code());
                if version >= 5 {
                    result.with_error_message(Some(StrBytes::from_string(reason)))
                } else {
                    result
                }
            }
        });
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
