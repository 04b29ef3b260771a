//! Size-prefixed frames: a big-endian `i32` length, then that many bytes.
//!
//! The length is checked before anything is allocated, so a hostile or confused peer cannot
//! make the broker reserve more than `max_request_bytes`.

use std::fmt;
use std::io;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncReadExt, BufReader};

/// A buffered reader whose buffered bytes can be looked at without reading.
pub trait FrameSource: AsyncBufRead + Unpin {
    fn buffered(&self) -> &[u8];
}

impl<R: AsyncRead + Unpin> FrameSource for BufReader<R> {
    fn buffered(&self) -> &[u8] {
        self.buffer()
    }
}

/// The most the frame buffer grows by per read.
const READ_CHUNK_BYTES: usize = 1024 * 1024;
/// A rest of a frame at least this large is announced to `expect_more`.
const EXPECT_MORE_MIN_BYTES: usize = 128 * 1024;

/// Why a connection stops reading frames.
#[derive(Debug)]
pub enum FrameError {
    /// The peer closed the connection between frames.
    Closed,
    /// The length prefix is negative or above the limit.
    BadLength {
        length: i32,
        max_request_bytes: usize,
    },
    /// The socket failed, or closed in the middle of a frame.
    Io(io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Closed => write!(f, "connection closed by peer"),
            FrameError::BadLength {
                length,
                max_request_bytes,
            } => write!(
                f,
                "frame length {length} is outside 0..={max_request_bytes} (max_request_bytes)"
            ),
            FrameError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// The API key of the frame at the front of `buffered` when the whole frame is there, so
/// reading it needs no wait; `None` otherwise (including when the length is invalid:
/// [`read_frame`] reports that).
pub fn buffered_api_key(buffered: &[u8]) -> Option<i16> {
    let (prefix, rest) = buffered.split_first_chunk::<4>()?;
    let size = usize::try_from(i32::from_be_bytes(*prefix)).ok()?;
    let key = rest.first_chunk::<2>()?;
    (rest.len() >= size).then(|| i16::from_be_bytes(*key))
}

/// Reads one frame's payload (without its length prefix).
///
/// Before waiting for a large rest of a frame, `expect_more` is told how many bytes the
/// socket must still deliver (nothing of them being buffered), so the caller can ask not to
/// be woken for less. Once told anything, it is told the rest again before every later wait,
/// however small the rest has become — a mark left above what is still to come would never
/// be reached, and the frame would never be read — and 0 once the frame is whole.
pub async fn read_frame<R: FrameSource>(
    reader: &mut R,
    max_request_bytes: usize,
    mut expect_more: impl FnMut(usize),
) -> Result<Bytes, FrameError> {
    let mut prefix = [0u8; 4];
    match reader.read_exact(&mut prefix[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(FrameError::Io(e)),
    }
    reader
        .read_exact(&mut prefix[1..])
        .await
        .map_err(FrameError::Io)?;
    let length = i32::from_be_bytes(prefix);
    let size = usize::try_from(length).map_err(|_| FrameError::BadLength {
        length,
        max_request_bytes,
    })?;
    if size > max_request_bytes {
        return Err(FrameError::BadLength {
            length,
            max_request_bytes,
        });
    }
    // The buffer grows as bytes arrive, so a peer that announces a large frame and then
    // trickles (or stops) holds only what it actually sent.
    let mut payload = BytesMut::with_capacity(size.min(READ_CHUNK_BYTES));
    let mut expected = false;
    while payload.len() < size {
        let rest = size - payload.len();
        if (expected || rest >= EXPECT_MORE_MIN_BYTES) && reader.buffered().is_empty() {
            expect_more(rest);
            expected = true;
        }
        let want = rest.min(READ_CHUNK_BYTES);
        payload.reserve(want);
        let read = (&mut *reader)
            .take(want as u64)
            .read_buf(&mut payload)
            .await
            .map_err(FrameError::Io)?;
        if read == 0 {
            return Err(FrameError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the middle of a frame",
            )));
        }
    }
    if expected {
        expect_more(0);
    }
    Ok(payload.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(length: i32, body: &[u8]) -> Vec<u8> {
        let mut out = length.to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn a_buffered_frame_is_seen_only_when_whole() {
        let mut wire = framed(4, &[0, 3, 0, 9]);
        assert_eq!(buffered_api_key(&wire), Some(3));
        wire.extend(framed(6, &[0, 0, 0, 9]));
        assert_eq!(buffered_api_key(&wire), Some(3), "the first frame counts");
        assert_eq!(
            buffered_api_key(&wire[8..]),
            None,
            "the second is two bytes short"
        );
        assert_eq!(buffered_api_key(&wire[..7]), None);
        assert_eq!(buffered_api_key(&framed(-1, &[0, 0])), None);
        assert_eq!(
            buffered_api_key(&framed(1, &[0])),
            None,
            "too short for a key"
        );
    }

    #[tokio::test]
    async fn reads_a_frame_and_then_sees_the_close() {
        let wire = framed(3, b"abc");
        let mut reader = BufReader::new(&wire[..]);
        assert_eq!(
            read_frame(&mut reader, 16, |_| {}).await.unwrap(),
            &b"abc"[..]
        );
        assert!(matches!(
            read_frame(&mut reader, 16, |_| {}).await,
            Err(FrameError::Closed)
        ));
    }

    #[tokio::test]
    async fn refuses_negative_and_oversized_lengths_before_reading_them() {
        for length in [-1, i32::MIN, 17, i32::MAX] {
            let wire = framed(length, b"");
            let mut reader = BufReader::new(&wire[..]);
            assert!(matches!(
                read_frame(&mut reader, 16, |_| {}).await,
                Err(FrameError::BadLength { .. })
            ));
        }
    }

    #[tokio::test]
    async fn a_frame_cut_short_is_an_io_error() {
        let wire = framed(10, b"abc");
        let mut reader = BufReader::new(&wire[..]);
        assert!(matches!(
            read_frame(&mut reader, 16, |_| {}).await,
            Err(FrameError::Io(_))
        ));
    }

    #[tokio::test]
    async fn the_rest_of_a_large_frame_is_announced_exactly_once_nothing_is_buffered() {
        let size = 300_000;
        let wire = framed(size as i32, &vec![5u8; size]);
        let mut reader = BufReader::with_capacity(64 * 1024, &wire[..]);
        let mut announced = Vec::new();
        let frame = read_frame(&mut reader, 1 << 20, |rest| announced.push(rest))
            .await
            .unwrap();
        assert_eq!(frame.len(), size);
        // The first fill of the buffer brought the prefix and 65,532 bytes of payload.
        assert_eq!(announced, vec![size - (64 * 1024 - 4), 0]);

        let small = framed(3, b"abc");
        let mut reader = BufReader::new(&small[..]);
        let mut announced = Vec::new();
        read_frame(&mut reader, 16, |rest| announced.push(rest))
            .await
            .unwrap();
        assert!(announced.is_empty(), "small frames are not announced");
    }
}
