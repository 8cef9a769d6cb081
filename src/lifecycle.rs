//! The issue lifecycle as pure rules: which transitions a person may make, and what a new event
//! does to an issue's status. No I/O and no clock: callers pass the time in.
//!
//! ```text
//!   New ──acknowledge──▶ Acknowledged ──resolve──▶ Resolved ──event (later release)──▶ Regressed
//!    │                                               ▲  │                                │
//!    └──────────────resolve / ignore─────────────────┘  └──reopen──▶ New                  │
//!   Ignored ──condition met (time, events, users, rate)──▶ New      ◀──acknowledge/resolve┘
//! ```
//!
//! | action      | allowed from                                 | to           |
//! | ----------- | -------------------------------------------- | ------------ |
//! | acknowledge | New, Regressed                               | Acknowledged |
//! | resolve     | New, Acknowledged, Regressed, Ignored        | Resolved     |
//! | ignore      | New, Acknowledged, Regressed                 | Ignored      |
//! | reopen      | Acknowledged, Resolved, Ignored              | New          |
//!
//! Events: a Resolved issue becomes Regressed on an event, unless it was resolved *in a
//! release* and the event's release is not later than that one (semantic versions compared when
//! both parse, otherwise any different release counts as later; an event without a release
//! never regresses an issue resolved in a release). An Ignored issue becomes New once its
//! condition is met.

use std::cmp::Ordering;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::IssueStatus;

/// What a person asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    Resolve { in_release: Option<String> },
    Ignore(IgnoreCondition),
    Reopen,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledge",
            Action::Resolve { .. } => "resolve",
            Action::Ignore(_) => "ignore",
            Action::Reopen => "reopen",
        }
    }

    /// The status the action leads to.
    pub fn target(&self) -> IssueStatus {
        match self {
            Action::Acknowledge => IssueStatus::Acknowledged,
            Action::Resolve { .. } => IssueStatus::Resolved,
            Action::Ignore(_) => IssueStatus::Ignored,
            Action::Reopen => IssueStatus::New,
        }
    }

    /// Whether the action may be taken on an issue in `from`.
    pub fn allowed_from(&self, from: IssueStatus) -> bool {
        use IssueStatus::*;
        match self {
            Action::Acknowledge => matches!(from, New | Regressed),
            Action::Resolve { .. } => matches!(from, New | Acknowledged | Regressed | Ignored),
            Action::Ignore(_) => matches!(from, New | Acknowledged | Regressed),
            Action::Reopen => matches!(from, Acknowledged | Resolved | Ignored),
        }
    }
}

/// A refused transition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("cannot {action} issue {issue_id}: it is {from} ({hint})")]
    Invalid {
        issue_id: u64,
        action: &'static str,
        from: &'static str,
        hint: &'static str,
    },
    #[error("invalid ignore condition: {0}")]
    BadCondition(String),
}

/// Until when an issue stays ignored. Every set part counts: the first one met ends the ignore.
/// No part set = ignored until someone reopens or resolves it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IgnoreCondition {
    /// Until this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// Until this many more events arrive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_events: Option<u64>,
    /// Until this many distinct users are seen in events after the ignore.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_users: Option<u64>,
    /// Until `events` events arrive within `minutes` minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_rate: Option<IgnoreRate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoreRate {
    pub events: u64,
    pub minutes: u64,
}

impl IgnoreCondition {
    pub fn validate(&self) -> Result<(), TransitionError> {
        if self.until_events == Some(0) || self.until_users == Some(0) {
            return Err(TransitionError::BadCondition(
                "untilEvents and untilUsers must be at least 1".into(),
            ));
        }
        if let Some(rate) = self.until_rate {
            if rate.events == 0 || rate.minutes == 0 || rate.minutes > 7 * 24 * 60 {
                return Err(TransitionError::BadCondition(
                    "untilRate needs events >= 1 and 1 <= minutes <= 10080".into(),
                ));
            }
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self == &IgnoreCondition::default()
    }

    pub fn to_json(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Option<IgnoreCondition> {
        if text.is_empty() {
            return None;
        }
        serde_json::from_str(text).ok()
    }

    /// Whether the time part has passed.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.until.is_some_and(|until| until <= now)
    }
}

/// What happened since an issue was ignored (kept by the caller, fed by [`on_event`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreProgress {
    pub events: u64,
    pub users: std::collections::HashSet<String>,
    /// Receive times of recent events, oldest first, for the rate condition.
    pub recent: std::collections::VecDeque<DateTime<Utc>>,
}

impl IgnoreProgress {
    pub fn user_count(&self) -> u64 {
        self.users.len() as u64
    }
}

/// The lifecycle part of an issue's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    pub status: IssueStatus,
    pub resolved_in_release: Option<String>,
    pub ignore: Option<IgnoreCondition>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            status: IssueStatus::New,
            resolved_in_release: None,
            ignore: None,
        }
    }
}

/// What a new event brings to the rules.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'a> {
    pub release: &'a str,
    pub user_key: &'a str,
    pub received: DateTime<Utc>,
}

impl Lifecycle {
    /// The status as it should be shown at `now`: an ignore whose time has passed reads New.
    pub fn effective_status(&self, now: DateTime<Utc>) -> IssueStatus {
        match (&self.status, &self.ignore) {
            (IssueStatus::Ignored, Some(condition)) if condition.expired(now) => IssueStatus::New,
            (status, _) => *status,
        }
    }

    /// Applies a person's action; the new state, or why not.
    pub fn apply(&self, issue_id: u64, action: &Action) -> Result<Lifecycle, TransitionError> {
        if !action.allowed_from(self.status) {
            return Err(TransitionError::Invalid {
                issue_id,
                action: action.name(),
                from: self.status.as_str(),
                hint: hint(action, self.status),
            });
        }
        Ok(match action {
            Action::Acknowledge | Action::Reopen => Lifecycle {
                status: action.target(),
                ..Lifecycle::default()
            },
            Action::Resolve { in_release } => Lifecycle {
                status: IssueStatus::Resolved,
                resolved_in_release: in_release.clone().filter(|r| !r.is_empty()),
                ignore: None,
            },
            Action::Ignore(condition) => {
                condition.validate()?;
                Lifecycle {
                    status: IssueStatus::Ignored,
                    resolved_in_release: None,
                    ignore: Some(condition.clone()),
                }
            }
        })
    }

    /// What one new event does: the status it moves the issue to, if any. `progress` is the
    /// ignore progress, updated here.
    pub fn on_event(
        &self,
        event: EventFacts<'_>,
        progress: &mut IgnoreProgress,
    ) -> Option<IssueStatus> {
        match self.status {
            IssueStatus::Resolved => {
                let regresses = match &self.resolved_in_release {
                    None => true,
                    Some(resolved) => release_is_later(event.release, resolved),
                };
                regresses.then_some(IssueStatus::Regressed)
            }
            IssueStatus::Ignored => {
                let condition = self.ignore.clone().unwrap_or_default();
                if condition.expired(event.received) {
                    return Some(IssueStatus::New);
                }
                progress.events += 1;
                if !event.user_key.is_empty() && condition.until_users.is_some() {
                    progress.users.insert(event.user_key.to_owned());
                }
                if let Some(rate) = condition.until_rate {
                    let window = Duration::minutes(i64::try_from(rate.minutes).unwrap_or(1));
                    progress.recent.push_back(event.received);
                    while progress
                        .recent
                        .front()
                        .is_some_and(|oldest| *oldest <= event.received - window)
                    {
                        progress.recent.pop_front();
                    }
                    if progress.recent.len() as u64 >= rate.events {
                        return Some(IssueStatus::New);
                    }
                }
                let events_met = condition.until_events.is_some_and(|n| progress.events >= n);
                let users_met = condition
                    .until_users
                    .is_some_and(|n| progress.user_count() >= n);
                (events_met || users_met).then_some(IssueStatus::New)
            }
            _ => None,
        }
    }
}

fn hint(action: &Action, from: IssueStatus) -> &'static str {
    match (action, from) {
        (Action::Acknowledge, IssueStatus::Acknowledged) => "already acknowledged",
        (Action::Resolve { .. }, IssueStatus::Resolved) => "already resolved",
        (Action::Ignore(_), IssueStatus::Ignored) => "already ignored",
        (Action::Reopen, IssueStatus::New | IssueStatus::Regressed) => "it is already open",
        (Action::Acknowledge, _) => {
            "only new or regressed issues can be acknowledged; reopen it first"
        }
        (Action::Ignore(_), IssueStatus::Resolved) => "reopen it first",
        _ => "not a valid transition",
    }
}

/// Whether `event_release` comes after `resolved_release`: semantic versions when both parse
/// (a `package@` prefix is ignored), otherwise any different non-empty release counts as later.
pub fn release_is_later(event_release: &str, resolved_release: &str) -> bool {
    if event_release.is_empty() {
        return false;
    }
    match (
        parse_version(event_release),
        parse_version(resolved_release),
    ) {
        (Some(event), Some(resolved)) => compare_versions(&event, &resolved) == Ordering::Greater,
        _ => event_release != resolved_release,
    }
}

/// A parsed version: numeric core and an optional pre-release (build metadata dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    core: Vec<u64>,
    pre: Option<String>,
}

fn parse_version(text: &str) -> Option<Version> {
    // `shop@1.4.2` → `1.4.2`; a leading `v` is allowed.
    let text = text.rsplit_once('@').map_or(text, |(_, version)| version);
    let text = text.strip_prefix('v').unwrap_or(text);
    let text = text.split_once('+').map_or(text, |(version, _)| version);
    let (core, pre) = match text.split_once('-') {
        Some((core, pre)) => (core, Some(pre.to_owned())),
        None => (text, None),
    };
    let parts: Vec<u64> = core
        .split('.')
        .map(|part| part.parse::<u64>().ok())
        .collect::<Option<_>>()?;
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    Some(Version { core: parts, pre })
}

fn compare_versions(a: &Version, b: &Version) -> Ordering {
    let length = a.core.len().max(b.core.len());
    for index in 0..length {
        let (x, y) = (
            a.core.get(index).copied().unwrap_or(0),
            b.core.get(index).copied().unwrap_or(0),
        );
        match x.cmp(&y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    // A pre-release comes before its release.
    match (&a.pre, &b.pre) {
        (None, None) => Ordering::Equal,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(x), Some(y)) => compare_pre(x, y),
    }
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IssueStatus::*;

    const ALL: [IssueStatus; 5] = [New, Acknowledged, Resolved, Regressed, Ignored];

    fn actions() -> Vec<Action> {
        vec![
            Action::Acknowledge,
            Action::Resolve { in_release: None },
            Action::Ignore(IgnoreCondition::default()),
            Action::Reopen,
        ]
    }

    fn state(status: IssueStatus) -> Lifecycle {
        Lifecycle {
            status,
            ..Lifecycle::default()
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap_or_default()
    }

    fn event<'a>(release: &'a str, user: &'a str, seconds: i64) -> EventFacts<'a> {
        EventFacts {
            release,
            user_key: user,
            received: at(seconds),
        }
    }

    #[test]
    fn the_transition_table_is_exactly_the_documented_one() {
        let allowed: &[(&str, &[IssueStatus])] = &[
            ("acknowledge", &[New, Regressed]),
            ("resolve", &[New, Acknowledged, Regressed, Ignored]),
            ("ignore", &[New, Acknowledged, Regressed]),
            ("reopen", &[Acknowledged, Resolved, Ignored]),
        ];
        for action in actions() {
            let expected = allowed
                .iter()
                .find(|(name, _)| *name == action.name())
                .map(|(_, from)| *from)
                .unwrap_or_default();
            for from in ALL {
                let result = state(from).apply(7, &action);
                if expected.contains(&from) {
                    assert_eq!(result.map(|s| s.status), Ok(action.target()), "{from:?}");
                } else {
                    let error = result.expect_err("must be refused");
                    assert!(
                        error
                            .to_string()
                            .contains(&format!("cannot {}", action.name())),
                        "{error}"
                    );
                    assert!(error.to_string().contains("issue 7"), "{error}");
                }
            }
        }
    }

    #[test]
    fn resolve_keeps_the_release_and_other_actions_clear_it() {
        let resolved = state(New)
            .apply(
                1,
                &Action::Resolve {
                    in_release: Some("2.0.0".into()),
                },
            )
            .expect("resolve");
        assert_eq!(resolved.resolved_in_release.as_deref(), Some("2.0.0"));
        let reopened = resolved.apply(1, &Action::Reopen).expect("reopen");
        assert_eq!(reopened, state(New));
    }

    #[test]
    fn an_event_regresses_a_resolved_issue() {
        let mut progress = IgnoreProgress::default();
        assert_eq!(
            state(Resolved).on_event(event("", "", 0), &mut progress),
            Some(Regressed)
        );
        for status in [New, Acknowledged, Regressed] {
            assert_eq!(
                state(status).on_event(event("9", "", 0), &mut progress),
                None
            );
        }
    }

    #[test]
    fn resolved_in_release_regresses_only_on_later_releases() {
        let resolved = Lifecycle {
            status: Resolved,
            resolved_in_release: Some("shop@1.4.2".into()),
            ignore: None,
        };
        let mut progress = IgnoreProgress::default();
        for (release, regresses) in [
            ("shop@1.4.1", false),
            ("shop@1.4.2", false),
            ("shop@1.4.2-rc.1", false),
            ("shop@1.4.10", true),
            ("shop@2.0", true),
            ("", false),
        ] {
            assert_eq!(
                resolved
                    .on_event(event(release, "", 0), &mut progress)
                    .is_some(),
                regresses,
                "{release}"
            );
        }
        // Releases that are not versions: any other one counts as later.
        let by_name = Lifecycle {
            resolved_in_release: Some("blue-deploy".into()),
            ..resolved
        };
        assert!(by_name
            .on_event(event("green-deploy", "", 0), &mut progress)
            .is_some());
        assert!(by_name
            .on_event(event("blue-deploy", "", 0), &mut progress)
            .is_none());
    }

    #[test]
    fn semver_ordering() {
        assert!(release_is_later("1.10.0", "1.9.9"));
        assert!(release_is_later("v2", "1.99"));
        assert!(release_is_later("1.0.0", "1.0.0-beta.2"));
        assert!(release_is_later("1.0.0-beta.11", "1.0.0-beta.2"));
        assert!(release_is_later("1.0.0-rc.1", "1.0.0-beta"));
        assert!(!release_is_later("1.0.0+build.5", "1.0.0"));
        assert!(!release_is_later("1.0", "1.0.0"));
    }

    fn ignored(condition: IgnoreCondition) -> Lifecycle {
        state(New)
            .apply(1, &Action::Ignore(condition))
            .expect("ignore")
    }

    #[test]
    fn ignore_until_events() {
        let issue = ignored(IgnoreCondition {
            until_events: Some(3),
            ..IgnoreCondition::default()
        });
        let mut progress = IgnoreProgress::default();
        assert_eq!(issue.on_event(event("", "", 0), &mut progress), None);
        assert_eq!(issue.on_event(event("", "", 1), &mut progress), None);
        assert_eq!(issue.on_event(event("", "", 2), &mut progress), Some(New));
    }

    #[test]
    fn ignore_until_users_counts_distinct_users() {
        let issue = ignored(IgnoreCondition {
            until_users: Some(2),
            ..IgnoreCondition::default()
        });
        let mut progress = IgnoreProgress::default();
        for user in ["id:a", "id:a", "", "id:a"] {
            assert_eq!(issue.on_event(event("", user, 0), &mut progress), None);
        }
        assert_eq!(
            issue.on_event(event("", "id:b", 0), &mut progress),
            Some(New)
        );
    }

    #[test]
    fn ignore_until_rate_uses_a_sliding_window() {
        let issue = ignored(IgnoreCondition {
            until_rate: Some(IgnoreRate {
                events: 3,
                minutes: 1,
            }),
            ..IgnoreCondition::default()
        });
        let mut progress = IgnoreProgress::default();
        // Two a minute never reaches three within a minute (at 210 s, 140 s is out of the
        // window: only 200 and 210 are in it).
        for seconds in [0, 40, 100, 140, 200, 210] {
            assert_eq!(issue.on_event(event("", "", seconds), &mut progress), None);
        }
        // 200, 210 and 215 are three within a minute.
        assert_eq!(issue.on_event(event("", "", 215), &mut progress), Some(New));
    }

    #[test]
    fn ignore_until_time_expires_on_read_and_on_the_next_event() {
        let issue = ignored(IgnoreCondition {
            until: Some(at(60)),
            ..IgnoreCondition::default()
        });
        assert_eq!(issue.effective_status(at(59)), Ignored);
        assert_eq!(issue.effective_status(at(60)), New);
        let mut progress = IgnoreProgress::default();
        assert_eq!(issue.on_event(event("", "", 30), &mut progress), None);
        assert_eq!(issue.on_event(event("", "", 61), &mut progress), Some(New));
        // Without a condition an ignore lasts until someone acts.
        let forever = ignored(IgnoreCondition::default());
        for seconds in 0..100 {
            assert_eq!(
                forever.on_event(event("", "u", seconds), &mut progress),
                None
            );
        }
    }

    #[test]
    fn bad_conditions_are_refused() {
        for condition in [
            IgnoreCondition {
                until_events: Some(0),
                ..IgnoreCondition::default()
            },
            IgnoreCondition {
                until_rate: Some(IgnoreRate {
                    events: 5,
                    minutes: 0,
                }),
                ..IgnoreCondition::default()
            },
        ] {
            assert!(matches!(
                state(New).apply(1, &Action::Ignore(condition)),
                Err(TransitionError::BadCondition(_))
            ));
        }
        let condition = IgnoreCondition {
            until_users: Some(4),
            ..IgnoreCondition::default()
        };
        assert_eq!(
            IgnoreCondition::from_json(&condition.to_json()),
            Some(condition)
        );
        assert_eq!(IgnoreCondition::default().to_json(), "");
    }
}
