//! BGP speakers for the announce-side benchmarks: gracewire (with its announce and
//! communities plugins), BIRD 2, FRR (bgpd with zebra) and gobgpd, each configured to announce
//! `routes` /32s from `me` to passive sessions with the given receivers, and started fresh.
//!
//! gobgpd has no static routes in its config, and one `gobgp global rib add` per route would
//! take hours: it loads an MRT file with `gobgp mrt inject global`, whose CLI can end before
//! gobgpd has taken the last paths; the file ends with a repeat of its first routes, and is
//! injected again until gobgpd holds them all.
//!
//! FRR runs as it does on a router: zebra and bgpd, as user `frr`, in the host's namespace
//! (zebra installs nothing here: bgpd does not send its own `network` routes to the kernel
//! and the receivers announce none). bgpd listens on `me` only. Its sessions have `update-source lo`:
//! bgpd with zebra resets every session whose local address is on no interface zebra knows
//! ("nexthop_set failed"), and the 127/8 lab addresses are routed to `lo` without being on it.

use crate::{cpu_seconds, proc_status_kb, try_run, wait_for, Lab, Process};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub const SPEAKER_ASN: u32 = 64512;

/// The `i`th service IP the speakers announce.
pub fn prefix(i: usize) -> String {
    format!("100.{}.{}.{}/32", 64 + i / 65536, (i / 256) % 256, i % 256)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speaker {
    Gracewire,
    Bird,
    Frr,
    GoBgp,
}

impl Speaker {
    pub const ALL: [Speaker; 4] = [
        Speaker::Gracewire,
        Speaker::Bird,
        Speaker::Frr,
        Speaker::GoBgp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Speaker::Gracewire => "gracewire",
            Speaker::Bird => "bird",
            Speaker::Frr => "frr",
            Speaker::GoBgp => "gobgpd",
        }
    }

    /// `SPEAKERS=gracewire,bird` limits a run to those of `from`.
    pub fn selected(from: &[Speaker]) -> Vec<Speaker> {
        let only = std::env::var("SPEAKERS").ok();
        from.iter()
            .copied()
            .filter(|s| {
                only.as_ref()
                    .is_none_or(|o| o.split(',').any(|n| n == s.name()))
            })
            .collect()
    }
}

pub struct Plugins {
    pub announce: PathBuf,
    pub communities: PathBuf,
}

impl Plugins {
    /// The workspace's announce and communities plugins, built.
    pub fn build() -> Plugins {
        let ws = crate::workspace();
        let build = |p: &str| gracewire_sdk::testing::build_wasm(ws.join(p).to_str().unwrap());
        Plugins {
            announce: build("plugins/announce"),
            communities: build("plugins/communities"),
        }
    }
}

/// What a speaker announces, from where, to whom.
pub struct Setup<'a> {
    pub lab: &'a Lab,
    pub routes: usize,
    /// Receivers: address and AS.
    pub peers: Vec<(Ipv4Addr, u32)>,
    pub hold: u16,
}

impl Setup<'_> {
    fn me(&self) -> Ipv4Addr {
        self.lab.addr(1)
    }

    fn keepalive(&self) -> u16 {
        (self.hold / 3).max(1)
    }
}

fn gracewire_config(s: &Setup, plugins: &Plugins) -> String {
    let me = s.me();
    let mut c = format!(
        "[global]\nasn = {SPEAKER_ASN}\nrouter_id = \"{me}\"\nlisten = \"{me}:179\"\nstate_dir = \"{}\"\n\n\
         [plugins.announce]\npath = \"{}\"\nconfig = {{ rules = [{{ pools = [\"public\", \"edge\"], med = 10 }}] }}\n\n\
         [plugins.communities]\npath = \"{}\"\nconfig = {{ rules = [{{ pools = [\"public\"], add = [\"64512:100\"] }}] }}\n\n",
        s.lab.path("gw").display(),
        plugins.announce.display(),
        plugins.communities.display(),
    );
    for (i, (addr, asn)) in s.peers.iter().enumerate() {
        let _ = write!(
            c,
            "[[peers]]\nname = \"sink{i}\"\naddress = \"{addr}\"\nasn = {asn}\nlocal_address = \"{me}\"\npassive = true\nhold_time = {}\n\n",
            s.hold
        );
    }
    let pools = ["public", "private", "edge", "lab"];
    for i in 0..s.routes {
        let _ = write!(
            c,
            "[[announce]]\nprefix = \"{}\"\nnext_hop = \"{me}\"\nlabels = {{ pool = \"{}\", service = \"svc{}\" }}\n",
            prefix(i),
            pools[i % 4],
            i % 50
        );
    }
    c
}

fn bird_config(s: &Setup) -> String {
    let me = s.me();
    let mut c = format!("router id {me};\nlog stderr {{ warning, error, fatal }};\nprotocol device {{}}\nprotocol static s4 {{ ipv4;\n");
    for i in 0..s.routes {
        let _ = writeln!(c, "  route {} blackhole;", prefix(i));
    }
    let _ = write!(
        c,
        "}}\ntemplate bgp sink {{\n  local {me} as {SPEAKER_ASN};\n  passive on;\n  strict bind on;\n  multihop;\n  hold time {};\n  keepalive time {};\n  ipv4 {{ import none; export all; next hop self; }};\n}}\n",
        s.hold,
        s.keepalive()
    );
    for (i, (addr, asn)) in s.peers.iter().enumerate() {
        let _ = writeln!(
            c,
            "protocol bgp sink{i} from sink {{ neighbor {addr} as {asn}; }}"
        );
    }
    c
}

fn frr_config(s: &Setup) -> String {
    let me = s.me();
    let mut c = format!(
        "frr defaults traditional\nhostname speaker\nlog file {} warnings\n\
         router bgp {SPEAKER_ASN}\n bgp router-id {me}\n no bgp ebgp-requires-policy\n no bgp network import-check\n no bgp default ipv4-unicast\n",
        s.lab.path("frr/bgpd.log").display()
    );
    for (addr, asn) in &s.peers {
        let _ = write!(
            c,
            " neighbor {addr} remote-as {asn}\n neighbor {addr} passive\n neighbor {addr} update-source lo\n neighbor {addr} timers {} {}\n neighbor {addr} disable-connected-check\n",
            s.keepalive(),
            s.hold
        );
    }
    c.push_str(" address-family ipv4 unicast\n");
    for i in 0..s.routes {
        let _ = writeln!(c, "  network {}", prefix(i));
    }
    for (addr, _) in &s.peers {
        let _ = writeln!(c, "  neighbor {addr} activate");
    }
    c.push_str(" exit-address-family\n");
    c
}

fn gobgp_config(s: &Setup) -> String {
    let me = s.me();
    let mut c = format!(
        "[global.config]\n  as = {SPEAKER_ASN}\n  router-id = \"{me}\"\n  port = 179\n  local-address-list = [\"{me}\"]\n"
    );
    for (addr, asn) in &s.peers {
        let _ = write!(
            c,
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{addr}\"\n    peer-as = {asn}\n  \
             [neighbors.transport.config]\n    local-address = \"{me}\"\n    passive-mode = true\n  \
             [neighbors.timers.config]\n    hold-time = {}\n    keepalive-interval = {}\n  \
             [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n",
            s.hold,
            s.keepalive()
        );
    }
    c
}

/// The routes as an MRT TABLE_DUMP_V2 file (RFC 6396) for `gobgp mrt inject global`.
fn mrt_table(me: Ipv4Addr, routes: usize) -> Vec<u8> {
    let me = me.octets();
    let record = |subtype: u16, body: &[u8]| {
        let mut r = vec![0u8; 4]; // timestamp
        r.extend_from_slice(&13u16.to_be_bytes()); // TABLE_DUMP_V2
        r.extend_from_slice(&subtype.to_be_bytes());
        r.extend_from_slice(&(body.len() as u32).to_be_bytes());
        r.extend_from_slice(body);
        r
    };
    // PEER_INDEX_TABLE: collector ID, no view name, one peer (IPv4 address, 4-octet AS).
    let mut peers = me.to_vec();
    peers.extend_from_slice(&[0, 0, 0, 1, 0x02]);
    peers.extend_from_slice(&me);
    peers.extend_from_slice(&me);
    peers.extend_from_slice(&SPEAKER_ASN.to_be_bytes());
    let mut out = record(1, &peers);
    // ORIGIN IGP, empty AS_PATH (originated here), NEXT_HOP us.
    let mut attrs = vec![0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4];
    attrs.extend_from_slice(&me);
    // The CLI may close its stream before gobgpd has taken the last few hundred paths: repeat
    // the first ones at the end (a path added twice is the same path).
    for i in (0..routes).chain(0..routes.min(2000)) {
        let addr: Ipv4Addr = prefix(i).trim_end_matches("/32").parse().unwrap();
        let mut rib = (i as u32).to_be_bytes().to_vec();
        rib.push(32);
        rib.extend_from_slice(&addr.octets());
        rib.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one entry: peer 0, time 0
        rib.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        rib.extend_from_slice(&attrs);
        out.extend_from_slice(&record(2, &rib)); // RIB_IPV4_UNICAST
    }
    out
}

/// Injects the MRT file until gobgpd's global RIB holds every route.
fn gobgp_load(port: &str, mrt: &std::path::Path, routes: usize) {
    let held = || -> usize {
        let out = try_run(
            Command::new("gobgp").args(["-p", port, "global", "rib", "summary", "-a", "ipv4"]),
        )
        .unwrap_or_default();
        out.split("Destination: ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    for _ in 0..10 {
        crate::run(
            Command::new("gobgp")
                .args(["-p", port, "mrt", "inject", "global"])
                .arg(mrt),
        );
        let mut last = 0;
        // Wait until the count stops growing.
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let now = held();
            if now >= routes {
                return;
            }
            if now == last {
                break;
            }
            last = now;
        }
    }
    panic!("gobgpd never held all {routes} routes");
}

/// A speaker's processes (FRR: zebra and bgpd), stopped when dropped.
pub struct Running {
    pub processes: Vec<Process>,
    /// Just before the first process was started.
    pub started: Instant,
    /// FRR's vty directory: `log_text` then adds what bgpd says of its sessions.
    vty: Option<PathBuf>,
}

impl Running {
    pub fn pids(&self) -> Vec<i32> {
        self.processes.iter().filter_map(Process::pid).collect()
    }

    /// A `/proc/PID/status` figure in KiB, summed over its processes, in MiB.
    fn status_mib(&self, field: &str) -> f64 {
        self.pids()
            .iter()
            .map(|&p| proc_status_kb(p, field))
            .sum::<u64>() as f64
            / 1024.0
    }

    /// Resident memory of all its processes, in MiB.
    pub fn rss_mib(&self) -> f64 {
        self.status_mib("VmRSS:")
    }

    /// Peak resident memory (VmHWM), summed over its processes, in MiB.
    pub fn peak_mib(&self) -> f64 {
        self.status_mib("VmHWM:")
    }

    /// CPU seconds used so far by all its processes.
    pub fn cpu_seconds(&self) -> f64 {
        self.pids().iter().map(|&p| cpu_seconds(p)).sum()
    }

    pub fn log_text(&self) -> String {
        let mut text: String = self.processes.iter().map(Process::log_text).collect();
        if let Some(dir) = &self.vty {
            let summary = try_run(Command::new("vtysh").arg("--vty_socket").arg(dir).args([
                "-d",
                "bgpd",
                "-c",
                "show bgp summary",
                "-c",
                "show bgp ipv4 unicast",
            ]));
            text += &summary.unwrap_or_else(|| "vtysh did not answer\n".into());
            text += &std::fs::read_to_string(dir.join("bgpd.log")).unwrap_or_default();
        }
        text
    }
}

/// Starts `speaker` announcing per `setup`.
pub fn start(speaker: Speaker, s: &Setup, plugins: &Plugins) -> Running {
    let lab = s.lab;
    match speaker {
        Speaker::Gracewire => {
            std::fs::write(lab.path("gw.toml"), gracewire_config(s, plugins)).unwrap();
            // A restarting gracewire finds its compiled plugins in state_dir: share one cache.
            let cache = std::env::temp_dir().join("gracewire-bench-plugin-cache");
            std::fs::create_dir_all(&cache).unwrap();
            std::fs::create_dir_all(lab.path("gw")).unwrap();
            std::os::unix::fs::symlink(&cache, lab.path("gw/plugin-cache")).unwrap();
            let binary = crate::gracewire::build(true);
            let started = Instant::now();
            let p = Process::spawn(
                Command::new(binary)
                    .args(["run", "--config"])
                    .arg(lab.path("gw.toml"))
                    .env(
                        "RUST_LOG",
                        std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
                    ),
                &lab.path("gw.log"),
            );
            Running {
                processes: vec![p],
                started,
                vty: None,
            }
        }
        Speaker::GoBgp => {
            std::fs::write(lab.path("gobgpd.toml"), gobgp_config(s)).unwrap();
            std::fs::write(lab.path("table.mrt"), mrt_table(s.me(), s.routes)).unwrap();
            let port = lab.port(1).to_string();
            let started = Instant::now();
            let p = Process::spawn(
                Command::new("gobgpd")
                    .arg("-f")
                    .arg(lab.path("gobgpd.toml"))
                    .args(["--api-hosts", &format!("127.0.0.1:{port}"), "-l", "warn"]),
                &lab.path("gobgpd.log"),
            );
            wait_for("gobgpd API", Duration::from_secs(20), || {
                try_run(Command::new("gobgp").args(["-p", &port, "global"]))
            });
            gobgp_load(&port, &lab.path("table.mrt"), s.routes);
            Running {
                processes: vec![p],
                started,
                vty: None,
            }
        }
        Speaker::Bird => {
            std::fs::write(lab.path("bird.conf"), bird_config(s)).unwrap();
            let started = Instant::now();
            let p = Process::spawn(
                Command::new("bird")
                    .arg("-f")
                    .arg("-c")
                    .arg(lab.path("bird.conf"))
                    .arg("-s")
                    .arg(lab.path("bird.ctl")),
                &lab.path("bird.log"),
            );
            Running {
                processes: vec![p],
                started,
                vty: None,
            }
        }
        Speaker::Frr => start_frr(s),
    }
}

fn start_frr(s: &Setup) -> Running {
    let dir = s.lab.path("frr");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bgpd.conf"), frr_config(s)).unwrap();
    // FRR drops to user frr: it must reach and own its directory.
    crate::run(Command::new("chmod").arg("755").arg(s.lab.dir.path()));
    crate::run(Command::new("chown").args(["-R", "frr:frr"]).arg(&dir));
    let common = |name: &str| {
        let mut c = Command::new(format!("/usr/lib/frr/{name}"));
        c.args(["-u", "frr", "-g", "frr", "-i"])
            .arg(dir.join(format!("{name}.pid")))
            .arg("-z")
            .arg(dir.join("zserv.api"))
            .arg("--vty_socket")
            .arg(&dir);
        c
    };
    let started = Instant::now();
    let zebra = Process::spawn(
        common("zebra").args(["-f", "/dev/null"]),
        &dir.join("zebra.out"),
    );
    wait_for("zebra socket", Duration::from_secs(10), || {
        dir.join("zserv.api").exists().then_some(())
    });
    let bgpd = Process::spawn(
        common("bgpd")
            .arg("-f")
            .arg(dir.join("bgpd.conf"))
            .args(["-l", &s.me().to_string()]),
        &dir.join("bgpd.out"),
    );
    Running {
        processes: vec![zebra, bgpd],
        started,
        vty: Some(dir),
    }
}
