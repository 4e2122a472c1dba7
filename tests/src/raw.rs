//! A hand-driven BGP peer for malformed-input tests: it completes the OPEN/KEEPALIVE exchange
//! and then writes whatever bytes the test gives it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

pub struct RawPeer {
    listener: TcpListener,
}

pub struct RawSession {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// Wraps a body in a BGP header.
pub fn message(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&((body.len() + 19) as u16).to_be_bytes());
    v.push(msg_type);
    v.extend_from_slice(body);
    v
}

/// An OPEN with 4-octet AS, IPv4 and IPv6 unicast.
pub fn open(asn: u32, router_id: Ipv4Addr) -> Vec<u8> {
    open_with(asn, router_id, 90, false)
}

/// [`open`] with a hold time and, if `graceful_restart`, a Graceful Restart capability with no
/// families and restart time 0 (enough for a speaker to send End-of-RIB, RFC 4724 §2).
pub fn open_with(asn: u32, router_id: Ipv4Addr, hold_time: u16, graceful_restart: bool) -> Vec<u8> {
    let gr: &[u8] = if graceful_restart {
        &[64, 2, 0, 0]
    } else {
        &[]
    };
    open_caps(asn, router_id, hold_time, gr)
}

/// [`open`] with a hold time and more capabilities (code, length, value each), e.g. `[2, 0]`
/// for route refresh or `[6, 0]` for Extended Messages (RFC 8654).
pub fn open_caps(asn: u32, router_id: Ipv4Addr, hold_time: u16, more: &[u8]) -> Vec<u8> {
    let my_as = u16::try_from(asn).unwrap_or(23456);
    let mut caps = vec![1, 4, 0, 1, 0, 1, 1, 4, 0, 2, 0, 1];
    caps.extend_from_slice(more);
    caps.extend_from_slice(&[65, 4]);
    caps.extend_from_slice(&asn.to_be_bytes());
    let mut body = vec![4];
    body.extend_from_slice(&my_as.to_be_bytes());
    body.extend_from_slice(&hold_time.to_be_bytes());
    body.extend_from_slice(&router_id.octets());
    body.push(caps.len() as u8 + 2);
    body.push(2);
    body.push(caps.len() as u8);
    body.extend_from_slice(&caps);
    message(1, &body)
}

/// [`open`] with a Graceful Restart capability for IPv4 unicast with forwarding state kept
/// (F=1), `restart_time` seconds, and R=1 when `restarted` (RFC 4724 §3).
pub fn open_gr(asn: u32, router_id: Ipv4Addr, restart_time: u16, restarted: bool) -> Vec<u8> {
    let mut open = open(asn, router_id);
    let flags_and_time = restart_time & 0x0fff | if restarted { 0x8000 } else { 0 };
    let mut gr = vec![2, 8, 64, 6];
    gr.extend_from_slice(&flags_and_time.to_be_bytes());
    gr.extend_from_slice(&[0, 1, 1, 0x80]);
    open.extend_from_slice(&gr);
    // The message length and the optional parameters' length grow by the new parameter.
    let len = open.len() as u16;
    open[16..18].copy_from_slice(&len.to_be_bytes());
    open[28] += gr.len() as u8;
    open
}

/// Path attributes for [`update`]: ORIGIN IGP, AS_PATH [65001] (4-octet), NEXT_HOP 192.0.2.2.
pub const ATTRS_65001: [u8; 20] = [
    0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, 0x40, 3, 4, 192, 0, 2, 2,
];

pub fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = (withdrawn.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    message(2, &b)
}

/// An UPDATE announcing these IPv6 /128s (MP_REACH_NLRI, RFC 4760 §3) with ORIGIN IGP,
/// AS_PATH [`asn`] and next hop 2001:db8::2.
pub fn update_v6_hosts(asn: u32, hosts: &[std::net::Ipv6Addr]) -> Vec<u8> {
    let mut mp = vec![0, 2, 1, 16];
    mp.extend_from_slice(
        &"2001:db8::2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    mp.push(0);
    for h in hosts {
        mp.push(128);
        mp.extend_from_slice(&h.octets());
    }
    let mut attrs = vec![0x40, 1, 1, 0, 0x40, 2, 6, 2, 1];
    attrs.extend_from_slice(&asn.to_be_bytes());
    attrs.extend_from_slice(&[0x90, 14]);
    attrs.extend_from_slice(&(mp.len() as u16).to_be_bytes());
    attrs.extend_from_slice(&mp);
    update(&[], &attrs, &[])
}

impl RawPeer {
    pub fn listen(addr: Ipv4Addr) -> RawPeer {
        RawPeer {
            listener: TcpListener::bind(SocketAddr::from((addr, 179))).expect("bind raw peer"),
        }
    }

    /// Accepts gracewire's connection and completes the OPEN exchange.
    pub fn accept(&self, asn: u32, router_id: Ipv4Addr) -> RawSession {
        self.accept_with(&open(asn, router_id))
    }

    /// [`Self::accept`] sending `open` as our OPEN.
    pub fn accept_with(&self, open: &[u8]) -> RawSession {
        self.listener.set_nonblocking(false).unwrap();
        let (stream, _) = self.listener.accept().expect("gracewire connects");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut s = RawSession {
            stream,
            buf: Vec::new(),
        };
        s.send(open);
        let (t, _) = s
            .read_message(Duration::from_secs(5))
            .expect("OPEN from gracewire");
        assert_eq!(t, 1, "expected OPEN");
        s.send(&message(4, &[]));
        let (t, _) = s
            .read_message(Duration::from_secs(5))
            .expect("KEEPALIVE from gracewire");
        assert_eq!(t, 4, "expected KEEPALIVE");
        s
    }
}

impl RawSession {
    /// Connects from `local` to a speaker listening on `speaker:179` and completes the OPEN
    /// exchange; `None` if the speaker refuses or closes first.
    pub fn connect(
        local: Ipv4Addr,
        speaker: Ipv4Addr,
        asn: u32,
        router_id: Ipv4Addr,
    ) -> Option<RawSession> {
        Self::connect_with(local, speaker, &open(asn, router_id), None)
    }

    /// [`RawSession::connect`] with this OPEN and, if given, a receive buffer this small (a
    /// peer that reads slowly fills it at once).
    pub fn connect_with(
        local: Ipv4Addr,
        speaker: Ipv4Addr,
        open: &[u8],
        recv_buffer: Option<usize>,
    ) -> Option<RawSession> {
        let mut s = Self::connect_sized(local, speaker, recv_buffer)?;
        s.stream.write_all(open).ok()?;
        let (t, _) = s.read_message(Duration::from_secs(5))?;
        if t != 1 {
            return None;
        }
        s.stream.write_all(&message(4, &[])).ok()?;
        let (t, _) = s.read_message(Duration::from_secs(5))?;
        (t == 4).then_some(s)
    }

    /// A bare connection from `local` to `speaker:179`, nothing sent yet.
    pub fn connect_raw(local: Ipv4Addr, speaker: Ipv4Addr) -> Option<RawSession> {
        Self::connect_sized(local, speaker, None)
    }

    fn connect_sized(
        local: Ipv4Addr,
        speaker: Ipv4Addr,
        recv_buffer: Option<usize>,
    ) -> Option<RawSession> {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).ok()?;
        }
        socket.bind(&SocketAddr::from((local, 0)).into()).ok()?;
        socket
            .connect_timeout(
                &SocketAddr::from((speaker, 179)).into(),
                Duration::from_secs(2),
            )
            .ok()?;
        let stream: TcpStream = socket.into();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .ok()?;
        Some(RawSession {
            stream,
            buf: Vec::new(),
        })
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to gracewire");
    }

    /// The next message (type, body), skipping nothing; `None` on timeout or close.
    pub fn read_message(&mut self, timeout: Duration) -> Option<(u8, Vec<u8>)> {
        let start = Instant::now();
        loop {
            if self.buf.len() >= 19 {
                let len = u16::from_be_bytes([self.buf[16], self.buf[17]]) as usize;
                if self.buf.len() >= len {
                    let msg: Vec<u8> = self.buf.drain(..len).collect();
                    return Some((msg[18], msg[19..].to_vec()));
                }
            }
            if start.elapsed() > timeout {
                return None;
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Reads until a message of `msg_type` arrives (answering nothing); returns its body.
    pub fn expect(&mut self, msg_type: u8, timeout: Duration) -> Option<Vec<u8>> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            match self.read_message(timeout - start.elapsed()) {
                Some((t, body)) if t == msg_type => return Some(body),
                Some(_) => continue,
                None => return None,
            }
        }
        None
    }

    /// True once the connection is closed by gracewire.
    pub fn closed(&mut self, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if !self.fill() {
                return true;
            }
        }
        false
    }

    /// One read into the buffer (bounded by the read timeout); false once the peer has closed.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) => matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }
}
