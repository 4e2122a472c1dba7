//! Harness for end-to-end tests: real BGP daemons (gobgpd, FRR bgpd, BIRD) and the real
//! `gracewire` binary, each on its own loopback address, started and stopped by the tests.
//!
//! Every test takes a [`Lab`]: a /24 of 127.0.0.0/8 of its own (so tests run in parallel
//! without sharing addresses) and a temporary directory for configs, sockets and logs. Processes
//! are killed when their handle drops, so a failing test leaves nothing behind.

pub mod backend;
pub mod bad_input;
pub mod bird;
pub mod bird_ns;
pub mod config;
pub mod feed;
pub mod frr;
pub mod frr_ns;
pub mod gobgp;
pub mod gracewire;
pub mod netns;
pub mod plugin_lab;
pub mod prometheus;
pub mod python;
pub mod raw;
pub mod sink;
pub mod speaker;

pub use config::{quoted, GwConfig};
pub use gracewire::Gracewire;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// The longest echo stall (`gw-echo`'s `max_stall_ms`) that still proves no segment was lost.
/// A lost segment is only resent after a retransmission timeout, and Linux never waits less
/// than `TCP_RTO_MIN` (200 ms) for one; a shorter stall is scheduling on a busy machine (a
/// restarting daemon competes for the same 2 cores), not the network.
pub const NO_RETRANSMISSION_STALL_MS: u64 = 200;

/// The workspace root.
pub fn workspace() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Cargo's target dir, wherever `CARGO_TARGET_DIR` or a cargo config put it: the one above
/// the `debug` or `release` dir this test or bench binary runs from.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("this binary's path");
    exe.ancestors()
        .find(|d| {
            matches!(
                d.file_name().and_then(|n| n.to_str()),
                Some("debug" | "release")
            )
        })
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("{} is not in a cargo target dir", exe.display()))
        .to_path_buf()
}

/// A route as a peer sees it, the same shape for every daemon.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerRoute {
    pub prefix: String,
    pub next_hop: String,
    pub as_path: Vec<u32>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub communities: Vec<String>,
    pub large_communities: Vec<String>,
    pub stale: bool,
    /// Only to Customer (RFC 9234), as the daemon shows it.
    pub otc: Option<u32>,
}

/// What a peer daemon is told about itself and about gracewire.
#[derive(Debug, Clone)]
pub struct PeerSpec {
    pub addr: Ipv4Addr,
    pub asn: u32,
    pub gracewire_addr: Ipv4Addr,
    pub gracewire_asn: u32,
    pub graceful_restart: bool,
    pub restart_time: u16,
    /// Long-lived GR (RFC 9494): the stale time the daemon is configured with, if any.
    pub long_lived_stale_time: Option<u32>,
    /// Start (and restart) as a graceful restart with forwarding preserved: F=1 in the GR
    /// capability (gobgpd -r, bird -R, FRR preserve-fw-state).
    pub forwarding_preserved: bool,
    /// FRR: make `clear bgp` a Hard Reset (`bgp hard-administrative-reset`).
    pub hard_admin_reset: bool,
    /// TCP-MD5 password for the session with gracewire.
    pub password: Option<String>,
    /// Prefixes the peer originates from the start, with their next hop.
    pub originate: Vec<(String, String)>,
}

/// A real BGP daemon under test.
pub trait Router: Send + Sync {
    fn kind(&self) -> &'static str;
    fn spec(&self) -> &PeerSpec;
    /// Is the session with gracewire Established, as the daemon itself reports?
    fn established(&self) -> bool;
    /// Routes the daemon learned from gracewire, both families.
    fn routes(&self) -> Vec<PeerRoute>;
    /// How many routes it learned from gracewire (cheaper than [`routes`](Self::routes) where
    /// the daemon can say it at once, so a poller keeps its pace).
    fn route_count(&self) -> usize {
        self.routes().len()
    }
    fn originate(&mut self, prefix: &str, next_hop: &str);
    fn withdraw(&mut self, prefix: &str);
    /// Starts (or restarts) the daemon with its current config.
    fn start(&mut self);
    /// SIGKILL: the kernel closes its sockets.
    fn kill(&mut self);
    /// Changes what the daemon will be started with next time.
    fn spec_mut(&mut self) -> &mut PeerSpec;
    /// Something of the session with gracewire that changes whenever a new one is
    /// established (a count of sessions, or when the current one came up); `None` when down.
    fn session_mark(&self) -> Option<String>;
    /// Whether two marks are of the same session (equal, unless the daemon's mark jitters).
    fn same_session(&self, a: &str, b: &str) -> bool {
        a == b
    }
    /// UPDATE messages (BIRD: route updates) received from gracewire in this session.
    fn updates_received(&self) -> Option<u64>;
}

/// Network and scratch space of one test.
pub struct Lab {
    pub net: [u8; 3],
    pub dir: tempfile::TempDir,
}

impl Lab {
    /// `suite` separates test binaries (nextest runs them in parallel); each call within a
    /// binary gets its own /24.
    pub fn new(suite: u8) -> Lab {
        static NEXT: AtomicU8 = AtomicU8::new(1);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = tempfile::Builder::new()
            .prefix("gracewire-e2e-")
            .tempdir()
            .unwrap();
        Lab {
            net: [127, suite, n],
            dir,
        }
    }

    /// Host `n` of this lab's /24.
    pub fn addr(&self, n: u8) -> Ipv4Addr {
        Ipv4Addr::new(self.net[0], self.net[1], self.net[2], n)
    }

    /// A port for a daemon's API that no other lab uses.
    pub fn port(&self, n: u8) -> u16 {
        20000 + (self.net[1] as u16 % 40) * 1000 + self.net[2] as u16 * 8 + n as u16
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn spec(&self, host: u8, asn: u32, gracewire_asn: u32) -> PeerSpec {
        PeerSpec {
            addr: self.addr(host),
            asn,
            gracewire_addr: self.addr(1),
            gracewire_asn,
            graceful_restart: true,
            restart_time: 120,
            long_lived_stale_time: None,
            forwarding_preserved: true,
            hard_admin_reset: false,
            password: None,
            originate: Vec::new(),
        }
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("ephemeral port")
}

/// Polls `f` every 100 ms until it returns `Some` or `timeout` passes; panics naming `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A child process killed (and reaped) on drop.
pub struct Process {
    pub child: Option<Child>,
    pub log: PathBuf,
}

impl Process {
    pub fn spawn(cmd: &mut Command, log: &Path) -> Process {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Process {
            child: Some(child),
            log: log.to_owned(),
        }
    }

    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    pub fn signal(&self, sig: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(pid.to_string())
                .status();
        }
    }

    /// Sends `sig` and waits for the process to exit (killing it after `grace`).
    pub fn stop(&mut self, sig: &str, grace: Duration) {
        self.signal(sig);
        if let Some(mut c) = self.child.take() {
            let start = Instant::now();
            while start.elapsed() < grace {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs a command to completion and returns its stdout; panics with stderr on failure.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`), 0 if unreadable.
/// User + system CPU time of `pid` so far, in seconds (0 once it is gone).
pub fn cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces; utime and
    // stime are fields 14 and 15 of the whole line, 11 and 12 of these.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    (f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) as f64 / 100.0
}

pub fn proc_status_kb(pid: i32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Like [`run`] but returns `None` on failure (for polling a daemon that may not be up).
pub fn try_run(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn community_string(v: u64) -> String {
    format!("{}:{}", v >> 16, v & 0xffff)
}
