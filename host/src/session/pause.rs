//! Pausing an Established session for a takeover (`crate::takeover`) and resuming one: the
//! connection given up whole at a message boundary, with what the FSM and timers had.

use super::{Conn, Session, SessionCommand, SessionConfig, SessionEvent, SessionEventKind};
use crate::fsm::{Event, Fsm, Negotiated, State, Timer};
use crate::wire::{Family, Update};
use bytes::BytesMut;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};

/// An Established session paused for another process, or being resumed from one: the
/// connection and everything needed to go on without a word to the peer.
#[derive(Debug)]
pub struct PausedSession {
    pub stream: std::net::TcpStream,
    pub paused: Paused,
}

/// What a taken-over session had in the old process, for the daemon.
#[derive(Debug, Default)]
pub struct Resumed {
    pub adj_rib_in: Vec<Update>,
    pub adj_rib_out: Vec<Update>,
    pub established_for: Duration,
    pub eor_sent: bool,
    pub eor_received: Vec<Family>,
    /// Our GR helper's refresh under way: the families still awaited, their routes not sent
    /// again yet (stale), and what was left of the stale-path time.
    pub refreshing: Vec<Family>,
    pub stale_rib_in: Vec<Update>,
    pub stale_left: Duration,
}

/// A paused session without its connection.
#[derive(Clone, Debug)]
pub struct Paused {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Ours is `negotiated.offered`'s OPEN.
    pub negotiated: Negotiated,
    /// The peer's OPEN, as on the wire.
    pub received_open: Vec<u8>,
    /// Bytes read and not yet a whole message.
    pub unread: Vec<u8>,
    pub keepalive_in: Duration,
    /// Zero when the session has no hold timer.
    pub hold_in: Duration,
}

impl Conn {
    /// Everything queued written, the connection whole again (not shut down: another process
    /// goes on with it), and the bytes read but not yet a message.
    pub(super) async fn detach(self) -> Option<(std::net::TcpStream, BytesMut)> {
        let write = Conn::flush(self.writer, self.writer_task).await?;
        let stream = self.read.reunite(write).ok()?;
        Some((stream.into_std().ok()?, self.buf))
    }
}

impl Session {
    /// A task for a session that is Established already: `session` from another process (then
    /// `resumed` says what it had and the daemon is told the session is up), or paused here for
    /// a takeover that failed (`resumed` is `None`: the daemon never saw it stop).
    pub fn resume(
        cfg: SessionConfig,
        events: mpsc::UnboundedSender<SessionEvent>,
        session: PausedSession,
        resumed: Option<Box<Resumed>>,
    ) -> std::io::Result<(mpsc::UnboundedSender<SessionCommand>, JoinHandle<()>)> {
        let PausedSession {
            stream,
            paused:
                Paused {
                    negotiated,
                    received_open,
                    unread,
                    keepalive_in,
                    hold_in,
                    ..
                },
        } = session;
        stream.set_nonblocking(true)?;
        let stream = TcpStream::from_std(stream)?;
        let offered = negotiated.offered.clone();
        let mut fsm = Fsm::resume(offered, cfg.passive, cfg.connect_retry, negotiated.clone())
            .with_open_hold_time(cfg.open_hold_time);
        // What the config says now is for the next OPEN.
        fsm.set_settings(cfg.settings.clone());
        let conn = Conn::new(stream, BytesMut::from(&unread[..]), false)?;
        let now = Instant::now();
        let mut timers = HashMap::new();
        if !negotiated.keepalive.is_zero() {
            timers.insert(Timer::Keepalive, now + keepalive_in);
        }
        if !negotiated.hold_time.is_zero() {
            timers.insert(Timer::Hold, now + hold_in);
        }
        let (local, remote) = (conn.local, conn.remote);
        let session = Session {
            ctx: negotiated.codec,
            cfg,
            fsm,
            conn: Some(conn),
            timers,
            connecting: None,
            collision: None,
            events,
            last_state: State::Established,
            silent_connects: 0,
            peer_open: Some(received_open),
            refreshes: HashMap::new(),
        };
        if let Some(resumed) = resumed {
            session.emit(SessionEventKind::Established {
                negotiated: Box::new(negotiated),
                local,
                remote,
                resumed: Some(resumed),
            });
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let span = tracing::info_span!("peer", name = %session.cfg.name);
        let task = tokio::spawn(tracing::Instrument::instrument(
            session.run(rx, false),
            span,
        ));
        Ok((tx, task))
    }

    /// Stops an Established session at a message boundary (every whole message read has been
    /// handled) and gives up its connection; `None` if it is not Established.
    pub(super) async fn pause(&mut self) -> Option<PausedSession> {
        if self.fsm.state() != State::Established {
            return None;
        }
        let negotiated = self.fsm.negotiated()?.clone();
        let received_open = self.peer_open.clone()?;
        let now = Instant::now();
        let left = |t| {
            self.timers.get(&t).map_or(Duration::ZERO, |d: &Instant| {
                d.saturating_duration_since(now)
            })
        };
        let (keepalive_in, hold_in) = (left(Timer::Keepalive), left(Timer::Hold));
        let conn = self.conn.take()?;
        let (local, remote) = (conn.local, conn.remote);
        let Some((stream, unread)) = conn.detach().await else {
            warn!("the connection failed while being handed over");
            self.event(Event::TcpFailed).await;
            return None;
        };
        info!(%remote, keepalive_in_ms = keepalive_in.as_millis() as u64, unread = unread.len(), "session paused for a takeover");
        Some(PausedSession {
            stream,
            paused: Paused {
                local,
                remote,
                negotiated,
                received_open,
                unread: unread.to_vec(),
                keepalive_in,
                hold_in,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use tokio::io::AsyncReadExt;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap());
        let (ours, theirs) = tokio::join!(ours, listener.accept());
        (ours.unwrap(), theirs.unwrap().0)
    }

    /// What was queued reaches the peer before the connection is given up, whole, with the
    /// bytes read but not yet a message.
    #[tokio::test]
    async fn a_connection_flushed_in_time_is_given_up_with_its_unread_bytes() {
        let (ours, mut theirs) = pair().await;
        let conn = Conn::new(ours, BytesMut::from(&b"half a message"[..]), true).unwrap();
        conn.writer.send(Bytes::from_static(b"queued")).unwrap();
        let (stream, unread) = conn.detach().await.expect("flushed");
        assert_eq!(&unread[..], b"half a message");
        let mut got = [0u8; 6];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"queued");
        // Not shut down: the connection still carries bytes both ways.
        use std::io::Write;
        (&stream).write_all(b"more").unwrap();
        let mut more = [0u8; 4];
        theirs.read_exact(&mut more).await.unwrap();
        assert_eq!(&more, b"more");
    }

    /// A peer that reads nothing cannot be flushed: the session is not handed over (it fails
    /// here, and the peer, once it reads again, finds the connection closed: graceful restart).
    #[tokio::test]
    async fn a_connection_that_cannot_be_flushed_in_time_is_not_given_up() {
        let (ours, _theirs) = pair().await;
        let conn = Conn::new(ours, BytesMut::new(), true).unwrap();
        // Far more than both ends' socket buffers hold.
        let chunk = Bytes::from(vec![0u8; 1 << 20]);
        for _ in 0..64 {
            conn.writer.send(chunk.clone()).unwrap();
        }
        let started = Instant::now();
        assert!(conn.detach().await.is_none());
        assert!(started.elapsed() >= Duration::from_secs(2));
    }
}
