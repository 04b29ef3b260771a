//! Request frames through the broker's own decode path: `protocol::frame` (size prefix,
//! `max_request_bytes`) and then `protocol::request::decode` (header and body, for every API
//! key and version the broker supports). Nothing may panic. Responses are out of scope.
//!
//! The first input byte picks how the rest is read:
//! - even: the bytes a client sent on a connection, frames one after another, read with
//!   `read_frame` exactly as a connection reads them (pipelined requests included);
//! - odd: one frame whose first two bytes pick a (key, version) pair from the advertised
//!   table, so the fuzzer spends its time in the body decoders of supported versions rather
//!   than on keys and versions that are refused before any decoding.

#![no_main]

use std::sync::LazyLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sluice::protocol::frame::{buffered_api_key, read_frame, FrameError};
use sluice::protocol::request::{decode, DecodeError};
use sluice::protocol::versions::{is_supported, SUPPORTED};
use tokio::io::BufReader;

// The broker binary runs its decoders under this allocator: the protocol crate reserves
// capacity from counts read off the wire before it reads an element, and without it a
// 4-byte count in a tiny frame would abort the process on a huge reservation. Fuzzing under
// the system allocator would report exactly that, which the broker does not suffer.
#[global_allocator]
static ALLOCATOR: sluice::alloc_guard::GuardedAlloc = sluice::alloc_guard::GuardedAlloc;

/// The broker's default limit: frames longer than this are refused before allocation.
static MAX_REQUEST_BYTES: LazyLock<usize> =
    LazyLock::new(|| sluice::Config::default().max_request_bytes);

thread_local! {
    // One runtime for the whole run: building one per input would cost more than the decode.
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        connection(rest);
    } else {
        supported_request(rest);
    }
});

/// Frames read off a connection's bytes until the stream ends or a frame is refused.
fn connection(wire: &[u8]) {
    RUNTIME.with(|runtime| {
        runtime.block_on(async {
            let mut reader = BufReader::new(wire);
            let mut consumed = 0usize;
            loop {
                // What the connection peeks at to decide whether a request is buffered whole.
                let peeked = buffered_api_key(&wire[consumed..]);
                match read_frame(&mut reader, *MAX_REQUEST_BYTES, |_| {}).await {
                    Ok(frame) => {
                        assert!(frame.len() <= *MAX_REQUEST_BYTES);
                        // A frame of 0 or 1 bytes has no key of its own: the peek then reads
                        // past it, which is harmless (decode refuses it as too short and the
                        // connection closes), so only frames with a key are compared.
                        if let (Some(key), true) = (peeked, frame.len() >= 2) {
                            assert_eq!(
                                frame.get(..2),
                                Some(&key.to_be_bytes()[..]),
                                "buffered_api_key named a key the frame does not start with"
                            );
                        }
                        consumed += 4 + frame.len();
                        check_decode(frame);
                    }
                    Err(FrameError::BadLength { length, .. }) => {
                        assert!(length < 0 || length as usize > *MAX_REQUEST_BYTES);
                        return;
                    }
                    Err(FrameError::Closed | FrameError::Io(_)) => return,
                }
            }
        })
    });
}

/// One frame of a supported (key, version), picked by the first two bytes.
fn supported_request(rest: &[u8]) {
    let Some((pick, tail)) = rest.split_first_chunk::<2>() else {
        return;
    };
    let api = SUPPORTED[usize::from(pick[0]) % SUPPORTED.len()];
    let span = (api.max - api.min + 1) as u8;
    let version = api.min + i16::from(pick[1] % span);
    let mut frame = Vec::with_capacity(4 + tail.len());
    frame.extend_from_slice(&(api.key as i16).to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(tail);
    check_decode(Bytes::from(frame));
}

/// Decodes `frame` and checks that the outcome agrees with the advertised table.
fn check_decode(frame: Bytes) {
    let raw = frame
        .first_chunk::<4>()
        .map(|h| (i16::from_be_bytes([h[0], h[1]]), i16::from_be_bytes([h[2], h[3]])));
    match decode(frame) {
        Ok(request) => {
            let (key, version) = raw.expect("a decoded frame has a header");
            assert_eq!(request.api_key as i16, key);
            assert_eq!(request.version(), version);
            assert!(is_supported(request.api_key, version));
        }
        Err(DecodeError::Malformed { reason, .. }) => {
            // The decoders are fallible: a panic is caught and reported as malformed, which
            // keeps the broker up, but it is still a decoder bug worth knowing about. The
            // panic hook libFuzzer installs aborts before this is reached, so seeing this
            // reason here would mean the hook was bypassed.
            assert_ne!(reason, "decoder panicked");
        }
        Err(_) => {}
    }
}
