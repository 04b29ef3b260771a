//! One module per Kafka API: each turns a decoded request into calls on the broker and maps
//! the broker's errors to Kafka error codes.

pub mod api_versions;
pub mod create_topics;
pub mod fetch;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod produce;

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::broker::State;
use crate::protocol::request::{Request, RequestBody};
use crate::protocol::response::ResponseBody;

/// Handles one request. `None` means no response is written (Produce with acks=0).
pub async fn handle(state: &State, request: Request) -> Option<ResponseBody> {
    let version = request.version();
    let body = match request.body {
        RequestBody::ApiVersions(_) => ResponseBody::ApiVersions(api_versions::handle(version)),
        RequestBody::Metadata(r) => ResponseBody::Metadata(metadata::handle(state, version, r)),
        RequestBody::Produce(r) => ResponseBody::Produce(produce::handle(state, version, r)?),
        RequestBody::Fetch(r) => ResponseBody::Fetch(fetch::handle(state, version, r).await),
        RequestBody::ListOffsets(r) => {
            ResponseBody::ListOffsets(list_offsets::handle(state, version, r))
        }
        RequestBody::CreateTopics(r) => {
            ResponseBody::CreateTopics(create_topics::handle(state, version, r))
        }
        RequestBody::InitProducerId(r) => {
            ResponseBody::InitProducerId(init_producer_id::handle(state, r))
        }
    };
    Some(body)
}

/// The wire code of an error.
pub fn code(error: ResponseError) -> i16 {
    error.code()
}

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}
