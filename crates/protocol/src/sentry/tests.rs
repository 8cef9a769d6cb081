//! Unit tests for the tolerant Sentry event walker.

#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

fn received() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

fn parse(value: Value) -> ParsedEvent {
    parse_event_value(value, received()).unwrap()
}

fn paths(parsed: &ParsedEvent) -> Vec<&str> {
    parsed
        .dropped_fields
        .iter()
        .map(|issue| issue.path.as_str())
        .collect()
}

#[test]
fn top_level_must_be_an_object() {
    assert_eq!(
        parse_event_value(json!([1, 2]), received()),
        Err(EventParseError::NotAnObject("an array"))
    );
    assert!(matches!(
        parse_event_json(b"{not json", received()),
        Err(EventParseError::InvalidJson(_))
    ));
}

#[test]
fn empty_object_gets_defaults() {
    let parsed = parse(json!({}));
    assert!(parsed.dropped_fields.is_empty());
    assert_eq!(parsed.event.timestamp, received());
    assert_eq!(parsed.event.platform, "other");
    assert_eq!(parsed.event.level, Level::Error);
    assert_eq!(parsed.event.event_id.get_version_num(), 4);
}

#[test]
fn event_id_with_or_without_dashes() {
    let simple = parse(json!({"event_id": "FC6D8C0C43FC4630AD850EE518F1B9D0"}));
    let dashed = parse(json!({"event_id": "fc6d8c0c-43fc-4630-ad85-0ee518f1b9d0"}));
    assert_eq!(simple.event.event_id, dashed.event.event_id);
    assert_eq!(
        simple.event.event_id.simple().to_string(),
        "fc6d8c0c43fc4630ad850ee518f1b9d0"
    );
    assert!(simple.dropped_fields.is_empty());
}

#[test]
fn invalid_event_id_is_replaced_and_recorded() {
    let parsed = parse(json!({"event_id": "nope"}));
    assert_eq!(parsed.event.event_id.get_version_num(), 4);
    assert_eq!(paths(&parsed), ["event_id"]);
    let parsed = parse(json!({"event_id": 12}));
    assert_eq!(paths(&parsed), ["event_id"]);
}

#[test]
fn timestamps_in_every_form() {
    let expected = DateTime::parse_from_rfc3339("2024-03-01T12:00:00.5Z")
        .unwrap()
        .with_timezone(&Utc);
    for value in [
        json!("2024-03-01T12:00:00.5Z"),
        json!("2024-03-01T13:00:00.5+01:00"),
        json!("2024-03-01T12:00:00.500000"),
        json!(1_709_294_400.5),
        json!("1709294400.5"),
    ] {
        let parsed = parse(json!({ "timestamp": value }));
        assert_eq!(parsed.event.timestamp, expected, "{value}");
        assert!(parsed.dropped_fields.is_empty());
    }
    let parsed = parse(json!({"timestamp": 1_709_294_400}));
    assert_eq!(parsed.event.timestamp.timestamp(), 1_709_294_400);
}

#[test]
fn bad_timestamp_falls_back_to_received() {
    for value in [json!("yesterday"), json!(1e300), json!({"a": 1})] {
        let parsed = parse(json!({ "timestamp": value }));
        assert_eq!(parsed.event.timestamp, received());
        assert_eq!(paths(&parsed), ["timestamp"]);
    }
}

#[test]
fn scalar_fields_and_lenient_strings() {
    let parsed = parse(json!({
        "platform": "python",
        "level": "WARN",
        "logger": "app.db",
        "environment": "production",
        "release": 1.5,
        "dist": "",
        "server_name": "web-1",
        "culprit": "app.views in handle",
    }));
    let event = parsed.event;
    assert_eq!(event.platform, "python");
    assert_eq!(event.level, Level::Warning);
    assert_eq!(event.logger.as_deref(), Some("app.db"));
    assert_eq!(event.environment.as_deref(), Some("production"));
    assert_eq!(event.release.as_deref(), Some("1.5"));
    assert_eq!(event.dist, None);
    assert_eq!(event.server_name.as_deref(), Some("web-1"));
    assert_eq!(event.transaction.as_deref(), Some("app.views in handle"));
    assert!(parsed.dropped_fields.is_empty());
}

#[test]
fn transaction_wins_over_culprit() {
    let parsed = parse(json!({"culprit": "old", "transaction": "/users/{id}"}));
    assert_eq!(parsed.event.transaction.as_deref(), Some("/users/{id}"));
}

#[test]
fn bad_level_and_wrong_types_are_recorded() {
    let parsed = parse(json!({
        "level": "loud",
        "release": {"v": 1},
        "environment": ["prod"],
        "message": "still here",
    }));
    assert_eq!(parsed.event.level, Level::Error);
    assert_eq!(parsed.event.release, None);
    assert_eq!(parsed.event.message.as_deref(), Some("still here"));
    let mut recorded = paths(&parsed);
    recorded.sort_unstable();
    assert_eq!(recorded, ["environment", "level", "release"]);
}

#[test]
fn message_as_string_or_object() {
    let parsed = parse(json!({"message": "plain"}));
    assert_eq!(parsed.event.message.as_deref(), Some("plain"));
    assert_eq!(parsed.event.message_template, None);

    let parsed = parse(json!({"message": {"formatted": "java formatted"}}));
    assert_eq!(parsed.event.message.as_deref(), Some("java formatted"));

    let parsed = parse(json!({"message": {"message": "user %s", "params": ["x"]}}));
    assert_eq!(parsed.event.message.as_deref(), Some("user x"));
    assert_eq!(parsed.event.message_template.as_deref(), Some("user %s"));
}

#[test]
fn logentry_params_are_applied_when_formatted_is_absent() {
    let parsed = parse(json!({
        "logentry": {"message": "order %(id)s failed for %(user)s", "params": {"id": 7, "user": "ann"}}
    }));
    assert_eq!(
        parsed.event.message.as_deref(),
        Some("order 7 failed for ann")
    );
    assert_eq!(
        parsed.event.message_template.as_deref(),
        Some("order %(id)s failed for %(user)s")
    );

    let parsed = parse(json!({
        "logentry": {"message": "got {} of {}", "params": [1, 2], "formatted": "given"}
    }));
    assert_eq!(parsed.event.message.as_deref(), Some("given"));
    assert_eq!(
        parsed.event.message_template.as_deref(),
        Some("got {} of {}")
    );
}

#[test]
fn logentry_is_preferred_over_message() {
    let parsed = parse(json!({
        "message": "legacy",
        "logentry": {"message": "structured %s", "params": ["one"]},
    }));
    assert_eq!(parsed.event.message.as_deref(), Some("legacy"));
    assert_eq!(
        parsed.event.message_template.as_deref(),
        Some("structured %s")
    );

    let parsed = parse(json!({
        "message": {"formatted": "from message"},
        "logentry": {"formatted": "from logentry"},
    }));
    assert_eq!(parsed.event.message.as_deref(), Some("from logentry"));
}

#[test]
fn message_is_capped_at_8_kib() {
    let long = "é".repeat(5000); // 10,000 bytes
    let parsed = parse(json!({ "message": long }));
    let message = parsed.event.message.clone().unwrap();
    assert!(message.len() <= MAX_MESSAGE_BYTES);
    assert_eq!(message.len(), 8192);
    assert_eq!(paths(&parsed), ["message"]);
}

#[test]
fn exception_values_and_bare_list() {
    let exception = json!({
        "type": "ValueError",
        "value": "bad",
        "module": "builtins",
        "mechanism": {"type": "django", "handled": false, "synthetic": "true", "description": "d"},
        "stacktrace": {"frames": [
            {"function": "outer", "module": "app.a", "lineno": "10", "colno": 3, "in_app": true},
            {"function": "inner", "filename": "a.py", "abs_path": "/srv/a.py", "lineno": 20.0,
             "context_line": "raise", "pre_context": ["x", null], "post_context": [],
             "instruction_addr": 4096, "platform": "python", "package": "app"}
        ]}
    });
    let wrapped = parse(json!({"exception": {"values": [exception.clone()]}}));
    let bare = parse(json!({ "exception": [exception] }));
    assert_eq!(wrapped.event.exceptions, bare.event.exceptions);
    assert!(
        wrapped.dropped_fields.is_empty(),
        "{:?}",
        wrapped.dropped_fields
    );

    let exception = &wrapped.event.exceptions[0];
    assert_eq!(exception.ty, "ValueError");
    assert_eq!(exception.value.as_deref(), Some("bad"));
    assert_eq!(exception.module.as_deref(), Some("builtins"));
    let mechanism = exception.mechanism.as_ref().unwrap();
    assert_eq!(mechanism.ty, "django");
    assert_eq!(mechanism.handled, Some(false));
    assert_eq!(mechanism.synthetic, Some(true));
    assert_eq!(mechanism.description.as_deref(), Some("d"));
    let frames = &exception.stacktrace.as_ref().unwrap().frames;
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].lineno, Some(10));
    assert_eq!(frames[0].colno, Some(3));
    assert_eq!(frames[0].in_app, Some(true));
    assert_eq!(frames[1].lineno, Some(20));
    assert_eq!(frames[1].pre_context, ["x", ""]);
    assert_eq!(frames[1].instruction_addr.as_deref(), Some("0x1000"));
    assert_eq!(frames[1].package.as_deref(), Some("app"));
    assert_eq!(wrapped.event.culprit(), "app.a in outer");
}

#[test]
fn malformed_frame_fields_are_dropped_not_the_frame() {
    let parsed = parse(json!({"exception": {"values": [{
        "type": "E",
        "stacktrace": {"frames": [
            {"function": "f", "lineno": -3, "colno": "x", "in_app": "maybe"},
            "not a frame",
            {"function": "g", "pre_context": "oops"}
        ]}
    }]}}));
    let frames = &parsed.event.exceptions[0]
        .stacktrace
        .as_ref()
        .unwrap()
        .frames;
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].function.as_deref(), Some("f"));
    assert_eq!(frames[0].lineno, None);
    let mut recorded = paths(&parsed);
    recorded.sort_unstable();
    assert_eq!(
        recorded,
        [
            "exception.values[0].stacktrace.frames[0].colno",
            "exception.values[0].stacktrace.frames[0].in_app",
            "exception.values[0].stacktrace.frames[0].lineno",
            "exception.values[0].stacktrace.frames[1]",
            "exception.values[0].stacktrace.frames[2].pre_context",
        ]
    );
}

#[test]
fn exception_without_type_is_error_and_empty_one_is_dropped() {
    let parsed = parse(json!({"exception": [{"value": "boom"}, {}, 5]}));
    assert_eq!(parsed.event.exceptions.len(), 1);
    assert_eq!(parsed.event.exceptions[0].ty, "Error");
    assert_eq!(paths(&parsed), ["exception[1]", "exception[2]"]);
}

#[test]
fn long_stacks_keep_first_50_and_last_200() {
    let frames: Vec<Value> = (0..1000).map(|i| json!({ "lineno": i })).collect();
    let parsed = parse(json!({"stacktrace": { "frames": frames }}));
    let kept = &parsed.event.stacktrace.as_ref().unwrap().frames;
    assert_eq!(kept.len(), MAX_FRAMES);
    assert_eq!(kept[0].lineno, Some(0));
    assert_eq!(kept[49].lineno, Some(49));
    assert_eq!(kept[50].lineno, Some(800));
    assert_eq!(kept[249].lineno, Some(999));
    assert_eq!(paths(&parsed), ["stacktrace.frames"]);
}

#[test]
fn threads_supply_the_stack_when_exceptions_have_none() {
    let threads = json!({"values": [
        {"id": 1, "current": true, "stacktrace": {"frames": [{"function": "current"}]}},
        {"id": 2, "crashed": true, "stacktrace": {"frames": [{"function": "crashed"}]}},
    ]});
    let parsed = parse(json!({ "threads": threads.clone(), "message": "m" }));
    let stack = parsed.event.stacktrace.unwrap();
    assert_eq!(stack.frames[0].function.as_deref(), Some("crashed"));

    let parsed = parse(json!({"threads": [
        {"id": 1, "stacktrace": {"frames": [{"function": "other"}]}},
        {"id": 2, "current": true, "stacktrace": {"frames": [{"function": "current"}]}},
    ]}));
    let stack = parsed.event.stacktrace.unwrap();
    assert_eq!(stack.frames[0].function.as_deref(), Some("current"));

    let parsed = parse(json!({
        "threads": threads,
        "exception": [{"type": "E", "stacktrace": {"frames": [{"function": "raise"}]}}],
    }));
    assert_eq!(parsed.event.stacktrace, None);
}

#[test]
fn tags_as_object_or_pairs() {
    let parsed = parse(json!({"tags": {"a": "1", "b": 2, "c": true, "d": null}}));
    assert_eq!(
        parsed.event.tags,
        [
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
            ("c".to_owned(), "true".to_owned()),
        ]
    );
    let parsed = parse(json!({"tags": [["x", "1"], ["y", 2.5], ["x", "last"], ["bad"], 7]}));
    assert_eq!(
        parsed.event.tags,
        [
            ("x".to_owned(), "last".to_owned()),
            ("y".to_owned(), "2.5".to_owned()),
        ]
    );
    assert_eq!(paths(&parsed), ["tags[3]", "tags[4]"]);
}

#[test]
fn many_tags_keep_first_positions_and_last_values() {
    // Enough tags that duplicates are found through the key index rather than by scanning.
    let pairs: Vec<Value> = (0..3)
        .flat_map(|round| (0..20).map(move |key| json!([format!("k{key}"), format!("{round}")])))
        .collect();
    let parsed = parse(json!({ "tags": pairs }));
    let expected: Vec<(String, String)> = (0..20)
        .map(|key| (format!("k{key}"), "2".to_owned()))
        .collect();
    assert_eq!(parsed.event.tags, expected);
}

#[test]
fn tags_are_length_capped() {
    let parsed = parse(json!({"tags": {"k".repeat(250): "v".repeat(300), "ok": {"no": 1}}}));
    let (key, value) = &parsed.event.tags[0];
    assert_eq!(key.chars().count(), MAX_TAG_KEY_CHARS);
    assert_eq!(value.chars().count(), MAX_TAG_VALUE_CHARS);
    assert_eq!(parsed.event.tags.len(), 1);
    assert_eq!(parsed.dropped_fields.len(), 3);
}

#[test]
fn user_with_numeric_id() {
    let parsed = parse(json!({"user": {
        "id": 42, "email": "a@b.c", "ip_address": "{{auto}}", "username": "ann", "geo": {}
    }}));
    let user = parsed.event.user.unwrap();
    assert_eq!(user.id.as_deref(), Some("42"));
    assert_eq!(user.email.as_deref(), Some("a@b.c"));
    assert_eq!(user.ip_address.as_deref(), Some("{{auto}}"));
    assert_eq!(user.username.as_deref(), Some("ann"));
    assert_eq!(parse(json!({"user": {}})).event.user, None);
    assert_eq!(paths(&parse(json!({"user": "ann"}))), ["user"]);
}

#[test]
fn request_query_string_and_headers_in_every_form() {
    let parsed = parse(json!({"request": {
        "url": "https://example.com/users/1",
        "method": "post",
        "query_string": "?a=1&b=2",
        "headers": {"User-Agent": "curl/8", "X-Count": 3},
    }}));
    let request = parsed.event.request.unwrap();
    assert_eq!(request.method.as_deref(), Some("POST"));
    assert_eq!(request.query_string.as_deref(), Some("a=1&b=2"));
    assert_eq!(
        request.headers,
        [
            ("User-Agent".to_owned(), "curl/8".to_owned()),
            ("X-Count".to_owned(), "3".to_owned()),
        ]
    );

    let parsed = parse(json!({"request": {
        "query_string": [["a", "1"], ["b", "2"]],
        "headers": [["Host", "example.com"], ["Accept", "*/*"]],
    }}));
    let request = parsed.event.request.unwrap();
    assert_eq!(request.query_string.as_deref(), Some("a=1&b=2"));
    assert_eq!(request.headers[1], ("Accept".to_owned(), "*/*".to_owned()));

    let parsed = parse(json!({"request": {"query_string": {"q": "x", "n": [1, 2]}}}));
    assert_eq!(
        parsed.event.request.unwrap().query_string.as_deref(),
        Some("n=1&n=2&q=x")
    );
}

#[test]
fn contexts_trace_and_named_versions() {
    let parsed = parse(json!({"contexts": {
        "trace": {
            "trace_id": "4C79F60C11214EB38604F4AE0781BFB2",
            "span_id": "FA90FDEAD5F74052",
            "parent_span_id": "nope",
            "op": "http.server",
            "status": "ok",
        },
        "os": {"name": "Linux", "version": "6.1", "kernel_version": "x"},
        "browser": {"name": "Chrome", "version": "120"},
        "runtime": {"name": "CPython", "version": "3.12.1"},
        "device": {"model": "Pixel 8", "family": "Pixel"},
        "app": {"app_start_time": "2024-01-01T00:00:00Z"},
        "gone": null,
    }}));
    let contexts = parsed.event.contexts.clone();
    let trace = contexts.trace.unwrap();
    assert_eq!(trace.trace_id, "4c79f60c11214eb38604f4ae0781bfb2");
    assert_eq!(trace.span_id.as_deref(), Some("fa90fdead5f74052"));
    assert_eq!(trace.parent_span_id, None);
    assert_eq!(trace.op.as_deref(), Some("http.server"));
    assert_eq!(contexts.os.unwrap().name.as_deref(), Some("Linux"));
    assert_eq!(contexts.browser.unwrap().version.as_deref(), Some("120"));
    assert_eq!(contexts.runtime.unwrap().name.as_deref(), Some("CPython"));
    assert_eq!(contexts.device.unwrap().name.as_deref(), Some("Pixel 8"));
    assert_eq!(contexts.other.keys().collect::<Vec<_>>(), ["app"]);
    assert_eq!(paths(&parsed), ["contexts.trace.parent_span_id"]);
}

#[test]
fn invalid_trace_id_drops_the_trace_context() {
    let parsed =
        parse(json!({"contexts": {"trace": {"trace_id": "xyz", "span_id": "fa90fdead5f74052"}}}));
    assert_eq!(parsed.event.contexts.trace, None);
    assert_eq!(paths(&parsed), ["contexts.trace.trace_id"]);
    let parsed = parse(json!({"contexts": {"trace": {
        "trace_id": "4c79f60c-1121-4eb3-8604-f4ae0781bfb2"
    }}}));
    assert_eq!(
        parsed.event.contexts.trace.unwrap().trace_id,
        "4c79f60c11214eb38604f4ae0781bfb2"
    );
}

#[test]
fn sdk_breadcrumbs_fingerprint_extra() {
    let parsed = parse(json!({
        "sdk": {"name": "sentry.python", "version": "2.19.0", "integrations": ["django"]},
        "breadcrumbs": {"values": [
            {"timestamp": 1_709_294_400.25, "category": "query", "message": "SELECT 1", "level": "info"},
            {"timestamp": "2024-03-01T12:00:01Z", "type": "http", "data": {"status_code": 200}},
            {"timestamp": "later", "level": "deafening"},
        ]},
        "fingerprint": ["{{ default }}", 42, true, {"x": 1}],
        "extra": {"sys.argv": ["manage.py"]},
    }));
    let event = parsed.event.clone();
    let sdk = event.sdk.unwrap();
    assert_eq!(
        (sdk.name.as_str(), sdk.version.as_str()),
        ("sentry.python", "2.19.0")
    );
    assert_eq!(event.breadcrumbs.len(), 3);
    assert_eq!(event.breadcrumbs[0].level, Some(Level::Info));
    assert_eq!(
        event.breadcrumbs[0].timestamp.unwrap().timestamp_millis(),
        1_709_294_400_250
    );
    assert_eq!(event.breadcrumbs[1].ty.as_deref(), Some("http"));
    assert_eq!(event.breadcrumbs[1].data, Some(json!({"status_code": 200})));
    assert_eq!(event.breadcrumbs[2].timestamp, None);
    assert_eq!(event.fingerprint.unwrap(), ["{{ default }}", "42", "true"]);
    assert_eq!(event.extra["sys.argv"], json!(["manage.py"]));
    let mut recorded = paths(&parsed);
    recorded.sort_unstable();
    assert_eq!(
        recorded,
        [
            "breadcrumbs.values[2].level",
            "breadcrumbs.values[2].timestamp",
            "fingerprint[3]"
        ]
    );
}

#[test]
fn only_the_latest_100_breadcrumbs_are_kept() {
    let crumbs: Vec<Value> = (0..150)
        .map(|i| json!({ "message": i.to_string() }))
        .collect();
    let parsed = parse(json!({ "breadcrumbs": crumbs }));
    assert_eq!(parsed.event.breadcrumbs.len(), MAX_BREADCRUMBS);
    assert_eq!(parsed.event.breadcrumbs[0].message.as_deref(), Some("50"));
    assert_eq!(parsed.event.breadcrumbs[99].message.as_deref(), Some("149"));
    assert_eq!(paths(&parsed), ["breadcrumbs"]);
}

#[test]
fn issue_list_is_bounded() {
    let frames: Vec<Value> = (0..240).map(|_| json!("bad")).collect();
    let parsed = parse(json!({"stacktrace": { "frames": frames }}));
    assert_eq!(parsed.dropped_fields.len(), MAX_LISTED_ISSUES + 1);
    let last = parsed.dropped_fields.last().unwrap();
    assert_eq!(last.path, "*");
    assert!(last.reason.starts_with("140 more"));
}

#[test]
fn wrong_types_everywhere_never_lose_the_event() {
    let parsed = parse(json!({
        "event_id": "fc6d8c0c43fc4630ad850ee518f1b9d0",
        "exception": "boom",
        "threads": 3,
        "tags": "a=b",
        "request": [],
        "contexts": [],
        "sdk": "python",
        "breadcrumbs": "none",
        "fingerprint": "x",
        "extra": [],
        "stacktrace": {"frames": {}},
        "logentry": 5,
        "user": {"id": [1]},
    }));
    assert_eq!(
        parsed.event.event_id.simple().to_string(),
        "fc6d8c0c43fc4630ad850ee518f1b9d0"
    );
    assert_eq!(parsed.dropped_fields.len(), 12);
}

#[test]
fn contexts_are_recognised_by_their_type_too() {
    let parsed = parse(json!({"contexts": {
        "rust": {"type": "runtime", "name": "rustc", "version": "1.83.0", "channel": "stable"},
        "device": {"type": "device", "family": "Linux", "arch": "x86_64"},
        "os": {"type": "os", "name": "Linux"},
        "linux": {"type": "os", "name": "Other"},
    }}));
    let contexts = parsed.event.contexts;
    assert_eq!(contexts.runtime.unwrap().name.as_deref(), Some("rustc"));
    assert_eq!(contexts.device.unwrap().name.as_deref(), Some("Linux"));
    assert_eq!(contexts.os.unwrap().name.as_deref(), Some("Linux"));
    assert_eq!(contexts.other.keys().collect::<Vec<_>>(), ["linux"]);
}
