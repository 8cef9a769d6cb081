// The shapes the dashboard reads from the API (a subset of graphql/schema.graphql).

export type IssueStatus = "NEW" | "ACKNOWLEDGED" | "RESOLVED" | "REGRESSED" | "IGNORED";
export const ISSUE_STATUSES: IssueStatus[] = ["NEW", "ACKNOWLEDGED", "REGRESSED", "RESOLVED", "IGNORED"];
export type IssueSort = "LAST_SEEN" | "FIRST_SEEN" | "EVENTS" | "USERS" | "TREND";
export type Json = unknown;

export interface Project {
  id: string;
  name: string;
  createdAt: string;
  dsns: string[];
}

export interface IssueRow {
  id: string;
  projectId: string;
  title: string;
  culprit: string;
  level: string;
  platform: string;
  status: IssueStatus;
  count: number;
  userCount: number;
  firstSeen: string;
  lastSeen: string;
  sparkline: number[];
}

export interface Frame {
  function: string | null;
  module: string | null;
  filename: string | null;
  absPath: string | null;
  lineno: number | null;
  colno: number | null;
  inApp: boolean;
  contextLine: string | null;
  preContext: string[];
  postContext: string[];
}

export interface ExceptionInfo {
  type: string;
  value: string | null;
  module: string | null;
  mechanism: string | null;
  handled: boolean | null;
  frames: Frame[];
}

export interface EventUser {
  id: string | null;
  email: string | null;
  ipAddress: string | null;
  username: string | null;
}

export interface EventRow {
  id: string;
  timestamp: string;
  level: string;
  title: string;
  message: string;
  environment: string;
  release: string;
  traceId: string | null;
  user: EventUser | null;
}

export interface EventFull extends EventRow {
  received: string;
  platform: string;
  culprit: string;
  serverName: string;
  transaction: string;
  fingerprint: string;
  groupingVersion: string;
  groupingExplanation: Json;
  spanId: string | null;
  tags: { key: string; value: string }[];
  exceptions: ExceptionInfo[];
  details: { request?: Json; contexts?: Json; breadcrumbs?: Json; sdk?: Json; extra?: Json };
}

export interface IssueFull extends IssueRow {
  fingerprints: string[];
  events: EventFull[];
}

export interface StatusChange {
  from: IssueStatus | null;
  to: IssueStatus;
  actor: string;
  comment: string;
  at: string;
  resolvedInRelease: string | null;
  ignoreCondition: Json;
}

export interface TagDistribution {
  key: string;
  total: number;
  values: { value: string; count: number }[];
}

export interface TrendPoint {
  time: string;
  events: number;
}

export interface IssueExtras {
  id: string;
  resolvedInRelease: string | null;
  ignoreCondition: Json;
  history: StatusChange[];
  tags: TagDistribution[];
  trend: TrendPoint[];
}

export interface PageInfo {
  hasNextPage: boolean;
  endCursor: string | null;
}

export interface IssueActivity {
  kind: "NEW_ISSUE" | "REGRESSION" | "STATUS_CHANGE";
  issue: IssueRow;
}

export interface SqlColumn {
  name: string;
  type: string;
}

export interface SqlResult {
  columns: SqlColumn[];
  rows: unknown[][];
  rowCount: number;
  truncated: boolean;
  elapsedMs: number;
}

// ---- alerting (issue 7) ----

export type AlertRuleKind = "SQL" | "NEW_ISSUE" | "REGRESSION" | "FREQUENCY" | "USER_IMPACT" | "SPIKE";
export type AlertComparison = "GT" | "GTE" | "LT" | "LTE" | "EQ" | "NE";
export type WebhookFormat = "JSON" | "SLACK";

export interface AlertGroupState {
  groupKey: string;
  /** ok, firing or resolved. */
  status: string;
  since: string;
  lastNotifiedAt: string | null;
  value: number;
}

export interface AlertRule {
  id: string;
  projectId: string;
  name: string;
  kind: AlertRuleKind;
  description: string;
  sql: string | null;
  comparison: AlertComparison | null;
  threshold: number | null;
  factor: number | null;
  baselineSeconds: number | null;
  floor: number | null;
  intervalSeconds: number;
  windowSeconds: number;
  cooldownSeconds: number;
  maxNotificationsPerHour: number;
  notifyOnResolve: boolean;
  webhookUrl: string | null;
  webhookFormat: WebhookFormat | null;
  hasWebhookSecret: boolean;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  states: AlertGroupState[];
}

/** What the editor sends (AlertRuleInput). */
export interface AlertRuleInput {
  projectId: string;
  name: string;
  kind: AlertRuleKind;
  sql?: string | null;
  comparison?: AlertComparison | null;
  threshold?: number | null;
  factor?: number | null;
  baselineSeconds?: number | null;
  floor?: number | null;
  intervalSeconds?: number | null;
  windowSeconds?: number | null;
  cooldownSeconds?: number | null;
  maxNotificationsPerHour?: number | null;
  notifyOnResolve?: boolean | null;
  webhookUrl?: string | null;
  webhookSecret?: string | null;
  webhookFormat?: WebhookFormat | null;
  enabled?: boolean | null;
}

export interface AlertEvent {
  id: string;
  ruleId: string;
  groupKey: string;
  /** ok, firing, still_firing, resolved or error. */
  outcome: string;
  value: number;
  /** sent, suppressed_cooldown, suppressed_cap or "". */
  notification: string;
  message: string;
  at: string;
}

export interface AlertDelivery {
  id: string;
  alertEventId: string;
  url: string;
  payload: Json;
  /** pending, delivered or failed. */
  status: string;
  attempts: number;
  nextAttemptAt: string;
  lastError: string;
  lastStatusCode: number;
  createdAt: string;
  updatedAt: string;
}

export interface AlertTestResult {
  events: AlertEvent[];
  deliveries: AlertDelivery[];
}

// ---- traces (issue 9) ----

export interface TraceSpan {
  spanId: string;
  parentSpanId: string | null;
  service: string;
  name: string;
  kind: string;
  /** ok, error or unset. */
  status: string;
  statusMessage: string;
  offsetMs: number;
  durationMs: number;
  depth: number;
  parentMissing: boolean;
  failing: boolean;
  errorEventIds: string[];
  httpMethod: string | null;
  httpRoute: string | null;
  httpStatusCode: number | null;
  dbSystem: string | null;
  source: string;
  attributes: { key: string; value: string }[];
}

export interface TraceError {
  eventId: string;
  issueId: string | null;
  title: string;
  timestamp: string;
  spanId: string | null;
  service: string | null;
  focused: boolean;
}

export interface Trace {
  traceId: string;
  start: string;
  durationMs: number;
  spanCount: number;
  services: string[];
  missingParentSpanIds: string[];
  spans: TraceSpan[];
  errors: TraceError[];
}

export interface TraceLatency {
  traces: number;
  avgMs: number;
  p50Ms: number;
  p95Ms: number;
}

export interface TraceImpact {
  issueId: string;
  events: number;
  eventsWithTrace: number;
  eventsWithSpan: number;
  sources: { service: string; operation: string; events: number }[];
  operations: { operation: string; p95SlowdownMs: number | null; withIssue: TraceLatency; withoutIssue: TraceLatency }[];
}

export interface ServiceEdge {
  from: string;
  to: string;
  calls: number;
  errors: number;
  p95Ms: number;
}

export interface ServiceNode {
  service: string;
  spans: number;
  errorSpans: number;
  entryTraces: number;
  failedEntryTraces: number;
  originatedErrors: number;
  originatedDownstream: number;
  propagatedErrors: number;
}

export interface ServiceMap {
  from: string;
  to: string;
  traces: number;
  spans: number;
  /** The share of traces the map was built from; below 1, counts are scaled-up estimates. */
  sampleRate: number;
  truncated: boolean;
  edges: ServiceEdge[];
  services: ServiceNode[];
}
