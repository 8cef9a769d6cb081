//! The alert scheduler: a task inside `stackhouse serve` that evaluates every enabled rule once
//! per interval, and the webhook deliverer next to it.
//!
//! Time is cut into slots per rule, `slot = floor((unix_ms + phase) / interval_ms)`, where the
//! rule's `phase` (a hash of its id, below the interval) spreads rules over the interval: 1,000
//! rules of one minute start a few at a time, not all in the same second. On every tick
//! (`alerts.tick_ms`) each rule whose current slot this instance has not handled yet is
//! claimed, then evaluated in a task of its own (bounded by `max_concurrent_evaluations`; a
//! rule still running from its previous slot is skipped, never queued twice).
//!
//! Several instances on one ClickHouse: the claim ([`crate::engine::Engine::claim_alert_work`])
//! is a row `(rule:ID:INTERVAL:SLOT, instance, nonce, claimed_at_ms)`. An instance that sees a
//! claim already there skips the slot; otherwise it writes its own, waits
//! `alerts.claim_settle_ms`, reads every claim on the slot back, and evaluates only if its own
//! is the earliest (then the smaller nonce). Every instance reads the same rows and picks the
//! same winner, so a slot is evaluated once — provided an insert is visible to the other
//! instances within the settle time and their clocks agree to better than it (true for one
//! ClickHouse server; on asynchronous replicas, set the settle time above the replication lag).
//! When that fails, two instances may evaluate one slot: states converge (the newest write
//! wins) but a notification can be sent twice. A crashed winner loses its slot; the next slot
//! evaluates again. The embedded engine admits one process per data directory, and claims
//! there are an in-memory check-and-set.
//!
//! State lives in the engine (`alert_states`, `alert_events`, `alert_deliveries`), read at each
//! evaluation, so a restart or another instance carries on where the last evaluation stopped.
//! A third task, [`super::retention::Pruner`], prunes that history hourly.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore};

use super::evaluate::evaluate;
use super::notify::{now_ms, Deliverer};
use super::retention::Pruner;
use super::AlertsConfig;
use crate::engine::{AlertClaim, AlertRuleRecord, Engine};

/// The running scheduler and deliverer of one instance.
pub struct AlertRuntime {
    pub scheduler: Arc<Scheduler>,
    /// Wakes the deliverer (an evaluation queued a delivery).
    pub deliveries: Arc<Notify>,
}

/// Starts the scheduler and the deliverer on the current tokio runtime.
pub fn start(engine: Arc<dyn Engine>, config: AlertsConfig) -> Arc<AlertRuntime> {
    let instance = config
        .instance_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let deliveries = Arc::new(Notify::new());
    let scheduler = Arc::new(Scheduler::new(
        engine.clone(),
        config.clone(),
        instance.clone(),
        deliveries.clone(),
    ));
    let deliverer = Arc::new(Deliverer::new(
        engine.clone(),
        config.clone(),
        instance.clone(),
        deliveries.clone(),
    ));
    let pruner = Arc::new(Pruner::new(engine, config, instance.clone()));
    tokio::spawn(scheduler.clone().run());
    tokio::spawn(deliverer.run());
    tokio::spawn(pruner.run());
    tracing::info!(%instance, "alert scheduler started");
    Arc::new(AlertRuntime {
        scheduler,
        deliveries,
    })
}

pub struct Scheduler {
    engine: Arc<dyn Engine>,
    config: AlertsConfig,
    instance: String,
    /// The last slot handled per rule (claimed by us or not).
    last_slot: Mutex<HashMap<u64, u64>>,
    in_flight: Mutex<HashSet<u64>>,
    permits: Arc<Semaphore>,
    deliveries: Arc<Notify>,
}

impl Scheduler {
    pub fn new(
        engine: Arc<dyn Engine>,
        config: AlertsConfig,
        instance: String,
        deliveries: Arc<Notify>,
    ) -> Scheduler {
        Scheduler {
            permits: Arc::new(Semaphore::new(config.max_concurrent_evaluations.max(1))),
            engine,
            config,
            instance,
            last_slot: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashSet::new()),
            deliveries,
        }
    }

    async fn run(self: Arc<Self>) {
        let tick = Duration::from_millis(self.config.tick_ms.max(10));
        loop {
            if let Err(error) = self.clone().tick().await {
                tracing::warn!(%error, "alert scheduler: cannot read the rules; retrying");
            }
            tokio::time::sleep(tick).await;
        }
    }

    /// Starts the evaluation of every rule whose slot is due; returns how many were started.
    pub async fn tick(self: Arc<Self>) -> crate::engine::EngineResult<usize> {
        let rules = self.engine.alert_rules().await?;
        let now_ms = now_ms();
        let mut started = 0;
        for rule in rules.into_iter().filter(|rule| rule.enabled) {
            let interval_ms = rule.interval_secs.max(1).saturating_mul(1000);
            let slot = slot_of(rule.rule_id, interval_ms, now_ms);
            {
                let mut last_slot = self.last_slot.lock();
                if last_slot.get(&rule.rule_id) == Some(&slot) {
                    continue;
                }
                if !self.in_flight.lock().insert(rule.rule_id) {
                    continue;
                }
                last_slot.insert(rule.rule_id, slot);
            }
            started += 1;
            let this = self.clone();
            tokio::spawn(async move {
                let rule_id = rule.rule_id;
                if let Ok(_permit) = this.permits.clone().acquire_owned().await {
                    this.evaluate_slot(rule, slot).await;
                }
                this.in_flight.lock().remove(&rule_id);
            });
        }
        Ok(started)
    }

    async fn evaluate_slot(&self, rule: AlertRuleRecord, slot: u64) {
        let claim = AlertClaim {
            claim_key: format!("rule:{}:{}:{slot}", rule.rule_id, rule.interval_secs),
            instance: self.instance.clone(),
            nonce: rand::random(),
            claimed_at_ms: now_ms(),
        };
        let settle = Duration::from_millis(self.config.claim_settle_ms);
        match self.engine.claim_alert_work(&claim, settle).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                tracing::warn!(%error, rule = rule.rule_id, "alert scheduler: cannot claim the slot");
                return;
            }
        }
        let write = match evaluate(self.engine.as_ref(), &rule, Utc::now()).await {
            Ok(write) => write,
            Err(error) => {
                tracing::warn!(%error, rule = rule.rule_id, "alert evaluation failed; the next interval retries");
                return;
            }
        };
        match self.engine.record_alert_evaluation(&write).await {
            Ok(()) if !write.deliveries.is_empty() => self.deliveries.notify_one(),
            Ok(()) => {}
            Err(error) => {
                tracing::warn!(%error, rule = rule.rule_id, "alert evaluation could not be stored");
            }
        }
    }
}

/// The slot of a rule at `now_ms`: its phase (from its id, the same on every instance) shifts
/// its slot boundaries, so rules of one interval are due at different moments.
fn slot_of(rule_id: u64, interval_ms: u64, now_ms: u64) -> u64 {
    let phase = rule_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) % interval_ms.max(1);
    (now_ms + phase) / interval_ms.max(1)
}

#[cfg(test)]
mod tests {
    use super::slot_of;

    #[test]
    fn a_rule_gets_one_slot_per_interval_and_rules_spread_over_it() {
        let interval = 60_000;
        // One rule: the slot changes exactly once per interval.
        let changes = (0..600_000u64)
            .step_by(100)
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| slot_of(7, interval, w[0]) != slot_of(7, interval, w[1]))
            .count();
        assert_eq!(changes, 10);
        // 1,000 rules: when in the minute each one's slot turns, per tenth of the minute.
        let mut per_tenth = [0u32; 10];
        for rule_id in 1..=1000u64 {
            let turn = (0..interval)
                .step_by(100)
                .find(|&t| slot_of(rule_id, interval, t) != slot_of(rule_id, interval, t + 100))
                .expect("a turn within the interval");
            per_tenth[(turn * 10 / interval) as usize] += 1;
        }
        assert!(
            per_tenth.iter().all(|&n| (50..150).contains(&n)),
            "{per_tenth:?}"
        );
        // A one-second interval still has every phase below it.
        assert_eq!(slot_of(3, 1_000, 10_000) - slot_of(3, 1_000, 9_000), 1);
    }
}
