//! Health checks, measured against the release build. Run as root (loopback addresses in
//! 127.50.0.0/16 only):
//!
//! `cargo run --release -p gracewire-e2e --bin health-bench`
//!
//! 1. Time to withdraw and to return: a tcp check (rise = fall = 3) of a backend this process
//!    runs, every 100 ms, 1 s and 5 s; the backend is closed, then opened again, and a raw
//!    BGP peer timestamps the UPDATE that withdraws and the one that announces the route.
//! 2. The cost of 1,000 checks in one daemon: 1,000 announcements, each gated by its own tcp
//!    check every second of a backend that accepts, against the same daemon without checks:
//!    RSS and CPU over 30 s after a 15 s warm-up.

use gracewire_e2e::backend::Backend;
use gracewire_e2e::raw::{open_with, RawPeer, RawSession};
use gracewire_e2e::{proc_status_kb, Lab, Process};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

const SUITE: u8 = 50;

fn config(lab: &Lab, checks: usize, announcements: usize, interval_ms: u64) -> String {
    let me = lab.addr(1);
    let mut c = format!(
        "[global]\nasn = 64512\nrouter_id = \"{me}\"\nstate_dir = \"{}\"\n\n\
         [[peers]]\nname = \"raw\"\naddress = \"{}\"\nasn = 65001\nlocal_address = \"{me}\"\n\
         graceful_restart = false\nconnect_retry = 1\n\n",
        lab.path("gw").display(),
        lab.addr(2)
    );
    let timeout = (interval_ms * 8 / 10).min(1000);
    for i in 0..announcements {
        let prefix = format!("100.{}.{}.{}/32", 64 + i / 65536, (i / 256) % 256, i % 256);
        let _ = write!(
            c,
            "[[announce]]\nprefix = \"{prefix}\"\nnext_hop = \"192.0.2.1\"\n"
        );
        if i < checks {
            let _ = write!(
                c,
                "health = \"c{i}\"\n\n[health_checks.c{i}]\nkind = \"tcp\"\naddress = \"{}\"\n\
                 interval_ms = {interval_ms}\ntimeout_ms = {timeout}\n\n",
                backend(lab)
            );
        }
    }
    c
}

fn backend(lab: &Lab) -> SocketAddr {
    (lab.addr(10), 8080).into()
}

fn start(lab: &Lab, config: &str) -> Process {
    std::fs::write(lab.path("gw.toml"), config).unwrap();
    let mut cmd = Command::new(gracewire_e2e::gracewire::build(true));
    cmd.args(["run", "--config"])
        .arg(lab.path("gw.toml"))
        .env("RUST_LOG", "info");
    Process::spawn(&mut cmd, &lab.path("gw.log"))
}

/// Waits for the next UPDATE; whether it withdraws something.
fn next_update(s: &mut RawSession) -> bool {
    let body = s.expect(2, Duration::from_secs(60)).expect("an UPDATE");
    u16::from_be_bytes([body[0], body[1]]) > 0
}

fn withdraw_and_return(interval_ms: u64, rounds: usize) -> Vec<(Duration, Duration)> {
    let lab = Lab::new(SUITE);
    let raw = RawPeer::listen(lab.addr(2));
    let listener = Backend::open(backend(&lab));
    let _gw = start(&lab, &config(&lab, 1, 1, interval_ms));
    let mut s = raw.accept_with(&open_with(65001, Ipv4Addr::new(192, 0, 2, 2), 0, false));
    assert!(!next_update(&mut s), "the route, once its check has risen");
    let mut listener = Some(listener);
    let mut out = Vec::new();
    for _ in 0..rounds {
        // Off the probe's phase: a fixed offset would measure one point of the interval.
        std::thread::sleep(Duration::from_millis(
            interval_ms * 3 + 37 * out.len() as u64,
        ));
        drop(listener.take());
        let killed = Instant::now();
        while !next_update(&mut s) {}
        let withdrawn = killed.elapsed();
        // Beyond any hold-down: the bench measures the first flap of each round.
        listener = Some(Backend::open(backend(&lab)));
        let back = Instant::now();
        while next_update(&mut s) {}
        out.push((withdrawn, back.elapsed()));
        if out.len() < rounds {
            // Two falls within about a minute hold the check down (docs/health.md): let the
            // figure of merit decay below 500 first, so the next fall is a first one again.
            std::thread::sleep(Duration::from_secs(75));
        }
    }
    out
}

fn cost(checks: usize) -> (f64, f64) {
    let lab = Lab::new(SUITE);
    let raw = RawPeer::listen(lab.addr(2));
    let _backend = Backend::open(backend(&lab));
    let gw = start(&lab, &config(&lab, checks, 1000, 1000));
    let _s = raw.accept_with(&open_with(65001, Ipv4Addr::new(192, 0, 2, 2), 0, false));
    let pid = gw.pid().unwrap();
    std::thread::sleep(Duration::from_secs(15));
    let (cpu0, t0) = (gracewire_e2e::cpu_seconds(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(30));
    let cpu = (gracewire_e2e::cpu_seconds(pid) - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    let rss = proc_status_kb(pid, "VmRSS") as f64 / 1024.0;
    (rss, cpu)
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("{cores} cores; release build; tcp checks, rise = fall = 3");
    println!();
    println!("| interval | rounds | backend closed → withdrawn (ms) | backend open → announced (ms) | bound fall × interval + 100 ms |");
    println!("|---|---|---|---|---|");
    // INTERVALS=100 (a QUICK run): only the intervals listed.
    let only: Option<Vec<u64>> = std::env::var("INTERVALS")
        .ok()
        .map(|v| v.split(',').filter_map(|i| i.trim().parse().ok()).collect());
    let intervals = [(100, 2), (1000, 2), (5000, 1)];
    let intervals = intervals
        .into_iter()
        .filter(|(i, _)| only.as_ref().is_none_or(|o| o.contains(i)));
    for (interval_ms, rounds) in intervals {
        let r = withdraw_and_return(interval_ms, rounds);
        let w: Vec<String> = r.iter().map(|(w, _)| ms(*w)).collect();
        let a: Vec<String> = r.iter().map(|(_, a)| ms(*a)).collect();
        println!(
            "| {interval_ms} ms | {rounds} | {} | {} | {} ms |",
            w.join(", "),
            a.join(", "),
            3 * interval_ms + 100
        );
    }
    println!();
    println!("| 1,000 announcements | RSS (MiB) | CPU (% of one core) |");
    println!("|---|---|---|");
    for checks in [0, 1000] {
        let (rss, cpu) = cost(checks);
        let what = if checks == 0 {
            "no checks".to_string()
        } else {
            format!("{checks} tcp checks, 1 s")
        };
        println!("| {what} | {rss:.1} | {cpu:.1} |");
    }
}
