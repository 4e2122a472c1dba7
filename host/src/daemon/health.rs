//! The health part of the daemon's state: a machine per configured check, fed by the probes'
//! reports (`Input::Health`), and the announcements they gate. A route is a candidate only
//! while every check it names is up; a check's change of verdict rebuilds the candidates and
//! re-evaluates every peer, so only the routes it gates are sent or withdrawn.
//!
//! Plugins do not see a route whose check is down: it is withdrawn before policy, unless its
//! announcement says `when_down = "plugins"`; then it stays, labelled `health = "down"`.

use super::Effects;
use crate::api::{HealthView, WithheldView};
use crate::config::{Announce, AnnounceAttrs, Config, HealthCheck, WhenDown, HEALTH_LABEL};
use crate::gr::restart::RestartRecord;
use crate::health::{probe_fingerprint, Forced, Machine, Report, SavedCheck, Status};
use crate::policy::plugins::Candidates;
use crate::text::Escaped;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

pub(super) struct Health {
    checks: BTreeMap<Arc<str>, Check>,
    /// Every configured announcement, while one at least names a check; else empty, and the
    /// candidates hold them all.
    announce: Vec<Announce>,
    generations: u64,
    /// What operators set, by check; kept in the restart record.
    overrides: BTreeMap<Arc<str>, Forced>,
    /// Until then, while a check has no verdict yet, no peer is sent its first table (see
    /// [`Health::settling`]).
    first_verdicts_by_ms: u64,
    /// How long probes took, by check (kept across reloads, so it only grows).
    pub seconds: Family<CheckLabels, Histogram, fn() -> Histogram>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct CheckLabels {
    pub check: String,
}

fn probe_histogram() -> Histogram {
    // 100 µs .. ~26 s: a local connect is ~0.1 ms, a slow exec seconds.
    Histogram::new(exponential_buckets(1e-4, 4.0, 9))
}

impl Default for Health {
    fn default() -> Health {
        Health {
            checks: BTreeMap::new(),
            announce: Vec::new(),
            generations: 0,
            overrides: BTreeMap::new(),
            first_verdicts_by_ms: 0,
            seconds: Family::new_with_constructor(probe_histogram),
        }
    }
}

struct Check {
    config: HealthCheck,
    machine: Machine,
    /// Tells this configuration's reports from those of one it replaced.
    generation: u64,
    last: Option<LastResult>,
    /// How many announcements name it.
    serves: usize,
}

struct LastResult {
    at_ms: u64,
    outcome: Result<(), String>,
    took: Duration,
}

/// A check whose verdict changed.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Transition {
    pub check: Arc<str>,
    pub from: Status,
    pub to: Status,
    /// Why the last probe failed, if it did.
    pub error: Option<String>,
    /// The announcements it gates.
    pub serves: usize,
    pub held_until_ms: Option<u64>,
}

/// What a start takes over from the previous process (the restart record): the checks'
/// verdicts as of `saved_at` (unix seconds) and what operators set.
#[derive(Clone, Debug, Default)]
pub struct Carried {
    pub saved_at: u64,
    pub checks: BTreeMap<String, SavedCheck>,
    pub overrides: BTreeMap<String, Forced>,
}

impl Carried {
    pub fn from_record(record: Option<&RestartRecord>) -> Carried {
        let Some(r) = record else {
            return Carried::default();
        };
        Carried {
            saved_at: r.alive_at,
            checks: r.health_checks.clone(),
            overrides: r.health_overrides.clone(),
        }
    }
}

/// What `gracewire plan --health` supposes: the checks up, the candidates they let through,
/// and a line per supposed check for the report.
pub struct Supposed {
    pub up: BTreeSet<Arc<str>>,
    pub candidates: Candidates,
    pub lines: Vec<String>,
}

/// The longest peers wait for the first verdicts at start.
pub const FIRST_VERDICTS_MAX: Duration = Duration::from_secs(60);

/// A probe to run: its check's name, config and generation.
pub type Probe = (Arc<str>, HealthCheck, u64);

impl Health {
    /// Takes the config's checks and the announcements of every source, keeping the machine
    /// of each check whose config did not change. Returns the candidates.
    pub fn configure(
        &mut self,
        config: &Config,
        announce: Vec<Announce>,
        now_ms: u64,
    ) -> Candidates {
        let mut serves: BTreeMap<&str, usize> = BTreeMap::new();
        for a in &announce {
            for name in &a.attrs.health {
                *serves.entry(name.as_str()).or_default() += 1;
            }
        }
        let mut old = std::mem::take(&mut self.checks);
        for (name, check) in &config.health_checks {
            let check = check.get_ref();
            let name: Arc<str> = name.as_str().into();
            let kept = old.remove(&name).filter(|c| c.config == *check);
            let mut entry = kept.unwrap_or_else(|| {
                self.generations += 1;
                Check {
                    config: check.clone(),
                    machine: Machine::new(check.rise, check.fall, now_ms),
                    generation: self.generations,
                    last: None,
                    serves: 0,
                }
            });
            entry.serves = serves.get(&*name).copied().unwrap_or(0);
            self.checks.insert(name, entry);
        }
        self.overrides
            .retain(|name, _| self.checks.contains_key(name));
        if serves.is_empty() {
            self.announce = Vec::new();
            Candidates::new(announce)
        } else {
            self.announce = announce;
            self.candidates()
        }
    }

    /// At start: the longest the first verdicts may take (at most [`FIRST_VERDICTS_MAX`]):
    /// `max(rise, fall)` probes of the slowest new check, one probe of a restored one. Peers
    /// wait for them (or for this) before their first table and End-of-RIB, so a restart never
    /// withdraws a route only because its check has not passed yet, nor announces one whose
    /// service died while no process watched it.
    pub fn wait_for_first_verdicts(&mut self, now_ms: u64) -> Option<Duration> {
        let slowest = self.checks.values().map(|c| {
            let probes = match c.machine.is_restored() {
                true => 1,
                false => c.config.rise.max(c.config.fall) as u64,
            };
            probes * c.config.interval_ms as u64 + c.config.timeout_ms as u64
        });
        let wait = Duration::from_millis(slowest.max()?).min(FIRST_VERDICTS_MAX);
        self.first_verdicts_by_ms = now_ms + wait.as_millis() as u64;
        Some(wait)
    }

    /// Whether peers still wait for the first verdicts: the wait has not run out and a check
    /// is still unknown, or restored without a result since.
    pub fn settling(&self, now_ms: u64) -> bool {
        now_ms < self.first_verdicts_by_ms && !self.unknown().is_empty()
    }

    /// The names of the checks still without a verdict of this process.
    pub fn unknown(&self) -> Vec<&str> {
        let unknown = self
            .checks
            .iter()
            .filter(|(_, c)| c.machine.status() == Status::Unknown || c.machine.is_restored());
        unknown.map(|(name, _)| &**name).collect()
    }

    /// The probes that should run now.
    pub fn probes(&self) -> Vec<Probe> {
        let probes = self.checks.iter();
        probes
            .map(|(name, c)| (name.clone(), c.config.clone(), c.generation))
            .collect()
    }

    /// Whether `name`'s routes are announced: what an operator set, else the probes' verdict.
    fn is_up(&self, name: &Arc<str>, c: &Check) -> bool {
        match self.overrides.get(name) {
            Some(forced) => *forced == Forced::Up,
            None => c.machine.up(),
        }
    }

    /// The names of the checks whose routes are announced.
    pub fn up(&self) -> BTreeSet<Arc<str>> {
        let up = self.checks.iter().filter(|(name, c)| self.is_up(name, c));
        up.map(|(name, _)| name.clone()).collect()
    }

    /// `gracewire health set`: `None` is auto. Whether what is announced may have changed.
    pub fn set(&mut self, name: &str, forced: Option<Forced>) -> Result<bool, String> {
        let Some((name, check)) = self.checks.get_key_value(name) else {
            let known: Vec<&str> = self.checks.keys().map(|n| &**n).collect();
            return Err(format!(
                "no health check named `{name}` (checks: {known:?})"
            ));
        };
        let before = self.is_up(name, check);
        let name = name.clone();
        match forced {
            Some(f) => self.overrides.insert(name.clone(), f),
            None => self.overrides.remove(&name),
        };
        Ok(before != self.is_up(&name, &self.checks[&name]))
    }

    /// The checks up if those in `supposed` were up or down; `None` when it supposes nothing,
    /// an error naming a check that does not exist.
    pub fn suppose(&self, supposed: &[(String, Forced)]) -> Result<Option<Supposed>, String> {
        if supposed.is_empty() {
            return Ok(None);
        }
        let mut up = self.up();
        let mut lines = Vec::new();
        for (name, forced) in supposed {
            let Some((name, _)) = self.checks.get_key_value(name.as_str()) else {
                let known: Vec<&str> = self.checks.keys().map(|n| &**n).collect();
                return Err(format!(
                    "no health check named `{name}` (checks: {known:?})"
                ));
            };
            let now = if up.contains(name) { "up" } else { "down" };
            lines.push(format!("{name}: {}, now {now}", forced.as_str()));
            match forced {
                Forced::Up => up.insert(name.clone()),
                Forced::Down => up.remove(name),
            };
        }
        let candidates = Candidates::new(gate(self.announce.clone(), &up));
        Ok(Some(Supposed {
            up,
            candidates,
            lines,
        }))
    }

    /// What operators set, for the restart record.
    pub fn overrides(&self) -> BTreeMap<String, Forced> {
        let all = self.overrides.iter();
        all.map(|(name, f)| (name.to_string(), *f)).collect()
    }

    /// Each check's verdict and damping figure, for the restart record.
    pub fn saved(&self, now_ms: u64) -> BTreeMap<String, SavedCheck> {
        let checks = self.checks.iter().filter_map(|(name, c)| {
            let machine = c.machine.save(now_ms)?;
            let probe = probe_fingerprint(&c.config);
            Some((name.to_string(), SavedCheck { probe, machine }))
        });
        checks.collect()
    }

    /// At start, what the previous process left: the verdict of each check still configured
    /// to probe the same thing, and what operators set. Whether a check's verdict was taken.
    pub fn restore(&mut self, carried: &Carried, unix_now: u64, now_ms: u64) -> bool {
        let elapsed_ms = unix_now
            .saturating_sub(carried.saved_at)
            .saturating_mul(1000);
        let mut taken = false;
        for (name, forced) in &carried.overrides {
            if let Some((name, _)) = self.checks.get_key_value(name.as_str()) {
                self.overrides.insert(name.clone(), *forced);
                taken = true;
            }
        }
        for (name, saved) in &carried.checks {
            let Some(c) = self.checks.get_mut(name.as_str()) else {
                continue;
            };
            if saved.probe != probe_fingerprint(&c.config) {
                continue;
            }
            let (rise, fall) = (c.config.rise, c.config.fall);
            c.machine = Machine::restored(rise, fall, saved.machine, elapsed_ms, now_ms);
            taken = true;
        }
        taken
    }

    /// The announcements held back by a check that is not up, each with why.
    pub fn withheld(&self, now_ms: u64) -> Vec<WithheldView> {
        let why = |name: &String| -> Option<String> {
            let (name, c) = self.checks.get_key_value(name.as_str())?;
            if self.is_up(name, c) {
                return None;
            }
            let held = c.machine.held_until_ms(now_ms);
            Some(match (self.overrides.get(name), c.machine.status(), held) {
                (Some(_), _, _) => format!("{name} set down"),
                (None, Status::Unknown, _) => format!("{name} has no verdict yet"),
                (None, _, Some(until)) => {
                    let secs = until.saturating_sub(now_ms).div_ceil(1000);
                    format!("{name} down, held {secs} s")
                }
                (None, _, None) => format!("{name} down"),
            })
        };
        let withdrawn = self.announce.iter();
        let withdrawn = withdrawn.filter(|a| a.attrs.when_down == WhenDown::Withdraw);
        let held_back = withdrawn.filter_map(|a| {
            let why: Vec<String> = a.attrs.health.iter().filter_map(why).collect();
            let prefix = a.prefix.0;
            (!why.is_empty()).then_some(WithheldView { prefix, why })
        });
        held_back.collect()
    }

    /// The announcements whose checks are all up, as candidates.
    pub fn candidates(&self) -> Candidates {
        Candidates::new(gate(self.announce.clone(), &self.up()))
    }

    /// Takes a probe's report; a report of a replaced or removed check is dropped.
    pub fn report(&mut self, r: Report, now_ms: u64) -> Option<Transition> {
        let check = self.checks.get_mut(&r.check)?;
        if check.generation != r.generation {
            return None;
        }
        let labels = CheckLabels {
            check: r.check.to_string(),
        };
        self.seconds
            .get_or_create(&labels)
            .observe(r.took.as_secs_f64());
        let from = check.machine.status();
        let changed = check.machine.result(r.outcome.is_ok(), now_ms);
        check.last = Some(LastResult {
            at_ms: now_ms,
            outcome: r.outcome,
            took: r.took,
        });
        let to = changed?;
        let error = check.last.as_ref().and_then(|l| l.outcome.clone().err());
        Some(Transition {
            check: r.check,
            from,
            to,
            error,
            serves: check.serves,
            held_until_ms: check.machine.held_until_ms(now_ms),
        })
    }

    /// `gracewire health`: each check as it stands at `now_ms`.
    pub fn views(&self, now_ms: u64) -> Vec<HealthView> {
        let ago = |at: u64| now_ms.saturating_sub(at) as f64 / 1000.0;
        self.checks
            .iter()
            .map(|(name, c)| HealthView {
                check: name.to_string(),
                kind: format!("{:?}", c.config.kind).to_lowercase(),
                status: c.machine.status().as_str().into(),
                forced: self.overrides.get(name).map(|f| f.as_str().to_string()),
                since_secs: ago(c.machine.since_ms()),
                transitions: c.machine.transitions(),
                held_secs: c
                    .machine
                    .held_until_ms(now_ms)
                    .map(|until| until.saturating_sub(now_ms) as f64 / 1000.0),
                last_secs: c.last.as_ref().map(|l| ago(l.at_ms)),
                last_ms: c.last.as_ref().map(|l| l.took.as_secs_f64() * 1000.0),
                error: c
                    .last
                    .as_ref()
                    .and_then(|l| l.outcome.as_ref().err())
                    .map(|e| Escaped(e).to_string()),
                serves: c.serves,
            })
            .collect()
    }

    /// For the metrics: each check, whether it is up, and its transitions.
    pub fn figures(&self) -> impl Iterator<Item = (&Arc<str>, bool, u64)> {
        let checks = self.checks.iter();
        checks.map(|(name, c)| (name, self.is_up(name, c), c.machine.transitions()))
    }
}

impl super::Daemon {
    /// Milliseconds since the daemon started, the health machines' time.
    pub(super) fn now_ms(&self) -> u64 {
        self.clock.since_start().as_millis() as u64
    }

    /// A probe's report: on a change of verdict, one log line, the restart record written,
    /// and the routes it gates announced or withdrawn at every peer.
    pub(super) fn on_health(&mut self, report: Report, fx: &mut dyn Effects) {
        let now_ms = self.now_ms();
        let settling = self.health.settling(now_ms);
        let transition = self.health.report(report, now_ms);
        let settled = settling && !self.health.settling(now_ms);
        if let Some(t) = &transition {
            log_transition(t, now_ms);
            super::emit(fx, || {
                crate::api::events::kind::health(&t.check, t.to.as_str())
            });
            // So that a crash right after it does not take the old verdict into the next
            // process (falls are damped, so this is rare).
            self.write_record(false, fx);
        }
        if settled {
            info!("every health check has a verdict: sending the peers their tables");
        }
        let gates_change = transition.is_some_and(|t| t.to == Status::Up || t.from == Status::Up);
        if gates_change {
            self.export.candidates = Arc::new(self.health.candidates());
        }
        if gates_change || settled {
            self.evaluate_all(fx);
        }
    }

    /// `gracewire health set NAME up|down|auto`: in force at once, kept across restarts.
    pub(super) fn set_health(
        &mut self,
        check: &str,
        forced: Option<Forced>,
        fx: &mut dyn Effects,
    ) -> Result<String, String> {
        let changed = self.health.set(check, forced)?;
        let mode = forced.map_or("auto", Forced::as_str);
        let effect = if changed {
            "what is announced changes"
        } else {
            "nothing announced changes"
        };
        info!(check, mode, "health check set by the operator; {effect}");
        if changed {
            self.export.candidates = Arc::new(self.health.candidates());
            self.evaluate_all(fx);
        }
        self.write_record(false, fx);
        Ok(format!("health check {check} set {mode}: {effect}"))
    }

    /// The wait for the first verdicts ran out.
    pub(super) fn first_verdicts_overdue(&mut self, fx: &mut dyn Effects) {
        let unknown = self.health.unknown();
        if !unknown.is_empty() {
            warn!(checks = ?unknown, "health checks without a verdict yet: sending the peers their tables without the routes they gate");
            self.evaluate_all(fx);
        }
    }
}

fn log_transition(t: &Transition, now_ms: u64) {
    let error = t.error.as_deref().map(Escaped);
    let held = t.held_until_ms.map(|until| (until - now_ms) / 1000);
    let what = match (t.from, t.to) {
        (_, Status::Up) => "health check up: announcing its routes",
        (Status::Unknown, _) => "health check down from the start: its routes are not announced",
        _ => "health check down: withdrawing its routes",
    };
    let error = error.map(tracing::field::display);
    match t.to {
        Status::Up => info!(check = %t.check, from = t.from.as_str(), routes = t.serves, "{what}"),
        _ => {
            warn!(check = %t.check, from = t.from.as_str(), routes = t.serves, error, held_down_secs = held, "{what}")
        }
    }
}

/// The announcements whose checks are all in `up`, and those that leave a down check to the
/// plugins ([`WhenDown::Plugins`]); each that names checks is labelled [`HEALTH_LABEL`] `up`
/// or `down`. Announcements sharing their settings share the labelled settings too.
pub fn gate(announce: Vec<Announce>, up: &BTreeSet<Arc<str>>) -> Vec<Announce> {
    let mut labelled: HashMap<(*const AnnounceAttrs, bool), Arc<AnnounceAttrs>> = HashMap::new();
    let mut out = Vec::with_capacity(announce.len());
    // By reference: every original stays alive, so no two share an address.
    for a in &announce {
        if a.attrs.health.is_empty() {
            out.push(a.clone());
            continue;
        }
        let healthy = a.attrs.health.iter().all(|h| up.contains(h.as_str()));
        if !healthy && a.attrs.when_down == WhenDown::Withdraw {
            continue;
        }
        let key = (Arc::as_ptr(&a.attrs), healthy);
        let attrs = labelled.entry(key).or_insert_with(|| {
            let mut attrs = (*a.attrs).clone();
            let value = if healthy { "up" } else { "down" };
            attrs.labels.insert(HEALTH_LABEL.into(), value.into());
            Arc::new(attrs)
        });
        out.push(Announce {
            prefix: a.prefix,
            attrs: attrs.clone(),
        });
    }
    out
}
