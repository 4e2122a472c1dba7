//! BFD for the daemon: which peers have a session and with what parameters, and what a change
//! of its state does to BGP. A failure (Up lost without the remote saying AdminDown) ends the
//! BGP session at once with Cease "BFD Down" (RFC 9384), inside a Hard Reset when RFC 8538 is
//! negotiated so neither side keeps the other's routes: the path is gone, stale routes would
//! blackhole traffic. A remote AdminDown (a planned restart over there) changes nothing
//! (RFC 5882 §3.2): BGP's own Graceful Restart handles it. Our own planned restart hands the
//! BFD sessions to the next process (`bfd::io`, driven from the driver at SIGTERM).

use super::{Daemon, Effects, PeerCommand};
use crate::bfd::io::{Command, Event, PeerBfd};
use crate::bfd::{Diag, State};
use crate::config::Peer;
use crate::wire::notification::{cease, code};
use crate::wire::Notification;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// A peer's BFD session as the daemon last heard of it.
pub(super) struct BfdStatus {
    /// What the BFD task was last told.
    pub spec: PeerBfd,
    pub state: State,
    pub diag: Diag,
    /// Times Up was lost to a failure.
    pub failures: u64,
    pub detection_time: Option<Duration>,
    pub since: Instant,
}

impl Daemon {
    /// The BFD session a peer's config asks for. Multihop (RFC 5883) when eBGP multihop lets
    /// the BGP session cross routers.
    pub(super) fn bfd_spec(&self, cfg: &Peer) -> Option<PeerBfd> {
        let profile = self.config.bfd_profiles.get(cfg.bfd.as_ref()?)?.get_ref();
        let multihop = cfg.ebgp_multihop.is_some_and(|ttl| ttl > 1);
        Some(PeerBfd {
            peer: cfg.name().into(),
            remote: cfg.address,
            local: cfg.local_address,
            params: profile.params(),
            multihop,
            minimum_ttl: if multihop { profile.minimum_ttl } else { 255 },
        })
    }

    /// Creates, changes or removes the peer's BFD session to match its config.
    pub(super) fn sync_bfd(&mut self, name: &Arc<str>, fx: &mut dyn Effects) {
        let Some(want) = self.peers.get(name).map(|p| self.bfd_spec(&p.cfg)) else {
            return;
        };
        let now = self.now;
        let Some(peer) = self.peers.get_mut(name) else {
            return;
        };
        match (want, &mut peer.bfd) {
            (None, None) => {}
            (None, status @ Some(_)) => {
                *status = None;
                fx.bfd(Command::Remove(name.clone()));
            }
            (Some(want), Some(status)) if status.spec == want => {}
            (Some(want), status) => {
                fx.bfd(Command::Set(want.clone()));
                match status {
                    Some(s) => s.spec = want,
                    None => {
                        *status = Some(BfdStatus {
                            spec: want,
                            state: State::Down,
                            diag: Diag::None,
                            failures: 0,
                            detection_time: None,
                            since: now,
                        })
                    }
                }
            }
        }
    }

    pub(super) fn on_bfd(&mut self, ev: Event, fx: &mut dyn Effects) {
        let Some(peer) = self.peers.get_mut(&ev.peer) else {
            return; // removed since
        };
        let Some(status) = peer.bfd.as_mut() else {
            return;
        };
        status.detection_time = ev.detection_time;
        let Some(change) = ev.change else {
            return;
        };
        status.state = change.to;
        status.diag = change.diag;
        status.since = self.now;
        if !change.is_failure() {
            info!(peer = %ev.peer, state = %change.to, diag = change.diag.describe(), "BFD");
            return;
        }
        status.failures += 1;
        let Some(up) = &peer.up else {
            warn!(peer = %ev.peer, diag = change.diag.describe(), "BFD down");
            return;
        };
        warn!(peer = %ev.peer, diag = change.diag.describe(), "BFD down: ending the BGP session now, without Graceful Restart");
        let inner = Notification::new(code::CEASE, cease::BFD_DOWN);
        let notification = Self::hard_reset_if_n(Some(&up.negotiated), inner);
        fx.command(
            &ev.peer,
            PeerCommand::Reset {
                notification,
                hold_down: None,
            },
        );
    }
}
