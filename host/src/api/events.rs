//! `WatchEvents`: what the daemon did, sent to every watcher as it happens.
//!
//! The daemon loop publishes into a `tokio::sync::broadcast` buffer of [`BUFFER`] events and
//! never waits: a watcher that falls a whole buffer behind loses its place and its stream ends
//! with RESOURCE_EXHAUSTED (it may watch again and re-read the state with the List calls).
//! No event is built while nobody watches. At most [`MAX_WATCHERS`] watch at once.

use super::proto::{event::Kind, Event};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events a watcher may be behind before it is dropped.
pub const BUFFER: usize = 4096;
/// Watchers at once; one more is refused with RESOURCE_EXHAUSTED.
pub const MAX_WATCHERS: usize = 256;
/// Prefixes named per routes event (each way); the counts are whole.
pub const PREFIXES_PER_EVENT: usize = crate::rib::Change::NAMED;

/// The daemon's side (publish) and the API's (subscribe); clones share one buffer.
#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(BUFFER).0,
        }
    }
}

impl Events {
    /// Whether anyone watches: events are built only then.
    pub fn watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    pub fn publish(&self, kind: Kind) {
        let event = Event {
            unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            kind: Some(kind),
        };
        // No receiver: nobody to tell.
        let _ = self.tx.send(Arc::new(event));
    }

    /// A new watcher, or `None` when [`MAX_WATCHERS`] already watch.
    pub fn subscribe(&self) -> Option<broadcast::Receiver<Arc<Event>>> {
        (self.tx.receiver_count() < MAX_WATCHERS).then(|| self.tx.subscribe())
    }
}

/// Constructors for the kinds the daemon publishes.
pub mod kind {
    use super::super::proto;
    use super::{Kind, PREFIXES_PER_EVENT};

    pub fn session(peer: &str, state: &str, reason: Option<String>) -> Kind {
        Kind::Session(proto::SessionEvent {
            peer: peer.into(),
            state: state.into(),
            reason,
        })
    }

    pub fn graceful_restart(peer: &str, phase: &str, family: Option<String>) -> Kind {
        Kind::GracefulRestart(proto::GracefulRestartEvent {
            peer: peer.into(),
            phase: phase.into(),
            family,
        })
    }

    pub fn plugin(
        kind: &str,
        outcome: &str,
        version: Option<String>,
        error: Option<String>,
    ) -> Kind {
        Kind::Plugin(proto::PluginEvent {
            kind: kind.into(),
            outcome: outcome.into(),
            version,
            error,
        })
    }

    pub fn drain(phase: &str) -> Kind {
        Kind::Drain(proto::DrainEvent {
            phase: phase.into(),
        })
    }

    pub fn reload(applied: bool, message: String) -> Kind {
        Kind::Reload(proto::ReloadEvent { applied, message })
    }

    pub fn health(check: &str, status: &str) -> Kind {
        Kind::Health(proto::HealthEvent {
            check: check.into(),
            status: status.into(),
        })
    }

    /// One burst to a peer: the counts, and the first [`PREFIXES_PER_EVENT`] prefixes each way.
    pub fn routes(peer: &str, change: &crate::rib::Change) -> Kind {
        let named = |prefixes: &[ipnet::IpNet]| {
            let first = prefixes.iter().take(PREFIXES_PER_EVENT);
            first.map(|p| p.to_string()).collect()
        };
        Kind::Routes(proto::RoutesEvent {
            peer: peer.into(),
            announced: change.announced as u64,
            withdrawn: change.withdrawn as u64,
            announced_prefixes: named(&change.first_announced),
            withdrawn_prefixes: named(&change.first_withdrawn),
        })
    }

    pub fn announcements(source: &str, added: usize, removed: usize, changed: usize) -> Kind {
        Kind::Announcements(proto::AnnouncementsEvent {
            source: source.into(),
            added: added as u64,
            removed: removed as u64,
            changed: changed as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watcher_that_falls_a_buffer_behind_is_told_so() {
        let events = Events::default();
        assert!(!events.watched());
        let mut slow = events.subscribe().unwrap();
        assert!(events.watched());
        for i in 0..BUFFER + 1 {
            events.publish(kind::drain(&i.to_string()));
        }
        // The daemon did not wait; the watcher learns it missed one.
        assert!(matches!(
            slow.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(1))
        ));
    }

    #[test]
    fn watchers_are_bounded() {
        let events = Events::default();
        let held: Vec<_> = (0..MAX_WATCHERS)
            .map(|_| events.subscribe().unwrap())
            .collect();
        assert!(events.subscribe().is_none());
        drop(held);
        assert!(events.subscribe().is_some());
    }

    #[test]
    fn routes_events_carry_the_counts_and_the_named_prefixes() {
        let change = crate::rib::Change {
            announced: 1000,
            withdrawn: 1,
            first_announced: vec!["10.0.0.1/32".parse().unwrap()],
            first_withdrawn: vec!["10.0.0.2/32".parse().unwrap()],
        };
        let Kind::Routes(r) = kind::routes("r1", &change) else {
            unreachable!()
        };
        assert_eq!((r.announced, r.withdrawn), (1000, 1));
        assert_eq!(r.announced_prefixes, ["10.0.0.1/32"]);
        assert_eq!(r.withdrawn_prefixes, ["10.0.0.2/32"]);
    }
}
