//! BFD on the network: one task owns every [`Session`], their timers and sockets. Packets go
//! out from a socket per session (RFC 5881 §4: one source port in 49152–65535 for the
//! session's life, TTL 255) and come in on UDP 3784 (single hop) or 4784 (multihop, RFC 5883),
//! read with their TTL: single hop accepts only 255 (RFC 5881 §5, the GTSM check), multihop
//! at least the profile's `minimum_ttl`. Received packets find their session by Your
//! Discriminator, or while the remote does not know it yet, by source address (§6.8.6).

use super::handover::{take_handover, unix_now, HandoverFile, Inherited, Saved, HANDOVER_FILE};
use super::packet::{Diag, Packet, State};
use super::session::{Change, Input, Output, Params, Session, HANDOVER_DETECT_MULT};
use super::sockets::{fits, port, receiver, sender, Listening, Received};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

pub const SINGLE_HOP_PORT: u16 = 3784;
pub const MULTIHOP_PORT: u16 = 4784;

/// One peer's BFD session as the daemon asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerBfd {
    pub peer: Arc<str>,
    pub remote: IpAddr,
    pub local: Option<IpAddr>,
    pub params: Params,
    pub multihop: bool,
    /// The lowest TTL accepted on receipt (255 single hop).
    pub minimum_ttl: u8,
}

#[derive(Debug)]
pub enum Command {
    /// Creates the session, or changes its parameters (a Poll Sequence while Up).
    Set(PeerBfd),
    Remove(Arc<str>),
    /// A planned stop: every Up session announces a long multiplier, so the router waits for
    /// the next process, and is handed over in `state_dir`; answered once that is done.
    /// (AdminDown would be the RFC way, but FRR 8.4 and BIRD 2.0.12 take BGP down for it.)
    PlannedStop(oneshot::Sender<()>),
    /// A takeover: as a planned stop, but the sessions go to the answer with their sockets,
    /// and the task ends (nothing reads the sockets until the next owner does).
    Takeover(oneshot::Sender<Inherited>),
}

/// A session changed state, or its detection time changed (`change: None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub peer: Arc<str>,
    pub change: Option<Change>,
    /// The detection time in force, once the remote has been heard.
    pub detection_time: Option<Duration>,
}

struct Entry {
    spec: PeerBfd,
    session: Session,
    socket: UdpSocket,
    transmit_at: Option<Instant>,
    detect_at: Option<Instant>,
    /// The detection time the daemon was last told.
    reported_detection: Option<Duration>,
}

/// Starts the BFD task; its events come back on `events`. `state_dir` holds what a planned
/// stop hands the next process; `inherited`, what a takeover handed this one (or, after a
/// takeover that failed, what this process's previous BFD task gave up).
pub fn spawn(
    events: mpsc::UnboundedSender<Event>,
    state_dir: Option<std::path::PathBuf>,
    inherited: Option<Inherited>,
) -> mpsc::UnboundedSender<Command> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(rx, events, state_dir, inherited.unwrap_or_default()));
    tx
}

async fn run(
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    state_dir: Option<std::path::PathBuf>,
    inherited: Inherited,
) {
    let (received_tx, mut received) = mpsc::unbounded_channel();
    let handover = if inherited.sessions.is_empty() {
        state_dir.as_deref().map(take_handover).unwrap_or_default()
    } else {
        inherited.sessions
    };
    let mut task = Task {
        sessions: HashMap::new(),
        state_dir,
        handover,
        inherited_senders: inherited.senders,
        listening: Vec::new(),
        received_tx,
        events,
        handed_off: false,
    };
    // Read the inherited receive sockets at once: what queued there during the takeover is
    // for these sessions.
    for (kind, socket) in inherited.receivers {
        match Listening::start(kind, socket, task.received_tx.clone()) {
            Ok(l) => task.listening.push(l),
            Err(e) => warn!(error = %e, "BFD: an inherited receive socket cannot be used"),
        }
    }
    loop {
        let next = task.next_deadline();
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(cmd) => {
                    task.command(cmd);
                    if task.handed_off {
                        // Nothing reads the sockets from here on until their next owner does.
                        return;
                    }
                }
                None => return,
            },
            Some(r) = received.recv() => task.receive(r),
            _ = sleep_until(next) => task.timers(Instant::now()),
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

struct Task {
    sessions: HashMap<Arc<str>, Entry>,
    state_dir: Option<std::path::PathBuf>,
    handover: HashMap<String, Saved>,
    /// Send sockets a takeover handed over, until their session is set.
    inherited_senders: HashMap<String, UdpSocket>,
    /// The receive sockets bound, one per (IPv6, multihop).
    listening: Vec<Listening>,
    received_tx: mpsc::UnboundedSender<Received>,
    events: mpsc::UnboundedSender<Event>,
    /// Everything went to a takeover: the task ends.
    handed_off: bool,
}

impl Task {
    fn next_deadline(&self) -> Option<Instant> {
        self.sessions
            .values()
            .flat_map(|e| [e.transmit_at, e.detect_at])
            .flatten()
            .min()
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Set(spec) => self.set(spec),
            Command::Remove(peer) => {
                if let Some(mut e) = self.sessions.remove(&peer) {
                    // Tell the remote, so it does not count our silence as a failure.
                    let out = e.session.handle(Input::AdminDown);
                    apply(&mut e, out, &self.events);
                    info!(%peer, "BFD session removed");
                }
            }
            Command::PlannedStop(done) => {
                let handover = self.announce_handover();
                if let Some(dir) = &self.state_dir {
                    let file = HandoverFile {
                        written_at: unix_now(),
                        sessions: handover,
                    };
                    let bytes = serde_json::to_vec(&file).unwrap_or_default();
                    if let Err(e) = crate::private::write_private(&dir.join(HANDOVER_FILE), &bytes)
                    {
                        warn!(error = %e, "BFD: cannot write the handover file; the next process starts its sessions afresh");
                    }
                }
                let _ = done.send(());
            }
            Command::Takeover(answer) => {
                let _ = answer.send(self.give_up_for_takeover());
                self.handed_off = true;
            }
        }
    }

    /// Every Up session announces a long multiplier (twice: one lost datagram must not turn
    /// a planned stop into a failure); what the next process needs to resume them.
    fn announce_handover(&mut self) -> HashMap<String, Saved> {
        let mut handover = HashMap::new();
        for e in self.sessions.values_mut() {
            let Some(h) = e.session.handover() else {
                continue;
            };
            let params = Params {
                detect_mult: HANDOVER_DETECT_MULT,
                ..e.spec.params
            };
            let out = e.session.handle(Input::SetParams(params));
            for o in &out {
                if let Output::Send(p) = o {
                    send(e, p);
                }
            }
            apply(e, out, &self.events);
            let port = e.socket.local_addr().map(|a| a.port()).unwrap_or(0);
            let saved = Saved {
                remote: e.spec.remote,
                port,
                session: h,
            };
            handover.insert(e.spec.peer.to_string(), saved);
        }
        handover
    }

    /// A takeover: the sessions announced as for a planned stop, and given up with every
    /// socket. The readers stop first, so what arrives from now on waits for the next owner.
    fn give_up_for_takeover(&mut self) -> Inherited {
        let sessions = self.announce_handover();
        let mut receivers = Vec::new();
        for l in self.listening.drain(..) {
            l.reader.abort();
            receivers.push((l.kind, l.socket));
        }
        let senders = self
            .sessions
            .drain()
            .filter(|(peer, _)| sessions.contains_key(&**peer))
            .map(|(peer, e)| (peer.to_string(), e.socket))
            .collect();
        Inherited {
            sessions,
            senders,
            receivers,
        }
    }

    fn set(&mut self, spec: PeerBfd) {
        if let Some(e) = self.sessions.get_mut(&spec.peer) {
            if e.spec.remote == spec.remote
                && e.spec.local == spec.local
                && e.spec.multihop == spec.multihop
            {
                let out = e.session.handle(Input::SetParams(spec.params));
                e.spec = spec;
                apply(e, out, &self.events);
                return;
            }
            self.sessions.remove(&spec.peer);
        }
        let kind = (spec.remote.is_ipv6(), spec.multihop);
        if !self.listening.iter().any(|l| l.kind == kind) {
            let bound =
                receiver(kind).and_then(|s| Listening::start(kind, s, self.received_tx.clone()));
            match bound {
                Ok(l) => self.listening.push(l),
                Err(e) => {
                    warn!(peer = %spec.peer, error = %e, "BFD: cannot listen on UDP {}; the session cannot come up", port(spec.multihop));
                }
            }
        }
        let saved = self
            .handover
            .remove(&*spec.peer)
            .filter(|s| s.remote == spec.remote);
        let inherited = self
            .inherited_senders
            .remove(&*spec.peer)
            .filter(|s| saved.is_some() && fits(s, &spec));
        let socket =
            match inherited.map_or_else(|| sender(&spec, saved.as_ref().map(|s| s.port)), Ok) {
                Ok(s) => s,
                Err(e) => {
                    warn!(peer = %spec.peer, error = %e, "BFD: no socket to send from");
                    return;
                }
            };
        let seed = unix_now() ^ 0x9e37_79b9_7f4a_7c15 ^ spec.peer.len() as u64;
        let (mut session, resumed) = match saved {
            Some(s) => (Session::resume(spec.params, &s.session, seed), true),
            None => (Session::new(spec.params, self.discriminator(), seed), false),
        };
        let discr = session.local_discriminator();
        let mut out = session.start();
        if resumed {
            // The daemon learns it as any session coming Up.
            out.push(Output::Changed(Change {
                from: State::Down,
                to: State::Up,
                diag: Diag::None,
                remote_admin_down: false,
                remote_restarted: false,
            }));
        }
        info!(peer = %spec.peer, remote = %spec.remote, multihop = spec.multihop, discriminator = discr, resumed, "BFD session started");
        let mut e = Entry {
            spec,
            session,
            socket,
            transmit_at: None,
            detect_at: None,
            reported_detection: None,
        };
        apply(&mut e, out, &self.events);
        self.sessions.insert(e.spec.peer.clone(), e);
    }

    /// A random local discriminator no session has (RFC 5880 §6.8.1: random, so that an
    /// off-path sender cannot guess Your Discriminator).
    fn discriminator(&mut self) -> u32 {
        loop {
            let d = random_discriminator();
            if d != 0
                && !self
                    .sessions
                    .values()
                    .any(|e| e.session.local_discriminator() == d)
            {
                return d;
            }
        }
    }

    fn receive(&mut self, r: Received) {
        let packet = match Packet::decode(&r.bytes) {
            Ok(p) => p,
            Err(why) => {
                debug!(from = %r.from, %why, "BFD packet discarded");
                return;
            }
        };
        let entry = self.sessions.values_mut().find(|e| {
            e.spec.multihop == r.multihop
                && if packet.your_discriminator != 0 {
                    e.session.local_discriminator() == packet.your_discriminator
                } else {
                    e.spec.remote == r.from
                }
        });
        let Some(e) = entry else {
            debug!(from = %r.from, "BFD packet for no session");
            return;
        };
        if e.spec.remote != r.from {
            debug!(peer = %e.spec.peer, from = %r.from, "BFD packet from the wrong address");
            return;
        }
        if !ttl_accepted(r.ttl, e.spec.minimum_ttl) {
            crate::bounds::reached(crate::bounds::Limit::BfdTtl, "a BFD packet's TTL");
            debug!(peer = %e.spec.peer, ttl = ?r.ttl, minimum = e.spec.minimum_ttl, "BFD packet below the minimum TTL (RFC 5881 §5)");
            return;
        }
        let out = e.session.handle(Input::Received(packet));
        apply(e, out, &self.events);
    }

    fn timers(&mut self, now: Instant) {
        for e in self.sessions.values_mut() {
            if e.detect_at.is_some_and(|t| t <= now) {
                e.detect_at = None;
                let out = e.session.handle(Input::DetectionTimer);
                apply(e, out, &self.events);
            }
            if e.transmit_at.is_some_and(|t| t <= now) {
                e.transmit_at = None;
                let out = e.session.handle(Input::TransmitTimer);
                apply(e, out, &self.events);
            }
        }
    }
}

/// RFC 5881 §5 / RFC 5883 §5: the TTL check fails closed, so a datagram whose TTL the kernel
/// did not report (no control message) is dropped like one below the minimum.
fn ttl_accepted(ttl: Option<u8>, minimum: u8) -> bool {
    ttl.is_some_and(|t| t >= minimum)
}

/// A random 32-bit value from the kernel's generator; the clock's nanoseconds should that fail
/// (it does not on Linux once booted), which is still not guessable from the pid.
fn random_discriminator() -> u32 {
    getrandom::u32().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos() ^ d.as_secs() as u32)
    })
}

fn send(e: &Entry, p: &Packet) {
    if let Err(err) = e.socket.send(&p.encode()) {
        if err.kind() != io::ErrorKind::WouldBlock {
            debug!(peer = %e.spec.peer, error = %err, "BFD send failed");
        }
    }
}

fn apply(e: &mut Entry, out: Vec<Output>, events: &mpsc::UnboundedSender<Event>) {
    let now = Instant::now();
    for o in out {
        match o {
            Output::Send(p) => send(e, &p),
            Output::TransmitIn(d) => e.transmit_at = d.map(|d| now + d),
            Output::DetectIn(d) => e.detect_at = d.map(|d| now + d),
            Output::Changed(change) => {
                info!(peer = %e.spec.peer, from = %change.from, to = %change.to, diag = change.diag.describe(), "BFD state");
                e.reported_detection = e.session.detection_time();
                let _ = events.send(Event {
                    peer: e.spec.peer.clone(),
                    change: Some(change),
                    detection_time: e.reported_detection,
                });
            }
        }
    }
    // A Poll Sequence changes the detection time without a change of state.
    if e.session.detection_time() != e.reported_detection {
        e.reported_detection = e.session.detection_time();
        let _ = events.send(Event {
            peer: e.spec.peer.clone(),
            change: None,
            detection_time: e.reported_detection,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ttl_check_fails_closed() {
        assert!(ttl_accepted(Some(255), 255));
        assert!(!ttl_accepted(Some(254), 255));
        assert!(!ttl_accepted(None, 255));
        assert!(ttl_accepted(Some(250), 250));
    }

    #[test]
    fn discriminators_are_random_not_sequential() {
        let a: Vec<u32> = (0..64).map(|_| random_discriminator()).collect();
        let mut sorted = a.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), a.len(), "64 random draws repeated one");
        let sequential = a
            .windows(2)
            .filter(|w| w[1] == w[0].wrapping_add(1))
            .count();
        assert_eq!(sequential, 0, "{a:?}");
    }
}
