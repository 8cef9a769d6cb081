//! Alerting on the embedded engine: rules, rule states, `alert_events` and `alert_deliveries`
//! in memory, made durable by an append-only log of their own (`alerts.log`, one JSON record a
//! line, synced before a write returns; a torn last line from a crash is ignored on replay),
//! and registered as DataFusion tables for analyst SQL. Claims are an in-memory
//! check-and-set: the data directory admits one process.
//!
//! Retention ([`AlertStore::prune`]) rewrites the log as a snapshot of what is kept (one
//! record per rule, state, event and delivery, newest version only) into `alerts.log.tmp`,
//! syncs it, renames it over `alerts.log` and syncs the directory: a crash leaves either the
//! old log or the whole new one, and a reopen never brings pruned rows back.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Float64Array, RecordBatch, UInt16Array, UInt32Array, UInt8Array};
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use super::codec::sync_parent_directory;
use super::event_batch::timestamp_type;
use super::sql::{field, texts, times, u64s, LiveTable};
use super::EmbeddedError;
use crate::engine::{
    delivery_is_finished, AlertClaim, AlertDeliveryQuery, AlertDeliveryRecord,
    AlertEvaluationWrite, AlertEventQuery, AlertEventRecord, AlertPruneCounts, AlertRuleRecord,
    AlertStateRecord, EngineError, EngineResult,
};

const LOG_FILE: &str = "alerts.log";
/// The snapshot a prune writes before renaming it over [`LOG_FILE`].
const SNAPSHOT_FILE: &str = "alerts.log.tmp";
/// Rows per record in a snapshot.
const SNAPSHOT_CHUNK: usize = 1_000;

/// One line of `alerts.log`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
enum AlertLogRecord {
    Rule(AlertRuleRecord),
    Evaluation {
        states: Vec<AlertStateRecord>,
        events: Vec<AlertEventRecord>,
        deliveries: Vec<AlertDeliveryRecord>,
    },
    /// New versions of deliveries (a struct variant: serde's internally tagged enums cannot
    /// hold a bare sequence).
    Deliveries {
        deliveries: Vec<AlertDeliveryRecord>,
    },
}

/// The alerting tables, resolved (newest write wins).
#[derive(Debug, Default)]
pub struct AlertTables {
    rules: BTreeMap<u64, AlertRuleRecord>,
    states: BTreeMap<(u64, String), AlertStateRecord>,
    /// In the order written (oldest first).
    events: Vec<AlertEventRecord>,
    deliveries: BTreeMap<String, AlertDeliveryRecord>,
}

impl AlertTables {
    fn apply(&mut self, record: AlertLogRecord) {
        match record {
            AlertLogRecord::Rule(rule) => {
                self.rules.insert(rule.rule_id, rule);
            }
            AlertLogRecord::Evaluation {
                states,
                events,
                deliveries,
            } => {
                for state in states {
                    self.states
                        .insert((state.rule_id, state.group_key.clone()), state);
                }
                self.events.extend(events);
                for delivery in deliveries {
                    self.deliveries
                        .insert(delivery.delivery_id.clone(), delivery);
                }
            }
            AlertLogRecord::Deliveries { deliveries } => {
                for delivery in deliveries {
                    self.deliveries
                        .insert(delivery.delivery_id.clone(), delivery);
                }
            }
        }
    }
}

impl AlertTables {
    /// Whether retention removes this delivery: finished, and last updated before the cut.
    fn delivery_expired(delivery: &AlertDeliveryRecord, before: DateTime<Utc>) -> bool {
        delivery_is_finished(delivery) && delivery.updated_at < before
    }

    /// How many events and deliveries a prune at `before` removes.
    fn expired(&self, before: DateTime<Utc>) -> (u64, u64) {
        let events = self.events.iter().filter(|e| e.at < before).count();
        let deliveries = self
            .deliveries
            .values()
            .filter(|d| Self::delivery_expired(d, before))
            .count();
        (events as u64, deliveries as u64)
    }

    /// Writes, one JSON record a line, everything a prune at `before` keeps.
    fn write_snapshot(&self, before: DateTime<Utc>, out: &mut impl Write) -> std::io::Result<()> {
        let mut line = |record: &AlertLogRecord| -> std::io::Result<()> {
            serde_json::to_writer(&mut *out, record)?;
            out.write_all(b"\n")
        };
        for rule in self.rules.values() {
            line(&AlertLogRecord::Rule(rule.clone()))?;
        }
        let states: Vec<&AlertStateRecord> = self.states.values().collect();
        for chunk in states.chunks(SNAPSHOT_CHUNK) {
            line(&AlertLogRecord::Evaluation {
                states: chunk.iter().map(|&s| s.clone()).collect(),
                events: Vec::new(),
                deliveries: Vec::new(),
            })?;
        }
        let events: Vec<&AlertEventRecord> =
            self.events.iter().filter(|e| e.at >= before).collect();
        for chunk in events.chunks(SNAPSHOT_CHUNK) {
            line(&AlertLogRecord::Evaluation {
                states: Vec::new(),
                events: chunk.iter().map(|&e| e.clone()).collect(),
                deliveries: Vec::new(),
            })?;
        }
        let deliveries: Vec<&AlertDeliveryRecord> = self
            .deliveries
            .values()
            .filter(|d| !Self::delivery_expired(d, before))
            .collect();
        for chunk in deliveries.chunks(SNAPSHOT_CHUNK) {
            line(&AlertLogRecord::Deliveries {
                deliveries: chunk.iter().map(|&d| d.clone()).collect(),
            })?;
        }
        Ok(())
    }

    /// Drops from memory what [`AlertTables::write_snapshot`] left out.
    fn prune(&mut self, before: DateTime<Utc>) {
        self.events.retain(|e| e.at >= before);
        self.deliveries
            .retain(|_, d| !Self::delivery_expired(d, before));
    }
}

/// The embedded engine's alerting storage.
pub struct AlertStore {
    tables: Arc<RwLock<AlertTables>>,
    /// The append handle of `alerts.log` (swapped for the snapshot's by a prune).
    log: Arc<Mutex<File>>,
    directory: PathBuf,
    /// Claimed keys and when (ms since the epoch) they were claimed.
    claims: Mutex<HashMap<String, u64>>,
}

/// Whether the file is empty or its last byte is a newline.
fn ends_with_newline(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

impl AlertStore {
    /// Opens `alerts.log` in `directory`, replaying it.
    pub fn open(directory: &Path) -> Result<AlertStore, EmbeddedError> {
        let path: PathBuf = directory.join(LOG_FILE);
        let mut tables = AlertTables::default();
        if path.exists() {
            let reader = BufReader::new(File::open(&path)?);
            let mut lines = reader.lines().peekable();
            while let Some(line) = lines.next() {
                let line = line?;
                if line.trim().is_empty() {
                    continue; // the separator written after a torn line
                }
                match serde_json::from_str::<AlertLogRecord>(&line) {
                    Ok(record) => tables.apply(record),
                    // The last line may be torn by a crash mid-write; anything else is damage.
                    Err(_) if lines.peek().is_none() => {
                        tracing::warn!(path = %path.display(), "ignoring a torn last alert log line");
                    }
                    Err(error) => {
                        return Err(EmbeddedError::Corrupt(format!(
                            "{}: {error}",
                            path.display()
                        )))
                    }
                }
            }
        }
        let mut log = OpenOptions::new().create(true).append(true).open(&path)?;
        // A torn line without its newline would glue onto the next record.
        if !ends_with_newline(&path)? {
            log.write_all(b"\n")?;
        }
        Ok(AlertStore {
            tables: Arc::new(RwLock::new(tables)),
            log: Arc::new(Mutex::new(log)),
            directory: directory.to_owned(),
            claims: Mutex::new(HashMap::new()),
        })
    }

    /// Appends and syncs a record, then applies it.
    async fn append(&self, record: AlertLogRecord) -> EngineResult<()> {
        let log = self.log.clone();
        let tables = self.tables.clone();
        tokio::task::spawn_blocking(move || -> Result<(), EmbeddedError> {
            let mut line = serde_json::to_vec(&record)
                .map_err(|error| EmbeddedError::Corrupt(error.to_string()))?;
            line.push(b'\n');
            let mut file = log.lock();
            file.write_all(&line)?;
            file.sync_data()?;
            // Applied under the log lock: the in-memory order is the log's order.
            tables.write().apply(record);
            Ok(())
        })
        .await
        .map_err(|error| EngineError::Unavailable(format!("alert log task failed: {error}")))?
        .map_err(EngineError::from)
    }

    pub async fn put_rule(&self, rule: &AlertRuleRecord) -> EngineResult<()> {
        self.append(AlertLogRecord::Rule(rule.clone())).await
    }

    pub fn rules(&self) -> Vec<AlertRuleRecord> {
        self.tables
            .read()
            .rules
            .values()
            .filter(|rule| !rule.deleted)
            .cloned()
            .collect()
    }

    pub async fn record_evaluation(&self, write: &AlertEvaluationWrite) -> EngineResult<()> {
        self.append(AlertLogRecord::Evaluation {
            states: write.states.clone(),
            events: write.events.clone(),
            deliveries: write.deliveries.clone(),
        })
        .await
    }

    /// The states of these rules, by rule id, then group key.
    pub fn states(&self, rule_ids: &[u64]) -> Vec<AlertStateRecord> {
        let mut ids = rule_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let tables = self.tables.read();
        ids.into_iter()
            .flat_map(|rule_id| {
                tables
                    .states
                    .range((rule_id, String::new())..)
                    .take_while(move |((id, _), _)| *id == rule_id)
                    .map(|(_, state)| state.clone())
            })
            .collect()
    }

    /// Notifications sent per rule at or after `since` (rules that sent none left out).
    pub fn sent_counts(&self, rule_ids: &[u64], since: DateTime<Utc>) -> BTreeMap<u64, u64> {
        let wanted: HashSet<u64> = rule_ids.iter().copied().collect();
        let mut counts = BTreeMap::new();
        for event in &self.tables.read().events {
            if event.notification == "sent" && event.at >= since && wanted.contains(&event.rule_id)
            {
                *counts.entry(event.rule_id).or_insert(0) += 1;
            }
        }
        counts
    }

    pub fn events(&self, query: &AlertEventQuery) -> Vec<AlertEventRecord> {
        let tables = self.tables.read();
        let mut rows: Vec<&AlertEventRecord> = tables
            .events
            .iter()
            .filter(|event| query.rule_id.is_none_or(|id| event.rule_id == id))
            .filter(|event| query.since.is_none_or(|since| event.at >= since))
            .filter(|event| !query.sent_only || event.notification == "sent")
            .collect();
        // ClickHouse: ORDER BY at DESC, event_id DESC.
        rows.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.event_id.cmp(&a.event_id)));
        rows.into_iter()
            .skip(query.offset)
            .take(query.limit)
            .cloned()
            .collect()
    }

    pub async fn put_deliveries(&self, deliveries: &[AlertDeliveryRecord]) -> EngineResult<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        self.append(AlertLogRecord::Deliveries {
            deliveries: deliveries.to_vec(),
        })
        .await
    }

    pub fn deliveries(&self, query: &AlertDeliveryQuery) -> Vec<AlertDeliveryRecord> {
        let tables = self.tables.read();
        match query {
            AlertDeliveryQuery::OfRule {
                rule_id,
                limit,
                offset,
            } => {
                let mut rows: Vec<&AlertDeliveryRecord> = tables
                    .deliveries
                    .values()
                    .filter(|d| d.rule_id == *rule_id)
                    .collect();
                rows.sort_by(|a, b| {
                    b.created_at
                        .cmp(&a.created_at)
                        .then_with(|| b.delivery_id.cmp(&a.delivery_id))
                });
                rows.into_iter()
                    .skip(*offset)
                    .take(*limit)
                    .cloned()
                    .collect()
            }
            AlertDeliveryQuery::DueBy { time, limit } => {
                let mut rows: Vec<&AlertDeliveryRecord> = tables
                    .deliveries
                    .values()
                    .filter(|d| d.status == "pending" && d.next_attempt_at <= *time)
                    .collect();
                rows.sort_by(|a, b| {
                    a.next_attempt_at
                        .cmp(&b.next_attempt_at)
                        .then_with(|| a.delivery_id.cmp(&b.delivery_id))
                });
                rows.into_iter().take(*limit).cloned().collect()
            }
        }
    }

    pub fn claim(&self, claim: &AlertClaim) -> bool {
        match self.claims.lock().entry(claim.claim_key.clone()) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(claim.claimed_at_ms);
                true
            }
        }
    }

    /// Retention: forgets claims made before `claims_before`; drops the events from before
    /// `events_before` and the finished deliveries last updated before it, from memory and
    /// from `alerts.log` (rewritten as a snapshot, see the module documentation).
    pub async fn prune(
        &self,
        events_before: DateTime<Utc>,
        claims_before: DateTime<Utc>,
    ) -> EngineResult<AlertPruneCounts> {
        let claims_cut = u64::try_from(claims_before.timestamp_millis()).unwrap_or_default();
        let claims = {
            let mut claims = self.claims.lock();
            let before = claims.len();
            claims.retain(|_, claimed_at_ms| *claimed_at_ms >= claims_cut);
            (before - claims.len()) as u64
        };
        let log = self.log.clone();
        let tables = self.tables.clone();
        let directory = self.directory.clone();
        let (events, deliveries) =
            tokio::task::spawn_blocking(move || -> Result<(u64, u64), EmbeddedError> {
                // Under the log lock no record is appended: the snapshot is the whole state.
                let mut file = log.lock();
                let expired = tables.read().expired(events_before);
                if expired == (0, 0) {
                    return Ok(expired);
                }
                let snapshot = directory.join(SNAPSHOT_FILE);
                match std::fs::remove_file(&snapshot) {
                    Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                        return Err(error.into())
                    }
                    _ => {}
                }
                // Opened for appending before the rename: after it, this handle is the log's.
                let new_log = OpenOptions::new()
                    .create_new(true)
                    .append(true)
                    .open(&snapshot)?;
                {
                    let mut writer = std::io::BufWriter::new(&new_log);
                    tables.read().write_snapshot(events_before, &mut writer)?;
                    writer.flush()?;
                }
                new_log.sync_all()?;
                let path = directory.join(LOG_FILE);
                std::fs::rename(&snapshot, &path)?;
                // From here the snapshot is the log (the old file is unlinked): appends go to it
                // and memory matches it, even if syncing the directory then fails (an I/O error,
                // reported to the caller).
                *file = new_log;
                tables.write().prune(events_before);
                sync_parent_directory(&path)?;
                Ok(expired)
            })
            .await
            .map_err(|error| EngineError::Unavailable(format!("alert log task failed: {error}")))?
            .map_err(EngineError::from)?;
        Ok(AlertPruneCounts {
            events,
            deliveries,
            claims,
        })
    }

    /// Registers `alert_rules`, `alert_events` and `alert_deliveries` for analyst SQL.
    pub fn register(&self, context: &SessionContext) -> Result<(), EmbeddedError> {
        let tables: [(&'static str, SchemaRef, Builder); 3] = [
            ("alert_rules", rules_schema(), build_rules),
            ("alert_events", events_schema(), build_events),
            ("alert_deliveries", deliveries_schema(), build_deliveries),
        ];
        for (name, schema, build) in tables {
            let tables = self.tables.clone();
            context.register_table(
                name,
                LiveTable::new(name, schema, move |schema| build(&tables.read(), schema)),
            )?;
        }
        Ok(())
    }
}

type Builder = fn(&AlertTables, &SchemaRef) -> Result<RecordBatch, EmbeddedError>;

fn rules_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("rule_id", DataType::UInt64),
        field("project_id", DataType::UInt64),
        field("name", DataType::Utf8),
        field("kind", DataType::Utf8),
        field("definition", DataType::Utf8),
        field("interval_secs", DataType::UInt64),
        field("enabled", DataType::UInt8),
        field("created_at", timestamp_type()),
        field("updated_at", timestamp_type()),
    ]))
}

fn build_rules(tables: &AlertTables, schema: &SchemaRef) -> Result<RecordBatch, EmbeddedError> {
    let rows: Vec<&AlertRuleRecord> = tables.rules.values().filter(|r| !r.deleted).collect();
    Ok(RecordBatch::try_new(
        schema.clone(),
        vec![
            u64s(rows.iter().map(|r| r.rule_id)),
            u64s(rows.iter().map(|r| r.project_id)),
            texts(rows.iter().map(|r| r.name.as_str())),
            texts(rows.iter().map(|r| r.kind.as_str())),
            texts(rows.iter().map(|r| r.definition.as_str())),
            u64s(rows.iter().map(|r| r.interval_secs)),
            Arc::new(UInt8Array::from_iter_values(
                rows.iter().map(|r| u8::from(r.enabled)),
            )),
            times(rows.iter().map(|r| r.created_at.timestamp())),
            times(rows.iter().map(|r| r.updated_at.timestamp())),
        ],
    )?)
}

fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("event_id", DataType::Utf8),
        field("rule_id", DataType::UInt64),
        field("project_id", DataType::UInt64),
        field("group_key", DataType::Utf8),
        field("outcome", DataType::Utf8),
        field("value", DataType::Float64),
        field("notification", DataType::Utf8),
        field("message", DataType::Utf8),
        field("at", timestamp_type()),
    ]))
}

fn build_events(tables: &AlertTables, schema: &SchemaRef) -> Result<RecordBatch, EmbeddedError> {
    let rows = &tables.events;
    Ok(RecordBatch::try_new(
        schema.clone(),
        vec![
            texts(rows.iter().map(|r| r.event_id.as_str())),
            u64s(rows.iter().map(|r| r.rule_id)),
            u64s(rows.iter().map(|r| r.project_id)),
            texts(rows.iter().map(|r| r.group_key.as_str())),
            texts(rows.iter().map(|r| r.outcome.as_str())),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.value))),
            texts(rows.iter().map(|r| r.notification.as_str())),
            texts(rows.iter().map(|r| r.message.as_str())),
            times(rows.iter().map(|r| r.at.timestamp())),
        ],
    )?)
}

fn deliveries_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("delivery_id", DataType::Utf8),
        field("rule_id", DataType::UInt64),
        field("project_id", DataType::UInt64),
        field("alert_event_id", DataType::Utf8),
        field("url", DataType::Utf8),
        field("payload", DataType::Utf8),
        field("status", DataType::Utf8),
        field("attempts", DataType::UInt32),
        field("next_attempt_at", timestamp_type()),
        field("last_error", DataType::Utf8),
        field("last_status_code", DataType::UInt16),
        field("created_at", timestamp_type()),
        field("updated_at", timestamp_type()),
    ]))
}

fn build_deliveries(
    tables: &AlertTables,
    schema: &SchemaRef,
) -> Result<RecordBatch, EmbeddedError> {
    let rows: Vec<&AlertDeliveryRecord> = tables.deliveries.values().collect();
    Ok(RecordBatch::try_new(
        schema.clone(),
        vec![
            texts(rows.iter().map(|r| r.delivery_id.as_str())),
            u64s(rows.iter().map(|r| r.rule_id)),
            u64s(rows.iter().map(|r| r.project_id)),
            texts(rows.iter().map(|r| r.alert_event_id.as_str())),
            texts(rows.iter().map(|r| r.url.as_str())),
            texts(rows.iter().map(|r| r.payload.as_str())),
            texts(rows.iter().map(|r| r.status.as_str())),
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|r| r.attempts),
            )),
            times(rows.iter().map(|r| r.next_attempt_at.timestamp())),
            texts(rows.iter().map(|r| r.last_error.as_str())),
            Arc::new(UInt16Array::from_iter_values(
                rows.iter().map(|r| r.last_status_code),
            )),
            times(rows.iter().map(|r| r.created_at.timestamp())),
            times(rows.iter().map(|r| r.updated_at.timestamp())),
        ],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopening_the_log_many_times_is_not_damage() {
        let directory = tempfile::tempdir().expect("temporary directory");
        for _ in 0..4 {
            AlertStore::open(directory.path()).expect("the log opens again");
        }
        // A torn last record is dropped and separated from what comes next.
        std::fs::write(directory.path().join(LOG_FILE), b"{\"torn").expect("write");
        AlertStore::open(directory.path()).expect("a torn tail is not damage");
        AlertStore::open(directory.path()).expect("nor after the separator");
        let log = std::fs::read(directory.path().join(LOG_FILE)).expect("read");
        assert_eq!(log, b"{\"torn\n");
    }

    fn event(id: &str, at: DateTime<Utc>) -> AlertEventRecord {
        AlertEventRecord {
            event_id: id.into(),
            rule_id: 1,
            project_id: 1,
            group_key: String::new(),
            outcome: "ok".into(),
            value: 0.0,
            notification: String::new(),
            message: String::new(),
            at,
        }
    }

    fn all_events(store: &AlertStore) -> Vec<String> {
        let query = AlertEventQuery {
            limit: 10,
            ..AlertEventQuery::default()
        };
        store
            .events(&query)
            .into_iter()
            .map(|e| e.event_id)
            .collect()
    }

    #[tokio::test]
    async fn a_prune_left_half_done_by_a_crash_loses_nothing() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let now = Utc::now();
        let store = AlertStore::open(directory.path()).expect("open");
        let write = AlertEvaluationWrite {
            events: vec![
                event("old", now - chrono::Duration::days(9)),
                event("new", now),
            ],
            ..AlertEvaluationWrite::default()
        };
        store.record_evaluation(&write).await.expect("write");
        drop(store);
        // A crash after writing part of a snapshot, before the rename: the log is untouched.
        std::fs::write(directory.path().join(SNAPSHOT_FILE), b"{\"record\":\"ru").expect("write");
        let store = AlertStore::open(directory.path()).expect("reopen");
        assert_eq!(all_events(&store), ["new", "old"]);
        let cut = now - chrono::Duration::days(1);
        let counts = store.prune(cut, cut).await.expect("prune");
        assert_eq!(counts.events, 1);
        assert!(!directory.path().join(SNAPSHOT_FILE).exists());
        drop(store);
        let store = AlertStore::open(directory.path()).expect("reopen after the prune");
        assert_eq!(all_events(&store), ["new"]);
    }
}
