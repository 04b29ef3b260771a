//! The Kafka wire: frames, the API table (`apis`) and what is expanded from it (request
//! decoding, response encoding, the advertised versions). No state and no files live here;
//! record batches are [`record`](crate::record)'s.

pub mod apis;
pub mod frame;
pub mod read_buffer;
pub mod request;
pub mod response;
pub mod rope;
pub mod versions;
