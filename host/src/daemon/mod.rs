//! The owner of all routing state. One loop; every other task talks to it by message.
//!
//! ```text
//!   listener ──(TcpStream)──┐                 ┌──► session task per peer (fsm + socket)
//!   control socket ─(Req)───┼──► daemon loop ─┤
//!   signals ───(shutdown)───┘       ▲   │     └──► policy worker (spawn_blocking)
//!                                   │   └── RIBs: Adj-RIB-In, Loc-RIB, Adj-RIB-Out per peer
//!        SessionEvent / PolicyResult┘
//! ```
//! The loop never blocks: policy evaluation runs on a blocking worker and its result comes back
//! as a message tagged with the session generation it was computed for.

mod reload;

use crate::api::{ControlRequest, ControlResponse};
use crate::config::{Announce, Config, Peer};
use crate::fsm::{DownReason, LocalSettings, Negotiated, State};
use crate::policy::{build_exports, AnnouncementPolicy, ConfiguredPolicy, Decision, PeerView};
use crate::rib::{
    encode_diff, AdjRibIn, AdjRibOut, AttrInterner, LocRib, OutRoute, PathSource, Route,
};
use crate::session::{Session, SessionCommand, SessionConfig, SessionEvent, SessionEventKind};
use crate::wire::capability::GracefulRestartCap;
use crate::wire::{
    Family, GrFamily, Message, NextHop, Notification, RefreshKind, RouteRefresh, Update,
};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

/// Everything the daemon knows about one configured peer.
struct PeerState {
    cfg: Peer,
    commands: mpsc::UnboundedSender<SessionCommand>,
    task: tokio::task::JoinHandle<()>,
    state: State,
    generation: u64,
    established_at: Option<Instant>,
    negotiated: Option<Negotiated>,
    local: Option<SocketAddr>,
    adj_in: AdjRibIn,
    adj_out: AdjRibOut,
    updates_received: u64,
    updates_sent: u64,
    last_error: Option<String>,
    source: Option<PathSource>,
}

struct PolicyResult {
    peer: Arc<str>,
    generation: u64,
    decisions: Vec<Decision>,
    view: PeerView,
}

pub struct Daemon {
    config: Config,
    config_path: std::path::PathBuf,
    peers: BTreeMap<Arc<str>, PeerState>,
    loc_rib: LocRib,
    interner: AttrInterner,
    policy: Arc<dyn AnnouncementPolicy>,
    candidates: Arc<Vec<Announce>>,
    events_tx: mpsc::UnboundedSender<SessionEvent>,
    events: mpsc::UnboundedReceiver<SessionEvent>,
    policy_tx: mpsc::UnboundedSender<PolicyResult>,
    policy_rx: mpsc::UnboundedReceiver<PolicyResult>,
}

/// Inputs from the outside world.
pub struct Inputs {
    pub incoming: mpsc::Receiver<(TcpStream, SocketAddr)>,
    pub control: mpsc::Receiver<(ControlRequest, oneshot::Sender<ControlResponse>)>,
    pub shutdown: oneshot::Receiver<()>,
    /// Re-read the config file (SIGHUP).
    pub reload: mpsc::Receiver<()>,
}

fn local_settings(global: &crate::config::Global, peer: &Peer) -> LocalSettings {
    let families = peer.families();
    LocalSettings {
        local_asn: global.asn.0,
        remote_asn: peer.asn.0,
        router_id: global.router_id.0,
        hold_time: peer.hold_time.0,
        graceful_restart: peer.graceful_restart.then(|| GracefulRestartCap {
            restart_state: false,
            notification: true,
            restart_time: global.restart_time.0,
            families: families
                .iter()
                .map(|f| {
                    let (afi, safi) = f.afi_safi();
                    // A load-balancer speaker's data plane does not depend on it: forwarding
                    // state survives its restart.
                    GrFamily {
                        afi,
                        safi,
                        forwarding_preserved: true,
                    }
                })
                .collect(),
        }),
        families,
    }
}

impl Daemon {
    pub fn new(config: Config, config_path: std::path::PathBuf) -> Daemon {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (policy_tx, policy_rx) = mpsc::unbounded_channel();
        let candidates = Arc::new(config.announcements().cloned().collect());
        Daemon {
            config,
            config_path,
            peers: BTreeMap::new(),
            loc_rib: LocRib::default(),
            interner: AttrInterner::default(),
            policy: Arc::new(ConfiguredPolicy),
            candidates,
            events_tx,
            events,
            policy_tx,
            policy_rx,
        }
    }

    fn start_peer(&mut self, peer: Peer) {
        let name: Arc<str> = peer.name().into();
        let cfg = SessionConfig {
            name: name.clone(),
            remote: peer.remote(),
            local_address: peer.local_address,
            passive: peer.passive,
            connect_retry: peer.connect_retry(),
            settings: local_settings(&self.config.global, &peer),
        };
        let (commands, task) = Session::spawn(cfg, self.events_tx.clone());
        info!(peer = %name, remote = %peer.remote(), asn = peer.asn.0, passive = peer.passive, "peer configured");
        let state = PeerState {
            cfg: peer,
            commands,
            task,
            state: State::Idle,
            generation: 0,
            established_at: None,
            negotiated: None,
            local: None,
            adj_in: AdjRibIn::default(),
            adj_out: AdjRibOut::default(),
            updates_received: 0,
            updates_sent: 0,
            last_error: None,
            source: None,
        };
        self.peers.insert(name, state);
    }

    /// Stops a peer's session for good (de-configured): the peer withdraws our routes, and its
    /// routes leave the Loc-RIB.
    fn remove_peer(&mut self, name: &Arc<str>, subcode: u8, why: &str) {
        let Some(mut peer) = self.peers.remove(name) else {
            return;
        };
        let notification = Notification::cease_with_message(subcode, why);
        let (done, _) = oneshot::channel();
        let _ = peer.commands.send(SessionCommand::Stop {
            notification: Some(notification),
            done,
        });
        if let Some(source) = peer.source.take() {
            for p in peer.adj_in.clear() {
                self.loc_rib.update(p, &source, None);
            }
        }
        info!(peer = %name, reason = why, "peer removed");
    }

    pub async fn run(mut self, mut inputs: Inputs) {
        for peer in self.config.peers().cloned().collect::<Vec<_>>() {
            self.start_peer(peer);
        }
        loop {
            tokio::select! {
                Some(()) = inputs.reload.recv() => self.reload(),
                Some(ev) = self.events.recv() => self.on_session_event(ev),
                Some(result) = self.policy_rx.recv() => self.on_policy_result(result),
                Some((stream, from)) = inputs.incoming.recv() => self.on_incoming(stream, from),
                Some((req, reply)) = inputs.control.recv() => { let _ = reply.send(self.on_control(req)); }
                _ = &mut inputs.shutdown => break,
            }
        }
        self.shutdown().await;
    }

    /// Stops every session. Where GR is negotiated the connection is closed without a
    /// NOTIFICATION so the peer keeps our routes while we restart (RFC 4724 §4); elsewhere the
    /// peer is told with an Administrative Shutdown.
    async fn shutdown(&mut self) {
        let mut waits = Vec::new();
        for (name, p) in &self.peers {
            let gr = p.negotiated.as_ref().is_some_and(|n| {
                n.peer_graceful_restart.is_some() && n.local_graceful_restart.is_some()
            });
            let notification =
                (!gr).then(|| crate::fsm::admin_shutdown("gracewire is shutting down"));
            info!(peer = %name, graceful_restart = gr, "stopping session");
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
    }

    fn on_incoming(&mut self, stream: TcpStream, from: SocketAddr) {
        let peer = self
            .peers
            .values()
            .find(|p| p.cfg.address == from.ip() || Some(p.cfg.address) == canonical(from.ip()));
        match peer {
            Some(p) => {
                let _ = p.commands.send(SessionCommand::Incoming(stream));
            }
            None => {
                warn!(%from, "connection from an address that is not a configured peer; closed");
                drop(stream);
            }
        }
    }

    fn on_session_event(&mut self, ev: SessionEvent) {
        let Some(peer) = self.peers.get_mut(&ev.peer) else {
            return;
        };
        match ev.kind {
            SessionEventKind::State(s) => peer.state = s,
            SessionEventKind::Established {
                negotiated,
                local,
                remote,
            } => {
                peer.state = State::Established;
                peer.generation = ev.generation;
                peer.established_at = Some(Instant::now());
                peer.local = Some(local);
                peer.source = Some(PathSource {
                    peer: ev.peer.to_string(),
                    peer_address: remote.ip(),
                    peer_router_id: negotiated.remote_id,
                    ibgp: negotiated.remote_asn == self.config.global.asn.0,
                });
                peer.negotiated = Some(*negotiated);
                peer.adj_out.clear();
                self.evaluate(&ev.peer);
            }
            SessionEventKind::Down(reason) => {
                peer.last_error = Some(describe_down(&reason));
                peer.established_at = None;
                peer.negotiated = None;
                peer.adj_out.clear();
                let gone = peer.adj_in.clear();
                let source = peer.source.take();
                if let Some(source) = source {
                    for p in gone {
                        self.loc_rib.update(p, &source, None);
                    }
                }
                self.interner.collect();
            }
            SessionEventKind::Update(u) => {
                peer.updates_received += 1;
                self.ingest(&ev.peer, *u);
            }
            SessionEventKind::RouteRefresh(rr) => self.on_route_refresh(&ev.peer, rr),
        }
    }

    /// Runs the policy for one peer on a blocking worker.
    fn evaluate(&mut self, name: &Arc<str>) {
        let Some(peer) = self.peers.get(name) else {
            return;
        };
        let (Some(n), Some(local)) = (&peer.negotiated, peer.local) else {
            return;
        };
        let view = PeerView {
            name: name.to_string(),
            address: peer.cfg.address,
            local_address: canonical(local.ip()).unwrap_or(local.ip()),
            local_asn: self.config.global.asn.0,
            remote_asn: peer.cfg.asn.0,
            vendor: peer.cfg.vendor.clone(),
            families: n.families.clone(),
        };
        let (policy, candidates, tx) = (
            self.policy.clone(),
            self.candidates.clone(),
            self.policy_tx.clone(),
        );
        let (peer_name, generation) = (name.clone(), peer.generation);
        tokio::task::spawn_blocking(move || {
            let decisions = policy.decide(&view, &candidates);
            let _ = tx.send(PolicyResult {
                peer: peer_name,
                generation,
                decisions,
                view,
            });
        });
    }

    fn on_policy_result(&mut self, r: PolicyResult) {
        let Some(peer) = self.peers.get_mut(&r.peer) else {
            return;
        };
        if peer.generation != r.generation || peer.state != State::Established {
            return; // computed for a session that is gone
        }
        if r.decisions.len() != self.candidates.len() {
            warn!(peer = %r.peer, "policy returned {} decisions for {} routes; ignored", r.decisions.len(), self.candidates.len());
            return;
        }
        let first = peer.adj_out.is_empty();
        let desired = build_exports(&r.view, &self.candidates, &r.decisions, &mut self.interner);
        let diff = peer.adj_out.replace(desired);
        let n = peer.negotiated.as_ref().expect("established");
        let mut msgs = encode_diff(&diff, n.codec);
        if first {
            // RFC 4724 §2: End-of-RIB per family once the initial table is sent.
            for f in &n.families {
                msgs.push(Message::Update(Update::end_of_rib_marker(*f)).encode(n.codec));
            }
        }
        info!(peer = %r.peer, announced = diff.announce.len(), withdrawn = diff.withdraw.len(), messages = msgs.len(), "Adj-RIB-Out updated");
        peer.updates_sent += msgs.len() as u64;
        let _ = peer.commands.send(SessionCommand::Send(msgs));
    }

    fn on_route_refresh(&mut self, name: &Arc<str>, rr: RouteRefresh) {
        let Some(peer) = self.peers.get_mut(name) else {
            return;
        };
        let Some(n) = &peer.negotiated else { return };
        let Some(family) = rr.family().filter(|f| n.families.contains(f)) else {
            debug!(peer = %name, ?rr, "route refresh for a family not negotiated; ignored");
            return;
        };
        if rr.kind != RefreshKind::Request {
            return; // BoRR/EoRR from the peer concern its own re-advertisement
        }
        let announce: Vec<(IpNet, OutRoute)> = peer
            .adj_out
            .iter()
            .filter(|(p, _)| Family::of_prefix(p) == family)
            .map(|(p, r)| (*p, r.clone()))
            .collect();
        let diff = crate::rib::RibDiff {
            announce,
            withdraw: vec![],
        };
        let mut msgs = Vec::new();
        let (afi, safi) = family.afi_safi();
        let marker = |kind| Message::RouteRefresh(RouteRefresh { afi, safi, kind }).encode(n.codec);
        if n.enhanced_route_refresh {
            msgs.push(marker(RefreshKind::Begin));
        }
        msgs.extend(encode_diff(&diff, n.codec));
        if n.enhanced_route_refresh {
            msgs.push(marker(RefreshKind::End));
        }
        info!(peer = %name, %family, routes = diff.announce.len(), "route refresh answered");
        let _ = peer.commands.send(SessionCommand::Send(msgs));
    }

    /// Received UPDATE → Adj-RIB-In → Loc-RIB, after the checks that need the session
    /// (RFC 7606 §7: AS_PATH must start with an eBGP peer's AS, LOCAL_PREF from eBGP dropped).
    fn ingest(&mut self, name: &Arc<str>, mut u: Update) {
        let local_asn = self.config.global.asn.0;
        let Some(peer) = self.peers.get_mut(name) else {
            return;
        };
        let (Some(n), Some(source)) = (&peer.negotiated, peer.source.clone()) else {
            return;
        };
        if let Some(family) = u.end_of_rib() {
            info!(peer = %name, %family, routes = peer.adj_in.count(family), "End-of-RIB received");
            return;
        }
        let ebgp = n.remote_asn != local_asn;
        if ebgp && u.attributes.local_pref.take().is_some() {
            debug!(peer = %name, "LOCAL_PREF from an eBGP peer discarded (RFC 7606 §7.5)");
        }
        if u.treat_as_withdraw.is_none() && u.announced().next().is_some() {
            let first = u.attributes.as_path.as_ref().and_then(|p| p.first_asn());
            if ebgp && first != Some(n.remote_asn) {
                u.treat_as_withdraw = Some(format!(
                    "AS_PATH does not start with the peer's AS {}",
                    n.remote_asn
                ));
            }
            // RFC 4271 §9.1.2: a path holding our own AS has looped back to us.
            if u.attributes
                .as_path
                .as_ref()
                .is_some_and(|p| p.asns().any(|a| a == local_asn))
            {
                u.treat_as_withdraw = Some("AS_PATH contains our own AS (loop)".into());
            }
            if let Some(m) = &u.mp_reach {
                if !n.families.contains(&m.family) {
                    u.treat_as_withdraw = Some(format!("{} was not negotiated", m.family));
                }
            }
        }
        if let Some(why) = u
            .treat_as_withdraw
            .as_deref()
            .filter(|w| !w.contains("(loop)"))
        {
            warn!(peer = %name, reason = %why, prefixes = u.announced().count(), "UPDATE treated as withdraw (RFC 7606)");
        }
        if !u.discarded.is_empty() {
            warn!(peer = %name, attributes = ?u.discarded, "malformed attributes discarded (RFC 7606)");
        }
        for p in u.withdrawals() {
            if peer.adj_in.remove(&p) {
                self.loc_rib.update(p, &source, None);
            }
        }
        if u.treat_as_withdraw.is_some() {
            return;
        }
        let mut attrs = std::mem::take(&mut u.attributes);
        let v4_next_hop = attrs.next_hop.take();
        let attrs = self.interner.intern(attrs);
        let v4_nh = v4_next_hop.map(NextHop::V4);
        for p in u.nlri.iter().map(|p| IpNet::V4(*p)) {
            let Some(next_hop) = v4_nh else { continue };
            let route = Route {
                next_hop,
                attrs: attrs.clone(),
                stale: false,
            };
            if peer.adj_in.insert(p, route.clone()) {
                self.loc_rib.update(p, &source, Some(route));
            }
        }
        if let Some(m) = u.mp_reach {
            for p in m.nlri {
                let route = Route {
                    next_hop: m.next_hop,
                    attrs: attrs.clone(),
                    stale: false,
                };
                if peer.adj_in.insert(p, route.clone()) {
                    self.loc_rib.update(p, &source, Some(route));
                }
            }
        }
    }

    fn on_control(&self, req: ControlRequest) -> ControlResponse {
        crate::api::respond(req, self)
    }
}

/// Views for the operator surface.
impl Daemon {
    pub(crate) fn peer_summaries(&self) -> Vec<crate::api::PeerSummary> {
        self.peers
            .iter()
            .map(|(name, p)| crate::api::PeerSummary {
                name: name.to_string(),
                address: p.cfg.address,
                asn: p.cfg.asn.0,
                state: format!("{:?}", p.state),
                uptime_secs: p.established_at.map(|t| t.elapsed().as_secs()),
                families: p
                    .negotiated
                    .as_ref()
                    .map(|n| n.families.iter().map(|f| f.name().to_string()).collect())
                    .unwrap_or_default(),
                received: p.adj_in.len(),
                advertised: p.adj_out.len(),
                updates_received: p.updates_received,
                updates_sent: p.updates_sent,
                peer_graceful_restart: p
                    .negotiated
                    .as_ref()
                    .and_then(|n| n.peer_graceful_restart.clone())
                    .map(|g| g.restart_time),
                last_error: p.last_error.clone(),
            })
            .collect()
    }

    pub(crate) fn received_routes(&self) -> Vec<crate::api::RouteView> {
        let mut out = Vec::new();
        for (name, p) in &self.peers {
            for (prefix, r) in p.adj_in.iter() {
                let best = self
                    .loc_rib
                    .best(prefix)
                    .is_some_and(|(s, _)| s.peer == name.as_ref());
                out.push(crate::api::RouteView::new(
                    name, *prefix, r.next_hop, &r.attrs, r.stale, best,
                ));
            }
        }
        out
    }

    pub(crate) fn advertised_routes(&self) -> Vec<crate::api::RouteView> {
        let mut out = Vec::new();
        for (name, p) in &self.peers {
            for (prefix, r) in p.adj_out.iter() {
                out.push(crate::api::RouteView::new(
                    name, *prefix, r.next_hop, &r.attrs, false, true,
                ));
            }
        }
        out
    }

    pub(crate) fn loc_rib_len(&self) -> usize {
        self.loc_rib.len()
    }
}

fn describe_down(reason: &DownReason) -> String {
    match reason {
        DownReason::ConnectionLost => "connection lost".into(),
        DownReason::HoldTimerExpired => "hold timer expired".into(),
        DownReason::NotificationReceived(n) => format!("received {n}"),
        DownReason::NotificationSent(n) => format!("sent {n}"),
        DownReason::SilentStop => "stopped".into(),
    }
}

/// IPv4-mapped IPv6 addresses (from a dual-stack socket) as plain IPv4.
fn canonical(ip: IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    }
}
