//! Ingest benchmark: one feeder replays a pre-encoded synthetic full table (fixed seed) into
//! each receiver — gracewire, BIRD 2, FRR bgpd, gobgpd — started fresh, one at a time, and
//! reports time from first byte to all prefixes accepted (as the daemon itself reports), peak
//! RSS and bytes per path, with ratios to BIRD.
//!
//! `cargo run --release -p gracewire-e2e --bin route-bench -- [V4_PREFIXES] [V6_PREFIXES] [receivers]`
//! (defaults: 1000000 200000 gracewire,bird,frr,gobgp)

use gracewire_e2e::bird::Bird;
use gracewire_e2e::feed::{self, FEEDER_ASN};
use gracewire_e2e::frr::Frr;
use gracewire_e2e::gobgp::GoBgp;
use gracewire_e2e::{proc_status_kb, Lab, Process, Router};
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const RECEIVER_ASN: u32 = 64512;

fn pid_of(pidfile_or_name: &str) -> i32 {
    let out = Command::new("pgrep")
        .args(["-n", "-f", pidfile_or_name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

struct Result {
    name: &'static str,
    seconds: f64,
    peak_rss_mb: f64,
    bytes_per_path: f64,
}

fn gracewire_release() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| gracewire_e2e::gracewire::build(true))
        .clone()
}

fn measure(
    name: &'static str,
    table: &[u8],
    total: usize,
    count: &dyn Fn() -> usize,
    pid: i32,
    listener: &TcpListener,
) -> Result {
    let mut s = feed::feeder_session(listener, FEEDER_ASN);
    std::thread::sleep(Duration::from_millis(500));
    let base = proc_status_kb(pid, "VmRSS:");
    let start = Instant::now();
    s.write_all(table).unwrap();
    // Polled every 20 ms (not wait_for's 100 ms): times under a second are what is compared.
    while count() < total {
        assert!(
            start.elapsed() < Duration::from_secs(900),
            "{name} did not accept {total} prefixes in 15 min"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let seconds = start.elapsed().as_secs_f64();
    let peak = proc_status_kb(pid, "VmHWM:");
    let now = proc_status_kb(pid, "VmRSS:");
    Result {
        name,
        seconds,
        peak_rss_mb: peak as f64 / 1024.0,
        bytes_per_path: (now.saturating_sub(base) * 1024) as f64 / total as f64,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let v4: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let v6: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let which = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| "gracewire,bird,frr,gobgp".into());
    let t = Instant::now();
    let (table, total) = feed::table(v4, v6);
    println!("table: {v4} IPv4 + {v6} IPv6 prefixes, 10000 attribute sets, {} MiB of UPDATEs (built in {:.1?})", table.len() >> 20, t.elapsed());
    let mut results = Vec::new();
    for name in which.split(',') {
        let lab = Lab::new(26);
        let (rx, feeder) = (lab.addr(1), lab.addr(2));
        let listener = TcpListener::bind((feeder, 179)).expect("feeder address");
        let mut spec = lab.spec(1, RECEIVER_ASN, FEEDER_ASN);
        // The receiver connects to the feeder: the spec's "gracewire" is the feeder here.
        spec.gracewire_addr = feeder;
        spec.graceful_restart = false;
        let r = match name {
            "gracewire" => {
                let cfg = format!(
                    "[global]\nasn = {RECEIVER_ASN}\nrouter_id = \"{rx}\"\nstate_dir = \"{}\"\n\n[[peers]]\nname = \"feeder\"\naddress = \"{feeder}\"\nasn = {FEEDER_ASN}\nlocal_address = \"{rx}\"\nhold_time = 180\nconnect_retry = 1\ngraceful_restart = false\n",
                    lab.path("gw").display()
                );
                std::fs::write(lab.path("gw.toml"), cfg).unwrap();
                let p = Process::spawn(
                    Command::new(gracewire_release())
                        .args(["run", "--config"])
                        .arg(lab.path("gw.toml"))
                        .env("RUST_LOG", "warn"),
                    &lab.path("gw.log"),
                );
                let sock = lab.path("gw/gracewire.sock");
                let count =
                    || gracewire_e2e::gracewire::paths_received(&gracewire_release(), &sock);
                let r = measure(
                    "gracewire",
                    &table,
                    total,
                    &count,
                    p.pid().unwrap(),
                    &listener,
                );
                drop(p);
                r
            }
            "bird" => {
                let mut b = Bird::new(&lab, spec);
                b.start();
                let pid = pid_of(&lab.path("bird-1").display().to_string());
                let count = || {
                    b.birdc("show protocols all gracewire")
                        .unwrap_or_default()
                        .lines()
                        .filter(|l| l.trim_start().starts_with("Routes:"))
                        .filter_map(|l| {
                            l.split_whitespace()
                                .nth(1)
                                .and_then(|n| n.parse::<usize>().ok())
                        })
                        .sum()
                };
                let r = measure("bird", &table, total, &count, pid, &listener);
                b.kill();
                r
            }
            "frr" => {
                let mut f = Frr::new(&lab, spec);
                f.start();
                let pid = pid_of(&lab.path("frr-1").display().to_string());
                let count = || {
                    let v: serde_json::Value = f
                        .vtysh(&["show bgp summary json"])
                        .and_then(|o| serde_json::from_str(&o).ok())
                        .unwrap_or_default();
                    ["ipv4Unicast", "ipv6Unicast"]
                        .iter()
                        .map(|af| {
                            v[af]["peers"][feeder.to_string()]["pfxRcd"]
                                .as_u64()
                                .unwrap_or(0) as usize
                        })
                        .sum()
                };
                let r = measure("frr", &table, total, &count, pid, &listener);
                f.kill();
                r
            }
            "gobgp" => {
                let mut g = GoBgp::new(&lab, spec);
                // Its debug log (what the e2e tests read) would be most of its time here.
                g.log_level = "warn";
                g.start();
                let pid = pid_of(&lab.path("gobgpd-1.toml").display().to_string());
                let count = || {
                    g.neighbor_json()["afi_safis"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|f| f["state"]["received"].as_u64().unwrap_or(0) as usize)
                                .sum()
                        })
                        .unwrap_or(0)
                };
                let r = measure("gobgp", &table, total, &count, pid, &listener);
                g.kill();
                r
            }
            other => panic!("unknown receiver {other}"),
        };
        println!(
            "{:<10} {:>8.2} s {:>9.1} MiB peak {:>8.0} B/path",
            r.name, r.seconds, r.peak_rss_mb, r.bytes_per_path
        );
        results.push(r);
    }
    let bird = results
        .iter()
        .find(|r| r.name == "bird")
        .map(|r| (r.seconds, r.peak_rss_mb, r.bytes_per_path));
    println!(
        "\n{} cores; receivers run one at a time",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>8} {:>8}",
        "receiver", "time s", "peak MiB", "B/path", "time/BIRD", "mem/BIRD"
    );
    for r in &results {
        let (tr, mr) = bird.map_or((f64::NAN, f64::NAN), |(t, m, _)| {
            (r.seconds / t, r.peak_rss_mb / m)
        });
        println!(
            "{:<10} {:>10.2} {:>10.1} {:>10.0} {:>8.2} {:>8.2}",
            r.name, r.seconds, r.peak_rss_mb, r.bytes_per_path, tr, mr
        );
    }
}
