//! Which subtrees of an event the decoder skips because the event walker never reads them.
//!
//! Real SDK payloads spend much of their bytes on data Stackhouse does not keep: `modules` (every
//! installed package), `debug_meta`, frame `vars` (sentry-python sends locals for every frame),
//! `raw_stacktrace`, request bodies, cookies and environment. Building a tree for those costs
//! allocations only to drop them again. [`Shape`] is a small map of where those subtrees live;
//! the decoder skips them (validated as serde_json validates what it ignores, never built).
//! Everything else decodes exactly as it would without skipping, so the walker sees the same
//! input either way: the property tests check that `parse_event_json(bytes)` equals
//! `parse_event_value(from_slice(bytes))`.

use crate::json::{self, JsonValue, Skip};

/// Decodes `bytes` as an event, skipping the subtrees the walker ignores.
pub(crate) fn decode_event(bytes: &[u8]) -> Result<JsonValue<'_>, serde_json::Error> {
    json::decode(bytes, Shape::Event)
}

/// Where in the event a value sits, which decides what inside it can be skipped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    /// Decode everything.
    Keep,
    /// The top level of the event.
    Event,
    /// `exception` / `threads`: `{values: [...]}`, a bare list, or a single object; each entry
    /// is an [`Shape::Exception`].
    Values,
    /// One exception or thread.
    Exception,
    /// A stack trace: `{frames: [...]}` or a bare list of frames.
    Stacktrace,
    /// One frame.
    Frame,
    /// The `request` interface.
    Request,
}

impl Skip for Shape {
    /// The shape of the value under `key` of an object of this shape; `None` to skip it.
    fn child_of_object(self, key: &str) -> Option<Shape> {
        match (self, key) {
            (Shape::Keep, _) => Some(Shape::Keep),
            (
                Shape::Event,
                "modules"
                | "debug_meta"
                | "spans"
                | "measurements"
                | "breakdowns"
                | "_meta"
                | "_metrics"
                | "errors"
                | "hashes"
                | "sdkProcessingMetadata",
            ) => None,
            (Shape::Event, "exception" | "threads") => Some(Shape::Values),
            (Shape::Event, "stacktrace") => Some(Shape::Stacktrace),
            (Shape::Event, "request") => Some(Shape::Request),
            (Shape::Values, "values") => Some(Shape::Values),
            (Shape::Values | Shape::Exception, "stacktrace") => Some(Shape::Stacktrace),
            (Shape::Values | Shape::Exception, "raw_stacktrace") => None,
            (Shape::Stacktrace, "frames") => Some(Shape::Stacktrace),
            (Shape::Frame, "vars") => None,
            (Shape::Request, "data" | "cookies" | "env") => None,
            _ => Some(Shape::Keep),
        }
    }

    /// The shape of the entries of a list of this shape.
    fn child_of_list(self) -> Shape {
        match self {
            Shape::Values => Shape::Exception,
            Shape::Stacktrace => Shape::Frame,
            _ => Shape::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::{json, Value};

    fn decode_value(bytes: &[u8]) -> Result<Value, serde_json::Error> {
        decode_event(bytes).map(JsonValue::into_value)
    }

    #[test]
    fn skips_only_what_the_walker_ignores() {
        let input = json!({
            "modules": {"django": "5.0"},
            "debug_meta": {"images": []},
            "extra": {"modules": "kept: extra is user data", "vars": 1},
            "exception": {"values": [{
                "type": "E",
                "raw_stacktrace": {"frames": []},
                "stacktrace": {"frames": [{"function": "f", "vars": {"x": "1"}, "data": {"vars": 2}}]}
            }]},
            "threads": [{"stacktrace": [{"function": "g", "vars": {}}]}],
            "request": {"url": "u", "data": {"big": "body"}, "cookies": "a=b", "env": {}, "headers": {"data": "kept"}},
            "breadcrumbs": [{"data": {"vars": "kept"}}],
        });
        let decoded = decode_value(&serde_json::to_vec(&input).unwrap()).unwrap();
        assert_eq!(
            decoded,
            json!({
                "extra": {"modules": "kept: extra is user data", "vars": 1},
                "exception": {"values": [{
                    "type": "E",
                    "stacktrace": {"frames": [{"function": "f", "data": {"vars": 2}}]}
                }]},
                "threads": [{"stacktrace": [{"function": "g"}]}],
                "request": {"url": "u", "headers": {"data": "kept"}},
                "breadcrumbs": [{"data": {"vars": "kept"}}],
            })
        );
    }

    #[test]
    fn escaped_keys_and_invalid_json() {
        let decoded = decode_value(br#"{"mod\u0075les": {"a": 1}, "re\u006cease": "1"}"#).unwrap();
        assert_eq!(decoded, json!({"release": "1"}));
        let error = decode_value(br#"{"modules": {"a": }}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            serde_json::from_slice::<Value>(br#"{"modules": {"a": }}"#)
                .unwrap_err()
                .to_string()
        );
        assert!(decode_value(b"{} trailing").is_err());
        assert_eq!(
            decode_value(b"[1, {\"a\": 2}]").unwrap(),
            json!([1, {"a": 2}])
        );
    }
}
