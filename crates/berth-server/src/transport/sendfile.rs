//! A TCP stream that sends cached `.crate` bytes with `sendfile`.
//!
//! A download served from the cache is a `Bytes` backed by a memory file
//! (`berth_core::sendable`). hyper hands that buffer, unchanged, to the
//! connection's vectored write, after the response's head. This stream
//! recognises it there and asks the kernel to send the file's pages
//! (`sendfile`), where a plain write would copy every byte into the socket
//! first: the copy was the largest single cost of serving a download.
//!
//! Anything else is written as `TcpStream` writes it. Bytes before a
//! recognised buffer (a head, or an earlier pipelined answer) go out first
//! with `MSG_MORE`, so that the head and the body still leave in the same
//! packets. A write that cannot go on returns `Pending` like any other, so
//! the write deadline above this stream (`tokio-io-timeout`) sees a stalled
//! client the same way. Over TLS the stream only ever sees ciphertext, and
//! over HTTP/2 h2's frames, whose payloads (16 KiB unless the client allows
//! larger frames) h2 copies into its own buffer: both are written as any
//! other bytes, and would be sent byte for byte either way.
//!
//! `sendfile` has no `MSG_NOSIGNAL`: a peer gone away would raise SIGPIPE,
//! which Rust's runtime ignores before `main` (tokio's own writes rely on
//! that as well), so it comes back as an `EPIPE` error.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use berth_core::sendable::{self, Arena};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// Buffers smaller than this are written, not looked up: copying a few
/// kilobytes costs less than a second system call.
const MIN_SENDFILE: usize = 16 * 1024;

/// A `TcpStream` whose writes send arena-backed buffers with `sendfile`.
pub(crate) struct SendfileStream {
    tcp: TcpStream,
}

impl SendfileStream {
    pub(crate) fn new(tcp: TcpStream) -> Self {
        Self { tcp }
    }

    /// Sends `len` bytes of `arena`'s file from `offset`.
    fn poll_sendfile(
        &self,
        cx: &mut Context<'_>,
        arena: &Arena,
        offset: u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            let sent = self.tcp.try_io(Interest::WRITABLE, || {
                let mut at = offset;
                rustix::fs::sendfile(&self.tcp, arena.file(), Some(&mut at), len)
                    .map_err(io::Error::from)
            });
            match sent {
                Ok(n) => {
                    crate::count_sendfile_bytes(n);
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.tcp.poll_write_ready(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Writes `bufs` (what comes before a sendfile) with `MSG_MORE`: the
    /// kernel holds them for the file's bytes that follow.
    fn poll_send_more(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        use rustix::net::{SendAncillaryBuffer, SendFlags};
        loop {
            let sent = self.tcp.try_io(Interest::WRITABLE, || {
                rustix::net::sendmsg(
                    &self.tcp,
                    bufs,
                    &mut SendAncillaryBuffer::default(),
                    SendFlags::MORE | SendFlags::NOSIGNAL,
                )
                .map_err(io::Error::from)
            });
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.tcp.poll_write_ready(cx))?;
                }
                other => return Poll::Ready(other),
            }
        }
    }
}

/// The first buffer of `bufs` that lies in an arena, with its arena and
/// offset there.
fn first_sendable(bufs: &[IoSlice<'_>]) -> Option<(usize, Arc<Arena>, u64)> {
    bufs.iter().enumerate().find_map(|(i, b)| {
        if b.len() < MIN_SENDFILE {
            return None;
        }
        let (arena, offset) = sendable::find(b)?;
        Some((i, arena, offset))
    })
}

impl AsyncRead for SendfileStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendfileStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match first_sendable(bufs) {
            None => Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs),
            // The buffers before it first; the caller comes back for the
            // rest (a short write), starting with the arena's buffer.
            Some((i, _, _)) if i > 0 => this.poll_send_more(cx, &bufs[..i]),
            Some((_, arena, offset)) => this.poll_sendfile(cx, &arena, offset, bufs[0].len()),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
