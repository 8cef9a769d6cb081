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
