//! Drives a [`Daemon`] with no sockets and a virtual clock, in the style of holo-bgp's
//! conformance tests: a test lists what happens (a peer comes up with these capabilities, sends
//! these UPDATEs and End-of-RIB, a plugin answers, a timer fires, a reload) and asserts what
//! each peer was sent, decoded, and what `show` would print.
//!
//! The [`Recorder`] stands in for the world: it keeps what each session task was told, the
//! timers armed (fired by [`Harness::advance`] in deadline order), the policy jobs (run at once
//! by [`Harness::settle`] unless a test holds them) and control answers. Sessions come up
//! through the real [`negotiate`] with the settings the daemon last gave them, so the R, N and
//! F bits a test sees are the ones the OPEN would carry.

use crate::api::{ControlRequest, ControlResponse, PeerSummary, RouteView};
use crate::config::Config;
use crate::daemon::{
    ConnectionId, Daemon, Effects, GrProfileJob, Input, PeerCommand, PluginEvent, PluginLoad,
    PolicyJob, ReplyTo, Start, TakeoverFrame, Timer,
};
use crate::fsm::{negotiate, DownReason, LocalSettings, State};
use crate::gr::RestartRecord;
use crate::plugins::PluginKind;
use crate::policy::plugins::{Evaluation, GrTimers, PolicySet};
use crate::policy::PeerView;
use crate::session::{SessionConfig, SessionEvent, SessionEventKind};
use crate::wire::{
    decode_message, Capability, CodecContext, Decoded, Family, GracefulRestartCap, Message,
    Notification, Open, PathAttributes, Update,
};
use bytes::Bytes;
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use super::inputs::*;

/// What one session task was told.
pub struct FakeSession {
    pub config: SessionConfig,
    /// What the next OPEN carries.
    pub settings: LocalSettings,
    pub codec: Option<CodecContext>,
    /// Messages sent while up, not yet taken by the test.
    pub sent: Vec<Bytes>,
    pub resets: Vec<Notification>,
    pub hold_downs: Vec<Option<Duration>>,
}

/// The world as the daemon sees it.
#[derive(Default)]
pub struct Recorder {
    now: Option<Instant>,
    pub sessions: BTreeMap<String, FakeSession>,
    /// Every Stop command, in order: (peer, NOTIFICATION sent).
    pub stops: Vec<(String, Option<Notification>)>,
    timers: Vec<(Instant, u64, Timer)>,
    seq: u64,
    pub policy_jobs: VecDeque<PolicyJob>,
    /// What the daemon last wrote of the controllers' announcements.
    pub announcements: Option<Vec<u8>>,
    /// `state_dir` refuses writes.
    pub state_dir_broken: bool,
    pub plugin_loads: Vec<PluginLoad>,
    pub gr_jobs: Vec<GrProfileJob>,
    answers: HashMap<ReplyTo, ControlResponse>,
    pub records: Vec<RestartRecord>,
    pub watched: Vec<(PluginKind, PathBuf)>,
    pub listener_keys: BTreeMap<IpAddr, crate::config::Secret>,
    /// The BFD sessions the daemon asked for, by peer.
    pub bfd: BTreeMap<String, crate::bfd::io::PeerBfd>,
    /// Plans asked for (`gracewire plan`), to be run by the test.
    pub plans: Vec<crate::daemon::plan::PlanJob>,
    /// Accepted connections given to a session (or `None`: closed), in order.
    pub delivered: Vec<(ConnectionId, Option<String>)>,
    /// Frames for sessions paused for a takeover, in order.
    pub takeover_frames: Vec<(String, Option<TakeoverFrame>)>,
    /// The health probes last asked for: check and generation.
    pub health_probes: Option<Vec<(String, u64)>>,
    /// Events published (`WatchEvents`); the recorder always watches.
    pub events: Vec<crate::api::proto::event::Kind>,
}

impl Effects for Recorder {
    fn watched(&self) -> bool {
        true
    }

    fn publish(&mut self, kind: crate::api::proto::event::Kind) {
        self.events.push(kind);
    }

    fn deliver(&mut self, id: ConnectionId, peer: Option<Arc<str>>) {
        self.delivered.push((id, peer.map(|p| p.to_string())));
    }

    fn takeover_frame(&mut self, peer: Arc<str>, frame: Option<TakeoverFrame>) {
        self.takeover_frames.push((peer.to_string(), frame));
    }

    fn health_probes(&mut self, probes: Vec<crate::daemon::health::Probe>) {
        self.health_probes = Some(
            probes
                .into_iter()
                .map(|(n, _, g)| (n.to_string(), g))
                .collect(),
        );
    }

    fn plan(&mut self, job: crate::daemon::plan::PlanJob) {
        self.plans.push(job);
    }

    fn spawn_session(&mut self, config: SessionConfig) {
        let session = FakeSession {
            settings: config.settings.clone(),
            config,
            codec: None,
            sent: Vec::new(),
            resets: Vec::new(),
            hold_downs: Vec::new(),
        };
        self.sessions
            .insert(session.config.name.to_string(), session);
    }

    fn command(&mut self, peer: &Arc<str>, cmd: PeerCommand) {
        let Some(s) = self.sessions.get_mut(peer.as_ref()) else {
            panic!("command for {peer}, which has no session");
        };
        match cmd {
            // A session task sends only while Established.
            PeerCommand::Send(msgs) if s.codec.is_some() => s.sent.extend(msgs),
            PeerCommand::Send(_) => {}
            PeerCommand::Settings(settings) => s.settings = settings,
            PeerCommand::Reset {
                notification,
                hold_down,
            } => {
                s.resets.push(notification);
                s.hold_downs.push(hold_down);
            }
            PeerCommand::Stop(n) => {
                s.codec = None;
                self.stops.push((peer.to_string(), n));
            }
        }
    }

    fn arm(&mut self, after: Duration, timer: Timer) {
        self.seq += 1;
        let now = self.now.expect("clock set");
        self.timers.push((now + after, self.seq, timer));
    }

    fn evaluate(&mut self, job: PolicyJob) {
        self.policy_jobs.push_back(job);
    }

    fn load_plugin(&mut self, job: PluginLoad) {
        self.plugin_loads.push(job);
    }

    fn gr_profile(&mut self, job: GrProfileJob) {
        self.gr_jobs.push(job);
    }

    fn watch_plugins(&mut self, files: Vec<(PluginKind, PathBuf)>) {
        self.watched = files;
    }

    fn answer(&mut self, to: ReplyTo, response: ControlResponse) {
        assert!(
            self.answers.insert(to, response).is_none(),
            "request {to} answered twice"
        );
    }

    fn store_record(&mut self, record: RestartRecord) {
        self.records.push(record);
    }

    fn store_announcements(&mut self, file: Vec<u8>) -> Result<(), String> {
        match self.state_dir_broken {
            true => Err("Read-only file system (os error 30)".into()),
            false => {
                self.announcements = Some(file);
                Ok(())
            }
        }
    }

    fn bfd(&mut self, cmd: crate::bfd::io::Command) {
        use crate::bfd::io::Command;
        match cmd {
            Command::Set(spec) => {
                self.bfd.insert(spec.peer.to_string(), spec);
            }
            Command::Remove(peer) => {
                self.bfd.remove(&*peer);
            }
            Command::PlannedStop(done) => {
                let _ = done.send(());
            }
            Command::Takeover(given) => {
                let _ = given.send(Default::default());
            }
        }
    }

    fn listener_keys(&mut self, keys: Vec<(IpAddr, Option<crate::config::Secret>)>) {
        for (addr, key) in keys {
            match key {
                Some(k) => self.listener_keys.insert(addr, k),
                None => self.listener_keys.remove(&addr),
            };
        }
    }
}

type PolicyAnswer = Box<dyn FnMut(&PolicyJob) -> Evaluation>;

pub struct Harness {
    pub daemon: Daemon,
    pub fx: Recorder,
    base: Instant,
    now: Instant,
    next_reply: ReplyTo,
    /// Policy jobs wait until [`Harness::release_policy`].
    pub hold_policy: bool,
    /// How evaluations are answered; by default the real policy step (no plugins: every route
    /// as configured).
    pub policy_answer: Option<PolicyAnswer>,
}

/// How a harness starts.
pub struct Boot {
    /// The restart record the "last run" left.
    pub record: Option<RestartRecord>,
    /// The GR profile plugin's first answer per peer.
    pub gr_profile: Option<GrTimers>,
    /// What `state_dir` keeps of the controllers' announcements.
    pub announcements: Option<Vec<u8>>,
}

impl Harness {
    /// A fresh start.
    pub fn new(config: &str) -> Harness {
        Self::boot(
            config,
            Boot {
                record: None,
                gr_profile: None,
                announcements: None,
            },
        )
    }

    /// A start `down_for` seconds after the last run stopped cleanly (restart time 120 s).
    pub fn restart(config: &str, down_for: u64) -> Harness {
        Self::boot(config, Boot::after(down_for))
    }

    pub fn boot(config: &str, boot: Boot) -> Harness {
        let config = parse(config);
        let base = Instant::now();
        let mut h = Harness {
            daemon: Daemon::new(config, PolicySet::default(), base),
            fx: Recorder::default(),
            base,
            now: base,
            next_reply: 0,
            hold_policy: false,
            policy_answer: None,
        };
        h.fx.now = Some(base);
        let profile = boot.gr_profile.clone();
        let gr_profile = move |_: &PeerView| profile.clone();
        let start = Start {
            unix_now: UNIX_START,
            health: crate::daemon::health::Carried::from_record(boot.record.as_ref()),
            record: boot.record,
            announcements: boot.announcements,
            gr_profile: &gr_profile,
        };
        h.daemon.start(start, &mut h.fx);
        h.settle();
        h
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    pub fn input(&mut self, input: Input) {
        self.daemon.handle(self.now, input, &mut self.fx);
        self.settle();
    }

    /// Runs queued policy jobs (unless held) until nothing is left to do.
    pub fn settle(&mut self) {
        while !self.hold_policy {
            let Some(job) = self.fx.policy_jobs.pop_front() else {
                return;
            };
            let result = match self.policy_answer.as_mut() {
                Some(answer) => {
                    let evaluation = answer(&job);
                    job.answer(evaluation)
                }
                None => job.run(),
            };
            self.daemon
                .handle(self.now, Input::Policy(result), &mut self.fx);
        }
    }

    /// Runs the held policy jobs once, in order.
    pub fn release_policy(&mut self) {
        self.hold_policy = false;
        self.settle();
    }

    /// Moves the clock on, firing every timer that falls due, in order.
    pub fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        loop {
            self.fx.timers.sort_by_key(|(at, seq, _)| (*at, *seq));
            match self.fx.timers.first() {
                Some((at, _, _)) if *at <= until => {
                    let (at, _, timer) = self.fx.timers.remove(0);
                    self.now = at;
                    self.fx.now = Some(at);
                    self.input(Input::Timer(timer));
                }
                _ => break,
            }
        }
        self.now = until;
        self.fx.now = Some(until);
    }

    /// Timers armed and not yet fired.
    pub fn pending_timers(&self) -> Vec<(Duration, Timer)> {
        let mut t: Vec<_> = self
            .fx
            .timers
            .iter()
            .map(|(at, _, t)| (*at - self.now, t.clone()))
            .collect();
        t.sort_by_key(|(d, _)| *d);
        t
    }

    fn session(&mut self, name: &str) -> &mut FakeSession {
        self.fx
            .sessions
            .get_mut(name)
            .unwrap_or_else(|| panic!("no session {name}"))
    }

    fn event(&mut self, name: &str, kind: SessionEventKind) {
        let id = self.session(name).config.id;
        self.event_from(name, id, kind);
    }

    /// An event as the session task with id `session` sends it.
    pub fn event_from(&mut self, name: &str, session: u64, kind: SessionEventKind) {
        let ev = SessionEvent {
            peer: name.into(),
            session,
            kind,
        };
        self.input(Input::Session(ev));
    }

    /// The peer asks for `family` again (RFC 2918).
    pub fn route_refresh(&mut self, name: &str, family: Family) {
        let (afi, safi) = family.afi_safi();
        let kind = crate::wire::RefreshKind::Request;
        let rr = crate::wire::RouteRefresh { afi, safi, kind };
        self.event(name, SessionEventKind::RouteRefresh(rr));
    }

    /// What a session task reports when `peer` comes up on it.
    pub fn established(&mut self, name: &str, peer: &PeerOpen) -> SessionEventKind {
        let s = self.session(name);
        let negotiated = negotiate(&s.settings, &peer.build())
            .unwrap_or_else(|n| panic!("{name}: OPEN refused with {n}"));
        let local_ip = s
            .config
            .local_address
            .unwrap_or(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        SessionEventKind::Established {
            negotiated: Box::new(negotiated),
            local: SocketAddr::new(local_ip, 40000),
            remote: s.config.remote,
            resumed: None,
        }
    }

    /// The session comes up: the peer's OPEN is negotiated against the settings the daemon
    /// gave this session.
    pub fn connect(&mut self, name: &str, peer: &PeerOpen) {
        let established = self.established(name, peer);
        let SessionEventKind::Established { negotiated, .. } = &established else {
            unreachable!()
        };
        let s = self.session(name);
        s.codec = Some(negotiated.codec);
        s.sent.clear();
        self.event(name, SessionEventKind::State(State::OpenConfirm));
        self.event(name, established);
        self.event(name, SessionEventKind::State(State::Established));
    }

    /// The session comes up taken over from another process (`established` carries what it
    /// had there).
    pub fn resume(&mut self, name: &str, established: SessionEventKind) {
        let SessionEventKind::Established { negotiated, .. } = &established else {
            panic!("not an Established event")
        };
        let s = self.session(name);
        s.codec = Some(negotiated.codec);
        s.sent.clear();
        self.event(name, established);
        self.event(name, SessionEventKind::State(State::Established));
    }

    /// The session goes down (the FSM reports Down, then Idle).
    pub fn disconnect(&mut self, name: &str, reason: DownReason) {
        self.session(name).codec = None;
        self.event(name, SessionEventKind::Down(reason));
        self.event(name, SessionEventKind::State(State::Idle));
    }

    /// The peer sends `update`: it goes through the wire codec of the session, as a real
    /// session would read it (the decoder applies what depends on the session, such as
    /// RFC 7606 §7.5 for eBGP).
    pub fn receive(&mut self, name: &str, update: Update) {
        let Some(codec) = self.session(name).codec else {
            // No session to read it (a race test): the event as an old task would send it.
            return self.event(name, SessionEventKind::Update(Box::new(update)));
        };
        let bytes = Message::Update(update).encode(codec);
        let update = match decode_message(&bytes, codec) {
            Ok(Decoded::Message(Message::Update(u))) => u,
            other => panic!("the UPDATE does not decode: {other:?}"),
        };
        self.event(name, SessionEventKind::Update(Box::new(update)));
    }

    pub fn end_of_rib(&mut self, name: &str, family: Family) {
        self.receive(name, Update::end_of_rib_marker(family));
    }

    /// Everything the peer was sent since the last call, decoded.
    pub fn take_sent(&mut self, name: &str) -> Vec<Message> {
        let s = self.session(name);
        let codec = s.codec.unwrap_or_default();
        std::mem::take(&mut s.sent)
            .iter()
            .map(|b| match decode_message(b, codec) {
                Ok(Decoded::Message(m)) => m,
                other => panic!("{name}: undecodable message sent: {other:?}"),
            })
            .collect()
    }

    /// The UPDATEs the peer was sent since the last call, summed up.
    pub fn take_updates(&mut self, name: &str) -> Sent {
        let mut sent = Sent::default();
        for m in self.take_sent(name) {
            let Message::Update(u) = m else { continue };
            if let Some(f) = u.end_of_rib() {
                sent.end_of_rib.push(f);
                continue;
            }
            sent.withdrawn.extend(u.withdrawals());
            for p in u.announced() {
                sent.announced.insert(p, u.attributes.clone());
            }
            sent.updates += 1;
        }
        sent
    }

    /// The OPEN this session would send next.
    pub fn next_open(&mut self, name: &str) -> Open {
        self.session(name).settings.open()
    }

    /// The GR capability of the next OPEN.
    pub fn next_gr(&mut self, name: &str) -> Option<GracefulRestartCap> {
        self.next_open(name)
            .capabilities
            .into_iter()
            .find_map(|c| match c {
                Capability::GracefulRestart(g) => Some(g),
                _ => None,
            })
    }

    pub fn resets(&mut self, name: &str) -> Vec<Notification> {
        std::mem::take(&mut self.session(name).resets)
    }

    /// Sends a control request; `None` while the daemon has not answered it (a drain).
    pub fn control(&mut self, request: ControlRequest) -> Option<ControlResponse> {
        self.next_reply += 1;
        let reply = self.next_reply;
        self.input(Input::Control { request, reply });
        self.fx.answers.remove(&reply)
    }

    /// The answer to request `reply`, if it has come meanwhile.
    pub fn answer(&mut self, reply: ReplyTo) -> Option<ControlResponse> {
        self.fx.answers.remove(&reply)
    }

    pub fn last_request(&self) -> ReplyTo {
        self.next_reply
    }

    /// `show routes`: (Loc-RIB prefixes, selection deferred, routes).
    pub fn routes(&mut self) -> (usize, bool, Vec<RouteView>) {
        match self.control(ControlRequest::Routes {
            filter: Default::default(),
        }) {
            Some(ControlResponse::Routes {
                loc_rib_prefixes,
                selection_deferred,
                routes,
                ..
            }) => (loc_rib_prefixes, selection_deferred, routes),
            other => panic!("routes: {other:?}"),
        }
    }

    /// `show routes` of one peer: (prefix, stale, best).
    pub fn received(&mut self, name: &str) -> Vec<(IpNet, bool, bool)> {
        self.routes()
            .2
            .into_iter()
            .filter(|r| r.peer == name)
            .map(|r| (r.prefix, r.stale, r.best))
            .collect()
    }

    pub fn neighbor(&mut self, name: &str) -> PeerSummary {
        match self.control(ControlRequest::Neighbors) {
            Some(ControlResponse::Neighbors(n)) => n
                .into_iter()
                .find(|p| p.name == name)
                .unwrap_or_else(|| panic!("no neighbor {name}")),
            other => panic!("neighbors: {other:?}"),
        }
    }

    pub fn reload(&mut self, config: &str) {
        self.input(Input::Reload {
            config: Ok(parse(config)),
            reply: None,
        });
    }

    /// The peer's BFD session changed.
    pub fn bfd(&mut self, name: &str, change: crate::bfd::Change) {
        self.input(Input::Bfd(crate::bfd::io::Event {
            peer: name.into(),
            change: Some(change),
            detection_time: Some(Duration::from_millis(900)),
        }));
    }

    pub fn plugin(&mut self, event: PluginEvent) {
        self.input(Input::Plugin(event));
    }
}

impl Boot {
    pub fn after(down_for: u64) -> Boot {
        Boot {
            record: Some(RestartRecord {
                alive_at: UNIX_START - down_for,
                clean_stop: true,
                restart_time: 120,
                families: vec!["ipv4-unicast".into(), "ipv6-unicast".into()],
                long_lived_stale_time: 0,
                restarts: 0,
                health_overrides: Default::default(),
                health_checks: Default::default(),
            }),
            gr_profile: None,
            announcements: None,
        }
    }
}

/// UPDATEs as a peer would have applied them.
#[derive(Debug, Default)]
pub struct Sent {
    pub announced: BTreeMap<IpNet, PathAttributes>,
    pub withdrawn: Vec<IpNet>,
    pub end_of_rib: Vec<Family>,
    /// UPDATE messages that carried routes.
    pub updates: usize,
}

impl Sent {
    pub fn prefixes(&self) -> Vec<IpNet> {
        self.announced.keys().copied().collect()
    }
}

pub fn parse(text: &str) -> Config {
    Config::parse(text, Path::new("/nonexistent/gracewire.toml"))
        .unwrap_or_else(|e| panic!("test config: {e}\n{text}"))
}
