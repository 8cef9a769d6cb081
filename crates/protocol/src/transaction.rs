//! Sentry transaction payloads → their trace context and spans, as plain structs (tolerant, like events).
//!
//! A transaction is the root span of a trace plus its child spans. Stackhouse keeps the trace
//! context now (to link errors to the request they happened in) and the spans for a later
//! `spans` table. Malformed fields are dropped and reported, as for events; a span without a
//! valid `span_id` is dropped as a whole, since nothing could refer to it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::event::TraceContext;
use crate::json::{self, JsonValue, KeepAll, Object};
use crate::sentry::{EventParseError, FieldIssue, Path, Walker};

/// At most this many spans are kept per transaction (the first ones, as Sentry does).
pub const MAX_SPANS: usize = 1000;

/// A transaction's summary and spans.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Transaction {
    /// The transaction's event id, when it sent a valid one.
    pub event_id: Option<Uuid>,
    /// The transaction name (`transaction`): a route, task or operation name.
    pub name: Option<String>,
    /// `contexts.trace`: trace id, the root span's id, op and status.
    pub trace: Option<TraceContext>,
    /// When the root span started.
    pub start_timestamp: Option<DateTime<Utc>>,
    /// When the root span ended.
    pub timestamp: Option<DateTime<Utc>>,
    pub platform: Option<String>,
    pub release: Option<String>,
    pub environment: Option<String>,
    pub tags: Vec<(String, String)>,
    /// Child spans, in the order sent.
    pub spans: Vec<Span>,
}

impl Transaction {
    /// The root span's duration, when both ends are known and in order.
    pub fn duration(&self) -> Option<chrono::Duration> {
        let duration = self.timestamp? - self.start_timestamp?;
        (duration >= chrono::Duration::zero()).then_some(duration)
    }
}

/// One child span of a transaction.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Span {
    /// 16 lowercase hex characters.
    pub span_id: String,
    pub parent_span_id: Option<String>,
    /// 32 lowercase hex characters (usually the transaction's).
    pub trace_id: Option<String>,
    pub op: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub start_timestamp: Option<DateTime<Utc>>,
    pub timestamp: Option<DateTime<Utc>>,
    pub tags: Vec<(String, String)>,
    /// `data`, kept as sent.
    pub data: Map<String, Value>,
}

/// A parsed transaction plus the fields that were malformed and dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedTransaction {
    pub transaction: Transaction,
    pub dropped_fields: Vec<FieldIssue>,
}

/// Parses a transaction item's payload.
///
/// Same result and the same errors as [`parse_transaction_value`] on
/// `serde_json::from_slice(bytes)`, but faster: strings are borrowed from `bytes` rather than
/// allocated. Unlike events, nothing is skipped while decoding: serde_json checks what it skips
/// less strictly than what it decodes (an out-of-range number or a lone surrogate there passes),
/// and such JSON has always rejected a transaction.
pub fn parse_transaction_json(bytes: &[u8]) -> Result<ParsedTransaction, EventParseError> {
    let value = json::decode(bytes, KeepAll)
        .map_err(|error| EventParseError::InvalidJson(error.to_string()))?;
    parse_transaction_tree(value)
}

/// Parses an already-decoded transaction.
pub fn parse_transaction_value(value: Value) -> Result<ParsedTransaction, EventParseError> {
    parse_transaction_tree(JsonValue::from(value))
}

/// The walk both entry points share.
fn parse_transaction_tree(value: JsonValue<'_>) -> Result<ParsedTransaction, EventParseError> {
    let object = match value {
        JsonValue::Object(object) => object,
        other => return Err(EventParseError::NotAnObject(other.type_name())),
    };
    let mut walker = Walker::default();
    let transaction = transaction(&mut walker, object);
    Ok(ParsedTransaction {
        transaction,
        dropped_fields: walker.finish(),
    })
}

fn transaction(walker: &mut Walker, object: Object<'_>) -> Transaction {
    let root = Path::Root;
    let mut transaction = Transaction::default();
    for (key, value) in object {
        let path = root.key(&key);
        match key.as_ref() {
            "event_id" => transaction.event_id = event_id(walker, value, path),
            "transaction" => transaction.name = walker.optional_string(value, path),
            "start_timestamp" => {
                transaction.start_timestamp = walker.optional_timestamp(value, path)
            }
            "timestamp" => transaction.timestamp = walker.optional_timestamp(value, path),
            "platform" => transaction.platform = walker.optional_string(value, path),
            "release" => transaction.release = walker.optional_string(value, path),
            "environment" => transaction.environment = walker.optional_string(value, path),
            "tags" => transaction.tags = walker.tags(value, path),
            "contexts" => transaction.trace = trace_from_contexts(walker, value, path),
            "spans" => transaction.spans = spans(walker, value, path),
            _ => {}
        }
    }
    transaction
}

fn event_id(walker: &mut Walker, value: JsonValue<'_>, path: Path<'_>) -> Option<Uuid> {
    let text = walker.optional_text(value, path)?;
    let id = Uuid::parse_str(text.trim()).ok();
    if id.is_none() {
        walker.record(path, "not a UUID");
    }
    id
}

fn trace_from_contexts(
    walker: &mut Walker,
    value: JsonValue<'_>,
    path: Path<'_>,
) -> Option<TraceContext> {
    let mut contexts = match value {
        JsonValue::Null => return None,
        JsonValue::Object(object) => object,
        other => {
            walker.record_wrong_type(path, "an object", &other);
            return None;
        }
    };
    let trace = contexts.remove("trace")?;
    if trace.is_null() {
        return None;
    }
    walker.trace_context(trace, path.key("trace"))
}

fn spans(walker: &mut Walker, value: JsonValue<'_>, path: Path<'_>) -> Vec<Span> {
    let values = match value {
        JsonValue::Null => return Vec::new(),
        JsonValue::Array(values) => values,
        other => {
            walker.record_wrong_type(path, "a list", &other);
            return Vec::new();
        }
    };
    if values.len() > MAX_SPANS {
        walker.record(
            path,
            format!("{} spans: kept the first {MAX_SPANS}", values.len()),
        );
    }
    let mut spans = Vec::with_capacity(values.len().min(MAX_SPANS));
    for (index, value) in values.into_iter().enumerate().take(MAX_SPANS) {
        if let Some(span) = span(walker, value, path.index(index)) {
            spans.push(span);
        }
    }
    spans
}

fn span(walker: &mut Walker, value: JsonValue<'_>, path: Path<'_>) -> Option<Span> {
    let object = match value {
        JsonValue::Object(object) => object,
        other => {
            walker.record_wrong_type(path, "a span object", &other);
            return None;
        }
    };
    let mut span_id = None;
    let mut span = Span::default();
    for (key, value) in object {
        let field_path = path.key(&key);
        match key.as_ref() {
            "span_id" => span_id = walker.hex_id(value, 16, field_path),
            "parent_span_id" => span.parent_span_id = walker.hex_id(value, 16, field_path),
            "trace_id" => span.trace_id = walker.hex_id(value, 32, field_path),
            "op" => span.op = walker.optional_string(value, field_path),
            "description" => span.description = walker.optional_string(value, field_path),
            "status" => span.status = walker.optional_string(value, field_path),
            "start_timestamp" => {
                span.start_timestamp = walker.optional_timestamp(value, field_path)
            }
            "timestamp" => span.timestamp = walker.optional_timestamp(value, field_path),
            "tags" => span.tags = walker.tags(value, field_path),
            "data" => match value {
                JsonValue::Null => {}
                JsonValue::Object(data) => span.data = data.into_map(),
                other => walker.record_wrong_type(field_path, "an object", &other),
            },
            _ => {}
        }
    }
    match span_id {
        Some(span_id) => {
            span.span_id = span_id;
            Some(span)
        }
        None => {
            walker.record(path, "span without a valid span_id");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn extracts_trace_context_and_spans() {
        let payload = json!({
            "type": "transaction",
            "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
            "transaction": "/api/users/{id}",
            "start_timestamp": 1_709_294_400.0,
            "timestamp": "2024-03-01T12:00:00.250Z",
            "platform": "python",
            "release": "app@1.0",
            "environment": "prod",
            "tags": {"region": "eu"},
            "contexts": {"trace": {
                "trace_id": "4C79F60C11214EB38604F4AE0781BFB2",
                "span_id": "fa90fdead5f74052",
                "op": "http.server",
                "status": "ok"
            }},
            "spans": [
                {
                    "span_id": "b0e6f15b45c36b12",
                    "parent_span_id": "fa90fdead5f74052",
                    "trace_id": "4c79f60c11214eb38604f4ae0781bfb2",
                    "op": "db.query",
                    "description": "SELECT * FROM users WHERE id = %s",
                    "start_timestamp": 1_709_294_400.01,
                    "timestamp": 1_709_294_400.2,
                    "status": "ok",
                    "tags": {"db": "main"},
                    "data": {"db.system": "postgresql"}
                },
                {"op": "no id"},
                "garbage"
            ]
        });
        let parsed = parse_transaction_value(payload).unwrap();
        let transaction = &parsed.transaction;
        assert_eq!(transaction.name.as_deref(), Some("/api/users/{id}"));
        let trace = transaction.trace.as_ref().unwrap();
        assert_eq!(trace.trace_id, "4c79f60c11214eb38604f4ae0781bfb2");
        assert_eq!(trace.op.as_deref(), Some("http.server"));
        assert_eq!(
            transaction.duration(),
            Some(chrono::Duration::milliseconds(250))
        );
        assert_eq!(transaction.tags, [("region".to_owned(), "eu".to_owned())]);
        assert_eq!(transaction.spans.len(), 1);
        let span = &transaction.spans[0];
        assert_eq!(span.span_id, "b0e6f15b45c36b12");
        assert_eq!(span.parent_span_id.as_deref(), Some("fa90fdead5f74052"));
        assert_eq!(span.op.as_deref(), Some("db.query"));
        assert_eq!(span.data["db.system"], json!("postgresql"));
        assert_eq!(span.start_timestamp.unwrap().timestamp_subsec_millis(), 10);
        let paths: Vec<&str> = parsed
            .dropped_fields
            .iter()
            .map(|issue| issue.path.as_str())
            .collect();
        assert_eq!(paths, ["spans[1]", "spans[2]"]);
    }

    #[test]
    fn tolerates_missing_and_malformed_parts() {
        let parsed = parse_transaction_value(json!({
            "contexts": {"trace": {"trace_id": "short"}},
            "spans": {"not": "a list"},
            "timestamp": "soon"
        }))
        .unwrap();
        assert_eq!(parsed.transaction.trace, None);
        assert!(parsed.transaction.spans.is_empty());
        assert_eq!(parsed.dropped_fields.len(), 3);
        assert!(matches!(
            parse_transaction_json(b"[]"),
            Err(EventParseError::NotAnObject("an array"))
        ));
    }
}
