//! The record format, as a leaf: v2 record batches as bytes, with no I/O, no state and no
//! Kafka messages. The log stores batches through [`batch`]'s header view; produce validates
//! them with [`validate`]; ListOffsets finds a record in one with [`find`]; transactions end
//! with the control batches of [`control`].
//!
//! - [`batch`]: the zero-copy view of the 61-byte header, its CRC32C, splitting a run of
//!   batches, and the header rewrites the broker makes (base offset, LogAppendTime);
//! - [`validate`]: the checks Kafka's `LogValidator` makes of a produce batch's records;
//! - [`find`]: the first record of a stored batch stamped at or after a timestamp;
//! - [`control`]: end-transaction markers (COMMIT, ABORT), built and read;
//! - [`full`]: whole records (every field) read from a stored batch, and a batch built from
//!   records given by hand, for the web console;
//! - [`partitioner`]: the partition Kafka's default partitioner gives a key (murmur2), for
//!   the command line's client and the REST proxy;
//! - [`compact`]: a stored batch's records split for the log cleaner, and the batch rebuilt
//!   from the ones it keeps;
//! - `walk` and `decompress` (private): the bounded record walk and the bounded, streaming
//!   decompression under the last three.

pub mod batch;
pub mod compact;
pub mod control;
mod decompress;
pub mod find;
pub mod full;
pub mod partitioner;
#[cfg(test)]
pub(crate) mod test_batches;
pub mod validate;
mod walk;

pub use decompress::SCRATCH_BYTES;
