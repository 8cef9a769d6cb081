// The service dependency map of a project over a time range (a preset, or a custom from/to kept
// in the URL): a small layered SVG graph (callers left of the services they call) and dense
// tables of the edges (calls, errors, p95) and of the services' part in errors (originated here,
// first seen downstream, passed on).

import { type FormEvent, useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useQuery } from "urql";
import { useSession } from "../App";
import { SERVICE_MAP } from "../api/queries";
import type { ServiceEdge, ServiceMap } from "../api/types";
import { Empty, ErrorBox, Loading, NotAvailable } from "../components/states";
import { formatMs, serviceColor } from "../components/Waterfall";
import { absoluteTime, compact } from "../format";

const MAP_RANGES = [
  { key: "15m", label: "15 min", minutes: 15 },
  { key: "1h", label: "1 hour", minutes: 60 },
  { key: "24h", label: "24 hours", minutes: 24 * 60 },
  { key: "7d", label: "7 days", minutes: 7 * 24 * 60 },
  { key: "30d", label: "30 days", minutes: 30 * 24 * 60 },
];

/** A custom range kept in the URL as `from` and `to` (ISO instants; no `to` means "until now"). */
type CustomRange = { from: string; to: string | null };

function customRangeOf(params: URLSearchParams): CustomRange | null {
  const from = params.get("from");
  if (!from || Number.isNaN(Date.parse(from))) return null;
  const to = params.get("to");
  return { from: new Date(from).toISOString(), to: to && !Number.isNaN(Date.parse(to)) ? new Date(to).toISOString() : null };
}

export function ServiceMapPage() {
  const { caps, projectId } = useSession();
  const [params, setParams] = useSearchParams();
  const custom = customRangeOf(params);
  const rangeKey = params.get("range") ?? "24h";
  const range = MAP_RANGES.find((r) => r.key === rangeKey) ?? MAP_RANGES[2];
  const focus = params.get("service");
  const [editing, setEditing] = useState(false);
  // A preset's start is fixed when chosen (not on every render), so the cache can answer re-renders.
  const presetFrom = useMemo(() => new Date(Date.now() - range.minutes * 60_000).toISOString(), [range]);
  const variables = custom ? { projectId, from: custom.from, ...(custom.to ? { to: custom.to } : {}) } : { projectId, from: presetFrom };
  const [result, refetch] = useQuery<{ serviceMap: ServiceMap }>({
    query: SERVICE_MAP,
    variables,
    pause: !caps.serviceMap || !projectId,
  });

  const update = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value === null) next.delete(key);
      else next.set(key, value);
    }
    setParams(next);
  };
  const set = (key: string, value: string | null) => update({ [key]: value });
  const choosePreset = (key: string) => {
    setEditing(false);
    update({ range: key, from: null, to: null });
  };
  const applyCustom = (chosen: CustomRange) => {
    setEditing(false);
    update({ range: null, from: chosen.from, to: chosen.to });
  };

  let body;
  if (!caps.serviceMap) {
    body = (
      <NotAvailable what="The service map">
        This server's API has no spans yet (it needs <code>serviceMap</code>).
      </NotAvailable>
    );
  } else if (!projectId) {
    body = <Empty>No project yet.</Empty>;
  } else if (result.error) {
    body = <ErrorBox error={result.error} retry={() => refetch({ requestPolicy: "network-only" })} />;
  } else if (!result.data) {
    body = <Loading what="the service map" />;
  } else {
    const map = result.data.serviceMap;
    const when = custom ? `between ${absoluteTime(map.from)} and ${absoluteTime(map.to)}` : `in the last ${range.label}`;
    body =
      map.spans === 0 ? (
        <Empty>
          No span {when}. Send traces over OTLP/HTTP to <code>/v1/traces</code> (header <code>x-stackhouse-key</code>) or
          enable tracing in a Sentry SDK.
        </Empty>
      ) : (
        <MapView map={map} focus={focus} setFocus={(s) => set("service", s === focus ? null : s)} />
      );
  }

  return (
    <div className="page servicemap-page">
      <div className="page-head">
        <h1>Service map</h1>
        <div className="chips" role="group" aria-label="Time range">
          {MAP_RANGES.map((r) => (
            <button key={r.key} className={`chip ${!custom && r.key === range.key ? "chip-on" : ""}`} onClick={() => choosePreset(r.key)}>
              {r.label}
            </button>
          ))}
          <button
            className={`chip ${custom ? "chip-on" : ""}`}
            data-testid="custom-range"
            aria-expanded={editing}
            onClick={() => setEditing(!editing)}
          >
            {custom ? `${absoluteTime(custom.from)} → ${custom.to ? absoluteTime(custom.to) : "now"}` : "custom…"}
          </button>
        </div>
        <button className="btn btn-small" onClick={() => refetch({ requestPolicy: "network-only" })}>
          Refresh
        </button>
      </div>
      {editing && <RangeForm initial={custom} onApply={applyCustom} onCancel={() => setEditing(false)} />}
      {body}
    </div>
  );
}

/** `datetime-local` works in the browser's zone; the dashboard shows UTC, so its inputs are UTC. */
const toInput = (iso: string) => iso.slice(0, 16);
const fromInput = (value: string) => (value ? new Date(`${value}:00Z`).toISOString() : null);

function RangeForm({ initial, onApply, onCancel }: { initial: CustomRange | null; onApply: (r: CustomRange) => void; onCancel: () => void }) {
  const [from, setFrom] = useState(initial ? toInput(initial.from) : toInput(new Date(Date.now() - 3600_000).toISOString()));
  const [to, setTo] = useState(initial?.to ? toInput(initial.to) : "");
  const [error, setError] = useState<string | null>(null);
  const apply = (event: FormEvent) => {
    event.preventDefault();
    const start = fromInput(from);
    const end = fromInput(to);
    if (!start) return setError("Choose where the range starts.");
    if (Date.parse(start) >= (end ? Date.parse(end) : Date.now())) return setError(end ? "The range must start before it ends." : "The range must start in the past.");
    setError(null);
    onApply({ from: start, to: end });
  };
  return (
    <form className="range-form" data-testid="range-form" onSubmit={apply}>
      <label>
        from (UTC) <input type="datetime-local" id="range-from" value={from} onChange={(e) => setFrom(e.target.value)} required />
      </label>
      <label>
        to (UTC) <input type="datetime-local" id="range-to" value={to} onChange={(e) => setTo(e.target.value)} />
      </label>
      <span className="muted small">empty “to”: until now</span>
      <button className="btn btn-small" type="submit" data-testid="apply-range">
        Apply
      </button>
      <button className="btn btn-small" type="button" onClick={onCancel}>
        Cancel
      </button>
      {error && (
        <span className="field-error" data-testid="range-error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}

function MapView({ map, focus, setFocus }: { map: ServiceMap; focus: string | null; setFocus: (s: string) => void }) {
  const edges = focus ? map.edges.filter((e) => e.from === focus || e.to === focus) : map.edges;
  return (
    <>
      <div className="kv-line small">
        <span>
          <b data-testid="map-traces">{compact(map.traces)}</b> traces
        </span>
        <span>
          <b>{compact(map.spans)}</b> spans
        </span>
        <span>
          {absoluteTime(map.from)} → {absoluteTime(map.to)}
        </span>
        {map.sampleRate < 1 && (
          <span className="muted" data-testid="map-sampled">
            estimated from 1 in {Math.round(1 / map.sampleRate)} traces
          </span>
        )}
        {map.truncated && <span className="muted">more spans than the map reads: it shows the newest</span>}
        {focus && (
          <span>
            only edges of <b>{focus}</b>{" "}
            <button className="linkish" onClick={() => setFocus(focus)}>
              show all
            </button>
          </span>
        )}
      </div>
      <Graph map={map} focus={focus} setFocus={setFocus} />
      <h2>Calls between services</h2>
      {edges.length === 0 ? (
        <p className="muted">No call crosses a service boundary in this range (every trace stays in one service).</p>
      ) : (
        <table className="grid" data-testid="edges-table">
          <thead>
            <tr>
              <th>caller</th>
              <th>called</th>
              <th className="num">calls</th>
              <th className="num">errors</th>
              <th className="num">error rate</th>
              <th className="num">p95</th>
            </tr>
          </thead>
          <tbody>
            {edges.map((edge) => (
              <tr key={`${edge.from}→${edge.to}`} data-testid="edge-row" data-from={edge.from} data-to={edge.to}>
                <td>{edge.from}</td>
                <td>{edge.to}</td>
                <td className="num" data-testid="edge-calls">
                  {edge.calls.toLocaleString()}
                </td>
                <td className="num" data-testid="edge-errors">
                  {edge.errors.toLocaleString()}
                </td>
                <td className="num">{edge.calls ? `${((edge.errors / edge.calls) * 100).toFixed(1)}%` : "—"}</td>
                <td className="num">{formatMs(edge.p95Ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Services and error propagation</h2>
      <table className="grid" data-testid="services-table">
        <thead>
          <tr>
            <th>service</th>
            <th className="num">spans</th>
            <th className="num">error spans</th>
            <th className="num" title="traces whose root span is in this service">entry traces</th>
            <th className="num" title="... of which failed somewhere">failed</th>
            <th className="num" title="failing spans with no failing descendant: errors that started here">originated</th>
            <th className="num" title="originated here, in traces that entered through another service">first seen downstream</th>
            <th className="num" title="failing spans that only pass on a failure from a span they called">passed on</th>
          </tr>
        </thead>
        <tbody>
          {map.services.map((s) => (
            <tr key={s.service} className={s.service === focus ? "selected-rule" : ""}>
              <td>
                <button className="linkish" onClick={() => setFocus(s.service)}>
                  <span className="svc-chip" style={{ borderColor: serviceColor(s.service) }}>
                    {s.service}
                  </span>
                </button>
              </td>
              <td className="num">{compact(s.spans)}</td>
              <td className="num">{compact(s.errorSpans)}</td>
              <td className="num">{compact(s.entryTraces)}</td>
              <td className="num">{compact(s.failedEntryTraces)}</td>
              <td className="num">{compact(s.originatedErrors)}</td>
              <td className="num">{compact(s.originatedDownstream)}</td>
              <td className="num">{compact(s.propagatedErrors)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="small muted">
        Errors of these services are on the <Link to="/issues">issue list</Link>; open one to see its trace.
      </p>
    </>
  );
}

const NODE_W = 150;
const NODE_H = 38;
const COL_GAP = 170;
const ROW_GAP = 26;
const PAD = 16;

interface Placed {
  service: string;
  x: number;
  y: number;
  errors: number;
}

/** Layers by longest path from the services nobody calls (cycles cut after n rounds), rows
 *  ordered by the mean row of their callers so edges cross less. */
export function layout(services: string[], edges: ServiceEdge[]): Map<string, { layer: number; row: number }> {
  const layer = new Map(services.map((s) => [s, 0]));
  for (let round = 0; round < services.length; round++) {
    let changed = false;
    for (const e of edges) {
      if (e.from === e.to) continue;
      const next = (layer.get(e.from) ?? 0) + 1;
      if (next > (layer.get(e.to) ?? 0) && next < services.length) {
        layer.set(e.to, next);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const layers: string[][] = [];
  for (const s of services) (layers[layer.get(s) ?? 0] ??= []).push(s);
  const row = new Map<string, number>();
  layers.forEach((names, index) => {
    if (index > 0) {
      const weight = (s: string) => {
        const callers = edges.filter((e) => e.to === s && row.has(e.from)).map((e) => row.get(e.from)!);
        return callers.length ? callers.reduce((a, b) => a + b, 0) / callers.length : Infinity;
      };
      names.sort((a, b) => weight(a) - weight(b) || a.localeCompare(b));
    } else {
      names.sort((a, b) => a.localeCompare(b));
    }
    names.forEach((s, i) => row.set(s, i));
  });
  return new Map(services.map((s) => [s, { layer: layer.get(s) ?? 0, row: row.get(s) ?? 0 }]));
}

function Graph({ map, focus, setFocus }: { map: ServiceMap; focus: string | null; setFocus: (s: string) => void }) {
  const { placed, width, height } = useMemo(() => {
    const names = [...new Set([...map.services.map((s) => s.service), ...map.edges.flatMap((e) => [e.from, e.to])])];
    const positions = layout(names, map.edges);
    const errors = new Map(map.services.map((s) => [s.service, s.errorSpans]));
    const placed = new Map<string, Placed>();
    let maxLayer = 0;
    let maxRow = 0;
    for (const [service, { layer, row }] of positions) {
      maxLayer = Math.max(maxLayer, layer);
      maxRow = Math.max(maxRow, row);
      placed.set(service, {
        service,
        x: PAD + layer * (NODE_W + COL_GAP),
        y: PAD + row * (NODE_H + ROW_GAP),
        errors: errors.get(service) ?? 0,
      });
    }
    return {
      placed,
      width: PAD * 2 + (maxLayer + 1) * NODE_W + maxLayer * COL_GAP,
      height: PAD * 2 + (maxRow + 1) * NODE_H + maxRow * ROW_GAP,
    };
  }, [map]);

  return (
    <svg className="svcmap-svg" data-testid="service-graph" viewBox={`0 0 ${width} ${height}`} style={{ maxHeight: Math.max(height, 120), maxWidth: width }} role="img" aria-label="service map">
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" fill="#64748b" />
        </marker>
      </defs>
      {map.edges.map((edge) => {
        const a = placed.get(edge.from);
        const b = placed.get(edge.to);
        if (!a || !b) return null;
        const dim = focus && edge.from !== focus && edge.to !== focus;
        const x1 = a.x + NODE_W;
        const y1 = a.y + NODE_H / 2;
        let x2 = b.x;
        const y2 = b.y + NODE_H / 2;
        let path: string;
        if (edge.from === edge.to) {
          path = `M ${a.x + NODE_W - 20} ${a.y} c 10 -24 30 -24 20 0`;
          x2 = a.x + NODE_W;
        } else if (b.x > a.x) {
          const mid = (x1 + x2) / 2;
          path = `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`;
        } else {
          // A call back to an earlier layer: loop below.
          const low = Math.max(a.y, b.y) + NODE_H + ROW_GAP / 2;
          path = `M ${a.x + NODE_W / 2} ${a.y + NODE_H} C ${a.x + NODE_W / 2} ${low}, ${b.x + NODE_W / 2} ${low}, ${b.x + NODE_W / 2} ${b.y + NODE_H}`;
          x2 = (a.x + b.x) / 2 + NODE_W / 2;
        }
        const lx = edge.from === edge.to ? a.x + NODE_W - 10 : (x1 + x2) / 2;
        const ly = edge.from === edge.to ? a.y - 22 : (y1 + y2) / 2 - 4;
        return (
          <g key={`${edge.from}→${edge.to}`} opacity={dim ? 0.2 : 1} data-testid="graph-edge">
            <path d={path} className={`svcmap-edge ${edge.errors ? "has-errors" : ""}`} markerEnd="url(#arrow)" />
            <text x={lx} y={ly - 16} textAnchor="middle" className="svcmap-label">
              <tspan x={lx}>
                {compact(edge.calls)} calls{edge.errors ? ` · ${compact(edge.errors)} err` : ""}
              </tspan>
              <tspan x={lx} dy={12}>
                p95 {formatMs(edge.p95Ms)}
              </tspan>
              <title>
                {edge.from} → {edge.to}: {edge.calls} calls, {edge.errors} errors, p95 {formatMs(edge.p95Ms)}
              </title>
            </text>
          </g>
        );
      })}
      {[...placed.values()].map((node) => (
        <g
          key={node.service}
          className={`svcmap-node ${node.errors ? "has-errors" : ""}`}
          transform={`translate(${node.x} ${node.y})`}
          onClick={() => setFocus(node.service)}
          style={{ cursor: "pointer" }}
          data-testid="graph-node"
          data-service={node.service}
          opacity={focus && focus !== node.service && !map.edges.some((e) => (e.from === focus && e.to === node.service) || (e.to === focus && e.from === node.service)) ? 0.35 : 1}
        >
          <rect width={NODE_W} height={NODE_H} rx={5} />
          <rect width={5} height={NODE_H} rx={2} style={{ fill: serviceColor(node.service), stroke: "none" }} />
          <text x={12} y={16} fontWeight={600}>
            {node.service.length > 20 ? `${node.service.slice(0, 19)}…` : node.service}
          </text>
          <text x={12} y={30} className="svcmap-label">
            {node.errors ? `${compact(node.errors)} error spans` : "no errors"}
          </text>
          <title>{node.service}</title>
        </g>
      ))}
    </svg>
  );
}
