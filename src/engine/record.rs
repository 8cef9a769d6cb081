//! [`EventRecord`]: one row of the logical `events` table, and its conversion from and back to
//! an [`ErrorEvent`].
//!
//! Scalars analysts filter on are columns of their own; the exception chain's types and values
//! and the primary stack's frames are flattened into arrays; nested parts needed only to show
//! an event again (full chain, contexts, breadcrumbs, request) travel in the `details` JSON.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stackhouse_protocol::{
    Breadcrumb, Contexts, ErrorEvent, Exception, Level, Request, Sdk, Stacktrace, User,
};
use uuid::Uuid;

/// One row of the logical `events` table (see `sql/README.md` for the column documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub project_id: u64,
    /// 32 lowercase hex characters.
    pub event_id: String,
    pub timestamp: DateTime<Utc>,
    pub received: DateTime<Utc>,
    pub fingerprint: u64,
    pub grouping_version: String,
    /// The grouping explanation, JSON.
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
    /// Key used for distinct-user counts (`id:42`, `email:a@b.c`, ...); empty when no user.
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
    /// Nested parts as JSON ([`EventDetails`]).
    pub details: String,
}

/// The nested parts of an event kept as JSON in `details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventDetails {
    pub exceptions: Vec<Exception>,
    pub stacktrace: Option<Stacktrace>,
    pub contexts: Contexts,
    pub breadcrumbs: Vec<Breadcrumb>,
    pub request: Option<Request>,
    pub fingerprint: Option<Vec<String>>,
    pub message_template: Option<String>,
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A stored row that cannot be turned back into an event.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("event {event_id}: invalid details JSON: {message}")]
    Details { event_id: String, message: String },
    #[error("invalid event id {0:?}")]
    EventId(String),
}

impl EventRecord {
    /// About how many bytes of memory the record holds (its struct, text and lists): what
    /// the batch writer's byte bounds count.
    pub fn memory_bytes(&self) -> usize {
        let texts = [
            &self.event_id,
            &self.grouping_version,
            &self.grouping_explanation,
            &self.title,
            &self.culprit,
            &self.platform,
            &self.level,
            &self.logger,
            &self.environment,
            &self.release,
            &self.dist,
            &self.server_name,
            &self.transaction,
            &self.message,
            &self.user_key,
            &self.user_id,
            &self.user_email,
            &self.user_ip,
            &self.user_username,
            &self.request_method,
            &self.request_url,
            &self.trace_id,
            &self.span_id,
            &self.sdk_name,
            &self.sdk_version,
            &self.details,
        ];
        let lists = [
            &self.exception_types,
            &self.exception_values,
            &self.frame_modules,
            &self.frame_functions,
            &self.frame_filenames,
            &self.tag_keys,
            &self.tag_values,
        ];
        std::mem::size_of::<Self>()
            + texts.iter().map(|text| text.len()).sum::<usize>()
            + lists
                .iter()
                .flat_map(|list| list.iter())
                .map(|item| std::mem::size_of::<String>() + item.len())
                .sum::<usize>()
            + self.frame_linenos.len() * std::mem::size_of::<u32>()
            + self.frame_in_app.len()
    }

    /// Flattens an event for storage.
    pub fn from_event(
        project_id: u64,
        event: &ErrorEvent,
        received: DateTime<Utc>,
        fingerprint: &stackhouse_grouping::Fingerprint,
    ) -> EventRecord {
        let frames = event
            .primary_stacktrace()
            .map(|stacktrace| stacktrace.frames.as_slice())
            .unwrap_or_default();
        let user = event.user.clone().unwrap_or_default();
        let request = event.request.as_ref();
        let details = EventDetails {
            exceptions: event.exceptions.clone(),
            stacktrace: event.stacktrace.clone(),
            contexts: event.contexts.clone(),
            breadcrumbs: event.breadcrumbs.clone(),
            request: event.request.clone(),
            fingerprint: event.fingerprint.clone(),
            message_template: event.message_template.clone(),
            extra: event.extra.clone(),
        };
        let trace = event.contexts.trace.as_ref();
        EventRecord {
            project_id,
            event_id: event.event_id.simple().to_string(),
            timestamp: event.timestamp,
            received,
            fingerprint: fingerprint.hash,
            grouping_version: fingerprint.version.as_str().to_owned(),
            grouping_explanation: serde_json::to_string(&fingerprint.explanation)
                .unwrap_or_else(|_| "{}".to_owned()),
            title: event.title(),
            culprit: event.culprit(),
            platform: event.platform.clone(),
            level: event.level.as_str().to_owned(),
            logger: event.logger.clone().unwrap_or_default(),
            environment: event.environment.clone().unwrap_or_default(),
            release: event.release.clone().unwrap_or_default(),
            dist: event.dist.clone().unwrap_or_default(),
            server_name: event.server_name.clone().unwrap_or_default(),
            transaction: event.transaction.clone().unwrap_or_default(),
            message: event.message.clone().unwrap_or_default(),
            exception_types: event.exceptions.iter().map(|e| e.ty.clone()).collect(),
            exception_values: event
                .exceptions
                .iter()
                .map(|e| e.value.clone().unwrap_or_default())
                .collect(),
            frame_modules: frames
                .iter()
                .map(|f| {
                    f.module
                        .clone()
                        .or_else(|| f.package.clone())
                        .unwrap_or_default()
                })
                .collect(),
            frame_functions: frames
                .iter()
                .map(|f| f.function.clone().unwrap_or_default())
                .collect(),
            frame_filenames: frames
                .iter()
                .map(|f| {
                    f.filename
                        .clone()
                        .or_else(|| f.abs_path.clone())
                        .unwrap_or_default()
                })
                .collect(),
            frame_linenos: frames.iter().map(|f| f.lineno.unwrap_or(0)).collect(),
            frame_in_app: frames
                .iter()
                .map(|f| u8::from(f.in_app == Some(true)))
                .collect(),
            tag_keys: event.tags.iter().map(|(k, _)| k.clone()).collect(),
            tag_values: event.tags.iter().map(|(_, v)| v.clone()).collect(),
            user_key: user.key().unwrap_or_default(),
            user_id: user.id.unwrap_or_default(),
            user_email: user.email.unwrap_or_default(),
            user_ip: user.ip_address.unwrap_or_default(),
            user_username: user.username.unwrap_or_default(),
            request_method: request.and_then(|r| r.method.clone()).unwrap_or_default(),
            request_url: request.and_then(|r| r.url.clone()).unwrap_or_default(),
            trace_id: trace.map(|t| t.trace_id.clone()).unwrap_or_default(),
            span_id: trace.and_then(|t| t.span_id.clone()).unwrap_or_default(),
            sdk_name: event
                .sdk
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            sdk_version: event
                .sdk
                .as_ref()
                .map(|s| s.version.clone())
                .unwrap_or_default(),
            details: serde_json::to_string(&details).unwrap_or_else(|_| "{}".to_owned()),
        }
    }

    /// Rebuilds the event as it was ingested.
    pub fn to_event(&self) -> Result<ErrorEvent, RecordError> {
        let event_id = Uuid::parse_str(&self.event_id)
            .map_err(|_| RecordError::EventId(self.event_id.clone()))?;
        let details: EventDetails =
            serde_json::from_str(&self.details).map_err(|error| RecordError::Details {
                event_id: self.event_id.clone(),
                message: error.to_string(),
            })?;
        let mut event = ErrorEvent::new(event_id, self.timestamp);
        event.platform = self.platform.clone();
        event.level = Level::parse(&self.level).unwrap_or_default();
        event.logger = non_empty(&self.logger);
        event.environment = non_empty(&self.environment);
        event.release = non_empty(&self.release);
        event.dist = non_empty(&self.dist);
        event.server_name = non_empty(&self.server_name);
        event.transaction = non_empty(&self.transaction);
        event.message = non_empty(&self.message);
        event.message_template = details.message_template;
        event.exceptions = details.exceptions;
        event.stacktrace = details.stacktrace;
        event.tags = self
            .tag_keys
            .iter()
            .cloned()
            .zip(self.tag_values.iter().cloned())
            .collect();
        let user = User {
            id: non_empty(&self.user_id),
            email: non_empty(&self.user_email),
            ip_address: non_empty(&self.user_ip),
            username: non_empty(&self.user_username),
        };
        event.user = (user != User::default()).then_some(user);
        event.request = details.request;
        event.contexts = details.contexts;
        event.sdk = (!self.sdk_name.is_empty()).then(|| Sdk {
            name: self.sdk_name.clone(),
            version: self.sdk_version.clone(),
        });
        event.breadcrumbs = details.breadcrumbs;
        event.fingerprint = details.fingerprint;
        event.extra = details.extra;
        Ok(event)
    }
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackhouse_protocol::{Frame, TraceContext};

    #[test]
    fn record_round_trips_the_event() {
        let mut event = ErrorEvent::new(Uuid::new_v4(), DateTime::<Utc>::UNIX_EPOCH);
        event.platform = "python".into();
        event.environment = Some("prod".into());
        event.release = Some("1.0".into());
        event.tags = vec![("browser".into(), "Firefox".into())];
        event.user = Some(User {
            id: Some("7".into()),
            ..User::default()
        });
        event.contexts.trace = Some(TraceContext {
            trace_id: "0123456789abcdef0123456789abcdef".into(),
            span_id: Some("0123456789abcdef".into()),
            ..TraceContext::default()
        });
        event.exceptions.push(Exception {
            ty: "ValueError".into(),
            value: Some("bad".into()),
            stacktrace: Some(Stacktrace {
                frames: vec![Frame {
                    module: Some("app".into()),
                    function: Some("run".into()),
                    lineno: Some(3),
                    in_app: Some(true),
                    ..Frame::default()
                }],
            }),
            ..Exception::default()
        });
        let fingerprint = stackhouse_grouping::fingerprint_event(&event, &Default::default());
        let record = EventRecord::from_event(1, &event, DateTime::<Utc>::UNIX_EPOCH, &fingerprint);
        assert_eq!(record.frame_functions, vec!["run"]);
        assert_eq!(record.user_key, "id:7");
        assert_eq!(record.title, "ValueError: bad");
        let back = record.to_event().expect("round trip");
        assert_eq!(back, event);
    }
}
