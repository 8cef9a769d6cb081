//! The aggregate checkpoint files: a base holds every bucket, a delta the buckets changed since
//! the checkpoint before it. Each bucket in a file holds its full state, so loading a base and
//! then its deltas in order, each bucket replacing what was loaded before, gives the state at
//! the last of them.
//!
//! The format written (kinds [`COMPACT_BASE`], [`COMPACT_DELTA`]) is grouped by fingerprint:
//!
//! ```text
//! kind u8
//! users:  varint n, n × u64 user hash          the file's own numbering, 0..n
//! series: varint n, n × {
//!     project_id varint, fingerprint u64,
//!     all-time: events varint, first_seen varint, last_seen varint, users set
//!     minutes, then hours: varint n, n × {
//!         start varint (in minutes/hours, after the previous cell's), events varint,
//!         first and last seen varint (seconds after start), users set } }
//! set:    varint n, then the n user numbers ascending: the first, then each one's distance
//!         from the one before (varints)
//! ```
//!
//! About a tenth of the flat layout before it (kinds [`BASE`], [`DELTA`]: every bucket with
//! its full key and 8-byte fields, every user as its hash), which is still read so that a data
//! directory written by an earlier version opens.

use super::*;
use crate::engine::embedded::codec::{CheckedFileWriter, Decoder, Encoder};

/// The flat layout (read only).
const BASE: u8 = 1;
const DELTA: u8 = 2;
/// The layout written.
const COMPACT_BASE: u8 = 3;
const COMPACT_DELTA: u8 = 4;

const WIDTHS: [Width; 2] = [Width::Minute, Width::Hour];

impl Aggregates {
    /// Encodes the buckets changed since the last [`Aggregates::clear_changes`] (or all of them
    /// when `full`). Takes `&self`, so a checkpoint encodes under a read lock (queries go on)
    /// while its log lock keeps writers out until it has cleared the changes. With a `file`,
    /// the encoded bytes go there a megabyte at a time (a base of millions of buckets is not
    /// held in memory whole); what is left in `encoder` at the end is the caller's to drain.
    pub fn encode_changes(
        &self,
        encoder: &mut Encoder,
        full: bool,
        mut file: Option<&mut CheckedFileWriter>,
    ) -> Result<(), EmbeddedError> {
        encoder.u8(if full { COMPACT_BASE } else { COMPACT_DELTA });
        let mut changed = self.changed.clone();
        changed.sort_unstable();
        let picked: Vec<(FingerprintKey, &Series)> = if full {
            self.series
                .iter()
                .map(|(key, series)| (*key, series))
                .collect()
        } else {
            changed
                .iter()
                .filter_map(|key| self.series.get(key).map(|series| (*key, series)))
                .collect()
        };
        let mut users = FileUsers::new(&self.users);
        for (_, series) in &picked {
            users.number(&series.total.users);
            // Minute cells keep no users.
            for cell in series.hours.0.iter().filter(|cell| full || cell.changed()) {
                users.number(&cell.users);
            }
        }
        users.encode(encoder);
        encoder.varint(picked.len() as u64);
        let mut scratch = Vec::new();
        for ((project_id, fingerprint), series) in &picked {
            encoder.varint(*project_id);
            encoder.u64(*fingerprint);
            let total = &series.total;
            encoder.varint(total.events);
            // Stored times are never negative (see `epoch_seconds`); the casts round-trip
            // whatever they are.
            encoder.varint(total.first_seen as u64);
            encoder.varint(total.last_seen as u64);
            users.encode_set(encoder, &total.users, &mut scratch);
            // Minutes, then hours (a minute's users set is written empty).
            encode_cells(
                encoder,
                &users,
                &series.minutes,
                Width::Minute,
                full,
                &mut scratch,
            );
            encode_cells(
                encoder,
                &users,
                &series.hours,
                Width::Hour,
                full,
                &mut scratch,
            );
            if let Some(file) = file.as_deref_mut() {
                encoder.drain_to(file, 1 << 20)?;
            }
        }
        Ok(())
    }

    /// Loads one persisted file over the current state (each bucket in it replaces ours).
    pub fn load(&mut self, decoder: &mut Decoder<'_>) -> Result<(), EmbeddedError> {
        match decoder.u8()? {
            COMPACT_BASE | COMPACT_DELTA => self.load_compact(decoder),
            BASE | DELTA => self.load_flat(decoder),
            other => Err(EmbeddedError::Corrupt(format!(
                "unknown aggregate file kind {other}"
            ))),
        }
    }

    fn load_compact(&mut self, decoder: &mut Decoder<'_>) -> Result<(), EmbeddedError> {
        let mut users = Vec::new();
        for _ in 0..decoder.varint_len()? {
            users.push(self.users.id(decoder.u64()?));
        }
        for _ in 0..decoder.varint_len()? {
            let project_id = decoder.varint()?;
            let fingerprint = decoder.u64()?;
            let series = self.series_mut(project_id, fingerprint);
            series.total = Bucket {
                events: decoder.varint()?,
                first_seen: decoder.varint()? as i64,
                last_seen: decoder.varint()? as i64,
                users: decode_set(decoder, &users)?,
            };
            decode_cells(decoder, &users, &mut series.minutes, Width::Minute)?;
            decode_cells(decoder, &users, &mut series.hours, Width::Hour)?;
        }
        Ok(())
    }

    fn load_flat(&mut self, decoder: &mut Decoder<'_>) -> Result<(), EmbeddedError> {
        for width in WIDTHS {
            for _ in 0..decoder.len()? {
                let head = decode_flat_head(decoder)?;
                let (start, first, last) =
                    cell_offsets(width, head.start, head.first_seen, head.last_seen)?;
                let users = decode_flat_users(decoder, &mut self.users)?;
                let series = self.series_mut(head.project_id, head.fingerprint);
                match width {
                    Width::Minute => {
                        *series.minutes.cell(start) =
                            Cell::loaded(users, head.events, start, first, last);
                    }
                    Width::Hour => {
                        *series.hours.cell(start) =
                            Cell::loaded(users, head.events, start, first, last);
                    }
                }
            }
        }
        for _ in 0..decoder.len()? {
            let head = decode_flat_head(decoder)?;
            let users = decode_flat_users(decoder, &mut self.users)?;
            self.series_mut(head.project_id, head.fingerprint).total = Bucket {
                events: head.events,
                first_seen: head.first_seen,
                last_seen: head.last_seen,
                users,
            };
        }
        Ok(())
    }
}

/// Encodes the cells of one width of a series (all of them, or those changed); the users of
/// every cell written must have been numbered.
fn encode_cells<U: CellUsers>(
    encoder: &mut Encoder,
    users: &FileUsers<'_>,
    cells: &Cells<U>,
    width: Width,
    full: bool,
    scratch: &mut Vec<u32>,
) {
    let cells = cells.0.iter().filter(|cell| full || cell.changed());
    encoder.varint(cells.clone().count() as u64);
    let mut previous = 0;
    for cell in cells {
        let index = u64::from(cell.start) / width.seconds() as u64;
        encoder.varint(index - previous);
        previous = index;
        encoder.varint(cell.events());
        encoder.varint(u64::from(cell.first));
        encoder.varint(u64::from(cell.last & !CHANGED));
        users.encode_set(encoder, cell.users.set(), scratch);
    }
}

/// Decodes the cells of one width of a series over `cells` (each replaces the one of its
/// start). Users of minutes, which files written before minutes kept none may name, are
/// dropped.
fn decode_cells<U: CellUsers>(
    decoder: &mut Decoder<'_>,
    users: &[UserId],
    cells: &mut Cells<U>,
    width: Width,
) -> Result<(), EmbeddedError> {
    let mut index = 0u64;
    let count = decoder.varint_len()?;
    // A base's cells arrive all at once: room for exactly them.
    if cells.0.is_empty() {
        cells.0.reserve_exact(count);
    }
    for _ in 0..count {
        index = index.saturating_add(decoder.varint()?);
        let start = i64::try_from(index)
            .ok()
            .and_then(|index| index.checked_mul(width.seconds()))
            .unwrap_or(i64::MAX);
        let events = decoder.varint()?;
        let first = start.saturating_add_unsigned(decoder.varint()?);
        let last = start.saturating_add_unsigned(decoder.varint()?);
        let (start, first, last) = cell_offsets(width, start, first, last)?;
        let set = decode_set(decoder, users)?;
        *cells.cell(start) = Cell::loaded(set, events, start, first, last);
    }
    Ok(())
}

/// A file's own numbering of the users its buckets name, in order of first use (so the
/// users of hot buckets get small numbers).
struct FileUsers<'a> {
    ids: &'a UserIds,
    /// For each in-memory user number, its number in the file plus one (0: not named yet).
    numbers: Vec<u32>,
    /// In-memory user numbers by their number in the file.
    named: Vec<UserId>,
}

impl<'a> FileUsers<'a> {
    fn new(ids: &'a UserIds) -> FileUsers<'a> {
        FileUsers {
            ids,
            numbers: vec![0; ids.len()],
            named: Vec::new(),
        }
    }

    fn number(&mut self, set: &UserSet) {
        for user in set.iter() {
            let number = &mut self.numbers[user as usize];
            if *number == 0 {
                self.named.push(user);
                // Fewer file numbers than in-memory ones, which fit 32 bits.
                *number = self.named.len() as u32;
            }
        }
    }

    fn encode(&self, encoder: &mut Encoder) {
        encoder.varint(self.named.len() as u64);
        for user in &self.named {
            encoder.u64(self.ids.hash(*user));
        }
    }

    /// Encodes a set whose users were all numbered.
    fn encode_set(&self, encoder: &mut Encoder, set: &UserSet, scratch: &mut Vec<u32>) {
        scratch.clear();
        scratch.extend(set.iter().map(|user| self.numbers[user as usize] - 1));
        scratch.sort_unstable();
        encoder.varint(scratch.len() as u64);
        let mut previous = 0;
        for (at, number) in scratch.iter().enumerate() {
            let step = if at == 0 { *number } else { number - previous };
            encoder.varint(u64::from(step));
            previous = *number;
        }
    }
}

/// A set of a compact file, its numbers mapped through the file's `users` to ours.
fn decode_set(decoder: &mut Decoder<'_>, users: &[UserId]) -> Result<UserSet, EmbeddedError> {
    let len = decoder.varint_len()?;
    let mut set = Vec::with_capacity(len);
    let mut number = 0u64;
    for at in 0..len {
        let step = decoder.varint()?;
        number = if at == 0 {
            step
        } else {
            number.saturating_add(step)
        };
        let user = usize::try_from(number)
            .ok()
            .and_then(|number| users.get(number))
            .ok_or_else(|| {
                EmbeddedError::Corrupt(format!(
                    "aggregate file: user {number} of {} named",
                    users.len()
                ))
            })?;
        set.push(*user);
    }
    Ok(set.into_iter().collect())
}

/// A persisted bucket's start and first/last seen as a cell keeps them, or why they cannot be.
fn cell_offsets(
    width: Width,
    start: i64,
    first_seen: i64,
    last_seen: i64,
) -> Result<(u32, u16, u16), EmbeddedError> {
    let inside = |time: i64| (start..start.saturating_add(width.seconds())).contains(&time);
    let start_fits = u32::try_from(start).is_ok() && width.start_of(start) == start;
    if !start_fits || !inside(first_seen) || !inside(last_seen) || first_seen > last_seen {
        return Err(EmbeddedError::Corrupt(format!(
            "{width:?} bucket at {start} with first/last seen {first_seen}/{last_seen}"
        )));
    }
    // In range: checked just above.
    Ok((
        start as u32,
        (first_seen - start) as u16,
        (last_seen - start) as u16,
    ))
}

/// A flat file's bucket up to its users (which follow it).
struct FlatHead {
    project_id: u64,
    fingerprint: u64,
    start: i64,
    events: u64,
    first_seen: i64,
    last_seen: i64,
}

fn decode_flat_head(decoder: &mut Decoder<'_>) -> Result<FlatHead, EmbeddedError> {
    Ok(FlatHead {
        project_id: decoder.u64()?,
        fingerprint: decoder.u64()?,
        start: decoder.i64()?,
        events: decoder.u64()?,
        first_seen: decoder.i64()?,
        last_seen: decoder.i64()?,
    })
}

fn decode_flat_users(
    decoder: &mut Decoder<'_>,
    ids: &mut UserIds,
) -> Result<UserSet, EmbeddedError> {
    let mut users = Vec::new();
    for _ in 0..decoder.len()? {
        users.push(ids.id(decoder.u64()?));
    }
    Ok(users.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every bucket with its users as hashes: comparable across instances (user numbers are
    /// not).
    type Dump = Vec<(Option<Width>, FingerprintKey, i64, u64, i64, i64, Vec<u64>)>;

    fn dump(aggregates: &Aggregates) -> Dump {
        let hashes = |set: &UserSet| {
            let mut hashes: Vec<u64> = set.iter().map(|id| aggregates.users.hash(id)).collect();
            hashes.sort_unstable();
            hashes
        };
        let mut rows = Vec::new();
        for (key, series) in &aggregates.series {
            let parts = (series
                .minutes
                .0
                .iter()
                .map(|cell| (Width::Minute, cell.start(), cell.part())))
            .chain(
                series
                    .hours
                    .0
                    .iter()
                    .map(|cell| (Width::Hour, cell.start(), cell.part())),
            );
            for (width, start, part) in parts {
                rows.push((
                    Some(width),
                    *key,
                    start,
                    part.events,
                    part.first_seen,
                    part.last_seen,
                    hashes(part.users),
                ));
            }
            let total = &series.total;
            rows.push((
                None,
                *key,
                0,
                total.events,
                total.first_seen,
                total.last_seen,
                hashes(&total.users),
            ));
        }
        rows
    }

    fn restore(files: &[Vec<u8>]) -> Aggregates {
        let mut restored = Aggregates::default();
        for file in files {
            restored
                .load(&mut Decoder::new(file, "test"))
                .expect("load");
        }
        restored.index_recent_hours();
        restored
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
            // A late event, into a minute and hour written by an earlier checkpoint.
            aggregates.add_event(1, 0, 30 + round, user_hash("id:late"));
            let mut encoder = Encoder::new();
            aggregates
                .encode_changes(&mut encoder, round == 2, None)
                .expect("encode");
            aggregates.clear_changes();
            if round == 2 {
                files.clear();
            }
            files.push(encoder.finish());
        }
        assert!(aggregates.changed.is_empty());
        let restored = restore(&files);
        assert_eq!(dump(&restored), dump(&aggregates));
        for (key, series) in &aggregates.series {
            assert_eq!(restored.series[key].recent, series.recent);
        }
        // Loading leaves nothing to write.
        let mut restored = restored;
        restored.clear_changes();
        let mut encoder = Encoder::new();
        restored
            .encode_changes(&mut encoder, false, None)
            .expect("encode");
        assert_eq!(restore(&[encoder.finish()]).series.len(), 0);
    }

    #[test]
    fn a_delta_carries_only_the_changed_buckets() {
        let mut aggregates = Aggregates::default();
        for minute in 0..100i64 {
            aggregates.add_event(1, 1, minute * MINUTE, None);
            aggregates.add_event(1, 2, minute * MINUTE, None);
        }
        aggregates
            .encode_changes(&mut Encoder::new(), true, None)
            .expect("encode");
        aggregates.clear_changes();
        aggregates.add_event(1, 1, 10 * MINUTE + 5, None);
        let mut encoder = Encoder::new();
        aggregates
            .encode_changes(&mut encoder, false, None)
            .expect("encode");
        let delta = restore(&[encoder.finish()]);
        let minutes: Vec<(i64, u64)> = delta
            .bucket_rows(Width::Minute)
            .map(|row| (row.start, row.events))
            .collect();
        assert_eq!(minutes, [(10 * MINUTE, 2)]);
        let hours: Vec<(i64, u64)> = delta
            .bucket_rows(Width::Hour)
            .map(|row| (row.start, row.events))
            .collect();
        assert_eq!(hours, [(0, 61)]);
        assert_eq!(delta.total(1, 1).map(|total| total.events), Some(101));
        assert!(delta.total(1, 2).is_none());
    }

    #[test]
    fn buckets_that_cannot_be_cells_are_refused_as_corrupt() {
        for (width, start, first, last) in [
            (Width::Minute, 61, 61, 61),
            (Width::Minute, 60, 60, 120),
            (Width::Hour, 3_600, 3_599, 3_700),
            (Width::Hour, 3_600, 3_700, 3_650),
            (Width::Hour, -3_600, -3_600, -3_600),
            (Width::Hour, 1 << 40, 1 << 40, 1 << 40),
        ] {
            assert!(
                cell_offsets(width, start, first, last).is_err(),
                "{width:?} {start} {first} {last}"
            );
        }
        assert_eq!(
            cell_offsets(Width::Hour, 3_600, 3_600, 7_199)
                .expect("an hour's first and last second"),
            (3_600, 0, 3_599)
        );
    }

    #[test]
    fn files_of_the_flat_layout_still_load() {
        let alice = user_hash("id:alice").expect("a user");
        let mut encoder = Encoder::new();
        encoder.u8(BASE);
        // One minute, one hour, one total: (project, fingerprint, start, events, first, last,
        // users).
        for (start, first, last) in [(120, 125, 170), (0, 125, 170), (0, 125, 170)] {
            encoder.len(1);
            for value in [1, 9, start, 2, first, last] {
                encoder.u64(value);
            }
            encoder.len(1);
            encoder.u64(alice);
        }
        assert_holds_the_series_of_one_user(&restore(&[encoder.finish()]));
    }

    /// What both old-layout files above hold: fingerprint 9 of project 1 with two events
    /// (seconds 125 and 170), one user, in minute 120 and hour 0. The file's minute names the
    /// user; minutes keep none, so it is dropped.
    fn assert_holds_the_series_of_one_user(restored: &Aggregates) {
        let row = |width| restored.bucket_rows(width).collect::<Vec<_>>();
        let expected = |start, users| BucketRow {
            project_id: 1,
            fingerprint: 9,
            start,
            events: 2,
            users,
            first_seen: 125,
            last_seen: 170,
        };
        assert_eq!(row(Width::Minute), [expected(120, None)]);
        assert_eq!(row(Width::Hour), [expected(0, Some(1))]);
        let total = restored.total(1, 9).expect("a total");
        assert_eq!((total.events, total.users.len()), (2, 1));
    }

    /// A compact base as versions that kept minute users wrote it: one series with a user in
    /// its total, its minute and its hour. It loads; the minute's user is dropped.
    #[test]
    fn a_compact_file_whose_minutes_name_users_loads_without_them() {
        let alice = user_hash("id:alice").expect("a user");
        let mut encoder = Encoder::new();
        encoder.u8(COMPACT_BASE);
        encoder.varint(1);
        encoder.u64(alice);
        encoder.varint(1); // one series
        encoder.varint(1); // project
        encoder.u64(9); // fingerprint
        for value in [2, 125, 170, 1, 0] {
            encoder.varint(value); // total: events, first, last, a set of user 0
        }
        // Minutes (one, at minute 2), then hours (one, at hour 0): start index, events,
        // first and last offsets, a set of user 0.
        for values in [[2, 2, 5, 50, 1, 0], [0, 2, 125, 170, 1, 0]] {
            encoder.varint(1);
            for value in values {
                encoder.varint(value);
            }
        }
        assert_holds_the_series_of_one_user(&restore(&[encoder.finish()]));
    }

    #[test]
    fn a_compact_base_is_a_fraction_of_the_flat_one() {
        let mut aggregates = Aggregates::default();
        let mut buckets = 0;
        for n in 0..20_000i64 {
            let user = user_hash(&format!("id:{}", n % 300));
            aggregates.add_event(1, (n % 50) as u64, 1_780_000_000 + n * 7, user);
        }
        for width in WIDTHS {
            buckets += aggregates.bucket_rows(width).count();
        }
        let mut encoder = Encoder::new();
        aggregates
            .encode_changes(&mut encoder, true, None)
            .expect("encode");
        let compact = encoder.finish().len();
        // The flat layout: 48 bytes and 8 per user for every bucket and total.
        let users: usize = aggregates
            .series
            .values()
            .map(|series| {
                series.total.users.len()
                    + series
                        .hours
                        .0
                        .iter()
                        .map(|cell| cell.users.len())
                        .sum::<usize>()
            })
            .sum();
        let flat = 48 * (buckets + aggregates.series.len()) + 8 * users;
        assert!(compact * 4 < flat, "compact {compact} bytes, flat {flat}");
        assert_eq!(
            dump(&restore(&[{
                let mut encoder = Encoder::new();
                aggregates
                    .encode_changes(&mut encoder, true, None)
                    .expect("encode");
                encoder.finish()
            }])),
            dump(&aggregates)
        );
    }

    #[test]
    fn a_base_streamed_to_its_file_is_the_base_encoded_in_memory() {
        let mut aggregates = Aggregates::default();
        // Enough buckets that the encoding is drained to the file several times (1 MiB each).
        for n in 0..400_000i64 {
            let user = user_hash(&format!("id:{}", n % 3_000));
            aggregates.add_event(1, (n % 2_000) as u64, 1_780_000_000 + n * 13, user);
        }
        let mut in_memory = Encoder::new();
        aggregates
            .encode_changes(&mut in_memory, true, None)
            .expect("encode");
        let in_memory = in_memory.finish();
        assert!(in_memory.len() > 3 << 20, "{} bytes", in_memory.len());
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("agg.bin");
        let mut file = CheckedFileWriter::create(&path).expect("create");
        let mut encoder = Encoder::new();
        aggregates
            .encode_changes(&mut encoder, true, Some(&mut file))
            .expect("encode");
        encoder.drain_to(&mut file, 0).expect("drain");
        file.finish().expect("finish");
        let streamed = crate::engine::embedded::codec::read_checked_file(&path).expect("read");
        assert!(streamed == in_memory, "the streamed file differs");
    }

    #[test]
    fn compact_files_that_name_unknown_users_are_corrupt() {
        let mut encoder = Encoder::new();
        encoder.u8(COMPACT_DELTA);
        encoder.varint(1);
        encoder.u64(42);
        encoder.varint(1);
        encoder.varint(1);
        encoder.u64(9);
        for value in [1, 100, 100] {
            encoder.varint(value);
        }
        // A set naming user 1 of the 1 the file numbers.
        encoder.varint(1);
        encoder.varint(1);
        let bytes = encoder.finish();
        let error = Aggregates::default()
            .load(&mut Decoder::new(&bytes, "test"))
            .expect_err("user 1 is not named");
        assert!(error.to_string().contains("user 1 of 1"), "{error}");
    }
}
