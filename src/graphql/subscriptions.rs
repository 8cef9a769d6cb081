//! Subscriptions over WebSocket (`/graphql/ws`): issue activity (new issues, regressions,
//! status changes) and live event counts of a project, fed by the tracker's activity channel
//! (announced once the write is durable).

use std::time::Duration as StdDuration;

use async_graphql::{Context, Enum, Result, SimpleObject, Subscription, ID};
use chrono::{DateTime, DurationRound, Utc};
use futures::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use super::types::Issue;
use super::{parse_id, project_allowed, GraphqlContext};
use crate::engine::Engine;
use crate::tracker::{Activity, ActivityKind as TrackerKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ActivityKind {
    NewIssue,
    Regression,
    StatusChange,
}

impl From<TrackerKind> for ActivityKind {
    fn from(kind: TrackerKind) -> Self {
        match kind {
            TrackerKind::NewIssue => ActivityKind::NewIssue,
            TrackerKind::Regression => ActivityKind::Regression,
            TrackerKind::StatusChange => ActivityKind::StatusChange,
        }
    }
}

#[derive(SimpleObject)]
pub struct IssueActivity {
    pub kind: ActivityKind,
    pub issue: Issue,
}

/// Events of the project accepted in the second starting at `time`.
#[derive(SimpleObject)]
pub struct EventCountTick {
    pub time: DateTime<Utc>,
    pub events: u64,
}

pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// New issues, regressions and status changes of a project, as they become durable.
    async fn issue_activity(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
    ) -> Result<impl Stream<Item = IssueActivity>> {
        let context = ctx.data::<GraphqlContext>()?;
        let project_id = parse_id(&project_id, "project")?;
        project_allowed(ctx, project_id)?;
        let receiver = context.pipeline.tracker().subscribe();
        let engine = context.engine.clone();
        Ok(stream::unfold(
            (receiver, engine),
            move |(mut receiver, engine)| async move {
                loop {
                    let activity = match receiver.recv().await {
                        Ok(activity) => activity,
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return None,
                    };
                    let Activity::Issue {
                        project_id: of,
                        issue_id,
                        kind,
                    } = activity
                    else {
                        continue;
                    };
                    if of != project_id {
                        continue;
                    }
                    if let Some(issue) = load_issue(engine.as_ref(), issue_id).await {
                        let item = IssueActivity {
                            kind: kind.into(),
                            issue,
                        };
                        return Some((item, (receiver, engine)));
                    }
                }
            },
        ))
    }

    /// One tick a second: the events of the project accepted (durable) in that second.
    async fn event_counts(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
    ) -> Result<impl Stream<Item = EventCountTick>> {
        let context = ctx.data::<GraphqlContext>()?;
        let project_id = parse_id(&project_id, "project")?;
        project_allowed(ctx, project_id)?;
        let receiver = context.pipeline.tracker().subscribe();
        let mut ticker = tokio::time::interval(StdDuration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(stream::unfold(
            (receiver, ticker, 0u64, second_now()),
            move |(mut receiver, mut ticker, mut count, mut second)| async move {
                loop {
                    tokio::select! {
                        _ = ticker.tick() => {
                            let tick = EventCountTick { time: second, events: count };
                            (count, second) = (0, second_now());
                            return Some((tick, (receiver, ticker, count, second)));
                        }
                        activity = receiver.recv() => match activity {
                            Ok(Activity::Events { project_id: of, events, .. }) if of == project_id => {
                                count += events;
                            }
                            Ok(_) | Err(RecvError::Lagged(_)) => {}
                            Err(RecvError::Closed) => return None,
                        },
                    }
                }
            },
        ))
    }
}

fn second_now() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(chrono::Duration::seconds(1))
        .unwrap_or(now)
}

async fn load_issue(engine: &dyn Engine, issue_id: u64) -> Option<Issue> {
    match engine.issue(issue_id).await {
        Ok(summary) => summary.map(|summary| Issue::new(summary, None)),
        Err(error) => {
            tracing::warn!(%error, issue_id, "subscription could not load an issue");
            None
        }
    }
}
