//! The logical tables in a DataFusion `SessionContext`, and read-only analyst SQL over them.
//!
//! `events` is the union of the in-memory batches and the Parquet segments (filters reach
//! the Parquet scan, which prunes row groups and pages by statistics). The other tables are
//! built from the side tables and aggregates at scan time, so every query sees the state as
//! of its start:
//!
//! | table | columns |
//! | --- | --- |
//! | `events` | as `sql/0001_events.sql` |
//! | `issues` | project_id, issue_id, title, culprit, level, platform, created_at, status, events, users, first_seen, last_seen |
//! | `issue_stats` | project_id, issue_id, hour, events, users, first_seen, last_seen (hourly, through the current mapping) |
//! | `issue_state` | project_id, issue_id, status, actor, comment, changed_at (current state of issues with a recorded transition) |
//! | `issue_history` | project_id, issue_id, from_status, to_status, actor, comment, changed_at |
//! | `issue_fingerprints` | project_id, fingerprint, issue_id, updated_at (current mapping) |
//! | `fingerprint_minute`, `fingerprint_hour` | project_id, fingerprint, minute/hour, events, users (hours only), first_seen, last_seen |
//! | `projects` | id, name, created_at |

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, RecordBatch, StringArray, TimestampSecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::catalog::{MemTable, Session, TableProvider};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{
    col, lit, Expr, LogicalPlan, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use parking_lot::RwLock;

use super::aggregates::{BucketRow, Width};
use super::event_batch::{events_schema, timestamp_type, to_records, TIMEZONE};
use super::{EmbeddedError, EmbeddedOptions, State};
use crate::engine::{EventFilter, EventRecord, TagCount};

/// Builds the session analysts and the engine query through.
pub fn session_context(
    state: Arc<RwLock<State>>,
    segments_directory: PathBuf,
    options: &EmbeddedOptions,
) -> Result<SessionContext, EmbeddedError> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        // Evaluate filters while decoding Parquet, so a selective filter skips the other
        // columns of rows it rejects.
        .set_bool("datafusion.execution.parquet.pushdown_filters", true)
        .set_bool("datafusion.execution.parquet.reorder_filters", true);
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(options.query_memory_limit_bytes, 1.0)
        .build_arc()?;
    let context = SessionContext::new_with_config_rt(config, runtime);
    context.register_table(
        "events",
        Arc::new(EventsTable {
            state: state.clone(),
            segments_directory,
        }),
    )?;
    let tables: [(&str, SchemaRef, Builder); 6] = [
        ("issues", issues_schema(), Arc::new(build_issues)),
        (
            "issue_stats",
            issue_stats_schema(),
            Arc::new(build_issue_stats),
        ),
        (
            "issue_state",
            issue_state_schema(),
            Arc::new(build_issue_state),
        ),
        (
            "issue_history",
            issue_history_schema(),
            Arc::new(build_issue_history),
        ),
        (
            "issue_fingerprints",
            issue_fingerprints_schema(),
            Arc::new(build_issue_fingerprints),
        ),
        ("projects", projects_schema(), Arc::new(build_projects)),
    ];
    for (name, schema, build) in tables {
        let state = state.clone();
        context.register_table(
            name,
            LiveTable::new(name, schema, move |schema| build(&state.read(), schema)),
        )?;
    }
    for (name, width) in [
        ("fingerprint_minute", Width::Minute),
        ("fingerprint_hour", Width::Hour),
    ] {
        let buckets = BucketStream {
            state: state.clone(),
            width,
            schema: fingerprint_buckets_schema(width),
        };
        let table = StreamingTable::try_new(buckets.schema.clone(), vec![Arc::new(buckets)])?;
        context.register_table(name, Arc::new(table))?;
    }
    Ok(context)
}

/// Plans `query`, refuses anything but a read, and runs it.
pub async fn run_read_only(
    context: &SessionContext,
    query: &str,
) -> Result<Vec<RecordBatch>, EmbeddedError> {
    let plan = context.state().create_logical_plan(query).await?;
    refuse_writes(&plan)?;
    let frame = context.execute_logical_plan(plan).await?;
    Ok(frame.collect().await?)
}

pub(super) fn refuse_writes(plan: &LogicalPlan) -> Result<(), EmbeddedError> {
    const ALLOWED: &str = "only SELECT, WITH, VALUES, EXPLAIN, SHOW and DESCRIBE are accepted";
    let refused = match plan {
        LogicalPlan::Ddl(ddl) => Some(ddl.name().to_owned()),
        LogicalPlan::Dml(dml) => Some(dml.op.to_string()),
        LogicalPlan::Copy(_) => Some("COPY".to_owned()),
        LogicalPlan::Statement(statement) => Some(statement.name().to_owned()),
        _ => None,
    };
    if let Some(what) = refused {
        return Err(EmbeddedError::ReadOnly(format!(
            "{what} is not allowed; {ALLOWED}"
        )));
    }
    // The same check over the whole plan, subqueries and EXPLAIN inputs included.
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|error| EmbeddedError::ReadOnly(format!("{error}; {ALLOWED}")))
}

/// The newest `limit` events of some fingerprints of a project, newest first (ties: the
/// larger event id first), like ClickHouse's `ORDER BY timestamp DESC, event_id DESC`.
///
/// Two steps so that only `limit` whole rows are decoded: first the ordering columns of the
/// matching rows, then the full rows of the winners, whose time range lets the Parquet
/// statistics skip almost everything else.
pub async fn latest_events(
    context: &SessionContext,
    project_id: u64,
    fingerprints: Vec<u64>,
    limit: usize,
) -> Result<Vec<EventRecord>, EmbeddedError> {
    let matching = col("project_id")
        .eq(lit(project_id))
        .and(col("fingerprint").in_list(fingerprints.into_iter().map(lit).collect(), false));
    let newest_first = || {
        vec![
            col("timestamp").sort(false, false),
            col("event_id").sort(false, false),
        ]
    };
    let keys = context
        .table("events")
        .await?
        .filter(matching.clone())?
        .select_columns(&["timestamp", "event_id"])?
        .sort(newest_first())?
        .limit(0, Some(limit))?
        .collect()
        .await?;
    let mut event_ids = Vec::new();
    let (mut oldest, mut newest) = (i64::MAX, i64::MIN);
    for batch in &keys {
        let columns = super::event_batch::EventColumns::new(batch);
        let timestamps = columns.seconds("timestamp")?;
        let ids = columns.string("event_id")?;
        for row in 0..batch.num_rows() {
            oldest = oldest.min(timestamps.value(row));
            newest = newest.max(timestamps.value(row));
            event_ids.push(lit(ids.value(row)));
        }
    }
    if event_ids.is_empty() {
        return Ok(Vec::new());
    }
    let at = |seconds: i64| {
        lit(ScalarValue::TimestampSecond(
            Some(seconds),
            Some(TIMEZONE.into()),
        ))
    };
    let rows = context
        .table("events")
        .await?
        .filter(
            matching
                .and(col("timestamp").between(at(oldest), at(newest)))
                .and(col("event_id").in_list(event_ids, false)),
        )?
        .collect()
        .await?;
    let mut records = Vec::new();
    for batch in &rows {
        records.extend(to_records(batch)?);
    }
    records.sort_by(|a, b| {
        b.timestamp
            .cmp(&a.timestamp)
            .then_with(|| b.event_id.cmp(&a.event_id))
    });
    records.truncate(limit);
    Ok(records)
}

fn at_second(seconds: i64) -> Expr {
    lit(ScalarValue::TimestampSecond(
        Some(seconds),
        Some(TIMEZONE.into()),
    ))
}

/// One event by id.
pub async fn event_by_id(
    context: &SessionContext,
    project_id: u64,
    event_id: &str,
) -> Result<Option<EventRecord>, EmbeddedError> {
    let rows = context
        .table("events")
        .await?
        .filter(
            col("project_id")
                .eq(lit(project_id))
                .and(col("event_id").eq(lit(event_id.to_owned()))),
        )?
        .limit(0, Some(1))?
        .collect()
        .await?;
    for batch in &rows {
        if let Some(record) = to_records(batch)?.into_iter().next() {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// The events of a project in the given traces, oldest first (trace correlation, issue 9).
pub async fn trace_events(
    context: &SessionContext,
    project_id: u64,
    trace_ids: &[String],
    limit: usize,
) -> Result<Vec<EventRecord>, EmbeddedError> {
    if trace_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Expr> = trace_ids.iter().map(|id| lit(id.clone())).collect();
    let rows = context
        .table("events")
        .await?
        .filter(
            col("project_id")
                .eq(lit(project_id))
                .and(col("trace_id").in_list(ids, false)),
        )?
        .sort(vec![
            col("timestamp").sort(true, false),
            col("event_id").sort(true, false),
        ])?
        .limit(0, Some(limit))?
        .collect()
        .await?;
    let mut records = Vec::new();
    for batch in &rows {
        records.extend(to_records(batch)?);
    }
    Ok(records)
}

/// The fingerprints of a project with an event matching `filter`. The tag condition is checked
/// here on the tag arrays (the build has no nested-type SQL functions).
pub async fn matching_fingerprints(
    context: &SessionContext,
    project_id: u64,
    filter: &EventFilter,
) -> Result<Vec<u64>, EmbeddedError> {
    use datafusion::functions::string::expr_fn::lower;
    use datafusion::functions::unicode::expr_fn::strpos;
    let mut predicate = col("project_id").eq(lit(project_id));
    if let Some(environment) = &filter.environment {
        predicate = predicate.and(col("environment").eq(lit(environment.clone())));
    }
    if let Some(release) = &filter.release {
        predicate = predicate.and(col("release").eq(lit(release.clone())));
    }
    if let Some(from) = filter.from {
        predicate = predicate.and(col("timestamp").gt_eq(at_second(from.timestamp())));
    }
    if let Some(to) = filter.to {
        predicate = predicate.and(col("timestamp").lt(at_second(to.timestamp())));
    }
    if let Some(search) = &filter.search {
        let needle = lit(search.to_lowercase());
        let contains = |column: &str| strpos(lower(col(column)), needle.clone()).gt(lit(0i64));
        predicate = predicate.and(
            contains("title")
                .or(contains("message"))
                .or(contains("culprit")),
        );
    }
    let frame = context.table("events").await?.filter(predicate)?;
    let mut fingerprints = std::collections::BTreeSet::new();
    match &filter.tag {
        None => {
            let rows = frame
                .select_columns(&["fingerprint"])?
                .distinct()?
                .collect()
                .await?;
            for batch in &rows {
                let column = super::event_batch::EventColumns::new(batch);
                fingerprints.extend(column.u64("fingerprint")?.values().iter().copied());
            }
        }
        Some((key, value)) => {
            let rows = frame
                .select_columns(&["fingerprint", "tag_keys", "tag_values"])?
                .collect()
                .await?;
            for batch in &rows {
                let columns = super::event_batch::EventColumns::new(batch);
                let (fingerprint, keys, values) = (
                    columns.u64("fingerprint")?,
                    columns.list("tag_keys")?,
                    columns.list("tag_values")?,
                );
                for row in 0..batch.num_rows() {
                    if fingerprints.contains(&fingerprint.value(row)) {
                        continue;
                    }
                    let keys = super::event_batch::string_list_at(keys, row)?;
                    let values = super::event_batch::string_list_at(values, row)?;
                    if keys
                        .iter()
                        .zip(&values)
                        .any(|(k, v)| k == key && v == value)
                    {
                        fingerprints.insert(fingerprint.value(row));
                    }
                }
            }
        }
    }
    Ok(fingerprints.into_iter().collect())
}

/// Every distinct (project, environment, fingerprint) of the stored events.
pub async fn environment_fingerprints(
    context: &SessionContext,
) -> Result<Vec<(u64, String, u64)>, EmbeddedError> {
    let rows = context
        .table("events")
        .await?
        .select_columns(&["project_id", "environment", "fingerprint"])?
        .distinct()?
        .collect()
        .await?;
    let mut found = Vec::new();
    for batch in &rows {
        let columns = super::event_batch::EventColumns::new(batch);
        let (projects, environments, fingerprints) = (
            columns.u64("project_id")?,
            columns.string("environment")?,
            columns.u64("fingerprint")?,
        );
        for row in 0..batch.num_rows() {
            found.push((
                projects.value(row),
                environments.value(row).to_owned(),
                fingerprints.value(row),
            ));
        }
    }
    Ok(found)
}

/// Tag value counts over every event of the given fingerprints.
pub async fn tag_counts(
    context: &SessionContext,
    project_id: u64,
    fingerprints: Vec<u64>,
) -> Result<Vec<TagCount>, EmbeddedError> {
    let rows =
        context
            .table("events")
            .await?
            .filter(col("project_id").eq(lit(project_id)).and(
                col("fingerprint").in_list(fingerprints.into_iter().map(lit).collect(), false),
            ))?
            .select_columns(&["tag_keys", "tag_values"])?
            .collect()
            .await?;
    let mut counts: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for batch in &rows {
        let columns = super::event_batch::EventColumns::new(batch);
        let (keys, values) = (columns.list("tag_keys")?, columns.list("tag_values")?);
        for row in 0..batch.num_rows() {
            let keys = super::event_batch::string_list_at(keys, row)?;
            let values = super::event_batch::string_list_at(values, row)?;
            for (key, value) in keys.iter().zip(&values) {
                *counts
                    .entry((key.to_owned(), value.to_owned()))
                    .or_default() += 1;
            }
        }
    }
    Ok(counts
        .into_iter()
        .map(|((key, value), count)| TagCount { key, value, count })
        .collect())
}

/// The distinct non-empty user keys of the given fingerprints' events from `from` on.
pub async fn distinct_users(
    context: &SessionContext,
    project_id: u64,
    fingerprints: Vec<u64>,
    from: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<String>, EmbeddedError> {
    let rows = context
        .table("events")
        .await?
        .filter(
            col("project_id")
                .eq(lit(project_id))
                .and(col("fingerprint").in_list(fingerprints.into_iter().map(lit).collect(), false))
                .and(col("timestamp").gt_eq(at_second(from.timestamp())))
                .and(col("user_key").not_eq(lit(""))),
        )?
        .select_columns(&["user_key"])?
        .distinct()?
        .collect()
        .await?;
    let mut users = Vec::new();
    for batch in &rows {
        let keys = super::event_batch::EventColumns::new(batch).string("user_key")?;
        users.extend(keys.iter().flatten().map(str::to_owned));
    }
    Ok(users)
}

/// `events`: the memtable (and frozen memtables) plus every live segment.
#[derive(Debug)]
struct EventsTable {
    state: Arc<RwLock<State>>,
    segments_directory: PathBuf,
}

#[async_trait]
impl TableProvider for EventsTable {
    fn schema(&self) -> SchemaRef {
        events_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        // Used for pruning; DataFusion still applies every filter to the rows.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        session: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let (memory, segments) = {
            let state = self.state.read();
            (state.memory_batches(), state.segments.clone())
        };
        let mut plans: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        if !segments.is_empty() {
            let urls = segments
                .iter()
                .map(|segment| {
                    ListingTableUrl::parse(
                        self.segments_directory
                            .join(&segment.file)
                            .to_string_lossy(),
                    )
                })
                .collect::<datafusion::error::Result<Vec<_>>>()?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet");
            let config = ListingTableConfig::new_with_multi_paths(urls)
                .with_listing_options(options)
                .with_schema(events_schema());
            let table = ListingTable::try_new(config)?;
            plans.push(table.scan(session, projection, filters, limit).await?);
        }
        if !memory.is_empty() || plans.is_empty() {
            let table = MemTable::try_new(events_schema(), vec![memory])?;
            plans.push(table.scan(session, projection, filters, limit).await?);
        }
        UnionExec::try_new(plans)
    }
}

type Builder = Arc<dyn Fn(&State, &SchemaRef) -> Result<RecordBatch, EmbeddedError> + Send + Sync>;

/// Builds a live table's rows from memory, on every scan.
type BuildRows = Box<dyn Fn(&SchemaRef) -> Result<RecordBatch, EmbeddedError> + Send + Sync>;

/// A table computed from memory when a query scans it: the side tables here, and the
/// alerting tables and `spans`, which keep their rows in stores of their own.
pub(super) struct LiveTable {
    name: &'static str,
    schema: SchemaRef,
    build: BuildRows,
}

impl LiveTable {
    pub(super) fn new(
        name: &'static str,
        schema: SchemaRef,
        build: impl Fn(&SchemaRef) -> Result<RecordBatch, EmbeddedError> + Send + Sync + 'static,
    ) -> Arc<LiveTable> {
        Arc::new(LiveTable {
            name,
            schema,
            build: Box::new(build),
        })
    }
}

impl fmt::Debug for LiveTable {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("LiveTable")
            .field("name", &self.name)
            .finish()
    }
}

#[async_trait]
impl TableProvider for LiveTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        session: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let batch = (self.build)(&self.schema)
            .map_err(|error| DataFusionError::External(Box::new(error)))?;
        MemTable::try_new(self.schema.clone(), vec![vec![batch]])?
            .scan(session, projection, filters, limit)
            .await
    }
}

// Column helpers for the live tables (here, in `alerts.rs` and in `spans.rs`).

pub(super) fn field(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, false)
}

fn nullable_time(name: &str) -> Field {
    Field::new(name, timestamp_type(), true)
}

pub(super) fn u64s(values: impl IntoIterator<Item = u64>) -> ArrayRef {
    Arc::new(UInt64Array::from_iter_values(values))
}

pub(super) fn texts<'a>(values: impl IntoIterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

pub(super) fn times(values: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampSecondArray::from_iter_values(values).with_timezone(TIMEZONE))
}

fn optional_times(values: impl IntoIterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampSecondArray::from_iter(values).with_timezone(TIMEZONE))
}

fn batch(schema: &SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch, EmbeddedError> {
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

fn issues_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("project_id", DataType::UInt64),
        field("issue_id", DataType::UInt64),
        field("title", DataType::Utf8),
        field("culprit", DataType::Utf8),
        field("level", DataType::Utf8),
        field("platform", DataType::Utf8),
        field("created_at", timestamp_type()),
        field("status", DataType::Utf8),
        field("events", DataType::UInt64),
        field("users", DataType::UInt64),
        nullable_time("first_seen"),
        nullable_time("last_seen"),
    ]))
}

fn build_issues(state: &State, schema: &SchemaRef) -> Result<RecordBatch, EmbeddedError> {
    let mut project_ids: Vec<u64> = state.side.issues.keys().map(|(p, _)| *p).collect();
    project_ids.dedup();
    let mut totals = std::collections::HashMap::new();
    for project_id in project_ids {
        for (issue_id, merged) in state.aggregates.issue_totals(&state.side, project_id, None) {
            totals.insert((project_id, issue_id), merged);
        }
    }
    let issues: Vec<_> = state.side.issues.values().collect();
    let aggregates: Vec<_> = issues
        .iter()
        .map(|issue| totals.get(&(issue.project_id, issue.issue_id)))
        .collect();
    let statuses: Vec<&str> = issues
        .iter()
        .map(|issue| {
            state
                .side
                .status_of(issue.project_id, issue.issue_id)
                .as_str()
        })
        .collect();
    batch(
        schema,
        vec![
            u64s(issues.iter().map(|i| i.project_id)),
            u64s(issues.iter().map(|i| i.issue_id)),
            texts(issues.iter().map(|i| i.title.as_str())),
            texts(issues.iter().map(|i| i.culprit.as_str())),
            texts(issues.iter().map(|i| i.level.as_str())),
            texts(issues.iter().map(|i| i.platform.as_str())),
            times(issues.iter().map(|i| i.created_at.timestamp())),
            texts(statuses),
            u64s(aggregates.iter().map(|a| a.map_or(0, |a| a.events))),
            u64s(aggregates.iter().map(|a| a.map_or(0, |a| a.users))),
            optional_times(aggregates.iter().map(|a| a.map(|a| a.first_seen))),
            optional_times(aggregates.iter().map(|a| a.map(|a| a.last_seen))),
        ],
    )
}

fn issue_stats_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("project_id", DataType::UInt64),
        field("issue_id", DataType::UInt64),
        field("hour", timestamp_type()),
        field("events", DataType::UInt64),
        field("users", DataType::UInt64),
        field("first_seen", timestamp_type()),
        field("last_seen", timestamp_type()),
    ]))
}

fn build_issue_stats(state: &State, schema: &SchemaRef) -> Result<RecordBatch, EmbeddedError> {
    let mut project_ids: Vec<u64> = state.side.mappings.keys().map(|(p, _)| *p).collect();
    project_ids.dedup();
    let mut rows = Vec::new();
    for project_id in project_ids {
        let hours =
            state
                .aggregates
                .issue_hours(&state.side, project_id, None, i64::MIN, i64::MAX, true);
        rows.extend(
            hours
                .into_iter()
                .map(|((issue_id, hour), merged)| (project_id, issue_id, hour, merged)),
        );
    }
    batch(
        schema,
        vec![
            u64s(rows.iter().map(|r| r.0)),
            u64s(rows.iter().map(|r| r.1)),
            times(rows.iter().map(|r| r.2)),
            u64s(rows.iter().map(|r| r.3.events)),
            u64s(rows.iter().map(|r| r.3.users)),
            times(rows.iter().map(|r| r.3.first_seen)),
            times(rows.iter().map(|r| r.3.last_seen)),
        ],
    )
}

fn issue_state_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("project_id", DataType::UInt64),
        field("issue_id", DataType::UInt64),
        field("status", DataType::Utf8),
        field("actor", DataType::Utf8),
        field("comment", DataType::Utf8),
        field("changed_at", timestamp_type()),
        field("resolved_in_release", DataType::Utf8),
        field("ignore_condition", DataType::Utf8),
    ]))
}

fn build_issue_state(state: &State, schema: &SchemaRef) -> Result<RecordBatch, EmbeddedError> {
    let rows: Vec<_> = state.side.states.values().collect();
    batch(
        schema,
        vec![
            u64s(rows.iter().map(|c| c.project_id)),
            u64s(rows.iter().map(|c| c.issue_id)),
            texts(rows.iter().map(|c| c.to_status.as_str())),
            texts(rows.iter().map(|c| c.actor.as_str())),
            texts(rows.iter().map(|c| c.comment.as_str())),
            times(rows.iter().map(|c| c.changed_at.timestamp())),
            texts(rows.iter().map(|c| c.resolved_in_release.as_str())),
            texts(rows.iter().map(|c| c.ignore_condition.as_str())),
        ],
    )
}

fn issue_history_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("project_id", DataType::UInt64),
        field("issue_id", DataType::UInt64),
        field("from_status", DataType::Utf8),
        field("to_status", DataType::Utf8),
        field("actor", DataType::Utf8),
        field("comment", DataType::Utf8),
        field("changed_at", timestamp_type()),
        field("resolved_in_release", DataType::Utf8),
        field("ignore_condition", DataType::Utf8),
    ]))
}

fn build_issue_history(state: &State, schema: &SchemaRef) -> Result<RecordBatch, EmbeddedError> {
    let rows = &state.side.history;
    batch(
        schema,
        vec![
            u64s(rows.iter().map(|r| r.project_id)),
            u64s(rows.iter().map(|r| r.issue_id)),
            texts(rows.iter().map(|r| r.from_status.as_str())),
            texts(rows.iter().map(|r| r.to_status.as_str())),
            texts(rows.iter().map(|r| r.actor.as_str())),
            texts(rows.iter().map(|r| r.comment.as_str())),
            times(rows.iter().map(|r| r.changed_at.timestamp())),
            texts(rows.iter().map(|r| r.resolved_in_release.as_str())),
            texts(rows.iter().map(|r| r.ignore_condition.as_str())),
        ],
    )
}

fn issue_fingerprints_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("project_id", DataType::UInt64),
        field("fingerprint", DataType::UInt64),
        field("issue_id", DataType::UInt64),
        field("updated_at", timestamp_type()),
    ]))
}

fn build_issue_fingerprints(
    state: &State,
    schema: &SchemaRef,
) -> Result<RecordBatch, EmbeddedError> {
    let rows: Vec<_> = state.side.mappings.values().collect();
    batch(
        schema,
        vec![
            u64s(rows.iter().map(|m| m.project_id)),
            u64s(rows.iter().map(|m| m.fingerprint)),
            u64s(rows.iter().map(|m| m.issue_id)),
            times(rows.iter().map(|m| m.updated_at.timestamp())),
        ],
    )
}

/// `fingerprint_minute` / `fingerprint_hour`; minutes keep no users (see the aggregates).
fn fingerprint_buckets_schema(width: Width) -> SchemaRef {
    let bucket = match width {
        Width::Minute => "minute",
        Width::Hour => "hour",
    };
    let mut fields = vec![
        field("project_id", DataType::UInt64),
        field("fingerprint", DataType::UInt64),
        field(bucket, timestamp_type()),
        field("events", DataType::UInt64),
    ];
    if width == Width::Hour {
        fields.push(field("users", DataType::UInt64));
    }
    fields.extend([
        field("first_seen", timestamp_type()),
        field("last_seen", timestamp_type()),
    ]);
    Arc::new(Schema::new(fields))
}

/// Rows of `fingerprint_minute` or `fingerprint_hour` per batch (whole series, so a little more).
const BUCKET_BATCH_ROWS: usize = 8192;

/// `fingerprint_minute` / `fingerprint_hour`, streamed: at 10M events over a day there are
/// millions of minute buckets, so a scan reads them a batch at a time, each under a short read
/// lock, instead of building one table of all of them while writers wait. The scan sees each
/// series as it is when its batch is read (like `events`, not one snapshot).
#[derive(Debug)]
struct BucketStream {
    state: Arc<RwLock<State>>,
    width: Width,
    schema: SchemaRef,
}

impl PartitionStream for BucketStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _context: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (state, width, schema) = (self.state.clone(), self.width, self.schema.clone());
        // The cursor: `None` once done, else the key of the last series read (`None` at first).
        let batches = futures::stream::unfold(Some(None), move |cursor| {
            let (state, schema) = (state.clone(), schema.clone());
            async move {
                let after = cursor?;
                let mut rows = Vec::with_capacity(BUCKET_BATCH_ROWS);
                let last = state.read().aggregates.bucket_rows_after(
                    width,
                    after,
                    BUCKET_BATCH_ROWS,
                    &mut rows,
                )?;
                let batch = build_fingerprint_buckets(&rows, &schema)
                    .map_err(|error| DataFusionError::External(Box::new(error)));
                Some((batch, Some(Some(last))))
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), batches))
    }
}

fn build_fingerprint_buckets(
    rows: &[BucketRow],
    schema: &SchemaRef,
) -> Result<RecordBatch, EmbeddedError> {
    let mut columns = vec![
        u64s(rows.iter().map(|row| row.project_id)),
        u64s(rows.iter().map(|row| row.fingerprint)),
        times(rows.iter().map(|row| row.start)),
        u64s(rows.iter().map(|row| row.events)),
    ];
    if schema.column_with_name("users").is_some() {
        columns.push(u64s(rows.iter().map(|row| row.users.unwrap_or(0))));
    }
    columns.extend([
        times(rows.iter().map(|row| row.first_seen)),
        times(rows.iter().map(|row| row.last_seen)),
    ]);
    batch(schema, columns)
}

fn projects_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("id", DataType::UInt64),
        field("name", DataType::Utf8),
        field("created_at", timestamp_type()),
    ]))
}

fn build_projects(state: &State, schema: &SchemaRef) -> Result<RecordBatch, EmbeddedError> {
    let projects: Vec<_> = state.side.projects.values().collect();
    batch(
        schema,
        vec![
            u64s(projects.iter().map(|p| p.id)),
            texts(projects.iter().map(|p| p.name.as_str())),
            times(projects.iter().map(|p| p.created_at.timestamp())),
        ],
    )
}
