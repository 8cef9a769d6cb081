//! Property tests (the bounded stand-in for fuzzing): the parsers never panic on arbitrary input, keep their size bounds, and envelopes round-trip.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value};
use stackhouse_protocol::{
    parse_dsn, parse_event_json, parse_event_value, parse_sentry_auth, parse_transaction_json,
    parse_transaction_value, Envelope, EnvelopeHeader, EnvelopeItem, ItemType,
};
use uuid::Uuid;

fn received() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

/// Any JSON value, a few levels deep.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        "[0-9a-fA-F-]{0,40}".prop_map(Value::String),
        "[%{}()sd0-9a-z ]{0,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((".{0,12}", inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Keys the event walker understands, at every level, so random values land where they matter.
const EVENT_KEYS: &[&str] = &[
    "event_id",
    "timestamp",
    "platform",
    "level",
    "logger",
    "environment",
    "release",
    "dist",
    "server_name",
    "transaction",
    "culprit",
    "message",
    "logentry",
    "exception",
    "stacktrace",
    "threads",
    "tags",
    "user",
    "request",
    "contexts",
    "sdk",
    "breadcrumbs",
    "fingerprint",
    "extra",
    "values",
    "frames",
    "type",
    "value",
    "module",
    "mechanism",
    "handled",
    "function",
    "lineno",
    "colno",
    "in_app",
    "pre_context",
    "instruction_addr",
    "formatted",
    "params",
    "crashed",
    "current",
    "trace",
    "trace_id",
    "span_id",
    "os",
    "runtime",
    "device",
    "name",
    "version",
    "id",
    "email",
    "ip_address",
    "url",
    "method",
    "query_string",
    "headers",
    "data",
    "category",
    "spans",
    "start_timestamp",
    "parent_span_id",
    "op",
    "status",
    "description",
    "modules",
    "vars",
    "raw_stacktrace",
    "debug_meta",
    "cookies",
    "env",
];

/// JSON objects built from the walker's own keys, nested.
fn event_shaped_json() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(EVENT_KEYS).prop_map(str::to_owned);
    arbitrary_json().prop_recursive(4, 96, 8, move |inner| {
        prop_oneof![
            prop::collection::vec((key.clone(), inner.clone()), 0..10)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            prop::collection::vec(inner, 0..6).prop_map(Value::Array),
        ]
    })
}

fn assert_event_bounds(parsed: &stackhouse_protocol::ParsedEvent) {
    let event = &parsed.event;
    for stack in event
        .exceptions
        .iter()
        .filter_map(|exception| exception.stacktrace.as_ref())
        .chain(event.stacktrace.as_ref())
    {
        assert!(stack.frames.len() <= 250);
    }
    assert!(event.breadcrumbs.len() <= 100);
    assert!(event
        .message
        .as_ref()
        .is_none_or(|message| message.len() <= 8192));
    for (key, value) in &event.tags {
        assert!(key.chars().count() <= 200 && value.chars().count() <= 200);
    }
    assert!(parsed.dropped_fields.len() <= 101);
    if let Some(trace) = &event.contexts.trace {
        assert_eq!(trace.trace_id.len(), 32);
        assert!(trace
            .trace_id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }
}

/// `parse_event_json` (which skips unused subtrees while decoding) must give exactly what
/// `parse_event_value` gives on the fully decoded JSON.
fn assert_parsers_agree(bytes: &[u8]) {
    let from_bytes = parse_event_json(bytes, received());
    let from_value = serde_json::from_slice::<Value>(bytes)
        .map_err(|error| error.to_string())
        .map(|value| parse_event_value(value, received()));
    match (from_bytes, from_value) {
        (Ok(mut from_bytes), Ok(Ok(from_value))) => {
            // A missing or invalid client id is replaced by a random one on each side.
            let client_id = serde_json::from_slice::<Value>(bytes)
                .ok()
                .and_then(|value| value.get("event_id")?.as_str().map(str::to_owned))
                .and_then(|text| Uuid::parse_str(text.trim()).ok());
            if client_id.is_none() {
                from_bytes.event.event_id = from_value.event.event_id;
            }
            assert_eq!(from_bytes, from_value);
        }
        (Err(from_bytes), Ok(Err(from_value))) => assert_eq!(from_bytes, from_value),
        (Err(stackhouse_protocol::EventParseError::InvalidJson(from_bytes)), Err(from_value)) => {
            assert_eq!(from_bytes, from_value)
        }
        (from_bytes, from_value) => panic!("disagree: {from_bytes:?} vs {from_value:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn event_json_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_event_json(&bytes, received());
        let _ = parse_transaction_json(&bytes);
    }

    #[test]
    fn event_value_never_panics_and_keeps_bounds(value in arbitrary_json()) {
        if let Ok(parsed) = parse_event_value(value.clone(), received()) {
            assert_event_bounds(&parsed);
        }
        let _ = parse_transaction_value(value);
    }

    #[test]
    fn event_shaped_values_never_panic_and_keep_bounds(
        entries in prop::collection::vec(
            (prop::sample::select(EVENT_KEYS).prop_map(str::to_owned), event_shaped_json()),
            0..16,
        ),
    ) {
        let value = Value::Object(entries.into_iter().collect());
        let parsed = parse_event_value(value.clone(), received()).unwrap();
        assert_event_bounds(&parsed);
        let _ = parse_transaction_value(value);
    }

    #[test]
    fn json_and_value_parsers_agree(
        entries in prop::collection::vec(
            (prop::sample::select(EVENT_KEYS).prop_map(str::to_owned), event_shaped_json()),
            0..16,
        ),
    ) {
        let value = Value::Object(entries.into_iter().collect());
        let bytes = serde_json::to_vec(&value).unwrap();
        assert_parsers_agree(&bytes);
    }

    #[test]
    fn json_and_value_parsers_agree_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        assert_parsers_agree(&bytes);
    }

    #[test]
    fn logentry_formatting_never_panics(
        template in "[%{}()sdrf0-9.a-z é]{1,40}",
        params in prop::collection::vec(arbitrary_json(), 0..4),
        named in prop::collection::vec(("[a-z0-9]{1,4}", arbitrary_json()), 0..4),
    ) {
        let positional = serde_json::json!({"logentry": {"message": template, "params": params}});
        let parsed = parse_event_value(positional, received()).unwrap();
        prop_assert!(parsed.event.message.is_some());
        let named: Map<String, Value> = named.into_iter().collect();
        let named = serde_json::json!({"logentry": {"message": template, "params": named}});
        let parsed = parse_event_value(named, received()).unwrap();
        prop_assert!(parsed.event.message.is_some());
    }

    #[test]
    fn envelope_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Envelope::parse(bytes);
    }

    #[test]
    fn envelope_never_panics_on_envelope_shaped_bytes(
        header in prop_oneof![Just("{}".to_owned()), Just("{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}".to_owned()), ".{0,20}"],
        items in prop::collection::vec(
            (
                prop_oneof![Just("event"), Just("attachment"), Just("session"), Just("")],
                prop::option::of(0u64..64),
                prop::collection::vec(any::<u8>(), 0..48),
                any::<bool>(),
            ),
            0..6,
        ),
    ) {
        let mut body = header.into_bytes();
        body.push(b'\n');
        for (ty, length, payload, newline) in items {
            let item_header = match length {
                Some(length) => format!("{{\"type\":\"{ty}\",\"length\":{length}}}"),
                None => format!("{{\"type\":\"{ty}\"}}"),
            };
            body.extend_from_slice(item_header.as_bytes());
            body.push(b'\n');
            body.extend_from_slice(&payload);
            if newline {
                body.push(b'\n');
            }
        }
        if let Ok(envelope) = Envelope::parse(body) {
            // Only the last item error may be terminal.
            let terminal = envelope.item_errors.iter().filter(|error| error.is_terminal()).count();
            prop_assert!(terminal <= 1);
            if terminal == 1 {
                prop_assert!(envelope.item_errors.last().unwrap().is_terminal());
            }
        }
    }

    #[test]
    fn envelope_serialize_then_parse_round_trips(
        event_id in prop::option::of(any::<u128>()),
        dsn in prop::option::of("[a-f0-9]{8}"),
        items in prop::collection::vec(
            (
                prop_oneof![
                    Just(ItemType::Event),
                    Just(ItemType::Transaction),
                    Just(ItemType::Attachment),
                    Just(ItemType::Session),
                    Just(ItemType::ClientReport),
                    Just(ItemType::Log),
                    "[a-z_]{1,12}".prop_map(|name| ItemType::from_name(&name)),
                ],
                prop::collection::vec(any::<u8>(), 0..256),
                prop::option::of("[a-zA-Z0-9._ -]{1,20}"),
                prop::option::of(prop_oneof![Just("application/json"), Just("text/plain")]),
            ),
            0..8,
        ),
    ) {
        let header = EnvelopeHeader {
            event_id: event_id.map(Uuid::from_u128),
            dsn: dsn.map(|key| format!("http://{key}@localhost:9000/7")),
            ..EnvelopeHeader::default()
        };
        let items: Vec<EnvelopeItem> = items
            .into_iter()
            .map(|(ty, payload, filename, content_type)| {
                let mut item = EnvelopeItem::new(ty, Bytes::from(payload));
                item.filename = filename;
                item.content_type = content_type.map(str::to_owned);
                item
            })
            .collect();
        let envelope = Envelope { header, items, item_errors: Vec::new() };
        let parsed = Envelope::parse_strict(envelope.to_bytes()).unwrap();
        prop_assert_eq!(parsed.header.event_id, envelope.header.event_id);
        prop_assert_eq!(&parsed.header.dsn, &envelope.header.dsn);
        prop_assert_eq!(parsed.items.len(), envelope.items.len());
        for (parsed, original) in parsed.items.iter().zip(&envelope.items) {
            prop_assert_eq!(&parsed.ty, &original.ty);
            prop_assert_eq!(&parsed.payload, &original.payload);
            prop_assert_eq!(&parsed.filename, &original.filename);
            prop_assert_eq!(&parsed.content_type, &original.content_type);
            prop_assert_eq!(parsed.length, Some(original.payload.len() as u64));
        }
        // Writing the parsed envelope again gives the same bytes.
        prop_assert_eq!(parsed.to_bytes(), envelope.to_bytes());
    }

    #[test]
    fn dsn_and_auth_parsers_never_panic(text in ".{0,80}") {
        let _ = parse_dsn(&text);
        let _ = parse_sentry_auth(&text);
    }

    #[test]
    fn dsn_display_round_trips(
        key in "[a-f0-9]{1,32}",
        host in "[a-z][a-z0-9.-]{0,20}",
        port in prop::option::of(any::<u16>()),
        prefix in "(/[a-z]{1,6}){0,2}",
        project_id in any::<u64>(),
    ) {
        let text = match port {
            Some(port) => format!("https://{key}@{host}:{port}{prefix}/{project_id}"),
            None => format!("https://{key}@{host}{prefix}/{project_id}"),
        };
        let dsn = parse_dsn(&text).unwrap();
        prop_assert_eq!(&dsn.public_key, &key);
        prop_assert_eq!(dsn.project_id, project_id);
        prop_assert_eq!(dsn.to_string(), text);
    }
}
