//! Engine-neutral records for access control and analyst SQL: API tokens as stored in the
//! `api_tokens` side table, and the uniform result of an analyst query.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// An API token as stored: never the secret itself, only its SHA-256. The newest write of a
/// `token_id` wins (revoking is a new write with `revoked = true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    /// Public identifier (16 hex digits), shown by `token list` and used by `token revoke`.
    pub token_id: String,
    /// Lower-case hex SHA-256 of the whole secret (`sh_...`).
    pub secret_hash: String,
    pub name: String,
    /// The projects the token may read and change; empty = every project.
    pub project_ids: Vec<u64>,
    pub created_at: DateTime<Utc>,
    pub revoked: bool,
}

/// Which SQL dialect an engine's analyst queries are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlDialect {
    /// ClickHouse SQL; the documented tables are mapped onto the raw tables by
    /// [`crate::engine::clickhouse::analyst_table_sql`].
    ClickHouse,
    /// DataFusion's PostgreSQL-like SQL over the embedded engine's registered tables.
    DataFusion,
}

/// Bounds of one analyst query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlLimits {
    /// Rows returned at most; more rows set [`SqlResult::truncated`].
    pub max_rows: usize,
    /// Longest the query may run, in seconds.
    pub timeout_secs: u64,
    /// Threads the query may use (ClickHouse's `max_threads`); `None`: the server's default.
    /// The embedded engine runs every query on its one shared runtime and ignores it.
    pub max_threads: Option<u64>,
    /// Whether the query waits until every batch this instance acknowledged is readable
    /// ([`super::Engine::caught_up`]). Alert evaluation waits once per round instead.
    pub read_own_writes: bool,
}

/// A column of an analyst query result, with the engine's own type name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SqlColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

/// The result of an analyst query, the same shape on both engines: integers and floats as
/// JSON numbers, text as strings, times as `YYYY-MM-DD HH:MM:SS` (UTC), arrays as arrays.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SqlResult {
    pub columns: Vec<SqlColumn>,
    pub rows: Vec<Vec<serde_json::Value>>,
    /// More rows existed than [`SqlLimits::max_rows`]; only that many are in `rows`.
    pub truncated: bool,
}
