//! The one place where service errors become HTTP responses, in cargo's
//! error shape: `{"errors":[{"detail":"..."}]}`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_core::ServiceError;

/// A service error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub ServiceError);

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        Self(error)
    }
}

/// Builds cargo's JSON error body.
pub fn error_body(detail: &str) -> String {
    serde_json::json!({ "errors": [ { "detail": detail } ] }).to_string()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, detail) = match &self.0 {
            ServiceError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            ServiceError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m.clone()),
            ServiceError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            ServiceError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            ServiceError::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
            ServiceError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m.clone()),
            ServiceError::TooSlow(m) => (StatusCode::REQUEST_TIMEOUT, m.clone()),
            ServiceError::Busy(m) => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::RETRY_AFTER, "1"),
                    ],
                    error_body(m),
                )
                    .into_response();
            }
            ServiceError::BadGateway(m) => {
                tracing::warn!(error = %m, "upstream failure");
                (StatusCode::BAD_GATEWAY, m.clone())
            }
            ServiceError::Unavailable(m) => {
                tracing::error!(error = %m, "service unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the registry is temporarily unavailable; try again shortly".to_string(),
                )
            }
            ServiceError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal server error; the registry's log has the details".to_string(),
                )
            }
        };
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            error_body(&detail),
        )
            .into_response()
    }
}
