//! GraphQL object types: issues, events and projects as the API shows them.

use std::collections::HashMap;

use async_graphql::{Context, Json, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Duration, Utc};

use super::issues::{
    bucket_counts, bucket_range, dense_points, detail, EventConnection, Granularity,
    TagDistribution, TrendPoint,
};
use super::{engine_error, sparkline_window, GraphqlContext, MAX_PAGE_SIZE, SPARKLINE_HOURS};
use crate::engine::{
    EventRecord, HourlyCount, IssueFingerprints, IssueStatus, IssueSummary, Project,
    StatusChangeRecord,
};
use crate::projects::format_dsn;

/// A project.
pub struct ProjectObject {
    project: Project,
    dsns: Vec<String>,
    keys: Vec<ProjectKeyObject>,
}

/// A DSN key of a project.
#[derive(SimpleObject, Clone)]
#[graphql(name = "ProjectKey")]
pub struct ProjectKeyObject {
    public_key: String,
    dsn: String,
    active: bool,
    created_at: DateTime<Utc>,
}

impl ProjectObject {
    pub fn new(project: Project, context: &GraphqlContext) -> ProjectObject {
        let mut keys: Vec<ProjectKeyObject> = context
            .projects
            .keys_of(project.id)
            .into_iter()
            .map(|key| ProjectKeyObject {
                dsn: format_dsn(&context.public_url, &key.public_key, project.id),
                public_key: key.public_key,
                active: key.active,
                created_at: key.created_at,
            })
            .collect();
        // Oldest first; the first active one is the project's DSN.
        keys.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.public_key.cmp(&b.public_key))
        });
        let dsns = keys
            .iter()
            .filter(|key| key.active)
            .map(|key| key.dsn.clone())
            .collect();
        ProjectObject {
            project,
            dsns,
            keys,
        }
    }
}

#[Object(name = "Project")]
impl ProjectObject {
    async fn id(&self) -> ID {
        ID(self.project.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.project.name
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.project.created_at
    }
    /// DSNs of the project's active keys: give one to a Sentry SDK.
    async fn dsns(&self) -> &[String] {
        &self.dsns
    }
    /// The DSN of the first active key (empty when every key is disabled).
    async fn dsn(&self) -> String {
        self.dsns.first().cloned().unwrap_or_default()
    }
    /// Every key, active or not, oldest first.
    async fn keys(&self) -> &[ProjectKeyObject] {
        &self.keys
    }
}

/// One lifecycle transition.
pub struct StatusChange(pub StatusChangeRecord);

#[Object]
impl StatusChange {
    async fn from(&self) -> Option<IssueStatus> {
        Some(self.0.from_status)
    }
    async fn to(&self) -> IssueStatus {
        self.0.to_status
    }
    /// A person, or `system` for transitions made by events.
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    async fn comment(&self) -> &str {
        &self.0.comment
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.changed_at
    }
    async fn resolved_in_release(&self) -> Option<&str> {
        Some(self.0.resolved_in_release.as_str()).filter(|r| !r.is_empty())
    }
    async fn ignore_condition(&self) -> Option<Json<serde_json::Value>> {
        serde_json::from_str(&self.0.ignore_condition)
            .ok()
            .map(Json)
    }
}

/// A group of events that share a cause.
pub struct Issue {
    summary: IssueSummary,
    /// Read with the list's page; on demand otherwise.
    sparkline: Option<Vec<HourlyCount>>,
    /// Whether `summary.users` was read (a list page reads users only when the selection asks
    /// for them); on demand otherwise.
    users_read: bool,
}

impl Issue {
    pub fn new(summary: IssueSummary, sparkline: Option<Vec<HourlyCount>>) -> Issue {
        Issue::listed(summary, sparkline, true)
    }

    /// Its fingerprints, as the grouper maps them now.
    fn current_fingerprints(&self, context: &GraphqlContext) -> IssueFingerprints {
        let issue = &self.summary.issue;
        context
            .pipeline
            .grouper()
            .fingerprints_of_issues(issue.project_id, &[issue.issue_id])
    }

    /// Its hourly counts over `[from, to)`.
    async fn hourly_counts(
        &self,
        context: &GraphqlContext,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<HashMap<u64, Vec<HourlyCount>>> {
        context
            .engine
            .issue_hourly_counts(
                self.summary.issue.project_id,
                &self.current_fingerprints(context),
                from,
                to,
            )
            .await
            .map_err(engine_error)
    }

    /// Its newest events, over the fingerprints the grouper maps to it (the engine's stored
    /// mapping when this instance knows none).
    async fn latest_events(
        &self,
        context: &GraphqlContext,
        limit: usize,
    ) -> Result<Vec<EventRecord>> {
        let issue = &self.summary.issue;
        let fingerprints = self
            .current_fingerprints(context)
            .remove(&issue.issue_id)
            .unwrap_or_default();
        let events = match fingerprints.is_empty() {
            true => context.engine.issue_events(issue.issue_id, limit).await,
            false => {
                context
                    .engine
                    .fingerprint_events(issue.project_id, &fingerprints, limit)
                    .await
            }
        };
        events.map_err(engine_error)
    }

    /// An issue of a list page, which may not have read its distinct users.
    pub fn listed(
        summary: IssueSummary,
        sparkline: Option<Vec<HourlyCount>>,
        users_read: bool,
    ) -> Issue {
        Issue {
            summary,
            sparkline,
            users_read,
        }
    }
}

#[Object]
impl Issue {
    async fn id(&self) -> ID {
        ID(self.summary.issue.issue_id.to_string())
    }
    async fn project_id(&self) -> ID {
        ID(self.summary.issue.project_id.to_string())
    }
    async fn title(&self) -> &str {
        &self.summary.issue.title
    }
    /// Where it happens: the innermost in-app frame, or the transaction.
    async fn culprit(&self) -> &str {
        &self.summary.issue.culprit
    }
    async fn level(&self) -> &str {
        &self.summary.issue.level
    }
    async fn platform(&self) -> &str {
        &self.summary.issue.platform
    }
    /// The lifecycle status now.
    async fn status(&self, ctx: &Context<'_>) -> Result<IssueStatus> {
        let context = ctx.data::<GraphqlContext>()?;
        Ok(context.pipeline.tracker().status(
            self.summary.issue.project_id,
            self.summary.issue.issue_id,
            Utc::now(),
        ))
    }
    /// The release it was resolved in (it regresses only on events of later releases).
    async fn resolved_in_release(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let context = ctx.data::<GraphqlContext>()?;
        Ok(context
            .pipeline
            .tracker()
            .lifecycle(
                self.summary.issue.project_id,
                self.summary.issue.issue_id,
                Utc::now(),
            )
            .resolved_in_release)
    }
    /// Until when it stays ignored (`until`, `untilEvents`, `untilUsers`, `untilRate`).
    async fn ignore_condition(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        let context = ctx.data::<GraphqlContext>()?;
        let lifecycle = context.pipeline.tracker().lifecycle(
            self.summary.issue.project_id,
            self.summary.issue.issue_id,
            Utc::now(),
        );
        Ok(lifecycle
            .ignore
            .map(|condition| Json(serde_json::to_value(condition).unwrap_or_default())))
    }
    /// Every lifecycle transition, oldest first.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<StatusChange>> {
        let context = ctx.data::<GraphqlContext>()?;
        Ok(context
            .engine
            .issue_history(self.summary.issue.project_id, self.summary.issue.issue_id)
            .await
            .map_err(engine_error)?
            .into_iter()
            .map(StatusChange)
            .collect())
    }
    /// Why the latest event is grouped here (`{}` without events).
    async fn grouping_explanation(&self, ctx: &Context<'_>) -> Result<Json<serde_json::Value>> {
        let context = ctx.data::<GraphqlContext>()?;
        let latest = self.latest_events(context, 1).await?;
        Ok(Json(
            latest
                .first()
                .and_then(|event| serde_json::from_str(&event.grouping_explanation).ok())
                .unwrap_or_else(|| serde_json::json!({})),
        ))
    }
    /// Tag value distributions over the issue's events, most frequent first (`limit` values
    /// per key).
    async fn tags(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] limit: Option<i32>,
    ) -> Result<Vec<TagDistribution>> {
        // An absent variable arrives as null: the default applies either way.
        let limit = limit.unwrap_or(10);
        let context = ctx.data::<GraphqlContext>()?;
        detail::tags(
            context,
            self.summary.issue.project_id,
            self.summary.issue.issue_id,
            limit,
        )
        .await
    }
    /// Events per bucket over `[from, to)`, oldest first, zeros included (default range: the
    /// last hour by minute, day by hour, or 30 days by day).
    async fn trend(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] granularity: Option<Granularity>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<TrendPoint>> {
        // An absent variable arrives as null: the default applies either way.
        let granularity = granularity.unwrap_or_default();
        let context = ctx.data::<GraphqlContext>()?;
        let range = bucket_range(granularity, from, to)?;
        if granularity == Granularity::Minute {
            let issue = &self.summary.issue;
            return bucket_counts(
                context,
                issue.project_id,
                &[issue.issue_id],
                granularity,
                range,
            )
            .await;
        }
        let counts = self.hourly_counts(context, range).await?;
        Ok(dense_points(&counts, granularity, range))
    }
    /// The newest event.
    async fn latest_event(&self, ctx: &Context<'_>) -> Result<Option<Event>> {
        let context = ctx.data::<GraphqlContext>()?;
        let latest = self.latest_events(context, 1).await?;
        Ok(latest.into_iter().next().map(Event::new))
    }
    /// Events newest first, paged by cursor.
    async fn event_page(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<EventConnection> {
        // An absent variable arrives as null: the default applies either way.
        let first = first.unwrap_or(20);
        let context = ctx.data::<GraphqlContext>()?;
        detail::event_page(context, self.summary.issue.issue_id, first, after).await
    }
    /// Events in this issue.
    async fn count(&self) -> u64 {
        self.summary.events
    }
    /// Distinct users affected.
    async fn user_count(&self, ctx: &Context<'_>) -> Result<u64> {
        if self.users_read {
            return Ok(self.summary.users);
        }
        let context = ctx.data::<GraphqlContext>()?;
        let (project_id, issue_id) = (self.summary.issue.project_id, self.summary.issue.issue_id);
        let users = context
            .engine
            .issue_users(project_id, &self.current_fingerprints(context))
            .await
            .map_err(engine_error)?;
        Ok(users.get(&issue_id).copied().unwrap_or(0))
    }
    async fn first_seen(&self) -> DateTime<Utc> {
        self.summary.first_seen
    }
    async fn last_seen(&self) -> DateTime<Utc> {
        self.summary.last_seen
    }
    /// The fingerprints grouped into this issue (16 hex digits each); unmerge takes these.
    async fn fingerprints(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let context = ctx.data::<GraphqlContext>()?;
        Ok(context
            .pipeline
            .grouper()
            .fingerprints_of(self.summary.issue.project_id, self.summary.issue.issue_id)
            .into_iter()
            .map(|fingerprint| format!("{fingerprint:016x}"))
            .collect())
    }
    /// Events per hour over the last 24 hours, oldest first (24 values).
    async fn sparkline(&self, ctx: &Context<'_>) -> Result<Vec<u64>> {
        let (from, to) = sparkline_window();
        let counts = match &self.sparkline {
            Some(counts) => counts.clone(),
            None => {
                let context = ctx.data::<GraphqlContext>()?;
                self.hourly_counts(context, (from, to))
                    .await?
                    .remove(&self.summary.issue.issue_id)
                    .unwrap_or_default()
            }
        };
        let mut buckets = vec![0u64; usize::try_from(SPARKLINE_HOURS).unwrap_or(24)];
        for count in counts {
            let index = (count.hour - from).num_hours();
            if let Some(bucket) = usize::try_from(index).ok().and_then(|i| buckets.get_mut(i)) {
                *bucket += count.events;
            }
        }
        debug_assert_eq!(to - from, Duration::hours(SPARKLINE_HOURS));
        Ok(buckets)
    }
    /// The latest events, newest first.
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] limit: Option<i32>,
    ) -> Result<Vec<Event>> {
        // An absent variable arrives as null: the default applies either way.
        let limit = limit.unwrap_or(10);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(format!("limit must be between 1 and {MAX_PAGE_SIZE}").into());
        }
        let context = ctx.data::<GraphqlContext>()?;
        let records = context
            .engine
            .issue_events(
                self.summary.issue.issue_id,
                usize::try_from(limit).unwrap_or(10),
            )
            .await
            .map_err(engine_error)?;
        Ok(records.into_iter().map(Event::new).collect())
    }
}

/// One stored event.
pub struct Event {
    record: EventRecord,
}

impl Event {
    pub fn new(record: EventRecord) -> Event {
        Event { record }
    }
}

/// A tag of an event.
#[derive(SimpleObject)]
pub struct Tag {
    key: String,
    value: String,
}

/// The user an event happened to.
#[derive(SimpleObject)]
pub struct EventUser {
    id: Option<String>,
    email: Option<String>,
    ip_address: Option<String>,
    username: Option<String>,
}

/// One exception of an event's chain (root cause first).
#[derive(SimpleObject)]
pub struct ExceptionInfo {
    #[graphql(name = "type")]
    ty: String,
    value: Option<String>,
    module: Option<String>,
    mechanism: Option<String>,
    handled: Option<bool>,
    frames: Vec<FrameInfo>,
}

/// One stack frame (oldest call first).
#[derive(SimpleObject)]
pub struct FrameInfo {
    function: Option<String>,
    module: Option<String>,
    filename: Option<String>,
    abs_path: Option<String>,
    lineno: Option<u32>,
    colno: Option<u32>,
    in_app: bool,
    context_line: Option<String>,
    pre_context: Vec<String>,
    post_context: Vec<String>,
}

impl From<&stackhouse_protocol::Frame> for FrameInfo {
    fn from(frame: &stackhouse_protocol::Frame) -> Self {
        FrameInfo {
            function: frame.function.clone(),
            module: frame.module.clone(),
            filename: frame.filename.clone(),
            abs_path: frame.abs_path.clone(),
            lineno: frame.lineno,
            colno: frame.colno,
            in_app: frame.in_app == Some(true),
            context_line: frame.context_line.clone(),
            pre_context: frame.pre_context.clone(),
            post_context: frame.post_context.clone(),
        }
    }
}

impl Event {
    fn parsed(&self) -> Result<stackhouse_protocol::ErrorEvent> {
        self.record.to_event().map_err(|error| {
            async_graphql::Error::new(format!("stored event is unreadable: {error}"))
        })
    }
}

#[Object]
impl Event {
    async fn id(&self) -> ID {
        ID(self.record.event_id.clone())
    }
    async fn timestamp(&self) -> DateTime<Utc> {
        self.record.timestamp
    }
    async fn received(&self) -> DateTime<Utc> {
        self.record.received
    }
    async fn platform(&self) -> &str {
        &self.record.platform
    }
    async fn level(&self) -> &str {
        &self.record.level
    }
    async fn title(&self) -> &str {
        &self.record.title
    }
    async fn culprit(&self) -> &str {
        &self.record.culprit
    }
    async fn message(&self) -> &str {
        &self.record.message
    }
    async fn environment(&self) -> &str {
        &self.record.environment
    }
    async fn release(&self) -> &str {
        &self.record.release
    }
    async fn server_name(&self) -> &str {
        &self.record.server_name
    }
    async fn transaction(&self) -> &str {
        &self.record.transaction
    }
    /// The fingerprint, 16 hex digits.
    async fn fingerprint(&self) -> String {
        format!("{:016x}", self.record.fingerprint)
    }
    async fn grouping_version(&self) -> &str {
        &self.record.grouping_version
    }
    /// Why the event is grouped where it is: the components that went into its fingerprint.
    async fn grouping_explanation(&self) -> Json<serde_json::Value> {
        Json(serde_json::from_str(&self.record.grouping_explanation).unwrap_or_default())
    }
    async fn trace_id(&self) -> Option<&str> {
        Some(self.record.trace_id.as_str()).filter(|id| !id.is_empty())
    }
    async fn span_id(&self) -> Option<&str> {
        Some(self.record.span_id.as_str()).filter(|id| !id.is_empty())
    }
    async fn tags(&self) -> Vec<Tag> {
        self.record
            .tag_keys
            .iter()
            .zip(&self.record.tag_values)
            .map(|(key, value)| Tag {
                key: key.to_owned(),
                value: value.to_owned(),
            })
            .collect()
    }
    async fn user(&self) -> Option<EventUser> {
        let record = &self.record;
        let some = |text: &String| Some(text.clone()).filter(|text| !text.is_empty());
        (!record.user_key.is_empty()).then(|| EventUser {
            id: some(&record.user_id),
            email: some(&record.user_email),
            ip_address: some(&record.user_ip),
            username: some(&record.user_username),
        })
    }
    /// The exception chain, root cause first.
    async fn exceptions(&self) -> Result<Vec<ExceptionInfo>> {
        Ok(self
            .parsed()?
            .exceptions
            .iter()
            .map(|exception| ExceptionInfo {
                ty: exception.ty.clone(),
                value: exception.value.clone(),
                module: exception.module.clone(),
                mechanism: exception.mechanism.as_ref().map(|m| m.ty.clone()),
                handled: exception.mechanism.as_ref().and_then(|m| m.handled),
                frames: exception
                    .stacktrace
                    .iter()
                    .flat_map(|stacktrace| stacktrace.frames.iter().map(FrameInfo::from))
                    .collect(),
            })
            .collect())
    }
    /// The issue the event belongs to now (after merges).
    async fn issue_id(&self, ctx: &Context<'_>) -> Result<Option<ID>> {
        let context = ctx.data::<GraphqlContext>()?;
        Ok(context
            .pipeline
            .grouper()
            .issue_of(self.record.project_id, self.record.fingerprint)
            .map(|id| ID(id.to_string())))
    }
    /// Breadcrumbs, oldest first.
    async fn breadcrumbs(&self) -> Result<Json<serde_json::Value>> {
        Ok(Json(serde_json::to_value(&self.parsed()?.breadcrumbs)?))
    }
    /// The HTTP request, when there was one.
    async fn request(&self) -> Result<Option<Json<serde_json::Value>>> {
        Ok(match self.parsed()?.request {
            Some(request) => Some(Json(serde_json::to_value(request)?)),
            None => None,
        })
    }
    /// Contexts (os, runtime, browser, device, trace, ...).
    async fn contexts(&self) -> Result<Json<serde_json::Value>> {
        Ok(Json(serde_json::to_value(&self.parsed()?.contexts)?))
    }
    /// The request, contexts, breadcrumbs, SDK and extra data, as JSON.
    async fn details(&self) -> Result<Json<serde_json::Value>> {
        let event = self.parsed()?;
        Ok(Json(serde_json::json!({
            "request": event.request,
            "contexts": event.contexts,
            "breadcrumbs": event.breadcrumbs,
            "sdk": event.sdk,
            "extra": event.extra,
            "fingerprint": event.fingerprint,
        })))
    }
}
