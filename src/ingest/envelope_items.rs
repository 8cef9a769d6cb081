//! What happens to each item of a Sentry envelope: events are parsed for the pipeline, the rest is checked, counted and let go.
//!
//! - `event`: parsed into an [`ErrorEvent`] (held to `max_event_bytes`), then stored like any
//!   other event.
//! - `transaction`: parsed for its trace context, which is logged and counted; spans and
//!   transactions are not stored yet (the `spans` table is a later capability).
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
};

use crate::config::IngestConfig;

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
                    let transaction = parsed.transaction;
                    let trace = transaction.trace.as_ref();
                    // Kept for now as a log line; the spans table is a later capability.
                    tracing::debug!(
                        name = transaction.name.as_deref().unwrap_or(""),
                        trace_id = trace.map(|t| t.trace_id.as_str()).unwrap_or(""),
                        span_id = trace.and_then(|t| t.span_id.as_deref()).unwrap_or(""),
                        spans = transaction.spans.len(),
                        "transaction received (not stored yet)"
                    );
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
