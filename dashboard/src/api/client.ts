// The GraphQL client (urql: document cache, fetch, graphql-ws subscriptions), the `/sql`
// call, and what the server can do (its capabilities, read once by introspection).

import { Client, CombinedError, cacheExchange, fetchExchange, subscriptionExchange } from "urql";
import { createClient as createWsClient } from "graphql-ws";
import { authHeaders } from "./auth";
import type { SqlResult } from "./types";

export function makeClient(token: string | null): Client {
  const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql/ws`;
  const ws = createWsClient({
    url: wsUrl,
    lazy: true,
    retryAttempts: 5,
    connectionParams: () => authHeaders(token),
  });
  return new Client({
    url: "/graphql",
    // Queries go to the cache first and are refetched when a mutation returns a type they
    // contain (an Issue after resolve, merge, ...).
    requestPolicy: "cache-and-network",
    // POST always: GET URLs would carry whole documents and end up in proxy logs.
    preferGetMethod: false,
    fetchOptions: () => ({ headers: authHeaders(token) }),
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || "" };
          return {
            subscribe(sink) {
              const unsubscribe = ws.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
  });
}

/** What this server's API offers; the UI hides or explains what it lacks. */
export interface Capabilities {
  /** `issues(projectId, filter, sort, first, after)` answers a connection. */
  connection: boolean;
  /** acknowledge/resolve/ignore/reopen mutations. */
  lifecycle: boolean;
  /** Issue.history, tags, trend, eventPage. */
  issueExtras: boolean;
  /** `event(projectId, eventId)`. */
  eventQuery: boolean;
  subscriptions: boolean;
  createProject: boolean;
  /** Alert rules (issue 7): `alertRules` and the rule mutations. */
  alerts: boolean;
  /** Some root field names alerts, but not the API this build knows. */
  alertsUnknown: boolean;
  /** `eventTrace` (the waterfall of an event's trace). */
  traces: boolean;
  /** `issueTraceImpact`. */
  traceImpact: boolean;
  /** `serviceMap`. */
  serviceMap: boolean;
}

interface IntrospectionAnswer {
  __schema: {
    queryType: { fields: { name: string; args: { name: string }[] }[] };
    mutationType: { fields: { name: string }[] } | null;
    subscriptionType: { fields: { name: string }[] } | null;
  };
  issueType: { fields: { name: string }[] } | null;
}

export function readCapabilities(data: IntrospectionAnswer): Capabilities {
  const queries = data.__schema.queryType.fields;
  const mutations = (data.__schema.mutationType?.fields ?? []).map((f) => f.name);
  const subscriptions = (data.__schema.subscriptionType?.fields ?? []).map((f) => f.name);
  const issueFields = (data.issueType?.fields ?? []).map((f) => f.name);
  const issues = queries.find((f) => f.name === "issues");
  const names = [...queries.map((f) => f.name), ...mutations];
  return {
    connection: !!issues?.args.some((a) => a.name === "filter"),
    lifecycle: mutations.includes("resolveIssues"),
    issueExtras: ["history", "tags", "trend", "eventPage"].every((f) => issueFields.includes(f)),
    eventQuery: queries.some((f) => f.name === "event"),
    subscriptions: subscriptions.includes("issueActivity"),
    createProject: mutations.includes("createProject"),
    alerts: queries.some((f) => f.name === "alertRules") && mutations.includes("createAlertRule"),
    alertsUnknown: names.some((name) => /alert/i.test(name)) && !queries.some((f) => f.name === "alertRules"),
    traces: queries.some((f) => f.name === "eventTrace"),
    traceImpact: queries.some((f) => f.name === "issueTraceImpact"),
    serviceMap: queries.some((f) => f.name === "serviceMap"),
  };
}

/** An error a page can show: the server's message, and whether signing in would help. */
export function describeError(error: CombinedError | Error | unknown): { message: string; unauthenticated: boolean } {
  if (error instanceof CombinedError) {
    const status = (error.response as Response | undefined)?.status;
    const codes = error.graphQLErrors.map((e) => e.extensions?.code);
    const unauthenticated = status === 401 || codes.includes("UNAUTHENTICATED");
    const message = error.graphQLErrors.length
      ? error.graphQLErrors.map((e) => e.message).join("; ")
      : status === 401
        ? "This server needs an API token."
        : (error.networkError?.message ?? error.message);
    return { message, unauthenticated };
  }
  if (error instanceof SqlError) return { message: error.message, unauthenticated: error.status === 401 };
  return { message: error instanceof Error ? error.message : String(error), unauthenticated: false };
}

export class SqlError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
  ) {
    super(message);
  }
}

/** `POST /sql` (see CONTRACT.md): columns, rows, and how long it took. */
export async function runSql(token: string | null, query: string, signal?: AbortSignal): Promise<SqlResult> {
  const response = await fetch("/sql", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...authHeaders(token) },
    body: JSON.stringify({ query, format: "json" }),
    signal,
  });
  const text = await response.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: reported below
  }
  if (!response.ok) {
    const detail = (body as { detail?: string; code?: string } | null) ?? null;
    if (response.status === 404 || response.status === 405) {
      throw new SqlError("This server has no SQL endpoint (POST /sql) yet.", response.status, "not_available");
    }
    throw new SqlError(detail?.detail ?? `HTTP ${response.status}: ${text.slice(0, 200)}`, response.status, detail?.code ?? null);
  }
  if (!body || typeof body !== "object" || !Array.isArray((body as SqlResult).rows)) {
    throw new SqlError("The server's answer is not a SQL result.", response.status, null);
  }
  return body as SqlResult;
}
