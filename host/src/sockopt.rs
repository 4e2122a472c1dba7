//! Socket options no maintained crate wraps, as small `libc` calls: TCP-MD5 signatures
//! (RFC 2385, Linux `TCP_MD5SIG`), the TTL we send (eBGP multihop, GTSM's 255) and the
//! minimum TTL we accept (GTSM, RFC 5082: `IP_MINTTL` / `IPV6_MINHOPCOUNT`). socket2 and tokio
//! expose the TTL setters but neither MD5 nor the minimum TTL.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;

/// Linux's `TCP_MD5SIG_MAXKEYLEN`.
pub const MD5_MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` from `<linux/tcp.h>`: the peer, the key.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefix_len: u8,
    key_len: u16,
    ifindex: u32,
    key: [u8; MD5_MAX_KEY_LEN],
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live, initialised `T` for the duration of the call, and the length
    // passed is its size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn storage(addr: SocketAddr) -> libc::sockaddr_storage {
    let sock: socket2::SockAddr = addr.into();
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value, and SockAddr's bytes
    // are at most its size.
    let mut out: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = (sock.len() as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: both regions are valid for `len` bytes and do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sock.as_ptr().cast::<u8>(),
            (&mut out as *mut libc::sockaddr_storage).cast::<u8>(),
            len,
        );
    }
    out
}

/// Signs (and requires signatures on) the TCP segments of `fd` with `peer` using `key`; an
/// empty key removes it. On a listening socket it applies to the connections it accepts from
/// `peer`. `ipv6_socket`: a peer's IPv4 address is given IPv4-mapped to an IPv6 socket.
pub fn set_md5(fd: RawFd, peer: IpAddr, key: &[u8], ipv6_socket: bool) -> io::Result<()> {
    if key.len() > MD5_MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a TCP-MD5 key is at most {MD5_MAX_KEY_LEN} bytes"),
        ));
    }
    let peer = match (peer, ipv6_socket) {
        (IpAddr::V4(v4), true) => IpAddr::V6(v4.to_ipv6_mapped()),
        (other, _) => other,
    };
    let mut sig = TcpMd5Sig {
        addr: storage(SocketAddr::new(peer, 0)),
        flags: 0,
        prefix_len: 0,
        key_len: key.len() as u16,
        ifindex: 0,
        key: [0; MD5_MAX_KEY_LEN],
    };
    sig.key[..key.len()].copy_from_slice(key);
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_MD5SIG, &sig)
}

/// The TTL (hop limit) of what we send.
pub fn set_ttl(fd: RawFd, ttl: u8, ipv6: bool) -> io::Result<()> {
    let v = ttl as libc::c_int;
    if ipv6 {
        setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &v)
    } else {
        setsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL, &v)
    }
}

/// The lowest TTL (hop limit) a received segment may carry; lower ones are dropped by the
/// kernel (GTSM, RFC 5082 §3).
pub fn set_min_ttl(fd: RawFd, ttl: u8, ipv6: bool) -> io::Result<()> {
    let v = ttl as libc::c_int;
    if ipv6 {
        setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, &v)
    } else {
        setsockopt(fd, libc::IPPROTO_IP, libc::IP_MINTTL, &v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn md5_and_ttl_options_are_accepted_by_the_kernel() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let fd = l.as_raw_fd();
        set_md5(fd, "127.0.0.2".parse().unwrap(), b"secret", false).unwrap();
        set_md5(fd, "127.0.0.2".parse().unwrap(), b"", false).unwrap();
        assert!(set_md5(fd, "127.0.0.2".parse().unwrap(), &[b'x'; 81], false).is_err());
        set_ttl(fd, 255, false).unwrap();
        set_min_ttl(fd, 254, false).unwrap();
    }
}
