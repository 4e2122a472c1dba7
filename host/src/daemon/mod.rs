//! The owner of all routing state, sans-IO: [`Input`]s in, [`Effects`] out.
//!
//! The daemon holds every peer's state ([`peer`]), the RIB, the Adj-RIBs-Out, the GR machines
//! and the plugins in service. It touches no socket, clock or thread: what it wants done (send
//! these UPDATEs, arm this timer, evaluate the policy for this peer, answer this request) goes
//! out through [`Effects`], and what happens comes back as an [`Input`] tagged with what it was
//! for, so a late answer for a session that has gone is recognised and dropped. [`driver`]
//! runs it on tokio; the tests in `tests/` drive it with a virtual clock and no sockets.
//!
//! ```text
//!   Input::Session (state, up, down, UPDATE, ROUTE-REFRESH) ─┐
//!   Input::Timer (helper, deferral, restart window, drain) ──┤
//!   Input::Control (show, drain, reset) ─────────────────────┤      ┌─► Effects::command (per peer)
//!   Input::Policy (an evaluation done) ──────────────────────┼─► Daemon ─► Effects::arm / evaluate /
//!   Input::Plugin (file changed, loaded, GR profile answer) ─┤      │      load_plugin / gr_profile
//!   Input::Reload (config re-read) / Input::Drain ───────────┤      └─► Effects::answer / store_record
//!   Input::Bfd / Input::Plan / Input::Takeover ──────────────┘          / bfd / takeover_frame
//! ```

mod announced;
mod bfd;
mod clock;
mod control;
mod driver;
mod exports;
mod graceful;
pub(crate) mod health;
mod ingest;
mod leaving;
mod limits;
mod metrics;
mod outgoing;
mod own_restart;
mod peer;
pub mod plan;
mod plugin_swap;
mod provenance;
mod received;
mod reload;
mod sessions;
mod takeover;
mod telemetry;
#[cfg(test)]
mod tests;
mod views;

pub use driver::{run, Exit, Inputs};
pub use plugin_swap::{PluginEvent, PluginLoad, PluginStatus};

use crate::api::{ControlRequest, ControlResponse};
use crate::config::Config;
use crate::fsm::LocalSettings;
use crate::gr::RestartRecord;
use crate::plugins::PluginKind;
use crate::policy::plugins::{evaluate, Candidates, Evaluation, GrTimers, PolicySet};
use crate::policy::PeerView;
use crate::session::{SessionConfig, SessionEvent};
use crate::wire::{GracefulRestartCap, Notification};
use bytes::Bytes;
use peer::PeerState;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything that can happen to the daemon.
#[derive(Debug)]
pub enum Input {
    /// The listener accepted a connection from `from`; the driver holds it as `id` until
    /// [`Effects::deliver`] says whose it is.
    Connection {
        from: IpAddr,
        id: ConnectionId,
    },
    Session(SessionEvent),
    Timer(Timer),
    /// A control socket request; the answer goes to [`Effects::answer`] with `reply`.
    Control {
        request: ControlRequest,
        reply: ReplyTo,
    },
    Policy(PolicyResult),
    Plugin(PluginEvent),
    /// SIGHUP: the config file as the driver re-read it, or why it was refused.
    /// The config file re-read: on SIGHUP, or asked over the control API (`reply`: answered
    /// with the outcome).
    Reload {
        config: Result<Config, String>,
        reply: Option<ReplyTo>,
    },
    /// SIGUSR1: drain with the configured wait.
    Drain,
    /// A BFD session changed state.
    Bfd(crate::bfd::io::Event),
    /// A plan's evaluations (`gracewire plan`), to be diffed and answered.
    Plan(plan::PlanResult),
    /// A step of the process-to-process takeover ([`crate::takeover`]).
    Takeover(TakeoverStep),
    /// A health check's probe ended.
    Health(crate::health::Report),
}

/// What the driver meets in a takeover that the daemon has a part in.
#[derive(Debug)]
pub enum TakeoverStep {
    /// Old side: these Established sessions are paused for the new process. Each one's frame
    /// goes out through [`Effects::takeover_frame`]; `None` there keeps it here.
    Paused(Vec<(Arc<str>, crate::session::Paused)>),
    /// Old side: the takeover failed after the sessions paused. They go on here, and every
    /// BFD session is set up again (its task ended to give up its sockets).
    Failed,
    /// New side: this many of the old process's sessions could not be resumed here.
    Declined(usize),
}

/// A paused session as the takeover sends it: its header and body ([`crate::takeover::format`]).
pub type TakeoverFrame = (crate::takeover::format::SessionState, Vec<u8>);

const STRANGER_LOG_EVERY: Duration = Duration::from_secs(10);

/// Names a pending control request; the driver keeps the channel to answer on.
pub type ReplyTo = u64;

/// Names an accepted connection the driver holds until the daemon says whose it is.
pub type ConnectionId = u64;

/// What the daemon tells one peer's session.
#[derive(Debug)]
pub enum PeerCommand {
    /// Pre-encoded messages (UPDATEs, ROUTE-REFRESH markers), sent if still Established.
    Send(Vec<Bytes>),
    /// Settings for the next OPEN; the running session is left as it is.
    Settings(LocalSettings),
    /// Send this NOTIFICATION, close, and connect again; with `hold_down`, not before then.
    Reset {
        notification: Notification,
        hold_down: Option<Duration>,
    },
    /// End the session task; `Some` sends that NOTIFICATION first.
    Stop(Option<Notification>),
}

/// What the daemon asks of the world. Every call returns at once; results come back as inputs.
pub trait Effects {
    /// Gives accepted connection `id` to `peer`'s session; `None` closes it unread.
    fn deliver(&mut self, id: ConnectionId, peer: Option<Arc<str>>);
    /// Starts the session task of a newly configured peer.
    fn spawn_session(&mut self, cfg: SessionConfig);
    fn command(&mut self, peer: &Arc<str>, cmd: PeerCommand);
    /// `timer` comes back as [`Input::Timer`] after `after`.
    fn arm(&mut self, after: Duration, timer: Timer);
    /// Runs the policy off the loop; comes back as [`Input::Policy`].
    fn evaluate(&mut self, job: PolicyJob);
    /// Compiles, instantiates and checks a plugin off the loop; comes back as
    /// [`PluginEvent::Loaded`].
    fn load_plugin(&mut self, job: PluginLoad);
    /// Asks the GR profile plugin for a peer's timers; comes back as [`PluginEvent::GrTimers`].
    fn gr_profile(&mut self, job: GrProfileJob);
    /// Watches these plugin files (replacing any earlier watch); changes come back as
    /// [`PluginEvent::Changed`].
    fn watch_plugins(&mut self, files: Vec<(PluginKind, PathBuf)>);
    fn answer(&mut self, to: ReplyTo, response: ControlResponse);
    /// Loads a plan's candidate and evaluates it off the loop; comes back as [`Input::Plan`].
    fn plan(&mut self, job: plan::PlanJob);
    /// Writes the restart record to `state_dir`.
    fn store_record(&mut self, record: RestartRecord);
    /// Writes the controllers' announcements ([`crate::sources::Sources::to_file`]) to
    /// `state_dir`, before the request that changed them is answered: unlike the other
    /// effects, done when it returns.
    fn store_announcements(&mut self, file: Vec<u8>) -> Result<(), String>;
    /// The TCP-MD5 keys the listener requires, per peer address (`None`: none any more).
    fn listener_keys(&mut self, keys: Vec<(IpAddr, Option<crate::config::Secret>)>);
    /// Creates, changes or removes a BFD session; its changes come back as [`Input::Bfd`].
    fn bfd(&mut self, cmd: crate::bfd::io::Command);
    /// The frame for a session paused for a takeover ([`TakeoverStep::Paused`]); `None`: it
    /// cannot move (its peer is gone or no longer up) and goes on here.
    fn takeover_frame(&mut self, peer: Arc<str>, frame: Option<TakeoverFrame>);
    /// The health probes that should run: one task each, started, restarted when its
    /// generation changed, stopped when it is no longer listed. Reports come back as
    /// [`Input::Health`].
    fn health_probes(&mut self, probes: Vec<health::Probe>);
    /// Whether anyone watches events (`WatchEvents`): none is built otherwise.
    fn watched(&self) -> bool;
    /// Sends an event to its watchers; never waits (a slow watcher is dropped instead).
    fn publish(&mut self, kind: crate::api::proto::event::Kind);
}

/// Publishes an event (`WatchEvents`) when someone watches; `make` runs only then.
pub(super) fn emit(fx: &mut dyn Effects, make: impl FnOnce() -> crate::api::proto::event::Kind) {
    if fx.watched() {
        fx.publish(make());
    }
}

/// Timers of the daemon itself (session timers live in the session tasks). Each carries what
/// it was armed for, so one that fires after its purpose is gone does nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    HelperRestart {
        peer: Arc<str>,
        token: u64,
    },
    HelperStale {
        peer: Arc<str>,
        token: u64,
    },
    /// A long-lived stale time (RFC 9494) ran out.
    HelperLongLived {
        peer: Arc<str>,
        token: u64,
    },
    RestartWindowClosed,
    SelectionDeferralExpired,
    Heartbeat,
    DrainWithdraw {
        token: u64,
    },
    /// The router restarted its BFD session: if it is not Up again by now, that is a failure.
    BfdRecovery {
        peer: Arc<str>,
        token: u64,
    },
    /// The wait at start for every health check's first verdict ran out.
    FirstVerdicts,
}

/// One policy evaluation to run off the loop.
pub struct PolicyJob {
    pub peer: Arc<str>,
    /// The Established session it is for ([`peer::Up::epoch`]).
    pub epoch: u64,
    pub policy: Arc<PolicySet>,
    pub view: PeerView,
    pub candidates: Arc<Candidates>,
}

impl PolicyJob {
    /// Runs the plugins (or, without any, the configured announcements).
    pub fn run(self) -> PolicyResult {
        let evaluation = evaluate(&self.policy, &self.view, &self.candidates);
        self.answer(evaluation)
    }

    /// The result of this job with `evaluation` as its outcome.
    pub fn answer(self, evaluation: Evaluation) -> PolicyResult {
        PolicyResult {
            peer: self.peer,
            epoch: self.epoch,
            evaluation,
            view: self.view,
            candidates: self.candidates,
        }
    }
}

pub struct PolicyResult {
    pub peer: Arc<str>,
    pub epoch: u64,
    pub evaluation: Evaluation,
    pub view: PeerView,
    pub candidates: Arc<Candidates>,
}

impl std::fmt::Debug for PolicyResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyResult")
            .field("peer", &self.peer)
            .field("epoch", &self.epoch)
            .field("errors", &self.evaluation.errors)
            .finish_non_exhaustive()
    }
}

/// One question to the GR profile plugin.
pub struct GrProfileJob {
    pub peer: Arc<str>,
    pub plugin: Arc<crate::plugins::Plugin>,
    pub view: PeerView,
    /// The peer's own GR capability, once a session has shown it.
    pub peer_capability: Option<GracefulRestartCap>,
    /// The longest long-lived stale time the peer advertised (RFC 9494); 0 without LLGR.
    pub peer_long_lived_stale_time: u32,
}

/// How a start begins: what the last run left in `state_dir`, and the GR profile's first
/// answer per peer (asked before any session exists, so asking synchronously delays nothing).
pub struct Start<'a> {
    pub unix_now: u64,
    pub record: Option<RestartRecord>,
    /// The health checks' verdicts and what operators set, from the record (also after a
    /// takeover, which uses no record otherwise).
    pub health: health::Carried,
    /// `state_dir`'s [`crate::sources::FILE`], if there is one.
    pub announcements: Option<Vec<u8>>,
    pub gr_profile: &'a dyn Fn(&PeerView) -> Option<GrTimers>,
}

pub struct Daemon {
    /// The running config, without its announcements: those moved into `announced`.
    config: Config,
    /// Every source's announcements: the config file's and the controllers'.
    announced: announced::Announced,
    peers: BTreeMap<Arc<str>, PeerState>,
    /// Every peer's received routes, the best per prefix, and their attribute sets.
    ingest: received::Ingest,
    /// The plugins and candidates, and what we send: attribute sets, update groups, tables.
    export: outgoing::Export,
    /// The health checks and the announcements they gate.
    health: health::Health,
    plugin_status: BTreeMap<PluginKind, PluginStatus>,
    telemetry: telemetry::Telemetry,
    /// Our own graceful restart: the restart window and the selection deferral.
    own_restart: own_restart::OwnRestart,
    /// The drain and the decommission mark.
    leaving: leaving::Leaving,
    clock: clock::Clock,
}

impl Daemon {
    /// `policy`: the plugins loaded (and checked) before the daemon starts.
    pub fn new(mut config: Config, policy: PolicySet, now: Instant) -> Daemon {
        let mut health = health::Health::default();
        let announced = announced::Announced::new(config.take_announcements());
        let candidates = health.configure(&config, announced.all(), 0);
        Daemon {
            config,
            announced,
            peers: BTreeMap::new(),
            ingest: Default::default(),
            export: outgoing::Export::new(policy, candidates),
            health,
            plugin_status: BTreeMap::new(),
            telemetry: Default::default(),
            own_restart: Default::default(),
            leaving: Default::default(),
            clock: clock::Clock::new(now),
        }
    }

    /// Decides whether this start is a restart, then starts every configured peer.
    pub fn start(&mut self, start: Start, fx: &mut dyn Effects) {
        self.clock.start_unix(start.unix_now);
        self.restore_sources(start.announcements);
        if !self.announced.api.is_empty() {
            self.configure_candidates();
        }
        if self
            .health
            .restore(&start.health, start.unix_now, self.now_ms())
        {
            self.export.candidates = Arc::new(self.health.candidates());
        }
        self.begin_restart_state(start.record.as_ref(), fx);
        for peer in self.config.peers().cloned().collect::<Vec<_>>() {
            self.start_peer(peer, Default::default(), start.gr_profile, fx);
        }
        // Once the peers are known: the record names what they keep for us (a crash before the
        // first heartbeat finds it complete).
        self.write_record(false, fx);
        fx.arm(crate::gr::restart::HEARTBEAT, Timer::Heartbeat);
        self.arm_deferral_timer(fx);
        self.watch_plugin_files(fx);
        self.push_listener_keys(&[], fx);
        fx.health_probes(self.health.probes());
        if let Some(wait) = self.health.wait_for_first_verdicts(self.now_ms()) {
            fx.arm(wait, Timer::FirstVerdicts);
        }
    }

    /// Tells the listener every peer's key, and that `removed` addresses have none.
    fn push_listener_keys(&self, removed: &[IpAddr], fx: &mut dyn Effects) {
        let mut keys: Vec<(IpAddr, Option<crate::config::Secret>)> =
            removed.iter().map(|a| (*a, None)).collect();
        keys.extend(
            self.peers
                .values()
                .map(|p| (p.cfg.address, p.cfg.password.clone())),
        );
        fx.listener_keys(keys);
    }

    pub fn handle(&mut self, now: Instant, input: Input, fx: &mut dyn Effects) {
        self.clock.set(now);
        match input {
            Input::Connection { from, id } => {
                let peer = self.peer_of_connection(from);
                fx.deliver(id, peer);
            }
            Input::Session(ev) => self.on_session_event(ev, fx),
            Input::Timer(t) => self.on_timer(t, fx),
            Input::Control { request, reply } => self.on_control(request, reply, fx),
            Input::Policy(r) => self.on_policy_result(r, fx),
            Input::Plugin(ev) => self.on_plugin_event(ev, fx),
            Input::Reload { config, reply } => {
                let outcome = self.reload(config, fx);
                if let Some(reply) = reply {
                    let answer = match outcome {
                        Ok(message) => crate::api::ControlResponse::Done { message },
                        Err(e) => crate::api::ControlResponse::error(
                            crate::api::Code::FailedPrecondition,
                            format!("config reload rejected, running config unchanged: {e}"),
                        ),
                    };
                    fx.answer(reply, answer);
                }
            }
            Input::Bfd(ev) => self.on_bfd(ev, fx),
            Input::Health(report) => self.on_health(report, fx),
            Input::Plan(result) => self.on_plan(result, fx),
            Input::Takeover(step) => self.on_takeover(step, fx),
            Input::Drain => {
                let wait = Duration::from_secs(self.config.global.drain_wait as u64);
                self.start_drain(wait, None, fx);
            }
        }
    }

    /// An accepted connection from `from`: the peer whose session takes it, or `None` for an
    /// address that is no configured peer (closed at once by the driver; counted, and logged at
    /// most every 10 s so a scan cannot flood the log).
    fn peer_of_connection(&mut self, from: IpAddr) -> Option<Arc<str>> {
        let now = self.clock.now();
        if let Some(peer) = self.peer_for_address(from) {
            return Some(peer.clone());
        }
        let t = &mut self.telemetry;
        t.strangers += 1;
        t.strangers_unlogged += 1;
        if t.stranger_logged
            .is_none_or(|at| now.duration_since(at) >= STRANGER_LOG_EVERY)
        {
            tracing::warn!(%from, refused = t.strangers_unlogged, "connection from an address that is not a configured peer: closed (one line per 10 s at most, `refused` counts since the last)");
            t.stranger_logged = Some(now);
            t.strangers_unlogged = 0;
        }
        None
    }

    /// The peer a connection from `from` belongs to.
    fn peer_for_address(&self, from: IpAddr) -> Option<&Arc<str>> {
        let from = canonical(from);
        self.peers
            .iter()
            .find(|(_, p)| canonical(p.cfg.address) == from)
            .map(|(name, _)| name)
    }

    fn token(&mut self) -> u64 {
        self.clock.token()
    }
}

/// IPv4-mapped IPv6 addresses (from a dual-stack socket) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}
