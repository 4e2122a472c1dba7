//! What the daemon knows about one configured peer: its session (up or not, never both), its
//! Adj-RIB-Out, counters, and its Graceful Restart state. The OPEN settings and the policy's
//! view of the peer are derived here and nowhere else.

use crate::config::{Global, Peer};
use crate::fsm::{LocalSettings, Negotiated, State};
use crate::gr::GrHelper;
use crate::policy::plugins::GrTimers;
use crate::policy::PeerView;
use crate::rib::{AdjRibOut, PeerId};
use crate::session::{MessageCounters, Transport};
use crate::wire::{Family, GrFamily, GracefulRestartCap, LongLivedCap, LongLivedFamily};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) struct PeerState {
    pub cfg: Peer,
    /// The session task serving this peer: events from an earlier task of the same name (a
    /// peer re-created by a reload) carry another id and are dropped.
    pub session_id: u64,
    /// The FSM state as the session task last reported it (for `show`).
    pub fsm_state: State,
    /// `Some` exactly while the session is Established.
    pub up: Option<Up>,
    /// This peer's slot in the shared RIB (its Adj-RIB-In).
    pub rib_id: PeerId,
    pub adj_out: AdjRibOut,
    pub updates_received: u64,
    pub updates_sent: u64,
    pub last_error: Option<String>,
    pub gr: PeerGr,
    /// What outlives a session and a reload: message counters, sessions established.
    pub totals: Totals,
    /// The session has left Idle at least once (readiness: every peer attempted).
    pub attempted: bool,
    /// `Some` while the peer has a BFD session.
    pub bfd: Option<super::bfd::BfdStatus>,
}

/// A peer's counters, kept when a reload replaces its session (new address or AS), so they
/// only ever grow.
#[derive(Clone, Default)]
pub(super) struct Totals {
    pub messages: Arc<MessageCounters>,
    pub established: u64,
}

/// An Established session.
pub(super) struct Up {
    /// Unique per Established session: policy results computed for another are dropped.
    pub epoch: u64,
    pub since: Instant,
    pub negotiated: Negotiated,
    pub local: SocketAddr,
    /// When our End-of-RIB went out in this session, since the daemon started (RFC 4724 §2:
    /// after the initial table).
    pub eor_sent: Option<Duration>,
    pub eor_received: BTreeSet<Family>,
    /// Families whose prefix count passed the warning share of their limit.
    pub limit_warned: BTreeSet<Family>,
    /// A prefix limit was passed and the reset sent.
    pub limit_reset: bool,
    /// The evaluation the Adj-RIB-Out was last built from: who decided each route.
    pub applied: Option<Applied>,
}

/// An evaluation in effect: the candidates and the decisions for them (shared with every
/// alike peer that took the same table, so it costs 4 bytes a route once, not per peer).
#[derive(Clone)]
pub(super) struct Applied {
    pub candidates: Arc<crate::policy::plugins::Candidates>,
    pub decisions: Arc<crate::policy::Decisions>,
}

/// Graceful Restart state of one peer.
#[derive(Default)]
pub(super) struct PeerGr {
    /// Our helper role for the peer's routes (RFC 4724 §4.2).
    pub helper: GrHelper,
    /// Bumped whenever helper timers are (re)armed or stopped; stale timer events are ignored.
    pub helper_token: u64,
    /// When the stale-path timer armed last runs out (a takeover carries what is left).
    pub stale_until: Option<Instant>,
    /// Established at least once since this process started: R is cleared after that.
    pub up_once: bool,
    /// The GR profile plugin's answer for this peer, when there is a plugin.
    pub timers: Option<GrTimers>,
}

impl PeerState {
    pub fn new(cfg: Peer, session_id: u64, rib_id: PeerId, totals: Totals) -> PeerState {
        PeerState {
            cfg,
            session_id,
            fsm_state: State::Idle,
            up: None,
            rib_id,
            adj_out: AdjRibOut::default(),
            updates_received: 0,
            updates_sent: 0,
            last_error: None,
            gr: PeerGr::default(),
            totals,
            attempted: false,
            bfd: None,
        }
    }

    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.up.as_ref().map(|u| &u.negotiated)
    }

    /// The up session with this epoch, if it is still the current one.
    pub fn up_with(&mut self, epoch: u64) -> Option<&mut Up> {
        self.up.as_mut().filter(|u| u.epoch == epoch)
    }

    /// The OPEN we send this peer next. `restarting`: our restart window is open; R=1 goes
    /// only into OPENs before the first session since our start (RFC 4724 §4.1), later ones
    /// are ordinary flaps. GR values come from the GR profile plugin when it has answered.
    pub fn open_settings(&self, global: &Global, restarting: bool) -> LocalSettings {
        let families = self.cfg.families();
        let gr = self.gr.timers.as_ref();
        let forwarding = |f: &Family| {
            gr.and_then(|g| g.forwarding.iter().find(|(fam, _)| fam == f))
                .map_or(global.forwarding_preserved, |(_, fwd)| *fwd)
        };
        let stale_time = gr
            .and_then(|g| g.long_lived_stale_time)
            .unwrap_or_else(|| self.cfg.long_lived_stale_time(global));
        let long_lived = (self.cfg.graceful_restart && stale_time > 0).then(|| LongLivedCap {
            families: families
                .iter()
                .map(|f| LongLivedFamily::new(*f, forwarding(f), stale_time))
                .collect(),
        });
        // RFC 8950 offers next hops for a family: none to offer without IPv4.
        let extended_next_hop =
            self.cfg.extended_next_hop && families.contains(&Family::Ipv4Unicast);
        LocalSettings {
            local_asn: global.asn.0,
            remote_as: self.cfg.asn,
            router_id: global.router_id.0,
            hold_time: self.cfg.hold_time.0,
            graceful_restart: self.cfg.graceful_restart.then(|| GracefulRestartCap {
                restart_state: restarting && !self.gr.up_once,
                notification: gr.is_none_or(|g| g.notification),
                restart_time: gr.map_or(global.restart_time.0, |g| g.restart_time),
                families: families
                    .iter()
                    .map(|f| GrFamily::new(*f, forwarding(f)))
                    .collect(),
            }),
            long_lived,
            families,
            extended_parameters: self.cfg.extended_optional_parameters,
            role: self.cfg.role,
            strict_role: self.cfg.strict_role,
            extended_next_hop,
        }
    }

    /// The peer as policies see it: the negotiated families and our address on the session
    /// once up; before that, what the config says.
    pub fn view(&self, name: &str, global: &Global) -> PeerView {
        let (families, local_address, remote_asn, role, extended_next_hop) = match &self.up {
            Some(up) => (
                up.negotiated.families.clone(),
                super::canonical(up.local.ip()),
                up.negotiated.remote_asn,
                up.negotiated.local_role,
                up.negotiated.extended_next_hop,
            ),
            // An "external" peer's AS is known once its OPEN is: 0 until then.
            None => (
                self.cfg.families(),
                self.cfg.local_address.unwrap_or(self.cfg.address),
                self.cfg.asn.known(global.asn.0).unwrap_or(0),
                None,
                false,
            ),
        };
        PeerView {
            name: name.to_string(),
            address: self.cfg.address,
            local_address,
            local_asn: global.asn.0,
            remote_asn,
            vendor: self.cfg.vendor.clone(),
            hold_time: self.cfg.hold_time.0,
            families,
            role,
            extended_next_hop,
        }
    }

    /// The socket options of this peer's connections.
    pub fn transport(&self, local_asn: u32) -> Transport {
        let (ttl, min_ttl) = self.cfg.ttl(local_asn);
        Transport {
            md5: self.cfg.password.clone(),
            ttl,
            min_ttl,
        }
    }

    /// How long the peer's stale routes wait for its End-of-RIB once it is back.
    pub fn stale_path_time(&self, global: &Global) -> u32 {
        self.gr
            .timers
            .as_ref()
            .map_or(global.stale_path_time, |g| g.stale_path_time)
    }

    /// Did both sides of the current session exchange the GR capability?
    pub fn graceful_restart_negotiated(&self) -> bool {
        self.negotiated().is_some_and(|n| {
            n.peer_graceful_restart.is_some() && n.local_graceful_restart.is_some()
        })
    }
}
