// One event in full: exception chain with frames, breadcrumbs, request, user, contexts, tags.

import { useState } from "react";
import { Link } from "react-router";
import type { EventFull, ExceptionInfo, Frame } from "../api/types";
import { absoluteTime, isEmptyJson, pretty } from "../format";
import { EventTrace } from "./Waterfall";

/** `projectId` given: the event's trace (waterfall) is shown under its exception. */
export function EventView({ event, projectId }: { event: EventFull; projectId?: string }) {
  const details = event.details ?? {};
  return (
    <div className="event-view">
      <div className="kv-line">
        <span>
          event <code>{event.id}</code>
        </span>
        <span title={absoluteTime(event.timestamp)}>{absoluteTime(event.timestamp)}</span>
        {event.environment && <span>env <b>{event.environment}</b></span>}
        {event.release && <span>release <b>{event.release}</b></span>}
        {event.serverName && <span>server <b>{event.serverName}</b></span>}
        {event.transaction && <span>transaction <b>{event.transaction}</b></span>}
        {event.traceId && (
          <span>
            trace{" "}
            {projectId ? (
              <Link to={`/traces/${event.traceId}?project=${projectId}`}>
                <code data-testid="trace-id">{event.traceId}</code>
              </Link>
            ) : (
              <code data-testid="trace-id">{event.traceId}</code>
            )}
          </span>
        )}
      </div>
      {event.message && <pre className="message">{event.message}</pre>}

      <section>
        <h2>Exception</h2>
        {event.exceptions.length === 0 ? (
          <p className="muted">This event has no exception (a message event).</p>
        ) : (
          <ExceptionChain exceptions={event.exceptions} />
        )}
      </section>

      {projectId && event.traceId && (
        <section>
          <h2>Trace</h2>
          <EventTrace projectId={projectId} eventId={event.id} />
        </section>
      )}

      <section>
        <h2>Breadcrumbs</h2>
        <Breadcrumbs value={details.breadcrumbs} />
      </section>

      <div className="two-col">
        <section>
          <h2>User</h2>
          {event.user && Object.values(event.user).some(Boolean) ? (
            <table className="kv">
              <tbody>
                {Object.entries(event.user)
                  .filter(([key, value]) => value && key !== "__typename")
                  .map(([key, value]) => (
                    <tr key={key}>
                      <th>{key}</th>
                      <td>{String(value)}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          ) : (
            <p className="muted">No user.</p>
          )}
        </section>
        <section>
          <h2>Tags</h2>
          {event.tags.length ? (
            <table className="kv">
              <tbody>
                {event.tags.map((tag) => (
                  <tr key={tag.key}>
                    <th>{tag.key}</th>
                    <td>{tag.value}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p className="muted">No tags.</p>
          )}
        </section>
      </div>

      <section>
        <h2>Request</h2>
        {isEmptyJson(details.request) ? <p className="muted">No request.</p> : <JsonTable value={details.request} />}
      </section>
      <section>
        <h2>Contexts</h2>
        {isEmptyJson(details.contexts) ? <p className="muted">No contexts.</p> : <JsonTable value={details.contexts} />}
      </section>
      {!isEmptyJson(details.extra) && (
        <section>
          <h2>Extra</h2>
          <JsonTable value={details.extra} />
        </section>
      )}
    </div>
  );
}

/** Root cause first (as the API orders the chain); frames oldest call first, like a Python traceback. */
function ExceptionChain({ exceptions }: { exceptions: ExceptionInfo[] }) {
  const [showAll, setShowAll] = useState(false);
  return (
    <div className="exceptions" data-testid="exceptions">
      <label className="toggle">
        <input type="checkbox" checked={showAll} onChange={(e) => setShowAll(e.target.checked)} /> show system frames
      </label>
      {exceptions.map((exception, index) => (
        <div className="exception" key={index}>
          {index > 0 && <div className="chain-note muted">During handling of the above, this was raised:</div>}
          <div className="exception-head">
            <b className="exc-type">{exception.type}</b>
            {exception.value && <span className="exc-value">: {exception.value}</span>}
            {exception.mechanism && (
              <span className={`badge ${exception.handled === false ? "status-regressed" : ""}`}>
                {exception.mechanism}
                {exception.handled === false ? " · unhandled" : exception.handled ? " · handled" : ""}
              </span>
            )}
          </div>
          <Frames frames={exception.frames} showAll={showAll} />
        </div>
      ))}
    </div>
  );
}

function Frames({ frames, showAll }: { frames: Frame[]; showAll: boolean }) {
  const [opened, setOpened] = useState<Set<number>>(() => {
    // The innermost in-app frame opens with its context, the line that failed.
    const last = frames.map((f) => f.inApp).lastIndexOf(true);
    return new Set(last >= 0 ? [last] : frames.length ? [frames.length - 1] : []);
  });
  const [expandedRuns, setExpandedRuns] = useState<Set<number>>(new Set());
  if (!frames.length) return <p className="muted">No stack trace.</p>;

  // Consecutive system frames fold into one line unless shown.
  const items: ({ kind: "frame"; index: number } | { kind: "run"; start: number; count: number })[] = [];
  for (let i = 0; i < frames.length; i++) {
    if (!showAll && !frames[i].inApp && !expandedRuns.has(i) && frames.some((f) => f.inApp)) {
      let j = i;
      while (j < frames.length && !frames[j].inApp) j++;
      items.push({ kind: "run", start: i, count: j - i });
      i = j - 1;
    } else {
      items.push({ kind: "frame", index: i });
    }
  }
  return (
    <ol className="frames">
      {items.map((item) =>
        item.kind === "run" ? (
          <li key={`run-${item.start}`} className="frame-run">
            <button
              type="button"
              className="linkish"
              onClick={() =>
                setExpandedRuns((current) => {
                  const next = new Set(current);
                  for (let k = item.start; k < item.start + item.count; k++) next.add(k);
                  return next;
                })
              }
            >
              {item.count} system frame{item.count > 1 ? "s" : ""} hidden: show
            </button>
          </li>
        ) : (
          <FrameLine
            key={item.index}
            frame={frames[item.index]}
            open={opened.has(item.index)}
            toggle={() =>
              setOpened((current) => {
                const next = new Set(current);
                if (next.has(item.index)) next.delete(item.index);
                else next.add(item.index);
                return next;
              })
            }
          />
        ),
      )}
    </ol>
  );
}

function FrameLine({ frame, open, toggle }: { frame: Frame; open: boolean; toggle: () => void }) {
  const where = frame.filename ?? frame.absPath ?? frame.module ?? "?";
  const hasContext = frame.contextLine != null;
  const firstLine = (frame.lineno ?? 0) - frame.preContext.length;
  return (
    <li className={`frame ${frame.inApp ? "in-app" : "system"}`} data-testid="frame">
      <div className="frame-head" onClick={hasContext ? toggle : undefined} role={hasContext ? "button" : undefined}>
        <span className="frame-file">{where}</span>
        {frame.lineno != null && <span className="muted"> line {frame.lineno}</span>}
        <span className="muted"> in </span>
        <span className="frame-fn">{frame.function ?? "?"}</span>
        {frame.inApp && <span className="badge badge-inapp">in app</span>}
        {hasContext && <span className="muted frame-toggle">{open ? "▾" : "▸"}</span>}
      </div>
      {open && hasContext && (
        <pre className="context">
          {[...frame.preContext, frame.contextLine ?? "", ...frame.postContext].map((line, i) => (
            <div key={i} className={i === frame.preContext.length ? "context-line current" : "context-line"}>
              <span className="lineno">{frame.lineno != null ? firstLine + i : ""}</span>
              {line}
            </div>
          ))}
        </pre>
      )}
    </li>
  );
}

interface Crumb {
  timestamp?: string;
  type?: string;
  category?: string;
  level?: string;
  message?: string;
  data?: unknown;
}

function Breadcrumbs({ value }: { value: unknown }) {
  const crumbs = Array.isArray(value) ? (value as Crumb[]) : [];
  if (!crumbs.length) return <p className="muted">No breadcrumbs.</p>;
  return (
    <table className="grid crumbs">
      <thead>
        <tr>
          <th>Time</th>
          <th>Category</th>
          <th>Level</th>
          <th>Message / data</th>
        </tr>
      </thead>
      <tbody>
        {crumbs.map((crumb, i) => (
          <tr key={i}>
            <td className="nowrap">{crumb.timestamp ? absoluteTime(crumb.timestamp).slice(11) : ""}</td>
            <td>{crumb.category ?? crumb.type ?? ""}</td>
            <td>{crumb.level ?? ""}</td>
            <td>
              {crumb.message}
              {!isEmptyJson(crumb.data) && <code className="crumb-data">{JSON.stringify(crumb.data)}</code>}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** An object as a key/value table, nested values as JSON. */
export function JsonTable({ value }: { value: unknown }) {
  if (value == null || typeof value !== "object" || Array.isArray(value)) return <pre className="json">{pretty(value)}</pre>;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => !isEmptyJson(v));
  return (
    <table className="kv">
      <tbody>
        {entries.map(([key, v]) => (
          <tr key={key}>
            <th>{key}</th>
            <td>{typeof v === "object" ? <pre className="json">{pretty(v)}</pre> : String(v)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
