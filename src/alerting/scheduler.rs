//! The alert scheduler: a task inside `stackhouse serve` that evaluates every enabled rule once
//! per interval, and the webhook deliverer next to it.
//!
//! Time is cut into slots per evaluation group ([`super::evaluate::EvaluationKey`]: the rules
//! that run the same query over the same window), `slot = floor((unix_ms + phase) / interval_ms)`,
//! where the group's `phase` (a hash of its key, below the interval) spreads groups over the
//! interval: many distinct rules of one minute start a few at a time, not all in the same
//! second, while the rules of one group are due together and share one query. A slot's window
//! ends where the slot begins (`slot * interval_ms - phase`, the same on every instance), so
//! consecutive windows of a rule meet without gaps. On every tick (`alerts.tick_ms`) each
//! group with rules whose current slot this instance has not handled yet has those rules
//! claimed, then evaluated in a task of its own (bounded by `max_concurrent_evaluations`; a
//! rule still running from its previous slot is skipped, never queued twice).
//!
//! Several instances on one ClickHouse: the claim ([`crate::engine::Engine::claim_alert_work`],
//! one exchange for all the rules of a group) is a row per rule
//! `(rule:ID:INTERVAL:SLOT, instance, nonce, claimed_at_ms)`. An instance that sees a
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

use super::evaluate::{evaluate_group, group_rules, RuleGroup};
use super::notify::{now_ms, Deliverer};
use super::retention::Pruner;
use super::AlertsConfig;
use crate::engine::{AlertClaim, Engine};

/// The running scheduler and deliverer of one instance. Dropping it stops them (and the
/// pruner); evaluations already started run to their end.
pub struct AlertRuntime {
    pub scheduler: Arc<Scheduler>,
    /// Wakes the deliverer (an evaluation queued a delivery).
    pub deliveries: Arc<Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for AlertRuntime {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
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
    let tasks = vec![
        tokio::spawn(scheduler.clone().run()),
        tokio::spawn(deliverer.run()),
        tokio::spawn(pruner.run()),
    ];
    tracing::info!(%instance, "alert scheduler started");
    Arc::new(AlertRuntime {
        scheduler,
        deliveries,
        tasks,
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

    /// Starts the evaluation of every rule whose slot is due, a task per group; returns how
    /// many rules were started.
    pub async fn tick(self: Arc<Self>) -> crate::engine::EngineResult<usize> {
        let rules = self.engine.alert_rules().await?;
        let now_ms = now_ms();
        let (groups, unreadable) = group_rules(rules.into_iter().filter(|rule| rule.enabled));
        for (rule, error) in unreadable {
            // Said once per interval, as an evaluation failure would be.
            let interval_ms = rule.interval_secs.max(1).saturating_mul(1000);
            let slot = slot_of(rule.rule_id, interval_ms, now_ms).index;
            if self.last_slot.lock().insert(rule.rule_id, slot) != Some(slot) {
                tracing::warn!(%error, rule = rule.rule_id, "alert rule skipped");
            }
        }
        let mut due = Vec::new();
        for mut group in groups {
            let interval_ms = group.key.interval_secs.max(1).saturating_mul(1000);
            let slot = slot_of(group.key.seed(), interval_ms, now_ms);
            {
                let mut last_slot = self.last_slot.lock();
                let mut in_flight = self.in_flight.lock();
                group.rules.retain(|rule| {
                    let rule_id = rule.record.rule_id;
                    if last_slot.get(&rule_id) == Some(&slot.index) || !in_flight.insert(rule_id) {
                        return false;
                    }
                    last_slot.insert(rule_id, slot.index);
                    true
                });
            }
            if !group.rules.is_empty() {
                due.push((group, slot));
            }
        }
        if !due.is_empty() {
            // Every evaluation started now reads what was acknowledged before it.
            self.engine.caught_up().await;
        }
        let mut started = 0;
        for (group, slot) in due {
            started += group.rules.len();
            let this = self.clone();
            tokio::spawn(async move {
                let rule_ids: Vec<u64> =
                    group.rules.iter().map(|rule| rule.record.rule_id).collect();
                if let Ok(_permit) = this.permits.clone().acquire_owned().await {
                    this.evaluate_slot(group, slot).await;
                }
                let mut in_flight = this.in_flight.lock();
                for rule_id in rule_ids {
                    in_flight.remove(&rule_id);
                }
            });
        }
        Ok(started)
    }

    async fn evaluate_slot(&self, mut group: RuleGroup, slot: Slot) {
        let claims: Vec<AlertClaim> = group
            .rules
            .iter()
            .map(|rule| AlertClaim {
                claim_key: format!(
                    "rule:{}:{}:{}",
                    rule.record.rule_id, rule.record.interval_secs, slot.index
                ),
                instance: self.instance.clone(),
                nonce: rand::random(),
                claimed_at_ms: now_ms(),
            })
            .collect();
        let settle = Duration::from_millis(self.config.claim_settle_ms);
        let won = match self.engine.claim_alert_work(&claims, settle).await {
            Ok(won) => won,
            Err(error) => {
                tracing::warn!(%error, rules = group.rules.len(), "alert scheduler: cannot claim the slot");
                return;
            }
        };
        let mut won = won.into_iter();
        group.rules.retain(|_| won.next().unwrap_or(false));
        if group.rules.is_empty() {
            return;
        }
        let window_end = chrono::DateTime::from_timestamp_millis(
            i64::try_from(slot.start_ms).unwrap_or(i64::MAX),
        )
        .unwrap_or_else(Utc::now);
        let write = match evaluate_group(self.engine.as_ref(), &group, window_end).await {
            Ok(write) => write,
            Err(error) => {
                tracing::warn!(%error, rules = group.rules.len(), "alert evaluation failed; the next interval retries");
                return;
            }
        };
        match self.engine.record_alert_evaluation(&write).await {
            Ok(()) if !write.deliveries.is_empty() => self.deliveries.notify_one(),
            Ok(()) => {}
            Err(error) => {
                tracing::warn!(%error, rules = group.rules.len(), "alert evaluation could not be stored");
            }
        }
    }
}

/// One slot of a group: its number and the instant it began (where its window ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub index: u64,
    pub start_ms: u64,
}

/// The slot at `now_ms` of a group (or rule) whose phase comes from `seed`: the phase (the
/// same on every instance) shifts the slot boundaries, so groups of one interval are due at
/// different moments.
pub fn slot_of(seed: u64, interval_ms: u64, now_ms: u64) -> Slot {
    let interval_ms = interval_ms.max(1);
    let phase = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) % interval_ms;
    let index = (now_ms + phase) / interval_ms;
    Slot {
        index,
        start_ms: (index * interval_ms).saturating_sub(phase),
    }
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
            .filter(|w| slot_of(7, interval, w[0]).index != slot_of(7, interval, w[1]).index)
            .count();
        assert_eq!(changes, 10);
        // 1,000 rules: when in the minute each one's slot turns, per tenth of the minute.
        let mut per_tenth = [0u32; 10];
        for rule_id in 1..=1000u64 {
            let turn = (0..interval)
                .step_by(100)
                .find(|&t| {
                    slot_of(rule_id, interval, t).index != slot_of(rule_id, interval, t + 100).index
                })
                .expect("a turn within the interval");
            per_tenth[(turn * 10 / interval) as usize] += 1;
        }
        assert!(
            per_tenth.iter().all(|&n| (50..150).contains(&n)),
            "{per_tenth:?}"
        );
        // A one-second interval still has every phase below it.
        assert_eq!(
            slot_of(3, 1_000, 10_000).index - slot_of(3, 1_000, 9_000).index,
            1
        );
    }

    #[test]
    fn a_slot_begins_at_or_before_now_and_the_next_begins_one_interval_later() {
        let interval = 60_000;
        for seed in [0u64, 1, 7, u64::MAX] {
            for now in [1_700_000_000_000u64, 1_700_000_012_345, 1_700_000_059_999] {
                let slot = slot_of(seed, interval, now);
                assert!(
                    slot.start_ms <= now && now < slot.start_ms + interval,
                    "{slot:?} {now}"
                );
                let next = slot_of(seed, interval, slot.start_ms + interval);
                assert_eq!(next.index, slot.index + 1);
                assert_eq!(next.start_ms, slot.start_ms + interval);
                // Every instant of the slot gives the same slot.
                assert_eq!(slot_of(seed, interval, slot.start_ms), slot);
                assert_eq!(slot_of(seed, interval, slot.start_ms + interval - 1), slot);
            }
        }
    }
}
