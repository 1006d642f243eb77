//! The transport: how bytes become requests for [`crate::App`] and its
//! answers go back. The accept loop (connection limits in all and per
//! address), the worker threads each connection is served on (`workers`),
//! each connection's protocol and deadlines (`conn`, HTTP/1.1 and HTTP/2,
//! `h2c` upgrades), TLS (`tls`), downloads sent with `sendfile`, and the
//! outermost middleware every request passes (`request_id`). Nothing here
//! knows a route, a registry or a business rule: requests go to the app
//! through [`crate::App::call`].

pub(crate) mod conn;
pub(crate) mod h2c;
pub(crate) mod request_id;
#[cfg(target_os = "linux")]
pub(crate) mod sendfile;
pub(crate) mod tls;
pub(crate) mod workers;

use std::sync::Arc;
use std::time::Duration;

use berth_core::Berth;

use crate::App;

/// Accepts connections and serves them with hyper: a bounded number of
/// connections in all and per client address, TCP_NODELAY, HTTP/1.1 and
/// HTTP/2 (see [`conn`] for each connection's deadlines), and a graceful
/// drain when `shutdown` resolves.
///
/// This task only accepts and admits. Each admitted connection is handed to
/// one of [`workers`]' threads (the one with the fewest open connections),
/// which serves it to the end on its own single-threaded event loop: a
/// request never wakes another thread, and a connection's reads, handler
/// and writes stay on one core's caches. Blocking work (index builds,
/// tarball checks, password hashes) still leaves for the blocking pool.
pub(crate) async fn accept_loop(
    berth: &Berth,
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(),
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioTimer};
    use hyper_util::server::conn::auto;

    let limits = &berth.config.limits;
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let per_address = conn::PerAddress::new(
        limits.max_connections_per_ip,
        limits.connections_per_ip_exempt.clone(),
    );
    let deadlines = conn::Deadlines::new(limits);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // No per-request header timer (hyper's costs a timer-wheel entry
        // and an allocation per request): `conn.rs` closes a connection
        // idle for the header deadline, which bounds a trickled head too,
        // counted from the last request's end.
        .header_read_timeout(None)
        .max_buf_size(256 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(128)
        .max_pending_accept_reset_streams(64)
        .max_local_error_reset_streams(256)
        .max_header_list_size(64 * 1024)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let tls = tls::acceptor(&berth.config.tls)?;
    let servers = conn::Servers {
        h2c: berth
            .config
            .h2c
            .then(|| Arc::new(builder.clone().http2_only())),
        any: Arc::new(builder),
    };
    let pool = workers::Pool::start(
        workers::count(berth.config.workers),
        workers::Serving {
            app,
            servers,
            deadlines,
            tls,
        },
    )?;
    ready();
    // Every connection holds a receiver: the drain ends when all are gone.
    let (draining, watch_drain) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(address_slot) = per_address.admit(peer.ip()) else {
            metrics::counter!("berth_refused_total", "reason" => "connections_per_ip").increment(1);
            tracing::debug!(peer = %peer.ip(), "connection refused: too many from this address");
            continue;
        };
        // Small responses go out at once instead of waiting on delayed ACKs.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::trace!(error = %e, "could not set TCP_NODELAY");
        }
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "could not hand the connection to a worker");
                continue;
            }
        };
        pool.dispatch(workers::Accepted {
            stream,
            peer,
            draining: watch_drain.clone(),
            held: Box::new((permit, address_slot)),
        });
    }
    drop(listener);
    drop(watch_drain);
    let _ = draining.send(true);
    tokio::select! {
        () = draining.closed() => {}
        () = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("requests still running after 30 s of draining; stopping anyway");
        }
    }
    pool.stop().await;
    Ok(())
}
