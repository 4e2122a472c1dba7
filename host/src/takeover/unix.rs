//! Frames over the takeover socket, with a file descriptor riding on a frame's first byte
//! (SCM_RIGHTS). Written by hand over `nix` because no maintained crate frames a stream and
//! passes descriptors at once; blocking, since a takeover is one short conversation run off
//! the event loop.

use super::format::{self, Frame};
use nix::sys::socket::{self as nixsock, ControlMessage, ControlMessageOwned, MsgFlags};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Instant;

/// Sends `frame` with `body`, and `fd` on its first byte.
pub fn send(
    sock: &mut UnixStream,
    frame: &Frame,
    body: &[u8],
    fd: Option<BorrowedFd>,
) -> io::Result<()> {
    let bytes = format::encode(frame, body);
    let mut sent = 0;
    if let Some(fd) = fd {
        let fds = [fd.as_raw_fd()];
        let rights = [ControlMessage::ScmRights(&fds)];
        sent = nixsock::sendmsg::<()>(
            sock.as_raw_fd(),
            &[IoSlice::new(&bytes[..8])],
            &rights,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )?;
    }
    sock.write_all(&bytes[sent..])
}

/// The next frame, its body and the descriptor that came with it. End of stream before a
/// frame starts is `UnexpectedEof`. The socket's read timeout, if set, bounds the whole frame,
/// not each read: a sender trickling a byte at a time cannot hold the reader longer. Header and
/// body grow as their bytes arrive, so a length alone reserves nothing.
pub fn recv(sock: &mut UnixStream) -> io::Result<(Frame, Vec<u8>, Option<OwnedFd>)> {
    let timeout = sock.read_timeout()?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let frame = recv_by(sock, deadline);
    sock.set_read_timeout(timeout)?;
    if let Err(e) = &frame {
        if e.kind() != io::ErrorKind::UnexpectedEof {
            crate::bounds::reached(crate::bounds::Limit::TakeoverFrame, e);
        }
    }
    frame
}

/// Sets the read timeout to what is left until `deadline`; an error once it has passed.
fn arm(sock: &UnixStream, deadline: Option<Instant>) -> io::Result<()> {
    let Some(deadline) = deadline else {
        return Ok(());
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "takeover frame not whole in time",
        ));
    }
    sock.set_read_timeout(Some(left))
}

/// Exactly `len` bytes, read as they come.
fn read_len(sock: &mut UnixStream, len: usize, deadline: Option<Instant>) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(len.min(1 << 16));
    let mut chunk = vec![0u8; len.min(1 << 16)];
    while out.len() < len {
        arm(sock, deadline)?;
        let want = (len - out.len()).min(chunk.len());
        match sock.read(&mut chunk[..want]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn recv_by(
    sock: &mut UnixStream,
    deadline: Option<Instant>,
) -> io::Result<(Frame, Vec<u8>, Option<OwnedFd>)> {
    let mut prefix = [0u8; 8];
    let mut got = 0;
    let mut fd = None;
    while got < 8 {
        arm(sock, deadline)?;
        let mut cmsg = nix::cmsg_space!([RawFd; 4]);
        let mut iov = [IoSliceMut::new(&mut prefix[got..])];
        let msg = nixsock::recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for raw in fds {
                    // SAFETY: the kernel just gave us this descriptor; nothing else owns it.
                    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                    if fd.is_none() {
                        fd = Some(owned);
                    } // any more are closed here: a frame carries one
                }
            }
        }
        if msg.bytes == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        got += msg.bytes;
    }
    let (header_len, body_len) = format::lengths(prefix).map_err(io::Error::other)?;
    let header = read_len(sock, header_len, deadline)?;
    let body = read_len(sock, body_len, deadline)?;
    let frame = format::header(&header).map_err(io::Error::other)?;
    Ok((frame, body, fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Seek;

    #[test]
    fn a_descriptor_rides_with_its_frame_and_not_the_next() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let mut file = tempfile_with(b"handed over");
        let done = Frame::Done;
        send(
            &mut a,
            &Frame::Hello { format: 1, pid: 1 },
            b"body",
            Some(std::os::fd::AsFd::as_fd(&file)),
        )
        .unwrap();
        send(&mut a, &done, &[], None).unwrap();
        drop(a);
        let (frame, body, fd) = recv(&mut b).unwrap();
        assert_eq!(frame, Frame::Hello { format: 1, pid: 1 });
        assert_eq!(body, b"body");
        let mut got = std::fs::File::from(fd.expect("the descriptor"));
        got.rewind().unwrap();
        let mut text = String::new();
        got.read_to_string(&mut text).unwrap();
        assert_eq!(text, "handed over");
        let (frame, _, fd) = recv(&mut b).unwrap();
        assert_eq!((frame, fd.is_none()), (done, true));
        assert_eq!(
            recv(&mut b).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        file.rewind().unwrap();
    }

    /// Issue 24: with a per-read timeout, a sender trickling a byte every 400 ms held the
    /// reader for as long as it liked; the timeout now bounds the whole frame.
    #[test]
    fn a_trickling_sender_is_cut_off_at_the_frame_deadline() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let bytes = format::encode(&Frame::Done, &[0u8; 64]);
        let trickle = std::thread::spawn(move || {
            for byte in bytes {
                if a.write_all(&[byte]).is_err() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(400));
            }
        });
        b.set_read_timeout(Some(std::time::Duration::from_secs(1)))
            .unwrap();
        let started = Instant::now();
        let err = recv(&mut b).unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            "{err}"
        );
        assert!(took < std::time::Duration::from_millis(1500), "{took:?}");
        drop(b);
        trickle.join().unwrap();
    }

    fn tempfile_with(text: &[u8]) -> std::fs::File {
        let path = std::env::temp_dir().join(format!("gw-takeover-{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        f.write_all(text).unwrap();
        f
    }
}
