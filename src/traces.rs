//! Trace correlation, as pure functions over stored rows (no I/O: the engine fetches, this
//! module connects):
//!
//! - [`build_waterfall`]: one trace as a tree of spans in start order, with depth, offsets,
//!   the failing span marked, spans whose parent never arrived shown as roots, and the errors of
//!   the trace attached to the spans they happened in.
//! - [`service_map`]: edges between services from parent→child spans that cross a service
//!   boundary (calls, errors, p95 latency per edge), and per service where errors originate
//!   (the deepest failing span of a trace) versus where the request entered.
//! - [`issue_impact`]: the services and operations an issue's events come from, and the
//!   latency of traces containing the issue against traces of the same root operation without
//!   it.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::engine::{EventRecord, SpanRecord};

/// One span placed in its trace's waterfall.
#[derive(Debug, Clone, PartialEq)]
pub struct WaterfallSpan {
    pub span: SpanRecord,
    /// 0 for roots (and for spans whose parent never arrived).
    pub depth: u32,
    /// Microseconds from the trace's first span start.
    pub offset_us: i64,
    /// It names a parent that is not in the trace.
    pub parent_missing: bool,
    /// The span the event in focus happened in.
    pub failing: bool,
    /// Error events that happened in this span.
    pub error_event_ids: Vec<String>,
}

/// An error event of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceError {
    pub event: EventRecord,
    /// The service of the span it happened in, when that span is known.
    pub service: Option<String>,
}

/// A whole trace, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Waterfall {
    pub trace_id: String,
    /// Depth-first, children in start order: the drawing order.
    pub spans: Vec<WaterfallSpan>,
    pub start_us: i64,
    /// From the first span start to the last span end.
    pub duration_us: u64,
    /// Services in order of first appearance.
    pub services: Vec<String>,
    /// Parent span ids referred to but never received.
    pub missing_parent_ids: Vec<String>,
    pub errors: Vec<TraceError>,
}

/// Builds the waterfall of one trace from its spans and events. `focus_event` (an event id)
/// marks the span that event happened in as failing.
pub fn build_waterfall(
    trace_id: &str,
    spans: Vec<SpanRecord>,
    events: Vec<EventRecord>,
    focus_event: Option<&str>,
) -> Waterfall {
    // The same span may arrive twice (a retried export): keep the first.
    let mut seen = HashSet::new();
    let mut spans: Vec<SpanRecord> = spans
        .into_iter()
        .filter(|span| span.trace_id == trace_id && seen.insert(span.span_id.clone()))
        .collect();
    spans.sort_by(|a, b| (a.start_us, &a.span_id).cmp(&(b.start_us, &b.span_id)));
    let known: HashSet<&str> = spans.iter().map(|span| span.span_id.as_str()).collect();
    let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    let mut missing_parent_ids = Vec::new();
    for (index, span) in spans.iter().enumerate() {
        let parent = span.parent_span_id.as_str();
        if !parent.is_empty() && parent != span.span_id && known.contains(parent) {
            children.entry(parent).or_default().push(index);
        } else {
            if !parent.is_empty() && !missing_parent_ids.iter().any(|id| id == parent) {
                missing_parent_ids.push(parent.to_owned());
            }
            roots.push(index);
        }
    }
    let focus_span = focus_event.and_then(|id| {
        events
            .iter()
            .find(|event| event.event_id == id)
            .map(|event| event.span_id.clone())
    });
    let start_us = spans.iter().map(|span| span.start_us).min().unwrap_or(0);
    let end_us = spans
        .iter()
        .map(|span| span.start_us.saturating_add(clamp_i64(span.duration_us)))
        .max()
        .unwrap_or(start_us);

    // Depth-first from each root; `placed` guards against parent cycles in bad data (a cycle
    // has no root, so its spans are placed as roots afterwards).
    let mut order: Vec<(usize, u32)> = Vec::with_capacity(spans.len());
    let mut placed = vec![false; spans.len()];
    let mut stack: Vec<(usize, u32)> = roots.iter().rev().map(|index| (*index, 0)).collect();
    loop {
        while let Some((index, depth)) = stack.pop() {
            if std::mem::replace(&mut placed[index], true) {
                continue;
            }
            order.push((index, depth));
            if let Some(kids) = children.get(spans[index].span_id.as_str()) {
                stack.extend(kids.iter().rev().map(|kid| (*kid, depth + 1)));
            }
        }
        match placed.iter().position(|done| !done) {
            Some(unplaced) => stack.push((unplaced, 0)),
            None => break,
        }
    }

    let mut services: Vec<String> = Vec::new();
    let mut placed_spans = Vec::with_capacity(order.len());
    for (index, depth) in order {
        let span = spans[index].clone();
        if !services.contains(&span.service) {
            services.push(span.service.clone());
        }
        let error_event_ids = events
            .iter()
            .filter(|event| !event.span_id.is_empty() && event.span_id == span.span_id)
            .map(|event| event.event_id.clone())
            .collect();
        placed_spans.push(WaterfallSpan {
            depth,
            offset_us: span.start_us - start_us,
            parent_missing: !span.parent_span_id.is_empty()
                && !known.contains(span.parent_span_id.as_str()),
            failing: focus_span
                .as_deref()
                .is_some_and(|focus| !focus.is_empty() && focus == span.span_id),
            error_event_ids,
            span,
        });
    }
    let service_of: HashMap<&str, &str> = spans
        .iter()
        .map(|span| (span.span_id.as_str(), span.service.as_str()))
        .collect();
    let mut errors: Vec<TraceError> = events
        .into_iter()
        .filter(|event| event.trace_id == trace_id)
        .map(|event| TraceError {
            service: service_of
                .get(event.span_id.as_str())
                .map(|service| (*service).to_owned()),
            event,
        })
        .collect();
    errors.sort_by(|a, b| {
        (a.event.timestamp, &a.event.event_id).cmp(&(b.event.timestamp, &b.event.event_id))
    });
    Waterfall {
        trace_id: trace_id.to_owned(),
        spans: placed_spans,
        start_us,
        duration_us: u64::try_from(end_us - start_us).unwrap_or(0),
        services,
        missing_parent_ids,
        errors,
    }
}

fn clamp_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Calls from one service to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEdge {
    pub from_service: String,
    pub to_service: String,
    /// Child spans across this boundary.
    pub calls: u64,
    /// ... of which failed.
    pub errors: u64,
    /// 95th percentile (nearest rank) of the child spans' durations.
    pub p95_duration_us: u64,
}

/// One service of the map.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceNode {
    pub service: String,
    pub spans: u64,
    pub error_spans: u64,
    /// Traces whose root span is in this service (requests that entered here).
    pub entry_traces: u64,
    /// ... of which contain a failing span anywhere.
    pub failed_entry_traces: u64,
    /// Failing spans of this service with no failing descendant: the error started here.
    pub originated_errors: u64,
    /// ... of those, in traces that entered through another service (first seen downstream).
    pub originated_downstream: u64,
    /// Failing spans of this service that only pass on a failure from a descendant.
    pub propagated_errors: u64,
}

/// The service dependency map of a set of spans.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceMap {
    /// Ordered by calls, most first.
    pub edges: Vec<ServiceEdge>,
    /// Ordered by originated errors, most first, then by name.
    pub services: Vec<ServiceNode>,
    pub traces: u64,
    pub spans: u64,
}

/// Builds the service map of `spans` (any number of traces).
pub fn service_map(spans: &[SpanRecord]) -> ServiceMap {
    let mut by_trace: HashMap<&str, Vec<&SpanRecord>> = HashMap::new();
    let mut seen = HashSet::new();
    for span in spans {
        if seen.insert((span.trace_id.as_str(), span.span_id.as_str())) {
            by_trace
                .entry(span.trace_id.as_str())
                .or_default()
                .push(span);
        }
    }
    let mut edge_durations: BTreeMap<(String, String), (Vec<u64>, u64)> = BTreeMap::new();
    let mut nodes: BTreeMap<String, ServiceNode> = BTreeMap::new();
    let mut span_count = 0u64;
    for trace in by_trace.values() {
        let by_id: HashMap<&str, &SpanRecord> = trace
            .iter()
            .map(|span| (span.span_id.as_str(), *span))
            .collect();
        let parent_of = |span: &SpanRecord| -> Option<&SpanRecord> {
            let parent = span.parent_span_id.as_str();
            (!parent.is_empty() && parent != span.span_id)
                .then(|| by_id.get(parent).copied())
                .flatten()
        };
        // Spans with a failing descendant: walk up from every failing span.
        let mut has_failing_descendant: HashSet<&str> = HashSet::new();
        for span in trace.iter().filter(|span| span.is_error()) {
            let mut current = parent_of(span);
            let mut steps = 0;
            while let Some(parent) = current {
                if !has_failing_descendant.insert(parent.span_id.as_str()) || steps > trace.len() {
                    break;
                }
                steps += 1;
                current = parent_of(parent);
            }
        }
        // The entry: the earliest span without a (known) parent.
        let entry = trace
            .iter()
            .filter(|span| parent_of(span).is_none())
            .min_by_key(|span| span.start_us);
        let entry_service = entry.map(|span| span.service.as_str()).unwrap_or("");
        let trace_failed = trace.iter().any(|span| span.is_error());
        if let Some(entry) = entry {
            let node = node(&mut nodes, &entry.service);
            node.entry_traces += 1;
            node.failed_entry_traces += u64::from(trace_failed);
        }
        for span in trace {
            span_count += 1;
            let node = node(&mut nodes, &span.service);
            node.spans += 1;
            if span.is_error() {
                node.error_spans += 1;
                if has_failing_descendant.contains(span.span_id.as_str()) {
                    node.propagated_errors += 1;
                } else {
                    node.originated_errors += 1;
                    node.originated_downstream += u64::from(span.service != entry_service);
                }
            }
            if let Some(parent) = parent_of(span) {
                if parent.service != span.service {
                    let edge = edge_durations
                        .entry((parent.service.clone(), span.service.clone()))
                        .or_default();
                    edge.0.push(span.duration_us);
                    edge.1 += u64::from(span.is_error());
                }
            }
        }
    }
    let mut edges: Vec<ServiceEdge> = edge_durations
        .into_iter()
        .map(
            |((from_service, to_service), (mut durations, errors))| ServiceEdge {
                from_service,
                to_service,
                calls: durations.len() as u64,
                errors,
                p95_duration_us: percentile(&mut durations, 95),
            },
        )
        .collect();
    edges.sort_by(|a, b| {
        b.calls
            .cmp(&a.calls)
            .then_with(|| (&a.from_service, &a.to_service).cmp(&(&b.from_service, &b.to_service)))
    });
    let mut services: Vec<ServiceNode> = nodes.into_values().collect();
    services.sort_by(|a, b| {
        b.originated_errors
            .cmp(&a.originated_errors)
            .then_with(|| a.service.cmp(&b.service))
    });
    ServiceMap {
        edges,
        services,
        traces: by_trace.len() as u64,
        spans: span_count,
    }
}

impl ServiceMap {
    /// The map of a sample of one in `factor` traces, scaled up to estimate the whole: every
    /// count is multiplied; latencies stay as measured.
    pub fn scaled(mut self, factor: u64) -> ServiceMap {
        let factor = factor.max(1);
        self.traces *= factor;
        self.spans *= factor;
        for edge in &mut self.edges {
            edge.calls *= factor;
            edge.errors *= factor;
        }
        for node in &mut self.services {
            for count in [
                &mut node.spans,
                &mut node.error_spans,
                &mut node.entry_traces,
                &mut node.failed_entry_traces,
                &mut node.originated_errors,
                &mut node.originated_downstream,
                &mut node.propagated_errors,
            ] {
                *count *= factor;
            }
        }
        self
    }
}

fn node<'a>(nodes: &'a mut BTreeMap<String, ServiceNode>, service: &str) -> &'a mut ServiceNode {
    nodes
        .entry(service.to_owned())
        .or_insert_with(|| ServiceNode {
            service: service.to_owned(),
            ..ServiceNode::default()
        })
}

/// Nearest-rank percentile; 0 for no values. Sorts `values`.
pub fn percentile(values: &mut [u64], percent: u64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let rank = (percent.min(100) as usize * values.len())
        .div_ceil(100)
        .max(1);
    values[rank - 1]
}

/// Latency of a set of traces (their root spans).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LatencyStats {
    pub traces: u64,
    pub avg_us: u64,
    pub p50_us: u64,
    pub p95_us: u64,
}

impl LatencyStats {
    pub fn of(mut durations: Vec<u64>) -> LatencyStats {
        if durations.is_empty() {
            return LatencyStats::default();
        }
        let total: u128 = durations.iter().map(|d| u128::from(*d)).sum();
        LatencyStats {
            traces: durations.len() as u64,
            avg_us: u64::try_from(total / durations.len() as u128).unwrap_or(u64::MAX),
            p50_us: percentile(&mut durations, 50),
            p95_us: percentile(&mut durations, 95),
        }
    }
}

/// Where an issue's events come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueSource {
    pub service: String,
    pub operation: String,
    pub events: u64,
}

/// The latency of one root operation with and without the issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationImpact {
    pub operation: String,
    pub with_issue: LatencyStats,
    pub without_issue: LatencyStats,
}

/// An issue's footprint in traces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceImpact {
    /// Most events first.
    pub sources: Vec<IssueSource>,
    /// Events with a trace id / whose span was found.
    pub events_with_trace: u64,
    pub events_with_span: u64,
    pub operations: Vec<OperationImpact>,
}

/// The root of each trace: the earliest span without a known parent.
fn roots_by_trace(spans: &[SpanRecord]) -> HashMap<&str, &SpanRecord> {
    let ids: HashSet<(&str, &str)> = spans
        .iter()
        .map(|span| (span.trace_id.as_str(), span.span_id.as_str()))
        .collect();
    let mut roots: HashMap<&str, &SpanRecord> = HashMap::new();
    for span in spans {
        let has_parent = !span.parent_span_id.is_empty()
            && ids.contains(&(span.trace_id.as_str(), span.parent_span_id.as_str()));
        if has_parent {
            continue;
        }
        let root = roots.entry(span.trace_id.as_str()).or_insert(span);
        if span.start_us < root.start_us {
            *root = span;
        }
    }
    roots
}

/// Connects an issue's events with the spans of their traces (`issue_spans`) and with root
/// spans of the same period (`candidate_roots`, which may include the issue's own traces: they
/// are left out of the baseline).
pub fn issue_impact(
    events: &[EventRecord],
    issue_spans: &[SpanRecord],
    candidate_roots: &[SpanRecord],
) -> TraceImpact {
    let span_by_id: HashMap<(&str, &str), &SpanRecord> = issue_spans
        .iter()
        .map(|span| ((span.trace_id.as_str(), span.span_id.as_str()), span))
        .collect();
    let mut sources: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut impact = TraceImpact::default();
    let issue_traces: HashSet<&str> = events
        .iter()
        .filter(|event| !event.trace_id.is_empty())
        .map(|event| event.trace_id.as_str())
        .collect();
    for event in events.iter().filter(|event| !event.trace_id.is_empty()) {
        impact.events_with_trace += 1;
        if let Some(span) = span_by_id.get(&(event.trace_id.as_str(), event.span_id.as_str())) {
            impact.events_with_span += 1;
            *sources
                .entry((span.service.clone(), span.name.clone()))
                .or_default() += 1;
        }
    }
    impact.sources = sources
        .into_iter()
        .map(|((service, operation), events)| IssueSource {
            service,
            operation,
            events,
        })
        .collect();
    impact.sources.sort_by(|a, b| {
        b.events
            .cmp(&a.events)
            .then_with(|| a.service.cmp(&b.service))
    });

    let mut with_issue: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (trace_id, root) in roots_by_trace(issue_spans) {
        if issue_traces.contains(trace_id) {
            with_issue
                .entry(root.name.clone())
                .or_default()
                .push(root.duration_us);
        }
    }
    let mut without_issue: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for root in candidate_roots {
        if issue_traces.contains(root.trace_id.as_str())
            || !with_issue.contains_key(&root.name)
            || !seen.insert(root.trace_id.as_str())
        {
            continue;
        }
        without_issue
            .entry(root.name.clone())
            .or_default()
            .push(root.duration_us);
    }
    impact.operations = with_issue
        .into_iter()
        .map(|(operation, durations)| OperationImpact {
            without_issue: LatencyStats::of(without_issue.remove(&operation).unwrap_or_default()),
            with_issue: LatencyStats::of(durations),
            operation,
        })
        .collect();
    impact
        .operations
        .sort_by_key(|operation| std::cmp::Reverse(operation.with_issue.traces));
    impact
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(
        trace: &str,
        id: &str,
        parent: &str,
        service: &str,
        start: i64,
        duration: u64,
    ) -> SpanRecord {
        SpanRecord {
            project_id: 1,
            trace_id: trace.to_owned(),
            span_id: id.to_owned(),
            parent_span_id: parent.to_owned(),
            service: service.to_owned(),
            name: format!("{service} {id}"),
            kind: "server".to_owned(),
            start_us: start,
            duration_us: duration,
            status: "ok".to_owned(),
            ..SpanRecord::default()
        }
    }

    fn failed(mut span: SpanRecord) -> SpanRecord {
        span.status = "error".to_owned();
        span
    }

    fn event(id: &str, trace: &str, span: &str) -> EventRecord {
        let error =
            stackhouse_protocol::ErrorEvent::new(uuid::Uuid::nil(), chrono::DateTime::UNIX_EPOCH);
        let fingerprint = stackhouse_grouping::fingerprint_event(&error, &Default::default());
        let mut record =
            EventRecord::from_event(1, &error, chrono::DateTime::UNIX_EPOCH, &fingerprint);
        record.event_id = id.to_owned();
        record.trace_id = trace.to_owned();
        record.span_id = span.to_owned();
        record
    }

    #[test]
    fn waterfall_nests_children_marks_failing_span_and_keeps_orphans() {
        let spans = vec![
            span("t", "c", "b", "db", 30, 10),
            span("t", "a", "", "front", 0, 100),
            span("t", "b", "a", "back", 10, 50),
            span("t", "b", "a", "back", 10, 50),
            span("t", "o", "never", "lost", 5, 5),
            span("other", "x", "", "front", 0, 1),
        ];
        let waterfall = build_waterfall(
            "t",
            spans,
            vec![event("e1", "t", "c"), event("e2", "t", "a")],
            Some("e1"),
        );
        let drawn: Vec<(&str, u32, bool, bool)> = waterfall
            .spans
            .iter()
            .map(|s| {
                (
                    s.span.span_id.as_str(),
                    s.depth,
                    s.parent_missing,
                    s.failing,
                )
            })
            .collect();
        assert_eq!(
            drawn,
            [
                ("a", 0, false, false),
                ("b", 1, false, false),
                ("c", 2, false, true),
                ("o", 0, true, false)
            ]
        );
        assert_eq!(waterfall.missing_parent_ids, ["never"]);
        assert_eq!(waterfall.duration_us, 100);
        assert_eq!(waterfall.services, ["front", "back", "db", "lost"]);
        assert_eq!(waterfall.errors.len(), 2);
        assert_eq!(waterfall.spans[2].error_event_ids, ["e1"]);
        assert_eq!(waterfall.errors[0].service.as_deref(), Some("db"));
    }

    #[test]
    fn waterfall_survives_parent_cycles() {
        let spans = vec![
            span("t", "a", "b", "x", 0, 1),
            span("t", "b", "a", "x", 1, 1),
        ];
        let waterfall = build_waterfall("t", spans, Vec::new(), None);
        assert_eq!(waterfall.spans.len(), 2);
    }

    #[test]
    fn service_map_counts_edges_and_error_origins() {
        let spans = vec![
            // Trace 1: front → back → db, db fails and back passes it on.
            span("t1", "a", "", "front", 0, 100),
            failed(span("t1", "b", "a", "back", 10, 80)),
            failed(span("t1", "c", "b", "db", 20, 30)),
            span("t1", "c2", "b", "back", 25, 1), // same service: no edge
            // Trace 2: front → back, fine.
            span("t2", "a", "", "front", 0, 50),
            span("t2", "b", "a", "back", 5, 20),
            // Trace 3: front fails on its own.
            failed(span("t3", "a", "", "front", 0, 10)),
        ];
        let map = service_map(&spans);
        assert_eq!(map.traces, 3);
        let edges: Vec<(&str, &str, u64, u64, u64)> = map
            .edges
            .iter()
            .map(|e| {
                (
                    e.from_service.as_str(),
                    e.to_service.as_str(),
                    e.calls,
                    e.errors,
                    e.p95_duration_us,
                )
            })
            .collect();
        assert_eq!(
            edges,
            [("front", "back", 2, 1, 80), ("back", "db", 1, 1, 30)]
        );
        let db = map.services.iter().find(|s| s.service == "db").expect("db");
        assert_eq!((db.originated_errors, db.originated_downstream), (1, 1));
        let back = map
            .services
            .iter()
            .find(|s| s.service == "back")
            .expect("back");
        assert_eq!((back.propagated_errors, back.originated_errors), (1, 0));
        let front = map
            .services
            .iter()
            .find(|s| s.service == "front")
            .expect("front");
        assert_eq!((front.entry_traces, front.failed_entry_traces), (3, 2));

        // A 1-in-4 sample's map estimates the whole: counts times four, latencies as measured.
        let scaled = map.clone().scaled(4);
        assert_eq!(
            (scaled.traces, scaled.spans),
            (map.traces * 4, map.spans * 4)
        );
        for (big, small) in scaled.edges.iter().zip(&map.edges) {
            assert_eq!((big.calls, big.errors), (small.calls * 4, small.errors * 4));
            assert_eq!(big.p95_duration_us, small.p95_duration_us);
        }
        let scaled_front = scaled
            .services
            .iter()
            .find(|s| s.service == "front")
            .expect("front");
        assert_eq!(
            (scaled_front.entry_traces, scaled_front.failed_entry_traces),
            (12, 8)
        );
        assert_eq!(map.clone().scaled(0), map, "a factor of 0 reads as 1");
        assert_eq!(
            (front.originated_errors, front.originated_downstream),
            (1, 0)
        );
    }

    #[test]
    fn percentile_is_nearest_rank() {
        assert_eq!(percentile(&mut [], 95), 0);
        assert_eq!(percentile(&mut [5], 95), 5);
        let mut values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&mut values, 95), 95);
        assert_eq!(percentile(&mut values, 50), 50);
    }

    #[test]
    fn impact_compares_traces_with_and_without_the_issue() {
        let issue_spans = vec![
            span("t1", "a", "", "front", 0, 300),
            span("t1", "b", "a", "back", 0, 250),
        ];
        let mut roots = vec![
            span("t1", "a", "", "front", 0, 300),
            span("t2", "a", "", "front", 0, 100),
            span("t3", "a", "", "front", 0, 120),
            span("t4", "z", "", "other", 0, 999),
        ];
        roots[3].name = "elsewhere".to_owned();
        let impact = issue_impact(
            &[event("e", "t1", "b"), event("f", "", "")],
            &issue_spans,
            &roots,
        );
        assert_eq!(impact.events_with_trace, 1);
        assert_eq!(impact.sources[0].service, "back");
        assert_eq!(impact.operations.len(), 1);
        let operation = &impact.operations[0];
        assert_eq!(operation.operation, "front a");
        assert_eq!(operation.with_issue.traces, 1);
        assert_eq!(operation.with_issue.p95_us, 300);
        assert_eq!(operation.without_issue.traces, 2);
        assert_eq!(operation.without_issue.p95_us, 120);
    }
}
