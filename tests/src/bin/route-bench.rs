//! Ingest benchmark: one feeder replays a pre-encoded synthetic full table (fixed seed) into
//! each receiver — gracewire, BIRD 2, FRR bgpd, gobgpd — started fresh, one at a time, and
//! reports time from first byte to all prefixes accepted (as the daemon itself reports), peak
//! RSS and bytes per path, with ratios to BIRD.
//!
//! `cargo run --release -p gracewire-e2e --bin route-bench -- [V4_PREFIXES] [V6_PREFIXES] [receivers]`
//! (defaults: 1000000 200000 gracewire,bird,frr,gobgp)

use gracewire::wire::{
    AsPath, CodecContext, Family, LargeCommunity, Message, MpReach, NextHop, Origin,
    PathAttributes, Update,
};
use gracewire_e2e::bird::Bird;
use gracewire_e2e::frr::Frr;
use gracewire_e2e::gobgp::GoBgp;
use gracewire_e2e::{proc_status_kb, try_run, Lab, Process, Router};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const FEEDER_ASN: u32 = 65010;
const RECEIVER_ASN: u32 = 64512;

/// xorshift64*: a fixed-seed generator, so every run feeds the same table.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Realistic prefix lengths: mostly /24, then /22-/23, /16-/21.
fn v4_len(r: &mut Rng) -> u8 {
    match r.below(100) {
        0..=59 => 24,
        60..=79 => 22 + r.below(2) as u8,
        80..=94 => 16 + r.below(6) as u8,
        _ => 8 + r.below(8) as u8,
    }
}

fn attribute_sets(r: &mut Rng, n: usize) -> Vec<PathAttributes> {
    (0..n)
        .map(|_| {
            let hops = 2 + r.below(9) as usize;
            let mut path = vec![FEEDER_ASN];
            path.extend((1..hops).map(|_| 1 + r.below(400_000) as u32));
            PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(AsPath::from_sequence(path)),
                med: (r.below(2) == 0).then(|| r.below(1000) as u32),
                communities: (0..r.below(4))
                    .map(|_| ((r.below(65535) as u32) << 16) | r.below(1000) as u32)
                    .collect(),
                large_communities: (r.below(4) == 0)
                    .then(|| LargeCommunity {
                        global: FEEDER_ASN,
                        local1: 1,
                        local2: r.below(100) as u32,
                    })
                    .into_iter()
                    .collect(),
                ..Default::default()
            }
        })
        .collect()
}

/// The table as UPDATE messages of at most 4096 octets, then End-of-RIB per family.
fn encode_table(v4: usize, v6: usize) -> (Vec<u8>, usize) {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let sets = attribute_sets(&mut r, 10_000);
    let ctx = CodecContext {
        four_octet_as: true,
        extended_message: false,
        external: false,
    };
    let mut seen = std::collections::HashSet::new();
    let mut by_set: Vec<Vec<IpNet>> = vec![Vec::new(); sets.len()];
    while seen.len() < v4 {
        let len = v4_len(&mut r);
        // Public unicast space only: receivers drop martians (0/8, 10/8, 127/8, 224/3).
        let first = 1 + r.below(222);
        if first == 10 || first == 127 {
            continue;
        }
        let addr = Ipv4Addr::from((first << 24 | r.below(1 << 24)) as u32);
        let p = IpNet::V4(Ipv4Net::new(addr, len).unwrap().trunc());
        if seen.insert(p) {
            by_set[r.below(sets.len() as u64) as usize].push(p);
        }
    }
    while seen.len() < v4 + v6 {
        let len = [32u8, 40, 44, 48, 48, 48][r.below(6) as usize];
        // Global unicast 2000::/3, random above the prefix length.
        let a = ((0x2000 | r.below(0x2000)) as u128) << 112 | (r.next() as u128) << 48;
        let p = IpNet::V6(Ipv6Net::new(a.into(), len).unwrap().trunc());
        if seen.insert(p) {
            by_set[r.below(sets.len() as u64) as usize].push(p);
        }
    }
    let mut out = Vec::new();
    for (set, prefixes) in sets.iter().zip(&by_set) {
        for family in Family::ALL {
            let of: Vec<IpNet> = prefixes
                .iter()
                .copied()
                .filter(|p| Family::of_prefix(p) == family)
                .collect();
            for chunk in of.chunks(match family {
                Family::Ipv4Unicast => 700,
                Family::Ipv6Unicast => 400,
            }) {
                let mut u = Update {
                    attributes: set.clone(),
                    ..Default::default()
                };
                match family {
                    Family::Ipv4Unicast => {
                        u.attributes.next_hop = Some(Ipv4Addr::new(192, 0, 2, 10));
                        u.nlri = chunk
                            .iter()
                            .filter_map(|p| if let IpNet::V4(p) = p { Some(*p) } else { None })
                            .collect();
                    }
                    Family::Ipv6Unicast => {
                        u.mp_reach = Some(MpReach {
                            family,
                            next_hop: NextHop::V6 {
                                global: "2001:db8::10".parse().unwrap(),
                                link_local: None,
                            },
                            nlri: chunk.to_vec(),
                        })
                    }
                }
                let bytes = Message::Update(u).encode(ctx);
                assert!(bytes.len() <= 4096);
                out.extend_from_slice(&bytes);
            }
        }
    }
    for f in Family::ALL {
        out.extend_from_slice(&Message::Update(Update::end_of_rib_marker(f)).encode(ctx));
    }
    (out, v4 + v6)
}

fn open_message() -> Vec<u8> {
    gracewire_e2e::raw::open(FEEDER_ASN, Ipv4Addr::new(192, 0, 2, 10))
}

/// Waits for the receiver's connection, completes the OPEN exchange, keeps it alive.
fn feeder_session(listener: &TcpListener) -> TcpStream {
    let (mut s, _) = listener.accept().expect("receiver connects");
    s.set_nodelay(true).ok();
    s.write_all(&open_message()).unwrap();
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    // Read until we have their OPEN and KEEPALIVE (or at least OPEN).
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200))).ok();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(n) = s.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
            if got.len() >= 19 && got[18] == 1 {
                break;
            }
        }
    }
    s.write_all(&gracewire_e2e::raw::message(4, &[])).unwrap();
    let mut reader = s.try_clone().unwrap();
    std::thread::spawn(move || {
        // Drain whatever the receiver sends (KEEPALIVEs), so its writes never block.
        let mut b = [0u8; 65536];
        while matches!(reader.read(&mut b), Ok(n) if n > 0) {}
    });
    let mut ka = s.try_clone().unwrap();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(2));
        if ka.write_all(&gracewire_e2e::raw::message(4, &[])).is_err() {
            return;
        }
    });
    s.set_read_timeout(None).ok();
    s
}

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
    let mut s = feeder_session(listener);
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
    let (table, total) = encode_table(v4, v6);
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
                let count = || {
                    try_run(
                        Command::new(gracewire_release())
                            .args(["show", "neighbors", "--json", "--socket"])
                            .arg(&sock),
                    )
                    .and_then(|o| serde_json::from_str::<serde_json::Value>(&o).ok())
                    .and_then(|v| v[0]["received"].as_u64())
                    .unwrap_or(0) as usize
                };
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
