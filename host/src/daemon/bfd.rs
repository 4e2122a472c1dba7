//! BFD for the daemon: which peers have a session and with what parameters, and what a change
//! of its state does to BGP. A failure (Up lost without the remote saying AdminDown) ends the
//! BGP session at once with Cease "BFD Down" (RFC 9384), inside a Hard Reset when RFC 8538 is
//! negotiated so neither side keeps the other's routes: the path is gone, stale routes would
//! blackhole traffic. A remote AdminDown (a planned restart over there) changes nothing
//! (RFC 5882 §3.2): BGP's own Graceful Restart handles it. Our own planned restart hands the
//! BFD sessions to the next process (`bfd::io`, driven from the driver at SIGTERM).
//!
//! A Down the router *says* (rather than its packets stopping) proves by that very packet that
//! the path towards us works. FRR's bfdd says it when bgpd hands it the session's source
//! address once BGP is up (it replaces the session): taken as a failure, that ended every first
//! session with FRR a second after it came up. So BGP then waits [`BFD_RECOVERY`] for Up again
//! before calling it a failure. A router that said Down because it stopped hearing us has
//! already acted on its own detection; the session is not Up again in time, and we end ours.

use super::{Daemon, Effects, PeerCommand};
use crate::bfd::io::{Command, Event, PeerBfd};
use crate::bfd::{Diag, State};
use crate::config::Peer;
use crate::wire::notification::{cease, code};
use crate::wire::Notification;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How long a remote that restarted its BFD session has to bring it Up again: its new session
/// starts at the 1 s slow rate (RFC 5880 §6.8.3), so three packets.
pub(super) const BFD_RECOVERY: Duration = Duration::from_secs(3);

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
    /// Bumped by every loss of Up: a [`Timer::BfdRecovery`](super::Timer) armed before the
    /// latest is void.
    pub token: u64,
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
        let now = self.clock.now();
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
                            token: 0,
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
        status.since = self.clock.now();
        if !change.is_failure() {
            info!(peer = %ev.peer, state = %change.to, diag = change.diag.describe(), "BFD");
            return;
        }
        status.token += 1;
        if change.diag == Diag::NeighborSignaledDown && peer.up.is_some() {
            let why = if change.remote_restarted {
                "the router restarted its BFD session (a new discriminator)"
            } else {
                "the router said Down"
            };
            info!(peer = %ev.peer, wait_secs = BFD_RECOVERY.as_secs(), why, "BFD: heard from, so the path works; BGP waits for Up again before ending the session");
            let token = status.token;
            fx.arm(
                BFD_RECOVERY,
                super::Timer::BfdRecovery {
                    peer: ev.peer.clone(),
                    token,
                },
            );
            return;
        }
        self.bfd_failed(&ev.peer, fx);
    }

    /// The router's restarted session did not come Up in time: a failure after all.
    pub(super) fn bfd_recovery_over(&mut self, name: &Arc<str>, token: u64, fx: &mut dyn Effects) {
        let still_down = self
            .peers
            .get(name)
            .and_then(|p| p.bfd.as_ref())
            .is_some_and(|s| s.token == token && s.state != State::Up);
        if still_down {
            self.bfd_failed(name, fx);
        }
    }

    /// Up lost for good: the BGP session ends at once, without Graceful Restart.
    fn bfd_failed(&mut self, name: &Arc<str>, fx: &mut dyn Effects) {
        let Some(peer) = self.peers.get_mut(name) else {
            return;
        };
        let Some(status) = peer.bfd.as_mut() else {
            return;
        };
        status.failures += 1;
        let diag = status.diag.describe();
        let Some(up) = &peer.up else {
            warn!(peer = %name, diag, "BFD down");
            return;
        };
        warn!(peer = %name, diag, "BFD down: ending the BGP session now, without Graceful Restart");
        let inner = Notification::new(code::CEASE, cease::BFD_DOWN);
        let notification = Self::hard_reset_if_n(Some(&up.negotiated), inner);
        fx.command(
            name,
            PeerCommand::Reset {
                notification,
                hold_down: None,
            },
        );
    }
}
