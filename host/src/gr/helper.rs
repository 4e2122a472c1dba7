//! The receiving speaker ("helper") side of Graceful Restart, per peer (RFC 4724 §4.2).
//!
//! ```text
//!                 session drops, GR-eligible
//!   Idle ───────────────────────────────────────► Retaining (restart timer)
//!    ▲  ▲                                           │        │ restart timer expires:
//!    │  │ not eligible / Hard Reset: flush now      │        └────► flush stale ─► Idle
//!    │  │                                           │ session back up
//!    │  │   new OPEN without GR, or family          ▼
//!    │  └── missing / F=0: flush those families ◄─ Refreshing (stale-path timer)
//!    │                                              │ End-of-RIB per family: sweep what stayed stale
//!    └──────────────── all families swept, or stale-path timer expires (sweep all) ◄┘
//! ```
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
    /// Drop every route of the family now.
    Flush(Family),
    /// Drop the routes of the family that are still stale (the peer refreshed the rest).
    SweepStale(Family),
    StartRestartTimer(Duration),
    StartStaleTimer(Duration),
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

    /// Families whose routes are kept stale right now.
    pub fn stale_families(&self) -> &[Family] {
        match &self.state {
            State::Idle => &[],
            State::Retaining { families } => families,
            State::Refreshing { pending } => pending,
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
        if !notification_is_graceful(n, reason) || restart_time == 0 {
            out.extend(with_routes.iter().map(|f| HelperAction::Flush(*f)));
            self.state = State::Idle;
            return out;
        }
        let mut kept = Vec::new();
        for f in with_routes {
            // Only families the peer listed in its capability are retained (RFC 4724 §4.2).
            if peer_cap.and_then(|c| c.forwarding_for(*f)).is_some() {
                out.push(HelperAction::MarkStale(*f));
                kept.push(*f);
            } else {
                out.push(HelperAction::Flush(*f));
            }
        }
        if kept.is_empty() {
            self.state = State::Idle;
        } else {
            out.push(HelperAction::StartRestartTimer(Duration::from_secs(
                restart_time as u64,
            )));
            self.state = State::Retaining { families: kept };
        }
        out
    }

    /// The session is Established again with a new OPEN.
    pub fn session_up(&mut self, n: &Negotiated, timers: HelperTimers) -> Vec<HelperAction> {
        let State::Retaining { families } = std::mem::take(&mut self.state) else {
            return Vec::new();
        };
        let mut out = vec![HelperAction::StopTimers];
        let mut pending = Vec::new();
        for f in families {
            // The new OPEN must list the family with F=1 for its stale routes to survive; a
            // peer that lost its forwarding state (F=0), dropped the family, or came back without
            // GR at all has nothing to refresh them with.
            let kept = n
                .peer_graceful_restart
                .as_ref()
                .and_then(|c| c.forwarding_for(f))
                == Some(true)
                && n.families.contains(&f);
            if kept {
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

    /// The peer did not come back within its restart time.
    pub fn restart_timer_expired(&mut self) -> Vec<HelperAction> {
        match std::mem::take(&mut self.state) {
            State::Retaining { families } => {
                families.into_iter().map(HelperAction::Flush).collect()
            }
            other => {
                self.state = other;
                Vec::new()
            }
        }
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
}
