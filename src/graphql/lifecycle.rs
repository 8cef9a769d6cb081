//! Mutations: the issue lifecycle (acknowledge, resolve, ignore, reopen; in bulk) and projects
//! (create, rotate the key).
//!
//! A lifecycle mutation checks every transition with the tracker first (all or nothing: if one
//! issue refuses, the ones already applied are undone and nothing is written), then writes the
//! transitions through the batch writer, like ingest writes events, and returns once they are
//! durable.

use async_graphql::{Context, InputObject, Object, Result, ID};
use chrono::{DateTime, Utc};

use super::types::{Issue, ProjectObject};
use super::{actor, coded, engine_error, parse_id, project_allowed, GraphqlContext};
use crate::engine::{ProjectKey, WriteBatch};
use crate::lifecycle::{Action, IgnoreCondition, IgnoreRate as Rate, TransitionError};
use crate::projects::generate_public_key;
use crate::tracker::Acted;

/// Ignore until this many events arrive within this many minutes.
#[derive(Debug, Clone, Copy, InputObject)]
pub struct IgnoreRate {
    pub events: i32,
    pub minutes: i32,
}

/// Most issues one mutation may change.
const MAX_BULK: usize = 1_000;

fn transition_error(error: TransitionError) -> async_graphql::Error {
    let code = match error {
        TransitionError::Invalid { .. } => "INVALID_TRANSITION",
        TransitionError::BadCondition(_) => "BAD_REQUEST",
    };
    coded(error.to_string(), code)
}

fn non_negative(value: Option<i32>, name: &str) -> Result<Option<u64>> {
    value
        .map(|v| {
            u64::try_from(v)
                .map_err(|_| coded(format!("{name} must not be negative"), "BAD_REQUEST"))
        })
        .transpose()
}

/// Applies `action` to every issue, writes the transitions, returns the issues.
async fn transition(
    ctx: &Context<'_>,
    ids: &[ID],
    action: Action,
    comment: Option<String>,
) -> Result<Vec<Issue>> {
    let context = ctx.data::<GraphqlContext>()?;
    if ids.len() > MAX_BULK {
        return Err(coded(
            format!("at most {MAX_BULK} issues per mutation"),
            "BAD_REQUEST",
        ));
    }
    let issue_ids = ids
        .iter()
        .map(|id| parse_id(id, "issue"))
        .collect::<Result<Vec<u64>>>()?;
    let mut projects = Vec::with_capacity(issue_ids.len());
    for &issue_id in &issue_ids {
        let summary = context.engine.issue(issue_id).await.map_err(engine_error)?;
        let Some(summary) = summary else {
            return Err(coded(format!("issue {issue_id} not found"), "NOT_FOUND"));
        };
        project_allowed(ctx, summary.issue.project_id)?;
        projects.push(summary.issue.project_id);
    }
    let tracker = context.pipeline.tracker();
    let (actor, comment, now) = (actor(ctx), comment.unwrap_or_default(), Utc::now());
    let mut acted: Vec<Acted> = Vec::with_capacity(issue_ids.len());
    let mut batch = WriteBatch::default();
    for (&issue_id, &project_id) in issue_ids.iter().zip(&projects) {
        match tracker.act(project_id, issue_id, &action, &actor, &comment, now) {
            Ok(done) => {
                batch.status_changes.extend(done.changes.iter().cloned());
                acted.push(done);
            }
            Err(error) => {
                for done in acted.iter().rev() {
                    tracker.undo(done);
                }
                return Err(transition_error(error));
            }
        }
    }
    if let Err(error) = context.pipeline.store(batch).await {
        for done in acted.iter().rev() {
            tracker.undo(done);
        }
        return Err(coded(
            format!("the transition was not stored: {error}"),
            "UNAVAILABLE",
        ));
    }
    let mut issues = Vec::with_capacity(issue_ids.len());
    for issue_id in issue_ids {
        if let Some(summary) = context.engine.issue(issue_id).await.map_err(engine_error)? {
            issues.push(Issue::new(summary, None));
        }
    }
    Ok(issues)
}

#[derive(Default)]
pub struct LifecycleMutations;

#[Object]
impl LifecycleMutations {
    /// Someone is on it: New or Regressed → Acknowledged.
    async fn acknowledge_issues(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
        comment: Option<String>,
    ) -> Result<Vec<Issue>> {
        transition(ctx, &ids, Action::Acknowledge, comment).await
    }

    /// Fixed: → Resolved. With `inRelease`, only events of a later release regress it.
    async fn resolve_issues(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
        in_release: Option<String>,
        comment: Option<String>,
    ) -> Result<Vec<Issue>> {
        transition(ctx, &ids, Action::Resolve { in_release }, comment).await
    }

    /// Muted: → Ignored, until a time, N more events, N users, or a rate (the first met ends
    /// it and the issue becomes New); forever without a condition.
    #[allow(clippy::too_many_arguments)]
    async fn ignore_issues(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
        until: Option<DateTime<Utc>>,
        until_events: Option<i32>,
        until_users: Option<i32>,
        until_rate: Option<IgnoreRate>,
        comment: Option<String>,
    ) -> Result<Vec<Issue>> {
        let until_rate = match until_rate {
            Some(rate) => Some(Rate {
                events: non_negative(Some(rate.events), "untilRate.events")?.unwrap_or(0),
                minutes: non_negative(Some(rate.minutes), "untilRate.minutes")?.unwrap_or(0),
            }),
            None => None,
        };
        if until.is_some_and(|until| until <= Utc::now()) {
            return Err(coded("until must be in the future", "BAD_REQUEST"));
        }
        let condition = IgnoreCondition {
            until,
            until_events: non_negative(until_events, "untilEvents")?,
            until_users: non_negative(until_users, "untilUsers")?,
            until_rate,
        };
        transition(ctx, &ids, Action::Ignore(condition), comment).await
    }

    /// Back to New (from Acknowledged, Resolved or Ignored).
    async fn reopen_issues(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
        comment: Option<String>,
    ) -> Result<Vec<Issue>> {
        transition(ctx, &ids, Action::Reopen, comment).await
    }

    /// A new project with its first key.
    async fn create_project(&self, ctx: &Context<'_>, name: String) -> Result<ProjectObject> {
        let context = ctx.data::<GraphqlContext>()?;
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(coded(
                "a project name is 1 to 200 characters",
                "BAD_REQUEST",
            ));
        }
        let project = context
            .engine
            .create_project(name, &generate_public_key())
            .await
            .map_err(engine_error)?;
        context.projects.refresh().await.map_err(engine_error)?;
        Ok(ProjectObject::new(project, context))
    }

    /// A new key for the project; every older key is disabled (SDKs with the old DSN are
    /// refused from now on).
    async fn rotate_project_key(&self, ctx: &Context<'_>, project_id: ID) -> Result<ProjectObject> {
        let context = ctx.data::<GraphqlContext>()?;
        let project_id = parse_id(&project_id, "project")?;
        project_allowed(ctx, project_id)?;
        context.projects.refresh().await.map_err(engine_error)?;
        let Some(project) = context
            .projects
            .projects()
            .into_iter()
            .find(|p| p.id == project_id)
        else {
            return Err(coded(
                format!("project {project_id} not found"),
                "NOT_FOUND",
            ));
        };
        let now = Utc::now();
        context
            .engine
            .put_project_key(&ProjectKey {
                project_id,
                public_key: generate_public_key(),
                active: true,
                created_at: now,
            })
            .await
            .map_err(engine_error)?;
        for key in context.projects.keys_of(project_id) {
            if key.active {
                context
                    .engine
                    .put_project_key(&ProjectKey {
                        active: false,
                        ..key
                    })
                    .await
                    .map_err(engine_error)?;
            }
        }
        context.projects.refresh().await.map_err(engine_error)?;
        Ok(ProjectObject::new(project, context))
    }
}
