//! The embedded engine: the whole product with no server, on Arrow, Parquet and DataFusion.
//!
//! How a write travels ([`EmbeddedEngine::write`]):
//! 1. **Log** ([`wal`]): the batch (issues, mappings, events as an Arrow IPC stream) becomes
//!    one checksummed record, appended and synced before the call returns.
//! 2. **Apply**, under the state lock so readers see all of a batch or none of it: the side
//!    tables ([`side_tables`]) take the issues and mappings, the aggregates ([`aggregates`]:
//!    minute, hour and all-time buckets per fingerprint, with exact distinct-user sets) take
//!    the events, and the events join the memtable ([`memtable`]) as an Arrow batch.
//! 3. **Checkpoint** (background thread): once the memtable is large or old, it is frozen
//!    (still visible to queries), written as a sorted Parquet segment ([`segments`]), the
//!    changed aggregate buckets and the side tables are written next to it, and the
//!    [`manifest`] is replaced atomically with the log sequence number all of this covers.
//!    Only then are the covered log files deleted; replay skips records up to that number, so
//!    a crash anywhere in between can neither lose nor duplicate an event.
//! 4. **Compaction** (another background thread): size-tiered merges keep the number of
//!    segments logarithmic in the data; replaced segments are deleted after a grace period so
//!    running queries can finish reading them.
//!
//! Reads: the issue list, issue detail and hourly trends come from the aggregates and side
//! tables alone; latest events and analyst SQL go through DataFusion ([`sql`]), where
//! `events` is the union of the memtable and the Parquet segments.
//!
//! On disk (`data_dir`): `LOCK`, `MANIFEST`, `wal/*.wal`, `segments/seg-*.parquet`,
//! `checkpoints/{agg,side}-*.bin`.

mod aggregates;
mod alerts;
mod analyst;
mod arena;
pub(crate) mod codec;
pub(crate) mod event_batch;
pub(crate) mod log_record;
mod manifest;
mod memtable;
mod recent;
mod segments;
mod side_tables;
mod spans;
mod sql;
mod user_set;
pub(crate) mod wal;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use parking_lot::{Mutex, RwLock, RwLockWriteGuard};
use serde::Deserialize;

use self::aggregates::Aggregates;
use self::codec::{read_checked_file, write_checked_file, CheckedFileWriter, Decoder, Encoder};
use self::event_batch::{epoch_seconds, from_epoch_seconds, stored_time};
use self::log_record::LogRecord;
use self::manifest::{Manifest, MANIFEST_FILE};
use self::memtable::MemTable;
use self::segments::SegmentInfo;
use self::side_tables::SideTables;
use self::wal::Wal;
use super::{
    AlertClaim, AlertDeliveryQuery, AlertDeliveryRecord, AlertEvaluationWrite, AlertEventQuery,
    AlertEventRecord, AlertPruneCounts, AlertRuleRecord, AlertStateRecord, ApiTokenRecord, Engine,
    EngineError, EngineResult, EventFilter, EventRecord, FingerprintCounts, FingerprintMapping,
    FingerprintTotals, HourlyCount, IssueFingerprints, IssueQuery, IssueRecord, IssueSort,
    IssueSummary, Project, ProjectKey, SpanRange, SpanRecord, SqlDialect, SqlLimits, SqlResult,
    StatusChangeRecord, TagCount, WriteBatch,
};

pub use self::event_batch::events_schema;

/// Tuning of the embedded engine: the `[embedded]` section of the configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedOptions {
    /// A checkpoint writes the in-memory events to a Parquet segment once there are this many
    /// of them. Default 200,000.
    pub memtable_max_events: usize,
    /// ... or once they take this many bytes of memory. Default 80 MiB (about 4.4 KB an
    /// event in memory for the load benchmark's 2-6 KB events: a checkpoint writes about
    /// 19,000 of them, measured from its level-0 segments). The events in memory are at most
    /// about twice this (one memtable being written out, one filling), beside the aggregates.
    /// A smaller one trades ingest for memory: more, smaller segments to write and merge.
    pub memtable_max_bytes: usize,
    /// ... or once anything written has waited this many seconds. Default 300.
    pub checkpoint_interval_secs: u64,
    /// How many segments of one size tier compaction merges into one. Default 4. More merges
    /// less: each event is rewritten about log_fan_in(checkpoints) times (`benches/embedded.rs`,
    /// 2M events: 70-72 µs of CPU per event with 4, 57-62 with 8), but queries open more files
    /// (the issue detail of `benches/issues.rs`, 1M events: p50 15.3-24.0 ms with 4,
    /// 29.6-31.2 ms with 8).
    pub compaction_fan_in: usize,
    /// Compaction leaves alone segments whose merge would hold more than this many events
    /// (0, the default: no bound). Without a bound each event is rewritten about
    /// log_fan_in(stored / checkpoint) times, so the merge work per event grows as data
    /// accumulates (the load benchmark's server CPU per event rose about 15% over ten
    /// minutes, three merges deep). With one it stays at about log_fan_in(bound /
    /// checkpoint), and the segments at the top grow in number instead: one per `bound`
    /// events, each opened by the queries that read every segment.
    pub compaction_max_segment_events: u64,
    /// Rows per Parquet row group (the unit DataFusion prunes by statistics). Default 65,536.
    pub row_group_events: usize,
    /// Aggregate delta files kept before a checkpoint writes all aggregates afresh. Default 8.
    pub max_aggregate_deltas: usize,
    /// Memory one analyst query may use before it fails, in bytes. Default 512 MiB.
    pub query_memory_limit_bytes: usize,
    /// Longest an analyst query may run, in seconds. Default 30.
    pub query_timeout_secs: u64,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            memtable_max_events: 200_000,
            memtable_max_bytes: 80 * 1024 * 1024,
            checkpoint_interval_secs: 300,
            compaction_fan_in: 4,
            compaction_max_segment_events: 0,
            row_group_events: 65_536,
            max_aggregate_deltas: 8,
            query_memory_limit_bytes: 512 * 1024 * 1024,
            query_timeout_secs: 30,
        }
    }
}

/// Why the embedded engine failed.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("Arrow error: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("Parquet error: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error("query failed: {0}")]
    Query(#[from] datafusion::error::DataFusionError),
    #[error("{0}")]
    TooLarge(String),
    #[error("analyst SQL is read-only: {0}")]
    ReadOnly(String),
    #[error("the query ran longer than {0} seconds")]
    Timeout(u64),
    #[error("the data directory {0} is in use by another Stackhouse process")]
    Locked(PathBuf),
    #[error("the engine is shutting down")]
    ShuttingDown,
    #[error("{0}")]
    Overloaded(String),
}

impl From<EmbeddedError> for EngineError {
    fn from(error: EmbeddedError) -> Self {
        match error {
            EmbeddedError::Io(_)
            | EmbeddedError::Locked(_)
            | EmbeddedError::ShuttingDown
            | EmbeddedError::Overloaded(_) => EngineError::Unavailable(error.to_string()),
            EmbeddedError::Corrupt(_) | EmbeddedError::Arrow(_) | EmbeddedError::Parquet(_) => {
                EngineError::Corrupt(error.to_string())
            }
            EmbeddedError::Query(_)
            | EmbeddedError::TooLarge(_)
            | EmbeddedError::ReadOnly(_)
            | EmbeddedError::Timeout(_) => EngineError::Rejected(error.to_string()),
        }
    }
}

/// Everything queries read, behind one lock so a write is seen whole or not at all.
#[derive(Debug, Default)]
pub(crate) struct State {
    side: SideTables,
    aggregates: Aggregates,
    environments: aggregates::EnvironmentIndex,
    memtable: MemTable,
    /// Memtables being written to a segment: visible to queries until the segment is.
    frozen: Vec<Arc<Vec<RecordBatch>>>,
    /// The segments of the current manifest.
    segments: Arc<Vec<SegmentInfo>>,
    /// A checkpoint failed after handing over its aggregate changes: the next one must write
    /// every bucket, not just the changed ones.
    aggregates_need_base: bool,
}

impl State {
    fn apply(&mut self, _seq: u64, record: LogRecord) -> Result<(), EmbeddedError> {
        arena::long_lived(|| self.apply_in_arena(record))
    }

    fn apply_in_arena(&mut self, record: LogRecord) -> Result<(), EmbeddedError> {
        match record {
            LogRecord::Batch {
                issues,
                mappings,
                events,
                status_changes,
            } => {
                for issue in &issues {
                    self.side.apply_issue(issue);
                }
                for mapping in &mappings {
                    self.side.apply_mapping(mapping);
                }
                if let Some(events) = events {
                    self.aggregates.add_batch(&events)?;
                    self.environments.add_batch(&events)?;
                    self.memtable.push(events)?;
                }
                for change in &status_changes {
                    self.side.apply_status_change(change);
                }
            }
            LogRecord::Project { project, key } => self.side.apply_project(&project, &key),
            LogRecord::ApiToken(token) => self.side.apply_api_token(&token),
        }
        Ok(())
    }

    /// Memory taken by the events not yet in a segment: the memtable's and those a
    /// checkpoint is writing out.
    fn waiting_bytes(&self) -> usize {
        let frozen: usize = self
            .frozen
            .iter()
            .flat_map(|frozen| frozen.iter())
            .map(RecordBatch::get_array_memory_size)
            .sum();
        self.memtable.bytes() + frozen
    }

    /// Events not yet in a segment.
    fn memory_batches(&self) -> Vec<RecordBatch> {
        let mut batches: Vec<RecordBatch> = self
            .frozen
            .iter()
            .flat_map(|frozen| frozen.iter().cloned())
            .collect();
        batches.extend(self.memtable.batches());
        batches
    }
}

/// Counters for tests, benchmarks and operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedStats {
    pub segments: usize,
    pub segment_events: u64,
    pub segment_bytes: u64,
    pub memtable_events: usize,
    pub checkpoint_seq: u64,
    pub last_seq: u64,
    pub wal_files: usize,
    /// Bytes of everything in the data directory.
    pub disk_bytes: u64,
}

struct Shared {
    directory: PathBuf,
    options: EmbeddedOptions,
    wal: Mutex<Wal>,
    state: Arc<RwLock<State>>,
    manifest: Mutex<Manifest>,
    /// Held by whoever is merging segments (the compactor, or [`EmbeddedEngine::flush`]).
    compaction: Mutex<()>,
    /// Replaced segments, deleted once no query started before their replacement can still
    /// be reading them.
    trash: Mutex<Vec<(PathBuf, Instant)>>,
    last_checkpoint: Mutex<Instant>,
    stopping: AtomicBool,
    /// Held open with an exclusive lock for as long as the engine runs.
    _lock: File,
}

/// How long a replaced segment stays on disk for queries that may still read it.
const TRASH_GRACE: Duration = Duration::from_secs(60);

enum Signal {
    Wake,
    Stop,
}

/// The embedded implementation of [`Engine`].
pub struct EmbeddedEngine {
    shared: Arc<Shared>,
    context: SessionContext,
    /// Alerting tables (issue 7), with a log of their own.
    alerts: alerts::AlertStore,
    /// The `spans` table (issue 9): a log and index of its own.
    spans: Arc<spans::SpanStore>,
    checkpointer: Option<(mpsc::Sender<Signal>, JoinHandle<()>)>,
    compactor: Option<(mpsc::Sender<Signal>, JoinHandle<()>)>,
}

fn wal_directory(directory: &Path) -> PathBuf {
    directory.join("wal")
}
fn segments_directory(directory: &Path) -> PathBuf {
    directory.join("segments")
}
fn checkpoints_directory(directory: &Path) -> PathBuf {
    directory.join("checkpoints")
}

impl EmbeddedEngine {
    /// Opens (or creates) the data directory: loads the last checkpoint, replays the log after
    /// it, and starts the background checkpointer and compactor. Fails if another process
    /// has the directory open.
    pub fn open(
        directory: &Path,
        options: EmbeddedOptions,
    ) -> Result<EmbeddedEngine, EmbeddedError> {
        let started = Instant::now();
        fs::create_dir_all(directory)?;
        let directory = fs::canonicalize(directory)?;
        for sub in [
            wal_directory(&directory),
            segments_directory(&directory),
            checkpoints_directory(&directory),
        ] {
            fs::create_dir_all(sub)?;
        }
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(directory.join("LOCK"))?;
        if lock.try_lock().is_err() {
            return Err(EmbeddedError::Locked(directory));
        }

        let manifest = Manifest::load(&directory)?;
        remove_debris(&directory, &manifest)?;
        let mut state = State {
            segments: Arc::new(manifest.segments.clone()),
            ..State::default()
        };
        if let Some(side_file) = &manifest.side_file {
            let bytes = read_checked_file(&checkpoints_directory(&directory).join(side_file))?;
            state.side =
                arena::long_lived(|| SideTables::decode(&mut Decoder::new(&bytes, "side tables")))?;
        }
        state.aggregates = match arena::long_lived(|| load_aggregates(&directory, &manifest)) {
            Ok(aggregates) => aggregates,
            Err(error) => {
                tracing::error!(%error, "aggregate checkpoint unreadable; rebuilding it from the segments");
                state.aggregates_need_base = true;
                rebuild_aggregates(&directory, &manifest.segments)?
            }
        };

        let outcome = wal::replay(
            &wal_directory(&directory),
            manifest.checkpoint_seq,
            |seq, payload| state.apply(seq, LogRecord::decode(payload)?),
        )?;
        // The environment index from the stored events now, rather than on the first
        // environment-filtered issue list (~0.2 s at 10 million events). If a segment cannot
        // be read here, that first list completes the index through DataFusion instead.
        if let Err(error) = index_environments(&directory, &manifest.segments, &mut state) {
            tracing::warn!(%error, "environment index left to the first filtered issue list");
        }
        tracing::info!(
            directory = %directory.display(),
            checkpoint_seq = manifest.checkpoint_seq,
            segments = manifest.segments.len(),
            replayed = outcome.replayed,
            memtable_events = state.memtable.rows(),
            dropped_tails = outcome.dropped_tails.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "embedded engine opened"
        );
        let wal = Wal::create(&wal_directory(&directory), outcome.last_seq + 1)?;

        let state = Arc::new(RwLock::new(state));
        let context =
            sql::session_context(state.clone(), segments_directory(&directory), &options)?;
        let alerts = alerts::AlertStore::open(&directory)?;
        alerts.register(&context)?;
        let span_store = Arc::new(spans::SpanStore::open(&directory)?);
        let store = span_store.clone();
        context.register_table(
            "spans",
            sql::LiveTable::new("spans", spans::spans_schema(), move |_| store.batch()),
        )?;
        let shared = Arc::new(Shared {
            directory,
            options,
            wal: Mutex::new(wal),
            state,
            manifest: Mutex::new(manifest),
            compaction: Mutex::new(()),
            trash: Mutex::new(Vec::new()),
            last_checkpoint: Mutex::new(Instant::now()),
            stopping: AtomicBool::new(false),
            _lock: lock,
        });
        let checkpointer = spawn_worker("stackhouse-checkpoint", shared.clone(), |shared| {
            shared.checkpoint_if_due()
        })?;
        let compactor = spawn_worker("stackhouse-compact", shared.clone(), |shared| {
            // One merge at a time until nothing is left to merge (or the engine stops).
            let mut merged = true;
            while merged && !shared.stopping.load(Ordering::Relaxed) {
                merged = shared.compact_once()?;
            }
            Ok(())
        })?;
        let engine = EmbeddedEngine {
            shared,
            context,
            alerts,
            spans: span_store,
            checkpointer: Some(checkpointer),
            compactor: Some(compactor),
        };
        engine.wake_workers();
        Ok(engine)
    }

    fn wake_workers(&self) {
        for (sender, _) in [&self.checkpointer, &self.compactor].into_iter().flatten() {
            let _ = sender.send(Signal::Wake);
        }
    }

    /// Runs a blocking engine operation off the async workers.
    async fn blocking<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&Shared) -> Result<T, EmbeddedError> + Send + 'static,
    ) -> EngineResult<T> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || operation(&shared))
            .await
            .map_err(|error| EngineError::Unavailable(format!("engine task failed: {error}")))?
            .map_err(EngineError::from)
    }

    /// Runs one read-only analyst query over the logical tables (`events`, `issues`,
    /// `issue_stats`, `issue_state`, `issue_history`, `issue_fingerprints`,
    /// `fingerprint_minute`, `fingerprint_hour`, `projects`). DDL, DML, COPY and SET are
    /// refused with [`EngineError::Rejected`] before anything runs.
    pub async fn sql(&self, query: &str) -> EngineResult<Vec<RecordBatch>> {
        let timeout = self.shared.options.query_timeout_secs;
        match tokio::time::timeout(
            Duration::from_secs(timeout),
            sql::run_read_only(&self.context, query),
        )
        .await
        {
            Ok(result) => result.map_err(EngineError::from),
            Err(_) => Err(EmbeddedError::Timeout(timeout).into()),
        }
    }

    /// Writes a checkpoint now and runs compaction until nothing is left to merge (tests and
    /// benchmarks; the background threads do this on their own).
    pub async fn flush(&self) -> EngineResult<()> {
        self.blocking(|shared| {
            shared.checkpoint()?;
            let mut merged = true;
            while merged {
                merged = shared.compact_once()?;
            }
            Ok(())
        })
        .await
    }

    pub fn stats(&self) -> EmbeddedStats {
        let (segments, memtable_events) = {
            let state = self.shared.state.read();
            (state.segments.clone(), state.memtable.rows())
        };
        let checkpoint_seq = self.shared.manifest.lock().checkpoint_seq;
        let last_seq = self.shared.wal.lock().last_seq();
        let wal_files = fs::read_dir(wal_directory(&self.shared.directory))
            .map(|entries| entries.count())
            .unwrap_or(0);
        EmbeddedStats {
            segments: segments.len(),
            segment_events: segments.iter().map(|s| s.rows).sum(),
            segment_bytes: segments.iter().map(|s| s.bytes).sum(),
            memtable_events,
            checkpoint_seq,
            last_seq,
            wal_files,
            disk_bytes: directory_bytes(&self.shared.directory),
        }
    }

    pub fn data_directory(&self) -> &Path {
        &self.shared.directory
    }

    /// The fingerprints currently mapped to an issue.
    fn issue_fingerprints(&self, project_id: u64, issue_id: u64) -> Vec<u64> {
        self.shared
            .state
            .read()
            .side
            .project_mappings(project_id)
            .filter(|(_, mapped)| *mapped == issue_id)
            .map(|(fingerprint, _)| fingerprint)
            .collect()
    }

    /// The latest events of the fingerprints of one issue, newest first.
    async fn latest_events(
        &self,
        project_id: u64,
        fingerprints: Vec<u64>,
        limit: usize,
    ) -> Result<Vec<EventRecord>, EmbeddedError> {
        sql::latest_events(&self.context, project_id, fingerprints, limit).await
    }
}

impl Drop for EmbeddedEngine {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        for (sender, handle) in [self.checkpointer.take(), self.compactor.take()]
            .into_iter()
            .flatten()
        {
            let _ = sender.send(Signal::Stop);
            if handle.join().is_err() {
                tracing::error!("an embedded engine background thread panicked");
            }
        }
    }
}

/// A background thread running `task` whenever woken, and every second anyway.
fn spawn_worker(
    name: &str,
    shared: Arc<Shared>,
    task: fn(&Shared) -> Result<(), EmbeddedError>,
) -> Result<(mpsc::Sender<Signal>, JoinHandle<()>), EmbeddedError> {
    let (sender, receiver) = mpsc::channel();
    let thread_name = name.to_owned();
    let handle = std::thread::Builder::new()
        .name(thread_name.clone())
        .spawn(move || {
            let mut pause = Duration::from_secs(1);
            loop {
                match receiver.recv_timeout(pause) {
                    Ok(Signal::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    Ok(Signal::Wake) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
                if shared.stopping.load(Ordering::Relaxed) {
                    break;
                }
                match task(&shared) {
                    Ok(()) => pause = Duration::from_secs(1),
                    Err(EmbeddedError::ShuttingDown) => break,
                    Err(error) => {
                        tracing::error!(thread = %thread_name, %error, "background work failed; retrying");
                        pause = (pause * 2).min(Duration::from_secs(30));
                    }
                }
            }
        })?;
    Ok((sender, handle))
}

/// The log record of a write. Its events become one Arrow batch here, read from the caller's
/// records in place: handing the records themselves to the blocking pool would take a copy of
/// them all first (a full batch is tens of MB of strings, and that copy was a good part of the
/// engine's peak memory under load).
/// The log record of a write batch (also the ClickHouse engine's spool record).
pub(crate) fn batch_record(batch: &WriteBatch) -> Result<LogRecord, EmbeddedError> {
    let events = if batch.events.is_empty() {
        None
    } else {
        Some(cpu_bound(|| event_batch::to_record_batch(&batch.events))?)
    };
    Ok(LogRecord::Batch {
        issues: batch.new_issues.clone(),
        mappings: batch.new_mappings.clone(),
        events,
        status_changes: batch.status_changes.clone(),
    })
}

/// Runs CPU-bound work that borrows from the caller on the caller's thread: on a multi-threaded
/// runtime the worker's other tasks move to another worker meanwhile (`block_in_place`); a
/// current-thread runtime has no other worker, so there it simply runs.
fn cpu_bound<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

impl Shared {
    /// Logs a record (built under the log lock, so it may depend on the state it will be
    /// applied to) and applies it. Returns once the record is durable and visible.
    fn append(&self, build: impl FnOnce(&State) -> LogRecord) -> Result<LogRecord, EmbeddedError> {
        let mut wal = self.wal.lock();
        let record = build(&self.state.read());
        let payload = record.encode()?;
        let seq = wal.append(&payload)?;
        self.state.write().apply(seq, record.clone())?;
        Ok(record)
    }

    /// Logs and applies a [`LogRecord::Batch`] (made by [`batch_record`]).
    fn write(&self, payload: LogRecord) -> Result<bool, EmbeddedError> {
        let encoded = payload.encode()?;
        self.refuse_when_behind()?;
        let mut wal = self.wal.lock();
        let seq = wal.append(&encoded)?;
        let mut state = self.state.write();
        state.apply(seq, payload)?;
        Ok(self.memtable_full(&state))
    }

    /// Backpressure: when checkpoints cannot keep up (or keep failing), the events in memory
    /// would grow without bound; once they take twice the memtable's byte limit, counting
    /// those a checkpoint is writing out, new writes are refused as "unavailable", so the
    /// batch writer retries and ingest answers 503 instead of memory running out. (Counting
    /// the memtable alone let a steady stream of writes keep one full memtable being written
    /// and another filling to twice the limit: 2.3 times the limit twice over, 600 MB at the
    /// default, the most of the embedded engine's peak memory under load.)
    fn refuse_when_behind(&self) -> Result<(), EmbeddedError> {
        let state = self.state.read();
        let limit = self.options.memtable_max_bytes.saturating_mul(2);
        let waiting = state.waiting_bytes();
        if waiting >= limit {
            return Err(EmbeddedError::Overloaded(format!(
                "{} events ({waiting} bytes with those being checkpointed) wait for a \
                 checkpoint; the checkpoint is behind or failing",
                state.memtable.rows(),
            )));
        }
        Ok(())
    }

    fn memtable_full(&self, state: &State) -> bool {
        state.memtable.rows() >= self.options.memtable_max_events
            || state.memtable.bytes() >= self.options.memtable_max_bytes
    }

    fn checkpoint_if_due(&self) -> Result<(), EmbeddedError> {
        self.empty_trash();
        let interval = Duration::from_secs(self.options.checkpoint_interval_secs);
        let memtable_due = {
            let state = self.state.read();
            self.memtable_full(&state)
                || state
                    .memtable
                    .oldest()
                    .is_some_and(|oldest| oldest.elapsed() >= interval)
        };
        // Side-table writes (projects, lifecycle) only: checkpoint them now and then too, so
        // the log does not grow forever. One lock at a time (checkpoint takes the manifest
        // lock before the log lock).
        let idle_due = self.last_checkpoint.lock().elapsed() >= interval && {
            let last_seq = self.wal.lock().last_seq();
            last_seq > self.manifest.lock().checkpoint_seq
        };
        if memtable_due || idle_due {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Freezes what is in memory, persists it, and moves the manifest past it.
    fn checkpoint(&self) -> Result<(), EmbeddedError> {
        let mut manifest = self.manifest.lock();
        let mut next = manifest.clone();
        let (checkpoint_seq, frozen, aggregates, aggregate_file, encoded, side, full) = {
            // Under the log lock no write can slip between the rotation and the freeze.
            let mut wal = self.wal.lock();
            if wal.last_seq() == manifest.checkpoint_seq {
                return Ok(());
            }
            let aggregate_file = format!("agg-{:010}.bin", next.take_file_id());
            let mut aggregates = CheckedFileWriter::create(
                &checkpoints_directory(&self.directory).join(&aggregate_file),
            )?;
            let checkpoint_seq = wal.rotate()?;
            let mut state = self.state.write();
            let full = state.aggregates_need_base
                || manifest.aggregate_files.len() >= self.options.max_aggregate_deltas;
            tracing::debug!(
                events = state.memtable.rows(),
                bytes = state.memtable.bytes(),
                full,
                "checkpoint started"
            );
            let frozen = Arc::new(state.memtable.take());
            state.frozen.push(frozen.clone());
            // Encoding a base takes a while at millions of buckets: queries go on meanwhile
            // (a read lock), writers wait for the log lock, so nothing changes until the
            // changes are cleared. The encoding goes to its file as it is made (a base is
            // about 10 bytes per bucket); a failure there fails the checkpoint below, like a
            // failure to persist it.
            let state = RwLockWriteGuard::downgrade(state);
            let mut encoder = Encoder::new();
            let encoded = state
                .aggregates
                .encode_changes(&mut encoder, full, Some(&mut aggregates))
                .and_then(|()| encoder.drain_to(&mut aggregates, 0));
            let mut side = Encoder::new();
            state.side.encode(&mut side);
            drop(state);
            self.state.write().aggregates.clear_changes();
            (
                checkpoint_seq,
                frozen,
                aggregates,
                aggregate_file,
                encoded,
                side.finish(),
                full,
            )
        };
        let mut written = Vec::new();
        let result = encoded.and_then(|()| {
            self.persist_checkpoint(
                next,
                checkpoint_seq,
                &frozen,
                (aggregates, aggregate_file, full),
                &side,
                &mut written,
            )
        });
        let mut state = self.state.write();
        state.frozen.retain(|other| !Arc::ptr_eq(other, &frozen));
        let next = match result {
            Ok(next) => next,
            Err(error) => {
                // Keep the events in memory for the next checkpoint, which must also write
                // every aggregate bucket (this one's changes were handed over and lost).
                for batch in frozen.iter() {
                    state.memtable.push(batch.clone())?;
                }
                state.aggregates_need_base = true;
                drop(state);
                for path in written {
                    let _ = fs::remove_file(path);
                }
                return Err(error);
            }
        };
        state.segments = Arc::new(next.segments.clone());
        state.aggregates_need_base = false;
        drop(state);
        let previous = std::mem::replace(&mut *manifest, next);
        *self.last_checkpoint.lock() = Instant::now();
        let checkpoints = checkpoints_directory(&self.directory);
        for file in previous
            .aggregate_files
            .iter()
            .chain(previous.side_file.iter())
        {
            if !manifest.aggregate_files.contains(file) && manifest.side_file.as_ref() != Some(file)
            {
                fs::remove_file(checkpoints.join(file))?;
            }
        }
        // Still under the manifest lock, so a concurrent `flush` that finds nothing left to
        // checkpoint returns only after the covered log files are gone.
        let removed = self.wal.lock().remove_covered_files(checkpoint_seq)?;
        drop(manifest);
        tracing::debug!(
            checkpoint_seq,
            events = frozen.iter().map(RecordBatch::num_rows).sum::<usize>(),
            removed_wal_files = removed,
            "checkpoint written"
        );
        Ok(())
    }

    /// Writes the files of a checkpoint and the manifest naming them; returns that manifest.
    /// `next` is the manifest as it was, with the aggregate file's number taken.
    fn persist_checkpoint(
        &self,
        mut next: Manifest,
        checkpoint_seq: u64,
        frozen: &[RecordBatch],
        (aggregates, aggregate_file, full): (CheckedFileWriter, String, bool),
        side: &[u8],
        written: &mut Vec<PathBuf>,
    ) -> Result<Manifest, EmbeddedError> {
        let rows: usize = frozen.iter().map(RecordBatch::num_rows).sum();
        if rows > 0 {
            let file = format!("seg-{:010}.parquet", next.take_file_id());
            let path = segments_directory(&self.directory).join(&file);
            written.push(path.clone());
            let seq_range = (next.checkpoint_seq + 1, checkpoint_seq);
            let (rows, bytes) =
                segments::write_sorted(&path, frozen, self.options.row_group_events, seq_range)?;
            next.segments.push(SegmentInfo {
                file,
                rows,
                bytes,
                min_seq: seq_range.0,
                max_seq: seq_range.1,
                level: 0,
            });
        }
        let checkpoints = checkpoints_directory(&self.directory);
        written.push(checkpoints.join(&aggregate_file));
        aggregates.finish()?;
        if full {
            next.aggregate_files.clear();
        }
        next.aggregate_files.push(aggregate_file);
        let side_file = format!("side-{:010}.bin", next.take_file_id());
        written.push(checkpoints.join(&side_file));
        write_checked_file(&checkpoints.join(&side_file), side)?;
        next.side_file = Some(side_file);
        next.checkpoint_seq = checkpoint_seq;
        next.store(&self.directory)?;
        Ok(next)
    }

    /// Merges one group of segments if the policy picks one; false when there was nothing to do.
    fn compact_once(&self) -> Result<bool, EmbeddedError> {
        let _compacting = self.compaction.lock();
        let (inputs, output_file) = {
            let mut manifest = self.manifest.lock();
            let Some(inputs) = segments::pick_compaction(
                &manifest.segments,
                self.options.compaction_fan_in,
                self.options.compaction_max_segment_events,
            ) else {
                return Ok(false);
            };
            (
                inputs,
                format!("seg-{:010}.parquet", manifest.take_file_id()),
            )
        };
        let directory = segments_directory(&self.directory);
        let paths: Vec<PathBuf> = inputs.iter().map(|s| directory.join(&s.file)).collect();
        let output = directory.join(&output_file);
        let seq_range = (
            inputs.iter().map(|s| s.min_seq).min().unwrap_or(0),
            inputs.iter().map(|s| s.max_seq).max().unwrap_or(0),
        );
        let expected_rows: u64 = inputs.iter().map(|s| s.rows).sum();
        tracing::debug!(inputs = inputs.len(), expected_rows, "merging segments");
        let started = Instant::now();
        let (rows, bytes) = segments::merge(
            &paths,
            &output,
            self.options.row_group_events,
            seq_range,
            &self.stopping,
        )?;
        if rows != expected_rows {
            let _ = fs::remove_file(&output);
            return Err(EmbeddedError::Corrupt(format!(
                "merging {} segments gave {rows} rows instead of {expected_rows}",
                inputs.len()
            )));
        }
        let level = inputs.iter().map(|s| s.level).max().unwrap_or(0) + 1;
        {
            let mut manifest = self.manifest.lock();
            let mut next = manifest.clone();
            next.segments.retain(|segment| !inputs.contains(segment));
            next.segments.push(SegmentInfo {
                file: output_file,
                rows,
                bytes,
                min_seq: seq_range.0,
                max_seq: seq_range.1,
                level,
            });
            next.segments.sort_by_key(|segment| segment.min_seq);
            if let Err(error) = next.store(&self.directory) {
                let _ = fs::remove_file(&output);
                return Err(error);
            }
            self.state.write().segments = Arc::new(next.segments.clone());
            *manifest = next;
        }
        let now = Instant::now();
        self.trash
            .lock()
            .extend(paths.into_iter().map(|path| (path, now)));
        tracing::debug!(
            inputs = inputs.len(),
            rows,
            level,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "segments merged"
        );
        Ok(true)
    }

    fn empty_trash(&self) {
        let mut trash = self.trash.lock();
        trash.retain(|(path, since)| {
            if since.elapsed() < TRASH_GRACE {
                return true;
            }
            if let Err(error) = fs::remove_file(path) {
                tracing::warn!(file = %path.display(), %error, "cannot delete a replaced segment");
            }
            false
        });
    }
}

fn load_aggregates(directory: &Path, manifest: &Manifest) -> Result<Aggregates, EmbeddedError> {
    let mut aggregates = Aggregates::default();
    for file in &manifest.aggregate_files {
        let bytes = read_checked_file(&checkpoints_directory(directory).join(file))?;
        aggregates.load(&mut Decoder::new(&bytes, "aggregates"))?;
    }
    aggregates.index_recent_hours();
    aggregates.clear_changes();
    Ok(aggregates)
}

/// Recomputes the aggregates from the raw events of the segments (when their checkpoint file
/// is unreadable; the events are the source of truth).
fn rebuild_aggregates(
    directory: &Path,
    segments: &[SegmentInfo],
) -> Result<Aggregates, EmbeddedError> {
    let mut aggregates = Aggregates::default();
    let columns = ["project_id", "fingerprint", "timestamp", "user_key"];
    for_each_stored_batch(directory, segments, &columns, |batch| {
        aggregates.add_batch(batch)
    })?;
    Ok(aggregates)
}

/// Runs `each` on every batch of `columns` of the segments, in order.
fn for_each_stored_batch(
    directory: &Path,
    segments: &[SegmentInfo],
    columns: &[&str],
    mut each: impl FnMut(&RecordBatch) -> Result<(), EmbeddedError>,
) -> Result<(), EmbeddedError> {
    for segment in segments {
        let path = segments_directory(directory).join(&segment.file);
        for batch in segments::read(&path, Some(columns))? {
            each(&batch?)?;
        }
    }
    Ok(())
}

/// Adds the stored events' (project, environment, fingerprint) to the environment index,
/// which the replay has given the events in memory; the index is then complete. (Stopped
/// part-way, it holds some stored pairs and stays incomplete: the lazy completion adds all.)
fn index_environments(
    directory: &Path,
    segments: &[SegmentInfo],
    state: &mut State,
) -> Result<(), EmbeddedError> {
    let columns = ["project_id", "environment", "fingerprint"];
    for_each_stored_batch(directory, segments, &columns, |batch| {
        arena::long_lived(|| state.environments.add_batch(batch))
    })?;
    state.environments.complete_with([]);
    Ok(())
}

/// Deletes what a crash left behind: temporary files, and segments or checkpoint files the
/// manifest does not name (written by a checkpoint or compaction that never committed, or
/// replaced ones not yet deleted).
fn remove_debris(directory: &Path, manifest: &Manifest) -> Result<(), EmbeddedError> {
    let live: HashSet<&str> = manifest
        .segments
        .iter()
        .map(|s| s.file.as_str())
        .chain(manifest.aggregate_files.iter().map(String::as_str))
        .chain(manifest.side_file.iter().map(String::as_str))
        .collect();
    for sub in [
        segments_directory(directory),
        checkpoints_directory(directory),
    ] {
        for entry in fs::read_dir(&sub)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !live.contains(name) {
                tracing::info!(file = %path.display(), "removing a file no checkpoint refers to");
                fs::remove_file(&path)?;
            }
        }
    }
    let temporary_manifest = directory.join(MANIFEST_FILE).with_extension("tmp");
    if temporary_manifest.exists() {
        fs::remove_file(temporary_manifest)?;
    }
    for segment in &manifest.segments {
        if !segments_directory(directory).join(&segment.file).exists() {
            return Err(EmbeddedError::Corrupt(format!(
                "segment {} named by the manifest is missing",
                segment.file
            )));
        }
    }
    Ok(())
}

fn directory_bytes(directory: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(directory) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(metadata) if metadata.is_dir() => directory_bytes(&entry.path()),
            Ok(metadata) => metadata.len(),
            Err(_) => 0,
        })
        .sum()
}

fn sort_value(sort: IssueSort, merged: &aggregates::Merged) -> i128 {
    match sort {
        IssueSort::LastSeen => i128::from(merged.last_seen),
        IssueSort::FirstSeen => i128::from(merged.first_seen),
        IssueSort::Events => i128::from(merged.events),
        IssueSort::Users => i128::from(merged.users),
    }
}

fn summary(
    state: &State,
    project_id: u64,
    issue_id: u64,
    merged: &aggregates::Merged,
) -> Option<IssueSummary> {
    let issue = state.side.issues.get(&(project_id, issue_id))?.clone();
    Some(IssueSummary {
        issue,
        status: state.side.status_of(project_id, issue_id),
        events: merged.events,
        users: merged.users,
        first_seen: from_epoch_seconds(merged.first_seen),
        last_seen: from_epoch_seconds(merged.last_seen),
    })
}

#[async_trait]
impl Engine for EmbeddedEngine {
    fn name(&self) -> &'static str {
        "embedded"
    }

    /// 8 MiB: a write becomes an Arrow batch, a log record and index updates, all in memory at
    /// once. With 32 MiB writes the peak RSS of 10M events over 100k issues (`benches/issues.rs`)
    /// was 978-1,024 MiB, with 8 MiB 887-918 MiB, and the writes took no longer (141-151 s
    /// against 153-161).
    fn write_batch_bytes(&self) -> usize {
        8 << 20
    }

    async fn migrate(&self) -> EngineResult<()> {
        // The schema is the code's; there is nothing to create.
        Ok(())
    }

    async fn create_project(&self, name: &str, public_key: &str) -> EngineResult<Project> {
        let (name, public_key) = (name.to_owned(), public_key.to_owned());
        let now = stored_time(Utc::now());
        let record = self
            .blocking(move |shared| {
                shared.append(|state| {
                    let id = state.side.next_project_id();
                    LogRecord::Project {
                        project: Project {
                            id,
                            name,
                            created_at: now,
                        },
                        key: ProjectKey {
                            project_id: id,
                            public_key,
                            active: true,
                            created_at: now,
                        },
                    }
                })
            })
            .await?;
        match record {
            LogRecord::Project { project, .. } => Ok(project),
            _ => Err(EngineError::Corrupt("project record expected".into())),
        }
    }

    async fn projects(&self) -> EngineResult<Vec<Project>> {
        Ok(self
            .shared
            .state
            .read()
            .side
            .projects
            .values()
            .cloned()
            .collect())
    }

    async fn project_keys(&self) -> EngineResult<Vec<ProjectKey>> {
        Ok(self
            .shared
            .state
            .read()
            .side
            .keys
            .values()
            .cloned()
            .collect())
    }

    async fn write(&self, batch: &WriteBatch) -> EngineResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let payload = batch_record(batch)?;
        let full = self.blocking(move |shared| shared.write(payload)).await?;
        if full {
            self.wake_workers();
        }
        Ok(())
    }

    async fn fingerprint_mappings(&self) -> EngineResult<Vec<FingerprintMapping>> {
        Ok(self
            .shared
            .state
            .read()
            .side
            .mappings
            .values()
            .cloned()
            .collect())
    }

    async fn issue_records(&self) -> EngineResult<Vec<IssueRecord>> {
        Ok(self
            .shared
            .state
            .read()
            .side
            .issues
            .values()
            .cloned()
            .collect())
    }

    async fn issues(&self, query: &IssueQuery) -> EngineResult<Vec<IssueSummary>> {
        let state = self.shared.state.read();
        let totals = state
            .aggregates
            .issue_totals(&state.side, query.project_id, None);
        let mut rows: Vec<(u64, aggregates::Merged)> = totals
            .into_iter()
            .filter(|(issue_id, _)| {
                query.status.is_none_or(|status| {
                    state.side.status_of(query.project_id, *issue_id) == status
                })
            })
            .collect();
        // ClickHouse: ORDER BY <sort> DESC, issue_id DESC LIMIT limit OFFSET offset.
        rows.sort_unstable_by(|(a_id, a), (b_id, b)| {
            sort_value(query.sort, b)
                .cmp(&sort_value(query.sort, a))
                .then(b_id.cmp(a_id))
        });
        Ok(rows
            .iter()
            .skip(query.offset)
            .take(query.limit)
            .filter_map(|(issue_id, merged)| summary(&state, query.project_id, *issue_id, merged))
            .collect())
    }

    async fn issue(&self, issue_id: u64) -> EngineResult<Option<IssueSummary>> {
        let state = self.shared.state.read();
        let Some(&project_id) = state.side.issue_projects.get(&issue_id) else {
            return Ok(None);
        };
        let totals = state.aggregates.issue_totals(
            &state.side,
            project_id,
            Some(&HashSet::from([issue_id])),
        );
        Ok(totals
            .get(&issue_id)
            .and_then(|merged| summary(&state, project_id, issue_id, merged)))
    }

    async fn issue_records_of(
        &self,
        project_id: u64,
        issue_ids: &[u64],
    ) -> EngineResult<Vec<IssueRecord>> {
        let state = self.shared.state.read();
        Ok(issue_ids
            .iter()
            .filter_map(|issue_id| state.side.issues.get(&(project_id, *issue_id)).cloned())
            .collect())
    }

    async fn issue_users(
        &self,
        project_id: u64,
        issues: &IssueFingerprints,
    ) -> EngineResult<HashMap<u64, u64>> {
        Ok(self
            .shared
            .state
            .read()
            .aggregates
            .issue_users(project_id, issues))
    }

    async fn issue_hourly_counts(
        &self,
        project_id: u64,
        issues: &IssueFingerprints,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> EngineResult<HashMap<u64, Vec<HourlyCount>>> {
        let counts = self.shared.state.read().aggregates.issue_hour_counts(
            project_id,
            issues,
            epoch_seconds(from),
            epoch_seconds(to),
        );
        Ok(counts_by_issue(counts))
    }

    async fn fingerprint_totals(
        &self,
        project_id: u64,
        only: Option<&[u64]>,
    ) -> EngineResult<Vec<FingerprintTotals>> {
        let state = self.shared.state.read();
        let totals = |(fingerprint, bucket): (u64, &aggregates::Bucket)| FingerprintTotals {
            fingerprint,
            events: bucket.events,
            first_seen: from_epoch_seconds(bucket.first_seen),
            last_seen: from_epoch_seconds(bucket.last_seen),
        };
        Ok(match only {
            None => state
                .aggregates
                .fingerprint_totals(project_id)
                .map(totals)
                .collect(),
            Some(only) => only
                .iter()
                .filter_map(|fingerprint| {
                    let bucket = state.aggregates.total(project_id, *fingerprint)?;
                    Some(totals((*fingerprint, bucket)))
                })
                .collect(),
        })
    }

    async fn fingerprint_counts(
        &self,
        project_id: u64,
        windows: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> EngineResult<FingerprintCounts> {
        let windows: Vec<(i64, i64)> = windows
            .iter()
            .map(|(from, to)| (epoch_seconds(*from), epoch_seconds(*to)))
            .collect();
        let state = self.shared.state.read();
        Ok(state.aggregates.fingerprint_counts(project_id, &windows))
    }

    async fn hourly_counts(
        &self,
        project_id: u64,
        issue_ids: &[u64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> EngineResult<HashMap<u64, Vec<HourlyCount>>> {
        if issue_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let wanted: HashSet<u64> = issue_ids.iter().copied().collect();
        let state = self.shared.state.read();
        let hours = state.aggregates.issue_hours(
            &state.side,
            project_id,
            Some(&wanted),
            epoch_seconds(from),
            epoch_seconds(to),
            false,
        );
        Ok(counts_by_issue(
            hours.into_iter().map(|(key, merged)| (key, merged.events)),
        ))
    }

    async fn issue_events(&self, issue_id: u64, limit: usize) -> EngineResult<Vec<EventRecord>> {
        let Some(&project_id) = self.shared.state.read().side.issue_projects.get(&issue_id) else {
            return Ok(Vec::new());
        };
        let fingerprints = self.issue_fingerprints(project_id, issue_id);
        if fingerprints.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        Ok(self.latest_events(project_id, fingerprints, limit).await?)
    }

    async fn issue_users_since(
        &self,
        project_id: u64,
        issue_id: u64,
        from: DateTime<Utc>,
    ) -> EngineResult<Vec<String>> {
        let fingerprints = self.issue_fingerprints(project_id, issue_id);
        if fingerprints.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sql::distinct_users(&self.context, project_id, fingerprints, from).await?)
    }

    async fn fingerprint_events(
        &self,
        project_id: u64,
        fingerprints: &[u64],
        limit: usize,
    ) -> EngineResult<Vec<EventRecord>> {
        if limit == 0 || fingerprints.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .latest_events(project_id, fingerprints.to_vec(), limit)
            .await?)
    }

    async fn issue_states(&self) -> EngineResult<Vec<StatusChangeRecord>> {
        Ok(self
            .shared
            .state
            .read()
            .side
            .states
            .values()
            .cloned()
            .collect())
    }

    async fn issue_history(
        &self,
        project_id: u64,
        issue_id: u64,
    ) -> EngineResult<Vec<StatusChangeRecord>> {
        let state = self.shared.state.read();
        let mut history: Vec<StatusChangeRecord> = state
            .side
            .history
            .iter()
            .filter(|change| change.project_id == project_id && change.issue_id == issue_id)
            .cloned()
            .collect();
        history.sort_by_key(|change| change.version);
        Ok(history)
    }

    async fn event(&self, project_id: u64, event_id: &str) -> EngineResult<Option<EventRecord>> {
        Ok(sql::event_by_id(&self.context, project_id, event_id).await?)
    }

    async fn matching_fingerprints(
        &self,
        project_id: u64,
        filter: &EventFilter,
    ) -> EngineResult<Vec<u64>> {
        let environment_only = EventFilter {
            environment: None,
            ..filter.clone()
        }
        .is_empty();
        if let (Some(environment), true) = (&filter.environment, environment_only) {
            let known = self
                .shared
                .state
                .read()
                .environments
                .fingerprints(project_id, environment);
            if let Some(fingerprints) = known {
                return Ok(fingerprints);
            }
            // Batches applied while this scan runs are added to the index by `apply`.
            let stored = sql::environment_fingerprints(&self.context).await?;
            let mut state = self.shared.state.write();
            state.environments.complete_with(stored);
            return Ok(state
                .environments
                .fingerprints(project_id, environment)
                .unwrap_or_default());
        }
        Ok(sql::matching_fingerprints(&self.context, project_id, filter).await?)
    }

    async fn minute_counts(
        &self,
        project_id: u64,
        issue_ids: &[u64],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> EngineResult<HashMap<u64, Vec<HourlyCount>>> {
        if issue_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let wanted: HashSet<u64> = issue_ids.iter().copied().collect();
        let state = self.shared.state.read();
        let minutes = state.aggregates.issue_minutes(
            &state.side,
            project_id,
            &wanted,
            epoch_seconds(from),
            epoch_seconds(to),
        );
        Ok(counts_by_issue(minutes))
    }

    async fn tag_counts(
        &self,
        project_id: u64,
        fingerprints: &[u64],
    ) -> EngineResult<Vec<TagCount>> {
        if fingerprints.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sql::tag_counts(&self.context, project_id, fingerprints.to_vec()).await?)
    }

    async fn put_project_key(&self, key: &ProjectKey) -> EngineResult<()> {
        let Some(project) = self
            .shared
            .state
            .read()
            .side
            .projects
            .get(&key.project_id)
            .cloned()
        else {
            return Err(EngineError::Rejected(format!(
                "unknown project {}",
                key.project_id
            )));
        };
        let key = key.clone();
        self.blocking(move |shared| {
            shared.append(|_| LogRecord::Project { project, key })?;
            Ok(())
        })
        .await
    }

    async fn store_api_token(&self, token: &ApiTokenRecord) -> EngineResult<()> {
        let token = token.clone();
        self.blocking(move |shared| {
            shared.append(|_| LogRecord::ApiToken(token))?;
            Ok(())
        })
        .await
    }

    async fn api_tokens(&self) -> EngineResult<Vec<ApiTokenRecord>> {
        Ok(self
            .shared
            .state
            .read()
            .side
            .api_tokens
            .values()
            .cloned()
            .collect())
    }

    fn sql_dialect(&self) -> SqlDialect {
        SqlDialect::DataFusion
    }

    async fn sql(&self, query: &str, limits: &SqlLimits) -> EngineResult<SqlResult> {
        let timeout = limits.timeout_secs;
        match tokio::time::timeout(
            Duration::from_secs(timeout),
            analyst::run(&self.context, query, limits.max_rows),
        )
        .await
        {
            Ok(result) => result.map_err(EngineError::from),
            Err(_) => Err(EmbeddedError::Timeout(timeout).into()),
        }
    }

    // --- alerting (issue 7): see `alerts.rs` ---

    async fn put_alert_rule(&self, rule: &AlertRuleRecord) -> EngineResult<()> {
        self.alerts.put_rule(rule).await
    }

    async fn alert_rules(&self) -> EngineResult<Vec<AlertRuleRecord>> {
        Ok(self.alerts.rules())
    }

    async fn record_alert_evaluation(&self, write: &AlertEvaluationWrite) -> EngineResult<()> {
        self.alerts.record_evaluation(write).await
    }

    async fn alert_states(&self, rule_ids: &[u64]) -> EngineResult<Vec<AlertStateRecord>> {
        Ok(self.alerts.states(rule_ids))
    }

    async fn alert_events(&self, query: &AlertEventQuery) -> EngineResult<Vec<AlertEventRecord>> {
        Ok(self.alerts.events(query))
    }

    async fn alert_notifications_sent(
        &self,
        rule_ids: &[u64],
        since: DateTime<Utc>,
    ) -> EngineResult<std::collections::BTreeMap<u64, u64>> {
        Ok(self.alerts.sent_counts(rule_ids, since))
    }

    async fn put_alert_deliveries(&self, deliveries: &[AlertDeliveryRecord]) -> EngineResult<()> {
        self.alerts.put_deliveries(deliveries).await
    }

    async fn alert_deliveries(
        &self,
        query: &AlertDeliveryQuery,
    ) -> EngineResult<Vec<AlertDeliveryRecord>> {
        Ok(self.alerts.deliveries(query))
    }

    async fn claim_alert_work(
        &self,
        claims: &[AlertClaim],
        _settle: Duration,
    ) -> EngineResult<Vec<bool>> {
        Ok(claims
            .iter()
            .map(|claim| self.alerts.claim(claim))
            .collect())
    }

    async fn prune_alert_history(
        &self,
        events_before: DateTime<Utc>,
        claims_before: DateTime<Utc>,
    ) -> EngineResult<AlertPruneCounts> {
        self.alerts.prune(events_before, claims_before).await
    }

    // --- traces (issue 9): the span store is in spans.rs ---

    async fn write_spans(&self, spans: &[SpanRecord]) -> EngineResult<()> {
        let store = self.spans.clone();
        let spans = spans.to_vec();
        tokio::task::spawn_blocking(move || store.append(&spans))
            .await
            .map_err(|error| EngineError::Unavailable(format!("engine task failed: {error}")))?
            .map_err(EngineError::from)
    }

    async fn trace_spans(
        &self,
        project_id: u64,
        trace_ids: &[String],
        limit: usize,
    ) -> EngineResult<Vec<SpanRecord>> {
        Ok(self.spans.trace_spans(project_id, trace_ids, limit))
    }

    async fn trace_events(
        &self,
        project_id: u64,
        trace_ids: &[String],
        limit: usize,
    ) -> EngineResult<Vec<EventRecord>> {
        Ok(sql::trace_events(&self.context, project_id, trace_ids, limit).await?)
    }

    async fn spans_between(
        &self,
        range: &SpanRange,
        limit: usize,
    ) -> EngineResult<Vec<SpanRecord>> {
        Ok(self.spans.between(range, limit, SpanRecord::clone))
    }

    async fn service_map_spans(
        &self,
        range: &SpanRange,
        limit: usize,
    ) -> EngineResult<Vec<SpanRecord>> {
        Ok(self.spans.between(range, limit, SpanRecord::map_fields))
    }

    async fn count_spans(&self, range: &SpanRange) -> EngineResult<u64> {
        Ok(self.spans.count(range))
    }
}

/// Event counts per issue, one entry per `(issue, bucket start)` in the order given.
fn counts_by_issue(
    buckets: impl IntoIterator<Item = ((u64, i64), u64)>,
) -> HashMap<u64, Vec<HourlyCount>> {
    let mut counts: HashMap<u64, Vec<HourlyCount>> = HashMap::new();
    for ((issue_id, start), events) in buckets {
        counts.entry(issue_id).or_default().push(HourlyCount {
            hour: from_epoch_seconds(start),
            events,
        });
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::embedded::event_batch::{sample_record, to_record_batch};

    #[test]
    fn events_being_checkpointed_still_count_against_the_memory_limit() {
        let batch = || to_record_batch(&[sample_record(1), sample_record(2)]).expect("batch");
        let one = batch().get_array_memory_size();
        let mut state = State::default();
        state.memtable.push(batch()).expect("push");
        assert_eq!(state.waiting_bytes(), one);
        // What a checkpoint does: the memtable is frozen, and new writes fill a fresh one.
        let frozen = Arc::new(state.memtable.take());
        state.frozen.push(frozen.clone());
        state.memtable.push(batch()).expect("push");
        assert_eq!(state.waiting_bytes(), 2 * one);
        // Once its segment is written, the frozen events no longer wait.
        state.frozen.retain(|other| !Arc::ptr_eq(other, &frozen));
        assert_eq!(state.waiting_bytes(), one);
    }

    #[tokio::test]
    async fn the_environment_index_is_complete_when_the_engine_opens() {
        let directory = tempfile::tempdir().expect("tempdir");
        async fn write(engine: &EmbeddedEngine, events: Vec<EventRecord>) -> EngineResult<()> {
            let batch = WriteBatch {
                events,
                ..WriteBatch::default()
            };
            engine.write(&batch).await
        }
        {
            let engine =
                EmbeddedEngine::open(directory.path(), EmbeddedOptions::default()).expect("open");
            // In a segment: fingerprints 42-44 of project 1 and 2, all in `prod`.
            write(&engine, (0..6).map(sample_record).collect())
                .await
                .expect("write");
            engine.flush().await.expect("flush");
            // Only in the log: fingerprint 7 of project 1 in `staging`.
            let mut staging = sample_record(6);
            (staging.environment, staging.fingerprint) = ("staging".into(), 7);
            write(&engine, vec![staging]).await.expect("write");
        }
        let engine =
            EmbeddedEngine::open(directory.path(), EmbeddedOptions::default()).expect("reopen");
        assert_eq!(engine.stats().segment_events, 6);
        let state = engine.shared.state.read();
        assert_eq!(
            state.environments.fingerprints(1, "prod"),
            Some(vec![42, 43, 44])
        );
        assert_eq!(state.environments.fingerprints(1, "staging"), Some(vec![7]));
        assert_eq!(state.environments.fingerprints(2, "staging"), Some(vec![]));
    }
}
