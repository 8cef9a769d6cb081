//! Engine-neutral records of alerting (issue 7): rules, per-group rule state, the
//! `alert_events` log of every evaluation outcome and notification, the `alert_deliveries`
//! webhook queue/log, and the claim rows that let one instance of several evaluate a rule slot.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A stored alert rule. `definition` is the rule's JSON ([`crate::alerting::rules::RuleSpec`]);
/// the webhook secret is kept apart so analyst SQL over `alert_rules` never shows it.
/// The newest write of a `rule_id` wins; deleting is a write with `deleted = true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRuleRecord {
    pub rule_id: u64,
    pub project_id: u64,
    pub name: String,
    /// `sql`, `new_issue`, `regression`, `frequency`, `user_impact` or `spike`.
    pub kind: String,
    pub definition: String,
    pub webhook_secret: String,
    pub interval_secs: u64,
    pub enabled: bool,
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The state of one group key of one rule (`""` for rules returning one number). The newest
/// write per (rule, group key) wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertStateRecord {
    pub rule_id: u64,
    pub group_key: String,
    /// `ok`, `firing` or `resolved`.
    pub status: String,
    /// When the group entered `status`.
    pub since: DateTime<Utc>,
    /// Last notification sent for this group, if any.
    pub last_notified_at: Option<DateTime<Utc>>,
    pub value: f64,
    pub updated_at: DateTime<Utc>,
}

/// One row of `alert_events`: an evaluation outcome of one group key, and what was done about
/// notifying it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEventRecord {
    pub event_id: String,
    pub rule_id: u64,
    pub project_id: u64,
    pub group_key: String,
    /// `ok`, `firing`, `still_firing`, `resolved` or `error`.
    pub outcome: String,
    pub value: f64,
    /// `sent`, `suppressed_cooldown`, `suppressed_cap`, or `` when nothing was to be sent.
    pub notification: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// One webhook delivery: the queue (status `pending`) and the log (`delivered`, `failed`).
/// The newest write of a `delivery_id` wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertDeliveryRecord {
    pub delivery_id: String,
    pub rule_id: u64,
    pub project_id: u64,
    /// The `alert_events` row whose notification this is.
    pub alert_event_id: String,
    pub url: String,
    /// The exact body POSTed (JSON).
    pub payload: String,
    /// `pending`, `delivered` or `failed` (gave up).
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: String,
    /// HTTP status of the last attempt; 0 when no answer came.
    pub last_status_code: u16,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which `alert_events` rows to read, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertEventQuery {
    pub rule_id: Option<u64>,
    /// Only rows at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only rows whose notification is `sent`.
    pub sent_only: bool,
    pub limit: usize,
    pub offset: usize,
}

/// Which deliveries to read: of a rule (newest first), or the pending ones due by a time
/// (oldest due first).
#[derive(Debug, Clone, PartialEq)]
pub enum AlertDeliveryQuery {
    OfRule {
        rule_id: u64,
        limit: usize,
        offset: usize,
    },
    DueBy {
        time: DateTime<Utc>,
        limit: usize,
    },
}

/// Everything one evaluation stores.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertEvaluationWrite {
    pub states: Vec<AlertStateRecord>,
    pub events: Vec<AlertEventRecord>,
    pub deliveries: Vec<AlertDeliveryRecord>,
}

/// A claim on a unit of alerting work (a rule's interval slot, a delivery attempt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertClaim {
    pub claim_key: String,
    pub instance: String,
    /// Random: the tie-breaker between claims made at the same millisecond.
    pub nonce: u64,
    pub claimed_at_ms: u64,
}

/// The winning claim among several on the same key: the earliest, then the smallest nonce.
pub fn winning_claim(claims: &[AlertClaim]) -> Option<&AlertClaim> {
    claims
        .iter()
        .min_by_key(|claim| (claim.claimed_at_ms, claim.nonce, claim.instance.clone()))
}

/// Delivery statuses after which nothing more happens to a delivery: only these are pruned.
pub const FINISHED_DELIVERY_STATUSES: [&str; 2] = ["delivered", "failed"];

/// Whether a delivery is finished (delivered, or given up on).
pub fn delivery_is_finished(delivery: &AlertDeliveryRecord) -> bool {
    FINISHED_DELIVERY_STATUSES.contains(&delivery.status.as_str())
}

/// What one [`crate::engine::Engine::prune_alert_history`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertPruneCounts {
    /// `alert_events` rows.
    pub events: u64,
    /// Finished deliveries (every stored version of each).
    pub deliveries: u64,
    /// Claim rows.
    pub claims: u64,
}
