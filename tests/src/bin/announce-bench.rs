//! Announce-side benchmarks, gracewire next to BIRD and gobgpd (run as root; loopback addresses
//! only):
//!
//! - `announce`: N prefixes from the config to P receivers; time from process start until every
//!   receiver has them all. gracewire runs them through the announce and communities plugins.
//! - `restart`: the same with one receiver: process start to the full table (and End-of-RIB) at
//!   the peer, which is what a restart costs.
//! - `idle`: P sessions held open with KEEPALIVEs every 3 s; memory per session and idle CPU.
//!
//! `cargo run --release -p gracewire-e2e --bin announce-bench -- [announce|restart|idle|all]`
//!
//! gobgpd has no static routes in its config, and one `gobgp global rib add` per route would
//! take hours: it loads an MRT file with `gobgp mrt inject global`, whose CLI can end before
//! gobgpd has taken the last paths; the file ends with a repeat of its first routes, and is
//! injected again until gobgpd holds them all. Receivers count distinct prefixes.
//!
//! The receivers are `gracewire_e2e::sink` tasks, each from its own loopback address in
//! 127.28.0.0/16, connecting to the speaker (which is passive), so every speaker gets the same
//! peers and no connect-retry timer of the speaker's skews the start.

use gracewire::wire::Family;
use gracewire_e2e::sink::{self, SinkState};
use gracewire_e2e::{proc_status_kb, wait_for, Lab, Process};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SPEAKER_ASN: u32 = 64512;
const SUITE: u8 = 27;

fn sink_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 28, (i / 200) as u8, (i % 200 + 10) as u8)
}

fn prefix(i: usize) -> String {
    format!("100.{}.{}.{}/32", 64 + i / 65536, (i / 256) % 256, i % 256)
}

#[derive(Clone, Copy, PartialEq)]
enum Speaker {
    Gracewire,
    Bird,
    GoBgp,
}

impl Speaker {
    fn name(self) -> &'static str {
        match self {
            Speaker::Gracewire => "gracewire",
            Speaker::Bird => "bird",
            Speaker::GoBgp => "gobgpd",
        }
    }
}

struct Plugins {
    announce: PathBuf,
    communities: PathBuf,
}

fn gracewire_config(
    lab: &Lab,
    routes: usize,
    peers: usize,
    hold: u16,
    plugins: &Plugins,
) -> String {
    let me = lab.addr(1);
    let mut c = format!(
        "[global]\nasn = {SPEAKER_ASN}\nrouter_id = \"{me}\"\nlisten = \"{me}:179\"\nstate_dir = \"{}\"\n\n\
         [plugins.announce]\npath = \"{}\"\nconfig = {{ rules = [{{ pools = [\"public\", \"edge\"], med = 10 }}] }}\n\n\
         [plugins.communities]\npath = \"{}\"\nconfig = {{ rules = [{{ pools = [\"public\"], add = [\"64512:100\"] }}] }}\n\n",
        lab.path("gw").display(),
        plugins.announce.display(),
        plugins.communities.display(),
    );
    for i in 0..peers {
        let _ = write!(
            c,
            "[[peers]]\nname = \"sink{i}\"\naddress = \"{}\"\nasn = {}\nlocal_address = \"{me}\"\npassive = true\nhold_time = {hold}\n\n",
            sink_addr(i),
            65000 + i
        );
    }
    let pools = ["public", "private", "edge", "lab"];
    for i in 0..routes {
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

fn bird_config(lab: &Lab, routes: usize, peers: usize, hold: u16) -> String {
    let me = lab.addr(1);
    let mut c = format!("router id {me};\nlog stderr {{ warning, error, fatal }};\nprotocol device {{}}\nprotocol static s4 {{ ipv4;\n");
    for i in 0..routes {
        let _ = writeln!(c, "  route {} blackhole;", prefix(i));
    }
    let keepalive = (hold / 3).max(1);
    let _ = write!(
        c,
        "}}\ntemplate bgp sink {{\n  local {me} as {SPEAKER_ASN};\n  passive on;\n  multihop;\n  hold time {hold};\n  keepalive time {keepalive};\n  ipv4 {{ import none; export all; next hop self; }};\n}}\n"
    );
    for i in 0..peers {
        let _ = writeln!(
            c,
            "protocol bgp sink{i} from sink {{ neighbor {} as {}; }}",
            sink_addr(i),
            65000 + i
        );
    }
    c
}

fn gobgp_config(lab: &Lab, peers: usize, hold: u16) -> String {
    let me = lab.addr(1);
    let mut c = format!(
        "[global.config]\n  as = {SPEAKER_ASN}\n  router-id = \"{me}\"\n  port = 179\n  local-address-list = [\"{me}\"]\n"
    );
    for i in 0..peers {
        let _ = write!(
            c,
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    peer-as = {}\n  \
             [neighbors.transport.config]\n    local-address = \"{me}\"\n    passive-mode = true\n  \
             [neighbors.timers.config]\n    hold-time = {hold}\n    keepalive-interval = {}\n  \
             [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n",
            sink_addr(i),
            65000 + i,
            (hold / 3).max(1)
        );
    }
    c
}

/// The routes as an MRT TABLE_DUMP_V2 file (RFC 6396) for `gobgp mrt inject global`.
fn mrt_table(lab: &Lab, routes: usize) -> Vec<u8> {
    let me = lab.addr(1).octets();
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
        let out = gracewire_e2e::try_run(
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
        gracewire_e2e::run(
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

/// User + system CPU time of `pid`, in seconds.
fn cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the full line: 11 and 12 here.
    (f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) as f64 / 100.0
}

/// Starts `speaker` with `routes` and `peers` configured, and the receivers.
fn start(
    speaker: Speaker,
    lab: &Lab,
    routes: usize,
    peers: usize,
    hold: u16,
    plugins: &Plugins,
) -> (Process, Instant) {
    let started = match speaker {
        Speaker::Gracewire => {
            std::fs::write(
                lab.path("gw.toml"),
                gracewire_config(lab, routes, peers, hold, plugins),
            )
            .unwrap();
            // A restarting gracewire finds its compiled plugins in state_dir: share one cache.
            let cache = std::env::temp_dir().join("gracewire-bench-plugin-cache");
            std::fs::create_dir_all(&cache).unwrap();
            std::fs::create_dir_all(lab.path("gw")).unwrap();
            std::os::unix::fs::symlink(&cache, lab.path("gw/plugin-cache")).unwrap();
            let binary = gracewire_e2e::gracewire::build(true);
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
            (p, started)
        }
        Speaker::GoBgp => {
            std::fs::write(lab.path("gobgpd.toml"), gobgp_config(lab, peers, hold)).unwrap();
            std::fs::write(lab.path("table.mrt"), mrt_table(lab, routes)).unwrap();
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
                gracewire_e2e::try_run(Command::new("gobgp").args(["-p", &port, "global"]))
            });
            gobgp_load(&port, &lab.path("table.mrt"), routes);
            (p, started)
        }
        Speaker::Bird => {
            std::fs::write(lab.path("bird.conf"), bird_config(lab, routes, peers, hold)).unwrap();
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
            (p, started)
        }
    };
    started
}

fn sinks(
    rt: &tokio::runtime::Runtime,
    lab: &Lab,
    peers: usize,
    hold: u16,
    expect: usize,
) -> Vec<Arc<SinkState>> {
    (0..peers)
        .map(|i| {
            sink::spawn(
                rt,
                sink_addr(i),
                lab.addr(1),
                (65000 + i as u32, hold),
                vec![Family::Ipv4Unicast],
                expect,
            )
        })
        .collect()
}

/// What [`time_to_full`] measured.
struct Full {
    /// Process start until every receiver has every route.
    from_start: f64,
    /// The first session up until every receiver has every route.
    from_up: f64,
    peak_mib: f64,
    after_mib: f64,
}

/// Runs `speaker` with `routes` configured towards `peers` receivers until all have them all.
fn time_to_full(speaker: Speaker, routes: usize, peers: usize, plugins: &Plugins) -> Full {
    let rt = sink::runtime();
    let lab = Lab::new(SUITE);
    let receivers = sinks(&rt, &lab, peers, 90, routes);
    let (p, started) = start(speaker, &lab, routes, peers, 90, plugins);
    let last = wait_for(
        &format!(
            "{} to announce {routes} routes to {peers} peers",
            speaker.name()
        ),
        Duration::from_secs(600),
        || {
            let all: Option<Vec<Instant>> = receivers.iter().map(|r| r.full_at()).collect();
            all.map(|t| t.into_iter().max().unwrap())
        },
    );
    std::thread::sleep(Duration::from_secs(1));
    let peak = proc_status_kb(p.pid().unwrap(), "VmHWM:") as f64 / 1024.0;
    let after = proc_status_kb(p.pid().unwrap(), "VmRSS:") as f64 / 1024.0;
    if std::env::var_os("KEEP_LOG").is_some() {
        print!("{}", p.log_text());
    }
    drop(p);
    rt.shutdown_background();
    let first_up = receivers.iter().filter_map(|r| r.up_at()).min().unwrap();
    Full {
        from_start: (last - started).as_secs_f64(),
        from_up: (last - first_up).as_secs_f64(),
        peak_mib: peak,
        after_mib: after,
    }
}

/// Memory per established session and idle CPU, with KEEPALIVEs every 3 s.
fn idle(speaker: Speaker, peers: usize, plugins: &Plugins) -> (f64, f64, f64) {
    let rss_with = |n: usize| {
        let rt = sink::runtime();
        let lab = Lab::new(SUITE);
        let receivers = sinks(&rt, &lab, n, 9, 0);
        let (p, _) = start(speaker, &lab, 10, n, 9, plugins);
        let pid = p.pid().unwrap();
        wait_for(
            &format!("{} sessions up", n),
            Duration::from_secs(300),
            || {
                let up = receivers
                    .iter()
                    .filter(|r| r.established.load(std::sync::atomic::Ordering::SeqCst))
                    .count();
                (up == n).then_some(())
            },
        );
        let connections = || -> usize {
            receivers
                .iter()
                .map(|r| r.sessions.load(std::sync::atomic::Ordering::SeqCst))
                .sum()
        };
        let settled = connections();
        std::thread::sleep(Duration::from_secs(5));
        let rss = proc_status_kb(pid, "VmRSS:");
        let cpu = if n > 1 {
            let (c0, t0) = (cpu_seconds(pid), Instant::now());
            std::thread::sleep(Duration::from_secs(30));
            (cpu_seconds(pid) - c0) / t0.elapsed().as_secs_f64() * 100.0
        } else {
            0.0
        };
        // (Connections refused or reset while the speaker was starting do not count.)
        assert_eq!(connections(), settled, "a session dropped while idle");
        drop(p);
        rt.shutdown_background();
        (rss, cpu)
    };
    let (one, _) = rss_with(1);
    let (many, cpu) = rss_with(peers);
    let per_peer_kb = (many.saturating_sub(one)) as f64 / (peers - 1) as f64;
    (per_peer_kb, cpu, many as f64 / 1024.0)
}

fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let ws = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
    let plugins = Plugins {
        announce: gracewire_sdk::testing::build_wasm(&format!("{ws}/plugins/announce")),
        communities: gracewire_sdk::testing::build_wasm(&format!("{ws}/plugins/communities")),
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("{cores} cores; speakers run one at a time; gracewire with its announce and communities plugins");
    // SPEAKERS=gracewire,bird limits the run to those speakers.
    let only = std::env::var("SPEAKERS").ok();
    let speakers: Vec<Speaker> = [Speaker::Gracewire, Speaker::Bird, Speaker::GoBgp]
        .into_iter()
        .filter(|s| {
            only.as_ref()
                .is_none_or(|o| o.split(',').any(|n| n == s.name()))
        })
        .collect();
    if what == "announce" || what == "all" {
        // PEERS=10,100 picks the peer counts (default 10, 100 and 500).
        let counts: Vec<usize> = std::env::var("PEERS")
            .unwrap_or_else(|_| "10,100,500".into())
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect();
        println!(
            "\nannounce: 100000 routes to P peers, process start -> every peer has every route"
        );
        println!(
            "{:<10} {:>5} {:>11} {:>11} {:>10} {:>10}",
            "speaker", "peers", "from start", "from up", "peak MiB", "after MiB"
        );
        for &peers in &counts {
            for &s in &speakers {
                // gobgpd takes 60-75 s for 10 peers and grows with them: 100 took ten minutes
                // (2026-12-02), and past that it would run for the better part of an hour.
                if s == Speaker::GoBgp && peers > 10 {
                    println!(
                        "{:<10} {peers:>5} (not run: past 10 peers gobgpd takes too long)",
                        s.name()
                    );
                    continue;
                }
                let f = time_to_full(s, 100_000, peers, &plugins);
                println!(
                    "{:<10} {peers:>5} {:>10.3}s {:>10.3}s {:>10.1} {:>10.1}",
                    s.name(),
                    f.from_start,
                    f.from_up,
                    f.peak_mib,
                    f.after_mib
                );
            }
        }
    }
    if what == "restart" || what == "all" {
        println!("\nrestart: process start -> full table at the one peer");
        println!(
            "{:<10} {:>8} {:>11} {:>11} {:>10} {:>10}",
            "speaker", "routes", "from start", "from up", "peak MiB", "after MiB"
        );
        for routes in [10_000, 100_000] {
            for &s in &speakers {
                let f = time_to_full(s, routes, 1, &plugins);
                println!(
                    "{:<10} {routes:>8} {:>10.3}s {:>10.3}s {:>10.1} {:>10.1}",
                    s.name(),
                    f.from_start,
                    f.from_up,
                    f.peak_mib,
                    f.after_mib
                );
            }
        }
    }
    if what == "idle" || what == "all" {
        println!("\nidle: 1000 sessions, KEEPALIVE every 3 s, CPU over 30 s");
        println!(
            "{:<10} {:>12} {:>14} {:>10}",
            "speaker", "KiB/session", "CPU % of core", "RSS MiB"
        );
        // (gobgpd is left out here: it is measured on the announce side.)
        for &s in speakers.iter().filter(|s| **s != Speaker::GoBgp) {
            let (kb, cpu, rss) = idle(s, 1000, &plugins);
            println!("{:<10} {kb:>12.1} {cpu:>14.2} {rss:>10.1}", s.name());
        }
    }
}
