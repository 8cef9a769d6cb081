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
//! Persistence: a checkpoint writes the buckets changed since the previous checkpoint (a
//! delta; a bucket's full state, so later files simply replace earlier ones) or, every few
//! checkpoints, all of them (a base that lets the deltas before it go).

use std::collections::{BTreeMap, HashMap, HashSet};

use datafusion::arrow::array::RecordBatch;

use super::codec::{Decoder, Encoder};
use super::event_batch::EventColumns;
use super::recent::RecentHours;
use super::side_tables::SideTables;
use super::user_set::{HashedUsers, UserSet};
use super::EmbeddedError;
use crate::engine::{FingerprintCounts, IssueFingerprints};

const USER_HASH_SEED: u64 = 0x5553_4552_4b45_5953;

/// The distinct-user identity of a `user_key`; `None` for the empty key (no user), which
/// ClickHouse's `uniqIf(user_key, user_key != '')` does not count either.
pub fn user_hash(user_key: &str) -> Option<u64> {
    (!user_key.is_empty())
        .then(|| twox_hash::XxHash64::oneshot(USER_HASH_SEED, user_key.as_bytes()))
}

/// The aggregate state of one bucket.
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
    fn add(&mut self, timestamp: i64, user: Option<u64>) {
        self.events += 1;
        self.first_seen = self.first_seen.min(timestamp);
        self.last_seen = self.last_seen.max(timestamp);
        if let Some(user) = user {
            self.users.insert(user);
        }
    }
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
pub fn merge(buckets: &[&Bucket], with_users: bool) -> Merged {
    let mut merged = Merged {
        events: 0,
        users: 0,
        first_seen: i64::MAX,
        last_seen: i64::MIN,
    };
    for bucket in buckets {
        merged.events += bucket.events;
        merged.first_seen = merged.first_seen.min(bucket.first_seen);
        merged.last_seen = merged.last_seen.max(bucket.last_seen);
    }
    if with_users {
        merged.users = union_size(buckets);
    }
    merged
}

fn union_size(buckets: &[&Bucket]) -> u64 {
    let Some(largest) = buckets.iter().max_by_key(|bucket| bucket.users.len()) else {
        return 0;
    };
    let mut others = HashedUsers::default();
    for bucket in buckets {
        if std::ptr::eq(*bucket, *largest) || bucket.users.is_empty() {
            continue;
        }
        others.extend(
            bucket
                .users
                .iter()
                .filter(|user| !largest.users.contains(*user)),
        );
    }
    (largest.users.len() + others.len()) as u64
}

/// (project_id, fingerprint, bucket start in epoch seconds).
pub type BucketKey = (u64, u64, i64);
/// (project_id, fingerprint).
pub type FingerprintKey = (u64, u64);

pub const MINUTE: i64 = 60;
pub const HOUR: i64 = 3600;

/// Every aggregate, with what changed since the last checkpoint.
#[derive(Debug, Default)]
pub struct Aggregates {
    pub minutes: BTreeMap<BucketKey, Bucket>,
    pub hours: BTreeMap<BucketKey, Bucket>,
    pub totals: BTreeMap<FingerprintKey, Bucket>,
    /// The newest hours of each fingerprint (not persisted: derived from `hours`).
    recent: foldhash::HashMap<FingerprintKey, RecentHours>,
    dirty_minutes: HashSet<BucketKey>,
    dirty_hours: HashSet<BucketKey>,
    dirty_totals: HashSet<FingerprintKey>,
}

/// Which fingerprints of a project have events in which environment: the issue list's
/// environment filter without a scan of the events (ClickHouse reads `fingerprint_total`,
/// keyed by environment, for the same). Not persisted: every batch applied from open on is
/// added, and the first question completes it with one scan of the stored events. Events are
/// never deleted, so the union of the two is exact.
#[derive(Debug, Default)]
pub struct EnvironmentIndex {
    complete: bool,
    fingerprints: HashMap<(u64, String), HashSet<u64>>,
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
        let key = (project_id, environment.to_owned());
        // Most events repeat a known pair: look up before allocating the key.
        if let Some(set) = self.fingerprints.get_mut(&key) {
            set.insert(fingerprint);
        } else {
            self.fingerprints.insert(key, HashSet::from([fingerprint]));
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
            .get(&(project_id, environment.to_owned()))
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default();
        found.sort_unstable();
        Some(found)
    }
}

/// The kind byte at the start of a persisted aggregate file.
const BASE: u8 = 1;
const DELTA: u8 = 2;

impl Aggregates {
    /// Adds one event (`timestamp` in epoch seconds, never negative: see `epoch_seconds`).
    pub fn add_event(
        &mut self,
        project_id: u64,
        fingerprint: u64,
        timestamp: i64,
        user: Option<u64>,
    ) {
        let minute = (
            project_id,
            fingerprint,
            timestamp - timestamp.rem_euclid(MINUTE),
        );
        let hour = (
            project_id,
            fingerprint,
            timestamp - timestamp.rem_euclid(HOUR),
        );
        self.minutes.entry(minute).or_default().add(timestamp, user);
        self.hours.entry(hour).or_default().add(timestamp, user);
        self.recent
            .entry((project_id, fingerprint))
            .or_insert_with(|| RecentHours::new(hour.2))
            .add(hour.2, 1);
        self.totals
            .entry((project_id, fingerprint))
            .or_default()
            .add(timestamp, user);
        self.dirty_minutes.insert(minute);
        self.dirty_hours.insert(hour);
        self.dirty_totals.insert((project_id, fingerprint));
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

    /// Encodes the buckets changed since the last call (or all of them when `full`) and
    /// forgets the changes.
    pub fn encode_changes(&mut self, encoder: &mut Encoder, full: bool) {
        encoder.u8(if full { BASE } else { DELTA });
        let dirty_minutes = std::mem::take(&mut self.dirty_minutes);
        let dirty_hours = std::mem::take(&mut self.dirty_hours);
        let dirty_totals = std::mem::take(&mut self.dirty_totals);
        if full {
            encode_buckets(
                encoder,
                self.minutes.iter().map(|(key, bucket)| (*key, bucket)),
            );
            encode_buckets(
                encoder,
                self.hours.iter().map(|(key, bucket)| (*key, bucket)),
            );
            encode_buckets(
                encoder,
                self.totals
                    .iter()
                    .map(|(&(project_id, fingerprint), bucket)| {
                        ((project_id, fingerprint, 0), bucket)
                    }),
            );
            return;
        }
        encode_buckets(encoder, pick(&self.minutes, &dirty_minutes).into_iter());
        encode_buckets(encoder, pick(&self.hours, &dirty_hours).into_iter());
        let mut totals: Vec<(BucketKey, &Bucket)> = dirty_totals
            .iter()
            .filter_map(|&(project_id, fingerprint)| {
                self.totals
                    .get(&(project_id, fingerprint))
                    .map(|bucket| ((project_id, fingerprint, 0), bucket))
            })
            .collect();
        totals.sort_by_key(|(key, _)| *key);
        encode_buckets(encoder, totals.into_iter());
    }

    /// Loads one persisted file over the current state (each bucket in it replaces ours).
    pub fn load(&mut self, decoder: &mut Decoder<'_>) -> Result<(), EmbeddedError> {
        match decoder.u8()? {
            BASE | DELTA => {}
            other => {
                return Err(EmbeddedError::Corrupt(format!(
                    "unknown aggregate file kind {other}"
                )))
            }
        }
        for (key, bucket) in decode_buckets(decoder)? {
            self.minutes.insert(key, bucket);
        }
        for (key, bucket) in decode_buckets(decoder)? {
            self.hours.insert(key, bucket);
        }
        for ((project_id, fingerprint, _), bucket) in decode_buckets(decoder)? {
            self.totals.insert((project_id, fingerprint), bucket);
        }
        Ok(())
    }

    /// Derives the recent hours of every fingerprint from the hourly buckets (after a load,
    /// whose buckets replace rather than add).
    pub fn index_recent_hours(&mut self) {
        self.recent.clear();
        for (&(project_id, fingerprint, hour), bucket) in self.hours.iter().rev() {
            self.recent
                .entry((project_id, fingerprint))
                .or_insert_with(|| RecentHours::new(hour))
                .add(hour, bucket.events);
        }
    }

    /// Forgets what changed: the state as loaded is what is on disk.
    pub fn clear_changes(&mut self) {
        self.dirty_minutes.clear();
        self.dirty_hours.clear();
        self.dirty_totals.clear();
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
        let mut per_issue: HashMap<u64, Vec<&Bucket>> = HashMap::new();
        for (fingerprint, issue_id) in side.project_mappings(project_id) {
            if only.is_some_and(|only| !only.contains(&issue_id)) {
                continue;
            }
            if let Some(bucket) = self.totals.get(&(project_id, fingerprint)) {
                per_issue.entry(issue_id).or_default().push(bucket);
            }
        }
        per_issue
            .into_iter()
            .map(|(issue_id, buckets)| (issue_id, merge(&buckets, true)))
            .collect()
    }

    /// All-time distinct users of each issue: the union of the all-time sets of the
    /// fingerprints given for it. Issues without users are left out.
    pub fn issue_users(&self, project_id: u64, issues: &IssueFingerprints) -> HashMap<u64, u64> {
        issues
            .iter()
            .filter_map(|(issue_id, fingerprints)| {
                let buckets: Vec<&Bucket> = fingerprints
                    .iter()
                    .filter_map(|fingerprint| self.totals.get(&(project_id, *fingerprint)))
                    .collect();
                let users = union_size(&buckets);
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
                let range = (project_id, *fingerprint, from)..(project_id, *fingerprint, to);
                for (&(_, _, hour), bucket) in self.hours.range(range) {
                    *counts.entry((*issue_id, hour)).or_default() += bucket.events;
                }
            }
        }
        counts
    }

    /// All-time event count, first and last seen of every fingerprint of a project with events.
    pub fn fingerprint_totals(&self, project_id: u64) -> impl Iterator<Item = (u64, &Bucket)> + '_ {
        self.totals
            .range((project_id, 0)..=(project_id, u64::MAX))
            .map(|(&(_, fingerprint), bucket)| (fingerprint, bucket))
    }

    /// Event counts per fingerprint of a project in each window of hours starting in
    /// `[from, to)` (epoch seconds), for every fingerprint that can have events in them (its
    /// all-time first and last seen say): from its recent hours when they cover the windows
    /// (the trend sort), else one seek into the hourly buckets and a walk over their span.
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
        for (fingerprint, total) in self.fingerprint_totals(project_id) {
            if total.last_seen < start || total.first_seen >= end + HOUR {
                continue;
            }
            events.clear();
            events.resize(windows.len(), 0);
            let recent = self
                .recent
                .get(&(project_id, fingerprint))
                .filter(|recent| recent.covers(start));
            if let Some(recent) = recent {
                for (count, (from, to)) in events.iter_mut().zip(windows) {
                    *count = recent.sum(*from, *to);
                }
                counts.push(fingerprint, &events);
                continue;
            }
            let buckets = self
                .hours
                .range((project_id, fingerprint, start)..)
                .take_while(|(&(_, f, hour), _)| f == fingerprint && hour < end);
            for (&(_, _, hour), bucket) in buckets {
                for (count, (from, to)) in events.iter_mut().zip(windows) {
                    if (*from..*to).contains(&hour) {
                        *count += bucket.events;
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
        let mut per_hour: BTreeMap<(u64, i64), Vec<&Bucket>> = BTreeMap::new();
        if from >= to {
            return BTreeMap::new();
        }
        for (fingerprint, issue_id) in side.project_mappings(project_id) {
            if issues.is_some_and(|issues| !issues.contains(&issue_id)) {
                continue;
            }
            let range = (project_id, fingerprint, from)..(project_id, fingerprint, to);
            for (&(_, _, hour), bucket) in self.hours.range(range) {
                per_hour.entry((issue_id, hour)).or_default().push(bucket);
            }
        }
        per_hour
            .into_iter()
            .map(|(key, buckets)| (key, merge(&buckets, with_users)))
            .collect()
    }
}

impl Aggregates {
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
            let range = (project_id, fingerprint, from)..(project_id, fingerprint, to);
            for (&(_, _, minute), bucket) in self.minutes.range(range) {
                *per_minute.entry((issue_id, minute)).or_default() += bucket.events;
            }
        }
        per_minute
    }
}

/// The buckets of `map` named in `keys`, in key order.
fn pick<'a>(
    map: &'a BTreeMap<BucketKey, Bucket>,
    keys: &HashSet<BucketKey>,
) -> Vec<(BucketKey, &'a Bucket)> {
    let mut picked: Vec<(BucketKey, &Bucket)> = keys
        .iter()
        .filter_map(|key| map.get(key).map(|bucket| (*key, bucket)))
        .collect();
    picked.sort_by_key(|(key, _)| *key);
    picked
}

fn encode_buckets<'a>(
    encoder: &mut Encoder,
    buckets: impl ExactSizeIterator<Item = (BucketKey, &'a Bucket)>,
) {
    encoder.len(buckets.len());
    for ((project_id, fingerprint, start), bucket) in buckets {
        encoder.u64(project_id);
        encoder.u64(fingerprint);
        encoder.i64(start);
        encoder.u64(bucket.events);
        encoder.i64(bucket.first_seen);
        encoder.i64(bucket.last_seen);
        encoder.len(bucket.users.len());
        for user in bucket.users.iter() {
            encoder.u64(user);
        }
    }
}

fn decode_buckets(decoder: &mut Decoder<'_>) -> Result<Vec<(BucketKey, Bucket)>, EmbeddedError> {
    let count = decoder.len()?;
    let mut buckets = Vec::with_capacity(count.min(1 << 20));
    for _ in 0..count {
        let key = (decoder.u64()?, decoder.u64()?, decoder.i64()?);
        let mut bucket = Bucket {
            events: decoder.u64()?,
            first_seen: decoder.i64()?,
            last_seen: decoder.i64()?,
            users: UserSet::default(),
        };
        for _ in 0..decoder.len()? {
            bucket.users.insert(decoder.u64()?);
        }
        buckets.push((key, bucket));
    }
    Ok(buckets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::FingerprintMapping;

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
        assert_eq!(aggregates.minutes.len(), 4);
    }

    #[test]
    fn deltas_and_bases_restore_the_same_state() {
        let mut aggregates = Aggregates::default();
        let mut files = Vec::new();
        for round in 0..4i64 {
            for event in 0..50i64 {
                let user = user_hash(&format!("id:{}", event % 7));
                aggregates.add_event(1, (event % 3) as u64, round * 5_000 + event * 61, user);
            }
            let mut encoder = Encoder::new();
            aggregates.encode_changes(&mut encoder, round == 2);
            if round == 2 {
                files.clear();
            }
            files.push(encoder.finish());
        }
        assert!(aggregates.dirty_totals.is_empty());
        let mut restored = Aggregates::default();
        for file in &files {
            restored
                .load(&mut Decoder::new(file, "test"))
                .expect("load");
        }
        assert_eq!(restored.minutes, aggregates.minutes);
        assert_eq!(restored.hours, aggregates.hours);
        assert_eq!(restored.totals, aggregates.totals);
        restored.index_recent_hours();
        assert_eq!(restored.recent, aggregates.recent);
    }

    /// Counts per window from the hourly buckets alone (what the seek path reads).
    fn counted(aggregates: &Aggregates, windows: &[(i64, i64)]) -> HashMap<u64, Vec<u64>> {
        let mut counts: HashMap<u64, Vec<u64>> = HashMap::new();
        for (&(_, fingerprint, hour), bucket) in &aggregates.hours {
            for (index, (from, to)) in windows.iter().enumerate() {
                if (*from..*to).contains(&hour) {
                    counts
                        .entry(fingerprint)
                        .or_insert_with(|| vec![0; windows.len()])[index] += bucket.events;
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
        assert!(aggregates.recent[&(1, 1)].covers(now - 24 * HOUR));
        assert!(aggregates.recent[&(1, 3)].covers(now - 24 * HOUR));
    }
}
