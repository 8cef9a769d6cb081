// The trace an event happened in, as a waterfall: one row per span (depth-first, indented under
// its parent), its bar on the trace's time axis, service, operation, duration and status; the
// span the event happened in is marked, and the trace's other errors are listed with links.

import { useMemo, useState } from "react";
import { Link } from "react-router";
import { useQuery } from "urql";
import { useSession } from "../App";
import { EVENT_TRACE } from "../api/queries";
import type { Trace, TraceSpan } from "../api/types";
import { absoluteTime } from "../format";
import { Empty, ErrorBox, Loading, NotAvailable } from "./states";

/** Rows drawn before "show all" (a trace may hold 10,000 spans). */
const FIRST_ROWS = 500;

export function formatMs(ms: number): string {
  if (ms === 0) return "0";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** A few round tick positions (ms) across [0, total]. */
function ticks(total: number): number[] {
  if (total <= 0) return [0];
  const raw = total / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const out = [];
  for (let t = 0; t <= total + 1e-9; t += step) out.push(t);
  return out;
}

/** A stable colour per service (hue from the name). */
export function serviceColor(service: string): string {
  let hash = 0;
  for (const ch of service) hash = (hash * 31 + ch.charCodeAt(0)) | 0;
  return `hsl(${Math.abs(hash) % 360} 55% 55%)`;
}

export function EventTrace({ projectId, eventId }: { projectId: string; eventId: string }) {
  const { caps } = useSession();
  const [result, refetch] = useQuery<{ eventTrace: Trace | null }>({
    query: EVENT_TRACE,
    variables: { projectId, eventId },
    pause: !caps.traces,
  });
  if (!caps.traces) return <NotAvailable what="The trace waterfall">This server's API has no spans yet.</NotAvailable>;
  if (result.error) return <ErrorBox error={result.error} retry={() => refetch({ requestPolicy: "network-only" })} />;
  if (!result.data) return <Loading what="the trace" />;
  const trace = result.data.eventTrace;
  if (!trace) return <Empty>No spans or other errors were received for this event's trace.</Empty>;
  return <Waterfall trace={trace} />;
}

export function Waterfall({ trace }: { trace: Trace }) {
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
  const [open, setOpen] = useState<string | null>(null);
  const [showAll, setShowAll] = useState(false);
  const total = Math.max(trace.durationMs, 0.001);

  // Spans come depth-first: a collapsed span hides the rows after it that are deeper.
  const visible = useMemo(() => {
    const rows: TraceSpan[] = [];
    let hideBelow: number | null = null;
    for (const span of trace.spans) {
      if (hideBelow !== null && span.depth > hideBelow) continue;
      hideBelow = collapsed.has(span.spanId) ? span.depth : null;
      rows.push(span);
    }
    return rows;
  }, [trace.spans, collapsed]);
  const hasChildren = useMemo(() => {
    const parents = new Set<string>();
    trace.spans.forEach((span, i) => {
      const next = trace.spans[i + 1];
      if (next && next.depth > span.depth) parents.add(span.spanId);
    });
    return parents;
  }, [trace.spans]);
  const shown = showAll ? visible : visible.slice(0, FIRST_ROWS);
  const failingCount = trace.spans.filter((s) => s.status === "error").length;
  const others = trace.errors.filter((e) => !e.focused);

  const toggle = (spanId: string) =>
    setCollapsed((current) => {
      const next = new Set(current);
      if (next.has(spanId)) next.delete(spanId);
      else next.add(spanId);
      return next;
    });

  return (
    <div className="waterfall" data-testid="waterfall">
      <div className="kv-line small">
        <span>
          trace <code>{trace.traceId}</code>
        </span>
        <span title={absoluteTime(trace.start)}>started {absoluteTime(trace.start)}</span>
        <span>
          <b>{formatMs(trace.durationMs)}</b>
        </span>
        <span>
          <b data-testid="span-count">{trace.spanCount}</b> spans
        </span>
        <span>
          <b>{failingCount}</b> failed
        </span>
        <span>
          services{" "}
          {trace.services.map((s) => (
            <span key={s} className="svc-chip" style={{ borderColor: serviceColor(s) }}>
              {s}
            </span>
          ))}
        </span>
        {trace.missingParentSpanIds.length > 0 && (
          <span className="muted" title={trace.missingParentSpanIds.join(", ")}>
            {trace.missingParentSpanIds.length} parent span(s) never arrived
          </span>
        )}
      </div>
      {trace.spans.length === 0 ? (
        <p className="muted">No span of this trace was received (only its errors, below).</p>
      ) : (
        <div className="wf-table" role="table">
          <div className="wf-row wf-axis" role="row">
            <div className="wf-label">service · operation</div>
            <div className="wf-dur">duration</div>
            <div className="wf-track">
              {ticks(total).map((t) => (
                <span key={t} className="wf-tick" style={{ left: `${(t / total) * 100}%` }}>
                  {formatMs(t)}
                </span>
              ))}
            </div>
          </div>
          {shown.map((span) => {
            const left = (span.offsetMs / total) * 100;
            const width = Math.max((span.durationMs / total) * 100, 0.2);
            const isOpen = open === span.spanId;
            const classes = ["wf-row", span.failing ? "wf-failing" : "", span.status === "error" ? "wf-error" : ""];
            return (
              <div key={span.spanId} role="rowgroup">
                <div
                  className={classes.join(" ")}
                  role="row"
                  data-testid="span-row"
                  data-span-id={span.spanId}
                  data-service={span.service}
                  data-depth={span.depth}
                  data-status={span.status}
                  data-failing={span.failing ? "true" : undefined}
                  onClick={() => setOpen(isOpen ? null : span.spanId)}
                >
                  <div className="wf-label" style={{ paddingLeft: 4 + span.depth * 14 }} title={`${span.service} · ${span.name}`}>
                    {hasChildren.has(span.spanId) ? (
                      <button
                        className="wf-fold linkish"
                        aria-label={collapsed.has(span.spanId) ? "expand" : "collapse"}
                        onClick={(e) => {
                          e.stopPropagation();
                          toggle(span.spanId);
                        }}
                      >
                        {collapsed.has(span.spanId) ? "▸" : "▾"}
                      </button>
                    ) : (
                      <span className="wf-fold" />
                    )}
                    <span className="wf-svc" style={{ color: serviceColor(span.service) }}>
                      {span.service}
                    </span>{" "}
                    <span className="wf-op">{span.name}</span>
                    {span.failing && <span className="badge status-regressed wf-mark">this event</span>}
                    {!span.failing && span.errorEventIds.length > 0 && (
                      <span className="badge status-regressed wf-mark" title={`error events in this span: ${span.errorEventIds.join(", ")}`}>
                        {span.errorEventIds.length} error{span.errorEventIds.length > 1 ? "s" : ""}
                      </span>
                    )}
                    {span.parentMissing && <span className="badge" title="its parent span never arrived">orphan</span>}
                  </div>
                  <div className="wf-dur">
                    {formatMs(span.durationMs)}
                    {span.status === "error" && <span className="wf-status-error"> ✕</span>}
                  </div>
                  <div className="wf-track">
                    <span
                      className="wf-bar"
                      style={{ left: `${left}%`, width: `${width}%`, background: span.status === "error" ? "#dc2626" : serviceColor(span.service) }}
                    />
                  </div>
                </div>
                {isOpen && <SpanDetails span={span} />}
              </div>
            );
          })}
          {!showAll && visible.length > FIRST_ROWS && (
            <button className="btn btn-small" onClick={() => setShowAll(true)}>
              show all {visible.length} spans
            </button>
          )}
        </div>
      )}
      <h3>Errors in this trace</h3>
      {others.length === 0 ? (
        <p className="muted" data-testid="trace-errors-none">
          No other error in this trace.
        </p>
      ) : (
        <table className="grid small" data-testid="trace-errors">
          <tbody>
            {others.map((error) => (
              <tr key={error.eventId}>
                <td className="nowrap small" title={absoluteTime(error.timestamp)}>
                  {absoluteTime(error.timestamp)}
                </td>
                <td className="small">{error.service ?? <span className="muted">no span</span>}</td>
                <td className="ellipsis">
                  {error.issueId ? (
                    <Link to={`/issues/${error.issueId}?event=${error.eventId}`}>{error.title}</Link>
                  ) : (
                    error.title
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function SpanDetails({ span }: { span: TraceSpan }) {
  const rows: [string, string][] = [
    ["span", span.spanId],
    ["parent", span.parentSpanId ?? "(root)"],
    ["kind", span.kind],
    ["status", span.statusMessage ? `${span.status}: ${span.statusMessage}` : span.status],
    ["start", `+${formatMs(span.offsetMs)}`],
    ["source", span.source],
  ];
  if (span.httpMethod || span.httpRoute) rows.push(["http", [span.httpMethod, span.httpRoute, span.httpStatusCode].filter(Boolean).join(" ")]);
  if (span.dbSystem) rows.push(["db", span.dbSystem]);
  for (const attribute of span.attributes) rows.push([attribute.key, attribute.value]);
  return (
    <div className="wf-details">
      <table className="kv">
        <tbody>
          {rows.map(([key, value]) => (
            <tr key={key}>
              <th>{key}</th>
              <td>
                <code>{value}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {span.errorEventIds.length > 0 && <div className="small muted">error events in this span: {span.errorEventIds.join(", ")}</div>}
    </div>
  );
}
