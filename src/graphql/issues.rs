//! Issue list (filters, sorts, cursor pagination), issue and event lookups, project stats, and
//! the query timeout.
//!
//! The list is computed here the same way for both engines, in two steps:
//! 1. Rank: the engine gives every fingerprint of the project with its all-time totals (events,
//!    first and last seen; no distinct users, which are costly to merge for every issue), summed
//!    per issue through the grouper's mapping, and the fingerprints whose events match the
//!    event-level filters. Status comes from the lifecycle tracker (the authoritative copy);
//!    filtering, sorting and cursor paging happen in memory over these few numbers per issue.
//! 2. Page: counts, first/last seen and status are step 1's. For the page's issues only, the
//!    engine reads the records and what the selection asks for (distinct users, sparklines),
//!    concurrently, over the fingerprints the grouper maps to them now (no join with the
//!    stored mapping). Issue detail reads the same way.
//!
//! Filters on the issue record (level, platform) and the sort by users need every issue's
//! record or user count: they take the slower path through [`all_issues`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{Context, Enum, InputObject, Object, Response, Result, SimpleObject, ID};
use chrono::{DateTime, Duration, DurationRound, Utc};

use super::types::{Event, Issue};
use super::{
    coded, engine_error, parse_id, project_allowed, sparkline_window, GraphqlContext, MAX_PAGE_SIZE,
};
use crate::engine::{
    EventFilter, FingerprintMapping, HourlyCount, IssueQuery, IssueRecord, IssueSort as EngineSort,
    IssueStatus, IssueSummary,
};

/// How the issue list is ordered (always newest/largest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Enum)]
pub enum IssueSort {
    #[default]
    LastSeen,
    FirstSeen,
    Events,
    Users,
    /// Events in the last hour against the hourly average of the 24 hours before it.
    Trend,
}

/// Bucket size of trends and stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Enum)]
pub enum Granularity {
    Minute,
    #[default]
    Hour,
    Day,
}

impl Granularity {
    fn step(self) -> Duration {
        match self {
            Granularity::Minute => Duration::minutes(1),
            Granularity::Hour => Duration::hours(1),
            Granularity::Day => Duration::days(1),
        }
    }

    /// The range shown when none is given: the last hour, day or 30 days.
    fn default_span(self) -> Duration {
        match self {
            Granularity::Minute => Duration::hours(1),
            Granularity::Hour => Duration::hours(24),
            Granularity::Day => Duration::days(30),
        }
    }
}

/// Most buckets one trend or stats query may return.
const MAX_POINTS: i64 = 2_000;

/// Issue list filters; every one given must match.
#[derive(Debug, Clone, Default, InputObject)]
pub struct IssueFilter {
    pub status: Option<Vec<IssueStatus>>,
    pub level: Option<Vec<String>>,
    /// Issues with an event in this environment.
    pub environment: Option<String>,
    /// Issues with an event of this release.
    pub release: Option<String>,
    pub platform: Option<String>,
    /// Issues with an event at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Issues with an event before this time.
    pub to: Option<DateTime<Utc>>,
    /// Case-insensitive substring of an event's title, message or culprit.
    pub search: Option<String>,
    /// `key:value`: issues with an event carrying this tag.
    pub tag: Option<String>,
}

#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

#[derive(SimpleObject)]
pub struct IssueConnection {
    pub nodes: Vec<Issue>,
    pub page_info: PageInfo,
    /// Issues matching the filter, over all pages.
    pub total_count: u64,
}

#[derive(SimpleObject)]
pub struct EventConnection {
    pub nodes: Vec<Event>,
    pub page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct TrendPoint {
    pub time: DateTime<Utc>,
    pub events: u64,
}

#[derive(SimpleObject)]
pub struct ProjectStatPoint {
    pub time: DateTime<Utc>,
    pub events: u64,
    /// Issues whose first event falls in the bucket.
    pub new_issues: u64,
}

#[derive(SimpleObject)]
pub struct TagValueCount {
    pub value: String,
    pub count: u64,
}

#[derive(SimpleObject)]
pub struct TagDistribution {
    pub key: String,
    pub total: u64,
    pub values: Vec<TagValueCount>,
}

/// Every issue of a project, as the engine aggregates them.
async fn all_issues(context: &GraphqlContext, project_id: u64) -> Result<Vec<IssueSummary>> {
    context
        .engine
        .issues(&IssueQuery {
            project_id,
            status: None,
            sort: EngineSort::LastSeen,
            limit: 1_000_000_000,
            offset: 0,
        })
        .await
        .map_err(engine_error)
}

/// What the list filters and ranks an issue by before its page is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ranked {
    issue_id: u64,
    events: u64,
    /// Known on the slower path only (see the module doc); 0 otherwise.
    users: u64,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
}

impl From<&IssueSummary> for Ranked {
    fn from(summary: &IssueSummary) -> Ranked {
        Ranked {
            issue_id: summary.issue.issue_id,
            events: summary.events,
            users: summary.users,
            first_seen: summary.first_seen,
            last_seen: summary.last_seen,
        }
    }
}

/// Sums values per fingerprint into values per issue through the grouper's current mapping,
/// sorted by issue id. Fingerprints it does not know were opened by another instance since
/// this one started: their stored mappings are learnt first (rare, and once per fingerprint).
/// Fingerprints without any mapping are left out, as the engines' own joins leave them out.
async fn per_issue<T>(
    context: &GraphqlContext,
    project_id: u64,
    rows: Vec<(u64, T)>,
    combine: impl Fn(&mut T, T),
) -> Result<Vec<(u64, T)>> {
    let grouper = context.pipeline.grouper();
    let fingerprints: Vec<u64> = rows.iter().map(|(fingerprint, _)| *fingerprint).collect();
    let mut issues = grouper.issues_of(project_id, &fingerprints);
    let unknown: HashSet<u64> = fingerprints
        .iter()
        .zip(&issues)
        .filter_map(|(fingerprint, issue)| issue.is_none().then_some(*fingerprint))
        .collect();
    if !unknown.is_empty() {
        let stored: Vec<FingerprintMapping> = context
            .engine
            .fingerprint_mappings()
            .await
            .map_err(engine_error)?
            .into_iter()
            .filter(|m| m.project_id == project_id && unknown.contains(&m.fingerprint))
            .collect();
        if grouper.learn(&stored) > 0 {
            issues = grouper.issues_of(project_id, &fingerprints);
        }
    }
    // Sorted, then merged in place: most issues have one fingerprint, and a sort of 100,000
    // ids is cheaper than as many inserts into a map.
    let mut pairs: Vec<(u64, T)> = rows
        .into_iter()
        .zip(issues)
        .filter_map(|((_, value), issue)| Some((issue?, value)))
        .collect();
    pairs.sort_unstable_by_key(|(issue_id, _)| *issue_id);
    let mut merged: Vec<(u64, T)> = Vec::with_capacity(pairs.len());
    for (issue_id, value) in pairs {
        match merged.last_mut() {
            Some((last, sum)) if *last == issue_id => combine(sum, value),
            _ => merged.push((issue_id, value)),
        }
    }
    Ok(merged)
}

/// Every issue of a project that has events, with its all-time totals (users not known).
async fn ranked_issues(context: &GraphqlContext, project_id: u64) -> Result<Vec<Ranked>> {
    let totals = context
        .engine
        .fingerprint_totals(project_id, None)
        .await
        .map_err(engine_error)?;
    let rows = totals.into_iter().map(|t| (t.fingerprint, t)).collect();
    let merged = per_issue(context, project_id, rows, |issue, t| {
        issue.events += t.events;
        issue.first_seen = issue.first_seen.min(t.first_seen);
        issue.last_seen = issue.last_seen.max(t.last_seen);
    })
    .await?;
    Ok(merged
        .into_iter()
        .map(|(issue_id, t)| Ranked {
            issue_id,
            events: t.events,
            users: 0,
            first_seen: t.first_seen,
            last_seen: t.last_seen,
        })
        .collect())
}

/// One issue with its aggregates, the way a list page reads them: counts and times from the
/// fingerprints' totals, users over its fingerprints, status from the tracker. `None` when
/// it has no events or no record.
async fn issue_summary(
    context: &GraphqlContext,
    project_id: u64,
    issue_id: u64,
    fingerprints: Vec<u64>,
) -> Result<Option<IssueSummary>> {
    let engine = &context.engine;
    let only = fingerprints.clone();
    let issues = HashMap::from([(issue_id, fingerprints)]);
    let ids = [issue_id];
    let (totals, mut records, users) = tokio::try_join!(
        engine.fingerprint_totals(project_id, Some(&only)),
        engine.issue_records_of(project_id, &ids),
        engine.issue_users(project_id, &issues),
    )
    .map_err(engine_error)?;
    let (Some(issue), false) = (records.pop(), totals.is_empty()) else {
        return Ok(None);
    };
    Ok(Some(IssueSummary {
        issue,
        status: context
            .pipeline
            .tracker()
            .status(project_id, issue_id, Utc::now()),
        events: totals.iter().map(|t| t.events).sum(),
        users: users.get(&issue_id).copied().unwrap_or(0),
        first_seen: totals
            .iter()
            .map(|t| t.first_seen)
            .min()
            .unwrap_or_default(),
        last_seen: totals.iter().map(|t| t.last_seen).max().unwrap_or_default(),
    }))
}

/// [`trend_score`] of every issue with events in the 25 hours up to the end of `current_hour`,
/// sorted by issue id.
async fn trend_scores(
    context: &GraphqlContext,
    project_id: u64,
    current_hour: DateTime<Utc>,
) -> Result<Vec<(u64, i128)>> {
    let windows = [
        (current_hour, current_hour + Duration::hours(1)),
        (current_hour - Duration::hours(24), current_hour),
    ];
    let counts = context
        .engine
        .fingerprint_counts(project_id, &windows)
        .await
        .map_err(engine_error)?;
    let rows = counts
        .rows()
        .map(|(fingerprint, events)| (fingerprint, (events[0], events[1])))
        .collect();
    let counts = per_issue(context, project_id, rows, |issue, (last, before)| {
        issue.0 += last;
        issue.1 += before;
    })
    .await?;
    Ok(counts
        .into_iter()
        .map(|(issue_id, (last, before))| (issue_id, trend_score(last, before)))
        .collect())
}

/// Each issue keyed by its trend score (0 for issues without a score), by one merge of the
/// two lists sorted by issue id.
fn with_trend_scores(mut issues: Vec<Ranked>, scores: &[(u64, i128)]) -> Vec<(i128, u64, Ranked)> {
    // Already in id order on the fast path (the ranking's merge), so the sort is one pass.
    issues.sort_unstable_by_key(|issue| issue.issue_id);
    let mut scores = scores.iter().peekable();
    issues
        .into_iter()
        .map(|issue| {
            while scores.next_if(|(id, _)| *id < issue.issue_id).is_some() {}
            let score = scores
                .next_if(|(id, _)| *id == issue.issue_id)
                .map_or(0, |(_, score)| *score);
            (score, issue.issue_id, issue)
        })
        .collect()
}

/// Events in the last hour minus the hourly average of the 24 hours before it, in
/// thousandths of an event.
fn trend_score(last: u64, before: u64) -> i128 {
    i128::from(last) * 1000 - i128::from(before) * 1000 / 24
}

/// A position in the sorted list: opaque to clients.
fn encode_cursor(key: i128, issue_id: u64) -> String {
    format!("{key}_{issue_id}")
}

fn decode_cursor(cursor: &str) -> Result<(i128, u64)> {
    let bad = || coded(format!("invalid cursor {cursor:?}"), "BAD_REQUEST");
    let (key, id) = cursor.split_once('_').ok_or_else(bad)?;
    Ok((
        key.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

/// Sorts rows by (key, id) descending and returns the page after `after`.
fn page<T>(
    mut rows: Vec<(i128, u64, T)>,
    after: Option<(i128, u64)>,
    first: usize,
) -> (Vec<(i128, u64, T)>, bool) {
    // Largest first; (key, id) is unique, so the order is total. Only the page is sorted:
    // of 100,000 issues, the first `first` after the cursor are selected in linear time.
    let order = |row: &(i128, u64, T)| std::cmp::Reverse((row.0, row.1));
    if let Some(cursor) = after {
        rows.retain(|row| (row.0, row.1) < cursor);
    }
    let more = rows.len() > first;
    if more {
        rows.select_nth_unstable_by_key(first, order);
        rows.truncate(first);
    }
    rows.sort_unstable_by_key(order);
    (rows, more)
}

fn check_page_size(first: i32) -> Result<usize> {
    if !(1..=MAX_PAGE_SIZE).contains(&first) {
        return Err(coded(
            format!("first must be between 1 and {MAX_PAGE_SIZE}"),
            "BAD_REQUEST",
        ));
    }
    Ok(usize::try_from(first).unwrap_or(1))
}

fn parse_tag(tag: &str) -> Result<(String, String)> {
    match tag.split_once(':') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(coded(
            format!("tag filter {tag:?} must be key:value"),
            "BAD_REQUEST",
        )),
    }
}

/// `[from, to)` on bucket boundaries, checked.
pub fn bucket_range(
    granularity: Granularity,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let step = granularity.step();
    let to = to.unwrap_or_else(Utc::now);
    // Up to the end of the bucket holding `to`; by default `span` back from there.
    let last = to.duration_trunc(step).unwrap_or(to);
    let to = if last < to { last + step } else { last };
    let from = from.unwrap_or(to - granularity.default_span());
    let from = from.duration_trunc(step).unwrap_or(from);
    if from >= to {
        return Err(coded("from must be before to", "BAD_REQUEST"));
    }
    if (to - from).num_seconds() / step.num_seconds() > MAX_POINTS {
        return Err(coded(
            format!(
                "at most {MAX_POINTS} buckets: choose a shorter range or a coarser granularity"
            ),
            "BAD_REQUEST",
        ));
    }
    Ok((from, to))
}

/// Event counts of issues per bucket over `[from, to)`, dense (zeros included).
pub async fn bucket_counts(
    context: &GraphqlContext,
    project_id: u64,
    issue_ids: &[u64],
    granularity: Granularity,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Vec<TrendPoint>> {
    let counts = match granularity {
        Granularity::Minute => context
            .engine
            .minute_counts(project_id, issue_ids, from, to)
            .await
            .map_err(engine_error)?,
        Granularity::Hour | Granularity::Day => context
            .engine
            .hourly_counts(project_id, issue_ids, from, to)
            .await
            .map_err(engine_error)?,
    };
    Ok(dense_points(&counts, granularity, (from, to)))
}

/// Counts per issue and bucket start as one dense series over `[from, to)` (zeros included).
pub fn dense_points(
    counts: &HashMap<u64, Vec<HourlyCount>>,
    granularity: Granularity,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> Vec<TrendPoint> {
    let step = granularity.step();
    let mut points: Vec<TrendPoint> = Vec::new();
    let mut time = from;
    while time < to {
        points.push(TrendPoint { time, events: 0 });
        time += step;
    }
    for count in counts.values().flatten() {
        let index = (count.hour - from).num_seconds() / step.num_seconds();
        if let Some(point) = usize::try_from(index).ok().and_then(|i| points.get_mut(i)) {
            point.events += count.events;
        }
    }
    points
}

#[derive(Default)]
pub struct IssueQueries;

#[Object]
impl IssueQueries {
    /// A project's issues: filtered, sorted (largest/newest first) and paged by cursor.
    async fn issues(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        filter: Option<IssueFilter>,
        #[graphql(default)] sort: Option<IssueSort>,
        #[graphql(default = 50)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<IssueConnection> {
        // An absent variable arrives as null: the defaults apply either way.
        let sort = sort.unwrap_or_default();
        let first = first.unwrap_or(50);
        let context = ctx.data::<GraphqlContext>()?;
        let project_id = parse_id(&project_id, "project")?;
        project_allowed(ctx, project_id)?;
        let first = check_page_size(first)?;
        let after = after.as_deref().map(decode_cursor).transpose()?;
        let filter = filter.unwrap_or_default();
        let now = Utc::now();
        let tracker = context.pipeline.tracker();

        let event_filter = EventFilter {
            environment: filter.environment.clone(),
            release: filter.release.clone(),
            from: filter.from,
            to: filter.to,
            search: filter.search.clone().filter(|s| !s.is_empty()),
            tag: filter.tag.as_deref().map(parse_tag).transpose()?,
        };
        let matching_issues: Option<HashSet<u64>> = if event_filter.is_empty() {
            None
        } else {
            let fingerprints = context
                .engine
                .matching_fingerprints(project_id, &event_filter)
                .await
                .map_err(engine_error)?;
            let grouper = context.pipeline.grouper();
            Some(
                fingerprints
                    .into_iter()
                    .filter_map(|fingerprint| grouper.issue_of(project_id, fingerprint))
                    .collect(),
            )
        };
        let statuses: Option<HashSet<IssueStatus>> =
            filter.status.map(|list| list.into_iter().collect());
        let levels: Option<HashSet<String>> = filter.level.map(|list| list.into_iter().collect());

        // Step 1: rank.
        let needs_records =
            levels.is_some() || filter.platform.is_some() || sort == IssueSort::Users;
        let ranked: Vec<Ranked> = if needs_records {
            all_issues(context, project_id)
                .await?
                .iter()
                .filter(|summary| {
                    let issue = &summary.issue;
                    levels.as_ref().is_none_or(|l| l.contains(&issue.level))
                        && filter
                            .platform
                            .as_ref()
                            .is_none_or(|p| p == &issue.platform)
                })
                .map(Ranked::from)
                .collect()
        } else {
            ranked_issues(context, project_id).await?
        };
        let candidates: Vec<Ranked> = ranked
            .into_iter()
            .filter(|issue| {
                statuses
                    .as_ref()
                    .is_none_or(|s| s.contains(&tracker.status(project_id, issue.issue_id, now)))
                    && matching_issues
                        .as_ref()
                        .is_none_or(|m| m.contains(&issue.issue_id))
            })
            .collect();
        let total_count = candidates.len() as u64;

        let rows: Vec<(i128, u64, Ranked)> = if sort == IssueSort::Trend {
            let current_hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
            let scores = trend_scores(context, project_id, current_hour).await?;
            with_trend_scores(candidates, &scores)
        } else {
            candidates
                .into_iter()
                .map(|issue| {
                    let key = match sort {
                        IssueSort::LastSeen => i128::from(issue.last_seen.timestamp()),
                        IssueSort::FirstSeen => i128::from(issue.first_seen.timestamp()),
                        IssueSort::Events => i128::from(issue.events),
                        IssueSort::Users => i128::from(issue.users),
                        IssueSort::Trend => unreachable!("handled above"),
                    };
                    (key, issue.issue_id, issue)
                })
                .collect()
        };
        let (rows, has_next_page) = page(rows, after, first);
        let end_cursor = rows.last().map(|(key, id, _)| encode_cursor(*key, *id));

        // Step 2: the page. Counts and times are the ranking's, status the tracker's; records,
        // and what the selection asks for (distinct users, sparklines), are read for the
        // page's issues only, through the fingerprints the grouper maps to them.
        let ids: Vec<u64> = rows.iter().map(|(_, id, _)| *id).collect();
        let fingerprints = context
            .pipeline
            .grouper()
            .fingerprints_of_issues(project_id, &ids);
        let selection = ctx.look_ahead().field("nodes");
        let with_users = selection.field("userCount").exists();
        let with_sparklines = selection.field("sparkline").exists();
        let (from, to) = sparkline_window();
        let engine = &context.engine;
        let (records, users, mut sparklines) = tokio::try_join!(
            engine.issue_records_of(project_id, &ids),
            async {
                match with_users {
                    true => engine.issue_users(project_id, &fingerprints).await,
                    false => Ok(HashMap::new()),
                }
            },
            async {
                match with_sparklines {
                    true => engine
                        .issue_hourly_counts(project_id, &fingerprints, from, to)
                        .await
                        .map(Some),
                    false => Ok(None),
                }
            },
        )
        .map_err(engine_error)?;
        let mut records: HashMap<u64, IssueRecord> = records
            .into_iter()
            .map(|record| (record.issue_id, record))
            .collect();
        let nodes = rows
            .into_iter()
            .filter_map(|(_, issue_id, ranked)| {
                let summary = IssueSummary {
                    issue: records.remove(&issue_id)?,
                    status: tracker.status(project_id, issue_id, now),
                    events: ranked.events,
                    users: users.get(&issue_id).copied().unwrap_or(0),
                    first_seen: ranked.first_seen,
                    last_seen: ranked.last_seen,
                };
                let sparkline = sparklines
                    .as_mut()
                    .map(|counts| counts.remove(&issue_id).unwrap_or_default());
                Some(Issue::listed(summary, sparkline, with_users))
            })
            .collect();
        Ok(IssueConnection {
            nodes,
            page_info: PageInfo {
                has_next_page,
                end_cursor,
            },
            total_count,
        })
    }

    /// One issue.
    async fn issue(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Issue>> {
        let context = ctx.data::<GraphqlContext>()?;
        let issue_id = parse_id(&id, "issue")?;
        let summary = match context.pipeline.grouper().locate(issue_id) {
            Some((project_id, fingerprints)) => {
                issue_summary(context, project_id, issue_id, fingerprints).await?
            }
            // Opened by another instance, and not learnt here yet: the engine joins its stored
            // mapping.
            None => context.engine.issue(issue_id).await.map_err(engine_error)?,
        };
        if let Some(summary) = &summary {
            project_allowed(ctx, summary.issue.project_id)?;
        }
        Ok(summary.map(|summary| Issue::new(summary, None)))
    }

    /// One event by id (32 hex digits, dashes allowed).
    async fn event(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        event_id: ID,
    ) -> Result<Option<Event>> {
        let context = ctx.data::<GraphqlContext>()?;
        let project_id = parse_id(&project_id, "project")?;
        project_allowed(ctx, project_id)?;
        let event_id = event_id.replace('-', "").to_lowercase();
        if event_id.len() != 32 || !event_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(coded(
                format!("invalid event id {event_id:?}: expected 32 hex digits"),
                "BAD_REQUEST",
            ));
        }
        let record = context
            .engine
            .event(project_id, &event_id)
            .await
            .map_err(engine_error)?;
        Ok(record.map(Event::new))
    }

    /// Events and new issues of a project per bucket over `[from, to)` (default: the last 24
    /// hours by hour).
    async fn project_stats(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        #[graphql(default)] granularity: Option<Granularity>,
    ) -> Result<Vec<ProjectStatPoint>> {
        // An absent variable arrives as null: the default applies either way.
        let granularity = granularity.unwrap_or_default();
        let context = ctx.data::<GraphqlContext>()?;
        let project_id = parse_id(&project_id, "project")?;
        project_allowed(ctx, project_id)?;
        let range = bucket_range(granularity, from, to)?;
        let issues = ranked_issues(context, project_id).await?;
        let ids: Vec<u64> = issues.iter().map(|issue| issue.issue_id).collect();
        let points = bucket_counts(context, project_id, &ids, granularity, range).await?;
        let step = granularity.step();
        let mut stats: Vec<ProjectStatPoint> = points
            .into_iter()
            .map(|point| ProjectStatPoint {
                time: point.time,
                events: point.events,
                new_issues: 0,
            })
            .collect();
        for issue in &issues {
            if issue.first_seen < range.0 || issue.first_seen >= range.1 {
                continue;
            }
            let index = (issue.first_seen - range.0).num_seconds() / step.num_seconds();
            if let Some(point) = usize::try_from(index).ok().and_then(|i| stats.get_mut(i)) {
                point.new_issues += 1;
            }
        }
        Ok(stats)
    }
}

/// Issue detail: the fields beyond the list's.
pub mod detail {
    use super::*;

    pub async fn tags(
        context: &GraphqlContext,
        project_id: u64,
        issue_id: u64,
        limit: i32,
    ) -> Result<Vec<TagDistribution>> {
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(coded(
                format!("limit must be between 1 and {MAX_PAGE_SIZE}"),
                "BAD_REQUEST",
            ));
        }
        let fingerprints = context
            .pipeline
            .grouper()
            .fingerprints_of(project_id, issue_id);
        let counts = context
            .engine
            .tag_counts(project_id, &fingerprints)
            .await
            .map_err(engine_error)?;
        let mut keys: HashMap<String, Vec<TagValueCount>> = HashMap::new();
        for count in counts {
            keys.entry(count.key).or_default().push(TagValueCount {
                value: count.value,
                count: count.count,
            });
        }
        let mut distributions: Vec<TagDistribution> = keys
            .into_iter()
            .map(|(key, mut values)| {
                values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
                let total = values.iter().map(|v| v.count).sum();
                values.truncate(usize::try_from(limit).unwrap_or(10));
                TagDistribution { key, total, values }
            })
            .collect();
        distributions.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.key.cmp(&b.key)));
        Ok(distributions)
    }

    pub async fn event_page(
        context: &GraphqlContext,
        issue_id: u64,
        first: i32,
        after: Option<String>,
    ) -> Result<EventConnection> {
        let first = check_page_size(first)?;
        let offset = match after {
            None => 0,
            Some(cursor) => cursor
                .strip_prefix("e")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| coded(format!("invalid cursor {cursor:?}"), "BAD_REQUEST"))?,
        };
        const MAX_DEPTH: usize = 10_000;
        if offset + first > MAX_DEPTH {
            return Err(coded(
                format!("event pages reach back {MAX_DEPTH} events; filter by time instead"),
                "BAD_REQUEST",
            ));
        }
        let mut records = context
            .engine
            .issue_events(issue_id, offset + first + 1)
            .await
            .map_err(engine_error)?;
        let has_next_page = records.len() > offset + first;
        records.truncate(offset + first);
        let nodes: Vec<Event> = records.into_iter().skip(offset).map(Event::new).collect();
        let end_cursor = (!nodes.is_empty()).then(|| format!("e{}", offset + nodes.len()));
        Ok(EventConnection {
            nodes,
            page_info: PageInfo {
                has_next_page,
                end_cursor,
            },
        })
    }
}

/// Ends queries and mutations that run longer than the limit with a `TIMEOUT` error.
pub struct Timeout(pub std::time::Duration);

struct TimeoutExtension(std::time::Duration);

impl ExtensionFactory for Timeout {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(TimeoutExtension(self.0))
    }
}

#[async_trait::async_trait]
impl Extension for TimeoutExtension {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        match tokio::time::timeout(self.0, next.run(ctx, operation_name)).await {
            Ok(response) => response,
            Err(_) => Response::from_errors(vec![coded(
                format!("the query ran longer than {} seconds", self.0.as_secs()),
                "TIMEOUT",
            )
            .into_server_error(async_graphql::Pos::default())]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_cursor_without_gaps_or_repeats() {
        let rows: Vec<(i128, u64, ())> = (0..25u64).map(|i| (i128::from(i % 4), i, ())).collect();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let (page, more) = page(rows.clone(), after, 7);
            seen.extend(page.iter().map(|(_, id, _)| *id));
            let last = page.last().map(|(k, id, _)| encode_cursor(*k, *id));
            after = last.as_deref().map(|c| decode_cursor(c).expect("cursor"));
            if !more {
                break;
            }
        }
        let mut expected: Vec<(i128, u64)> = rows.iter().map(|(k, id, _)| (*k, *id)).collect();
        expected.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, expected.iter().map(|(_, id)| *id).collect::<Vec<_>>());
        assert!(decode_cursor("nonsense").is_err());
    }

    #[test]
    fn trend_compares_the_last_hour_with_the_day_before() {
        // Steady: 10 an hour all day, 10 now.
        assert_eq!(trend_score(10, 240), 0);
        // Spiking: nothing all day, 5 now.
        assert_eq!(trend_score(5, 0), 5000);
        // Fading: 48 yesterday, nothing now.
        assert_eq!(trend_score(0, 48), -2000);
        // Thousandths: one event over the day is -41.
        assert_eq!(trend_score(0, 1), -41);
    }

    #[test]
    fn trend_scores_join_issues_by_id_in_any_order() {
        let issue = |issue_id| Ranked {
            issue_id,
            events: 1,
            users: 0,
            first_seen: DateTime::default(),
            last_seen: DateTime::default(),
        };
        // Issues out of order; scores for some of them, and for issues not listed (filtered).
        let issues = vec![issue(9), issue(2), issue(5), issue(7)];
        let scores = [(1, 100), (2, -41), (6, 8), (7, 5000), (12, 3)];
        let keyed: Vec<(i128, u64)> = with_trend_scores(issues, &scores)
            .into_iter()
            .map(|(score, id, ranked)| {
                assert_eq!(id, ranked.issue_id);
                (score, id)
            })
            .collect();
        assert_eq!(keyed, [(-41, 2), (0, 5), (5000, 7), (0, 9)]);
        assert!(with_trend_scores(Vec::new(), &scores).is_empty());
        assert_eq!(with_trend_scores(vec![issue(3)], &[]), [(0, 3, issue(3))]);
    }

    #[test]
    fn ranges_snap_to_buckets_and_are_bounded() {
        let from = DateTime::from_timestamp(1_700_000_030, 0);
        let to = DateTime::from_timestamp(1_700_000_000 + 3 * 3600 + 10, 0);
        let (start, end) = bucket_range(Granularity::Hour, from, to).expect("range");
        assert_eq!(start.timestamp() % 3600, 0);
        assert_eq!(end.timestamp() % 3600, 0);
        assert!(start <= from.unwrap_or_default() && end >= to.unwrap_or_default());
        assert!(bucket_range(Granularity::Minute, DateTime::from_timestamp(0, 0), to).is_err());
        assert!(bucket_range(Granularity::Hour, to, from).is_err());
    }
}
