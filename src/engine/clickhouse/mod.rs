//! The ClickHouse engine: raw events in MergeTree, per-fingerprint aggregates fed by
//! materialized views, versioned side tables; spoken to over HTTP with RowBinary.
//!
//! Every statement must run on ClickHouse 18.16 (what CI runs) and on current releases (what
//! users run): see DESIGN.md. Set `STACKHOUSE_RECORD_QUERIES=/path/file` to append every
//! statement sent (parameters bound) to a file; CI replays that file on a current ClickHouse.

mod alerts;
mod analyst;
mod migrations;
mod ranking;
mod rows;
mod spans;
mod spool;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clickhouse::Client;

pub use analyst::analyst_table_sql;
pub use migrations::{rename_target, statements, Migration, MIGRATIONS};
use rows::{
    from_epoch_seconds, to_epoch_seconds, version_now, EventKeyRow, EventRow, EventRowRef,
    HistoryRow, HourlyRow, IssueAggregateRow, IssueRow, IssueUsersRow, MappingRow, ProjectKeyRow,
    ProjectRow, StateRow, TagCountRow,
};
pub use spool::{
    SpoolSettings, DEFAULT_SHIP_BYTES, DEFAULT_SHIP_INTERVAL, DEFAULT_SPOOL_MAX_BYTES,
};

use super::{
    AlertClaim, AlertDeliveryQuery, AlertDeliveryRecord, AlertEvaluationWrite, AlertEventQuery,
    AlertEventRecord, AlertPruneCounts, AlertRuleRecord, AlertStateRecord, ApiTokenRecord, Engine,
    EngineError, EngineResult, EventFilter, EventRecord, FingerprintCounts, FingerprintMapping,
    FingerprintTotals, HourlyCount, IssueFingerprints, IssueQuery, IssueRecord, IssueSort,
    IssueStatus, IssueSummary, Project, ProjectKey, SpanRange, SpanRecord, SqlDialect, SqlLimits,
    SqlResult, StatusChangeRecord, TagCount, WriteBatch,
};

/// How to reach ClickHouse.
#[derive(Debug, Clone)]
pub struct ClickHouseSettings {
    pub url: String,
    pub database: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// How old this instance's copy of the issue ranking may get before a list request starts
    /// reloading it (see `ranking.rs`): how long another instance's events may take to move
    /// an issue in this instance's list.
    pub ranking_refresh: Duration,
    /// Where batches are made durable before ClickHouse has them (see `spool.rs`); `None`:
    /// a write returns once ClickHouse has stored it.
    pub spool: Option<SpoolSettings>,
}

impl ClickHouseSettings {
    /// Settings for `url` and `database`: the server's default user, the default ranking
    /// refresh ([`DEFAULT_RANKING_REFRESH`]).
    pub fn new(url: impl Into<String>, database: impl Into<String>) -> ClickHouseSettings {
        ClickHouseSettings {
            url: url.into(),
            database: database.into(),
            user: None,
            password: None,
            ranking_refresh: DEFAULT_RANKING_REFRESH,
            spool: None,
        }
    }
}

/// [`ClickHouseSettings::ranking_refresh`] unless configured.
pub const DEFAULT_RANKING_REFRESH: Duration = Duration::from_secs(10);

/// The ClickHouse implementation of [`Engine`].
pub struct ClickHouseEngine {
    settings: ClickHouseSettings,
    connection: Arc<Connection>,
    ranking: Arc<ranking::Ranking>,
    /// Opened, recovered and its shipper started by [`Engine::migrate`], when configured.
    spool: tokio::sync::OnceCell<Arc<spool::Spool>>,
}

impl Drop for ClickHouseEngine {
    fn drop(&mut self) {
        if let Some(spool) = self.spool.get() {
            spool.close();
        }
    }
}

/// What sending a statement takes: the client and the statement recorder. Shared with work
/// that outlives a call (the ranking's background reloads).
pub(super) struct Connection {
    client: Client,
    recorder: Option<Mutex<std::fs::File>>,
}

impl Connection {
    fn record(&self, statement: &str) {
        if let Some(recorder) = &self.recorder {
            if let Ok(mut file) = recorder.lock() {
                // One write(2) per statement: the test servers and the tests append to the same
                // file concurrently, and `writeln!` would split a line into several writes.
                let mut line = statement.split_whitespace().collect::<Vec<_>>().join(" ");
                line.push('\n');
                let _ = file.write_all(line.as_bytes());
            }
        }
    }

    fn query(&self, query: clickhouse::query::Query) -> clickhouse::query::Query {
        self.record(&query.sql_display().to_string());
        // Lists of ids are inlined (`issue_id IN (...)`): the issue list of a project with
        // 100,000 issues sends ~2 MB of them, past the server's default 256 KiB query size.
        query.with_setting("max_query_size", MAX_QUERY_SIZE)
    }

    /// Every row of a query, recorded.
    async fn fetch_all<T>(&self, query: clickhouse::query::Query) -> EngineResult<Vec<T>>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        self.query(query).fetch_all().await.map_err(classify)
    }

    async fn insert_rows<T>(&self, table: &str, rows: &[T]) -> EngineResult<()>
    where
        T: clickhouse::RowOwned + clickhouse::RowWrite,
    {
        self.insert_row_values::<T>(table, rows).await
    }

    /// [`Self::insert_rows`] for row types that borrow their data (`T::Value<'_>` is the row
    /// with the borrow's lifetime).
    async fn insert_row_values<T>(&self, table: &str, rows: &[T::Value<'_>]) -> EngineResult<()>
    where
        T: clickhouse::Row + clickhouse::RowWrite,
    {
        if rows.is_empty() {
            return Ok(());
        }
        self.record(&format!(
            "INSERT INTO {table} ({})",
            T::COLUMN_NAMES.join(", ")
        ));
        let mut insert = self
            .client
            .insert::<T>(table)
            .await
            .map_err(classify)?
            .with_setting("max_compress_block_size", INSERT_COMPRESS_BLOCK_BYTES);
        for row in rows {
            insert.write(row).await.map_err(classify)?;
        }
        insert.end().await.map_err(classify)
    }

    /// Stores a write batch: issues, mappings and transitions first (once an event is visible,
    /// its issue must be too), then the events, which the issue ranking of this instance
    /// learns of as they land.
    async fn insert_batch(
        &self,
        ranking: &ranking::Ranking,
        batch: &WriteBatch,
    ) -> EngineResult<()> {
        let version = version_now();
        let issues: Vec<IssueRow> = batch
            .new_issues
            .iter()
            .map(|issue| IssueRow::from_record(issue, version))
            .collect();
        self.insert_rows("issues", &issues).await?;
        let mappings: Vec<MappingRow> = batch
            .new_mappings
            .iter()
            .map(|mapping| MappingRow::from_record(mapping, version))
            .collect();
        self.insert_rows("issue_fingerprints", &mappings).await?;
        // Transitions too (stored once per version however often they are written), so a
        // retried batch only ever repeats idempotent rows before its events.
        let history: Vec<HistoryRow> = batch
            .status_changes
            .iter()
            .map(HistoryRow::from_record)
            .collect();
        self.insert_rows("issue_history", &history).await?;
        let states: Vec<StateRow> = batch
            .status_changes
            .iter()
            .map(StateRow::from_record)
            .collect();
        self.insert_rows("issue_state", &states).await?;
        let events: Vec<EventRowRef<'_>> = batch.events.iter().map(EventRowRef::from).collect();
        let gate = ranking.write_gate().await;
        self.insert_row_values::<EventRowRef<'_>>(EVENTS_INSERT_TABLE, &events)
            .await?;
        gate.added(&batch.events);
        Ok(())
    }
}

/// The current fingerprint→issue mapping of one project, as a subquery yielding
/// `(fingerprint, mapped_issue)`. The side table is versioned: argMax picks the newest row per
/// fingerprint whether or not ReplacingMergeTree has merged yet.
const CURRENT_MAPPING: &str = "SELECT fingerprint, argMax(issue_id, version) AS mapped_issue \
     FROM issue_fingerprints WHERE project_id = ? GROUP BY fingerprint";

/// The current mapping of the fingerprints of some issues of a project (`issue_set`, an
/// [`id_set`]), as `(fingerprint, mapped_issue)` rows. Only fingerprints ever mapped to one of
/// them are looked at, so its cost follows those issues, not the project: 18.16 does not push
/// a filter on `mapped_issue` down into [`CURRENT_MAPPING`]. Binds: project, project.
fn current_mapping_of(issue_set: &str) -> String {
    format!(
        "SELECT fingerprint, argMax(issue_id, version) AS mapped_issue \
         FROM issue_fingerprints \
         WHERE project_id = ? AND fingerprint IN ( \
           SELECT fingerprint FROM issue_fingerprints WHERE project_id = ? AND issue_id IN {issue_set}) \
         GROUP BY fingerprint HAVING mapped_issue IN {issue_set}"
    )
}

/// `fingerprint IN (...)` for the fingerprints currently mapped to one issue. Binds: project,
/// project.
fn fingerprints_of_issue(issue_id: u64) -> String {
    format!(
        "fingerprint IN (SELECT fingerprint FROM ({}) AS mapped)",
        current_mapping_of(&id_set(&[issue_id]))
    )
}

/// All-time aggregates per issue of one project (of the issues in `issue_set` when given),
/// joined with its current status, from `fingerprint_total`. Binds: project (aggregates),
/// [project (the issue set's fingerprints)], project (mapping), [project (mapping of the
/// set)], project (status), status twice (`''` for any), limit, offset.
fn issue_aggregates_sql(order_by: &str, issue_set: Option<&str>) -> String {
    let (fingerprint_filter, mapping, state_filter) = match issue_set {
        Some(set) => (
            format!(
                "AND fingerprint IN (SELECT fingerprint FROM issue_fingerprints \
                 WHERE project_id = ? AND issue_id IN {set})"
            ),
            current_mapping_of(set),
            format!("AND issue_id IN {set}"),
        ),
        None => (String::new(), CURRENT_MAPPING.to_owned(), String::new()),
    };
    format!(
        "SELECT issue_id, events, users, first_seen, last_seen, \
                if(current_status = '', 'new', current_status) AS status FROM ( \
           SELECT mapped_issue AS issue_id, sum(fingerprint_events) AS events, \
                  uniqIfMerge(users_state) AS users, min(fingerprint_first_seen) AS first_seen, \
                  max(fingerprint_last_seen) AS last_seen \
           FROM ( \
             SELECT fingerprint, countMerge(events_state) AS fingerprint_events, \
                    minMerge(first_seen_state) AS fingerprint_first_seen, \
                    maxMerge(last_seen_state) AS fingerprint_last_seen, \
                    uniqIfMergeState(users_state) AS users_state \
             FROM fingerprint_total WHERE project_id = ? {fingerprint_filter} GROUP BY fingerprint \
           ) AS totals ANY INNER JOIN ({mapping}) AS current_mapping USING fingerprint \
           GROUP BY mapped_issue \
         ) AS aggregates ANY LEFT JOIN ( \
           SELECT issue_id, argMax(status, version) AS current_status \
           FROM issue_state WHERE project_id = ? {state_filter} GROUP BY issue_id \
         ) AS current_state USING issue_id \
         WHERE ? = '' OR status = ? \
         ORDER BY {order_by} DESC, issue_id DESC \
         LIMIT ? OFFSET ?"
    )
}

fn order_column(sort: IssueSort) -> &'static str {
    match sort {
        IssueSort::LastSeen => "last_seen",
        IssueSort::FirstSeen => "first_seen",
        IssueSort::Events => "events",
        IssueSort::Users => "users",
    }
}

/// Where new events are inserted. Every read names `events`, a Merge table over this one and
/// the `events_v1` of older installations (migration 0010: parts prunable by arrival time).
const EVENTS_INSERT_TABLE: &str = "events_v2";

/// About how many bytes of events (their size in memory) one insert holds at most, written
/// by the batch writer or shipped from the spool: 32 MiB. Each insert costs ClickHouse a fixed
/// amount of work (write buffers for every column of `events` and of each materialized view),
/// so fewer, larger inserts are cheaper.
const INSERT_MAX_BYTES: usize = 32 << 20;

const EVENT_COLUMNS: &str = "project_id, event_id, timestamp, received, fingerprint, \
    grouping_version, grouping_explanation, title, culprit, platform, level, logger, environment, \
    release, dist, server_name, `transaction`, message, exception_types, exception_values, \
    frame_modules, frame_functions, frame_filenames, frame_linenos, frame_in_app, tag_keys, \
    tag_values, user_key, user_id, user_email, user_ip, user_username, request_method, \
    request_url, trace_id, span_id, sdk_name, sdk_version, details";

/// ClickHouse error codes that mean "try again later" rather than "this can never work".
const TRANSIENT_CODES: &[&str] = &[
    "Code: 159.", // TIMEOUT_EXCEEDED
    "Code: 202.", // TOO_MANY_SIMULTANEOUS_QUERIES
    "Code: 209.", // SOCKET_TIMEOUT
    "Code: 210.", // NETWORK_ERROR
    "Code: 241.", // MEMORY_LIMIT_EXCEEDED
    "Code: 242.", // TABLE_IS_READ_ONLY
    "Code: 252.", // TOO_MANY_PARTS
    "Code: 319.", // UNKNOWN_STATUS_OF_INSERT
];

fn classify(error: clickhouse::error::Error) -> EngineError {
    use clickhouse::error::Error;
    match error {
        Error::Network(_) | Error::TimedOut => EngineError::Unavailable(error.to_string()),
        Error::BadResponse(message) if TRANSIENT_CODES.iter().any(|c| message.contains(c)) => {
            EngineError::Unavailable(message)
        }
        Error::BadResponse(message) => EngineError::Rejected(message),
        other => EngineError::Rejected(other.to_string()),
    }
}

impl ClickHouseEngine {
    /// Where writes go: the spool when it is set up (`None`: straight to ClickHouse).
    fn spool(&self) -> EngineResult<Option<&Arc<spool::Spool>>> {
        match (self.spool.get(), &self.settings.spool) {
            (Some(spool), _) => Ok(Some(spool)),
            (None, None) => Ok(None),
            (None, Some(_)) => Err(EngineError::Rejected(
                "the ClickHouse spool is not open: call migrate first".into(),
            )),
        }
    }

    pub fn new(settings: ClickHouseSettings) -> ClickHouseEngine {
        let client = Self::client_for(&settings).with_database(settings.database.clone());
        let recorder = std::env::var_os("STACKHOUSE_RECORD_QUERIES")
            .map(PathBuf::from)
            .and_then(|path| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .ok()
            })
            .map(Mutex::new);
        let ranking = Arc::new(ranking::Ranking::new(settings.ranking_refresh));
        ClickHouseEngine {
            settings,
            connection: Arc::new(Connection { client, recorder }),
            ranking,
            spool: tokio::sync::OnceCell::new(),
        }
    }

    fn client_for(settings: &ClickHouseSettings) -> Client {
        let mut client = Client::default()
            .with_url(settings.url.clone())
            .with_validation(false);
        if let Some(user) = &settings.user {
            client = client.with_user(user.clone());
        }
        if let Some(password) = &settings.password {
            client = client.with_password(password.clone());
        }
        client
    }

    fn record(&self, statement: &str) {
        self.connection.record(statement);
    }

    /// Opens the spool, ships what a previous run left in it and starts its shipper, once.
    async fn start_spool(&self, settings: &SpoolSettings) -> EngineResult<()> {
        self.spool
            .get_or_try_init(|| async {
                let opened = Arc::new(spool::Spool::open(settings.clone()).await?);
                spool::recover(&opened, &self.connection, &self.ranking).await?;
                tokio::spawn(spool::ship(
                    opened.clone(),
                    self.connection.clone(),
                    self.ranking.clone(),
                ));
                Ok::<_, EngineError>(opened)
            })
            .await?;
        Ok(())
    }

    /// Runs the statements of `migration` (not recording it in `schema_migrations`). Running a
    /// migration again, after a failure part-way, is harmless: see [`rename_target`].
    pub async fn apply_migration(&self, migration: &Migration) -> EngineResult<()> {
        for statement in statements(migration.sql) {
            if let Some(target) = migrations::rename_target(&statement) {
                if self.table_exists(target).await? {
                    continue;
                }
            }
            self.query(self.connection.client.query(&statement))
                .execute()
                .await
                .map_err(|error| match classify(error) {
                    EngineError::Rejected(message) => EngineError::Rejected(format!(
                        "migration {} failed: {message}",
                        migration.name
                    )),
                    other => other,
                })?;
        }
        Ok(())
    }

    /// Whether the database has a table (or view) called `name`.
    async fn table_exists(&self, name: &str) -> EngineResult<bool> {
        let count: u64 = self
            .query(
                self.connection.client.query(
                    "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ?",
                )
                .bind(name),
            )
            .fetch_one()
            .await
            .map_err(classify)?;
        Ok(count > 0)
    }

    fn query(&self, query: clickhouse::query::Query) -> clickhouse::query::Query {
        self.connection.query(query)
    }

    async fn insert_rows<T>(&self, table: &str, rows: &[T]) -> EngineResult<()>
    where
        T: clickhouse::RowOwned + clickhouse::RowWrite,
    {
        self.connection.insert_row_values::<T>(table, rows).await
    }

    async fn fetch_issue_records(
        &self,
        scope: Option<(u64, &[u64])>,
    ) -> EngineResult<Vec<IssueRecord>> {
        let filter = match scope {
            Some((_, [])) => return Ok(Vec::new()),
            Some((_, ids)) => format!("WHERE project_id = ? AND issue_id IN {}", id_set(ids)),
            None => String::new(),
        };
        let sql = format!(
            "SELECT project_id, issue_id, argMax(title, version) AS current_title, \
                    argMax(culprit, version) AS current_culprit, argMax(level, version) AS current_level, \
                    argMax(platform, version) AS current_platform, min(created_at) AS first_created, \
                    max(version) AS latest_version, argMax(features, version) AS current_features \
             FROM issues {filter} GROUP BY project_id, issue_id"
        );
        let mut query = self.connection.client.query(&sql);
        if let Some((project_id, _)) = scope {
            query = query.bind(project_id);
        }
        let rows: Vec<IssueRow> = self.query(query).fetch_all().await.map_err(classify)?;
        Ok(rows.into_iter().map(IssueRow::into_record).collect())
    }

    async fn issue_records_by_id(
        &self,
        project_id: u64,
        issue_ids: &[u64],
    ) -> EngineResult<HashMap<u64, IssueRecord>> {
        Ok(self
            .fetch_issue_records(Some((project_id, issue_ids)))
            .await?
            .into_iter()
            .map(|record| (record.issue_id, record))
            .collect())
    }

    /// Issue summaries from [`issue_aggregates_sql`]: of a project's issues, or of `issues`.
    async fn issue_aggregates(
        &self,
        project_id: u64,
        issues: Option<&[u64]>,
        status: Option<IssueStatus>,
        order_by: &str,
        (limit, offset): (usize, usize),
    ) -> EngineResult<Vec<IssueSummary>> {
        let status = status.map(IssueStatus::as_str).unwrap_or("");
        let issue_set = issues.map(id_set);
        let sql = issue_aggregates_sql(order_by, issue_set.as_deref());
        let mut query = self
            .connection
            .client
            .query(&sql)
            .bind(project_id)
            .bind(project_id);
        if issue_set.is_some() {
            query = query.bind(project_id).bind(project_id);
        }
        let query = self.query(
            query
                .bind(project_id)
                .bind(status)
                .bind(status)
                .bind(limit as u64)
                .bind(offset as u64),
        );
        let aggregates = async {
            query
                .fetch_all::<IssueAggregateRow>()
                .await
                .map_err(classify)
        };
        // The records of a known set of issues are read alongside their aggregates.
        let (aggregates, mut records) = match issues {
            Some(ids) => tokio::try_join!(aggregates, self.issue_records_by_id(project_id, ids))?,
            None => {
                let aggregates = aggregates.await?;
                let ids: Vec<u64> = aggregates.iter().map(|row| row.issue_id).collect();
                let records = self.issue_records_by_id(project_id, &ids).await?;
                (aggregates, records)
            }
        };
        Ok(aggregates
            .into_iter()
            .filter_map(|row| {
                let issue = records.remove(&row.issue_id)?;
                Some(IssueSummary {
                    issue,
                    status: IssueStatus::parse(&row.status).unwrap_or(IssueStatus::New),
                    events: row.events,
                    users: row.users,
                    first_seen: from_epoch_seconds(row.first_seen),
                    last_seen: from_epoch_seconds(row.last_seen),
                })
            })
            .collect())
    }

    /// Event counts per (issue, bucket start) from `fingerprint_hour` or `fingerprint_minute`.
    async fn bucket_counts(
        &self,
        table: &str,
        bucket: &str,
        project_id: u64,
        issue_ids: &[u64],
        (from, to): (DateTime<Utc>, DateTime<Utc>),
    ) -> EngineResult<HashMap<u64, Vec<HourlyCount>>> {
        if issue_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let set = id_set(issue_ids);
        let sql = format!(
            "SELECT mapped_issue AS issue_id, {bucket}, sum(fingerprint_events) AS events FROM ( \
               SELECT fingerprint, {bucket}, countMerge(events_state) AS fingerprint_events \
               FROM {table} \
               WHERE project_id = ? AND {bucket} >= toDateTime(?) AND {bucket} < toDateTime(?) \
                 AND fingerprint IN (SELECT fingerprint FROM issue_fingerprints \
                   WHERE project_id = ? AND issue_id IN {set}) \
               GROUP BY fingerprint, {bucket} \
             ) AS counts ANY INNER JOIN ({}) AS current_mapping USING fingerprint \
             GROUP BY mapped_issue, {bucket} ORDER BY mapped_issue, {bucket}",
            current_mapping_of(&set)
        );
        let rows: Vec<HourlyRow> = self
            .query(
                self.connection
                    .client
                    .query(&sql)
                    .bind(project_id)
                    .bind(to_epoch_seconds(from))
                    .bind(to_epoch_seconds(to))
                    .bind(project_id)
                    .bind(project_id)
                    .bind(project_id),
            )
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(hourly_by_issue(rows))
    }

    /// The fingerprints the stored mapping gives an issue now.
    async fn stored_fingerprints_of(
        &self,
        project_id: u64,
        issue_id: u64,
    ) -> EngineResult<Vec<u64>> {
        let sql = format!(
            "SELECT fingerprint FROM ({}) AS mapped",
            current_mapping_of(&id_set(&[issue_id]))
        );
        self.connection
            .fetch_all(
                self.connection
                    .client
                    .query(&sql)
                    .bind(project_id)
                    .bind(project_id),
            )
            .await
    }

    /// The newest events of some fingerprints, newest first, in two steps: which events
    /// (sorting three narrow columns), then their full rows by primary key. Sorting the full
    /// rows reads every column of every event: at 100 events per issue that is several times
    /// slower.
    async fn newest_events(
        &self,
        project_id: u64,
        fingerprints: &[u64],
        limit: usize,
    ) -> EngineResult<Vec<EventRecord>> {
        if fingerprints.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT fingerprint, timestamp, event_id FROM events \
             WHERE project_id = ? AND fingerprint IN ({}) \
             ORDER BY timestamp DESC, event_id DESC LIMIT ?",
            literal_list(fingerprints)
        );
        let keys: Vec<EventKeyRow> = self
            .connection
            .fetch_all(
                self.connection
                    .client
                    .query(&sql)
                    .bind(project_id)
                    .bind(limit as u64),
            )
            .await?;
        let (Some(newest), Some(oldest)) = (keys.first(), keys.last()) else {
            return Ok(Vec::new());
        };
        let mut fingerprints: Vec<u64> = keys.iter().map(|key| key.fingerprint).collect();
        fingerprints.sort_unstable();
        fingerprints.dedup();
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE project_id = ? AND fingerprint IN ({}) \
             AND timestamp >= toDateTime(?) AND timestamp <= toDateTime(?) AND has(?, event_id)",
            literal_list(&fingerprints)
        );
        let event_ids: Vec<&str> = keys.iter().map(|key| key.event_id.as_str()).collect();
        let mut rows: Vec<EventRow> = self
            .connection
            .fetch_all(
                self.connection
                    .client
                    .query(&sql)
                    .bind(project_id)
                    .bind(oldest.timestamp)
                    .bind(newest.timestamp)
                    .bind(event_ids),
            )
            .await?;
        let wanted: HashSet<(u64, u32, &str)> = keys
            .iter()
            .map(|key| (key.fingerprint, key.timestamp, key.event_id.as_str()))
            .collect();
        rows.retain(|row| {
            wanted.contains(&(row.fingerprint, row.timestamp, row.event_id.as_str()))
        });
        rows.sort_by(|a, b| (b.timestamp, &b.event_id).cmp(&(a.timestamp, &a.event_id)));
        rows.truncate(limit);
        Ok(rows.into_iter().map(EventRecord::from).collect())
    }

    async fn project_of_issue(&self, issue_id: u64) -> EngineResult<Option<u64>> {
        let projects: Vec<u64> = self
            .query(
                self.connection
                    .client
                    .query("SELECT DISTINCT project_id FROM issues WHERE issue_id = ?")
                    .bind(issue_id),
            )
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(projects.first().copied())
    }
}

/// The compression block of the parts an insert writes (ClickHouse's default is 1 MiB). An
/// insert opens a write buffer of this size, compressed and uncompressed, for every column
/// file of `events` and of each materialized view's table: at the default that is about 100 MB
/// of freshly faulted pages per insert, whatever its size, and faulting them was about a third
/// of ClickHouse's CPU under load. Merges rewrite parts with the server's own setting.
const INSERT_COMPRESS_BLOCK_BYTES: &str = "65536";

/// The largest statement the engine sends (its own statements, not analysts' SQL): room for
/// a set of a few million ids.
const MAX_QUERY_SIZE: &str = "67108864";

/// A set of ids for `column IN <set>`. A tuple `(1, 2, ...)` is one syntax-tree node per id,
/// and 50,000 nodes is the server's limit (`max_ast_elements`); an array literal is one node, so
/// the issue list of a project with 100,000 issues fits (with `MAX_QUERY_SIZE`).
/// Hourly rows (in order) as counts per issue.
fn hourly_by_issue(rows: Vec<HourlyRow>) -> HashMap<u64, Vec<HourlyCount>> {
    let mut counts: HashMap<u64, Vec<HourlyCount>> = HashMap::new();
    for row in rows {
        counts.entry(row.issue_id).or_default().push(HourlyCount {
            hour: from_epoch_seconds(row.hour),
            events: row.events,
        });
    }
    counts
}

/// The fingerprints of [`IssueFingerprints`] as statement text: `(list)`, a literal the primary
/// key's index narrows a read to (each fingerprint's rows are a few granules), and
/// `transform(fingerprint, ...)`, which names each one's issue in the statement itself, so
/// nothing joins the stored mapping. Callers pass a map with at least one fingerprint (an
/// empty `IN ()` does not parse).
fn issue_of_fingerprint(issues: &IssueFingerprints) -> (String, String) {
    let (fingerprints, owners): (Vec<String>, Vec<String>) = issues
        .iter()
        .flat_map(|(issue_id, fingerprints)| {
            fingerprints
                .iter()
                .map(move |fingerprint| (fingerprint.to_string(), issue_id.to_string()))
        })
        .unzip();
    let fingerprints = fingerprints.join(", ");
    (
        format!("({fingerprints})"),
        format!(
            "transform(fingerprint, [{fingerprints}], [{}], toUInt64(0))",
            owners.join(", ")
        ),
    )
}

/// `1, 2, 3`: numbers as a literal list, for `IN (...)` and arrays.
fn literal_list(numbers: &[u64]) -> String {
    numbers
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn id_set(ids: &[u64]) -> String {
    format!(
        "(SELECT arrayJoin(CAST([{}] AS Array(UInt64))))",
        literal_list(ids)
    )
}

#[async_trait]
impl Engine for ClickHouseEngine {
    fn name(&self) -> &'static str {
        "clickhouse"
    }

    fn write_batch_bytes(&self) -> usize {
        INSERT_MAX_BYTES
    }

    async fn migrate(&self) -> EngineResult<()> {
        let server = Self::client_for(&self.settings);
        let create_database = format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            quote_identifier(&self.settings.database)
        );
        self.query(server.query(&create_database))
            .execute()
            .await
            .map_err(classify)?;
        self.query(self.connection.client.query(
            "CREATE TABLE IF NOT EXISTS schema_migrations \
             (version UInt32, name String, applied_at DateTime) ENGINE = MergeTree ORDER BY version",
        ))
        .execute()
        .await
        .map_err(classify)?;
        let applied: Vec<u32> = self
            .query(
                self.connection
                    .client
                    .query("SELECT DISTINCT version FROM schema_migrations"),
            )
            .fetch_all()
            .await
            .map_err(classify)?;
        for migration in MIGRATIONS {
            if applied.contains(&migration.version) {
                continue;
            }
            self.apply_migration(migration).await?;
            self.query(
                self.connection.client
                    .query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, now())")
                    .bind(migration.version)
                    .bind(migration.name),
            )
            .execute()
            .await
            .map_err(classify)?;
            tracing::info!(migration = migration.name, "applied migration");
        }
        if let Some(settings) = &self.settings.spool {
            self.start_spool(settings).await?;
        }
        Ok(())
    }

    async fn create_project(&self, name: &str, public_key: &str) -> EngineResult<Project> {
        let max_id: u64 = self
            .query(self.connection.client.query("SELECT max(id) FROM projects"))
            .fetch_one()
            .await
            .map_err(classify)?;
        let now = Utc::now();
        let project = Project {
            id: max_id + 1,
            name: name.to_owned(),
            created_at: from_epoch_seconds(to_epoch_seconds(now)),
        };
        let version = version_now();
        self.insert_rows(
            "projects",
            &[ProjectRow {
                id: project.id,
                name: project.name.clone(),
                created_at: to_epoch_seconds(now),
                version,
            }],
        )
        .await?;
        self.insert_rows(
            "project_keys",
            &[ProjectKeyRow {
                project_id: project.id,
                public_key: public_key.to_owned(),
                active: 1,
                created_at: to_epoch_seconds(now),
                version,
            }],
        )
        .await?;
        Ok(project)
    }

    async fn projects(&self) -> EngineResult<Vec<Project>> {
        let rows: Vec<ProjectRow> = self
            .query(self.connection.client.query(
                "SELECT id, argMax(name, version) AS current_name, min(created_at) AS first_created, \
                        max(version) AS latest_version \
                 FROM projects GROUP BY id ORDER BY id",
            ))
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|row| Project {
                id: row.id,
                name: row.name,
                created_at: from_epoch_seconds(row.created_at),
            })
            .collect())
    }

    async fn project_keys(&self) -> EngineResult<Vec<ProjectKey>> {
        let rows: Vec<ProjectKeyRow> = self
            .query(self.connection.client.query(
                "SELECT project_id, public_key, argMax(active, version) AS current_active, \
                        min(created_at) AS first_created, max(version) AS latest_version \
                 FROM project_keys GROUP BY project_id, public_key",
            ))
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|row| ProjectKey {
                project_id: row.project_id,
                public_key: row.public_key,
                active: row.active == 1,
                created_at: from_epoch_seconds(row.created_at),
            })
            .collect())
    }

    async fn write(&self, batch: &WriteBatch) -> EngineResult<()> {
        match self.spool()? {
            Some(spool) => spool.append(Arc::new(batch.clone())).await,
            None => self.connection.insert_batch(&self.ranking, batch).await,
        }
    }

    async fn write_shared(&self, batch: Arc<WriteBatch>) -> EngineResult<()> {
        match self.spool()? {
            Some(spool) => spool.append(batch).await,
            None => self.connection.insert_batch(&self.ranking, &batch).await,
        }
    }

    async fn caught_up(&self) {
        if let Some(spool) = self.spool.get() {
            spool.caught_up().await;
        }
    }

    async fn fingerprint_mappings(&self) -> EngineResult<Vec<FingerprintMapping>> {
        self.caught_up().await;
        let rows: Vec<MappingRow> = self
            .query(self.connection.client.query(
                "SELECT project_id, fingerprint, argMax(issue_id, version) AS current_issue, \
                        max(updated_at) AS latest_update, max(version) AS latest_version \
                 FROM issue_fingerprints GROUP BY project_id, fingerprint",
            ))
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|row| FingerprintMapping {
                project_id: row.project_id,
                fingerprint: row.fingerprint,
                issue_id: row.issue_id,
                updated_at: from_epoch_seconds(row.updated_at),
            })
            .collect())
    }

    async fn issue_records(&self) -> EngineResult<Vec<IssueRecord>> {
        self.caught_up().await;
        self.fetch_issue_records(None).await
    }

    async fn issues(&self, query: &IssueQuery) -> EngineResult<Vec<IssueSummary>> {
        self.caught_up().await;
        self.issue_aggregates(
            query.project_id,
            None,
            query.status,
            order_column(query.sort),
            (query.limit, query.offset),
        )
        .await
    }

    async fn issue(&self, issue_id: u64) -> EngineResult<Option<IssueSummary>> {
        self.caught_up().await;
        let Some(project_id) = self.project_of_issue(issue_id).await? else {
            return Ok(None);
        };
        Ok(self
            .issue_aggregates(project_id, Some(&[issue_id]), None, "last_seen", (1, 0))
            .await?
            .pop())
    }

    async fn issue_records_of(
        &self,
        project_id: u64,
        issue_ids: &[u64],
    ) -> EngineResult<Vec<IssueRecord>> {
        self.caught_up().await;
        self.fetch_issue_records(Some((project_id, issue_ids)))
            .await
    }

    async fn issue_users(
        &self,
        project_id: u64,
        issues: &IssueFingerprints,
    ) -> EngineResult<HashMap<u64, u64>> {
        self.caught_up().await;
        if issues.values().all(Vec::is_empty) {
            return Ok(HashMap::new());
        }
        let (fingerprints, issue_of) = issue_of_fingerprint(issues);
        let sql = format!(
            "SELECT {issue_of} AS issue_id, uniqIfMerge(users_state) AS users \
             FROM fingerprint_total WHERE project_id = ? AND fingerprint IN {fingerprints} \
             GROUP BY issue_id"
        );
        let rows: Vec<IssueUsersRow> = self
            .connection
            .fetch_all(self.connection.client.query(&sql).bind(project_id))
            .await?;
        Ok(rows
            .into_iter()
            .filter(|row| row.users > 0)
            .map(|row| (row.issue_id, row.users))
            .collect())
    }

    async fn issue_hourly_counts(
        &self,
        project_id: u64,
        issues: &IssueFingerprints,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> EngineResult<HashMap<u64, Vec<HourlyCount>>> {
        self.caught_up().await;
        if issues.values().all(Vec::is_empty) || from >= to {
            return Ok(HashMap::new());
        }
        let (fingerprints, issue_of) = issue_of_fingerprint(issues);
        let sql = format!(
            "SELECT {issue_of} AS issue_id, hour, countMerge(events_state) AS events \
             FROM fingerprint_hour \
             WHERE project_id = ? AND fingerprint IN {fingerprints} \
               AND hour >= toDateTime(?) AND hour < toDateTime(?) \
             GROUP BY issue_id, hour ORDER BY issue_id, hour"
        );
        let rows: Vec<HourlyRow> = self
            .connection
            .fetch_all(
                self.connection
                    .client
                    .query(&sql)
                    .bind(project_id)
                    .bind(to_epoch_seconds(from))
                    .bind(to_epoch_seconds(to)),
            )
            .await?;
        Ok(hourly_by_issue(rows))
    }

    async fn fingerprint_totals(
        &self,
        project_id: u64,
        only: Option<&[u64]>,
    ) -> EngineResult<Vec<FingerprintTotals>> {
        self.caught_up().await;
        self.ranking
            .totals(&self.connection, project_id, |project| {
                let totals = |(fingerprint, totals): (&u64, &ranking::Totals)| FingerprintTotals {
                    fingerprint: *fingerprint,
                    events: totals.events,
                    first_seen: from_epoch_seconds(totals.first_seen),
                    last_seen: from_epoch_seconds(totals.last_seen),
                };
                match only {
                    None => project.fingerprints.iter().map(totals).collect(),
                    Some(only) => only
                        .iter()
                        .filter_map(|fingerprint| project.fingerprints.get_key_value(fingerprint))
                        .map(totals)
                        .collect(),
                }
            })
            .await
    }

    async fn fingerprint_counts(
        &self,
        project_id: u64,
        windows: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> EngineResult<FingerprintCounts> {
        self.caught_up().await;
        if !windows.iter().any(|(from, to)| from < to) {
            return Ok(FingerprintCounts::new(windows.len()));
        }
        let count = windows.len();
        let windows = windows
            .iter()
            .map(|(from, to)| (to_epoch_seconds(*from), to_epoch_seconds(*to)))
            .collect();
        self.ranking
            .window_counts(&self.connection, project_id, windows, |copy| {
                let mut counts = FingerprintCounts::new(count);
                for (fingerprint, events) in &copy.counts {
                    counts.push(*fingerprint, events);
                }
                counts
            })
            .await
    }

    async fn hourly_counts(
        &self,
        project_id: u64,
        issue_ids: &[u64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> EngineResult<HashMap<u64, Vec<HourlyCount>>> {
        self.caught_up().await;
        self.bucket_counts(
            "fingerprint_hour",
            "hour",
            project_id,
            issue_ids,
            (from, to),
        )
        .await
    }

    async fn issue_events(&self, issue_id: u64, limit: usize) -> EngineResult<Vec<EventRecord>> {
        self.caught_up().await;
        let Some(project_id) = self.project_of_issue(issue_id).await? else {
            return Ok(Vec::new());
        };
        let fingerprints = self.stored_fingerprints_of(project_id, issue_id).await?;
        self.newest_events(project_id, &fingerprints, limit).await
    }

    async fn issue_users_since(
        &self,
        project_id: u64,
        issue_id: u64,
        from: DateTime<Utc>,
    ) -> EngineResult<Vec<String>> {
        self.caught_up().await;
        let sql = format!(
            "SELECT DISTINCT user_key FROM events WHERE project_id = ? AND {} \
             AND timestamp >= toDateTime(?) AND user_key != ''",
            fingerprints_of_issue(issue_id)
        );
        self.query(
            self.connection
                .client
                .query(&sql)
                .bind(project_id)
                .bind(project_id)
                .bind(project_id)
                .bind(to_epoch_seconds(from)),
        )
        .fetch_all::<String>()
        .await
        .map_err(classify)
    }

    async fn fingerprint_events(
        &self,
        project_id: u64,
        fingerprints: &[u64],
        limit: usize,
    ) -> EngineResult<Vec<EventRecord>> {
        self.caught_up().await;
        self.newest_events(project_id, fingerprints, limit).await
    }

    async fn issue_states(&self) -> EngineResult<Vec<StatusChangeRecord>> {
        self.caught_up().await;
        let rows: Vec<StateRow> = self
            .query(self.connection.client.query(
                "SELECT project_id, issue_id, argMax(status, version) AS current_status, \
                        argMax(actor, version) AS current_actor, \
                        argMax(comment, version) AS current_comment, \
                        argMax(changed_at, version) AS current_changed_at, \
                        max(version) AS latest_version, \
                        argMax(resolved_in_release, version) AS current_release, \
                        argMax(ignore_condition, version) AS current_condition \
                 FROM issue_state GROUP BY project_id, issue_id",
            ))
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows.into_iter().map(StateRow::into_record).collect())
    }

    async fn issue_history(
        &self,
        project_id: u64,
        issue_id: u64,
    ) -> EngineResult<Vec<StatusChangeRecord>> {
        self.caught_up().await;
        let rows: Vec<HistoryRow> = self
            .query(
                self.connection
                    .client
                    .query(
                        "SELECT project_id, issue_id, from_status, to_status, actor, comment, \
                                changed_at, version, resolved_in_release, ignore_condition \
                         FROM issue_history WHERE project_id = ? AND issue_id = ? \
                         ORDER BY version",
                    )
                    .bind(project_id)
                    .bind(issue_id),
            )
            .fetch_all()
            .await
            .map_err(classify)?;
        let mut history: Vec<StatusChangeRecord> =
            rows.into_iter().map(HistoryRow::into_record).collect();
        history.dedup_by_key(|change| change.version);
        Ok(history)
    }

    async fn event(&self, project_id: u64, event_id: &str) -> EngineResult<Option<EventRecord>> {
        self.caught_up().await;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE project_id = ? AND event_id = ? LIMIT 1"
        );
        let rows: Vec<EventRow> = self
            .query(
                self.connection
                    .client
                    .query(&sql)
                    .bind(project_id)
                    .bind(event_id),
            )
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows.into_iter().next().map(EventRecord::from))
    }

    async fn matching_fingerprints(
        &self,
        project_id: u64,
        filter: &EventFilter,
    ) -> EngineResult<Vec<u64>> {
        self.caught_up().await;
        let environment_only = EventFilter {
            environment: None,
            ..filter.clone()
        }
        .is_empty();
        if let (Some(environment), true) = (&filter.environment, environment_only) {
            // From the ranking's copy of `fingerprint_total`, not from every event.
            return self
                .ranking
                .totals(&self.connection, project_id, |project| {
                    project
                        .environments
                        .get(environment)
                        .map(|fingerprints| fingerprints.iter().copied().collect())
                        .unwrap_or_default()
                })
                .await;
        }
        let mut sql = String::from("SELECT DISTINCT fingerprint FROM events WHERE project_id = ?");
        if filter.environment.is_some() {
            sql.push_str(" AND environment = ?");
        }
        if filter.release.is_some() {
            sql.push_str(" AND release = ?");
        }
        if filter.from.is_some() {
            sql.push_str(" AND timestamp >= toDateTime(?)");
        }
        if filter.to.is_some() {
            sql.push_str(" AND timestamp < toDateTime(?)");
        }
        if filter.search.is_some() {
            sql.push_str(
                " AND (position(lowerUTF8(title), ?) > 0 OR position(lowerUTF8(message), ?) > 0 \
                 OR position(lowerUTF8(culprit), ?) > 0)",
            );
        }
        if filter.tag.is_some() {
            sql.push_str(" AND arrayExists((k, v) -> k = ? AND v = ?, tag_keys, tag_values)");
        }
        let mut query = self.connection.client.query(&sql).bind(project_id);
        if let Some(environment) = &filter.environment {
            query = query.bind(environment.as_str());
        }
        if let Some(release) = &filter.release {
            query = query.bind(release.as_str());
        }
        if let Some(from) = filter.from {
            query = query.bind(to_epoch_seconds(from));
        }
        if let Some(to) = filter.to {
            query = query.bind(to_epoch_seconds(to));
        }
        if let Some(search) = &filter.search {
            let needle = search.to_lowercase();
            query = query
                .bind(needle.as_str())
                .bind(needle.as_str())
                .bind(needle.as_str());
        }
        if let Some((key, value)) = &filter.tag {
            query = query.bind(key.as_str()).bind(value.as_str());
        }
        self.query(query).fetch_all().await.map_err(classify)
    }

    async fn minute_counts(
        &self,
        project_id: u64,
        issue_ids: &[u64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> EngineResult<HashMap<u64, Vec<HourlyCount>>> {
        self.caught_up().await;
        self.bucket_counts(
            "fingerprint_minute",
            "minute",
            project_id,
            issue_ids,
            (from, to),
        )
        .await
    }

    async fn tag_counts(
        &self,
        project_id: u64,
        fingerprints: &[u64],
    ) -> EngineResult<Vec<TagCount>> {
        self.caught_up().await;
        if fingerprints.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT tag_key, tag_value, count() AS occurrences FROM events \
             ARRAY JOIN tag_keys AS tag_key, tag_values AS tag_value \
             WHERE project_id = ? AND fingerprint IN {} \
             GROUP BY tag_key, tag_value",
            id_set(fingerprints)
        );
        let rows: Vec<TagCountRow> = self
            .query(self.connection.client.query(&sql).bind(project_id))
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|row| TagCount {
                key: row.key,
                value: row.value,
                count: row.count,
            })
            .collect())
    }

    async fn put_project_key(&self, key: &ProjectKey) -> EngineResult<()> {
        self.insert_rows(
            "project_keys",
            &[ProjectKeyRow {
                project_id: key.project_id,
                public_key: key.public_key.clone(),
                active: u8::from(key.active),
                created_at: to_epoch_seconds(key.created_at),
                version: version_now(),
            }],
        )
        .await
    }

    async fn store_api_token(&self, token: &ApiTokenRecord) -> EngineResult<()> {
        self.store_api_token_row(token).await
    }

    async fn api_tokens(&self) -> EngineResult<Vec<ApiTokenRecord>> {
        self.api_token_rows().await
    }

    fn sql_dialect(&self) -> SqlDialect {
        SqlDialect::ClickHouse
    }

    async fn sql(&self, query: &str, limits: &SqlLimits) -> EngineResult<SqlResult> {
        if limits.read_own_writes {
            self.caught_up().await;
        }
        self.run_analyst_sql(query, limits).await
    }

    // --- alerting (issue 7): see `alerts.rs` ---

    async fn put_alert_rule(&self, rule: &AlertRuleRecord) -> EngineResult<()> {
        self.put_alert_rule_row(rule).await
    }

    async fn alert_rules(&self) -> EngineResult<Vec<AlertRuleRecord>> {
        self.alert_rule_rows().await
    }

    async fn record_alert_evaluation(&self, write: &AlertEvaluationWrite) -> EngineResult<()> {
        self.record_alert_evaluation_rows(write).await
    }

    async fn alert_states(&self, rule_ids: &[u64]) -> EngineResult<Vec<AlertStateRecord>> {
        self.alert_state_rows(rule_ids).await
    }

    async fn alert_events(&self, query: &AlertEventQuery) -> EngineResult<Vec<AlertEventRecord>> {
        self.alert_event_rows(query).await
    }

    async fn alert_notifications_sent(
        &self,
        rule_ids: &[u64],
        since: DateTime<Utc>,
    ) -> EngineResult<std::collections::BTreeMap<u64, u64>> {
        self.alert_sent_counts(rule_ids, since).await
    }

    async fn put_alert_deliveries(&self, deliveries: &[AlertDeliveryRecord]) -> EngineResult<()> {
        self.put_alert_delivery_rows(deliveries).await
    }

    async fn alert_deliveries(
        &self,
        query: &AlertDeliveryQuery,
    ) -> EngineResult<Vec<AlertDeliveryRecord>> {
        self.alert_delivery_rows(query).await
    }

    async fn claim_alert_work(
        &self,
        claims: &[AlertClaim],
        settle: std::time::Duration,
    ) -> EngineResult<Vec<bool>> {
        self.claim_alert_rows(claims, settle).await
    }

    async fn prune_alert_history(
        &self,
        events_before: DateTime<Utc>,
        claims_before: DateTime<Utc>,
    ) -> EngineResult<AlertPruneCounts> {
        self.prune_alert_rows(events_before, claims_before).await
    }

    // --- traces (issue 9): in spans.rs ---

    async fn write_spans(&self, spans: &[SpanRecord]) -> EngineResult<()> {
        self.insert_spans(spans).await
    }

    async fn trace_spans(
        &self,
        project_id: u64,
        trace_ids: &[String],
        limit: usize,
    ) -> EngineResult<Vec<SpanRecord>> {
        self.select_trace_spans(project_id, trace_ids, limit).await
    }

    async fn trace_events(
        &self,
        project_id: u64,
        trace_ids: &[String],
        limit: usize,
    ) -> EngineResult<Vec<EventRecord>> {
        self.caught_up().await;
        self.select_trace_events(project_id, trace_ids, limit).await
    }

    async fn spans_between(
        &self,
        range: &SpanRange,
        limit: usize,
    ) -> EngineResult<Vec<SpanRecord>> {
        self.select_spans_between(range, limit).await
    }

    async fn count_spans(&self, range: &SpanRange) -> EngineResult<u64> {
        self.select_span_count(range).await
    }

    async fn service_map_spans(
        &self,
        range: &SpanRange,
        limit: usize,
    ) -> EngineResult<Vec<SpanRecord>> {
        self.select_service_map_spans(range, limit).await
    }
}

fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}
