//! One task per peer: owns the TCP connection and the timers, and drives the sans-IO [`Fsm`].
//!
//! ```text
//!            SessionCommand (send UPDATEs, incoming socket, stop)
//!  daemon ──────────────────────────────────────────────► session task ──► writer task ──► TCP
//!    ▲                                                       │  ▲
//!    └────────────── SessionEvent (state, up, down, UPDATE) ─┘  └── read half, timers, connect
//! ```
//! Writes go through a writer task so that a peer that stops reading never blocks the timers;
//! reads happen here with a cancel-safe `read_buf`, framed in two phases (`frame_len`, then
//! `decode_message`). Every message in either direction is counted in the peer's
//! [`MessageCounters`].

mod backlog;
pub mod counters;
mod pause;

pub use pause::{Paused, PausedSession, Resumed};

use backlog::Backlog;
pub use backlog::{send_hold_time, MAX_QUEUED_BYTES};
pub use counters::{Direction, MessageCounters};

use crate::config::Secret;
use crate::fsm::collision::{self, Collision, Initiator, Resolution};
use crate::fsm::{Action, DownReason, Event, Fsm, LocalSettings, Negotiated, State, Timer};
use crate::sockopt;
use crate::wire::notification::{cease, code};
use crate::wire::{
    decode_message, frame_len, CodecContext, Decoded, Message, Notification, Open, RouteRefresh,
    Update,
};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Unique per session task, so events of a peer's earlier task can be told apart.
    pub id: u64,
    pub name: Arc<str>,
    pub remote: SocketAddr,
    pub local_address: Option<IpAddr>,
    pub passive: bool,
    pub connect_retry: Duration,
    /// How long a connection may take to send its OPEN.
    pub open_hold_time: Duration,
    pub settings: LocalSettings,
    pub counters: Arc<MessageCounters>,
    pub transport: Transport,
    /// RFC 9687 send hold time; `None`: [`send_hold_time`] of the negotiated hold time.
    pub send_hold_time: Option<Duration>,
}

/// Socket options of a peer's connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transport {
    /// TCP-MD5 key (RFC 2385).
    pub md5: Option<Secret>,
    /// TTL of what we send; `None`: the system's.
    pub ttl: Option<u8>,
    /// Lowest TTL accepted (GTSM, RFC 5082).
    pub min_ttl: Option<u8>,
}

impl Transport {
    /// Applies the TTLs (and for a socket of ours, the MD5 key) to `fd`.
    fn apply(&self, fd: std::os::fd::RawFd, remote: IpAddr, md5: bool) -> std::io::Result<()> {
        let v6 = remote.is_ipv6();
        if let (Some(key), true) = (&self.md5, md5) {
            sockopt::set_md5(fd, remote, key.expose(), v6)?;
        }
        if let Some(ttl) = self.ttl {
            sockopt::set_ttl(fd, ttl, v6)?;
        }
        if let Some(min) = self.min_ttl {
            sockopt::set_min_ttl(fd, min, v6)?;
        }
        Ok(())
    }
}

pub enum SessionCommand {
    /// Pre-encoded messages (UPDATEs) to send if the session is Established.
    Send(Vec<Bytes>),
    Incoming(TcpStream),
    /// Stop; `Some` sends that NOTIFICATION first. `done` fires once the socket is flushed.
    Stop {
        notification: Option<Notification>,
        done: oneshot::Sender<()>,
    },
    /// Settings for the next OPEN; the running session is left as it is.
    Settings(LocalSettings),
    /// Send this NOTIFICATION, close, and connect again (after `hold_down`, if set).
    Reset {
        notification: Notification,
        hold_down: Option<Duration>,
    },
    /// Pause an Established session at a message boundary, flush what is queued, and give
    /// the connection up for another process (`crate::takeover`); the task then ends. `None`
    /// (the session is not Established) leaves the session running.
    Pause(oneshot::Sender<Option<PausedSession>>),
}

#[derive(Debug)]
pub enum SessionEventKind {
    State(State),
    Established {
        negotiated: Box<Negotiated>,
        local: SocketAddr,
        remote: SocketAddr,
        /// A session taken over from another process, with its routes there.
        resumed: Option<Box<crate::session::Resumed>>,
    },
    Down(DownReason),
    Update(Box<Update>),
    RouteRefresh(RouteRefresh),
}

#[derive(Debug)]
pub struct SessionEvent {
    pub peer: Arc<str>,
    /// The [`SessionConfig::id`] of the task that sent it.
    pub session: u64,
    pub kind: SessionEventKind,
}

struct Conn {
    read: OwnedReadHalf,
    buf: BytesMut,
    writer: mpsc::UnboundedSender<Bytes>,
    /// Gives the write half back once everything queued is written.
    writer_task: JoinHandle<Option<OwnedWriteHalf>>,
    backlog: Arc<Backlog>,
    outgoing: bool,
    local: SocketAddr,
    remote: SocketAddr,
}

impl Conn {
    fn new(stream: TcpStream, buf: BytesMut, outgoing: bool) -> std::io::Result<Conn> {
        stream.set_nodelay(true)?;
        let (local, remote) = (stream.local_addr()?, stream.peer_addr()?);
        let (read, mut write) = stream.into_split();
        let (writer, mut rx) = mpsc::unbounded_channel::<Bytes>();
        let backlog = Backlog::new();
        let written = backlog.clone();
        let writer_task = tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, 256).await > 0 {
                for b in batch.drain(..) {
                    if write.write_all(&b).await.is_err() {
                        return None;
                    }
                    written.written(b.len());
                }
            }
            Some(write)
        });
        Ok(Conn {
            read,
            buf,
            writer,
            writer_task,
            backlog,
            outgoing,
            local,
            remote,
        })
    }

    /// Queues `msg` for the writer, counted in the backlog.
    fn queue(&self, msg: Bytes) {
        self.backlog.queue(msg.len());
        let _ = self.writer.send(msg);
    }

    /// Everything queued written, bounded so that a dead peer cannot hang us: the write half
    /// back, or `None` if it could not be done in time.
    async fn flush(
        writer: mpsc::UnboundedSender<Bytes>,
        writer_task: JoinHandle<Option<OwnedWriteHalf>>,
    ) -> Option<OwnedWriteHalf> {
        drop(writer);
        let flushed = tokio::time::timeout(Duration::from_secs(2), writer_task).await;
        flushed.ok()?.ok()?
    }

    /// Closes after everything queued is written.
    async fn close(self) {
        if let Some(mut write) = Conn::flush(self.writer, self.writer_task).await {
            let _ = write.shutdown().await;
        }
    }
}

/// Writes a NOTIFICATION on a connection we will not use and closes it.
async fn reject(mut stream: TcpStream, n: Notification, counters: Arc<MessageCounters>) {
    counters.notification(Direction::Sent, &n);
    let _ = stream
        .write_all(&Message::Notification(n).encode(CodecContext::default()))
        .await;
    let _ = stream.shutdown().await;
}

/// Reads the peer's OPEN from a second connection, for collision resolution (RFC 4271 §6.8).
async fn read_open(mut stream: TcpStream) -> Option<(TcpStream, BytesMut, Open)> {
    let mut buf = BytesMut::with_capacity(4096);
    let read = async {
        loop {
            if let Some(len) = frame_len(&buf, CodecContext::default()).ok()? {
                let frame = buf.split_to(len);
                return match decode_message(&frame, CodecContext::default()) {
                    Ok(Decoded::Message(Message::Open(open))) => Some(open),
                    _ => None,
                };
            }
            if stream.read_buf(&mut buf).await.ok()? == 0 {
                return None;
            }
        }
    };
    let open = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .ok()??;
    Some((stream, buf, open))
}

async fn connect(
    remote: SocketAddr,
    local: Option<IpAddr>,
    limit: Duration,
    transport: Transport,
) -> std::io::Result<TcpStream> {
    let socket = if remote.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    transport.apply(std::os::fd::AsRawFd::as_raw_fd(&socket), remote.ip(), true)?;
    if let Some(local) = local {
        socket.bind(SocketAddr::new(local, 0))?;
    }
    tokio::time::timeout(limit, socket.connect(remote))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))?
}

async fn read_some(conn: &mut Option<Conn>) -> std::io::Result<usize> {
    match conn {
        Some(c) => c.read.read_buf(&mut c.buf).await,
        None => std::future::pending().await,
    }
}

async fn join<T>(task: &mut Option<JoinHandle<T>>) -> Option<T> {
    match task {
        Some(t) => {
            let r = t.await.ok();
            *task = None;
            r
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

pub struct Session {
    cfg: SessionConfig,
    fsm: Fsm,
    conn: Option<Conn>,
    ctx: CodecContext,
    timers: HashMap<Timer, Instant>,
    connecting: Option<JoinHandle<std::io::Result<TcpStream>>>,
    collision: Option<JoinHandle<Option<(TcpStream, BytesMut, Open)>>>,
    events: mpsc::UnboundedSender<SessionEvent>,
    last_state: State,
    /// Connection attempts that failed since the last that worked (warned at powers of two).
    silent_connects: u32,
    /// The peer's OPEN on this connection, as received (a takeover hands it on).
    peer_open: Option<Vec<u8>>,
    /// Per family (AFI, SAFI), the backlog epoch in which its last ROUTE-REFRESH was passed
    /// on: one more while that answer is still queued is coalesced ([`backlog`]).
    refreshes: HashMap<(u16, u8), u64>,
}

impl Session {
    pub fn spawn(
        cfg: SessionConfig,
        events: mpsc::UnboundedSender<SessionEvent>,
    ) -> (mpsc::UnboundedSender<SessionCommand>, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let fsm = Fsm::new(cfg.settings.clone(), cfg.passive, cfg.connect_retry)
            .with_open_hold_time(cfg.open_hold_time);
        let session = Session {
            cfg,
            fsm,
            conn: None,
            ctx: CodecContext::default(),
            timers: HashMap::new(),
            connecting: None,
            collision: None,
            events,
            last_state: State::Idle,
            silent_connects: 0,
            peer_open: None,
            refreshes: HashMap::new(),
        };
        let span = tracing::info_span!("peer", name = %session.cfg.name);
        let task = tokio::spawn(tracing::Instrument::instrument(session.run(rx, true), span));
        (tx, task)
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<SessionCommand>, start: bool) {
        if start {
            self.event(Event::ManualStart).await;
        }
        // How often the backlog is looked at for the Send Hold Timer (RFC 9687).
        let mut backlog_watch = tokio::time::interval(Duration::from_millis(500));
        backlog_watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let deadline = self.timers.values().min().copied();
            tokio::select! {
                _ = backlog_watch.tick() => self.watch_backlog().await,
                cmd = commands.recv() => match cmd {
                    Some(SessionCommand::Send(msgs)) => {
                        self.send_raw(msgs);
                        self.watch_backlog().await;
                    }
                    Some(SessionCommand::Incoming(stream)) => self.incoming(stream).await,
                    Some(SessionCommand::Settings(s)) => self.fsm.set_settings(s),
                    Some(SessionCommand::Reset { notification, hold_down }) => {
                        self.event(Event::Reset { notification, hold_down }).await
                    }
                    Some(SessionCommand::Pause(reply)) => {
                        let paused = self.pause().await;
                        let handed = paused.is_some();
                        let _ = reply.send(paused);
                        if handed {
                            return; // the connection goes on in another process
                        }
                    }
                    Some(SessionCommand::Stop { notification, done }) => {
                        self.event(Event::ManualStop(notification)).await;
                        if let Some(c) = self.connecting.take() { c.abort(); }
                        let _ = done.send(());
                        return;
                    }
                    None => {
                        self.event(Event::ManualStop(None)).await;
                        return;
                    }
                },
                read = read_some(&mut self.conn) => match read {
                    Ok(0) | Err(_) => {
                        debug!("connection closed by peer");
                        self.event(Event::TcpFailed).await;
                    }
                    Ok(_) => self.process_input().await,
                },
                _ = sleep_until(deadline) => {
                    let now = Instant::now();
                    let due: Vec<Timer> = self.timers.iter().filter(|(_, d)| **d <= now).map(|(t, _)| *t).collect();
                    for t in due {
                        self.timers.remove(&t);
                        self.event(Event::TimerExpired(t)).await;
                    }
                },
                result = join(&mut self.connecting) => self.connected(result).await,
                result = join(&mut self.collision) => self.resolve_collision(result.flatten()).await,
            }
        }
    }

    /// Ends an Established session whose peer is not taking what we send: NOTIFICATION 8 once
    /// nothing could be written for the send hold time (RFC 9687 §4), Cease/Out of Resources
    /// once the queue is over [`MAX_QUEUED_BYTES`]. Either NOTIFICATION is queued behind what
    /// is stuck; the close gives it 2 s.
    async fn watch_backlog(&mut self) {
        let (Some(c), Some(n)) = (&self.conn, self.fsm.negotiated()) else {
            return;
        };
        if self.fsm.state() != State::Established {
            return;
        }
        let limit = self
            .cfg
            .send_hold_time
            .unwrap_or_else(|| send_hold_time(n.hold_time));
        let (stalled, queued) = (c.backlog.stalled_for(), c.backlog.queued());
        let notification = if stalled >= limit {
            crate::bounds::reached(crate::bounds::Limit::SendHold, "a peer stopped reading");
            warn!(
                stalled_ms = stalled.as_millis() as u64,
                queued,
                "the peer has taken nothing we sent for the send hold time (RFC 9687); resetting"
            );
            Notification::new(code::SEND_HOLD_TIMER_EXPIRED, 0)
        } else if c.backlog.over_bound() {
            crate::bounds::reached(crate::bounds::Limit::WriterQueue, "a peer's queue is full");
            warn!(
                queued,
                limit = MAX_QUEUED_BYTES,
                "more is queued for the peer than allowed; resetting (Cease, out of resources)"
            );
            Notification::new(code::CEASE, cease::OUT_OF_RESOURCES)
        } else {
            return;
        };
        self.event(Event::Reset {
            notification,
            hold_down: None,
        })
        .await;
    }

    /// Passes a ROUTE-REFRESH on to the daemon unless the answer to the last one for its
    /// family is still queued (coalesced, see [`backlog`]).
    fn route_refresh(&mut self, rr: RouteRefresh) {
        if rr.kind == crate::wire::RefreshKind::Request {
            if let Some(c) = &self.conn {
                let family = (rr.afi, rr.safi);
                let epoch = c.backlog.epoch();
                if self
                    .refreshes
                    .get(&family)
                    .is_some_and(|&e| c.backlog.still_queued_since(e))
                {
                    debug!(
                        afi = rr.afi,
                        safi = rr.safi,
                        "ROUTE-REFRESH coalesced: the last answer is still queued"
                    );
                    self.cfg.counters.count_coalesced_refresh();
                    crate::bounds::reached(
                        crate::bounds::Limit::RouteRefresh,
                        "ROUTE-REFRESH coalesced while the last answer is queued",
                    );
                    return;
                }
                self.refreshes.insert(family, epoch);
            }
        }
        self.emit(SessionEventKind::RouteRefresh(rr));
    }

    fn send_raw(&mut self, msgs: Vec<Bytes>) {
        if self.fsm.state() != State::Established {
            return;
        }
        if let Some(c) = &self.conn {
            for m in msgs {
                self.cfg.counters.count_encoded(Direction::Sent, &m);
                c.queue(m);
            }
        }
    }

    /// Decodes every complete message in the buffer.
    async fn process_input(&mut self) {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return;
            };
            let len = match frame_len(&conn.buf, self.ctx) {
                Ok(Some(len)) => len,
                Ok(None) => return,
                Err(n) => return self.event(Event::DecodeError(n)).await,
            };
            let frame = conn.buf.split_to(len);
            if frame.get(18) == Some(&1) {
                self.peer_open = Some(frame.to_vec()); // type 1: OPEN (RFC 4271 §4.1)
            }
            match decode_message(&frame, self.ctx) {
                Ok(Decoded::Message(m)) => {
                    self.cfg.counters.count(Direction::Received, &m);
                    self.event(Event::Message(m)).await
                }
                Ok(Decoded::Ignored(why)) => debug!(why, "message ignored"),
                Err(n) => {
                    warn!(notification = %n, "malformed message from peer");
                    self.event(Event::DecodeError(n)).await
                }
            }
        }
    }

    async fn event(&mut self, event: Event) {
        let actions = self.fsm.handle(event);
        for action in actions {
            self.apply(action).await;
        }
        let state = self.fsm.state();
        if state != self.last_state {
            debug!(from = ?self.last_state, to = ?state, "state change");
            self.last_state = state;
            self.emit(SessionEventKind::State(state));
        }
    }

    fn emit(&self, kind: SessionEventKind) {
        let _ = self.events.send(SessionEvent {
            peer: self.cfg.name.clone(),
            session: self.cfg.id,
            kind,
        });
    }

    async fn apply(&mut self, action: Action) {
        match action {
            Action::Connect => {
                if self.conn.is_none() && self.connecting.is_none() {
                    let (remote, local, limit) = (
                        self.cfg.remote,
                        self.cfg.local_address,
                        self.cfg.connect_retry.max(Duration::from_secs(3)),
                    );
                    let transport = self.cfg.transport.clone();
                    self.connecting = Some(tokio::spawn(connect(remote, local, limit, transport)));
                }
            }
            Action::Send(msg) => {
                if let Message::Notification(n) = &msg {
                    warn!(notification = %n, "sending NOTIFICATION");
                }
                if let Some(c) = &self.conn {
                    self.cfg.counters.count(Direction::Sent, &msg);
                    let ctx = if matches!(msg, Message::Open(_)) {
                        CodecContext::default()
                    } else {
                        self.ctx
                    };
                    c.queue(msg.encode(ctx));
                }
            }
            Action::Close => {
                if let Some(c) = self.conn.take() {
                    c.close().await;
                }
                self.ctx = CodecContext::default();
            }
            Action::StartTimer(t, d) => {
                self.timers.insert(t, Instant::now() + d);
            }
            Action::StopTimer(t) => {
                self.timers.remove(&t);
            }
            Action::Established(n) => {
                self.ctx = n.codec;
                // The FSM reaches Established only on a connection.
                let Some((local, remote)) = self.conn.as_ref().map(|c| (c.local, c.remote)) else {
                    return;
                };
                info!(%local, %remote, families = ?n.families, hold = ?n.hold_time, "session established");
                self.emit(SessionEventKind::Established {
                    negotiated: n,
                    local,
                    remote,
                    resumed: None,
                });
            }
            Action::Down(reason) => {
                info!(?reason, "session down");
                self.emit(SessionEventKind::Down(reason));
            }
            // The daemon sees a Down without an Established before it: the reason only.
            Action::Refused(reason) => {
                info!(?reason, "session refused");
                self.emit(SessionEventKind::Down(reason));
            }
            Action::Update(u) => self.emit(SessionEventKind::Update(u)),
            Action::RouteRefresh(rr) => self.route_refresh(rr),
        }
    }

    async fn connected(&mut self, result: Option<std::io::Result<TcpStream>>) {
        match result {
            Some(Ok(stream))
                if self.conn.is_none()
                    && matches!(self.fsm.state(), State::Connect | State::Active) =>
            {
                self.silent_connects = 0;
                match Conn::new(stream, BytesMut::with_capacity(65536), true) {
                    Ok(c) => {
                        debug!(local = %c.local, "connected");
                        self.conn = Some(c);
                        self.event(Event::TcpConnected).await;
                    }
                    Err(e) => {
                        debug!(error = %e, "connection unusable");
                        self.event(Event::TcpFailed).await;
                    }
                }
            }
            Some(Ok(_)) => debug!("outgoing connection no longer needed"),
            Some(Err(e)) => {
                debug!(error = %e, "connect failed");
                self.silent_connects += 1;
                if e.kind() == std::io::ErrorKind::TimedOut
                    && self.silent_connects.is_power_of_two()
                {
                    let attempts = self.silent_connects;
                    if self.cfg.transport.md5.is_some() {
                        warn!(attempts, "no answer from the peer, which has a TCP-MD5 password configured: the kernel drops segments whose signature does not match, without a word. Check that both sides have the same password and that the peer has one for our address (FRR: neighbor X password, BIRD: password)");
                    } else {
                        warn!(attempts, "no answer from the peer: it may be down or filtered, or it may require a TCP-MD5 password (set `password` or `password_file`)");
                    }
                }
                if self.fsm.state() == State::Connect {
                    self.event(Event::TcpFailed).await;
                }
            }
            None => {}
        }
    }

    async fn incoming(&mut self, stream: TcpStream) {
        let state = self.fsm.state();
        match state {
            State::Idle | State::Connect | State::Active if self.conn.is_none() => {
                if let Some(c) = self.connecting.take() {
                    c.abort();
                }
                self.adopt(stream, BytesMut::with_capacity(65536), None)
                    .await;
            }
            State::OpenSent | State::OpenConfirm if self.collision.is_none() => {
                self.collision = Some(tokio::spawn(read_open(stream)));
            }
            _ => {
                debug!(?state, "refusing a second connection");
                tokio::spawn(reject(
                    stream,
                    Notification::new(code::CEASE, cease::CONNECTION_COLLISION),
                    self.cfg.counters.clone(),
                ));
            }
        }
    }

    /// Makes `stream` the session's connection; `open` is a peer OPEN already read from it.
    async fn adopt(&mut self, stream: TcpStream, buf: BytesMut, open: Option<Open>) {
        // The listener holds the MD5 keys of accepted connections; the TTLs are set here.
        let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
        if let Err(e) = self.cfg.transport.apply(fd, self.cfg.remote.ip(), false) {
            warn!(error = %e, "cannot set the TTL options of an accepted connection; closed");
            return;
        }
        match Conn::new(stream, buf, false) {
            Ok(c) => {
                debug!(remote = %c.remote, "accepted connection");
                self.conn = Some(c);
                self.event(Event::TcpConnected).await;
                if let Some(open) = open {
                    let open = Message::Open(open);
                    self.peer_open = Some(open.encode(CodecContext::default()).to_vec());
                    self.cfg.counters.count(Direction::Received, &open);
                    self.event(Event::Message(open)).await;
                }
                self.process_input().await;
            }
            Err(e) => debug!(error = %e, "accepted connection unusable"),
        }
    }

    /// RFC 4271 §6.8: the second connection's OPEN is in; [`crate::fsm::collision`] decides
    /// which connection stays, and the loser is closed with Cease 6/7.
    async fn resolve_collision(&mut self, second: Option<(TcpStream, BytesMut, Open)>) {
        let Some((stream, buf, open)) = second else {
            return;
        };
        let cease_7 = Notification::new(code::CEASE, cease::CONNECTION_COLLISION);
        let Some(current) = self.conn.as_ref() else {
            // The first connection went away while the second's OPEN was read.
            if matches!(
                self.fsm.state(),
                State::Idle | State::Connect | State::Active
            ) {
                return self.adopt(stream, buf, Some(open)).await;
            }
            return reject(stream, cease_7, self.cfg.counters.clone()).await;
        };
        let settings = self.fsm.settings();
        let collision = Collision {
            state: self.fsm.state(),
            existing: if current.outgoing {
                Initiator::Local
            } else {
                Initiator::Remote
            },
            new: Initiator::Remote,
            local_id: settings.router_id,
            local_asn: settings.local_asn,
            remote_id: open.bgp_id,
            remote_asn: open.asn(),
        };
        match collision::resolve(&collision) {
            Resolution::KeepExisting => {
                info!(
                    ?collision,
                    "connection collision: keeping the existing connection"
                );
                reject(stream, cease_7, self.cfg.counters.clone()).await
            }
            Resolution::KeepNew => {
                info!(
                    ?collision,
                    "connection collision: switching to the new connection"
                );
                self.event(Event::CollisionLost(cease_7)).await;
                self.adopt(stream, buf, Some(open)).await;
            }
        }
    }
}
