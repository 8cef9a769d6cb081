//! Sentry event JSON → [`ErrorEvent`]. (Being written: see the grouping/protocol helper.)

use chrono::{DateTime, Utc};

use crate::event::ErrorEvent;

/// A parsed event plus the fields that were malformed and dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEvent {
    pub event: ErrorEvent,
    /// Fields that were present but malformed, dropped so the rest of the event survives.
    pub dropped_fields: Vec<FieldIssue>,
}

/// A malformed field that was dropped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldIssue {
    /// JSON path of the field, e.g. `user.id` or `exception.values[0].stacktrace`.
    pub path: String,
    /// What was wrong with it.
    pub reason: String,
}

/// Why a whole event could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventParseError {
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("an event must be a JSON object, got {0}")]
    NotAnObject(&'static str),
}

/// Parses one event from JSON bytes. `received` is used when the event carries no timestamp.
pub fn parse_event_json(bytes: &[u8], received: DateTime<Utc>) -> Result<ParsedEvent, EventParseError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|error| EventParseError::InvalidJson(error.to_string()))?;
    parse_event_value(value, received)
}

/// Parses one event from an already-decoded JSON value.
pub fn parse_event_value(
    value: serde_json::Value,
    received: DateTime<Utc>,
) -> Result<ParsedEvent, EventParseError> {
    let _ = (value, received);
    Err(EventParseError::NotAnObject("unimplemented"))
}
