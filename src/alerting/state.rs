//! Rule state per group key, and one evaluation's step through it (pure: the caller supplies
//! the previous states, the observations and the time).
//!
//! ```text
//!   OK ──breach──▶ FIRING ──no breach──▶ RESOLVED ──breach──▶ FIRING ...
//!                  │  ▲ breach again: still firing, never notified twice (de-duplication)
//! ```
//!
//! Noise control, in order: a group already firing is not notified again; a group that fires
//! again within `cooldown_secs` of its last notification is recorded but not sent; a rule
//! sends at most `max_notifications_per_hour` notifications per rolling hour (firing and
//! resolved alike). A resolution is notified only when its firing was (so receivers always see
//! pairs) and the rule wants resolutions.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::rules::RuleSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupStatus {
    Ok,
    Firing,
    Resolved,
}

impl GroupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Ok => "ok",
            GroupStatus::Firing => "firing",
            GroupStatus::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> GroupStatus {
        match text {
            "firing" => GroupStatus::Firing,
            "resolved" => GroupStatus::Resolved,
            _ => GroupStatus::Ok,
        }
    }
}

/// The state of one group key of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupState {
    pub status: GroupStatus,
    pub since: DateTime<Utc>,
    pub last_notified_at: Option<DateTime<Utc>>,
    pub value: f64,
}

/// One group's value in this evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub group_key: String,
    pub value: f64,
    pub breaching: bool,
}

/// What an evaluation found for one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing breached (the evaluation's summary row).
    Ok,
    Firing,
    StillFiring,
    Resolved,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Firing => "firing",
            Outcome::StillFiring => "still_firing",
            Outcome::Resolved => "resolved",
        }
    }
}

/// What was done about notifying an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notification {
    /// Nothing to notify (still firing, OK, an unnotified firing resolving, no resolutions).
    None,
    Send,
    SuppressedCooldown,
    SuppressedCap,
}

impl Notification {
    pub fn as_str(self) -> &'static str {
        match self {
            Notification::None => "",
            Notification::Send => "sent",
            Notification::SuppressedCooldown => "suppressed_cooldown",
            Notification::SuppressedCap => "suppressed_cap",
        }
    }
}

/// One row of the evaluation's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub group_key: String,
    pub outcome: Outcome,
    pub value: f64,
    pub notification: Notification,
}

/// The result of one step: the outcomes to record, and the group states to store.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Step {
    pub transitions: Vec<Transition>,
    pub new_states: Vec<(String, GroupState)>,
}

/// One evaluation of `rule` at `now`. `sent_last_hour` is how many notifications the rule sent
/// in the hour before `now`.
pub fn step(
    rule: &RuleSpec,
    previous: &BTreeMap<String, GroupState>,
    observations: &[Observation],
    now: DateTime<Utc>,
    sent_last_hour: u32,
) -> Step {
    let mut sent = sent_last_hour;
    let cap = rule.max_notifications_per_hour;
    let under_cap = |sent: &mut u32| {
        if cap > 0 && *sent >= cap {
            false
        } else {
            *sent += 1;
            true
        }
    };
    let cooldown = Duration::seconds(i64::try_from(rule.cooldown_secs).unwrap_or(i64::MAX / 2));
    let mut result = Step::default();
    let observed: BTreeMap<&str, &Observation> = observations
        .iter()
        .map(|observation| (observation.group_key.as_str(), observation))
        .collect();

    for observation in observations.iter().filter(|o| o.breaching) {
        let before = previous.get(&observation.group_key);
        if let Some(state) = before.filter(|state| state.status == GroupStatus::Firing) {
            result.transitions.push(Transition {
                group_key: observation.group_key.clone(),
                outcome: Outcome::StillFiring,
                value: observation.value,
                notification: Notification::None,
            });
            result.new_states.push((
                observation.group_key.clone(),
                GroupState {
                    value: observation.value,
                    ..state.clone()
                },
            ));
            continue;
        }
        let last_notified_at = before.and_then(|state| state.last_notified_at);
        let notification = if rule.webhook.is_none() {
            Notification::None
        } else if last_notified_at.is_some_and(|at| now < at + cooldown) {
            Notification::SuppressedCooldown
        } else if !under_cap(&mut sent) {
            Notification::SuppressedCap
        } else {
            Notification::Send
        };
        result.transitions.push(Transition {
            group_key: observation.group_key.clone(),
            outcome: Outcome::Firing,
            value: observation.value,
            notification,
        });
        result.new_states.push((
            observation.group_key.clone(),
            GroupState {
                status: GroupStatus::Firing,
                since: now,
                last_notified_at: if notification == Notification::Send {
                    Some(now)
                } else {
                    last_notified_at
                },
                value: observation.value,
            },
        ));
    }

    // Firing groups not breaching now (a grouped query's row may simply be gone) resolve.
    for (group_key, state) in previous {
        if state.status != GroupStatus::Firing {
            continue;
        }
        let observation = observed.get(group_key.as_str());
        if observation.is_some_and(|o| o.breaching) {
            continue;
        }
        let value = observation.map_or(0.0, |o| o.value);
        let firing_was_notified = state.last_notified_at.is_some_and(|at| at >= state.since);
        let notification =
            if !rule.notify_on_resolve || !firing_was_notified || rule.webhook.is_none() {
                Notification::None
            } else if !under_cap(&mut sent) {
                Notification::SuppressedCap
            } else {
                Notification::Send
            };
        result.transitions.push(Transition {
            group_key: group_key.clone(),
            outcome: Outcome::Resolved,
            value,
            notification,
        });
        result.new_states.push((
            group_key.clone(),
            GroupState {
                status: GroupStatus::Resolved,
                since: now,
                last_notified_at: if notification == Notification::Send {
                    Some(now)
                } else {
                    state.last_notified_at
                },
                value,
            },
        ));
    }

    if result.transitions.is_empty() {
        result.transitions.push(Transition {
            group_key: String::new(),
            outcome: Outcome::Ok,
            value: observations.iter().map(|o| o.value).fold(0.0, f64::max),
            notification: Notification::None,
        });
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::rules::{Condition, Webhook, WebhookFormat};

    fn rule(cooldown_secs: u64, cap: u32) -> RuleSpec {
        RuleSpec {
            project_id: 1,
            name: "r".into(),
            condition: Condition::Frequency { threshold: 1 },
            interval_secs: 60,
            window_secs: 60,
            cooldown_secs,
            max_notifications_per_hour: cap,
            notify_on_resolve: true,
            webhook: Some(Webhook {
                url: "http://127.0.0.1:1/x".into(),
                format: WebhookFormat::Json,
            }),
            enabled: true,
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap_or_default()
    }

    fn observe(key: &str, breaching: bool) -> Observation {
        Observation {
            group_key: key.into(),
            value: if breaching { 5.0 } else { 0.0 },
            breaching,
        }
    }

    /// Runs steps, carrying the states; returns (outcome, notification) of each step's rows.
    fn run(
        rule: &RuleSpec,
        steps: &[(i64, Vec<Observation>)],
    ) -> Vec<Vec<(Outcome, Notification)>> {
        let mut states = BTreeMap::new();
        let mut sent: Vec<DateTime<Utc>> = Vec::new();
        let mut out = Vec::new();
        for (time, observations) in steps {
            let now = at(*time);
            let in_hour = sent
                .iter()
                .filter(|t| **t > now - Duration::hours(1))
                .count();
            let result = step(rule, &states, observations, now, in_hour as u32);
            for transition in &result.transitions {
                if transition.notification == Notification::Send {
                    sent.push(now);
                }
            }
            for (key, state) in result.new_states {
                states.insert(key, state);
            }
            out.push(
                result
                    .transitions
                    .iter()
                    .map(|t| (t.outcome, t.notification))
                    .collect(),
            );
        }
        out
    }

    #[test]
    fn fires_once_then_resolves() {
        let steps = run(
            &rule(0, 0),
            &[
                (0, vec![observe("a", false)]),
                (60, vec![observe("a", true)]),
                (120, vec![observe("a", true)]),
                (180, vec![]),
            ],
        );
        assert_eq!(steps[0], vec![(Outcome::Ok, Notification::None)]);
        assert_eq!(steps[1], vec![(Outcome::Firing, Notification::Send)]);
        assert_eq!(steps[2], vec![(Outcome::StillFiring, Notification::None)]);
        assert_eq!(steps[3], vec![(Outcome::Resolved, Notification::Send)]);
    }

    #[test]
    fn cooldown_suppresses_refiring_and_its_resolution() {
        let steps = run(
            &rule(600, 0),
            &[
                (0, vec![observe("a", true)]),
                (60, vec![]),
                (120, vec![observe("a", true)]),
                (180, vec![]),
                (700, vec![observe("a", true)]),
            ],
        );
        assert_eq!(steps[0], vec![(Outcome::Firing, Notification::Send)]);
        assert_eq!(steps[1], vec![(Outcome::Resolved, Notification::Send)]);
        assert_eq!(
            steps[2],
            vec![(Outcome::Firing, Notification::SuppressedCooldown)]
        );
        // Its firing was not sent, so neither is its resolution.
        assert_eq!(steps[3], vec![(Outcome::Resolved, Notification::None)]);
        assert_eq!(steps[4], vec![(Outcome::Firing, Notification::Send)]);
    }

    #[test]
    fn the_hourly_cap_counts_every_notification_of_the_rule() {
        let many: Vec<Observation> = (0..5).map(|i| observe(&format!("k{i}"), true)).collect();
        let steps = run(&rule(0, 3), &[(0, many.clone()), (4000, many)]);
        let sent = |row: &Vec<(Outcome, Notification)>| {
            row.iter().filter(|(_, n)| *n == Notification::Send).count()
        };
        assert_eq!(sent(&steps[0]), 3);
        assert_eq!(
            steps[0]
                .iter()
                .filter(|(_, n)| *n == Notification::SuppressedCap)
                .count(),
            2
        );
        // An hour later, still firing: nothing new to send.
        assert_eq!(sent(&steps[1]), 0);
    }
}
