//! What systemd needs to follow an upgrade by takeover: `sd_notify` (written by hand: it is
//! one datagram, and the crates that do it pull in libsystemd or a D-Bus stack), and the new
//! process started from the binary now installed (SIGUSR2, as nginx does a binary upgrade).
//!
//! With `Type=notify` and `NotifyAccess=all`, a process says `READY=1` once it serves; the
//! one that took over says `MAINPID=<its pid>` too, so systemd follows it when the old one
//! exits.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// Sends `state` to the service manager if there is one (`NOTIFY_SOCKET`); `Ok(false)` if not.
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let socket = UnixDatagram::unbound()?;
    let bytes = path.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        // An abstract socket (Linux): `@name`.
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        socket.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        socket.send_to(state.as_bytes(), Path::new(&path))?;
    }
    Ok(true)
}

/// The command that starts the new process: the binary installed under the name this one was
/// started by (after a package upgrade, the new build), `run --takeover` with the same config.
pub fn successor(config: &Path, log_format: &str) -> std::process::Command {
    let installed = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute() && p.exists())
        .or_else(|| std::env::current_exe().ok())
        .unwrap_or_else(|| PathBuf::from("gracewire"));
    let mut cmd = std::process::Command::new(installed);
    cmd.arg("run")
        .arg("--config")
        .arg(config)
        .args(["--log-format", log_format, "--takeover"]);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_sends_one_datagram_to_the_notify_socket() {
        let dir = std::env::temp_dir().join(format!("gw-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let manager = UnixDatagram::bind(&path).unwrap();
        // The only test that reads NOTIFY_SOCKET.
        std::env::set_var("NOTIFY_SOCKET", &path);
        assert!(notify("MAINPID=42\nREADY=1").unwrap());
        std::env::remove_var("NOTIFY_SOCKET");
        let mut buf = [0u8; 64];
        let n = manager.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"MAINPID=42\nREADY=1");
        assert!(!notify("READY=1").unwrap(), "no manager, nothing sent");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
