//! An in-process copy of the numbers the issue list ranks by: per fingerprint of a project, its
//! events, first and last seen, and the environments it has events in. With it, a list request
//! does not scan `fingerprint_total` (on 18.16 and two cores that scan alone is 50–100 ms at
//! 100,000 fingerprints).
//!
//! - A project is loaded from `fingerprint_total` by its first list request, which waits.
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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::rows::{to_epoch_seconds, FingerprintEnvironmentRow};
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
    pub fingerprints: HashMap<u64, Totals>,
    pub environments: HashMap<String, HashSet<u64>>,
}

impl ProjectTotals {
    fn add(&mut self, fingerprint: u64, environment: &str, totals: Totals) {
        self.fingerprints
            .entry(fingerprint)
            .and_modify(|known| known.add(totals))
            .or_insert(totals);
        match self.environments.get_mut(environment) {
            Some(fingerprints) => {
                fingerprints.insert(fingerprint);
            }
            None => {
                self.environments
                    .insert(environment.to_owned(), HashSet::from([fingerprint]));
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
            totals.add(row.fingerprint, &row.environment, value);
        }
        totals
    }
}

/// A loaded project: its numbers, when they were loaded, and whether a reload is under way.
struct Loaded {
    totals: ProjectTotals,
    loaded_at: Instant,
    reloading: bool,
}

/// The ranking numbers of every project this instance has listed.
pub(super) struct Ranking {
    /// Held shared by each events insert (until its delta is added), exclusively by a load.
    gate: tokio::sync::RwLock<()>,
    /// Readers hold the lock while they copy out what they need (about a millisecond at
    /// 100,000 fingerprints); writers while they add a batch.
    projects: Mutex<HashMap<u64, Loaded>>,
    /// First loads of a project wait here, so concurrent first requests load it once.
    first_load: tokio::sync::Mutex<()>,
    refresh: Duration,
}

/// What [`Ranking::write_gate`] hands a writer: hold it over the insert, then [`Self::added`].
pub(super) struct WriteGate<'a> {
    ranking: &'a Ranking,
    _shared: tokio::sync::RwLockReadGuard<'a, ()>,
}

impl WriteGate<'_> {
    /// Adds the inserted events to every loaded project they belong to.
    pub fn added(self, events: &[EventRecord]) {
        let mut projects = self.ranking.lock();
        if projects.is_empty() {
            return;
        }
        for event in events {
            let Some(loaded) = projects.get_mut(&event.project_id) else {
                continue;
            };
            let seconds = to_epoch_seconds(event.timestamp);
            loaded.totals.add(
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
}

impl Ranking {
    pub fn new(refresh: Duration) -> Ranking {
        Ranking {
            gate: tokio::sync::RwLock::new(()),
            projects: Mutex::new(HashMap::new()),
            first_load: tokio::sync::Mutex::new(()),
            refresh,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Loaded>> {
        self.projects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// To hold over an events insert; see [`WriteGate::added`].
    pub async fn write_gate(&self) -> WriteGate<'_> {
        WriteGate {
            ranking: self,
            _shared: self.gate.read().await,
        }
    }

    /// `read` of the project's numbers: loaded now if this instance has not listed the project
    /// yet; else the copy it has, with a reload started in the background when that copy is
    /// stale.
    pub async fn read<R>(
        self: &Arc<Self>,
        connection: &Arc<Connection>,
        project_id: u64,
        read: impl Fn(&ProjectTotals) -> R,
    ) -> EngineResult<R> {
        if let Some(result) = self.read_known(connection, project_id, &read) {
            return Ok(result);
        }
        let _first = self.first_load.lock().await;
        if let Some(result) = self.read_known(connection, project_id, &read) {
            return Ok(result);
        }
        self.load(connection, project_id).await?;
        self.read_known(connection, project_id, &read)
            .ok_or_else(|| {
                EngineError::Unavailable(format!("the ranking of project {project_id} vanished"))
            })
    }

    /// `read` of a loaded project; starts its reload when stale.
    fn read_known<R>(
        self: &Arc<Self>,
        connection: &Arc<Connection>,
        project_id: u64,
        read: impl Fn(&ProjectTotals) -> R,
    ) -> Option<R> {
        let mut projects = self.lock();
        let loaded = projects.get_mut(&project_id)?;
        if loaded.loaded_at.elapsed() >= self.refresh && !loaded.reloading {
            loaded.reloading = true;
            let ranking = Arc::clone(self);
            let connection = Arc::clone(connection);
            tokio::spawn(async move {
                if let Err(error) = ranking.load(&connection, project_id).await {
                    tracing::warn!(
                        project_id,
                        %error,
                        "reloading the issue ranking failed; the previous copy is still served"
                    );
                    if let Some(loaded) = ranking.lock().get_mut(&project_id) {
                        loaded.reloading = false;
                    }
                }
            });
        }
        Some(read(&loaded.totals))
    }

    /// Reads the project from `fingerprint_total` with no insert of this instance in flight,
    /// and installs it.
    async fn load(&self, connection: &Connection, project_id: u64) -> EngineResult<()> {
        let _exclusive = self.gate.write().await;
        let rows: Vec<FingerprintEnvironmentRow> = connection
            .fetch_all(
                connection
                    .client
                    .query(
                        "SELECT fingerprint, environment, countMerge(events_state) AS events, \
                                minMerge(first_seen_state) AS first_seen, \
                                maxMerge(last_seen_state) AS last_seen \
                         FROM fingerprint_total WHERE project_id = ? \
                         GROUP BY fingerprint, environment",
                    )
                    .bind(project_id),
            )
            .await?;
        let totals = ProjectTotals::from_rows(rows);
        self.lock().insert(
            project_id,
            Loaded {
                totals,
                loaded_at: Instant::now(),
                reloading: false,
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(totals.environments["staging"], HashSet::from([1, 2]));
        assert_eq!(totals.environments["production"], HashSet::from([1]));
    }
}
