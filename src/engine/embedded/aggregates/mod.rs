//! The per-fingerprint aggregates ClickHouse keeps in `fingerprint_minute` / `fingerprint_hour`
//! (event count, first and last seen, distinct users), maintained incrementally as events are
//! written, plus an all-time bucket per fingerprint so the issue list never scans raw events
//! and never merges hundreds of hourly buckets.
//!
//! Distinct users are exact: each bucket keeps the set of 64-bit xxHash values of the
//! non-empty `user_key`s it saw (the only inexactness is a 64-bit hash collision). Sets, not
//! counts, because an issue's users are the *union* over its fingerprints (after a merge) and
//! over hours: an issue's user count is the size of the union of its fingerprints' all-time
//! sets, an hour's the union of that hour's sets.
//!
//! Layout: one [`Series`] per fingerprint holds its all-time bucket, its hours and its minutes,
//! each a vector of [`Cell`]s sorted by start. There are millions of minutes and hours
//! (a fingerprint with events all day has 1,440 minutes), so a cell keeps its start and its
//! first/last seen as 32- and 16-bit offsets and its users as 32-bit numbers
//! ([`UserIds`]); one map entry per bucket with full keys and a hash table of users each
//! (the layout before) took 2.2 GB for 10 million events, this about a quarter of that.
//!
//! Distinct users are kept per hour and all-time, not per minute: minutes answer event-rate
//! questions (minute sparklines), and nothing asks a minute's users. A minute cell is 12 bytes
//! (its event count 32-bit), an hour cell 32; minute cells are the most numerous (7.6 million
//! for 10 million events over 100,000 fingerprints and a day), so leaving their users out
//! takes the largest part of the aggregates from 32 bytes a cell to 12. The
//! `fingerprint_minute` table therefore has no `users` column here (on ClickHouse, where it is
//! internal too, its state is kept but never read).
//!
//! Persistence: a checkpoint writes the buckets changed since the previous checkpoint (a
//! delta; a bucket's full state, so later files simply replace earlier ones) or, every few
//! checkpoints, all of them (a base that lets the deltas before it go). A changed cell says so
//! itself (a bit of its last-seen offset), a changed series is listed, so a delta costs what
//! changed, late events included.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use datafusion::arrow::array::RecordBatch;

use super::event_batch::EventColumns;
use super::recent::RecentHours;
use super::side_tables::SideTables;
use super::user_set::{union_size, UserId, UserIds, UserSet};

mod files;
use super::EmbeddedError;
use crate::engine::{FingerprintCounts, IssueFingerprints};

const USER_HASH_SEED: u64 = 0x5553_4552_4b45_5953;

/// The distinct-user identity of a `user_key`; `None` for the empty key (no user), which
/// ClickHouse's `uniqIf(user_key, user_key != '')` does not count either.
pub fn user_hash(user_key: &str) -> Option<u64> {
    (!user_key.is_empty())
        .then(|| twox_hash::XxHash64::oneshot(USER_HASH_SEED, user_key.as_bytes()))
}

/// (project_id, fingerprint).
pub type FingerprintKey = (u64, u64);

pub const MINUTE: i64 = 60;
pub const HOUR: i64 = 3600;

/// The bucket widths kept per fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    Minute,
    Hour,
}

impl Width {
    pub fn seconds(self) -> i64 {
        match self {
            Width::Minute => MINUTE,
            Width::Hour => HOUR,
        }
    }

    fn start_of(self, timestamp: i64) -> i64 {
        timestamp - timestamp.rem_euclid(self.seconds())
    }
}

/// The all-time aggregate of one fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub events: u64,
    /// Epoch seconds.
    pub first_seen: i64,
    pub last_seen: i64,
    pub users: UserSet,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            events: 0,
            first_seen: i64::MAX,
            last_seen: i64::MIN,
            users: UserSet::default(),
        }
    }
}

impl Bucket {
    fn add(&mut self, timestamp: i64, user: Option<UserId>) {
        self.events += 1;
        self.first_seen = self.first_seen.min(timestamp);
        self.last_seen = self.last_seen.max(timestamp);
        if let Some(user) = user {
            self.users.insert(user);
        }
    }

    fn part(&self) -> Part<'_> {
        Part {
            events: self.events,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            users: &self.users,
        }
    }
}

/// The top bit of [`Cell::last`]: changed since the last checkpoint. Offsets stay below an
/// hour (3,600 < 2^15), so the bit is free.
const CHANGED: u16 = 1 << 15;

/// What a cell keeps of its users: hours their set ([`UserSet`]), minutes nothing
/// ([`NoUsers`]).
pub trait CellUsers: std::fmt::Debug + Clone + Default + PartialEq + Eq {
    fn insert(&mut self, user: UserId);
    /// The users as a set (empty when none are kept).
    fn set(&self) -> &UserSet;
    /// Takes a set read from a checkpoint (dropped when none are kept).
    fn from_set(set: UserSet) -> Self;
}

impl CellUsers for UserSet {
    fn insert(&mut self, user: UserId) {
        UserSet::insert(self, user);
    }
    fn set(&self) -> &UserSet {
        self
    }
    fn from_set(set: UserSet) -> Self {
        set
    }
}

/// A minute cell's users: none kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoUsers;

static NO_USERS: UserSet = UserSet::EMPTY;

impl CellUsers for NoUsers {
    fn insert(&mut self, _user: UserId) {}
    fn set(&self) -> &UserSet {
        &NO_USERS
    }
    fn from_set(_set: UserSet) -> Self {
        NoUsers
    }
}

/// One minute (`Cell<NoUsers>`) or one hour (`Cell`) of one fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell<U = UserSet> {
    users: U,
    /// 32 bits (saturating) keep a minute cell at 12 bytes rather than 16; minute cells are
    /// most of the aggregates (7.6M of them at 10M events over 100k fingerprints), and no
    /// fingerprint sees four billion events in an hour.
    events: u32,
    /// Epoch seconds (stored times fit 32 bits: see `epoch_seconds`).
    start: u32,
    /// First seen, seconds after `start`.
    first: u16,
    /// Last seen, seconds after `start`, and the [`CHANGED`] bit.
    last: u16,
}

impl<U: CellUsers> Cell<U> {
    fn new(start: u32) -> Cell<U> {
        Cell {
            users: U::default(),
            events: 0,
            start,
            first: 0,
            last: 0,
        }
    }

    /// A cell as a checkpoint file gives it (users dropped where none are kept); unchanged.
    fn loaded(users: UserSet, events: u64, start: u32, first: u16, last: u16) -> Cell<U> {
        Cell {
            users: U::from_set(users),
            events: u32::try_from(events).unwrap_or(u32::MAX),
            start,
            first,
            last,
        }
    }

    pub fn start(&self) -> i64 {
        i64::from(self.start)
    }

    pub fn events(&self) -> u64 {
        u64::from(self.events)
    }

    pub fn first_seen(&self) -> i64 {
        self.start() + i64::from(self.first)
    }

    pub fn last_seen(&self) -> i64 {
        self.start() + i64::from(self.last & !CHANGED)
    }

    fn changed(&self) -> bool {
        self.last & CHANGED != 0
    }

    /// Adds an event at `timestamp`, inside this cell.
    fn add(&mut self, timestamp: i64, user: Option<UserId>) {
        // In range: the caller found this cell by the timestamp's start.
        let offset = (timestamp - self.start()) as u16;
        let last = self.last & !CHANGED;
        if self.events == 0 {
            (self.first, self.last) = (offset, offset);
        } else {
            (self.first, self.last) = (self.first.min(offset), last.max(offset));
        }
        self.last |= CHANGED;
        self.events = self.events.saturating_add(1);
        if let Some(user) = user {
            self.users.insert(user);
        }
    }

    fn part(&self) -> Part<'_> {
        Part {
            events: self.events(),
            first_seen: self.first_seen(),
            last_seen: self.last_seen(),
            users: self.users.set(),
        }
    }
}

/// The cells of one width of one fingerprint, sorted by start.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cells<U = UserSet>(Vec<Cell<U>>);

impl<U> Default for Cells<U> {
    fn default() -> Self {
        Cells(Vec::new())
    }
}

impl<U: CellUsers> Cells<U> {
    /// The cell starting at `start`, inserted (empty) if there is none. Events mostly arrive in
    /// time order, so the newest cell is tried first.
    fn cell(&mut self, start: u32) -> &mut Cell<U> {
        let cells = &mut self.0;
        if cells.last().is_none_or(|last| last.start != start) {
            reserve_one(cells);
        }
        let at = match cells.last() {
            Some(last) if last.start == start => cells.len() - 1,
            Some(last) if last.start < start => {
                cells.push(Cell::new(start));
                cells.len() - 1
            }
            None => {
                cells.push(Cell::new(start));
                0
            }
            Some(_) => match cells.binary_search_by_key(&start, |cell| cell.start) {
                Ok(at) => at,
                Err(at) => {
                    cells.insert(at, Cell::new(start));
                    at
                }
            },
        };
        &mut cells[at]
    }

    /// The cells starting in `[from, to)` (epoch seconds).
    fn range(&self, from: i64, to: i64) -> &[Cell<U>] {
        let first = self.0.partition_point(|cell| cell.start() < from);
        let end = self.0.partition_point(|cell| cell.start() < to);
        &self.0[first..end.max(first)]
    }

    fn forget_changes(&mut self) {
        for cell in &mut self.0 {
            cell.last &= !CHANGED;
        }
    }
}

/// Room for one more cell, growing by an eighth rather than doubling: cells are most of the
/// aggregates' memory (a fingerprint with events all day has 1,440 minutes), and doubled
/// vectors left a third of the slots empty (11.6M slots for 7.6M minute cells at 10M events
/// over 100k fingerprints). Growing by an eighth copies each cell about eight
/// times over the vector's life instead of once or twice, a few hundred bytes per series.
fn reserve_one<U>(cells: &mut Vec<Cell<U>>) {
    if cells.len() == cells.capacity() {
        cells.reserve_exact((cells.len() / 8).max(4));
    }
}

/// Everything kept about one fingerprint.
#[derive(Debug, Clone)]
struct Series {
    total: Bucket,
    hours: Cells,
    minutes: Cells<NoUsers>,
    /// The newest hours (not persisted: derived from `hours`).
    recent: RecentHours,
    /// Changed since the last checkpoint: `total` did, and the changed cells are marked.
    changed: bool,
}

impl Series {
    fn new() -> Series {
        Series {
            total: Bucket::default(),
            hours: Cells::default(),
            minutes: Cells::default(),
            recent: RecentHours::new(0),
            changed: false,
        }
    }

    /// Each row of one width's buckets, appended to `rows`.
    fn push_rows(&self, key: FingerprintKey, width: Width, rows: &mut Vec<BucketRow>) {
        match width {
            Width::Minute => push_cell_rows(key, &self.minutes, false, rows),
            Width::Hour => push_cell_rows(key, &self.hours, true, rows),
        }
    }
}

/// A bucket's aggregates, to merge with others.
#[derive(Debug, Clone, Copy)]
struct Part<'a> {
    events: u64,
    first_seen: i64,
    last_seen: i64,
    users: &'a UserSet,
}

/// Several buckets merged: counts add up, times take min/max, users are the union's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    pub events: u64,
    pub users: u64,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// Merges buckets; the user union is computed only when `with_users`.
fn merge(parts: &[Part<'_>], with_users: bool) -> Merged {
    let mut merged = Merged {
        events: 0,
        users: 0,
        first_seen: i64::MAX,
        last_seen: i64::MIN,
    };
    for part in parts {
        merged.events += part.events;
        merged.first_seen = merged.first_seen.min(part.first_seen);
        merged.last_seen = merged.last_seen.max(part.last_seen);
    }
    if with_users {
        let sets: Vec<&UserSet> = parts.iter().map(|part| part.users).collect();
        merged.users = union_size(&sets);
    }
    merged
}

/// One minute or hour bucket as the analyst tables show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketRow {
    pub project_id: u64,
    pub fingerprint: u64,
    pub start: i64,
    pub events: u64,
    /// Distinct users; `None` for minutes (not kept).
    pub users: Option<u64>,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// Every aggregate, with what changed since the last checkpoint.
#[derive(Debug, Default)]
pub struct Aggregates {
    series: BTreeMap<FingerprintKey, Series>,
    users: UserIds,
    /// The series changed since the last checkpoint.
    changed: Vec<FingerprintKey>,
}

/// Which fingerprints of a project have events in which environment: the issue list's
/// environment filter without a scan of the events (ClickHouse reads `fingerprint_total`,
/// keyed by environment, for the same). Not persisted: every batch applied from open on is
/// added, and the first question completes it with one scan of the stored events. Events are
/// never deleted, so the union of the two is exact.
#[derive(Debug, Default)]
pub struct EnvironmentIndex {
    complete: bool,
    /// Project, then environment (keyed so a lookup borrows the event's `&str`).
    fingerprints: HashMap<u64, HashMap<String, HashSet<u64>>>,
}

impl EnvironmentIndex {
    /// Adds every event of an `events` batch (needs its project_id, environment and
    /// fingerprint columns).
    pub fn add_batch(&mut self, batch: &RecordBatch) -> Result<(), EmbeddedError> {
        let columns = EventColumns::new(batch);
        let project_ids = columns.u64("project_id")?;
        let environments = columns.string("environment")?;
        let fingerprints = columns.u64("fingerprint")?;
        for row in 0..batch.num_rows() {
            self.add(
                project_ids.value(row),
                environments.value(row),
                fingerprints.value(row),
            );
        }
        Ok(())
    }

    pub fn add(&mut self, project_id: u64, environment: &str, fingerprint: u64) {
        let environments = self.fingerprints.entry(project_id).or_default();
        // Most events repeat a known pair: look up before allocating the key.
        if let Some(set) = environments.get_mut(environment) {
            set.insert(fingerprint);
        } else {
            environments.insert(environment.to_owned(), HashSet::from([fingerprint]));
        }
    }

    /// Adds the pairs of the events stored before open; from then on the index is complete.
    pub fn complete_with(&mut self, stored: impl IntoIterator<Item = (u64, String, u64)>) {
        for (project_id, environment, fingerprint) in stored {
            self.add(project_id, &environment, fingerprint);
        }
        self.complete = true;
    }

    /// The fingerprints of a project with events in `environment`, in order; `None` until
    /// the index is complete.
    pub fn fingerprints(&self, project_id: u64, environment: &str) -> Option<Vec<u64>> {
        if !self.complete {
            return None;
        }
        let mut found: Vec<u64> = self
            .fingerprints
            .get(&project_id)
            .and_then(|environments| environments.get(environment))
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default();
        found.sort_unstable();
        Some(found)
    }
}

impl Aggregates {
    /// Adds one event (`timestamp` in epoch seconds, in `0..=u32::MAX`: see `epoch_seconds`).
    pub fn add_event(
        &mut self,
        project_id: u64,
        fingerprint: u64,
        timestamp: i64,
        user: Option<u64>,
    ) {
        let user = user.map(|hash| self.users.id(hash));
        let key = (project_id, fingerprint);
        let hour = Width::Hour.start_of(timestamp);
        let series = self.series.entry(key).or_insert_with(|| {
            let mut series = Series::new();
            series.recent = RecentHours::new(hour);
            series
        });
        let minute = cell_start(Width::Minute.start_of(timestamp));
        series.minutes.cell(minute).add(timestamp, user);
        series.hours.cell(cell_start(hour)).add(timestamp, user);
        series.recent.add(hour, 1);
        series.total.add(timestamp, user);
        if !series.changed {
            series.changed = true;
            self.changed.push(key);
        }
    }

    /// Adds every event of an `events` batch (needs its project_id, fingerprint, timestamp and
    /// user_key columns).
    pub fn add_batch(&mut self, batch: &RecordBatch) -> Result<(), EmbeddedError> {
        let columns = EventColumns::new(batch);
        let project_ids = columns.u64("project_id")?;
        let fingerprints = columns.u64("fingerprint")?;
        let timestamps = columns.seconds("timestamp")?;
        let user_keys = columns.string("user_key")?;
        for row in 0..batch.num_rows() {
            self.add_event(
                project_ids.value(row),
                fingerprints.value(row),
                timestamps.value(row),
                user_hash(user_keys.value(row)),
            );
        }
        Ok(())
    }

    /// Marks the series in `keys` (and their cells) unchanged.
    fn forget(&mut self, keys: &[FingerprintKey]) {
        for key in keys {
            if let Some(series) = self.series.get_mut(key) {
                series.changed = false;
                series.minutes.forget_changes();
                series.hours.forget_changes();
            }
        }
    }

    /// The series of a fingerprint, created empty if it has none (its recent hours are
    /// derived later: see [`Self::index_recent_hours`]).
    fn series_mut(&mut self, project_id: u64, fingerprint: u64) -> &mut Series {
        self.series
            .entry((project_id, fingerprint))
            .or_insert_with(Series::new)
    }

    /// Derives the recent hours of every fingerprint from the hourly buckets (after a load,
    /// whose buckets replace rather than add).
    pub fn index_recent_hours(&mut self) {
        for series in self.series.values_mut() {
            let newest = series.hours.0.last().map_or(0, Cell::start);
            series.recent = RecentHours::new(newest);
            for cell in series.hours.0.iter().rev() {
                series.recent.add(cell.start(), cell.events());
            }
        }
    }

    /// Forgets what changed: once it is encoded for a checkpoint, or when the state as loaded
    /// is what is on disk.
    pub fn clear_changes(&mut self) {
        let changed = std::mem::take(&mut self.changed);
        self.forget(&changed);
    }

    /// The all-time aggregate of one fingerprint, if it has events.
    pub fn total(&self, project_id: u64, fingerprint: u64) -> Option<&Bucket> {
        self.series
            .get(&(project_id, fingerprint))
            .map(|series| &series.total)
    }

    /// Every minute or hour bucket, in (project, fingerprint, start) order (the tests' view;
    /// a scan pages with [`Self::bucket_rows_after`]).
    #[cfg(test)]
    pub fn bucket_rows(&self, width: Width) -> impl Iterator<Item = BucketRow> + '_ {
        let mut rows = Vec::new();
        for (&key, series) in &self.series {
            series.push_rows(key, width, &mut rows);
        }
        rows.into_iter()
    }

    /// The buckets of whole series after the one keyed `after` (from the first when `None`),
    /// in [`Self::bucket_rows`]'s order, appended to `rows` until it holds at least `at_least`;
    /// returns the key of the last series taken, `None` when none was left. A caller pages
    /// through every bucket with short read locks and batches of a bounded size.
    pub fn bucket_rows_after(
        &self,
        width: Width,
        after: Option<FingerprintKey>,
        at_least: usize,
        rows: &mut Vec<BucketRow>,
    ) -> Option<FingerprintKey> {
        let range = match after {
            Some(key) => (Bound::Excluded(key), Bound::Unbounded),
            None => (Bound::Unbounded, Bound::Unbounded),
        };
        let mut last = None;
        for (&key, series) in self.series.range(range) {
            series.push_rows(key, width, rows);
            last = Some(key);
            if rows.len() >= at_least {
                break;
            }
        }
        last
    }

    /// The series of a project's fingerprints, in fingerprint order.
    fn project_series(&self, project_id: u64) -> impl Iterator<Item = (u64, &Series)> + '_ {
        self.series
            .range((project_id, 0)..=(project_id, u64::MAX))
            .map(|(&(_, fingerprint), series)| (fingerprint, series))
    }

    /// Every issue of a project (or just those in `only`) with its all-time aggregates, through
    /// the current fingerprint→issue mapping. Fingerprints without events or without a mapping
    /// do not contribute (ClickHouse joins `fingerprint_total` with the mapping the same way).
    pub fn issue_totals(
        &self,
        side: &SideTables,
        project_id: u64,
        only: Option<&HashSet<u64>>,
    ) -> HashMap<u64, Merged> {
        let mut per_issue: HashMap<u64, Vec<Part<'_>>> = HashMap::new();
        for (fingerprint, issue_id) in side.project_mappings(project_id) {
            if only.is_some_and(|only| !only.contains(&issue_id)) {
                continue;
            }
            if let Some(total) = self.total(project_id, fingerprint) {
                per_issue.entry(issue_id).or_default().push(total.part());
            }
        }
        per_issue
            .into_iter()
            .map(|(issue_id, parts)| (issue_id, merge(&parts, true)))
            .collect()
    }

    /// All-time distinct users of each issue: the union of the all-time sets of the
    /// fingerprints given for it. Issues without users are left out.
    pub fn issue_users(&self, project_id: u64, issues: &IssueFingerprints) -> HashMap<u64, u64> {
        issues
            .iter()
            .filter_map(|(issue_id, fingerprints)| {
                let sets: Vec<&UserSet> = fingerprints
                    .iter()
                    .filter_map(|fingerprint| self.total(project_id, *fingerprint))
                    .map(|total| &total.users)
                    .collect();
                let users = union_size(&sets);
                (users > 0).then_some((*issue_id, users))
            })
            .collect()
    }

    /// Event counts per (issue, hour start) for hours starting in `[from, to)` (epoch
    /// seconds), over the fingerprints given for each issue: one seek per fingerprint.
    pub fn issue_hour_counts(
        &self,
        project_id: u64,
        issues: &IssueFingerprints,
        from: i64,
        to: i64,
    ) -> BTreeMap<(u64, i64), u64> {
        let mut counts = BTreeMap::new();
        if from >= to {
            return counts;
        }
        for (issue_id, fingerprints) in issues {
            for fingerprint in fingerprints {
                let Some(series) = self.series.get(&(project_id, *fingerprint)) else {
                    continue;
                };
                for cell in series.hours.range(from, to) {
                    *counts.entry((*issue_id, cell.start())).or_default() += cell.events();
                }
            }
        }
        counts
    }

    /// All-time event count, first and last seen of every fingerprint of a project with events.
    pub fn fingerprint_totals(&self, project_id: u64) -> impl Iterator<Item = (u64, &Bucket)> + '_ {
        self.project_series(project_id)
            .map(|(fingerprint, series)| (fingerprint, &series.total))
    }

    /// Event counts per fingerprint of a project in each window of hours starting in
    /// `[from, to)` (epoch seconds), for every fingerprint that can have events in them (its
    /// all-time first and last seen say): from its recent hours when they cover the windows
    /// (the trend sort), else one seek into its hourly buckets and a walk over their span.
    pub fn fingerprint_counts(&self, project_id: u64, windows: &[(i64, i64)]) -> FingerprintCounts {
        let mut counts = FingerprintCounts::new(windows.len());
        let spans = windows.iter().filter(|(from, to)| from < to);
        let (Some(start), Some(end)) = (
            spans.clone().map(|window| window.0).min(),
            spans.map(|window| window.1).max(),
        ) else {
            return counts;
        };
        let mut events: Vec<u64> = Vec::with_capacity(windows.len());
        for (fingerprint, series) in self.project_series(project_id) {
            if series.total.last_seen < start || series.total.first_seen >= end + HOUR {
                continue;
            }
            events.clear();
            events.resize(windows.len(), 0);
            if series.recent.covers(start) {
                for (count, (from, to)) in events.iter_mut().zip(windows) {
                    *count = series.recent.sum(*from, *to);
                }
                counts.push(fingerprint, &events);
                continue;
            }
            for cell in series.hours.range(start, end) {
                for (count, (from, to)) in events.iter_mut().zip(windows) {
                    if (*from..*to).contains(&cell.start()) {
                        *count += cell.events();
                    }
                }
            }
            counts.push(fingerprint, &events);
        }
        counts
    }

    /// Hourly aggregates per (issue, hour start) of a project for hours starting in
    /// `[from, to)` (epoch seconds), through the current mapping; `issues` narrows the issues.
    pub fn issue_hours(
        &self,
        side: &SideTables,
        project_id: u64,
        issues: Option<&HashSet<u64>>,
        from: i64,
        to: i64,
        with_users: bool,
    ) -> BTreeMap<(u64, i64), Merged> {
        let mut per_hour: BTreeMap<(u64, i64), Vec<Part<'_>>> = BTreeMap::new();
        if from >= to {
            return BTreeMap::new();
        }
        for (fingerprint, issue_id) in side.project_mappings(project_id) {
            if issues.is_some_and(|issues| !issues.contains(&issue_id)) {
                continue;
            }
            let Some(series) = self.series.get(&(project_id, fingerprint)) else {
                continue;
            };
            for cell in series.hours.range(from, to) {
                per_hour
                    .entry((issue_id, cell.start()))
                    .or_default()
                    .push(cell.part());
            }
        }
        per_hour
            .into_iter()
            .map(|(key, parts)| (key, merge(&parts, with_users)))
            .collect()
    }

    /// Event counts per (issue, minute start) of the given issues of a project for minutes
    /// starting in `[from, to)` (epoch seconds), through the current mapping.
    pub fn issue_minutes(
        &self,
        side: &SideTables,
        project_id: u64,
        issues: &HashSet<u64>,
        from: i64,
        to: i64,
    ) -> BTreeMap<(u64, i64), u64> {
        let mut per_minute: BTreeMap<(u64, i64), u64> = BTreeMap::new();
        if from >= to {
            return per_minute;
        }
        for (fingerprint, issue_id) in side.project_mappings(project_id) {
            if !issues.contains(&issue_id) {
                continue;
            }
            let Some(series) = self.series.get(&(project_id, fingerprint)) else {
                continue;
            };
            for cell in series.minutes.range(from, to) {
                *per_minute.entry((issue_id, cell.start())).or_default() += cell.events();
            }
        }
        per_minute
    }
}

/// A bucket start as a cell keeps it. Stored times are clamped to `0..=u32::MAX`, and so are
/// the starts derived from them.
fn cell_start(start: i64) -> u32 {
    start.clamp(0, i64::from(u32::MAX)) as u32
}

/// The cells of one width of one series as rows, appended to `rows`.
fn push_cell_rows<U: CellUsers>(
    (project_id, fingerprint): FingerprintKey,
    cells: &Cells<U>,
    with_users: bool,
    rows: &mut Vec<BucketRow>,
) {
    rows.extend(cells.0.iter().map(|cell| BucketRow {
        project_id,
        fingerprint,
        start: cell.start(),
        events: cell.events(),
        users: with_users.then(|| cell.users.set().len() as u64),
        first_seen: cell.first_seen(),
        last_seen: cell.last_seen(),
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::FingerprintMapping;

    #[test]
    fn cells_stay_small_and_their_counts_saturate() {
        // Minute cells and the rings are most of the aggregates' memory.
        assert_eq!(std::mem::size_of::<Cell>(), 32);
        assert_eq!(std::mem::size_of::<Cell<NoUsers>>(), 12);
        assert_eq!(std::mem::size_of::<RecentHours>(), 136);
        let mut cell: Cell<NoUsers> = Cell::loaded(UserSet::EMPTY, u64::MAX, 60, 0, 0);
        assert_eq!(cell.events(), u64::from(u32::MAX));
        cell.add(61, None);
        assert_eq!(cell.events(), u64::from(u32::MAX));
        let mut ring = RecentHours::new(0);
        ring.add(0, u64::from(u32::MAX) - 1);
        ring.add(0, 5);
        assert_eq!(ring.sum(0, HOUR), u64::from(u32::MAX));
    }

    fn side_with(mappings: &[(u64, u64, u64)]) -> SideTables {
        let mut side = SideTables::default();
        for &(project_id, fingerprint, issue_id) in mappings {
            side.apply_mapping(&FingerprintMapping {
                project_id,
                fingerprint,
                issue_id,
                updated_at: chrono::DateTime::UNIX_EPOCH,
            });
        }
        side
    }

    #[test]
    fn users_merge_across_fingerprints_and_hours() {
        let mut aggregates = Aggregates::default();
        let alice = user_hash("id:alice");
        let bob = user_hash("id:bob");
        assert_eq!(user_hash(""), None);
        aggregates.add_event(1, 10, 7_200, alice);
        aggregates.add_event(1, 10, 7_260, None);
        aggregates.add_event(1, 11, 3_600 * 3 + 5, alice);
        aggregates.add_event(1, 11, 3_600 * 3 + 9, bob);
        aggregates.add_event(2, 10, 50, bob);
        // Fingerprints 10 and 11 of project 1 are one issue (merged).
        let side = side_with(&[(1, 10, 100), (1, 11, 100), (2, 10, 200)]);
        let totals = aggregates.issue_totals(&side, 1, None);
        assert_eq!(
            totals[&100],
            Merged {
                events: 4,
                users: 2,
                first_seen: 7_200,
                last_seen: 10_809
            }
        );
        assert_eq!(totals.len(), 1);
        let hours = aggregates.issue_hours(&side, 1, None, 0, 20_000, true);
        assert_eq!(hours[&(100, 7_200)].events, 2);
        assert_eq!(hours[&(100, 7_200)].users, 1);
        assert_eq!(hours[&(100, 10_800)].users, 2);
        // [from, to) on hour starts.
        assert_eq!(
            aggregates
                .issue_hours(&side, 1, None, 7_200, 10_800, false)
                .len(),
            1
        );
        let minutes: Vec<BucketRow> = aggregates.bucket_rows(Width::Minute).collect();
        assert_eq!(minutes.len(), 4);
        assert_eq!(
            minutes[2],
            BucketRow {
                project_id: 1,
                fingerprint: 11,
                start: 10_800,
                events: 2,
                users: None,
                first_seen: 10_805,
                last_seen: 10_809
            }
        );
    }

    #[test]
    fn cells_stay_sorted_whatever_order_events_arrive_in() {
        let mut aggregates = Aggregates::default();
        // Newest first, then in order, then in between: every insert position.
        let times = [9_000, 3_000, 3_059, 100, 12_000, 5_000, 3_001, 0, 12_001];
        for time in times {
            aggregates.add_event(1, 1, time, user_hash(&format!("id:{time}")));
        }
        let minutes: Vec<BucketRow> = aggregates.bucket_rows(Width::Minute).collect();
        let starts: Vec<i64> = minutes.iter().map(|row| row.start).collect();
        assert_eq!(starts, [0, 60, 3_000, 4_980, 9_000, 12_000]);
        let at_3000 = minutes[2];
        assert_eq!(
            (
                at_3000.events,
                at_3000.users,
                at_3000.first_seen,
                at_3000.last_seen
            ),
            (3, None, 3_000, 3_059)
        );
        let hours: Vec<(i64, u64)> = aggregates
            .bucket_rows(Width::Hour)
            .map(|row| (row.start, row.events))
            .collect();
        assert_eq!(hours, [(0, 5), (3_600, 1), (7_200, 1), (10_800, 2)]);
        let total = aggregates.total(1, 1).expect("fingerprint 1 has events");
        assert_eq!(
            (total.events, total.first_seen, total.last_seen),
            (9, 0, 12_001)
        );
        assert_eq!(total.users.len(), times.len());
    }

    #[test]
    fn paging_through_buckets_takes_whole_series_in_order() {
        let mut aggregates = Aggregates::default();
        for fingerprint in 1..=5u64 {
            for minute in 0..fingerprint as i64 {
                aggregates.add_event(fingerprint % 2, fingerprint, minute * MINUTE, None);
            }
        }
        let all: Vec<BucketRow> = aggregates.bucket_rows(Width::Minute).collect();
        let (mut paged, mut pages, mut after) = (Vec::new(), Vec::new(), None);
        loop {
            let mut page = Vec::new();
            let Some(last) = aggregates.bucket_rows_after(Width::Minute, after, 4, &mut page)
            else {
                break;
            };
            pages.push(page.len());
            assert_eq!(
                page.last().map(|row| (row.project_id, row.fingerprint)),
                Some(last)
            );
            paged.append(&mut page);
            after = Some(last);
        }
        assert_eq!(paged, all);
        // At least 4 rows a page, a series never split: 2 + 4, 1 + 3, 5 (project 0 first).
        assert_eq!(pages, [6, 4, 5]);
        assert_eq!(
            aggregates.bucket_rows_after(Width::Minute, after, 4, &mut Vec::new()),
            None
        );
    }

    /// Counts per window from the hourly buckets alone (what the seek path reads).
    fn counted(aggregates: &Aggregates, windows: &[(i64, i64)]) -> HashMap<u64, Vec<u64>> {
        let mut counts: HashMap<u64, Vec<u64>> = HashMap::new();
        for row in aggregates.bucket_rows(Width::Hour) {
            for (index, (from, to)) in windows.iter().enumerate() {
                if (*from..*to).contains(&row.start) {
                    counts
                        .entry(row.fingerprint)
                        .or_insert_with(|| vec![0; windows.len()])[index] += row.events;
                }
            }
        }
        counts.retain(|_, events| events.iter().any(|n| *n > 0));
        counts
    }

    #[test]
    fn window_counts_agree_whether_read_from_recent_hours_or_buckets() {
        let mut aggregates = Aggregates::default();
        let now = 500 * HOUR;
        // Fingerprint 1: events over the last 60 hours (older than the recent span, too);
        // 2: only long ago; 3: only in the last few hours.
        for n in 0..600i64 {
            aggregates.add_event(1, 1, now - (n * 367) % (60 * HOUR), None);
        }
        aggregates.add_event(1, 2, now - 100 * HOUR, None);
        for n in 0..20i64 {
            aggregates.add_event(1, 3, now - n * 900, None);
        }
        let trend = [(now, now + HOUR), (now - 24 * HOUR, now)];
        let wide = [(now - 50 * HOUR, now), (now - 10 * HOUR, now + HOUR)];
        let shifted = [(now - 5 * HOUR + 17, now - HOUR - 3)];
        for windows in [&trend[..], &wide[..], &shifted[..]] {
            assert_eq!(
                aggregates.fingerprint_counts(1, windows).to_map(),
                counted(&aggregates, windows),
                "{windows:?}"
            );
        }
        // The trend's windows are answered from the recent hours of every fingerprint with
        // events in them.
        assert!(aggregates.series[&(1, 1)].recent.covers(now - 24 * HOUR));
        assert!(aggregates.series[&(1, 3)].recent.covers(now - 24 * HOUR));
    }
}
