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

/// Which spans of a project [`super::Engine::spans_between`] and
/// [`super::Engine::count_spans`] read: those that started in `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanRange {
    pub project_id: u64,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Only root spans (no parent).
    pub roots_only: bool,
    /// Whole traces, about one in `sample`, chosen by a hash of the trace id (so a trace is
    /// either complete or absent); 0 or 1 reads every trace.
    pub sample: u64,
}

impl SpanRange {
    /// Every span of a project that started in `[from, to)`.
    pub fn all(project_id: u64, from: DateTime<Utc>, to: DateTime<Utc>) -> SpanRange {
        SpanRange {
            project_id,
            from,
            to,
            roots_only: false,
            sample: 1,
        }
    }

    /// Whether a trace is in the sample (the embedded engine's choice; ClickHouse hashes with
    /// `cityHash64`: the same share, other traces).
    pub fn samples_trace(&self, trace_id: &str) -> bool {
        self.sample <= 1
            || twox_hash::XxHash64::oneshot(0x5452_4143_4553, trace_id.as_bytes())
                .is_multiple_of(self.sample)
    }
}

impl SpanRecord {
    /// Only the fields the service map reads (the rest empty).
    pub fn map_fields(&self) -> SpanRecord {
        SpanRecord {
            project_id: self.project_id,
            trace_id: self.trace_id.clone(),
            span_id: self.span_id.clone(),
            parent_span_id: self.parent_span_id.clone(),
            service: self.service.clone(),
            start_us: self.start_us,
            duration_us: self.duration_us,
            status: self.status.clone(),
            ..SpanRecord::default()
        }
    }

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
