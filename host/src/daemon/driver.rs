//! The daemon on tokio: one loop owns the [`Daemon`] and carries out its [`Effects`]; every
//! other task talks to it by message.
//!
//! ```text
//!   listener ──(TcpStream)──► loop: Input::Connection ─ deliver ─► that peer's session task
//!   control, metrics ─(req., oneshot)──┐                      ▲ PeerCommand │ SessionEvent
//!   signals ─(reload, drain, stop)─────┤                      │             ▼
//!   session tasks ─(SessionEvent)──────┼──► loop ──► Daemon::handle ──► Io (Effects)
//!   internal ◄─ timer tasks, policy worker thread, plugin loads, GR profile calls, file watch
//! ```
//! The loop never blocks: policy evaluation runs on one worker thread (peers one after another:
//! plugin calls are serialized per plugin anyway, and ten peers evaluated at once held ten
//! peers' worth of per-route decisions in memory), plugin loads and GR profile calls on
//! tokio's blocking pool, and each result comes back on `internal` as an [`Input`].

use super::{ConnectionId, ReplyTo, Start, TakeoverFrame, TakeoverStep, Timer};
use super::{
    Daemon, Effects, GrProfileJob, Input, PeerCommand, PluginEvent, PluginLoad, PolicyJob,
};
use crate::api::{ControlRequest, ControlResponse};
use crate::config::Config;
use crate::config::Secret;
use crate::gr::restart::unix_now;
use crate::gr::RestartRecord;
use crate::plugins::watch::{watch, PluginWatcher};
use crate::plugins::{PluginKind, PluginRuntime};
use crate::policy::plugins::{gr_timers, PolicySet};
use crate::policy::PeerView;
use crate::session::{Session, SessionCommand, SessionConfig, SessionEvent};
use crate::sockopt;
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, error, warn};

mod takeover;

/// Inputs from the outside world.
pub struct Inputs {
    pub incoming: mpsc::Receiver<(TcpStream, SocketAddr)>,
    pub control: mpsc::Receiver<(ControlRequest, oneshot::Sender<ControlResponse>)>,
    /// Requests of the metrics port (`/metrics`, probes), apart from the operator's.
    pub scrapes: mpsc::Receiver<(ControlRequest, oneshot::Sender<ControlResponse>)>,
    pub shutdown: oneshot::Receiver<()>,
    /// Re-read the config file (SIGHUP).
    pub reload: mpsc::Receiver<()>,
    /// Start a drain with the configured wait (SIGUSR1, e.g. from a preStop hook).
    pub drain: mpsc::Receiver<()>,
    /// The listening socket, for the peers' TCP-MD5 keys; and whether it is IPv6.
    pub listener: Option<(RawFd, bool)>,
    /// Takeover requests from a starting gracewire (`crate::takeover`).
    pub takeover: mpsc::Receiver<std::os::unix::net::UnixStream>,
    /// Sessions this process took over at start, and where to say which it resumed.
    pub taken: Option<crate::takeover::Taken>,
    /// Where [`Effects::publish`] sends events (`WatchEvents`).
    pub events: crate::api::events::Events,
}

/// The config file read again, for a reload (SIGHUP or the API's `Reload`): the same read and
/// the same message `gracewire check` gives.
fn reread(path: &std::path::Path) -> Result<Config, String> {
    Config::load(path).map_err(|e| e.to_string())
}

/// How the daemon ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Stopped: sessions closed the graceful way (or drained).
    Stopped,
    /// Its sessions, listener and control socket path belong to the process that took over.
    TakenOver,
}

/// Runs the daemon until `inputs.shutdown`, then stops every session the graceful way.
pub async fn run(
    config: Config,
    config_path: PathBuf,
    runtime: Arc<PluginRuntime>,
    policy: PolicySet,
    mut inputs: Inputs,
) -> Exit {
    let state_dir = config.global.state_dir.clone();
    let gr_plugin = policy.gr.clone();
    let mut daemon = Daemon::new(config, policy, Instant::now());
    let (internal_tx, mut internal) = mpsc::unbounded_channel();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut io = Io {
        sessions: HashMap::new(),
        stopping: Vec::new(),
        events_tx,
        internal: internal_tx,
        replies: HashMap::new(),
        next_reply: 0,
        policy_worker: PolicyWorker::start(),
        runtime,
        watcher: None,
        state_dir: state_dir.clone(),
        listener: inputs.listener,
        md5_peers: BTreeSet::new(),
        events: inputs.events.clone(),
        bfd: None,
        bfd_inherited: None,
        arrived: HashMap::new(),
        resumed: Vec::new(),
        declined: Vec::new(),
        accepted: HashMap::new(),
        next_connection: 0,
        takeover_frames: Vec::new(),
        probes: HashMap::new(),
    };
    let mut taken = inputs.taken.take();
    if let Some(t) = &mut taken {
        for h in t.sessions.drain(..) {
            io.arrived.insert(h.state.peer.clone(), h);
        }
        io.bfd_inherited = Some(std::mem::take(&mut t.bfd));
    }
    // Before any session exists, so asking the GR profile synchronously delays nothing.
    let profile = |view: &PeerView| {
        let active = gr_plugin.as_ref()?;
        gr_timers(&active.plugin, view, None, 0)
            .map_err(|e| warn!(peer = %view.name, error = %e, "GR profile plugin failed; config values for now"))
            .ok()
    };
    let record = RestartRecord::load(&state_dir);
    let announcements = crate::private::read_bounded(
        &state_dir.join(crate::sources::FILE),
        crate::sources::MAX_FILE_BYTES,
    );
    let start = Start {
        unix_now: unix_now(),
        announcements,
        health: super::health::Carried::from_record(record.as_ref()),
        // Sessions taken over never went down: this start is no restart for any peer.
        record: record.filter(|_| taken.is_none()),
        gr_profile: &profile,
    };
    daemon.start(start, &mut io);
    let ready = match taken {
        Some(t) => {
            io.answer_takeover(t).await;
            let declined = TakeoverStep::Declined(io.declined.len());
            daemon.handle(Instant::now(), Input::Takeover(declined), &mut io);
            // The service manager follows this process from now on.
            format!("MAINPID={}\nREADY=1", std::process::id())
        }
        None => "READY=1".to_string(),
    };
    if let Err(e) = crate::takeover::systemd::notify(&ready) {
        warn!(error = %e, "cannot notify the service manager");
    }
    let mut exit = Exit::Stopped;
    let mut routes_since_trim = 0;
    loop {
        let input = tokio::select! {
            Some(()) = inputs.reload.recv() => Input::Reload {
                config: reread(&config_path),
                reply: None,
            },
            Some(()) = inputs.drain.recv() => Input::Drain,
            Some(input) = internal.recv() => input,
            Some(ev) = events.recv() => Input::Session(ev),
            Some((stream, from)) = inputs.incoming.recv() => {
                io.next_connection += 1;
                io.accepted.insert(io.next_connection, stream);
                Input::Connection { from: from.ip(), id: io.next_connection }
            }
            Some(conn) = inputs.takeover.recv() => {
                match io.serve_takeover(&mut daemon, conn).await {
                    TakeoverEnd::Done => {
                        exit = Exit::TakenOver;
                        break;
                    }
                    TakeoverEnd::Refused => break,
                    TakeoverEnd::Failed => continue,
                }
            }
            Some((request, reply)) = inputs.control.recv() => {
                io.next_reply += 1;
                io.replies.insert(io.next_reply, reply);
                match request {
                    // Reading the file is I/O: done here, as for SIGHUP.
                    ControlRequest::Reload => Input::Reload {
                        config: reread(&config_path),
                        reply: Some(io.next_reply),
                    },
                    request => Input::Control { request, reply: io.next_reply },
                }
            }
            Some((request, reply)) = inputs.scrapes.recv() => {
                io.next_reply += 1;
                io.replies.insert(io.next_reply, reply);
                Input::Control { request, reply: io.next_reply }
            }
            _ = &mut inputs.shutdown => break,
        };
        let mut settled = false;
        if let Input::Policy(r) = &input {
            routes_since_trim += r.evaluation.decisions.len();
            settled = io.policy_worker.taken() == 0;
        }
        daemon.handle(Instant::now(), input, &mut io);
        // Evaluating and exporting a big table for a peer allocates several times what it
        // keeps; once the worker has nothing more to do, hand those pages back.
        if settled && routes_since_trim >= TRIM_AFTER_ROUTES {
            crate::heap::release_free_memory();
            routes_since_trim = 0;
        }
    }
    // BFD first: its sessions announce a long multiplier and are handed to the next process,
    // so the router sees neither a failure nor an AdminDown (FRR and BIRD take BGP down for
    // both); then the graceful BGP stop.
    io.bfd_planned_stop().await;
    if exit == Exit::TakenOver {
        // Nothing to close: the sessions went on in the new process.
        for (_, s) in io.sessions.drain() {
            s.task.abort();
        }
        return exit;
    }
    daemon.shutdown(&mut io);
    io.wait_for_sessions().await;
    exit
}

/// How a takeover request ended, for the old process.
enum TakeoverEnd {
    /// The new process has the sessions: exit.
    Done,
    /// Another takeover format: stop the graceful way, the new process starts after.
    Refused,
    /// Nothing changed, or the sessions were resumed here: serve on.
    Failed,
}

struct SessionHandle {
    commands: mpsc::UnboundedSender<SessionCommand>,
    task: JoinHandle<()>,
    /// To resume the session here if a takeover fails after pausing it.
    cfg: SessionConfig,
}

/// The daemon's effects, carried out on tokio.
struct Io {
    sessions: HashMap<Arc<str>, SessionHandle>,
    /// Session tasks told to stop, with the signal that their socket is flushed.
    stopping: Vec<(JoinHandle<()>, oneshot::Receiver<()>)>,
    events_tx: mpsc::UnboundedSender<SessionEvent>,
    internal: mpsc::UnboundedSender<Input>,
    replies: HashMap<ReplyTo, oneshot::Sender<ControlResponse>>,
    next_reply: ReplyTo,
    policy_worker: PolicyWorker,
    runtime: Arc<PluginRuntime>,
    watcher: Option<PluginWatcher>,
    state_dir: PathBuf,
    listener: Option<(RawFd, bool)>,
    /// Peer addresses the listener has a TCP-MD5 key for.
    md5_peers: BTreeSet<IpAddr>,
    events: crate::api::events::Events,
    /// The BFD task, started with the first BFD session.
    bfd: Option<mpsc::UnboundedSender<crate::bfd::io::Command>>,
    /// BFD sessions and sockets for the next BFD task: what a takeover brought, or what this
    /// process's BFD task gave up for a takeover that then failed.
    bfd_inherited: Option<crate::bfd::Inherited>,
    /// Sessions taken over at start, by peer name, until their peer's session is spawned.
    arrived: HashMap<String, crate::takeover::ArrivedSession>,
    /// Peers whose session was resumed from the old process, and those that could not be.
    resumed: Vec<String>,
    declined: Vec<(String, String)>,
    /// Accepted connections waiting for [`Effects::deliver`].
    accepted: HashMap<ConnectionId, TcpStream>,
    next_connection: ConnectionId,
    /// What [`Effects::takeover_frame`] gave, for the takeover under way.
    takeover_frames: Vec<(Arc<str>, Option<TakeoverFrame>)>,
    /// The running health probes, by check, with their generation.
    probes: HashMap<Arc<str>, (u64, JoinHandle<()>)>,
}

impl Io {
    /// Every Up BFD session is made to wait for the next process and handed over; waits
    /// (bounded) until that is done.
    async fn bfd_planned_stop(&mut self) {
        let Some(bfd) = &self.bfd else { return };
        let (done, sent) = oneshot::channel();
        if bfd.send(crate::bfd::io::Command::PlannedStop(done)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_millis(500), sent).await;
        }
    }

    /// Waits (bounded) for every stopped session to flush its last NOTIFICATION.
    async fn wait_for_sessions(&mut self) {
        for (task, flushed) in self.stopping.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(3), flushed).await;
            task.abort();
        }
        for (_, s) in self.sessions.drain() {
            s.task.abort();
        }
    }
}

impl Effects for Io {
    /// An accepted connection goes to the session of the peer it comes from; any other is
    /// dropped (closed) here, before a byte of it is read.
    fn deliver(&mut self, id: ConnectionId, peer: Option<Arc<str>>) {
        let stream = self.accepted.remove(&id);
        let session = peer.and_then(|name| self.sessions.get(&name));
        if let (Some(stream), Some(s)) = (stream, session) {
            let _ = s.commands.send(SessionCommand::Incoming(stream));
        }
    }

    fn takeover_frame(&mut self, peer: Arc<str>, frame: Option<TakeoverFrame>) {
        self.takeover_frames.push((peer, frame));
    }

    fn health_probes(&mut self, probes: Vec<super::health::Probe>) {
        let wanted: HashMap<Arc<str>, u64> =
            probes.iter().map(|(n, _, g)| (n.clone(), *g)).collect();
        self.probes.retain(|name, (generation, task)| {
            let keep = wanted.get(name) == Some(generation);
            if !keep {
                task.abort();
            }
            keep
        });
        for (name, check, generation) in probes {
            if self.probes.contains_key(&name) {
                continue;
            }
            let internal = self.internal.clone();
            let report = move |r| drop(internal.send(Input::Health(r)));
            let task = crate::health::probe::spawn(name.clone(), check, generation, report);
            self.probes.insert(name, (generation, task));
        }
    }

    fn spawn_session(&mut self, cfg: SessionConfig) {
        let name = cfg.name.clone();
        if let Some(arrived) = self.arrived.remove(&*name) {
            match self.resume_arrived(&cfg, arrived) {
                Ok(handle) => {
                    self.sessions.insert(name.clone(), handle);
                    self.resumed.push(name.to_string());
                    return;
                }
                Err(why) => {
                    warn!(peer = %name, reason = %why, "cannot resume the session the previous process had: closed without a NOTIFICATION, so the peer keeps our routes in graceful restart; connecting again");
                    self.declined.push((name.to_string(), why));
                }
            }
        }
        let (commands, task) = Session::spawn(cfg.clone(), self.events_tx.clone());
        self.sessions.insert(
            name,
            SessionHandle {
                commands,
                task,
                cfg,
            },
        );
    }

    fn command(&mut self, peer: &Arc<str>, cmd: PeerCommand) {
        let cmd = match cmd {
            PeerCommand::Send(msgs) => SessionCommand::Send(msgs),
            PeerCommand::Settings(s) => SessionCommand::Settings(s),
            PeerCommand::Reset {
                notification,
                hold_down,
            } => SessionCommand::Reset {
                notification,
                hold_down,
            },
            PeerCommand::Stop(notification) => {
                let Some(s) = self.sessions.remove(peer) else {
                    return;
                };
                let (done, flushed) = oneshot::channel();
                let _ = s.commands.send(SessionCommand::Stop { notification, done });
                self.stopping.retain(|(t, _)| !t.is_finished());
                self.stopping.push((s.task, flushed));
                return;
            }
        };
        if let Some(s) = self.sessions.get(peer) {
            let _ = s.commands.send(cmd);
        }
    }

    fn arm(&mut self, after: Duration, timer: Timer) {
        let tx = self.internal.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(Input::Timer(timer));
        });
    }

    fn evaluate(&mut self, job: PolicyJob) {
        let tx = self.internal.clone();
        self.policy_worker.run(move || {
            let _ = tx.send(Input::Policy(job.run()));
        });
    }

    fn load_plugin(&mut self, job: PluginLoad) {
        let (tx, runtime) = (self.internal.clone(), self.runtime.clone());
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(Input::Plugin(job.run(&runtime)));
        });
    }

    fn plan(&mut self, job: super::plan::PlanJob) {
        let (tx, runtime) = (self.internal.clone(), self.runtime.clone());
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(Input::Plan(job.run(&runtime)));
        });
    }

    fn gr_profile(&mut self, job: GrProfileJob) {
        let tx = self.internal.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let result = gr_timers(
                &job.plugin,
                &job.view,
                job.peer_capability.as_ref(),
                job.peer_long_lived_stale_time,
            );
            let (peer, took) = (job.peer, started.elapsed());
            let _ = tx.send(Input::Plugin(PluginEvent::GrTimers { peer, result, took }));
        });
    }

    fn watch_plugins(&mut self, files: Vec<(PluginKind, PathBuf)>) {
        self.watcher = None;
        if files.is_empty() {
            return;
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        match watch(files, tx) {
            Ok(w) => self.watcher = Some(w),
            Err(e) => {
                error!(error = %e, "cannot watch plugin files; send SIGHUP after replacing a plugin");
                return;
            }
        }
        let internal = self.internal.clone();
        tokio::spawn(async move {
            while let Some((kind, since)) = rx.recv().await {
                let changed = Input::Plugin(PluginEvent::Changed { kind, since });
                if internal.send(changed).is_err() {
                    return;
                }
            }
        });
    }

    fn answer(&mut self, to: ReplyTo, response: ControlResponse) {
        match self.replies.remove(&to) {
            Some(reply) => {
                let _ = reply.send(response);
            }
            None => debug!(to, "answer for a request nobody waits for"),
        }
    }

    fn listener_keys(&mut self, keys: Vec<(IpAddr, Option<Secret>)>) {
        let Some((fd, v6)) = self.listener else {
            return;
        };
        for (addr, key) in keys {
            match key {
                Some(key) => match sockopt::set_md5(fd, addr, key.expose(), v6) {
                    Ok(()) => {
                        self.md5_peers.insert(addr);
                    }
                    Err(e) => {
                        error!(peer = %addr, error = %e, "cannot set the TCP-MD5 key on the listener: connections from this peer will fail")
                    }
                },
                None if self.md5_peers.remove(&addr) => {
                    let _ = sockopt::set_md5(fd, addr, b"", v6);
                }
                None => {}
            }
        }
    }

    fn bfd(&mut self, cmd: crate::bfd::io::Command) {
        let internal = self.internal.clone();
        let state_dir = self.state_dir.clone();
        let inherited = &mut self.bfd_inherited;
        let bfd = self.bfd.get_or_insert_with(|| {
            let (events_tx, mut events) = mpsc::unbounded_channel();
            tokio::spawn(async move {
                while let Some(ev) = events.recv().await {
                    if internal.send(Input::Bfd(ev)).is_err() {
                        return;
                    }
                }
            });
            crate::bfd::io::spawn(events_tx, Some(state_dir), inherited.take())
        });
        let _ = bfd.send(cmd);
    }

    fn store_record(&mut self, record: RestartRecord) {
        if let Err(e) = record.store(&self.state_dir) {
            error!(error = %e, "cannot write the restart record to state_dir; a restart will look fresh to us");
        }
    }

    fn watched(&self) -> bool {
        self.events.watched()
    }

    fn publish(&mut self, kind: crate::api::proto::event::Kind) {
        self.events.publish(kind);
    }

    fn store_announcements(&mut self, file: Vec<u8>) -> Result<(), String> {
        let path = self.state_dir.join(crate::sources::FILE);
        crate::private::write_private(&path, &file).map_err(|e| e.to_string())
    }
}

/// The thread policy evaluations run on, one at a time, in the order they were asked for.
///
/// At most [`RESULTS_IN_FLIGHT`] results wait for the loop: a worker racing ahead of the loop
/// through 100 peers once peaked at a gigabyte of results (when a result still held a
/// decision per route, ~12 MB for 100,000 routes; now ~0.4 MB, see
/// [`Decisions`](crate::policy::Decisions)).
struct PolicyWorker {
    jobs: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
    in_flight: Arc<(std::sync::Mutex<usize>, std::sync::Condvar)>,
    /// Jobs asked for whose result the loop has not taken yet.
    pending: usize,
}

const RESULTS_IN_FLIGHT: usize = 2;

/// Free pages go back to the system once the policy worker is idle and at least this many
/// routes were evaluated since the last time (a trim walks the whole heap: not per route).
const TRIM_AFTER_ROUTES: usize = 10_000;

impl PolicyWorker {
    fn start() -> PolicyWorker {
        let (jobs, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let in_flight = Arc::new((std::sync::Mutex::new(0usize), std::sync::Condvar::new()));
        let gate = in_flight.clone();
        let spawned = std::thread::Builder::new()
            .name("policy".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    let (count, freed) = &*gate;
                    let mut n = count.lock().unwrap_or_else(|e| e.into_inner());
                    while *n >= RESULTS_IN_FLIGHT {
                        n = freed.wait(n).unwrap_or_else(|e| e.into_inner());
                    }
                    *n += 1;
                    drop(n);
                    job();
                }
            });
        if let Err(e) = spawned {
            // Without the thread every evaluation is dropped; say so rather than panic.
            error!(error = %e, "cannot start the policy thread: nothing will be announced");
        }
        PolicyWorker {
            jobs,
            in_flight,
            pending: 0,
        }
    }

    /// The loop took a result off the queue: the worker may make another. Returns the jobs
    /// still to come.
    fn taken(&mut self) -> usize {
        let (count, freed) = &*self.in_flight;
        let mut n = count.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        freed.notify_one();
        self.pending = self.pending.saturating_sub(1);
        self.pending
    }

    fn run(&mut self, job: impl FnOnce() + Send + 'static) {
        // The thread ends only when this sender is dropped, with the daemon.
        if self.jobs.send(Box::new(job)).is_ok() {
            self.pending += 1;
        }
    }
}
