//! Step "batch writer": a bounded queue in front of the engine.
//!
//! Requests hand over their events and wait; one task gathers what is queued into large batches
//! (flushed on size or time), writes each batch once, and answers every waiting request only
//! after the batch is durable. The queue is bounded in events and in bytes of events (each by
//! a semaphore): when either is full, [`BatchWriter::submit`] fails at once with
//! [`WriteError::QueueFull`] (ingest answers 503 with `Retry-After`) instead of letting memory
//! grow. Batches are bounded the same two ways, so one write's memory is bounded too.
//!
//! Two kinds of failure, as the engine reports them: an unavailable engine is retried with
//! backoff (then the waiting requests get 503 and nothing was acknowledged); a batch the engine
//! rejects is never retried, since it can never succeed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::WriterConfig;
use crate::engine::{Engine, EngineError, EventRecord, WriteBatch};
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
    /// Bytes of its events in memory ([`EventRecord::memory_bytes`]).
    bytes: usize,
    _permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
    done: oneshot::Sender<Result<(), WriteError>>,
}

/// The byte semaphore counts kibibytes, so its permits fit a `u32` for any sane capacity.
const PERMIT_BYTES: usize = 1024;

/// The handle requests submit batches through.
#[derive(Clone)]
pub struct BatchWriter {
    sender: mpsc::UnboundedSender<Pending>,
    permits: Arc<Semaphore>,
    capacity: usize,
    /// Kibibytes of events that may wait.
    byte_permits: Arc<Semaphore>,
    capacity_kib: usize,
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
        let capacity_kib = (config.queue_capacity_bytes / PERMIT_BYTES).max(1);
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(flush_loop(engine, grouper, tracker, config, receiver));
        BatchWriter {
            sender,
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
            byte_permits: Arc::new(Semaphore::new(capacity_kib)),
            capacity_kib,
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
        // A request larger than the whole queue takes all of it (and waits for an empty one).
        let bytes: usize = batch.events.iter().map(EventRecord::memory_bytes).sum();
        let events = acquire(&self.permits, batch.events.len(), self.capacity)?;
        let kib = acquire(
            &self.byte_permits,
            bytes.div_ceil(PERMIT_BYTES),
            self.capacity_kib,
        )?;
        let (done, wait) = oneshot::channel();
        self.sender
            .send(Pending {
                batch,
                bytes,
                _permits: (events, kib),
                done,
            })
            .map_err(|_| WriteError::ShuttingDown)?;
        wait.await.unwrap_or(Err(WriteError::ShuttingDown))
    }
}

/// How much a batch being gathered holds.
#[derive(Default)]
struct BatchSize {
    events: usize,
    bytes: usize,
}

impl BatchSize {
    fn add(&mut self, pending: &Pending) {
        self.events += pending.batch.events.len();
        self.bytes += pending.bytes;
    }

    fn full(&self, max_events: usize, max_bytes: usize) -> bool {
        self.events >= max_events || self.bytes >= max_bytes
    }
}

/// Takes `wanted` permits (at least one, at most `capacity`) if they are free now.
fn acquire(
    permits: &Arc<Semaphore>,
    wanted: usize,
    capacity: usize,
) -> Result<OwnedSemaphorePermit, WriteError> {
    let wanted = u32::try_from(wanted.clamp(1, capacity)).map_err(|_| WriteError::QueueFull)?;
    permits
        .clone()
        .try_acquire_many_owned(wanted)
        .map_err(|_| WriteError::QueueFull)
}

/// The most bytes of events one batch holds in front of `engine`: the configuration's limit,
/// else the engine's own ([`Engine::write_batch_bytes`]).
pub fn batch_max_bytes(config: &WriterConfig, engine: &dyn Engine) -> usize {
    config
        .batch_max_bytes
        .unwrap_or_else(|| engine.write_batch_bytes())
}

async fn flush_loop(
    engine: Arc<dyn Engine>,
    grouper: Arc<Grouper>,
    tracker: Arc<StatusTracker>,
    config: WriterConfig,
    mut receiver: mpsc::UnboundedReceiver<Pending>,
) {
    let flush_interval = Duration::from_millis(config.flush_interval_ms);
    let max_bytes = batch_max_bytes(&config, engine.as_ref());
    while let Some(first) = receiver.recv().await {
        let deadline = Instant::now() + flush_interval;
        let mut size = BatchSize::default();
        size.add(&first);
        let mut pending = vec![first];
        // Group commit: everything that queued up during the previous write joins this batch.
        while !size.full(config.batch_max_events, max_bytes) {
            match receiver.try_recv() {
                Ok(next) => {
                    size.add(&next);
                    pending.push(next);
                }
                Err(_) => break,
            }
        }
        while !size.full(config.batch_max_events, max_bytes) && !flush_interval.is_zero() {
            tokio::select! {
                next = receiver.recv() => match next {
                    Some(next) => {
                        size.add(&next);
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
        batch.dedup_side_records();
        let batch = Arc::new(batch);
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

async fn write_with_retries(
    engine: &dyn Engine,
    batch: &Arc<WriteBatch>,
    config: &WriterConfig,
) -> Result<(), WriteError> {
    let mut backoff = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        match engine.write_shared(batch.clone()).await {
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
