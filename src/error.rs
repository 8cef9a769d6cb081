//! The one place errors become HTTP responses.
//!
//! Clients get the right status and a JSON body `{"detail": "...", "code": "..."}` saying what
//! was wrong; internal error chains are logged, never sent. 400 bad input, 403 bad key,
//! 404 unknown thing, 413 too large, 415 unsupported encoding, 429 rate limited (with
//! `Retry-After` and the `X-Sentry-Rate-Limits` Sentry SDKs back off by), 503 overloaded (with
//! `Retry-After`), 500 only for our own bugs.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::ingest::body::BodyError;
use crate::ingest::sentry::BadStoreRequest;
use crate::projects::{AuthError, KeyRejection};
use crate::ratelimit::RateLimited;
use crate::writer::WriteError;

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    /// No valid API token (GraphQL, SQL): 401 with code `unauthenticated`.
    #[error("{0}")]
    Unauthenticated(String),
    /// Analyst SQL that access control refuses (a write, another table, ...).
    #[error("{0}")]
    SqlRejected(String),
    /// Analyst SQL that does not parse or that the engine cannot run.
    #[error("{0}")]
    SqlInvalid(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    RateLimited(RateLimited),
    #[error("{message}")]
    Overloaded {
        message: String,
        retry_after_secs: u64,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::SqlRejected(_) | ApiError::SqlInvalid(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::SqlRejected(_) => "sql_rejected",
            ApiError::SqlInvalid(_) => "sql_invalid",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            ApiError::Internal(message) => {
                tracing::error!(%message, "internal error");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = (
            status,
            Json(serde_json::json!({ "detail": detail, "code": self.code() })),
        )
            .into_response();
        let retry_after_secs = match &self {
            ApiError::RateLimited(limited) => {
                set_rate_limit_headers(response.headers_mut(), limited);
                None
            }
            ApiError::Overloaded {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        if matches!(self, ApiError::Unauthenticated(_)) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// `Retry-After` and `X-Sentry-Rate-Limits` for a rate-limited request; also set on a 200 answer
/// whose events were refused while other items of the envelope were kept.
pub fn set_rate_limit_headers(headers: &mut axum::http::HeaderMap, limited: &RateLimited) {
    headers.insert(
        header::RETRY_AFTER,
        HeaderValue::from(limited.retry_after_secs),
    );
    if let Ok(value) = HeaderValue::from_str(&limited.sentry_header()) {
        headers.insert(X_SENTRY_RATE_LIMITS, value);
    }
}

/// The header Sentry SDKs read per-category back-off from.
pub const X_SENTRY_RATE_LIMITS: &str = "x-sentry-rate-limits";

impl From<RateLimited> for ApiError {
    fn from(limited: RateLimited) -> Self {
        ApiError::RateLimited(limited)
    }
}

impl From<BadStoreRequest> for ApiError {
    fn from(error: BadStoreRequest) -> Self {
        match error {
            BadStoreRequest::Body(error) => error.into(),
            BadStoreRequest::EventTooLarge { .. } => ApiError::PayloadTooLarge(error.to_string()),
            BadStoreRequest::NoUsableItem { too_large, .. } if too_large => {
                ApiError::PayloadTooLarge(error.to_string())
            }
            BadStoreRequest::InvalidEnvelope(_)
            | BadStoreRequest::InvalidEvent(_)
            | BadStoreRequest::NoUsableItem { .. } => ApiError::BadRequest(error.to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Rejected(KeyRejection::UnknownProject(id)) => {
                ApiError::NotFound(format!("unknown project {id}"))
            }
            AuthError::Rejected(rejection) => ApiError::Forbidden(rejection.to_string()),
            AuthError::Engine(error) => ApiError::Overloaded {
                message: format!("cannot check the DSN key right now: {error}"),
                retry_after_secs: 5,
            },
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::QueueFull => ApiError::Overloaded {
                message: "the write queue is full, retry later".to_owned(),
                retry_after_secs: 1,
            },
            WriteError::Unavailable(_) | WriteError::ShuttingDown => ApiError::Overloaded {
                message: format!("{error}; nothing was stored, retry later"),
                retry_after_secs: 10,
            },
            WriteError::Rejected(message) => ApiError::Internal(message),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::TooLarge { .. } | BodyError::DecompressedTooLarge { .. } => {
                ApiError::PayloadTooLarge(error.to_string())
            }
            BodyError::UnsupportedEncoding(_) => ApiError::UnsupportedMediaType(error.to_string()),
            BodyError::Corrupt { .. } | BodyError::Read(_) => {
                ApiError::BadRequest(error.to_string())
            }
        }
    }
}

impl From<crate::engine::EngineError> for ApiError {
    fn from(error: crate::engine::EngineError) -> Self {
        if error.is_retryable() {
            ApiError::Overloaded {
                message: error.to_string(),
                retry_after_secs: 5,
            }
        } else {
            ApiError::Internal(error.to_string())
        }
    }
}

impl From<crate::tokens::TokenError> for ApiError {
    fn from(error: crate::tokens::TokenError) -> Self {
        match error {
            crate::tokens::TokenError::Unknown | crate::tokens::TokenError::Revoked => {
                ApiError::Unauthenticated(error.to_string())
            }
            crate::tokens::TokenError::Engine(_) => ApiError::Overloaded {
                message: error.to_string(),
                retry_after_secs: 5,
            },
        }
    }
}

impl From<crate::sql::SqlRejection> for ApiError {
    fn from(rejection: crate::sql::SqlRejection) -> Self {
        match rejection {
            crate::sql::SqlRejection::Refused(message) => ApiError::SqlRejected(message),
            crate::sql::SqlRejection::Invalid(message) => ApiError::SqlInvalid(message),
        }
    }
}
