//! The spool: a local write-ahead log in front of ClickHouse, so that a batch is acknowledged
//! once it is durable on this machine, and ClickHouse receives few, large inserts.
//!
//! Without it a request is answered after its insert, so one insert holds at most the requests
//! in flight (a few hundred one-event envelopes), and ClickHouse pays its fixed cost per insert
//! (a part for `events` and one for every materialized view) for every few hundred events.
//! With it:
//!
//! - [`Spool::append`] writes a batch to the log (the embedded engine's write-ahead log and
//!   record format), syncs it, queues it in memory and returns: the request is acknowledged.
//!   The queue is bounded in bytes; when it is full, `append` waits, the batch writer's own
//!   queue fills behind it, and ingest answers 503.
//! - [`ship`], a task, takes everything queued (up to `INSERT_MAX_BYTES`), inserts it as one
//!   batch, and then deletes the log files it covered. While ClickHouse is unreachable it
//!   retries with backoff, without end. A batch ClickHouse rejects (it never should: the rows
//!   are ours) is retried record by record, and a record rejected alone is set aside in
//!   `rejected/` with an error in the log, not dropped.
//! - Reads wait until everything appended before they started has been shipped
//!   ([`Spool::caught_up`]), so a client that was told its event was stored finds it.
//! - At start-up, [`Spool::open`] reads the records not yet shipped and [`recover`] inserts them
//!   before anything is read. An insert that landed just before a crash has no mark of it in the
//!   log, so before each insert the shipper writes which records it may store (the `shipping`
//!   file); at recovery, the events of those records already in ClickHouse are left out (looked
//!   up by id), and a crash does not store them twice. Side rows (issues, mappings, transitions)
//!   are versioned, and storing them again changes nothing.
//!
//! The price: an instance is no longer stateless. Its spool directory must survive restarts,
//! or what it acknowledged but had not shipped is lost; `clickhouse_spool = false` answers
//! after the insert instead (see `Config`).

use std::collections::{HashSet, VecDeque};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};

use super::ranking::Ranking;
use super::{classify, literal_list, Connection, INSERT_MAX_BYTES};
use crate::engine::embedded::codec::{read_checked_file, write_checked_file, Decoder, Encoder};
use crate::engine::embedded::event_batch::to_records;
use crate::engine::embedded::log_record::LogRecord;
use crate::engine::embedded::wal::{self, Wal};
use crate::engine::embedded::{batch_record, EmbeddedError};
use crate::engine::{EngineError, EngineResult, EventRecord, WriteBatch};

/// Where the spool lives and how much it may hold.
#[derive(Debug, Clone)]
pub struct SpoolSettings {
    pub directory: PathBuf,
    /// Bytes of events (their size in memory) acknowledged but not yet shipped, at most.
    pub max_bytes: usize,
    /// How long a read waits for the batches appended before it to be shipped; past it, the
    /// read goes ahead (ClickHouse is slow or down, and the read would not be answered better
    /// by waiting longer).
    pub read_wait: Duration,
    /// Inserts start at most this often, unless [`Self::ship_bytes`] are queued: ClickHouse
    /// pays for every insert (a part in `events` and in each aggregate table, merged again
    /// later), and a shipper that took whatever was queued the moment it was free sent hundreds
    /// of inserts a second of ~200 events each when clients were few. A read waits for at most
    /// about this long more.
    pub ship_interval: Duration,
    /// Queued bytes of events (their size in memory) that start an insert without waiting for
    /// [`Self::ship_interval`]. Under load this, not the interval, sets the size of an insert.
    pub ship_bytes: usize,
}

impl SpoolSettings {
    /// A spool in `directory` with the default bounds.
    pub fn new(directory: impl Into<PathBuf>) -> SpoolSettings {
        SpoolSettings {
            directory: directory.into(),
            max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            read_wait: DEFAULT_READ_WAIT,
            ship_interval: DEFAULT_SHIP_INTERVAL,
            ship_bytes: DEFAULT_SHIP_BYTES,
        }
    }
}

/// [`SpoolSettings::max_bytes`] unless configured: 256 MiB.
pub const DEFAULT_SPOOL_MAX_BYTES: usize = 256 << 20;
/// [`SpoolSettings::read_wait`] unless configured.
pub const DEFAULT_READ_WAIT: Duration = Duration::from_secs(10);
/// [`SpoolSettings::ship_interval`] unless configured: 100 ms.
pub const DEFAULT_SHIP_INTERVAL: Duration = Duration::from_millis(100);
/// [`SpoolSettings::ship_bytes`] unless configured: 4 MiB (about a thousand 1-5 KB events).
pub const DEFAULT_SHIP_BYTES: usize = 4 << 20;

/// The queue bound counts kibibytes, so its permits fit a `u32`.
const PERMIT_BYTES: usize = 1024;
/// Names the records the shipper may have stored when it last wrote: see the module doc.
const SHIPPING_FILE: &str = "shipping";

/// The open spool.
pub(super) struct Spool {
    settings: SpoolSettings,
    /// Held while open: two processes shipping one spool would store it twice.
    _lock: File,
    log: Mutex<Log>,
    room: Arc<Semaphore>,
    room_kib: usize,
    /// Sequence number of the last record appended (and queued).
    appended: AtomicU64,
    /// Sequence number up to which every record is in ClickHouse.
    shipped: watch::Sender<u64>,
    wake: Notify,
    /// Set once: the engine is dropped, and the shipper stops.
    closed: watch::Sender<bool>,
    /// What [`Spool::open`] found unshipped, for [`recover`].
    recovery: Mutex<Option<Recovery>>,
}

struct Log {
    wal: Wal,
    queue: VecDeque<Queued>,
    /// Bytes of events in `queue`.
    queued_bytes: usize,
}

/// A batch acknowledged but not yet shipped.
struct Queued {
    seq: u64,
    /// Shared with the writer, which lets go of it once the batch is acknowledged.
    batch: Arc<WriteBatch>,
    bytes: usize,
    room: OwnedSemaphorePermit,
}

/// The records a previous process left unshipped.
struct Recovery {
    records: Vec<(u64, WriteBatch)>,
    /// Records up to this one may already be in ClickHouse.
    maybe_stored_through: u64,
}

/// Which records are surely shipped, and which may be: the `shipping` file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ShippingMark {
    shipped_through: u64,
    maybe_stored_through: u64,
}

impl ShippingMark {
    fn read(directory: &Path) -> Result<ShippingMark, EmbeddedError> {
        let path = directory.join(SHIPPING_FILE);
        if !path.exists() {
            return Ok(ShippingMark::default());
        }
        let bytes = read_checked_file(&path)?;
        let mut decoder = Decoder::new(&bytes, "spool shipping mark");
        Ok(ShippingMark {
            shipped_through: decoder.u64()?,
            maybe_stored_through: decoder.u64()?,
        })
    }

    fn write(self, directory: &Path) -> Result<(), EmbeddedError> {
        let mut encoder = Encoder::new();
        encoder.u64(self.shipped_through);
        encoder.u64(self.maybe_stored_through);
        write_checked_file(&directory.join(SHIPPING_FILE), &encoder.finish())
    }
}

impl Spool {
    /// Opens (or creates) the spool directory and reads what is left to ship. Waits a few
    /// seconds for another process (or an engine of this one being dropped) to let go of it.
    pub async fn open(settings: SpoolSettings) -> EngineResult<Spool> {
        let directory = settings.directory.clone();
        fs::create_dir_all(&directory).map_err(|error| spool_error(&directory, error.into()))?;
        let lock = lock_directory(&directory).await?;
        let mark = ShippingMark::read(&directory).map_err(|e| spool_error(&directory, e))?;
        let mut records = Vec::new();
        let outcome = wal::replay(&directory, mark.shipped_through, |seq, payload| {
            records.push((seq, batch_of(LogRecord::decode(payload)?)?));
            Ok(())
        })
        .map_err(|error| spool_error(&directory, error))?;
        let wal = Wal::create(&directory, outcome.last_seq + 1)
            .map_err(|error| spool_error(&directory, error))?;
        let room_kib = (settings.max_bytes / PERMIT_BYTES).max(1);
        if !records.is_empty() {
            tracing::info!(
                directory = %directory.display(),
                records = records.len(),
                "the spool holds batches a previous run acknowledged but did not ship"
            );
        }
        Ok(Spool {
            settings,
            _lock: lock,
            log: Mutex::new(Log {
                wal,
                queue: VecDeque::new(),
                queued_bytes: 0,
            }),
            room: Arc::new(Semaphore::new(room_kib)),
            room_kib,
            appended: AtomicU64::new(outcome.last_seq),
            shipped: watch::Sender::new(outcome.last_seq),
            wake: Notify::new(),
            closed: watch::Sender::new(false),
            recovery: Mutex::new(Some(Recovery {
                records,
                maybe_stored_through: mark.maybe_stored_through,
            })),
        })
    }

    /// Makes `batch` durable here and queues it for ClickHouse: once this returns, the batch
    /// may be acknowledged.
    pub async fn append(self: &Arc<Self>, batch: Arc<WriteBatch>) -> EngineResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let bytes: usize = batch.events.iter().map(EventRecord::memory_bytes).sum();
        let kib = u32::try_from(bytes.div_ceil(PERMIT_BYTES).clamp(1, self.room_kib))
            .map_err(|_| EngineError::Rejected("a batch too large for the spool".into()))?;
        let room = self
            .room
            .clone()
            .acquire_many_owned(kib)
            .await
            .map_err(|_| EngineError::Unavailable("the spool is closed".into()))?;
        let payload = batch_record(&batch)?.encode()?;
        let spool = self.clone();
        tokio::task::spawn_blocking(move || -> EngineResult<()> {
            let mut log = spool.log.lock();
            let seq = log.wal.append(&payload)?;
            log.queued_bytes += bytes;
            log.queue.push_back(Queued {
                seq,
                batch,
                bytes,
                room,
            });
            spool.appended.store(seq, Ordering::Release);
            Ok(())
        })
        .await
        .map_err(|error| EngineError::Unavailable(format!("spool append failed: {error}")))??;
        self.wake.notify_one();
        Ok(())
    }

    /// Waits (at most [`SpoolSettings::read_wait`]) until every batch appended so far is in
    /// ClickHouse.
    pub async fn caught_up(&self) {
        let target = self.appended.load(Ordering::Acquire);
        let mut shipped = self.shipped.subscribe();
        let waited = tokio::time::timeout(
            self.settings.read_wait,
            shipped.wait_for(|shipped| *shipped >= target),
        )
        .await;
        if waited.is_err() {
            tracing::warn!(
                target,
                shipped = *self.shipped.borrow(),
                "a read went ahead before the spool was shipped up to its start"
            );
        }
    }

    /// Stops the shipper after its current insert (what is left stays in the log).
    pub fn close(&self) {
        self.closed.send_replace(true);
        self.room.close();
        self.wake.notify_one();
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Takes the oldest queued batches, about `max_bytes` of them (at least one), and starts a
    /// new log file so the files before it hold only records up to the newest queued.
    fn take(&self, max_bytes: usize) -> EngineResult<Vec<Queued>> {
        let mut log = self.log.lock();
        if log.queue.is_empty() {
            return Ok(Vec::new());
        }
        log.wal.rotate()?;
        let mut taken = Vec::new();
        let mut bytes = 0;
        while let Some(next) = log.queue.front() {
            if !taken.is_empty() && bytes + next.bytes > max_bytes {
                break;
            }
            bytes += next.bytes;
            taken.extend(log.queue.pop_front());
        }
        log.queued_bytes -= bytes;
        Ok(taken)
    }

    /// Records everything through `seq` as shipped: readers waiting for it go on, and the log
    /// files holding only such records are deleted.
    fn shipped_through(&self, seq: u64) {
        self.shipped.send_replace(seq);
        if let Err(error) = self.log.lock().wal.remove_files_through(seq) {
            tracing::warn!(%error, "cannot delete shipped spool files; they are deleted later");
        }
    }

    fn mark(&self, mark: ShippingMark) -> EngineResult<()> {
        let directory = &self.settings.directory;
        mark.write(directory)
            .map_err(|error| spool_error(directory, error))
    }

    /// Sets a record ClickHouse rejected aside, where nothing deletes it.
    fn set_aside(&self, seq: u64, batch: &WriteBatch, reason: &str) {
        let directory = self.settings.directory.join("rejected");
        let path = directory.join(format!("{seq:020}.record"));
        let written = fs::create_dir_all(&directory)
            .map_err(EmbeddedError::from)
            .and_then(|()| batch_record(batch)?.encode())
            .and_then(|payload| write_checked_file(&path, &payload));
        match written {
            Ok(()) => tracing::error!(
                seq, events = batch.events.len(), path = %path.display(), %reason,
                "ClickHouse rejected a spooled batch; it is kept aside"
            ),
            Err(error) => tracing::error!(
                seq, events = batch.events.len(), %reason, %error,
                "ClickHouse rejected a spooled batch, and it could not be kept aside"
            ),
        }
    }
}

fn spool_error(directory: &Path, error: EmbeddedError) -> EngineError {
    let error = EngineError::from(error);
    let message = format!("ClickHouse spool {}: {error}", directory.display());
    match error {
        EngineError::Unavailable(_) => EngineError::Unavailable(message),
        _ => EngineError::Rejected(message),
    }
}

async fn lock_directory(directory: &Path) -> EngineResult<File> {
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(directory.join("LOCK"))
        .map_err(|error| spool_error(directory, error.into()))?;
    for _ in 0..100 {
        if lock.try_lock().is_ok() {
            return Ok(lock);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(EngineError::Rejected(format!(
        "the ClickHouse spool {} is in use by another Stackhouse process",
        directory.display()
    )))
}

/// A log record back as the batch it was written from.
fn batch_of(record: LogRecord) -> Result<WriteBatch, EmbeddedError> {
    match record {
        LogRecord::Batch {
            issues,
            mappings,
            events,
            status_changes,
        } => Ok(WriteBatch {
            events: events
                .as_ref()
                .map(to_records)
                .transpose()?
                .unwrap_or_default(),
            new_issues: issues,
            new_mappings: mappings,
            status_changes,
        }),
        other => Err(EmbeddedError::Corrupt(format!(
            "the spool holds only write batches, not {other:?}"
        ))),
    }
}

/// Inserts what a previous process left unshipped (see the module doc), before anything reads.
pub(super) async fn recover(
    spool: &Spool,
    connection: &Connection,
    ranking: &Ranking,
) -> EngineResult<()> {
    let Some(recovery) = spool.recovery.lock().take() else {
        return Ok(());
    };
    let Some(last) = recovery.records.last().map(|(seq, _)| *seq) else {
        return Ok(());
    };
    let (mut restored, mut already) = (0, 0);
    for (seq, mut batch) in recovery.records {
        if seq <= recovery.maybe_stored_through {
            let stored = stored_event_ids(connection, &batch.events).await?;
            let before = batch.events.len();
            batch
                .events
                .retain(|event| !stored.contains(&(event.project_id, event.event_id.clone())));
            already += before - batch.events.len();
        }
        restored += batch.events.len();
        connection.insert_batch(ranking, &batch).await?;
    }
    spool.mark(ShippingMark {
        shipped_through: last,
        maybe_stored_through: last,
    })?;
    spool.shipped_through(last);
    tracing::info!(
        events = restored,
        already_stored = already,
        "shipped what the spool held from a previous run"
    );
    Ok(())
}

/// Which of `events` are in ClickHouse already, as (project, event id).
async fn stored_event_ids(
    connection: &Connection,
    events: &[EventRecord],
) -> EngineResult<HashSet<(u64, String)>> {
    if events.is_empty() {
        return Ok(HashSet::new());
    }
    let projects: HashSet<u64> = events.iter().map(|event| event.project_id).collect();
    let fingerprints: HashSet<u64> = events.iter().map(|event| event.fingerprint).collect();
    let ids: Vec<&str> = events.iter().map(|event| event.event_id.as_str()).collect();
    // The primary key (project, fingerprint, ...) narrows the scan to these events' issues.
    let sql = format!(
        "SELECT project_id, event_id FROM events WHERE project_id IN ({}) \
         AND fingerprint IN ({}) AND has(?, event_id)",
        literal_list(&projects.into_iter().collect::<Vec<_>>()),
        literal_list(&fingerprints.into_iter().collect::<Vec<_>>()),
    );
    let rows: Vec<(u64, String)> = connection
        .query(connection.client.query(&sql).bind(ids))
        .fetch_all()
        .await
        .map_err(classify)?;
    Ok(rows.into_iter().collect())
}

/// Runs the spool's file work (create, sync, delete) off the async workers, which serve
/// requests meanwhile.
async fn on_disk<T: Send + 'static>(
    spool: &Arc<Spool>,
    work: impl FnOnce(&Spool) -> T + Send + 'static,
) -> T {
    let spool = spool.clone();
    match tokio::task::spawn_blocking(move || work(&spool)).await {
        Ok(value) => value,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

/// The shipper: runs until the spool is closed.
pub(super) async fn ship(spool: Arc<Spool>, connection: Arc<Connection>, ranking: Arc<Ranking>) {
    let mut last_insert: Option<tokio::time::Instant> = None;
    while !spool.is_closed() {
        if let Some(last_insert) = last_insert {
            if !gather(&spool, last_insert + spool.settings.ship_interval).await {
                return;
            }
        }
        let taken = match on_disk(&spool, |spool| spool.take(INSERT_MAX_BYTES)).await {
            Ok(taken) if taken.is_empty() => {
                spool.wake.notified().await;
                continue;
            }
            Ok(taken) => taken,
            Err(error) => {
                tracing::error!(%error, "the spool cannot start a new file; retrying");
                if !pause(&spool, Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        last_insert = Some(tokio::time::Instant::now());
        let Some(last) = ship_taken(&spool, &connection, &ranking, taken).await else {
            return; // closed while ClickHouse was unreachable: the log keeps the rest
        };
        on_disk(&spool, move |spool| spool.shipped_through(last)).await;
    }
}

/// Ships the records taken (consecutive, oldest first); returns the last one's sequence
/// number, or `None` if the spool was closed before they were stored.
async fn ship_taken(
    spool: &Arc<Spool>,
    connection: &Connection,
    ranking: &Ranking,
    taken: Vec<Queued>,
) -> Option<u64> {
    let first = taken.first()?.seq;
    let last = taken.last()?.seq;
    let mark = ShippingMark {
        shipped_through: first - 1,
        maybe_stored_through: last,
    };
    while let Err(error) = on_disk(spool, move |spool| spool.mark(mark)).await {
        tracing::error!(%error, "cannot write the spool's shipping mark; retrying");
        if !pause(spool, Duration::from_secs(1)).await {
            return None;
        }
    }
    let mut merged = WriteBatch::default();
    // Each batch's room in the queue is given back once it is shipped, not before: until
    // then it is in memory here.
    let mut rooms = Vec::with_capacity(taken.len());
    for queued in taken {
        // The writer has let go of it by now, as a rule: then it is taken, not copied.
        merged.append(Arc::unwrap_or_clone(queued.batch));
        rooms.push(queued.room);
    }
    merged.dedup_side_records();
    let shipped = match insert_retrying(spool, connection, ranking, &merged).await {
        Some(Ok(())) => true,
        None => false,
        Some(Err(reason)) => {
            // One bad record must not hold the others back: ship them one by one.
            drop(merged);
            ship_one_by_one(spool, connection, ranking, first, last, &reason).await
        }
    };
    drop(rooms);
    shipped.then_some(last)
}

/// Inserts `batch`, retrying while ClickHouse is unreachable. `None`: the spool was closed
/// meanwhile; `Some(Err)`: ClickHouse rejected it.
async fn insert_retrying(
    spool: &Spool,
    connection: &Connection,
    ranking: &Ranking,
    batch: &WriteBatch,
) -> Option<Result<(), String>> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match connection.insert_batch(ranking, batch).await {
            Ok(()) => return Some(Ok(())),
            Err(error) if error.is_retryable() => {
                tracing::warn!(%error, events = batch.events.len(), "ClickHouse unreachable; the spool retries");
                if !pause(spool, backoff).await {
                    return None;
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Some(Err(error.to_string())),
        }
    }
}

/// Sleeps `duration`, or until the spool is closed; false if it is.
async fn pause(spool: &Spool, duration: Duration) -> bool {
    pause_until(spool, tokio::time::Instant::now() + duration).await
}

/// Waits until `deadline` or until [`SpoolSettings::ship_bytes`] of events are queued,
/// whichever comes first; false once the spool is closed.
async fn gather(spool: &Spool, deadline: tokio::time::Instant) -> bool {
    let mut closed = spool.closed.subscribe();
    loop {
        if spool.log.lock().queued_bytes >= spool.settings.ship_bytes {
            return !spool.is_closed();
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return !spool.is_closed(),
            _ = closed.wait_for(|closed| *closed) => return false,
            // Every append wakes it to count again.
            _ = spool.wake.notified() => {}
        }
    }
}

/// Sleeps until `deadline`, or until the spool is closed; false if it is.
async fn pause_until(spool: &Spool, deadline: tokio::time::Instant) -> bool {
    let mut closed = spool.closed.subscribe();
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => {}
        _ = closed.wait_for(|closed| *closed) => {}
    }
    !spool.is_closed()
}

async fn ship_one_by_one(
    spool: &Arc<Spool>,
    connection: &Connection,
    ranking: &Ranking,
    first: u64,
    last: u64,
    reason: &str,
) -> bool {
    tracing::warn!(first, last, %reason, "ClickHouse rejected a spooled insert; shipping its batches one by one");
    // Read under the log's lock: replay cuts what looks like a torn tail, and an append in
    // progress would look like one.
    let read = on_disk(spool, move |spool| {
        let _appends = spool.log.lock();
        let mut records = Vec::new();
        wal::replay(&spool.settings.directory, first - 1, |seq, payload| {
            if seq <= last {
                records.push((seq, batch_of(LogRecord::decode(payload)?)?));
            }
            Ok(())
        })
        .map(|_| records)
    })
    .await;
    let records = match read {
        Ok(records) => records,
        Err(error) => {
            tracing::error!(%error, "cannot read the rejected batches back from the spool");
            Vec::new()
        }
    };
    for (seq, batch) in records {
        match insert_retrying(spool, connection, ranking, &batch).await {
            Some(Ok(())) => {}
            Some(Err(reason)) => {
                on_disk(spool, move |spool| spool.set_aside(seq, &batch, &reason)).await;
            }
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::embedded::event_batch::{sample_record, stored_time};
    use crate::engine::{FingerprintMapping, IssueRecord};

    #[test]
    fn a_batch_comes_back_from_its_log_record_as_clickhouse_stores_it() {
        let mut events: Vec<EventRecord> = (0..3).map(sample_record).collect();
        for event in &mut events {
            // ClickHouse keeps whole seconds, and so does the record.
            event.timestamp = stored_time(event.timestamp);
            event.received = stored_time(event.received);
        }
        let batch = WriteBatch {
            events,
            new_issues: vec![IssueRecord {
                project_id: 1,
                issue_id: 7,
                title: "ValueError: bad".into(),
                culprit: "app.views".into(),
                level: "error".into(),
                platform: "python".into(),
                features: "{}".into(),
                created_at: stored_time(chrono::Utc::now()),
            }],
            new_mappings: vec![FingerprintMapping {
                project_id: 1,
                fingerprint: 42,
                issue_id: 7,
                updated_at: stored_time(chrono::Utc::now()),
            }],
            status_changes: Vec::new(),
        };
        let payload = batch_record(&batch)
            .expect("record")
            .encode()
            .expect("encode");
        let back = batch_of(LogRecord::decode(&payload).expect("decode")).expect("batch");
        assert_eq!(back.events, batch.events);
        assert_eq!(back.new_issues, batch.new_issues);
        assert_eq!(back.new_mappings, batch.new_mappings);
    }

    #[test]
    fn the_shipping_mark_reads_back_and_defaults_to_nothing_shipped() {
        let directory = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            ShippingMark::read(directory.path()).expect("read"),
            ShippingMark::default()
        );
        let mark = ShippingMark {
            shipped_through: 41,
            maybe_stored_through: 57,
        };
        mark.write(directory.path()).expect("write");
        assert_eq!(ShippingMark::read(directory.path()).expect("read"), mark);
    }
}
