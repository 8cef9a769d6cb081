//! The ingest pipeline after parsing, as a top-to-bottom chain of named stages:
//! fingerprint → group → lifecycle → batch writer.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use stackhouse_grouping::Explanation;
use stackhouse_protocol::ErrorEvent;

use crate::engine::{explanation_json, EventRecord, WriteBatch};
use crate::group::Grouper;
use crate::lifecycle::EventFacts;
use crate::tracker::StatusTracker;
use crate::writer::{BatchWriter, WriteError};

/// Turns parsed events into stored, grouped rows.
pub struct Pipeline {
    grouper: Arc<Grouper>,
    tracker: Arc<StatusTracker>,
    writer: BatchWriter,
    explanations: ExplanationCache,
}

impl Pipeline {
    pub fn new(
        grouper: Arc<Grouper>,
        tracker: Arc<StatusTracker>,
        writer: BatchWriter,
    ) -> Pipeline {
        Pipeline {
            grouper,
            tracker,
            writer,
            explanations: ExplanationCache::default(),
        }
    }

    /// The CPU-bound part (run it off the async workers for large requests): fingerprint and
    /// group every event, producing the batch to store.
    pub fn prepare(
        &self,
        project_id: u64,
        events: &[ErrorEvent],
        received: DateTime<Utc>,
    ) -> WriteBatch {
        let mut batch = WriteBatch::default();
        batch.events.reserve(events.len());
        for event in events {
            // Fingerprint: versioned, with an explanation stored beside the event.
            let mut fingerprint =
                stackhouse_grouping::fingerprint_event(event, self.grouper.config());
            // Group: exact fingerprint match, else the most similar issue above the threshold
            // (recorded in the explanation), else a new issue — pending until durable.
            let issue_id =
                self.grouper
                    .assign(project_id, event, &mut fingerprint, received, &mut batch);
            let explanation = self
                .explanations
                .json(fingerprint.hash, &fingerprint.explanation);
            let record = EventRecord::with_explanation_json(
                project_id,
                event,
                received,
                &fingerprint,
                explanation,
            );
            // Lifecycle: a resolved issue regresses, an ignored one may reopen; the transition
            // travels in this batch, durable with the event that caused it.
            self.tracker.observe(
                project_id,
                issue_id,
                EventFacts {
                    release: &record.release,
                    user_key: &record.user_key,
                    received,
                },
                &mut batch,
            );
            batch.events.push(record);
        }
        batch
    }

    /// The batch writer: returns once the batch is durable (only then may a client be told
    /// its events were accepted).
    pub async fn store(&self, batch: WriteBatch) -> Result<(), WriteError> {
        self.writer.submit(batch).await
    }

    pub fn grouper(&self) -> &Grouper {
        &self.grouper
    }

    /// The lifecycle state of every issue.
    pub fn tracker(&self) -> &Arc<StatusTracker> {
        &self.tracker
    }
}

/// The JSON of the explanations of recently seen fingerprints. Events of one fingerprint
/// usually carry the same explanation, and serializing it anew for each was about 2% of the
/// server's CPU under one-event envelopes; comparing it with the last one stored for the
/// fingerprint and copying that JSON is a fraction of that. An explanation that differs (other
/// non-in-app frames ignored, a similarity join) is serialized and replaces the entry.
#[derive(Default)]
struct ExplanationCache {
    entries: Mutex<foldhash::HashMap<u64, (Explanation, String)>>,
}

/// At most this many fingerprints are cached (a few MiB); when full, the cache starts over.
const EXPLANATION_CACHE_ENTRIES: usize = 1024;

impl ExplanationCache {
    /// The JSON of `explanation`, the explanation of fingerprint `hash`. A miss is serialized
    /// outside the lock, so other events wait only for a lookup or an insert.
    fn json(&self, hash: u64, explanation: &Explanation) -> String {
        if let Some((cached, json)) = self.entries.lock().get(&hash) {
            if cached == explanation {
                return json.clone();
            }
        }
        let json = explanation_json(explanation);
        let mut entries = self.entries.lock();
        if entries.len() >= EXPLANATION_CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(hash, (explanation.clone(), json.clone()));
        json
    }
}

#[cfg(test)]
mod tests {
    use stackhouse_grouping::{Basis, Component, ComponentKind};

    use super::*;

    fn explanation(value: &str) -> Explanation {
        Explanation {
            basis: Basis::Message,
            contributing: vec![Component {
                kind: ComponentKind::Message,
                value: value.to_owned(),
            }],
            ..Explanation::default()
        }
    }

    #[test]
    fn cached_explanations_are_the_json_of_each_events_own_explanation() {
        let cache = ExplanationCache::default();
        let first = explanation("order <int> failed");
        assert_eq!(cache.json(1, &first), explanation_json(&first));
        assert_eq!(cache.json(1, &first), explanation_json(&first));
        assert_eq!(
            cache.entries.lock().get(&1).map(|(cached, _)| cached),
            Some(&first)
        );
        // Same fingerprint, another explanation: its own JSON, not the cached one.
        let other = explanation("order <int> lost");
        assert_eq!(cache.json(1, &other), explanation_json(&other));
        assert_ne!(cache.json(1, &other), cache.json(1, &first));
        // Past the bound the cache starts over and still answers right.
        for hash in 2..(EXPLANATION_CACHE_ENTRIES as u64 + 10) {
            let many = explanation(&format!("message {hash}"));
            assert_eq!(cache.json(hash, &many), explanation_json(&many));
        }
        assert!(cache.entries.lock().len() <= EXPLANATION_CACHE_ENTRIES);
        assert_eq!(cache.json(1, &first), explanation_json(&first));
    }
}
