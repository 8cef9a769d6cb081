//! [`SpanRecord`]: one row of the logical `spans` table (see `sql/README.md`), whichever door
//! the span came in by (OTLP/HTTP or a Sentry transaction).

use chrono::{DateTime, Utc};

/// One span of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpanRecord {
    pub project_id: u64,
    /// 32 lowercase hex characters.
    pub trace_id: String,
    /// 16 lowercase hex characters.
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// The service that emitted it (OTLP `service.name`; Sentry: the transaction's
    /// `service.name`/`server_name` tag, else its platform).
    pub service: String,
    /// The operation: OTLP span name; Sentry span description, else op.
    pub name: String,
    /// `server`, `client`, `internal`, `producer`, `consumer` or `unspecified`.
    pub kind: String,
    /// When it started, microseconds since the epoch.
    pub start_us: i64,
    pub duration_us: u64,
    /// `ok`, `error` or `unset`.
    pub status: String,
    /// The status detail as sent (OTLP status message, Sentry status such as `internal_error`).
    pub status_message: String,
    pub http_method: String,
    pub http_route: String,
    /// 0 when not an HTTP span.
    pub http_status_code: u16,
    pub db_system: String,
    /// Other attributes (a bounded number), as text.
    pub attribute_keys: Vec<String>,
    pub attribute_values: Vec<String>,
    /// `otlp` or `sentry`.
    pub source: String,
}

impl SpanRecord {
    /// When it started.
    pub fn start(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.start_us).unwrap_or_default()
    }

    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_empty()
    }

    pub fn is_error(&self) -> bool {
        self.status == "error"
    }
}
