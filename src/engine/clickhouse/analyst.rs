//! Access control and analyst SQL on ClickHouse: the `api_tokens` side table, the documented
//! logical tables as subqueries over the raw tables, and read-only query execution.
//!
//! The raw tables are not what analysts see: `issues` is a ReplacingMergeTree of versions
//! without aggregates, the aggregates are AggregatingMergeTree states per fingerprint. So each
//! documented table is a subquery over the raw ones ([`analyst_table_sql`]) with the same
//! columns as the embedded engine's DataFusion tables; [`crate::sql::prepare`] puts it in place
//! of every reference, with the token's project filter inside (where it prunes the scans).
//!
//! Queries run with `readonly=1` (no writes, no SET, no table functions), `max_execution_time`
//! and `max_result_rows` with `result_overflow_mode=break`; ClickHouse 18.16 accepts
//! `readonly=1` together with other settings when they all come as URL parameters.

use std::sync::OnceLock;
use std::time::Duration;

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::rows::{from_epoch_seconds, to_epoch_seconds, version_now};
use super::{classify, ClickHouseEngine};
use crate::engine::{ApiTokenRecord, EngineError, EngineResult, SqlColumn, SqlLimits, SqlResult};

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct ApiTokenRow {
    token_id: String,
    secret_hash: String,
    name: String,
    project_ids: Vec<u64>,
    created_at: u32,
    revoked: u8,
    version: u64,
}

/// The current mapping of fingerprints to issues, per project.
const CURRENT_MAPPING: &str = "SELECT project_id, fingerprint, argMax(issue_id, version) AS mapped_issue, \
    max(updated_at) AS latest_update FROM issue_fingerprints WHERE {scope} GROUP BY project_id, fingerprint";

/// The documented table `table` as a ClickHouse subquery over the raw tables, limited to the
/// projects of `projects` (`None`: every project). `None` for any other name.
pub fn analyst_table_sql(table: &str, projects: Option<&[u64]>) -> Option<String> {
    let scope = |column: &str| match projects {
        None => "1 = 1".to_owned(),
        Some(ids) => format!(
            "{column} IN ({})",
            ids.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let aggregates_by_issue = |bucket: &str| {
        format!(
            "SELECT project_id, mapped_issue AS issue_id, {bucket}countMerge(events_state) AS event_count, \
                    uniqIfMerge(users_state) AS user_count, minMerge(first_seen_state) AS first_time, \
                    maxMerge(last_seen_state) AS last_time \
             FROM fingerprint_hour ANY INNER JOIN ({mapping}) AS current_mapping USING (project_id, fingerprint) \
             WHERE {scope} GROUP BY project_id, mapped_issue{group_bucket}",
            bucket = if bucket.is_empty() { String::new() } else { format!("{bucket}, ") },
            group_bucket = if bucket.is_empty() { String::new() } else { format!(", {bucket}") },
            mapping = CURRENT_MAPPING.replace("{scope}", &scope("project_id")),
            scope = scope("project_id"),
        )
    };
    let sql = match table {
        "events" => format!("SELECT * FROM events WHERE {}", scope("project_id")),
        "issues" => format!(
            "SELECT project_id, issue_id, current_title AS title, current_culprit AS culprit, \
                    current_level AS level, current_platform AS platform, first_created AS created_at, \
                    if(current_status = '', 'new', current_status) AS status, \
                    event_count AS events, user_count AS users, first_time AS first_seen, last_time AS last_seen \
             FROM ( \
               SELECT project_id, issue_id, current_title, current_culprit, current_level, current_platform, \
                      first_created, event_count, user_count, first_time, last_time FROM ( \
                 SELECT project_id, issue_id, argMax(title, version) AS current_title, \
                        argMax(culprit, version) AS current_culprit, argMax(level, version) AS current_level, \
                        argMax(platform, version) AS current_platform, min(created_at) AS first_created \
                 FROM issues WHERE {scope} GROUP BY project_id, issue_id \
               ) AS issue_records ANY LEFT JOIN ({aggregates}) AS issue_aggregates USING (project_id, issue_id) \
             ) AS issues_with_aggregates ANY LEFT JOIN ( \
               SELECT project_id, issue_id, argMax(status, version) AS current_status \
               FROM issue_state WHERE {scope} GROUP BY project_id, issue_id \
             ) AS current_state USING (project_id, issue_id)",
            scope = scope("project_id"),
            aggregates = aggregates_by_issue(""),
        ),
        "issue_stats" => format!(
            "SELECT project_id, issue_id, hour, event_count AS events, user_count AS users, \
                    first_time AS first_seen, last_time AS last_seen FROM ({}) AS issue_hours",
            aggregates_by_issue("hour")
        ),
        "issue_state" => format!(
            "SELECT project_id, issue_id, current_status AS status, current_actor AS actor, \
                    current_comment AS comment, latest_change AS changed_at FROM ( \
               SELECT project_id, issue_id, argMax(status, version) AS current_status, \
                      argMax(actor, version) AS current_actor, argMax(comment, version) AS current_comment, \
                      argMax(changed_at, version) AS latest_change \
               FROM issue_state WHERE {} GROUP BY project_id, issue_id) AS current_states",
            scope("project_id")
        ),
        "issue_history" => format!(
            "SELECT project_id, issue_id, from_status, to_status, actor, comment, changed_at \
             FROM issue_history WHERE {}",
            scope("project_id")
        ),
        "issue_fingerprints" => format!(
            "SELECT project_id, fingerprint, mapped_issue AS issue_id, latest_update AS updated_at \
             FROM ({}) AS current_mappings",
            CURRENT_MAPPING.replace("{scope}", &scope("project_id"))
        ),
        "projects" => format!(
            "SELECT id, current_name AS name, first_created AS created_at FROM ( \
               SELECT id, argMax(name, version) AS current_name, min(created_at) AS first_created \
               FROM projects WHERE {} GROUP BY id) AS current_projects",
            scope("id")
        ),
        // Traces (issue 9).
        "spans" => format!("SELECT * FROM spans WHERE {}", scope("project_id")),
        // Alerting (issue 7).
        _ => return super::alerts::alert_table_sql(table, projects),
    };
    Some(sql.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// One HTTP client for analyst queries (they bypass the `clickhouse` crate, which treats every
/// `?` in a query as a bind placeholder and cannot return arbitrary columns).
fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

#[derive(Deserialize)]
struct JsonCompact {
    meta: Vec<JsonCompactColumn>,
    data: Vec<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct JsonCompactColumn {
    name: String,
    #[serde(rename = "type")]
    data_type: String,
}

impl ClickHouseEngine {
    pub(super) async fn store_api_token_row(&self, token: &ApiTokenRecord) -> EngineResult<()> {
        self.insert_rows(
            "api_tokens",
            &[ApiTokenRow {
                token_id: token.token_id.clone(),
                secret_hash: token.secret_hash.clone(),
                name: token.name.clone(),
                project_ids: token.project_ids.clone(),
                created_at: to_epoch_seconds(token.created_at),
                revoked: u8::from(token.revoked),
                version: version_now(),
            }],
        )
        .await
    }

    pub(super) async fn api_token_rows(&self) -> EngineResult<Vec<ApiTokenRecord>> {
        let rows: Vec<ApiTokenRow> = self
            .query(self.connection.client.query(
                "SELECT token_id, argMax(secret_hash, version) AS current_hash, \
                        argMax(name, version) AS current_name, argMax(project_ids, version) AS current_projects, \
                        min(created_at) AS first_created, argMax(revoked, version) AS current_revoked, \
                        max(version) AS latest_version \
                 FROM api_tokens GROUP BY token_id ORDER BY token_id",
            ))
            .fetch_all()
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|row| ApiTokenRecord {
                token_id: row.token_id,
                secret_hash: row.secret_hash,
                name: row.name,
                project_ids: row.project_ids,
                created_at: from_epoch_seconds(row.created_at),
                revoked: row.revoked != 0,
            })
            .collect())
    }

    /// Runs an analyst query read-only and bounded; see the module documentation.
    pub(super) async fn run_analyst_sql(
        &self,
        query: &str,
        limits: &SqlLimits,
    ) -> EngineResult<SqlResult> {
        let statement = format!("{query} FORMAT JSONCompact");
        let timeout = limits.timeout_secs.max(1);
        let mut parameters: Vec<(&str, String)> = vec![
            ("database", self.settings.database.clone()),
            ("readonly", "1".to_owned()),
            ("max_execution_time", timeout.to_string()),
            (
                "max_result_rows",
                limits.max_rows.saturating_add(1).to_string(),
            ),
            ("result_overflow_mode", "break".to_owned()),
            ("output_format_json_quote_64bit_integers", "0".to_owned()),
            // Every documented table is a subquery with the token's project filter inside, so
            // the query's own conditions (a window on `received` or `timestamp`) prune parts
            // only once pushed into it. ClickHouse does that by default since 19.x; 18.16
            // needs it asked for.
            ("enable_optimize_predicate_expression", "1".to_owned()),
        ];
        if let Some(threads) = limits.max_threads {
            parameters.push(("max_threads", threads.max(1).to_string()));
        }
        if let Some(user) = &self.settings.user {
            parameters.push(("user", user.clone()));
        }
        if let Some(password) = &self.settings.password {
            parameters.push(("password", password.clone()));
        }
        // The query only reads (`readonly=1`), so a connection that drops under it (a stale
        // keep-alive, a busy server) is retried a few times before the caller hears of it.
        let mut attempts = 0u64;
        let (status, body) = loop {
            attempts += 1;
            let sent = http()
                .post(&self.settings.url)
                .query(&parameters)
                .body(statement.clone())
                // ClickHouse stops the query itself; this only guards against a silent server.
                .timeout(Duration::from_secs(timeout + 10))
                .send()
                .await;
            let answer = match sent {
                Ok(response) => {
                    let status = response.status();
                    response
                        .bytes()
                        .await
                        .map(|body| (status, body))
                        .map_err(|error| format!("ClickHouse answer lost: {error}"))
                }
                Err(error) => Err(format!("ClickHouse unreachable: {error}")),
            };
            match answer {
                Ok(answer) => break answer,
                Err(_) if attempts < 3 => {
                    tokio::time::sleep(Duration::from_millis(100 * attempts)).await;
                }
                Err(message) => return Err(EngineError::Unavailable(message)),
            }
        };
        if !status.is_success() {
            let message = String::from_utf8_lossy(&body).trim().to_owned();
            return Err(
                if status.is_server_error() && !message.starts_with("Code:") {
                    EngineError::Unavailable(message)
                } else if message.starts_with("Code: 159.") {
                    EngineError::Rejected(format!("the query ran longer than {timeout} seconds"))
                } else {
                    EngineError::Rejected(clean_message(&message))
                },
            );
        }
        // Recorded only once it ran: the chDB replay checks what works here also works on
        // current ClickHouse, and analysts' mistakes are not ours to replay.
        self.record(query);
        let answer: JsonCompact = serde_json::from_slice(&body).map_err(|error| {
            EngineError::Corrupt(format!("unreadable ClickHouse answer: {error}"))
        })?;
        let mut rows = answer.data;
        let truncated = rows.len() > limits.max_rows;
        rows.truncate(limits.max_rows);
        Ok(SqlResult {
            columns: answer
                .meta
                .into_iter()
                .map(|column| SqlColumn {
                    name: column.name,
                    data_type: column.data_type,
                })
                .collect(),
            rows,
            truncated,
        })
    }
}

/// `Code: 47, e.displayText() = DB::Exception: Unknown identifier: x, e.what() = ...` →
/// `Unknown identifier: x` (the part an analyst can act on).
fn clean_message(message: &str) -> String {
    let text = message
        .split_once("DB::Exception: ")
        .map_or(message, |(_, rest)| rest);
    let text = text.split(", e.what()").next().unwrap_or(text);
    let text = text.split(" (version ").next().unwrap_or(text);
    text.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_table_has_a_scoped_definition() {
        for table in crate::sql::DOCUMENTED_TABLES {
            let scoped = analyst_table_sql(table, Some(&[3, 4])).expect("documented");
            assert!(scoped.contains("IN (3, 4)"), "{table}: {scoped}");
            assert!(!scoped.contains("{scope}"), "{table}: {scoped}");
            let all = analyst_table_sql(table, None).expect("documented");
            assert!(!all.contains(" IN ("), "{table}: {all}");
        }
        assert!(analyst_table_sql("api_tokens", None).is_none());
    }

    #[test]
    fn clickhouse_messages_are_trimmed_to_their_reason() {
        assert_eq!(
            clean_message("Code: 47, e.displayText() = DB::Exception: Unknown identifier: x, e.what() = DB::Exception"),
            "Unknown identifier: x"
        );
    }
}
