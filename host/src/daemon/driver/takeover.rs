//! The event loop's side of a takeover (`crate::takeover`): as the old process, pausing every
//! Established session and sending it on; as the new one, resuming what came and answering.

use super::{Io, SessionHandle, TakeoverEnd};
use crate::daemon::{Daemon, Input, TakeoverStep};
use crate::session::{PausedSession, Session, SessionCommand, SessionConfig};
use crate::takeover::format::Frame;
use crate::takeover::{self, ArrivedSession, Taken};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tracing::{info, warn};

impl Io {
    /// New side: a session that arrived, resumed as the task of its configured peer.
    pub(super) fn resume_arrived(
        &mut self,
        cfg: &SessionConfig,
        arrived: ArrivedSession,
    ) -> Result<SessionHandle, String> {
        let (session, resumed) = arrived.into_paused(cfg.remote.ip(), cfg.settings.remote_as)?;
        self.resume(cfg.clone(), session, Some(Box::new(resumed)))
            .map_err(|e| format!("the connection cannot be used here: {e}"))
    }

    /// The task of an Established session that goes on from `session`: one taken over
    /// (`resumed` says what it had), or one paused here for a takeover that failed.
    fn resume(
        &self,
        cfg: SessionConfig,
        session: PausedSession,
        resumed: Option<Box<crate::session::Resumed>>,
    ) -> std::io::Result<SessionHandle> {
        let events = self.events_tx.clone();
        let (commands, task) = Session::resume(cfg.clone(), events, session, resumed)?;
        Ok(SessionHandle {
            commands,
            task,
            cfg,
        })
    }

    /// New side, once every configured peer's session exists: tells the old process which
    /// sessions run here (it exits then). Sessions of peers no longer configured are closed.
    pub(super) async fn answer_takeover(&mut self, mut taken: Taken) {
        for (name, _) in self.arrived.drain() {
            warn!(peer = %name, "the previous process had a session with a peer this config does not have: closed");
            self.declined.push((name, "not in the config".into()));
        }
        if let Err(why) = &taken.complete {
            warn!(reason = %why, "the takeover broke off: sessions that did not arrive stayed with the previous process");
        }
        let frame = takeover::format::Frame::Resumed {
            peers: self.resumed.clone(),
            declined: self.declined.clone(),
        };
        let (resumed, declined, old) = (self.resumed.len(), self.declined.len(), taken.old_pid);
        let sent = tokio::task::spawn_blocking(move || {
            takeover::unix::send(&mut taken.conn, &frame, &[], None)
        })
        .await;
        match sent {
            Ok(Ok(())) => info!(resumed, declined, from_pid = old, "sessions taken over"),
            _ => warn!(from_pid = old, "the previous process went away before hearing which sessions run here; they run here"),
        }
    }

    /// Old side: a takeover request. Pauses every Established session, sends them with the
    /// listener, and waits for the answer; resumes them here if none comes.
    pub(super) async fn serve_takeover(
        &mut self,
        daemon: &mut Daemon,
        conn: UnixStream,
    ) -> TakeoverEnd {
        let started = Instant::now();
        let greeted = tokio::task::spawn_blocking(move || {
            let mut conn = conn;
            let hello = takeover::read_hello(&mut conn);
            (conn, hello)
        })
        .await;
        let Ok((mut conn, hello)) = greeted else {
            return TakeoverEnd::Failed;
        };
        let new_pid = match hello {
            Ok(pid) => pid,
            Err(takeover::Refusal::OtherFormat(reason)) => {
                warn!(%reason, "takeover refused: stopping the graceful way so the new process can start");
                return TakeoverEnd::Refused;
            }
            Err(takeover::Refusal::NotTakeover(reason)) => {
                warn!(%reason, "a connection to the takeover socket that is no takeover: ignored");
                return TakeoverEnd::Failed;
            }
        };
        // BFD first: a long multiplier announced for each Up session, as for a planned
        // restart, and this process's BFD task ends, giving up its sockets to send on.
        let bfd = self.bfd_for_takeover().await;
        let bfd_frames = bfd.as_ref().map(bfd_frames).unwrap_or_default();
        info!(new_pid, "a new process takes over: pausing sessions");
        let paused = self.pause_sessions().await;
        // The daemon frames each paused session (`None`: its peer is gone or down).
        let sessions = paused
            .iter()
            .map(|(name, _, p)| (name.clone(), p.paused.clone()))
            .collect();
        daemon.handle(
            Instant::now(),
            Input::Takeover(TakeoverStep::Paused(sessions)),
            self,
        );
        let mut framed: std::collections::HashMap<_, _> = std::mem::take(&mut self.takeover_frames)
            .into_iter()
            .collect();
        // Each frame with its own copy of the connection to send; these paused sessions stay
        // here too, to resume if the takeover fails. One that cannot be framed goes on here.
        let mut frames = Vec::new();
        let mut kept = Vec::new();
        for (name, handle, session) in paused {
            let frame = framed.remove(&name).flatten();
            match (frame, session.stream.try_clone()) {
                (Some((state, body)), Ok(copy)) => {
                    frames.push((state, body, copy));
                    kept.push((name, handle, session));
                }
                _ => self.resume_here(name, handle, session),
            }
        }
        let listener = self.listener.map(|(fd, _)| fd);
        let answer = tokio::task::spawn_blocking(move || {
            // SAFETY: the listener lives as long as this process serves; it outlives this call.
            let listener = listener.map(|fd| unsafe { BorrowedFd::borrow_raw(fd) });
            let sessions: Vec<_> = frames
                .iter()
                .map(|(state, body, copy)| (state, &body[..], copy.as_fd()))
                .collect();
            let bfd: Vec<_> = bfd_frames
                .iter()
                .map(|(frame, socket)| (frame.clone(), socket.as_fd()))
                .collect();
            takeover::send_sessions(&mut conn, listener, &bfd, &sessions)
        })
        .await
        .unwrap_or_else(|e| Err(format!("the takeover task failed: {e}")));
        let took_ms = started.elapsed().as_millis() as u64;
        match answer {
            Ok(takeover::Answer {
                resumed: peers,
                declined,
            }) => {
                for p in &peers {
                    info!(peer = %p, new_pid, "session handed over");
                }
                for (p, why) in &declined {
                    warn!(peer = %p, reason = %why, "the new process could not resume this session: it closes without a NOTIFICATION, so the peer keeps our routes in graceful restart");
                }
                info!(
                    handed = peers.len(),
                    declined = declined.len(),
                    took_ms,
                    "takeover done: exiting"
                );
                TakeoverEnd::Done
            }
            Err(why) => {
                warn!(reason = %why, took_ms, "takeover failed: the paused sessions go on here");
                for (name, handle, session) in kept {
                    self.resume_here(name, handle, session);
                }
                // BFD starts again here, on the sockets and with the sessions it gave up (or
                // afresh, had its task not answered in time).
                self.bfd_inherited = bfd;
                daemon.handle(Instant::now(), Input::Takeover(TakeoverStep::Failed), self);
                TakeoverEnd::Failed
            }
        }
    }

    /// Ends the BFD task for a takeover: its sessions (the Up ones announced a long
    /// multiplier) with their sockets. `None` without a BFD task.
    async fn bfd_for_takeover(&mut self) -> Option<crate::bfd::Inherited> {
        let bfd = self.bfd.take()?;
        let (tx, rx) = oneshot::channel();
        bfd.send(crate::bfd::io::Command::Takeover(tx)).ok()?;
        let given = tokio::time::timeout(Duration::from_millis(500), rx).await;
        let inherited = given.ok()?.ok()?;
        info!(
            sessions = inherited.sessions.len(),
            "BFD sessions handed over with their sockets"
        );
        Some(inherited)
    }

    /// Asks every session to pause; those that were Established give up their connection.
    async fn pause_sessions(&mut self) -> Vec<(Arc<str>, SessionHandle, PausedSession)> {
        let mut asked = Vec::new();
        for (name, s) in &self.sessions {
            let (tx, rx) = oneshot::channel();
            if s.commands.send(SessionCommand::Pause(tx)).is_ok() {
                asked.push((name.clone(), rx));
            }
        }
        let mut paused = Vec::new();
        for (name, rx) in asked {
            let answer = tokio::time::timeout(Duration::from_secs(3), rx).await;
            if let Ok(Ok(Some(session))) = answer {
                if let Some(handle) = self.sessions.remove(&name) {
                    paused.push((name, handle, session));
                }
            }
        }
        paused
    }

    /// A paused session goes on in this process, as if nothing happened.
    fn resume_here(&mut self, name: Arc<str>, handle: SessionHandle, session: PausedSession) {
        match self.resume(handle.cfg, session, None) {
            Ok(resumed) => {
                self.sessions.insert(name, resumed);
            }
            Err(e) => warn!(peer = %name, error = %e, "cannot resume a paused session"),
        }
    }
}

/// One frame per BFD socket: each receive socket, and each Up session with its send socket.
fn bfd_frames(b: &crate::bfd::Inherited) -> Vec<(Frame, std::net::UdpSocket)> {
    let mut frames = Vec::new();
    for ((ipv6, multihop), socket) in &b.receivers {
        if let Ok(copy) = socket.try_clone() {
            let (ipv6, multihop) = (*ipv6, *multihop);
            frames.push((Frame::BfdListener { ipv6, multihop }, copy));
        }
    }
    for (peer, saved) in &b.sessions {
        if let Some(Ok(copy)) = b.senders.get(peer).map(|s| s.try_clone()) {
            let (peer, saved) = (peer.clone(), saved.clone());
            frames.push((Frame::BfdSession { peer, saved }, copy));
        }
    }
    frames
}
