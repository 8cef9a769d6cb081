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

/// The text of a JSON string holding `text`, in one of several encodings: as serde_json writes
/// it, every character as a `\u` escape (surrogate pairs beyond the BMP), or raw where JSON
/// allows it.
fn encode_string(text: &str, encoding: u8) -> String {
    match encoding % 3 {
        0 => serde_json::to_string(text).unwrap(),
        1 => {
            let mut out = String::from("\"");
            for unit in text.encode_utf16() {
                out.push_str(&format!("\\u{unit:04x}"));
            }
            out.push('"');
            out
        }
        _ => {
            let mut out = String::from("\"");
            for character in text.chars() {
                match character {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '/' => out.push_str("\\/"),
                    character if u32::from(character) < 0x20 => {
                        out.push_str(&format!("\\u{:04X}", u32::from(character)))
                    }
                    character => out.push(character),
                }
            }
            out.push('"');
            out
        }
    }
}

/// JSON string texts: valid ones in every encoding, and a few a parser may get wrong (lone
/// surrogates, bad escapes, raw control characters, unterminated).
fn string_text() -> impl Strategy<Value = String> {
    let text = prop_oneof![
        ".{0,16}",
        prop::sample::select(EVENT_KEYS).prop_map(str::to_owned),
        prop::sample::select(
            &[
                "2024-11-05T09:14:27.482913Z",
                "771a43a4192642f0b136d5159a501700",
                "9c2a6db8c79068a2",
                "{{auto}}",
                "true",
                "12",
                "error",
                "runtime",
            ][..]
        )
        .prop_map(str::to_owned),
    ];
    prop_oneof![
        30 => (text, any::<u8>()).prop_map(|(text, encoding)| encode_string(&text, encoding)),
        1 => prop::sample::select(&[
            r#""\ud800""#,
            r#""\udc00x""#,
            r#""\ud83d\ude00""#,
            r#""a\qb""#,
            r#""\u12g4""#,
            "\"tab\there\"",
            r#""unterminated"#,
            r#""\/\b\f\n\r\t""#,
        ][..])
        .prop_map(str::to_owned),
    ]
}

/// JSON number texts, including the edges of u64 / i64 / f64 and (rarely) invalid ones.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<i64>().prop_map(|number| number.to_string()),
        4 => any::<u64>().prop_map(|number| number.to_string()),
        4 => any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |number| number.is_finite())
            .prop_map(|number| format!("{number:?}")),
        4 => any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |number| number.is_finite())
            .prop_map(|number| format!("{number:e}")),
        8 => prop::sample::select(&[
            "0", "-0", "1", "-1", "0.5", "-0.0", "1e5", "1E+2", "1e-7", "10", "1730800000.123",
            "18446744073709551615", "18446744073709551616", "-9223372036854775808",
            "-9223372036854775809", "123456789012345678", "-123456789012345678",
            "1234567890123456789", "99999999999999999999", "1.7976931348623157e308",
            "4.9e-324", "0.1e1", "-0e0",
        ][..])
        .prop_map(str::to_owned),
        1 => prop::sample::select(&["1e400", "01", "1.", "-", "2.5e", ".5", "+1", "1x", "NaN"][..])
            .prop_map(str::to_owned),
    ]
}

/// JSON text (valid or nearly so) with duplicate keys, keys in any order, varied whitespace,
/// escapes and number forms: what the hand-written fast path of `parse_event_json` must read
/// exactly as serde_json does, or hand back to it.
fn json_text() -> impl Strategy<Value = String> {
    let space = || prop::sample::select(&["", " ", "\n", "\t", " \r\n "][..]);
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        number_text(),
        string_text(),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        let key = prop_oneof![
            3 => (prop::sample::select(EVENT_KEYS), any::<u8>())
                .prop_map(|(key, encoding)| encode_string(key, encoding)),
            1 => string_text(),
        ];
        prop_oneof![
            prop::collection::vec((inner.clone(), space()), 0..8).prop_map(|items| {
                let items: Vec<String> = items
                    .into_iter()
                    .map(|(item, space)| format!("{space}{item}{space}"))
                    .collect();
                format!("[{}]", items.join(","))
            }),
            prop::collection::vec((key, inner, space()), 0..8).prop_map(|entries| {
                let entries: Vec<String> = entries
                    .into_iter()
                    .map(|(key, value, space)| format!("{space}{key}{space}:{space}{value}"))
                    .collect();
                format!("{{{}}}", entries.join(","))
            }),
        ]
    })
}

/// An event-shaped JSON object as text, its top-level keys the walker's (repeated at times).
fn event_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (prop::sample::select(EVENT_KEYS), any::<u8>(), json_text()),
        0..16,
    )
    .prop_map(|entries| {
        let entries: Vec<String> = entries
            .into_iter()
            .map(|(key, encoding, value)| format!("{}: {value}", encode_string(key, encoding)))
            .collect();
        format!("{{{}}}", entries.join(", "))
    })
}

/// [`assert_parsers_agree`] for JSON text that may be invalid in ways the skipped subtrees hide:
/// `parse_event_json` validates what it skips only as serde_json validates what it ignores (an
/// out-of-range number, a lone surrogate or invalid UTF-8 there passes, and a control character
/// there is reported one column off). So only JSON that decodes in full must agree exactly.
fn assert_parsers_agree_on_text(bytes: &[u8]) {
    if serde_json::from_slice::<Value>(bytes).is_ok() {
        assert_parsers_agree(bytes);
    } else if let Err(error) = parse_event_json(bytes, received()) {
        assert!(matches!(
            error,
            stackhouse_protocol::EventParseError::InvalidJson(_)
        ));
    }
}

/// `parse_transaction_json` must give exactly what `parse_transaction_value` gives on the
/// decoded JSON, and the same error when the JSON is invalid.
fn assert_transaction_parsers_agree(bytes: &[u8]) {
    let from_bytes = parse_transaction_json(bytes);
    let from_value = serde_json::from_slice::<Value>(bytes)
        .map_err(|error| error.to_string())
        .map(parse_transaction_value);
    match (from_bytes, from_value) {
        (Ok(from_bytes), Ok(Ok(from_value))) => assert_eq!(from_bytes, from_value),
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
    fn json_and_value_parsers_agree_on_any_json_text(text in event_text()) {
        assert_parsers_agree_on_text(text.as_bytes());
        assert_transaction_parsers_agree(text.as_bytes());
    }

    #[test]
    fn json_and_value_parsers_agree_on_damaged_json_text(
        text in event_text(),
        position in any::<prop::sample::Index>(),
        byte in prop_oneof![Just(b'"'), Just(b'\\'), Just(b','), Just(b'}'), Just(b'0'), any::<u8>()],
        insert in any::<bool>(),
    ) {
        let mut bytes = text.into_bytes();
        if !bytes.is_empty() {
            let position = position.index(bytes.len());
            if insert {
                bytes.insert(position, byte);
            } else {
                bytes[position] = byte;
            }
        }
        assert_parsers_agree_on_text(&bytes);
        assert_transaction_parsers_agree(&bytes);
    }

    #[test]
    fn transaction_json_and_value_parsers_agree(
        entries in prop::collection::vec(
            (prop::sample::select(EVENT_KEYS).prop_map(str::to_owned), event_shaped_json()),
            0..16,
        ),
    ) {
        let value = Value::Object(entries.into_iter().collect());
        assert_transaction_parsers_agree(&serde_json::to_vec(&value).unwrap());
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
