// The issue list: filters, search and sort in the URL, bulk lifecycle actions, live updates
// from the `issueActivity` subscription, keyboard navigation (j/k, enter, x, /).

import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { useMutation, useQuery, useSubscription } from "urql";
import { useSession } from "../App";
import { ACKNOWLEDGE, IGNORE, ISSUES, ISSUES_LEGACY, ISSUE_ACTIVITY, RESOLVE } from "../api/queries";
import { ISSUE_STATUSES, type IssueActivity, type IssueRow, type IssueSort, type IssueStatus, type PageInfo } from "../api/types";
import { Sparkline } from "../components/Sparkline";
import { Empty, ErrorBox, Loading, NotAvailable } from "../components/states";
import { StatusBadge, LevelBadge } from "../components/badges";
import { absoluteTime, compact, RANGES, rangeStart, relativeTime } from "../format";

const PAGE_SIZE = 50;
const LEVELS = ["fatal", "error", "warning", "info", "debug"];
const SORTS: { key: IssueSort; label: string }[] = [
  { key: "LAST_SEEN", label: "Last seen" },
  { key: "FIRST_SEEN", label: "First seen" },
  { key: "EVENTS", label: "Events" },
  { key: "USERS", label: "Users" },
  { key: "TREND", label: "Trend" },
];

function listParam(params: URLSearchParams, key: string): string[] {
  return (params.get(key) ?? "").split(",").filter(Boolean);
}

export function IssuesPage() {
  const { caps, projectId, projects } = useSession();
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();

  const status = listParam(params, "status") as IssueStatus[];
  const level = listParam(params, "level");
  const environment = params.get("environment") ?? "";
  const release = params.get("release") ?? "";
  const range = params.get("range") ?? "all";
  const search = params.get("q") ?? "";
  const sort = (params.get("sort") as IssueSort) ?? "LAST_SEEN";
  const after = params.get("after");
  const page = Number(params.get("page") ?? "0") || 0;

  const update = useCallback(
    (changes: Record<string, string | null>) => {
      const next = new URLSearchParams(params);
      for (const [key, value] of Object.entries(changes)) {
        if (value === null || value === "") next.delete(key);
        else next.set(key, value);
      }
      // Any filter change starts again at the first page.
      if (!("after" in changes)) next.delete("after");
      if (!("page" in changes)) next.delete("page");
      setParams(next);
    },
    [params, setParams],
  );

  // The range's start is fixed when the range is chosen, so the variables stay stable.
  const from = useMemo(() => rangeStart(range), [range]);
  const variables = useMemo(() => {
    if (caps.connection) {
      const filter: Record<string, unknown> = {};
      if (status.length) filter.status = status;
      if (level.length) filter.level = level;
      if (environment) filter.environment = environment;
      if (release) filter.release = release;
      if (from) filter.from = from;
      if (search) filter.search = search;
      return { projectId, filter, sort, first: PAGE_SIZE, after };
    }
    return {
      projectId,
      status: status.length === 1 ? status[0] : null,
      sort: sort === "TREND" ? "LAST_SEEN" : sort,
      limit: PAGE_SIZE,
      offset: page * PAGE_SIZE,
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [caps.connection, projectId, params.toString(), from]);

  const [result, refetch] = useQuery<{
    issues: IssueRow[] | { totalCount: number; pageInfo: PageInfo; nodes: IssueRow[] };
  }>({ query: caps.connection ? ISSUES : ISSUES_LEGACY, variables, pause: !projectId });

  const connection = result.data
    ? Array.isArray(result.data.issues)
      ? { nodes: result.data.issues, totalCount: null, pageInfo: { hasNextPage: result.data.issues.length === PAGE_SIZE, endCursor: null } }
      : result.data.issues
    : null;

  // Live updates: changed issues are patched into the rows; new ones are counted until shown.
  const [live, setLive] = useState<Record<string, IssueRow>>({});
  const [newIssues, setNewIssues] = useState(0);
  useEffect(() => {
    setLive({});
    setNewIssues(0);
  }, [variables]);
  const [subscription] = useSubscription<{ issueActivity: IssueActivity }, void>(
    { query: ISSUE_ACTIVITY, variables: { projectId }, pause: !caps.subscriptions || !projectId },
    (_previous, data) => {
      const { kind, issue } = data.issueActivity;
      setLive((current) => ({ ...current, [issue.id]: issue }));
      if (kind === "NEW_ISSUE") setNewIssues((n) => n + 1);
    },
  );

  const rows = useMemo(() => (connection?.nodes ?? []).map((row) => live[row.id] ?? row), [connection?.nodes, live]);

  // Selection for bulk actions, and the keyboard cursor.
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [cursor, setCursor] = useState(0);
  useEffect(() => {
    setSelected(new Set());
    setCursor(0);
  }, [variables]);
  const searchBox = useRef<HTMLInputElement>(null);
  const tableBody = useRef<HTMLTableSectionElement>(null);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement;
      if (target.closest("input, textarea, select") || event.metaKey || event.ctrlKey || event.altKey) return;
      if (event.key === "j") setCursor((c) => Math.min(rows.length - 1, c + 1));
      else if (event.key === "k") setCursor((c) => Math.max(0, c - 1));
      else if (event.key === "Enter" && rows[cursor]) navigate(`/issues/${rows[cursor].id}`);
      else if (event.key === "x" && rows[cursor]) toggle(rows[cursor].id);
      else if (event.key === "/") searchBox.current?.focus();
      else return;
      event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });
  useEffect(() => {
    tableBody.current?.children[cursor]?.scrollIntoView({ block: "nearest" });
  }, [cursor]);

  const toggle = (id: string) =>
    setSelected((current) => {
      const next = new Set(current);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  const [ackState, acknowledge] = useMutation(ACKNOWLEDGE);
  const [resolveState, resolve] = useMutation(RESOLVE);
  const [ignoreState, ignore] = useMutation(IGNORE);
  const busy = ackState.fetching || resolveState.fetching || ignoreState.fetching;
  const actionError = ackState.error ?? resolveState.error ?? ignoreState.error;
  const bulk = async (action: typeof acknowledge) => {
    const ids = [...selected];
    const answer = await action({ ids });
    if (!answer.error) {
      setSelected(new Set());
      refetch({ requestPolicy: "network-only" });
    }
  };

  if (!projectId) {
    return (
      <Empty>
        No project yet. <Link to="/projects">Create one</Link> and send it errors.
      </Empty>
    );
  }
  const project = projects.find((p) => p.id === projectId);
  const filtersUnsupported = !caps.connection && (level.length || environment || release || range !== "all" || search || status.length > 1);

  return (
    <div className="page issues-page">
      <div className="page-head">
        <h1>
          Issues <span className="muted">{project ? project.name : `project ${projectId}`}</span>
        </h1>
        <div className="counts">
          {connection?.totalCount != null && <span data-testid="total-count">{connection.totalCount.toLocaleString()} issues</span>}
          {caps.subscriptions && (
            <span className={`live ${subscription.error ? "live-off" : "live-on"}`} title={subscription.error?.message ?? "updates arrive as they happen"}>
              {subscription.error ? "live updates off" : "● live"}
            </span>
          )}
        </div>
      </div>

      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          update({ q: searchBox.current?.value ?? "" });
        }}
      >
        <input ref={searchBox} key={search} defaultValue={search} placeholder="Search title, message, culprit  ( / )" className="search" aria-label="Search" />
        <div className="chips" role="group" aria-label="Status">
          {ISSUE_STATUSES.map((s) => (
            <button
              type="button"
              key={s}
              className={`chip ${status.includes(s) ? "chip-on" : ""}`}
              aria-pressed={status.includes(s)}
              onClick={() => update({ status: (status.includes(s) ? status.filter((x) => x !== s) : [...status, s]).join(",") })}
            >
              {s.toLowerCase()}
            </button>
          ))}
        </div>
        <select aria-label="Level" value={level[0] ?? ""} onChange={(e) => update({ level: e.target.value })}>
          <option value="">any level</option>
          {LEVELS.map((l) => (
            <option key={l}>{l}</option>
          ))}
        </select>
        <input aria-label="Environment" placeholder="environment" defaultValue={environment} key={`env-${environment}`} onBlur={(e) => e.target.value !== environment && update({ environment: e.target.value })} />
        <input aria-label="Release" placeholder="release" defaultValue={release} key={`rel-${release}`} onBlur={(e) => e.target.value !== release && update({ release: e.target.value })} />
        <select aria-label="Time range" value={range} onChange={(e) => update({ range: e.target.value === "all" ? null : e.target.value })}>
          {RANGES.map((r) => (
            <option key={r.key} value={r.key}>
              {r.key === "all" ? "all time" : `last ${r.label}`}
            </option>
          ))}
        </select>
        <select aria-label="Sort" value={sort} onChange={(e) => update({ sort: e.target.value === "LAST_SEEN" ? null : e.target.value })}>
          {SORTS.filter((s) => caps.connection || s.key !== "TREND").map((s) => (
            <option key={s.key} value={s.key}>
              sort: {s.label}
            </option>
          ))}
        </select>
      </form>
      {filtersUnsupported ? (
        <NotAvailable what="Filtering by level, environment, release, time, search or several statuses">
          This server's API filters by one status only; the list below ignores the other filters.
        </NotAvailable>
      ) : null}

      <div className="bulkbar">
        <span className="muted">{selected.size ? `${selected.size} selected` : "Select issues (x) to act on several"}</span>
        <button className="btn btn-small" disabled={!selected.size || busy || !caps.lifecycle} onClick={() => bulk(acknowledge)}>
          Acknowledge
        </button>
        <button className="btn btn-small" disabled={!selected.size || busy || !caps.lifecycle} onClick={() => bulk(resolve)}>
          Resolve
        </button>
        <button className="btn btn-small" disabled={!selected.size || busy || !caps.lifecycle} onClick={() => bulk(ignore)}>
          Ignore
        </button>
        {!caps.lifecycle && <span className="muted">(lifecycle actions are not available on this server yet)</span>}
        {newIssues > 0 && (
          <button className="btn btn-small btn-primary" onClick={() => refetch({ requestPolicy: "network-only" })}>
            {newIssues} new issue{newIssues > 1 ? "s" : ""}: show
          </button>
        )}
        <span className="keys muted">j/k move · enter open · x select · / search</span>
      </div>
      {actionError && <ErrorBox error={actionError} />}

      {result.error ? (
        <ErrorBox error={result.error} retry={() => refetch({ requestPolicy: "network-only" })} />
      ) : !connection ? (
        <Loading what="issues" />
      ) : rows.length === 0 ? (
        <Empty>
          {status.length || level.length || environment || release || search || range !== "all"
            ? "No issue matches these filters."
            : "No issues yet: send this project an error (its DSN is on the Projects page)."}
        </Empty>
      ) : (
        <table className="grid issues" data-testid="issues-table">
          <thead>
            <tr>
              <th className="col-check">
                <input
                  type="checkbox"
                  aria-label="Select all"
                  checked={selected.size > 0 && selected.size === rows.length}
                  onChange={(e) => setSelected(e.target.checked ? new Set(rows.map((r) => r.id)) : new Set())}
                />
              </th>
              <th>Issue</th>
              <th>Status</th>
              <th className="num">Events</th>
              <th className="num">Users</th>
              <th>First seen</th>
              <th>Last seen</th>
              <th>24h</th>
            </tr>
          </thead>
          <tbody ref={tableBody}>
            {rows.map((issue, index) => (
              <tr
                key={issue.id}
                data-issue-id={issue.id}
                className={`${index === cursor ? "cursor" : ""} ${selected.has(issue.id) ? "selected" : ""}`}
                onClick={() => setCursor(index)}
              >
                <td className="col-check">
                  <input type="checkbox" aria-label={`Select issue ${issue.id}`} checked={selected.has(issue.id)} onChange={() => toggle(issue.id)} />
                </td>
                <td className="col-title">
                  <LevelBadge level={issue.level} />
                  <Link to={`/issues/${issue.id}`} className="issue-title">
                    {issue.title}
                  </Link>
                  <div className="culprit">{issue.culprit}</div>
                </td>
                <td>
                  <StatusBadge status={issue.status} />
                </td>
                <td className="num" data-testid="events">
                  {compact(issue.count)}
                </td>
                <td className="num" data-testid="users">
                  {compact(issue.userCount)}
                </td>
                <td title={absoluteTime(issue.firstSeen)}>{relativeTime(issue.firstSeen)}</td>
                <td title={absoluteTime(issue.lastSeen)}>{relativeTime(issue.lastSeen)}</td>
                <td>
                  <Sparkline values={issue.sparkline} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <div className="pager">
        {caps.connection ? (
          <>
            <button className="btn btn-small" disabled={!after} onClick={() => update({ after: null })}>
              First page
            </button>
            <button
              className="btn btn-small"
              disabled={!connection?.pageInfo.hasNextPage}
              onClick={() => update({ after: connection?.pageInfo.endCursor ?? null })}
            >
              Next page
            </button>
          </>
        ) : (
          <>
            <button className="btn btn-small" disabled={page === 0} onClick={() => update({ page: page > 1 ? String(page - 1) : null })}>
              Previous page
            </button>
            <span className="muted">page {page + 1}</span>
            <button className="btn btn-small" disabled={!connection?.pageInfo.hasNextPage} onClick={() => update({ page: String(page + 1) })}>
              Next page
            </button>
          </>
        )}
      </div>
    </div>
  );
}
