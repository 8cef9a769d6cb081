//! Stackhouse's protocol layer: the canonical [`ErrorEvent`] and the pure parsers that turn what
//! clients send into it.
//!
//! Nothing here does I/O or depends on an async runtime or the database, so it compiles and
//! tests fast and can be benchmarked and fuzzed alone.
//!
//! - [`event`]: the canonical event model.
//! - [`sentry`]: Sentry event JSON (as sent by every Sentry SDK, and the native JSON format
//!   of `POST /api/{project_id}/events`) → [`ErrorEvent`], tolerant of malformed fields.

pub mod event;
mod logentry;
pub mod sentry;

pub use event::{
    Breadcrumb, Contexts, ErrorEvent, Exception, Frame, Level, Mechanism, NamedVersion, Request,
    Sdk, Stacktrace, TraceContext, User,
};
pub use sentry::{parse_event_json, parse_event_value, EventParseError, FieldIssue, ParsedEvent};
