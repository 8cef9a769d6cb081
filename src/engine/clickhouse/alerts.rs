//! Alerting on ClickHouse (issue 7): the tables of `sql/0007_alerting.sql`, read the way the
//! other versioned side tables are (argMax per key), the claim protocol of
//! [`crate::alerting::scheduler`], and the documented `alert_*` tables for analyst SQL.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::rows::{from_epoch_seconds, to_epoch_seconds, version_now};
use super::{classify, id_set, ClickHouseEngine};
use crate::engine::{
    winning_claim, AlertClaim, AlertDeliveryQuery, AlertDeliveryRecord, AlertEvaluationWrite,
    AlertEventQuery, AlertEventRecord, AlertPruneCounts, AlertRuleRecord, AlertStateRecord,
    EngineError, EngineResult, FINISHED_DELIVERY_STATUSES,
};

/// Deliveries deleted by one mutation at most (their ids are inlined in it).
const PRUNE_DELIVERIES_PER_MUTATION: usize = 5_000;
/// Longest the engine waits for its own delete mutation to finish before reporting failure.
const MUTATION_TIMEOUT: Duration = Duration::from_secs(600);

/// A finished delivery to prune: its key and the newest version it had when read.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct PrunableDelivery {
    delivery_id: String,
    latest_version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct AlertRuleRow {
    rule_id: u64,
    project_id: u64,
    name: String,
    kind: String,
    definition: String,
    webhook_secret: String,
    interval_secs: u64,
    enabled: u8,
    deleted: u8,
    created_at: u32,
    updated_at: u32,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct AlertStateRow {
    rule_id: u64,
    group_key: String,
    status: String,
    since: u32,
    last_notified_at: u32,
    value: f64,
    updated_at: u32,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct AlertEventRow {
    event_id: String,
    rule_id: u64,
    project_id: u64,
    group_key: String,
    outcome: String,
    value: f64,
    notification: String,
    message: String,
    at: u32,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct AlertDeliveryRow {
    delivery_id: String,
    rule_id: u64,
    project_id: u64,
    alert_event_id: String,
    url: String,
    payload: String,
    status: String,
    attempts: u32,
    next_attempt_at: u32,
    last_error: String,
    last_status_code: u16,
    created_at: u32,
    updated_at: u32,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct SentCountRow {
    rule_id: u64,
    sent: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct AlertClaimRow {
    claim_key: String,
    instance: String,
    nonce: u64,
    claimed_at_ms: u64,
    /// Days since the epoch (ClickHouse `Date`).
    claimed_on: u16,
}

/// Every column of a delivery, newest version, under its own name.
const CURRENT_DELIVERIES: &str = "SELECT delivery_id, argMax(rule_id, version) AS current_rule, \
    argMax(project_id, version) AS current_project, argMax(alert_event_id, version) AS current_event, \
    argMax(url, version) AS current_url, argMax(payload, version) AS current_payload, \
    argMax(status, version) AS current_status, argMax(attempts, version) AS current_attempts, \
    argMax(next_attempt_at, version) AS current_next, argMax(last_error, version) AS current_error, \
    argMax(last_status_code, version) AS current_code, min(created_at) AS first_created, \
    argMax(updated_at, version) AS current_updated, max(version) AS latest_version \
    FROM alert_deliveries WHERE {scope} GROUP BY delivery_id";

fn delivery_record(row: AlertDeliveryRow) -> AlertDeliveryRecord {
    AlertDeliveryRecord {
        delivery_id: row.delivery_id,
        rule_id: row.rule_id,
        project_id: row.project_id,
        alert_event_id: row.alert_event_id,
        url: row.url,
        payload: row.payload,
        status: row.status,
        attempts: row.attempts,
        next_attempt_at: from_epoch_seconds(row.next_attempt_at),
        last_error: row.last_error,
        last_status_code: row.last_status_code,
        created_at: from_epoch_seconds(row.created_at),
        updated_at: from_epoch_seconds(row.updated_at),
    }
}

fn delivery_row(delivery: &AlertDeliveryRecord, version: u64) -> AlertDeliveryRow {
    AlertDeliveryRow {
        delivery_id: delivery.delivery_id.clone(),
        rule_id: delivery.rule_id,
        project_id: delivery.project_id,
        alert_event_id: delivery.alert_event_id.clone(),
        url: delivery.url.clone(),
        payload: delivery.payload.clone(),
        status: delivery.status.clone(),
        attempts: delivery.attempts,
        next_attempt_at: to_epoch_seconds(delivery.next_attempt_at),
        last_error: delivery.last_error.clone(),
        last_status_code: delivery.last_status_code,
        created_at: to_epoch_seconds(delivery.created_at),
        updated_at: to_epoch_seconds(delivery.updated_at),
        version,
    }
}

impl ClickHouseEngine {
    pub(super) async fn put_alert_rule_row(&self, rule: &AlertRuleRecord) -> EngineResult<()> {
        self.insert_rows(
            "alert_rules",
            &[AlertRuleRow {
                rule_id: rule.rule_id,
                project_id: rule.project_id,
                name: rule.name.clone(),
                kind: rule.kind.clone(),
                definition: rule.definition.clone(),
                webhook_secret: rule.webhook_secret.clone(),
                interval_secs: rule.interval_secs,
                enabled: u8::from(rule.enabled),
                deleted: u8::from(rule.deleted),
                created_at: to_epoch_seconds(rule.created_at),
                updated_at: to_epoch_seconds(rule.updated_at),
                version: version_now(),
            }],
        )
        .await
    }

    pub(super) async fn alert_rule_rows(&self) -> EngineResult<Vec<AlertRuleRecord>> {
        let rows: Vec<AlertRuleRow> = self
            .query(self.connection.client.query(
                "SELECT rule_id, argMax(project_id, version) AS current_project, \
                        argMax(name, version) AS current_name, argMax(kind, version) AS current_kind, \
                        argMax(definition, version) AS current_definition, \
                        argMax(webhook_secret, version) AS current_secret, \
                        argMax(interval_secs, version) AS current_interval, \
                        argMax(enabled, version) AS current_enabled, \
                        argMax(deleted, version) AS current_deleted, min(created_at) AS first_created, \
                        argMax(updated_at, version) AS current_updated, max(version) AS latest_version \
                 FROM alert_rules GROUP BY rule_id ORDER BY rule_id",
            ))
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .filter(|row| row.deleted == 0)
            .map(|row| AlertRuleRecord {
                rule_id: row.rule_id,
                project_id: row.project_id,
                name: row.name,
                kind: row.kind,
                definition: row.definition,
                webhook_secret: row.webhook_secret,
                interval_secs: row.interval_secs,
                enabled: row.enabled != 0,
                deleted: false,
                created_at: from_epoch_seconds(row.created_at),
                updated_at: from_epoch_seconds(row.updated_at),
            })
            .collect())
    }

    pub(super) async fn record_alert_evaluation_rows(
        &self,
        write: &AlertEvaluationWrite,
    ) -> EngineResult<()> {
        // Deliveries and events first, states last: a failure part-way leaves the state as it
        // was, so the next evaluation decides (and records) the same transitions again rather
        // than believing it notified.
        let version = version_now();
        let deliveries: Vec<AlertDeliveryRow> = write
            .deliveries
            .iter()
            .map(|delivery| delivery_row(delivery, version))
            .collect();
        self.insert_rows("alert_deliveries", &deliveries).await?;
        let events: Vec<AlertEventRow> = write
            .events
            .iter()
            .map(|event| AlertEventRow {
                event_id: event.event_id.clone(),
                rule_id: event.rule_id,
                project_id: event.project_id,
                group_key: event.group_key.clone(),
                outcome: event.outcome.clone(),
                value: event.value,
                notification: event.notification.clone(),
                message: event.message.clone(),
                at: to_epoch_seconds(event.at),
            })
            .collect();
        self.insert_rows("alert_events", &events).await?;
        let states: Vec<AlertStateRow> = write
            .states
            .iter()
            .map(|state| AlertStateRow {
                rule_id: state.rule_id,
                group_key: state.group_key.clone(),
                status: state.status.clone(),
                since: to_epoch_seconds(state.since),
                last_notified_at: state.last_notified_at.map_or(0, to_epoch_seconds),
                value: state.value,
                updated_at: to_epoch_seconds(state.updated_at),
                version,
            })
            .collect();
        self.insert_rows("alert_states", &states).await
    }

    pub(super) async fn alert_state_rows(
        &self,
        rule_ids: &[u64],
    ) -> EngineResult<Vec<AlertStateRecord>> {
        if rule_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT rule_id, group_key, argMax(status, version) AS current_status, \
                    argMax(since, version) AS current_since, \
                    argMax(last_notified_at, version) AS current_notified, \
                    argMax(value, version) AS current_value, \
                    argMax(updated_at, version) AS current_updated, max(version) AS latest_version \
             FROM alert_states WHERE rule_id IN {} \
             GROUP BY rule_id, group_key ORDER BY rule_id, group_key",
            id_set(rule_ids)
        );
        let rows: Vec<AlertStateRow> = self
            .query(self.connection.client.query(&sql))
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|row| AlertStateRecord {
                rule_id: row.rule_id,
                group_key: row.group_key,
                status: row.status,
                since: from_epoch_seconds(row.since),
                last_notified_at: (row.last_notified_at != 0)
                    .then(|| from_epoch_seconds(row.last_notified_at)),
                value: row.value,
                updated_at: from_epoch_seconds(row.updated_at),
            })
            .collect())
    }

    pub(super) async fn alert_sent_counts(
        &self,
        rule_ids: &[u64],
        since: DateTime<Utc>,
    ) -> EngineResult<BTreeMap<u64, u64>> {
        if rule_ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let sql = format!(
            "SELECT rule_id, count() AS sent FROM alert_events \
             WHERE rule_id IN {} AND at >= {} AND notification = 'sent' GROUP BY rule_id",
            id_set(rule_ids),
            to_epoch_seconds(since)
        );
        let rows: Vec<SentCountRow> = self
            .query(self.connection.client.query(&sql))
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|row| (row.rule_id, row.sent))
            .collect())
    }

    pub(super) async fn alert_event_rows(
        &self,
        query: &AlertEventQuery,
    ) -> EngineResult<Vec<AlertEventRecord>> {
        let mut conditions = vec!["1 = 1".to_owned()];
        if let Some(rule_id) = query.rule_id {
            conditions.push(format!("rule_id = {rule_id}"));
        }
        if let Some(since) = query.since {
            conditions.push(format!("at >= {}", to_epoch_seconds(since)));
        }
        if query.sent_only {
            conditions.push("notification = 'sent'".to_owned());
        }
        let sql = format!(
            "SELECT event_id, rule_id, project_id, group_key, outcome, value, notification, message, at \
             FROM alert_events WHERE {} ORDER BY at DESC, event_id DESC LIMIT {}, {}",
            conditions.join(" AND "),
            query.offset,
            query.limit
        );
        let rows: Vec<AlertEventRow> = self
            .query(self.connection.client.query(&sql))
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|row| AlertEventRecord {
                event_id: row.event_id,
                rule_id: row.rule_id,
                project_id: row.project_id,
                group_key: row.group_key,
                outcome: row.outcome,
                value: row.value,
                notification: row.notification,
                message: row.message,
                at: from_epoch_seconds(row.at),
            })
            .collect())
    }

    pub(super) async fn put_alert_delivery_rows(
        &self,
        deliveries: &[AlertDeliveryRecord],
    ) -> EngineResult<()> {
        let version = version_now();
        let rows: Vec<AlertDeliveryRow> = deliveries
            .iter()
            .map(|delivery| delivery_row(delivery, version))
            .collect();
        self.insert_rows("alert_deliveries", &rows).await
    }

    pub(super) async fn alert_delivery_rows(
        &self,
        query: &AlertDeliveryQuery,
    ) -> EngineResult<Vec<AlertDeliveryRecord>> {
        let sql = match query {
            AlertDeliveryQuery::OfRule {
                rule_id,
                limit,
                offset,
            } => format!(
                "SELECT * FROM ({}) AS current_deliveries \
                 ORDER BY first_created DESC, delivery_id DESC LIMIT {offset}, {limit}",
                CURRENT_DELIVERIES.replace("{scope}", &format!("rule_id = {rule_id}"))
            ),
            AlertDeliveryQuery::DueBy { time, limit } => format!(
                "SELECT * FROM ({}) AS current_deliveries \
                 WHERE current_status = 'pending' AND current_next <= {} \
                 ORDER BY current_next, delivery_id LIMIT {limit}",
                CURRENT_DELIVERIES.replace("{scope}", "1 = 1"),
                to_epoch_seconds(*time)
            ),
        };
        let rows: Vec<AlertDeliveryRow> = self
            .query(self.connection.client.query(&sql))
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows.into_iter().map(delivery_record).collect())
    }

    /// Every claim stored on these keys.
    async fn alert_claim_rows(&self, claim_keys: &[&str]) -> EngineResult<Vec<AlertClaim>> {
        let rows: Vec<AlertClaimRow> = self
            .query(
                self.connection
                    .client
                    .query(
                        "SELECT claim_key, instance, nonce, claimed_at_ms, claimed_on \
                         FROM alert_claims \
                         WHERE claim_key IN (SELECT arrayJoin(CAST(? AS Array(String))))",
                    )
                    .bind(claim_keys),
            )
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|row| AlertClaim {
                claim_key: row.claim_key,
                instance: row.instance,
                nonce: row.nonce,
                claimed_at_ms: row.claimed_at_ms,
            })
            .collect())
    }

    /// See `crate::alerting::scheduler`: skip the keys already claimed; write the others'
    /// claims in one insert, wait `settle` once, and win each key whose earliest claim is ours.
    /// Three statements, however many claims.
    pub(super) async fn claim_alert_rows(
        &self,
        claims: &[AlertClaim],
        settle: Duration,
    ) -> EngineResult<Vec<bool>> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<&str> = claims
            .iter()
            .map(|claim| claim.claim_key.as_str())
            .collect();
        let taken: HashSet<String> = self
            .alert_claim_rows(&keys)
            .await?
            .into_iter()
            .map(|claim| claim.claim_key)
            .collect();
        let mine: Vec<&AlertClaim> = claims
            .iter()
            .filter(|claim| !taken.contains(&claim.claim_key))
            .collect();
        if mine.is_empty() {
            return Ok(vec![false; claims.len()]);
        }
        let rows: Vec<AlertClaimRow> = mine
            .iter()
            .map(|claim| AlertClaimRow {
                claim_key: claim.claim_key.clone(),
                instance: claim.instance.clone(),
                nonce: claim.nonce,
                claimed_at_ms: claim.claimed_at_ms,
                claimed_on: u16::try_from(claim.claimed_at_ms / 86_400_000).unwrap_or(u16::MAX),
            })
            .collect();
        self.insert_rows("alert_claims", &rows).await?;
        if !settle.is_zero() {
            tokio::time::sleep(settle).await;
        }
        let mine_keys: Vec<&str> = mine.iter().map(|claim| claim.claim_key.as_str()).collect();
        let mut by_key: HashMap<String, Vec<AlertClaim>> = HashMap::new();
        for claim in self.alert_claim_rows(&mine_keys).await? {
            by_key
                .entry(claim.claim_key.clone())
                .or_default()
                .push(claim);
        }
        Ok(claims
            .iter()
            .map(|claim| {
                !taken.contains(&claim.claim_key)
                    && by_key
                        .get(&claim.claim_key)
                        .and_then(|stored| winning_claim(stored))
                        == Some(claim)
            })
            .collect())
    }
}

impl ClickHouseEngine {
    /// Retention on ClickHouse: `ALTER TABLE ... DELETE` mutations (18.16 has no TTL), each
    /// sent only when a count finds rows to delete (a mutation rewrites the parts it touches),
    /// and waited for, so the rows are gone when this returns. A finished delivery is deleted
    /// in all its versions up to the newest one read, by key: `transform` maps each pruned
    /// key to that version and every other key to 0, so a version written after the read (a
    /// newer `pending` one) is kept, as is every version of every other delivery.
    pub(super) async fn prune_alert_rows(
        &self,
        events_before: chrono::DateTime<chrono::Utc>,
        claims_before: chrono::DateTime<chrono::Utc>,
    ) -> EngineResult<AlertPruneCounts> {
        let events_cut = to_epoch_seconds(events_before);
        let events = self
            .delete_where("alert_events", &format!("at < {events_cut}"))
            .await?;
        let claims_cut = u64::try_from(claims_before.timestamp_millis()).unwrap_or_default();
        let claims = self
            .delete_where("alert_claims", &format!("claimed_at_ms < {claims_cut}"))
            .await?;
        let finished: Vec<PrunableDelivery> = self
            .query(
                self.connection
                    .client
                    .query(
                        "SELECT delivery_id, latest_version FROM ( \
                           SELECT delivery_id, argMax(status, version) AS current_status, \
                                  argMax(updated_at, version) AS current_updated, \
                                  max(version) AS latest_version \
                           FROM alert_deliveries GROUP BY delivery_id) AS current_deliveries \
                         WHERE has(?, current_status) AND current_updated < ? \
                         ORDER BY delivery_id",
                    )
                    .bind(FINISHED_DELIVERY_STATUSES.to_vec())
                    .bind(events_cut),
            )
            .fetch_all()
            .await
            .map_err(classify)?;
        for chunk in finished.chunks(PRUNE_DELIVERIES_PER_MUTATION) {
            let ids: Vec<&str> = chunk.iter().map(|d| d.delivery_id.as_str()).collect();
            let versions: Vec<u64> = chunk.iter().map(|d| d.latest_version).collect();
            let delete = self
                .connection
                .client
                .query(
                    "ALTER TABLE alert_deliveries \
                     DELETE WHERE version <= transform(delivery_id, ?, ?, toUInt64(0))",
                )
                .bind(ids)
                .bind(versions);
            self.mutate("alert_deliveries", delete).await?;
        }
        Ok(AlertPruneCounts {
            events,
            deliveries: finished.len() as u64,
            claims,
        })
    }

    /// Deletes the rows of `table` matching `condition` (when there are any); how many.
    async fn delete_where(&self, table: &str, condition: &str) -> EngineResult<u64> {
        let count = self
            .query(
                self.connection
                    .client
                    .query(&format!("SELECT count() FROM {table} WHERE {condition}")),
            )
            .fetch_one::<u64>()
            .await
            .map_err(classify)?;
        if count > 0 {
            let delete = self
                .connection
                .client
                .query(&format!("ALTER TABLE {table} DELETE WHERE {condition}"));
            self.mutate(table, delete).await?;
        }
        Ok(count)
    }

    /// Sends a delete mutation on `table` and waits until the server has applied every
    /// mutation of the table (18.16 knows no `mutations_sync`).
    async fn mutate(&self, table: &str, delete: clickhouse::query::Query) -> EngineResult<()> {
        self.query(delete).execute().await.map_err(classify)?;
        let deadline = tokio::time::Instant::now() + MUTATION_TIMEOUT;
        let mut pause = Duration::from_millis(20);
        loop {
            let pending = self
                .query(
                    self.connection
                        .client
                        .query(
                            "SELECT count() FROM system.mutations \
                             WHERE database = currentDatabase() AND table = ? AND is_done = 0",
                        )
                        .bind(table),
                )
                .fetch_one::<u64>()
                .await
                .map_err(classify)?;
            if pending == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EngineError::Unavailable(format!(
                    "the delete mutation on {table} did not finish within {} s",
                    MUTATION_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }
}

/// The documented alerting tables as ClickHouse subqueries, limited to `projects` (`None`:
/// every project); `None` for any other name.
pub fn alert_table_sql(table: &str, projects: Option<&[u64]>) -> Option<String> {
    let scope = match projects {
        None => "1 = 1".to_owned(),
        Some(ids) => format!(
            "project_id IN ({})",
            ids.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let sql = match table {
        "alert_rules" => format!(
            "SELECT rule_id, current_project AS project_id, current_name AS name, current_kind AS kind, \
                    current_definition AS definition, current_interval AS interval_secs, \
                    current_enabled AS enabled, first_created AS created_at, current_updated AS updated_at \
             FROM ( \
               SELECT rule_id, argMax(project_id, version) AS current_project, argMax(name, version) AS current_name, \
                      argMax(kind, version) AS current_kind, argMax(definition, version) AS current_definition, \
                      argMax(interval_secs, version) AS current_interval, argMax(enabled, version) AS current_enabled, \
                      argMax(deleted, version) AS current_deleted, min(created_at) AS first_created, \
                      argMax(updated_at, version) AS current_updated \
               FROM alert_rules WHERE {scope} GROUP BY rule_id) AS current_rules \
             WHERE current_deleted = 0"
        ),
        "alert_events" => format!(
            "SELECT event_id, rule_id, project_id, group_key, outcome, value, notification, message, at \
             FROM alert_events WHERE {scope}"
        ),
        "alert_deliveries" => format!(
            "SELECT delivery_id, current_rule AS rule_id, current_project AS project_id, \
                    current_event AS alert_event_id, current_url AS url, current_payload AS payload, \
                    current_status AS status, current_attempts AS attempts, current_next AS next_attempt_at, \
                    current_error AS last_error, current_code AS last_status_code, \
                    first_created AS created_at, current_updated AS updated_at \
             FROM ({}) AS current_deliveries",
            CURRENT_DELIVERIES.replace("{scope}", &scope)
        ),
        _ => return None,
    };
    Some(sql.split_whitespace().collect::<Vec<_>>().join(" "))
}
