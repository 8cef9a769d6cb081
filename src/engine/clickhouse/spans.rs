//! The `spans` table on ClickHouse (`sql/0008_spans.sql`): inserts and the reads trace
//! correlation needs (whole traces, errors of traces, spans of a time range).

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::rows::{to_epoch_seconds, EventRow};
use super::{classify, ClickHouseEngine, EVENT_COLUMNS};
use crate::engine::{EngineResult, EventRecord, SpanRange, SpanRecord};

const SPAN_COLUMNS: &str = "project_id, trace_id, span_id, parent_span_id, service, name, kind, \
    start_time, start_us, duration_us, status, status_message, http_method, http_route, \
    http_status_code, db_system, attribute_keys, attribute_values, source";

/// One row of `spans`, field for field as `sql/0008_spans.sql`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct SpanRow {
    pub project_id: u64,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub service: String,
    pub name: String,
    pub kind: String,
    pub start_time: u32,
    pub start_us: i64,
    pub duration_us: u64,
    pub status: String,
    pub status_message: String,
    pub http_method: String,
    pub http_route: String,
    pub http_status_code: u16,
    pub db_system: String,
    pub attribute_keys: Vec<String>,
    pub attribute_values: Vec<String>,
    pub source: String,
}

/// The columns of `spans` the service map reads ([`SpanRecord::map_fields`]).
#[derive(Debug, Clone, Row, Deserialize)]
struct MapSpanRow {
    project_id: u64,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    service: String,
    start_us: i64,
    duration_us: u64,
    status: String,
}

impl From<&SpanRecord> for SpanRow {
    fn from(span: &SpanRecord) -> Self {
        let span = span.clone();
        SpanRow {
            start_time: to_epoch_seconds(span.start()),
            project_id: span.project_id,
            trace_id: span.trace_id,
            span_id: span.span_id,
            parent_span_id: span.parent_span_id,
            service: span.service,
            name: span.name,
            kind: span.kind,
            start_us: span.start_us,
            duration_us: span.duration_us,
            status: span.status,
            status_message: span.status_message,
            http_method: span.http_method,
            http_route: span.http_route,
            http_status_code: span.http_status_code,
            db_system: span.db_system,
            attribute_keys: span.attribute_keys,
            attribute_values: span.attribute_values,
            source: span.source,
        }
    }
}

impl From<SpanRow> for SpanRecord {
    fn from(row: SpanRow) -> Self {
        SpanRecord {
            project_id: row.project_id,
            trace_id: row.trace_id,
            span_id: row.span_id,
            parent_span_id: row.parent_span_id,
            service: row.service,
            name: row.name,
            kind: row.kind,
            start_us: row.start_us,
            duration_us: row.duration_us,
            status: row.status,
            status_message: row.status_message,
            http_method: row.http_method,
            http_route: row.http_route,
            http_status_code: row.http_status_code,
            db_system: row.db_system,
            attribute_keys: row.attribute_keys,
            attribute_values: row.attribute_values,
            source: row.source,
        }
    }
}

/// `('id1', 'id2')` of the ids that are hex (anything else cannot be a trace id, and is left
/// out, so inlining them is safe); `None` when none is left.
fn trace_id_list(trace_ids: &[String]) -> Option<String> {
    let ids: Vec<String> = trace_ids
        .iter()
        .filter(|id| !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|id| format!("'{}'", id.to_ascii_lowercase()))
        .collect();
    (!ids.is_empty()).then(|| ids.join(", "))
}

impl ClickHouseEngine {
    pub(super) async fn insert_spans(&self, spans: &[SpanRecord]) -> EngineResult<()> {
        let rows: Vec<SpanRow> = spans.iter().map(SpanRow::from).collect();
        self.insert_rows("spans", &rows).await
    }

    pub(super) async fn select_trace_spans(
        &self,
        project_id: u64,
        trace_ids: &[String],
        limit: usize,
    ) -> EngineResult<Vec<SpanRecord>> {
        let Some(ids) = trace_id_list(trace_ids) else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {SPAN_COLUMNS} FROM spans WHERE project_id = ? AND trace_id IN ({ids}) \
             ORDER BY start_us, span_id LIMIT ?"
        );
        let rows: Vec<SpanRow> = self
            .query(
                self.connection
                    .client
                    .query(&sql)
                    .bind(project_id)
                    .bind(limit as u64),
            )
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows.into_iter().map(SpanRecord::from).collect())
    }

    pub(super) async fn select_trace_events(
        &self,
        project_id: u64,
        trace_ids: &[String],
        limit: usize,
    ) -> EngineResult<Vec<EventRecord>> {
        let Some(ids) = trace_id_list(trace_ids) else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE project_id = ? AND trace_id IN ({ids}) \
             ORDER BY timestamp, event_id LIMIT ?"
        );
        let rows: Vec<EventRow> = self
            .query(
                self.connection
                    .client
                    .query(&sql)
                    .bind(project_id)
                    .bind(limit as u64),
            )
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows.into_iter().map(EventRecord::from).collect())
    }

    pub(super) async fn select_spans_between(
        &self,
        range: &SpanRange,
        limit: usize,
    ) -> EngineResult<Vec<SpanRecord>> {
        let sql = format!(
            "SELECT {SPAN_COLUMNS} FROM spans WHERE {} ORDER BY start_us DESC LIMIT ?",
            range_filter(range)
        );
        let rows: Vec<SpanRow> = self
            .query(bind_range(self.connection.client.query(&sql), range).bind(limit as u64))
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows.into_iter().map(SpanRecord::from).collect())
    }

    pub(super) async fn select_service_map_spans(
        &self,
        range: &SpanRange,
        limit: usize,
    ) -> EngineResult<Vec<SpanRecord>> {
        let sql = format!(
            "SELECT project_id, trace_id, span_id, parent_span_id, service, start_us, duration_us, \
                    status FROM spans WHERE {} ORDER BY start_us DESC LIMIT ?",
            range_filter(range)
        );
        let rows: Vec<MapSpanRow> = self
            .query(bind_range(self.connection.client.query(&sql), range).bind(limit as u64))
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|row| SpanRecord {
                project_id: row.project_id,
                trace_id: row.trace_id,
                span_id: row.span_id,
                parent_span_id: row.parent_span_id,
                service: row.service,
                start_us: row.start_us,
                duration_us: row.duration_us,
                status: row.status,
                ..SpanRecord::default()
            })
            .collect())
    }

    pub(super) async fn select_span_count(&self, range: &SpanRange) -> EngineResult<u64> {
        let sql = format!("SELECT count() FROM spans WHERE {}", range_filter(range));
        self.query(bind_range(self.connection.client.query(&sql), range))
            .fetch_one::<u64>()
            .await
            .map_err(classify)
    }
}

/// The `WHERE` condition of a span range; its parameters are bound by [`bind_range`].
fn range_filter(range: &SpanRange) -> String {
    let mut filter =
        "project_id = ? AND start_time >= toDateTime(?) AND start_time < toDateTime(?)".to_owned();
    if range.roots_only {
        filter.push_str(" AND parent_span_id = ''");
    }
    if range.sample > 1 {
        filter.push_str(" AND cityHash64(trace_id) % ? = 0");
    }
    filter
}

fn bind_range(query: clickhouse::query::Query, range: &SpanRange) -> clickhouse::query::Query {
    let query = query
        .bind(range.project_id)
        .bind(to_epoch_seconds(range.from))
        .bind(to_epoch_seconds(range.to));
    if range.sample > 1 {
        query.bind(range.sample)
    } else {
        query
    }
}
