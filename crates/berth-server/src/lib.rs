//! Berth's HTTP layer.
//!
//! Routes: `/r/{registry}/index/...` (cargo's sparse index),
//! `/r/{registry}/api/v1/...` (cargo's web API), `/health`, `/ready` and
//! `/metrics`. Handlers are thin: extract, call one service method on
//! [`Berth`], map the result. Every error leaves through [`error::ApiError`]
//! in cargo's JSON shape. This crate holds no business rules and no SQL.

mod api;
mod caller;
mod client;
mod docs;
mod error;
mod guard;
mod index;
mod mgmt;
mod ops;
mod toolchains;
mod transparency;
mod transport;
mod trust;
mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put, MethodRouter};
use axum::Router;
use berth_core::Berth;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

pub use error::ApiError;
pub use transport::request_id::current_request;
pub use transport::tls::check as check_tls;

/// What every handler can reach: one shared allocation, so that the
/// per-request clones the middleware and extractors make are one reference
/// count each.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The fields of [`AppState`].
pub struct Shared {
    pub berth: Arc<Berth>,
    pub metrics: PrometheusHandle,
    pub started_at: i64,
    /// Client addresses, allow-lists and the brute-force throttle.
    pub(crate) guard: Arc<guard::Guard>,
    /// The web UI's in-memory state (login rate limits).
    pub ui: Arc<ui::UiState>,
}

/// Installs the Prometheus recorder (once per process) and returns its handle.
pub fn metrics_handle() -> PrometheusHandle {
    let recorder = PrometheusBuilder::new()
        .set_buckets(&[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ])
        .map(|b| b.build_recorder())
        .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        tracing::debug!("a metrics recorder was already installed");
    }
    handle
}

/// The route of index files (a metrics label too).
const INDEX_FILE_ROUTE: &str = "/r/{registry}/index/{*path}";
const DOWNLOAD_ROUTE: &str = "/r/{registry}/api/v1/crates/{name}/{version}/download";
const DOCS_FILE_ROUTE: &str = "/r/{registry}/docs/{name}/{version}/{*path}";

/// The application as connections call it: the router, except for index
/// file requests (what cargo asks most), whose handler is called directly
/// inside the same outermost middleware. The router's dispatch, parameter
/// decoding and per-route layers were a sixth of such a request's
/// instructions.
#[derive(Clone)]
pub(crate) struct App {
    router: Router,
    state: AppState,
}

impl App {
    pub(crate) fn new(state: AppState) -> Self {
        Self {
            router: router(state.clone()),
            state,
        }
    }

    /// Answers one request. The future is boxed, whichever path answers:
    /// hyper moves it, and a box moves as a pointer.
    pub(crate) fn call(
        &self,
        mut req: Request,
        peer: transport::request_id::PeerAddr,
    ) -> futures::future::BoxFuture<'static, Response> {
        // The hot read paths (and docs files, which a page loads by the
        // dozen), told from the URI alone, are answered without the router.
        let direct = if index::is_direct(&req) {
            Some(Direct::IndexFile)
        } else if api::is_direct_download(&req) {
            Some(Direct::Download)
        } else if docs::is_direct(&req) {
            Some(Direct::DocsFile)
        } else {
            None
        };
        let Some(direct) = direct else {
            // The outermost middleware finds the peer there.
            req.extensions_mut().insert(peer);
            // A router is always ready: no poll_ready needed.
            let mut router = self.router.clone();
            return Box::pin(async move {
                match tower::Service::call(&mut router, req).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            });
        };
        let state = self.state.clone();
        let route = match direct {
            Direct::IndexFile => INDEX_FILE_ROUTE,
            Direct::Download => DOWNLOAD_ROUTE,
            Direct::DocsFile => DOCS_FILE_ROUTE,
        };
        // The handler's state machine (kilobytes) is boxed on its own, so
        // that the middleware's is small to box and to move.
        let answer = transport::request_id::around(
            state.clone(),
            req,
            Some(peer),
            ("GET", route),
            move |req| {
                let handler: futures::future::BoxFuture<'static, Response> = match direct {
                    Direct::IndexFile => Box::pin(index::index_file_direct(state, req)),
                    Direct::Download => Box::pin(api::download_direct(state, req)),
                    Direct::DocsFile => Box::pin(docs::file_direct(state, req)),
                };
                handler
            },
        );
        // A body of known size is sent with its length, not chunked, as
        // the router's routes send it: hyper writes `Content-Length` itself
        // from the body's exact size (HTTP/1.1 and HTTP/2), without a
        // header value made and hashed into the map here.
        Box::pin(answer)
    }
}

/// A request [`App::call`] answers without the router.
#[derive(Clone, Copy)]
enum Direct {
    IndexFile,
    Download,
    DocsFile,
}

/// `serve`'s answer, or its error's; a 500 if it panics, as the router's
/// panic layer gives (not a dropped connection).
pub(crate) async fn unwound(
    what: &str,
    serve: impl std::future::Future<Output = Result<Response, ApiError>>,
) -> Response {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(serve).catch_unwind().await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => e.into_response(),
        Err(_) => ApiError(berth_core::ServiceError::Internal(format!(
            "the {what} handler panicked"
        )))
        .into_response(),
    }
}

/// Counts a download in `berth_downloads_total` (through a handle each
/// worker thread keeps, as [`record_request`] does).
pub(crate) fn count_download() {
    thread_local! {
        static DOWNLOADS: metrics::Counter = metrics::counter!("berth_downloads_total");
    }
    DOWNLOADS.with(|c| c.increment(1));
}

/// Counts bytes of cached downloads sent with `sendfile` in
/// `berth_sendfile_bytes_total`.
#[cfg(target_os = "linux")]
pub(crate) fn count_sendfile_bytes(n: usize) {
    thread_local! {
        static SENT: metrics::Counter = metrics::counter!("berth_sendfile_bytes_total");
    }
    SENT.with(|c| c.increment(n as u64));
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.berth.config.limits.request_timeout_secs.max(1));
    // A whole-request deadline for everything but the hot read paths (index
    // files and downloads), which stay timer-free; their connections are
    // bounded by the header deadline and the connection cap instead.
    let deadline = |route: MethodRouter<AppState>| {
        route
            .layer(TimeoutLayer::with_status_code(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                timeout,
            ))
            .layer(middleware::from_fn(explain_timeouts))
    };
    // The route table, declared once: the router and the metrics labels
    // both come from it. Full paths rather than nested routers: no prefix
    // stripping on the hot path.
    let mut table: Vec<(&'static str, MethodRouter<AppState>)> = vec![
        ("/health", get(ops::health)),
        ("/ready", deadline(get(ops::ready))),
        ("/metrics", get(ops::metrics)),
        ("/r/{registry}/index/config.json", get(index::config_json)),
        (INDEX_FILE_ROUTE, get(index::index_file)),
        ("/r/{registry}/api/v1/crates", deadline(get(api::search))),
        (
            "/r/{registry}/api/v1/crates/new",
            deadline(put(api::publish)),
        ),
        (DOWNLOAD_ROUTE, get(api::download)),
        // A long poll: its own bound (`wait`), below the request deadline.
        ("/r/{registry}/api/v1/changes", get(api::changes)),
        (
            "/r/{registry}/api/v1/crates/{name}/{version}/yank",
            deadline(axum::routing::delete(api::yank)),
        ),
        (
            "/r/{registry}/api/v1/crates/{name}/{version}/unyank",
            deadline(put(api::unyank)),
        ),
        (
            "/r/{registry}/api/v1/crates/{name}/{version}/promote",
            deadline(post(api::promote)),
        ),
        (
            "/r/{registry}/api/v1/crates/{name}/{version}/docs",
            put(docs::upload),
        ),
        ("/r/{registry}/docs/{name}/{version}", get(docs::top)),
        ("/r/{registry}/docs/{name}/{version}/", get(docs::index)),
        (DOCS_FILE_ROUTE, deadline(get(docs::file))),
        (
            "/r/{registry}/api/v1/crates/{name}/owners",
            deadline(
                get(api::list_owners)
                    .put(api::add_owners)
                    .delete(api::remove_owners),
            ),
        ),
        (
            "/r/{registry}/api/v1/trusted_publishing/tokens",
            deadline(post(trust::exchange).delete(trust::revoke)),
        ),
        ("/r/{registry}/me", get(ops::me)),
        // rustup's distribution layout of a toolchains registry.
        ("/t/{registry}/{*path}", get(toolchains::file)),
        ("/r/{registry}/log/key", deadline(get(transparency::key))),
        ("/r/{registry}/log/keys", deadline(get(transparency::keys))),
        (
            "/r/{registry}/log/checkpoint",
            deadline(get(transparency::checkpoint)),
        ),
        (
            "/r/{registry}/log/lookup/{name}/{version}",
            deadline(get(transparency::lookup)),
        ),
        (
            "/r/{registry}/log/consistency",
            deadline(get(transparency::consistency)),
        ),
        (
            "/r/{registry}/log/records",
            deadline(get(transparency::records)),
        ),
        (
            "/api/v1/registries/{registry}/crates/{name}",
            deadline(get(mgmt::crate_detail)),
        ),
        (
            "/api/v1/registries/{registry}/crates/{name}/{version}/docs-build",
            deadline(get(docs::build_status)),
        ),
        (
            "/api/v1/registries/{registry}/crates/{name}/{version}/readme",
            deadline(get(mgmt::readme)),
        ),
        ("/api/v1/audit", deadline(get(mgmt::audit))),
        ("/api/v1/advisories", deadline(get(mgmt::advisories))),
        (
            "/api/v1/registries/{registry}/check",
            deadline(post(mgmt::check)),
        ),
        (
            "/api/v1/me/tokens",
            deadline(get(mgmt::my_tokens).post(mgmt::create_my_token)),
        ),
        (
            "/api/v1/me/tokens/{id}",
            deadline(axum::routing::delete(mgmt::revoke_my_token)),
        ),
    ];
    // The web UI's pages, each with its own layers (security headers,
    // compression, a small body limit) and the request deadline.
    table.extend(ui::routes().into_iter().map(|(p, r)| (p, deadline(r))));
    let _ = ROUTES.set(table.iter().map(|(path, _)| *path).collect());
    let mut router = Router::new();
    for (path, route) in table {
        router = router.route(path, route);
    }
    router
        .fallback(ui::fallback)
        .layer(CatchPanicLayer::new())
        // Outermost, one layer for what every request needs: the client's
        // address, the registry allow-lists, the request id and its span,
        // cargo's login hint on a 401, the log line, the metrics.
        // Each layer costs an allocation and a move of the request per
        // request, which the hot paths feel.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            transport::request_id::request_id,
        ))
        .with_state(state)
}

/// Gives the bare 408 of the timeout layer cargo's error body.
async fn explain_timeouts(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if response.status() == axum::http::StatusCode::REQUEST_TIMEOUT
        && !response
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
    {
        return error::json_error(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            "the request took longer than the server's limit (limits.request_timeout_secs); \
             a slow or stalled upload is cut off",
        );
    }
    response
}

/// The metrics labels of a request known before it is served: its method
/// and route template (static strings: no allocation per request).
pub(crate) fn request_labels(req: &Request) -> (&'static str, &'static str) {
    let route: &'static str = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| {
            ROUTES
                .get()
                .and_then(|routes| routes.iter().copied().find(|r| *r == p.as_str()))
        })
        .unwrap_or("unmatched");
    let method: &'static str = match *req.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::POST => "POST",
        _ => "other",
    };
    (method, route)
}

/// Counts a served request and its duration.
pub(crate) fn record_request(
    (method, route): (&'static str, &'static str),
    status: u16,
    elapsed: Duration,
) {
    let status: &'static str = match status {
        200 => "200",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        408 => "408",
        409 => "409",
        413 => "413",
        500 => "500",
        503 => "503",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    };
    // Looking a labelled metric up in the registry builds its key (an
    // allocation and a hash) on every call: each worker thread keeps the
    // handles it has used. The labels are `'static` strings from fixed
    // sets, so their addresses are key enough (a string that appears at two
    // addresses only gets two entries for the same metric).
    type Handles = (metrics::Counter, metrics::Histogram);
    thread_local! {
        static HANDLES: std::cell::RefCell<
            std::collections::HashMap<[usize; 3], Handles, foldhash::fast::FixedState>,
        > =
            std::cell::RefCell::default();
    }
    let key = [
        method.as_ptr() as usize,
        route.as_ptr() as usize,
        status.as_ptr() as usize,
    ];
    HANDLES.with_borrow_mut(|handles| {
        let (count, duration) = handles.entry(key).or_insert_with(|| {
            let labels = [("method", method), ("route", route), ("status", status)];
            (
                metrics::counter!("berth_http_requests_total", &labels),
                metrics::histogram!("berth_http_request_duration_seconds", &labels),
            )
        });
        count.increment(1);
        duration.record(elapsed.as_secs_f64());
    });
}

/// Route templates, as metrics labels: filled from the route table.
static ROUTES: std::sync::OnceLock<Box<[&'static str]>> = std::sync::OnceLock::new();

/// Serves until `shutdown` resolves, then drains in-flight requests and
/// writes buffered download counts.
///
/// `ready` is called once the server can answer: the TLS certificate
/// loaded, the worker threads running, the socket bound (by the caller) and
/// about to be accepted on. Announce the server there, not before: a start
/// that fails (a certificate file missing) never says it is serving.
pub async fn serve(
    berth: Arc<Berth>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: impl FnOnce() + Send,
) -> std::io::Result<()> {
    let guard = guard::Guard::new(&berth.config);
    let state = AppState(Arc::new(Shared {
        berth: berth.clone(),
        metrics: metrics_handle(),
        started_at: berth.clock().now_unix(),
        guard: Arc::new(guard),
        ui: Arc::default(),
    }));
    let flusher = {
        let berth = berth.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tick.tick().await;
                if let Err(e) = berth.flush_downloads().await {
                    tracing::warn!(error = %e, "could not write download counts; will retry");
                }
            }
        })
    };
    // The recorder keeps each histogram sample until it is folded into the
    // buckets, which a scrape does, or this: without it, a server nobody
    // scrapes would grow by a sample per request.
    let upkeep = {
        let metrics = state.metrics.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                metrics.run_upkeep();
            }
        })
    };
    // The advisory set and policy lists that other nodes, or the command
    // line, changed.
    let supply = {
        let berth = berth.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs(berth_core::supply::REFRESH_SECS);
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = berth.refresh_supply().await {
                    tracing::warn!(error = %e, "could not reload advisories or policy lists; will retry");
                }
            }
        })
    };
    // `[advisories] source`: every node reads it at start and then on its
    // schedule; an unchanged set writes nothing.
    let advisory_source = berth.config.advisories.source.is_some().then(|| {
        let berth = berth.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs(berth.config.advisories.refresh_secs);
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match berth.refresh_advisory_source().await {
                    Ok(Some(report)) if report.changed => tracing::info!(
                        digest = %report.set.digest,
                        advisories = report.set.advisories,
                        "advisory source imported"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not reload the advisory source; the set in force stays"),
                }
            }
        })
    });
    // Webhook deliveries: every node sends those due, under a lease; a
    // backlog is worked at once (as slots free up), a round that left
    // none due is followed by a moment for more to gather, and an empty
    // one by a pause until a send finishes or a quarter second passes.
    let webhooks = {
        let berth = berth.clone();
        tokio::spawn(async move {
            loop {
                match berth.deliver_due().await {
                    Ok(round) if round.backlog => continue,
                    Ok(round) if round.claimed > 0 => {
                        tokio::time::sleep(Duration::from_millis(berth_core::webhooks::GATHER_MS))
                            .await;
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "could not send webhook deliveries; will retry")
                    }
                }
                berth.webhook_pause().await;
            }
        })
    };
    // Replica registries: one node at a time (a lease) follows each
    // primary's change feed, waiting on it when there is nothing new; a
    // failure is logged and tried again after a pause that grows to 30 s.
    let node = format!("node-{:016x}", rand::random::<u64>());
    let replicas: Vec<_> = berth
        .replicas()
        .into_iter()
        .map(|registry| {
            let berth = berth.clone();
            let node = node.clone();
            tokio::spawn(async move {
                let mut failures = 0u32;
                loop {
                    match berth.replicate(&registry, &node, failures == 0).await {
                        Ok(step) if !step.leased => {
                            tokio::time::sleep(Duration::from_secs(5)).await
                        }
                        Ok(step) => {
                            if step.copied + step.yanks > 0 {
                                tracing::info!(
                                    registry = %registry,
                                    copied = step.copied,
                                    yanks = step.yanks,
                                    applied = step.applied_seq,
                                    head = step.primary_head,
                                    "replica copied from its primary"
                                );
                            }
                            if failures > 0 {
                                tracing::info!(registry = %registry, "replica reaches its primary again");
                            }
                            failures = 0;
                        }
                        Err(e) => {
                            failures = failures.saturating_add(1);
                            let pause = Duration::from_millis(500) * 2u32.pow(failures.min(6));
                            let pause = pause.min(Duration::from_secs(30));
                            tracing::warn!(
                                registry = %registry,
                                error = %e,
                                retry_in_ms = pause.as_millis() as u64,
                                "replica could not follow its primary; will retry"
                            );
                            tokio::time::sleep(pause).await;
                        }
                    }
                }
            })
        })
        .collect();
    // Docs builds: `[docs] workers` loops, each taking one queued build
    // at a time under a lease; handed back to the queue at shutdown.
    let docs_worker_names: Vec<String> = (0..berth.config.docs.workers)
        .map(|i| format!("{node}-docs-{i}"))
        .collect();
    let docs_workers: Vec<_> = docs_worker_names
        .iter()
        .map(|worker| tokio::spawn(berth.clone().run_docs_worker(worker.clone())))
        .collect();
    // Docs storage: every node now and then keeps each registry within
    // its docs budget and deletes the files of retired and orphan sets
    // (idempotent: nodes doing it at once do no harm).
    let docs_tidy = {
        let berth = berth.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs(berth_core::docs::TIDY_EVERY_SECS);
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match berth.tidy_docs(berth_core::docs::GRACE_SECS).await {
                    Ok(done) if done != berth_core::docs::DocsTidy::default() => {
                        tracing::info!(
                            dropped = done.dropped,
                            retired_deleted = done.retired_deleted,
                            orphans_deleted = done.orphans_deleted,
                            "documentation storage tidied"
                        )
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "could not tidy documentation storage; will retry")
                    }
                }
            }
        })
    };
    if berth.config.docs.workers > 0 && !std::path::Path::new(berth_core::docs::BWRAP).exists() {
        tracing::warn!(
            bwrap = berth_core::docs::BWRAP,
            "[docs] workers is set but bubblewrap is not installed: every docs build will fail \
             until it is (apt-get install bubblewrap)"
        );
    }
    // PostgreSQL: keeps the index cache in step with the other nodes.
    let watcher = tokio::spawn(berth.clone().watch_index());
    let app = App::new(state);
    let result = transport::accept_loop(&berth, listener, app, shutdown, ready).await;
    flusher.abort();
    upkeep.abort();
    supply.abort();
    if let Some(task) = advisory_source {
        task.abort();
    }
    watcher.abort();
    webhooks.abort();
    docs_tidy.abort();
    for task in docs_workers {
        task.abort();
    }
    berth.release_docs_builds(&docs_worker_names).await;
    for task in replicas {
        task.abort();
    }
    if let Err(e) = berth.flush_downloads().await {
        tracing::warn!(error = %e, "could not write download counts at shutdown");
    }
    result
}
