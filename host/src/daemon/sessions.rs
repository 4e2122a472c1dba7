//! Peers coming and going, and what their sessions report: up, down, UPDATEs, refreshes.

use super::peer::{PeerState, Totals, Up};
use super::{Daemon, Effects, PeerCommand};
use crate::api::events::kind;
use crate::config::Peer;
use crate::fsm::{DownReason, State};
use crate::policy::plugins::GrTimers;
use crate::policy::PeerView;
use crate::rib::PathSource;
use crate::session::{SessionConfig, SessionEvent, SessionEventKind};
use std::collections::BTreeSet;
use std::sync::Arc;
use tracing::{info, warn};

impl Daemon {
    /// Configures a peer and starts its session. `gr_profile`: the GR profile's answer for a
    /// peer not yet up, when it can be asked synchronously (at start).
    pub(super) fn start_peer(
        &mut self,
        cfg: Peer,
        totals: Totals,
        gr_profile: &dyn Fn(&PeerView) -> Option<GrTimers>,
        fx: &mut dyn Effects,
    ) {
        let name: Arc<str> = cfg.name().into();
        let session_id = self.token();
        let mut peer = PeerState::new(cfg, session_id, self.ingest.add_peer(), totals);
        peer.gr.timers = gr_profile(&peer.view(&name, &self.config.global));
        info!(peer = %name, remote = %peer.cfg.remote(), asn = %peer.cfg.asn, passive = peer.cfg.passive, "peer configured");
        fx.spawn_session(SessionConfig {
            id: session_id,
            name: name.clone(),
            remote: peer.cfg.remote(),
            local_address: peer.cfg.local_address,
            passive: peer.cfg.passive,
            connect_retry: peer.cfg.connect_retry(),
            open_hold_time: peer.cfg.open_hold_time(),
            settings: peer.open_settings(&self.config.global, self.own_restart.restarting()),
            counters: peer.totals.messages.clone(),
            transport: peer.transport(self.config.global.asn.0),
            send_hold_time: peer
                .cfg
                .send_hold_time
                .map(|s| std::time::Duration::from_secs(s.into())),
        });
        self.peers.insert(name.clone(), peer);
        self.sync_bfd(&name, fx);
    }

    /// Stops a peer's session for good (de-configured): the peer withdraws our routes, and its
    /// routes leave the RIB.
    pub(super) fn remove_peer(
        &mut self,
        name: &Arc<str>,
        subcode: u8,
        why: &str,
        fx: &mut dyn Effects,
    ) {
        let Some(peer) = self.peers.remove(name) else {
            return;
        };
        let notification = Self::decommission_notice(peer.negotiated(), subcode, why);
        fx.command(name, PeerCommand::Stop(Some(notification)));
        if peer.bfd.is_some() {
            fx.bfd(crate::bfd::io::Command::Remove(name.clone()));
        }
        self.ingest.remove_peer(peer.rib_id);
        if let Some(end) = self.own_restart.deferral.peer_gone(name) {
            self.deferral_ended(end, fx);
        }
        info!(peer = %name, reason = why, "peer removed");
        drop(peer);
        self.collect_interners(true);
    }

    pub(super) fn on_session_event(&mut self, ev: SessionEvent, fx: &mut dyn Effects) {
        let Some(peer) = self.peers.get_mut(&ev.peer) else {
            return;
        };
        if peer.session_id != ev.session {
            return; // from the task of a peer since removed and configured again
        }
        let name = ev.peer;
        match ev.kind {
            SessionEventKind::State(s) => {
                let changed = peer.fsm_state != s;
                peer.fsm_state = s;
                peer.attempted |= s != State::Idle;
                if changed {
                    super::emit(fx, || kind::session(&name, &format!("{s:?}"), None));
                }
            }
            SessionEventKind::Established {
                negotiated,
                local,
                remote,
                resumed,
            } => {
                if peer.up.is_some() {
                    // Up twice without a down in between: the first one is gone.
                    self.session_down(&name, DownReason::ConnectionLost, fx);
                }
                let Some(peer) = self.peers.get_mut(&name) else {
                    return;
                };
                let epoch = self.clock.token();
                let source = Arc::new(PathSource {
                    peer: name.to_string(),
                    peer_address: remote.ip(),
                    peer_router_id: negotiated.remote_id,
                    ibgp: negotiated.remote_asn == self.config.global.asn.0,
                });
                self.ingest.set_source(peer.rib_id, source);
                peer.fsm_state = State::Established;
                peer.attempted = true;
                super::emit(fx, || kind::session(&name, "Established", None));
                peer.totals.established += 1;
                peer.up = Some(Up {
                    epoch,
                    since: self.clock.now(),
                    negotiated: *negotiated,
                    local,
                    eor_sent: None,
                    eor_received: BTreeSet::new(),
                    limit_warned: BTreeSet::new(),
                    limit_reset: false,
                    applied: None,
                });
                peer.adj_out.clear();
                if let Some(resumed) = resumed {
                    self.resume_tables(&name, *resumed, fx);
                }
                let Some(peer) = self.peers.get_mut(&name) else {
                    return;
                };
                let first_since_restart = !peer.gr.up_once && self.own_restart.restarting();
                peer.gr.up_once = true;
                if first_since_restart {
                    // R=1 was for this first session only; a later flap is no restart.
                    let settings =
                        peer.open_settings(&self.config.global, self.own_restart.restarting());
                    fx.command(&name, PeerCommand::Settings(settings));
                }
                self.helper_session_up(&name, fx);
                if let Some(n) = self.peers.get(&name).and_then(|p| p.negotiated()) {
                    if let Some(end) = self.own_restart.deferral.session_up(&name, n) {
                        self.deferral_ended(end, fx);
                    }
                }
                self.refresh_gr_timers(&name, fx);
                self.evaluate(&name, fx);
            }
            SessionEventKind::Down(reason) => {
                self.session_down(&name, reason, fx);
                self.collect_interners(false);
            }
            SessionEventKind::Update(u) => {
                if peer.up.is_none() {
                    return; // queued before the session went down
                }
                peer.updates_received += 1;
                let families: Vec<_> = u.announced_families();
                self.ingest(&name, *u, fx);
                self.check_prefix_limits(&name, &families, fx);
            }
            SessionEventKind::RouteRefresh(rr) => self.on_route_refresh(&name, rr, fx),
        }
    }

    /// The session is down: nothing may take it for up any more, and the GR helper decides
    /// what becomes of the peer's routes.
    fn session_down(&mut self, name: &Arc<str>, reason: DownReason, fx: &mut dyn Effects) {
        let Some(peer) = self.peers.get_mut(name) else {
            return;
        };
        let Some(up) = peer.up.take() else {
            // Refused before Established (an OPEN error either way): only the reason.
            peer.last_error = Some(describe_down(&reason));
            return;
        };
        peer.fsm_state = State::Idle;
        peer.last_error = Some(describe_down(&reason));
        super::emit(fx, || {
            kind::session(name, "Idle", Some(describe_down(&reason)))
        });
        peer.adj_out.clear();
        if matches!(reason, DownReason::NotificationReceived(_)) {
            warn!(peer = %name, reason = %describe_down(&reason), "session down");
        }
        self.helper_session_down(name, &up.negotiated, &reason, fx);
        if let Some(end) = self.own_restart.deferral.peer_gone(name) {
            self.deferral_ended(end, fx);
        }
    }
}

fn describe_down(reason: &DownReason) -> String {
    match reason {
        DownReason::ConnectionLost => "connection lost".into(),
        DownReason::HoldTimerExpired => "hold timer expired".into(),
        // The peer refuses what we sent: say what to look at, not only its NOTIFICATION.
        DownReason::NotificationReceived(n)
            if n.code == crate::wire::notification::code::UPDATE_MESSAGE =>
        {
            let hint = match n.subcode {
                crate::wire::notification::update::INVALID_NEXT_HOP => {
                    "; the peer refuses the next hop we send (check [[announce]] next_hop and the plugin's)"
                }
                _ => "; the peer refuses an UPDATE we sent (reconnects back off until it takes them)",
            };
            crate::bounds::reached(
                crate::bounds::Limit::RefusedUpdates,
                "a peer ended a session for our UPDATEs; its reconnects back off",
            );
            format!("received {n}{hint}")
        }
        DownReason::NotificationReceived(n) => format!("received {n}"),
        DownReason::NotificationSent(n) => format!("sent {n}"),
        DownReason::SilentStop => "stopped".into(),
    }
}
