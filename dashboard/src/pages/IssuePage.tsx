// One issue: lifecycle actions and history, trend, tags, why it is grouped here, the latest
// (or a chosen) event in full, its events with paging, merge and unmerge.

import { useMemo, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { useMutation, useQuery } from "urql";
import { useSession } from "../App";
import {
  ACKNOWLEDGE,
  EVENT,
  IGNORE,
  ISSUE,
  ISSUE_EVENTS,
  ISSUE_EVENTS_LEGACY,
  ISSUE_EXTRAS,
  ISSUE_TRACE_IMPACT,
  MERGE,
  REOPEN,
  RESOLVE,
  UNMERGE,
} from "../api/queries";
import type { EventFull, EventRow, IssueExtras, IssueFull, PageInfo, TraceImpact } from "../api/types";
import { formatMs } from "../components/Waterfall";
import { Chart } from "../components/Chart";
import { EventView } from "../components/EventView";
import { LevelBadge, StatusBadge } from "../components/badges";
import { Empty, ErrorBox, Loading, NotAvailable } from "../components/states";
import { absoluteTime, compact, pretty, relativeTime } from "../format";

const TREND_RANGES = [
  { key: "1h", label: "1 hour", hours: 1, granularity: "MINUTE" },
  { key: "24h", label: "24 hours", hours: 24, granularity: "HOUR" },
  { key: "7d", label: "7 days", hours: 24 * 7, granularity: "HOUR" },
  { key: "30d", label: "30 days", hours: 24 * 30, granularity: "DAY" },
] as const;

export function IssuePage() {
  const { issueId = "" } = useParams();
  const { caps } = useSession();
  const [params, setParams] = useSearchParams();
  const [result, refetch] = useQuery<{ issue: IssueFull | null }>({ query: ISSUE, variables: { id: issueId } });

  if (result.error) return <ErrorBox error={result.error} retry={() => refetch({ requestPolicy: "network-only" })} />;
  if (!result.data) return <Loading what={`issue ${issueId}`} />;
  const issue = result.data.issue;
  if (!issue) {
    return (
      <Empty>
        There is no issue {issueId} (it may have been merged into another). <Link to="/issues">Back to the list</Link>
      </Empty>
    );
  }
  const latest = issue.events[0] ?? null;
  const chosenEvent = params.get("event");

  return (
    <div className="page issue-page">
      <div className="breadcrumb">
        <Link to={`/issues?project=${issue.projectId}`}>Issues</Link> / #{issue.id}
      </div>
      <div className="issue-head">
        <h1>
          <LevelBadge level={issue.level} /> <span data-testid="issue-title">{issue.title}</span>
        </h1>
        <div className="culprit">{issue.culprit}</div>
        <div className="kv-line">
          <StatusBadge status={issue.status} />
          <span>
            <b data-testid="issue-count">{issue.count.toLocaleString()}</b> events
          </span>
          <span>
            <b>{issue.userCount.toLocaleString()}</b> users
          </span>
          <span title={absoluteTime(issue.firstSeen)}>first seen {relativeTime(issue.firstSeen)}</span>
          <span title={absoluteTime(issue.lastSeen)}>last seen {relativeTime(issue.lastSeen)}</span>
          <span>{issue.platform}</span>
        </div>
      </div>

      <Lifecycle issue={issue} />

      <div className="issue-grid">
        <div className="issue-main">
          <Trend issue={issue} />
          <section>
            <h2>
              {chosenEvent && chosenEvent !== latest?.id ? "Event" : "Latest event"}
              {chosenEvent && (
                <button className="btn btn-small" onClick={() => setParams({})}>
                  back to the latest
                </button>
              )}
            </h2>
            {chosenEvent && chosenEvent !== latest?.id ? (
              <ChosenEvent projectId={issue.projectId} eventId={chosenEvent} />
            ) : latest ? (
              <EventView event={latest} projectId={issue.projectId} />
            ) : (
              <Empty>No stored event for this issue.</Empty>
            )}
          </section>
          <EventList issueId={issue.id} chosen={chosenEvent ?? latest?.id ?? null} canOpen={caps.eventQuery} />
        </div>
        <aside className="issue-side">
          <TraceImpactBox issueId={issue.id} />
          <Tags issue={issue} latest={latest} />
          <Grouping issue={issue} latest={latest} />
          <MergeBox issue={issue} />
          <History issueId={issue.id} />
        </aside>
      </div>
    </div>
  );
}

function ChosenEvent({ projectId, eventId }: { projectId: string; eventId: string }) {
  const { caps } = useSession();
  const [result] = useQuery<{ event: EventFull | null }>({ query: EVENT, variables: { projectId, eventId }, pause: !caps.eventQuery });
  if (!caps.eventQuery) return <NotAvailable what="Opening a single event" />;
  if (result.error) return <ErrorBox error={result.error} />;
  if (!result.data) return <Loading what="the event" />;
  if (!result.data.event) return <Empty>No event {eventId}.</Empty>;
  return <EventView event={result.data.event} projectId={projectId} />;
}

function useExtras(issueId: string, range: (typeof TREND_RANGES)[number]) {
  const { caps } = useSession();
  const from = useMemo(() => new Date(Date.now() - range.hours * 3600_000).toISOString(), [range]);
  return useQuery<{ issue: IssueExtras | null }>({
    query: ISSUE_EXTRAS,
    variables: { id: issueId, granularity: range.granularity, from },
    pause: !caps.issueExtras,
  });
}

function Lifecycle({ issue }: { issue: IssueFull }) {
  const { caps } = useSession();
  const [release, setRelease] = useState("");
  const [comment, setComment] = useState("");
  const [ignoreFor, setIgnoreFor] = useState("forever");
  const [ack, acknowledge] = useMutation(ACKNOWLEDGE);
  const [res, resolve] = useMutation(RESOLVE);
  const [ign, ignore] = useMutation(IGNORE);
  const [reo, reopen] = useMutation(REOPEN);
  const busy = ack.fetching || res.fetching || ign.fetching || reo.fetching;
  const error = ack.error ?? res.error ?? ign.error ?? reo.error;
  if (!caps.lifecycle) {
    return <NotAvailable what="Acknowledge, resolve, ignore and reopen">This server's API has no lifecycle mutations.</NotAvailable>;
  }
  const ids = [issue.id];
  const note = comment.trim() || null;
  const ignoreArgs = () => {
    if (ignoreFor === "forever") return {};
    if (ignoreFor.endsWith("h")) return { until: new Date(Date.now() + Number(ignoreFor.slice(0, -1)) * 3600_000).toISOString() };
    return { untilEvents: Number(ignoreFor.slice(0, -1)) };
  };
  const closed = issue.status === "RESOLVED" || issue.status === "IGNORED";
  return (
    <div className="lifecycle">
      <input placeholder="comment (optional)" value={comment} onChange={(e) => setComment(e.target.value)} aria-label="Comment" />
      <button className="btn" disabled={busy || issue.status === "ACKNOWLEDGED" || closed} onClick={() => acknowledge({ ids, comment: note })}>
        Acknowledge
      </button>
      <span className="group">
        <input placeholder="in release (optional)" value={release} onChange={(e) => setRelease(e.target.value)} aria-label="Resolved in release" />
        <button className="btn btn-primary" disabled={busy || issue.status === "RESOLVED"} onClick={() => resolve({ ids, inRelease: release.trim() || null, comment: note })}>
          Resolve
        </button>
      </span>
      <span className="group">
        <select value={ignoreFor} onChange={(e) => setIgnoreFor(e.target.value)} aria-label="Ignore for">
          <option value="forever">forever</option>
          <option value="1h">for 1 hour</option>
          <option value="24h">for 24 hours</option>
          <option value="100e">until 100 more events</option>
        </select>
        <button className="btn" disabled={busy || issue.status === "IGNORED"} onClick={() => ignore({ ids, comment: note, ...ignoreArgs() })}>
          Ignore
        </button>
      </span>
      <button className="btn" disabled={busy || !closed} onClick={() => reopen({ ids, comment: note })}>
        Reopen
      </button>
      {error && <ErrorBox error={error} />}
    </div>
  );
}

function Trend({ issue }: { issue: IssueFull }) {
  const { caps } = useSession();
  const [rangeKey, setRangeKey] = useState<string>("24h");
  const range = TREND_RANGES.find((r) => r.key === rangeKey) ?? TREND_RANGES[1];
  const [extras] = useExtras(issue.id, range);
  const data = useMemo(() => {
    if (caps.issueExtras) {
      const points = extras.data?.issue?.trend ?? [];
      return { x: points.map((p) => Date.parse(p.time) / 1000), series: [{ label: "events", values: points.map((p) => p.events) }] };
    }
    // The earlier API has the last 24 hours only, hourly (the sparkline).
    const now = Math.floor(Date.now() / 3600_000) * 3600;
    return {
      x: issue.sparkline.map((_, i) => now - (issue.sparkline.length - 1 - i) * 3600),
      series: [{ label: "events", values: issue.sparkline }],
    };
  }, [caps.issueExtras, extras.data, issue.sparkline]);
  return (
    <section>
      <h2>
        Events over time
        {caps.issueExtras ? (
          <select value={rangeKey} onChange={(e) => setRangeKey(e.target.value)} aria-label="Trend range">
            {TREND_RANGES.map((r) => (
              <option key={r.key} value={r.key}>
                last {r.label}
              </option>
            ))}
          </select>
        ) : (
          <span className="muted small"> last 24 hours (this server offers no other range)</span>
        )}
      </h2>
      {extras.error ? (
        <ErrorBox error={extras.error} />
      ) : caps.issueExtras && !extras.data ? (
        <Loading what="the trend" />
      ) : data.x.length === 0 ? (
        <Empty>No events in this range.</Empty>
      ) : (
        <Chart x={data.x} series={data.series} bars />
      )}
    </section>
  );
}

function Tags({ issue, latest }: { issue: IssueFull; latest: EventFull | null }) {
  const { caps } = useSession();
  const [extras] = useExtras(issue.id, TREND_RANGES[1]);
  if (!caps.issueExtras) {
    return (
      <section>
        <h2>Tags</h2>
        <p className="muted small">Distributions need a newer server; the latest event's tags:</p>
        {latest?.tags.length ? (
          <table className="kv">
            <tbody>
              {latest.tags.map((t) => (
                <tr key={t.key}>
                  <th>{t.key}</th>
                  <td>{t.value}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p className="muted">No tags.</p>
        )}
      </section>
    );
  }
  const tags = extras.data?.issue?.tags;
  return (
    <section>
      <h2>Tags</h2>
      {extras.error ? (
        <ErrorBox error={extras.error} />
      ) : !tags ? (
        <Loading what="tags" />
      ) : tags.length === 0 ? (
        <p className="muted">No tags.</p>
      ) : (
        tags.map((tag) => (
          <div className="tagdist" key={tag.key}>
            <div className="tagdist-key">{tag.key}</div>
            {tag.values.map((v) => (
              <div className="tagdist-row" key={v.value} title={`${v.count} of ${tag.total}`}>
                <span className="tagdist-bar" style={{ width: `${(100 * v.count) / Math.max(1, tag.total)}%` }} />
                <span className="tagdist-value">{v.value}</span>
                <span className="tagdist-pct">{Math.round((100 * v.count) / Math.max(1, tag.total))}%</span>
              </div>
            ))}
          </div>
        ))
      )}
    </section>
  );
}

interface Explanation {
  basis?: string;
  contributing?: { kind: string; value: string }[];
  ignored?: { component: string; reason: string }[];
  similarity?: Record<string, number>;
}

function Grouping({ issue, latest }: { issue: IssueFull; latest: EventFull | null }) {
  const explanation = (latest?.groupingExplanation ?? null) as Explanation | null;
  return (
    <section>
      <h2>Why grouped here</h2>
      {!explanation ? (
        <p className="muted">No event to explain.</p>
      ) : (
        <div className="grouping" data-testid="grouping">
          <p>
            Fingerprint <code>{latest?.fingerprint}</code> ({latest?.groupingVersion}) from the <b>{explanation.basis ?? "?"}</b>
            {issue.fingerprints.length > 1 && <> — one of {issue.fingerprints.length} fingerprints in this issue</>}.
          </p>
          {explanation.contributing?.length ? (
            <>
              <div className="small muted">contributing</div>
              <ul className="plain">
                {explanation.contributing.map((c, i) => (
                  <li key={i}>
                    <span className="badge">{c.kind}</span> <code>{c.value}</code>
                  </li>
                ))}
              </ul>
            </>
          ) : null}
          {explanation.ignored?.length ? (
            <>
              <div className="small muted">ignored</div>
              <ul className="plain">
                {explanation.ignored.map((c, i) => (
                  <li key={i}>
                    {c.component} <span className="muted">({c.reason})</span>
                  </li>
                ))}
              </ul>
            </>
          ) : null}
          {explanation.similarity && (
            <p className="small">
              Joined issue #{explanation.similarity.issue_id} by similarity: score {explanation.similarity.score} ≥ threshold{" "}
              {explanation.similarity.threshold}
            </p>
          )}
          <details>
            <summary className="small">raw explanation</summary>
            <pre className="json">{pretty(explanation)}</pre>
          </details>
        </div>
      )}
    </section>
  );
}

function MergeBox({ issue }: { issue: IssueFull }) {
  const [other, setOther] = useState("");
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [mergeState, merge] = useMutation(MERGE);
  const [unmergeState, unmerge] = useMutation<{ unmergeFingerprints: string[] }>(UNMERGE);
  const [moved, setMoved] = useState<string[] | null>(null);
  const navigate = useNavigate();
  return (
    <section>
      <h2>Merge</h2>
      <form
        className="row"
        onSubmit={async (e) => {
          e.preventDefault();
          const answer = await merge({ projectId: issue.projectId, into: issue.id, from: [other.trim()] });
          if (!answer.error) setOther("");
        }}
      >
        <input placeholder="issue id to merge into this one" value={other} onChange={(e) => setOther(e.target.value)} aria-label="Issue to merge" />
        <button className="btn btn-small" disabled={!other.trim() || mergeState.fetching}>
          Merge
        </button>
      </form>
      {mergeState.error && <ErrorBox error={mergeState.error} />}
      <div className="small muted">Fingerprints ({issue.fingerprints.length})</div>
      <ul className="plain">
        {issue.fingerprints.map((fp) => (
          <li key={fp}>
            <label>
              <input
                type="checkbox"
                disabled={issue.fingerprints.length < 2}
                checked={chosen.has(fp)}
                onChange={() =>
                  setChosen((c) => {
                    const next = new Set(c);
                    if (next.has(fp)) next.delete(fp);
                    else next.add(fp);
                    return next;
                  })
                }
              />{" "}
              <code>{fp}</code>
            </label>
          </li>
        ))}
      </ul>
      {issue.fingerprints.length > 1 && (
        <button
          className="btn btn-small"
          disabled={!chosen.size || unmergeState.fetching || chosen.size === issue.fingerprints.length}
          onClick={async () => {
            const answer = await unmerge({ projectId: issue.projectId, issueId: issue.id, fingerprints: [...chosen] });
            if (!answer.error) {
              setChosen(new Set());
              setMoved(answer.data?.unmergeFingerprints ?? []);
            }
          }}
        >
          Unmerge selected
        </button>
      )}
      {unmergeState.error && <ErrorBox error={unmergeState.error} />}
      {moved && (
        <p className="small">
          Moved to{" "}
          {moved.map((id) => (
            <button key={id} className="linkish" onClick={() => navigate(`/issues/${id}`)}>
              #{id}{" "}
            </button>
          ))}
        </p>
      )}
    </section>
  );
}

function History({ issueId }: { issueId: string }) {
  const { caps } = useSession();
  const [extras] = useExtras(issueId, TREND_RANGES[1]);
  if (!caps.issueExtras) {
    return (
      <section>
        <h2>History</h2>
        <p className="muted small">Status history is not available on this server yet.</p>
      </section>
    );
  }
  const history = extras.data?.issue?.history;
  return (
    <section>
      <h2>History</h2>
      {extras.error ? (
        <ErrorBox error={extras.error} />
      ) : !history ? (
        <Loading what="history" />
      ) : history.length === 0 ? (
        <p className="muted">No status change yet.</p>
      ) : (
        <ol className="history" data-testid="history">
          {[...history].reverse().map((h, i) => (
            <li key={i}>
              <span title={absoluteTime(h.at)}>{relativeTime(h.at)}</span> <b>{h.actor}</b>: {h.from ? h.from.toLowerCase() : "—"} →{" "}
              <b>{h.to.toLowerCase()}</b>
              {h.resolvedInRelease && <> in {h.resolvedInRelease}</>}
              {h.comment && <div className="muted small">“{h.comment}”</div>}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

const EVENTS_PAGE = 20;

function EventList({ issueId, chosen, canOpen }: { issueId: string; chosen: string | null; canOpen: boolean }) {
  const { caps, projectId } = useSession();
  const [, setParams] = useSearchParams();
  // Contract: cursor paging (a stack of cursors for "previous"); earlier API: a growing limit.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [limit, setLimit] = useState(EVENTS_PAGE);
  const [page] = useQuery<{ issue: { eventPage: { nodes: EventRow[]; pageInfo: PageInfo } } | null }>({
    query: ISSUE_EVENTS,
    variables: { id: issueId, first: EVENTS_PAGE, after: cursors[cursors.length - 1] },
    pause: !caps.issueExtras,
  });
  const [legacy] = useQuery<{ issue: { events: EventRow[] } | null }>({
    query: ISSUE_EVENTS_LEGACY,
    variables: { id: issueId, limit },
    pause: caps.issueExtras,
  });
  const result = caps.issueExtras ? page : legacy;
  const rows: EventRow[] | undefined = caps.issueExtras ? page.data?.issue?.eventPage.nodes : legacy.data?.issue?.events;
  const hasMore = caps.issueExtras ? !!page.data?.issue?.eventPage.pageInfo.hasNextPage : (rows?.length ?? 0) === limit;
  return (
    <section>
      <h2>Events</h2>
      {result.error ? (
        <ErrorBox error={result.error} />
      ) : !rows ? (
        <Loading what="events" />
      ) : rows.length === 0 ? (
        <Empty>No events.</Empty>
      ) : (
        <table className="grid events" data-testid="events-table">
          <thead>
            <tr>
              <th>Time</th>
              <th>Message</th>
              <th>Environment</th>
              <th>Release</th>
              <th>User</th>
              <th>Trace</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((event) => (
              <tr key={event.id} className={event.id === chosen ? "selected" : ""}>
                <td className="nowrap" title={absoluteTime(event.timestamp)}>
                  {canOpen ? (
                    <button className="linkish" onClick={() => setParams({ event: event.id })}>
                      {relativeTime(event.timestamp)}
                    </button>
                  ) : (
                    relativeTime(event.timestamp)
                  )}
                </td>
                <td className="ellipsis">{event.message || event.title}</td>
                <td>{event.environment}</td>
                <td>{event.release}</td>
                <td>{event.user?.email ?? event.user?.username ?? event.user?.id ?? ""}</td>
                <td>
                  {event.traceId && caps.traces && projectId ? (
                    <Link to={`/traces/${event.traceId}?project=${projectId}`} title={event.traceId} onClick={(e) => e.stopPropagation()}>
                      <code className="small">{event.traceId.slice(0, 8)}</code>
                    </Link>
                  ) : (
                    <code className="small">{event.traceId?.slice(0, 8) ?? ""}</code>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="pager">
        {caps.issueExtras ? (
          <>
            <button className="btn btn-small" disabled={cursors.length < 2} onClick={() => setCursors((c) => c.slice(0, -1))}>
              Newer
            </button>
            <span className="muted">page {cursors.length}</span>
            <button
              className="btn btn-small"
              disabled={!hasMore}
              onClick={() => setCursors((c) => [...c, page.data?.issue?.eventPage.pageInfo.endCursor ?? null])}
            >
              Older
            </button>
          </>
        ) : (
          <button className="btn btn-small" disabled={!hasMore} onClick={() => setLimit((l) => l + EVENTS_PAGE)}>
            Load {EVENTS_PAGE} more ({compact(rows?.length ?? 0)} shown)
          </button>
        )}
      </div>
    </section>
  );
}

/** The services and operations the issue's events come from, and what it costs their traces. */
function TraceImpactBox({ issueId }: { issueId: string }) {
  const { caps } = useSession();
  const [result] = useQuery<{ issueTraceImpact: TraceImpact | null }>({
    query: ISSUE_TRACE_IMPACT,
    variables: { issueId },
    pause: !caps.traceImpact,
  });
  if (!caps.traceImpact) return null;
  const impact = result.data?.issueTraceImpact;
  return (
    <section data-testid="trace-impact">
      <h2>Traces</h2>
      {result.error ? (
        <ErrorBox error={result.error} />
      ) : !result.data ? (
        <Loading what="trace impact" />
      ) : !impact || impact.eventsWithTrace === 0 ? (
        <p className="muted small">None of this issue's latest events carries a trace.</p>
      ) : (
        <>
          <p className="small muted">
            {impact.eventsWithTrace} of the latest {impact.events} events in a trace, {impact.eventsWithSpan} in a received span.
          </p>
          {impact.sources.length > 0 && (
            <table className="grid small" data-testid="trace-sources">
              <thead>
                <tr>
                  <th>service</th>
                  <th>operation</th>
                  <th className="num">events</th>
                </tr>
              </thead>
              <tbody>
                {impact.sources.map((s) => (
                  <tr key={`${s.service}/${s.operation}`}>
                    <td>{s.service}</td>
                    <td className="ellipsis">{s.operation}</td>
                    <td className="num">{compact(s.events)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {impact.operations.length > 0 && (
            <table className="grid small" data-testid="trace-latency">
              <thead>
                <tr>
                  <th style={{ width: "37%" }} title="the root operation of the traces; latencies are p95">entry op (p95)</th>
                  <th className="num" title="p95 of traces containing this issue">with</th>
                  <th className="num" title="p95 of traces of the same operation without it">w/o</th>
                  <th className="num" title="p95 with the issue minus p95 without it">Δ</th>
                </tr>
              </thead>
              <tbody>
                {impact.operations.map((o) => (
                  <tr key={o.operation}>
                    <td className="ellipsis" title={`${o.withIssue.traces} traces with, ${o.withoutIssue.traces} without`}>
                      {o.operation}
                    </td>
                    <td className="num">{formatMs(o.withIssue.p95Ms)}</td>
                    <td className="num">{o.withoutIssue.traces ? formatMs(o.withoutIssue.p95Ms) : "—"}</td>
                    <td className="num">{o.p95SlowdownMs == null ? "—" : `${o.p95SlowdownMs >= 0 ? "+" : "−"}${formatMs(Math.abs(o.p95SlowdownMs))}`}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
