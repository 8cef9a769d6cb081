//! Sentry event JSON → [`ErrorEvent`], walking the JSON field by field so one malformed field never costs the event.
//!
//! The input is what Sentry SDKs put in a `store` request body or an envelope's `event` item,
//! which is also Stackhouse's native JSON event format. Every field is read leniently where the
//! SDKs disagree (`tags` as an object or a list of pairs, `exception` as `{values: [...]}` or a
//! bare list, timestamps as RFC 3339 strings or epoch floats, line numbers as numbers or numeric
//! strings, ...). A field that is present but cannot be understood is dropped and reported in
//! [`ParsedEvent::dropped_fields`] with its JSON path; only invalid JSON or a top level that is not
//! an object rejects the event. Sizes are bounded here (frames, breadcrumbs, message, tags) so
//! nothing downstream has to defend against a single huge event.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::event::{
    Breadcrumb, Contexts, ErrorEvent, Exception, Frame, Level, Mechanism, NamedVersion, Request,
    Sdk, Stacktrace, TraceContext, User,
};
use crate::json::{JsonValue, Object};
use crate::logentry::{format_params, Params};

/// A parsed event plus the fields that were malformed and dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEvent {
    pub event: ErrorEvent,
    /// Fields that were present but malformed, dropped so the rest of the event survives.
    pub dropped_fields: Vec<FieldIssue>,
}

/// A malformed field that was dropped (or cut down to size).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldIssue {
    /// JSON path of the field, e.g. `user.id` or `exception.values[0].stacktrace`.
    pub path: String,
    /// What was wrong with it.
    pub reason: String,
}

/// Why a whole event could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventParseError {
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("an event must be a JSON object, got {0}")]
    NotAnObject(&'static str),
}

/// At most this many frames are kept per stack trace: the first [`KEPT_OUTERMOST_FRAMES`] and
/// the last [`KEPT_INNERMOST_FRAMES`] (the innermost frames explain the error; the outermost ones
/// say how it was reached; a deep recursion in between adds nothing).
pub const MAX_FRAMES: usize = KEPT_OUTERMOST_FRAMES + KEPT_INNERMOST_FRAMES;
/// Outermost (oldest) frames kept when a stack trace is cut.
pub const KEPT_OUTERMOST_FRAMES: usize = 50;
/// Innermost (newest) frames kept when a stack trace is cut.
pub const KEPT_INNERMOST_FRAMES: usize = 200;
/// At most this many breadcrumbs are kept, the latest ones.
pub const MAX_BREADCRUMBS: usize = 100;
/// Messages (and message templates, exception values and breadcrumb messages) are cut to this
/// many bytes, on a character boundary.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;
/// Tag keys are cut to this many characters.
pub const MAX_TAG_KEY_CHARS: usize = 200;
/// Tag values are cut to this many characters.
pub const MAX_TAG_VALUE_CHARS: usize = 200;
/// At most this many issues are listed in [`ParsedEvent::dropped_fields`]; the rest are counted
/// in one final entry so a pathological event cannot make the report larger than itself.
pub const MAX_LISTED_ISSUES: usize = 100;

/// Parses one event from JSON bytes. `received` is used when the event carries no timestamp.
///
/// Same result as [`parse_event_value`] on the decoded JSON, but faster: the JSON is decoded
/// into a tree that borrows its strings from `bytes`, and subtrees the event model does not
/// keep (`modules`, frame `vars`, `debug_meta`, request bodies, ...) are validated and skipped
/// instead of decoded.
pub fn parse_event_json(
    bytes: &[u8],
    received: DateTime<Utc>,
) -> Result<ParsedEvent, EventParseError> {
    let value = prune::decode_event(bytes)
        .map_err(|error| EventParseError::InvalidJson(error.to_string()))?;
    parse_event_tree(value, received)
}

/// Parses one event from an already-decoded JSON value. `received` is used when the event
/// carries no (valid) timestamp.
pub fn parse_event_value(
    value: serde_json::Value,
    received: DateTime<Utc>,
) -> Result<ParsedEvent, EventParseError> {
    parse_event_tree(JsonValue::from(value), received)
}

/// The walk both entry points share.
fn parse_event_tree(
    value: JsonValue<'_>,
    received: DateTime<Utc>,
) -> Result<ParsedEvent, EventParseError> {
    let object = match value {
        JsonValue::Object(object) => object,
        other => return Err(EventParseError::NotAnObject(other.type_name())),
    };
    let mut walker = Walker::default();
    let event = walker.event(object, received);
    Ok(ParsedEvent {
        event,
        dropped_fields: walker.finish(),
    })
}

/// The JSON type name used in error messages.
pub(crate) fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON path built on the stack while walking, rendered to text only when an issue is recorded
/// (so a clean event allocates no paths at all).
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    pub(crate) fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    pub(crate) fn index(&'a self, index: usize) -> Path<'a> {
        Path::Index(self, index)
    }

    fn render(&self) -> String {
        let mut rendered = String::new();
        self.write_to(&mut rendered);
        rendered
    }

    fn write_to(&self, out: &mut String) {
        match self {
            Path::Root => {}
            Path::Key(parent, key) => {
                parent.write_to(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Path::Index(parent, index) => {
                parent.write_to(out);
                let _ = write!(out, "[{index}]");
            }
        }
    }
}

/// The `logentry` / `message` object before it is resolved into the event's message.
#[derive(Default)]
struct LogEntry {
    formatted: Option<String>,
    message: Option<String>,
    params: Option<Params>,
}

/// A thread from `threads`, kept only long enough to pick the event's stack trace.
struct Thread {
    crashed: bool,
    current: bool,
    stacktrace: Option<Stacktrace>,
}

/// Walks one event, collecting the issues it finds on the way.
#[derive(Default)]
pub(crate) struct Walker {
    issues: Vec<FieldIssue>,
    unlisted_issues: usize,
}

impl Walker {
    pub(crate) fn finish(mut self) -> Vec<FieldIssue> {
        if self.unlisted_issues > 0 {
            self.issues.push(FieldIssue {
                path: "*".to_owned(),
                reason: format!(
                    "{} more malformed fields, not listed individually",
                    self.unlisted_issues
                ),
            });
        }
        self.issues
    }

    pub(crate) fn record(&mut self, path: Path<'_>, reason: impl Into<String>) {
        if self.issues.len() >= MAX_LISTED_ISSUES {
            self.unlisted_issues += 1;
            return;
        }
        self.issues.push(FieldIssue {
            path: path.render(),
            reason: reason.into(),
        });
    }

    pub(crate) fn record_wrong_type(
        &mut self,
        path: Path<'_>,
        expected: &str,
        got: &JsonValue<'_>,
    ) {
        let reason = format!("expected {expected}, got {}", got.type_name());
        self.record(path, reason);
    }

    /// The object at `path`; anything else is recorded as `expected` and dropped.
    pub(crate) fn object<'v>(
        &mut self,
        value: JsonValue<'v>,
        path: Path<'_>,
        expected: &str,
    ) -> Option<Object<'v>> {
        match value {
            JsonValue::Object(object) => Some(object),
            other => {
                self.record_wrong_type(path, expected, &other);
                None
            }
        }
    }

    /// Like [`Walker::object`], with null read as absent rather than as a wrong type.
    pub(crate) fn optional_object<'v>(
        &mut self,
        value: JsonValue<'v>,
        path: Path<'_>,
    ) -> Option<Object<'v>> {
        if value.is_null() {
            return None;
        }
        self.object(value, path, "an object")
    }

    // ---- the event ----

    fn event(&mut self, object: Object<'_>, received: DateTime<Utc>) -> ErrorEvent {
        let root = Path::Root;
        let mut event = ErrorEvent::new(Uuid::nil(), received);
        let mut event_id = None;
        let mut logentry = None;
        let mut message = None;
        let mut culprit = None;
        let mut threads = Vec::new();

        for (key, value) in object {
            let path = root.key(&key);
            match key.as_ref() {
                "event_id" => event_id = self.event_id(value, path),
                "timestamp" => {
                    if let Some(timestamp) = self.timestamp(value, path) {
                        event.timestamp = timestamp;
                    }
                }
                "platform" => {
                    if let Some(platform) = self.optional_string(value, path) {
                        event.platform = platform;
                    }
                }
                "level" => {
                    if let Some(level) = self.level(value, path) {
                        event.level = level;
                    }
                }
                "logger" => event.logger = self.optional_string(value, path),
                "environment" => event.environment = self.optional_string(value, path),
                "release" => event.release = self.optional_string(value, path),
                "dist" => event.dist = self.optional_string(value, path),
                "server_name" => event.server_name = self.optional_string(value, path),
                "transaction" => event.transaction = self.optional_string(value, path),
                "culprit" => culprit = self.optional_string(value, path),
                "message" => message = self.logentry(value, path),
                "logentry" => logentry = self.logentry(value, path),
                "exception" => event.exceptions = self.exceptions(value, path),
                "stacktrace" => event.stacktrace = self.stacktrace(value, path),
                "threads" => threads = self.threads(value, path),
                "tags" => event.tags = self.tags(value, path),
                "user" => event.user = self.user(value, path),
                "request" => event.request = self.request(value, path),
                "contexts" => event.contexts = self.contexts(value, path),
                "sdk" => event.sdk = self.sdk(value, path),
                "breadcrumbs" => event.breadcrumbs = self.breadcrumbs(value, path),
                "fingerprint" => event.fingerprint = self.fingerprint(value, path),
                "extra" => event.extra = self.extra(value, path),
                // Everything else (modules, debug_meta, spans, measurements, _meta, ...) is
                // tolerated and ignored.
                _ => {}
            }
        }

        event.event_id = event_id.unwrap_or_else(Uuid::new_v4);
        if event.transaction.is_none() {
            event.transaction = culprit;
        }
        self.resolve_message(&mut event, logentry, message);
        if event.stacktrace.is_none() && !has_exception_frames(&event.exceptions) {
            event.stacktrace = pick_thread_stacktrace(threads);
        }
        event
    }

    fn event_id(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<Uuid> {
        let text = match value {
            JsonValue::Null => return None,
            JsonValue::String(text) => text,
            other => {
                self.record(
                    path,
                    format!(
                        "expected a UUID string, got {}; generated a new id",
                        other.type_name()
                    ),
                );
                return None;
            }
        };
        match Uuid::parse_str(text.trim()) {
            Ok(id) => Some(id),
            Err(_) => {
                self.record(
                    path,
                    format!(
                        "not a UUID: {:?}; generated a new id",
                        truncated_for_report(&text)
                    ),
                );
                None
            }
        }
    }

    fn timestamp(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<DateTime<Utc>> {
        if value.is_null() {
            return None;
        }
        match parse_timestamp(&value) {
            Ok(timestamp) => Some(timestamp),
            Err(reason) => {
                self.record(path, format!("{reason}; used the time received"));
                None
            }
        }
    }

    /// A timestamp that may be absent (breadcrumbs, spans): a bad one is recorded and dropped.
    pub(crate) fn optional_timestamp(
        &mut self,
        value: JsonValue<'_>,
        path: Path<'_>,
    ) -> Option<DateTime<Utc>> {
        if value.is_null() {
            return None;
        }
        match parse_timestamp(&value) {
            Ok(timestamp) => Some(timestamp),
            Err(reason) => {
                self.record(path, reason);
                None
            }
        }
    }

    fn level(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<Level> {
        let text = self.optional_text(value, path)?;
        let level = Level::parse(&text);
        if level.is_none() {
            self.record(
                path,
                format!("unknown level {:?}", truncated_for_report(&text)),
            );
        }
        level
    }

    // ---- scalars ----

    /// A string field. Numbers and booleans are accepted and written out (`release: 1.2` is a
    /// common mistake, not a reason to lose the release); empty strings count as absent.
    pub(crate) fn optional_string(
        &mut self,
        value: JsonValue<'_>,
        path: Path<'_>,
    ) -> Option<String> {
        self.optional_text(value, path).map(Cow::into_owned)
    }

    /// Like [`Self::optional_string`] but keeps empty strings.
    pub(crate) fn lenient_string(
        &mut self,
        value: JsonValue<'_>,
        path: Path<'_>,
    ) -> Option<String> {
        self.lenient_text(value, path).map(Cow::into_owned)
    }

    /// [`Self::optional_string`] still borrowed from the input, for fields that are only
    /// inspected (a level, an id) and need no copy.
    pub(crate) fn optional_text<'v>(
        &mut self,
        value: JsonValue<'v>,
        path: Path<'_>,
    ) -> Option<Cow<'v, str>> {
        self.lenient_text(value, path)
            .filter(|text| !text.is_empty())
    }

    /// [`Self::lenient_string`] still borrowed from the input.
    fn lenient_text<'v>(&mut self, value: JsonValue<'v>, path: Path<'_>) -> Option<Cow<'v, str>> {
        match value {
            JsonValue::Null => None,
            JsonValue::String(text) => Some(text),
            JsonValue::Number(number) => Some(Cow::Owned(number.to_string())),
            JsonValue::Bool(flag) => Some(Cow::Borrowed(if flag { "true" } else { "false" })),
            other => {
                self.record_wrong_type(path, "a string", &other);
                None
            }
        }
    }

    fn optional_bool(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<bool> {
        match value {
            JsonValue::Null => None,
            JsonValue::Bool(flag) => Some(flag),
            JsonValue::String(text) if text.eq_ignore_ascii_case("true") => Some(true),
            JsonValue::String(text) if text.eq_ignore_ascii_case("false") => Some(false),
            other => {
                self.record_wrong_type(path, "a boolean", &other);
                None
            }
        }
    }

    /// A non-negative integer that fits in `u32`: a JSON number (integral floats accepted) or a
    /// numeric string.
    fn optional_u32(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<u32> {
        let parsed = match &value {
            JsonValue::Null => return None,
            JsonValue::Number(number) => {
                if let Some(unsigned) = number.as_u64() {
                    u32::try_from(unsigned).ok()
                } else {
                    number
                        .as_f64()
                        .filter(|float| float.fract() == 0.0 && *float >= 0.0)
                        .filter(|float| *float <= f64::from(u32::MAX))
                        .map(|float| float as u32)
                }
            }
            JsonValue::String(text) => text.trim().parse::<u32>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            let reason = match &value {
                JsonValue::Number(number) => format!("not a line/column number: {number}"),
                JsonValue::String(text) => {
                    format!("not a number: {:?}", truncated_for_report(text))
                }
                other => format!("expected a number, got {}", other.type_name()),
            };
            self.record(path, reason);
        }
        parsed
    }

    /// A string capped at [`MAX_MESSAGE_BYTES`], recording the cut.
    fn capped_text(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<String> {
        let mut text = self.optional_string(value, path)?;
        self.cap_bytes(&mut text, MAX_MESSAGE_BYTES, path);
        Some(text)
    }

    fn cap_bytes(&mut self, text: &mut String, max_bytes: usize, path: Path<'_>) {
        let original_len = text.len();
        if truncate_to_bytes(text, max_bytes) {
            self.record(
                path,
                format!("truncated from {original_len} to {} bytes", text.len()),
            );
        }
    }

    // ---- message ----

    /// `message` or `logentry`: a plain string (the formatted message) or
    /// `{formatted, message, params}`.
    fn logentry(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<LogEntry> {
        let object = match value {
            JsonValue::Null => return None,
            JsonValue::String(text) => {
                return Some(LogEntry {
                    formatted: Some(text.into_owned()),
                    ..LogEntry::default()
                })
            }
            JsonValue::Object(object) => object,
            other => {
                self.record_wrong_type(path, "a string or an object", &other);
                return None;
            }
        };
        let mut entry = LogEntry::default();
        for (key, value) in object {
            let field_path = path.key(&key);
            match key.as_ref() {
                "formatted" => entry.formatted = self.optional_string(value, field_path),
                "message" => entry.message = self.optional_string(value, field_path),
                "params" => {
                    entry.params = match value {
                        JsonValue::Null => None,
                        JsonValue::Array(values) => Some(Params::Positional(
                            values.into_iter().map(JsonValue::into_value).collect(),
                        )),
                        JsonValue::Object(values) => Some(Params::Named(values.into_map())),
                        other => {
                            self.record_wrong_type(field_path, "a list or an object", &other);
                            None
                        }
                    }
                }
                _ => {}
            }
        }
        Some(entry)
    }

    /// Sets `message` and `message_template` from `logentry` (preferred) and `message`.
    fn resolve_message(
        &mut self,
        event: &mut ErrorEvent,
        logentry: Option<LogEntry>,
        message: Option<LogEntry>,
    ) {
        let (entry, path_name) = match (logentry, message) {
            (Some(mut logentry), Some(message)) => {
                // Both sent: logentry is the structured one; fill its gaps from `message`.
                logentry.formatted = logentry.formatted.or(message.formatted);
                logentry.message = logentry.message.or(message.message);
                logentry.params = logentry.params.or(message.params);
                (logentry, "logentry")
            }
            (Some(logentry), None) => (logentry, "logentry"),
            (None, Some(message)) => (message, "message"),
            (None, None) => return,
        };
        let root = Path::Root;
        let path = root.key(path_name);
        let template = entry.message;
        let mut formatted = match (entry.formatted, &template, &entry.params) {
            (Some(formatted), _, _) => Some(formatted),
            (None, Some(template), Some(params)) if !params.is_empty() => {
                Some(format_params(template, params))
            }
            (None, template, _) => template.clone(),
        };
        if let Some(formatted) = formatted.as_mut() {
            self.cap_bytes(formatted, MAX_MESSAGE_BYTES, path);
        }
        let mut template = template.filter(|template| Some(template) != formatted.as_ref());
        if let Some(template) = template.as_mut() {
            let template_path = path.key("message");
            self.cap_bytes(template, MAX_MESSAGE_BYTES, template_path);
        }
        event.message = formatted;
        event.message_template = template;
    }

    // ---- exceptions and stacks ----

    /// `exception`: `{values: [...]}`, a bare list, or (old SDKs) a single exception object.
    fn exceptions(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Vec<Exception> {
        let (values, values_path_key) = match value {
            JsonValue::Null => return Vec::new(),
            JsonValue::Array(values) => (values, None),
            JsonValue::Object(mut object) => match object.remove("values") {
                Some(JsonValue::Array(values)) => (values, Some("values")),
                Some(JsonValue::Null) => return Vec::new(),
                Some(other) => {
                    self.record_wrong_type(path.key("values"), "a list", &other);
                    return Vec::new();
                }
                None if object.contains_key("type") || object.contains_key("value") => {
                    (vec![JsonValue::Object(object)], None)
                }
                None => return Vec::new(),
            },
            other => {
                self.record_wrong_type(path, "an object with values or a list", &other);
                return Vec::new();
            }
        };
        let values_path = match values_path_key {
            Some(key) => path.key(key),
            None => path,
        };
        let mut exceptions = Vec::with_capacity(values.len());
        for (index, value) in values.into_iter().enumerate() {
            let exception_path = values_path.index(index);
            if let Some(exception) = self.exception(value, exception_path) {
                exceptions.push(exception);
            }
        }
        exceptions
    }

    fn exception(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<Exception> {
        let object = self.object(value, path, "an exception object")?;
        let mut ty = None;
        let mut exception = Exception::default();
        for (key, value) in object {
            let field_path = path.key(&key);
            match key.as_ref() {
                "type" => ty = self.optional_string(value, field_path),
                "value" => exception.value = self.capped_text(value, field_path),
                "module" => exception.module = self.optional_string(value, field_path),
                "mechanism" => exception.mechanism = self.mechanism(value, field_path),
                "stacktrace" => exception.stacktrace = self.stacktrace(value, field_path),
                _ => {}
            }
        }
        if ty.is_none() && exception.value.is_none() && exception.stacktrace.is_none() {
            self.record(path, "exception has no type, value or stack trace");
            return None;
        }
        // Sentry titles a typeless exception "Error" too.
        exception.ty = ty.unwrap_or_else(|| "Error".to_owned());
        Some(exception)
    }

    fn mechanism(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<Mechanism> {
        let object = self.optional_object(value, path)?;
        let mut ty = None;
        let mut mechanism = Mechanism::default();
        for (key, value) in object {
            let field_path = path.key(&key);
            match key.as_ref() {
                "type" => ty = self.optional_string(value, field_path),
                "handled" => mechanism.handled = self.optional_bool(value, field_path),
                "synthetic" => mechanism.synthetic = self.optional_bool(value, field_path),
                "description" => mechanism.description = self.optional_string(value, field_path),
                _ => {}
            }
        }
        mechanism.ty = ty.unwrap_or_else(|| "generic".to_owned());
        Some(mechanism)
    }

    /// `{frames: [...]}` (or, leniently, a bare list of frames). A stack trace without frames
    /// is absent.
    fn stacktrace(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<Stacktrace> {
        let (frames, frames_path) = match value {
            JsonValue::Null => return None,
            JsonValue::Object(mut object) => match object.remove("frames") {
                Some(JsonValue::Array(frames)) => (frames, path.key("frames")),
                None | Some(JsonValue::Null) => return None,
                Some(other) => {
                    self.record_wrong_type(path.key("frames"), "a list", &other);
                    return None;
                }
            },
            JsonValue::Array(frames) => (frames, path),
            other => {
                self.record_wrong_type(path, "an object with frames", &other);
                return None;
            }
        };
        let frames = self.frames(frames, frames_path);
        if frames.is_empty() {
            None
        } else {
            Some(Stacktrace { frames })
        }
    }

    fn frames(&mut self, values: Vec<JsonValue<'_>>, path: Path<'_>) -> Vec<Frame> {
        let total = values.len();
        let cut_range = if total > MAX_FRAMES {
            self.record(
                path,
                format!(
                    "{total} frames: kept the first {KEPT_OUTERMOST_FRAMES} and the last \
                     {KEPT_INNERMOST_FRAMES}"
                ),
            );
            KEPT_OUTERMOST_FRAMES..total - KEPT_INNERMOST_FRAMES
        } else {
            0..0
        };
        let mut frames = Vec::with_capacity(total.min(MAX_FRAMES));
        for (index, value) in values.into_iter().enumerate() {
            if cut_range.contains(&index) {
                continue;
            }
            let frame_path = path.index(index);
            if let Some(frame) = self.frame(value, frame_path) {
                frames.push(frame);
            }
        }
        frames
    }

    fn frame(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<Frame> {
        let object = self.object(value, path, "a frame object")?;
        let mut frame = Frame::default();
        for (key, value) in object {
            let field_path = path.key(&key);
            match key.as_ref() {
                "function" => frame.function = self.optional_string(value, field_path),
                "module" => frame.module = self.optional_string(value, field_path),
                "package" => frame.package = self.optional_string(value, field_path),
                "filename" => frame.filename = self.optional_string(value, field_path),
                "abs_path" => frame.abs_path = self.optional_string(value, field_path),
                "lineno" => frame.lineno = self.optional_u32(value, field_path),
                "colno" => frame.colno = self.optional_u32(value, field_path),
                "in_app" => frame.in_app = self.optional_bool(value, field_path),
                "context_line" => frame.context_line = self.lenient_string(value, field_path),
                "pre_context" => frame.pre_context = self.context_lines(value, field_path),
                "post_context" => frame.post_context = self.context_lines(value, field_path),
                "instruction_addr" => {
                    frame.instruction_addr = self.instruction_addr(value, field_path)
                }
                "platform" => frame.platform = self.optional_string(value, field_path),
                _ => {}
            }
        }
        Some(frame)
    }

    /// Source lines around a frame. A `null` line (the SDK could not read it) stays as an empty
    /// line so the lines keep their positions.
    fn context_lines(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Vec<String> {
        let lines = match value {
            JsonValue::Null => return Vec::new(),
            JsonValue::Array(lines) => lines,
            other => {
                self.record_wrong_type(path, "a list of strings", &other);
                return Vec::new();
            }
        };
        let mut kept = Vec::with_capacity(lines.len());
        for (index, line) in lines.into_iter().enumerate() {
            match line {
                JsonValue::String(text) => kept.push(text.into_owned()),
                JsonValue::Null => kept.push(String::new()),
                other => {
                    self.record_wrong_type(path.index(index), "a string", &other);
                    kept.push(String::new());
                }
            }
        }
        kept
    }

    /// `"0x7ff6..."` as sent; a number becomes its `0x` hex form.
    fn instruction_addr(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<String> {
        match value {
            JsonValue::Null => None,
            JsonValue::String(text) if !text.is_empty() => Some(text.into_owned()),
            JsonValue::String(_) => None,
            JsonValue::Number(number) => match number.as_u64() {
                Some(address) => Some(format!("{address:#x}")),
                None => {
                    self.record(path, format!("not an address: {number}"));
                    None
                }
            },
            other => {
                self.record_wrong_type(path, "an address string", &other);
                None
            }
        }
    }

    /// `threads`: `{values: [...]}` or a bare list.
    fn threads(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Vec<Thread> {
        let (values, values_path) = match value {
            JsonValue::Null => return Vec::new(),
            JsonValue::Array(values) => (values, path),
            JsonValue::Object(mut object) => match object.remove("values") {
                Some(JsonValue::Array(values)) => (values, path.key("values")),
                None | Some(JsonValue::Null) => return Vec::new(),
                Some(other) => {
                    self.record_wrong_type(path.key("values"), "a list", &other);
                    return Vec::new();
                }
            },
            other => {
                self.record_wrong_type(path, "an object with values or a list", &other);
                return Vec::new();
            }
        };
        let mut threads = Vec::with_capacity(values.len());
        for (index, value) in values.into_iter().enumerate() {
            let thread_path = values_path.index(index);
            let Some(object) = self.object(value, thread_path, "a thread object") else {
                continue;
            };
            let mut thread = Thread {
                crashed: false,
                current: false,
                stacktrace: None,
            };
            for (key, value) in object {
                let field_path = thread_path.key(&key);
                match key.as_ref() {
                    "crashed" => {
                        thread.crashed = self.optional_bool(value, field_path).unwrap_or(false)
                    }
                    "current" => {
                        thread.current = self.optional_bool(value, field_path).unwrap_or(false)
                    }
                    "stacktrace" => thread.stacktrace = self.stacktrace(value, field_path),
                    _ => {}
                }
            }
            threads.push(thread);
        }
        threads
    }

    // ---- tags, user, request ----

    /// `tags`: an object, or a list of `[key, value]` pairs. Values are stringified, `null`
    /// values skipped, duplicate keys resolved last-wins (keeping the first position).
    pub(crate) fn tags(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Vec<(String, String)> {
        let mut tags = TagSet::default();
        match value {
            JsonValue::Null => {}
            JsonValue::Object(object) => {
                for (key, value) in object {
                    let tag_path = path.key(&key);
                    self.tag(&mut tags, key.clone(), value, tag_path);
                }
            }
            JsonValue::Array(pairs) => {
                for (index, pair) in pairs.into_iter().enumerate() {
                    let pair_path = path.index(index);
                    match pair {
                        JsonValue::Array(mut pair) if pair.len() == 2 => {
                            let value = pair.pop().unwrap_or(JsonValue::Null);
                            let key = pair.pop().unwrap_or(JsonValue::Null);
                            let key = match key {
                                JsonValue::String(key) => key,
                                JsonValue::Number(number) => Cow::Owned(number.to_string()),
                                JsonValue::Bool(flag) => Cow::Owned(flag.to_string()),
                                other => {
                                    self.record_wrong_type(pair_path, "a string key", &other);
                                    continue;
                                }
                            };
                            self.tag(&mut tags, key, value, pair_path);
                        }
                        JsonValue::Null => {}
                        other => {
                            self.record(
                                pair_path,
                                format!("expected a [key, value] pair, got {}", other.type_name()),
                            );
                        }
                    }
                }
            }
            other => self.record_wrong_type(path, "an object or a list of pairs", &other),
        }
        tags.into_vec()
    }

    fn tag(&mut self, tags: &mut TagSet, key: Cow<'_, str>, value: JsonValue<'_>, path: Path<'_>) {
        let mut value = match value {
            JsonValue::Null => return,
            JsonValue::String(text) => text.into_owned(),
            JsonValue::Number(number) => number.to_string(),
            JsonValue::Bool(flag) => flag.to_string(),
            other => {
                self.record_wrong_type(path, "a string, number or boolean", &other);
                return;
            }
        };
        if key.trim().is_empty() {
            self.record(path, "empty tag key");
            return;
        }
        let mut key = key.into_owned();
        if truncate_to_chars(&mut key, MAX_TAG_KEY_CHARS) {
            self.record(
                path,
                format!("tag key truncated to {MAX_TAG_KEY_CHARS} characters"),
            );
        }
        if truncate_to_chars(&mut value, MAX_TAG_VALUE_CHARS) {
            self.record(
                path,
                format!("tag value truncated to {MAX_TAG_VALUE_CHARS} characters"),
            );
        }
        tags.insert(key, value);
    }

    /// `user`. An `ip_address` of `{{auto}}` is kept as sent: only the server knows the client
    /// address ([`ErrorEvent::resolve_auto_ip_address`]).
    fn user(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<User> {
        let object = self.optional_object(value, path)?;
        let mut user = User::default();
        for (key, value) in object {
            let field_path = path.key(&key);
            match key.as_ref() {
                "id" => user.id = self.optional_string(value, field_path),
                "email" => user.email = self.optional_string(value, field_path),
                "ip_address" => user.ip_address = self.optional_string(value, field_path),
                "username" => user.username = self.optional_string(value, field_path),
                _ => {}
            }
        }
        if user == User::default() {
            None
        } else {
            Some(user)
        }
    }

    fn request(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<Request> {
        let object = self.optional_object(value, path)?;
        let mut request = Request::default();
        for (key, value) in object {
            let field_path = path.key(&key);
            match key.as_ref() {
                "url" => request.url = self.optional_string(value, field_path),
                "method" => {
                    request.method = self
                        .optional_text(value, field_path)
                        .map(|method| method.to_ascii_uppercase())
                }
                "query_string" => request.query_string = self.query_string(value, field_path),
                "headers" => request.headers = self.pairs(value, field_path),
                _ => {}
            }
        }
        if request == Request::default() {
            None
        } else {
            Some(request)
        }
    }

    /// A query string as sent (`"a=1&b=2"`, leading `?` removed), or an object / list of pairs
    /// joined back into that form.
    fn query_string(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<String> {
        let pairs = match value {
            JsonValue::String(text) => {
                let text = text.strip_prefix('?').unwrap_or(&text);
                return if text.is_empty() {
                    None
                } else {
                    Some(text.to_owned())
                };
            }
            other => self.pairs(other, path),
        };
        if pairs.is_empty() {
            return None;
        }
        let mut joined = String::new();
        for (key, value) in pairs {
            if !joined.is_empty() {
                joined.push('&');
            }
            joined.push_str(&key);
            joined.push('=');
            joined.push_str(&value);
        }
        Some(joined)
    }

    /// An object or a list of `[key, value]` pairs → string pairs (headers, query strings).
    /// Values are stringified; a value that is a list yields one pair per element.
    fn pairs(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        match value {
            JsonValue::Null => {}
            JsonValue::Object(object) => {
                for (key, value) in object {
                    let pair_path = path.key(&key);
                    self.push_pair(&mut pairs, key.clone(), value, pair_path);
                }
            }
            JsonValue::Array(list) => {
                for (index, pair) in list.into_iter().enumerate() {
                    let pair_path = path.index(index);
                    match pair {
                        JsonValue::Array(mut pair) if pair.len() == 2 => {
                            let value = pair.pop().unwrap_or(JsonValue::Null);
                            match pair.pop() {
                                Some(JsonValue::String(key)) => {
                                    self.push_pair(&mut pairs, key, value, pair_path)
                                }
                                Some(other) => {
                                    self.record_wrong_type(pair_path, "a string key", &other)
                                }
                                None => {}
                            }
                        }
                        other => {
                            self.record(
                                pair_path,
                                format!("expected a [key, value] pair, got {}", other.type_name()),
                            );
                        }
                    }
                }
            }
            other => self.record_wrong_type(path, "an object or a list of pairs", &other),
        }
        pairs
    }

    fn push_pair(
        &mut self,
        pairs: &mut Vec<(String, String)>,
        key: Cow<'_, str>,
        value: JsonValue<'_>,
        path: Path<'_>,
    ) {
        match value {
            JsonValue::Null => {}
            JsonValue::Array(values) => {
                for (index, value) in values.into_iter().enumerate() {
                    if let Some(text) = scalar_to_string(value) {
                        pairs.push((key.to_string(), text));
                    } else {
                        self.record(path.index(index), "expected a string");
                    }
                }
            }
            value => match scalar_to_string(value) {
                Some(text) => pairs.push((key.into_owned(), text)),
                None => self.record(path, "expected a string"),
            },
        }
    }

    // ---- contexts ----

    fn contexts(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Contexts {
        let mut contexts = Contexts::default();
        let Some(object) = self.optional_object(value, path) else {
            return contexts;
        };
        let mut others = Vec::new();
        for (key, value) in object {
            let context_path = path.key(&key);
            if value.is_null() {
                continue;
            }
            match key.as_ref() {
                "trace" => contexts.trace = self.trace_context(value, context_path),
                "os" => contexts.os = self.named_version(value, context_path),
                "browser" => contexts.browser = self.named_version(value, context_path),
                "runtime" => contexts.runtime = self.named_version(value, context_path),
                "device" => contexts.device = self.named_version(value, context_path),
                _ => others.push((key, value)),
            }
        }
        // A context's `type` says what it is when its key does not (sentry-rust sends its
        // runtime as `"rust": {"type": "runtime", ...}`). Such a context fills a slot still empty
        // once the named ones are read (in key order: the first one wins, even when it turns out
        // to hold no name or version); the others stay as sent.
        for (key, value) in others {
            let slot = match value.get_str("type") {
                Some("os") => Some(&mut contexts.os),
                Some("browser") => Some(&mut contexts.browser),
                Some("runtime") => Some(&mut contexts.runtime),
                Some("device") => Some(&mut contexts.device),
                _ => None,
            };
            match slot {
                Some(slot) if slot.is_none() => {
                    *slot = self.named_version(value, path.key(&key));
                }
                _ => {
                    contexts.other.insert(key.into_owned(), value.into_value());
                }
            }
        }
        contexts
    }

    pub(crate) fn trace_context(
        &mut self,
        value: JsonValue<'_>,
        path: Path<'_>,
    ) -> Option<TraceContext> {
        let object = self.object(value, path, "an object")?;
        let mut trace_id = None;
        let mut trace = TraceContext::default();
        for (key, value) in object {
            let field_path = path.key(&key);
            match key.as_ref() {
                "trace_id" => trace_id = self.hex_id(value, 32, field_path),
                "span_id" => trace.span_id = self.hex_id(value, 16, field_path),
                "parent_span_id" => trace.parent_span_id = self.hex_id(value, 16, field_path),
                "op" => trace.op = self.optional_string(value, field_path),
                "status" => trace.status = self.optional_string(value, field_path),
                _ => {}
            }
        }
        // Without a valid trace id the rest cannot be tied to anything; the id's own problem
        // (if any) has already been recorded.
        trace.trace_id = trace_id?;
        Some(trace)
    }

    /// A hex id of exactly `digits` hex digits, lowercased. A UUID-formatted trace id (with
    /// dashes) is accepted too, as some SDKs send that.
    pub(crate) fn hex_id(
        &mut self,
        value: JsonValue<'_>,
        digits: usize,
        path: Path<'_>,
    ) -> Option<String> {
        let text = match value {
            JsonValue::Null => return None,
            JsonValue::String(text) => text,
            other => {
                self.record_wrong_type(path, "a hex string", &other);
                return None;
            }
        };
        match normalize_hex_id(&text, digits) {
            Some(id) => Some(id),
            None => {
                self.record(
                    path,
                    format!(
                        "expected {digits} hex digits, got {:?}",
                        truncated_for_report(&text)
                    ),
                );
                None
            }
        }
    }

    /// `{name, version}` contexts. Devices rarely send a `name`, so their `model` (else
    /// `family`) stands in. A context with neither name nor version is absent.
    fn named_version(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<NamedVersion> {
        let object = self.object(value, path, "an object")?;
        let mut named = NamedVersion::default();
        let mut model = None;
        let mut family = None;
        for (key, value) in object {
            let field_path = path.key(&key);
            match key.as_ref() {
                "name" => named.name = self.optional_string(value, field_path),
                "version" => named.version = self.optional_string(value, field_path),
                "model" => model = self.optional_string(value, field_path),
                "family" => family = self.optional_string(value, field_path),
                _ => {}
            }
        }
        named.name = named.name.or(model).or(family);
        if named == NamedVersion::default() {
            return None;
        }
        Some(named)
    }

    // ---- sdk, breadcrumbs, fingerprint, extra ----

    fn sdk(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<Sdk> {
        let object = self.optional_object(value, path)?;
        let mut name = None;
        let mut version = None;
        for (key, value) in object {
            let field_path = path.key(&key);
            match key.as_ref() {
                "name" => name = self.optional_string(value, field_path),
                "version" => version = self.optional_string(value, field_path),
                _ => {}
            }
        }
        let Some(name) = name else {
            self.record(path, "sdk without a name");
            return None;
        };
        Some(Sdk {
            name,
            version: version.unwrap_or_default(),
        })
    }

    /// `breadcrumbs`: a list or `{values: [...]}`; only the latest [`MAX_BREADCRUMBS`] are kept.
    fn breadcrumbs(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Vec<Breadcrumb> {
        let (values, values_path) = match value {
            JsonValue::Null => return Vec::new(),
            JsonValue::Array(values) => (values, path),
            JsonValue::Object(mut object) => match object.remove("values") {
                Some(JsonValue::Array(values)) => (values, path.key("values")),
                None | Some(JsonValue::Null) => return Vec::new(),
                Some(other) => {
                    self.record_wrong_type(path.key("values"), "a list", &other);
                    return Vec::new();
                }
            },
            other => {
                self.record_wrong_type(path, "a list or an object with values", &other);
                return Vec::new();
            }
        };
        let total = values.len();
        let skip = total.saturating_sub(MAX_BREADCRUMBS);
        if skip > 0 {
            self.record(
                values_path,
                format!("{total} breadcrumbs: kept the latest {MAX_BREADCRUMBS}"),
            );
        }
        let mut breadcrumbs = Vec::with_capacity(total - skip);
        for (index, value) in values.into_iter().enumerate().skip(skip) {
            let crumb_path = values_path.index(index);
            if let Some(breadcrumb) = self.breadcrumb(value, crumb_path) {
                breadcrumbs.push(breadcrumb);
            }
        }
        breadcrumbs
    }

    fn breadcrumb(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<Breadcrumb> {
        let object = self.object(value, path, "a breadcrumb object")?;
        let mut breadcrumb = Breadcrumb::default();
        for (key, value) in object {
            let field_path = path.key(&key);
            match key.as_ref() {
                "timestamp" => breadcrumb.timestamp = self.optional_timestamp(value, field_path),
                "type" => breadcrumb.ty = self.optional_string(value, field_path),
                "category" => breadcrumb.category = self.optional_string(value, field_path),
                "level" => breadcrumb.level = self.level(value, field_path),
                "message" => breadcrumb.message = self.capped_text(value, field_path),
                "data" if !value.is_null() => breadcrumb.data = Some(value.into_value()),
                _ => {}
            }
        }
        Some(breadcrumb)
    }

    /// `fingerprint`: a list of strings (numbers and booleans written out). An empty list means
    /// "no client fingerprint".
    fn fingerprint(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Option<Vec<String>> {
        let values = match value {
            JsonValue::Null => return None,
            JsonValue::Array(values) => values,
            other => {
                self.record_wrong_type(path, "a list of strings", &other);
                return None;
            }
        };
        let mut parts = Vec::with_capacity(values.len());
        for (index, value) in values.into_iter().enumerate() {
            match value {
                JsonValue::String(text) => parts.push(text.into_owned()),
                JsonValue::Number(number) => parts.push(number.to_string()),
                JsonValue::Bool(flag) => parts.push(flag.to_string()),
                other => self.record_wrong_type(path.index(index), "a string", &other),
            }
        }
        if parts.is_empty() {
            None
        } else {
            Some(parts)
        }
    }

    fn extra(&mut self, value: JsonValue<'_>, path: Path<'_>) -> Map<String, Value> {
        self.optional_object(value, path)
            .map(Object::into_map)
            .unwrap_or_default()
    }
}

/// Tags with unique keys: a later value for a key replaces the earlier one in place.
#[derive(Default)]
struct TagSet {
    tags: Vec<(String, String)>,
    /// Where each key is in `tags`, built only once there are more than
    /// [`TagSet::SCANNED_TAGS`] (a handful of tags is found faster by looking at each).
    positions: HashMap<String, usize>,
}

impl TagSet {
    const SCANNED_TAGS: usize = 16;

    fn insert(&mut self, key: String, value: String) {
        match self.position(&key) {
            Some(position) => {
                if let Some(slot) = self.tags.get_mut(position) {
                    slot.1 = value;
                }
            }
            None => {
                if !self.positions.is_empty() {
                    self.positions.insert(key.clone(), self.tags.len());
                }
                self.tags.push((key, value));
            }
        }
    }

    fn position(&mut self, key: &str) -> Option<usize> {
        if self.tags.len() <= Self::SCANNED_TAGS {
            return self.tags.iter().position(|(tag_key, _)| tag_key == key);
        }
        if self.positions.is_empty() {
            self.positions = self
                .tags
                .iter()
                .enumerate()
                .map(|(position, (tag_key, _))| (tag_key.clone(), position))
                .collect();
        }
        self.positions.get(key).copied()
    }

    fn into_vec(self) -> Vec<(String, String)> {
        self.tags
    }
}

fn has_exception_frames(exceptions: &[Exception]) -> bool {
    exceptions.iter().any(|exception| {
        exception
            .stacktrace
            .as_ref()
            .is_some_and(|stacktrace| !stacktrace.frames.is_empty())
    })
}

/// The crashed thread's stack, else the current thread's, else the only thread's.
fn pick_thread_stacktrace(mut threads: Vec<Thread>) -> Option<Stacktrace> {
    threads.retain(|thread| thread.stacktrace.is_some());
    let position = threads
        .iter()
        .position(|thread| thread.crashed)
        .or_else(|| threads.iter().position(|thread| thread.current))
        .or(if threads.len() == 1 { Some(0) } else { None })?;
    threads.swap_remove(position).stacktrace
}

/// Strings, numbers and booleans as text; anything else is not a scalar.
fn scalar_to_string(value: JsonValue<'_>) -> Option<String> {
    match value {
        JsonValue::String(text) => Some(text.into_owned()),
        JsonValue::Number(number) => Some(number.to_string()),
        JsonValue::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// Parses an RFC 3339 string (a missing offset means UTC), a numeric string, or an epoch number
/// of seconds (fractions allowed).
pub(crate) fn parse_timestamp(value: &JsonValue<'_>) -> Result<DateTime<Utc>, String> {
    match value {
        JsonValue::Number(number) => match number.as_f64() {
            Some(seconds) => epoch_seconds_to_datetime(seconds),
            None => Err(format!("not a timestamp: {number}")),
        },
        JsonValue::String(text) => parse_timestamp_str(text)
            .ok_or_else(|| format!("not a timestamp: {:?}", truncated_for_report(text))),
        other => Err(format!(
            "expected an RFC 3339 string or epoch seconds, got {}",
            other.type_name()
        )),
    }
}

/// The string forms of [`parse_timestamp`].
pub(crate) fn parse_timestamp_str(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(timestamp) = DateTime::parse_from_rfc3339(text) {
        return Some(timestamp.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(naive.and_utc());
        }
    }
    text.parse::<f64>()
        .ok()
        .and_then(|seconds| epoch_seconds_to_datetime(seconds).ok())
}

/// Epoch seconds (fractional) → a UTC timestamp, rejecting NaN, infinities and years chrono
/// cannot represent.
pub(crate) fn epoch_seconds_to_datetime(seconds: f64) -> Result<DateTime<Utc>, String> {
    // ±10^11 s is about ±3000 years: anything beyond is garbage, and the bound keeps the
    // float → integer conversion exact.
    if !seconds.is_finite() || seconds.abs() > 1e11 {
        return Err(format!("timestamp out of range: {seconds}"));
    }
    // An f64 around today's epoch resolves ~0.24 µs, so whole microseconds are all the precision
    // there is (and what SDKs send); rounding to them turns 0.00999999 back into 0.01.
    let whole = seconds.floor();
    let micros = ((seconds - whole) * 1e6).round() as i64;
    let micros = micros.clamp(0, 1_000_000);
    let total_micros = (whole as i64) * 1_000_000 + micros;
    DateTime::from_timestamp_micros(total_micros)
        .ok_or_else(|| format!("timestamp out of range: {seconds}"))
}

/// `digits` hex digits (a 32-digit id may also be dash-separated like a UUID), lowercased.
pub(crate) fn normalize_hex_id(text: &str, digits: usize) -> Option<String> {
    let text = text.trim();
    if digits == 32 && text.len() == 36 {
        // A UUID's simple form is 32 lowercase hex digits already.
        return Some(Uuid::parse_str(text).ok()?.simple().to_string());
    }
    if text.len() == digits && text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        Some(text.to_ascii_lowercase())
    } else {
        None
    }
}

/// Cuts `text` to at most `max_bytes` bytes on a character boundary. Returns whether it cut.
pub(crate) fn truncate_to_bytes(text: &mut String, max_bytes: usize) -> bool {
    if text.len() <= max_bytes {
        return false;
    }
    let mut boundary = max_bytes;
    while !text.is_char_boundary(boundary) {
        boundary -= 1;
    }
    text.truncate(boundary);
    true
}

/// Cuts `text` to at most `max_chars` characters. Returns whether it cut.
fn truncate_to_chars(text: &mut String, max_chars: usize) -> bool {
    match text.char_indices().nth(max_chars) {
        Some((byte_index, _)) => {
            text.truncate(byte_index);
            true
        }
        None => false,
    }
}

/// The start of a bad value, for an issue's reason: enough to recognise it, never the whole of
/// a huge string.
fn truncated_for_report(text: &str) -> &str {
    match text.char_indices().nth(64) {
        Some((byte_index, _)) => &text[..byte_index],
        None => text,
    }
}

mod prune;
#[cfg(test)]
mod tests;
