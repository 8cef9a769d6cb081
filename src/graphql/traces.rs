//! GraphQL for trace correlation (issue 9): a trace's waterfall (by trace id or from an
//! event), an issue's impact on the traces it appears in, and the service map. The logic is in
//! [`crate::traces`]; resolvers fetch rows, check the token's projects and shape the answer.

use async_graphql::{Context, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Duration, Utc};

use super::{coded, engine_error, parse_id, project_allowed, GraphqlContext};
use crate::engine::{EventRecord, SpanRange};
use crate::traces::{self, LatencyStats, Waterfall};

/// Most spans one trace shows.
pub const MAX_TRACE_SPANS: usize = 10_000;
/// Most errors one trace lists.
pub const MAX_TRACE_ERRORS: usize = 500;
/// About the most spans the service map reads: past it, whole traces are sampled (see
/// `ServiceMap::sample_rate`).
pub const MAX_SERVICE_MAP_SPANS: usize = 1_000_000;
/// Events of an issue whose traces the impact looks at (the latest ones).
const IMPACT_EVENTS: usize = 200;
/// Root spans of the period the impact compares against.
const IMPACT_BASELINE_ROOTS: usize = 50_000;

fn millis(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// A 32-hex-digit trace id, lower-cased; BAD_REQUEST otherwise.
fn trace_id(text: &str) -> Result<String> {
    let id = text.replace('-', "").to_ascii_lowercase();
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(coded(
            format!("invalid trace id {text:?}: expected 32 hex digits"),
            "BAD_REQUEST",
        ));
    }
    Ok(id)
}

/// A key/value attribute of a span.
#[derive(SimpleObject)]
pub struct SpanAttribute {
    key: String,
    value: String,
}

/// One span of a trace's waterfall.
#[derive(SimpleObject)]
pub struct TraceSpan {
    span_id: String,
    /// Absent for a root span.
    parent_span_id: Option<String>,
    service: String,
    /// The operation.
    name: String,
    /// server, client, internal, producer, consumer or unspecified.
    kind: String,
    /// ok, error or unset.
    status: String,
    status_message: String,
    start: DateTime<Utc>,
    /// From the start of the trace.
    offset_ms: f64,
    duration_ms: f64,
    /// Nesting level in the waterfall (0 for roots).
    depth: i32,
    /// It names a parent span that never arrived (drawn as a root).
    parent_missing: bool,
    /// The span the event in focus happened in.
    failing: bool,
    /// Error events that happened in this span.
    error_event_ids: Vec<String>,
    http_method: Option<String>,
    http_route: Option<String>,
    http_status_code: Option<i32>,
    db_system: Option<String>,
    attributes: Vec<SpanAttribute>,
    /// otlp or sentry.
    source: String,
}

/// An error event of a trace.
#[derive(SimpleObject)]
pub struct TraceError {
    event_id: ID,
    issue_id: Option<ID>,
    title: String,
    timestamp: DateTime<Utc>,
    span_id: Option<String>,
    /// The service of its span, when that span arrived.
    service: Option<String>,
    /// The event the waterfall was asked for.
    focused: bool,
}

/// A whole trace, drawn as a waterfall.
#[derive(SimpleObject)]
pub struct Trace {
    trace_id: String,
    start: DateTime<Utc>,
    duration_ms: f64,
    span_count: i32,
    /// In order of first appearance.
    services: Vec<String>,
    /// Parents referred to but never received.
    missing_parent_span_ids: Vec<String>,
    /// Depth-first, children in start order.
    spans: Vec<TraceSpan>,
    /// Every error of the trace, oldest first.
    errors: Vec<TraceError>,
}

impl Trace {
    fn new(context: &GraphqlContext, waterfall: Waterfall, focus_event: Option<&str>) -> Trace {
        let grouper = context.pipeline.grouper();
        Trace {
            start: DateTime::from_timestamp_micros(waterfall.start_us).unwrap_or_default(),
            duration_ms: millis(waterfall.duration_us),
            span_count: i32::try_from(waterfall.spans.len()).unwrap_or(i32::MAX),
            services: waterfall.services,
            missing_parent_span_ids: waterfall.missing_parent_ids,
            spans: waterfall
                .spans
                .into_iter()
                .map(|placed| {
                    let span = placed.span;
                    TraceSpan {
                        start: span.start(),
                        offset_ms: placed.offset_us as f64 / 1000.0,
                        duration_ms: millis(span.duration_us),
                        depth: i32::try_from(placed.depth).unwrap_or(i32::MAX),
                        parent_missing: placed.parent_missing,
                        failing: placed.failing,
                        error_event_ids: placed.error_event_ids,
                        parent_span_id: non_empty(&span.parent_span_id),
                        http_method: non_empty(&span.http_method),
                        http_route: non_empty(&span.http_route),
                        http_status_code: (span.http_status_code > 0)
                            .then_some(i32::from(span.http_status_code)),
                        db_system: non_empty(&span.db_system),
                        attributes: span
                            .attribute_keys
                            .into_iter()
                            .zip(span.attribute_values)
                            .map(|(key, value)| SpanAttribute { key, value })
                            .collect(),
                        span_id: span.span_id,
                        service: span.service,
                        name: span.name,
                        kind: span.kind,
                        status: span.status,
                        status_message: span.status_message,
                        source: span.source,
                    }
                })
                .collect(),
            errors: waterfall
                .errors
                .into_iter()
                .map(|error| {
                    let event: EventRecord = error.event;
                    TraceError {
                        issue_id: grouper
                            .issue_of(event.project_id, event.fingerprint)
                            .map(|id| ID(id.to_string())),
                        focused: focus_event == Some(event.event_id.as_str()),
                        title: event.title,
                        timestamp: event.timestamp,
                        span_id: non_empty(&event.span_id),
                        service: error.service,
                        event_id: ID(event.event_id),
                    }
                })
                .collect(),
            trace_id: waterfall.trace_id,
        }
    }
}

/// Calls from one service to another over the range.
#[derive(SimpleObject)]
pub struct ServiceEdge {
    from: String,
    to: String,
    calls: i64,
    errors: i64,
    /// 95th percentile of the called spans' durations.
    p95_ms: f64,
}

/// One service of the map, and its part in errors.
#[derive(SimpleObject)]
pub struct ServiceNode {
    service: String,
    spans: i64,
    error_spans: i64,
    /// Traces that entered through this service (their root span is here).
    entry_traces: i64,
    /// ... of which had a failing span anywhere.
    failed_entry_traces: i64,
    /// Failing spans with no failing descendant: errors that started here.
    originated_errors: i64,
    /// ... of those, in traces that entered through another service (first seen downstream).
    originated_downstream: i64,
    /// Failing spans that only pass on a failure from a span they called.
    propagated_errors: i64,
}

/// The service dependency map of a project over a time range.
#[derive(SimpleObject)]
pub struct ServiceMap {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    traces: i64,
    spans: i64,
    /// The share of the range's traces the map was built from: 1 is every trace; below 1 (more
    /// than a million spans in the range), whole traces were sampled by trace id and every
    /// count is an estimate scaled up from the sample.
    sample_rate: f64,
    /// The sample still held more spans than the map reads: it shows the newest ones.
    truncated: bool,
    /// Most calls first.
    edges: Vec<ServiceEdge>,
    /// Most originated errors first.
    services: Vec<ServiceNode>,
}

/// Latency of a set of traces (their root spans).
#[derive(SimpleObject)]
pub struct TraceLatency {
    traces: i64,
    avg_ms: f64,
    p50_ms: f64,
    p95_ms: f64,
}

impl From<LatencyStats> for TraceLatency {
    fn from(stats: LatencyStats) -> Self {
        TraceLatency {
            traces: count(stats.traces),
            avg_ms: millis(stats.avg_us),
            p50_ms: millis(stats.p50_us),
            p95_ms: millis(stats.p95_us),
        }
    }
}

/// A root operation with and without the issue.
#[derive(SimpleObject)]
pub struct OperationLatency {
    operation: String,
    with_issue: TraceLatency,
    without_issue: TraceLatency,
    /// p95 with the issue minus p95 without it; absent when there is nothing to compare with.
    p95_slowdown_ms: Option<f64>,
}

/// A service and operation an issue's events come from.
#[derive(SimpleObject)]
pub struct IssueTraceSource {
    service: String,
    operation: String,
    events: i64,
}

/// How an issue shows in traces.
#[derive(SimpleObject)]
pub struct TraceImpact {
    issue_id: ID,
    /// The latest events of the issue looked at.
    events: i64,
    events_with_trace: i64,
    events_with_span: i64,
    /// Most events first.
    sources: Vec<IssueTraceSource>,
    operations: Vec<OperationLatency>,
}

#[derive(Default)]
pub struct TraceQueries;

#[Object]
impl TraceQueries {
    /// One trace of a project as a waterfall; null when nothing of it was received.
    async fn trace(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        trace_id: String,
    ) -> Result<Option<Trace>> {
        let context = ctx.data::<GraphqlContext>()?;
        let project_id = parse_id(&project_id, "project")?;
        project_allowed(ctx, project_id)?;
        let trace_id = self::trace_id(&trace_id)?;
        load_trace(context, project_id, &trace_id, None).await
    }

    /// The trace an event happened in, with that event's span marked as failing; null when the
    /// event is unknown or carries no trace id.
    async fn event_trace(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        event_id: ID,
    ) -> Result<Option<Trace>> {
        let context = ctx.data::<GraphqlContext>()?;
        let project_id = parse_id(&project_id, "project")?;
        project_allowed(ctx, project_id)?;
        let event_id = event_id.replace('-', "").to_lowercase();
        let Some(event) = context
            .engine
            .event(project_id, &event_id)
            .await
            .map_err(engine_error)?
        else {
            return Ok(None);
        };
        if event.trace_id.is_empty() {
            return Ok(None);
        }
        load_trace(context, project_id, &event.trace_id, Some(&event_id)).await
    }

    /// Where an issue's events come from in traces, and the latency of traces containing it
    /// against traces of the same root operation without it (same period).
    async fn issue_trace_impact(
        &self,
        ctx: &Context<'_>,
        issue_id: ID,
    ) -> Result<Option<TraceImpact>> {
        let context = ctx.data::<GraphqlContext>()?;
        let issue = parse_id(&issue_id, "issue")?;
        let Some(summary) = context.engine.issue(issue).await.map_err(engine_error)? else {
            return Ok(None);
        };
        let project_id = summary.issue.project_id;
        project_allowed(ctx, project_id)?;
        let events = context
            .engine
            .issue_events(issue, IMPACT_EVENTS)
            .await
            .map_err(engine_error)?;
        let mut trace_ids: Vec<String> = events
            .iter()
            .filter(|event| !event.trace_id.is_empty())
            .map(|event| event.trace_id.clone())
            .collect();
        trace_ids.sort();
        trace_ids.dedup();
        let issue_spans = context
            .engine
            .trace_spans(project_id, &trace_ids, MAX_TRACE_SPANS * 10)
            .await
            .map_err(engine_error)?;
        let baseline = match (
            events.iter().map(|event| event.timestamp).min(),
            events.iter().map(|event| event.timestamp).max(),
        ) {
            (Some(first), Some(last)) if !trace_ids.is_empty() => context
                .engine
                .spans_between(
                    &SpanRange {
                        roots_only: true,
                        ..SpanRange::all(
                            project_id,
                            first - Duration::hours(1),
                            last + Duration::hours(1),
                        )
                    },
                    IMPACT_BASELINE_ROOTS,
                )
                .await
                .map_err(engine_error)?,
            _ => Vec::new(),
        };
        let impact = traces::issue_impact(&events, &issue_spans, &baseline);
        Ok(Some(TraceImpact {
            issue_id,
            events: count(events.len() as u64),
            events_with_trace: count(impact.events_with_trace),
            events_with_span: count(impact.events_with_span),
            sources: impact
                .sources
                .into_iter()
                .map(|source| IssueTraceSource {
                    service: source.service,
                    operation: source.operation,
                    events: count(source.events),
                })
                .collect(),
            operations: impact
                .operations
                .into_iter()
                .map(|operation| OperationLatency {
                    p95_slowdown_ms: (operation.without_issue.traces > 0).then(|| {
                        millis(operation.with_issue.p95_us) - millis(operation.without_issue.p95_us)
                    }),
                    operation: operation.operation,
                    with_issue: operation.with_issue.into(),
                    without_issue: operation.without_issue.into(),
                })
                .collect(),
        }))
    }

    /// The service dependency map over `[from, to)` (default: the last 24 hours).
    async fn service_map(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<ServiceMap> {
        let context = ctx.data::<GraphqlContext>()?;
        let project_id = parse_id(&project_id, "project")?;
        project_allowed(ctx, project_id)?;
        let to = to.unwrap_or_else(|| Utc::now() + Duration::seconds(1));
        let from = from.unwrap_or(to - Duration::hours(24));
        if from >= to {
            return Err(coded("`from` must be before `to`", "BAD_REQUEST"));
        }
        // Past MAX_SERVICE_MAP_SPANS, the map is built from a sample of whole traces and its
        // counts scaled up: one in `sample` traces, so that about that many spans are read.
        let range = SpanRange::all(project_id, from, to);
        let total = context
            .engine
            .count_spans(&range)
            .await
            .map_err(engine_error)?;
        let sample = total.div_ceil(MAX_SERVICE_MAP_SPANS as u64).max(1);
        let mut spans = context
            .engine
            .service_map_spans(
                &SpanRange { sample, ..range },
                MAX_SERVICE_MAP_SPANS * 2 + 1,
            )
            .await
            .map_err(engine_error)?;
        // A hash sample is not exact: at most twice the target is read before giving up on
        // the oldest spans.
        let truncated = spans.len() > MAX_SERVICE_MAP_SPANS * 2;
        spans.truncate(MAX_SERVICE_MAP_SPANS * 2);
        let map = traces::service_map(&spans).scaled(sample);
        Ok(ServiceMap {
            from,
            to,
            traces: count(map.traces),
            spans: count(map.spans),
            sample_rate: 1.0 / sample as f64,
            truncated,
            edges: map
                .edges
                .into_iter()
                .map(|edge| ServiceEdge {
                    from: edge.from_service,
                    to: edge.to_service,
                    calls: count(edge.calls),
                    errors: count(edge.errors),
                    p95_ms: millis(edge.p95_duration_us),
                })
                .collect(),
            services: map
                .services
                .into_iter()
                .map(|node| ServiceNode {
                    service: node.service,
                    spans: count(node.spans),
                    error_spans: count(node.error_spans),
                    entry_traces: count(node.entry_traces),
                    failed_entry_traces: count(node.failed_entry_traces),
                    originated_errors: count(node.originated_errors),
                    originated_downstream: count(node.originated_downstream),
                    propagated_errors: count(node.propagated_errors),
                })
                .collect(),
        })
    }
}

async fn load_trace(
    context: &GraphqlContext,
    project_id: u64,
    trace_id: &str,
    focus_event: Option<&str>,
) -> Result<Option<Trace>> {
    let ids = [trace_id.to_owned()];
    let spans = context
        .engine
        .trace_spans(project_id, &ids, MAX_TRACE_SPANS)
        .await
        .map_err(engine_error)?;
    let events = context
        .engine
        .trace_events(project_id, &ids, MAX_TRACE_ERRORS)
        .await
        .map_err(engine_error)?;
    if spans.is_empty() && events.is_empty() {
        return Ok(None);
    }
    let waterfall = traces::build_waterfall(trace_id, spans, events, focus_event);
    Ok(Some(Trace::new(context, waterfall, focus_event)))
}
