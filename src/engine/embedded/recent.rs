//! The event counts of each fingerprint's most recent hours, in a ring: what the trend sort
//! asks of every fingerprint of a project (its last hour and the day before). Answering that
//! from the hourly buckets is a seek per fingerprint into millions of buckets; from the ring
//! it is a few additions.
//!
//! A ring covers the [`RECENT_HOURS`] hours up to its fingerprint's newest hour with events,
//! and holds the exact count of each of them (no event is ever newer than that hour). A
//! question about an older hour is not the ring's to answer ([`RecentHours::covers`]).

use super::aggregates::HOUR;

/// How many hours a ring covers: the trend's 25, with room for the current hour to advance.
pub const RECENT_HOURS: usize = 32;
const SPAN: i64 = RECENT_HOURS as i64 * HOUR;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentHours {
    /// Start of the newest hour with events (epoch seconds).
    newest: i64,
    /// Events of hour `h` (for `h` in the covered span) at `slot(h)`; 32 bits, saturating,
    /// like the hourly cells they are derived from: a ring per fingerprint, 136 bytes not 264.
    counts: [u32; RECENT_HOURS],
}

fn slot(hour: i64) -> usize {
    // In range: rem_euclid of a positive modulus.
    (hour.div_euclid(HOUR).rem_euclid(RECENT_HOURS as i64)) as usize
}

impl RecentHours {
    /// A ring whose newest hour is `hour` (an hour start), without events yet.
    pub fn new(hour: i64) -> RecentHours {
        RecentHours {
            newest: hour,
            counts: [0; RECENT_HOURS],
        }
    }

    /// The start of the oldest hour covered.
    pub fn oldest(&self) -> i64 {
        self.newest - SPAN + HOUR
    }

    /// Adds `events` to the hour starting at `hour`. A newer hour moves the ring on (the
    /// hours it passes had no events); an hour older than the span is not kept.
    pub fn add(&mut self, hour: i64, events: u64) {
        if hour > self.newest {
            let passed = ((hour - self.newest) / HOUR).min(RECENT_HOURS as i64);
            for step in 1..=passed {
                self.counts[slot(hour - (step - 1) * HOUR)] = 0;
            }
            self.newest = hour;
        }
        if hour >= self.oldest() {
            let count = &mut self.counts[slot(hour)];
            *count = u32::try_from(u64::from(*count) + events).unwrap_or(u32::MAX);
        }
    }

    /// Whether every hour starting at or after `from` is known here.
    pub fn covers(&self, from: i64) -> bool {
        from >= self.oldest()
    }

    /// Events in the hours starting in `[from, to)`; only meaningful when [`Self::covers`]
    /// `from`.
    pub fn sum(&self, from: i64, to: i64) -> u64 {
        let first = from.max(self.oldest());
        let first = first + (HOUR - first.rem_euclid(HOUR)) % HOUR;
        let last = to.min(self.newest + HOUR);
        if first >= last {
            return 0;
        }
        // One division for the first slot; the trend asks this of 100,000 fingerprints.
        let hours = ((last - first + HOUR - 1) / HOUR) as usize;
        let start = slot(first);
        (0..hours)
            .map(|step| u64::from(self.counts[(start + step) % RECENT_HOURS]))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counts by a list of (hour, events), summed the slow way.
    fn expected(events: &[(i64, u64)], from: i64, to: i64) -> u64 {
        events
            .iter()
            .filter(|(hour, _)| (from..to).contains(hour))
            .map(|(_, n)| n)
            .sum()
    }

    #[test]
    fn counts_follow_the_newest_hour_and_forget_what_falls_out() {
        let base = 1_000 * HOUR;
        let mut ring = RecentHours::new(base);
        let mut seen = Vec::new();
        // Hours in any order, with gaps and a jump of more than the span.
        for (offset, events) in [
            (0, 3),
            (2, 1),
            (1, 4),
            (5, 2),
            (5, 1),
            (-3, 7),
            (40, 2),
            (38, 1),
            (41, 6),
            (10, 9),
        ] {
            let hour = base + offset * HOUR;
            ring.add(hour, events);
            seen.push((hour, events));
        }
        assert_eq!(ring.oldest(), base + 41 * HOUR - SPAN + HOUR);
        for (from, to) in [(10, 42), (38, 39), (40, 42), (11, 20), (30, 100), (41, 41)] {
            let (from, to) = (base + from * HOUR, base + to * HOUR);
            assert!(ring.covers(from));
            assert_eq!(
                ring.sum(from, to),
                expected(&seen, from, to),
                "[{from}, {to})"
            );
        }
        // Hour 5 fell out of the span: it is not covered (and not counted).
        assert!(!ring.covers(base + 5 * HOUR));
        // Unaligned bounds count the hours starting inside them.
        assert_eq!(ring.sum(base + 40 * HOUR - 1, base + 41 * HOUR + 1), 2 + 6);
        assert_eq!(ring.sum(base + 40 * HOUR + 1, base + 42 * HOUR), 6);
    }
}
