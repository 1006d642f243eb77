//! The one place where errors become HTTP responses in cargo's error shape,
//! `{"errors":[{"detail":"..."}]}`.
//!
//! A handler's or a guard's refusal is a [`json_error`]: its status, its
//! headers and its message ([`ErrorDetail`]), with no body yet. The
//! outermost layer ([`crate::transport::request_id`]) renders the body once,
//! with the request's id appended to the message, and logs the message as
//! the request's reason.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
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

/// The message of an error response whose body is still to be rendered.
#[derive(Debug, Clone)]
pub(crate) struct ErrorDetail(pub(crate) String);

/// An error response in cargo's shape: status, JSON content type and the
/// message, rendered by [`render`] in the outermost layer.
pub(crate) fn json_error(status: StatusCode, detail: impl Into<String>) -> Response {
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")]).into_response();
    response.extensions_mut().insert(ErrorDetail(detail.into()));
    response
}

/// Gives `response` its body if it is an error still to be rendered (see
/// [`json_error`]), its message followed by the request id; returns the
/// message as it was, for the log line.
pub(crate) fn render(response: &mut Response, request_id: &str) -> Option<String> {
    let ErrorDetail(detail) = response.extensions_mut().remove::<ErrorDetail>()?;
    let body = body(&format!("{detail} (request id: {request_id})"));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    *response.body_mut() = Body::from(body);
    Some(detail)
}

/// Cargo's JSON error body.
fn body(detail: &str) -> String {
    serde_json::json!({ "errors": [ { "detail": detail } ] }).to_string()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, detail) = match self.0 {
            ServiceError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ServiceError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m),
            ServiceError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ServiceError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ServiceError::Conflict(m) => (StatusCode::CONFLICT, m),
            ServiceError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
            ServiceError::TooSlow(m) => (StatusCode::REQUEST_TIMEOUT, m),
            ServiceError::Busy(m) => {
                let mut response = json_error(StatusCode::TOO_MANY_REQUESTS, m);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return response;
            }
            ServiceError::BadGateway(m) => {
                tracing::warn!(error = %m, "upstream failure");
                (StatusCode::BAD_GATEWAY, m)
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
        json_error(status, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_body_is_rendered_once_with_the_request_id() {
        let mut response = ApiError(ServiceError::NotFound("no `x`".into())).into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(render(&mut response, "r1").as_deref(), Some("no `x`"));
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(
            &bytes[..],
            br#"{"errors":[{"detail":"no `x` (request id: r1)"}]}"#
        );
        // A response that is not such an error is left alone.
        let mut ok = StatusCode::OK.into_response();
        assert_eq!(render(&mut ok, "r1"), None);
    }
}
