//! HTTP/2 for plain-HTTP clients that ask for it (RFC 9113 leaves this
//! out, RFC 7540 section 3.2 defines it): cargo, through libcurl, sends
//! `Upgrade: h2c` on the first request of every new `http://` connection.
//! A server that answers `101 Switching Protocols` gets every later request
//! of that cargo multiplexed on the one connection; a server that ignores
//! the header (nginx does) gets them over HTTP/1.1, where cargo opens at
//! most two connections to a host and sends one request at a time on each.
//!
//! hyper serves HTTP/2 but has no h2c upgrade: the request that asked for it
//! must be answered on stream 1 of the new HTTP/2 connection, which no
//! HTTP/2 server here can be told about. So the switch is made below it:
//!
//! 1. [`offer`] answers a qualifying HTTP/1.1 request with `101` and keeps
//!    the request's header block, HPACK-encoded as literals that touch no
//!    compression state, in a HEADERS frame on stream 1 with END_STREAM.
//! 2. [`switch`] takes the connection back from hyper, reads the client's
//!    connection preface and its first SETTINGS frame, and returns the
//!    connection with that frame spliced in after them, so that the HTTP/2
//!    server reads the upgraded request as the client's first stream (the
//!    client numbers its own streams from 3, as the RFC says). The
//!    `HTTP2-Settings` header's settings go into that first SETTINGS frame,
//!    ahead of the frame's own, so that they are in force from the start
//!    and acknowledged once.
//!
//! Only bodiless GET and HEAD requests are upgraded, and only on connections
//! without TLS (over TLS, HTTP/2 is chosen by ALPN); anything else, or a
//! malformed `HTTP2-Settings`, is answered over HTTP/1.1 as if the header
//! were not there, as the RFC allows.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, Response, StatusCode, Version};
use base64::Engine as _;
use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// What an HTTP/2 client sends first.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An HTTP/2 frame's header: length (3 bytes), type, flags, stream id (4).
const FRAME_HEADER: usize = 9;
const FRAME_HEADERS: u8 = 0x1;
const FRAME_SETTINGS: u8 = 0x4;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_ACK: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
/// The largest frame an HTTP/2 peer must accept before its SETTINGS say
/// otherwise (the server keeps this default).
const MAX_FRAME: usize = 16_384;
/// Each SETTINGS entry is 6 bytes. Longer `HTTP2-Settings` headers or first
/// SETTINGS frames are refused (a frame may be no longer anyway).
const MAX_SETTINGS: usize = MAX_FRAME;

/// An accepted upgrade: the connection hyper hands back once the `101` is
/// written, and the upgraded request as a HEADERS frame on stream 1.
pub(crate) struct Pending {
    upgrade: hyper::upgrade::OnUpgrade,
    /// The `HTTP2-Settings` payload: the client's settings, in force from
    /// the start (RFC 7540 section 3.2.1).
    settings: Vec<u8>,
    stream1: Vec<u8>,
}

/// Whether `req` asks for h2c at all (one header lookup; most requests do
/// not).
pub(crate) fn asked(req: &Request<hyper::body::Incoming>) -> bool {
    req.version() == Version::HTTP_11 && req.headers().contains_key(header::UPGRADE)
}

/// The `101` answer to `req` and the upgrade it starts, when `req` may be
/// upgraded to h2c; None to answer it over HTTP/1.1 instead.
pub(crate) fn offer(req: &mut Request<hyper::body::Incoming>) -> Option<(Response<Body>, Pending)> {
    let settings = qualifies(req)?;
    let stream1 = headers_frame(req)?;
    let upgrade = hyper::upgrade::on(req);
    let response = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, HeaderValue::from_static("Upgrade"))
        .header(header::UPGRADE, HeaderValue::from_static("h2c"))
        .body(Body::empty())
        .ok()?;
    Some((
        response,
        Pending {
            upgrade,
            settings,
            stream1,
        },
    ))
}

/// RFC 7540 section 3.2: `Upgrade` lists `h2c`, `Connection` lists
/// `Upgrade` and `HTTP2-Settings`, there is exactly one `HTTP2-Settings`
/// and it is a base64url SETTINGS payload (returned); and here also: a GET
/// or HEAD with no body.
fn qualifies(req: &Request<hyper::body::Incoming>) -> Option<Vec<u8>> {
    let headers = req.headers();
    if !matches!(*req.method(), Method::GET | Method::HEAD)
        || headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
    {
        return None;
    }
    let lists = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !lists(header::UPGRADE, "h2c")
        || !lists(header::CONNECTION, "upgrade")
        || !lists(header::CONNECTION, "http2-settings")
    {
        return None;
    }
    let mut settings = headers.get_all("http2-settings").iter();
    let (Some(only), None) = (settings.next(), settings.next()) else {
        return None;
    };
    SETTINGS_PAYLOAD
        .decode(only.as_bytes())
        .ok()
        .filter(|p| p.len() % 6 == 0 && p.len() <= MAX_SETTINGS)
}

/// base64url, padded or not (RFC 7540 asks for no padding; being lenient
/// costs nothing).
const SETTINGS_PAYLOAD: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Headers that name the HTTP/1.1 connection, not the request: HTTP/2
/// forbids them (an HTTP/2 server resets a stream that carries one).
fn connection_specific(name: &header::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "upgrade"
            | "http2-settings"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "host"
    )
}

/// `req` as an HTTP/2 HEADERS frame on stream 1 that ends the stream; None
/// when its header block does not fit one frame.
fn headers_frame(req: &Request<hyper::body::Incoming>) -> Option<Vec<u8>> {
    let mut block = Vec::with_capacity(512);
    literal(&mut block, b":method", req.method().as_str().as_bytes());
    literal(&mut block, b":scheme", b"http");
    let authority = req
        .uri()
        .authority()
        .map(|a| a.as_str().as_bytes())
        .or_else(|| req.headers().get(header::HOST).map(HeaderValue::as_bytes));
    if let Some(authority) = authority {
        // What HTTP/1.1 lets through in Host but HTTP/2 would refuse (the
        // stream reset, unanswered) stays on HTTP/1.1.
        axum::http::uri::Authority::try_from(authority).ok()?;
        literal(&mut block, b":authority", authority);
    }
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    literal(&mut block, b":path", path.as_bytes());
    // Headers the Connection header names are hop-by-hop too.
    let named: Vec<String> = req
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    for (name, value) in req.headers() {
        if connection_specific(name) || named.iter().any(|n| n == name.as_str()) {
            continue;
        }
        literal(&mut block, name.as_str().as_bytes(), value.as_bytes());
    }
    if block.len() > MAX_FRAME {
        return None;
    }
    let mut frame = Vec::with_capacity(FRAME_HEADER + block.len());
    frame.extend_from_slice(&(block.len() as u32).to_be_bytes()[1..]);
    frame.push(FRAME_HEADERS);
    frame.push(FLAG_END_STREAM | FLAG_END_HEADERS);
    frame.extend_from_slice(&1u32.to_be_bytes());
    frame.extend_from_slice(&block);
    Some(frame)
}

/// HPACK "literal header field without indexing, new name" (RFC 7541
/// section 6.2.2), no Huffman coding: it adds nothing to the decoder's
/// dynamic table, so the client's own header compression stays in step.
fn literal(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x00);
    string(out, name);
    string(out, value);
}

/// An HPACK string literal, not Huffman coded: its length as a 7-bit-prefix
/// integer (RFC 7541 section 5.1), then its bytes.
fn string(out: &mut Vec<u8>, s: &[u8]) {
    const PREFIX_MAX: usize = 127;
    let mut n = s.len();
    if n < PREFIX_MAX {
        out.push(n as u8);
    } else {
        out.push(PREFIX_MAX as u8);
        n -= PREFIX_MAX;
        while n >= 128 {
            out.push((n % 128) as u8 | 0x80);
            n /= 128;
        }
        out.push(n as u8);
    }
    out.extend_from_slice(s);
}

/// The upgraded connection, ready for an HTTP/2 server: it waits for hyper
/// to hand it back, then for the client's preface and first SETTINGS frame
/// (within `deadline`), and splices the upgraded request in after them.
/// None when the client does not send them in time or sends anything else
/// (the connection is then dropped).
pub(crate) async fn switch(
    pending: Pending,
    deadline: Duration,
) -> Option<Spliced<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>> {
    let work = async {
        let upgraded = pending.upgrade.await.ok()?;
        let mut io = hyper_util::rt::TokioIo::new(upgraded);
        let mut got = Vec::with_capacity(PREFACE.len() + FRAME_HEADER + MAX_SETTINGS);
        let mut chunk = [0u8; 512];
        let mut need = PREFACE.len() + FRAME_HEADER;
        while got.len() < need {
            let n = io.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            got.extend_from_slice(&chunk[..n]);
            if got.len() >= PREFACE.len() + FRAME_HEADER && need == PREFACE.len() + FRAME_HEADER {
                need += settings_length(&got)?;
            }
        }
        // One SETTINGS frame: the header's settings, then the frame's own
        // (applied in order, so the frame's win; one acknowledgement, as
        // the client expects for its frame), then the upgraded request.
        let (preface, first) = got.split_at(PREFACE.len());
        let own = &first[FRAME_HEADER..need - PREFACE.len()];
        let merged = pending.settings.len() + own.len();
        if merged > MAX_FRAME {
            return None;
        }
        let mut prefix =
            Vec::with_capacity(got.len() + pending.settings.len() + pending.stream1.len());
        prefix.extend_from_slice(preface);
        prefix.extend_from_slice(&(merged as u32).to_be_bytes()[1..]);
        prefix.extend_from_slice(&first[3..FRAME_HEADER]);
        prefix.extend_from_slice(&pending.settings);
        prefix.extend_from_slice(own);
        prefix.extend_from_slice(&pending.stream1);
        prefix.extend_from_slice(&got[need..]);
        Some(Spliced {
            prefix: Bytes::from(prefix),
            inner: io,
        })
    };
    match tokio::time::timeout(deadline, work).await {
        Ok(Some(io)) => {
            metrics::counter!("berth_h2c_upgrades_total").increment(1);
            tracing::debug!("connection switched to HTTP/2 (h2c upgrade)");
            Some(io)
        }
        Ok(None) => {
            tracing::debug!("h2c upgrade: the client did not start HTTP/2; closing");
            None
        }
        Err(_) => {
            tracing::debug!("h2c upgrade: no HTTP/2 preface in time; closing");
            None
        }
    }
}

/// The length of the SETTINGS frame that must follow the preface at the
/// start of `got`, or None when it is not the preface and a SETTINGS frame
/// (not an ACK, on stream 0, of a sane length).
fn settings_length(got: &[u8]) -> Option<usize> {
    let (preface, frame) = got.split_at(PREFACE.len());
    if preface != PREFACE {
        return None;
    }
    let length = usize::from(frame[0]) << 16 | usize::from(frame[1]) << 8 | usize::from(frame[2]);
    let stream = u32::from_be_bytes([frame[5], frame[6], frame[7], frame[8]]) & 0x7fff_ffff;
    let fits = length % 6 == 0 && length <= MAX_SETTINGS;
    (frame[3] == FRAME_SETTINGS && frame[4] & FLAG_ACK == 0 && stream == 0 && fits)
        .then_some(length)
}

/// A connection whose first reads come from `prefix`.
pub(crate) struct Spliced<I> {
    prefix: Bytes,
    inner: I,
}

impl<I: AsyncRead + Unpin> AsyncRead for Spliced<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.prefix.has_remaining() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Spliced<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpack_lengths_use_the_seven_bit_prefix_encoding() {
        // RFC 7541 C.1: 10 in a 5-bit prefix is one byte; here, 7 bits.
        let mut out = Vec::new();
        string(&mut out, &[b'a'; 126]);
        assert_eq!(out[0], 126);
        assert_eq!(out.len(), 127);
        out.clear();
        string(&mut out, &[b'a'; 127]);
        assert_eq!(&out[..2], &[127, 0]);
        out.clear();
        // 1337 = 127 + 1210; 1210 = 0x4ba: 0xba (0x3a | 0x80), then 9.
        string(&mut out, &[b'a'; 1337]);
        assert_eq!(&out[..3], &[127, 0xba, 9]);
        assert_eq!(out.len(), 3 + 1337);
    }

    #[test]
    fn only_the_preface_then_a_settings_frame_is_accepted() {
        let mut ok = PREFACE.to_vec();
        ok.extend_from_slice(&[0, 0, 12, FRAME_SETTINGS, 0, 0, 0, 0, 0]);
        assert_eq!(settings_length(&ok), Some(12));
        let mut ack = ok.clone();
        ack[PREFACE.len() + 4] = FLAG_ACK;
        assert_eq!(settings_length(&ack), None);
        let mut other = ok.clone();
        other[PREFACE.len() + 3] = FRAME_HEADERS;
        assert_eq!(settings_length(&other), None);
        let mut odd = ok.clone();
        odd[PREFACE.len() + 2] = 13;
        assert_eq!(settings_length(&odd), None);
        let mut not_preface = ok.clone();
        not_preface[0] = b'G';
        assert_eq!(settings_length(&not_preface), None);
    }
}
