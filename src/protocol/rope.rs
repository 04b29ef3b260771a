//! An encode buffer that shares large payloads instead of copying them.
//!
//! The protocol crate writes a fetch response's record data with one `put_slice` of the
//! `Bytes` it was given. [`Rope`] recognises those slices — registered beforehand — and keeps
//! a reference to the original `Bytes` in its list of chunks, so record data goes from the
//! log to the socket (vectored write) without another copy.

// Unsafe code here: a BufMut implementation, an unsafe trait; each block says why it is sound.
#![allow(unsafe_code)]

use std::ops::Range;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::buf::ByteBufMut;

/// Payloads smaller than this are cheaper to copy than to keep as a separate chunk.
pub const SHARE_THRESHOLD_BYTES: usize = 4096;

#[derive(Default)]
pub struct Rope {
    /// Finished chunks, in order.
    chunks: Vec<Bytes>,
    /// Bytes written since the last shared chunk.
    current: BytesMut,
    /// Length of everything in `chunks`.
    chunked_len: usize,
    /// Payloads that may be shared when written whole.
    shareable: Vec<Bytes>,
}

impl Rope {
    pub fn with_capacity(capacity: usize) -> Rope {
        Rope {
            current: BytesMut::with_capacity(capacity),
            ..Rope::default()
        }
    }

    /// Allows `payload` to be kept by reference when it is written in one piece.
    pub fn share(&mut self, payload: &Bytes) {
        if payload.len() >= SHARE_THRESHOLD_BYTES {
            self.shareable.push(payload.clone());
        }
    }

    pub fn len(&self) -> usize {
        self.chunked_len + self.current.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoded bytes, as chunks to write in order.
    pub fn into_chunks(mut self) -> Vec<Bytes> {
        if !self.current.is_empty() {
            self.chunks.push(self.current.freeze());
        }
        self.chunks
    }
}

// SAFETY: every method delegates to `current`, a `BytesMut`, whose contract is upheld.
unsafe impl BufMut for Rope {
    fn remaining_mut(&self) -> usize {
        self.current.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller initialised `cnt` bytes of the chunk `chunk_mut` returned,
        // which is `current`'s.
        unsafe { self.current.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.current.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        if src.len() >= SHARE_THRESHOLD_BYTES {
            let shared = self
                .shareable
                .iter()
                .find(|p| p.as_ptr() == src.as_ptr() && p.len() == src.len());
            if let Some(payload) = shared {
                let payload = payload.clone();
                if !self.current.is_empty() {
                    let done = self.current.split().freeze();
                    self.chunked_len += done.len();
                    self.chunks.push(done);
                }
                self.chunked_len += payload.len();
                self.chunks.push(payload);
                return;
            }
        }
        self.current.extend_from_slice(src);
    }
}

impl ByteBufMut for Rope {
    fn offset(&self) -> usize {
        self.len()
    }

    /// Gaps are only ever sought within the bytes written since the last shared chunk.
    fn seek(&mut self, offset: usize) {
        let within = offset.saturating_sub(self.chunked_len);
        self.current.resize(within, 0);
    }

    fn range(&mut self, r: Range<usize>) -> &mut [u8] {
        let start = r.start.saturating_sub(self.chunked_len);
        let end = r.end.saturating_sub(self.chunked_len);
        &mut self.current[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_payloads_are_shared_and_the_rest_copied() {
        let payload = Bytes::from(vec![7u8; 10_000]);
        let unregistered = vec![9u8; 10_000];
        let mut rope = Rope::with_capacity(64);
        rope.share(&payload);
        rope.put_i32(1);
        rope.put_slice(&payload);
        rope.put_i16(2);
        rope.put_slice(&unregistered);
        assert_eq!(rope.len(), 4 + 10_000 + 2 + 10_000);
        let chunks = rope.into_chunks();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1].as_ptr(), payload.as_ptr(), "shared, not copied");
        let flat: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let mut expected = 1i32.to_be_bytes().to_vec();
        expected.extend_from_slice(&payload);
        expected.extend_from_slice(&2i16.to_be_bytes());
        expected.extend_from_slice(&unregistered);
        assert_eq!(flat, expected);
    }

    #[test]
    fn a_slice_of_a_registered_payload_is_copied() {
        let payload = Bytes::from(vec![1u8; 10_000]);
        let mut rope = Rope::default();
        rope.share(&payload);
        rope.put_slice(&payload[..5_000]);
        assert_eq!(rope.into_chunks().len(), 1);
    }
}
