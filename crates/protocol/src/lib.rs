//! Stackhouse's protocol layer: the canonical [`ErrorEvent`] and the pure parsers that turn what
//! clients send into it.
//!
//! Nothing here does I/O or depends on an async runtime or the database, so it compiles and
//! tests fast and can be benchmarked and fuzzed alone.
//!
//! The path of a Sentry request through this crate:
//!
//! 1. [`auth`]: which project key the client presents — [`parse_sentry_auth`] for the
//!    `X-Sentry-Auth` header, [`sentry_key_from_query`] for `?sentry_key=`, [`parse_dsn`] for the
//!    `dsn` of an envelope header.
//! 2. [`envelope`]: an `/envelope/` body is split into its header and items
//!    ([`Envelope::parse`]); good items survive a bad one, framing errors are reported per item.
//! 3. [`sentry`]: an `event` item (or a `/store/` body, or a line of the native JSON endpoint)
//!    becomes an [`ErrorEvent`] ([`parse_event_json`]), tolerant of malformed fields, which are
//!    dropped and listed in [`ParsedEvent::dropped_fields`]. Sizes are bounded here.
//! 4. [`transaction`]: a `transaction` item yields its trace context and spans
//!    ([`parse_transaction_json`]).
//!
//! [`event`] holds the canonical model every later stage (fingerprinting, grouping, storage)
//! works on.

pub mod auth;
pub mod envelope;
pub mod event;
mod json;
mod logentry;
pub mod sentry;
pub mod transaction;

pub use auth::{
    parse_dsn, parse_sentry_auth, sentry_key_from_query, AuthHeaderError, Dsn, DsnError, SentryAuth,
};
pub use envelope::{
    parse_envelope, read_envelope, Envelope, EnvelopeError, EnvelopeHeader, EnvelopeItem,
    EnvelopeItems, ItemType,
};
pub use event::{
    Breadcrumb, Contexts, ErrorEvent, Exception, Frame, Level, Mechanism, NamedVersion, Request,
    Sdk, Stacktrace, TraceContext, User, AUTO_IP_ADDRESS,
};
pub use sentry::{parse_event_json, parse_event_value, EventParseError, FieldIssue, ParsedEvent};
pub use transaction::{
    parse_transaction_json, parse_transaction_value, ParsedTransaction, Span, Transaction,
};
