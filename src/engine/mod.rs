//! The storage and query abstraction: one [`Engine`] trait, two implementations (ClickHouse and
//! embedded) that pass the same conformance suite, and the engine-neutral records they exchange.
//!
//! The records here *are* the documented logical tables (`events`, `issues`, `issue_state`, ...):
//! each engine maps them onto its own storage, column for column.

mod alerts;
mod analyst;
pub mod clickhouse;
pub mod embedded;
mod record;
mod span;
mod string_list;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use alerts::{
    delivery_is_finished, winning_claim, AlertClaim, AlertDeliveryQuery, AlertDeliveryRecord,
    AlertEvaluationWrite, AlertEventQuery, AlertEventRecord, AlertPruneCounts, AlertRuleRecord,
    AlertStateRecord, FINISHED_DELIVERY_STATUSES,
};
pub use analyst::{ApiTokenRecord, SqlColumn, SqlDialect, SqlLimits, SqlResult};
pub use record::{explanation_json, EventRecord, RecordError};
pub use span::{SpanRange, SpanRecord};
pub use string_list::StringList;

/// A project: the unit events, keys and issues belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: u64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A DSN public key of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectKey {
    pub project_id: u64,
    pub public_key: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// An issue as created by grouping: its identity and the metadata of the event that opened it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRecord {
    pub project_id: u64,
    pub issue_id: u64,
    pub title: String,
    pub culprit: String,
    pub level: String,
    pub platform: String,
    /// The opening event's grouping features (JSON), for the similarity index.
    pub features: String,
    pub created_at: DateTime<Utc>,
}

/// Which issue a fingerprint belongs to. The newest `updated_at` wins, so merge and unmerge are
/// new mappings, never rewrites of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FingerprintMapping {
    pub project_id: u64,
    pub fingerprint: u64,
    pub issue_id: u64,
    pub updated_at: DateTime<Utc>,
}

/// Lifecycle status of an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum IssueStatus {
    New,
    Acknowledged,
    Resolved,
    Regressed,
    Ignored,
}

impl IssueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::New => "new",
            IssueStatus::Acknowledged => "acknowledged",
            IssueStatus::Resolved => "resolved",
            IssueStatus::Regressed => "regressed",
            IssueStatus::Ignored => "ignored",
        }
    }

    pub fn parse(text: &str) -> Option<IssueStatus> {
        match text {
            "new" => Some(IssueStatus::New),
            "acknowledged" => Some(IssueStatus::Acknowledged),
            "resolved" => Some(IssueStatus::Resolved),
            "regressed" => Some(IssueStatus::Regressed),
            "ignored" => Some(IssueStatus::Ignored),
            _ => None,
        }
    }
}

/// Everything one flush of the batch writer stores, atomically from the client's point of view:
/// the request is acknowledged only after the whole batch is durable.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    pub events: Vec<EventRecord>,
    pub new_issues: Vec<IssueRecord>,
    pub new_mappings: Vec<FingerprintMapping>,
    /// Lifecycle transitions (made by people, or by events at ingest), stored with the events
    /// that caused them.
    pub status_changes: Vec<StatusChangeRecord>,
}

impl WriteBatch {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.new_issues.is_empty()
            && self.new_mappings.is_empty()
            && self.status_changes.is_empty()
    }

    pub fn append(&mut self, other: WriteBatch) {
        self.events.extend(other.events);
        self.new_issues.extend(other.new_issues);
        self.new_mappings.extend(other.new_mappings);
        self.status_changes.extend(other.status_changes);
    }

    /// Many requests gathered into one batch may carry the same pending issue (or mapping, or
    /// transition); keeps each once: the last, since a later mapping of a fingerprint (a merge
    /// after the mapping that opened its issue) is the one that must win, and one insert
    /// stores all of them with the same version.
    pub fn dedup_side_records(&mut self) {
        keep_last(&mut self.new_issues, |issue| {
            (issue.project_id, issue.issue_id)
        });
        keep_last(&mut self.new_mappings, |mapping| {
            (mapping.project_id, mapping.fingerprint)
        });
        keep_last(&mut self.status_changes, |change| {
            (change.issue_id, change.version)
        });
    }
}

/// Keeps the last of the items with the same key, in their order.
fn keep_last<T, K: std::hash::Hash + Eq>(items: &mut Vec<T>, key: impl Fn(&T) -> K) {
    let mut seen = std::collections::HashSet::new();
    let mut keep: Vec<bool> = items
        .iter()
        .rev()
        .map(|item| seen.insert(key(item)))
        .collect();
    keep.reverse();
    let mut keep = keep.into_iter();
    items.retain(|_| keep.next().unwrap_or(true));
}

/// One lifecycle transition: a row of `issue_history`, and (the newest `version` per issue)
/// of `issue_state`. `version` identifies the transition: a transition written twice (carried
/// again after a failed write) is stored once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChangeRecord {
    pub project_id: u64,
    pub issue_id: u64,
    pub from_status: IssueStatus,
    pub to_status: IssueStatus,
    /// Who made it: a person's name, or `system` for transitions made by events.
    pub actor: String,
    pub comment: String,
    pub changed_at: DateTime<Utc>,
    /// Empty unless resolved in a release.
    pub resolved_in_release: String,
    /// The ignore condition as JSON; empty unless ignored with a condition.
    pub ignore_condition: String,
    pub version: u64,
}

/// Event-level filters of the issue list: an issue matches when one of its events does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub environment: Option<String>,
    pub release: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Case-insensitive substring of the event's title, message or culprit.
    pub search: Option<String>,
    /// A tag `key` with value `value`.
    pub tag: Option<(String, String)>,
}

impl EventFilter {
    pub fn is_empty(&self) -> bool {
        self == &EventFilter::default()
    }
}

/// How often a tag value occurs in an issue's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCount {
    pub key: String,
    pub value: String,
    pub count: u64,
}

/// How the issue list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IssueSort {
    #[default]
    LastSeen,
    FirstSeen,
    Events,
    Users,
}

/// A page of the issue list.
#[derive(Debug, Clone)]
pub struct IssueQuery {
    pub project_id: u64,
    pub status: Option<IssueStatus>,
    pub sort: IssueSort,
    pub limit: usize,
    pub offset: usize,
}

/// An issue with its aggregates, as the issue list and detail show it.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueSummary {
    pub issue: IssueRecord,
    pub status: IssueStatus,
    pub events: u64,
    pub users: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// All-time aggregates of one fingerprint, without distinct users (merging those for every
/// fingerprint of a project is what made the issue list slow): what the list ranks issues by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FingerprintTotals {
    pub fingerprint: u64,
    pub events: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// Event counts per fingerprint in each of some time windows, column-wise (one allocation for
/// 100,000 fingerprints, not one each): row `i` is `fingerprint(i)` with one count per window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FingerprintCounts {
    windows: usize,
    fingerprints: Vec<u64>,
    counts: Vec<u64>,
}

impl FingerprintCounts {
    /// No rows yet, for counts in `windows` windows.
    pub fn new(windows: usize) -> FingerprintCounts {
        FingerprintCounts {
            windows,
            ..FingerprintCounts::default()
        }
    }

    /// Adds a row unless every count is 0 (such fingerprints are left out).
    ///
    /// # Panics
    /// When `counts` does not hold one count per window.
    pub fn push(&mut self, fingerprint: u64, counts: &[u64]) {
        assert_eq!(counts.len(), self.windows, "one count per window");
        if counts.iter().any(|count| *count > 0) {
            self.fingerprints.push(fingerprint);
            self.counts.extend_from_slice(counts);
        }
    }

    pub fn len(&self) -> usize {
        self.fingerprints.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty()
    }

    /// Every row: a fingerprint and its counts, window by window.
    pub fn rows(&self) -> impl Iterator<Item = (u64, &[u64])> + '_ {
        // Rows exist only when there are windows, so the chunk size is never 0.
        self.fingerprints
            .iter()
            .copied()
            .zip(self.counts.chunks_exact(self.windows.max(1)))
    }

    /// The rows keyed by fingerprint (for tests and small results).
    pub fn to_map(&self) -> HashMap<u64, Vec<u64>> {
        self.rows()
            .map(|(fingerprint, counts)| (fingerprint, counts.to_vec()))
            .collect()
    }
}

/// Issue id → the fingerprints the caller's mapping currently groups into it. Calls that take
/// one read the fingerprints' aggregates directly (no join with the stored mapping).
pub type IssueFingerprints = HashMap<u64, Vec<u64>>;

/// Event count of one issue in one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourlyCount {
    pub hour: DateTime<Utc>,
    pub events: u64,
}

/// Why an engine call failed, split by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The storage could not be reached or timed out: retrying later may succeed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The storage refused the request itself (bad schema, bad query): retrying cannot help.
    #[error("storage rejected the request: {0}")]
    Rejected(String),
    /// Stored data could not be read back into its record type.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl EngineError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, EngineError::Unavailable(_))
    }
}

impl From<RecordError> for EngineError {
    fn from(error: RecordError) -> Self {
        EngineError::Corrupt(error.to_string())
    }
}

pub type EngineResult<T> = Result<T, EngineError>;

/// Storage and query, as every other module sees them.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// `clickhouse` or `embedded`.
    fn name(&self) -> &'static str;

    /// Creates or upgrades the schema. Idempotent.
    async fn migrate(&self) -> EngineResult<()>;

    /// Creates a project and its first key.
    async fn create_project(&self, name: &str, public_key: &str) -> EngineResult<Project>;
    async fn projects(&self) -> EngineResult<Vec<Project>>;
    async fn project_keys(&self) -> EngineResult<Vec<ProjectKey>>;

    /// Stores a batch; returns once it is durable.
    async fn write(&self, batch: &WriteBatch) -> EngineResult<()>;

    /// [`Engine::write`] for a caller that shares the batch: an engine that keeps the batch
    /// after the call (ClickHouse's spool, until it ships) keeps this one instead of a copy.
    async fn write_shared(&self, batch: Arc<WriteBatch>) -> EngineResult<()> {
        self.write(&batch).await
    }

    /// Waits until every batch [`Engine::write`] has returned for is readable. Reads do this
    /// themselves (an engine whose writes become readable later than they become durable, as
    /// ClickHouse behind its spool, waits in each read); a caller about to make many reads
    /// that need not wait one by one (see [`SqlLimits::read_own_writes`]) waits here once.
    async fn caught_up(&self) {}

    /// About how many bytes of events (their size in memory) one [`Engine::write`] should
    /// hold: the batch writer's limit unless its configuration sets one.
    fn write_batch_bytes(&self) -> usize;

    /// The current fingerprint→issue mapping of every project (loaded at start-up).
    async fn fingerprint_mappings(&self) -> EngineResult<Vec<FingerprintMapping>>;
    /// Every issue record, newest version of each (loaded at start-up for similarity).
    async fn issue_records(&self) -> EngineResult<Vec<IssueRecord>>;

    /// One page of a project's issues with their aggregates.
    async fn issues(&self, query: &IssueQuery) -> EngineResult<Vec<IssueSummary>>;
    /// One issue with its aggregates.
    async fn issue(&self, issue_id: u64) -> EngineResult<Option<IssueSummary>>;
    /// The records of the given issues of a project (unknown ids left out), in no particular
    /// order.
    async fn issue_records_of(
        &self,
        project_id: u64,
        issue_ids: &[u64],
    ) -> EngineResult<Vec<IssueRecord>>;
    /// All-time distinct users of each issue: the union over the fingerprints given for it.
    /// Issues without users are left out.
    async fn issue_users(
        &self,
        project_id: u64,
        issues: &IssueFingerprints,
    ) -> EngineResult<HashMap<u64, u64>>;
    /// Hourly event counts in `[from, to)` of each issue over the fingerprints given for it,
    /// oldest first; hours without events are left out.
    async fn issue_hourly_counts(
        &self,
        project_id: u64,
        issues: &IssueFingerprints,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> EngineResult<HashMap<u64, Vec<HourlyCount>>>;
    /// All-time totals of every fingerprint of a project that has events, in no particular
    /// order (of the fingerprints in `only` when given). The caller maps fingerprints to issues
    /// (the mapping it holds in memory).
    async fn fingerprint_totals(
        &self,
        project_id: u64,
        only: Option<&[u64]>,
    ) -> EngineResult<Vec<FingerprintTotals>>;
    /// Event counts per fingerprint of a project in each of `windows` (the hours starting in
    /// `[from, to)`), in one pass: a row's `counts[i]` is window `i`'s. Fingerprints without
    /// events in any window are left out; rows are in no particular order.
    async fn fingerprint_counts(
        &self,
        project_id: u64,
        windows: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> EngineResult<FingerprintCounts>;
    /// Hourly event counts of the given issues in `[from, to)`.
    async fn hourly_counts(
        &self,
        project_id: u64,
        issue_ids: &[u64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> EngineResult<HashMap<u64, Vec<HourlyCount>>>;
    /// The latest events of an issue, newest first.
    async fn issue_events(&self, issue_id: u64, limit: usize) -> EngineResult<Vec<EventRecord>>;
    /// The latest events of some fingerprints of a project, newest first (an issue's, with
    /// the fingerprints the caller maps to it).
    async fn fingerprint_events(
        &self,
        project_id: u64,
        fingerprints: &[u64],
        limit: usize,
    ) -> EngineResult<Vec<EventRecord>>;

    // --- Lifecycle and the complete API ---

    /// The newest lifecycle transition of every issue that has one (loaded at start-up).
    async fn issue_states(&self) -> EngineResult<Vec<StatusChangeRecord>>;
    /// Every transition of one issue, oldest first, each once.
    async fn issue_history(
        &self,
        project_id: u64,
        issue_id: u64,
    ) -> EngineResult<Vec<StatusChangeRecord>>;
    /// One event by id.
    async fn event(&self, project_id: u64, event_id: &str) -> EngineResult<Option<EventRecord>>;
    /// The fingerprints of a project with at least one event matching `filter`.
    async fn matching_fingerprints(
        &self,
        project_id: u64,
        filter: &EventFilter,
    ) -> EngineResult<Vec<u64>>;
    /// Per-minute event counts of the given issues for minutes starting in `[from, to)`.
    async fn minute_counts(
        &self,
        project_id: u64,
        issue_ids: &[u64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> EngineResult<HashMap<u64, Vec<HourlyCount>>>;
    /// The distinct users (non-empty user keys) of an issue's events from `from` on.
    async fn issue_users_since(
        &self,
        project_id: u64,
        issue_id: u64,
        from: DateTime<Utc>,
    ) -> EngineResult<Vec<String>>;
    /// Tag value counts over every event of the given fingerprints.
    async fn tag_counts(
        &self,
        project_id: u64,
        fingerprints: &[u64],
    ) -> EngineResult<Vec<TagCount>>;
    /// Adds a key to a project, or changes whether a key is active.
    async fn put_project_key(&self, key: &ProjectKey) -> EngineResult<()>;

    // --- Access control and analyst SQL (see `crate::access`, `crate::sql`) ---

    /// Stores an API token (a new version of its `token_id`; the newest wins).
    async fn store_api_token(&self, token: &ApiTokenRecord) -> EngineResult<()>;
    /// Every API token, newest version of each, revoked ones included.
    async fn api_tokens(&self) -> EngineResult<Vec<ApiTokenRecord>>;

    /// The dialect [`Engine::sql`] speaks.
    fn sql_dialect(&self) -> SqlDialect;
    /// Runs one analyst query, already checked and scoped by [`crate::sql::prepare`],
    /// read-only and within `limits`. A query the storage refuses (unknown column, timeout,
    /// a write) is [`EngineError::Rejected`].
    async fn sql(&self, query: &str, limits: &SqlLimits) -> EngineResult<SqlResult>;

    // --- alerting (issue 7) ---

    /// Stores a version of an alert rule (the newest write of a `rule_id` wins).
    async fn put_alert_rule(&self, rule: &AlertRuleRecord) -> EngineResult<()>;
    /// The current version of every alert rule, deleted ones left out.
    async fn alert_rules(&self) -> EngineResult<Vec<AlertRuleRecord>>;
    /// Stores what one evaluation decided: group states, `alert_events` rows, new deliveries.
    async fn record_alert_evaluation(&self, write: &AlertEvaluationWrite) -> EngineResult<()>;
    /// The current state of every group key of these rules (one read for a whole evaluation
    /// group), ordered by rule id, then group key.
    async fn alert_states(&self, rule_ids: &[u64]) -> EngineResult<Vec<AlertStateRecord>>;
    /// `alert_events` rows, newest first.
    async fn alert_events(&self, query: &AlertEventQuery) -> EngineResult<Vec<AlertEventRecord>>;
    /// How many notifications each of these rules has sent (`alert_events` rows whose
    /// notification is `sent`) at or after `since`; rules that sent none are left out.
    async fn alert_notifications_sent(
        &self,
        rule_ids: &[u64],
        since: DateTime<Utc>,
    ) -> EngineResult<std::collections::BTreeMap<u64, u64>>;
    /// Stores new versions of deliveries (attempt outcomes).
    async fn put_alert_deliveries(&self, deliveries: &[AlertDeliveryRecord]) -> EngineResult<()>;
    /// Deliveries, current version of each.
    async fn alert_deliveries(
        &self,
        query: &AlertDeliveryQuery,
    ) -> EngineResult<Vec<AlertDeliveryRecord>>;
    /// Claims units of alerting work for this instance (the slots of one evaluation group's
    /// rules, or one delivery attempt) in one exchange; for each claim, in order, true if it
    /// won (see `crate::alerting::scheduler` for the protocol and its limits). `settle` is how
    /// long to wait for competing claims where the engine cannot decide atomically; it is
    /// waited once for the whole set.
    async fn claim_alert_work(
        &self,
        claims: &[AlertClaim],
        settle: std::time::Duration,
    ) -> EngineResult<Vec<bool>>;
    /// [`Engine::claim_alert_work`] for one claim: true if it won.
    async fn claim_one_alert_work(
        &self,
        claim: &AlertClaim,
        settle: std::time::Duration,
    ) -> EngineResult<bool> {
        Ok(self
            .claim_alert_work(std::slice::from_ref(claim), settle)
            .await?
            .first()
            == Some(&true))
    }
    /// Retention (`alerts.history_days`): deletes the `alert_events` rows from before
    /// `events_before`, the finished deliveries (`delivered`, `failed`: every stored version
    /// of each) last updated before it, and the claims made before `claims_before`. Deliveries
    /// still `pending` are never removed, however old. Durable when it returns: the rows do not
    /// come back after a restart. Returns how many of each were removed.
    async fn prune_alert_history(
        &self,
        events_before: DateTime<Utc>,
        claims_before: DateTime<Utc>,
    ) -> EngineResult<AlertPruneCounts>;
    // --- traces (issue 9) ---

    /// Stores spans; returns once they are durable. A span sent twice is stored twice (queries
    /// keep one per span id).
    async fn write_spans(&self, spans: &[SpanRecord]) -> EngineResult<()>;
    /// Every span of the given traces of a project (at most `limit`), in start order.
    async fn trace_spans(
        &self,
        project_id: u64,
        trace_ids: &[String],
        limit: usize,
    ) -> EngineResult<Vec<SpanRecord>>;
    /// The events of a project that happened in the given traces (at most `limit`), oldest first.
    async fn trace_events(
        &self,
        project_id: u64,
        trace_ids: &[String],
        limit: usize,
    ) -> EngineResult<Vec<EventRecord>>;
    /// The spans of `range` (newest first), at most `limit`.
    async fn spans_between(&self, range: &SpanRange, limit: usize)
        -> EngineResult<Vec<SpanRecord>>;
    /// How many spans `range` holds.
    async fn count_spans(&self, range: &SpanRange) -> EngineResult<u64>;
    /// The spans of `range` as the service map reads them ([`SpanRecord::map_fields`]: ids,
    /// parent, service, start, duration and status; every other field empty), newest first, at
    /// most `limit`. A million of them is a fraction of the full rows to read.
    async fn service_map_spans(
        &self,
        range: &SpanRange,
        limit: usize,
    ) -> EngineResult<Vec<SpanRecord>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gathered_batch_keeps_the_last_mapping_of_each_fingerprint() {
        let mapping = |fingerprint: u64, issue_id: u64| FingerprintMapping {
            project_id: 1,
            fingerprint,
            issue_id,
            updated_at: DateTime::from_timestamp(issue_id as i64, 0).unwrap_or_default(),
        };
        let mut batch = WriteBatch {
            // Fingerprint 7 opened issue 1, then was merged into issue 2.
            new_mappings: vec![mapping(7, 1), mapping(8, 3), mapping(7, 2)],
            ..WriteBatch::default()
        };
        batch.dedup_side_records();
        assert_eq!(batch.new_mappings, vec![mapping(8, 3), mapping(7, 2)]);
    }

    #[test]
    fn fingerprint_counts_keep_rows_with_events_column_wise() {
        let mut counts = FingerprintCounts::new(2);
        counts.push(7, &[1, 0]);
        counts.push(8, &[0, 0]);
        counts.push(9, &[0, 24]);
        assert_eq!(counts.len(), 2, "the all-zero row is left out");
        let rows: Vec<(u64, Vec<u64>)> = counts.rows().map(|(f, c)| (f, c.to_vec())).collect();
        assert_eq!(rows, [(7, vec![1, 0]), (9, vec![0, 24])]);
        assert_eq!(counts.to_map()[&9], [0, 24]);
        assert!(FingerprintCounts::new(0).rows().next().is_none());
    }
}
