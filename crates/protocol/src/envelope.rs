//! Sentry envelopes: the header line, length- or newline-delimited items, and writing them back out.
//!
//! Format (<https://develop.sentry.dev/sdk/data-model/envelopes/>):
//!
//! ```text
//! {"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://key@host/42"}\n
//! {"type":"attachment","length":10,"filename":"a.txt"}\n
//! helloworld\n
//! {"type":"event"}\n
//! {"message":"newline-delimited payload"}\n
//! ```
//!
//! An item whose header has `length` carries exactly that many payload bytes, optionally followed
//! by a newline; without `length` the payload runs to the next newline or the end.
//!
//! # Partially bad envelopes
//!
//! Framing is sequential, so the parser can only continue past a bad item when it still knows
//! where that item ends. Hence two kinds of item errors:
//!
//! - **skippable**: the item header is a JSON object but lacks a usable `type`. Its extent is known
//!   (from `length` or the next newline), so the item is skipped, the error recorded, and parsing
//!   goes on.
//! - **terminal**: the item header is not JSON, is not an object, is too large, has an unusable
//!   `length`, or the payload is shorter than `length`. Nothing after it can be located reliably,
//!   so parsing stops there.
//!
//! [`Envelope::parse`] returns every good item before (and between) the errors in
//! [`Envelope::items`], and the errors in [`Envelope::item_errors`] (at most the last one is
//! terminal). Only a problem with the envelope itself (empty, or an invalid envelope header) is an
//! `Err`. [`Envelope::parse_strict`] is the all-or-nothing variant, and [`read_envelope`] gives a
//! lazy iterator for callers that want to stop early. Whether an item's *payload* is valid (an
//! `event` whose JSON is broken, say) is not the envelope's business: the item is framed fine and
//! is returned; its own parser reports the problem.

use std::fmt;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::auth::{parse_dsn, Dsn};
use crate::event::Sdk;
use crate::sentry::{json_type_name, parse_timestamp_str};

/// Envelope and item header lines longer than this are refused: real SDK headers are well under
/// a kilobyte, and a huge "header" is an attack or a corrupt body.
pub const MAX_HEADER_LINE_BYTES: usize = 64 * 1024;

/// A parsed envelope: its header, the items that framed correctly, and the item errors met.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub header: EnvelopeHeader,
    /// The well-framed items, in envelope order.
    pub items: Vec<EnvelopeItem>,
    /// Items that could not be framed, in envelope order. Only the last can be terminal (see
    /// [`EnvelopeError::is_terminal`]); when it is, items after it were not read.
    pub item_errors: Vec<EnvelopeError>,
}

/// The envelope header (the first line).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EnvelopeHeader {
    /// The id of the event (or transaction) the envelope carries. `None` when absent or not a
    /// UUID (the raw value stays in `raw`).
    pub event_id: Option<Uuid>,
    /// The DSN the SDK was configured with; one of the ways a request authenticates.
    pub dsn: Option<String>,
    /// When the SDK sent the envelope (its clock); lets the server correct clock drift.
    pub sent_at: Option<DateTime<Utc>>,
    /// The SDK that sent it, when the header says.
    pub sdk: Option<Sdk>,
    /// The whole header object as sent (including `trace`, the dynamic sampling context).
    pub raw: Map<String, Value>,
}

impl EnvelopeHeader {
    /// The header's DSN, parsed. `None` when there is no DSN or it is malformed.
    pub fn parsed_dsn(&self) -> Option<Dsn> {
        parse_dsn(self.dsn.as_deref()?).ok()
    }

    /// The public key of the header's DSN, else the `trace.public_key` of the dynamic sampling
    /// context (browser SDKs send only that).
    pub fn public_key(&self) -> Option<String> {
        if let Some(dsn) = self.parsed_dsn() {
            return Some(dsn.public_key);
        }
        self.raw
            .get("trace")?
            .get("public_key")?
            .as_str()
            .filter(|key| !key.is_empty())
            .map(str::to_owned)
    }
}

/// What an envelope item holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ItemType {
    /// An error event (the same JSON as a `store` body).
    Event,
    /// A transaction (performance trace root with its spans).
    Transaction,
    /// A release-health session update.
    Session,
    /// Aggregated release-health sessions.
    Sessions,
    /// The SDK's report of events it dropped.
    ClientReport,
    /// A file attached to an event.
    Attachment,
    /// User feedback attached to an event.
    UserReport,
    /// A cron monitor check-in.
    CheckIn,
    /// A batch of structured logs.
    Log,
    /// A batch of standalone spans.
    Span,
    /// Any other type, as named in the item header.
    Unknown(String),
}

impl ItemType {
    /// The type as written in an item header.
    pub fn as_str(&self) -> &str {
        match self {
            ItemType::Event => "event",
            ItemType::Transaction => "transaction",
            ItemType::Session => "session",
            ItemType::Sessions => "sessions",
            ItemType::ClientReport => "client_report",
            ItemType::Attachment => "attachment",
            ItemType::UserReport => "user_report",
            ItemType::CheckIn => "check_in",
            ItemType::Log => "log",
            ItemType::Span => "span",
            ItemType::Unknown(name) => name,
        }
    }

    /// The item type named `name` (exact, as Sentry's types are lowercase).
    pub fn from_name(name: &str) -> ItemType {
        match name {
            "event" => ItemType::Event,
            "transaction" => ItemType::Transaction,
            "session" => ItemType::Session,
            "sessions" => ItemType::Sessions,
            "client_report" => ItemType::ClientReport,
            "attachment" => ItemType::Attachment,
            "user_report" => ItemType::UserReport,
            "check_in" => ItemType::CheckIn,
            "log" => ItemType::Log,
            "span" => ItemType::Span,
            other => ItemType::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for ItemType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One envelope item: its header fields and its payload bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvelopeItem {
    pub ty: ItemType,
    /// The declared payload length; `None` for a newline-delimited item.
    pub length: Option<u64>,
    /// `content_type` (e.g. `application/json`, `text/plain` for attachments).
    pub content_type: Option<String>,
    /// An attachment's file name.
    pub filename: Option<String>,
    /// An attachment's kind (`event.attachment`, `event.minidump`, ...).
    pub attachment_type: Option<String>,
    /// How many entries a batched item (`log`, `span`) holds, when the header says.
    pub item_count: Option<u64>,
    /// The whole item header as sent.
    pub raw_header: Map<String, Value>,
    /// The payload: a zero-copy slice of the envelope body.
    pub payload: Bytes,
}

impl EnvelopeItem {
    /// An item of type `ty` with `payload` and no other header fields.
    pub fn new(ty: ItemType, payload: impl Into<Bytes>) -> EnvelopeItem {
        EnvelopeItem {
            ty,
            length: None,
            content_type: None,
            filename: None,
            attachment_type: None,
            item_count: None,
            raw_header: Map::new(),
            payload: payload.into(),
        }
    }
}

/// Why an envelope, or one of its items, could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("empty envelope")]
    Empty,
    #[error("envelope header line is {length} bytes, more than the {max} allowed")]
    HeaderTooLarge { length: usize, max: usize },
    #[error("invalid envelope header: {0}")]
    InvalidHeader(String),
    #[error("envelope header must be a JSON object, got {0}")]
    HeaderNotAnObject(&'static str),
    #[error("item {index}: header line is {length} bytes, more than the {max} allowed")]
    ItemHeaderTooLarge {
        index: usize,
        length: usize,
        max: usize,
    },
    #[error("item {index}: invalid item header: {reason}")]
    InvalidItemHeader { index: usize, reason: String },
    #[error("item {index}: item header has no type")]
    MissingItemType { index: usize },
    #[error("item {index}: invalid length: {reason}")]
    InvalidItemLength { index: usize, reason: String },
    #[error(
        "item {index}: payload is {available} bytes, shorter than its declared length of {declared}"
    )]
    PayloadTooShort {
        index: usize,
        declared: u64,
        available: usize,
    },
}

impl EnvelopeError {
    /// The 0-based index of the item the error is about, for item errors.
    pub fn item_index(&self) -> Option<usize> {
        match self {
            EnvelopeError::Empty
            | EnvelopeError::HeaderTooLarge { .. }
            | EnvelopeError::InvalidHeader(_)
            | EnvelopeError::HeaderNotAnObject(_) => None,
            EnvelopeError::ItemHeaderTooLarge { index, .. }
            | EnvelopeError::InvalidItemHeader { index, .. }
            | EnvelopeError::MissingItemType { index }
            | EnvelopeError::InvalidItemLength { index, .. }
            | EnvelopeError::PayloadTooShort { index, .. } => Some(*index),
        }
    }

    /// Whether reading had to stop here (nothing after this point could be located).
    pub fn is_terminal(&self) -> bool {
        !matches!(self, EnvelopeError::MissingItemType { .. })
    }
}

impl Envelope {
    /// Parses an envelope, keeping every well-framed item and recording the bad ones (see the
    /// module docs). `Err` only when the envelope itself is empty or its header is unusable.
    pub fn parse(body: impl Into<Bytes>) -> Result<Envelope, EnvelopeError> {
        let (header, reader) = read_envelope(body.into())?;
        let mut items = Vec::new();
        let mut item_errors = Vec::new();
        for item in reader {
            match item {
                Ok(item) => items.push(item),
                Err(error) => item_errors.push(error),
            }
        }
        Ok(Envelope {
            header,
            items,
            item_errors,
        })
    }

    /// Parses an envelope, failing on the first bad item.
    pub fn parse_strict(body: impl Into<Bytes>) -> Result<Envelope, EnvelopeError> {
        let (header, reader) = read_envelope(body.into())?;
        let items = reader.collect::<Result<Vec<_>, _>>()?;
        Ok(Envelope {
            header,
            items,
            item_errors: Vec::new(),
        })
    }

    /// The items of one type, in envelope order.
    pub fn items_of_type<'a>(
        &'a self,
        ty: &'a ItemType,
    ) -> impl Iterator<Item = &'a EnvelopeItem> + 'a {
        self.items.iter().filter(move |item| &item.ty == ty)
    }

    /// Writes the envelope in its wire form. Every item gets an explicit `length`, so payloads
    /// may contain newlines. `parse(to_bytes())` yields the same header, item types and payloads.
    pub fn to_bytes(&self) -> Vec<u8> {
        let payload_bytes: usize = self.items.iter().map(|item| item.payload.len()).sum();
        let mut out = Vec::with_capacity(payload_bytes + 128 * (self.items.len() + 1));
        write_json_line(&mut out, &header_object(&self.header));
        for item in &self.items {
            write_json_line(&mut out, &item_header_object(item));
            out.extend_from_slice(&item.payload);
            out.push(b'\n');
        }
        out
    }
}

/// Parses `body` as an envelope (same as [`Envelope::parse`]).
pub fn parse_envelope(body: impl Into<Bytes>) -> Result<Envelope, EnvelopeError> {
    Envelope::parse(body)
}

/// Reads the envelope header and returns a lazy reader over the items. The reader yields each
/// item (or item error) in order and ends after a terminal error.
pub fn read_envelope(body: Bytes) -> Result<(EnvelopeHeader, EnvelopeItems), EnvelopeError> {
    let start = skip_leading_whitespace(&body);
    if start == body.len() {
        return Err(EnvelopeError::Empty);
    }
    let (line, next) = split_line(&body, start);
    if line.len() > MAX_HEADER_LINE_BYTES {
        return Err(EnvelopeError::HeaderTooLarge {
            length: line.len(),
            max: MAX_HEADER_LINE_BYTES,
        });
    }
    let value: Value = serde_json::from_slice(line)
        .map_err(|error| EnvelopeError::InvalidHeader(error.to_string()))?;
    let raw = match value {
        Value::Object(object) => object,
        other => return Err(EnvelopeError::HeaderNotAnObject(json_type_name(&other))),
    };
    let header = envelope_header(raw);
    let items = EnvelopeItems {
        body,
        position: next,
        index: 0,
        finished: false,
    };
    Ok((header, items))
}

/// Lazily reads the items of an envelope; see [`read_envelope`].
#[derive(Debug, Clone)]
pub struct EnvelopeItems {
    body: Bytes,
    position: usize,
    index: usize,
    finished: bool,
}

impl Iterator for EnvelopeItems {
    type Item = Result<EnvelopeItem, EnvelopeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        // Blank lines between items are tolerated (some SDKs end payloads with "\n\n").
        while matches!(self.body.get(self.position), Some(b'\n' | b'\r')) {
            self.position += 1;
        }
        if self.position >= self.body.len() {
            self.finished = true;
            return None;
        }
        let index = self.index;
        self.index += 1;
        let result = self.read_item(index);
        if let Err(error) = &result {
            self.finished = error.is_terminal();
        }
        Some(result)
    }
}

impl EnvelopeItems {
    fn read_item(&mut self, index: usize) -> Result<EnvelopeItem, EnvelopeError> {
        let (line, payload_start) = split_line(&self.body, self.position);
        if line.len() > MAX_HEADER_LINE_BYTES {
            return Err(EnvelopeError::ItemHeaderTooLarge {
                index,
                length: line.len(),
                max: MAX_HEADER_LINE_BYTES,
            });
        }
        let raw_header = match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(object)) => object,
            Ok(other) => {
                return Err(EnvelopeError::InvalidItemHeader {
                    index,
                    reason: format!("expected a JSON object, got {}", json_type_name(&other)),
                })
            }
            Err(error) => {
                return Err(EnvelopeError::InvalidItemHeader {
                    index,
                    reason: error.to_string(),
                })
            }
        };
        let length = declared_length(&raw_header, index)?;
        let payload_range = match length {
            Some(declared) => {
                let available = self.body.len().saturating_sub(payload_start);
                let fits = usize::try_from(declared)
                    .ok()
                    .filter(|declared| *declared <= available);
                let Some(declared_len) = fits else {
                    return Err(EnvelopeError::PayloadTooShort {
                        index,
                        declared,
                        available,
                    });
                };
                let end = payload_start + declared_len;
                // The newline after a length-delimited payload is optional.
                self.position = if self.body.get(end) == Some(&b'\n') {
                    end + 1
                } else {
                    end
                };
                payload_start..end
            }
            None => {
                let (payload, next) = split_line(&self.body, payload_start);
                self.position = next;
                payload_start..payload_start + payload.len()
            }
        };
        let payload = self.body.slice(payload_range);
        let ty = match raw_header.get("type") {
            Some(Value::String(name)) if !name.is_empty() => ItemType::from_name(name),
            _ => return Err(EnvelopeError::MissingItemType { index }),
        };
        Ok(EnvelopeItem {
            ty,
            length,
            content_type: string_field(&raw_header, "content_type"),
            filename: string_field(&raw_header, "filename"),
            attachment_type: string_field(&raw_header, "attachment_type"),
            item_count: raw_header.get("item_count").and_then(Value::as_u64),
            raw_header,
            payload,
        })
    }
}

fn declared_length(
    header: &Map<String, Value>,
    index: usize,
) -> Result<Option<u64>, EnvelopeError> {
    match header.get("length") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => match number.as_u64() {
            Some(length) => Ok(Some(length)),
            None => Err(EnvelopeError::InvalidItemLength {
                index,
                reason: format!("{number} is not a non-negative integer"),
            }),
        },
        Some(other) => Err(EnvelopeError::InvalidItemLength {
            index,
            reason: format!("expected a number, got {}", json_type_name(other)),
        }),
    }
}

fn envelope_header(raw: Map<String, Value>) -> EnvelopeHeader {
    let event_id = raw
        .get("event_id")
        .and_then(Value::as_str)
        .and_then(|text| Uuid::parse_str(text.trim()).ok());
    let dsn = string_field(&raw, "dsn");
    let sent_at = raw
        .get("sent_at")
        .and_then(Value::as_str)
        .and_then(parse_timestamp_str);
    let sdk = raw.get("sdk").and_then(|sdk| {
        let name = sdk.get("name")?.as_str()?.to_owned();
        let version = sdk
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Some(Sdk { name, version })
    });
    EnvelopeHeader {
        event_id,
        dsn,
        sent_at,
        sdk,
        raw,
    }
}

fn string_field(object: &Map<String, Value>, key: &str) -> Option<String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// The header object to write: `raw` with the typed fields laid over it.
fn header_object(header: &EnvelopeHeader) -> Map<String, Value> {
    let mut object = header.raw.clone();
    if let Some(event_id) = header.event_id {
        object.insert(
            "event_id".to_owned(),
            Value::String(event_id.simple().to_string()),
        );
    }
    if let Some(dsn) = &header.dsn {
        object.insert("dsn".to_owned(), Value::String(dsn.clone()));
    }
    if let Some(sent_at) = header.sent_at {
        object.insert(
            "sent_at".to_owned(),
            Value::String(sent_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        );
    }
    if let Some(sdk) = &header.sdk {
        let mut sdk_object = match object.remove("sdk") {
            Some(Value::Object(existing)) => existing,
            _ => Map::new(),
        };
        sdk_object.insert("name".to_owned(), Value::String(sdk.name.clone()));
        sdk_object.insert("version".to_owned(), Value::String(sdk.version.clone()));
        object.insert("sdk".to_owned(), Value::Object(sdk_object));
    }
    object
}

/// The item header to write: `raw_header` with the typed fields laid over it and the real length.
fn item_header_object(item: &EnvelopeItem) -> Map<String, Value> {
    let mut object = item.raw_header.clone();
    object.insert(
        "type".to_owned(),
        Value::String(item.ty.as_str().to_owned()),
    );
    object.insert("length".to_owned(), Value::from(item.payload.len()));
    for (key, value) in [
        ("content_type", &item.content_type),
        ("filename", &item.filename),
        ("attachment_type", &item.attachment_type),
    ] {
        if let Some(value) = value {
            object.insert(key.to_owned(), Value::String(value.clone()));
        }
    }
    if let Some(count) = item.item_count {
        object.insert("item_count".to_owned(), Value::from(count));
    }
    object
}

fn write_json_line(out: &mut Vec<u8>, object: &Map<String, Value>) {
    // Serializing a map of JSON values into a Vec cannot fail (no I/O, string keys only).
    if serde_json::to_writer(&mut *out, object).is_err() {
        debug_assert!(false, "serializing a JSON map into memory failed");
    }
    out.push(b'\n');
}

/// The line starting at `start` (without its `\n` or `\r\n`) and where the next line starts.
fn split_line(body: &[u8], start: usize) -> (&[u8], usize) {
    let rest = body.get(start..).unwrap_or_default();
    let (line, next) = match rest.iter().position(|byte| *byte == b'\n') {
        Some(offset) => (&rest[..offset], start + offset + 1),
        None => (rest, body.len()),
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    (line, next)
}

fn skip_leading_whitespace(body: &[u8]) -> usize {
    body.iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(body.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_length_and_newline_delimited_items() {
        let body = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"dsn\":\"https://e12d836b15bb49d7bbf99e64295d995b@sentry.io/42\",\"sent_at\":\"2024-03-01T12:00:00.123Z\",\"sdk\":{\"name\":\"sentry.python\",\"version\":\"2.19.0\"}}\n\
{\"type\":\"attachment\",\"length\":10,\"content_type\":\"text/plain\",\"filename\":\"hello.txt\"}\n\
\xef\xbb\xbfHello\r\n\n\
{\"type\":\"event\",\"length\":41,\"content_type\":\"application/json\",\"filename\":\"application.log\"}\n\
{\"message\":\"hello world\",\"level\":\"error\"}\n\
{\"type\":\"attachment\",\"length\":13,\"content_type\":\"text/plain\",\"filename\":\"application.log\"}\n\
Hello\nWorld!\n\
{\"type\":\"session\"}\n\
{\"started\": \"2020-02-07T14:16:00Z\",\"attrs\":{\"release\":\"sentry-test@1.0.0\"}}\n";
        let envelope = Envelope::parse_strict(&body[..]).unwrap();
        let header = &envelope.header;
        assert_eq!(
            header.event_id.unwrap().simple().to_string(),
            "9ec79c33ec9942ab8353589fcb2e04dc"
        );
        assert_eq!(
            header.public_key().as_deref(),
            Some("e12d836b15bb49d7bbf99e64295d995b")
        );
        assert_eq!(header.sent_at.unwrap().timestamp_subsec_millis(), 123);
        assert_eq!(header.sdk.as_ref().unwrap().name, "sentry.python");

        let types: Vec<&str> = envelope.items.iter().map(|item| item.ty.as_str()).collect();
        assert_eq!(types, ["attachment", "event", "attachment", "session"]);
        assert_eq!(&envelope.items[0].payload[..], b"\xef\xbb\xbfHello\r\n");
        assert_eq!(envelope.items[0].filename.as_deref(), Some("hello.txt"));
        assert_eq!(
            &envelope.items[1].payload[..],
            b"{\"message\":\"hello world\",\"level\":\"error\"}"
        );
        assert_eq!(&envelope.items[2].payload[..], b"Hello\nWorld!\n");
        assert_eq!(envelope.items[3].length, None);
        assert!(envelope.items[3].payload.starts_with(b"{\"started\""));
        assert!(envelope.items[3].payload.ends_with(b"}"));
    }

    #[test]
    fn header_only_envelopes_and_empty_payloads() {
        let envelope = Envelope::parse_strict(&b"{}"[..]).unwrap();
        assert!(envelope.items.is_empty());
        let envelope = Envelope::parse_strict(
            &b"{}\n{\"type\":\"attachment\",\"length\":0}\n{\"type\":\"attachment\"}\n"[..],
        )
        .unwrap();
        assert_eq!(envelope.items.len(), 2);
        assert!(envelope.items.iter().all(|item| item.payload.is_empty()));
        // A header at the very end without a payload line: an empty payload.
        let envelope = Envelope::parse_strict(&b"{}\n{\"type\":\"event\"}"[..]).unwrap();
        assert_eq!(envelope.items.len(), 1);
    }

    #[test]
    fn envelope_level_errors() {
        assert_eq!(Envelope::parse(&b""[..]), Err(EnvelopeError::Empty));
        assert_eq!(Envelope::parse(&b" \n\n"[..]), Err(EnvelopeError::Empty));
        assert!(matches!(
            Envelope::parse(&b"{nope\n"[..]),
            Err(EnvelopeError::InvalidHeader(message)) if message.contains("line 1")
        ));
        assert_eq!(
            Envelope::parse(&b"[1]\n"[..]),
            Err(EnvelopeError::HeaderNotAnObject("an array"))
        );
        let huge = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_HEADER_LINE_BYTES));
        assert!(matches!(
            Envelope::parse(huge.into_bytes()),
            Err(EnvelopeError::HeaderTooLarge { .. })
        ));
    }

    #[test]
    fn good_items_before_a_broken_one_are_kept() {
        let body = b"{}\n{\"type\":\"event\"}\n{\"a\":1}\n{\"type\":\"event\",\"length\":100}\n{\"b\":2}\n";
        let envelope = Envelope::parse(&body[..]).unwrap();
        assert_eq!(envelope.items.len(), 1);
        assert_eq!(
            envelope.item_errors,
            [EnvelopeError::PayloadTooShort {
                index: 1,
                declared: 100,
                available: 8
            }]
        );
        assert!(envelope.item_errors[0].is_terminal());
        assert_eq!(
            envelope.item_errors[0].to_string(),
            "item 1: payload is 8 bytes, shorter than its declared length of 100"
        );
        assert_eq!(
            Envelope::parse_strict(&body[..]),
            Err(envelope.item_errors[0].clone())
        );
    }

    #[test]
    fn invalid_item_header_stops_reading() {
        let body = b"{}\n{\"type\":\"event\"}\n{}\n{not json}\n{}\n{\"type\":\"event\"}\n{}\n";
        let envelope = Envelope::parse(&body[..]).unwrap();
        assert_eq!(envelope.items.len(), 1);
        assert_eq!(envelope.item_errors.len(), 1);
        assert!(matches!(
            &envelope.item_errors[0],
            EnvelopeError::InvalidItemHeader { index: 1, .. }
        ));
        let body = b"{}\n{\"type\":\"event\",\"length\":\"12\"}\n{}\n";
        let envelope = Envelope::parse(&body[..]).unwrap();
        assert!(matches!(
            &envelope.item_errors[0],
            EnvelopeError::InvalidItemLength { index: 0, .. }
        ));
    }

    #[test]
    fn item_without_type_is_skipped_and_reading_goes_on() {
        let body =
            b"{}\n{\"length\":3}\nabc\n{\"type\":5}\nxyz\n{\"type\":\"client_report\"}\n{}\n";
        let envelope = Envelope::parse(&body[..]).unwrap();
        assert_eq!(envelope.items.len(), 1);
        assert_eq!(envelope.items[0].ty, ItemType::ClientReport);
        assert_eq!(
            envelope.item_errors,
            [
                EnvelopeError::MissingItemType { index: 0 },
                EnvelopeError::MissingItemType { index: 1 }
            ]
        );
        assert!(!envelope.item_errors[0].is_terminal());
    }

    #[test]
    fn item_types_round_trip_their_names() {
        for name in [
            "event",
            "transaction",
            "session",
            "sessions",
            "client_report",
            "attachment",
            "user_report",
            "check_in",
            "log",
            "span",
            "profile",
        ] {
            assert_eq!(ItemType::from_name(name).as_str(), name);
        }
        assert_eq!(
            ItemType::from_name("replay_event"),
            ItemType::Unknown("replay_event".to_owned())
        );
    }

    #[test]
    fn serialize_then_parse_round_trips() {
        let mut header = EnvelopeHeader {
            event_id: Some(Uuid::new_v4()),
            dsn: Some("http://abc@localhost:9000/1".to_owned()),
            ..EnvelopeHeader::default()
        };
        header
            .raw
            .insert("trace".to_owned(), serde_json::json!({"trace_id": "abc"}));
        let mut attachment = EnvelopeItem::new(ItemType::Attachment, &b"line1\nline2\n"[..]);
        attachment.filename = Some("log.txt".to_owned());
        let envelope = Envelope {
            header,
            items: vec![
                EnvelopeItem::new(ItemType::Event, &b"{\"message\":\"x\"}"[..]),
                attachment,
                EnvelopeItem::new(ItemType::Unknown("profile".to_owned()), Bytes::new()),
            ],
            item_errors: Vec::new(),
        };
        let parsed = Envelope::parse_strict(envelope.to_bytes()).unwrap();
        assert_eq!(parsed.header.event_id, envelope.header.event_id);
        assert_eq!(parsed.header.dsn, envelope.header.dsn);
        assert_eq!(parsed.header.raw["trace"], envelope.header.raw["trace"]);
        assert_eq!(parsed.items.len(), 3);
        for (parsed, original) in parsed.items.iter().zip(&envelope.items) {
            assert_eq!(parsed.ty, original.ty);
            assert_eq!(parsed.payload, original.payload);
            assert_eq!(parsed.filename, original.filename);
        }
    }

    #[test]
    fn public_key_falls_back_to_the_sampling_context() {
        let envelope = Envelope::parse(
            &b"{\"trace\":{\"trace_id\":\"4c79f60c11214eb38604f4ae0781bfb2\",\"public_key\":\"k1\"}}\n"[..],
        )
        .unwrap();
        assert_eq!(envelope.header.public_key().as_deref(), Some("k1"));
    }
}
