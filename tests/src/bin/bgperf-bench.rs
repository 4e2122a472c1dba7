//! bgperf2's shape: N feeders each send 100,000 IPv4 prefixes of their own (distinct across
//! feeders, AS paths starting with the feeder's AS) to one receiver at the same moment; the
//! time is from the first octet sent to every prefix accepted, as the receiver itself reports,
//! and memory is the receiver's peak and final RSS. Receivers run one at a time, each started
//! fresh: gracewire, BIRD 2, FRR bgpd (alone, `-Z`: with zebra it would try to install the
//! routes in this host's kernel) and gobgpd (log level warn).
//!
//! `cargo run --release -p gracewire-e2e --bin bgperf-bench -- [FEEDERS...]` (default 2 10;
//! `RECEIVERS=gracewire,bird` picks receivers). bgperf2 itself puts each daemon in a
//! container and counts at a monitor peer; here the receiver's own count stands in for it.

use gracewire_e2e::feed::{self, Rng};
use gracewire_e2e::{proc_status_kb, try_run, Lab, Process};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const RECEIVER_ASN: u32 = 64512;
const PER_FEEDER: usize = 100_000;
const SUITE: u8 = 30;

fn feeder(lab: &Lab, i: usize) -> (Ipv4Addr, u32) {
    (lab.addr(10 + i as u8), 65100 + i as u32)
}

/// One table per feeder, always the same (fixed seed).
fn tables(n: usize) -> Vec<Vec<u8>> {
    let mut r = Rng(0x5eed_b6e5_f2a1_0001);
    let prefixes = feed::random_prefixes(&mut r, n * PER_FEEDER, 0);
    (0..n)
        .map(|i| {
            let sets = feed::attribute_sets(&mut r, 1_000, 65100 + i as u32);
            feed::encode(
                &mut r,
                &sets,
                &prefixes[i * PER_FEEDER..(i + 1) * PER_FEEDER],
            )
        })
        .collect()
}

fn gracewire_config(lab: &Lab, rx: Ipv4Addr, n: usize) -> String {
    let mut c = format!(
        "[global]\nasn = {RECEIVER_ASN}\nrouter_id = \"{rx}\"\nstate_dir = \"{}\"\n\n",
        lab.path("gw").display()
    );
    for i in 0..n {
        let (addr, asn) = feeder(lab, i);
        let _ = write!(
            c,
            "[[peers]]\nname = \"feeder{i}\"\naddress = \"{addr}\"\nasn = {asn}\nlocal_address = \"{rx}\"\nhold_time = 180\nconnect_retry = 1\ngraceful_restart = false\n\n"
        );
    }
    c
}

fn bird_config(lab: &Lab, rx: Ipv4Addr, n: usize) -> String {
    let mut c = format!(
        "router id {rx};\nlog stderr {{ warning, error, fatal }};\nprotocol device {{}}\n\
         template bgp feeder {{\n  local {rx} as {RECEIVER_ASN};\n  multihop;\n  strict bind on;\n  \
         connect retry time 1;\n  hold time 180;\n  ipv4 {{ import all; export none; }};\n}}\n"
    );
    for i in 0..n {
        let (addr, asn) = feeder(lab, i);
        let _ = writeln!(
            c,
            "protocol bgp feeder{i} from feeder {{ neighbor {addr} as {asn}; }}"
        );
    }
    c
}

fn frr_config(lab: &Lab, rx: Ipv4Addr, n: usize) -> String {
    let mut c = format!(
        "frr defaults traditional\nhostname receiver\nrouter bgp {RECEIVER_ASN}\n bgp router-id {rx}\n \
         no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n bgp graceful-restart-disable\n"
    );
    for i in 0..n {
        let (addr, asn) = feeder(lab, i);
        let _ = write!(
            c,
            " neighbor {addr} remote-as {asn}\n neighbor {addr} update-source {rx}\n neighbor {addr} timers connect 1\n"
        );
    }
    c.push_str(" address-family ipv4 unicast\n");
    for i in 0..n {
        let _ = writeln!(c, "  neighbor {} activate", feeder(lab, i).0);
    }
    c.push_str(" exit-address-family\n");
    c
}

fn gobgp_config(lab: &Lab, rx: Ipv4Addr, n: usize) -> String {
    let mut c =
        format!("[global.config]\n  as = {RECEIVER_ASN}\n  router-id = \"{rx}\"\n  port = -1\n");
    for i in 0..n {
        let (addr, asn) = feeder(lab, i);
        let _ = write!(
            c,
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{addr}\"\n    peer-as = {asn}\n  \
             [neighbors.transport.config]\n    local-address = \"{rx}\"\n  \
             [neighbors.timers.config]\n    hold-time = 180\n    connect-retry = 1\n  \
             [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n"
        );
    }
    c
}

/// A receiver started with `n` feeders: its process and how many prefixes it holds.
struct Receiver {
    process: Process,
    count: Box<dyn Fn() -> usize>,
}

fn number_after(text: &str, label: &str) -> usize {
    text.split(label)
        .nth(1)
        .and_then(|r| {
            r.split(|c: char| !c.is_ascii_digit())
                .find(|s| !s.is_empty())
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn start(name: &str, lab: &Lab, n: usize) -> Receiver {
    let rx = lab.addr(1);
    match name {
        "gracewire" => {
            std::fs::write(lab.path("gw.toml"), gracewire_config(lab, rx, n)).unwrap();
            let binary = gracewire_e2e::gracewire::build(true);
            let process = Process::spawn(
                Command::new(&binary)
                    .args(["run", "--config"])
                    .arg(lab.path("gw.toml"))
                    .env("RUST_LOG", "warn"),
                &lab.path("gw.log"),
            );
            let sock = lab.path("gw/gracewire.sock");
            let count = move || gracewire_e2e::gracewire::paths_received(&binary, &sock);
            Receiver {
                process,
                count: Box::new(count),
            }
        }
        "bird" => {
            std::fs::write(lab.path("bird.conf"), bird_config(lab, rx, n)).unwrap();
            let sock = lab.path("bird.ctl");
            let process = Process::spawn(
                Command::new("bird")
                    .arg("-f")
                    .arg("-c")
                    .arg(lab.path("bird.conf"))
                    .arg("-s")
                    .arg(&sock),
                &lab.path("bird.log"),
            );
            let count = move || {
                try_run(
                    Command::new("birdc")
                        .arg("-s")
                        .arg(&sock)
                        .arg("show protocols all"),
                )
                .unwrap_or_default()
                .lines()
                .filter(|l| l.trim_start().starts_with("Routes:"))
                .map(|l| number_after(l, "Routes:"))
                .sum()
            };
            Receiver {
                process,
                count: Box::new(count),
            }
        }
        "frr" => {
            let dir = lab.path("frr");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("bgpd.conf"), frr_config(lab, rx, n)).unwrap();
            let process = Process::spawn(
                Command::new("/usr/lib/frr/bgpd")
                    .arg("-f")
                    .arg(dir.join("bgpd.conf"))
                    .args(["-l", &rx.to_string(), "-n", "-Z", "-S", "--vty_socket"])
                    .arg(&dir)
                    .arg("-i")
                    .arg(dir.join("bgpd.pid")),
                &dir.join("bgpd.out"),
            );
            let count = move || {
                let v: serde_json::Value =
                    try_run(Command::new("vtysh").arg("--vty_socket").arg(&dir).args([
                        "-d",
                        "bgpd",
                        "-c",
                        "show bgp ipv4 unicast summary json",
                    ]))
                    .and_then(|o| serde_json::from_str(&o).ok())
                    .unwrap_or_default();
                v["peers"]
                    .as_object()
                    .map(|p| p.values().filter_map(|p| p["pfxRcd"].as_u64()).sum::<u64>())
                    .unwrap_or(0) as usize
            };
            Receiver {
                process,
                count: Box::new(count),
            }
        }
        "gobgpd" => {
            std::fs::write(lab.path("gobgpd.toml"), gobgp_config(lab, rx, n)).unwrap();
            let port = gracewire_e2e::free_port().to_string();
            let process = Process::spawn(
                Command::new("gobgpd")
                    .arg("-f")
                    .arg(lab.path("gobgpd.toml"))
                    .args(["--api-hosts", &format!("127.0.0.1:{port}"), "-l", "warn"]),
                &lab.path("gobgpd.log"),
            );
            let count = move || {
                let out = try_run(
                    Command::new("gobgp")
                        .args(["-p", &port, "global", "rib", "summary", "-a", "ipv4"]),
                )
                .unwrap_or_default();
                number_after(&out, "Path:")
            };
            Receiver {
                process,
                count: Box::new(count),
            }
        }
        other => panic!("unknown receiver {other}"),
    }
}

struct Outcome {
    seconds: f64,
    peak_mib: f64,
    after_mib: f64,
}

fn run(name: &str, tables: &[Vec<u8>]) -> Outcome {
    let n = tables.len();
    let lab = Lab::new(SUITE);
    let listeners: Vec<TcpListener> = (0..n)
        .map(|i| TcpListener::bind((feeder(&lab, i).0, 179)).expect("feeder address"))
        .collect();
    let receiver = start(name, &lab, n);
    let pid = receiver.process.pid().expect("receiver running");
    // Every session up first, then all feeders send at once.
    let go = Arc::new(Barrier::new(n + 1));
    let started = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let senders: Vec<_> = listeners
        .into_iter()
        .zip(tables.iter().cloned())
        .enumerate()
        .map(|(i, (listener, table))| {
            let (go, started, asn) = (go.clone(), started.clone(), 65100 + i as u32);
            std::thread::spawn(move || {
                let mut s = feed::feeder_session(&listener, asn);
                go.wait();
                started.lock().unwrap().get_or_insert_with(Instant::now);
                s.write_all(&table).unwrap();
                // Kept open until the receiver has it all: the caller drops it.
                s
            })
        })
        .collect();
    go.wait();
    let deadline = Instant::now() + Duration::from_secs(900);
    let total = n * PER_FEEDER;
    // Polled every 20 ms: times under a second are what is compared.
    while (receiver.count)() < total {
        assert!(
            Instant::now() < deadline,
            "{name} did not accept {total} prefixes in 15 min (it holds {}):\n{}",
            (receiver.count)(),
            receiver.process.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let first = started.lock().unwrap().expect("a feeder started");
    let seconds = first.elapsed().as_secs_f64();
    let outcome = Outcome {
        seconds,
        peak_mib: proc_status_kb(pid, "VmHWM:") as f64 / 1024.0,
        after_mib: proc_status_kb(pid, "VmRSS:") as f64 / 1024.0,
    };
    let streams: Vec<_> = senders.into_iter().map(|t| t.join().unwrap()).collect();
    drop(receiver);
    drop(streams);
    outcome
}

fn main() {
    let shapes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let shapes = if shapes.is_empty() {
        vec![2, 10]
    } else {
        shapes
    };
    let receivers =
        std::env::var("RECEIVERS").unwrap_or_else(|_| "gracewire,bird,frr,gobgpd".into());
    gracewire_e2e::gracewire::build(true);
    println!(
        "{} cores; N feeders x {PER_FEEDER} IPv4 prefixes each, sent at once; receivers one at a time",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<10} {:>8} {:>10} {:>10} {:>10}",
        "receiver", "feeders", "time s", "peak MiB", "after MiB"
    );
    for &n in &shapes {
        let t = tables(n);
        for name in receivers.split(',') {
            let o = run(name, &t);
            println!(
                "{name:<10} {n:>8} {:>10.2} {:>10.1} {:>10.1}",
                o.seconds, o.peak_mib, o.after_mib
            );
        }
    }
}
