//! Evaluating a rule: its SQL (or a built-in's) with the window bound, scoped to the rule's
//! project by the analyst-SQL rewrite ([`crate::sql::prepare`]), run by [`Engine::sql`]; the
//! rows become observations, the observations a step of the state machine, and the step the
//! rows to store (states, `alert_events`, pending deliveries). Validation at save time runs the
//! same path once over a zero-width window.
//!
//! Rules that run the same query over the same window (an equal [`EvaluationKey`]: say, many
//! frequency rules of one project with different thresholds) are evaluated as one
//! [`RuleGroup`]: one read of their states, one of their notification counts, and one run of
//! the query, whose rows each rule then decides by its own threshold. A round's cost grows with
//! the number of distinct queries, not of rules.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};

use super::builtin::{builtin_query, decide};
use super::notify::{payload, NotificationContent};
use super::rules::{bind_window, Condition, InvalidRule, RuleSpec};
use super::state::{step, GroupState, GroupStatus, Notification, Observation, Step};
use crate::access::Access;
use crate::engine::{
    AlertDeliveryRecord, AlertEvaluationWrite, AlertEventRecord, AlertRuleRecord, AlertStateRecord,
    Engine, EngineError, SqlLimits, SqlResult,
};
use crate::sql::cell_text;

/// Bounds of one rule query: at most this many groups, this long, on one thread. Rules run in
/// the background beside ingest: one thread each leaves the other cores to it, so a round
/// takes longer but ingest keeps most of the machine (see `benches/alerts.rs`).
pub const ALERT_SQL_LIMITS: SqlLimits = SqlLimits {
    max_rows: 10_000,
    timeout_secs: 30,
    max_threads: Some(1),
    // The scheduler waits for acknowledged batches once per tick (`Engine::caught_up`), not
    // in each of its queries.
    read_own_writes: false,
};

/// Why a rule could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    /// The rule itself is at fault (SQL refused or invalid, a non-number result).
    #[error("{0}")]
    Rule(String),
    /// The storage failed; the next interval tries again.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The rule a stored record holds.
pub fn spec_of(record: &AlertRuleRecord) -> Result<RuleSpec, EngineError> {
    serde_json::from_str(&record.definition).map_err(|error| {
        EngineError::Corrupt(format!(
            "alert rule {} has an unreadable definition: {error}",
            record.rule_id
        ))
    })
}

/// What decides the query a rule runs: rules with equal keys run the same SQL over the same
/// window, so they are evaluated as one group with one query per slot (the scheduler gives a
/// key one phase, so its rules are due together). Thresholds, cooldowns, caps and webhooks do
/// not change the query and are not part of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EvaluationKey {
    pub project_id: u64,
    pub interval_secs: u64,
    pub window_secs: u64,
    /// The spike baseline: the one built-in parameter that is in the query.
    pub baseline_secs: Option<u64>,
    /// The SQL with its window placeholders still in (a built-in's, or the rule's own).
    pub query: String,
}

impl EvaluationKey {
    pub fn of(rule: &RuleSpec) -> EvaluationKey {
        let (query, baseline_secs) = match &rule.condition {
            Condition::Sql { query, .. } => (query.clone(), None),
            condition => (
                builtin_query(condition).unwrap_or_default(),
                match condition {
                    Condition::Spike { baseline_secs, .. } => Some(*baseline_secs),
                    _ => None,
                },
            ),
        };
        EvaluationKey {
            project_id: rule.project_id,
            interval_secs: rule.interval_secs,
            window_secs: rule.window_secs,
            baseline_secs,
            query,
        }
    }

    /// A hash of the key that every instance and release computes alike (the scheduler's
    /// phase seed).
    pub fn seed(&self) -> u64 {
        let mut bytes = Vec::with_capacity(self.query.len() + 32);
        for number in [
            self.project_id,
            self.interval_secs,
            self.window_secs,
            self.baseline_secs.map_or(0, |secs| secs.saturating_add(1)),
        ] {
            bytes.extend_from_slice(&number.to_le_bytes());
        }
        bytes.extend_from_slice(self.query.as_bytes());
        twox_hash::XxHash64::oneshot(0x414c_4552_5453, &bytes)
    }
}

/// Runs the key's query over `[window_start, window_end)`, scoped to its project.
async fn run_query(
    engine: &dyn Engine,
    key: &EvaluationKey,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
) -> Result<SqlResult, EvaluationError> {
    let baseline_start = key
        .baseline_secs
        .map(|baseline_secs| window_start - seconds(baseline_secs));
    let bound = bind_window(
        &key.query,
        engine.sql_dialect(),
        window_start,
        window_end,
        baseline_start,
    );
    let prepared = crate::sql::prepare(
        &bound,
        engine.sql_dialect(),
        &Access::projects([key.project_id]),
    )
    .map_err(|rejection| EvaluationError::Rule(format!("the SQL is refused: {rejection}")))?;
    match engine.sql(&prepared, &ALERT_SQL_LIMITS).await {
        Ok(result) => Ok(result),
        Err(EngineError::Rejected(message)) => Err(EvaluationError::Rule(format!(
            "the SQL does not run: {message}"
        ))),
        Err(other) => Err(other.into()),
    }
}

/// Runs the rule's query over the window and decides each row.
pub async fn observe(
    engine: &dyn Engine,
    rule: &RuleSpec,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
) -> Result<Vec<Observation>, EvaluationError> {
    let key = EvaluationKey::of(rule);
    observe_key(engine, rule, &key, window_start, window_end).await
}

/// [`observe`] with the query `key` gives (the rule's own, or the check's at save time).
async fn observe_key(
    engine: &dyn Engine,
    rule: &RuleSpec,
    key: &EvaluationKey,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
) -> Result<Vec<Observation>, EvaluationError> {
    let result = run_query(engine, key, window_start, window_end).await?;
    observations_from(rule, &result).map_err(EvaluationError::Rule)
}

fn seconds(count: u64) -> Duration {
    Duration::seconds(i64::try_from(count).unwrap_or(i64::MAX / 4))
}

/// Whether an engine type name is numeric (ClickHouse `UInt64`, `Nullable(Float64)`,
/// `Decimal(9, 2)`; DataFusion `Int64`, `Float64`, `Decimal128(38, 10)`).
pub fn is_numeric_type(type_name: &str) -> bool {
    let inner = type_name
        .strip_prefix("Nullable(")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or(type_name);
    !inner.starts_with("Interval")
        && ["UInt", "Int", "Float", "Decimal"]
            .iter()
            .any(|prefix| inner.starts_with(prefix))
}

/// Turns a query result into observations: one number (one column, at most one row; no row
/// reads as 0), or one row per group (first column the key, last column the number).
pub fn observations_from(rule: &RuleSpec, result: &SqlResult) -> Result<Vec<Observation>, String> {
    let Some(last) = result.columns.last() else {
        return Err("the query returns no columns".into());
    };
    if !is_numeric_type(&last.data_type) {
        return Err(format!(
            "the query must return a number in its last column, but {:?} is {}",
            last.name, last.data_type
        ));
    }
    let spike = matches!(rule.condition, Condition::Spike { .. });
    let number = |value: &serde_json::Value| -> Result<f64, String> {
        match value {
            serde_json::Value::Null => Ok(0.0),
            serde_json::Value::Number(number) => Ok(number.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(text) => text
                .parse::<f64>()
                .map_err(|_| format!("the query returned {text:?} where a number belongs")),
            other => Err(format!("the query returned {other} where a number belongs")),
        }
    };
    let mut observations = Vec::new();
    if result.columns.len() == 1 {
        if result.rows.len() > 1 {
            return Err(format!(
                "a one-column query must return one row (it returned {}); to alert per group, \
                 return the group key first and the number last",
                result.rows.len()
            ));
        }
        let value = match result.rows.first().and_then(|row| row.first()) {
            Some(cell) => number(cell)?,
            None => 0.0,
        };
        if let Some((value, breaching)) = decide(rule, &[value]) {
            observations.push(Observation {
                group_key: String::new(),
                value,
                breaching,
            });
        }
        return Ok(observations);
    }
    for row in &result.rows {
        let Some(key) = row.first() else { continue };
        let numbers = row[1..]
            .iter()
            .map(number)
            .collect::<Result<Vec<f64>, String>>();
        // Only the columns the decision uses must be numbers: the last (and for spikes the
        // one before it).
        let numbers = match numbers {
            Ok(numbers) => numbers,
            Err(error) => {
                let used = if spike { 2 } else { 1 };
                let tail = &row[row.len().saturating_sub(used)..];
                tail.iter()
                    .map(number)
                    .collect::<Result<Vec<f64>, String>>()?;
                return Err(error);
            }
        };
        if let Some((value, breaching)) = decide(rule, &numbers) {
            observations.push(Observation {
                group_key: cell_text(key),
                value,
                breaching,
            });
        }
    }
    Ok(observations)
}

/// Checks a rule before it is saved: the static checks, then its query run once over a
/// zero-width window (it parses, only reads, and returns a number). A spike's baseline is
/// zero-width too: the check reads no events, where the rule's own baseline (an hour, a day)
/// would make every save scan that much history.
pub async fn validate(engine: &dyn Engine, rule: &RuleSpec) -> Result<(), InvalidRule> {
    rule.validate()?;
    let now = Utc::now();
    match observe_key(engine, rule, &validation_key(rule), now, now).await {
        Ok(_) => Ok(()),
        Err(EvaluationError::Rule(message)) => Err(InvalidRule(message)),
        Err(EvaluationError::Engine(error)) => Err(InvalidRule(format!(
            "the query could not be checked: {error}"
        ))),
    }
}

/// The query a rule is checked with when saved: its own, with a zero-width spike baseline.
fn validation_key(rule: &RuleSpec) -> EvaluationKey {
    let mut key = EvaluationKey::of(rule);
    key.baseline_secs = key.baseline_secs.map(|_| 0);
    key
}

/// A stored rule and its definition.
#[derive(Debug, Clone)]
pub struct LoadedRule {
    pub record: AlertRuleRecord,
    pub spec: RuleSpec,
}

/// Rules that share an [`EvaluationKey`].
#[derive(Debug, Clone)]
pub struct RuleGroup {
    pub key: EvaluationKey,
    pub rules: Vec<LoadedRule>,
}

/// Groups rules by evaluation key (in key order, each group's rules in the order given). A
/// rule whose definition cannot be read is returned apart with the reason.
pub fn group_rules(
    records: impl IntoIterator<Item = AlertRuleRecord>,
) -> (Vec<RuleGroup>, Vec<(AlertRuleRecord, EngineError)>) {
    let mut groups: BTreeMap<EvaluationKey, Vec<LoadedRule>> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for record in records {
        match spec_of(&record) {
            Ok(spec) => groups
                .entry(EvaluationKey::of(&spec))
                .or_default()
                .push(LoadedRule { record, spec }),
            Err(error) => unreadable.push((record, error)),
        }
    }
    let groups = groups
        .into_iter()
        .map(|(key, rules)| RuleGroup { key, rules })
        .collect();
    (groups, unreadable)
}

/// One evaluation of a stored rule at `now`: reads its states and recent notifications,
/// observes, steps, and returns what to store. Nothing is written here.
pub async fn evaluate(
    engine: &dyn Engine,
    record: &AlertRuleRecord,
    now: DateTime<Utc>,
) -> Result<AlertEvaluationWrite, EngineError> {
    let spec = spec_of(record)?;
    let group = RuleGroup {
        key: EvaluationKey::of(&spec),
        rules: vec![LoadedRule {
            record: record.clone(),
            spec,
        }],
    };
    evaluate_group(engine, &group, now).await
}

/// One evaluation of a group of rules at `now` (the end of their common window): one read of
/// every rule's states, one of their notification counts over the last hour, and the group's
/// query run once; then each rule decides the rows by its own threshold and steps its own
/// state. Returns what to store for all of them, as one write. Nothing is written here.
pub async fn evaluate_group(
    engine: &dyn Engine,
    group: &RuleGroup,
    now: DateTime<Utc>,
) -> Result<AlertEvaluationWrite, EngineError> {
    let rule_ids: Vec<u64> = group.rules.iter().map(|rule| rule.record.rule_id).collect();
    let mut previous: HashMap<u64, BTreeMap<String, GroupState>> = HashMap::new();
    for state in engine.alert_states(&rule_ids).await? {
        previous.entry(state.rule_id).or_default().insert(
            state.group_key,
            GroupState {
                status: GroupStatus::parse(&state.status),
                since: state.since,
                last_notified_at: state.last_notified_at,
                value: state.value,
            },
        );
    }
    let capped: Vec<u64> = group
        .rules
        .iter()
        .filter(|rule| rule.spec.max_notifications_per_hour > 0)
        .map(|rule| rule.record.rule_id)
        .collect();
    let sent = engine
        .alert_notifications_sent(&capped, now - Duration::hours(1))
        .await?;
    let window_start = now - seconds(group.key.window_secs);
    let result = match run_query(engine, &group.key, window_start, now).await {
        Ok(result) => Ok(result),
        Err(EvaluationError::Engine(error)) => return Err(error),
        Err(EvaluationError::Rule(message)) => Err(message),
    };
    let mut write = AlertEvaluationWrite::default();
    let empty = BTreeMap::new();
    for LoadedRule { record, spec } in &group.rules {
        let observations = result
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|result| observations_from(spec, result));
        let one = match observations {
            Ok(observations) => {
                let sent_last_hour = sent.get(&record.rule_id).copied().unwrap_or(0);
                let step = step(
                    spec,
                    previous.get(&record.rule_id).unwrap_or(&empty),
                    &observations,
                    now,
                    u32::try_from(sent_last_hour).unwrap_or(u32::MAX),
                );
                to_write(record, spec, &step, now)
            }
            // A rule that stopped working (a column renamed, a timeout) is recorded, not fatal.
            Err(message) => AlertEvaluationWrite {
                events: vec![AlertEventRecord {
                    event_id: new_id(),
                    rule_id: record.rule_id,
                    project_id: record.project_id,
                    group_key: String::new(),
                    outcome: "error".into(),
                    value: 0.0,
                    notification: String::new(),
                    message,
                    at: now,
                }],
                ..AlertEvaluationWrite::default()
            },
        };
        write.states.extend(one.states);
        write.events.extend(one.events);
        write.deliveries.extend(one.deliveries);
    }
    Ok(write)
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The rows a step stores.
fn to_write(
    record: &AlertRuleRecord,
    rule: &RuleSpec,
    step: &Step,
    now: DateTime<Utc>,
) -> AlertEvaluationWrite {
    let mut write = AlertEvaluationWrite {
        states: step
            .new_states
            .iter()
            .map(|(group_key, state)| AlertStateRecord {
                rule_id: record.rule_id,
                group_key: group_key.clone(),
                status: state.status.as_str().into(),
                since: state.since,
                last_notified_at: state.last_notified_at,
                value: state.value,
                updated_at: now,
            })
            .collect(),
        ..AlertEvaluationWrite::default()
    };
    for transition in &step.transitions {
        let event_id = new_id();
        let content = NotificationContent {
            rule_id: record.rule_id,
            rule,
            group_key: &transition.group_key,
            outcome: transition.outcome,
            value: transition.value,
            alert_event_id: &event_id,
            at: now,
        };
        let message = super::notify::message(&content);
        if let (Notification::Send, Some(webhook)) = (transition.notification, &rule.webhook) {
            write.deliveries.push(AlertDeliveryRecord {
                delivery_id: new_id(),
                rule_id: record.rule_id,
                project_id: record.project_id,
                alert_event_id: event_id.clone(),
                url: webhook.url.clone(),
                payload: payload(&content).to_string(),
                status: "pending".into(),
                attempts: 0,
                next_attempt_at: now,
                last_error: String::new(),
                last_status_code: 0,
                created_at: now,
                updated_at: now,
            });
        }
        write.events.push(AlertEventRecord {
            event_id,
            rule_id: record.rule_id,
            project_id: record.project_id,
            group_key: transition.group_key.clone(),
            outcome: transition.outcome.as_str().into(),
            value: transition.value,
            notification: transition.notification.as_str().into(),
            message,
            at: now,
        });
    }
    write
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::rules::{Comparison, RuleSpec};
    use crate::engine::SqlColumn;

    fn rule() -> RuleSpec {
        RuleSpec {
            project_id: 1,
            name: "r".into(),
            condition: Condition::Sql {
                query: "SELECT 1".into(),
                comparison: Comparison::Gt,
                threshold: 2.0,
            },
            interval_secs: 1,
            window_secs: 1,
            cooldown_secs: 0,
            max_notifications_per_hour: 0,
            notify_on_resolve: true,
            webhook: None,
            enabled: true,
        }
    }

    fn result(types: &[&str], rows: Vec<Vec<serde_json::Value>>) -> SqlResult {
        SqlResult {
            columns: types
                .iter()
                .enumerate()
                .map(|(i, t)| SqlColumn {
                    name: format!("c{i}"),
                    data_type: (*t).to_owned(),
                })
                .collect(),
            rows,
            truncated: false,
        }
    }

    #[test]
    fn numbers_and_groups_are_read_and_text_refused() {
        let one = observations_from(&rule(), &result(&["UInt64"], vec![vec![3.into()]]))
            .expect("a number");
        assert_eq!(one.len(), 1);
        assert!(one[0].breaching);
        let groups = observations_from(
            &rule(),
            &result(
                &["String", "Float64"],
                vec![vec!["a".into(), 1.into()], vec!["b".into(), 5.into()]],
            ),
        )
        .expect("groups");
        assert_eq!(
            groups
                .iter()
                .map(|o| (o.group_key.as_str(), o.breaching))
                .collect::<Vec<_>>(),
            vec![("a", false), ("b", true)]
        );
        let text = observations_from(&rule(), &result(&["Utf8"], vec![]));
        assert!(text
            .expect_err("text is not a number")
            .contains("must return a number"));
        assert!(is_numeric_type("Nullable(Decimal(9, 2))"));
        assert!(!is_numeric_type("Interval(MonthDayNano)"));
        let empty = observations_from(&rule(), &result(&["Int64"], vec![])).expect("empty");
        assert_eq!(empty[0].value, 0.0);
    }

    #[test]
    fn a_rule_is_checked_over_no_history_even_with_a_spike_baseline() {
        let spike = RuleSpec {
            condition: Condition::Spike {
                factor: 3.0,
                baseline_secs: 86_400,
                floor: 5,
            },
            ..rule()
        };
        let checked = validation_key(&spike);
        assert_eq!(checked.baseline_secs, Some(0));
        // Only the baseline differs from what the scheduler runs.
        assert_eq!(
            EvaluationKey {
                baseline_secs: Some(86_400),
                ..checked
            },
            EvaluationKey::of(&spike)
        );
        assert_eq!(validation_key(&rule()), EvaluationKey::of(&rule()));
    }
}
