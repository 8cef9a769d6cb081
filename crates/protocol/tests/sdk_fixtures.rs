//! Golden tests: recorded-shape payloads of real Sentry SDKs (Python, Node, browser, Rust, Java) parsed and pinned with insta.
//!
//! The fixtures under `tests/fixtures/` are shaped like what each SDK sends (field names, nesting,
//! timestamp forms, contexts keys). A snapshot diff here means the parser now reads real SDK
//! traffic differently: review it as a behaviour change, not as noise.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use stackhouse_protocol::{
    parse_event_json, parse_transaction_json, Envelope, EnvelopeItem, ItemType, ParsedEvent,
};
use uuid::Uuid;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {path}: {error}"))
}

fn received() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-11-05T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The parsed event as pinned: the event itself, what was dropped, and the derived title and
/// culprit. A generated event id (the client's was invalid) is replaced by the nil UUID so the
/// snapshot is stable.
fn event_snapshot(mut parsed: ParsedEvent) -> Value {
    if parsed
        .dropped_fields
        .iter()
        .any(|issue| issue.path == "event_id")
    {
        parsed.event.event_id = Uuid::nil();
    }
    json!({
        "title": parsed.event.title(),
        "culprit": parsed.event.culprit(),
        "dropped_fields": parsed.dropped_fields,
        "event": parsed.event,
    })
}

fn parse_fixture_event(name: &str) -> Value {
    event_snapshot(parse_event_json(&fixture(name), received()).unwrap())
}

#[test]
fn python_django_exception() {
    insta::assert_json_snapshot!(parse_fixture_event("python_django_exception.json"));
}

#[test]
fn python_logging_message_with_thread_stack() {
    insta::assert_json_snapshot!(parse_fixture_event("python_logging_message.json"));
}

#[test]
fn node_express_exception() {
    insta::assert_json_snapshot!(parse_fixture_event("node_express_exception.json"));
}

#[test]
fn browser_exception() {
    insta::assert_json_snapshot!(parse_fixture_event("browser_exception.json"));
}

#[test]
fn rust_panic() {
    insta::assert_json_snapshot!(parse_fixture_event("rust_panic.json"));
}

#[test]
fn java_uncaught_exception() {
    insta::assert_json_snapshot!(parse_fixture_event("java_uncaught_exception.json"));
}

#[test]
fn malformed_fields_are_dropped_and_listed() {
    insta::assert_json_snapshot!(parse_fixture_event("malformed_fields.json"));
}

/// An envelope as pinned: header, each item's header fields and payload size, item errors, and
/// for event / transaction items what their payload parses to (briefly).
fn envelope_snapshot(name: &str) -> Value {
    let envelope = Envelope::parse(fixture(name)).unwrap();
    let header = &envelope.header;
    let items: Vec<Value> = envelope.items.iter().map(item_snapshot).collect();
    let errors: Vec<String> = envelope
        .item_errors
        .iter()
        .map(ToString::to_string)
        .collect();
    json!({
        "header": {
            "event_id": header.event_id,
            "dsn": header.dsn,
            "public_key": header.public_key(),
            "sent_at": header.sent_at,
            "sdk": header.sdk,
        },
        "items": items,
        "item_errors": errors,
    })
}

fn item_snapshot(item: &EnvelopeItem) -> Value {
    let parsed = match item.ty {
        ItemType::Event => match parse_event_json(&item.payload, received()) {
            Ok(parsed) => json!({
                "title": parsed.event.title(),
                "culprit": parsed.event.culprit(),
                "frames": parsed.event.primary_stacktrace().map(|stack| stack.frames.len()),
                "dropped_fields": parsed.dropped_fields.len(),
            }),
            Err(error) => json!({ "error": error.to_string() }),
        },
        ItemType::Transaction => match parse_transaction_json(&item.payload) {
            Ok(parsed) => json!({
                "transaction": parsed.transaction,
                "dropped_fields": parsed.dropped_fields,
            }),
            Err(error) => json!({ "error": error.to_string() }),
        },
        _ => Value::Null,
    };
    json!({
        "type": item.ty.as_str(),
        "length": item.length,
        "content_type": item.content_type,
        "filename": item.filename,
        "attachment_type": item.attachment_type,
        "payload_bytes": item.payload.len(),
        "parsed": parsed,
    })
}

#[test]
fn python_event_envelope() {
    insta::assert_json_snapshot!(envelope_snapshot("python_event.envelope"));
}

#[test]
fn node_transaction_envelope() {
    insta::assert_json_snapshot!(envelope_snapshot("node_transaction.envelope"));
}

#[test]
fn browser_session_envelope() {
    insta::assert_json_snapshot!(envelope_snapshot("browser_session.envelope"));
}

#[test]
fn rust_event_with_attachment_envelope() {
    insta::assert_json_snapshot!(envelope_snapshot("rust_event_with_attachment.envelope"));
}

#[test]
fn java_event_envelope() {
    insta::assert_json_snapshot!(envelope_snapshot("java_event.envelope"));
}

#[test]
fn truncated_envelope_keeps_the_good_item() {
    insta::assert_json_snapshot!(envelope_snapshot("truncated_after_good_item.envelope"));
}

#[test]
fn every_fixture_envelope_round_trips() {
    for name in [
        "python_event.envelope",
        "node_transaction.envelope",
        "browser_session.envelope",
        "rust_event_with_attachment.envelope",
        "java_event.envelope",
    ] {
        let envelope = Envelope::parse_strict(fixture(name)).unwrap();
        let again = Envelope::parse_strict(envelope.to_bytes()).unwrap();
        assert_eq!(again.header.raw, envelope.header.raw, "{name}");
        assert_eq!(again.items.len(), envelope.items.len(), "{name}");
        for (left, right) in again.items.iter().zip(&envelope.items) {
            assert_eq!(left.ty, right.ty, "{name}");
            assert_eq!(left.payload, right.payload, "{name}");
        }
    }
}
