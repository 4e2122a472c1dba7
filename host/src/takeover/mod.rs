//! Hitless upgrade: a starting gracewire takes the live BGP sessions over from the running
//! one, so its peers see nothing at all, with or without Graceful Restart.
//!
//! Both processes share the network namespace, so the very TCP connections can move. The new
//! process loads its config and plugins first (the old one keeps serving meanwhile), then
//! connects to the old one's owner-only socket in `state_dir` ([`socket_path`]). The old one
//! pauses every Established session at a message boundary, flushes what it had queued, and
//! sends each connection (SCM_RIGHTS) with the OPENs, the timers, the unread bytes, and the
//! Adj-RIB-In and Adj-RIB-Out as UPDATE messages, and our GR helper's refresh under way
//! ([`format`]); the listening socket and the BFD sockets (with their sessions) move the same
//! way. The new process resumes each session at once (its KEEPALIVEs keep their
//! schedule), computes what each peer should now have, and sends only the difference. The old
//! process exits when the new one says which sessions it resumed.
//!
//! Whatever goes wrong falls back per session: a session the new process cannot resume is
//! closed without a NOTIFICATION (its peer is in graceful restart, as after any restart); if
//! the new process goes away before it answers, the old one resumes its paused sessions
//! itself; a format mismatch makes the old process stop the graceful way and the new one start
//! as after a restart.

pub mod format;
pub mod systemd;
pub mod unix;

use crate::fsm::{negotiate, LocalSettings};
use crate::session::{Paused, PausedSession, Resumed};
use crate::wire::{decode_message, frame_len, CodecContext, Decoded, Family, Message, Update};
use format::{Frame, SessionBody, SessionState, FORMAT};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The socket a running gracewire takes takeover requests on.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("takeover.sock")
}

/// How long either side waits for the other's next frame, until the sessions are sent.
/// After that the old process waits for the answer as long as the new one lives: the new one
/// may be taking in big tables, and the sessions are already running there, so resuming them
/// here as well would put two processes on one connection.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// One session as it arrived from the old process.
#[derive(Debug)]
pub struct ArrivedSession {
    pub state: SessionState,
    pub body: SessionBody,
    pub stream: std::net::TcpStream,
}

impl ArrivedSession {
    /// The session ready to resume for a peer of `remote_as` at `remote`: the OPENs
    /// negotiated again by this process's code, the routes decoded with the result's codec.
    pub fn into_paused(
        self,
        remote: std::net::IpAddr,
        remote_as: crate::fsm::RemoteAs,
    ) -> Result<(PausedSession, Resumed), String> {
        let ArrivedSession {
            state,
            body,
            stream,
        } = self;
        // On an error the connection is dropped here; it closes, without a NOTIFICATION,
        // once the old process has let go of it too.
        let (negotiated, resumed) = read_session(&state, &body, remote, remote_as)?;
        Ok((
            PausedSession {
                stream,
                paused: Paused {
                    local: state.local,
                    remote: state.remote,
                    negotiated,
                    received_open: body.received_open,
                    unread: body.unread,
                    keepalive_in: Duration::from_millis(state.keepalive_in_ms),
                    hold_in: Duration::from_millis(state.hold_in_ms),
                },
            },
            resumed,
        ))
    }
}

/// What a Session frame says, read by this process's code: its OPENs negotiated again for a
/// peer of `remote_as` at `remote`, its routes decoded with the resulting codec.
pub fn read_session(
    state: &SessionState,
    body: &SessionBody,
    remote: std::net::IpAddr,
    remote_as: crate::fsm::RemoteAs,
) -> Result<(crate::fsm::Negotiated, Resumed), String> {
    if state.remote.ip() != remote {
        return Err(format!(
            "its peer was {}, the config now says {remote}",
            state.remote.ip()
        ));
    }
    let open = |bytes: &[u8], whose: &str| match decode_message(bytes, CodecContext::default()) {
        Ok(Decoded::Message(Message::Open(o))) => Ok(o),
        _ => Err(format!("{whose} OPEN does not decode")),
    };
    let sent = open(&body.sent_open, "our")?;
    let received = open(&body.received_open, "the peer's")?;
    let settings = LocalSettings::from_open(&sent, remote_as);
    let negotiated = negotiate(&settings, &received)
        .map_err(|n| format!("its OPENs no longer negotiate here: {n}"))?;
    let codec = negotiated.codec;
    let families = |names: &[String]| -> Result<Vec<Family>, String> {
        names.iter().map(|f| f.parse()).collect()
    };
    let resumed = Resumed {
        adj_rib_in: updates(&body.adj_rib_in, codec).map_err(|e| format!("Adj-RIB-In: {e}"))?,
        adj_rib_out: updates(&body.adj_rib_out, codec).map_err(|e| format!("Adj-RIB-Out: {e}"))?,
        established_for: Duration::from_millis(state.established_ms),
        eor_sent: state.eor_sent,
        eor_received: families(&state.eor_received)?,
        refreshing: families(&state.refreshing)?,
        stale_rib_in: updates(&body.stale_rib_in, codec)
            .map_err(|e| format!("stale Adj-RIB-In: {e}"))?,
        stale_left: Duration::from_millis(state.stale_in_ms),
    };
    Ok((negotiated, resumed))
}

/// The UPDATE messages in `bytes`, read with the session's codec.
pub fn updates(mut bytes: &[u8], codec: CodecContext) -> Result<Vec<Update>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = match frame_len(bytes, codec) {
            Ok(Some(len)) => len,
            Ok(None) => {
                return Err(format!(
                    "{} bytes that are not a whole message",
                    bytes.len()
                ))
            }
            Err(n) => return Err(n.to_string()),
        };
        match decode_message(&bytes[..len], codec) {
            Ok(Decoded::Message(Message::Update(u))) => out.push(u),
            Ok(_) => return Err("a message that is not an UPDATE".into()),
            Err(n) => return Err(n.to_string()),
        }
        bytes = &bytes[len..];
    }
    Ok(out)
}

/// What the new process got from the old one.
pub struct Taken {
    /// Where the new process says which sessions it resumed.
    pub conn: UnixStream,
    pub old_pid: u32,
    pub listener: Option<OwnedFd>,
    pub sessions: Vec<ArrivedSession>,
    /// BFD sessions with their sockets, for this process's BFD task.
    pub bfd: crate::bfd::Inherited,
    /// Every announced session arrived; `Err` says what broke off (the sessions that arrived
    /// are here all the same, and the rest stayed with the old process or ended with it).
    pub complete: Result<(), String>,
}

pub enum Outcome {
    Taken(Taken),
    /// No process to take over from (no socket, or nobody listening): start as usual.
    Nobody(String),
    /// The old process refused (another format); it stops the graceful way, and this stream
    /// ends when it has.
    Refused {
        reason: String,
        conn: UnixStream,
    },
}

/// The new process's side: asks the process serving `state_dir` for its sessions.
pub fn take_over(state_dir: &Path) -> Outcome {
    let path = socket_path(state_dir);
    let mut conn = match UnixStream::connect(&path) {
        Ok(c) => c,
        Err(e) => return Outcome::Nobody(format!("{}: {e}", path.display())),
    };
    let _ = conn.set_read_timeout(Some(PATIENCE));
    let hello = Frame::Hello {
        format: FORMAT,
        pid: std::process::id(),
    };
    if let Err(e) = unix::send(&mut conn, &hello, &[], None) {
        return Outcome::Nobody(format!("{}: {e}", path.display()));
    }
    let (announced, old_pid, listener) = match unix::recv(&mut conn) {
        Ok((Frame::Welcome { sessions, pid, .. }, _, fd)) => (sessions, pid, fd),
        Ok((Frame::Refused { reason, .. }, _, _)) => return Outcome::Refused { reason, conn },
        Ok((other, _, _)) => return Outcome::Nobody(format!("unexpected answer {other:?}")),
        Err(e) => return Outcome::Nobody(format!("no answer from the running process: {e}")),
    };
    // The count is the old process's word: reserve no more than a fleet's worth for it.
    let mut sessions = Vec::with_capacity(announced.min(4096));
    let mut bfd = crate::bfd::Inherited::default();
    let complete = loop {
        match unix::recv(&mut conn) {
            Ok((Frame::BfdListener { ipv6, multihop }, _, Some(fd))) => {
                bfd.receivers.push(((ipv6, multihop), fd.into()));
            }
            Ok((Frame::BfdSession { peer, saved }, _, Some(fd))) => {
                if let Err(why) = saved.session.validate() {
                    crate::bounds::reached(crate::bounds::Limit::TakeoverFrame, &why);
                    break Err(format!("BFD session of {peer}: {why}"));
                }
                bfd.senders.insert(peer.clone(), fd.into());
                bfd.sessions.insert(peer, saved);
            }
            Ok((Frame::Session(state), body, Some(fd))) => {
                let stream = std::net::TcpStream::from(fd);
                if let Err(e) = state.validate(&stream) {
                    crate::bounds::reached(crate::bounds::Limit::TakeoverFrame, &e);
                    break Err(e);
                }
                match SessionBody::split(&state, &body) {
                    Ok(body) => sessions.push(ArrivedSession {
                        stream,
                        state,
                        body,
                    }),
                    Err(e) => break Err(e),
                }
            }
            Ok((Frame::Done, _, _)) if sessions.len() == announced => break Ok(()),
            Ok((frame, _, _)) => break Err(format!("unexpected frame {frame:?}")),
            Err(e) => break Err(format!("the running process stopped answering: {e}")),
        }
    };
    Outcome::Taken(Taken {
        conn,
        old_pid,
        listener,
        sessions,
        bfd,
        complete,
    })
}

/// The new process's answer: the peers whose sessions it resumed, and those it could not
/// (peer, why).
pub struct Answer {
    pub resumed: Vec<String>,
    pub declined: Vec<(String, String)>,
}

/// The old process's side, after [`read_hello`]: the BFD frames and every paused session
/// sent, then the answer.
pub fn send_sessions(
    conn: &mut UnixStream,
    listener: Option<BorrowedFd>,
    bfd: &[(Frame, BorrowedFd)],
    sessions: &[(&SessionState, &[u8], BorrowedFd)],
) -> Result<Answer, String> {
    let _ = conn.set_read_timeout(Some(PATIENCE));
    let welcome = Frame::Welcome {
        format: FORMAT,
        pid: std::process::id(),
        sessions: sessions.len(),
        listener: listener.is_some(),
        bfd: bfd.len(),
    };
    let io = |e: std::io::Error| format!("the new process went away: {e}");
    unix::send(conn, &welcome, &[], listener).map_err(io)?;
    for (frame, fd) in bfd {
        unix::send(conn, frame, &[], Some(*fd)).map_err(io)?;
    }
    for (state, body, fd) in sessions {
        let frame = Frame::Session((*state).clone());
        unix::send(conn, &frame, body, Some(*fd)).map_err(io)?;
    }
    unix::send(conn, &Frame::Done, &[], None).map_err(io)?;
    let _ = conn.set_read_timeout(None);
    match unix::recv(conn).map_err(io)? {
        (Frame::Resumed { peers, declined }, _, _) => Ok(Answer {
            resumed: peers,
            declined,
        }),
        (other, _, _) => Err(format!("unexpected answer {other:?}")),
    }
}

/// Why a connection to the takeover socket is not served.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The new process speaks another format; it was told so.
    OtherFormat(String),
    /// Not a takeover request at all.
    NotTakeover(String),
}

/// The old process's side: the new one's greeting (its pid), or why it is refused (another
/// format: the refusal is sent).
pub fn read_hello(conn: &mut UnixStream) -> Result<u32, Refusal> {
    let _ = conn.set_read_timeout(Some(PATIENCE));
    match unix::recv(conn) {
        Ok((Frame::Hello { format, pid }, _, _)) if format == FORMAT => Ok(pid),
        Ok((Frame::Hello { format, .. }, _, _)) => {
            let reason =
                format!("this process speaks takeover format {FORMAT}, the new one {format}");
            let refusal = Frame::Refused {
                format: FORMAT,
                reason: reason.clone(),
            };
            let _ = unix::send(conn, &refusal, &[], None);
            Err(Refusal::OtherFormat(reason))
        }
        Ok((other, _, _)) => Err(Refusal::NotTakeover(format!("{other:?}"))),
        Err(e) => Err(Refusal::NotTakeover(format!("no greeting: {e}"))),
    }
}

/// The old process's side: refuses a takeover it cannot do (then stops the graceful way).
pub fn refuse(conn: &mut UnixStream, reason: &str) {
    let refusal = Frame::Refused {
        format: FORMAT,
        reason: reason.to_string(),
    };
    let _ = unix::send(conn, &refusal, &[], None);
}

/// Accepts takeover requests on [`socket_path`] (owner-only) and passes each connection on.
pub async fn listen(
    state_dir: &Path,
    requests: tokio::sync::mpsc::Sender<UnixStream>,
) -> std::io::Result<()> {
    let path = socket_path(state_dir);
    // A socket left by a previous run would make bind fail; a running process's socket is
    // unlinked only by the process replacing it, which has taken over from it by then.
    let _ = std::fs::remove_file(&path);
    let listener = crate::private::with_umask(0o177, || tokio::net::UnixListener::bind(&path))?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // Our own user or root only (the socket is 0600; this holds if that were loosened).
            if let Err(e) = crate::private::check_peer(&stream) {
                tracing::warn!(error = %e, "takeover connection refused");
                continue;
            }
            let Ok(stream) = stream.into_std() else {
                continue;
            };
            if stream.set_nonblocking(false).is_err() {
                continue;
            }
            if requests.send(stream).await.is_err() {
                return;
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The new process's side of a conversation with no sessions: reads up to Done, then
    /// answers after `after`, or goes away without answering.
    fn new_side(mut conn: UnixStream, after: Option<Duration>) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            while !matches!(unix::recv(&mut conn), Ok((Frame::Done, _, _)) | Err(_)) {}
            if let Some(after) = after {
                std::thread::sleep(after);
                let answer = Frame::Resumed {
                    peers: vec!["tor1".into()],
                    declined: Vec::new(),
                };
                unix::send(&mut conn, &answer, &[], None).unwrap();
            }
        })
    }

    /// A new process still taking its tables in past PATIENCE is waited for: the sessions run
    /// there already, and resuming them in the old one too would put two on one connection.
    #[test]
    fn the_old_process_waits_for_a_slow_answer_as_long_as_the_new_one_lives() {
        let (mut old, new) = UnixStream::pair().unwrap();
        let slow = new_side(new, Some(PATIENCE + Duration::from_secs(1)));
        let answer = send_sessions(&mut old, None, &[], &[]).expect("the slow answer");
        assert_eq!(answer.resumed, ["tor1"]);
        slow.join().unwrap();
    }

    #[test]
    fn a_new_process_gone_before_answering_ends_the_wait_at_once() {
        let (mut old, new) = UnixStream::pair().unwrap();
        let started = std::time::Instant::now();
        let gone = new_side(new, None);
        let why = send_sessions(&mut old, None, &[], &[])
            .err()
            .expect("no answer");
        assert!(why.contains("went away"), "{why}");
        assert!(started.elapsed() < PATIENCE);
        gone.join().unwrap();
    }
}
