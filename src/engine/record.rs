//! [`EventRecord`]: one row of the logical `events` table, and its conversion from and back to
//! an [`ErrorEvent`].
//!
//! Scalars analysts filter on are columns of their own; the exception chain's types and values
//! and the primary stack's frames are flattened into arrays; nested parts needed only to show
//! an event again (full chain, contexts, breadcrumbs, request) travel in the `details` JSON.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stackhouse_protocol::{
    Breadcrumb, Contexts, ErrorEvent, Exception, Frame, Level, Request, Sdk, Stacktrace, User,
};
use uuid::Uuid;

use super::StringList;

/// One row of the logical `events` table (see `sql/README.md` for the column documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub project_id: u64,
    /// 32 lowercase hex characters.
    pub event_id: String,
    pub timestamp: DateTime<Utc>,
    pub received: DateTime<Utc>,
    pub fingerprint: u64,
    pub grouping_version: String,
    /// The grouping explanation, JSON.
    pub grouping_explanation: String,
    pub title: String,
    pub culprit: String,
    pub platform: String,
    pub level: String,
    pub logger: String,
    pub environment: String,
    pub release: String,
    pub dist: String,
    pub server_name: String,
    pub transaction: String,
    pub message: String,
    pub exception_types: StringList,
    pub exception_values: StringList,
    pub frame_modules: StringList,
    pub frame_functions: StringList,
    pub frame_filenames: StringList,
    pub frame_linenos: Vec<u32>,
    pub frame_in_app: Vec<u8>,
    pub tag_keys: StringList,
    pub tag_values: StringList,
    /// Key used for distinct-user counts (`id:42`, `email:a@b.c`, ...); empty when no user.
    pub user_key: String,
    pub user_id: String,
    pub user_email: String,
    pub user_ip: String,
    pub user_username: String,
    pub request_method: String,
    pub request_url: String,
    pub trace_id: String,
    pub span_id: String,
    pub sdk_name: String,
    pub sdk_version: String,
    /// Nested parts as JSON ([`EventDetails`]).
    pub details: String,
}

/// The nested parts of an event kept as JSON in `details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventDetails {
    pub exceptions: Vec<Exception>,
    pub stacktrace: Option<Stacktrace>,
    pub contexts: Contexts,
    pub breadcrumbs: Vec<Breadcrumb>,
    pub request: Option<Request>,
    pub fingerprint: Option<Vec<String>>,
    pub message_template: Option<String>,
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What `details` is written from: [`EventDetails`] borrowed from the event (no copies), with
/// exceptions and frames written without their absent fields. A frame's nulls and empty lists
/// were most of its JSON (and `details` most of a stored event); reading fills them back in,
/// so rows written either way read the same.
#[derive(Serialize)]
struct DetailsOut<'a> {
    exceptions: Vec<ExceptionOut<'a>>,
    stacktrace: Option<StacktraceOut<'a>>,
    contexts: &'a Contexts,
    breadcrumbs: &'a [Breadcrumb],
    request: Option<&'a Request>,
    fingerprint: Option<&'a [String]>,
    message_template: Option<&'a str>,
    extra: &'a serde_json::Map<String, serde_json::Value>,
    /// Set when the primary stack's frames leave to the `frame_*` columns what those hold
    /// ([`FrameFields::BesideColumns`]); rows written before this carry whole frames.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    frames_in_columns: bool,
}

/// The key that marks `details` whose primary frames are completed from the columns.
const FRAMES_IN_COLUMNS: &str = "frames_in_columns";

/// Which of a frame's fields `details` holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FrameFields {
    /// Every field the frame has.
    All,
    /// Only what the `frame_*` columns do not give back exactly: the primary stack's module,
    /// function, file name, line and in-app flag are already stored there, and were about half
    /// of `details` (and `details` most of an event's bytes, which the engines pay for at
    /// ingest).
    BesideColumns,
}

/// A frame as the `frame_*` columns hold it: the one definition both writing and reading use.
struct FrameColumns<'a> {
    module: &'a str,
    function: &'a str,
    filename: &'a str,
    lineno: u32,
    in_app: u8,
}

impl<'a> FrameColumns<'a> {
    fn of(frame: &'a Frame) -> FrameColumns<'a> {
        FrameColumns {
            module: frame
                .module
                .as_deref()
                .or(frame.package.as_deref())
                .unwrap_or_default(),
            function: frame.function.as_deref().unwrap_or_default(),
            filename: frame
                .filename
                .as_deref()
                .or(frame.abs_path.as_deref())
                .unwrap_or_default(),
            lineno: frame.lineno.unwrap_or(0),
            in_app: u8::from(frame.in_app == Some(true)),
        }
    }

    /// What a frame read back from the columns alone has.
    fn restored(&self) -> ColumnFields<'a> {
        let text = |text: &'a str| (!text.is_empty()).then_some(text);
        ColumnFields {
            module: text(self.module),
            function: text(self.function),
            filename: text(self.filename),
            lineno: (self.lineno != 0).then_some(self.lineno),
            in_app: Some(self.in_app == 1),
        }
    }
}

/// The fields of a frame that the columns hold: a frame's own ([`ColumnFields::of`]), or what
/// the columns give back ([`FrameColumns::restored`]).
#[derive(Serialize)]
struct ColumnFields<'a> {
    module: Option<&'a str>,
    function: Option<&'a str>,
    filename: Option<&'a str>,
    lineno: Option<u32>,
    in_app: Option<bool>,
}

impl<'a> ColumnFields<'a> {
    fn of(frame: &'a Frame) -> ColumnFields<'a> {
        ColumnFields {
            module: frame.module.as_deref(),
            function: frame.function.as_deref(),
            filename: frame.filename.as_deref(),
            lineno: frame.lineno,
            in_app: frame.in_app,
        }
    }
}

/// An [`Exception`] without its absent fields; its frames as `frames` says.
struct ExceptionOut<'a>(&'a Exception, FrameFields);

impl Serialize for ExceptionOut<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let ExceptionOut(exception, frames) = *self;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", &exception.ty)?;
        if let Some(value) = &exception.value {
            map.serialize_entry("value", value)?;
        }
        if let Some(module) = &exception.module {
            map.serialize_entry("module", module)?;
        }
        if let Some(mechanism) = &exception.mechanism {
            map.serialize_entry("mechanism", mechanism)?;
        }
        if let Some(stacktrace) = &exception.stacktrace {
            map.serialize_entry("stacktrace", &StacktraceOut(stacktrace, frames))?;
        }
        map.end()
    }
}

/// A [`Stacktrace`] whose frames are written without their absent fields (and, for the
/// primary stack, without what the columns hold).
struct StacktraceOut<'a>(&'a Stacktrace, FrameFields);

impl Serialize for StacktraceOut<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let StacktraceOut(stacktrace, fields) = *self;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("frames", &FramesOut(&stacktrace.frames, fields))?;
        map.end()
    }
}

struct FramesOut<'a>(&'a [Frame], FrameFields);

impl Serialize for FramesOut<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|frame| FrameOut(frame, self.1)))
    }
}

/// A [`Frame`] without its absent fields. Beside the columns, a field the columns give back
/// exactly is left out, and one they would get wrong is written as it is (`null` included):
/// a missing module is `null` when the column holds the package in its place.
struct FrameOut<'a>(&'a Frame, FrameFields);

impl Serialize for FrameOut<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let FrameOut(frame, fields) = *self;
        let mut map = serializer.serialize_map(None)?;
        if fields == FrameFields::BesideColumns {
            let actual = ColumnFields::of(frame);
            let restored = FrameColumns::of(frame).restored();
            if actual.module != restored.module {
                map.serialize_entry("module", &actual.module)?;
            }
            if actual.function != restored.function {
                map.serialize_entry("function", &actual.function)?;
            }
            if actual.filename != restored.filename {
                map.serialize_entry("filename", &actual.filename)?;
            }
            if actual.lineno != restored.lineno {
                map.serialize_entry("lineno", &actual.lineno)?;
            }
            if actual.in_app != restored.in_app {
                map.serialize_entry("in_app", &actual.in_app)?;
            }
        } else {
            let texts = [
                ("function", &frame.function),
                ("module", &frame.module),
                ("filename", &frame.filename),
            ];
            for (key, text) in texts {
                if let Some(text) = text {
                    map.serialize_entry(key, text)?;
                }
            }
            if let Some(lineno) = frame.lineno {
                map.serialize_entry("lineno", &lineno)?;
            }
            if let Some(in_app) = frame.in_app {
                map.serialize_entry("in_app", &in_app)?;
            }
        }
        for (key, text) in [("package", &frame.package), ("abs_path", &frame.abs_path)] {
            if let Some(text) = text {
                map.serialize_entry(key, text)?;
            }
        }
        if let Some(colno) = frame.colno {
            map.serialize_entry("colno", &colno)?;
        }
        if let Some(context_line) = &frame.context_line {
            map.serialize_entry("context_line", context_line)?;
        }
        if !frame.pre_context.is_empty() {
            map.serialize_entry("pre_context", &frame.pre_context)?;
        }
        if !frame.post_context.is_empty() {
            map.serialize_entry("post_context", &frame.post_context)?;
        }
        if let Some(address) = &frame.instruction_addr {
            map.serialize_entry("instruction_addr", address)?;
        }
        if let Some(platform) = &frame.platform {
            map.serialize_entry("platform", platform)?;
        }
        map.end()
    }
}

/// A stored row that cannot be turned back into an event.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("event {event_id}: invalid details JSON: {message}")]
    Details { event_id: String, message: String },
    #[error("invalid event id {0:?}")]
    EventId(String),
}

/// The stored form of a grouping explanation (the `grouping_explanation` column).
pub fn explanation_json(explanation: &stackhouse_grouping::Explanation) -> String {
    serde_json::to_string(explanation).unwrap_or_else(|_| "{}".to_owned())
}

impl EventRecord {
    /// About how many bytes of memory the record holds (its struct, text and lists): what
    /// the batch writer's byte bounds count.
    pub fn memory_bytes(&self) -> usize {
        let texts = [
            &self.event_id,
            &self.grouping_version,
            &self.grouping_explanation,
            &self.title,
            &self.culprit,
            &self.platform,
            &self.level,
            &self.logger,
            &self.environment,
            &self.release,
            &self.dist,
            &self.server_name,
            &self.transaction,
            &self.message,
            &self.user_key,
            &self.user_id,
            &self.user_email,
            &self.user_ip,
            &self.user_username,
            &self.request_method,
            &self.request_url,
            &self.trace_id,
            &self.span_id,
            &self.sdk_name,
            &self.sdk_version,
            &self.details,
        ];
        let lists = [
            &self.exception_types,
            &self.exception_values,
            &self.frame_modules,
            &self.frame_functions,
            &self.frame_filenames,
            &self.tag_keys,
            &self.tag_values,
        ];
        std::mem::size_of::<Self>()
            + texts.iter().map(|text| text.len()).sum::<usize>()
            + lists
                .iter()
                .map(|list| list.text_len() + list.len() * std::mem::size_of::<usize>())
                .sum::<usize>()
            + self.frame_linenos.len() * std::mem::size_of::<u32>()
            + self.frame_in_app.len()
    }

    /// Flattens an event for storage.
    pub fn from_event(
        project_id: u64,
        event: &ErrorEvent,
        received: DateTime<Utc>,
        fingerprint: &stackhouse_grouping::Fingerprint,
    ) -> EventRecord {
        let explanation_json = explanation_json(&fingerprint.explanation);
        Self::with_explanation_json(project_id, event, received, fingerprint, explanation_json)
    }

    /// [`EventRecord::from_event`] with the JSON of the fingerprint's explanation already made
    /// (by the pipeline, which reuses it across the events of a fingerprint).
    pub fn with_explanation_json(
        project_id: u64,
        event: &ErrorEvent,
        received: DateTime<Utc>,
        fingerprint: &stackhouse_grouping::Fingerprint,
        explanation_json: String,
    ) -> EventRecord {
        let primary = event.primary_stacktrace();
        let frames = primary
            .map(|stacktrace| stacktrace.frames.as_slice())
            .unwrap_or_default();
        // The primary stack's frames are written beside their columns; any other stack whole.
        let fields_of = |stacktrace: &Stacktrace| {
            if primary.is_some_and(|primary| std::ptr::eq(primary, stacktrace)) {
                FrameFields::BesideColumns
            } else {
                FrameFields::All
            }
        };
        let user = event.user.clone().unwrap_or_default();
        let request = event.request.as_ref();
        let details = DetailsOut {
            exceptions: event
                .exceptions
                .iter()
                .map(|exception| {
                    let fields = exception
                        .stacktrace
                        .as_ref()
                        .map_or(FrameFields::All, fields_of);
                    ExceptionOut(exception, fields)
                })
                .collect(),
            stacktrace: event
                .stacktrace
                .as_ref()
                .map(|stacktrace| StacktraceOut(stacktrace, fields_of(stacktrace))),
            contexts: &event.contexts,
            breadcrumbs: &event.breadcrumbs,
            request,
            fingerprint: event.fingerprint.as_deref(),
            message_template: event.message_template.as_deref(),
            extra: &event.extra,
            frames_in_columns: !frames.is_empty(),
        };
        // Room for names of typical length; a longer stack's lists grow once or twice.
        let mut frame_modules = StringList::with_capacity(frames.len(), frames.len() * 24);
        let mut frame_functions = StringList::with_capacity(frames.len(), frames.len() * 24);
        let mut frame_filenames = StringList::with_capacity(frames.len(), frames.len() * 32);
        let mut frame_linenos = Vec::with_capacity(frames.len());
        let mut frame_in_app = Vec::with_capacity(frames.len());
        for columns in frames.iter().map(FrameColumns::of) {
            frame_modules.push(columns.module);
            frame_functions.push(columns.function);
            frame_filenames.push(columns.filename);
            frame_linenos.push(columns.lineno);
            frame_in_app.push(columns.in_app);
        }
        let trace = event.contexts.trace.as_ref();
        EventRecord {
            project_id,
            event_id: event.event_id.simple().to_string(),
            timestamp: event.timestamp,
            received,
            fingerprint: fingerprint.hash,
            grouping_version: fingerprint.version.as_str().to_owned(),
            grouping_explanation: explanation_json,
            title: event.title(),
            culprit: event.culprit(),
            platform: event.platform.clone(),
            level: event.level.as_str().to_owned(),
            logger: event.logger.clone().unwrap_or_default(),
            environment: event.environment.clone().unwrap_or_default(),
            release: event.release.clone().unwrap_or_default(),
            dist: event.dist.clone().unwrap_or_default(),
            server_name: event.server_name.clone().unwrap_or_default(),
            transaction: event.transaction.clone().unwrap_or_default(),
            message: event.message.clone().unwrap_or_default(),
            exception_types: event.exceptions.iter().map(|e| &e.ty).collect(),
            exception_values: event
                .exceptions
                .iter()
                .map(|e| e.value.as_deref().unwrap_or_default())
                .collect(),
            frame_modules,
            frame_functions,
            frame_filenames,
            frame_linenos,
            frame_in_app,
            tag_keys: event.tags.iter().map(|(k, _)| k).collect(),
            tag_values: event.tags.iter().map(|(_, v)| v).collect(),
            user_key: user.key().unwrap_or_default(),
            user_id: user.id.unwrap_or_default(),
            user_email: user.email.unwrap_or_default(),
            user_ip: user.ip_address.unwrap_or_default(),
            user_username: user.username.unwrap_or_default(),
            request_method: request.and_then(|r| r.method.clone()).unwrap_or_default(),
            request_url: request.and_then(|r| r.url.clone()).unwrap_or_default(),
            trace_id: trace.map(|t| t.trace_id.clone()).unwrap_or_default(),
            span_id: trace.and_then(|t| t.span_id.clone()).unwrap_or_default(),
            sdk_name: event
                .sdk
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            sdk_version: event
                .sdk
                .as_ref()
                .map(|s| s.version.clone())
                .unwrap_or_default(),
            details: serde_json::to_string(&details).unwrap_or_else(|_| "{}".to_owned()),
        }
    }

    /// Rebuilds the event as it was ingested.
    pub fn to_event(&self) -> Result<ErrorEvent, RecordError> {
        let event_id = Uuid::parse_str(&self.event_id)
            .map_err(|_| RecordError::EventId(self.event_id.clone()))?;
        let details = self.read_details().map_err(|error| RecordError::Details {
            event_id: self.event_id.clone(),
            message: error.to_string(),
        })?;
        let mut event = ErrorEvent::new(event_id, self.timestamp);
        event.platform = self.platform.clone();
        event.level = Level::parse(&self.level).unwrap_or_default();
        event.logger = non_empty(&self.logger);
        event.environment = non_empty(&self.environment);
        event.release = non_empty(&self.release);
        event.dist = non_empty(&self.dist);
        event.server_name = non_empty(&self.server_name);
        event.transaction = non_empty(&self.transaction);
        event.message = non_empty(&self.message);
        event.message_template = details.message_template;
        event.exceptions = details.exceptions;
        event.stacktrace = details.stacktrace;
        event.tags = self
            .tag_keys
            .iter()
            .map(str::to_owned)
            .zip(self.tag_values.iter().map(str::to_owned))
            .collect();
        let user = User {
            id: non_empty(&self.user_id),
            email: non_empty(&self.user_email),
            ip_address: non_empty(&self.user_ip),
            username: non_empty(&self.user_username),
        };
        event.user = (user != User::default()).then_some(user);
        event.request = details.request;
        event.contexts = details.contexts;
        event.sdk = (!self.sdk_name.is_empty()).then(|| Sdk {
            name: self.sdk_name.clone(),
            version: self.sdk_version.clone(),
        });
        event.breadcrumbs = details.breadcrumbs;
        event.fingerprint = details.fingerprint;
        event.extra = details.extra;
        Ok(event)
    }
}

impl EventRecord {
    /// `details`, with the primary stack's frames completed from the `frame_*` columns when it
    /// was written beside them.
    fn read_details(&self) -> Result<EventDetails, serde_json::Error> {
        // Rows that carry whole frames (all rows written before the marker) read directly.
        if !self.details.contains(FRAMES_IN_COLUMNS) {
            return serde_json::from_str(&self.details);
        }
        let mut details: serde_json::Value = serde_json::from_str(&self.details)?;
        if details.get(FRAMES_IN_COLUMNS) == Some(&serde_json::Value::Bool(true)) {
            if let Some(frames) = primary_frames(&mut details) {
                for (index, frame) in frames.iter_mut().enumerate() {
                    let Some(frame) = frame.as_object_mut() else {
                        continue;
                    };
                    let Some(columns) = self.frame_columns(index) else {
                        break;
                    };
                    let serde_json::Value::Object(restored) =
                        serde_json::to_value(columns.restored())?
                    else {
                        continue;
                    };
                    for (key, value) in restored {
                        frame.entry(key).or_insert(value);
                    }
                }
            }
        }
        serde_json::from_value(details)
    }

    /// The `frame_*` columns of the primary stack's frame at `index`, if the row has it.
    fn frame_columns(&self, index: usize) -> Option<FrameColumns<'_>> {
        Some(FrameColumns {
            module: self.frame_modules.get(index)?,
            function: self.frame_functions.get(index)?,
            filename: self.frame_filenames.get(index)?,
            lineno: *self.frame_linenos.get(index)?,
            in_app: *self.frame_in_app.get(index)?,
        })
    }
}

/// The primary stack's frames in `details` JSON, chosen as [`ErrorEvent::primary_stacktrace`]
/// chooses: the innermost exception with frames, else the event's own stack.
fn primary_frames(details: &mut serde_json::Value) -> Option<&mut Vec<serde_json::Value>> {
    fn frames_of(stacktrace: &serde_json::Value) -> Option<&Vec<serde_json::Value>> {
        stacktrace.get("frames")?.as_array()
    }
    let exception_index = details
        .get("exceptions")
        .and_then(|exceptions| exceptions.as_array())
        .and_then(|exceptions| {
            exceptions.iter().rposition(|exception| {
                exception
                    .get("stacktrace")
                    .and_then(frames_of)
                    .is_some_and(|frames| !frames.is_empty())
            })
        });
    let stacktrace = match exception_index {
        Some(index) => details
            .get_mut("exceptions")?
            .get_mut(index)?
            .get_mut("stacktrace")?,
        None => details.get_mut("stacktrace")?,
    };
    stacktrace.get_mut("frames")?.as_array_mut()
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackhouse_protocol::TraceContext;

    #[test]
    fn record_round_trips_the_event() {
        let mut event = ErrorEvent::new(Uuid::new_v4(), DateTime::<Utc>::UNIX_EPOCH);
        event.platform = "python".into();
        event.environment = Some("prod".into());
        event.release = Some("1.0".into());
        event.tags = vec![("browser".into(), "Firefox".into())];
        event.user = Some(User {
            id: Some("7".into()),
            ..User::default()
        });
        event.contexts.trace = Some(TraceContext {
            trace_id: "0123456789abcdef0123456789abcdef".into(),
            span_id: Some("0123456789abcdef".into()),
            ..TraceContext::default()
        });
        event.exceptions.push(Exception {
            ty: "ValueError".into(),
            value: Some("bad".into()),
            stacktrace: Some(Stacktrace {
                frames: vec![Frame {
                    module: Some("app".into()),
                    function: Some("run".into()),
                    lineno: Some(3),
                    in_app: Some(true),
                    ..Frame::default()
                }],
            }),
            ..Exception::default()
        });
        let fingerprint = stackhouse_grouping::fingerprint_event(&event, &Default::default());
        let record = EventRecord::from_event(1, &event, DateTime::<Utc>::UNIX_EPOCH, &fingerprint);
        assert_eq!(record.frame_functions, vec!["run"]);
        assert_eq!(record.user_key, "id:7");
        assert_eq!(record.title, "ValueError: bad");
        let back = record.to_event().expect("round trip");
        assert_eq!(back, event);
    }

    fn event_with_a_full_frame() -> ErrorEvent {
        let mut event = ErrorEvent::new(Uuid::new_v4(), DateTime::<Utc>::UNIX_EPOCH);
        event.platform = "python".into();
        event.fingerprint = Some(vec!["{{ default }}".into(), "checkout".into()]);
        event.message_template = Some("order %s failed".into());
        let full = Frame {
            function: Some("charge".into()),
            module: Some("shop.pay".into()),
            package: Some("shop".into()),
            filename: Some("shop/pay.py".into()),
            abs_path: Some("/srv/shop/pay.py".into()),
            lineno: Some(41),
            colno: Some(7),
            in_app: Some(true),
            context_line: Some("    raise PaymentError(order)".into()),
            pre_context: vec!["def charge(order):".into()],
            post_context: vec!["".into()],
            instruction_addr: Some("0x1f".into()),
            platform: Some("python".into()),
        };
        let bare = Frame {
            function: Some("main".into()),
            ..Frame::default()
        };
        event.exceptions.push(Exception {
            ty: "PaymentError".into(),
            value: None,
            module: Some("shop.errors".into()),
            mechanism: Some(stackhouse_protocol::Mechanism {
                ty: "django".into(),
                handled: Some(false),
                ..Default::default()
            }),
            stacktrace: Some(Stacktrace {
                frames: vec![bare.clone(), full],
            }),
        });
        event.stacktrace = Some(Stacktrace { frames: vec![bare] });
        event
    }

    #[test]
    fn details_leave_absent_frame_fields_out_and_read_back_the_same() {
        let event = event_with_a_full_frame();
        let fingerprint = stackhouse_grouping::fingerprint_event(&event, &Default::default());
        let record = EventRecord::from_event(1, &event, DateTime::<Utc>::UNIX_EPOCH, &fingerprint);
        // Frames and exceptions carry only what they have (the other parts are written as before).
        for absent in [r#""colno":null"#, r#""value":null"#, r#""pre_context":[]"#] {
            assert!(!record.details.contains(absent), "{}", record.details);
        }
        assert!(
            record.details.contains(r#"{"function":"main"}"#),
            "{}",
            record.details
        );
        assert_eq!(record.to_event().expect("round trip"), event);
    }

    #[test]
    fn details_written_with_every_field_still_read() {
        // Rows stored before details left absent fields out carry them as nulls and [].
        let event = event_with_a_full_frame();
        let fingerprint = stackhouse_grouping::fingerprint_event(&event, &Default::default());
        let mut record =
            EventRecord::from_event(1, &event, DateTime::<Utc>::UNIX_EPOCH, &fingerprint);
        let full = EventDetails {
            exceptions: event.exceptions.clone(),
            stacktrace: event.stacktrace.clone(),
            contexts: event.contexts.clone(),
            breadcrumbs: event.breadcrumbs.clone(),
            request: event.request.clone(),
            fingerprint: event.fingerprint.clone(),
            message_template: event.message_template.clone(),
            extra: event.extra.clone(),
        };
        record.details = serde_json::to_string(&full).expect("serializable");
        assert!(record.details.contains(r#""colno":null"#));
        assert_eq!(record.to_event().expect("old details"), event);
    }

    fn event_with_primary_frames(frames: Vec<Frame>) -> ErrorEvent {
        let mut event = ErrorEvent::new(Uuid::new_v4(), DateTime::<Utc>::UNIX_EPOCH);
        event.platform = "python".into();
        // The outer exception's stack is not the primary one and stays whole.
        event.exceptions.push(Exception {
            ty: "KeyError".into(),
            stacktrace: Some(Stacktrace {
                frames: vec![Frame {
                    module: Some("outer".into()),
                    function: Some("wrap".into()),
                    ..Frame::default()
                }],
            }),
            ..Exception::default()
        });
        event.exceptions.push(Exception {
            ty: "ValueError".into(),
            stacktrace: Some(Stacktrace { frames }),
            ..Exception::default()
        });
        event
    }

    fn record_of(event: &ErrorEvent) -> EventRecord {
        let fingerprint = stackhouse_grouping::fingerprint_event(event, &Default::default());
        EventRecord::from_event(1, event, DateTime::<Utc>::UNIX_EPOCH, &fingerprint)
    }

    #[test]
    fn primary_frames_leave_what_the_columns_hold_to_them() {
        let frame = Frame {
            module: Some("shop.pay".into()),
            function: Some("charge".into()),
            filename: Some("shop/pay.py".into()),
            abs_path: Some("/srv/shop/pay.py".into()),
            lineno: Some(41),
            in_app: Some(true),
            context_line: Some("    raise PaymentError(order)".into()),
            ..Frame::default()
        };
        let event = event_with_primary_frames(vec![frame.clone(), frame]);
        let record = record_of(&event);
        assert_eq!(record.frame_modules, vec!["shop.pay", "shop.pay"]);
        let details: serde_json::Value =
            serde_json::from_str(&record.details).expect("details JSON");
        assert_eq!(details["frames_in_columns"], true);
        let primary = &details["exceptions"][1]["stacktrace"]["frames"][0];
        assert_eq!(
            primary,
            &serde_json::json!({
                "abs_path": "/srv/shop/pay.py",
                "context_line": "    raise PaymentError(order)",
            })
        );
        // The other exception's frame is whole.
        assert_eq!(
            details["exceptions"][0]["stacktrace"]["frames"][0],
            serde_json::json!({"module": "outer", "function": "wrap"})
        );
        assert_eq!(record.to_event().expect("round trip"), event);
    }

    #[test]
    fn primary_frames_keep_what_the_columns_would_read_back_wrong() {
        let frames = vec![
            // The module column holds the package when there is no module.
            Frame {
                package: Some("libshop.so".into()),
                function: Some("".into()),
                lineno: Some(0),
                ..Frame::default()
            },
            // The file name column holds abs_path when there is no file name.
            Frame {
                abs_path: Some("/srv/a.py".into()),
                in_app: Some(false),
                module: Some("".into()),
                ..Frame::default()
            },
            Frame::default(),
        ];
        let event = event_with_primary_frames(frames);
        let record = record_of(&event);
        let details: serde_json::Value =
            serde_json::from_str(&record.details).expect("details JSON");
        let frames = &details["exceptions"][1]["stacktrace"]["frames"];
        assert_eq!(
            frames[0],
            serde_json::json!({"module": null, "function": "", "lineno": 0, "in_app": null, "package": "libshop.so"})
        );
        assert_eq!(
            frames[1],
            serde_json::json!({"module": "", "filename": null, "abs_path": "/srv/a.py"})
        );
        assert_eq!(frames[2], serde_json::json!({"in_app": null}));
        assert_eq!(record.to_event().expect("round trip"), event);
    }

    #[test]
    fn event_stack_is_primary_without_exception_frames() {
        let mut event = ErrorEvent::new(Uuid::new_v4(), DateTime::<Utc>::UNIX_EPOCH);
        event.message = Some("log line".into());
        event.exceptions.push(Exception {
            ty: "Empty".into(),
            stacktrace: Some(Stacktrace { frames: vec![] }),
            ..Exception::default()
        });
        event.stacktrace = Some(Stacktrace {
            frames: vec![Frame {
                module: Some("worker".into()),
                function: Some("tick".into()),
                in_app: Some(true),
                ..Frame::default()
            }],
        });
        let record = record_of(&event);
        assert!(
            record.details.contains(r#""stacktrace":{"frames":[{}]}"#),
            "{}",
            record.details
        );
        assert_eq!(record.to_event().expect("round trip"), event);
    }

    fn text() -> impl proptest::strategy::Strategy<Value = Option<String>> {
        proptest::option::of(proptest::string::string_regex("[a-z/.]{0,3}").expect("regex"))
    }

    fn frame() -> impl proptest::strategy::Strategy<Value = Frame> {
        use proptest::prelude::*;
        (
            (text(), text(), text(), text(), text()),
            proptest::option::of(0u32..3),
            proptest::option::of(any::<bool>()),
            text(),
        )
            .prop_map(
                |(
                    (function, module, package, filename, abs_path),
                    lineno,
                    in_app,
                    context_line,
                )| {
                    Frame {
                        function,
                        module,
                        package,
                        filename,
                        abs_path,
                        lineno,
                        in_app,
                        context_line,
                        ..Frame::default()
                    }
                },
            )
    }

    proptest::proptest! {
        #[test]
        fn any_frames_read_back_the_same(
            primary in proptest::collection::vec(frame(), 0..6),
            own in proptest::collection::vec(frame(), 0..3),
        ) {
            let mut event = event_with_primary_frames(primary);
            event.stacktrace = Some(Stacktrace { frames: own });
            let record = record_of(&event);
            proptest::prop_assert_eq!(record.to_event().expect("round trip"), event);
        }
    }
}
