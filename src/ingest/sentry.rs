//! The Sentry protocol as SDKs speak it: `POST /api/{project_id}/envelope/` and `POST /api/{project_id}/store/`.
//!
//! Both authenticate with the DSN public key from `X-Sentry-Auth` (or `Authorization: Sentry`),
//! the `sentry_key` query parameter, or, for envelopes only, the `dsn` of the envelope header;
//! the key must be an active key of the project in the path. Bodies may be compressed (gzip,
//! deflate zlib or raw, br, zstd) and are held to Relay's limits: an envelope to
//! `max_envelope_bytes` as sent and expanded, a store body to `max_store_body_bytes` as sent and
//! `max_event_bytes` expanded, each event to `max_event_bytes`.
//!
//! Answers SDKs understand: 200 `{"id": "<event id>"}`; 400 with the reason; 403 for a bad key;
//! 413 over a limit; 429 with `Retry-After` and `X-Sentry-Rate-Limits` when the project is over
//! its rate limit; 503 with `Retry-After` when the write queue is full.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use chrono::Utc;
use stackhouse_protocol::{parse_event_json, Envelope, EnvelopeError, EventParseError};

use super::envelope_items::{read_items, EnvelopeIntake};
use super::{
    admit_and_prepare, auth, authenticate, body, client_ip, decode_and_run, project_id_from_path,
    run_cpu_work, ClientAddress,
};
use crate::engine::WriteBatch;
use crate::error::{set_rate_limit_headers, ApiError};
use crate::ratelimit::RateLimited;
use crate::server::AppState;

/// Why a Sentry request was refused as a whole (mapped to a status in [`crate::error`]).
#[derive(Debug, thiserror::Error)]
pub enum BadStoreRequest {
    #[error(transparent)]
    Body(#[from] body::BodyError),
    #[error("invalid envelope: {0}")]
    InvalidEnvelope(EnvelopeError),
    #[error("invalid event: {0}")]
    InvalidEvent(EventParseError),
    #[error("event is larger than the {limit} byte limit after decompression")]
    EventTooLarge { limit: usize },
    /// Every item of the envelope was refused.
    #[error("no item of the envelope could be used: {reasons}")]
    NoUsableItem {
        reasons: String,
        /// Every refused item was refused for its size.
        too_large: bool,
    },
}

/// `POST /api/{project_id}/envelope/`.
pub async fn ingest_envelope(
    State(state): State<AppState>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    client_address: ClientAddress,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Response, ApiError> {
    let project_id = project_id_from_path(&project)?;
    // A key in the headers or query is checked before the body is even read; without one, the
    // envelope header's DSN is the last chance, so the body must be parsed first.
    let request_key = auth::request_key(query.as_deref(), &headers);
    if let Some(key) = &request_key {
        authenticate(&state, project_id, Some(key)).await?;
    }
    let limit = state.config.ingest.max_envelope_bytes;
    let raw = body::read_limited(&headers, request_body, limit).await?;
    let client_ip = client_ip(&client_address);

    let (batch, intake, rate_limited) = if request_key.is_some() {
        let worker_state = state.clone();
        decode_and_run(headers, raw, limit, move |decoded| {
            let envelope = parse_envelope(decoded)?;
            take_items(&worker_state, project_id, &envelope, client_ip.as_deref())
        })
        .await?
    } else {
        let (envelope, decoded_bytes) = decode_and_run(headers, raw, limit, |decoded| {
            let decoded_bytes = decoded.as_ref().map_or(0, Bytes::len);
            Ok((parse_envelope(decoded)?, decoded_bytes))
        })
        .await?;
        let envelope_key = envelope.header.public_key();
        authenticate(&state, project_id, envelope_key.as_deref()).await?;
        let worker_state = state.clone();
        run_cpu_work(decoded_bytes, move || {
            take_items(&worker_state, project_id, &envelope, client_ip.as_deref())
        })
        .await?
    };
    // Transactions' spans: durable before the answer, like the events.
    let spans: Vec<crate::engine::SpanRecord> = intake
        .transactions
        .iter()
        .flat_map(|transaction| super::envelope_items::transaction_spans(project_id, transaction))
        .collect();
    if !spans.is_empty() {
        state
            .engine
            .write_spans(&spans)
            .await
            .map_err(ApiError::from)?;
    }
    state.pipeline.store(batch).await?;

    let mut response = Json(intake.outcome).into_response();
    if let Some(limited) = rate_limited {
        set_rate_limit_headers(response.headers_mut(), &limited);
    }
    Ok(response)
}

fn parse_envelope(decoded: Result<Bytes, body::BodyError>) -> Result<Envelope, BadStoreRequest> {
    Envelope::parse(decoded?).map_err(BadStoreRequest::InvalidEnvelope)
}

/// Sorts out the envelope's items and prepares its events for storage. Errs when nothing of
/// the envelope can be kept; a rate limit that refused the events while other items were
/// kept is returned beside the batch, for the answer's headers.
fn take_items(
    state: &AppState,
    project_id: u64,
    envelope: &Envelope,
    client_ip: Option<&str>,
) -> Result<(WriteBatch, EnvelopeIntake, Option<RateLimited>), ApiError> {
    let received = Utc::now();
    let mut intake = read_items(
        envelope,
        received,
        &state.config.ingest,
        &state.item_counters,
    );
    if !intake.kept_anything() && !intake.outcome.rejected.is_empty() {
        let rejected = &intake.outcome.rejected;
        let reasons: Vec<String> = rejected
            .iter()
            .take(5)
            .map(|item| format!("item {} ({}): {}", item.item, item.item_type, item.error))
            .collect();
        return Err(BadStoreRequest::NoUsableItem {
            reasons: reasons.join("; "),
            too_large: rejected.iter().all(|item| item.too_large),
        }
        .into());
    }
    match admit_and_prepare(state, project_id, &mut intake.events, client_ip, received) {
        Ok(batch) => Ok((batch, intake, None)),
        Err(limited) => {
            intake.refuse_events(&limited.to_string());
            if !intake.kept_anything() {
                return Err(limited.into());
            }
            Ok((WriteBatch::default(), intake, Some(limited)))
        }
    }
}

/// `POST /api/{project_id}/store/`: one event (the legacy endpoint some SDKs still use).
pub async fn ingest_store(
    State(state): State<AppState>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    client_address: ClientAddress,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Response, ApiError> {
    let project_id = project_id_from_path(&project)?;
    let key = auth::request_key(query.as_deref(), &headers);
    authenticate(&state, project_id, key.as_deref()).await?;
    let limits = state.config.ingest.clone();
    let raw = body::read_limited(&headers, request_body, limits.max_store_body_bytes).await?;
    let client_ip = client_ip(&client_address);

    let worker_state = state.clone();
    let (batch, event_id) = decode_and_run(headers, raw, limits.max_event_bytes, move |decoded| {
        let decoded = decoded.map_err(|error| match error {
            body::BodyError::DecompressedTooLarge { limit } => {
                BadStoreRequest::EventTooLarge { limit }
            }
            other => BadStoreRequest::Body(other),
        })?;
        let received = Utc::now();
        let parsed = parse_event_json(&decoded, received).map_err(BadStoreRequest::InvalidEvent)?;
        let event_id = parsed.event.event_id.simple().to_string();
        let mut events = [parsed.event];
        let batch = admit_and_prepare(
            &worker_state,
            project_id,
            &mut events,
            client_ip.as_deref(),
            received,
        )?;
        Ok((batch, event_id))
    })
    .await?;
    state.pipeline.store(batch).await?;
    Ok((StatusCode::OK, Json(serde_json::json!({ "id": event_id }))).into_response())
}
