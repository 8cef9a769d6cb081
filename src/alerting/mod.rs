//! Alerting (issue 7): rules over the stored data, evaluated on a schedule, notified by webhook.
//!
//! - [`rules`] (pure): the rule model — SQL thresholds and the built-in issue alerts — and its
//!   validation; [`builtin`] (pure): the built-ins as SQL plus their decision; [`state`]
//!   (pure): OK → FIRING → RESOLVED per (rule, group key) with de-duplication, cooldown and an
//!   hourly cap.
//! - [`evaluate`]: one evaluation through analyst SQL ([`crate::sql::prepare`] scopes it to the
//!   rule's project, [`crate::engine::Engine::sql`] runs it on either engine).
//! - [`scheduler`]: the task inside `stackhouse serve` that evaluates every rule once per
//!   interval, cluster-wide, with its state in the engine.
//! - [`notify`]: webhook payloads, signatures and the deliverer of the persisted queue.
//! - [`retention`]: the hourly prune of old `alert_events`, finished deliveries and claims.
//!
//! This module also holds the operations GraphQL and the CLI share (create, update, delete,
//! test).

pub mod builtin;
pub mod evaluate;
pub mod notify;
pub mod retention;
pub mod rules;
pub mod scheduler;
pub mod state;

use chrono::Utc;
use serde::Deserialize;

use crate::engine::{AlertEvaluationWrite, AlertRuleRecord, Engine, EngineError};
use rules::{InvalidRule, RuleSpec};

/// The `[alerts]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Whether `serve` runs the alert scheduler and the webhook deliverer. Default true.
    pub enabled: bool,
    /// How often the scheduler looks for rules due and the deliverer for deliveries due, in
    /// milliseconds. Rules are evaluated on their own interval (>= 1 s); this is only how
    /// finely that is followed. Default 1000.
    pub tick_ms: u64,
    /// How long an instance waits after writing a claim (on a rule's interval slot, or on a
    /// delivery attempt) before reading which claim won, in milliseconds. Must exceed the
    /// engine's write-visibility lag and the instances' clock skew. Default 500.
    pub claim_settle_ms: u64,
    /// Rules evaluated at the same time at most. Default 8.
    pub max_concurrent_evaluations: usize,
    /// Webhook POSTs in flight at the same time at most. Default 16.
    pub max_concurrent_deliveries: usize,
    /// Longest one webhook POST may take, in milliseconds. Default 10,000.
    pub delivery_timeout_ms: u64,
    /// Wait after the first failed attempt, doubled after each further one, in milliseconds.
    /// Default 1,000.
    pub retry_base_ms: u64,
    /// Longest wait between attempts, in milliseconds. Default 300,000 (5 minutes).
    pub retry_max_ms: u64,
    /// Attempts before a delivery is marked `failed`. Default 15 (about 40 minutes of retries
    /// with the defaults).
    pub max_attempts: u32,
    /// This instance's name in claims. Default: a random id per process.
    pub instance_id: Option<String>,
    /// Days of alerting history kept: `alert_events` rows, and finished (`delivered` or
    /// `failed`) deliveries by their last update, older than this are deleted by a prune that
    /// runs hourly (one instance of several per hour) and shortly after start. Deliveries
    /// still pending are kept however old. Claims follow their own, shorter bound
    /// ([`retention::claim_retention`]). At least 1. Default 30.
    pub history_days: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: true,
            tick_ms: 1000,
            claim_settle_ms: 500,
            max_concurrent_evaluations: 8,
            max_concurrent_deliveries: 16,
            delivery_timeout_ms: 10_000,
            retry_base_ms: 1000,
            retry_max_ms: 300_000,
            max_attempts: 15,
            instance_id: None,
            history_days: 30,
        }
    }
}

impl AlertsConfig {
    /// Checks the settings that have no meaningful value below a bound; the message names the
    /// setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.history_days < 1 {
            return Err(format!(
                "alerts.history_days must be at least 1 (days of alert history kept), not {}",
                self.history_days
            ));
        }
        Ok(())
    }
}

/// Why a rule operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error(transparent)]
    Invalid(#[from] InvalidRule),
    #[error("there is no alert rule {0}")]
    NotFound(u64),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// A rule id: random, below 2^53 so JavaScript clients read it exactly.
fn new_rule_id() -> u64 {
    (rand::random::<u64>() >> 11) | 1
}

fn record_of(
    rule_id: u64,
    spec: &RuleSpec,
    webhook_secret: String,
    created_at: chrono::DateTime<Utc>,
) -> Result<AlertRuleRecord, RuleError> {
    Ok(AlertRuleRecord {
        rule_id,
        project_id: spec.project_id,
        name: spec.name.trim().to_owned(),
        kind: spec.condition.kind().to_owned(),
        definition: serde_json::to_string(spec)
            .map_err(|error| InvalidRule(format!("cannot store the rule: {error}")))?,
        webhook_secret,
        interval_secs: spec.interval_secs,
        enabled: spec.enabled,
        deleted: false,
        created_at,
        updated_at: Utc::now(),
    })
}

async fn check_project(engine: &dyn Engine, project_id: u64) -> Result<(), RuleError> {
    if engine.projects().await?.iter().any(|p| p.id == project_id) {
        Ok(())
    } else {
        Err(InvalidRule(format!("there is no project {project_id}")).into())
    }
}

/// Validates (running the query once) and stores a new rule.
pub async fn create_rule(
    engine: &dyn Engine,
    spec: &RuleSpec,
    webhook_secret: Option<String>,
) -> Result<AlertRuleRecord, RuleError> {
    check_project(engine, spec.project_id).await?;
    evaluate::validate(engine, spec).await?;
    let record = record_of(
        new_rule_id(),
        spec,
        webhook_secret.unwrap_or_default(),
        Utc::now(),
    )?;
    engine.put_alert_rule(&record).await?;
    Ok(record)
}

/// The current version of a rule (deleted rules are gone).
pub async fn find_rule(
    engine: &dyn Engine,
    rule_id: u64,
) -> Result<Option<AlertRuleRecord>, EngineError> {
    Ok(engine
        .alert_rules()
        .await?
        .into_iter()
        .find(|rule| rule.rule_id == rule_id))
}

/// Validates and stores a new version of a rule; `webhook_secret: None` keeps the current one.
pub async fn update_rule(
    engine: &dyn Engine,
    rule_id: u64,
    spec: &RuleSpec,
    webhook_secret: Option<String>,
) -> Result<AlertRuleRecord, RuleError> {
    let current = find_rule(engine, rule_id)
        .await?
        .ok_or(RuleError::NotFound(rule_id))?;
    if current.project_id != spec.project_id {
        return Err(InvalidRule("a rule cannot move to another project".into()).into());
    }
    evaluate::validate(engine, spec).await?;
    let record = record_of(
        rule_id,
        spec,
        webhook_secret.unwrap_or(current.webhook_secret),
        current.created_at,
    )?;
    engine.put_alert_rule(&record).await?;
    Ok(record)
}

/// Deletes a rule (its events and deliveries stay in the log). False if there was none.
pub async fn delete_rule(engine: &dyn Engine, rule_id: u64) -> Result<bool, EngineError> {
    let Some(current) = find_rule(engine, rule_id).await? else {
        return Ok(false);
    };
    engine
        .put_alert_rule(&AlertRuleRecord {
            deleted: true,
            updated_at: Utc::now(),
            ..current
        })
        .await?;
    Ok(true)
}

/// Evaluates a rule now against its stored state and returns what would be recorded and sent,
/// storing and sending nothing.
pub async fn test_rule(
    engine: &dyn Engine,
    record: &AlertRuleRecord,
) -> Result<AlertEvaluationWrite, EngineError> {
    evaluate::evaluate(engine, record, Utc::now()).await
}
