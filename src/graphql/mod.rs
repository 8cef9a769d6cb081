//! The GraphQL API at `/graphql` (async-graphql). The SDL is committed as
//! `graphql/schema.graphql`; a test fails when it drifts from the code.

pub mod protection;
mod types;

use std::sync::Arc;

use async_graphql::{Context, EmptySubscription, ErrorExtensions, Object, Result, Schema, ID};
use chrono::{Duration, DurationRound, Utc};

use crate::access::{ensure_project, Access};
use crate::engine::{Engine, IssueQuery, IssueSort, IssueStatus};
use crate::error::ApiError;
use crate::pipeline::Pipeline;
use crate::projects::ProjectRegistry;
use crate::regroup::{self, RegroupFailure};
pub use types::{Event, Issue, ProjectObject};

pub type StackhouseSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// What resolvers reach through the context.
pub struct GraphqlContext {
    pub engine: Arc<dyn Engine>,
    pub projects: Arc<ProjectRegistry>,
    pub pipeline: Arc<Pipeline>,
    pub public_url: String,
}

/// Largest page the API returns.
pub const MAX_PAGE_SIZE: i32 = 500;
/// Hours in an issue's sparkline.
pub const SPARKLINE_HOURS: i64 = 24;

pub fn build_schema(context: GraphqlContext) -> StackhouseSchema {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .data(context)
        .limit_depth(protection::MAX_DEPTH)
        .limit_complexity(protection::MAX_COMPLEXITY)
        .extension(protection::ErrorCodes)
        .finish()
}

/// The SDL of the schema, as committed in `graphql/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .finish()
        .sdl()
}

fn parse_id(id: &ID, what: &str) -> Result<u64> {
    id.parse::<u64>()
        .map_err(|_| async_graphql::Error::new(format!("invalid {what} id {:?}", id.as_str())))
}

fn engine_error(error: crate::engine::EngineError) -> async_graphql::Error {
    let api: ApiError = error.into();
    let mut error = async_graphql::Error::new(match &api {
        ApiError::Internal(_) => "internal error".to_owned(),
        other => other.to_string(),
    });
    error = error.extend_with(|_, extensions| extensions.set("code", api.code()));
    error
}

pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// Every project the API token may read.
    async fn projects(&self, ctx: &Context<'_>) -> Result<Vec<ProjectObject>> {
        let context = ctx.data::<GraphqlContext>()?;
        let access = ctx.data::<Access>()?;
        context.projects.refresh().await.map_err(engine_error)?;
        Ok(context
            .projects
            .projects()
            .into_iter()
            .filter(|project| access.allows(project.id))
            .map(|project| ProjectObject::new(project, context))
            .collect())
    }

    /// A project's issues with their counts, most recently seen first by default.
    async fn issues(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        status: Option<IssueStatus>,
        #[graphql(default)] sort: IssueSort,
        #[graphql(default = 25)] limit: i32,
        #[graphql(default = 0)] offset: i32,
    ) -> Result<Vec<Issue>> {
        let context = ctx.data::<GraphqlContext>()?;
        let project_id = parse_id(&project_id, "project")?;
        ensure_project(ctx, project_id)?;
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(format!("limit must be between 1 and {MAX_PAGE_SIZE}").into());
        }
        let query = IssueQuery {
            project_id,
            status,
            sort,
            limit: usize::try_from(limit).unwrap_or(25),
            offset: usize::try_from(offset).map_err(|_| "offset must not be negative")?,
        };
        let summaries = context.engine.issues(&query).await.map_err(engine_error)?;
        let ids: Vec<u64> = summaries.iter().map(|s| s.issue.issue_id).collect();
        let (from, to) = sparkline_window();
        let mut sparklines = context
            .engine
            .hourly_counts(project_id, &ids, from, to)
            .await
            .map_err(engine_error)?;
        Ok(summaries
            .into_iter()
            .map(|summary| {
                let counts = sparklines
                    .remove(&summary.issue.issue_id)
                    .unwrap_or_default();
                Issue::new(summary, Some(counts))
            })
            .collect())
    }

    /// One issue (FORBIDDEN when it belongs to a project the token may not read).
    async fn issue(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Issue>> {
        let context = ctx.data::<GraphqlContext>()?;
        let issue_id = parse_id(&id, "issue")?;
        let summary = context.engine.issue(issue_id).await.map_err(engine_error)?;
        if let Some(summary) = &summary {
            ensure_project(ctx, summary.issue.project_id)?;
        }
        Ok(summary.map(|summary| Issue::new(summary, None)))
    }
}

fn regroup_error(failure: RegroupFailure) -> async_graphql::Error {
    let code = match &failure {
        RegroupFailure::Refused(_) => "bad_request",
        RegroupFailure::Engine(_) | RegroupFailure::Write(_) => "unavailable",
    };
    async_graphql::Error::new(failure.to_string()).extend_with(|_, e| e.set("code", code))
}

fn parse_fingerprint(text: &str) -> Result<u64> {
    u64::from_str_radix(text, 16)
        .map_err(|_| format!("invalid fingerprint {text:?}: expected 16 hex digits").into())
}

pub struct MutationRoot;

#[Object]
impl MutationRoot {
    /// Merges issues into `into`: their fingerprints move to it. Raw events are not rewritten;
    /// every count shows the merge at once. Returns the merged issue.
    async fn merge_issues(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        into: ID,
        from: Vec<ID>,
    ) -> Result<Option<Issue>> {
        let context = ctx.data::<GraphqlContext>()?;
        let project_id = parse_id(&project_id, "project")?;
        ensure_project(ctx, project_id)?;
        let target = parse_id(&into, "issue")?;
        let sources = from
            .iter()
            .map(|id| parse_id(id, "issue"))
            .collect::<Result<Vec<u64>>>()?;
        regroup::merge(&context.pipeline, project_id, target, &sources)
            .await
            .map_err(regroup_error)?;
        let summary = context.engine.issue(target).await.map_err(engine_error)?;
        Ok(summary.map(|summary| Issue::new(summary, None)))
    }

    /// Moves fingerprints (16 hex digits, see `Issue.fingerprints`) out of an issue, each back
    /// to an issue of its own. Returns the ids of the issues they now belong to.
    async fn unmerge_fingerprints(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        issue_id: ID,
        fingerprints: Vec<String>,
    ) -> Result<Vec<ID>> {
        let context = ctx.data::<GraphqlContext>()?;
        let project_id = parse_id(&project_id, "project")?;
        ensure_project(ctx, project_id)?;
        let issue_id = parse_id(&issue_id, "issue")?;
        let fingerprints = fingerprints
            .iter()
            .map(|f| parse_fingerprint(f))
            .collect::<Result<Vec<u64>>>()?;
        let moved_to = regroup::unmerge(
            &context.pipeline,
            context.engine.as_ref(),
            project_id,
            issue_id,
            &fingerprints,
        )
        .await
        .map_err(regroup_error)?;
        Ok(moved_to.into_iter().map(|id| ID(id.to_string())).collect())
    }
}

/// The last 24 whole hours plus the current one.
pub fn sparkline_window() -> (chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
    let now = Utc::now();
    let current_hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    (
        current_hour - Duration::hours(SPARKLINE_HOURS - 1),
        current_hour + Duration::hours(1),
    )
}
