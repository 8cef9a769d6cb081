//! Step "lifecycle" of ingest, and the one authoritative copy of every issue's status.
//!
//! Like the [`Grouper`](crate::group::Grouper) holds fingerprint mappings, the tracker holds the
//! lifecycle state of every issue in memory, loaded from the engine at start-up. Both writers of
//! status go through it under one lock, so they are ordered:
//! - people (GraphQL mutations): [`StatusTracker::act`] checks the transition with the pure
//!   rules of [`crate::lifecycle`] and records it;
//! - events (ingest): [`StatusTracker::observe`] applies what an event does (a Resolved issue
//!   regresses, an Ignored one whose condition is met becomes New).
//!
//! Whichever comes first under the lock wins, and the other sees its result: "resolve, then an
//! event" regresses the issue; "an event, then resolve" leaves it resolved. Every transition
//! gets a version (strictly increasing) and stays *pending* until a batch carrying it is
//! durable; every batch touching the issue carries its pending transitions again, so a failed
//! write cannot lose one (engines store a transition once per version). Durable transitions
//! are announced on the activity channel the GraphQL subscriptions listen to.

use std::collections::HashMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use parking_lot::RwLock;
use tokio::sync::broadcast;

use crate::engine::{Engine, EngineResult, IssueStatus, StatusChangeRecord, WriteBatch};
use crate::lifecycle::{
    Action, EventFacts, IgnoreCondition, IgnoreProgress, Lifecycle, TransitionError,
};

/// The actor of transitions made by events.
pub const SYSTEM_ACTOR: &str = "system";

/// What subscribers hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityKind {
    NewIssue,
    Regression,
    StatusChange,
}

/// One announcement, sent once the write it describes is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    Issue {
        project_id: u64,
        issue_id: u64,
        kind: ActivityKind,
    },
    /// Events of a project accepted (durable) at `at`.
    Events {
        project_id: u64,
        events: u64,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Default)]
struct Entry {
    lifecycle: Lifecycle,
    progress: IgnoreProgress,
    /// Version of the newest transition.
    version: u64,
    /// Transitions not yet durable.
    pending: Vec<StatusChangeRecord>,
}

#[derive(Debug, Default)]
struct TrackerState {
    issues: HashMap<(u64, u64), Entry>,
    last_version: u64,
}

impl TrackerState {
    fn next_version(&mut self, now: DateTime<Utc>) -> u64 {
        let clock = u64::try_from(now.timestamp_nanos_opt().unwrap_or_default()).unwrap_or(0);
        self.last_version = clock.max(self.last_version + 1);
        self.last_version
    }
}

/// The status of every issue, and the activity channel.
pub struct StatusTracker {
    state: RwLock<TrackerState>,
    activity: broadcast::Sender<Activity>,
}

/// A person's transition, ready to be written.
#[derive(Debug, Clone)]
pub struct Acted {
    /// What the batch must carry: the transition and any pending one before it.
    pub changes: Vec<StatusChangeRecord>,
    pub change: StatusChangeRecord,
    previous: Lifecycle,
    previous_version: u64,
}

fn record(
    key: (u64, u64),
    from: IssueStatus,
    to: &Lifecycle,
    actor: &str,
    comment: &str,
    now: DateTime<Utc>,
    version: u64,
) -> StatusChangeRecord {
    StatusChangeRecord {
        project_id: key.0,
        issue_id: key.1,
        from_status: from,
        to_status: to.status,
        actor: actor.to_owned(),
        comment: comment.to_owned(),
        changed_at: now,
        resolved_in_release: to.resolved_in_release.clone().unwrap_or_default(),
        ignore_condition: to
            .ignore
            .as_ref()
            .map(IgnoreCondition::to_json)
            .unwrap_or_default(),
        version,
    }
}

fn lifecycle_of(change: &StatusChangeRecord) -> Lifecycle {
    Lifecycle {
        status: change.to_status,
        resolved_in_release: Some(change.resolved_in_release.clone()).filter(|r| !r.is_empty()),
        ignore: (change.to_status == IssueStatus::Ignored)
            .then(|| IgnoreCondition::from_json(&change.ignore_condition).unwrap_or_default()),
    }
}

impl Default for StatusTracker {
    fn default() -> Self {
        StatusTracker::new(Vec::new())
    }
}

impl StatusTracker {
    /// A tracker over the newest stored transition of each issue.
    pub fn new(states: Vec<StatusChangeRecord>) -> StatusTracker {
        let mut state = TrackerState::default();
        for change in states {
            state.last_version = state.last_version.max(change.version);
            state.issues.insert(
                (change.project_id, change.issue_id),
                Entry {
                    lifecycle: lifecycle_of(&change),
                    progress: IgnoreProgress::default(),
                    version: change.version,
                    pending: Vec::new(),
                },
            );
        }
        StatusTracker {
            state: RwLock::new(state),
            activity: broadcast::channel(4096).0,
        }
    }

    /// Loads the stored states. An issue ignored until N events or N users gets back what
    /// arrived since the ignore (events from the per-minute aggregates, distinct users from the
    /// raw events), so a restart does not reset its count.
    pub async fn load(engine: &dyn Engine) -> EngineResult<StatusTracker> {
        let states = engine.issue_states().await?;
        let counting: Vec<(StatusChangeRecord, IgnoreCondition)> = states
            .iter()
            .filter(|change| change.to_status == IssueStatus::Ignored)
            .filter_map(|change| {
                IgnoreCondition::from_json(&change.ignore_condition)
                    .filter(|c| c.until_events.is_some() || c.until_users.is_some())
                    .map(|condition| (change.clone(), condition))
            })
            .collect();
        let tracker = StatusTracker::new(states);
        for (change, condition) in counting {
            let key = (change.project_id, change.issue_id);
            // Events of the minute of the ignore count, whole minutes being the resolution.
            let from = change
                .changed_at
                .duration_trunc(Duration::minutes(1))
                .unwrap_or(change.changed_at);
            let mut progress = IgnoreProgress::default();
            if condition.until_events.is_some() {
                let counts = engine
                    .minute_counts(key.0, &[key.1], from, Utc::now() + Duration::days(1))
                    .await?;
                progress.events = counts
                    .get(&key.1)
                    .map(|buckets| buckets.iter().map(|b| b.events).sum())
                    .unwrap_or(0);
            }
            if condition.until_users.is_some() {
                progress.users = engine
                    .issue_users_since(key.0, key.1, from)
                    .await?
                    .into_iter()
                    .collect();
            }
            if let Some(entry) = tracker.state.write().issues.get_mut(&key) {
                entry.progress = progress;
            }
        }
        Ok(tracker)
    }

    /// The activity channel (new issues, regressions, status changes, accepted events).
    pub fn subscribe(&self) -> broadcast::Receiver<Activity> {
        self.activity.subscribe()
    }

    /// The status of an issue as shown at `now`.
    pub fn status(&self, project_id: u64, issue_id: u64, now: DateTime<Utc>) -> IssueStatus {
        self.lifecycle(project_id, issue_id, now).status
    }

    /// The lifecycle of an issue as shown at `now` (an ignore whose time has passed reads New).
    pub fn lifecycle(&self, project_id: u64, issue_id: u64, now: DateTime<Utc>) -> Lifecycle {
        match self.state.read().issues.get(&(project_id, issue_id)) {
            None => Lifecycle::default(),
            Some(entry) => {
                let status = entry.lifecycle.effective_status(now);
                if status == entry.lifecycle.status {
                    entry.lifecycle.clone()
                } else {
                    Lifecycle {
                        status,
                        ..Lifecycle::default()
                    }
                }
            }
        }
    }

    /// A person's transition: checked, recorded (pending) and returned for writing.
    pub fn act(
        &self,
        project_id: u64,
        issue_id: u64,
        action: &Action,
        actor: &str,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<Acted, TransitionError> {
        let key = (project_id, issue_id);
        let mut state = self.state.write();
        expire(&mut state, key, now);
        let entry = state.issues.entry(key).or_default();
        let next = entry.lifecycle.apply(issue_id, action)?;
        let (previous, previous_version) = (entry.lifecycle.clone(), entry.version);
        let version = state.next_version(now);
        let entry = state.issues.entry(key).or_default();
        let change = record(
            key,
            entry.lifecycle.status,
            &next,
            actor,
            comment,
            now,
            version,
        );
        entry.lifecycle = next;
        entry.progress = IgnoreProgress::default();
        entry.version = version;
        entry.pending.push(change.clone());
        Ok(Acted {
            changes: entry.pending.clone(),
            change,
            previous,
            previous_version,
        })
    }

    /// Takes back a person's transition whose write failed, unless something happened to the
    /// issue since (then it stays pending and is written with the next batch for the issue).
    pub fn undo(&self, acted: &Acted) {
        let key = (acted.change.project_id, acted.change.issue_id);
        let mut state = self.state.write();
        if let Some(entry) = state.issues.get_mut(&key) {
            if entry.version == acted.change.version {
                entry.lifecycle = acted.previous.clone();
                entry.version = acted.previous_version;
                entry
                    .pending
                    .retain(|pending| pending.version != acted.change.version);
            }
        }
    }

    /// What one ingested event does to its issue; adds the issue's pending transitions to the
    /// batch. Called for every event, after grouping.
    pub fn observe(
        &self,
        project_id: u64,
        issue_id: u64,
        event: EventFacts<'_>,
        batch: &mut WriteBatch,
    ) {
        let key = (project_id, issue_id);
        {
            // Fast path: most issues are open with nothing pending.
            let state = self.state.read();
            match state.issues.get(&key) {
                None => return,
                Some(entry)
                    if entry.pending.is_empty()
                        && !matches!(
                            entry.lifecycle.status,
                            IssueStatus::Resolved | IssueStatus::Ignored
                        ) =>
                {
                    return
                }
                Some(_) => {}
            }
        }
        let mut state = self.state.write();
        expire(&mut state, key, event.received);
        let Some(entry) = state.issues.get_mut(&key) else {
            return;
        };
        if let Some(status) = entry.lifecycle.on_event(event, &mut entry.progress) {
            let next = Lifecycle {
                status,
                ..Lifecycle::default()
            };
            let version = state.next_version(event.received);
            let Some(entry) = state.issues.get_mut(&key) else {
                return;
            };
            let change = record(
                key,
                entry.lifecycle.status,
                &next,
                SYSTEM_ACTOR,
                "",
                event.received,
                version,
            );
            entry.lifecycle = next;
            entry.progress = IgnoreProgress::default();
            entry.version = version;
            entry.pending.push(change);
        }
        let Some(entry) = state.issues.get(&key) else {
            return;
        };
        for change in &entry.pending {
            let carried = batch
                .status_changes
                .iter()
                .any(|c| c.issue_id == change.issue_id && c.version == change.version);
            if !carried {
                batch.status_changes.push(change.clone());
            }
        }
    }

    /// Marks the transitions of a durably written batch as stored and announces what the
    /// batch did.
    pub fn confirm(&self, batch: &WriteBatch) {
        let mut announcements = Vec::new();
        if !batch.status_changes.is_empty() {
            let mut state = self.state.write();
            for change in &batch.status_changes {
                let key = (change.project_id, change.issue_id);
                let Some(entry) = state.issues.get_mut(&key) else {
                    continue;
                };
                let before = entry.pending.len();
                entry.pending.retain(|p| p.version != change.version);
                if entry.pending.len() < before {
                    announcements.push(Activity::Issue {
                        project_id: change.project_id,
                        issue_id: change.issue_id,
                        kind: if change.to_status == IssueStatus::Regressed {
                            ActivityKind::Regression
                        } else {
                            ActivityKind::StatusChange
                        },
                    });
                }
            }
        }
        if self.activity.receiver_count() == 0 {
            return;
        }
        for issue in &batch.new_issues {
            announcements.push(Activity::Issue {
                project_id: issue.project_id,
                issue_id: issue.issue_id,
                kind: ActivityKind::NewIssue,
            });
        }
        let mut per_project: HashMap<u64, u64> = HashMap::new();
        for event in &batch.events {
            *per_project.entry(event.project_id).or_default() += 1;
        }
        let now = Utc::now();
        for (project_id, events) in per_project {
            announcements.push(Activity::Events {
                project_id,
                events,
                at: now,
            });
        }
        for announcement in announcements {
            // No subscriber is not an error.
            let _ = self.activity.send(announcement);
        }
    }
}

/// An ignore whose time has passed becomes New (a pending transition by the system).
fn expire(state: &mut TrackerState, key: (u64, u64), now: DateTime<Utc>) {
    let expired = state.issues.get(&key).is_some_and(|entry| {
        entry.lifecycle.status == IssueStatus::Ignored
            && entry.lifecycle.effective_status(now) == IssueStatus::New
    });
    if !expired {
        return;
    }
    let version = state.next_version(now);
    if let Some(entry) = state.issues.get_mut(&key) {
        let next = Lifecycle::default();
        let change = record(
            key,
            IssueStatus::Ignored,
            &next,
            SYSTEM_ACTOR,
            "",
            now,
            version,
        );
        entry.lifecycle = next;
        entry.progress = IgnoreProgress::default();
        entry.version = version;
        entry.pending.push(change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::IgnoreRate;

    fn facts(release: &str, seconds: i64) -> EventFacts<'_> {
        EventFacts {
            release,
            user_key: "",
            received: DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap_or_default(),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn resolve_then_event_regresses_and_the_batch_carries_both_until_confirmed() {
        let tracker = StatusTracker::default();
        let acted = tracker
            .act(
                1,
                5,
                &Action::Resolve { in_release: None },
                "ada",
                "",
                now(),
            )
            .expect("resolve");
        assert_eq!(acted.changes.len(), 1);
        let mut batch = WriteBatch::default();
        tracker.observe(1, 5, facts("", 1), &mut batch);
        assert_eq!(tracker.status(1, 5, now()), IssueStatus::Regressed);
        // The resolve is not durable yet: the event's batch carries it, before the regression.
        let statuses: Vec<IssueStatus> = batch.status_changes.iter().map(|c| c.to_status).collect();
        assert_eq!(statuses, [IssueStatus::Resolved, IssueStatus::Regressed]);
        assert!(batch.status_changes[0].version < batch.status_changes[1].version);
        let mut events = tracker.subscribe();
        tracker.confirm(&batch);
        let mut again = WriteBatch::default();
        tracker.observe(1, 5, facts("", 2), &mut again);
        assert!(again.status_changes.is_empty());
        assert!(matches!(
            events.try_recv(),
            Ok(Activity::Issue {
                kind: ActivityKind::StatusChange,
                ..
            })
        ));
        assert!(matches!(
            events.try_recv(),
            Ok(Activity::Issue {
                kind: ActivityKind::Regression,
                ..
            })
        ));
        // Confirming the same batch again announces nothing.
        tracker.confirm(&batch);
        assert!(events.try_recv().is_err());
    }

    #[test]
    fn a_failed_write_is_undone_unless_the_issue_moved_on() {
        let tracker = StatusTracker::default();
        let acted = tracker
            .act(1, 5, &Action::Acknowledge, "ada", "", now())
            .expect("acknowledge");
        tracker.undo(&acted);
        assert_eq!(tracker.status(1, 5, now()), IssueStatus::New);
        let resolved = tracker
            .act(
                1,
                5,
                &Action::Resolve { in_release: None },
                "ada",
                "",
                now(),
            )
            .expect("resolve");
        tracker.observe(1, 5, facts("", 1), &mut WriteBatch::default());
        tracker.undo(&resolved);
        assert_eq!(tracker.status(1, 5, now()), IssueStatus::Regressed);
    }

    #[test]
    fn ignore_until_rate_reopens_at_ingest() {
        let tracker = StatusTracker::default();
        tracker
            .act(
                2,
                9,
                &Action::Ignore(IgnoreCondition {
                    until_rate: Some(IgnoreRate {
                        events: 2,
                        minutes: 5,
                    }),
                    ..IgnoreCondition::default()
                }),
                "ada",
                "noisy",
                now(),
            )
            .expect("ignore");
        let mut batch = WriteBatch::default();
        tracker.observe(2, 9, facts("", 10), &mut batch);
        assert_eq!(tracker.status(2, 9, now()), IssueStatus::Ignored);
        tracker.observe(2, 9, facts("", 20), &mut batch);
        assert_eq!(tracker.status(2, 9, now()), IssueStatus::New);
        assert_eq!(batch.status_changes.len(), 2);
        assert_eq!(batch.status_changes[1].actor, SYSTEM_ACTOR);
    }

    #[test]
    fn loading_restores_release_and_condition() {
        let condition = IgnoreCondition {
            until: Some(now() + Duration::hours(1)),
            ..IgnoreCondition::default()
        };
        let tracker = StatusTracker::new(vec![
            StatusChangeRecord {
                project_id: 1,
                issue_id: 1,
                from_status: IssueStatus::New,
                to_status: IssueStatus::Resolved,
                actor: "a".into(),
                comment: String::new(),
                changed_at: now(),
                resolved_in_release: "2.0".into(),
                ignore_condition: String::new(),
                version: 10,
            },
            StatusChangeRecord {
                project_id: 1,
                issue_id: 2,
                from_status: IssueStatus::New,
                to_status: IssueStatus::Ignored,
                actor: "a".into(),
                comment: String::new(),
                changed_at: now(),
                resolved_in_release: String::new(),
                ignore_condition: condition.to_json(),
                version: 11,
            },
        ]);
        let mut batch = WriteBatch::default();
        tracker.observe(1, 1, facts("1.9", 1), &mut batch);
        assert_eq!(tracker.status(1, 1, now()), IssueStatus::Resolved);
        tracker.observe(1, 1, facts("2.1", 1), &mut batch);
        assert_eq!(tracker.status(1, 1, now()), IssueStatus::Regressed);
        assert_eq!(tracker.status(1, 2, now()), IssueStatus::Ignored);
        assert_eq!(
            tracker.status(1, 2, now() + Duration::hours(2)),
            IssueStatus::New
        );
        // New versions come after loaded ones even with a clock behind them.
        assert!(batch.status_changes.iter().all(|c| c.version > 11));
    }
}
