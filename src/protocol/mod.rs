//! The Kafka wire: frames, request decoding, response encoding and the advertised versions.
//! No state and no files live here; record batches are [`record`](crate::record)'s.

pub mod frame;
pub mod read_buffer;
pub mod request;
pub mod response;
pub mod rope;
pub mod versions;
