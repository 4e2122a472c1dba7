//! Hitless upgrade (`gracewire run --takeover`), measured: P receivers each holding a session
//! with R routes; a second gracewire takes the sessions over. Run as root (loopback addresses
//! in 127.29.0.0/16 only):
//!
//! `cargo run --release -p gracewire-e2e --bin takeover-bench -- [P:R ...]` (default
//! `1:10 1:100000 100:10 1000:10`)
//!
//! Printed per case: the handoff as the old process timed it (request in to answer back: every
//! session paused, its tables encoded and sent, the new process's resume), that per session,
//! the time from the new process's start to every session resumed (it logs that, after
//! loading its config), and to the old process's exit. Every receiver must keep its one
//! session (no new OPEN) and every route, and none may be sent again.

use gracewire::wire::Family;
use gracewire_e2e::sink::{self, SinkState};
use gracewire_e2e::{wait_for, Lab, Process};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const SUITE: u8 = 28;

fn sink_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 29, (i / 200) as u8, (i % 200 + 10) as u8)
}

fn config(lab: &Lab, peers: usize, routes: usize) -> String {
    let me = lab.addr(1);
    let mut c = format!(
        "[global]\nasn = 64512\nrouter_id = \"{me}\"\nlisten = \"{me}:179\"\nstate_dir = \"{}\"\n\n",
        lab.path("gw").display()
    );
    for i in 0..peers {
        let _ = write!(
            c,
            "[[peers]]\nname = \"sink{i}\"\naddress = \"{}\"\nasn = {}\nlocal_address = \"{me}\"\npassive = true\nhold_time = 9\ngraceful_restart = false\n\n",
            sink_addr(i),
            65000 + i
        );
    }
    for i in 0..routes {
        let prefix = format!("100.{}.{}.{}/32", 64 + i / 65536, (i / 256) % 256, i % 256);
        let _ = write!(
            c,
            "[[announce]]\nprefix = \"{prefix}\"\nnext_hop = \"{me}\"\n"
        );
    }
    c
}

fn gracewire(lab: &Lab, takeover: bool) -> (Process, SystemTime, Instant) {
    let mut cmd = Command::new(gracewire_e2e::gracewire::build(true));
    cmd.args(["run", "--log-format", "json", "--config"])
        .arg(lab.path("gw.toml"))
        .env("RUST_LOG", "info");
    if takeover {
        cmd.arg("--takeover");
    }
    let (wall, started) = (SystemTime::now(), Instant::now());
    (Process::spawn(&mut cmd, &lab.path("gw.log")), wall, started)
}

/// The `field` of the first log line whose message is `message`, after `from` lines.
fn logged(lab: &Lab, from: usize, message: &str) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(lab.path("gw.log")).ok()?;
    text.lines().skip(from).find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        (v["fields"]["message"] == message).then_some(v)
    })
}

fn unix_ms(v: &serde_json::Value) -> f64 {
    let t = v["timestamp"].as_str().unwrap_or_default();
    // 2026-12-02T16:15:19.123456Z
    let parsed = chrono_free_parse(t).expect("a log timestamp");
    parsed
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// RFC 3339 UTC as tracing prints it, without a date crate.
fn chrono_free_parse(t: &str) -> Option<SystemTime> {
    let out = Command::new("date")
        .args(["-u", "-d", t, "+%s.%N"])
        .output()
        .ok()?;
    let secs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs))
}

fn case(peers: usize, routes: usize) {
    let rt = sink::runtime();
    let lab = Lab::new(SUITE);
    std::fs::write(lab.path("gw.toml"), config(&lab, peers, routes)).unwrap();
    let receivers: Vec<Arc<SinkState>> = (0..peers)
        .map(|i| {
            sink::spawn(
                &rt,
                sink_addr(i),
                lab.addr(1),
                (65000 + i as u32, 9),
                vec![Family::Ipv4Unicast],
                routes,
            )
        })
        .collect();
    let (mut old, _, _) = gracewire(&lab, false);
    wait_for(
        &format!("{routes} routes at {peers} receivers"),
        Duration::from_secs(600),
        || {
            receivers
                .iter()
                .all(|r| r.full_at().is_some() && r.done_at().is_some())
                .then_some(())
        },
    );
    let sessions = |rs: &[Arc<SinkState>]| -> usize {
        rs.iter().map(|r| r.sessions.load(Ordering::SeqCst)).sum()
    };
    // Every UPDATE and every prefix in them, not the distinct prefixes: a route sent again
    // changes no distinct count, and must still fail the bench.
    let received = |rs: &[Arc<SinkState>]| -> (usize, usize) {
        let updates = rs.iter().map(|r| r.updates.load(Ordering::SeqCst)).sum();
        let announced = rs
            .iter()
            .map(|r| r.announcements.load(Ordering::SeqCst))
            .sum();
        (updates, announced)
    };
    let (before_sessions, before_received) = (sessions(&receivers), received(&receivers));
    let lines_before = std::fs::read_to_string(lab.path("gw.log"))
        .unwrap()
        .lines()
        .count();

    let (new, new_wall, new_started) = gracewire(&lab, true);
    let mut child = old.child.take().unwrap();
    // Polled every 2 ms (wait_for's 100 ms would round the figure up).
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            new_started.elapsed() < Duration::from_secs(120),
            "the old process did not exit"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    let to_old_exit = new_started.elapsed();
    assert!(status.success(), "old process: {status}");
    let done = wait_for("the new process's account", Duration::from_secs(60), || {
        logged(&lab, lines_before, "sessions taken over")
    });
    let handoff =
        logged(&lab, lines_before, "takeover done: exiting").expect("the old process's account");
    let handoff_ms = handoff["fields"]["took_ms"].as_f64().unwrap_or(f64::NAN);
    let resumed_ms = unix_ms(&done)
        - new_wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            * 1000.0;
    assert_eq!(
        done["fields"]["resumed"].as_u64(),
        Some(peers as u64),
        "{done}"
    );
    // A few keepalive intervals later: the same sessions, every route, nothing sent again.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        sessions(&receivers),
        before_sessions,
        "a receiver lost its session"
    );
    assert_eq!(
        received(&receivers),
        before_received,
        "UPDATEs (and prefixes in them) were sent again"
    );
    assert!(receivers
        .iter()
        .all(|r| r.established.load(Ordering::SeqCst)));
    println!(
        "{peers:>5} sessions x {routes:>6} routes: handoff {handoff_ms:>6.0} ms ({:.2} ms/session); \
         new process start to all resumed {resumed_ms:>6.0} ms, to the old one's exit {:>6.0} ms",
        handoff_ms / peers as f64,
        to_old_exit.as_secs_f64() * 1000.0
    );
    drop(new);
    rt.shutdown_background();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cases = if args.is_empty() {
        vec![
            "1:10".to_string(),
            "1:100000".into(),
            "100:10".into(),
            "1000:10".into(),
        ]
    } else {
        args
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("{cores} cores; release build; receivers on one tokio worker in this process");
    for c in cases {
        let (p, r) = c.split_once(':').expect("PEERS:ROUTES");
        case(p.parse().unwrap(), r.parse().unwrap());
    }
}
