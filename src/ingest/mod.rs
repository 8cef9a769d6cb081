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
//! ([`admit_and_prepare`] inside [`decode_and_run`], which decompresses the body and moves
//! large ones off the async workers), then hand the batch to the writer and answer only once
//! it is durable ([`crate::pipeline::Pipeline::store`]).

pub mod auth;
pub mod body;
pub mod envelope_items;
pub mod native;
pub mod otlp;
pub mod sentry;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::LazyLock;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::Extension;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use stackhouse_protocol::ErrorEvent;
use tokio::sync::Semaphore;

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

/// Bodies of at most this many bytes as sent, and at most [`INLINE_DECODED_BYTES`] once
/// decompressed, are processed on the async worker that read them. A one-event envelope (a few
/// KiB gzipped, tens of KiB decoded) is tens of microseconds of work, less than handing it to
/// the blocking pool and back: that hand-off (a futex wake and two context switches per
/// request) was over a tenth of the server's CPU under one-event envelopes.
pub const INLINE_BODY_BYTES: usize = 16 * 1024;

/// ... and the most a body processed inline may inflate to. The size as sent alone is not
/// enough: 16 KiB of gzip can inflate a thousandfold, and parsing and grouping 16 MB would hold
/// an async worker (and every connection on it) for a second or more.
pub const INLINE_DECODED_BYTES: usize = 256 * 1024;

/// Runs CPU work that grows with `size` bytes (a decoded body): inline when it is at most
/// [`INLINE_DECODED_BYTES`], otherwise off the async workers, so one large request does not
/// stall every other connection.
pub async fn run_cpu_work<T, F>(size: usize, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    if size <= INLINE_DECODED_BYTES {
        return work();
    }
    on_blocking_pool(work).await
}

/// Large requests decoded and parsed at once: as many as there are cores. More would finish
/// no sooner (the work is CPU-bound), and each holds its decoded body and parsed events: with
/// 16 connections of 1,000-event requests against an engine that took fewer, the server's
/// memory grew with every connection. The others wait here holding only the bytes they were
/// sent.
static LARGE_REQUEST_WORK: LazyLock<Semaphore> = LazyLock::new(|| {
    Semaphore::new(std::thread::available_parallelism().map_or(2, NonZeroUsize::get))
});

/// Runs a large request's CPU work on the blocking pool, once [`LARGE_REQUEST_WORK`] has room.
async fn on_blocking_pool<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    let _permit = LARGE_REQUEST_WORK
        .acquire()
        .await
        .map_err(|error| ApiError::Internal(format!("ingest work limiter: {error}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::Internal(format!("ingest task failed: {error}")))?
}

/// Decompresses a request body (at most `limit` bytes, as its headers say) and runs the
/// request's CPU work on the result (decoded bytes, or why they could not be had): inline when
/// the body is small both as sent ([`INLINE_BODY_BYTES`]) and decoded
/// ([`INLINE_DECODED_BYTES`]), otherwise decompression and work alike on the blocking pool.
/// A small body that inflates past the inline size is decoded again there, with the full
/// limit: what was inflated inline is at most [`INLINE_DECODED_BYTES`].
pub async fn decode_and_run<T, F>(
    headers: HeaderMap,
    raw: Bytes,
    limit: usize,
    work: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(Result<Bytes, body::BodyError>) -> Result<T, ApiError> + Send + 'static,
{
    if raw.len() <= INLINE_BODY_BYTES {
        let inline_limit = limit.min(INLINE_DECODED_BYTES);
        match body::decode(&headers, raw.clone(), inline_limit) {
            // Too large for inline, not for the request: decoded in full below.
            Err(body::BodyError::DecompressedTooLarge { .. }) if inline_limit < limit => {}
            decoded => return work(decoded),
        }
    }
    on_blocking_pool(move || work(body::decode(&headers, raw, limit))).await
}

/// The shared tail of every door (call it inside [`decode_and_run`] or [`run_cpu_work`]):
/// fills in the client's address where SDKs asked for it, admits the events under the
/// project's rate limit (all or none), then fingerprints and groups them into the batch to
/// store.
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use axum::http::header::CONTENT_ENCODING;

    use super::*;

    fn gzip(data: &[u8]) -> Bytes {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).expect("gzip");
        Bytes::from(encoder.finish().expect("gzip"))
    }

    fn gzip_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_ENCODING, "gzip".parse().expect("header"));
        headers
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn large_requests_are_worked_on_no_more_at_once_than_there_are_cores() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let cores = std::thread::available_parallelism().map_or(2, NonZeroUsize::get);
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..cores * 4)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(run_cpu_work(INLINE_DECODED_BYTES + 1, move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(30));
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                }))
            })
            .collect();
        for task in tasks {
            task.await.expect("task").expect("work");
        }
        let most = most.load(Ordering::SeqCst);
        // Other tests of this binary may hold permits meanwhile: never more, maybe fewer.
        assert!(
            most >= 1 && most <= cores,
            "{most} ran at once on {cores} cores"
        );
    }

    /// (decoded length or error, whether the work ran on the calling thread).
    async fn run(raw: Bytes, limit: usize) -> (Result<usize, body::BodyError>, bool) {
        let caller = std::thread::current().id();
        decode_and_run(gzip_headers(), raw, limit, move |decoded| {
            Ok((
                decoded.map(|bytes| bytes.len()),
                std::thread::current().id() == caller,
            ))
        })
        .await
        .expect("the work runs")
    }

    #[tokio::test]
    async fn small_bodies_are_decoded_inline_unless_they_inflate_past_the_inline_size() {
        // Small as sent and decoded: inline.
        let event = gzip(&[b'x'; 10_000]);
        assert!(event.len() <= INLINE_BODY_BYTES);
        assert_eq!(run(event, 1 << 20).await, (Ok(10_000), true));
        // Small as sent, 4 MiB decoded: decoded whole, off the async worker.
        let bomb = gzip(&vec![b'x'; 4 << 20]);
        assert!(bomb.len() <= INLINE_BODY_BYTES);
        assert_eq!(run(bomb.clone(), 8 << 20).await, (Ok(4 << 20), false));
        // Past the request's own limit: that limit's error, whichever path found it.
        let too_large = Err(body::BodyError::DecompressedTooLarge { limit: 1 << 20 });
        assert_eq!(run(bomb, 1 << 20).await.0, too_large);
        let small_limit = Err(body::BodyError::DecompressedTooLarge { limit: 5_000 });
        assert_eq!(run(gzip(&[b'x'; 10_000]), 5_000).await, (small_limit, true));
        // Large as sent: off the async worker.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..200_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let large = gzip(&noise);
        assert!(large.len() > INLINE_BODY_BYTES);
        assert_eq!(run(large, 1 << 20).await, (Ok(200_000), false));
    }
}
