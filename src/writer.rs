//! Step "batch writer": a bounded queue in front of the engine.
//!
//! Requests hand over their events and wait; one task gathers what is queued into large batches
//! (flushed on size or time), writes each batch once, and answers every waiting request only
//! after the batch is durable. The queue is bounded in *events* by a semaphore: when it is full,
//! [`BatchWriter::submit`] fails at once with [`WriteError::QueueFull`] (ingest answers 503 with
//! `Retry-After`) instead of letting memory grow.
//!
//! Two kinds of failure, as the engine reports them: an unavailable engine is retried with
//! backoff (then the waiting requests get 503 and nothing was acknowledged); a batch the engine
//! rejects is never retried, since it can never succeed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::WriterConfig;
use crate::engine::{Engine, EngineError, WriteBatch};
use crate::group::Grouper;
use crate::tracker::StatusTracker;

/// Why a submitted batch was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("the write queue is full")]
    QueueFull,
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    #[error("storage rejected the batch: {0}")]
    Rejected(String),
    #[error("the server is shutting down")]
    ShuttingDown,
}

struct Pending {
    batch: WriteBatch,
    _permit: OwnedSemaphorePermit,
    done: oneshot::Sender<Result<(), WriteError>>,
}

/// The handle requests submit batches through.
#[derive(Clone)]
pub struct BatchWriter {
    sender: mpsc::UnboundedSender<Pending>,
    permits: Arc<Semaphore>,
    capacity: usize,
}

impl BatchWriter {
    /// Starts the flush task.
    pub fn start(
        engine: Arc<dyn Engine>,
        grouper: Arc<Grouper>,
        tracker: Arc<StatusTracker>,
        config: WriterConfig,
    ) -> BatchWriter {
        let capacity = config.queue_capacity_events.max(1);
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(flush_loop(engine, grouper, tracker, config, receiver));
        BatchWriter {
            sender,
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// Events the queue can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queues a batch and waits until it is durable.
    pub async fn submit(&self, batch: WriteBatch) -> Result<(), WriteError> {
        if batch.is_empty() {
            return Ok(());
        }
        let events = u32::try_from(batch.events.len().clamp(1, self.capacity))
            .map_err(|_| WriteError::QueueFull)?;
        let permit = self
            .permits
            .clone()
            .try_acquire_many_owned(events)
            .map_err(|_| WriteError::QueueFull)?;
        let (done, wait) = oneshot::channel();
        self.sender
            .send(Pending {
                batch,
                _permit: permit,
                done,
            })
            .map_err(|_| WriteError::ShuttingDown)?;
        wait.await.unwrap_or(Err(WriteError::ShuttingDown))
    }
}

async fn flush_loop(
    engine: Arc<dyn Engine>,
    grouper: Arc<Grouper>,
    tracker: Arc<StatusTracker>,
    config: WriterConfig,
    mut receiver: mpsc::UnboundedReceiver<Pending>,
) {
    let flush_interval = Duration::from_millis(config.flush_interval_ms);
    while let Some(first) = receiver.recv().await {
        let deadline = Instant::now() + flush_interval;
        let mut queued_events = first.batch.events.len();
        let mut pending = vec![first];
        // Group commit: everything that queued up during the previous write joins this batch.
        while queued_events < config.batch_max_events {
            match receiver.try_recv() {
                Ok(next) => {
                    queued_events += next.batch.events.len();
                    pending.push(next);
                }
                Err(_) => break,
            }
        }
        while queued_events < config.batch_max_events && !flush_interval.is_zero() {
            tokio::select! {
                next = receiver.recv() => match next {
                    Some(next) => {
                        queued_events += next.batch.events.len();
                        pending.push(next);
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let mut batch = WriteBatch::default();
        for item in &mut pending {
            batch.append(std::mem::take(&mut item.batch));
        }
        dedup_side_records(&mut batch);
        let result = write_with_retries(engine.as_ref(), &batch, &config).await;
        if result.is_ok() {
            grouper.confirm(&batch);
            tracker.confirm(&batch);
        }
        for item in pending {
            let _ = item.done.send(result.clone());
        }
    }
}

/// Many requests of one flush may carry the same pending issue; store it once.
fn dedup_side_records(batch: &mut WriteBatch) {
    let mut seen_issues = HashSet::new();
    batch
        .new_issues
        .retain(|issue| seen_issues.insert((issue.project_id, issue.issue_id)));
    let mut seen_mappings = HashSet::new();
    batch
        .new_mappings
        .retain(|mapping| seen_mappings.insert((mapping.project_id, mapping.fingerprint)));
    let mut seen_changes = HashSet::new();
    batch
        .status_changes
        .retain(|change| seen_changes.insert((change.issue_id, change.version)));
}

async fn write_with_retries(
    engine: &dyn Engine,
    batch: &WriteBatch,
    config: &WriterConfig,
) -> Result<(), WriteError> {
    let mut backoff = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        match engine.write(batch).await {
            Ok(()) => return Ok(()),
            Err(EngineError::Unavailable(message)) if attempt < config.max_retries => {
                attempt += 1;
                tracing::warn!(attempt, %message, "engine unavailable, retrying batch");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(EngineError::Unavailable(message)) => {
                tracing::error!(%message, "engine unavailable, giving up on batch");
                return Err(WriteError::Unavailable(message));
            }
            Err(error) => {
                tracing::error!(%error, events = batch.events.len(), "engine rejected batch");
                return Err(WriteError::Rejected(error.to_string()));
            }
        }
    }
}
