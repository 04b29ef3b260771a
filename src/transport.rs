//! The byte stream a connection runs over: plain TCP, or TLS around it (`security::tls`). A
//! [`Transport`] is any async stream that can also wait for a request's first byte without
//! reading it, and may offer a [`LowWaterMark`] for large requests.

// Unsafe code here: the SO_RCVLOWAT socket option, which std does not wrap; each block says why it is sound.
#![allow(unsafe_code)]

use std::future::Future;
use std::io;
use std::os::unix::io::{AsRawFd, RawFd};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {
    /// Resolves when the peer has sent a byte (or closed), without consuming it: an idle
    /// connection then holds no read buffer while it waits.
    fn wait_for_input(&mut self) -> impl Future<Output = io::Result<()>> + Send;

    /// The socket's receive low-water mark, when the stream has one to set.
    fn low_water_mark(&self) -> Option<LowWaterMark> {
        None
    }
}

impl Transport for TcpStream {
    async fn wait_for_input(&mut self) -> io::Result<()> {
        self.peek(&mut [0u8; 1]).await.map(drop)
    }

    fn low_water_mark(&self) -> Option<LowWaterMark> {
        Some(LowWaterMark {
            socket: self.as_raw_fd(),
        })
    }
}

/// The most a socket is asked to gather before it wakes the connection.
const LOW_WATER_MARK_MAX_BYTES: usize = 1024 * 1024;

/// A socket's `SO_RCVLOWAT`. Copied out of the stream so that it can be set while the stream
/// is borrowed by the read in progress; valid while that stream is open.
#[derive(Debug, Clone, Copy)]
pub struct LowWaterMark {
    socket: RawFd,
}

impl LowWaterMark {
    /// Asks the socket not to wake the connection before `rest` bytes (at most
    /// `LOW_WATER_MARK_MAX_BYTES`) have arrived, or before any, for 0: a large produce
    /// request is then received in a few large reads rather than many small ones, each a
    /// wake-up. The kernel still wakes the reader when its receive window would otherwise
    /// close. Failure only costs wake-ups, so it is logged, not returned.
    pub fn set(self, rest: usize) {
        let bytes = rest.clamp(1, LOW_WATER_MARK_MAX_BYTES) as libc::c_int;
        // SAFETY: a socket option on a descriptor the connection owns, with a live `c_int`.
        let set = unsafe {
            libc::setsockopt(
                self.socket,
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&bytes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if set != 0 {
            tracing::debug!(error = %io::Error::last_os_error(), "cannot set SO_RCVLOWAT");
        }
    }
}
