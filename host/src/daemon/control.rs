//! Operator actions: control requests, drain (RFC 8326) and explicit resets.

use super::{Daemon, Drain, Effects, PeerCommand, ReplyTo, Timer};
use crate::api::{ControlRequest, ControlResponse};
use crate::wire::notification::cease;
use crate::wire::Notification;
use std::collections::BTreeMap;
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
            ControlRequest::Drain { wait_secs } => {
                let wait = wait_secs.unwrap_or(self.config.global.drain_wait as u64);
                return self.start_drain(Duration::from_secs(wait), Some(reply), fx);
            }
            ControlRequest::Undrain => {
                self.undrain(fx);
                ControlResponse::Done {
                    message: "routes announced normally".into(),
                }
            }
            ControlRequest::Reset { peer, hard } => self.reset_peer(&peer, hard, fx),
            other => crate::api::respond(other, self),
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
        match &mut self.drain {
            Drain::Withdrawn => {
                if let Some(r) = reply {
                    let message = "already drained".into();
                    fx.answer(r, ControlResponse::Done { message });
                }
                return;
            }
            Drain::Announcing { waiting, .. } => {
                waiting.extend(reply);
                return;
            }
            Drain::Off => {}
        }
        let token = self.token();
        info!(
            wait_secs = wait.as_secs(),
            "drain: announcing every route with GRACEFUL_SHUTDOWN (65535:0)"
        );
        self.drain = Drain::Announcing {
            token,
            waiting: reply.into_iter().collect(),
        };
        fx.arm(wait, Timer::DrainWithdraw { token });
        self.evaluate_all(fx);
    }

    /// The drain's wait is over: every route is withdrawn now (no evaluation needed: a drained
    /// peer should have nothing), then the waiting requests are answered.
    pub(super) fn drain_withdraw(&mut self, token: u64, fx: &mut dyn Effects) {
        if !matches!(self.drain, Drain::Announcing { token: t, .. } if t == token) {
            return;
        }
        let Drain::Announcing { waiting, .. } =
            std::mem::replace(&mut self.drain, Drain::Withdrawn)
        else {
            return;
        };
        info!("drain: withdrawing every route");
        let names: Vec<Arc<str>> = self.peers.keys().cloned().collect();
        for name in names {
            self.send_desired(&name, BTreeMap::new(), fx);
        }
        for w in waiting {
            let message = "drained: routes withdrawn".into();
            fx.answer(w, ControlResponse::Done { message });
        }
    }

    pub(super) fn undrain(&mut self, fx: &mut dyn Effects) {
        if matches!(self.drain, Drain::Off) {
            return;
        }
        info!("undrain: announcing routes normally again");
        if let Drain::Announcing { waiting, .. } = std::mem::replace(&mut self.drain, Drain::Off) {
            for w in waiting {
                let error = "drain cancelled".into();
                fx.answer(w, ControlResponse::Error { error });
            }
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
            return ControlResponse::Error {
                error: format!("no peer named `{name}`"),
            };
        };
        let notification = if hard {
            let why = "hard reset by operator";
            Self::decommission_notice(p.negotiated(), cease::ADMIN_RESET, why)
        } else {
            Notification::cease_with_message(cease::ADMIN_RESET, "reset by operator")
        };
        info!(peer = %key, hard, "operator reset");
        fx.command(key, PeerCommand::Reset(notification));
        ControlResponse::Done {
            message: format!("peer {name} reset ({})", if hard { "hard" } else { "soft" }),
        }
    }
}
