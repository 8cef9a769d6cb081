//! `POST /api/{project_id}/events`: the native JSON/NDJSON batch endpoint.
//!
//! The body is one event (Sentry event JSON), a JSON array of events, or NDJSON (one event per
//! line). Each event is parsed on its own: a bad line is reported with its line number and why,
//! and the good lines of the same request are stored. The answer lists accepted ids, rejected
//! lines, and fields that were malformed and dropped from otherwise good events.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use chrono::Utc;
use serde::Serialize;
use stackhouse_protocol::{parse_event_json, parse_event_value, ErrorEvent, FieldIssue};

use super::{
    admit_and_prepare, auth, authenticate, body, client_ip, decode_and_run, project_id_from_path,
    ClientAddress,
};
use crate::error::ApiError;
use crate::server::AppState;

/// The answer to a native batch.
#[derive(Debug, Serialize, Default)]
pub struct BatchOutcome {
    /// How many events were stored.
    pub accepted: usize,
    /// Their event ids, in request order.
    pub ids: Vec<String>,
    /// Lines (1-based; array index + 1 for JSON arrays) that were not stored, and why.
    pub rejected: Vec<RejectedLine>,
    /// Malformed fields dropped from events that were otherwise stored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped_fields: Vec<DroppedFields>,
}

#[derive(Debug, Serialize)]
pub struct RejectedLine {
    pub line: usize,
    pub error: String,
}

#[derive(Debug, Serialize)]
pub struct DroppedFields {
    pub line: usize,
    pub id: String,
    pub fields: Vec<FieldIssue>,
}

pub async fn ingest_events(
    State(state): State<AppState>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    client_address: ClientAddress,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Json<BatchOutcome>, ApiError> {
    let project_id = project_id_from_path(&project)?;
    let key = auth::request_key(query.as_deref(), &headers);
    authenticate(&state, project_id, key.as_deref()).await?;

    let limits = state.config.ingest.clone();
    let raw = body::read_limited(&headers, request_body, limits.max_body_bytes).await?;
    let ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("ndjson") || value.contains("jsonlines"));

    let client_ip = client_ip(&client_address);
    let worker_state = state.clone();
    let decompressed_limit = limits.max_decompressed_bytes;
    let (batch, outcome) = decode_and_run(headers, raw, decompressed_limit, move |decoded| {
        let decoded = decoded?;
        let received = Utc::now();
        let (mut events, outcome) = parse_batch(&decoded, ndjson, received, &limits)?;
        if outcome.accepted == 0 {
            return Err(no_valid_event(&outcome));
        }
        let batch = admit_and_prepare(
            &worker_state,
            project_id,
            &mut events,
            client_ip.as_deref(),
            received,
        )?;
        Ok((batch, outcome))
    })
    .await?;
    state.pipeline.store(batch).await?;
    Ok(Json(outcome))
}

fn no_valid_event(outcome: &BatchOutcome) -> ApiError {
    let reasons: Vec<String> = outcome
        .rejected
        .iter()
        .take(5)
        .map(|line| format!("line {}: {}", line.line, line.error))
        .collect();
    ApiError::BadRequest(format!(
        "no valid event in the request ({})",
        if reasons.is_empty() {
            "the body is empty".to_owned()
        } else {
            reasons.join("; ")
        }
    ))
}

/// Splits and parses a decoded body. Errors only when the request as a whole is unusable.
pub fn parse_batch(
    body: &[u8],
    ndjson: bool,
    received: chrono::DateTime<Utc>,
    limits: &crate::config::IngestConfig,
) -> Result<(Vec<ErrorEvent>, BatchOutcome), ApiError> {
    let mut outcome = BatchOutcome::default();
    let mut events = Vec::new();
    let trimmed = body.trim_ascii();
    let mut accept =
        |line: usize, parsed: Result<stackhouse_protocol::ParsedEvent, String>| match parsed {
            Ok(parsed) => {
                let id = parsed.event.event_id.simple().to_string();
                if !parsed.dropped_fields.is_empty() {
                    outcome.dropped_fields.push(DroppedFields {
                        line,
                        id: id.clone(),
                        fields: parsed.dropped_fields,
                    });
                }
                outcome.ids.push(id);
                outcome.accepted += 1;
                events.push(parsed.event);
            }
            Err(error) => outcome.rejected.push(RejectedLine { line, error }),
        };

    if !ndjson && trimmed.first() == Some(&b'[') {
        let values: Vec<serde_json::Value> = serde_json::from_slice(trimmed).map_err(|error| {
            ApiError::BadRequest(format!("invalid JSON array of events: {error}"))
        })?;
        check_count(values.len(), limits)?;
        for (index, value) in values.into_iter().enumerate() {
            accept(
                index + 1,
                parse_event_value(value, received).map_err(|e| e.to_string()),
            );
        }
    } else {
        let single = (!ndjson)
            .then(|| serde_json::from_slice::<serde_json::Value>(trimmed).ok())
            .flatten();
        if let Some(value) = single {
            check_event_size(trimmed.len(), limits).map_err(ApiError::PayloadTooLarge)?;
            accept(
                1,
                parse_event_value(value, received).map_err(|e| e.to_string()),
            );
        } else {
            let lines: Vec<(usize, &[u8])> = trimmed
                .split(|byte| *byte == b'\n')
                .enumerate()
                .map(|(index, line)| (index + 1, line.trim_ascii()))
                .filter(|(_, line)| !line.is_empty())
                .collect();
            check_count(lines.len(), limits)?;
            for (line_number, line) in lines {
                let parsed = check_event_size(line.len(), limits)
                    .and_then(|()| parse_event_json(line, received).map_err(|e| e.to_string()));
                accept(line_number, parsed);
            }
        }
    }
    Ok((events, outcome))
}

fn check_count(count: usize, limits: &crate::config::IngestConfig) -> Result<(), ApiError> {
    if count > limits.max_events_per_request {
        return Err(ApiError::PayloadTooLarge(format!(
            "the request carries {count} events; at most {} are accepted per request",
            limits.max_events_per_request
        )));
    }
    Ok(())
}

fn check_event_size(bytes: usize, limits: &crate::config::IngestConfig) -> Result<(), String> {
    if bytes > limits.max_event_bytes {
        return Err(format!(
            "event is {bytes} bytes, over the {} byte limit",
            limits.max_event_bytes
        ));
    }
    Ok(())
}
