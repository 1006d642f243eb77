//! Operator endpoints (`/health`, `/ready`, `/metrics`) and the plain page
//! cargo's login hint points at (`/r/{registry}/me`); the web UI is `ui`.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_core::ServiceError;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::AppState;

pub(crate) async fn health() -> &'static str {
    "ok\n"
}

pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    match state.berth.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            // Details go to the log, not to whoever asks.
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: a store is unreachable; see the log\n",
            )
                .into_response()
        }
    }
}

pub(crate) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = &state.berth.config.metrics.token;
    if !token.is_empty() {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics need `Authorization: Bearer <metrics.token>`\n",
            )
                .into_response();
        }
    }
    let (kept, files) = state.berth.download_cache_bytes();
    metrics::gauge!("berth_download_cache_bytes").set(kept as f64);
    metrics::gauge!("berth_download_cache_file_bytes").set(files as f64);
    // A replica not caught up since this node started shows -1.
    for (registry, lag) in state.berth.replica_lags() {
        metrics::gauge!("berth_replica_lag_seconds", "registry" => registry)
            .set(lag.map_or(-1.0, |l| l as f64));
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// `GET /r/{registry}/me`: where cargo's `login_url` points (cargo shows it
/// to a user without a token). The account page makes tokens; it asks a
/// visitor to log in first.
pub(crate) async fn me(
    State(state): State<AppState>,
    Path(registry): Path<String>,
) -> Result<Response, ApiError> {
    state.berth.registry(&registry)?;
    Ok(axum::response::Redirect::to("/account").into_response())
}

pub(crate) async fn not_found() -> ApiError {
    ServiceError::NotFound("no such endpoint on this registry".into()).into()
}
