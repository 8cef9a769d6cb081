//! The GraphQL API at `/graphql` (async-graphql). The SDL is committed as
//! `graphql/schema.graphql`; a test fails when it drifts from the code.

mod alerts;
mod issues;
mod lifecycle;
pub mod protection;
mod subscriptions;
mod traces;
mod types;

use std::sync::Arc;

use async_graphql::{
    Context, ErrorExtensions, MergedObject, Object, Result, Schema, SchemaBuilder, ID,
};
use chrono::{Duration, DurationRound, Utc};

use crate::access::{ensure_project, Access};
use crate::engine::Engine;
use crate::error::ApiError;
use crate::pipeline::Pipeline;
use crate::projects::ProjectRegistry;
use crate::regroup::{self, RegroupFailure};
pub use subscriptions::SubscriptionRoot;
pub use types::{Event, Issue, ProjectObject};

pub type StackhouseSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Every query field: the base ones, the issue/event/project-stats ones, alerting and trace
/// correlation.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    BaseQuery,
    issues::IssueQueries,
    // Alerting (issue 7).
    alerts::AlertQueries,
    // Trace correlation (issue 9).
    traces::TraceQueries,
);

/// Every mutation: merge/unmerge, lifecycle, projects.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    BaseMutation,
    lifecycle::LifecycleMutations,
    // Alerting (issue 7).
    alerts::AlertMutations,
);

/// What resolvers reach through the context.
pub struct GraphqlContext {
    pub engine: Arc<dyn Engine>,
    pub projects: Arc<ProjectRegistry>,
    pub pipeline: Arc<Pipeline>,
    pub public_url: String,
}

/// Largest page the API returns.
pub const MAX_PAGE_SIZE: i32 = 200;
/// Longest a query or mutation may run.
pub const QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Hours in an issue's sparkline.
pub const SPARKLINE_HOURS: i64 = 24;

fn schema_builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
}

pub fn build_schema(context: GraphqlContext) -> StackhouseSchema {
    schema_builder()
        .data(context)
        .limit_depth(protection::MAX_DEPTH)
        .limit_complexity(protection::MAX_COMPLEXITY)
        .extension(protection::ErrorCodes)
        .extension(issues::Timeout(QUERY_TIMEOUT))
        .finish()
}

/// The SDL of the schema, as committed in `graphql/schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

/// Whether the caller may see `project_id`: every resolver that touches a project's data calls
/// this first (FORBIDDEN outside the API token's projects; see `crate::access`).
pub fn project_allowed(ctx: &Context<'_>, project_id: u64) -> Result<()> {
    ensure_project(ctx, project_id)
}

/// Who is acting, for the lifecycle history.
pub fn actor(_ctx: &Context<'_>) -> String {
    "api".to_owned()
}

/// An error with a machine-readable `extensions.code`.
pub fn coded(message: impl Into<String>, code: &'static str) -> async_graphql::Error {
    async_graphql::Error::new(message.into()).extend_with(|_, e| e.set("code", code))
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
    // GraphQL codes are the HTTP ones in capitals (NOT_FOUND, BAD_REQUEST, INTERNAL, ...).
    let code = api.code().to_uppercase();
    error = error.extend_with(|_, extensions| extensions.set("code", code.as_str()));
    error
}

#[derive(Default)]
pub struct BaseQuery;

#[Object]
impl BaseQuery {
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
}

fn regroup_error(failure: RegroupFailure) -> async_graphql::Error {
    let code = match &failure {
        RegroupFailure::Refused(_) => "BAD_REQUEST",
        RegroupFailure::Engine(_) | RegroupFailure::Write(_) => "UNAVAILABLE",
    };
    async_graphql::Error::new(failure.to_string()).extend_with(|_, e| e.set("code", code))
}

fn parse_fingerprint(text: &str) -> Result<u64> {
    u64::from_str_radix(text, 16)
        .map_err(|_| format!("invalid fingerprint {text:?}: expected 16 hex digits").into())
}

#[derive(Default)]
pub struct BaseMutation;

#[Object]
impl BaseMutation {
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
        project_allowed(ctx, project_id)?;
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
        project_allowed(ctx, project_id)?;
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
