//! Per-project event rate limits: a fixed one-minute window per project, counted when events are admitted.
//!
//! A window opens with the first event a project sends and lasts a minute; events are admitted
//! while the window's count stays within the limit, and refused (all of a request, never part of
//! it) once it would go over, with the seconds left in the window as `Retry-After`. Sentry SDKs
//! stop sending for that long when they also see `X-Sentry-Rate-Limits`
//! ([`RateLimited::sentry_header`]). The count is per Stackhouse instance: behind a load balancer
//! each instance admits up to the limit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How long one window lasts.
pub const WINDOW: Duration = Duration::from_secs(60);

/// A request refused because its project is over its rate limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "project {project_id} is over its rate limit of {limit} events per minute \
     (this request carries {requested}); retry after {retry_after_secs} s"
)]
pub struct RateLimited {
    pub project_id: u64,
    /// Events per minute the project may send.
    pub limit: u64,
    /// Events the refused request carried.
    pub requested: u64,
    /// Whole seconds until the window ends (at least 1).
    pub retry_after_secs: u64,
}

impl RateLimited {
    /// The `X-Sentry-Rate-Limits` value: `retry_after:categories:scope:reason_code`, limiting the
    /// error event categories (`error`, and `default` for message events) of the project.
    pub fn sentry_header(&self) -> String {
        format!(
            "{}:error;default:project:project_quota",
            self.retry_after_secs
        )
    }
}

struct Window {
    started: Instant,
    admitted: u64,
}

/// Admits events per project within `limit` events per minute; no limit when `None`.
pub struct RateLimiter {
    events_per_minute: Option<u64>,
    windows: Mutex<HashMap<u64, Window>>,
}

impl RateLimiter {
    pub fn new(events_per_minute: Option<u64>) -> RateLimiter {
        RateLimiter {
            events_per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts `events` against the project's current window, or refuses them all.
    pub fn admit(&self, project_id: u64, events: usize) -> Result<(), RateLimited> {
        self.admit_at(project_id, events, Instant::now())
    }

    /// [`RateLimiter::admit`] at a given instant (tests drive the clock).
    pub fn admit_at(
        &self,
        project_id: u64,
        events: usize,
        now: Instant,
    ) -> Result<(), RateLimited> {
        let Some(limit) = self.events_per_minute else {
            return Ok(());
        };
        let requested = u64::try_from(events).unwrap_or(u64::MAX);
        if requested == 0 {
            return Ok(());
        }
        let mut windows = self.windows.lock();
        let window = windows.entry(project_id).or_insert(Window {
            started: now,
            admitted: 0,
        });
        if now.saturating_duration_since(window.started) >= WINDOW {
            *window = Window {
                started: now,
                admitted: 0,
            };
        }
        if window.admitted.saturating_add(requested) > limit {
            let left = WINDOW.saturating_sub(now.saturating_duration_since(window.started));
            // Round up: retrying after a rounded-down delay would land inside the same window.
            let retry_after_secs = (left.as_millis().div_ceil(1000) as u64).max(1);
            return Err(RateLimited {
                project_id,
                limit,
                requested,
                retry_after_secs,
            });
        }
        window.admitted += requested;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_limit_admits_everything() {
        let limiter = RateLimiter::new(None);
        assert_eq!(limiter.admit(1, 1_000_000), Ok(()));
    }

    #[test]
    fn a_window_admits_up_to_the_limit_then_refuses_until_it_ends() {
        let limiter = RateLimiter::new(Some(10));
        let start = Instant::now();
        assert_eq!(limiter.admit_at(1, 6, start), Ok(()));
        assert_eq!(
            limiter.admit_at(1, 4, start + Duration::from_secs(1)),
            Ok(())
        );
        let refused = limiter
            .admit_at(1, 1, start + Duration::from_millis(20_500))
            .expect_err("over the limit");
        assert_eq!(refused.retry_after_secs, 40);
        assert_eq!(
            refused.sentry_header(),
            "40:error;default:project:project_quota"
        );
        // Another project has its own window.
        assert_eq!(
            limiter.admit_at(2, 10, start + Duration::from_secs(2)),
            Ok(())
        );
        // A request is refused whole, never cut.
        let fresh = start + Duration::from_secs(60);
        assert!(limiter.admit_at(1, 11, fresh).is_err());
        assert_eq!(limiter.admit_at(1, 10, fresh), Ok(()));
    }
}
