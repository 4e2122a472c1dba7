//! The owner of all routing state. One loop; every other task talks to it by message.
//!
//! ```text
//!   listener ──(TcpStream)──┐                 ┌──► session task per peer (fsm + socket)
//!   control socket ─(Req)───┼──► daemon loop ─┤
//!   signals ───(shutdown)───┘       ▲   │     └──► policy worker (one OS thread)
//!                                   │   └── RIBs: Adj-RIB-In, Loc-RIB, Adj-RIB-Out per peer
//!        SessionEvent / PolicyResult┘
//! ```
//! The loop never blocks: policy evaluation runs on a worker thread and its result comes back
//! as a message tagged with the session generation it was computed for. One worker, evaluating
//! peers one after another: plugin calls are serialized per plugin anyway, and ten peers
//! evaluated at once held ten peers' worth of per-route decisions in memory at once.

mod graceful;
mod ingest;
mod plugin_swap;
mod reload;
mod views;

use crate::api::{ControlRequest, ControlResponse};
use crate::config::OnError;
use crate::config::{Config, Peer};
use crate::fsm::{DownReason, LocalSettings, Negotiated, State};
use crate::gr::GrHelper;
use crate::plugins::{PluginKind, PluginRuntime};
use crate::policy::plugins::{evaluate, Candidates, Evaluation, GrTimers, PolicySet};
use crate::policy::{build_exports, with_graceful_shutdown, Decision, PeerView};
use crate::rib::{encode_diff, AdjRibOut, AttrInterner, PathSource, PeerId, Rib, RouteInterner};
use crate::session::{Session, SessionCommand, SessionConfig, SessionEvent, SessionEventKind};
use crate::wire::capability::GracefulRestartCap;
use crate::wire::{Family, GrFamily, Message, Update};
use plugin_swap::{PluginEvent, PluginStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

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
    /// This peer's slot in the shared RIB (its Adj-RIB-In).
    rib_id: PeerId,
    adj_out: AdjRibOut,
    updates_received: u64,
    updates_sent: u64,
    last_error: Option<String>,
    source: Option<Arc<PathSource>>,
    /// GR helper state for this peer's routes.
    helper: GrHelper,
    /// Bumped whenever helper timers are (re)armed or stopped; stale timer events are ignored.
    helper_token: u64,
    /// Established at least once since this process started (R is cleared after that).
    up_once: bool,
    eor_received: BTreeSet<Family>,
    /// Our End-of-RIB went out in this session.
    eor_sent: bool,
    /// GR values the `gr-profile` plugin chose for this peer.
    gr_timers: Option<GrTimers>,
}

/// Timers of the daemon itself (session timers live in the session tasks).
#[derive(Debug)]
enum Timer {
    HelperRestart { peer: Arc<str>, token: u64 },
    HelperStale { peer: Arc<str>, token: u64 },
    RestartWindowClosed,
    SelectionDeferralExpired,
    Heartbeat,
    DrainWithdraw { token: u64 },
}

/// Drain (RFC 8326) progress.
enum DrainPhase {
    Off,
    /// Routes carry GRACEFUL_SHUTDOWN; withdrawn when the timer with `token` fires.
    Announcing {
        token: u64,
        waiting: Vec<oneshot::Sender<ControlResponse>>,
    },
    Withdrawn,
}

struct PolicyResult {
    peer: Arc<str>,
    generation: u64,
    evaluation: Evaluation,
    view: PeerView,
    candidates: Arc<Candidates>,
}

pub struct Daemon {
    /// The running config, without its announcements: those moved into `candidates`.
    config: Config,
    config_path: std::path::PathBuf,
    peers: BTreeMap<Arc<str>, PeerState>,
    /// Every peer's received routes and the best per prefix.
    rib: Rib,
    interner: AttrInterner,
    route_interner: RouteInterner,
    policy: Arc<PolicySet>,
    candidates: Arc<Candidates>,
    runtime: Arc<PluginRuntime>,
    plugin_status: BTreeMap<PluginKind, PluginStatus>,
    plugin_tx: mpsc::UnboundedSender<PluginEvent>,
    plugin_rx: mpsc::UnboundedReceiver<PluginEvent>,
    watcher: Option<crate::plugins::watch::PluginWatcher>,
    events_tx: mpsc::UnboundedSender<SessionEvent>,
    events: mpsc::UnboundedReceiver<SessionEvent>,
    policy_tx: mpsc::UnboundedSender<PolicyResult>,
    policy_worker: PolicyWorker,
    policy_rx: mpsc::UnboundedReceiver<PolicyResult>,
    timers_tx: mpsc::UnboundedSender<Timer>,
    timers: mpsc::UnboundedReceiver<Timer>,
    /// This start is a graceful restart and the restart window is open: OPENs carry R=1.
    restarting: bool,
    drain: DrainPhase,
    drain_token: u64,
    started: Instant,
    /// After our own restart: the GR peers whose End-of-RIB route selection still waits for
    /// (RFC 4724 §4.1). `None` once selection runs normally.
    deferral: Option<BTreeSet<Arc<str>>>,
}

/// Inputs from the outside world.
pub struct Inputs {
    pub incoming: mpsc::Receiver<(TcpStream, SocketAddr)>,
    pub control: mpsc::Receiver<(ControlRequest, oneshot::Sender<ControlResponse>)>,
    pub shutdown: oneshot::Receiver<()>,
    /// Re-read the config file (SIGHUP).
    pub reload: mpsc::Receiver<()>,
    /// Start a drain with the configured wait (SIGUSR1, e.g. from a preStop hook).
    pub drain: mpsc::Receiver<()>,
}

/// The OPEN we send a peer: from the config, with the GR values of the `gr-profile` plugin when
/// one has answered for this peer.
fn local_settings(
    global: &crate::config::Global,
    peer: &Peer,
    restarting: bool,
    gr: Option<&GrTimers>,
) -> LocalSettings {
    let families = peer.families();
    LocalSettings {
        local_asn: global.asn.0,
        remote_asn: peer.asn.0,
        router_id: global.router_id.0,
        hold_time: peer.hold_time.0,
        graceful_restart: peer.graceful_restart.then(|| GracefulRestartCap {
            restart_state: restarting,
            notification: gr.is_none_or(|g| g.notification),
            restart_time: gr.map_or(global.restart_time.0, |g| g.restart_time),
            families: families
                .iter()
                .map(|f| {
                    let (afi, safi) = f.afi_safi();
                    let forwarding_preserved = gr
                        .and_then(|g| {
                            g.forwarding
                                .iter()
                                .find(|(fam, _)| fam == f)
                                .map(|(_, fwd)| *fwd)
                        })
                        .unwrap_or(global.forwarding_preserved);
                    GrFamily {
                        afi,
                        safi,
                        forwarding_preserved,
                    }
                })
                .collect(),
        }),
        families,
    }
}

impl Daemon {
    /// `policy`: the plugins loaded (and checked) before the daemon starts.
    pub fn new(
        mut config: Config,
        config_path: std::path::PathBuf,
        runtime: Arc<PluginRuntime>,
        policy: PolicySet,
    ) -> Daemon {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (plugin_tx, plugin_rx) = mpsc::unbounded_channel();
        let (policy_tx, policy_rx) = mpsc::unbounded_channel();
        let (timers_tx, timers) = mpsc::unbounded_channel();
        let candidates = Arc::new(Candidates::new(config.take_announcements()));
        Daemon {
            config,
            config_path,
            peers: BTreeMap::new(),
            rib: Rib::default(),
            interner: AttrInterner::default(),
            route_interner: RouteInterner::default(),
            policy: Arc::new(policy),
            candidates,
            runtime,
            plugin_status: BTreeMap::new(),
            plugin_tx,
            plugin_rx,
            watcher: None,
            events_tx,
            events,
            policy_tx,
            policy_worker: PolicyWorker::start(),
            policy_rx,
            timers_tx,
            timers,
            restarting: false,
            drain: DrainPhase::Off,
            drain_token: 0,
            started: Instant::now(),
            deferral: None,
        }
    }

    /// `gr`: GR values already chosen by the profile plugin, so the first OPEN carries them.
    fn start_peer(&mut self, peer: Peer, gr: Option<GrTimers>) {
        let name: Arc<str> = peer.name().into();
        let cfg = SessionConfig {
            name: name.clone(),
            remote: peer.remote(),
            local_address: peer.local_address,
            passive: peer.passive,
            connect_retry: peer.connect_retry(),
            settings: local_settings(&self.config.global, &peer, self.restarting, gr.as_ref()),
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
            rib_id: self.rib.add_peer(),
            adj_out: AdjRibOut::default(),
            updates_received: 0,
            updates_sent: 0,
            last_error: None,
            source: None,
            helper: GrHelper::default(),
            helper_token: 0,
            up_once: false,
            eor_received: BTreeSet::new(),
            eor_sent: false,
            gr_timers: gr,
        };
        self.peers.insert(name, state);
    }

    /// Stops a peer's session for good (de-configured): the peer withdraws our routes, and its
    /// routes leave the Loc-RIB.
    fn remove_peer(&mut self, name: &Arc<str>, subcode: u8, why: &str) {
        let Some(peer) = self.peers.remove(name) else {
            return;
        };
        let notification = Self::decommission_notice(peer.negotiated.as_ref(), subcode, why);
        let (done, _) = oneshot::channel();
        let _ = peer.commands.send(SessionCommand::Stop {
            notification: Some(notification),
            done,
        });
        self.rib.remove_peer(peer.rib_id);
        if let Some(waiting) = self.deferral.as_mut() {
            waiting.remove(name);
        }
        info!(peer = %name, reason = why, "peer removed");
    }

    pub async fn run(mut self, mut inputs: Inputs) {
        self.start_restart_state();
        for peer in self.config.peers().cloned().collect::<Vec<_>>() {
            // Before any session exists, so asking the GR profile here delays nothing.
            let gr = self.initial_gr_timers(&peer);
            self.start_peer(peer, gr);
        }
        self.start_plugin_watch();
        loop {
            tokio::select! {
                Some(()) = inputs.reload.recv() => self.reload(),
                Some(()) = inputs.drain.recv() => {
                    let wait = Duration::from_secs(self.config.global.drain_wait as u64);
                    self.start_drain(wait, None);
                }
                Some(timer) = self.timers.recv() => self.on_timer(timer),
                Some(ev) = self.plugin_rx.recv() => self.on_plugin_event(ev),
                Some(ev) = self.events.recv() => self.on_session_event(ev),
                Some(result) = self.policy_rx.recv() => self.on_policy_result(result),
                Some((stream, from)) = inputs.incoming.recv() => self.on_incoming(stream, from),
                Some((req, reply)) = inputs.control.recv() => self.on_control(req, reply),
                _ = &mut inputs.shutdown => break,
            }
        }
        self.shutdown().await;
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
                let source = Arc::new(PathSource {
                    peer: ev.peer.to_string(),
                    peer_address: remote.ip(),
                    peer_router_id: negotiated.remote_id,
                    ibgp: negotiated.remote_asn == self.config.global.asn.0,
                });
                self.rib.set_source(peer.rib_id, source.clone());
                peer.source = Some(source);
                peer.negotiated = Some(*negotiated);
                peer.adj_out.clear();
                peer.eor_received.clear();
                peer.eor_sent = false;
                let first_time = !peer.up_once;
                peer.up_once = true;
                if first_time && self.restarting {
                    // R=1 was for this first session only; a later flap is no restart.
                    let settings = local_settings(
                        &self.config.global,
                        &peer.cfg,
                        false,
                        peer.gr_timers.as_ref(),
                    );
                    let _ = peer.commands.send(SessionCommand::Settings(settings));
                }
                self.helper_session_up(&ev.peer);
                self.refresh_gr_timers(&ev.peer);
                self.evaluate(&ev.peer);
            }
            SessionEventKind::Down(reason) => {
                peer.last_error = Some(describe_down(&reason));
                peer.established_at = None;
                peer.adj_out.clear();
                if let Some(n) = peer.negotiated.take() {
                    self.helper_session_down(&ev.peer, &n, &reason);
                }
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
            hold_time: peer.cfg.hold_time.0,
            families: n.families.clone(),
        };
        let (policy, candidates, tx) = (
            self.policy.clone(),
            self.candidates.clone(),
            self.policy_tx.clone(),
        );
        let (peer_name, generation) = (name.clone(), peer.generation);
        self.policy_worker.run(move || {
            let evaluation = evaluate(&policy, &view, &candidates);
            let _ = tx.send(PolicyResult {
                peer: peer_name,
                generation,
                evaluation,
                view,
                candidates,
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
        if !Arc::ptr_eq(&r.candidates, &self.candidates) {
            return; // the config changed meanwhile; a newer evaluation is on its way
        }
        for (kind, err) in &r.evaluation.errors {
            warn!(peer = %r.peer, plugin = kind.name(), error = %err, "plugin failed; routes keep their last good outcome");
            let status = self.plugin_status.entry(*kind).or_default();
            status.last_error = Some(err.to_string());
        }
        // A failed plugin: keep what the peer already has for each route, else `on_error`.
        let mut keep = Vec::new();
        let decisions: Vec<Decision> = r
            .evaluation
            .decisions
            .into_iter()
            .zip(&r.candidates.announce)
            .map(|(d, cand)| match d {
                Decision::Fallback {
                    on_error,
                    configured,
                } => {
                    if peer.adj_out.get(&cand.prefix.0).is_some() {
                        keep.push(cand.prefix.0);
                        Decision::Skip
                    } else if on_error == OnError::FailOpen {
                        Decision::Announce(configured)
                    } else {
                        Decision::Skip
                    }
                }
                other => other,
            })
            .collect();
        let mut built = build_exports(
            &r.view,
            &r.candidates.announce,
            &decisions,
            &mut self.interner,
        );
        for p in keep {
            if let Some(old) = peer.adj_out.get(&p) {
                built.insert(p, old.clone());
            }
        }
        let desired = match self.drain {
            DrainPhase::Withdrawn => BTreeMap::new(),
            DrainPhase::Announcing { .. } => {
                with_graceful_shutdown(built, r.view.is_ibgp(), &mut self.interner)
            }
            DrainPhase::Off => built,
        };
        let diff = peer.adj_out.replace(desired);
        let n = peer.negotiated.as_ref().expect("established");
        let mut msgs = encode_diff(&diff, n.codec);
        if !peer.eor_sent {
            // RFC 4724 §2: End-of-RIB per family once the initial table is sent.
            for f in &n.families {
                msgs.push(Message::Update(Update::end_of_rib_marker(*f)).encode(n.codec));
            }
            peer.eor_sent = true;
            info!(peer = %r.peer, routes = peer.adj_out.len(), since_start_ms = self.started.elapsed().as_millis() as u64, "initial table and End-of-RIB sent");
        }
        info!(peer = %r.peer, announced = diff.announce.len(), withdrawn = diff.withdraw.len(), messages = msgs.len(), "Adj-RIB-Out updated");
        peer.updates_sent += msgs.len() as u64;
        let _ = peer.commands.send(SessionCommand::Send(msgs));
    }

    fn on_control(&mut self, req: ControlRequest, reply: oneshot::Sender<ControlResponse>) {
        let answer = match req {
            ControlRequest::Drain { wait_secs } => {
                let wait = wait_secs.unwrap_or(self.config.global.drain_wait as u64);
                return self.start_drain(Duration::from_secs(wait), Some(reply));
            }
            ControlRequest::Undrain => {
                self.undrain();
                ControlResponse::Done {
                    message: "routes announced normally".into(),
                }
            }
            ControlRequest::Reset { peer, hard } => self.reset_peer(&peer, hard),
            other => crate::api::respond(other, self),
        };
        let _ = reply.send(answer);
    }

    fn evaluate_all(&mut self) {
        let names: Vec<Arc<str>> = self.peers.keys().cloned().collect();
        for name in names {
            self.evaluate(&name);
        }
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

/// The thread policy evaluations run on, one at a time, in the order they were asked for.
struct PolicyWorker {
    jobs: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

impl PolicyWorker {
    fn start() -> PolicyWorker {
        let (jobs, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        std::thread::Builder::new()
            .name("policy".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job();
                }
            })
            .expect("spawn the policy thread");
        PolicyWorker { jobs }
    }

    fn run(&self, job: impl FnOnce() + Send + 'static) {
        // The thread ends only when this sender is dropped, with the daemon.
        let _ = self.jobs.send(Box::new(job));
    }
}
