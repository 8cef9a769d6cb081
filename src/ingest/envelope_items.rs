//! What happens to each item of a Sentry envelope: events are parsed for the pipeline, the rest is checked, counted and let go.
//!
//! - `event`: parsed into an [`ErrorEvent`] (held to `max_event_bytes`), then stored like any
//!   other event.
//! - `transaction`: parsed; its root span (the trace context) and child spans become rows of
//!   `spans` ([`transaction_spans`]).
//! - `session`, `sessions`, `client_report`, `attachment`, `user_report`, `check_in`, `log`,
//!   `span` and unknown types: accepted and counted, not stored.
//!
//! A bad item (unframeable, invalid JSON, too large) is listed in the answer and never costs
//! the envelope its good items.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::Serialize;
use stackhouse_protocol::{
    parse_event_json, parse_transaction_json, Envelope, ErrorEvent, FieldIssue, ItemType,
    Transaction,
};

use crate::config::IngestConfig;
use crate::engine::SpanRecord;

/// The answer to an envelope (SDKs read only `id`; the rest says what became of each item).
#[derive(Debug, Serialize, Default)]
pub struct EnvelopeOutcome {
    /// The envelope's event id (its header's, else its first event's), 32 hex characters.
    pub id: Option<String>,
    /// Items kept, by type.
    pub accepted: BTreeMap<String, u64>,
    /// Items that were not kept, and why.
    pub rejected: Vec<RejectedItem>,
    /// Malformed fields dropped from events that were otherwise kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped_fields: Vec<DroppedItemFields>,
}

/// An item that was not kept.
#[derive(Debug, Serialize, Clone)]
pub struct RejectedItem {
    /// 0-based position in the envelope.
    pub item: usize,
    /// The item's type, or `unknown` when its header could not be read.
    #[serde(rename = "type")]
    pub item_type: String,
    pub error: String,
    /// Rejected for its size (the envelope answers 413 when nothing else was kept).
    #[serde(skip)]
    pub too_large: bool,
}

#[derive(Debug, Serialize)]
pub struct DroppedItemFields {
    pub item: usize,
    pub id: String,
    pub fields: Vec<FieldIssue>,
}

/// The items of one envelope, sorted out.
#[derive(Debug, Default)]
pub struct EnvelopeIntake {
    /// Parsed events, in envelope order, for the pipeline.
    pub events: Vec<ErrorEvent>,
    /// Positions of `events` in the envelope (parallel to it).
    pub event_items: Vec<usize>,
    /// Parsed transactions, for the `spans` table.
    pub transactions: Vec<Transaction>,
    pub outcome: EnvelopeOutcome,
}

impl EnvelopeIntake {
    /// Whether anything at all was kept.
    pub fn kept_anything(&self) -> bool {
        !self.events.is_empty() || self.outcome.accepted.values().any(|count| *count > 0)
    }

    /// Moves the events to the rejected items (they were refused as a whole, e.g. rate limited).
    pub fn refuse_events(&mut self, reason: &str) {
        for (event, item) in self.events.drain(..).zip(self.event_items.drain(..)) {
            self.outcome.rejected.push(RejectedItem {
                item,
                item_type: "event".to_owned(),
                error: format!("event {}: {reason}", event.event_id.simple()),
                too_large: false,
            });
        }
        self.outcome.accepted.remove("event");
        self.outcome.rejected.sort_by_key(|rejected| rejected.item);
    }
}

/// Sorts out the items of `envelope` (see the module docs).
pub fn read_items(
    envelope: &Envelope,
    received: DateTime<Utc>,
    limits: &IngestConfig,
    counters: &ItemCounters,
) -> EnvelopeIntake {
    let mut intake = EnvelopeIntake::default();
    // Items that could not be framed keep their place in the numbering; good items fill the
    // positions in between, in order.
    let error_positions: BTreeSet<usize> = envelope
        .item_errors
        .iter()
        .filter_map(|error| error.item_index())
        .collect();
    for error in &envelope.item_errors {
        intake.outcome.rejected.push(RejectedItem {
            item: error.item_index().unwrap_or_default(),
            item_type: "unknown".to_owned(),
            error: error.to_string(),
            too_large: false,
        });
    }
    let positions = (0..).filter(|position| !error_positions.contains(position));
    for (item, position) in envelope.items.iter().zip(positions) {
        let mut reject = |error: String, too_large: bool| {
            intake.outcome.rejected.push(RejectedItem {
                item: position,
                item_type: item.ty.as_str().to_owned(),
                error,
                too_large,
            })
        };
        match &item.ty {
            ItemType::Event | ItemType::Transaction
                if item.payload.len() > limits.max_event_bytes =>
            {
                reject(
                    format!(
                        "{} is {} bytes, over the {} byte limit",
                        item.ty,
                        item.payload.len(),
                        limits.max_event_bytes
                    ),
                    true,
                );
            }
            ItemType::Event => match parse_event_json(&item.payload, received) {
                Ok(parsed) => {
                    let id = parsed.event.event_id.simple().to_string();
                    if !parsed.dropped_fields.is_empty() {
                        intake.outcome.dropped_fields.push(DroppedItemFields {
                            item: position,
                            id: id.clone(),
                            fields: parsed.dropped_fields,
                        });
                    }
                    *intake
                        .outcome
                        .accepted
                        .entry("event".to_owned())
                        .or_default() += 1;
                    intake.outcome.id.get_or_insert(id);
                    intake.events.push(parsed.event);
                    intake.event_items.push(position);
                }
                Err(error) => reject(format!("invalid event: {error}"), false),
            },
            ItemType::Transaction => match parse_transaction_json(&item.payload) {
                Ok(parsed) => {
                    intake.transactions.push(parsed.transaction);
                    *intake
                        .outcome
                        .accepted
                        .entry("transaction".to_owned())
                        .or_default() += 1;
                }
                Err(error) => reject(format!("invalid transaction: {error}"), false),
            },
            other => {
                *intake
                    .outcome
                    .accepted
                    .entry(other.as_str().to_owned())
                    .or_default() += 1;
            }
        }
    }
    if let Some(header_id) = envelope.header.event_id {
        intake.outcome.id = Some(header_id.simple().to_string());
    }
    intake
        .outcome
        .rejected
        .sort_by_key(|rejected| rejected.item);
    for item in &envelope.items {
        counters.count(&item.ty);
    }
    counters.count_rejected(intake.outcome.rejected.len());
    intake
}

/// Envelope items received since start, by type (shown at `/health`).
#[derive(Debug, Default)]
pub struct ItemCounters {
    by_type: [AtomicU64; COUNTED_TYPES.len()],
    other: AtomicU64,
    rejected: AtomicU64,
}

const COUNTED_TYPES: [&str; 10] = [
    "event",
    "transaction",
    "session",
    "sessions",
    "client_report",
    "attachment",
    "user_report",
    "check_in",
    "log",
    "span",
];

impl ItemCounters {
    fn count(&self, item_type: &ItemType) {
        let name = item_type.as_str();
        let counter = match COUNTED_TYPES.iter().position(|counted| *counted == name) {
            Some(index) => &self.by_type[index],
            None => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn count_rejected(&self, rejected: usize) {
        self.rejected.fetch_add(rejected as u64, Ordering::Relaxed);
    }

    /// The counts by type, plus `other` (unknown types) and `rejected` (items not kept).
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        let mut counts: BTreeMap<&'static str, u64> = COUNTED_TYPES
            .iter()
            .zip(&self.by_type)
            .map(|(name, counter)| (*name, counter.load(Ordering::Relaxed)))
            .collect();
        counts.insert("other", self.other.load(Ordering::Relaxed));
        counts.insert("rejected", self.rejected.load(Ordering::Relaxed));
        counts
    }
}

/// At most this many tags and `data` entries of a Sentry span are kept as attributes.
const MAX_SENTRY_SPAN_ATTRIBUTES: usize = 32;

/// The spans of a transaction as rows of `spans`: its root span (the trace context, named after
/// the transaction) and every child span with an id. Nothing without a trace id is kept.
pub fn transaction_spans(project_id: u64, transaction: &Transaction) -> Vec<SpanRecord> {
    let Some(trace) = transaction.trace.as_ref() else {
        return Vec::new();
    };
    let tag = |key: &str| {
        transaction
            .tags
            .iter()
            .find(|(tag_key, _)| tag_key == key)
            .map(|(_, value)| value.clone())
    };
    // Sentry has no service name: a `service` tag, else the release's package, else platform.
    let service = tag("service")
        .or_else(|| tag("service.name"))
        .or_else(|| {
            transaction
                .release
                .as_deref()
                .and_then(|release| release.split('@').next())
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
        })
        .or_else(|| transaction.platform.clone())
        .unwrap_or_else(|| "unknown_service".to_owned());
    let micros = |time: Option<chrono::DateTime<Utc>>| time.map(|time| time.timestamp_micros());
    let duration = |start: Option<i64>, end: Option<i64>| match (start, end) {
        (Some(start), Some(end)) if end >= start => u64::try_from(end - start).unwrap_or(0),
        _ => 0,
    };
    let status = |status: Option<&str>| match status {
        None | Some("") | Some("unset") => "unset",
        Some("ok") => "ok",
        Some(_) => "error",
    };
    let mut spans = Vec::with_capacity(transaction.spans.len() + 1);
    if let Some(root_id) = trace.span_id.as_deref() {
        let start = micros(transaction.start_timestamp);
        let op = trace.op.as_deref().unwrap_or("");
        spans.push(SpanRecord {
            project_id,
            trace_id: trace.trace_id.clone(),
            span_id: root_id.to_owned(),
            parent_span_id: trace.parent_span_id.clone().unwrap_or_default(),
            service: service.clone(),
            name: transaction.name.clone().unwrap_or_else(|| op.to_owned()),
            kind: if op == "http.server" {
                "server"
            } else {
                "internal"
            }
            .to_owned(),
            start_us: start.unwrap_or_default(),
            duration_us: duration(start, micros(transaction.timestamp)),
            status: status(trace.status.as_deref()).to_owned(),
            status_message: trace.status.clone().unwrap_or_default(),
            attribute_keys: transaction
                .tags
                .iter()
                .take(MAX_SENTRY_SPAN_ATTRIBUTES)
                .map(|(k, _)| k.clone())
                .collect(),
            attribute_values: transaction
                .tags
                .iter()
                .take(MAX_SENTRY_SPAN_ATTRIBUTES)
                .map(|(_, v)| v.clone())
                .collect(),
            source: "sentry".to_owned(),
            ..SpanRecord::default()
        });
    }
    for span in &transaction.spans {
        let trace_id = span
            .trace_id
            .clone()
            .unwrap_or_else(|| trace.trace_id.clone());
        let op = span.op.as_deref().unwrap_or("");
        let data_text = |keys: &[&str]| {
            keys.iter().find_map(|key| match span.data.get(*key)? {
                serde_json::Value::String(text) => Some(text.clone()),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            })
        };
        let mut attributes: Vec<(String, String)> = span.tags.clone();
        for (key, value) in &span.data {
            let text = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            attributes.push((key.clone(), text.chars().take(512).collect()));
        }
        attributes.truncate(MAX_SENTRY_SPAN_ATTRIBUTES);
        let start = micros(span.start_timestamp);
        spans.push(SpanRecord {
            project_id,
            trace_id,
            span_id: span.span_id.clone(),
            parent_span_id: span.parent_span_id.clone().unwrap_or_default(),
            service: service.clone(),
            name: span
                .description
                .clone()
                .filter(|description| !description.is_empty())
                .unwrap_or_else(|| op.to_owned()),
            kind: if op.starts_with("http.client") || op.starts_with("db") {
                "client"
            } else {
                "internal"
            }
            .to_owned(),
            start_us: start.unwrap_or_default(),
            duration_us: duration(start, micros(span.timestamp)),
            status: status(span.status.as_deref()).to_owned(),
            status_message: span.status.clone().unwrap_or_default(),
            http_method: data_text(&["http.request.method", "http.method"]).unwrap_or_default(),
            http_route: data_text(&["http.route"]).unwrap_or_default(),
            http_status_code: data_text(&["http.response.status_code", "status_code"])
                .and_then(|code| code.parse().ok())
                .unwrap_or(0),
            db_system: data_text(&["db.system"]).unwrap_or_default(),
            attribute_keys: attributes.iter().map(|(k, _)| k.clone()).collect(),
            attribute_values: attributes.into_iter().map(|(_, v)| v).collect(),
            source: "sentry".to_owned(),
        });
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(text: &str) -> Envelope {
        Envelope::parse(text.as_bytes().to_vec()).expect("envelope header")
    }

    #[test]
    fn good_items_survive_bad_ones_and_positions_are_kept() {
        let envelope = envelope(concat!(
            "{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n",
            "{\"type\":\"session\"}\n{\"sid\":\"x\"}\n",
            "{\"type\":\"event\"}\n{not json\n",
            "{\"length\":2}\n{}\n",
            "{\"type\":\"event\"}\n{\"message\":\"kept\"}\n",
            "{\"type\":\"mystery\"}\n{}\n",
        ));
        let counters = ItemCounters::default();
        let intake = read_items(&envelope, Utc::now(), &IngestConfig::default(), &counters);
        assert_eq!(intake.events.len(), 1);
        assert_eq!(intake.event_items, vec![3]);
        assert_eq!(
            intake.outcome.id.as_deref(),
            Some("9ec79c33ec9942ab8353589fcb2e04dc")
        );
        assert_eq!(intake.outcome.accepted["event"], 1);
        assert_eq!(intake.outcome.accepted["session"], 1);
        assert_eq!(intake.outcome.accepted["mystery"], 1);
        let rejected: Vec<(usize, &str)> = intake
            .outcome
            .rejected
            .iter()
            .map(|item| (item.item, item.item_type.as_str()))
            .collect();
        assert_eq!(rejected, vec![(1, "event"), (2, "unknown")]);
        assert!(intake.outcome.rejected[0].error.contains("invalid event"));
        let counts = counters.snapshot();
        assert_eq!(counts["event"], 2);
        assert_eq!(counts["other"], 1);
        assert_eq!(counts["rejected"], 2);
    }

    fn item_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            Just("{\"type\":\"event\"}\n{\"message\":\"m\"}".to_owned()),
            Just("{\"type\":\"event\"}\n{broken".to_owned()),
            Just("{\"type\":\"transaction\"}\n{\"contexts\":{}}".to_owned()),
            Just("{\"type\":\"session\",\"length\":2}\n{}".to_owned()),
            Just("{\"type\":\"attachment\",\"length\":40}\nshort".to_owned()),
            Just("{\"length\":2}\n{}".to_owned()),
            Just("not a header".to_owned()),
            "[ -~]{0,40}",
        ]
    }

    proptest::proptest! {
        /// Whatever the items, each one framed is accepted or rejected exactly once, and
        /// nothing panics.
        #[test]
        fn every_item_is_accepted_or_rejected_exactly_once(
            lines in proptest::collection::vec(item_line(), 0..8)
        ) {
            let body = format!("{{}}\n{}\n", lines.join("\n"));
            let envelope = Envelope::parse(body.into_bytes()).expect("the header is fine");
            let intake = read_items(&envelope, Utc::now(), &IngestConfig::default(), &ItemCounters::default());
            let accepted: u64 = intake.outcome.accepted.values().sum();
            let rejected = intake.outcome.rejected.len() as u64;
            proptest::prop_assert_eq!(
                accepted + rejected,
                (envelope.items.len() + envelope.item_errors.len()) as u64
            );
            proptest::prop_assert_eq!(intake.events.len() as u64, intake.outcome.accepted.get("event").copied().unwrap_or(0));
            let positions: BTreeSet<usize> = intake.outcome.rejected.iter().map(|item| item.item).collect();
            proptest::prop_assert_eq!(positions.len() as u64, rejected);
        }
    }

    #[test]
    fn transactions_become_a_root_span_and_child_spans() {
        let parsed = stackhouse_protocol::parse_transaction_value(serde_json::json!({
            "transaction": "/cart", "release": "shop@1.0",
            "start_timestamp": 1_709_294_400.0, "timestamp": 1_709_294_400.5,
            "contexts": {"trace": {"trace_id": "4c79f60c11214eb38604f4ae0781bfb2",
                                   "span_id": "fa90fdead5f74052", "op": "http.server",
                                   "status": "internal_error"}},
            "spans": [{"span_id": "b0e6f15b45c36b12", "parent_span_id": "fa90fdead5f74052",
                       "op": "db", "description": "SELECT 1", "status": "ok",
                       "start_timestamp": 1_709_294_400.1, "timestamp": 1_709_294_400.2,
                       "data": {"db.system": "sqlite"}}]
        }))
        .expect("parses");
        let spans = transaction_spans(3, &parsed.transaction);
        assert_eq!(spans.len(), 2);
        assert_eq!(
            (spans[0].name.as_str(), spans[0].kind.as_str()),
            ("/cart", "server")
        );
        assert_eq!(
            (spans[0].status.as_str(), spans[0].duration_us),
            ("error", 500_000)
        );
        assert_eq!(spans[0].service, "shop");
        assert_eq!(spans[1].parent_span_id, "fa90fdead5f74052");
        assert_eq!(spans[1].trace_id, "4c79f60c11214eb38604f4ae0781bfb2");
        assert_eq!(
            (spans[1].db_system.as_str(), spans[1].kind.as_str()),
            ("sqlite", "client")
        );
        assert_eq!(spans[1].duration_us, 100_000);
    }

    #[test]
    fn oversized_events_are_refused_for_their_size() {
        let limits = IngestConfig {
            max_event_bytes: 10,
            ..IngestConfig::default()
        };
        let envelope = envelope("{}\n{\"type\":\"event\"}\n{\"message\":\"far too long\"}\n");
        let mut intake = read_items(&envelope, Utc::now(), &limits, &ItemCounters::default());
        assert!(!intake.kept_anything());
        assert!(intake.outcome.rejected[0].too_large);
        intake.refuse_events("unused");
        assert!(intake.outcome.accepted.is_empty());
    }
}
