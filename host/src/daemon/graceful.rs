//! Graceful Restart in the daemon: both roles applied to the RIB, the restart record, the
//! daemon's timers, and a graceful stop.
//!
//! Restart versus decommission: a process restart (SIGTERM, crash) never withdraws anything —
//! peers keep our routes for the restart time. Only removing a peer from the config, an explicit
//! hard reset, or a drain withdraws for real.

use super::{Daemon, Effects, PeerCommand, Timer};
use crate::api::events::kind;
use crate::fsm::{DownReason, Negotiated};
use crate::gr::{DeferralEnd, HelperAction, HelperTimers, RestartRecord, RestartState};
use crate::wire::notification::cease;
use crate::wire::{Family, Notification};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

impl Daemon {
    pub(super) fn on_timer(&mut self, timer: Timer, fx: &mut dyn Effects) {
        match timer {
            Timer::HelperRestart { peer, token }
            | Timer::HelperStale { peer, token }
            | Timer::HelperLongLived { peer, token }
                if self
                    .peers
                    .get(&peer)
                    .is_none_or(|p| p.gr.helper_token != token) => {}
            Timer::HelperRestart { peer, .. } => {
                let Some(p) = self.peers.get_mut(&peer) else {
                    return;
                };
                let actions = p.gr.helper.restart_timer_expired();
                if p.gr.helper.is_long_lived() {
                    warn!(peer = %peer, families = ?p.gr.helper.stale_families(), "peer did not come back within its restart time; keeping its routes as LLGR_STALE, least preferred (long-lived GR)");
                } else {
                    warn!(peer = %peer, "peer did not come back within its restart time; dropping its stale routes");
                }
                super::emit(fx, || {
                    kind::graceful_restart(&peer, "restart-time-expired", None)
                });
                self.apply_helper(&peer, actions, fx);
            }
            Timer::HelperLongLived { peer, .. } => {
                let Some(p) = self.peers.get_mut(&peer) else {
                    return;
                };
                let actions = p.gr.helper.long_lived_timer_expired();
                warn!(peer = %peer, "long-lived stale time over; dropping the peer's LLGR_STALE routes");
                super::emit(fx, || kind::graceful_restart(&peer, "stale-flushed", None));
                self.apply_helper(&peer, actions, fx);
            }
            Timer::HelperStale { peer, .. } => {
                let Some(p) = self.peers.get_mut(&peer) else {
                    return;
                };
                warn!(peer = %peer, "no End-of-RIB within the stale-path time; dropping what is still stale");
                super::emit(fx, || kind::graceful_restart(&peer, "stale-flushed", None));
                let actions = p.gr.helper.stale_timer_expired();
                self.apply_helper(&peer, actions, fx);
            }
            Timer::RestartWindowClosed => {
                if self.own_restart.close_window() {
                    info!("restart window closed: OPENs no longer carry the Restart State bit");
                    self.push_settings(fx);
                }
            }
            Timer::SelectionDeferralExpired => {
                let waiting = self.own_restart.deferral.waiting_for();
                if let Some(end) = self.own_restart.deferral.timer_expired() {
                    warn!(waiting = ?waiting, "selection deferral time over without End-of-RIB from every GR peer");
                    self.deferral_ended(end, fx);
                }
            }
            Timer::Heartbeat => {
                self.write_record(false, fx);
                fx.arm(crate::gr::restart::HEARTBEAT, Timer::Heartbeat);
            }
            Timer::DrainWithdraw { token } => self.drain_withdraw(token, fx),
            Timer::BfdRecovery { peer, token } => self.bfd_recovery_over(&peer, token, fx),
            Timer::FirstVerdicts => self.first_verdicts_overdue(fx),
        }
    }

    /// Reads the record the last run left and decides on R (RFC 4724 §4.1).
    pub(super) fn begin_restart_state(
        &mut self,
        record: Option<&RestartRecord>,
        fx: &mut dyn Effects,
    ) {
        let state = RestartRecord::classify(record, self.clock.unix_at_start());
        self.telemetry.restarts = record.map_or(0, |r| r.restarts) + state.is_restarting() as u64;
        match state {
            RestartState::Restarting {
                down_for,
                remaining,
                clean_stop,
            } => {
                info!(down_secs = down_for.as_secs(), remaining_secs = remaining.as_secs(), clean_stop, "this start is a graceful restart: OPENs carry R=1, peers keep our routes until our End-of-RIB");
                fx.arm(remaining, Timer::RestartWindowClosed);
                let gr_peers: BTreeSet<Arc<str>> = self
                    .config
                    .peers()
                    .filter(|p| p.graceful_restart)
                    .map(|p| p.name().into())
                    .collect();
                if !gr_peers.is_empty() {
                    // Our own announcements are not held back by this: only the choice among
                    // received routes waits, so a peer that waits for us cannot deadlock us.
                    info!(
                        peers = gr_peers.len(),
                        "route selection deferred until End-of-RIB from every GR peer"
                    );
                }
                self.own_restart.begin(gr_peers);
            }
            RestartState::Fresh => info!("fresh start (no restart within the restart time)"),
        }
    }

    /// Arms the selection deferral timer once the peers (and their GR profiles) are known:
    /// the longest `selection_deferral_time` any GR peer's profile asks for, or the config's.
    pub(super) fn arm_deferral_timer(&mut self, fx: &mut dyn Effects) {
        if !self.own_restart.deferral.is_deferring() {
            return;
        }
        let global = self.config.global.selection_deferral_time;
        let secs = self
            .peers
            .values()
            .filter(|p| p.cfg.graceful_restart)
            .map(|p| {
                p.gr.timers
                    .as_ref()
                    .map_or(global, |t| t.selection_deferral_time)
            })
            .max()
            .unwrap_or(global);
        info!(secs, "selection deferral timer armed");
        fx.arm(
            Duration::from_secs(secs as u64),
            Timer::SelectionDeferralExpired,
        );
    }

    pub(super) fn deferral_ended(&mut self, end: DeferralEnd, fx: &mut dyn Effects) {
        super::emit(fx, || kind::graceful_restart("", "deferral-ended", None));
        // Routes are kept in the RIB as they come; what waited is that none counted as best.
        info!(
            why = ?end,
            prefixes = self.ingest.rib().prefixes(),
            since_start_ms = self.clock.since_start().as_millis() as u64,
            "selection deferral over: best routes selected"
        );
    }

    pub(super) fn write_record(&self, clean_stop: bool, fx: &mut dyn Effects) {
        let families: BTreeSet<String> = self
            .peers
            .values()
            .filter_map(|p| p.open_settings(&self.config.global, false).graceful_restart)
            .flat_map(|g| g.families)
            .filter(|f| f.forwarding_preserved)
            .filter_map(|f| f.family().map(|f| f.name().to_string()))
            .collect();
        fx.store_record(RestartRecord {
            alive_at: self.clock.unix_now(),
            clean_stop,
            restart_time: self.config.global.restart_time.0,
            families: families.into_iter().collect(),
            long_lived_stale_time: self
                .peers
                .values()
                .filter_map(|p| p.open_settings(&self.config.global, false).long_lived)
                .flat_map(|l| l.families)
                .map(|f| f.stale_time)
                .max()
                .unwrap_or(0),
            restarts: self.telemetry.restarts,
            health_overrides: self.health.overrides(),
            health_checks: self.health.saved(self.now_ms()),
        });
    }

    /// Sends every session its settings for the next OPEN (R bit, timers).
    pub(super) fn push_settings(&self, fx: &mut dyn Effects) {
        for (name, p) in &self.peers {
            let settings = p.open_settings(&self.config.global, self.own_restart.restarting());
            fx.command(name, PeerCommand::Settings(settings));
        }
    }

    /// Stops every session for a process stop. Routes stay at peers that negotiated GR:
    /// without the N bit the TCP connection is closed with no NOTIFICATION (RFC 4724 §4); with
    /// N, a Cease/Administrative Reset, which RFC 8538 §4 treats as graceful (never Hard Reset,
    /// never Peer De-configured or Administrative Shutdown, which implementations treat as
    /// de-configuration). Peers without GR get an Administrative Shutdown.
    pub fn shutdown(&mut self, fx: &mut dyn Effects) {
        for (name, p) in &self.peers {
            let gr = p.graceful_restart_negotiated();
            let n_bit = p.negotiated().is_some_and(Negotiated::notification_gr);
            let notification = match (gr, n_bit) {
                (true, true) => Some(Notification::cease_with_message(
                    cease::ADMIN_RESET,
                    "gracewire restarting",
                )),
                (true, false) => None,
                (false, _) => Some(crate::fsm::admin_shutdown("gracewire is shutting down")),
            };
            info!(peer = %name, graceful_restart = gr, notification = ?notification, "stopping session");
            fx.command(name, PeerCommand::Stop(notification));
        }
        self.write_record(true, fx);
    }

    /// The Cease to send when a peer is decommissioned: with N negotiated RFC 8538 §5.1 wants a
    /// Hard Reset (its data carrying the real subcode), so the peer flushes instead of waiting.
    pub(super) fn decommission_notice(
        n: Option<&Negotiated>,
        subcode: u8,
        why: &str,
    ) -> Notification {
        Self::hard_reset_if_n(n, Notification::cease_with_message(subcode, why))
    }

    /// `inner` inside a Hard Reset when N is negotiated (RFC 8538 §3), so the peer flushes
    /// whatever the Cease: a plain Cease is a graceful end to a peer with N.
    pub(super) fn hard_reset_if_n(n: Option<&Negotiated>, inner: Notification) -> Notification {
        if n.is_some_and(Negotiated::notification_gr) {
            Notification::hard_reset(&inner)
        } else {
            inner
        }
    }

    /// Session down: the helper decides what happens to the peer's routes.
    pub(super) fn helper_session_down(
        &mut self,
        name: &Arc<str>,
        n: &Negotiated,
        reason: &DownReason,
        fx: &mut dyn Effects,
    ) {
        let Some(p) = self.peers.get_mut(name) else {
            return;
        };
        let with_routes: Vec<Family> = Family::ALL
            .into_iter()
            .filter(|f| self.ingest.rib().count(p.rib_id, *f) > 0)
            .collect();
        let actions = p.gr.helper.session_down(n, reason, &with_routes);
        if p.gr.helper.is_active() {
            info!(peer = %name, families = ?p.gr.helper.stale_families(), "peer restarting: keeping its routes as stale (GR helper)");
            super::emit(fx, || {
                let families = p.gr.helper.stale_families();
                let families = families.iter().map(|f| f.to_string()).collect::<Vec<_>>();
                kind::graceful_restart(name, "helper-started", Some(families.join(",")))
            });
        }
        self.apply_helper(name, actions, fx);
    }

    pub(super) fn helper_session_up(&mut self, name: &Arc<str>, fx: &mut dyn Effects) {
        let Some(p) = self.peers.get_mut(name) else {
            return;
        };
        let timers = HelperTimers {
            stale_path_time: Duration::from_secs(p.stale_path_time(&self.config.global) as u64),
        };
        let Some(up) = &p.up else { return };
        let actions = p.gr.helper.session_up(&up.negotiated, timers);
        for a in &actions {
            if let HelperAction::Flush(f) = a {
                info!(peer = %name, family = %f, "peer came back without GR for this family or with F=0: its stale routes dropped at once");
            }
        }
        self.apply_helper(name, actions, fx);
    }

    pub(super) fn on_end_of_rib(&mut self, name: &Arc<str>, family: Family, fx: &mut dyn Effects) {
        let Some(p) = self.peers.get_mut(name) else {
            return;
        };
        if let Some(up) = p.up.as_mut() {
            up.eor_received.insert(family);
        }
        let was_helping = p.gr.helper.is_active();
        let actions = p.gr.helper.end_of_rib(family);
        let helped = was_helping && !p.gr.helper.is_active();
        self.apply_helper(name, actions, fx);
        if helped {
            super::emit(fx, || {
                kind::graceful_restart(name, "helper-ended", Some(family.to_string()))
            });
        }
        if let Some(end) = self.own_restart.deferral.end_of_rib(name, family) {
            self.deferral_ended(end, fx);
        }
    }

    pub(super) fn apply_helper(
        &mut self,
        name: &Arc<str>,
        actions: Vec<HelperAction>,
        fx: &mut dyn Effects,
    ) {
        let now = self.clock.now();
        for action in actions {
            let Some(p) = self.peers.get_mut(name) else {
                return;
            };
            let id = p.rib_id;
            match action {
                HelperAction::MarkStale(f) => {
                    self.ingest.mark_stale(id, f);
                }
                HelperAction::MarkLongLivedStale(f) => {
                    let dropped = self.ingest.keep_long_lived(id, f);
                    if !dropped.is_empty() {
                        info!(peer = %name, family = %f, routes = dropped.len(), "routes with NO_LLGR dropped: not kept long-lived");
                    }
                }
                HelperAction::Flush(f) => {
                    self.ingest.remove_family(id, f);
                }
                HelperAction::SweepStale(f) => {
                    let gone = self.ingest.sweep_stale(id, f);
                    if !gone.is_empty() {
                        info!(peer = %name, family = %f, routes = gone.len(), "stale routes the peer did not refresh dropped");
                    }
                }
                HelperAction::StartRestartTimer(d) => {
                    arm_helper_timer(p, d, fx, |token| Timer::HelperRestart {
                        peer: name.clone(),
                        token,
                    });
                }
                HelperAction::StartStaleTimer(d) => {
                    p.gr.stale_until = Some(now + d);
                    arm_helper_timer(p, d, fx, |token| Timer::HelperStale {
                        peer: name.clone(),
                        token,
                    });
                }
                HelperAction::StartLongLivedTimer(d) => {
                    arm_helper_timer(p, d, fx, |token| Timer::HelperLongLived {
                        peer: name.clone(),
                        token,
                    });
                }
                HelperAction::StopTimers => {
                    p.gr.helper_token += 1;
                }
            }
        }
        self.collect_interners(false);
    }
}

/// Arms one of the helper's timers; a new token voids whichever was armed before.
fn arm_helper_timer(
    p: &mut super::peer::PeerState,
    after: Duration,
    fx: &mut dyn Effects,
    timer: impl FnOnce(u64) -> Timer,
) {
    p.gr.helper_token += 1;
    fx.arm(after, timer(p.gr.helper_token));
}
