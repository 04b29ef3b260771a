//! The Kafka wire: frames, the API table (`apis`) and what is expanded from it (request
//! decoding, response encoding, the advertised versions), and a zero-copy view of
//! record-batch headers. No state and no files live here.

pub mod apis;
pub mod frame;
pub mod read_buffer;
pub mod record_batch;
pub mod record_validate;
pub mod request;
pub mod response;
pub mod rope;
pub mod versions;
