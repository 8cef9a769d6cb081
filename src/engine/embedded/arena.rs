//! The engine's long-lived state (aggregates, side tables) in an allocator arena of its own.
//!
//! Ingest allocates and frees millions of small values a second (each event's strings), while
//! the aggregates keep small values for as long as the server runs (each fingerprint's cells,
//! grown a few at a time). When both share the allocator's slabs, a slab freed of its
//! short-lived values stays resident for the one cell still in it: at 10 million events over
//! 100,000 fingerprints the allocator held 150-170 MiB of pages beyond the live allocations,
//! most of that gap between the resident set and what the engine holds. [`long_lived`] runs a
//! mutation of that state with the calling thread bound to one dedicated jemalloc arena, so
//! its values pack together and the event churn's slabs empty out whole.
//!
//! Where jemalloc is not the allocator in use (a build with another global allocator), the
//! binding is harmless: the calls go to jemalloc's own bookkeeping and the allocations to the
//! allocator in use.

/// Runs `work` with this thread's allocations (long-lived state) in the dedicated arena.
pub fn long_lived<R>(work: impl FnOnce() -> R) -> R {
    let _binding = imp::Binding::enter();
    work()
}

#[cfg(not(target_env = "msvc"))]
mod imp {
    use std::sync::OnceLock;

    use tikv_jemalloc_ctl::{Access, AsName};

    const ARENAS_CREATE: &[u8] = b"arenas.create\0";
    const THREAD_ARENA: &[u8] = b"thread.arena\0";
    const THREAD_TCACHE: &[u8] = b"thread.tcache.enabled\0";

    /// The arena, created on first use (`None` if jemalloc refused: then nothing is bound).
    fn arena() -> Option<u32> {
        static ARENA: OnceLock<Option<u32>> = OnceLock::new();
        // Reading `arenas.create` creates an arena and gives its (`unsigned`) index.
        *ARENA.get_or_init(|| Access::<u32>::read(ARENAS_CREATE.name()).ok())
    }

    /// While alive, this thread allocates in the dedicated arena, with its thread cache off
    /// (a cache filled from the ingest arena would hand its slots out as long-lived ones).
    pub struct Binding {
        previous: Option<(u32, bool)>,
    }

    impl Binding {
        pub fn enter() -> Binding {
            // `thread.arena` is an `unsigned` arena index, `thread.tcache.enabled` a `bool`.
            let previous = arena().and_then(|arena| {
                let previous = THREAD_ARENA.name().update(arena).ok()?;
                let cached = THREAD_TCACHE.name().update(false).unwrap_or(false);
                Some((previous, cached))
            });
            Binding { previous }
        }
    }

    impl Drop for Binding {
        fn drop(&mut self) {
            if let Some((arena, cached)) = self.previous {
                // The arena first, so a re-enabled cache is built in the thread's own.
                let _ = THREAD_ARENA.name().write(arena);
                let _ = THREAD_TCACHE.name().write(cached);
            }
        }
    }
}

#[cfg(target_env = "msvc")]
mod imp {
    pub struct Binding;

    impl Binding {
        pub fn enter() -> Binding {
            Binding
        }
    }
}

#[cfg(all(test, not(target_env = "msvc")))]
mod tests {
    use super::*;

    #[test]
    fn work_runs_in_the_arena_and_the_thread_returns_to_its_own() {
        use tikv_jemalloc_ctl::{Access, AsName};
        let arena = || -> u32 { b"thread.arena\0".name().read().expect("arena") };
        let before = arena();
        let (inside, values) = long_lived(|| (arena(), vec![String::from("cell"); 1000]));
        assert_ne!(inside, before, "the work ran in the thread's usual arena");
        assert_eq!(
            arena(),
            before,
            "the thread stayed bound to the long-lived arena"
        );
        assert_eq!(
            long_lived(arena),
            inside,
            "a second call made another arena"
        );
        drop(values);
    }
}
