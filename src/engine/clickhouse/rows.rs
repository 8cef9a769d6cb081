//! RowBinary row types for the ClickHouse tables, and their conversion to engine records.
//!
//! ClickHouse 18.16 has no RowBinaryWithNamesAndTypes, so the client runs with validation off:
//! field order and types here must match `sql/` exactly (the integration tests prove they do).

use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::engine::{
    EventRecord, FingerprintMapping, IssueRecord, IssueStatus, StatusChangeRecord, StringList,
};

pub fn to_epoch_seconds(time: DateTime<Utc>) -> u32 {
    u32::try_from(time.timestamp().max(0)).unwrap_or(u32::MAX)
}

pub fn from_epoch_seconds(seconds: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::from(seconds), 0).unwrap_or_default()
}

/// A `version` for side tables: nanoseconds since the epoch, so the last write wins.
pub fn version_now() -> u64 {
    u64::try_from(Utc::now().timestamp_nanos_opt().unwrap_or_default()).unwrap_or_default()
}

/// Which event: what `events` is sorted by, and the id.
#[derive(Debug, Clone, Row, Deserialize)]
pub struct EventKeyRow {
    pub fingerprint: u64,
    pub timestamp: u32,
    pub event_id: String,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct EventRow {
    pub project_id: u64,
    pub event_id: String,
    pub timestamp: u32,
    pub received: u32,
    pub fingerprint: u64,
    pub grouping_version: String,
    pub grouping_explanation: String,
    pub title: String,
    pub culprit: String,
    pub platform: String,
    pub level: String,
    pub logger: String,
    pub environment: String,
    pub release: String,
    pub dist: String,
    pub server_name: String,
    pub transaction: String,
    pub message: String,
    pub exception_types: Vec<String>,
    pub exception_values: Vec<String>,
    pub frame_modules: Vec<String>,
    pub frame_functions: Vec<String>,
    pub frame_filenames: Vec<String>,
    pub frame_linenos: Vec<u32>,
    pub frame_in_app: Vec<u8>,
    pub tag_keys: Vec<String>,
    pub tag_values: Vec<String>,
    pub user_key: String,
    pub user_id: String,
    pub user_email: String,
    pub user_ip: String,
    pub user_username: String,
    pub request_method: String,
    pub request_url: String,
    pub trace_id: String,
    pub span_id: String,
    pub sdk_name: String,
    pub sdk_version: String,
    pub details: String,
}

/// An [`EventRow`] borrowed from its record, for inserts: a batch is written without copying
/// its events (a retried batch is serialized again from the same records).
#[derive(Debug, Clone, Row, Serialize)]
pub struct EventRowRef<'a> {
    pub project_id: u64,
    pub event_id: &'a str,
    pub timestamp: u32,
    pub received: u32,
    pub fingerprint: u64,
    pub grouping_version: &'a str,
    pub grouping_explanation: &'a str,
    pub title: &'a str,
    pub culprit: &'a str,
    pub platform: &'a str,
    pub level: &'a str,
    pub logger: &'a str,
    pub environment: &'a str,
    pub release: &'a str,
    pub dist: &'a str,
    pub server_name: &'a str,
    pub transaction: &'a str,
    pub message: &'a str,
    pub exception_types: &'a StringList,
    pub exception_values: &'a StringList,
    pub frame_modules: &'a StringList,
    pub frame_functions: &'a StringList,
    pub frame_filenames: &'a StringList,
    pub frame_linenos: &'a [u32],
    pub frame_in_app: &'a [u8],
    pub tag_keys: &'a StringList,
    pub tag_values: &'a StringList,
    pub user_key: &'a str,
    pub user_id: &'a str,
    pub user_email: &'a str,
    pub user_ip: &'a str,
    pub user_username: &'a str,
    pub request_method: &'a str,
    pub request_url: &'a str,
    pub trace_id: &'a str,
    pub span_id: &'a str,
    pub sdk_name: &'a str,
    pub sdk_version: &'a str,
    pub details: &'a str,
}

impl<'a> From<&'a EventRecord> for EventRowRef<'a> {
    fn from(record: &'a EventRecord) -> Self {
        EventRowRef {
            project_id: record.project_id,
            event_id: &record.event_id,
            timestamp: to_epoch_seconds(record.timestamp),
            received: to_epoch_seconds(record.received),
            fingerprint: record.fingerprint,
            grouping_version: &record.grouping_version,
            grouping_explanation: &record.grouping_explanation,
            title: &record.title,
            culprit: &record.culprit,
            platform: &record.platform,
            level: &record.level,
            logger: &record.logger,
            environment: &record.environment,
            release: &record.release,
            dist: &record.dist,
            server_name: &record.server_name,
            transaction: &record.transaction,
            message: &record.message,
            exception_types: &record.exception_types,
            exception_values: &record.exception_values,
            frame_modules: &record.frame_modules,
            frame_functions: &record.frame_functions,
            frame_filenames: &record.frame_filenames,
            frame_linenos: &record.frame_linenos,
            frame_in_app: &record.frame_in_app,
            tag_keys: &record.tag_keys,
            tag_values: &record.tag_values,
            user_key: &record.user_key,
            user_id: &record.user_id,
            user_email: &record.user_email,
            user_ip: &record.user_ip,
            user_username: &record.user_username,
            request_method: &record.request_method,
            request_url: &record.request_url,
            trace_id: &record.trace_id,
            span_id: &record.span_id,
            sdk_name: &record.sdk_name,
            sdk_version: &record.sdk_version,
            details: &record.details,
        }
    }
}

impl From<EventRow> for EventRecord {
    fn from(row: EventRow) -> Self {
        EventRecord {
            project_id: row.project_id,
            event_id: row.event_id,
            timestamp: from_epoch_seconds(row.timestamp),
            received: from_epoch_seconds(row.received),
            fingerprint: row.fingerprint,
            grouping_version: row.grouping_version,
            grouping_explanation: row.grouping_explanation,
            title: row.title,
            culprit: row.culprit,
            platform: row.platform,
            level: row.level,
            logger: row.logger,
            environment: row.environment,
            release: row.release,
            dist: row.dist,
            server_name: row.server_name,
            transaction: row.transaction,
            message: row.message,
            exception_types: row.exception_types.into_iter().collect(),
            exception_values: row.exception_values.into_iter().collect(),
            frame_modules: row.frame_modules.into_iter().collect(),
            frame_functions: row.frame_functions.into_iter().collect(),
            frame_filenames: row.frame_filenames.into_iter().collect(),
            frame_linenos: row.frame_linenos,
            frame_in_app: row.frame_in_app,
            tag_keys: row.tag_keys.into_iter().collect(),
            tag_values: row.tag_values.into_iter().collect(),
            user_key: row.user_key,
            user_id: row.user_id,
            user_email: row.user_email,
            user_ip: row.user_ip,
            user_username: row.user_username,
            request_method: row.request_method,
            request_url: row.request_url,
            trace_id: row.trace_id,
            span_id: row.span_id,
            sdk_name: row.sdk_name,
            sdk_version: row.sdk_version,
            details: row.details,
        }
    }
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct ProjectRow {
    pub id: u64,
    pub name: String,
    pub created_at: u32,
    pub version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct ProjectKeyRow {
    pub project_id: u64,
    pub public_key: String,
    pub active: u8,
    pub created_at: u32,
    pub version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct IssueRow {
    pub project_id: u64,
    pub issue_id: u64,
    pub title: String,
    pub culprit: String,
    pub level: String,
    pub platform: String,
    pub created_at: u32,
    pub version: u64,
    pub features: String,
}

impl IssueRow {
    pub fn from_record(record: &IssueRecord, version: u64) -> Self {
        IssueRow {
            project_id: record.project_id,
            issue_id: record.issue_id,
            title: record.title.clone(),
            culprit: record.culprit.clone(),
            level: record.level.clone(),
            platform: record.platform.clone(),
            created_at: to_epoch_seconds(record.created_at),
            version,
            features: record.features.clone(),
        }
    }

    pub fn into_record(self) -> IssueRecord {
        IssueRecord {
            project_id: self.project_id,
            issue_id: self.issue_id,
            title: self.title,
            culprit: self.culprit,
            level: self.level,
            platform: self.platform,
            features: self.features,
            created_at: from_epoch_seconds(self.created_at),
        }
    }
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct MappingRow {
    pub project_id: u64,
    pub fingerprint: u64,
    pub issue_id: u64,
    pub updated_at: u32,
    pub version: u64,
}

impl MappingRow {
    pub fn from_record(mapping: &FingerprintMapping, version: u64) -> Self {
        MappingRow {
            project_id: mapping.project_id,
            fingerprint: mapping.fingerprint,
            issue_id: mapping.issue_id,
            updated_at: to_epoch_seconds(mapping.updated_at),
            version,
        }
    }
}

/// One issue's aggregates, as the issue queries return them.
#[derive(Debug, Clone, Row, Deserialize)]
pub struct IssueAggregateRow {
    pub issue_id: u64,
    pub events: u64,
    pub users: u64,
    pub first_seen: u32,
    pub last_seen: u32,
    pub status: String,
}

/// All-time totals of one fingerprint in one environment (the issue ranking's load).
#[derive(Debug, Clone, Row, Deserialize)]
pub struct FingerprintEnvironmentRow {
    pub fingerprint: u64,
    pub environment: String,
    pub events: u64,
    pub first_seen: u32,
    pub last_seen: u32,
}

#[derive(Debug, Clone, Row, Deserialize)]
pub struct WindowCountsRow {
    pub fingerprint: u64,
    /// One count per window asked for.
    pub events: Vec<u64>,
}

#[derive(Debug, Clone, Row, Deserialize)]
pub struct IssueUsersRow {
    pub issue_id: u64,
    pub users: u64,
}

#[derive(Debug, Clone, Row, Deserialize)]
pub struct HourlyRow {
    pub issue_id: u64,
    pub hour: u32,
    pub events: u64,
}

/// A row of `issue_state` (the newest version per issue is the current state).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct StateRow {
    pub project_id: u64,
    pub issue_id: u64,
    pub status: String,
    pub actor: String,
    pub comment: String,
    pub changed_at: u32,
    pub version: u64,
    pub resolved_in_release: String,
    pub ignore_condition: String,
}

impl StateRow {
    pub fn from_record(change: &StatusChangeRecord) -> Self {
        StateRow {
            project_id: change.project_id,
            issue_id: change.issue_id,
            status: change.to_status.as_str().to_owned(),
            actor: change.actor.clone(),
            comment: change.comment.clone(),
            changed_at: to_epoch_seconds(change.changed_at),
            version: change.version,
            resolved_in_release: change.resolved_in_release.clone(),
            ignore_condition: change.ignore_condition.clone(),
        }
    }

    pub fn into_record(self) -> StatusChangeRecord {
        let status = IssueStatus::parse(&self.status).unwrap_or(IssueStatus::New);
        StatusChangeRecord {
            project_id: self.project_id,
            issue_id: self.issue_id,
            from_status: status,
            to_status: status,
            actor: self.actor,
            comment: self.comment,
            changed_at: from_epoch_seconds(self.changed_at),
            resolved_in_release: self.resolved_in_release,
            ignore_condition: self.ignore_condition,
            version: self.version,
        }
    }
}

/// A row of `issue_history`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct HistoryRow {
    pub project_id: u64,
    pub issue_id: u64,
    pub from_status: String,
    pub to_status: String,
    pub actor: String,
    pub comment: String,
    pub changed_at: u32,
    pub version: u64,
    pub resolved_in_release: String,
    pub ignore_condition: String,
}

impl HistoryRow {
    pub fn from_record(change: &StatusChangeRecord) -> Self {
        HistoryRow {
            project_id: change.project_id,
            issue_id: change.issue_id,
            from_status: change.from_status.as_str().to_owned(),
            to_status: change.to_status.as_str().to_owned(),
            actor: change.actor.clone(),
            comment: change.comment.clone(),
            changed_at: to_epoch_seconds(change.changed_at),
            version: change.version,
            resolved_in_release: change.resolved_in_release.clone(),
            ignore_condition: change.ignore_condition.clone(),
        }
    }

    pub fn into_record(self) -> StatusChangeRecord {
        let parse = |text: &str| IssueStatus::parse(text).unwrap_or(IssueStatus::New);
        StatusChangeRecord {
            project_id: self.project_id,
            issue_id: self.issue_id,
            from_status: parse(&self.from_status),
            to_status: parse(&self.to_status),
            actor: self.actor,
            comment: self.comment,
            changed_at: from_epoch_seconds(self.changed_at),
            resolved_in_release: self.resolved_in_release,
            ignore_condition: self.ignore_condition,
            version: self.version,
        }
    }
}

#[derive(Debug, Clone, Row, Deserialize)]
pub struct TagCountRow {
    pub key: String,
    pub value: String,
    pub count: u64,
}
