//! One connection's life, bounded so that no client can hold what others
//! need:
//!
//! - at most `limits.max_connections_per_ip` connections from one address
//!   (one /64 for IPv6); more are closed at once;
//! - a connection that sends nothing is closed after the header deadline;
//! - a connection with no request or response in flight for
//!   `limits.header_read_timeout_secs` is closed, HTTP/2 included (GOAWAY,
//!   then close); a request head still arriving then (a slow-loris client)
//!   counts as idle, so this is the header deadline too;
//! - a response write that stalls for `limits.write_timeout_secs` (a client
//!   that stops reading), or a response that makes no progress for as long
//!   (an HTTP/2 client that leaves its window at zero), closes the
//!   connection;
//! - a connection still open `limits.request_timeout_secs` after the
//!   server began to drain is dropped;
//! - a plain HTTP/1.1 connection that asks for h2c (`h2c.rs`) goes on as
//!   HTTP/2 under the same watch, and is dropped if the client does not
//!   start HTTP/2 within a further header deadline.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use berth_core::config::LimitsConfig;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_io_timeout::TimeoutStream;

use super::h2c;
use super::request_id::PeerAddr;

/// Open connections by client address.
pub(crate) struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
    max: usize,
    /// Addresses never counted (reverse proxies).
    exempt: Vec<ipnet::IpNet>,
}

/// One connection counted against its address (uncounted on drop), or
/// from an exempt address.
pub(crate) struct AddressSlot {
    key: Option<IpAddr>,
    table: Arc<PerAddress>,
}

impl PerAddress {
    pub(crate) fn new(max: usize, exempt: Vec<ipnet::IpNet>) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::new(HashMap::new()),
            max: max.max(1),
            exempt,
        })
    }

    /// Counts a connection from `ip`, or refuses it when that address has
    /// `max` open already.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        if self.exempt.iter().any(|net| net.contains(&ip)) {
            return Some(AddressSlot {
                key: None,
                table: self.clone(),
            });
        }
        let key = address_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            key: Some(key),
            table: self.clone(),
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&key);
            }
        }
    }
}

/// IPv4 addresses count one by one; IPv6 addresses by /64, the block one
/// client usually holds (the one rule, also the audit log's refusal budget's).
pub(crate) use berth_core::address_key;

/// When a connection last started or finished a request, how many it has
/// in flight, and whether the responses it is sending move.
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    last_ms: AtomicU64,
    /// Responses whose head is ready and whose body is not done.
    sending: AtomicUsize,
    /// Counts every frame hyper takes from a response body, and responses
    /// starting and ending: the connection watch samples it (a counter,
    /// not a clock read per frame).
    progress: AtomicU64,
}

impl Activity {
    fn touch(&self, epoch: Instant) {
        self.last_ms
            .store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn progressed(&self) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts a request in flight until its response body is done, and its
/// response as being sent once its head is ready.
struct InFlight {
    activity: Arc<Activity>,
    epoch: Instant,
    sending: bool,
}

impl InFlight {
    fn new(activity: Arc<Activity>, epoch: Instant) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.touch(epoch);
        Self {
            activity,
            epoch,
            sending: false,
        }
    }

    fn sending(&mut self) {
        self.sending = true;
        self.activity.sending.fetch_add(1, Ordering::Relaxed);
        self.activity.progressed();
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.sending {
            self.activity.sending.fetch_sub(1, Ordering::Relaxed);
            self.activity.progressed();
        }
        self.activity.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.activity.touch(self.epoch);
    }
}

/// A response body as hyper takes it: each frame taken counts as progress
/// for the connection's watch, and the request stays in flight until the
/// body is done or dropped. A concrete type, not a boxed body: hyper sees
/// the inner body's frames (a cached download's buffer reaches the
/// sendfile stream unchanged) and its exact size (written as
/// `Content-Length`).
struct Tracked {
    body: axum::body::Body,
    guard: Option<InFlight>,
}

impl hyper::body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if let (std::task::Poll::Ready(Some(Ok(_))), Some(guard)) = (&polled, &this.guard) {
            guard.activity.progressed();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// How long an idle connection that was sent GOAWAY may stay.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The timeouts one connection lives under.
#[derive(Clone, Copy)]
pub(crate) struct Deadlines {
    first_byte: Duration,
    idle: Duration,
    write: Duration,
    closing: Duration,
}

impl Deadlines {
    pub(crate) fn new(limits: &LimitsConfig) -> Self {
        Self {
            first_byte: Duration::from_secs(limits.header_read_timeout_secs),
            idle: Duration::from_secs(limits.header_read_timeout_secs),
            write: Duration::from_secs(limits.write_timeout_secs),
            closing: Duration::from_secs(limits.request_timeout_secs),
        }
    }
}

/// The HTTP servers a connection may be given to.
#[derive(Clone)]
pub(crate) struct Servers {
    /// HTTP/1.1, or HTTP/2 by ALPN or with prior knowledge.
    pub(crate) any: Arc<auto::Builder<TokioExecutor>>,
    /// HTTP/2 alone, for connections switched by an h2c upgrade; None when
    /// upgrades are turned off (`h2c = false`).
    pub(crate) h2c: Option<Arc<auto::Builder<TokioExecutor>>>,
}

/// Serves one accepted connection from `peer` to its end, under
/// [`Deadlines`]. `draining` turns true when the server stops accepting.
pub(crate) async fn serve_connection(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    app: crate::App,
    servers: Servers,
    deadlines: Deadlines,
    draining: watch::Receiver<bool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    // A connection that never sends a byte is closed after the header
    // deadline (hyper's own deadline starts later).
    let mut first = [0u8; 1];
    match tokio::time::timeout(deadlines.first_byte, stream.peek(&mut first)).await {
        Ok(Ok(n)) if n > 0 => {}
        _ => return,
    }
    // Cached downloads leave plain connections by sendfile (`sendfile.rs`).
    #[cfg(target_os = "linux")]
    let stream = super::sendfile::SendfileStream::new(stream);
    let mut io = TimeoutStream::new(stream);
    io.set_write_timeout(Some(deadlines.write));
    let io = Box::pin(io);
    let Some(tls) = tls else {
        return drive(TokioIo::new(io), peer, app, servers, deadlines, draining).await;
    };
    // The handshake is bounded by the first-byte deadline too. Over TLS,
    // ALPN chooses HTTP/2; h2c upgrades are for plain connections only.
    let servers = Servers {
        h2c: None,
        ..servers
    };
    if let Ok(Ok(io)) = tokio::time::timeout(deadlines.first_byte, tls.accept(io)).await {
        drive(TokioIo::new(io), peer, app, servers, deadlines, draining).await;
    }
}

/// Runs hyper on one connection's (plain or TLS) stream until it ends,
/// closing it when idle or long after a drain began. A plain HTTP/1.1
/// connection that asks for h2c goes on as HTTP/2 under the same watch.
async fn drive<I>(
    io: TokioIo<I>,
    peer: std::net::SocketAddr,
    app: crate::App,
    servers: Servers,
    deadlines: Deadlines,
    mut draining: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let epoch = Instant::now();
    let peer = PeerAddr::new(peer);
    let activity = Arc::new(Activity::default());
    // The upgrade a request asked for, taken up once hyper lets go of the
    // connection.
    let upgrade: Arc<Mutex<Option<h2c::Pending>>> = Arc::default();
    let offers_h2c = servers.h2c.is_some();
    let service = {
        let activity = activity.clone();
        let upgrade = upgrade.clone();
        hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            let switching = if offers_h2c && h2c::asked(&req) {
                h2c::offer(&mut req)
            } else {
                None
            };
            if let Some((response, pending)) = switching {
                *upgrade.lock().unwrap_or_else(|e| e.into_inner()) = Some(pending);
                let response = response.map(|body| Tracked { body, guard: None });
                return futures::future::Either::Left(std::future::ready(Ok::<
                    _,
                    std::convert::Infallible,
                >(
                    response
                )));
            }
            let mut guard = InFlight::new(activity.clone(), epoch);
            let response = app.call(req.map(axum::body::Body::new), peer);
            futures::future::Either::Right(async move {
                // In flight until the response body is sent or dropped;
                // each frame hyper takes is progress (a client that takes
                // nothing, an HTTP/2 window left at zero, is cut off).
                let response = response.await;
                guard.sending();
                Ok::<_, std::convert::Infallible>(response.map(move |body| Tracked {
                    body,
                    guard: Some(guard),
                }))
            })
        })
    };
    let conn = pin!(servers
        .any
        .serve_connection_with_upgrades(io, service.clone()));
    let shut = |c: Pin<&mut _>| auto::UpgradeableConnection::graceful_shutdown(c);
    if !watch_over(conn, shut, &activity, epoch, deadlines, &mut draining).await {
        return;
    }
    let pending = upgrade.lock().unwrap_or_else(|e| e.into_inner()).take();
    let (Some(pending), Some(h2)) = (pending, servers.h2c) else {
        return;
    };
    let Some(io) = h2c::switch(pending, deadlines.first_byte).await else {
        return;
    };
    // The switch is activity: the idle clock starts again from here.
    activity.touch(epoch);
    let conn = pin!(h2.serve_connection(TokioIo::new(io), service));
    let shut = |c: Pin<&mut _>| auto::Connection::graceful_shutdown(c);
    watch_over(conn, shut, &activity, epoch, deadlines, &mut draining).await;
}

/// Waits for `conn` to end, asking it to close (`shutdown`: GOAWAY for
/// HTTP/2) when it has been idle for the idle deadline or when the server
/// drains, and dropping it if it is still open long after that. True when
/// it ended by itself (an upgrade may follow), false when it was dropped.
async fn watch_over<C, E>(
    mut conn: Pin<&mut C>,
    shutdown: impl Fn(Pin<&mut C>),
    activity: &Activity,
    epoch: Instant,
    deadlines: Deadlines,
    draining: &mut watch::Receiver<bool>,
) -> bool
where
    C: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut closing_since: Option<tokio::time::Instant> = None;
    let mut closing_for = deadlines.closing;
    if *draining.borrow() {
        shutdown(conn.as_mut());
        closing_since = Some(tokio::time::Instant::now());
    }
    let since = |ms: &AtomicU64| {
        epoch
            .elapsed()
            .saturating_sub(Duration::from_millis(ms.load(Ordering::Relaxed)))
    };
    // The progress counter as last seen, and since when.
    let mut progress_seen = (
        activity.progress.load(Ordering::Relaxed),
        tokio::time::Instant::now(),
    );
    loop {
        // Wakes when the connection would have been idle long enough
        // (with requests in flight, one idle or write period from now, to
        // look again, and to start watching a response that began
        // sending): no timer ticks on a quiet keep-alive connection.
        let last = Duration::from_millis(activity.last_ms.load(Ordering::Relaxed));
        let wake = if activity.in_flight.load(Ordering::Relaxed) > 0 {
            Instant::now() + deadlines.idle.min(deadlines.write)
        } else {
            epoch + last + deadlines.idle
        };
        let idle_check = tokio::time::sleep_until(wake.into());
        // While responses are being sent: the progress counter is looked
        // at every write period; unchanged for a whole period, they stalled.
        let sending = activity.sending.load(Ordering::Relaxed) > 0;
        let seen = activity.progress.load(Ordering::Relaxed);
        if seen != progress_seen.0 || !sending {
            progress_seen = (seen, tokio::time::Instant::now());
        }
        let stall_check = tokio::time::sleep_until(progress_seen.1 + deadlines.write);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return true;
            }
            () = idle_check, if closing_since.is_none() => {
                let idle_for = since(&activity.last_ms);
                if activity.in_flight.load(Ordering::Relaxed) == 0 && idle_for >= deadlines.idle {
                    // HTTP/2: GOAWAY. Nothing is in flight, so a client
                    // that does not go away (or never answers the GOAWAY's
                    // PING) is dropped after a short grace.
                    shutdown(conn.as_mut());
                    closing_since = Some(tokio::time::Instant::now());
                    closing_for = IDLE_CLOSE_GRACE;
                }
            }
            () = stall_check, if sending => {
                if activity.sending.load(Ordering::Relaxed) > 0
                    && activity.progress.load(Ordering::Relaxed) == progress_seen.0
                {
                    tracing::debug!(
                        "a response made no progress for the write deadline (the client takes nothing); dropping the connection"
                    );
                    return false;
                }
            }
            changed = draining.changed(), if closing_since.is_none() => {
                if changed.is_err() || *draining.borrow() {
                    shutdown(conn.as_mut());
                    closing_since = Some(tokio::time::Instant::now());
                }
            }
            () = tokio::time::sleep_until(
                closing_since.unwrap_or_else(tokio::time::Instant::now) + closing_for
            ), if closing_since.is_some() => {
                if closing_for == IDLE_CLOSE_GRACE && activity.in_flight.load(Ordering::Relaxed) > 0 {
                    // A request came in as the idle GOAWAY went out: it
                    // gets the drain's time to finish, not the grace's.
                    closing_for = deadlines.closing;
                    continue;
                }
                tracing::debug!("connection still open long after it was asked to close; dropping it");
                return false;
            }
        }
    }
}
