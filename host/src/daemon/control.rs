//! Operator actions: control requests, drain (RFC 8326) and explicit resets.

use super::leaving::DrainStart;
use super::{Daemon, Effects, PeerCommand, ReplyTo, Timer};
use crate::api::events::kind;
use crate::api::{Code, ControlRequest, ControlResponse};
use crate::sources::Change;
use crate::wire::notification::cease;
use crate::wire::{Message, Notification, RefreshKind, RouteRefresh};
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

impl Daemon {
    pub(super) fn on_control(
        &mut self,
        request: ControlRequest,
        reply: ReplyTo,
        fx: &mut dyn Effects,
    ) {
        let answer = match request {
            ControlRequest::Drain {
                if_marked: true, ..
            } if !self.leaving.marked_for_decommission() => ControlResponse::Done {
                message: "not marked for decommission: nothing drained (a stop now is a \
                              graceful restart)"
                    .into(),
            },
            ControlRequest::Drain { wait_secs, .. } => {
                let wait = wait_secs.unwrap_or(self.config.global.drain_wait as u64);
                return self.start_drain(Duration::from_secs(wait), Some(reply), fx);
            }
            ControlRequest::Decommission => {
                info!("marked for decommission: `drain --if-marked` will drain");
                self.leaving.mark_decommission();
                ControlResponse::Done {
                    message: "marked for decommission: the preStop hook's `gracewire drain \
                              --if-marked` will drain before the stop"
                        .into(),
                }
            }
            ControlRequest::Refresh {
                peer,
                inbound,
                outbound,
            } => self.refresh(&peer, inbound, outbound, fx),
            ControlRequest::Undrain => {
                self.undrain(fx);
                ControlResponse::Done {
                    message: "routes announced normally".into(),
                }
            }
            ControlRequest::Reset { peer, hard } => self.reset_peer(&peer, hard, fx),
            ControlRequest::Plan {
                config,
                plugins,
                health,
            } => match self.health.suppose(&health) {
                Ok(supposed) => return self.start_plan(reply, config, plugins, supposed, fx),
                Err(error) => ControlResponse::error(Code::NotFound, error),
            },
            ControlRequest::Neighbors => ControlResponse::Neighbors(self.peer_summaries()),
            ControlRequest::Plugins => ControlResponse::Plugins(self.plugin_views()),
            ControlRequest::Health => ControlResponse::Health(self.health.views(self.now_ms())),
            ControlRequest::HealthSet { check, forced } => {
                match self.set_health(&check, forced, fx) {
                    Ok(message) => ControlResponse::Done { message },
                    Err(error) => ControlResponse::error(Code::NotFound, error),
                }
            }
            ControlRequest::AnnounceSet {
                source,
                announcements,
            } => self.change_source(&source, Change::Set(announcements), fx),
            ControlRequest::AnnounceAdd {
                source,
                announcements,
            } => self.change_source(&source, Change::Add(announcements), fx),
            ControlRequest::AnnounceDelete { source, prefixes } => {
                self.change_source(&source, Change::Delete(prefixes), fx)
            }
            ControlRequest::AnnounceList { source } => self.list_sources(source.as_deref()),
            ControlRequest::Routes { filter } => self.routes_answer(&filter, false),
            ControlRequest::Advertised { filter } => self.routes_answer(&filter, true),
            ControlRequest::Metrics { process } => ControlResponse::Metrics {
                metrics: self.metrics(&process),
            },
            // The driver reads the file and sends Input::Reload instead.
            ControlRequest::Reload => {
                ControlResponse::error(Code::Unavailable, "reload is the driver's to read")
            }
            ControlRequest::Ready => {
                let not_attempted = self.not_attempted();
                ControlResponse::Ready {
                    ready: not_attempted.is_empty(),
                    not_attempted,
                }
            }
        };
        fx.answer(reply, answer);
    }

    /// Drain (RFC 8326): re-announce with GRACEFUL_SHUTDOWN, wait, withdraw. `reply` is answered
    /// once the withdrawals are sent.
    pub(super) fn start_drain(
        &mut self,
        wait: Duration,
        reply: Option<ReplyTo>,
        fx: &mut dyn Effects,
    ) {
        let token = self.token();
        match self.leaving.drain(token, reply) {
            DrainStart::AlreadyDrained => {
                if let Some(r) = reply {
                    let message = "already drained".into();
                    fx.answer(r, ControlResponse::Done { message });
                }
                return;
            }
            DrainStart::Joined => return,
            DrainStart::Started => {}
        }
        info!(
            wait_secs = wait.as_secs(),
            "drain: announcing every route with GRACEFUL_SHUTDOWN (65535:0)"
        );
        fx.arm(wait, Timer::DrainWithdraw { token });
        super::emit(fx, || kind::drain("announcing-shutdown"));
        self.evaluate_all(fx);
    }

    /// The drain's wait is over: every route is withdrawn now (no evaluation needed: a drained
    /// peer should have nothing), then the waiting requests are answered.
    pub(super) fn drain_withdraw(&mut self, token: u64, fx: &mut dyn Effects) {
        let Some(waiting) = self.leaving.withdraw_due(token) else {
            return;
        };
        info!("drain: withdrawing every route");
        super::emit(fx, || kind::drain("withdrawn"));
        let names: Vec<Arc<str>> = self.peers.keys().cloned().collect();
        for name in names {
            self.send_desired(
                &name,
                super::outgoing::Desired::Built(crate::rib::RouteTable::default()),
                fx,
            );
        }
        for w in waiting {
            let message = "drained: routes withdrawn".into();
            fx.answer(w, ControlResponse::Done { message });
        }
    }

    pub(super) fn undrain(&mut self, fx: &mut dyn Effects) {
        let Some(waiting) = self.leaving.cancel() else {
            return;
        };
        info!("undrain: announcing routes normally again");
        super::emit(fx, || kind::drain("cancelled"));
        for w in waiting {
            let cancelled = ControlResponse::error(Code::FailedPrecondition, "drain cancelled");
            fx.answer(w, cancelled);
        }
        self.evaluate_all(fx);
    }

    /// Operator reset of one session. Hard: the peer flushes our routes (RFC 8538 Hard Reset
    /// when N is negotiated). Soft: a Cease/Administrative Reset, which a GR peer with N treats
    /// as a restart.
    pub(super) fn reset_peer(
        &mut self,
        name: &str,
        hard: bool,
        fx: &mut dyn Effects,
    ) -> ControlResponse {
        let Some((key, p)) = self.peers.iter().find(|(k, _)| k.as_ref() == name) else {
            return ControlResponse::no_peer(name);
        };
        let notification = if hard {
            let why = "hard reset by operator";
            Self::decommission_notice(p.negotiated(), cease::ADMIN_RESET, why)
        } else {
            Notification::cease_with_message(cease::ADMIN_RESET, "reset by operator")
        };
        info!(peer = %key, hard, "operator reset");
        let hold_down = None;
        fx.command(
            key,
            PeerCommand::Reset {
                notification,
                hold_down,
            },
        );
        ControlResponse::Done {
            message: format!("peer {name} reset ({})", if hard { "hard" } else { "soft" }),
        }
    }
}

impl Daemon {
    /// `gracewire refresh`: inbound asks the peer for its routes again (RFC 2918), outbound
    /// sends it our Adj-RIB-Out again (between BoRR and EoRR with RFC 7313).
    fn refresh(
        &mut self,
        name: &str,
        inbound: bool,
        outbound: bool,
        fx: &mut dyn Effects,
    ) -> ControlResponse {
        let Some((key, p)) = self.peers.iter().find(|(k, _)| k.as_ref() == name) else {
            return ControlResponse::no_peer(name);
        };
        let key = key.clone();
        let Some(n) = p.negotiated() else {
            return ControlResponse::error(
                Code::FailedPrecondition,
                format!("peer {name} is not Established ({:?})", p.fsm_state),
            );
        };
        if inbound && !n.route_refresh {
            return ControlResponse::error(
                Code::FailedPrecondition,
                format!(
                    "peer {name} did not negotiate route refresh (RFC 2918): it cannot be asked \
                     for its routes again without a session reset (`gracewire reset {name}`)"
                ),
            );
        }
        let families = n.families.clone();
        let codec = n.codec;
        if inbound {
            let asks: Vec<bytes::Bytes> = families
                .iter()
                .map(|f| {
                    let (afi, safi) = f.afi_safi();
                    let kind = RefreshKind::Request;
                    Message::RouteRefresh(RouteRefresh { afi, safi, kind }).encode(codec)
                })
                .collect();
            fx.command(&key, PeerCommand::Send(asks));
        }
        if outbound {
            for f in &families {
                self.resend_family(&key, *f, fx);
            }
        }
        info!(peer = %key, inbound, outbound, "route refresh by operator");
        let what = match (inbound, outbound) {
            (true, true) => "asked for its routes and sent ours again",
            (true, false) => "asked for its routes again",
            _ => "sent our routes again",
        };
        ControlResponse::Done {
            message: format!("peer {name}: {what}"),
        }
    }
}
