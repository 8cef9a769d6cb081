//! Step "ingest": the HTTP doors events come in by, with authentication, limits and
//! decompression in front of parsing.
//!
//! - [`native`]: `POST /api/{project_id}/events`, one Sentry-shaped JSON event, a JSON array,
//!   or NDJSON (thousands of events per request), gzip or not.

pub mod auth;
pub mod body;
pub mod native;

use crate::error::ApiError;

/// Parses the `{project_id}` path segment.
pub fn project_id_from_path(segment: &str) -> Result<u64, ApiError> {
    segment.parse::<u64>().map_err(|_| {
        ApiError::BadRequest(format!(
            "project id must be a positive integer, got {segment:?}"
        ))
    })
}
