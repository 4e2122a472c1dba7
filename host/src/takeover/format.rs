//! The takeover format, version [`FORMAT`]: what crosses the Unix socket between the running
//! gracewire and the one taking its sessions over.
//!
//! A conversation is a sequence of frames, each `header length (u32 BE) | body length (u32 BE)
//! | header | body`. The header is one [`Frame`] as JSON (self-describing, so a newer reader
//! can say what it does not understand); the body carries bytes that are BGP already. A frame
//! that moves a socket carries its descriptor as SCM_RIGHTS on its first byte (see
//! [`super::unix`]).
//!
//! ```text
//!  new                                   old
//!   │── Hello {format, pid} ─────────────►│
//!   │◄──────────── Welcome {sessions} ────│  + the listening socket, if any      (or Refused)
//!   │◄──────────── BfdListener {..} ──────│  + a BFD receive socket (one per kind)
//!   │◄──────────── BfdSession {..} ───────│  + its send socket (one per Up session)
//!   │◄──────────── Session {..} ──────────│  + the connection; body: OPENs, unread bytes,
//!   │◄──────────── ... ───────────────────│    Adj-RIB-In (fresh, then stale) and
//!   │                                     │    Adj-RIB-Out as UPDATEs
//!   │◄──────────── Done ──────────────────│
//!   │── Resumed {peers, declined} ───────►│  old exits; with no Resumed, old goes on serving
//! ```
//! Routes travel as the UPDATE messages that would carry them on the session (with its codec):
//! the codec is the one part of gracewire tested against every router, and the new process
//! reads them with the code it runs.

use crate::bfd::handover::Saved;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// The version of this format. A process refuses a peer process of another version, and both
/// fall back to a graceful restart.
pub const FORMAT: u32 = 2;

/// Frames above this size are refused (a full table of a few 100k routes is tens of MB).
pub const MAX_BODY: usize = 1 << 30;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Frame {
    /// New to old: take over, speaking `format`.
    Hello { format: u32, pid: u32 },
    /// Old to new: `sessions` Session frames follow, then Done; the listening socket comes
    /// with this frame when `listener`.
    Welcome {
        format: u32,
        pid: u32,
        sessions: usize,
        listener: bool,
        /// BfdListener and BfdSession frames that follow, before the sessions.
        bfd: usize,
    },
    /// Old to new: a BFD receive socket (UDP 3784 or 4784), attached.
    BfdListener { ipv6: bool, multihop: bool },
    /// Old to new: an Up BFD session, its send socket attached; the old process announced a
    /// long multiplier for it and stopped reading, as for a planned restart.
    BfdSession { peer: String, saved: Saved },
    /// Old to new: no takeover (another format, or a takeover already under way).
    Refused { format: u32, reason: String },
    /// Old to new: one Established session, its connection attached.
    Session(SessionState),
    /// Old to new: every session has been sent.
    Done,
    /// New to old: these sessions run here now; `declined` (peer, why) were closed without a
    /// NOTIFICATION, so their peers are in graceful restart.
    Resumed {
        peers: Vec<String>,
        declined: Vec<(String, String)>,
    },
}

/// One Established session, as the old process paused it at a message boundary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// The peer's name in the config.
    pub peer: String,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Until our next KEEPALIVE is due, in ms.
    pub keepalive_in_ms: u64,
    /// Until the hold timer expires, in ms (0: no hold timer).
    pub hold_in_ms: u64,
    /// How long the session has been Established.
    pub established_ms: u64,
    /// Our End-of-RIB went out in this session.
    pub eor_sent: bool,
    /// Families whose End-of-RIB the peer sent.
    pub eor_received: Vec<String>,
    /// Families the peer is refreshing after a restart of its own (we are its GR helper and
    /// still wait for their End-of-RIB); their routes not sent again yet are `stale_rib_in`.
    pub refreshing: Vec<String>,
    /// Until the stale-path timer of that refresh runs out, in ms.
    pub stale_in_ms: u64,
    /// The lengths of the parts of the frame's body (fields of this header in JSON).
    #[serde(flatten)]
    pub parts: PartLengths,
}

impl SessionState {
    /// A resumed session is checked as strictly as a config: its connection is the one the
    /// header names, and every time left is one a session could have (a hold time is at most
    /// 65,535 s, RFC 4271 §4.2; a stale-path time at most RFC 9494's 2^24 s).
    pub fn validate(&self, stream: &std::net::TcpStream) -> Result<(), String> {
        let (local, remote) = (stream.local_addr().ok(), stream.peer_addr().ok());
        if local != Some(self.local) || remote != Some(self.remote) {
            return Err(format!(
                "{}: the connection sent is {local:?} -> {remote:?}, the header says {} -> {}",
                self.peer, self.local, self.remote
            ));
        }
        const HOLD_MAX_MS: u64 = 65_535 * 1000;
        const STALE_MAX_MS: u64 = (1 << 24) * 1000;
        for (what, ms, max) in [
            ("keepalive_in_ms", self.keepalive_in_ms, HOLD_MAX_MS),
            ("hold_in_ms", self.hold_in_ms, HOLD_MAX_MS),
            ("stale_in_ms", self.stale_in_ms, STALE_MAX_MS),
        ] {
            if ms > max {
                return Err(format!("{}: {what} = {ms} is over {max}", self.peer));
            }
        }
        Ok(())
    }
}

/// The lengths of a Session frame's body parts, in the order they follow one another.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartLengths {
    /// The OPEN we sent, as sent.
    pub sent_open: usize,
    /// The peer's OPEN, as received.
    pub received_open: usize,
    /// Bytes read from the connection and not yet a whole message.
    pub unread: usize,
    /// The peer's routes (Adj-RIB-In), as UPDATE messages in the session's codec.
    pub adj_rib_in: usize,
    /// The peer's routes kept stale while it refreshes (RFC 4724 §4.2), the same way.
    pub stale_rib_in: usize,
    /// What the peer has been sent (Adj-RIB-Out), as UPDATE messages in the session's codec.
    pub adj_rib_out: usize,
}

/// The parts of a Session frame's body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionBody {
    pub sent_open: Vec<u8>,
    pub received_open: Vec<u8>,
    pub unread: Vec<u8>,
    pub adj_rib_in: Vec<u8>,
    pub stale_rib_in: Vec<u8>,
    pub adj_rib_out: Vec<u8>,
}

impl SessionBody {
    /// The parts in the order they cross.
    fn parts(&self) -> [&[u8]; 6] {
        [
            &self.sent_open,
            &self.received_open,
            &self.unread,
            &self.adj_rib_in,
            &self.stale_rib_in,
            &self.adj_rib_out,
        ]
    }

    /// The body, and `state` with the lengths of its parts filled in.
    pub fn join(&self, state: &mut SessionState) -> Vec<u8> {
        let [sent_open, received_open, unread, adj_rib_in, stale_rib_in, adj_rib_out] =
            self.parts().map(<[u8]>::len);
        state.parts = PartLengths {
            sent_open,
            received_open,
            unread,
            adj_rib_in,
            stale_rib_in,
            adj_rib_out,
        };
        self.parts().concat()
    }

    /// The parts of `body` as `state` names them.
    pub fn split(state: &SessionState, body: &[u8]) -> Result<SessionBody, String> {
        let p = &state.parts;
        let lens = [
            p.sent_open,
            p.received_open,
            p.unread,
            p.adj_rib_in,
            p.stale_rib_in,
            p.adj_rib_out,
        ];
        let total: usize = lens
            .iter()
            .try_fold(0usize, |a, l| a.checked_add(*l))
            .ok_or("lengths overflow")?;
        if total != body.len() {
            return Err(format!(
                "session {}: parts of {total} bytes in a body of {}",
                state.peer,
                body.len()
            ));
        }
        let mut at = 0;
        let [sent_open, received_open, unread, adj_rib_in, stale_rib_in, adj_rib_out] =
            lens.map(|len| {
                at += len;
                body[at - len..at].to_vec()
            });
        Ok(SessionBody {
            sent_open,
            received_open,
            unread,
            adj_rib_in,
            stale_rib_in,
            adj_rib_out,
        })
    }
}

/// A frame as bytes: the two lengths, the header, the body.
pub fn encode(frame: &Frame, body: &[u8]) -> Vec<u8> {
    let header = serde_json::to_vec(frame).expect("a frame serializes");
    let mut out = Vec::with_capacity(8 + header.len() + body.len());
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(body);
    out
}

/// The two lengths at the start of a frame, checked.
pub fn lengths(prefix: [u8; 8]) -> Result<(usize, usize), String> {
    let header = u32::from_be_bytes(prefix[..4].try_into().expect("4 bytes")) as usize;
    let body = u32::from_be_bytes(prefix[4..].try_into().expect("4 bytes")) as usize;
    if header > 1 << 20 || body > MAX_BODY {
        return Err(format!(
            "a frame of {header} + {body} bytes is not a takeover frame"
        ));
    }
    Ok((header, body))
}

/// A header read back; the message names what did not parse.
pub fn header(bytes: &[u8]) -> Result<Frame, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("takeover frame: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> SessionState {
        SessionState {
            peer: "tor1".into(),
            local: "127.0.0.1:40000".parse().unwrap(),
            remote: "127.0.0.2:179".parse().unwrap(),
            keepalive_in_ms: 1200,
            hold_in_ms: 8000,
            established_ms: 3_600_000,
            eor_sent: true,
            eor_received: vec!["ipv4-unicast".into()],
            refreshing: vec!["ipv6-unicast".into()],
            stale_in_ms: 250_000,
            parts: PartLengths::default(),
        }
    }

    /// Every field crosses: each part of the body back in its place, every header field equal.
    #[test]
    fn a_session_frame_round_trips_every_field() {
        let body = SessionBody {
            sent_open: vec![1; 29],
            received_open: vec![2; 45],
            unread: vec![3; 7],
            adj_rib_in: vec![4; 100],
            stale_rib_in: vec![6; 60],
            adj_rib_out: vec![5; 1000],
        };
        let mut s = state();
        let bytes = body.join(&mut s);
        assert_eq!(
            (
                s.parts.sent_open,
                s.parts.unread,
                s.parts.stale_rib_in,
                s.parts.adj_rib_out
            ),
            (29, 7, 60, 1000)
        );
        let wire = encode(&Frame::Session(s.clone()), &bytes);
        let (h, b) = lengths(wire[..8].try_into().unwrap()).unwrap();
        assert_eq!(8 + h + b, wire.len());
        let json: serde_json::Value = serde_json::from_slice(&wire[8..8 + h]).unwrap();
        assert_eq!(
            (&json["type"], &json["adj_rib_out"]),
            (&"session".into(), &1000.into()),
            "the lengths are fields of the header itself"
        );
        let Frame::Session(back) = header(&wire[8..8 + h]).unwrap() else {
            panic!("a session frame");
        };
        assert_eq!(back, s);
        assert_eq!(SessionBody::split(&back, &wire[8 + h..]).unwrap(), body);
    }

    #[test]
    fn the_other_frames_round_trip() {
        for f in [
            Frame::Hello {
                format: FORMAT,
                pid: 7,
            },
            Frame::Welcome {
                format: FORMAT,
                pid: 8,
                sessions: 2,
                listener: true,
                bfd: 2,
            },
            Frame::BfdListener {
                ipv6: true,
                multihop: false,
            },
            Frame::BfdSession {
                peer: "tor1".into(),
                saved: Saved {
                    remote: "2001:db8::1".parse().unwrap(),
                    port: 49300,
                    session: crate::bfd::session::Handover {
                        local_discr: 11,
                        remote_discr: 12,
                        remote_min_rx_us: 50_000,
                        remote_desired_min_tx_us: 60_000,
                        remote_detect_mult: 4,
                    },
                },
            },
            Frame::Refused {
                format: 2,
                reason: "another format".into(),
            },
            Frame::Done,
            Frame::Resumed {
                peers: vec!["tor1".into()],
                declined: vec![("tor2".into(), "its config changed AS".into())],
            },
        ] {
            let wire = encode(&f, &[]);
            let (h, b) = lengths(wire[..8].try_into().unwrap()).unwrap();
            assert_eq!(b, 0);
            assert_eq!(header(&wire[8..8 + h]).unwrap(), f);
        }
    }

    #[test]
    fn bad_frames_are_named_not_trusted() {
        let mut s = state();
        s.parts.adj_rib_in = 10;
        assert!(SessionBody::split(&s, &[0; 3])
            .unwrap_err()
            .contains("parts of 10 bytes in a body of 3"));
        assert!(lengths([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
        assert!(header(br#"{"type":"launch"}"#)
            .unwrap_err()
            .contains("takeover frame"));
    }

    /// Issue 24: resumed state is not trusted: the connection must be the one named, and no
    /// time left may be one no session could have.
    #[test]
    fn a_resumed_session_is_checked_against_its_connection_and_bounds() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let mut s = state();
        s.local = ours.local_addr().unwrap();
        s.remote = ours.peer_addr().unwrap();
        s.hold_in_ms = 90_000;
        s.keepalive_in_ms = 30_000;
        s.stale_in_ms = 0;
        assert_eq!(s.validate(&ours), Ok(()));
        let mut other = s.clone();
        other.remote = "127.0.0.9:179".parse().unwrap();
        assert!(other
            .validate(&ours)
            .unwrap_err()
            .contains("the header says"));
        let mut huge = s.clone();
        huge.hold_in_ms = u64::MAX;
        assert!(huge.validate(&ours).unwrap_err().contains("hold_in_ms"));
    }
}
