//! BFD's sockets (RFC 5881 §4, RFC 5883): a send socket per session, a receive socket per
//! family and kind read with each datagram's TTL; written over `socket2` and `nix` because
//! the TTL of a received datagram needs `recvmsg` with control messages, which tokio's UDP
//! socket does not give. Sockets can be handed to another process (a takeover), so each
//! receive socket is kept beside the task reading it.

use super::io::{PeerBfd, MULTIHOP_PORT, SINGLE_HOP_PORT};
use nix::sys::socket::{self as nixsock, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use tokio::io::Interest;
use tokio::sync::mpsc;
use tracing::debug;

/// A packet as read, before it is matched to a session.
pub(super) struct Received {
    pub from: IpAddr,
    pub ttl: Option<u8>,
    pub multihop: bool,
    pub bytes: Vec<u8>,
}

pub(super) fn port(multihop: bool) -> u16 {
    if multihop {
        MULTIHOP_PORT
    } else {
        SINGLE_HOP_PORT
    }
}

/// The send socket of one session: TTL 255, a source port of its own in 49152–65535 (`port`
/// first, when the session was handed over).
pub(super) fn sender(spec: &PeerBfd, port: Option<u16>) -> io::Result<UdpSocket> {
    let v6 = spec.remote.is_ipv6();
    let local = spec.local.unwrap_or(if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    let domain = if v6 {
        socket2::Domain::IPV6
    } else {
        socket2::Domain::IPV4
    };
    let start = port
        .filter(|p| *p >= 49152)
        .unwrap_or(49152 + (std::process::id() as u16 ^ spec.peer.len() as u16) % 16384);
    let mut last = io::Error::other("no free source port in 49152-65535");
    for i in 0..16384u16 {
        let port = 49152 + (start - 49152 + i) % 16384;
        let s = socket2::Socket::new(domain, socket2::Type::DGRAM, None)?;
        if v6 {
            s.set_unicast_hops_v6(255)?;
        } else {
            s.set_ttl_v4(255)?;
        }
        match s.bind(&SocketAddr::new(local, port).into()) {
            Ok(()) => {
                s.set_nonblocking(true)?;
                s.connect(&SocketAddr::new(spec.remote, self::port(spec.multihop)).into())?;
                return Ok(s.into());
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// An inherited send socket serves a session only if it goes where the session's would.
pub(super) fn fits(s: &UdpSocket, spec: &PeerBfd) -> bool {
    let to = SocketAddr::new(spec.remote, port(spec.multihop));
    s.peer_addr().is_ok_and(|a| a == to)
        && spec
            .local
            .is_none_or(|l| s.local_addr().is_ok_and(|a| a.ip() == l))
}

/// Binds the receive socket of a family and kind: (IPv6, multihop).
pub(super) fn receiver((v6, multihop): (bool, bool)) -> io::Result<UdpSocket> {
    let (domain, any) = if v6 {
        (socket2::Domain::IPV6, IpAddr::V6(Ipv6Addr::UNSPECIFIED))
    } else {
        (socket2::Domain::IPV4, IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, None)?;
    s.set_reuse_address(true)?;
    if v6 {
        s.set_only_v6(true)?;
        nixsock::setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true)?;
    } else {
        nixsock::setsockopt(&s, sockopt::Ipv4RecvTtl, &true)?;
    }
    s.bind(&SocketAddr::new(any, port(multihop)).into())?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// A receive socket and the task reading it; the socket is kept to hand over.
pub(super) struct Listening {
    pub kind: (bool, bool),
    pub socket: UdpSocket,
    pub reader: tokio::task::JoinHandle<()>,
}

impl Listening {
    pub fn start(
        kind: (bool, bool),
        socket: UdpSocket,
        to: mpsc::UnboundedSender<Received>,
    ) -> io::Result<Listening> {
        socket.set_nonblocking(true)?;
        let reading = tokio::net::UdpSocket::from_std(socket.try_clone()?)?;
        let multihop = kind.1;
        let reader = tokio::spawn(async move {
            loop {
                if reading.readable().await.is_err() {
                    return;
                }
                match reading.try_io(Interest::READABLE, || read(&reading)) {
                    Ok((from, ttl, bytes)) => {
                        let r = Received {
                            from,
                            ttl,
                            multihop,
                            bytes,
                        };
                        if to.send(r).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => debug!(error = %e, "BFD receive failed"),
                }
            }
        });
        Ok(Listening {
            kind,
            socket,
            reader,
        })
    }
}

/// One datagram with its source and TTL (hop limit).
fn read(socket: &tokio::net::UdpSocket) -> io::Result<(IpAddr, Option<u8>, Vec<u8>)> {
    let mut buf = [0u8; 512];
    let mut cmsg = nix::cmsg_space!(libc::c_int);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = nixsock::recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )?;
    let mut ttl = None;
    for c in msg.cmsgs()? {
        match c {
            ControlMessageOwned::Ipv4Ttl(t) | ControlMessageOwned::Ipv6HopLimit(t) => {
                ttl = u8::try_from(t).ok()
            }
            _ => {}
        }
    }
    let from = msg
        .address
        .and_then(|a| {
            a.as_sockaddr_in()
                .map(|s| IpAddr::V4(s.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
        })
        .ok_or_else(|| io::Error::other("datagram without a source address"))?;
    let len = msg.bytes;
    Ok((from, ttl, buf[..len].to_vec()))
}
