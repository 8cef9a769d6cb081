//! The distinct users of one aggregate bucket, as 64-bit hashes of their `user_key`s.
//!
//! There is a bucket per fingerprint and minute, and most of them see one or two users: a
//! hash set for each (32 bytes, plus a 64-byte table on the heap once anything is in it) made
//! those buckets the bulk of the embedded engine's memory. Up to [`INLINE`] users therefore
//! live inside the bucket, without an allocation; a larger set moves to a hash table behind
//! one pointer, so the type stays 24 bytes either way.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// Users kept inline before the set moves to a hash table.
const INLINE: usize = 2;

/// User hashes are uniformly distributed already: the table uses them as they are.
#[derive(Default)]
pub struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// A hash table of user hashes.
pub type HashedUsers = HashSet<u64, BuildHasherDefault<PrehashedHasher>>;

/// A set of user hashes: inline while small, hashed beyond that.
#[derive(Debug, Clone)]
pub enum UserSet {
    Inline { len: u8, users: [u64; INLINE] },
    Hashed(Box<HashedUsers>),
}

impl Default for UserSet {
    fn default() -> Self {
        UserSet::Inline {
            len: 0,
            users: [0; INLINE],
        }
    }
}

impl UserSet {
    /// Adds `user`; true if it was not there yet.
    pub fn insert(&mut self, user: u64) -> bool {
        match self {
            UserSet::Inline { len, users } => {
                let used = usize::from(*len);
                if users[..used].contains(&user) {
                    return false;
                }
                if used < INLINE {
                    users[used] = user;
                    *len += 1;
                    return true;
                }
                let mut hashed =
                    HashedUsers::with_capacity_and_hasher(INLINE * 4, Default::default());
                hashed.extend(users.iter().copied());
                hashed.insert(user);
                *self = UserSet::Hashed(Box::new(hashed));
                true
            }
            UserSet::Hashed(hashed) => hashed.insert(user),
        }
    }

    pub fn contains(&self, user: u64) -> bool {
        match self {
            UserSet::Inline { len, users } => users[..usize::from(*len)].contains(&user),
            UserSet::Hashed(hashed) => hashed.contains(&user),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            UserSet::Inline { len, .. } => usize::from(*len),
            UserSet::Hashed(hashed) => hashed.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every user, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let (inline, hashed) = match self {
            UserSet::Inline { len, users } => (&users[..usize::from(*len)], None),
            UserSet::Hashed(hashed) => (&[][..], Some(hashed.iter())),
        };
        inline
            .iter()
            .copied()
            .chain(hashed.into_iter().flatten().copied())
    }
}

/// Equal when they hold the same users, however each is stored.
impl PartialEq for UserSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|user| other.contains(user))
    }
}

impl Eq for UserSet {}

impl FromIterator<u64> for UserSet {
    fn from_iter<I: IntoIterator<Item = u64>>(users: I) -> Self {
        let mut set = UserSet::default();
        for user in users {
            set.insert(user);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_sets_stay_inline_and_large_ones_hash_without_losing_a_user() {
        let mut set = UserSet::default();
        assert!(set.is_empty());
        assert!(set.insert(7));
        assert!(!set.insert(7));
        assert!(set.insert(9));
        assert!(matches!(set, UserSet::Inline { len: 2, .. }));
        for user in 10..1_000u64 {
            assert!(set.insert(user * 31));
        }
        assert!(!set.insert(9));
        assert!(matches!(set, UserSet::Hashed(_)));
        assert_eq!(set.len(), 992);
        assert!(set.contains(7) && set.contains(9) && set.contains(310) && !set.contains(8));
        let mut all: Vec<u64> = set.iter().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 992);
    }

    #[test]
    fn equality_ignores_order_and_representation() {
        let forward: UserSet = [1, 2].into_iter().collect();
        let backward: UserSet = [2, 1].into_iter().collect();
        assert_eq!(forward, backward);
        let mut hashed = UserSet::Hashed(Box::default());
        hashed.insert(1);
        hashed.insert(2);
        assert_eq!(forward, hashed);
        let other: UserSet = [1, 3].into_iter().collect();
        assert_ne!(forward, other);
        assert_ne!(forward, UserSet::from_iter([1]));
    }

    #[test]
    fn the_set_is_as_small_as_a_bucket_needs() {
        assert_eq!(std::mem::size_of::<UserSet>(), 24);
    }
}
