//! A health check's verdict from its probe results: hysteresis (`rise` passes in a row to come
//! up, `fall` failures in a row to go down) and a hold-down that grows with repeated flaps.
//!
//! The hold-down is route-flap damping in the spirit of RFC 2439 §4.2, applied before the
//! router ever sees the flap: each fall adds [`PENALTY`] to a figure of merit that halves every
//! [`HALF_LIFE_MS`]; a fall that takes it to [`SUPPRESS`] or more keeps the check down until it
//! has decayed below [`REUSE`], however well the probes go meanwhile. One fall costs nothing;
//! a second within a minute holds the check down for about 1.4 minutes. A check can only fall
//! while it is not held, that is with a figure below [`SUPPRESS`], so no figure passes
//! `SUPPRESS + PENALTY` and no hold-down lasts longer than [`MAX_HOLD_MS`]. A router's own
//! dampening (Cisco's defaults: suppress at 2000 after 1000 per flap, half-life 15 min) thus
//! sees at most two flaps from us in any 1.4 minutes.
//!
//! Across a restart or a takeover the verdict and the figure of merit are kept ([`Saved`], in
//! the restart record): the new process starts from them, so a flapping service is still held
//! down, and the first result it sees decides at once ([`Machine::restored`]), since the
//! results in a row before the stop are no longer news.
//!
//! Pure: time is milliseconds from any fixed origin, given with each result.

/// What a fall adds to the figure of merit.
pub const PENALTY: f64 = 1000.0;
/// A fall that takes the figure here or higher starts a hold-down.
pub const SUPPRESS: f64 = 1500.0;
/// A hold-down ends once the figure has decayed below this.
pub const REUSE: f64 = 750.0;
/// The figure halves in this time.
pub const HALF_LIFE_MS: u64 = 60_000;
/// The longest a hold-down can last: log2((SUPPRESS + PENALTY) / REUSE) = 1.74 half-lives.
pub const MAX_HOLD_MS: u64 = 104_300;

/// A check's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Fewer results than `rise` or `fall` since the start: not announced yet.
    Unknown,
    Up,
    Down,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Up => "up",
            Status::Down => "down",
        }
    }
}

/// One check's machine.
#[derive(Clone, Debug, PartialEq)]
pub struct Machine {
    rise: u8,
    fall: u8,
    status: Status,
    /// When `status` was entered.
    since_ms: u64,
    /// Passes (positive) or failures (negative) in a row.
    streak: i32,
    /// The figure of merit as of `merit_at_ms`.
    merit: f64,
    merit_at_ms: u64,
    /// In a hold-down: passes do not bring the check up.
    held: bool,
    transitions: u64,
    /// Restored from a previous process: the next result decides the status at once.
    restored: bool,
}

/// What a restart keeps of a machine: its verdict and its figure of merit.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Saved {
    /// Up or down (an unknown check is not saved).
    pub up: bool,
    /// The figure of merit when saved.
    pub merit: f64,
    pub held: bool,
}

impl Machine {
    pub fn new(rise: u8, fall: u8, now_ms: u64) -> Machine {
        Machine {
            rise: rise.max(1),
            fall: fall.max(1),
            status: Status::Unknown,
            since_ms: now_ms,
            streak: 0,
            merit: 0.0,
            merit_at_ms: now_ms,
            held: false,
            transitions: 0,
            restored: false,
        }
    }

    /// A machine that goes on from `saved`, taken `elapsed_ms` ago: the figure of merit has
    /// decayed meanwhile (and is bounded, whatever the state file says); the next result
    /// decides the status, except that a hold-down still in force keeps it down.
    pub fn restored(rise: u8, fall: u8, saved: Saved, elapsed_ms: u64, now_ms: u64) -> Machine {
        let merit = if saved.merit.is_finite() {
            saved.merit.clamp(0.0, SUPPRESS + PENALTY)
        } else {
            0.0
        };
        let mut m = Machine::new(rise, fall, now_ms);
        m.status = if saved.up { Status::Up } else { Status::Down };
        m.merit = merit * (-(elapsed_ms as f64) / HALF_LIFE_MS as f64).exp2();
        m.held = saved.held && !saved.up && m.merit > REUSE;
        m.restored = true;
        m
    }

    /// What a restart keeps; `None` while the check has no verdict.
    pub fn save(&self, now_ms: u64) -> Option<Saved> {
        (self.status != Status::Unknown).then(|| Saved {
            up: self.up(),
            merit: self.merit_at(now_ms),
            held: self.held,
        })
    }

    /// Restored and without a result since.
    pub fn is_restored(&self) -> bool {
        self.restored
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// Whether routes gated by this check are announced.
    pub fn up(&self) -> bool {
        self.status == Status::Up
    }

    pub fn since_ms(&self) -> u64 {
        self.since_ms
    }

    /// Changes of status since the start (Unknown to Up or Down counts).
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// When a hold-down in force ends, if no fall comes meanwhile.
    pub fn held_until_ms(&self, now_ms: u64) -> Option<u64> {
        if !self.held {
            return None;
        }
        let merit = self.merit_at(now_ms);
        let wait = (merit / REUSE).log2().max(0.0) * HALF_LIFE_MS as f64;
        Some(now_ms + wait.ceil() as u64)
    }

    /// The figure of merit decayed to `now_ms`.
    pub fn merit_at(&self, now_ms: u64) -> f64 {
        let elapsed = now_ms.saturating_sub(self.merit_at_ms) as f64;
        self.merit * (-elapsed / HALF_LIFE_MS as f64).exp2()
    }

    /// Takes one probe result; returns the new status if it changed.
    pub fn result(&mut self, passed: bool, now_ms: u64) -> Option<Status> {
        self.merit = self.merit_at(now_ms);
        self.merit_at_ms = now_ms.max(self.merit_at_ms);
        if self.held && self.merit <= REUSE {
            self.held = false;
        }
        self.streak = match (passed, self.streak) {
            (true, s) if s > 0 => s.saturating_add(1),
            (true, _) => 1,
            (false, s) if s < 0 => s.saturating_sub(1),
            (false, _) => -1,
        };
        if std::mem::take(&mut self.restored) {
            // As if the results in a row had been there all along.
            self.streak = if passed {
                self.rise as i32
            } else {
                -(self.fall as i32)
            };
        }
        let next = if self.streak >= self.rise as i32 && !self.held {
            Status::Up
        } else if -self.streak >= self.fall as i32 {
            Status::Down
        } else {
            return None;
        };
        if next == self.status {
            return None;
        }
        if self.status == Status::Up {
            self.merit += PENALTY;
            self.held = self.merit >= SUPPRESS;
        }
        self.status = next;
        self.since_ms = now_ms;
        self.transitions += 1;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `results` one per `every` ms from `start`; returns the transitions with their times.
    fn run(m: &mut Machine, start: u64, every: u64, results: &[bool]) -> Vec<(u64, Status)> {
        let mut out = Vec::new();
        for (i, ok) in results.iter().enumerate() {
            let t = start + i as u64 * every;
            if let Some(s) = m.result(*ok, t) {
                out.push((t, s));
            }
        }
        out
    }

    #[test]
    fn a_new_check_is_unknown_until_rise_passes_or_fall_failures() {
        let mut m = Machine::new(3, 2, 0);
        assert_eq!(m.status(), Status::Unknown);
        assert!(!m.up(), "nothing is announced before the check has passed");
        assert_eq!(run(&mut m, 0, 100, &[true, true]), []);
        assert_eq!(run(&mut m, 200, 100, &[true]), [(200, Status::Up)]);
        let mut m = Machine::new(3, 2, 0);
        assert_eq!(run(&mut m, 0, 100, &[false, false]), [(100, Status::Down)]);
    }

    #[test]
    fn fewer_failures_in_a_row_than_fall_change_nothing() {
        let mut m = Machine::new(1, 3, 0);
        m.result(true, 0);
        let mixed = [false, false, true, false, false, true];
        assert_eq!(run(&mut m, 100, 100, &mixed), []);
        assert!(m.up());
        assert_eq!(run(&mut m, 800, 100, &[false, false]), []);
        assert_eq!(run(&mut m, 1000, 100, &[false]), [(1000, Status::Down)]);
        assert_eq!(m.since_ms(), 1000);
    }

    #[test]
    fn one_fall_costs_no_hold_down() {
        let mut m = Machine::new(2, 2, 0);
        run(&mut m, 0, 100, &[true, true, false, false]);
        assert_eq!(m.status(), Status::Down);
        assert_eq!(m.held_until_ms(300), None);
        assert_eq!(run(&mut m, 400, 100, &[true, true]), [(500, Status::Up)]);
    }

    #[test]
    fn a_second_fall_within_a_minute_holds_the_check_down_until_the_figure_decays() {
        let mut m = Machine::new(1, 1, 0);
        let flaps = [true, false, true, false];
        assert_eq!(run(&mut m, 0, 1000, &flaps).len(), 4);
        let until = m.held_until_ms(3000).expect("held down");
        // 1000 decayed for 2 s plus 1000: ~1977, below 750 after log2(1977/750) half-lives.
        let expected = 3000.0 + (m.merit_at(3000) / REUSE).log2() * HALF_LIFE_MS as f64;
        assert!(
            (until as f64 - expected).abs() < 2.0,
            "{until} vs {expected}"
        );
        assert!((80_000..90_000).contains(&until), "{until}");
        assert_eq!(
            run(&mut m, 4000, 1000, &[true; 70]),
            [],
            "passes do not end it"
        );
        assert_eq!(m.status(), Status::Down);
        let after = run(&mut m, until, 1000, &[true]);
        assert_eq!(after, [(until, Status::Up)]);
    }

    #[test]
    fn a_check_flapping_every_half_second_for_two_minutes_changes_at_most_six_times() {
        // Probes every 100 ms, rise = fall = 3, the service alternating every 500 ms.
        let mut m = Machine::new(3, 3, 0);
        let results: Vec<bool> = (0..1200).map(|i| (i / 5) % 2 == 0).collect();
        let changes = run(&mut m, 0, 100, &results);
        assert!(changes.len() <= 6, "{changes:?}");
        assert!(
            changes.len() >= 4,
            "it still follows the first flaps: {changes:?}"
        );
    }

    #[test]
    fn a_restored_verdict_stands_until_the_first_result_which_decides_at_once() {
        let up = Saved {
            up: true,
            merit: 0.0,
            held: false,
        };
        let mut m = Machine::restored(3, 3, up, 2000, 50);
        assert!(m.up(), "announced from the start");
        assert!(m.is_restored());
        assert_eq!(run(&mut m, 100, 100, &[true]), []);
        assert!(!m.is_restored());
        // From then on, hysteresis as usual: one failure changes nothing.
        assert_eq!(run(&mut m, 200, 100, &[false, false]), []);

        let mut m = Machine::restored(3, 3, up, 2000, 50);
        assert_eq!(run(&mut m, 100, 100, &[false]), [(100, Status::Down)]);
        assert_eq!(m.merit_at(100), PENALTY, "the fall is counted");

        let down = Saved { up: false, ..up };
        let mut m = Machine::restored(3, 3, down, 2000, 50);
        assert!(!m.up());
        assert_eq!(run(&mut m, 100, 100, &[true]), [(100, Status::Up)]);
    }

    #[test]
    fn a_hold_down_survives_a_restart_decayed_by_the_time_between() {
        let mut m = Machine::new(1, 1, 0);
        run(&mut m, 0, 1000, &[true, false, true, false]);
        let saved = m.save(3000).unwrap();
        assert!(saved.held && !saved.up);
        // The new process starts 5 s later, its clock at 0.
        let mut r = Machine::restored(1, 1, saved, 5000, 0);
        assert!((r.merit_at(0) - m.merit_at(8000)).abs() < 1e-6);
        assert_eq!(run(&mut r, 0, 1000, &[true; 30]), [], "still held down");
        let until = r.held_until_ms(30_000).unwrap();
        let same = m.held_until_ms(38_000).unwrap() - 8000;
        assert!(same.abs_diff(until) <= 1, "{same} vs {until}");
        // A state file cannot hold it longer than MAX_HOLD_MS, nor keep an up check held.
        let huge = Saved {
            merit: f64::MAX,
            ..saved
        };
        let r = Machine::restored(1, 1, huge, 0, 0);
        assert!(r.held_until_ms(0).unwrap() <= MAX_HOLD_MS);
        let nan = Saved {
            merit: f64::NAN,
            ..saved
        };
        assert_eq!(Machine::restored(1, 1, nan, 0, 0).held_until_ms(0), None);
        assert_eq!(Machine::new(1, 1, 0).save(0), None, "unknown is not saved");
    }

    #[test]
    fn no_hold_down_outlasts_max_hold() {
        let mut m = Machine::new(1, 1, 0);
        // Each pass after a hold-down ends is followed by a fall at once, for an hour.
        let mut t = 0;
        let mut longest = 0;
        while t < 3_600_000 {
            m.result(true, t);
            m.result(false, t + 1);
            let end = m.held_until_ms(t + 1).unwrap_or(t + 2);
            longest = longest.max(end - t);
            t = end;
        }
        assert!(longest <= MAX_HOLD_MS, "{longest}");
        assert!(longest > HALF_LIFE_MS, "the worst case is held: {longest}");
        let bound = ((SUPPRESS + PENALTY) / REUSE).log2() * HALF_LIFE_MS as f64;
        assert!(MAX_HOLD_MS as f64 >= bound, "{bound}");
    }
}
