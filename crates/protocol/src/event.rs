//! The canonical error event: one type that holds what a Sentry event holds, whatever door it came in by.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One error (or message) event, normalized.
///
/// Every ingest path (Sentry `store`/`envelope`, the native JSON endpoint, OTLP exception span
/// events) produces this type; fingerprinting, grouping and storage only ever see this type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// Client-supplied event id, or one generated at ingest when the client sent none.
    pub event_id: Uuid,
    /// When the event happened (client clock), UTC.
    pub timestamp: DateTime<Utc>,
    /// Platform of the SDK that sent it (`python`, `javascript`, `node`, `java`, `go`, `rust`,
    /// `ruby`, `php`, `csharp`, `other`, ...).
    pub platform: String,
    pub level: Level,
    pub logger: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub dist: Option<String>,
    pub server_name: Option<String>,
    /// The transaction (route / task name) active when the error happened.
    pub transaction: Option<String>,
    /// The formatted message (`logentry.formatted`, else `logentry.message` with params applied,
    /// else `message`).
    pub message: Option<String>,
    /// The message template before parameters were applied (`logentry.message` when `params`
    /// were sent), useful for grouping.
    pub message_template: Option<String>,
    /// The exception chain in Sentry order: the root cause first, the outermost exception last.
    pub exceptions: Vec<Exception>,
    /// An event-level stack trace (`stacktrace`, or the crashed/current thread's stack) for
    /// events that have no exception, e.g. `capture_message` with `attach_stacktrace`.
    pub stacktrace: Option<Stacktrace>,
    /// Tags in the order received; keys are unique (last value wins).
    pub tags: Vec<(String, String)>,
    pub user: Option<User>,
    pub request: Option<Request>,
    pub contexts: Contexts,
    pub sdk: Option<Sdk>,
    pub breadcrumbs: Vec<Breadcrumb>,
    /// Client-supplied fingerprint (may contain `{{ default }}`).
    pub fingerprint: Option<Vec<String>>,
    /// Arbitrary extra data, kept as sent.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ErrorEvent {
    /// An event with only the required fields set; parsers fill the rest.
    pub fn new(event_id: Uuid, timestamp: DateTime<Utc>) -> Self {
        ErrorEvent {
            event_id,
            timestamp,
            platform: "other".to_owned(),
            level: Level::Error,
            logger: None,
            environment: None,
            release: None,
            dist: None,
            server_name: None,
            transaction: None,
            message: None,
            message_template: None,
            exceptions: Vec::new(),
            stacktrace: None,
            tags: Vec::new(),
            user: None,
            request: None,
            contexts: Contexts::default(),
            sdk: None,
            breadcrumbs: Vec::new(),
            fingerprint: None,
            extra: serde_json::Map::new(),
        }
    }

    /// The outermost exception (the one that was actually raised), if any.
    pub fn main_exception(&self) -> Option<&Exception> {
        self.exceptions.last()
    }

    /// The stack trace that best describes where the error happened: the outermost exception's
    /// that has frames, else the event-level one.
    pub fn primary_stacktrace(&self) -> Option<&Stacktrace> {
        self.exceptions
            .iter()
            .rev()
            .filter_map(|exception| exception.stacktrace.as_ref())
            .find(|stacktrace| !stacktrace.frames.is_empty())
            .or(self.stacktrace.as_ref())
    }

    /// The issue title, as Sentry shows it: `Type: value` for exceptions, else the first line
    /// of the message, else `<unlabeled event>`.
    pub fn title(&self) -> String {
        if let Some(exception) = self.main_exception() {
            let first_line = exception
                .value
                .as_deref()
                .and_then(|value| value.lines().next())
                .unwrap_or("")
                .trim();
            return if first_line.is_empty() {
                exception.ty.clone()
            } else {
                truncate_chars(
                    &format!("{}: {}", exception.ty, first_line),
                    MAX_TITLE_CHARS,
                )
            };
        }
        match self
            .message
            .as_deref()
            .and_then(|message| message.lines().map(str::trim).find(|line| !line.is_empty()))
        {
            Some(line) => truncate_chars(line, MAX_TITLE_CHARS),
            None => "<unlabeled event>".to_owned(),
        }
    }

    /// Where the error happened: the innermost in-app frame (`module in function`), else the
    /// innermost frame, else the transaction.
    pub fn culprit(&self) -> String {
        let from_frames = self.primary_stacktrace().and_then(|stacktrace| {
            let frames = &stacktrace.frames;
            frames
                .iter()
                .rev()
                .find(|frame| frame.in_app == Some(true))
                .or_else(|| frames.last())
                .map(Frame::location)
        });
        from_frames
            .filter(|location| !location.is_empty())
            .or_else(|| self.transaction.clone())
            .unwrap_or_default()
    }

    /// The value of a tag, if set.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(tag_key, _)| tag_key == key)
            .map(|(_, value)| value.as_str())
    }

    /// Resolves the `{{auto}}` placeholder SDKs put in `user.ip_address` (meaning "the address
    /// the request came from", sent when `send_default_pii` is on): replaced by `client_ip`, or
    /// removed when that is unknown, so it never counts as a user. A user left with no field at
    /// all is removed.
    pub fn resolve_auto_ip_address(&mut self, client_ip: Option<&str>) {
        let Some(user) = self.user.as_mut() else {
            return;
        };
        if user.ip_address.as_deref() != Some(AUTO_IP_ADDRESS) {
            return;
        }
        user.ip_address = client_ip.map(str::to_owned);
        if *user == User::default() {
            self.user = None;
        }
    }
}

/// What SDKs send as `user.ip_address` to ask the server to fill in the client's address.
pub const AUTO_IP_ADDRESS: &str = "{{auto}}";

const MAX_TITLE_CHARS: usize = 200;

fn truncate_chars(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((byte_index, _)) => format!("{}…", &text[..byte_index]),
        None => text.to_owned(),
    }
}

/// Severity, as Sentry defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warning,
    #[default]
    Error,
    Fatal,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// Parses the names SDKs use (`warn` and `critical` included), case-insensitively.
    pub fn parse(text: &str) -> Option<Level> {
        match text.to_ascii_lowercase().as_str() {
            "debug" | "trace" => Some(Level::Debug),
            "info" | "log" | "notice" => Some(Level::Info),
            "warning" | "warn" => Some(Level::Warning),
            "error" | "err" => Some(Level::Error),
            "fatal" | "critical" => Some(Level::Fatal),
            _ => None,
        }
    }
}

/// One exception of a chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Exception {
    /// The exception type (`ValueError`, `TypeError`, `java.lang.NullPointerException`).
    #[serde(rename = "type")]
    pub ty: String,
    pub value: Option<String>,
    pub module: Option<String>,
    pub mechanism: Option<Mechanism>,
    pub stacktrace: Option<Stacktrace>,
}

/// How the exception was captured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Mechanism {
    #[serde(rename = "type")]
    pub ty: String,
    pub handled: Option<bool>,
    pub synthetic: Option<bool>,
    pub description: Option<String>,
}

/// A stack trace in Sentry order: the oldest call first, the frame that raised last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Stacktrace {
    pub frames: Vec<Frame>,
}

/// One stack frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Frame {
    pub function: Option<String>,
    pub module: Option<String>,
    pub package: Option<String>,
    pub filename: Option<String>,
    pub abs_path: Option<String>,
    pub lineno: Option<u32>,
    pub colno: Option<u32>,
    pub in_app: Option<bool>,
    pub context_line: Option<String>,
    // Stored events leave empty lists out (`src/engine/record.rs`), so they may be missing.
    #[serde(default)]
    pub pre_context: Vec<String>,
    #[serde(default)]
    pub post_context: Vec<String>,
    pub instruction_addr: Option<String>,
    /// The frame's own platform when it differs from the event's (mixed stacks).
    pub platform: Option<String>,
}

impl Frame {
    /// `module in function` (or whichever of the two is known), used for culprits.
    pub fn location(&self) -> String {
        let module = self
            .module
            .as_deref()
            .or(self.filename.as_deref())
            .unwrap_or("");
        match (module, self.function.as_deref()) {
            ("", Some(function)) => function.to_owned(),
            (module, Some(function)) => format!("{module} in {function}"),
            (module, None) => module.to_owned(),
        }
    }
}

/// The user the event happened to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct User {
    pub id: Option<String>,
    pub email: Option<String>,
    pub ip_address: Option<String>,
    pub username: Option<String>,
}

impl User {
    /// The stable key used to count distinct users: id, else email, else username, else IP.
    pub fn key(&self) -> Option<String> {
        let (kind, value) = if let Some(id) = &self.id {
            ("id", id)
        } else if let Some(email) = &self.email {
            ("email", email)
        } else if let Some(username) = &self.username {
            ("username", username)
        } else if let Some(ip) = &self.ip_address {
            ("ip", ip)
        } else {
            return None;
        };
        Some(format!("{kind}:{value}"))
    }
}

/// The HTTP request being handled when the error happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Request {
    pub url: Option<String>,
    pub method: Option<String>,
    pub query_string: Option<String>,
    pub headers: Vec<(String, String)>,
}

/// The contexts Stackhouse understands, plus the rest kept as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Contexts {
    pub trace: Option<TraceContext>,
    pub os: Option<NamedVersion>,
    pub browser: Option<NamedVersion>,
    pub runtime: Option<NamedVersion>,
    pub device: Option<NamedVersion>,
    /// Other contexts (`app`, `culture`, custom ones), as sent.
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// The trace the event belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TraceContext {
    /// 32 lowercase hex characters.
    pub trace_id: String,
    /// 16 lowercase hex characters.
    pub span_id: Option<String>,
    pub parent_span_id: Option<String>,
    pub op: Option<String>,
    pub status: Option<String>,
}

/// A `{name, version}` context such as `os`, `browser` or `runtime`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NamedVersion {
    pub name: Option<String>,
    pub version: Option<String>,
}

/// The SDK that sent the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Sdk {
    pub name: String,
    pub version: String,
}

/// One breadcrumb: something that happened before the error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Breadcrumb {
    pub timestamp: Option<DateTime<Utc>>,
    #[serde(rename = "type")]
    pub ty: Option<String>,
    pub category: Option<String>,
    pub level: Option<Level>,
    pub message: Option<String>,
    pub data: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_with_exception(ty: &str, value: Option<&str>) -> ErrorEvent {
        let mut event = ErrorEvent::new(Uuid::nil(), DateTime::<Utc>::UNIX_EPOCH);
        event.exceptions.push(Exception {
            ty: ty.to_owned(),
            value: value.map(str::to_owned),
            ..Exception::default()
        });
        event
    }

    #[test]
    fn title_is_type_and_first_line_of_value() {
        let event = event_with_exception("ValueError", Some("bad input\nsecond line"));
        assert_eq!(event.title(), "ValueError: bad input");
        let event = event_with_exception("KeyError", None);
        assert_eq!(event.title(), "KeyError");
    }

    #[test]
    fn title_falls_back_to_message_then_placeholder() {
        let mut event = ErrorEvent::new(Uuid::nil(), DateTime::<Utc>::UNIX_EPOCH);
        assert_eq!(event.title(), "<unlabeled event>");
        event.message = Some("\n  disk almost full  \nmore".to_owned());
        assert_eq!(event.title(), "disk almost full");
    }

    #[test]
    fn culprit_prefers_innermost_in_app_frame() {
        let mut event = event_with_exception("E", None);
        event.exceptions[0].stacktrace = Some(Stacktrace {
            frames: vec![
                Frame {
                    module: Some("app.views".into()),
                    function: Some("handle".into()),
                    in_app: Some(true),
                    ..Frame::default()
                },
                Frame {
                    module: Some("django.core".into()),
                    function: Some("dispatch".into()),
                    in_app: Some(false),
                    ..Frame::default()
                },
            ],
        });
        assert_eq!(event.culprit(), "app.views in handle");
    }

    #[test]
    fn auto_ip_address_is_resolved_or_removed() {
        let mut event = ErrorEvent::new(Uuid::nil(), DateTime::<Utc>::UNIX_EPOCH);
        event.user = Some(User {
            id: Some("7".into()),
            ip_address: Some(AUTO_IP_ADDRESS.into()),
            ..User::default()
        });
        event.resolve_auto_ip_address(Some("203.0.113.9"));
        let user = event.user.as_ref().unwrap_or_else(|| unreachable!());
        assert_eq!(user.ip_address.as_deref(), Some("203.0.113.9"));

        event.user = Some(User {
            ip_address: Some(AUTO_IP_ADDRESS.into()),
            ..User::default()
        });
        event.resolve_auto_ip_address(None);
        assert_eq!(event.user, None);
    }

    #[test]
    fn user_key_prefers_id() {
        let user = User {
            id: Some("42".into()),
            email: Some("a@b.c".into()),
            ..User::default()
        };
        assert_eq!(user.key().as_deref(), Some("id:42"));
        assert_eq!(User::default().key(), None);
    }
}
