//! The one JSON error shape every node answers with, and a JSON extractor that uses it.
//!
//! Every 4xx and 5xx a node sends has the body `{"error": "<code>", "message": "<sentence>"}`:
//! `code` is stable and machine readable, `message` tells a person what to fix. [`causes`]
//! puts a client-side error on one line with its reasons.
//!
//! Errors the node's code never sees (axum's own rejections: a path that does not decode, a
//! WebSocket upgrade without its headers) come out of axum as plain text; `json_errors`,
//! a middleware around every route, rewrites those into the same shape.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// An error a handler returns; it renders as the JSON error shape.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The node that can serve the request, for [`ApiError::misdirected`]: sent in the
    /// [`crate::cart::REDIRECT_HEADER`] header, which the kit's [`crate::CartClient`] follows.
    redirect: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            redirect: None,
        }
    }
    /// 421 Misdirected Request: this node does not serve the request, node `to` does (a
    /// backup names its primary). The answer names `to` in [`crate::cart::REDIRECT_HEADER`];
    /// nothing was applied.
    pub fn misdirected(to: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            redirect: Some(to.into()),
            ..Self::new(StatusCode::MISDIRECTED_REQUEST, "misdirected", message)
        }
    }
    /// The node a [`ApiError::misdirected`] answer sends the client to.
    pub fn redirect(&self) -> Option<&str> {
        self.redirect.as_deref()
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: self.code,
            message: &self.message,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(to) = self.redirect.and_then(|to| to.parse().ok()) {
            response
                .headers_mut()
                .insert(crate::cart::REDIRECT_HEADER, to);
        }
        response
    }
}

/// Like `axum::Json`, but a body that does not parse, is too large or is not JSON gets the lab's
/// JSON error shape instead of axum's plain-text rejection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(from_rejection(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// An error and its causes on one line. An HTTP client's own message ("error sending request")
/// hides the reason (connection refused, reset, timed out) in its sources.
pub fn causes(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

/// The largest plain-text error body [`json_errors`] rewrites. axum's rejections are one
/// sentence; a longer (or streaming) error body is the node's own business and passes as is.
const REWRITE_LIMIT: u64 = 4096;

/// Middleware: any 4xx or 5xx whose body is not JSON gets the JSON error shape, its text as
/// the message and a code named after the status (`bad_request`, `upgrade_required`), keeping
/// its other headers (`allow`, `sec-websocket-version`).
pub(crate) async fn json_errors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::body::HttpBody;
    use http_body_util::BodyExt;
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    if body.size_hint().exact().is_none_or(|n| n > REWRITE_LIMIT) {
        return Response::from_parts(parts, body);
    }
    let text = match body.collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes())
            .trim()
            .to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut answer = ApiError::new(status, code_of(status), message).into_response();
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    answer.headers_mut().extend(parts.headers);
    answer
}

/// The error code for a status that came without one.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        StatusCode::UPGRADE_REQUIRED => "upgrade_required",
        s if s.is_client_error() => "bad_request",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        _ => "internal",
    }
}

fn from_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let code = match &rejection {
        JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
        JsonRejection::JsonSyntaxError(_) => "malformed_json",
        JsonRejection::JsonDataError(_) => "invalid_body",
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        _ => "bad_body",
    };
    ApiError::new(status, code, rejection.body_text())
}
