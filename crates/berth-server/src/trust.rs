//! `/r/{registry}/api/v1/trusted_publishing/tokens`: a CI job's OIDC token
//! exchanged for a 30-minute publish token (`POST {"jwt": ...}` answers
//! `{"token": ...}`), and that token revoked by itself (`DELETE`), as the
//! public registry's API has them (`berth_core::trust` decides). A refused
//! exchange counts as a failed authentication of the client's address, so
//! the brute-force limits cover it.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use berth_core::audit::{AuditAction, AuditEntry, AuditOutcome};
use berth_core::ServiceError;
use serde::Deserialize;

use crate::api::read_body;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::guard::{self, ClientAddr};
use crate::AppState;

#[derive(Deserialize)]
struct ExchangeBody {
    jwt: String,
}

pub(crate) async fn exchange(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let client = client.map(|Extension(ClientAddr(ip))| ip);
    if let Some(t) = state.guard.throttled(client, None) {
        return Ok(guard::throttled_response(&t));
    }
    let bytes = read_body(&headers, body, 32 * 1024, None).await?;
    let asked: ExchangeBody = serde_json::from_slice(&bytes).map_err(|e| {
        ServiceError::BadRequest(format!(
            "invalid token exchange: expected {{\"jwt\":\"...\"}}: {e}"
        ))
    })?;
    match state
        .berth
        .exchange_trusted_token(&registry, &asked.jwt, client)
        .await
    {
        Ok(token) => Ok(Json(token).into_response()),
        Err(e) => {
            if matches!(
                e,
                ServiceError::Unauthorized(_) | ServiceError::Forbidden(_)
            ) {
                metrics::counter!("berth_auth_failures_total").increment(1);
                // The refusal itself is audited as `trust.exchange`; a
                // cooling period it begins, as every other one.
                if let guard::Failure::Throttles(detail) = state.guard.failed(client, None) {
                    let entry = AuditEntry {
                        detail: Some(detail),
                        client_addr: client.map(|ip| ip.to_string()),
                        ..AuditEntry::new(AuditAction::AuthThrottled, AuditOutcome::Denied)
                    };
                    state.berth.audit_refusal(&entry).await;
                }
            }
            Err(e.into())
        }
    }
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    Path(_registry): Path<String>,
    who: Caller,
) -> Result<Response, ApiError> {
    state.berth.revoke_trusted_token(who.get()).await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
