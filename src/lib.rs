//! # Stackhouse
//!
//! An error tracker built as a columnar analytics engine. This crate is the server; the pure
//! logic lives in two crates of its own: `stackhouse-protocol` (the canonical event and its
//! parsers) and `stackhouse-grouping` (fingerprints and grouping).
//!
//! ## The path of an event through the system
//!
//! 1. **Ingest** ([`ingest`]): an HTTP door (the native JSON/NDJSON endpoint, the Sentry
//!    `envelope`/`store` endpoints, OTLP/HTTP traces) authenticates the DSN key against the project
//!    ([`projects`]), reads the body within limits, decompresses it without expanding bombs
//!    ([`ingest::body`]) and admits the events under the project's rate limit ([`ratelimit`]).
//! 2. **Normalize** (`stackhouse_protocol::sentry`): each event is parsed on its own into one
//!    canonical `ErrorEvent`; a malformed field is dropped and reported, a malformed event is
//!    rejected with its line number, and the rest of the request goes on.
//! 3. **Fingerprint** (`stackhouse_grouping`): a versioned algorithm hashes the normalized
//!    components and records which ones contributed, and why others were ignored.
//! 4. **Group** ([`group`]): the fingerprint's issue is looked up in memory; an unknown
//!    fingerprint opens a new issue.
//! 5. **Lifecycle** ([`tracker`], rules in [`lifecycle`]): the status is checked in
//!    memory; a resolved issue regresses, an ignored one whose condition is met reopens, and
//!    the transition joins the batch.
//! 6. **Batch writer** ([`writer`]): a bounded queue gathers events from many requests into
//!    large batches; a request is answered only once its batch is durable, and a full queue
//!    answers 503 instead of growing. [`pipeline`] chains steps 3-6.
//! 7. **Engine** ([`engine`]): raw events column-wise, per-fingerprint minute/hour aggregates
//!    (materialized views on ClickHouse), and small versioned side tables (projects, keys,
//!    issues, fingerprint→issue mapping, lifecycle). Durable means in the embedded engine's
//!    write-ahead log, or on ClickHouse in the local spool that ships batches in large inserts
//!    (`engine/clickhouse/spool.rs`; reads wait until what was acknowledged is shipped).
//! 8. **Query** ([`graphql`]): the GraphQL API reads issues with their aggregates and events;
//!    analysts run read-only SQL over the documented tables ([`sql`]). Both need an API token
//!    ([`tokens`]) whose projects bound what they see ([`access`]). Spans (from OTLP and Sentry
//!    transactions) are stored beside events and connected to them by [`traces`]: a trace's
//!    waterfall, an issue's impact on latency, the service map.
//!
//! 9. **Alert** ([`alerting`]): a scheduler evaluates SQL threshold and built-in issue rules
//!    over the same tables on their intervals, keeps each rule's state in the engine, and
//!    delivers webhook notifications from a persisted queue with retries.
//!
//! [`config`] is the one typed configuration; [`error`] is the one place errors become HTTP
//! responses; [`server`] wires it all together.

pub mod access;
pub mod alerting;
pub mod config;
pub mod dashboard;
pub mod engine;
pub mod error;
pub mod graphql;
pub mod group;
pub mod ingest;
pub mod lifecycle;
pub mod pipeline;
pub mod projects;
pub mod ratelimit;
pub mod regroup;
pub mod server;
pub mod sql;
pub mod tokens;
pub mod traces;
pub mod tracker;
pub mod writer;
