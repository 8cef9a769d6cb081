//! The distinct users of one aggregate bucket.
//!
//! A user is a 64-bit xxHash of its `user_key` ([`super::aggregates::user_hash`]); in memory
//! each distinct hash is numbered once ([`UserIds`]) and the sets hold those 32-bit numbers,
//! half the size of the hashes. What is persisted is always the hash, so the numbering is
//! free to differ between runs.
//!
//! There is a set per fingerprint and minute and per fingerprint and hour, and most of them see
//! one to three users, so a set is sized for that: up to [`INLINE`] users live inside it (no
//! allocation at all), up to [`SORTED`] in a sorted vector, and beyond that in a hash table.
//! The type is 16 bytes whichever it is. A hash table was the only representation once; for a
//! few users it costs about 160 bytes, the sorted vector about 80. The vector holds a user in
//! 4 bytes (plus its growth), a hash table in 5 per slot at up to 7/8 full, so the vector is
//! kept well past where it stops being the faster one: an all-time set of a fingerprint with
//! a hundred users is a hash table of 256 slots (1.3 KB) or a vector of about 600 bytes. Below
//! [`SORTED`] an insert moves at most 4 KB.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// Users kept inside the set before it allocates.
const INLINE: usize = 3;
/// Users kept in a sorted vector before the set moves to a hash table.
const SORTED: usize = 1024;

/// The number of a distinct user hash.
pub type UserId = u32;

/// Hashes that are uniformly distributed already (user hashes) key a table as they are.
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

/// A hash table of user numbers (sequential, so they are hashed: the table's control bytes
/// come from the high bits).
pub type HashedUsers = HashSet<UserId, foldhash::fast::FixedState>;

/// Numbers every distinct user hash, in the order first seen.
#[derive(Debug, Default)]
pub struct UserIds {
    ids: std::collections::HashMap<u64, UserId, BuildHasherDefault<PrehashedHasher>>,
    hashes: Vec<u64>,
}

impl UserIds {
    /// The number of `hash`, numbering it if it is new.
    pub fn id(&mut self, hash: u64) -> UserId {
        if let Some(id) = self.ids.get(&hash) {
            return *id;
        }
        // Four billion distinct users is beyond what one process holds in memory anyway.
        let id = UserId::try_from(self.hashes.len()).expect("fewer than 2^32 distinct users");
        self.hashes.push(hash);
        self.ids.insert(hash, id);
        id
    }

    /// How many users are numbered (numbers are `0..len`).
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// The hash numbered `id` (which this numbering handed out).
    pub fn hash(&self, id: UserId) -> u64 {
        self.hashes[id as usize]
    }
}

/// A set of user numbers: inline while tiny, sorted while small, hashed beyond that.
#[derive(Debug, Clone)]
pub enum UserSet {
    Inline {
        len: u8,
        users: [UserId; INLINE],
    },
    // Boxed although a Vec is on the heap already: a bare Vec (24 bytes) would make every
    // set, and every cell, 8 bytes larger.
    #[allow(clippy::box_collection)]
    Sorted(Box<Vec<UserId>>),
    Hashed(Box<HashedUsers>),
}

impl Default for UserSet {
    fn default() -> Self {
        UserSet::EMPTY
    }
}

impl UserSet {
    /// The empty set.
    pub const EMPTY: UserSet = UserSet::Inline {
        len: 0,
        users: [0; INLINE],
    };

    /// Adds `user`; true if it was not there yet.
    pub fn insert(&mut self, user: UserId) -> bool {
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
                let mut sorted = Vec::with_capacity(INLINE * 3);
                sorted.extend_from_slice(users);
                sorted.push(user);
                sorted.sort_unstable();
                *self = UserSet::Sorted(Box::new(sorted));
                true
            }
            UserSet::Sorted(sorted) => {
                let Err(at) = sorted.binary_search(&user) else {
                    return false;
                };
                if sorted.len() < SORTED {
                    sorted.insert(at, user);
                    return true;
                }
                let mut hashed =
                    HashedUsers::with_capacity_and_hasher(SORTED * 2, Default::default());
                hashed.extend(sorted.iter().copied());
                hashed.insert(user);
                *self = UserSet::Hashed(Box::new(hashed));
                true
            }
            UserSet::Hashed(hashed) => hashed.insert(user),
        }
    }

    pub fn contains(&self, user: UserId) -> bool {
        match self {
            UserSet::Inline { len, users } => users[..usize::from(*len)].contains(&user),
            UserSet::Sorted(sorted) => sorted.binary_search(&user).is_ok(),
            UserSet::Hashed(hashed) => hashed.contains(&user),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            UserSet::Inline { len, .. } => usize::from(*len),
            UserSet::Sorted(sorted) => sorted.len(),
            UserSet::Hashed(hashed) => hashed.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every user, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = UserId> + '_ {
        let (listed, hashed) = match self {
            UserSet::Inline { len, users } => (&users[..usize::from(*len)], None),
            UserSet::Sorted(sorted) => (sorted.as_slice(), None),
            UserSet::Hashed(hashed) => (&[][..], Some(hashed.iter())),
        };
        listed
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

/// Builds the set in one go (sorted once, not an insert per user), in the representation its
/// size calls for.
impl FromIterator<UserId> for UserSet {
    fn from_iter<I: IntoIterator<Item = UserId>>(users: I) -> Self {
        let mut users: Vec<UserId> = users.into_iter().collect();
        users.sort_unstable();
        users.dedup();
        if users.len() <= INLINE {
            let mut set = UserSet::default();
            for user in users {
                set.insert(user);
            }
            set
        } else if users.len() <= SORTED {
            users.shrink_to_fit();
            UserSet::Sorted(Box::new(users))
        } else {
            let mut hashed = HashedUsers::with_capacity_and_hasher(users.len(), Default::default());
            hashed.extend(users);
            UserSet::Hashed(Box::new(hashed))
        }
    }
}

/// The size of the union of `sets`: the largest as it is, plus what the others add.
pub fn union_size(sets: &[&UserSet]) -> u64 {
    let Some(largest) = sets.iter().copied().max_by_key(|set| set.len()) else {
        return 0;
    };
    let mut others = HashedUsers::default();
    for set in sets {
        if std::ptr::eq(*set, largest) || set.is_empty() {
            continue;
        }
        others.extend(set.iter().filter(|user| !largest.contains(*user)));
    }
    (largest.len() + others.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_grow_through_every_representation_without_losing_a_user() {
        let mut set = UserSet::default();
        assert!(set.is_empty());
        assert!(set.insert(7));
        assert!(!set.insert(7));
        assert!(set.insert(9));
        assert!(set.insert(3));
        assert!(matches!(set, UserSet::Inline { len: 3, .. }));
        assert!(set.insert(5));
        assert!(matches!(set, UserSet::Sorted(_)));
        assert!(!set.insert(3));
        // Descending, so every insert lands in front of the sorted ones.
        for user in (10..2_000u32).rev() {
            assert!(set.insert(user * 31), "{user}");
            if set.len() <= SORTED {
                assert!(matches!(set, UserSet::Sorted(_)));
            }
        }
        assert!(!set.insert(9));
        assert!(matches!(set, UserSet::Hashed(_)));
        assert_eq!(set.len(), 1_994);
        assert!(set.contains(7) && set.contains(5) && set.contains(310) && !set.contains(8));
        let mut all: Vec<u32> = set.iter().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 1_994);
    }

    #[test]
    fn a_collected_set_takes_the_representation_of_its_size() {
        assert!(matches!(
            UserSet::from_iter([5, 1, 5]),
            UserSet::Inline { len: 2, .. }
        ));
        let sorted: UserSet = (0..100).rev().chain(0..10).collect();
        assert!(
            matches!(&sorted, UserSet::Sorted(users) if users.len() == 100 && users.windows(2).all(|w| w[0] < w[1]))
        );
        let hashed: UserSet = (0..5_000).collect();
        assert!(matches!(&hashed, UserSet::Hashed(users) if users.len() == 5_000));
        assert_eq!(hashed, (0..5_000).rev().collect::<UserSet>());
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
        let sorted = UserSet::Sorted(Box::new(vec![1, 2]));
        assert_eq!(sorted, hashed);
        let other: UserSet = [1, 3].into_iter().collect();
        assert_ne!(forward, other);
        assert_ne!(forward, UserSet::from_iter([1]));
    }

    #[test]
    fn unions_count_each_user_once() {
        let small: UserSet = [1, 2].into_iter().collect();
        let sorted: UserSet = (2..20).collect();
        let hashed: UserSet = (15..200).collect();
        assert_eq!(union_size(&[]), 0);
        assert_eq!(union_size(&[&small]), 2);
        assert_eq!(union_size(&[&small, &sorted, &hashed]), 199);
        assert_eq!(union_size(&[&hashed, &UserSet::default(), &small]), 187);
    }

    #[test]
    fn numbering_is_stable_and_reversible() {
        let mut ids = UserIds::default();
        let a = ids.id(0xdead_beef);
        let b = ids.id(42);
        assert_ne!(a, b);
        assert_eq!(ids.id(0xdead_beef), a);
        assert_eq!((ids.hash(a), ids.hash(b)), (0xdead_beef, 42));
    }

    #[test]
    fn the_set_is_as_small_as_a_bucket_needs() {
        assert_eq!(std::mem::size_of::<UserSet>(), 16);
    }
}
