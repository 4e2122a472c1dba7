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
//! The speakers are started as `gracewire_e2e::speaker` says (gobgpd loads its routes from
//! an MRT file). Receivers count distinct prefixes.
//!
//! The receivers are `gracewire_e2e::sink` tasks, each from its own loopback address in
//! 127.28.0.0/16, connecting to the speaker (which is passive), so every speaker gets the same
//! peers and no connect-retry timer of the speaker's skews the start.

use gracewire::wire::Family;
use gracewire_e2e::sink::{self, SinkState};
use gracewire_e2e::speaker::{self, Plugins, Running, Setup, Speaker};
use gracewire_e2e::{wait_for, Lab};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SUITE: u8 = 27;

fn sink_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 28, (i / 200) as u8, (i % 200 + 10) as u8)
}

/// Starts `speaker` with `routes` configured towards `peers` receivers.
fn start(
    speaker: Speaker,
    lab: &Lab,
    routes: usize,
    peers: usize,
    hold: u16,
    plugins: &Plugins,
) -> Running {
    let setup = Setup {
        lab,
        routes,
        peers: (0..peers)
            .map(|i| (sink_addr(i), 65000 + i as u32))
            .collect(),
        hold,
    };
    speaker::start(speaker, &setup, plugins)
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
    let p = start(speaker, &lab, routes, peers, 90, plugins);
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
    let (peak, after, started) = (p.peak_mib(), p.rss_mib(), p.started);
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
        let p = start(speaker, &lab, 10, n, 9, plugins);
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
        let rss = p.rss_mib();
        let cpu = if n > 1 {
            let (c0, t0) = (p.cpu_seconds(), Instant::now());
            std::thread::sleep(Duration::from_secs(30));
            (p.cpu_seconds() - c0) / t0.elapsed().as_secs_f64() * 100.0
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
    let per_peer_kb = (many - one).max(0.0) * 1024.0 / (peers - 1) as f64;
    (per_peer_kb, cpu, many)
}

fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let plugins = Plugins::build();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("{cores} cores; speakers run one at a time; gracewire with its announce and communities plugins");
    // SPEAKERS=gracewire,bird limits the run to those speakers; FRR is in footprint-bench.
    let speakers = Speaker::selected(&[Speaker::Gracewire, Speaker::Bird, Speaker::GoBgp]);
    if what == "announce" || what == "all" {
        // PEERS=10,100 picks the peer counts (default 10, 100, 500 and 1,000).
        let counts: Vec<usize> = std::env::var("PEERS")
            .unwrap_or_else(|_| "10,100,500,1000".into())
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
