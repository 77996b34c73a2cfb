//! When a slot whose worker died starts its next one: exponential backoff, reset once a
//! worker has stayed up a while, and a crash-loop limit (`--max-restarts` in
//! `--restart-window`) after which the slot is given up.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The first restart's delay; each quick death doubles it.
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest delay between restarts.
const MAX_DELAY: Duration = Duration::from_secs(10);
/// A worker that stayed up this long was healthy: the next restart is quick again.
pub const HEALTHY: Duration = Duration::from_secs(1);

/// One slot's restart history.
#[derive(Debug)]
pub struct RestartPolicy {
    max: u32,
    window: Duration,
    recent: VecDeque<Instant>,
    delay: Duration,
}

/// What to do about a worker that died.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    RestartIn(Duration),
    /// Too many restarts in the window; the text says so.
    GiveUp(String),
}

impl RestartPolicy {
    pub fn new(max: u32, window: Duration) -> RestartPolicy {
        RestartPolicy {
            max,
            window,
            recent: VecDeque::new(),
            delay: FIRST_DELAY,
        }
    }

    /// A worker died at `now`; `healthy`: it had been up a while ([`HEALTHY`]) or had said it
    /// was ready, so this is a crash at run time, not a failure to start (no growing backoff).
    pub fn on_death(&mut self, now: Instant, healthy: bool) -> Decision {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.max as usize {
            return Decision::GiveUp(format!(
                "it died {} times within {} (--max-restarts {} --restart-window {})",
                self.recent.len() + 1,
                humantime::format_duration(self.window),
                self.max,
                humantime::format_duration(self.window)
            ));
        }
        if healthy {
            self.delay = FIRST_DELAY;
        }
        let delay = self.delay;
        self.delay = (self.delay * 2).min(MAX_DELAY);
        self.recent.push_back(now);
        Decision::RestartIn(delay)
    }

    /// Restarts counted in the current window (the status shown to the operator).
    pub fn restarts(&self) -> u32 {
        self.recent.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_resets_and_gives_up() {
        let mut p = RestartPolicy::new(3, Duration::from_secs(60));
        let t = Instant::now();
        let quick = false;
        assert_eq!(p.on_death(t, quick), Decision::RestartIn(FIRST_DELAY));
        assert_eq!(p.on_death(t, quick), Decision::RestartIn(FIRST_DELAY * 2));
        // Healthy for a while: quick again.
        assert_eq!(p.on_death(t, true), Decision::RestartIn(FIRST_DELAY));
        assert!(matches!(p.on_death(t, quick), Decision::GiveUp(_)));
    }

    #[test]
    fn old_restarts_leave_the_window() {
        let mut p = RestartPolicy::new(1, Duration::from_secs(1));
        let t = Instant::now();
        assert!(matches!(p.on_death(t, true), Decision::RestartIn(_)));
        let later = t + Duration::from_secs(2);
        assert!(matches!(p.on_death(later, true), Decision::RestartIn(_)));
        assert!(matches!(p.on_death(later, true), Decision::GiveUp(_)));
    }

    #[test]
    fn the_delay_is_capped() {
        let mut p = RestartPolicy::new(100, Duration::from_secs(60));
        let t = Instant::now();
        let mut last = Duration::ZERO;
        for _ in 0..20 {
            if let Decision::RestartIn(d) = p.on_death(t, false) {
                last = d;
            }
        }
        assert_eq!(last, MAX_DELAY);
    }
}
