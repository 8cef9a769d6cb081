//! Step "ingest": the HTTP doors events come in by, with authentication, limits and
//! decompression in front of parsing.
//!
//! - [`native`]: `POST /api/{project_id}/events`, one Sentry-shaped JSON event, a JSON array,
//!   or NDJSON (thousands of events per request), gzip or not.
//! - [`sentry`]: the Sentry protocol as SDKs speak it, `POST /api/{project_id}/envelope/` and
//!   `POST /api/{project_id}/store/`; [`envelope_items`] decides what happens to each item type.
//! - [`otlp`]: OTLP/HTTP traces, `POST /v1/traces` (spans, and exception span events as errors).
//!
//! Every door goes the same way once it has parsed events: authenticate ([`authenticate`]),
//! admit the events under the project's rate limit and fingerprint/group them
//! ([`admit_and_prepare`] inside [`run_cpu_work`], which moves large bodies off the async
//! workers), then hand the batch to the writer and answer only once it is durable
//! ([`crate::pipeline::Pipeline::store`]).

pub mod auth;
pub mod body;
pub mod envelope_items;
pub mod native;
pub mod otlp;
pub mod sentry;

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::Extension;
use chrono::{DateTime, Utc};
use stackhouse_protocol::ErrorEvent;

use crate::engine::WriteBatch;
use crate::error::ApiError;
use crate::server::AppState;

/// Parses the `{project_id}` path segment.
pub fn project_id_from_path(segment: &str) -> Result<u64, ApiError> {
    segment.parse::<u64>().map_err(|_| {
        ApiError::BadRequest(format!(
            "project id must be a positive integer, got {segment:?}"
        ))
    })
}

/// Accepts `key` only if it is an active key of `project_id`.
pub async fn authenticate(
    state: &AppState,
    project_id: u64,
    key: Option<&str>,
) -> Result<(), ApiError> {
    state.projects.authenticate(project_id, key).await?;
    Ok(())
}

/// The address the request came from (resolves the `{{auto}}` user IP SDKs send), when the
/// server was started with connection info.
pub type ClientAddress = Option<Extension<ConnectInfo<SocketAddr>>>;

/// The client's IP address as text.
pub fn client_ip(address: &ClientAddress) -> Option<String> {
    address
        .as_ref()
        .map(|Extension(ConnectInfo(address))| address.ip().to_string())
}

/// Bodies of at most this many bytes as sent are processed on the async worker that read
/// them. A one-event envelope (a few KiB gzipped) is tens of microseconds of work, less than
/// handing it to the blocking pool and back: that hand-off (a futex wake and two context
/// switches per request) was over a tenth of the server's CPU under one-event envelopes. Even
/// a small body that inflates to the decompression limit stays within milliseconds.
pub const INLINE_BODY_BYTES: usize = 16 * 1024;

/// Runs a request's CPU work (decompressing, parsing, fingerprinting, grouping): inline for a
/// body of at most [`INLINE_BODY_BYTES`] as sent, otherwise off the async workers, so one large
/// request does not stall every other connection.
pub async fn run_cpu_work<T, F>(sent_bytes: usize, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    if sent_bytes <= INLINE_BODY_BYTES {
        return work();
    }
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::Internal(format!("ingest task failed: {error}")))?
}

/// The shared tail of every door (call it inside [`run_cpu_work`]): fills in the client's
/// address where SDKs asked for it, admits the events under the project's rate limit (all or
/// none), then fingerprints and groups them into the batch to store.
pub fn admit_and_prepare(
    state: &AppState,
    project_id: u64,
    events: &mut [ErrorEvent],
    client_ip: Option<&str>,
    received: DateTime<Utc>,
) -> Result<WriteBatch, crate::ratelimit::RateLimited> {
    if events.is_empty() {
        return Ok(WriteBatch::default());
    }
    state.rate_limiter.admit(project_id, events.len())?;
    for event in events.iter_mut() {
        event.resolve_auto_ip_address(client_ip);
    }
    Ok(state.pipeline.prepare(project_id, events, received))
}
