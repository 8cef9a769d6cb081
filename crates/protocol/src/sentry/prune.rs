//! Decoding event JSON bytes into a `Value` while skipping the subtrees the event walker never reads.
//!
//! Real SDK payloads spend much of their bytes on data Stackhouse does not keep: `modules` (every
//! installed package), `debug_meta`, frame `vars` (sentry-python sends locals for every frame),
//! `raw_stacktrace`, request bodies, cookies and environment. Building a `serde_json::Value` for
//! those costs an allocation per key and per string only to drop them again. This decoder walks
//! the same JSON with a small map of where those subtrees live and skips them with `IgnoredAny`
//! (still fully validated, never allocated). Everything else decodes exactly as
//! `serde_json::from_slice::<Value>` would, so the walker sees the same input either way: the
//! property tests check that `parse_event_json(bytes)` equals
//! `parse_event_value(from_slice(bytes))`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Decodes `bytes` as an event, skipping the subtrees the walker ignores.
pub(crate) fn decode_event(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Pruned(Shape::Event).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
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

impl Shape {
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

/// Decodes one value of the given shape.
struct Pruned(Shape);

impl<'de> DeserializeSeed<'de> for Pruned {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        if self.0 == Shape::Keep {
            return serde::Deserialize::deserialize(deserializer);
        }
        deserializer.deserialize_any(PrunedVisitor(self.0))
    }
}

struct PrunedVisitor(Shape);

impl<'de> Visitor<'de> for PrunedVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.0.child_of_list();
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
        while let Some(value) = seq.next_element_seed(Pruned(child))? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match self.0.child_of_object(&key) {
                Some(child) => {
                    let value = map.next_value_seed(Pruned(child))?;
                    object.insert(key.into_owned(), value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(object))
    }
}

/// An object key, borrowed from the input when it has no escapes (so skipped keys cost nothing).
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Cow<'de, str>, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(value))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

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
        let decoded = decode_event(&serde_json::to_vec(&input).unwrap()).unwrap();
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
        let decoded = decode_event(br#"{"mod\u0075les": {"a": 1}, "re\u006cease": "1"}"#).unwrap();
        assert_eq!(decoded, json!({"release": "1"}));
        let error = decode_event(br#"{"modules": {"a": }}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            serde_json::from_slice::<Value>(br#"{"modules": {"a": }}"#)
                .unwrap_err()
                .to_string()
        );
        assert!(decode_event(b"{} trailing").is_err());
        assert_eq!(
            decode_event(b"[1, {\"a\": 2}]").unwrap(),
            json!([1, {"a": 2}])
        );
    }
}
