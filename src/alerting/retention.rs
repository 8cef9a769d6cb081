//! Retention of the alerting history: `alert_events` (one row per evaluation outcome),
//! finished `alert_deliveries` and `alert_claims` would otherwise grow forever.
//!
//! Once per hour ([`PRUNE_PERIOD`]), and shortly after start, one instance of several prunes:
//! the period is a unit of work claimed like a rule slot (`prune:3600:SLOT` through
//! [`crate::engine::Engine::claim_alert_work`]), so among several instances one does it.
//! It deletes the events and the finished deliveries older than `alerts.history_days`, and
//! the claims older than [`claim_retention`]. Pending deliveries are never pruned. Both cuts
//! are rounded down to a UTC midnight: rows are kept a little longer, and on ClickHouse the
//! delete mutations (which rewrite the parts they touch) run about once a day, not hourly.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};

use super::notify::now_ms;
use super::AlertsConfig;
use crate::engine::{AlertClaim, AlertPruneCounts, Engine, EngineResult};

/// How often the history is pruned (one instance per period).
pub const PRUNE_PERIOD: Duration = Duration::from_secs(3600);
/// How long after start the first prune is tried: the server is up and serving first.
const FIRST_PRUNE_AFTER: Duration = Duration::from_secs(60);
/// How often the pruner looks whether a new period has begun.
const CHECK_EVERY: Duration = Duration::from_secs(60);

/// How long claims are kept.
///
/// A claim only matters while an instance may still try to claim the same key:
/// - a rule slot (`rule:ID:INTERVAL:SLOT`) is tried while the slot is current, one interval,
///   and a little after by a lagging instance (a late tick, an evaluation waiting for a permit,
///   the settle time);
/// - a delivery attempt (`delivery:ID:ATTEMPTS`) is tried by instances that read the delivery
///   as due with that attempt count, until the attempt's outcome is stored: the POST timeout
///   and the settle time after the claim, plus however long a due delivery waits for a permit;
/// - a prune period, for its hour.
///
/// Hence `max(2 × the longest rule interval, 1 day) + settle + delivery timeout`: twice the
/// interval covers a lagging slot, and a day is far beyond every other wait while the table
/// stays small (a thousand one-minute rules claim 1.4 million slots a day). It is not tied to
/// `history_days`. Dropping a delivery-attempt claim also ends the one case where a claim
/// would block work forever: its winner crashed mid-attempt, so the delivery is still pending
/// at that attempt count; a day later another instance retries it (delivery is at least once).
pub fn claim_retention(config: &AlertsConfig, longest_interval_secs: u64) -> chrono::Duration {
    // Intervals are at most a week (`rules::MAX_PERIOD_SECS`); clamped so no value overflows.
    let seconds = longest_interval_secs.min(super::rules::MAX_PERIOD_SECS);
    let interval = chrono::Duration::seconds(2 * seconds as i64);
    let millis = |ms: u64| chrono::Duration::milliseconds(ms.min(u64::from(u32::MAX)) as i64);
    interval.max(chrono::Duration::days(1))
        + millis(config.claim_settle_ms)
        + millis(config.delivery_timeout_ms)
}

/// The cut-offs of a prune at `now`: `(events_before, claims_before)`, each rounded down to a
/// UTC midnight.
pub fn cutoffs(
    now: DateTime<Utc>,
    config: &AlertsConfig,
    longest_interval_secs: u64,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let midnight = |time: DateTime<Utc>| {
        time.duration_trunc(chrono::Duration::days(1))
            .unwrap_or(time)
    };
    let history = chrono::Duration::days(i64::from(config.history_days.max(1)));
    (
        midnight(now - history),
        midnight(now - claim_retention(config, longest_interval_secs)),
    )
}

/// The task that prunes the alerting history.
pub struct Pruner {
    engine: Arc<dyn Engine>,
    config: AlertsConfig,
    instance: String,
}

impl Pruner {
    pub fn new(engine: Arc<dyn Engine>, config: AlertsConfig, instance: String) -> Pruner {
        Pruner {
            engine,
            config,
            instance,
        }
    }

    /// Runs until the process ends: a first prune shortly after start, then one per period.
    pub async fn run(self: Arc<Self>) {
        tokio::time::sleep(FIRST_PRUNE_AFTER).await;
        let mut last_period = None;
        loop {
            let period = now_ms() / period_ms();
            if last_period != Some(period) {
                last_period = Some(period);
                if let Err(error) = self.prune_period(period, Utc::now()).await {
                    tracing::warn!(%error, "alert history: prune failed; the next period retries");
                }
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    }

    /// Claims prune period `period` and, if this instance won it, prunes as of `now`. `None`
    /// when another instance has the period.
    pub async fn prune_period(
        &self,
        period: u64,
        now: DateTime<Utc>,
    ) -> EngineResult<Option<AlertPruneCounts>> {
        let claim = AlertClaim {
            claim_key: format!("prune:{}:{period}", PRUNE_PERIOD.as_secs()),
            instance: self.instance.clone(),
            nonce: rand::random(),
            claimed_at_ms: now_ms(),
        };
        let settle = Duration::from_millis(self.config.claim_settle_ms);
        if !self.engine.claim_one_alert_work(&claim, settle).await? {
            return Ok(None);
        }
        let longest_interval = self
            .engine
            .alert_rules()
            .await?
            .iter()
            .map(|rule| rule.interval_secs)
            .max()
            .unwrap_or(0);
        let (events_before, claims_before) = cutoffs(now, &self.config, longest_interval);
        let started = std::time::Instant::now();
        let counts = self
            .engine
            .prune_alert_history(events_before, claims_before)
            .await?;
        tracing::info!(
            events = counts.events,
            deliveries = counts.deliveries,
            claims = counts.claims,
            %events_before,
            %claims_before,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "alert history pruned"
        );
        Ok(Some(counts))
    }
}

fn period_ms() -> u64 {
    PRUNE_PERIOD.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("an RFC 3339 time")
            .with_timezone(&Utc)
    }

    #[test]
    fn cutoffs_round_down_to_midnight_and_claims_outlive_their_slots() {
        let config = AlertsConfig::default();
        let now = at("2026-11-24T14:30:00Z");
        // Thirty days of history; claims a day (plus settle and timeout), rounded down.
        assert_eq!(
            cutoffs(now, &config, 60),
            (at("2026-10-25T00:00:00Z"), at("2026-11-23T00:00:00Z"))
        );
        // A weekly rule keeps its claims two intervals.
        assert_eq!(
            cutoffs(now, &config, 7 * 86_400).1,
            at("2026-11-10T00:00:00Z")
        );
        let config = AlertsConfig {
            history_days: 1,
            ..AlertsConfig::default()
        };
        assert_eq!(cutoffs(now, &config, 0).0, at("2026-11-23T00:00:00Z"));
        // Just after midnight, settle and timeout push the claim cut a day further back.
        assert_eq!(
            cutoffs(at("2026-11-24T00:00:05Z"), &config, 0).1,
            at("2026-11-22T00:00:00Z")
        );
        assert_eq!(
            claim_retention(&AlertsConfig::default(), 0),
            chrono::Duration::days(1) + chrono::Duration::milliseconds(10_500)
        );
    }
}
