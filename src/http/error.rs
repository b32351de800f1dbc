//! The API's error type: one JSON shape for every failure, with a stable machine code.
//!
//! `{"error": {"code": "...", "message": "...", "field": "..."}}`. 4xx are the client's doing and
//! are not logged as errors; 5xx are logged once here, with their cause.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::{DocumentError, FieldError};
use crate::store::TxError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedJson(String),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("{message}")]
    PreconditionFailed { message: String, current: u64 },
    #[error(
        "this change needs an If-Match header with the revision it is based on (the ETag of GET)"
    )]
    PreconditionRequired,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("this method is not allowed on this resource (see /api/openapi.json)")]
    MethodNotAllowed,
    /// The request is fine but the daemon's state does not allow it now.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Refused by the trust boundary (`guard`): wrong host, cross-site, not JSON, no login.
    #[error("{message}")]
    Refused {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error("too many login attempts from this address; try again in {retry_after_seconds} s")]
    TooManyRequests { retry_after_seconds: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code to branch on, e.g. `malformed_json`, `unknown_field`, `revision_mismatch`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// Dotted path of the offending field, when there is one.
    pub field: Option<String>,
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            ApiError::Invalid(e) if e.code == "owner_only" => (StatusCode::FORBIDDEN, e.code),
            ApiError::Invalid(e) => (StatusCode::UNPROCESSABLE_ENTITY, e.code),
            ApiError::PreconditionFailed { .. } => {
                (StatusCode::PRECONDITION_FAILED, "revision_mismatch")
            }
            ApiError::PreconditionRequired => {
                (StatusCode::PRECONDITION_REQUIRED, "if_match_required")
            }
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::Refused { status, code, .. } => (*status, code),
            ApiError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")
            }
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// Maps a failure to read the body; the body limit is the only one a client can cause.
    pub fn from_body(rejection: BytesRejection, limit: usize) -> ApiError {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::BadRequest {
                code: "unreadable_body",
                message: rejection.body_text(),
            }
        }
    }
}

/// A path parameter as text, refused in the API's JSON shape: axum's own `Path` answers a
/// segment that is not UTF-8 once percent-decoded with a plain-text 400. Such a segment names
/// nothing here, so it is a 404 like any unknown id.
pub struct PathText(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathText {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(text)) => Ok(PathText(text)),
            Err(rejection) => Err(ApiError::NotFound(format!(
                "nothing has that name ({})",
                rejection.body_text()
            ))),
        }
    }
}

impl From<DocumentError> for ApiError {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::Syntax { .. } => ApiError::MalformedJson(e.to_string()),
            DocumentError::Invalid(e) => ApiError::Invalid(e),
        }
    }
}

impl From<TxError> for ApiError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Stale { current, .. } => ApiError::PreconditionFailed {
                message: format!("{e}; read it again and reapply the change"),
                current,
            },
            // A transaction found its target gone (deleted by a racing request).
            TxError::Invalid(e) if e.code == "not_found" => ApiError::NotFound(e.message),
            TxError::Invalid(e) => ApiError::Invalid(e),
            // The cause is logged once, by `into_response`; the client gets a safe message.
            TxError::Save { .. } => ApiError::Internal(format!("saving the config failed: {e}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(message) = &self {
            tracing::error!(%status, "{message}");
        }
        let field = match &self {
            ApiError::Invalid(e) => Some(e.field.clone()),
            _ => None,
        };
        let message = match &self {
            ApiError::Invalid(e) => e.message.clone(),
            ApiError::Internal(_) => "the change could not be saved; nothing was changed".into(),
            other => other.to_string(),
        };
        let mut response = (
            status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code: code.to_owned(),
                    message,
                    field,
                },
            }),
        )
            .into_response();
        match self {
            ApiError::PreconditionFailed { current, .. } => {
                response
                    .headers_mut()
                    .insert(header::ETAG, super::etag(current));
            }
            ApiError::TooManyRequests {
                retry_after_seconds,
            } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, retry_after_seconds.into());
            }
            _ => {}
        }
        response
    }
}
