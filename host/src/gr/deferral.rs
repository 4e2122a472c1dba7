//! Route selection deferral of the restarting speaker (RFC 4724 §4.1).
//!
//! After our own restart, the routes peers send us arrive one peer at a time; choosing best
//! paths from a half-filled table would flap. So selection waits until every GR peer has sent
//! End-of-RIB for each family negotiated with it, bounded by the selection deferral timer.
//! A peer stops counting when it is removed, when its session goes down, when it comes up
//! without the GR capability, or when its own OPEN carries R=1 (it restarted too, and waits
//! for *our* End-of-RIB: counting it would deadlock). Our own announcements never wait.
//!
//! ```text
//!   start (fresh) ──────────────────────────────────────────────► Done
//!   start (restart, no GR peer configured) ─────────────────────► Done
//!   start (restart) ──► Deferring { peer: NotUp | Up(families still owed) }
//!                          │ session up with GR, R=0: owes its negotiated families
//!                          │ End-of-RIB(family): family paid
//!                          │ removed / down / no GR / R=1 / nothing owed: stops counting
//!                          ├── no peer left counting ───────────► Done (all End-of-RIB)
//!                          └── deferral timer expires ───────────► Done (timer)
//! ```
//! Pure: the daemon feeds it events and acts on the [`DeferralEnd`] an event returns.

use crate::fsm::Negotiated;
use crate::wire::Family;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Owed {
    /// Not Established yet since our start.
    NotUp,
    /// Up; End-of-RIB still owed for these families.
    Up(Vec<Family>),
}

#[derive(Debug, Default)]
pub struct SelectionDeferral {
    /// `None`: selection runs normally.
    waiting: Option<BTreeMap<Arc<str>, Owed>>,
}

/// Why deferral ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeferralEnd {
    /// Every peer that counted has sent its End-of-RIBs (or stopped counting).
    Complete,
    /// The selection deferral timer fired first.
    TimerExpired,
}

impl SelectionDeferral {
    /// Deferral after a restart, waiting for `gr_peers` (the configured peers with GR on).
    /// With none it is over at once.
    pub fn start(gr_peers: impl IntoIterator<Item = Arc<str>>) -> SelectionDeferral {
        let waiting: BTreeMap<Arc<str>, Owed> =
            gr_peers.into_iter().map(|p| (p, Owed::NotUp)).collect();
        SelectionDeferral {
            waiting: (!waiting.is_empty()).then_some(waiting),
        }
    }

    pub fn is_deferring(&self) -> bool {
        self.waiting.is_some()
    }

    /// The peers selection still waits for, with the families owed (empty: not up yet).
    pub fn waiting_for(&self) -> Vec<(Arc<str>, Vec<Family>)> {
        self.waiting
            .iter()
            .flatten()
            .map(|(p, o)| match o {
                Owed::NotUp => (p.clone(), Vec::new()),
                Owed::Up(f) => (p.clone(), f.clone()),
            })
            .collect()
    }

    /// The peer's session is Established.
    pub fn session_up(&mut self, peer: &str, n: &Negotiated) -> Option<DeferralEnd> {
        let waiting = self.waiting.as_mut()?;
        let owed = waiting.get_mut(peer)?;
        match &n.peer_graceful_restart {
            // RFC 4724 §4.1: peers without the capability, or restarting themselves, are
            // excluded.
            None => return self.stop_counting(peer),
            Some(cap) if cap.restart_state => return self.stop_counting(peer),
            Some(_) => {}
        }
        if *owed == Owed::NotUp {
            *owed = Owed::Up(n.families.clone());
        }
        if *owed == Owed::Up(Vec::new()) {
            return self.stop_counting(peer);
        }
        None
    }

    /// The peer sent End-of-RIB for `family`.
    pub fn end_of_rib(&mut self, peer: &str, family: Family) -> Option<DeferralEnd> {
        let waiting = self.waiting.as_mut()?;
        let Some(Owed::Up(families)) = waiting.get_mut(peer) else {
            return None;
        };
        families.retain(|f| *f != family);
        if families.is_empty() {
            return self.stop_counting(peer);
        }
        None
    }

    /// The peer was removed from the config, or its session went down.
    pub fn peer_gone(&mut self, peer: &str) -> Option<DeferralEnd> {
        self.stop_counting(peer)
    }

    pub fn timer_expired(&mut self) -> Option<DeferralEnd> {
        self.waiting.take().map(|_| DeferralEnd::TimerExpired)
    }

    fn stop_counting(&mut self, peer: &str) -> Option<DeferralEnd> {
        let waiting = self.waiting.as_mut()?;
        waiting.remove(peer)?;
        if waiting.is_empty() {
            self.waiting = None;
            return Some(DeferralEnd::Complete);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::capability::{GrFamily, GracefulRestartCap};

    const V4: Family = Family::Ipv4Unicast;
    const V6: Family = Family::Ipv6Unicast;

    fn up(gr: Option<bool>, families: Vec<Family>) -> Negotiated {
        let cap = gr.map(|restart_state| GracefulRestartCap {
            restart_state,
            notification: true,
            restart_time: 120,
            families: families.iter().map(|f| GrFamily::new(*f, true)).collect(),
        });
        Negotiated::example(families, cap, None)
    }

    fn two() -> SelectionDeferral {
        SelectionDeferral::start(["a".into(), "b".into()])
    }

    #[test]
    fn ends_once_every_peer_sent_end_of_rib_for_each_family() {
        let mut d = two();
        assert!(d.is_deferring());
        assert_eq!(d.session_up("a", &up(Some(false), vec![V4, V6])), None);
        assert_eq!(d.session_up("b", &up(Some(false), vec![V4])), None);
        assert_eq!(d.end_of_rib("a", V4), None);
        assert_eq!(d.end_of_rib("b", V4), None, "a still owes IPv6");
        assert_eq!(d.waiting_for(), vec![("a".into(), vec![V6])]);
        assert_eq!(d.end_of_rib("a", V6), Some(DeferralEnd::Complete));
        assert!(!d.is_deferring());
        assert_eq!(d.end_of_rib("a", V6), None, "over is over");
    }

    #[test]
    fn end_of_rib_before_the_session_is_known_up_does_not_count() {
        let mut d = two();
        assert_eq!(d.end_of_rib("a", V4), None);
        assert_eq!(d.waiting_for()[0], ("a".into(), vec![]));
    }

    #[test]
    fn peers_without_gr_restarting_themselves_removed_or_down_stop_counting() {
        let mut d = SelectionDeferral::start(["a".into(), "b".into(), "c".into(), "d".into()]);
        assert_eq!(d.session_up("a", &up(None, vec![V4])), None, "no GR");
        assert_eq!(d.session_up("b", &up(Some(true), vec![V4])), None, "R=1");
        assert_eq!(d.peer_gone("c"), None, "removed");
        d.session_up("d", &up(Some(false), vec![V4]));
        assert_eq!(d.peer_gone("d"), Some(DeferralEnd::Complete), "down");
    }

    #[test]
    fn the_timer_ends_it_when_a_peer_never_sends_end_of_rib() {
        let mut d = two();
        d.session_up("a", &up(Some(false), vec![V4]));
        d.end_of_rib("a", V4);
        assert!(d.is_deferring(), "b never came");
        assert_eq!(d.timer_expired(), Some(DeferralEnd::TimerExpired));
        assert!(!d.is_deferring());
        assert_eq!(d.timer_expired(), None);
    }

    #[test]
    fn a_flap_while_deferring_keeps_what_was_owed() {
        let mut d = two();
        d.session_up("a", &up(Some(false), vec![V4, V6]));
        d.end_of_rib("a", V4);
        // Up again (the daemon reports down as `peer_gone` only for sessions that went down;
        // a second Established without a down in between keeps the balance).
        d.session_up("a", &up(Some(false), vec![V4, V6]));
        assert_eq!(d.waiting_for()[0], ("a".into(), vec![V6]));
    }

    #[test]
    fn no_gr_peers_means_no_deferral_and_unknown_peers_are_ignored() {
        let d = SelectionDeferral::start(Vec::<Arc<str>>::new());
        assert!(!d.is_deferring());
        let mut d = two();
        assert_eq!(d.session_up("zz", &up(Some(false), vec![V4])), None);
        assert_eq!(d.peer_gone("zz"), None);
        assert!(d.is_deferring());
    }
}
