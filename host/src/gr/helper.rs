//! The receiving speaker ("helper") side of Graceful Restart, per peer (RFC 4724 §4.2), with
//! long-lived GR (RFC 9494 §4.2) after it.
//!
//! ```text
//!                 session drops, GR-eligible
//!   Idle ───────────────────────────────────────► Retaining (restart timer)
//!    ▲  ▲                                           │        │ restart timer expires:
//!    │  │ not eligible / Hard Reset: flush now      │        ├─ no LLGR: flush stale ─► Idle
//!    │  │                                           │        └─ LLGR ─► LongLived (per-family
//!    │  │   new OPEN without GR, or family          ▼                  stale time; LLGR_STALE,
//!    │  └── missing / F=0: flush those families ◄─ Refreshing ◄──────  NO_LLGR dropped; flushed
//!    │                                              │ (stale-path      when its time runs out)
//!    │                                              │  timer)     session back up
//!    │                                              │ End-of-RIB per family: sweep what stayed stale
//!    └──────────────── all families swept, or stale-path timer expires (sweep all) ◄┘
//! ```
//! A peer whose GR restart time is 0 but whose LLGR stale time is not goes straight to
//! LongLived. A family the peer lists only in its LLGR capability is kept (plain stale) through
//! the restart time too: one restart timer per peer keeps the machine small.
//!
//! The helper only decides; the daemon applies [`HelperAction`]s to the Adj-RIB-In and arms the
//! timers.

use super::notification_is_graceful;
use crate::fsm::{DownReason, Negotiated};
use crate::wire::Family;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelperAction {
    /// Keep the family's routes, marked stale.
    MarkStale(Family),
    /// Past the restart time, with LLGR: keep the family's routes with LLGR_STALE (least
    /// preferred) and drop those that carry NO_LLGR (RFC 9494 §4.2).
    MarkLongLivedStale(Family),
    /// Drop every route of the family now.
    Flush(Family),
    /// Drop the routes of the family that are still stale (the peer refreshed the rest).
    SweepStale(Family),
    StartRestartTimer(Duration),
    StartStaleTimer(Duration),
    /// Until the first family's long-lived stale time runs out.
    StartLongLivedTimer(Duration),
    StopTimers,
}

/// Timers of our helper role: the peer's restart time comes from its capability, the
/// stale-path bound from our configuration (or the GR profile plugin).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelperTimers {
    pub stale_path_time: Duration,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Idle,
    Retaining {
        families: Vec<Family>,
        /// Families that go long-lived when the restart timer expires, with their stale time.
        long_lived: Vec<(Family, Duration)>,
    },
    /// Each family with the stale time it has left, as of when the timer was last armed.
    LongLived {
        families: Vec<(Family, Duration)>,
    },
    Refreshing {
        pending: Vec<Family>,
    },
}

#[derive(Debug, Default)]
pub struct GrHelper {
    state: State,
}

impl GrHelper {
    pub fn is_active(&self) -> bool {
        self.state != State::Idle
    }

    /// Are the peer's routes kept as long-lived stale (LLGR_STALE) right now?
    pub fn is_long_lived(&self) -> bool {
        matches!(self.state, State::LongLived { .. })
    }

    /// Families whose routes are kept stale right now.
    pub fn stale_families(&self) -> Vec<Family> {
        match &self.state {
            State::Idle => Vec::new(),
            State::Retaining { families, .. } => families.clone(),
            State::LongLived { families } => families.iter().map(|(f, _)| *f).collect(),
            State::Refreshing { pending } => pending.clone(),
        }
    }

    /// An Established session ended. `with_routes`: the families we hold routes of.
    pub fn session_down(
        &mut self,
        n: &Negotiated,
        reason: &DownReason,
        with_routes: &[Family],
    ) -> Vec<HelperAction> {
        let mut out = vec![HelperAction::StopTimers];
        let peer_cap = n.peer_graceful_restart.as_ref();
        let restart_time = peer_cap.map_or(0, |c| c.restart_time);
        let long_lived = |f: Family| {
            n.peer_long_lived
                .as_ref()
                .and_then(|l| l.for_family(f))
                .map(|l| Duration::from_secs(l.stale_time as u64))
        };
        self.state = State::Idle;
        if !notification_is_graceful(n, reason) {
            out.extend(with_routes.iter().map(|f| HelperAction::Flush(*f)));
            return out;
        }
        let (mut kept, mut later) = (Vec::new(), Vec::new());
        for f in with_routes {
            // Only families the peer listed in its capabilities are retained (RFC 4724 §4.2,
            // RFC 9494 §4.2).
            let gr_listed =
                restart_time > 0 && peer_cap.and_then(|c| c.forwarding_for(*f)).is_some();
            let ll = long_lived(*f);
            if gr_listed || (restart_time > 0 && ll.is_some()) {
                out.push(HelperAction::MarkStale(*f));
                kept.push(*f);
                later.extend(ll.map(|d| (*f, d)));
            } else if let Some(d) = ll {
                later.push((*f, d));
            } else {
                out.push(HelperAction::Flush(*f));
            }
        }
        if !kept.is_empty() {
            out.push(HelperAction::StartRestartTimer(Duration::from_secs(
                restart_time as u64,
            )));
            self.state = State::Retaining {
                families: kept,
                long_lived: later,
            };
        } else if !later.is_empty() {
            // Restart time 0 with LLGR: long-lived at once.
            out.extend(self.enter_long_lived(later));
        }
        out
    }

    fn enter_long_lived(&mut self, families: Vec<(Family, Duration)>) -> Vec<HelperAction> {
        let mut out: Vec<HelperAction> = families
            .iter()
            .map(|(f, _)| HelperAction::MarkLongLivedStale(*f))
            .collect();
        out.extend(self.arm_long_lived(families));
        out
    }

    fn arm_long_lived(&mut self, families: Vec<(Family, Duration)>) -> Option<HelperAction> {
        let first = families.iter().map(|(_, d)| *d).min()?;
        self.state = State::LongLived { families };
        Some(HelperAction::StartLongLivedTimer(first))
    }

    /// The session is Established again with a new OPEN.
    pub fn session_up(&mut self, n: &Negotiated, timers: HelperTimers) -> Vec<HelperAction> {
        let families = match std::mem::take(&mut self.state) {
            State::Retaining { families, .. } => families,
            State::LongLived { families } => families.into_iter().map(|(f, _)| f).collect(),
            other => {
                self.state = other;
                return Vec::new();
            }
        };
        let mut out = vec![HelperAction::StopTimers];
        let mut pending = Vec::new();
        for f in families {
            // The new OPEN must list the family with F=1 (in its GR or LLGR capability) for its
            // stale routes to survive; a peer that lost its forwarding state (F=0), dropped the
            // family, or came back without GR at all has nothing to refresh them with.
            let gr_f = n
                .peer_graceful_restart
                .as_ref()
                .and_then(|c| c.forwarding_for(f))
                == Some(true);
            let ll_f = n
                .peer_long_lived
                .as_ref()
                .and_then(|l| l.for_family(f))
                .is_some_and(|l| l.forwarding_preserved);
            if (gr_f || ll_f) && n.families.contains(&f) {
                pending.push(f);
            } else {
                out.push(HelperAction::Flush(f));
            }
        }
        if !pending.is_empty() {
            out.push(HelperAction::StartStaleTimer(timers.stale_path_time));
            self.state = State::Refreshing { pending };
        }
        out
    }

    /// The peer sent End-of-RIB for `family`.
    pub fn end_of_rib(&mut self, family: Family) -> Vec<HelperAction> {
        let State::Refreshing { pending } = &mut self.state else {
            return Vec::new();
        };
        let Some(i) = pending.iter().position(|f| *f == family) else {
            return Vec::new();
        };
        pending.remove(i);
        let mut out = vec![HelperAction::SweepStale(family)];
        if pending.is_empty() {
            out.push(HelperAction::StopTimers);
            self.state = State::Idle;
        }
        out
    }

    /// The peer did not come back within its restart time: flush, or go long-lived.
    pub fn restart_timer_expired(&mut self) -> Vec<HelperAction> {
        match std::mem::take(&mut self.state) {
            State::Retaining {
                families,
                long_lived,
            } => {
                let mut out: Vec<HelperAction> = families
                    .into_iter()
                    .filter(|f| !long_lived.iter().any(|(l, _)| l == f))
                    .map(HelperAction::Flush)
                    .collect();
                out.extend(self.enter_long_lived(long_lived));
                out
            }
            other => {
                self.state = other;
                Vec::new()
            }
        }
    }

    /// The first long-lived stale time ran out: flush those families, wait for the next.
    pub fn long_lived_timer_expired(&mut self) -> Vec<HelperAction> {
        let State::LongLived { families } = std::mem::take(&mut self.state) else {
            return Vec::new();
        };
        let elapsed = families.iter().map(|(_, d)| *d).min().unwrap_or_default();
        let (done, left): (Vec<_>, Vec<_>) = families.into_iter().partition(|(_, d)| *d <= elapsed);
        let mut out: Vec<HelperAction> = done
            .into_iter()
            .map(|(f, _)| HelperAction::Flush(f))
            .collect();
        let left = left.into_iter().map(|(f, d)| (f, d - elapsed)).collect();
        out.extend(self.arm_long_lived(left));
        out
    }

    /// Families the peer is refreshing after its restart (End-of-RIB not yet received), while
    /// its session is up again.
    pub fn refreshing(&self) -> &[Family] {
        match &self.state {
            State::Refreshing { pending } => pending,
            _ => &[],
        }
    }

    /// Goes on refreshing `pending` where another process left off (a takeover), with
    /// `stale_left` of the stale-path time.
    pub fn resume_refreshing(
        &mut self,
        pending: Vec<Family>,
        stale_left: Duration,
    ) -> Vec<HelperAction> {
        if pending.is_empty() {
            return Vec::new();
        }
        self.state = State::Refreshing { pending };
        vec![HelperAction::StartStaleTimer(stale_left)]
    }

    /// The peer came back but never finished (no End-of-RIB) within the stale-path time.
    pub fn stale_timer_expired(&mut self) -> Vec<HelperAction> {
        match std::mem::take(&mut self.state) {
            State::Refreshing { pending } => {
                pending.into_iter().map(HelperAction::SweepStale).collect()
            }
            other => {
                self.state = other;
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::capability::{GrFamily, GracefulRestartCap};
    use crate::wire::notification::{cease, code};
    use crate::wire::Notification;
    use HelperAction::*;

    const V4: Family = Family::Ipv4Unicast;
    const V6: Family = Family::Ipv6Unicast;
    const TIMERS: HelperTimers = HelperTimers {
        stale_path_time: Duration::from_secs(360),
    };

    fn cap(n_bit: bool, families: &[(Family, bool)]) -> GracefulRestartCap {
        GracefulRestartCap {
            restart_state: false,
            notification: n_bit,
            restart_time: 120,
            families: families
                .iter()
                .map(|(f, fwd)| GrFamily::new(*f, *fwd))
                .collect(),
        }
    }

    fn negotiated(peer: Option<GracefulRestartCap>, local_n: bool) -> Negotiated {
        let local = cap(local_n, &[(V4, true), (V6, true)]);
        Negotiated::example(vec![V4, V6], peer, Some(local))
    }

    fn both() -> Negotiated {
        negotiated(Some(cap(true, &[(V4, true), (V6, true)])), true)
    }

    /// A takeover moves a refresh under way: the new helper waits for the same End-of-RIBs,
    /// with what was left of the stale-path time.
    #[test]
    fn a_refresh_resumed_elsewhere_waits_for_the_same_end_of_ribs() {
        let mut old = GrHelper::default();
        old.session_down(&both(), &DownReason::ConnectionLost, &[V4, V6]);
        old.session_up(&both(), TIMERS);
        old.end_of_rib(V4);
        assert_eq!(old.refreshing(), &[V6]);
        let mut new = GrHelper::default();
        assert_eq!(new.refreshing(), &[] as &[Family]);
        let left = Duration::from_secs(200);
        let out = new.resume_refreshing(old.refreshing().to_vec(), left);
        assert_eq!(out, vec![StartStaleTimer(left)]);
        assert!(new.is_active());
        assert_eq!(new.end_of_rib(V4), vec![], "V4 was done before");
        assert_eq!(new.end_of_rib(V6), vec![SweepStale(V6), StopTimers]);
        assert!(!new.is_active());
        assert_eq!(
            GrHelper::default().resume_refreshing(Vec::new(), left),
            vec![]
        );
    }

    #[test]
    fn tcp_loss_keeps_routes_stale_then_end_of_rib_sweeps() {
        let mut h = GrHelper::default();
        let out = h.session_down(&both(), &DownReason::ConnectionLost, &[V4, V6]);
        assert_eq!(
            out,
            vec![
                StopTimers,
                MarkStale(V4),
                MarkStale(V6),
                StartRestartTimer(Duration::from_secs(120))
            ]
        );
        assert_eq!(h.stale_families(), &[V4, V6]);
        let out = h.session_up(&both(), TIMERS);
        assert_eq!(
            out,
            vec![StopTimers, StartStaleTimer(Duration::from_secs(360))]
        );
        assert_eq!(h.end_of_rib(V4), vec![SweepStale(V4)]);
        assert_eq!(h.end_of_rib(V4), vec![], "twice is nothing");
        assert_eq!(h.end_of_rib(V6), vec![SweepStale(V6), StopTimers]);
        assert!(!h.is_active());
    }

    #[test]
    fn hold_timer_expiry_is_graceful() {
        let mut h = GrHelper::default();
        let out = h.session_down(&both(), &DownReason::HoldTimerExpired, &[V4]);
        assert!(out.contains(&MarkStale(V4)));
    }

    #[test]
    fn notification_is_graceful_only_with_n_on_both_sides_and_not_hard_reset() {
        let admin_reset = Notification::new(code::CEASE, cease::ADMIN_RESET);
        let hard = Notification::new(code::CEASE, cease::HARD_RESET);
        let mut h = GrHelper::default();
        let out = h.session_down(
            &both(),
            &DownReason::NotificationReceived(admin_reset.clone()),
            &[V4],
        );
        assert!(out.contains(&MarkStale(V4)), "N on both sides: graceful");
        let mut h = GrHelper::default();
        let out = h.session_down(&both(), &DownReason::NotificationReceived(hard), &[V4]);
        assert_eq!(out, vec![StopTimers, Flush(V4)], "Hard Reset flushes");
        let mut h = GrHelper::default();
        let no_n = negotiated(Some(cap(false, &[(V4, true)])), true);
        let out = h.session_down(
            &no_n,
            &DownReason::NotificationReceived(admin_reset.clone()),
            &[V4],
        );
        assert_eq!(
            out,
            vec![StopTimers, Flush(V4)],
            "without N a NOTIFICATION ends GR"
        );
        let mut h = GrHelper::default();
        let only_peer_n = negotiated(Some(cap(true, &[(V4, true)])), false);
        let out = h.session_down(
            &only_peer_n,
            &DownReason::NotificationSent(admin_reset),
            &[V4],
        );
        assert_eq!(out, vec![StopTimers, Flush(V4)], "N must be on both sides");
    }

    #[test]
    fn peer_without_gr_or_family_not_listed_is_flushed() {
        let mut h = GrHelper::default();
        let out = h.session_down(&negotiated(None, true), &DownReason::ConnectionLost, &[V4]);
        assert_eq!(out, vec![StopTimers, Flush(V4)]);
        let mut h = GrHelper::default();
        let only_v4 = negotiated(Some(cap(true, &[(V4, false)])), true);
        let out = h.session_down(&only_v4, &DownReason::ConnectionLost, &[V4, V6]);
        assert_eq!(out[1..3], [MarkStale(V4), Flush(V6)]);
    }

    #[test]
    fn new_open_without_gr_or_with_f_zero_drops_stale_routes_at_once() {
        let mut h = GrHelper::default();
        h.session_down(&both(), &DownReason::ConnectionLost, &[V4, V6]);
        let out = h.session_up(&negotiated(None, true), TIMERS);
        assert_eq!(out, vec![StopTimers, Flush(V4), Flush(V6)]);
        assert!(!h.is_active());

        let mut h = GrHelper::default();
        h.session_down(&both(), &DownReason::ConnectionLost, &[V4, V6]);
        // V4 with F=0, V6 not listed any more.
        let out = h.session_up(&negotiated(Some(cap(true, &[(V4, false)])), true), TIMERS);
        assert_eq!(out, vec![StopTimers, Flush(V4), Flush(V6)]);

        let mut h = GrHelper::default();
        h.session_down(&both(), &DownReason::ConnectionLost, &[V4, V6]);
        let out = h.session_up(
            &negotiated(Some(cap(true, &[(V4, true), (V6, false)])), true),
            TIMERS,
        );
        assert_eq!(
            out,
            vec![
                StopTimers,
                Flush(V6),
                StartStaleTimer(TIMERS.stale_path_time)
            ]
        );
        assert_eq!(h.stale_families(), &[V4]);
    }

    #[test]
    fn timers_bound_the_wait() {
        let mut h = GrHelper::default();
        h.session_down(&both(), &DownReason::ConnectionLost, &[V4, V6]);
        assert_eq!(h.restart_timer_expired(), vec![Flush(V4), Flush(V6)]);
        assert!(!h.is_active());

        let mut h = GrHelper::default();
        h.session_down(&both(), &DownReason::ConnectionLost, &[V4, V6]);
        h.session_up(&both(), TIMERS);
        h.end_of_rib(V4);
        assert_eq!(h.stale_timer_expired(), vec![SweepStale(V6)]);
        assert_eq!(
            h.restart_timer_expired(),
            vec![],
            "stale timer state is gone"
        );
    }

    #[test]
    fn restart_time_zero_means_no_retention() {
        let mut c = cap(true, &[(V4, true)]);
        c.restart_time = 0;
        let mut h = GrHelper::default();
        let out = h.session_down(
            &negotiated(Some(c), true),
            &DownReason::ConnectionLost,
            &[V4],
        );
        assert_eq!(out, vec![StopTimers, Flush(V4)]);
    }

    #[test]
    fn a_session_that_drops_again_while_refreshing_keeps_what_is_still_stale() {
        let mut h = GrHelper::default();
        h.session_down(&both(), &DownReason::ConnectionLost, &[V4, V6]);
        h.session_up(&both(), TIMERS);
        let out = h.session_down(&both(), &DownReason::ConnectionLost, &[V4, V6]);
        assert!(out.contains(&MarkStale(V4)) && out.contains(&MarkStale(V6)));
    }

    fn long_lived(mut n: Negotiated, families: &[(Family, bool, u32)]) -> Negotiated {
        use crate::wire::{LongLivedCap, LongLivedFamily};
        n.peer_long_lived = Some(LongLivedCap {
            families: families
                .iter()
                .map(|(f, fwd, secs)| LongLivedFamily::new(*f, *fwd, *secs))
                .collect(),
        });
        n
    }

    #[test]
    fn past_the_restart_time_llgr_keeps_routes_long_lived_per_family_then_flushes() {
        // RFC 9494 §4.2: V4 for 600 s, V6 for 60 s after the 120 s restart time.
        let n = long_lived(both(), &[(V4, true, 600), (V6, true, 60)]);
        let mut h = GrHelper::default();
        let out = h.session_down(&n, &DownReason::ConnectionLost, &[V4, V6]);
        assert_eq!(
            out,
            vec![
                StopTimers,
                MarkStale(V4),
                MarkStale(V6),
                StartRestartTimer(Duration::from_secs(120))
            ],
            "GR first, as without LLGR"
        );
        assert!(!h.is_long_lived());
        assert_eq!(
            h.restart_timer_expired(),
            vec![
                MarkLongLivedStale(V4),
                MarkLongLivedStale(V6),
                StartLongLivedTimer(Duration::from_secs(60))
            ]
        );
        assert!(h.is_long_lived());
        assert_eq!(h.stale_families(), vec![V4, V6]);
        assert_eq!(
            h.long_lived_timer_expired(),
            vec![Flush(V6), StartLongLivedTimer(Duration::from_secs(540))],
            "V6's time is over, V4 has 540 s left"
        );
        assert_eq!(h.long_lived_timer_expired(), vec![Flush(V4)]);
        assert!(!h.is_active());
    }

    #[test]
    fn a_family_without_llgr_is_flushed_at_the_restart_time_and_zero_restart_time_goes_long_lived_at_once(
    ) {
        let n = long_lived(both(), &[(V4, true, 600), (V6, true, 0)]);
        let mut h = GrHelper::default();
        h.session_down(&n, &DownReason::ConnectionLost, &[V4, V6]);
        assert_eq!(
            h.restart_timer_expired(),
            vec![
                Flush(V6),
                MarkLongLivedStale(V4),
                StartLongLivedTimer(Duration::from_secs(600))
            ],
            "a stale time of 0 is no LLGR for V6"
        );

        let mut zero = cap(true, &[(V4, true)]);
        zero.restart_time = 0;
        let n = long_lived(negotiated(Some(zero), true), &[(V4, true, 30)]);
        let mut h = GrHelper::default();
        assert_eq!(
            h.session_down(&n, &DownReason::ConnectionLost, &[V4, V6]),
            vec![
                StopTimers,
                Flush(V6),
                MarkLongLivedStale(V4),
                StartLongLivedTimer(Duration::from_secs(30))
            ]
        );
    }

    #[test]
    fn a_peer_back_during_the_long_lived_time_refreshes_its_routes_and_hard_reset_keeps_nothing() {
        let n = long_lived(both(), &[(V4, true, 600)]);
        let mut h = GrHelper::default();
        h.session_down(&n, &DownReason::ConnectionLost, &[V4]);
        h.restart_timer_expired();
        assert_eq!(
            h.session_up(&n, TIMERS),
            vec![StopTimers, StartStaleTimer(TIMERS.stale_path_time)]
        );
        assert!(!h.is_long_lived());
        assert_eq!(h.end_of_rib(V4), vec![SweepStale(V4), StopTimers]);
        assert_eq!(h.long_lived_timer_expired(), vec![], "its timer is void");

        // Back with F=0 in both capabilities: nothing to refresh with.
        let mut h = GrHelper::default();
        h.session_down(&n, &DownReason::ConnectionLost, &[V4]);
        h.restart_timer_expired();
        let lost = long_lived(
            negotiated(Some(cap(true, &[(V4, false)])), true),
            &[(V4, false, 600)],
        );
        assert_eq!(h.session_up(&lost, TIMERS), vec![StopTimers, Flush(V4)]);

        let hard = Notification::new(code::CEASE, cease::HARD_RESET);
        let mut h = GrHelper::default();
        let out = h.session_down(&n, &DownReason::NotificationReceived(hard), &[V4]);
        assert_eq!(out, vec![StopTimers, Flush(V4)]);
    }
}
