//! Builders for `ErrorEvent` values in tests (the crate has no Sentry JSON parser of its own).
#![allow(dead_code, clippy::unwrap_used)]

use stackhouse_protocol::{ErrorEvent, Exception, Frame, Stacktrace};

/// An event with every required field set to a fixed value.
pub fn base_event(platform: &str) -> ErrorEvent {
    let mut event: ErrorEvent = serde_json::from_value(serde_json::json!({
        "event_id": "00000000-0000-0000-0000-000000000000",
        "timestamp": "2024-01-01T00:00:00Z",
        "platform": "other",
        "level": "error",
        "exceptions": [],
        "tags": [],
        "contexts": { "other": {} },
        "breadcrumbs": [],
        "extra": {}
    }))
    .unwrap();
    event.platform = platform.to_owned();
    event
}

/// A frame from `module`, `function`, `lineno`, `in_app`.
pub fn frame(module: &str, function: &str, lineno: u32, in_app: bool) -> Frame {
    Frame {
        module: Some(module.to_owned()),
        function: Some(function.to_owned()),
        lineno: Some(lineno),
        in_app: Some(in_app),
        ..Frame::default()
    }
}

/// An event with one exception carrying `frames`.
pub fn exception_event(platform: &str, ty: &str, value: &str, frames: Vec<Frame>) -> ErrorEvent {
    let mut event = base_event(platform);
    event.exceptions.push(Exception {
        ty: ty.to_owned(),
        value: Some(value.to_owned()),
        stacktrace: if frames.is_empty() {
            None
        } else {
            Some(Stacktrace { frames })
        },
        ..Exception::default()
    });
    event
}
