//! The one place errors become HTTP responses.
//!
//! Clients get the right status and a JSON body `{"detail": "...", "code": "..."}` saying what
//! was wrong; internal error chains are logged, never sent. 400 bad input, 403 bad key,
//! 404 unknown thing, 413 too large, 415 unsupported encoding, 429 rate limited and
//! 503 overloaded (both with `Retry-After`), 500 only for our own bugs.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::ingest::body::BodyError;
use crate::projects::{AuthError, KeyRejection};
use crate::writer::WriteError;

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
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
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RateLimited { .. } => "rate_limited",
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
        if let ApiError::RateLimited {
            retry_after_secs, ..
        }
        | ApiError::Overloaded {
            retry_after_secs, ..
        } = self
        {
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
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
