//! What only the daemon's own user may touch: `state_dir` (the restart record, the control
//! socket, the plugin compile cache) is 0700 and what is written in it 0600, whatever the umask.
//! The compile cache holds native code that gracewire loads as compiled, so a cache directory
//! that someone else could write to is refused: writing it would be running code inside the
//! daemon.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The user we run as.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Whether `uid` is ours or root's: who may own our files and speak on our sockets.
pub fn ours_or_root(uid: u32) -> bool {
    uid == euid() || uid == 0
}

/// SO_PEERCRED: only our own user or root may speak on the control and takeover sockets (their
/// mode says the same; this holds even if the mode were loosened).
pub fn check_peer(stream: &tokio::net::UnixStream) -> io::Result<()> {
    let uid = stream.peer_cred()?.uid();
    if ours_or_root(uid) {
        return Ok(());
    }
    crate::bounds::reached(
        crate::bounds::Limit::LocalPeer,
        "a local client of another user",
    );
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "uid {uid} may not use this socket (uid {} or root only)",
            euid()
        ),
    ))
}

/// Creates `path` (and missing parents) owner-only, or makes an existing one owner-only.
pub fn private_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(path)?;
    std::fs::set_permissions(path, Permissions::from_mode(0o700))
}

/// Is `path` a directory only we (or root) own and may write?
pub fn check_private_dir(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", path.display()));
    }
    if !ours_or_root(meta.uid()) {
        return Err(format!(
            "{} belongs to uid {}, not to us (uid {})",
            path.display(),
            meta.uid(),
            euid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} can be written by others (mode {:o})",
            path.display(),
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (a temporary file renamed over it), mode 0600.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// Reads a file of ours: opened without following a link (`O_NOFOLLOW`), then checked on the
/// open file to be a regular file owned by us (or root) that nobody else may read or write
/// (mode 0600 or tighter). For the compile cache, whose bytes become native code we run.
pub fn read_private(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let shown = path.display();
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("{shown}: {e} (a link is refused)"))?;
    let meta = f.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    if !ours_or_root(meta.uid()) {
        return Err(format!(
            "{shown} belongs to uid {}, not to us (uid {})",
            meta.uid(),
            euid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "{shown} is open to others (mode {:o}, 600 expected)",
            meta.mode() & 0o777
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.read_to_end(&mut bytes)
        .map_err(|e| format!("{shown}: {e}"))?;
    Ok(bytes)
}

/// A whole file of at most `max` bytes; `None` if it cannot be read or is longer (a state file
/// is small: a longer one is not ours to trust).
pub fn read_bounded(path: &Path, max: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    f.take(max + 1).read_to_end(&mut bytes).ok()?;
    if bytes.len() as u64 > max {
        crate::bounds::reached(crate::bounds::Limit::StateFile, "a state file too long");
        tracing::warn!(path = %path.display(), max, "state file too long; ignored");
        return None;
    }
    Some(bytes)
}

/// Runs `f` with the process umask set to `mask` (for sockets, whose mode comes from it).
pub fn with_umask<T>(mask: u32, f: impl FnOnce() -> T) -> T {
    // SAFETY: umask only swaps the process's file creation mask.
    let old = unsafe { libc::umask(mask as libc::mode_t) };
    let out = f();
    // SAFETY: as above, restoring it.
    unsafe { libc::umask(old) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_and_files_are_owner_only_whatever_the_umask() {
        let base = std::env::temp_dir().join(format!("gw-private-{}", std::process::id()));
        let dir = base.join("state");
        with_umask(0, || private_dir(&dir)).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        with_umask(0, || write_private(&dir.join("f"), b"x")).unwrap();
        assert_eq!(mode(&dir.join("f")), 0o600);
        assert!(check_private_dir(&dir).is_ok());
        std::fs::set_permissions(&dir, Permissions::from_mode(0o777)).unwrap();
        let err = check_private_dir(&dir).unwrap_err();
        assert!(err.contains("can be written by others (mode 777)"), "{err}");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700, "an existing directory is tightened");
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn private_files_are_read_only_when_ours_0600_and_not_links() {
        let dir = std::env::temp_dir().join(format!("gw-private-read-{}", std::process::id()));
        private_dir(&dir).unwrap();
        let f = dir.join("a.cwasm");
        write_private(&f, b"native").unwrap();
        assert_eq!(read_private(&f).unwrap(), b"native");
        std::fs::set_permissions(&f, Permissions::from_mode(0o644)).unwrap();
        let err = read_private(&f).unwrap_err();
        assert!(err.contains("mode 644"), "{err}");
        std::fs::set_permissions(&f, Permissions::from_mode(0o600)).unwrap();
        let link = dir.join("b.cwasm");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        let err = read_private(&link).unwrap_err();
        assert!(err.contains("a link is refused"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn state_files_longer_than_their_bound_are_not_read() {
        let dir = std::env::temp_dir().join(format!("gw-private-bounded-{}", std::process::id()));
        private_dir(&dir).unwrap();
        let f = dir.join("record.json");
        write_private(&f, &[b'x'; 100]).unwrap();
        assert_eq!(read_bounded(&f, 100).unwrap().len(), 100);
        assert_eq!(read_bounded(&f, 99), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
