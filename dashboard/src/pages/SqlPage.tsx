// The SQL console: the documented tables beside the editor, example queries, the result as a
// table and a chart. The page is `/query` (`/sql` is the API); the query is in the URL (`?q=`), so a result can be shared.

import { useEffect, useMemo, useRef, useState } from "react";
import { useSearchParams } from "react-router";
import { useSession } from "../App";
import { runSql } from "../api/client";
import type { SqlResult } from "../api/types";
import { Chart } from "../components/Chart";
import { Empty, ErrorBox, Loading } from "../components/states";

/** The tables of sql/README.md, with the columns most queries need. */
const TABLES: { name: string; about: string; columns: string }[] = [
  { name: "events", about: "every stored event", columns: "project_id, event_id, timestamp, received, fingerprint, title, culprit, level, environment, release, message, exception_types, frame_functions, tag_keys, tag_values, user_key, user_email, trace_id, details" },
  { name: "issues", about: "one row per issue, with its totals", columns: "project_id, issue_id, title, culprit, level, platform, created_at, status, events, users, first_seen, last_seen" },
  { name: "issue_stats", about: "per issue and hour", columns: "project_id, issue_id, hour, events, users, first_seen, last_seen" },
  { name: "issue_state", about: "current lifecycle state", columns: "project_id, issue_id, status, actor, comment, changed_at" },
  { name: "issue_history", about: "every lifecycle transition", columns: "project_id, issue_id, from_status, to_status, actor, comment, changed_at" },
  { name: "issue_fingerprints", about: "fingerprint → issue", columns: "project_id, fingerprint, issue_id, updated_at" },
  { name: "projects", about: "projects", columns: "id, name, created_at" },
];

/** The first four are sql/README.md's examples, which run unchanged on both engines. */
const EXAMPLES: { label: string; sql: string }[] = [
  {
    label: "Top issues this week",
    sql: "SELECT i.title AS title, sum(s.events) AS events_this_week\nFROM issue_stats AS s\nJOIN issues AS i ON s.issue_id = i.issue_id AND s.project_id = i.project_id\nWHERE s.hour >= now() - INTERVAL '7' DAY\nGROUP BY i.title\nORDER BY events_this_week DESC, title\nLIMIT 10",
  },
  { label: "Errors per release", sql: "SELECT release, count(*) AS events, count(DISTINCT fingerprint) AS fingerprints\nFROM events\nGROUP BY release\nORDER BY events DESC, release" },
  { label: "Users affected per issue", sql: "SELECT title, users, events\nFROM issues\nORDER BY users DESC, events DESC, title" },
  {
    label: "Regressions over time",
    sql: "SELECT CAST(changed_at AS DATE) AS day, count(*) AS regressions\nFROM issue_history\nWHERE to_status = 'regressed'\nGROUP BY CAST(changed_at AS DATE)\nORDER BY day",
  },
  { label: "Events per level", sql: "SELECT level, count(*) AS events\nFROM events\nGROUP BY level\nORDER BY events DESC" },
  { label: "Events per hour", sql: "SELECT hour, sum(events) AS events\nFROM issue_stats\nGROUP BY hour\nORDER BY hour" },
];

type Run = { state: "idle" } | { state: "running" } | { state: "done"; result: SqlResult } | { state: "failed"; error: unknown };

export function SqlPage() {
  const { token } = useSession();
  const [params, setParams] = useSearchParams();
  const [text, setText] = useState(params.get("q") ?? EXAMPLES[0].sql);
  const [run, setRun] = useState<Run>({ state: "idle" });
  const abort = useRef<AbortController | null>(null);

  const execute = async (query: string) => {
    abort.current?.abort();
    const controller = new AbortController();
    abort.current = controller;
    setParams({ q: query }, { replace: true });
    setRun({ state: "running" });
    try {
      const result = await runSql(token, query, controller.signal);
      if (!controller.signal.aborted) setRun({ state: "done", result });
    } catch (error) {
      if (!controller.signal.aborted) setRun({ state: "failed", error });
    }
  };
  // A shared link runs its query on arrival.
  useEffect(() => {
    if (params.get("q")) execute(params.get("q")!);
    return () => abort.current?.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  return (
    <div className="page sql-page">
      <div className="sql-layout">
        <div className="sql-main">
          <h1>SQL</h1>
          <textarea
            className="sql-editor"
            aria-label="SQL query"
            spellCheck={false}
            value={text}
            onChange={(e) => setText(e.target.value)}
            onKeyDown={(e) => {
              if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
                e.preventDefault();
                execute(text);
              }
            }}
          />
          <div className="row">
            <button className="btn btn-primary" onClick={() => execute(text)} disabled={!text.trim() || run.state === "running"}>
              Run
            </button>
            <span className="muted small">Ctrl+Enter runs. Read-only: SELECT only; your token's projects only.</span>
          </div>
          {run.state === "idle" && <Empty>Write a query or pick an example, then run it.</Empty>}
          {run.state === "running" && <Loading what="the result" />}
          {run.state === "failed" && <ErrorBox error={run.error} />}
          {run.state === "done" && <ResultView result={run.result} />}
        </div>
        <aside className="sql-side">
          <h2>Examples</h2>
          <ul className="plain">
            {EXAMPLES.map((example) => (
              <li key={example.label}>
                <button
                  className="linkish"
                  onClick={() => {
                    setText(example.sql);
                    execute(example.sql);
                  }}
                >
                  {example.label}
                </button>
              </li>
            ))}
          </ul>
          <h2>Tables</h2>
          <dl className="tables">
            {TABLES.map((table) => (
              <div key={table.name}>
                <dt>
                  <button className="linkish" onClick={() => setText(`SELECT *\nFROM ${table.name}\nLIMIT 50`)}>
                    {table.name}
                  </button>{" "}
                  <span className="muted small">{table.about}</span>
                </dt>
                <dd className="small">{table.columns}</dd>
              </div>
            ))}
          </dl>
        </aside>
      </div>
    </div>
  );
}

/** SQL answers times as `YYYY-MM-DD HH:MM:SS` (UTC) or dates as `YYYY-MM-DD`. */
function parseTime(value: unknown): number {
  if (typeof value !== "string") return NaN;
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return Date.parse(`${value}T00:00:00Z`);
  if (/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(value)) return Date.parse(`${value.replace(" ", "T")}Z`);
  return /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : NaN;
}

function isNumeric(value: unknown): boolean {
  return typeof value === "number" || (typeof value === "string" && value.trim() !== "" && !Number.isNaN(Number(value)));
}

function ResultView({ result }: { result: SqlResult }) {
  // A chart when the first column names the rows (time or category) and others are numbers.
  const chart = useMemo(() => {
    const { columns, rows } = result;
    if (columns.length < 2 || rows.length < 1) return null;
    const numeric = columns.map((_, i) => i > 0 && rows.every((row) => row[i] == null || isNumeric(row[i])));
    const seriesIndexes = numeric.flatMap((isNum, i) => (isNum ? [i] : []));
    if (!seriesIndexes.length) return null;
    const shown = rows.slice(0, 500);
    const times = shown.map((row) => parseTime(row[0]));
    const isTime = times.every((t) => !Number.isNaN(t));
    const series = seriesIndexes.map((i) => ({ label: columns[i].name, values: shown.map((row) => (row[i] == null ? null : Number(row[i]))) }));
    if (isTime) {
      const order = shown.map((_, i) => i).sort((a, b) => times[a] - times[b]);
      return {
        x: order.map((i) => times[i] / 1000),
        series: series.map((s) => ({ ...s, values: order.map((i) => s.values[i]) })),
        time: true,
        labels: undefined,
      };
    }
    return { x: shown.map((_, i) => i), series, time: false, labels: shown.map((row) => String(row[0] ?? "")) };
  }, [result]);

  return (
    <div className="sql-result">
      <div className="muted small" data-testid="sql-summary">
        {result.rowCount.toLocaleString()} row{result.rowCount === 1 ? "" : "s"} in {result.elapsedMs} ms
        {result.truncated && " (truncated)"}
      </div>
      {result.rows.length === 0 ? (
        <Empty>The query returned no rows.</Empty>
      ) : (
        <>
          {chart && <Chart x={chart.x} series={chart.series} time={chart.time} labels={chart.labels} bars={!chart.time} height={200} />}
          <div className="table-scroll">
            <table className="grid sql-table" data-testid="sql-table">
              <thead>
                <tr>
                  {result.columns.map((column) => (
                    <th key={column.name} title={column.type}>
                      {column.name}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {result.rows.map((row, i) => (
                  <tr key={i}>
                    {row.map((cell, j) => (
                      <td key={j} className={isNumeric(cell) ? "num" : ""}>
                        {cell == null ? <span className="muted">null</span> : typeof cell === "object" ? JSON.stringify(cell) : String(cell)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </div>
  );
}
