//! The ingest pipeline after parsing, as a top-to-bottom chain of named stages:
//! fingerprint → group → lifecycle → batch writer.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use stackhouse_protocol::ErrorEvent;

use crate::engine::{EventRecord, WriteBatch};
use crate::group::Grouper;
use crate::lifecycle::EventFacts;
use crate::tracker::StatusTracker;
use crate::writer::{BatchWriter, WriteError};

/// Turns parsed events into stored, grouped rows.
pub struct Pipeline {
    grouper: Arc<Grouper>,
    tracker: Arc<StatusTracker>,
    writer: BatchWriter,
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
            let record = EventRecord::from_event(project_id, event, received, &fingerprint);
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
