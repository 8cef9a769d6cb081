//! In-process copies of the numbers the issue list ranks by, so that a list request does not
//! scan ClickHouse for them (on 18.16 and two cores, at 100,000 fingerprints, each scan alone is
//! 50–100 ms):
//! - [`ProjectTotals`]: per fingerprint of a project, its events, first and last seen, and the
//!   environments it has events in (from `fingerprint_total`);
//! - [`WindowCounts`]: per fingerprint, its events in each of a few time windows (from
//!   `fingerprint_hour`; the trend sort's last hour and the day before it).
//!
//! How each copy stays right:
//! - A copy is loaded by the first request that needs it, which waits.
//! - This instance's own writes are added as each events insert returns, so its events are
//!   ranked at once.
//! - Other instances' events arrive by reloading: a request that finds the copy older than the
//!   refresh interval starts a reload in the background and is answered from the copy it has.
//!   So another instance's events are ranked after at most one interval (plus the reload).
//!   The same reload corrects anything this copy missed (an insert that failed half-way).
//! - A load and this instance's events inserts never overlap (the [`Ranking::gate`]): an insert
//!   that raced a load could otherwise be counted twice (in the load and as a delta) or not
//!   at all. Inserts wait while a load runs.
//!
//! Only the ranking comes from here; what a page shows (counts, users, first and last seen) is
//! still read from ClickHouse for the page's issues.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::rows::{to_epoch_seconds, FingerprintEnvironmentRow, WindowCountsRow};
use super::Connection;
use crate::engine::{EngineError, EngineResult, EventRecord};

/// Totals of one fingerprint, times in epoch seconds as ClickHouse's `DateTime` stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Totals {
    pub events: u64,
    pub first_seen: u32,
    pub last_seen: u32,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.events += other.events;
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
    }
}

/// One project's ranking numbers.
#[derive(Debug, Default)]
pub(super) struct ProjectTotals {
    pub fingerprints: foldhash::HashMap<u64, Totals>,
    pub environments: HashMap<String, foldhash::HashSet<u64>>,
}

impl ProjectTotals {
    fn merge(&mut self, fingerprint: u64, environment: &str, totals: Totals) {
        self.fingerprints
            .entry(fingerprint)
            .and_modify(|known| known.add(totals))
            .or_insert(totals);
        match self.environments.get_mut(environment) {
            Some(fingerprints) => {
                fingerprints.insert(fingerprint);
            }
            None => {
                let mut fingerprints = foldhash::HashSet::default();
                fingerprints.insert(fingerprint);
                self.environments
                    .insert(environment.to_owned(), fingerprints);
            }
        }
    }

    fn from_rows(rows: Vec<FingerprintEnvironmentRow>) -> ProjectTotals {
        let mut totals = ProjectTotals::default();
        for row in rows {
            let value = Totals {
                events: row.events,
                first_seen: row.first_seen,
                last_seen: row.last_seen,
            };
            totals.merge(row.fingerprint, &row.environment, value);
        }
        totals
    }
}

impl Copied for ProjectTotals {
    type Key = u64;
    /// One per project: small next to the project's events.
    const CAPACITY: usize = usize::MAX;

    fn project(key: &u64) -> u64 {
        *key
    }

    fn fetch(connection: Arc<Connection>, project_id: u64) -> Fetch<ProjectTotals> {
        Box::pin(async move {
            let query = connection
                .client
                .query(
                    "SELECT fingerprint, environment, countMerge(events_state) AS events, \
                            minMerge(first_seen_state) AS first_seen, \
                            maxMerge(last_seen_state) AS last_seen \
                     FROM fingerprint_total WHERE project_id = ? \
                     GROUP BY fingerprint, environment",
                )
                .bind(project_id);
            let rows: Vec<FingerprintEnvironmentRow> = connection.fetch_all(query).await?;
            Ok(ProjectTotals::from_rows(rows))
        })
    }

    fn add(&mut self, event: &EventRecord) {
        let seconds = to_epoch_seconds(event.timestamp);
        self.merge(
            event.fingerprint,
            &event.environment,
            Totals {
                events: 1,
                first_seen: seconds,
                last_seen: seconds,
            },
        );
    }
}

/// Time windows `[from, to)` in epoch seconds, on hour boundaries.
pub(super) type Windows = Vec<(u32, u32)>;

/// Events per fingerprint of a project in each of some windows; fingerprints with none in any
/// window are left out.
#[derive(Debug)]
pub(super) struct WindowCounts {
    windows: Windows,
    pub counts: HashMap<u64, Vec<u64>>,
}

impl WindowCounts {
    fn from_rows(windows: Windows, rows: Vec<WindowCountsRow>) -> WindowCounts {
        let counts = rows
            .into_iter()
            .filter(|row| row.events.iter().any(|count| *count > 0))
            .map(|row| (row.fingerprint, row.events))
            .collect();
        WindowCounts { windows, counts }
    }
}

impl Copied for WindowCounts {
    type Key = (u64, Windows);
    /// The trend sort asks for one window set per hour; a few hours' worth covers requests
    /// that straddle an hour and several projects.
    const CAPACITY: usize = 16;

    fn project(key: &(u64, Windows)) -> u64 {
        key.0
    }

    fn fetch(connection: Arc<Connection>, (project_id, windows): (u64, Windows)) -> Fetch<Self> {
        Box::pin(async move {
            let spans = windows.iter().filter(|(from, to)| from < to);
            let (Some(start), Some(end)) = (
                spans.clone().map(|window| window.0).min(),
                spans.map(|window| window.1).max(),
            ) else {
                return Ok(WindowCounts::from_rows(windows, Vec::new()));
            };
            // One scan of the windows' span; a count per window.
            let per_window = windows
                .iter()
                .map(|(from, to)| {
                    format!(
                        "countMergeIf(events_state, hour >= toDateTime({from}) AND hour < toDateTime({to}))"
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT fingerprint, [{per_window}] AS events FROM fingerprint_hour \
                 WHERE project_id = ? AND hour >= toDateTime(?) AND hour < toDateTime(?) \
                 GROUP BY fingerprint"
            );
            let query = connection
                .client
                .query(&sql)
                .bind(project_id)
                .bind(start)
                .bind(end);
            let rows: Vec<WindowCountsRow> = connection.fetch_all(query).await?;
            Ok(WindowCounts::from_rows(windows, rows))
        })
    }

    fn add(&mut self, event: &EventRecord) {
        let seconds = to_epoch_seconds(event.timestamp);
        // `fingerprint_hour` buckets by `toStartOfHour`: the server runs in UTC.
        let hour = seconds - seconds % 3600;
        for (index, (from, to)) in self.windows.iter().enumerate() {
            if (*from..*to).contains(&hour) {
                let windows = self.windows.len();
                self.counts
                    .entry(event.fingerprint)
                    .or_insert_with(|| vec![0; windows])[index] += 1;
            }
        }
    }
}

/// What a copy is of, how it is read from ClickHouse, and how an inserted event changes it.
pub(super) trait Copied: Sized + Send + Sync + 'static {
    type Key: Clone + Eq + Hash + Debug + Send + Sync + 'static;
    /// How many copies are kept at most; the one read least recently goes first.
    const CAPACITY: usize;
    /// The project a copy is of: events of other projects leave it alone.
    fn project(key: &Self::Key) -> u64;
    fn fetch(connection: Arc<Connection>, key: Self::Key) -> Fetch<Self>;
    fn add(&mut self, event: &EventRecord);
}

type Fetch<T> = Pin<Box<dyn Future<Output = EngineResult<T>> + Send>>;

/// One copy: its value, when it was loaded and last read, whether a reload is under way.
struct Copy<T> {
    value: T,
    loaded_at: Instant,
    read_at: Instant,
    reloading: bool,
}

/// The copies of one kind.
struct Copies<T: Copied> {
    /// Readers hold the lock while they copy out what they need (about a millisecond at
    /// 100,000 fingerprints); writers while they add a batch.
    entries: Mutex<HashMap<T::Key, Copy<T>>>,
    /// First loads wait here, so concurrent first requests load a copy once.
    first_load: tokio::sync::Mutex<()>,
}

impl<T: Copied> Copies<T> {
    fn new() -> Copies<T> {
        Copies {
            entries: Mutex::new(HashMap::new()),
            first_load: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<T::Key, Copy<T>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn install(&self, key: T::Key, value: T) {
        let now = Instant::now();
        let mut entries = self.lock();
        let read_at = entries.get(&key).map_or(now, |copy| copy.read_at);
        entries.insert(
            key.clone(),
            Copy {
                value,
                loaded_at: now,
                read_at,
                reloading: false,
            },
        );
        if entries.len() > T::CAPACITY {
            let coldest = entries
                .iter()
                .filter(|(other, _)| **other != key)
                .min_by_key(|(_, copy)| copy.read_at)
                .map(|(other, _)| other.clone());
            if let Some(coldest) = coldest {
                entries.remove(&coldest);
            }
        }
    }

    fn added(&self, events: &[EventRecord]) {
        let mut entries = self.lock();
        for (key, copy) in entries.iter_mut() {
            let project = T::project(key);
            for event in events.iter().filter(|event| event.project_id == project) {
                copy.value.add(event);
            }
        }
    }
}

/// Every copy this instance keeps.
pub(super) struct Ranking {
    /// Held shared by each events insert (until its events are added), exclusively by a load.
    gate: tokio::sync::RwLock<()>,
    totals: Copies<ProjectTotals>,
    windows: Copies<WindowCounts>,
    refresh: Duration,
}

fn totals(ranking: &Ranking) -> &Copies<ProjectTotals> {
    &ranking.totals
}

fn windows(ranking: &Ranking) -> &Copies<WindowCounts> {
    &ranking.windows
}

/// What [`Ranking::write_gate`] hands a writer: hold it over the insert, then [`Self::added`].
pub(super) struct WriteGate<'a> {
    ranking: &'a Ranking,
    _shared: tokio::sync::RwLockReadGuard<'a, ()>,
}

impl WriteGate<'_> {
    /// Adds the inserted events to every copy of the projects they belong to.
    pub fn added(self, events: &[EventRecord]) {
        self.ranking.totals.added(events);
        self.ranking.windows.added(events);
    }
}

impl Ranking {
    pub fn new(refresh: Duration) -> Ranking {
        Ranking {
            gate: tokio::sync::RwLock::new(()),
            totals: Copies::new(),
            windows: Copies::new(),
            refresh,
        }
    }

    /// To hold over an events insert; see [`WriteGate::added`].
    pub async fn write_gate(&self) -> WriteGate<'_> {
        WriteGate {
            ranking: self,
            _shared: self.gate.read().await,
        }
    }

    /// `read` of a project's [`ProjectTotals`].
    pub async fn totals<R>(
        self: &Arc<Self>,
        connection: &Arc<Connection>,
        project_id: u64,
        read: impl Fn(&ProjectTotals) -> R,
    ) -> EngineResult<R> {
        self.read(totals, connection, project_id, read).await
    }

    /// `read` of a project's [`WindowCounts`] in `windows`.
    pub async fn window_counts<R>(
        self: &Arc<Self>,
        connection: &Arc<Connection>,
        project_id: u64,
        windows: Windows,
        read: impl Fn(&WindowCounts) -> R,
    ) -> EngineResult<R> {
        self.read(self::windows, connection, (project_id, windows), read)
            .await
    }

    /// `read` of a copy: loaded now if this instance has none yet; else the copy it has, with
    /// a reload started in the background when that copy is stale.
    async fn read<T: Copied, R>(
        self: &Arc<Self>,
        copies: fn(&Ranking) -> &Copies<T>,
        connection: &Arc<Connection>,
        key: T::Key,
        read: impl Fn(&T) -> R,
    ) -> EngineResult<R> {
        if let Some(result) = self.read_known(copies, connection, &key, &read) {
            return Ok(result);
        }
        let _first = copies(self).first_load.lock().await;
        if let Some(result) = self.read_known(copies, connection, &key, &read) {
            return Ok(result);
        }
        self.load(copies, connection, key.clone()).await?;
        self.read_known(copies, connection, &key, &read)
            .ok_or_else(|| EngineError::Unavailable(format!("the issue ranking {key:?} vanished")))
    }

    /// `read` of a copy this instance has; starts its reload when stale.
    fn read_known<T: Copied, R>(
        self: &Arc<Self>,
        copies: fn(&Ranking) -> &Copies<T>,
        connection: &Arc<Connection>,
        key: &T::Key,
        read: impl Fn(&T) -> R,
    ) -> Option<R> {
        let mut entries = copies(self).lock();
        let copy = entries.get_mut(key)?;
        copy.read_at = Instant::now();
        if copy.loaded_at.elapsed() >= self.refresh && !copy.reloading {
            copy.reloading = true;
            let ranking = Arc::clone(self);
            let connection = Arc::clone(connection);
            let key = key.clone();
            tokio::spawn(async move {
                if let Err(error) = ranking.load(copies, &connection, key.clone()).await {
                    tracing::warn!(
                        ?key,
                        %error,
                        "reloading the issue ranking failed; the previous copy is still served"
                    );
                    if let Some(copy) = copies(&ranking).lock().get_mut(&key) {
                        copy.reloading = false;
                    }
                }
            });
        }
        Some(read(&copy.value))
    }

    /// Reads a copy from ClickHouse with no insert of this instance in flight, and installs it.
    async fn load<T: Copied>(
        &self,
        copies: fn(&Ranking) -> &Copies<T>,
        connection: &Arc<Connection>,
        key: T::Key,
    ) -> EngineResult<()> {
        let _exclusive = self.gate.write().await;
        let value = T::fetch(Arc::clone(connection), key.clone()).await?;
        copies(self).install(key, value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::rows::from_epoch_seconds;
    use super::*;
    use std::collections::HashSet;

    fn row(
        fingerprint: u64,
        environment: &str,
        events: u64,
        first: u32,
        last: u32,
    ) -> FingerprintEnvironmentRow {
        FingerprintEnvironmentRow {
            fingerprint,
            environment: environment.to_owned(),
            events,
            first_seen: first,
            last_seen: last,
        }
    }

    #[test]
    fn rows_of_several_environments_sum_into_one_fingerprint() {
        let totals = ProjectTotals::from_rows(vec![
            row(1, "production", 5, 100, 200),
            row(1, "staging", 2, 50, 150),
            row(2, "staging", 1, 300, 300),
        ]);
        assert_eq!(
            totals.fingerprints[&1],
            Totals {
                events: 7,
                first_seen: 50,
                last_seen: 200
            }
        );
        assert_eq!(totals.fingerprints[&2].events, 1);
        let environment =
            |name: &str| -> HashSet<u64> { totals.environments[name].iter().copied().collect() };
        assert_eq!(environment("staging"), HashSet::from([1, 2]));
        assert_eq!(environment("production"), HashSet::from([1]));
    }

    fn event(fingerprint: u64, seconds: u32) -> EventRecord {
        let error =
            stackhouse_protocol::ErrorEvent::new(uuid::Uuid::nil(), chrono::DateTime::UNIX_EPOCH);
        let grouped = stackhouse_grouping::fingerprint_event(&error, &Default::default());
        let mut record = EventRecord::from_event(7, &error, chrono::DateTime::UNIX_EPOCH, &grouped);
        record.fingerprint = fingerprint;
        record.timestamp = from_epoch_seconds(seconds);
        record
    }

    #[test]
    fn an_event_counts_in_the_windows_holding_its_hour() {
        let mut counts = WindowCounts::from_rows(vec![(7200, 10800), (0, 7200)], Vec::new());
        counts.add(&event(1, 7200 + 3599));
        counts.add(&event(1, 3600));
        counts.add(&event(2, 10800));
        assert_eq!(counts.counts, HashMap::from([(1, vec![1, 1])]));
    }

    #[test]
    fn the_copy_read_least_recently_is_dropped_past_capacity() {
        let copies: Copies<WindowCounts> = Copies::new();
        for hour in 0..=WindowCounts::CAPACITY as u32 {
            let key = (7, vec![(hour * 3600, hour * 3600 + 3600)]);
            copies.install(key, WindowCounts::from_rows(Vec::new(), Vec::new()));
        }
        let entries = copies.lock();
        assert_eq!(entries.len(), WindowCounts::CAPACITY);
        assert!(!entries.contains_key(&(7, vec![(0, 3600)])));
    }
}
