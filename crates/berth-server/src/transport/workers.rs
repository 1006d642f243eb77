//! The threads that serve HTTP: one single-threaded tokio event loop per
//! thread (by default one thread per CPU core).
//!
//! The accept loop admits a connection and hands it here; it stays on the
//! thread with the fewest open connections at that moment until it closes.
//! On a work-stealing runtime every request that arrived on one worker's
//! reactor woke another worker to run it (a futex wake and an
//! inter-processor interrupt per request, and the request's data moving
//! between caches); here a connection's reads, handler and writes run where
//! its readiness was seen. What must not hold a thread (index builds,
//! tarball checks, password hashes) already goes to `spawn_blocking`, and
//! each worker has its own blocking pool.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::conn;

/// How many worker threads: `configured`, or one per CPU core when 0.
pub(crate) fn count(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// What every worker serves connections with.
#[derive(Clone)]
pub(crate) struct Serving {
    pub(crate) app: crate::App,
    pub(crate) servers: conn::Servers,
    pub(crate) deadlines: conn::Deadlines,
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
}

/// An admitted connection on its way to a worker.
pub(crate) struct Accepted {
    pub(crate) stream: std::net::TcpStream,
    pub(crate) peer: SocketAddr,
    /// Held until the connection ends: the graceful drain waits for it.
    pub(crate) draining: watch::Receiver<bool>,
    /// The connection's admission (its slots), released when it ends.
    pub(crate) held: Box<dyn Send>,
}

struct Worker {
    queue: mpsc::UnboundedSender<Accepted>,
    open: Arc<AtomicUsize>,
}

/// The running workers.
pub(crate) struct Pool {
    workers: Vec<Worker>,
    stop: watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Pool {
    /// Starts `n` worker threads (at least one).
    pub(crate) fn start(n: usize, serving: Serving) -> std::io::Result<Self> {
        let (stop, _) = watch::channel(false);
        let mut workers = Vec::new();
        let mut threads = Vec::new();
        for i in 0..n.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (queue, arrivals) = mpsc::unbounded_channel();
            let open = Arc::new(AtomicUsize::new(0));
            let (serving, count, stop) = (serving.clone(), open.clone(), stop.subscribe());
            let thread = std::thread::Builder::new()
                .name(format!("berth-http-{i}"))
                .spawn(move || runtime.block_on(run(arrivals, serving, count, stop)))?;
            workers.push(Worker { queue, open });
            threads.push(thread);
        }
        tracing::debug!(workers = workers.len(), "HTTP worker threads started");
        Ok(Self {
            workers,
            stop,
            threads,
        })
    }

    /// Gives `conn` to the worker with the fewest open connections.
    pub(crate) fn dispatch(&self, conn: Accepted) {
        let Some(worker) = self
            .workers
            .iter()
            .min_by_key(|w| w.open.load(Ordering::Relaxed))
        else {
            return;
        };
        worker.open.fetch_add(1, Ordering::Relaxed);
        if worker.queue.send(conn).is_err() {
            worker.open.fetch_sub(1, Ordering::Relaxed);
            tracing::error!("an HTTP worker thread has stopped; connection dropped");
        }
    }

    /// Stops every worker (connections still open are dropped) and waits
    /// for their threads to end.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        drop(self.workers);
        let threads = self.threads;
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                if thread.join().is_err() {
                    tracing::error!("an HTTP worker thread panicked");
                }
            }
        });
        let _ = joined.await;
    }
}

/// Counts a connection as open on its worker until dropped.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One worker's loop: serve each arriving connection until told to stop.
async fn run(
    mut arrivals: mpsc::UnboundedReceiver<Accepted>,
    serving: Serving,
    open: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let conn = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            conn = arrivals.recv() => match conn {
                Some(conn) => conn,
                None => return,
            },
        };
        let counted = Open(open.clone());
        let serving = serving.clone();
        tokio::spawn(async move {
            let _counted = counted;
            let Accepted {
                stream,
                peer,
                draining,
                held,
            } = conn;
            // Registers the socket with this thread's event loop.
            let stream = match tokio::net::TcpStream::from_std(stream) {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "could not take over an accepted connection");
                    return;
                }
            };
            conn::serve_connection(
                stream,
                peer,
                serving.app,
                serving.servers,
                serving.deadlines,
                draining,
                serving.tls,
            )
            .await;
            drop(held);
        });
    }
}
