// Alerts (issue 7): the project's rules with their state, a rule's details, group states,
// history (evaluation outcomes and webhook deliveries), "test" (what an evaluation now would
// record and send), and the editor for every rule kind. The selected rule is in the URL
// (`?rule=ID`, `?rule=new`, `&edit=1`). Against a server without alert rules the page says so.

import { useEffect, useMemo, useState, type ReactNode } from "react";
import { Link, useSearchParams } from "react-router";
import { CombinedError, useMutation, useQuery } from "urql";
import { useSession } from "../App";
import { describeError, runSql } from "../api/client";
import { ALERT_HISTORY, ALERT_RULES, CREATE_ALERT_RULE, DELETE_ALERT_RULE, TEST_ALERT_RULE, UPDATE_ALERT_RULE } from "../api/queries";
import type {
  AlertComparison,
  AlertDelivery,
  AlertEvent,
  AlertRule,
  AlertRuleInput,
  AlertRuleKind,
  AlertTestResult,
  PageInfo,
  WebhookFormat,
} from "../api/types";
import { Empty, ErrorBox, Loading, NotAvailable } from "../components/states";
import { absoluteTime, pretty, relativeTime } from "../format";

const KINDS: { kind: AlertRuleKind; label: string; help: string }[] = [
  { kind: "SQL", label: "SQL threshold", help: "A read-only query returning one number, or one row per group key (key first, number last)." },
  { kind: "NEW_ISSUE", label: "New issue", help: "Fires for each issue first seen in the window." },
  { kind: "REGRESSION", label: "Regression", help: "Fires for each resolved issue that came back." },
  { kind: "FREQUENCY", label: "Frequency", help: "More than N events of one issue in the window." },
  { kind: "USER_IMPACT", label: "User impact", help: "More than N distinct users of one issue in the window." },
  { kind: "SPIKE", label: "Spike", help: "An issue's rate above k × its own baseline, and at least `floor` events." },
];
const kindLabel = (kind: AlertRuleKind) => KINDS.find((k) => k.kind === kind)?.label ?? kind;

const COMPARISONS: { value: AlertComparison; label: string }[] = [
  { value: "GT", label: ">" },
  { value: "GTE", label: "≥" },
  { value: "LT", label: "<" },
  { value: "LTE", label: "≤" },
  { value: "EQ", label: "=" },
  { value: "NE", label: "≠" },
];

const EXAMPLE_SQL = [
  {
    label: "errors in the window",
    sql: "SELECT count(*) FROM events\nWHERE level = 'error' AND received >= {window_start} AND received < {window_end}",
  },
  {
    label: "events per release",
    sql: "SELECT release, count(*) FROM events\nWHERE received >= {window_start} AND received < {window_end}\nGROUP BY release",
  },
];

function seconds(value: number | null | undefined): string {
  if (value == null) return "—";
  if (value === 0) return "0";
  if (value % 86400 === 0) return `${value / 86400}d`;
  if (value % 3600 === 0) return `${value / 3600}h`;
  if (value % 60 === 0) return `${value / 60}m`;
  return `${value}s`;
}

function ruleStatus(rule: AlertRule): { status: string; firing: string[] } {
  const firing = rule.states.filter((s) => s.status === "firing").map((s) => s.groupKey || "(value)");
  if (!rule.enabled) return { status: "disabled", firing };
  return { status: firing.length ? "firing" : "ok", firing };
}

/** A group key: built-in rules group by issue, so their keys link to the issue. */
function GroupKey({ kind, value }: { kind: AlertRuleKind | null; value: string }) {
  if (!value) return <span className="muted">(one value)</span>;
  if (kind && kind !== "SQL" && /^\d+$/.test(value)) return <Link to={`/issues/${value}`}>issue {value}</Link>;
  return <>{value}</>;
}

function StatusPill({ status }: { status: string }) {
  return (
    <span className={`badge alert-status-${status}`} data-testid="rule-status">
      {status}
    </span>
  );
}

export function AlertsPage() {
  const { caps, projectId } = useSession();
  return (
    <div className="page alerts-page">
      <h1>Alerts</h1>
      {caps.alerts ? (
        projectId ? (
          <Alerts projectId={projectId} />
        ) : (
          <Empty>
            No project yet: <Link to="/projects">create one</Link>.
          </Empty>
        )
      ) : caps.alertsUnknown ? (
        <NotAvailable what="The alert rule editor">
          This server's API has alert fields, but not the ones this dashboard build knows: update the dashboard.
        </NotAvailable>
      ) : (
        <NotAvailable what="Alerting">
          This server's API has no alert rules yet, so there is nothing to list or edit. Until then, watch for
          regressions on the <Link to="/issues?status=REGRESSED">issue list</Link> or query the data in the{" "}
          <Link to="/query">SQL console</Link>.
        </NotAvailable>
      )}
    </div>
  );
}

/** A SQL time ("2026-01-02 03:04:05", no zone: UTC) as ISO 8601. */
function utc(value: string): string {
  const iso = value.replace(" ", "T");
  return /[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`;
}

/** The newest evaluation of each rule, from the `alert_events` table (one SQL query). */
function useLastEvaluations(projectId: string, rules: AlertRule[] | undefined): Map<string, string> | null {
  const { token } = useSession();
  const [last, setLast] = useState<Map<string, string> | null>(null);
  useEffect(() => {
    if (!rules?.length || !/^\d+$/.test(projectId)) return;
    const abort = new AbortController();
    runSql(token, `SELECT rule_id, max(at) AS last_at FROM alert_events WHERE project_id = ${projectId} GROUP BY rule_id`, abort.signal)
      .then((result) => setLast(new Map(result.rows.map((row) => [String(row[0]), utc(String(row[1]))]))))
      .catch(() => setLast(null));
    return () => abort.abort();
    // Each answer of the rules query (a refresh included) is a new array: read again then.
  }, [rules, projectId, token]);
  return last;
}

function Alerts({ projectId }: { projectId: string }) {
  const [params, setParams] = useSearchParams();
  const [result, refetch] = useQuery<{ alertRules: AlertRule[] }>({ query: ALERT_RULES, variables: { projectId } });
  const rules = result.data?.alertRules;
  const lastEvaluations = useLastEvaluations(projectId, rules);
  const selected = params.get("rule");
  const editing = params.get("edit") === "1";
  const select = (rule: string | null, edit = false) => {
    const next = new URLSearchParams(params);
    if (rule) next.set("rule", rule);
    else next.delete("rule");
    if (edit) next.set("edit", "1");
    else next.delete("edit");
    setParams(next);
  };
  const reload = () => refetch({ requestPolicy: "network-only" });
  // Rule states change with every evaluation: refresh the list while the page is visible.
  useEffect(() => {
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible" && !editing && selected !== "new") refetch({ requestPolicy: "network-only" });
    }, 30_000);
    return () => window.clearInterval(timer);
  }, [refetch, editing, selected]);
  const selectedRule = rules?.find((r) => r.id === selected) ?? null;

  let side: ReactNode;
  if (selected === "new") {
    side = <RuleEditor projectId={projectId} rule={null} onSaved={(rule) => { reload(); select(rule.id); }} onCancel={() => select(null)} />;
  } else if (selected && rules && !selectedRule) {
    side = <Empty>There is no alert rule {selected} in this project (it may have been deleted).</Empty>;
  } else if (selectedRule && editing) {
    side = <RuleEditor key={selectedRule.id} projectId={projectId} rule={selectedRule} onSaved={(rule) => { reload(); select(rule.id); }} onCancel={() => select(selectedRule.id)} />;
  } else if (selectedRule) {
    side = <RuleDetail key={selectedRule.id} rule={selectedRule} onEdit={() => select(selectedRule.id, true)} onDeleted={() => { reload(); select(null); }} onChanged={reload} />;
  } else {
    side = <p className="muted">Select a rule to see its state, history and deliveries, or create one.</p>;
  }

  return (
    <div className="alerts-layout">
      <section>
        <div className="row">
          <button className="btn btn-primary" onClick={() => select("new")} data-testid="new-rule">
            New rule
          </button>
          <button className="btn btn-small" onClick={reload}>
            Refresh
          </button>
          {rules && <span className="muted small">{rules.length} rules</span>}
        </div>
        {result.error ? (
          <ErrorBox error={result.error} retry={reload} />
        ) : !rules ? (
          <Loading what="alert rules" />
        ) : rules.length === 0 ? (
          <Empty>No alert rule in this project yet. Create one: a SQL threshold, or a built-in new issue, regression, frequency, user impact or spike rule.</Empty>
        ) : (
          <table className="grid" data-testid="rules-table">
            <thead>
              <tr>
                <th style={{ width: "30%" }}>name</th>
                <th style={{ width: "15%" }}>kind</th>
                <th style={{ width: "10%" }}>status</th>
                <th title="group keys firing now">firing</th>
                <th className="num" style={{ width: "8%" }}>
                  every
                </th>
                <th style={{ width: "15%" }}>last eval.</th>
              </tr>
            </thead>
            <tbody>
              {rules.map((rule) => {
                const { status, firing } = ruleStatus(rule);
                const last = lastEvaluations?.get(rule.id);
                return (
                  <tr key={rule.id} data-testid="rule-row" data-rule-id={rule.id} className={rule.id === selected ? "selected-rule" : ""}>
                    <td className="ellipsis">
                      <Link to={`/alerts?rule=${rule.id}`} className="rule-name" title={rule.description}>
                        {rule.name}
                      </Link>
                    </td>
                    <td className="nowrap small">{kindLabel(rule.kind)}</td>
                    <td>
                      <StatusPill status={status} />
                    </td>
                    <td className="small ellipsis" title={firing.join(", ")}>
                      {firing.length ? `${firing.length}: ${firing.slice(0, 3).join(", ")}${firing.length > 3 ? "…" : ""}` : ""}
                    </td>
                    <td className="num small">{seconds(rule.intervalSeconds)}</td>
                    <td className="small nowrap" title={last ? absoluteTime(last) : "no evaluation recorded yet"}>
                      {last ? relativeTime(last) : "—"}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
      <section data-testid="rule-side">{side}</section>
    </div>
  );
}

/** The rule as the editor's input (the secret is never read back: absent keeps it). */
function inputOf(rule: AlertRule): AlertRuleInput {
  return {
    projectId: rule.projectId,
    name: rule.name,
    kind: rule.kind,
    sql: rule.sql,
    comparison: rule.comparison,
    threshold: rule.kind === "SQL" || rule.kind === "FREQUENCY" || rule.kind === "USER_IMPACT" ? rule.threshold : null,
    factor: rule.factor,
    baselineSeconds: rule.baselineSeconds,
    floor: rule.floor,
    intervalSeconds: rule.intervalSeconds,
    windowSeconds: rule.windowSeconds,
    cooldownSeconds: rule.cooldownSeconds,
    maxNotificationsPerHour: rule.maxNotificationsPerHour,
    notifyOnResolve: rule.notifyOnResolve,
    webhookUrl: rule.webhookUrl,
    webhookFormat: rule.webhookFormat,
    enabled: rule.enabled,
  };
}

function RuleDetail({ rule, onEdit, onDeleted, onChanged }: { rule: AlertRule; onEdit: () => void; onDeleted: () => void; onChanged: () => void }) {
  const [deleteState, deleteRule] = useMutation<{ deleteAlertRule: boolean }>(DELETE_ALERT_RULE);
  const [toggleState, updateRule] = useMutation<{ updateAlertRule: AlertRule }>(UPDATE_ALERT_RULE);
  const [testState, testRule] = useMutation<{ testAlertRule: AlertTestResult }>(TEST_ALERT_RULE);
  const { status } = ruleStatus(rule);
  const params: [string, ReactNode][] = [
    ["kind", kindLabel(rule.kind)],
    ["condition", rule.description],
  ];
  if (rule.kind === "SQL") params.push(["sql", <pre className="message small" key="sql">{rule.sql}</pre>]);
  params.push(
    ["interval / window", `${seconds(rule.intervalSeconds)} / ${seconds(rule.windowSeconds)}`],
    ["cooldown", seconds(rule.cooldownSeconds)],
    ["cap", rule.maxNotificationsPerHour ? `${rule.maxNotificationsPerHour} notifications per hour` : "no limit"],
    ["on resolve", rule.notifyOnResolve ? "notified" : "not notified"],
    [
      "webhook",
      rule.webhookUrl ? (
        <>
          <code>{rule.webhookUrl}</code> ({rule.webhookFormat === "SLACK" ? "Slack" : "JSON"}
          {rule.hasWebhookSecret ? ", signed" : ", unsigned"})
        </>
      ) : (
        <span className="muted">none (outcomes are only recorded)</span>
      ),
    ],
    ["updated", `${relativeTime(rule.updatedAt)} (created ${absoluteTime(rule.createdAt)})`],
  );
  const busy = deleteState.fetching || toggleState.fetching;
  const error = deleteState.error ?? toggleState.error;
  return (
    <div data-testid="rule-detail">
      <div className="page-head">
        <h2 style={{ textTransform: "none", fontSize: 15, color: "inherit" }}>{rule.name}</h2>
        <StatusPill status={status} />
      </div>
      <div className="row">
        <button className="btn" onClick={onEdit}>
          Edit
        </button>
        <button className="btn" data-testid="test-rule" disabled={testState.fetching} onClick={() => testRule({ id: rule.id })}>
          {testState.fetching ? "Testing…" : "Test rule"}
        </button>
        <button
          className="btn"
          disabled={busy}
          onClick={async () => {
            const r = await updateRule({ id: rule.id, input: { ...inputOf(rule), enabled: !rule.enabled } });
            if (!r.error) onChanged();
          }}
        >
          {rule.enabled ? "Disable" : "Enable"}
        </button>
        <button
          className="btn"
          disabled={busy}
          data-testid="delete-rule"
          onClick={async () => {
            if (!window.confirm(`Delete the rule "${rule.name}"? Its history stays queryable by SQL.`)) return;
            const r = await deleteRule({ id: rule.id });
            if (!r.error) onDeleted();
          }}
        >
          Delete
        </button>
      </div>
      {error && <ErrorBox error={error} />}
      <table className="kv">
        <tbody>
          {params.map(([key, value]) => (
            <tr key={key}>
              <th>{key}</th>
              <td>{value}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {(testState.data || testState.error) && <TestResult result={testState.data?.testAlertRule ?? null} error={testState.error ?? null} kind={rule.kind} />}
      <h2>State per group key</h2>
      {rule.states.length === 0 ? (
        <p className="muted small">Nothing has fired yet.</p>
      ) : (
        <table className="grid small" data-testid="rule-states">
          <thead>
            <tr>
              <th>group key</th>
              <th>status</th>
              <th className="num">value</th>
              <th>since</th>
              <th>last notified</th>
            </tr>
          </thead>
          <tbody>
            {rule.states.map((s) => (
              <tr key={s.groupKey}>
                <td className="ellipsis">
                  <GroupKey kind={rule.kind} value={s.groupKey} />
                </td>
                <td>
                  <span className={`badge alert-status-${s.status}`}>{s.status}</span>
                </td>
                <td className="num">{s.value}</td>
                <td title={absoluteTime(s.since)}>{relativeTime(s.since)}</td>
                <td>{s.lastNotifiedAt ? relativeTime(s.lastNotifiedAt) : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <RuleHistory ruleId={rule.id} kind={rule.kind} />
    </div>
  );
}

const HISTORY_PAGE = 30;

function RuleHistory({ ruleId, kind }: { ruleId: string; kind: AlertRuleKind }) {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [result, refetch] = useQuery<{
    alertEvents: { nodes: AlertEvent[]; pageInfo: PageInfo };
    alertDeliveries: { nodes: AlertDelivery[]; pageInfo: PageInfo };
  }>({ query: ALERT_HISTORY, variables: { ruleId, first: HISTORY_PAGE, after: cursors[cursors.length - 1] } });
  const [onlyChanges, setOnlyChanges] = useState(false);
  if (result.error) return <ErrorBox error={result.error} retry={() => refetch({ requestPolicy: "network-only" })} />;
  if (!result.data) return <Loading what="the rule's history" />;
  const { alertEvents, alertDeliveries } = result.data;
  const events = onlyChanges ? alertEvents.nodes.filter((e) => e.outcome !== "ok" && e.outcome !== "still_firing") : alertEvents.nodes;
  return (
    <>
      <h2>
        History
        <button className="btn btn-small" onClick={() => refetch({ requestPolicy: "network-only" })}>
          refresh
        </button>
        <label className="toggle">
          <input type="checkbox" checked={onlyChanges} onChange={(e) => setOnlyChanges(e.target.checked)} /> only changes
        </label>
      </h2>
      {events.length === 0 ? (
        <p className="muted small" data-testid="rule-history-empty">
          No evaluation recorded {cursors.length > 1 ? "on this page" : "yet"}.
        </p>
      ) : (
        <EventsTable events={events} testid="rule-history" kind={kind} />
      )}
      <div className="pager">
        {cursors.length > 1 && (
          <button className="btn btn-small" onClick={() => setCursors(cursors.slice(0, -1))}>
            newer
          </button>
        )}
        {alertEvents.pageInfo.hasNextPage && (
          <button className="btn btn-small" onClick={() => setCursors([...cursors, alertEvents.pageInfo.endCursor])}>
            older
          </button>
        )}
      </div>
      <h2>Webhook deliveries</h2>
      {alertDeliveries.nodes.length === 0 ? (
        <p className="muted small">No notification sent yet.</p>
      ) : (
        <DeliveriesTable deliveries={alertDeliveries.nodes} />
      )}
    </>
  );
}

function EventsTable({ events, testid, kind = null }: { events: AlertEvent[]; testid: string; kind?: AlertRuleKind | null }) {
  return (
    <table className="grid small" data-testid={testid}>
      <thead>
        <tr>
          <th style={{ width: 64 }}>at</th>
          <th style={{ width: "22%" }}>group key</th>
          <th style={{ width: 84 }}>outcome</th>
          <th className="num" style={{ width: 56 }}>
            value
          </th>
          <th style={{ width: 96 }}>notification</th>
          <th>message</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e, i) => (
          <tr key={e.id || i}>
            <td className="nowrap" title={absoluteTime(e.at)}>
              {relativeTime(e.at)}
            </td>
            <td className="ellipsis">
              <GroupKey kind={kind} value={e.groupKey} />
            </td>
            <td>
              <span className={`badge alert-status-${e.outcome === "still_firing" ? "firing" : e.outcome === "error" ? "firing" : e.outcome}`}>{e.outcome}</span>
            </td>
            <td className="num">{e.value}</td>
            <td>{e.notification.replace(/_/g, " ")}</td>
            <td className="ellipsis" title={e.message}>
              {e.message}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function DeliveriesTable({ deliveries }: { deliveries: AlertDelivery[] }) {
  const [open, setOpen] = useState<string | null>(null);
  return (
    <table className="grid small" data-testid="deliveries">
      <thead>
        <tr>
          <th style={{ width: 64 }}>created</th>
          <th style={{ width: "30%" }}>url</th>
          <th style={{ width: 88 }}>status</th>
          <th className="num" style={{ width: 72 }}>
            attempts
          </th>
          <th>last answer</th>
          <th style={{ width: 64 }} />
        </tr>
      </thead>
      <tbody>
        {deliveries.map((d, i) => {
          const key = d.id || String(i);
          return [
            <tr key={key}>
              <td className="nowrap" title={absoluteTime(d.createdAt)}>
                {d.createdAt ? relativeTime(d.createdAt) : "—"}
              </td>
              <td className="ellipsis" title={d.url}>
                {d.url}
              </td>
              <td>
                <span className={`badge alert-status-${d.status === "delivered" ? "ok" : d.status === "failed" ? "firing" : "resolved"}`}>{d.status}</span>
              </td>
              <td className="num">{d.attempts}</td>
              <td className="ellipsis" title={d.lastError}>
                {d.lastStatusCode ? `HTTP ${d.lastStatusCode}` : ""} {d.lastError}
                {d.status === "pending" && d.attempts > 0 && <span className="muted"> · next {relativeTime(d.nextAttemptAt)}</span>}
              </td>
              <td>
                <button className="linkish small" onClick={() => setOpen(open === key ? null : key)}>
                  {open === key ? "hide" : "payload"}
                </button>
              </td>
            </tr>,
            open === key && (
              <tr key={`${key}-payload`}>
                <td colSpan={6}>
                  <pre className="payload">{pretty(d.payload)}</pre>
                </td>
              </tr>
            ),
          ];
        })}
      </tbody>
    </table>
  );
}

function TestResult({ result, error, kind }: { result: AlertTestResult | null; error: CombinedError | null; kind: AlertRuleKind }) {
  return (
    <div className="card" data-testid="test-result">
      <div className="card-head">
        <b>Test: what an evaluation now would record and send</b>
        <span className="muted small">(nothing was stored or sent)</span>
      </div>
      {error ? (
        <div className="rule-error" data-testid="rule-error">
          {describeError(error).message}
        </div>
      ) : result ? (
        <>
          {result.events.length === 0 ? (
            <p className="muted small">No outcome: there is nothing to evaluate in the window.</p>
          ) : (
            <EventsTable events={result.events} testid="test-events" kind={kind} />
          )}
          {result.deliveries.length === 0 ? (
            <p className="small" data-testid="test-no-delivery">
              It would send nothing{result.events.some((e) => e.notification.startsWith("suppressed")) ? " (suppressed by cooldown or cap)" : ""}.
            </p>
          ) : (
            result.deliveries.map((d, i) => (
              <div key={i}>
                <div className="small">
                  It would POST to <code>{d.url}</code>:
                </div>
                <pre className="payload" data-testid="test-payload">
                  {pretty(d.payload)}
                </pre>
              </div>
            ))
          )}
        </>
      ) : null}
    </div>
  );
}

// ---- the editor ----

interface Form {
  name: string;
  kind: AlertRuleKind;
  sql: string;
  comparison: AlertComparison;
  threshold: string;
  factor: string;
  baselineSeconds: string;
  floor: string;
  intervalSeconds: string;
  windowSeconds: string;
  cooldownSeconds: string;
  maxNotificationsPerHour: string;
  notifyOnResolve: "" | "true" | "false";
  webhookUrl: string;
  webhookSecret: string;
  removeSecret: boolean;
  webhookFormat: WebhookFormat;
  enabled: boolean;
}

const text = (value: number | null | undefined) => (value == null ? "" : String(value));

function formOf(rule: AlertRule | null): Form {
  return {
    name: rule?.name ?? "",
    kind: rule?.kind ?? "SQL",
    sql: rule?.sql ?? EXAMPLE_SQL[0].sql,
    comparison: rule?.comparison ?? "GT",
    threshold: text(rule?.threshold),
    factor: text(rule?.factor),
    baselineSeconds: text(rule?.baselineSeconds),
    floor: text(rule?.floor),
    intervalSeconds: text(rule?.intervalSeconds ?? 60),
    windowSeconds: text(rule?.windowSeconds),
    cooldownSeconds: text(rule?.cooldownSeconds ?? 300),
    maxNotificationsPerHour: text(rule?.maxNotificationsPerHour ?? 20),
    notifyOnResolve: rule ? (rule.notifyOnResolve ? "true" : "false") : "",
    webhookUrl: rule?.webhookUrl ?? "",
    webhookSecret: "",
    removeSecret: false,
    webhookFormat: rule?.webhookFormat ?? "JSON",
    enabled: rule?.enabled ?? true,
  };
}

type FieldErrors = Partial<Record<keyof Form | "general", string>>;

/** Checks what the browser can (the server checks the rest, SQL included); builds the input. */
function toInput(projectId: string, form: Form, editing: boolean): { input: AlertRuleInput | null; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const number = (field: keyof Form, { integer = false, required = false, min = 0 } = {}): number | null => {
    const raw = String(form[field]).trim();
    if (raw === "") {
      if (required) errors[field] = "required";
      return null;
    }
    const value = Number(raw);
    if (!Number.isFinite(value)) errors[field] = "not a number";
    else if (integer && !Number.isInteger(value)) errors[field] = "a whole number";
    else if (value < min) errors[field] = `at least ${min}`;
    return value;
  };
  if (!form.name.trim()) errors.name = "a rule needs a name";
  const input: AlertRuleInput = {
    projectId,
    name: form.name.trim(),
    kind: form.kind,
    intervalSeconds: number("intervalSeconds", { integer: true, min: 1 }),
    windowSeconds: number("windowSeconds", { integer: true, min: 1 }),
    cooldownSeconds: number("cooldownSeconds", { integer: true }),
    maxNotificationsPerHour: number("maxNotificationsPerHour", { integer: true }),
    notifyOnResolve: form.notifyOnResolve === "" ? null : form.notifyOnResolve === "true",
    webhookUrl: form.webhookUrl.trim() || null,
    webhookFormat: form.webhookUrl.trim() ? form.webhookFormat : null,
    enabled: form.enabled,
  };
  if (form.removeSecret) input.webhookSecret = "";
  else if (form.webhookSecret) input.webhookSecret = form.webhookSecret;
  else if (!editing) input.webhookSecret = null;
  if (input.webhookUrl && !/^https?:\/\/\S+$/.test(input.webhookUrl)) errors.webhookUrl = "an http:// or https:// URL";
  switch (form.kind) {
    case "SQL":
      if (!form.sql.trim()) errors.sql = "a SQL rule needs a query";
      input.sql = form.sql;
      input.comparison = form.comparison;
      input.threshold = number("threshold", { required: true, min: -Infinity });
      break;
    case "FREQUENCY":
    case "USER_IMPACT":
      input.threshold = number("threshold", { required: true, integer: true });
      break;
    case "SPIKE":
      input.factor = number("factor", { required: true });
      input.baselineSeconds = number("baselineSeconds", { integer: true, min: 1 });
      input.floor = number("floor", { integer: true });
      break;
    default:
      break;
  }
  return { input: Object.keys(errors).length ? null : input, errors };
}

/** Puts a server message beside the field it names (BAD_REQUEST messages name their field). */
function placeServerError(message: string, kind: AlertRuleKind): FieldErrors {
  const rules: [RegExp, keyof Form][] = [
    [/interval/i, "intervalSeconds"],
    [/window/i, "windowSeconds"],
    [/cooldown/i, "cooldownSeconds"],
    [/notifications|per hour|cap\b/i, "maxNotificationsPerHour"],
    [/webhook|url/i, "webhookUrl"],
    [/factor/i, "factor"],
    [/baseline/i, "baselineSeconds"],
    [/floor/i, "floor"],
    [/threshold/i, "threshold"],
    [/name/i, "name"],
  ];
  if (kind === "SQL" && /sql|query|select|parse|column|table|read-only|number/i.test(message)) return { sql: message };
  for (const [pattern, field] of rules) if (pattern.test(message)) return { [field]: message };
  return { general: message };
}

function FieldError({ errors, field }: { errors: FieldErrors; field: keyof Form }) {
  return errors[field] ? (
    <div className="field-error" data-testid={`error-${field}`}>
      {errors[field]}
    </div>
  ) : null;
}

function RuleEditor({ projectId, rule, onSaved, onCancel }: { projectId: string; rule: AlertRule | null; onSaved: (rule: AlertRule) => void; onCancel: () => void }) {
  const [form, setForm] = useState<Form>(() => formOf(rule));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [createState, createRule] = useMutation<{ createAlertRule: AlertRule }>(CREATE_ALERT_RULE);
  const [updateState, updateRule] = useMutation<{ updateAlertRule: AlertRule }>(UPDATE_ALERT_RULE);
  const [testState, testRule] = useMutation<{ testAlertRule: AlertTestResult }>(TEST_ALERT_RULE);
  const [tested, setTested] = useState(false);
  const set = <K extends keyof Form>(key: K, value: Form[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    setErrors((e) => ({ ...e, [key]: undefined, general: undefined }));
  };
  const saving = createState.fetching || updateState.fetching;
  const occurrence = form.kind === "NEW_ISSUE" || form.kind === "REGRESSION";
  const windowDefault = useMemo(() => {
    const interval = Number(form.intervalSeconds) || 60;
    return occurrence ? interval * 2 : interval;
  }, [form.intervalSeconds, occurrence]);

  const serverError = (error: CombinedError) => {
    const { message } = describeError(error);
    const bad = error.graphQLErrors.some((e) => e.extensions?.code === "BAD_REQUEST");
    setErrors(bad ? placeServerError(message, form.kind) : { general: message });
  };

  const save = async () => {
    const { input, errors } = toInput(projectId, form, !!rule);
    setErrors(errors);
    if (!input) return;
    const result = rule ? await updateRule({ id: rule.id, input }) : await createRule({ input });
    if (result.error) return serverError(result.error);
    const saved = rule ? (result.data as { updateAlertRule?: AlertRule }).updateAlertRule : (result.data as { createAlertRule?: AlertRule }).createAlertRule;
    if (saved) onSaved(saved);
  };
  const test = async () => {
    const { input, errors } = toInput(projectId, form, !!rule);
    setErrors(errors);
    setTested(false);
    if (!input) return;
    const result = await testRule({ input });
    if (result.error) return serverError(result.error);
    setTested(true);
  };

  const kindHelp = KINDS.find((k) => k.kind === form.kind)?.help;
  return (
    <div data-testid="rule-editor">
      <h2>{rule ? `Edit rule ${rule.name}` : "New rule"}</h2>
      <form
        className="rule-form"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <label htmlFor="rule-name">Name</label>
        <div>
          <input id="rule-name" type="text" value={form.name} onChange={(e) => set("name", e.target.value)} placeholder="checkout errors" autoFocus />
          <FieldError errors={errors} field="name" />
        </div>

        <label htmlFor="rule-kind">Kind</label>
        <div>
          <select id="rule-kind" value={form.kind} onChange={(e) => set("kind", e.target.value as AlertRuleKind)}>
            {KINDS.map((k) => (
              <option key={k.kind} value={k.kind}>
                {k.label}
              </option>
            ))}
          </select>{" "}
          <span className="hint">{kindHelp}</span>
        </div>

        {form.kind === "SQL" && (
          <>
            <div className="full">
              <textarea
                className="sql-editor"
                aria-label="Rule SQL"
                data-testid="rule-sql"
                spellCheck={false}
                value={form.sql}
                onChange={(e) => set("sql", e.target.value)}
                onKeyDown={(e) => {
                  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void test();
                }}
              />
              <div className="hint">
                Read-only SQL over the documented tables (events, issues, issue_stats, …). Bind the window with{" "}
                <code>{"{window_start}"}</code> and <code>{"{window_end}"}</code>. Examples:{" "}
                {EXAMPLE_SQL.map((x) => (
                  <button type="button" key={x.label} className="linkish" onClick={() => set("sql", x.sql)}>
                    {x.label}
                  </button>
                )).reduce<ReactNode[]>((acc, el, i) => (i ? [...acc, " · ", el] : [el]), [])}
                . Ctrl+Enter tests it.
              </div>
              {errors.sql && (
                <div className="rule-error" data-testid="rule-error">
                  {errors.sql}
                </div>
              )}
            </div>
            <label htmlFor="rule-threshold">Fires when value</label>
            <div>
              <select aria-label="Comparison" value={form.comparison} onChange={(e) => set("comparison", e.target.value as AlertComparison)}>
                {COMPARISONS.map((c) => (
                  <option key={c.value} value={c.value}>
                    {c.label}
                  </option>
                ))}
              </select>{" "}
              <input id="rule-threshold" type="number" step="any" value={form.threshold} onChange={(e) => set("threshold", e.target.value)} placeholder="threshold" />
              <FieldError errors={errors} field="threshold" />
            </div>
          </>
        )}
        {(form.kind === "FREQUENCY" || form.kind === "USER_IMPACT") && (
          <>
            <label htmlFor="rule-threshold">{form.kind === "FREQUENCY" ? "More events than" : "More users than"}</label>
            <div>
              <input id="rule-threshold" type="number" min={0} step={1} value={form.threshold} onChange={(e) => set("threshold", e.target.value)} />{" "}
              <span className="hint">per issue, in the window</span>
              <FieldError errors={errors} field="threshold" />
            </div>
          </>
        )}
        {form.kind === "SPIKE" && (
          <>
            <label htmlFor="rule-factor">Factor (k × baseline)</label>
            <div>
              <input id="rule-factor" type="number" step="any" min={0} value={form.factor} onChange={(e) => set("factor", e.target.value)} placeholder="3" />
              <FieldError errors={errors} field="factor" />
            </div>
            <label htmlFor="rule-baseline">Baseline (seconds)</label>
            <div>
              <input id="rule-baseline" type="number" min={1} value={form.baselineSeconds} onChange={(e) => set("baselineSeconds", e.target.value)} placeholder="86400" />{" "}
              <span className="hint">before the window; default 1 day</span>
              <FieldError errors={errors} field="baselineSeconds" />
            </div>
            <label htmlFor="rule-floor">Floor (events)</label>
            <div>
              <input id="rule-floor" type="number" min={0} value={form.floor} onChange={(e) => set("floor", e.target.value)} placeholder="10" />{" "}
              <span className="hint">at least this many events, whatever the baseline (new issues)</span>
              <FieldError errors={errors} field="floor" />
            </div>
          </>
        )}

        <label htmlFor="rule-interval">Every (seconds)</label>
        <div>
          <input id="rule-interval" type="number" min={1} value={form.intervalSeconds} onChange={(e) => set("intervalSeconds", e.target.value)} />{" "}
          <span className="hint">= {seconds(Number(form.intervalSeconds) || 0)}</span>
          <FieldError errors={errors} field="intervalSeconds" />
        </div>
        <label htmlFor="rule-window">Window (seconds)</label>
        <div>
          <input id="rule-window" type="number" min={1} value={form.windowSeconds} onChange={(e) => set("windowSeconds", e.target.value)} placeholder={String(windowDefault)} />{" "}
          <span className="hint">data each evaluation reads; default {seconds(windowDefault)}</span>
          <FieldError errors={errors} field="windowSeconds" />
        </div>

        <label htmlFor="rule-webhook">Webhook URL</label>
        <div>
          <input id="rule-webhook" type="url" value={form.webhookUrl} onChange={(e) => set("webhookUrl", e.target.value)} placeholder="https://hooks.example.com/… (empty: only record outcomes)" />
          <FieldError errors={errors} field="webhookUrl" />
        </div>
        <label htmlFor="rule-format">Format</label>
        <div>
          <select id="rule-format" value={form.webhookFormat} onChange={(e) => set("webhookFormat", e.target.value as WebhookFormat)}>
            <option value="JSON">Stackhouse JSON</option>
            <option value="SLACK">Slack-compatible</option>
          </select>
        </div>
        <label htmlFor="rule-secret">Signing secret</label>
        <div>
          <input
            id="rule-secret"
            type="password"
            autoComplete="off"
            value={form.webhookSecret}
            disabled={form.removeSecret}
            onChange={(e) => set("webhookSecret", e.target.value)}
            placeholder={rule?.hasWebhookSecret ? "(set; empty keeps it)" : "optional: HMAC-SHA256 in X-Stackhouse-Signature"}
          />
          {rule?.hasWebhookSecret && (
            <label className="toggle">
              {" "}
              <input type="checkbox" checked={form.removeSecret} onChange={(e) => set("removeSecret", e.target.checked)} /> remove the secret
            </label>
          )}
        </div>
        <label htmlFor="rule-cooldown">Cooldown (seconds)</label>
        <div>
          <input id="rule-cooldown" type="number" min={0} value={form.cooldownSeconds} onChange={(e) => set("cooldownSeconds", e.target.value)} />{" "}
          <span className="hint">a group firing again within it is not re-sent</span>
          <FieldError errors={errors} field="cooldownSeconds" />
        </div>
        <label htmlFor="rule-cap">Cap per hour</label>
        <div>
          <input id="rule-cap" type="number" min={0} value={form.maxNotificationsPerHour} onChange={(e) => set("maxNotificationsPerHour", e.target.value)} />{" "}
          <span className="hint">notifications of this rule per hour; 0 = no limit</span>
          <FieldError errors={errors} field="maxNotificationsPerHour" />
        </div>
        <label htmlFor="rule-resolve">Notify on resolve</label>
        <div>
          <select id="rule-resolve" value={form.notifyOnResolve} onChange={(e) => set("notifyOnResolve", e.target.value as Form["notifyOnResolve"])}>
            <option value="">default ({occurrence ? "no" : "yes"})</option>
            <option value="true">yes</option>
            <option value="false">no</option>
          </select>
        </div>
        <label htmlFor="rule-enabled">Enabled</label>
        <div>
          <input id="rule-enabled" type="checkbox" checked={form.enabled} onChange={(e) => set("enabled", e.target.checked)} />
        </div>

        {errors.general && (
          <div className="full rule-error" data-testid="rule-error">
            {errors.general}
          </div>
        )}
        <div className="full row">
          <button type="submit" className="btn btn-primary" disabled={saving} data-testid="save-rule">
            {saving ? "Saving…" : rule ? "Save" : "Create rule"}
          </button>
          <button type="button" className="btn" disabled={testState.fetching} onClick={() => void test()} data-testid="test-draft">
            {testState.fetching ? "Testing…" : "Test rule"}
          </button>
          <button type="button" className="btn" onClick={onCancel}>
            Cancel
          </button>
          <span className="hint">The server checks the rule when it is saved or tested (its SQL runs once over an empty window).</span>
        </div>
      </form>
      {tested && testState.data && <TestResult result={testState.data.testAlertRule} error={null} kind={form.kind} />}
    </div>
  );
}
