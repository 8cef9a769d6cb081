// Every GraphQL document the dashboard sends, in one place (the API contract is
// shared/CONTRACT.md; graphql/schema.graphql is the committed SDL).
//
// Two generations of the API exist while the lifecycle work lands: the contract's (issues as a
// connection with a filter, lifecycle mutations, issue history/tags/trend, subscriptions) and
// the earlier one (issues as a list with status/limit/offset). `CAPABILITIES` asks the server
// which it speaks; each document below says which capability it needs.

/** Introspection of the root fields and the Issue type: what this server can do. */
export const CAPABILITIES = /* GraphQL */ `
  query Capabilities {
    __schema {
      queryType { fields { name args { name } } }
      mutationType { fields { name } }
      subscriptionType { fields { name } }
    }
    issueType: __type(name: "Issue") { fields { name } }
  }
`;

export const PROJECTS = /* GraphQL */ `
  query Projects {
    projects { id name createdAt dsns }
  }
`;

const ISSUE_ROW = /* GraphQL */ `
  fragment IssueRow on Issue {
    id projectId title culprit level platform status count userCount firstSeen lastSeen sparkline
  }
`;

/** Contract: `issues` is a connection with a filter (needs `connection`). */
export const ISSUES = /* GraphQL */ `
  query Issues($projectId: ID!, $filter: IssueFilter, $sort: IssueSort, $first: Int, $after: String) {
    issues(projectId: $projectId, filter: $filter, sort: $sort, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { ...IssueRow }
    }
  }
  ${ISSUE_ROW}
`;

/** The earlier API: a plain list, one status, offset paging. */
export const ISSUES_LEGACY = /* GraphQL */ `
  query IssuesLegacy($projectId: ID!, $status: IssueStatus, $sort: IssueSort!, $limit: Int!, $offset: Int!) {
    issues(projectId: $projectId, status: $status, sort: $sort, limit: $limit, offset: $offset) {
      ...IssueRow
    }
  }
  ${ISSUE_ROW}
`;

const EVENT_FIELDS = /* GraphQL */ `
  fragment EventFields on Event {
    id timestamp received platform level title culprit message environment release serverName
    transaction fingerprint groupingVersion groupingExplanation traceId spanId
    tags { key value }
    user { id email ipAddress username }
    exceptions {
      type value module mechanism handled
      frames { function module filename absPath lineno colno inApp contextLine preContext postContext }
    }
    details
  }
`;

/** An issue with its latest event: fields both API generations have. */
export const ISSUE = /* GraphQL */ `
  query Issue($id: ID!) {
    issue(id: $id) {
      ...IssueRow
      fingerprints
      events(limit: 1) { ...EventFields }
    }
  }
  ${ISSUE_ROW}
  ${EVENT_FIELDS}
`;

/** Contract-only parts of the issue page (needs `issueExtras`). */
export const ISSUE_EXTRAS = /* GraphQL */ `
  query IssueExtras($id: ID!, $granularity: Granularity!, $from: DateTime, $to: DateTime) {
    issue(id: $id) {
      id
      resolvedInRelease
      ignoreCondition
      history { from to actor comment at resolvedInRelease ignoreCondition }
      tags(limit: 10) { key total values { value count } }
      trend(granularity: $granularity, from: $from, to: $to) { time events }
    }
  }
`;

const EVENT_ROW = /* GraphQL */ `
  fragment EventRow on Event {
    id timestamp level title message environment release traceId
    user { id email username ipAddress }
  }
`;

/** Contract: the issue's events, cursor paging (needs `issueExtras`). */
export const ISSUE_EVENTS = /* GraphQL */ `
  query IssueEvents($id: ID!, $first: Int, $after: String) {
    issue(id: $id) {
      id
      eventPage(first: $first, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { ...EventRow }
      }
    }
  }
  ${EVENT_ROW}
`;

/** The earlier API: the newest `limit` events. */
export const ISSUE_EVENTS_LEGACY = /* GraphQL */ `
  query IssueEventsLegacy($id: ID!, $limit: Int!) {
    issue(id: $id) { id events(limit: $limit) { ...EventRow } }
  }
  ${EVENT_ROW}
`;

/** One event in full (needs the contract's `event` query). */
export const EVENT = /* GraphQL */ `
  query Event($projectId: ID!, $eventId: ID!) {
    event(projectId: $projectId, eventId: $eventId) { ...EventFields }
  }
  ${EVENT_FIELDS}
`;

// ---- lifecycle (needs `lifecycle`) ----

const LIFECYCLE_RESULT = `id status resolvedInRelease ignoreCondition`;

export const ACKNOWLEDGE = /* GraphQL */ `
  mutation Acknowledge($ids: [ID!]!, $comment: String) {
    acknowledgeIssues(ids: $ids, comment: $comment) { ${LIFECYCLE_RESULT} }
  }
`;

export const RESOLVE = /* GraphQL */ `
  mutation Resolve($ids: [ID!]!, $inRelease: String, $comment: String) {
    resolveIssues(ids: $ids, inRelease: $inRelease, comment: $comment) { ${LIFECYCLE_RESULT} }
  }
`;

export const IGNORE = /* GraphQL */ `
  mutation Ignore($ids: [ID!]!, $until: DateTime, $untilEvents: Int, $untilUsers: Int, $comment: String) {
    ignoreIssues(ids: $ids, until: $until, untilEvents: $untilEvents, untilUsers: $untilUsers, comment: $comment) {
      ${LIFECYCLE_RESULT}
    }
  }
`;

export const REOPEN = /* GraphQL */ `
  mutation Reopen($ids: [ID!]!, $comment: String) {
    reopenIssues(ids: $ids, comment: $comment) { ${LIFECYCLE_RESULT} }
  }
`;

// ---- merge (both generations) ----

export const MERGE = /* GraphQL */ `
  mutation Merge($projectId: ID!, $into: ID!, $from: [ID!]!) {
    mergeIssues(projectId: $projectId, into: $into, from: $from) { id count fingerprints }
  }
`;

export const UNMERGE = /* GraphQL */ `
  mutation Unmerge($projectId: ID!, $issueId: ID!, $fingerprints: [String!]!) {
    unmergeFingerprints(projectId: $projectId, issueId: $issueId, fingerprints: $fingerprints)
  }
`;

// ---- projects (needs `createProject`) ----

export const CREATE_PROJECT = /* GraphQL */ `
  mutation CreateProject($name: String!) {
    createProject(name: $name) { id name createdAt dsns }
  }
`;

// ---- subscriptions (needs `subscriptions`) ----

export const ISSUE_ACTIVITY = /* GraphQL */ `
  subscription IssueActivity($projectId: ID!) {
    issueActivity(projectId: $projectId) { kind issue { ...IssueRow } }
  }
  ${ISSUE_ROW}
`;

// ---- alerting (issue 7; needs `alerts`) ----

const ALERT_RULE_FIELDS = /* GraphQL */ `
  fragment AlertRuleFields on AlertRule {
    id projectId name kind description sql comparison threshold factor baselineSeconds floor
    intervalSeconds windowSeconds cooldownSeconds maxNotificationsPerHour notifyOnResolve
    webhookUrl webhookFormat hasWebhookSecret enabled createdAt updatedAt
    states { groupKey status since lastNotifiedAt value }
  }
`;

export const ALERT_RULES = /* GraphQL */ `
  query AlertRules($projectId: ID!) {
    alertRules(projectId: $projectId) { ...AlertRuleFields }
  }
  ${ALERT_RULE_FIELDS}
`;

const ALERT_EVENT_FIELDS = `id ruleId groupKey outcome value notification message at`;
const ALERT_DELIVERY_FIELDS = `id alertEventId url payload status attempts nextAttemptAt lastError lastStatusCode createdAt updatedAt`;

/** A rule's history: evaluation outcomes and webhook deliveries, newest first. */
export const ALERT_HISTORY = /* GraphQL */ `
  query AlertHistory($ruleId: ID!, $first: Int, $after: String) {
    alertEvents(ruleId: $ruleId, first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { ${ALERT_EVENT_FIELDS} }
    }
    alertDeliveries(ruleId: $ruleId, first: 20) {
      pageInfo { hasNextPage endCursor }
      nodes { ${ALERT_DELIVERY_FIELDS} }
    }
  }
`;

export const CREATE_ALERT_RULE = /* GraphQL */ `
  mutation CreateAlertRule($input: AlertRuleInput!) {
    createAlertRule(input: $input) { ...AlertRuleFields }
  }
  ${ALERT_RULE_FIELDS}
`;

export const UPDATE_ALERT_RULE = /* GraphQL */ `
  mutation UpdateAlertRule($id: ID!, $input: AlertRuleInput!) {
    updateAlertRule(id: $id, input: $input) { ...AlertRuleFields }
  }
  ${ALERT_RULE_FIELDS}
`;

export const DELETE_ALERT_RULE = /* GraphQL */ `
  mutation DeleteAlertRule($id: ID!) {
    deleteAlertRule(id: $id)
  }
`;

/** Evaluates a stored rule (`id`) or the editor's unsaved one (`input`) now; stores and sends nothing. */
export const TEST_ALERT_RULE = /* GraphQL */ `
  mutation TestAlertRule($id: ID, $input: AlertRuleInput) {
    testAlertRule(id: $id, input: $input) {
      events { ${ALERT_EVENT_FIELDS} }
      deliveries { ${ALERT_DELIVERY_FIELDS} }
    }
  }
`;

// ---- traces (issue 9; needs `traces`) ----

const TRACE_FIELDS = /* GraphQL */ `
  fragment TraceFields on Trace {
    traceId start durationMs spanCount services missingParentSpanIds
    spans {
      spanId parentSpanId service name kind status statusMessage offsetMs durationMs depth
      parentMissing failing errorEventIds httpMethod httpRoute httpStatusCode dbSystem source
      attributes { key value }
    }
    errors { eventId issueId title timestamp spanId service focused }
  }
`;

/** The trace an event happened in, its span marked as failing. */
export const EVENT_TRACE = /* GraphQL */ `
  query EventTrace($projectId: ID!, $eventId: ID!) {
    eventTrace(projectId: $projectId, eventId: $eventId) { ...TraceFields }
  }
  ${TRACE_FIELDS}
`;

/** Where an issue's events come from in traces, and what it costs them. */
export const ISSUE_TRACE_IMPACT = /* GraphQL */ `
  query IssueTraceImpact($issueId: ID!) {
    issueTraceImpact(issueId: $issueId) {
      issueId events eventsWithTrace eventsWithSpan
      sources { service operation events }
      operations {
        operation p95SlowdownMs
        withIssue { traces avgMs p50Ms p95Ms }
        withoutIssue { traces avgMs p50Ms p95Ms }
      }
    }
  }
`;

export const SERVICE_MAP = /* GraphQL */ `
  query ServiceMap($projectId: ID!, $from: DateTime, $to: DateTime) {
    serviceMap(projectId: $projectId, from: $from, to: $to) {
      from to traces spans sampleRate truncated
      edges { from to calls errors p95Ms }
      services {
        service spans errorSpans entryTraces failedEntryTraces originatedErrors
        originatedDownstream propagatedErrors
      }
    }
  }
`;

/** A whole trace by its id (its page, `/traces/:traceId`). */
export const TRACE = /* GraphQL */ `
  query Trace($projectId: ID!, $traceId: String!) {
    trace(projectId: $projectId, traceId: $traceId) { ...TraceFields }
  }
  ${TRACE_FIELDS}
`;
