//! A borrowed JSON tree ([`JsonValue`]): what the event and transaction walkers read, decoded without copying unescaped strings.
//!
//! Decoding an event into a `serde_json::Value` allocates every object key, every string and a
//! B-tree per object, only for the walker to copy a few of them into the event and drop the rest.
//! A [`JsonValue`] borrows strings from the input when they have no escapes and keeps an object
//! as a vector of entries. [`decode`] builds one with a hand-written parser (`fast`) that hands
//! anything unusual back to serde_json, the reference for what is valid and how it decodes.
//!
//! The walkers must give the same result whether they read bytes or a `Value`
//! (`parse_event_value`), so an [`Object`] behaves like serde_json's `Map` without
//! `preserve_order` (a `BTreeMap`): its entries are sorted by key (byte-wise, as `String` orders)
//! and a key sent twice keeps its last value. The walkers iterate objects in that order, and the
//! order decides where tags and headers land and in which order issues are listed.
//!
//! Numbers are `serde_json::Number`, built by the same deserializer calls as a `Value`'s, so
//! `u64` / `i64` / `f64` and their written-out forms are identical.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

mod fast;

/// One JSON value, its strings borrowed from the input where possible.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsonValue<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<JsonValue<'a>>),
    Object(Object<'a>),
}

/// A JSON object: entries sorted by key, keys unique (the last value sent for a key wins).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Object<'a>(Entries<'a>);

#[derive(Debug, Clone, PartialEq)]
enum Entries<'a> {
    /// Decoded from bytes: sorted and deduplicated once the object is complete.
    Parsed(Vec<(Cow<'a, str>, JsonValue<'a>)>),
    /// Handed over as a `Value` (`parse_event_value`): kept as that `Map`, which is ordered
    /// the same way, and its values converted one at a time as the walker takes them. Copying
    /// every object of a decoded event into vectors up front would cost more than the walk.
    Decoded(Map<String, Value>),
}

impl JsonValue<'_> {
    /// The JSON type name used in issue reasons and errors.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            JsonValue::Null => "null",
            JsonValue::Bool(_) => "a boolean",
            JsonValue::Number(_) => "a number",
            JsonValue::String(_) => "a string",
            JsonValue::Array(_) => "an array",
            JsonValue::Object(_) => "an object",
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, JsonValue::Null)
    }

    /// The string under `key` when this is an object that has one there.
    pub(crate) fn get_str(&self, key: &str) -> Option<&str> {
        match self {
            JsonValue::Object(object) => object.get_str(key),
            _ => None,
        }
    }

    /// The same value as a `serde_json::Value`, for the parts of the event model kept as sent
    /// (`extra`, breadcrumb `data`, unknown contexts, ...).
    pub(crate) fn into_value(self) -> Value {
        match self {
            JsonValue::Null => Value::Null,
            JsonValue::Bool(flag) => Value::Bool(flag),
            JsonValue::Number(number) => Value::Number(number),
            JsonValue::String(text) => Value::String(text.into_owned()),
            JsonValue::Array(values) => {
                Value::Array(values.into_iter().map(JsonValue::into_value).collect())
            }
            JsonValue::Object(object) => Value::Object(object.into_map()),
        }
    }
}

impl From<Value> for JsonValue<'_> {
    /// Wraps a decoded `Value` (its strings are moved, not copied; its objects are converted
    /// only as they are read).
    fn from(value: Value) -> Self {
        match value {
            Value::Null => JsonValue::Null,
            Value::Bool(flag) => JsonValue::Bool(flag),
            Value::Number(number) => JsonValue::Number(number),
            Value::String(text) => JsonValue::String(Cow::Owned(text)),
            // Same element size: the list is converted in place, without allocating.
            Value::Array(values) => {
                JsonValue::Array(values.into_iter().map(JsonValue::from).collect())
            }
            Value::Object(map) => JsonValue::Object(Object(Entries::Decoded(map))),
        }
    }
}

impl Default for Object<'_> {
    fn default() -> Self {
        Object(Entries::Parsed(Vec::new()))
    }
}

impl<'a> Object<'a> {
    /// Sorts `entries` by key (stably) and keeps the last entry of each key.
    fn from_entries(mut entries: Vec<(Cow<'a, str>, JsonValue<'a>)>) -> Self {
        // SDKs that serialize from sorted maps (and `Value`s written back out) send keys in
        // order already: checking is cheaper than sorting.
        if !entries.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            entries.sort_by(|left, right| left.0.cmp(&right.0));
            // After the stable sort, equal keys sit together in the order sent. `dedup_by`
            // keeps the first of a run; swapping each later entry into the kept slot makes the
            // last one win, as in a map where every insert replaces.
            entries.dedup_by(|later, kept| {
                if later.0 == kept.0 {
                    std::mem::swap(later, kept);
                    true
                } else {
                    false
                }
            });
        }
        Object(Entries::Parsed(entries))
    }

    fn position(entries: &[(Cow<'a, str>, JsonValue<'a>)], key: &str) -> Option<usize> {
        entries
            .binary_search_by(|(entry_key, _)| entry_key.as_ref().cmp(key))
            .ok()
    }

    /// The string under `key`, if there is one.
    pub(crate) fn get_str(&self, key: &str) -> Option<&str> {
        match &self.0 {
            Entries::Parsed(entries) => match &entries.get(Self::position(entries, key)?)?.1 {
                JsonValue::String(text) => Some(text),
                _ => None,
            },
            Entries::Decoded(map) => map.get(key)?.as_str(),
        }
    }

    pub(crate) fn contains_key(&self, key: &str) -> bool {
        match &self.0 {
            Entries::Parsed(entries) => Self::position(entries, key).is_some(),
            Entries::Decoded(map) => map.contains_key(key),
        }
    }

    /// Takes the value under `key` out of the object.
    pub(crate) fn remove(&mut self, key: &str) -> Option<JsonValue<'a>> {
        match &mut self.0 {
            Entries::Parsed(entries) => {
                let position = Self::position(entries, key)?;
                Some(entries.remove(position).1)
            }
            Entries::Decoded(map) => map.remove(key).map(JsonValue::from),
        }
    }

    /// The same object as a `serde_json::Map`.
    pub(crate) fn into_map(self) -> Map<String, Value> {
        match self.0 {
            Entries::Parsed(entries) => entries
                .into_iter()
                .map(|(key, value)| (key.into_owned(), value.into_value()))
                .collect(),
            Entries::Decoded(map) => map,
        }
    }
}

impl<'a> IntoIterator for Object<'a> {
    type Item = (Cow<'a, str>, JsonValue<'a>);
    type IntoIter = IntoIter<'a>;

    /// The entries in key order.
    fn into_iter(self) -> IntoIter<'a> {
        match self.0 {
            Entries::Parsed(entries) => IntoIter::Parsed(entries.into_iter()),
            Entries::Decoded(map) => IntoIter::Decoded(map.into_iter()),
        }
    }
}

/// The entries of an [`Object`], in key order.
pub(crate) enum IntoIter<'a> {
    Parsed(std::vec::IntoIter<(Cow<'a, str>, JsonValue<'a>)>),
    Decoded(serde_json::map::IntoIter),
}

impl<'a> Iterator for IntoIter<'a> {
    type Item = (Cow<'a, str>, JsonValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            IntoIter::Parsed(entries) => entries.next(),
            IntoIter::Decoded(entries) => entries
                .next()
                .map(|(key, value)| (Cow::Owned(key), JsonValue::from(value))),
        }
    }
}

/// Which subtrees a decode may skip: the walkers ignore some (frame `vars`, `modules`, ...), and
/// not building them is most of what a real payload costs.
pub(crate) trait Skip: Copy {
    /// The policy for the value under `key` of an object at this place; `None` skips the value
    /// (it is still validated as JSON).
    fn child_of_object(self, key: &str) -> Option<Self>;
    /// The policy for the entries of a list at this place.
    fn child_of_list(self) -> Self;
}

/// Decodes everything.
#[derive(Clone, Copy)]
pub(crate) struct KeepAll;

impl Skip for KeepAll {
    fn child_of_object(self, _key: &str) -> Option<Self> {
        Some(KeepAll)
    }

    fn child_of_list(self) -> Self {
        KeepAll
    }
}

/// Decodes one JSON document from `bytes`, skipping what `skip` says to. Errors (including
/// trailing characters) are serde_json's: with [`KeepAll`], word for word what
/// `serde_json::from_slice::<Value>` reports; a skipped subtree is checked the way serde_json
/// checks what it ignores.
pub(crate) fn decode<S: Skip>(bytes: &[u8], skip: S) -> Result<JsonValue<'_>, serde_json::Error> {
    match fast::parse(bytes, skip) {
        Some(value) => Ok(value),
        None => decode_with_serde(bytes, skip),
    }
}

/// [`decode`] by serde_json alone: the reference the fast parser must agree with, and what
/// decides (and words the error) whenever the fast parser gives up.
fn decode_with_serde<S: Skip>(bytes: &[u8], skip: S) -> Result<JsonValue<'_>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Decode(skip).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Decodes one value under the given policy.
struct Decode<S>(S);

impl<'de, S: Skip> DeserializeSeed<'de> for Decode<S> {
    type Value = JsonValue<'de>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<JsonValue<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, S: Skip> Visitor<'de> for Decode<S> {
    type Value = JsonValue<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<JsonValue<'de>, E> {
        Ok(JsonValue::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<JsonValue<'de>, E> {
        Ok(JsonValue::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<JsonValue<'de>, E> {
        Ok(JsonValue::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<JsonValue<'de>, E> {
        // As `Value` does: a float JSON cannot hold (never produced by a JSON parser) is null.
        Ok(Number::from_f64(value).map_or(JsonValue::Null, JsonValue::Number))
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<JsonValue<'de>, E> {
        Ok(JsonValue::String(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<JsonValue<'de>, E> {
        Ok(JsonValue::String(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<JsonValue<'de>, E> {
        Ok(JsonValue::String(Cow::Owned(value)))
    }

    fn visit_unit<E>(self) -> Result<JsonValue<'de>, E> {
        Ok(JsonValue::Null)
    }

    fn visit_none<E>(self) -> Result<JsonValue<'de>, E> {
        Ok(JsonValue::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonValue<'de>, A::Error> {
        let child = self.0.child_of_list();
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
        while let Some(value) = seq.next_element_seed(Decode(child))? {
            values.push(value);
        }
        Ok(JsonValue::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonValue<'de>, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match self.0.child_of_object(&key) {
                Some(child) => {
                    let value = map.next_value_seed(Decode(child))?;
                    entries.push((key, value));
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(JsonValue::Object(Object::from_entries(entries)))
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Cow<'de, str>, D::Error> {
        deserializer.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
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

    fn decode_all(bytes: &[u8]) -> Result<JsonValue<'_>, serde_json::Error> {
        decode(bytes, KeepAll)
    }

    /// Everything here relies on `Map` being ordered by key; `preserve_order` (switched on by
    /// any crate in the build) would make it iterate in insertion order instead.
    #[test]
    fn serde_json_map_iterates_sorted() {
        let map: Value = serde_json::from_str(r#"{"b": 1, "a": 2, "B": 3}"#).unwrap();
        let keys: Vec<&String> = map.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["B", "a", "b"]);
    }

    #[test]
    fn objects_are_sorted_and_the_last_duplicate_wins() {
        let bytes =
            br#"{"b": 1, "a": 2, "b": 3, "\u0061": 4, "c": {"y": 1, "x": 2, "y": 5}, "b": 6}"#;
        let decoded = decode_all(bytes).unwrap();
        let JsonValue::Object(object) = &decoded else {
            panic!("not an object");
        };
        let keys: Vec<Cow<'_, str>> = object.clone().into_iter().map(|(key, _)| key).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        let expected: Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(decoded.into_value(), expected);
        assert_eq!(expected, json!({"a": 4, "b": 6, "c": {"x": 2, "y": 5}}));
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        let decoded = decode_all(br#"["plain", "esc\naped", {"k\u00e9y": "v"}]"#).unwrap();
        let JsonValue::Array(values) = decoded else {
            panic!("not an array");
        };
        assert!(matches!(
            &values[0],
            JsonValue::String(Cow::Borrowed("plain"))
        ));
        assert!(matches!(&values[1], JsonValue::String(Cow::Owned(text)) if text == "esc\naped"));
        let JsonValue::Object(object) = &values[2] else {
            panic!("not an object");
        };
        assert_eq!(object.get_str("kéy"), Some("v"));
    }

    #[test]
    fn numbers_and_errors_match_serde_json() {
        for text in [
            "[0, -0, 1, -1, 18446744073709551615, -9223372036854775808, 1.5, -0.0, 1e308, 2.0, 1e2]",
            "{\"a\": }",
            "{} trailing",
            "[1, 2",
            "\"\\ud800\"",
            "{\"a\" 1}",
            "",
        ] {
            let ours = decode_all(text.as_bytes()).map(JsonValue::into_value);
            let theirs = serde_json::from_str::<Value>(text);
            match (ours, theirs) {
                (Ok(ours), Ok(theirs)) => {
                    assert_eq!(ours, theirs);
                    assert_eq!(ours.to_string(), theirs.to_string());
                }
                (Err(ours), Err(theirs)) => assert_eq!(ours.to_string(), theirs.to_string()),
                (ours, theirs) => panic!("{text}: {ours:?} vs {theirs:?}"),
            }
        }
    }

    /// Skips a few keys wherever they are, so the fast parser's skipping is exercised too.
    #[derive(Clone, Copy)]
    struct SkipSome;

    impl Skip for SkipSome {
        fn child_of_object(self, key: &str) -> Option<Self> {
            (!matches!(key, "vars" | "modules" | "data" | "pre_context")).then_some(SkipSome)
        }

        fn child_of_list(self) -> Self {
            SkipSome
        }
    }

    const FIXTURES: [&[u8]; 7] = [
        include_bytes!("../tests/fixtures/browser_exception.json"),
        include_bytes!("../tests/fixtures/java_uncaught_exception.json"),
        include_bytes!("../tests/fixtures/malformed_fields.json"),
        include_bytes!("../tests/fixtures/node_express_exception.json"),
        include_bytes!("../tests/fixtures/python_django_exception.json"),
        include_bytes!("../tests/fixtures/python_logging_message.json"),
        include_bytes!("../tests/fixtures/rust_panic.json"),
    ];

    /// The fast parser's contract: when it answers, it answers what serde_json would.
    fn assert_fast_path_agrees(bytes: &[u8]) {
        if let Some(fast) = fast::parse(bytes, KeepAll) {
            assert_eq!(Some(fast), decode_with_serde(bytes, KeepAll).ok());
        }
        if let Some(fast) = fast::parse(bytes, SkipSome) {
            assert_eq!(Some(fast), decode_with_serde(bytes, SkipSome).ok());
        }
    }

    #[test]
    fn fast_path_reads_real_payloads_itself() {
        for fixture in FIXTURES {
            assert!(fast::parse(fixture, KeepAll).is_some());
            assert!(fast::parse(fixture, SkipSome).is_some());
            assert_fast_path_agrees(fixture);
        }
    }

    #[test]
    fn fast_path_edge_cases() {
        for text in [
            r#"{"a": "\ud83d\ude00", "b": "\u00e9\n", "c": [-0, 0, -1, 1e2, 0.1, 1E-2]}"#,
            r#"{"vars": {"x": 1e400, "y": "\ud800"}, "kept": 1}"#,
            r#"{"vars": "bad \x escape"}"#,
            r#"{"a": "\ud800"}"#,
            r#"{"a": 1e400}"#,
            r#"{"a": 01}"#,
            r#"{"a": [1,]}"#,
            r#"{"a": 1,}"#,
            r#"{"a" : 1 , "a" : 2 }  "#,
            "{\"vars\": \"raw\ttab\"}",
            "{\"a\": \"raw\ttab\"}",
            "\u{feff}{}",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        ] {
            assert_fast_path_agrees(text.as_bytes());
        }
        let mut invalid_utf8 = br#"{"vars": "x", "a": "y"}"#.to_vec();
        invalid_utf8[11] = 0xff;
        assert_fast_path_agrees(&invalid_utf8);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

        /// Real payloads with a few bytes replaced or inserted: mostly invalid JSON, some of
        /// it valid in new ways (other numbers, escapes, structure).
        #[test]
        fn fast_path_agrees_on_damaged_payloads(
            fixture in 0..FIXTURES.len(),
            edits in proptest::collection::vec(
                (
                    proptest::prelude::any::<proptest::sample::Index>(),
                    proptest::prop_oneof![
                        proptest::strategy::Just(b'"'),
                        proptest::strategy::Just(b'\\'),
                        proptest::strategy::Just(b'u'),
                        proptest::strategy::Just(b','),
                        proptest::strategy::Just(b'}'),
                        proptest::strategy::Just(b']'),
                        proptest::strategy::Just(b'0'),
                        proptest::strategy::Just(b'-'),
                        proptest::strategy::Just(b'e'),
                        proptest::strategy::Just(b' '),
                        proptest::prelude::any::<u8>(),
                    ],
                    proptest::prelude::any::<bool>(),
                ),
                1..4,
            ),
        ) {
            let mut bytes = FIXTURES[fixture].to_vec();
            for (position, byte, insert) in edits {
                let position = position.index(bytes.len());
                if insert {
                    bytes.insert(position, byte);
                } else {
                    bytes[position] = byte;
                }
            }
            assert_fast_path_agrees(&bytes);
        }
    }

    #[test]
    fn value_round_trips() {
        let value = json!({"z": [1, -2, 3.5, null, true, "s"], "a": {"n": {}}});
        let tree = JsonValue::from(value.clone());
        assert!(matches!(
            &tree,
            JsonValue::Object(Object(Entries::Decoded(_)))
        ));
        assert_eq!(tree.into_value(), value);
    }
}
