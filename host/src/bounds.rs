//! Where a limit of the "Limits" table (docs/security.md) is reached, it is counted here and logged
//! once per episode: the first time, and again only after that limit has not been reached for
//! [`QUIET`]. An attacker who hits a limit ten thousand times a second gets one log line a minute,
//! and the count in `/metrics` (`gracewire_limit_reached_total{limit}`) shows all of them.
//!
//! Process-wide atomics, not daemon state: the limits are reached in the session tasks, the
//! metrics server, the control socket and the plugin runtime, none of which owns the daemon.

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tracing::warn;

/// A limit's episode ends after this long without reaching it; the next one is logged again.
pub const QUIET: Duration = Duration::from_secs(60);

/// Every limit that is counted, by what it bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// A peer took nothing we sent for the send hold time (RFC 9687): NOTIFICATION 8.
    SendHold,
    /// More was queued for one peer than [`crate::session::MAX_QUEUED_BYTES`]: Cease 6/8.
    WriterQueue,
    /// A ROUTE-REFRESH dropped while the last answer for its family is still queued.
    RouteRefresh,
    /// A peer's prefixes passed `max_prefixes` (Cease 6/1).
    MaxPrefix,
    /// A peer ended a session for our UPDATEs and its next connect was backed off.
    RefusedUpdates,
    /// A plugin's memories, tables or instances would pass their budget: the call traps.
    PluginMemory,
    /// A plugin's tag set would add more community octets than fit an UPDATE.
    PluginTags,
    /// A plugin's log lines past the rate, dropped.
    PluginLog,
    /// A cached compiled plugin not loaded (not ours, not 0600, a link): recompiled.
    PluginCache,
    /// A BFD packet dropped for its TTL (or for no TTL reported).
    BfdTtl,
    /// A control or takeover socket client that is neither our user nor root.
    LocalPeer,
    /// A control connection waited for a slot ([`crate::api::MAX_CONTROL_CONNECTIONS`]).
    ControlConnections,
    /// A control request too large or with too many entries, or a client silent too long.
    ControlRequest,
    /// An event watcher refused ([`crate::api::events::MAX_WATCHERS`]) or dropped for falling
    /// a buffer behind.
    EventWatch,
    /// A takeover frame over its size or time bound, or a resumed state that does not validate.
    TakeoverFrame,
    /// A state file over its size bound, not read.
    StateFile,
    /// A metrics connection waited for a slot.
    MetricsConnections,
    /// A metrics connection closed for idling (or trickling its headers).
    MetricsIdle,
    /// A scrape answered 503 because the scrape channel was full.
    MetricsScrapes,
}

impl Limit {
    pub const ALL: [Limit; 19] = [
        Limit::SendHold,
        Limit::WriterQueue,
        Limit::RouteRefresh,
        Limit::MaxPrefix,
        Limit::RefusedUpdates,
        Limit::PluginMemory,
        Limit::PluginTags,
        Limit::PluginLog,
        Limit::PluginCache,
        Limit::BfdTtl,
        Limit::LocalPeer,
        Limit::ControlConnections,
        Limit::ControlRequest,
        Limit::EventWatch,
        Limit::TakeoverFrame,
        Limit::StateFile,
        Limit::MetricsConnections,
        Limit::MetricsIdle,
        Limit::MetricsScrapes,
    ];

    /// The `limit` label.
    pub fn name(self) -> &'static str {
        match self {
            Limit::SendHold => "send_hold_time",
            Limit::WriterQueue => "writer_queue",
            Limit::RouteRefresh => "route_refresh",
            Limit::MaxPrefix => "max_prefixes",
            Limit::RefusedUpdates => "refused_updates",
            Limit::PluginMemory => "plugin_memory",
            Limit::PluginTags => "plugin_tags",
            Limit::PluginLog => "plugin_log",
            Limit::PluginCache => "plugin_cache",
            Limit::BfdTtl => "bfd_ttl",
            Limit::LocalPeer => "local_peer",
            Limit::ControlConnections => "control_connections",
            Limit::ControlRequest => "control_request",
            Limit::EventWatch => "event_watch",
            Limit::TakeoverFrame => "takeover_frame",
            Limit::StateFile => "state_file",
            Limit::MetricsConnections => "metrics_connections",
            Limit::MetricsIdle => "metrics_idle",
            Limit::MetricsScrapes => "metrics_scrapes",
        }
    }
}

struct Slot {
    count: AtomicU64,
    /// Milliseconds since [`epoch`] of the last time, plus one (0: never).
    last: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const NEVER: Slot = Slot {
    count: AtomicU64::new(0),
    last: AtomicU64::new(0),
};
static SLOTS: [Slot; Limit::ALL.len()] = [NEVER; Limit::ALL.len()];

fn epoch() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Whether a limit reached at `now` (ms + 1) after it was last reached at `last` starts an episode.
fn starts_episode(last: u64, now: u64) -> bool {
    last == 0 || now.saturating_sub(last) >= QUIET.as_millis() as u64
}

/// Counts the limit, and logs `what` if this starts an episode. Returns whether it did.
pub fn reached(limit: Limit, what: impl Display) -> bool {
    let slot = &SLOTS[limit as usize];
    slot.count.fetch_add(1, Ordering::Relaxed);
    let now = epoch().elapsed().as_millis() as u64 + 1;
    let last = slot.last.swap(now, Ordering::Relaxed);
    let starts = starts_episode(last, now);
    if starts {
        warn!(
            limit = limit.name(),
            "limit reached: {what} (logged once a minute at most; see gracewire_limit_reached_total)"
        );
    }
    starts
}

/// How often the limit has been reached since the process started.
pub fn count(limit: Limit) -> u64 {
    SLOTS[limit as usize].count.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_episode_is_logged_once_until_the_limit_has_been_quiet_a_minute() {
        let quiet = QUIET.as_millis() as u64;
        assert!(starts_episode(0, 1), "the first time");
        assert!(!starts_episode(1, 2));
        assert!(!starts_episode(1, quiet));
        assert!(starts_episode(1, quiet + 1));
    }

    #[test]
    fn every_time_is_counted_and_only_the_first_of_an_episode_logged() {
        // Other tests may reach this limit at the same time: counts only grow.
        let before = count(Limit::StateFile);
        reached(Limit::StateFile, "x");
        assert!(!reached(Limit::StateFile, "x"), "the same episode");
        assert!(count(Limit::StateFile) >= before + 2);
    }

    #[test]
    fn every_limit_has_its_own_slot_and_label() {
        for (i, l) in Limit::ALL.iter().enumerate() {
            assert_eq!(*l as usize, i);
        }
        let mut names: Vec<_> = Limit::ALL.iter().map(|l| l.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Limit::ALL.len());
    }
}
