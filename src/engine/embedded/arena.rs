//! The engine's long-lived state (aggregates, side tables) in an allocator arena of its own.
//!
//! Ingest allocates and frees millions of small values a second (each event's strings), while
//! the aggregates keep small values for as long as the server runs (each fingerprint's cells,
//! grown a few at a time). When both share the allocator's slabs, a slab freed of its
//! short-lived values stays resident for the one cell still in it: at 10 million events over
//! 100,000 fingerprints the allocator held 150-170 MiB of pages beyond the live allocations,
//! most of that gap between the resident set and what the engine holds. [`long_lived`] runs a
//! mutation of that state on a thread bound to one dedicated jemalloc arena, so its values pack
//! together and the event churn's slabs empty out whole.
//!
//! The work runs on a short-lived thread of its own, bound once with its thread cache off (a
//! cache filled from the ingest arena would hand its slots out as long-lived ones). Binding the
//! calling thread instead, and giving it back afterwards, meant switching that thread's cache
//! off and on for every write: jemalloc destroys a cache it switches off and then purges the
//! arena's dirty pages (`madvise`, with a TLB shootdown to every core), and the writes after it
//! fault those pages back in. Under ingest at capacity (`benches/load.rs`, Sentry envelopes,
//! 256 connections) that took 6% of the server's CPU samples, and moving the work to a thread
//! of its own took the server from 196-211 to 169-182 µs of CPU per event, starting a thread
//! for each write (about 80 a second under that load).
//!
//! Where jemalloc is not the allocator in use (a build with another global allocator), the
//! binding is harmless: the calls go to jemalloc's own bookkeeping and the allocations to the
//! allocator in use.

use std::sync::Mutex;

/// Runs `work` with its allocations (long-lived state) in the dedicated arena, on a thread of
/// its own; returns what it returns, and a panic in it panics here. Should the thread not
/// start, `work` runs on the calling thread, bound and unbound around it.
pub fn long_lived<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    let work = Mutex::new(Some(work));
    let outcome = std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("stackhouse-arena".into())
            .spawn_scoped(scope, || {
                imp::bind_this_thread();
                let work = take(&work).expect("the work is taken once");
                work()
            });
        spawned.map(|thread| thread.join())
    });
    match outcome {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(error) => {
            tracing::warn!(%error, "no thread for the long-lived arena; running on this one");
            let work = take(&work).expect("a thread that did not start took nothing");
            let _binding = imp::Binding::enter();
            work()
        }
    }
}

fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .take()
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

    /// Binds this thread, for the rest of its life, to the arena with its cache off. The
    /// arena first: the cache is then let go while this thread is bound to the arena it
    /// belongs to, and jemalloc forces a purge only of an arena no thread is bound to.
    pub fn bind_this_thread() {
        if let Some(arena) = arena() {
            let _ = THREAD_ARENA.name().write(arena);
            let _ = THREAD_TCACHE.name().write(false);
        }
    }

    /// While alive, the calling thread allocates in the dedicated arena, with its thread cache
    /// off; the fallback when no thread of its own can be started.
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
    pub fn bind_this_thread() {}

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

    fn arena() -> u32 {
        use tikv_jemalloc_ctl::{Access, AsName};
        b"thread.arena\0".name().read().expect("arena")
    }

    fn tcache_enabled() -> bool {
        use tikv_jemalloc_ctl::{Access, AsName};
        b"thread.tcache.enabled\0".name().read().expect("tcache")
    }

    #[test]
    fn work_runs_in_the_arena_without_a_cache_and_the_caller_keeps_its_own() {
        let (before, cached) = (arena(), tcache_enabled());
        let (inside, cached_inside, values) =
            long_lived(|| (arena(), tcache_enabled(), vec![String::from("cell"); 1000]));
        assert_ne!(inside, before, "the work ran in the caller's usual arena");
        assert!(!cached_inside, "the work ran with a thread cache");
        assert_eq!(arena(), before, "the caller was bound to the arena");
        assert_eq!(tcache_enabled(), cached, "the caller's cache changed");
        assert_eq!(
            long_lived(arena),
            inside,
            "a second call made another arena"
        );
        drop(values);
    }

    #[test]
    fn work_borrows_and_mutates_the_callers_state_and_its_panic_reaches_the_caller() {
        let mut cells = vec![1, 2, 3];
        let total = long_lived(|| {
            cells.push(4);
            cells.iter().sum::<i32>()
        });
        assert_eq!((total, cells.len()), (10, 4));
        let panicked = std::panic::catch_unwind(|| long_lived(|| panic!("inside the arena")));
        let message = panicked.expect_err("the panic was swallowed");
        assert_eq!(message.downcast_ref::<&str>(), Some(&"inside the arena"));
    }

    #[test]
    fn the_fallback_binding_binds_the_caller_and_gives_it_back() {
        let before = arena();
        let inside = {
            let _binding = imp::Binding::enter();
            (arena(), tcache_enabled())
        };
        assert_ne!(inside.0, before);
        assert!(!inside.1);
        assert_eq!(arena(), before);
    }
}
