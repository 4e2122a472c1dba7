//! A rolling update of a whole fleet of speakers, measured at the router (run as root; loopback
//! addresses only).
//!
//! N gracewire processes, each with its own loopback address and `state_dir`, announce the
//! same service VIP (ECMP at the router) and a /24 of their own to one FRR bgpd (dynamic
//! neighbors, `maximum-paths`, `multipath-relax`). They are restarted one by one as a DaemonSet
//! rolling update does: SIGTERM, the new process 1 s later, the next one once the previous is
//! Established again and has sent End-of-RIB. With Graceful Restart, then without, same run.
//!
//! Measured at the router, polling every 100 ms: the fewest VIP paths seen and the polls below
//! N; paths it removed (per neighbor, the prefixes it stopped holding); UPDATEs it received;
//! bgpd's CPU seconds during the roll. At each speaker: process start to its End-of-RIB.
//!
//! `cargo run --release -p gracewire-e2e --bin fleet-bench -- [N ...]` (default 10 50)

use gracewire_e2e::{wait_for, Lab, Process};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SUITE: u8 = 43;
const VIP: &str = "198.51.100.10/32";
const T: Duration = Duration::from_secs(120);

struct Router {
    dir: PathBuf,
    addr: Ipv4Addr,
    process: Process,
}

impl Router {
    fn start(lab: &Lab, gr: bool, n: usize) -> Router {
        let addr = lab.addr(1);
        let dir = lab.path("frr");
        std::fs::create_dir_all(&dir).unwrap();
        let gr = if gr {
            "bgp graceful-restart\n bgp graceful-restart restart-time 120"
        } else {
            "bgp graceful-restart-disable"
        };
        let conf = format!(
            "frr defaults traditional\nhostname fleet\nlog file {log} informational\n\
             router bgp 65000\n bgp router-id {addr}\n no bgp ebgp-requires-policy\n no bgp network import-check\n \
             no bgp default ipv4-unicast\n bgp bestpath as-path multipath-relax\n {gr}\n \
             neighbor FLEET peer-group\n neighbor FLEET remote-as 64512\n \
             neighbor FLEET timers 3 9\n neighbor FLEET timers connect 1\n{members} \
             address-family ipv4 unicast\n  neighbor FLEET activate\n  maximum-paths 64\n exit-address-family\n",
            log = dir.join("bgpd.log").display(),
            // Configured neighbors, not a listen range: their counters outlive a session.
            members = (0..n)
                .map(|i| format!(" neighbor {} peer-group FLEET\n", speaker_addr(lab, i)))
                .collect::<String>(),
        );
        let conf_path = dir.join("bgpd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        Command::new("chmod")
            .arg("-R")
            .arg("777")
            .arg(lab.dir.path())
            .status()
            .unwrap();
        let process = Process::spawn(
            Command::new("/usr/lib/frr/bgpd")
                .arg("-f")
                .arg(&conf_path)
                .args(["-l", &addr.to_string(), "-n", "-Z", "-S", "--vty_socket"])
                .arg(&dir)
                .arg("-i")
                .arg(dir.join("bgpd.pid"))
                .arg("-z")
                .arg(dir.join("zserv.api")),
            &dir.join("bgpd.out"),
        );
        let r = Router { dir, addr, process };
        wait_for("FRR vty", Duration::from_secs(10), || {
            r.json("show bgp summary json").is_object().then_some(())
        });
        r
    }

    fn json(&self, command: &str) -> Value {
        let out = Command::new("vtysh")
            .arg("--vty_socket")
            .arg(&self.dir)
            .args(["-d", "bgpd", "-c", command])
            .output();
        out.ok()
            .and_then(|o| serde_json::from_slice(&o.stdout).ok())
            .unwrap_or(Value::Null)
    }

    /// Paths for the VIP, and prefixes held per neighbor.
    fn sample(&self) -> (usize, BTreeMap<String, u64>) {
        let vip = self.json(&format!("show bgp ipv4 unicast {VIP} json"));
        let paths = vip["paths"].as_array().map_or(0, Vec::len);
        let summary = self.json("show bgp ipv4 unicast summary json");
        let held = summary["peers"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(addr, p)| (addr.clone(), p["pfxRcd"].as_u64().unwrap_or(0)))
            .collect();
        (paths, held)
    }

    fn updates_received(&self) -> u64 {
        let n = self.json("show bgp neighbors json");
        n.as_object()
            .into_iter()
            .flatten()
            .map(|(_, p)| p["messageStats"]["updatesRecv"].as_u64().unwrap_or(0))
            .sum()
    }

    /// bgpd's CPU time so far (user + system).
    fn cpu(&self) -> Duration {
        let pid = self.process.pid().expect("bgpd runs");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
            .sum();
        Duration::from_millis(ticks * 10)
    }
}

fn speaker_addr(lab: &Lab, i: usize) -> Ipv4Addr {
    lab.addr(10 + i as u8)
}

/// A pod's replacement takes a moment to start.
const GAP: Duration = Duration::from_secs(1);

struct Speaker {
    addr: Ipv4Addr,
    config: PathBuf,
    log: PathBuf,
    process: Option<Process>,
}

impl Speaker {
    fn new(lab: &Lab, i: usize, router: Ipv4Addr, gr: bool) -> Speaker {
        let addr = speaker_addr(lab, i);
        let state = lab.path(&format!("speaker-{i}"));
        let config = lab.path(&format!("speaker-{i}.toml"));
        std::fs::write(
            &config,
            format!(
                "[global]\nasn = 64512\nrouter_id = \"{addr}\"\nstate_dir = \"{}\"\n\n\
                 [[peers]]\nname = \"router\"\naddress = \"{router}\"\nasn = 65000\nlocal_address = \"{addr}\"\n\
                 hold_time = 9\nconnect_retry = 1\nfamilies = [\"ipv4-unicast\"]\ngraceful_restart = {gr}\n\n\
                 [[announce]]\nprefix = \"{VIP}\"\nnext_hop = \"{nh}\"\n\n\
                 [[announce]]\nprefix = \"100.64.{i}.0/24\"\nnext_hop = \"{nh}\"\n",
                state.display(),
                // FRR refuses 127/8 next hops as martians: one of 192.0.2.0/24 per speaker.
                nh = Ipv4Addr::new(192, 0, 2, 10 + i as u8),
            ),
        )
        .unwrap();
        Speaker {
            addr,
            config,
            log: lab.path(&format!("speaker-{i}.log")),
            process: None,
        }
    }

    fn start(&mut self, binary: &PathBuf) -> Instant {
        let started = Instant::now();
        self.process = Some(Process::spawn(
            Command::new(binary)
                .args(["run", "--config"])
                .arg(&self.config)
                .env("RUST_LOG", "info"),
            &self.log,
        ));
        started
    }

    fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop("TERM", Duration::from_secs(10));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// End-of-RIB lines in its log (the file is appended to across restarts).
    fn eors(&self) -> usize {
        self.log()
            .matches("initial table and End-of-RIB sent")
            .count()
    }
}

struct Roll {
    min_paths: usize,
    polls_below: usize,
    polls: usize,
    removed: u64,
    updates: u64,
    cpu: Duration,
    took: Duration,
    eor_ms: Vec<u64>,
}

fn roll(n: usize, gr: bool, binary: &PathBuf) -> Roll {
    let lab = Lab::new(SUITE);
    let router = Router::start(&lab, gr, n);
    let mut speakers: Vec<Speaker> = (0..n)
        .map(|i| Speaker::new(&lab, i, router.addr, gr))
        .collect();
    for s in &mut speakers {
        s.start(binary);
    }
    wait_for(
        &format!("{n} VIP paths and every prefix at the router"),
        T,
        || {
            let (paths, held) = router.sample();
            (paths == n && held.values().filter(|h| **h == 2).count() == n).then_some(())
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let (updates0, cpu0) = (router.updates_received(), router.cpu());
    let done = AtomicBool::new(false);
    let samples = Mutex::new(Vec::<(usize, BTreeMap<String, u64>)>::new());
    let started = Instant::now();
    let mut eor_ms = Vec::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                let sample = router.sample();
                samples.lock().unwrap().push(sample);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        for sp in speakers.iter_mut() {
            let before = sp.eors();
            sp.stop();
            std::thread::sleep(GAP);
            let at = sp.start(binary);
            wait_for(&format!("{} back with its End-of-RIB", sp.addr), T, || {
                (sp.eors() > before).then_some(())
            });
            eor_ms.push(at.elapsed().as_millis() as u64);
            // Back at the router as well: its two prefixes held, fresh or refreshed.
            let addr = sp.addr.to_string();
            wait_for(&format!("{addr} held again"), T, || {
                (router.sample().1.get(&addr) == Some(&2)).then_some(())
            });
        }
        std::thread::sleep(Duration::from_secs(1));
        done.store(true, Ordering::SeqCst);
    });
    let took = started.elapsed();
    let (updates, cpu) = (router.updates_received() - updates0, router.cpu() - cpu0);
    let samples = samples.into_inner().unwrap();
    let mut removed = 0;
    for w in samples.windows(2) {
        for (addr, before) in &w[0].1 {
            let now = w[1].1.get(addr).copied().unwrap_or(0);
            removed += before.saturating_sub(now);
        }
    }
    for mut s in speakers {
        if let Some(mut p) = s.process.take() {
            p.stop("KILL", Duration::from_secs(2));
        }
    }
    drop(router);
    Roll {
        min_paths: samples.iter().map(|s| s.0).min().unwrap_or(0),
        polls_below: samples.iter().filter(|s| s.0 < n).count(),
        polls: samples.len(),
        removed,
        updates,
        cpu,
        took,
        eor_ms,
    }
}

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let counts = if counts.is_empty() {
        vec![10, 50]
    } else {
        counts
    };
    let binary = gracewire_e2e::gracewire::build(true);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "{cores} cores; FRR 8.4 bgpd as the router; a rolling update of N speakers, one at a time"
    );
    println!(
        "{:>4} {:>5} {:>10} {:>12} {:>13} {:>13} {:>10} {:>9} {:>14}",
        "N",
        "GR",
        "VIP min",
        "polls < N",
        "paths gone",
        "UPDATEs in",
        "bgpd CPU",
        "roll",
        "start->EoR ms"
    );
    for &n in &counts {
        assert!(n <= 240, "one /24 of loopback addresses per run");
        for gr in [true, false] {
            let r = roll(n, gr, &binary);
            let mut eor = r.eor_ms.clone();
            eor.sort_unstable();
            println!(
                "{n:>4} {:>5} {:>10} {:>6}/{:<5} {:>13} {:>13} {:>9.2}s {:>8.1}s {:>6} (max {})",
                if gr { "on" } else { "off" },
                r.min_paths,
                r.polls_below,
                r.polls,
                r.removed,
                r.updates,
                r.cpu.as_secs_f64(),
                r.took.as_secs_f64(),
                eor[eor.len() / 2],
                eor[eor.len() - 1],
            );
        }
    }
}
