//! The daemon's sense of time and of identity: the (possibly virtual) clock the driver sets
//! on every input, the Unix time at start (for the restart record), and the source of the
//! tokens that tell a current timer, session or evaluation from a stale one.

use std::time::{Duration, Instant};

pub(super) struct Clock {
    started: Instant,
    now: Instant,
    unix_at_start: u64,
    tokens: u64,
}

impl Clock {
    pub fn new(now: Instant) -> Clock {
        Clock {
            started: now,
            now,
            unix_at_start: 0,
            tokens: 0,
        }
    }

    /// The time of the input being handled.
    pub fn set(&mut self, now: Instant) {
        self.now = now;
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn since_start(&self) -> Duration {
        self.now.duration_since(self.started)
    }

    pub fn start_unix(&mut self, unix_now: u64) {
        self.unix_at_start = unix_now;
    }

    pub fn unix_at_start(&self) -> u64 {
        self.unix_at_start
    }

    /// Unix time now, from the time at start and the clock.
    pub fn unix_now(&self) -> u64 {
        self.unix_at_start + self.since_start().as_secs()
    }

    /// A token never handed out before.
    pub fn token(&mut self) -> u64 {
        self.tokens += 1;
        self.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_never_reused_and_unix_time_follows_the_clock() {
        let t0 = Instant::now();
        let mut c = Clock::new(t0);
        c.start_unix(1_000);
        let (a, b) = (c.token(), c.token());
        assert_ne!(a, b);
        c.set(t0 + Duration::from_secs(90));
        assert_eq!(c.unix_now(), 1_090);
        assert_eq!(c.since_start(), Duration::from_secs(90));
    }
}
