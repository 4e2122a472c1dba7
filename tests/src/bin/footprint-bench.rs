//! Footprint on a load-balancer node: gracewire, BIRD, FRR (bgpd + zebra) and gobgpd each
//! announce 50 service IPs to 2 passive sessions (hold time 90 s), as a node's speaker does.
//! Started one at a time, each is timed from process start to the first route at a peer and
//! to all 50 at both; then all four idle side by side for `IDLE_SECS` (default 600) and each
//! is measured: resident memory (all its processes), CPU over the idle time and in all. Last,
//! what each takes on disk. Run as root (port 179 on loopback addresses).
//!
//! `cargo run --release -p gracewire-e2e --bin footprint-bench` (`SPEAKERS=gracewire,bird`
//! picks speakers). gobgpd's start includes loading its routes with its CLI (it has no static
//! routes in its config), which is how it is run.

use gracewire::wire::Family;
use gracewire_e2e::sink::{self, SinkState};
use gracewire_e2e::speaker::{self, Plugins, Running, Setup, Speaker};
use gracewire_e2e::Lab;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SUITE: u8 = 29;
const ROUTES: usize = 50;
const PEERS: usize = 2;
const HOLD: u16 = 90;

struct Node {
    speaker: Speaker,
    running: Running,
    sinks: Vec<Arc<SinkState>>,
    session_up: f64,
    first_route: f64,
    all_routes: f64,
    sessions: usize,
    _lab: Lab,
}

fn sessions(sinks: &[Arc<SinkState>]) -> usize {
    sinks
        .iter()
        .map(|s| s.sessions.load(Ordering::SeqCst))
        .sum()
}

fn bring_up(rt: &tokio::runtime::Runtime, speaker: Speaker, plugins: &Plugins) -> Node {
    let lab = Lab::new(SUITE);
    let peers: Vec<_> = (0..PEERS)
        .map(|i| (lab.addr(10 + i as u8), 65000 + i as u32))
        .collect();
    let sinks: Vec<_> = peers
        .iter()
        .map(|&(addr, asn)| {
            sink::spawn(
                rt,
                addr,
                lab.addr(1),
                (asn, HOLD),
                vec![Family::Ipv4Unicast],
                ROUTES,
            )
        })
        .collect();
    let setup = Setup {
        lab: &lab,
        routes: ROUTES,
        peers,
        hold: HOLD,
    };
    let running = speaker::start(speaker, &setup, plugins);
    let deadline = Instant::now() + Duration::from_secs(120);
    let full = loop {
        let all: Option<Vec<Instant>> = sinks.iter().map(|r| r.full_at()).collect();
        if let Some(t) = all {
            break t.into_iter().max().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "{} did not announce {ROUTES} routes to {PEERS} peers in 120 s:\n{}",
            speaker.name(),
            running.log_text()
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let first = sinks
        .iter()
        .filter_map(|s| s.first_route_at())
        .min()
        .unwrap();
    let up = sinks.iter().filter_map(|s| s.up_at()).min().unwrap();
    let since = |t: Instant| (t - running.started).as_secs_f64();
    Node {
        speaker,
        session_up: since(up),
        first_route: since(first),
        all_routes: since(full),
        sessions: sessions(&sinks),
        running,
        sinks,
        _lab: lab,
    }
}

/// Installed size of a Debian package, in KiB.
fn installed_kib(package: &str) -> Option<u64> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Installed-Size}", package])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn sizes(speakers: &[Speaker]) {
    println!(
        "\non disk (Debian packages: Installed-Size of the package itself, not its dependencies)"
    );
    for &s in speakers {
        match s {
            Speaker::Gracewire => {
                let binary = gracewire_e2e::gracewire::build(true);
                let built = std::fs::metadata(&binary).unwrap().len();
                let stripped = std::env::temp_dir().join("gracewire-footprint-stripped");
                let ok = Command::new("strip")
                    .arg("-o")
                    .arg(&stripped)
                    .arg(&binary)
                    .status()
                    .is_ok_and(|s| s.success());
                let stripped = ok.then(|| std::fs::metadata(&stripped).unwrap().len());
                println!(
                    "{:<10} one binary: {:.1} MiB as built (release, line tables), {}",
                    s.name(),
                    mib(built),
                    stripped.map_or("strip not found".into(), |b| format!(
                        "{:.1} MiB stripped",
                        mib(b)
                    ))
                );
            }
            _ => {
                let package = match s {
                    Speaker::Bird => "bird2",
                    Speaker::Frr => "frr",
                    _ => "gobgpd",
                };
                match installed_kib(package) {
                    Some(k) => println!(
                        "{:<10} package {package}: {:.1} MiB installed",
                        s.name(),
                        k as f64 / 1024.0
                    ),
                    None => println!("{:<10} package {package}: not installed", s.name()),
                }
            }
        }
    }
}

fn main() {
    let idle: u64 = std::env::var("IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let speakers = Speaker::selected(&Speaker::ALL);
    let plugins = Plugins::build();
    // Built before any clock starts.
    gracewire_e2e::gracewire::build(true);
    let rt = sink::runtime();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "{cores} cores; {ROUTES} service IPs to {PEERS} peers, hold time {HOLD} s; started one at a time, \
         then idle side by side for {idle} s; gracewire with its announce and communities plugins"
    );
    let nodes: Vec<Node> = speakers
        .iter()
        .map(|&s| bring_up(&rt, s, &plugins))
        .collect();
    let before: Vec<f64> = nodes.iter().map(|n| n.running.cpu_seconds()).collect();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(idle));
    let idle_secs = t0.elapsed().as_secs_f64();
    println!(
        "{:<10} {:>11} {:>12} {:>11} {:>8} {:>11} {:>12}",
        "speaker",
        "session up",
        "first route",
        "all routes",
        "RSS MiB",
        "CPU % idle",
        "CPU s total"
    );
    for (n, c0) in nodes.iter().zip(before) {
        let cpu = n.running.cpu_seconds();
        println!(
            "{:<10} {:>10.3}s {:>11.3}s {:>10.3}s {:>8.1} {:>11.3} {:>12.2}",
            n.speaker.name(),
            n.session_up,
            n.first_route,
            n.all_routes,
            n.running.rss_mib(),
            (cpu - c0) / idle_secs * 100.0,
            cpu
        );
        assert_eq!(
            sessions(&n.sinks),
            n.sessions,
            "{}: a session dropped while idle\n{}",
            n.speaker.name(),
            n.running.log_text()
        );
    }
    sizes(&speakers);
    drop(nodes);
    rt.shutdown_background();
}
