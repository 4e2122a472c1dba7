//! Graceful Restart and the operator actions around it: the helper role applied to the RIBs,
//! the restart record, a graceful stop, drain (RFC 8326) and explicit resets.
//!
//! Restart versus decommission: a process restart (SIGTERM, crash) never withdraws anything —
//! peers keep our routes for the restart time. Only removing a peer from the config, an explicit
//! hard reset, or a drain withdraws for real.

use super::{local_settings, Daemon, DrainPhase, Timer};
use crate::api::ControlResponse;
use crate::fsm::{DownReason, Negotiated};
use crate::gr::restart::unix_now;
use crate::gr::{HelperAction, HelperTimers, RestartRecord, RestartState};
use crate::session::SessionCommand;
use crate::wire::notification::{cease, code};
use crate::wire::{Family, Notification};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tracing::{error, info, warn};

impl Daemon {
    pub(super) fn arm(&self, after: Duration, timer: Timer) {
        let tx = self.timers_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(timer);
        });
    }

    pub(super) fn on_timer(&mut self, timer: Timer) {
        let is_restart_timer = matches!(timer, Timer::HelperRestart { .. });
        match timer {
            Timer::HelperRestart { peer, token } | Timer::HelperStale { peer, token } => {
                let Some(p) = self.peers.get_mut(&peer) else {
                    return;
                };
                if p.helper_token != token {
                    return; // re-armed or stopped since
                }
                let actions = if is_restart_timer {
                    warn!(peer = %peer, "peer did not come back within its restart time; dropping its stale routes");
                    p.helper.restart_timer_expired()
                } else {
                    warn!(peer = %peer, "no End-of-RIB within the stale-path time; dropping what is still stale");
                    p.helper.stale_timer_expired()
                };
                self.apply_helper(&peer, actions);
            }
            Timer::RestartWindowClosed => {
                if self.restarting {
                    info!("restart window closed: OPENs no longer carry the Restart State bit");
                    self.restarting = false;
                    self.push_settings();
                }
            }
            Timer::SelectionDeferralExpired => {
                if let Some(waiting) = &self.deferral {
                    warn!(waiting = ?waiting, "selection deferral time over without End-of-RIB from every GR peer");
                    self.end_deferral();
                }
            }
            Timer::Heartbeat => {
                self.write_record(false);
                self.arm(crate::gr::restart::HEARTBEAT, Timer::Heartbeat);
            }
            Timer::DrainWithdraw { token } => {
                if let DrainPhase::Announcing { token: t, .. } = &self.drain {
                    if *t == token {
                        let DrainPhase::Announcing { waiting, .. } =
                            std::mem::replace(&mut self.drain, DrainPhase::Withdrawn)
                        else {
                            unreachable!()
                        };
                        info!("drain: withdrawing every route");
                        self.evaluate_all();
                        for w in waiting {
                            let _ = w.send(ControlResponse::Done {
                                message: "drained: routes withdrawn".into(),
                            });
                        }
                    }
                }
            }
        }
    }

    /// Called once at start: reads the record the last run left and decides on R.
    pub(super) fn start_restart_state(&mut self) {
        let state_dir = self.config.global.state_dir.clone();
        let state = RestartRecord::classify(RestartRecord::load(&state_dir).as_ref(), unix_now());
        match state {
            RestartState::Restarting {
                down_for,
                remaining,
                clean_stop,
            } => {
                info!(down_secs = down_for.as_secs(), remaining_secs = remaining.as_secs(), clean_stop, "this start is a graceful restart: OPENs carry R=1, peers keep our routes until our End-of-RIB");
                self.restarting = true;
                self.arm(remaining, Timer::RestartWindowClosed);
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
                    self.deferral = Some(gr_peers);
                    let deferral =
                        Duration::from_secs(self.config.global.selection_deferral_time as u64);
                    self.arm(deferral, Timer::SelectionDeferralExpired);
                }
            }
            RestartState::Fresh => info!("fresh start (no restart within the restart time)"),
        }
        self.write_record(false);
        self.arm(crate::gr::restart::HEARTBEAT, Timer::Heartbeat);
    }

    pub(super) fn write_record(&self, clean_stop: bool) {
        let families: std::collections::BTreeSet<String> = self
            .peers
            .values()
            .filter(|p| p.cfg.graceful_restart)
            .flat_map(|p| {
                let l = local_settings(&self.config.global, &p.cfg, false, p.gr_timers.as_ref());
                l.graceful_restart.map(|g| g.families).unwrap_or_default()
            })
            .filter(|f| f.forwarding_preserved)
            .filter_map(|f| f.family().map(|f| f.name().to_string()))
            .collect();
        let record = RestartRecord {
            alive_at: unix_now(),
            clean_stop,
            restart_time: self.config.global.restart_time.0,
            families: families.into_iter().collect(),
        };
        if let Err(e) = record.store(&self.config.global.state_dir) {
            error!(error = %e, "cannot write the restart record to state_dir; a restart will look fresh to us");
        }
    }

    /// Sends every session its settings for the next OPEN (R bit, timers).
    pub(super) fn push_settings(&self) {
        for p in self.peers.values() {
            let settings = local_settings(
                &self.config.global,
                &p.cfg,
                self.restarting && !p.up_once,
                p.gr_timers.as_ref(),
            );
            let _ = p.commands.send(SessionCommand::Settings(settings));
        }
    }

    /// Stops every session for a process stop. Routes stay at peers that negotiated GR:
    /// without the N bit the TCP connection is closed with no NOTIFICATION (RFC 4724 §4); with
    /// N, a Cease/Administrative Reset, which RFC 8538 §4 treats as graceful (never Hard Reset,
    /// never Peer De-configured or Administrative Shutdown, which implementations treat as
    /// de-configuration). Peers without GR get an Administrative Shutdown.
    pub(super) async fn shutdown(&mut self) {
        let mut waits = Vec::new();
        for (name, p) in &self.peers {
            let n = p.negotiated.as_ref();
            let gr = n.is_some_and(|n| {
                n.peer_graceful_restart.is_some() && n.local_graceful_restart.is_some()
            });
            let notification = match (gr, n.is_some_and(Negotiated::notification_gr)) {
                (true, true) => Some(Notification::cease_with_message(
                    cease::ADMIN_RESET,
                    "gracewire restarting",
                )),
                (true, false) => None,
                (false, _) => Some(crate::fsm::admin_shutdown("gracewire is shutting down")),
            };
            info!(peer = %name, graceful_restart = gr, notification = ?notification, "stopping session");
            let (done, wait) = oneshot::channel();
            if p.commands
                .send(SessionCommand::Stop { notification, done })
                .is_ok()
            {
                waits.push(wait);
            }
        }
        for w in waits {
            let _ = tokio::time::timeout(Duration::from_secs(3), w).await;
        }
        for p in self.peers.values() {
            p.task.abort();
        }
        self.write_record(true);
    }

    /// The Cease to send when a peer is decommissioned: with N negotiated RFC 8538 §5.1 wants a
    /// Hard Reset (its data carrying the real subcode), so the peer flushes instead of waiting.
    pub(super) fn decommission_notice(
        n: Option<&Negotiated>,
        subcode: u8,
        why: &str,
    ) -> Notification {
        let inner = Notification::cease_with_message(subcode, why);
        if n.is_some_and(Negotiated::notification_gr) {
            let mut data = vec![inner.code, inner.subcode];
            data.extend_from_slice(&inner.data);
            Notification::with_data(code::CEASE, cease::HARD_RESET, data)
        } else {
            inner
        }
    }

    /// Session down: decide with the helper what happens to the peer's routes.
    pub(super) fn helper_session_down(
        &mut self,
        name: &Arc<str>,
        n: &Negotiated,
        reason: &DownReason,
    ) {
        let Some(p) = self.peers.get_mut(name) else {
            return;
        };
        let with_routes: Vec<Family> = Family::ALL
            .into_iter()
            .filter(|f| self.rib.count(p.rib_id, *f) > 0)
            .collect();
        let actions = p.helper.session_down(n, reason, &with_routes);
        if p.helper.is_active() {
            info!(peer = %name, families = ?p.helper.stale_families(), "peer restarting: keeping its routes as stale (GR helper)");
        }
        self.apply_helper(name, actions);
    }

    pub(super) fn helper_session_up(&mut self, name: &Arc<str>) {
        let Some(p) = self.peers.get_mut(name) else {
            return;
        };
        let stale = p
            .gr_timers
            .as_ref()
            .map_or(self.config.global.stale_path_time, |g| g.stale_path_time);
        let timers = HelperTimers {
            stale_path_time: Duration::from_secs(stale as u64),
        };
        let Some(n) = p.negotiated.clone() else {
            return;
        };
        let actions = p.helper.session_up(&n, timers);
        for a in &actions {
            if let HelperAction::Flush(f) = a {
                info!(peer = %name, family = %f, "peer came back without GR for this family or with F=0: its stale routes dropped at once");
            }
        }
        self.apply_helper(name, actions);
    }

    pub(super) fn on_end_of_rib(&mut self, name: &Arc<str>, family: Family) {
        let Some(p) = self.peers.get_mut(name) else {
            return;
        };
        p.eor_received.insert(family);
        let actions = p.helper.end_of_rib(family);
        self.apply_helper(name, actions);
    }

    /// Selection deferral is over: build the Loc-RIB from every Adj-RIB-In.
    fn end_deferral(&mut self) {
        // Routes are kept in the RIB as they come; what waited is that none counted as best.
        self.deferral = None;
    }

    fn apply_helper(&mut self, name: &Arc<str>, actions: Vec<HelperAction>) {
        for action in actions {
            let Some(p) = self.peers.get_mut(name) else {
                return;
            };
            let id = p.rib_id;
            match action {
                HelperAction::MarkStale(f) => {
                    self.rib.mark_stale(id, f);
                }
                HelperAction::Flush(f) => {
                    self.rib.remove_family(id, f);
                }
                HelperAction::SweepStale(f) => {
                    let gone = self.rib.sweep_stale(id, f);
                    if !gone.is_empty() {
                        info!(peer = %name, family = %f, routes = gone.len(), "stale routes the peer did not refresh dropped");
                    }
                }
                HelperAction::StartRestartTimer(d) => {
                    p.helper_token += 1;
                    let timer = Timer::HelperRestart {
                        peer: name.clone(),
                        token: p.helper_token,
                    };
                    self.arm(d, timer);
                }
                HelperAction::StartStaleTimer(d) => {
                    p.helper_token += 1;
                    let timer = Timer::HelperStale {
                        peer: name.clone(),
                        token: p.helper_token,
                    };
                    self.arm(d, timer);
                }
                HelperAction::StopTimers => {
                    p.helper_token += 1;
                }
            }
        }
        self.route_interner.collect();
    }

    /// Drain (RFC 8326): re-announce with GRACEFUL_SHUTDOWN, wait, withdraw. `reply` is answered
    /// once the withdrawals are sent.
    pub(super) fn start_drain(
        &mut self,
        wait: Duration,
        reply: Option<oneshot::Sender<ControlResponse>>,
    ) {
        match &mut self.drain {
            DrainPhase::Withdrawn => {
                if let Some(r) = reply {
                    let _ = r.send(ControlResponse::Done {
                        message: "already drained".into(),
                    });
                }
                return;
            }
            DrainPhase::Announcing { waiting, .. } => {
                waiting.extend(reply);
                return;
            }
            DrainPhase::Off => {}
        }
        self.drain_token += 1;
        info!(
            wait_secs = wait.as_secs(),
            "drain: announcing every route with GRACEFUL_SHUTDOWN (65535:0)"
        );
        self.drain = DrainPhase::Announcing {
            token: self.drain_token,
            waiting: reply.into_iter().collect(),
        };
        self.arm(
            wait,
            Timer::DrainWithdraw {
                token: self.drain_token,
            },
        );
        self.evaluate_all();
    }

    pub(super) fn undrain(&mut self) {
        if !matches!(self.drain, DrainPhase::Off) {
            info!("undrain: announcing routes normally again");
            if let DrainPhase::Announcing { waiting, .. } =
                std::mem::replace(&mut self.drain, DrainPhase::Off)
            {
                for w in waiting {
                    let _ = w.send(ControlResponse::Error {
                        error: "drain cancelled".into(),
                    });
                }
            }
            self.evaluate_all();
        }
    }

    /// Operator reset of one session. Hard: the peer flushes our routes (RFC 8538 Hard Reset
    /// when N is negotiated). Soft: a Cease/Administrative Reset, which a GR peer with N treats
    /// as a restart.
    pub(super) fn reset_peer(&mut self, name: &str, hard: bool) -> ControlResponse {
        let Some((key, p)) = self.peers.iter().find(|(k, _)| k.as_ref() == name) else {
            return ControlResponse::Error {
                error: format!("no peer named `{name}`"),
            };
        };
        let notification = if hard {
            Self::decommission_notice(
                p.negotiated.as_ref(),
                cease::ADMIN_RESET,
                "hard reset by operator",
            )
        } else {
            Notification::cease_with_message(cease::ADMIN_RESET, "reset by operator")
        };
        info!(peer = %key, hard, "operator reset");
        let _ = p.commands.send(SessionCommand::Reset(notification));
        ControlResponse::Done {
            message: format!("peer {name} reset ({})", if hard { "hard" } else { "soft" }),
        }
    }
}
