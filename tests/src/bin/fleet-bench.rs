//! A rolling update of a whole fleet of speakers, measured at the router (run as root; loopback
//! addresses only).
//!
//! N gracewire processes, each with its own loopback address and `state_dir`, announce the
//! same service VIP (ECMP at the router) and a /24 of their own to one FRR bgpd (configured
//! neighbors, `maximum-paths`, `multipath-relax`). They are restarted one by one as a DaemonSet
//! rolling update does: SIGTERM, the new process 1 s later, the next one once the previous is
//! Established again and has sent End-of-RIB. With Graceful Restart, then without, same run.
//!
//! Measured at the router, polling every 100 ms: the fewest VIP paths seen and the polls below
//! N; paths it removed (per neighbor, the prefixes it stopped holding); UPDATEs it received;
//! how often it ran path selection for the VIP and how often its best path changed (its own
//! `debug bgp bestpath` log); bgpd's CPU seconds during the roll. At each speaker: process start to its End-of-RIB.
//!
//! `cargo run --release -p gracewire-e2e --bin fleet-bench -- [N ...]` (default 10 50 200;
//! `ROUTERS=frr,gobgpd` picks the routers, both by default). gobgpd keeps no log of its path
//! selection, so its rows have no best-path counts.

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

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Frr,
    GoBgp,
}

struct Router {
    kind: Kind,
    dir: PathBuf,
    addr: Ipv4Addr,
    /// gobgpd's API port.
    api_port: u16,
    process: Process,
}

impl Router {
    fn start(lab: &Lab, kind: Kind, gr: bool, n: usize) -> Router {
        match kind {
            Kind::Frr => Router::start_frr(lab, gr, n),
            Kind::GoBgp => Router::start_gobgp(lab, gr, n),
        }
    }

    fn start_gobgp(lab: &Lab, gr: bool, n: usize) -> Router {
        let addr = lab.addr(1);
        let dir = lab.path("gobgp");
        std::fs::create_dir_all(&dir).unwrap();
        let gr_conf = if gr {
            "  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = 120\n"
        } else {
            ""
        };
        let mp_gr = if gr {
            "    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n"
        } else {
            ""
        };
        let mut conf = format!(
            "[global.config]\n  as = 65000\n  router-id = \"{addr}\"\n  port = 179\n  local-address-list = [\"{addr}\"]\n\
             [global.use-multiple-paths.config]\n  enabled = true\n"
        );
        for i in 0..n {
            conf += &format!(
                "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    peer-as = 64512\n\
                 [neighbors.transport.config]\n    local-address = \"{addr}\"\n\
                 [neighbors.timers.config]\n    hold-time = 9\n    keepalive-interval = 3\n    connect-retry = 1\n    idle-hold-time-after-reset = 1\n{gr_conf}\
                 [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n{mp_gr}",
                speaker_addr(lab, i)
            );
        }
        let conf_path = dir.join("gobgpd.toml");
        std::fs::write(&conf_path, conf).unwrap();
        let api_port = lab.port(1);
        let process = Process::spawn(
            Command::new("gobgpd").arg("-f").arg(&conf_path).args([
                "--api-hosts",
                &format!("127.0.0.1:{api_port}"),
                "-l",
                "warn",
            ]),
            &dir.join("gobgpd.log"),
        );
        let r = Router {
            kind: Kind::GoBgp,
            dir,
            addr,
            api_port,
            process,
        };
        wait_for("gobgpd API", Duration::from_secs(20), || {
            r.gobgp(&["global"]).map(|_| ())
        });
        r
    }

    fn gobgp(&self, args: &[&str]) -> Option<String> {
        gracewire_e2e::try_run(
            Command::new("gobgp")
                .args(["-u", "127.0.0.1", "-p", &self.api_port.to_string()])
                .args(args),
        )
    }

    fn gobgp_json(&self, args: &[&str]) -> Value {
        self.gobgp(args)
            .and_then(|o| serde_json::from_str(&o).ok())
            .unwrap_or(Value::Null)
    }

    fn start_frr(lab: &Lab, gr: bool, n: usize) -> Router {
        let addr = lab.addr(1);
        let dir = lab.path("frr");
        std::fs::create_dir_all(&dir).unwrap();
        let gr = if gr {
            "bgp graceful-restart\n bgp graceful-restart restart-time 120"
        } else {
            "bgp graceful-restart-disable"
        };
        let conf = format!(
            "frr defaults traditional\nhostname fleet\nlog file {log} debugging\n\
             debug bgp bestpath {VIP}\n\
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
        let r = Router {
            kind: Kind::Frr,
            dir,
            addr,
            api_port: 0,
            process,
        };
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
        if self.kind == Kind::GoBgp {
            let vip = self.gobgp_json(&["global", "rib", "-a", "ipv4", VIP, "-j"]);
            let paths = vip[VIP].as_array().map_or(0, Vec::len);
            let neighbors = self.gobgp_json(&["neighbor", "-j"]);
            let held = neighbors
                .as_array()
                .into_iter()
                .flatten()
                .map(|nb| {
                    let addr = nb["state"]["neighbor_address"].as_str().unwrap_or("");
                    let up = nb["state"]["session_state"] == 6;
                    let received: u64 = nb["afi_safis"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a["state"]["received"].as_u64())
                        .sum();
                    // A neighbor that is down holds what GR keeps of it: its stale paths.
                    (
                        addr.to_string(),
                        if up { received } else { self.held_stale(addr) },
                    )
                })
                .collect();
            return (paths, held);
        }
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

    /// Paths of a neighbor that is down still in gobgpd's table (kept by GR).
    fn held_stale(&self, addr: &str) -> u64 {
        let rib = self.gobgp_json(&["global", "rib", "-a", "ipv4", "-j"]);
        rib.as_object()
            .into_iter()
            .flatten()
            .flat_map(|(_, paths)| paths.as_array().into_iter().flatten())
            .filter(|p| p["neighbor-ip"] == addr)
            .count() as u64
    }

    fn updates_received(&self) -> u64 {
        if self.kind == Kind::GoBgp {
            let n = self.gobgp_json(&["neighbor", "-j"]);
            return n
                .as_array()
                .into_iter()
                .flatten()
                .map(|nb| {
                    nb["state"]["messages"]["received"]["update"]
                        .as_u64()
                        .unwrap_or(0)
                })
                .sum();
        }
        let n = self.json("show bgp neighbors json");
        n.as_object()
            .into_iter()
            .flatten()
            .map(|(_, p)| p["messageStats"]["updatesRecv"].as_u64().unwrap_or(0))
            .sum()
    }

    /// bgpd's log so far (gobgpd keeps none that says this).
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("bgpd.log")).unwrap_or_default()
    }

    /// bgpd's CPU time so far (user + system).
    fn cpu(&self) -> Duration {
        let pid = self.process.pid().expect("bgpd runs");
        Duration::from_secs_f64(gracewire_e2e::cpu_seconds(pid))
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

/// In bgpd's log (`debug bgp bestpath VIP`): how often it ran path selection for the VIP, and
/// how often that changed its best path (FRR 8.4 logs "After path selection, newbest is A
/// oldbest was B").
fn selections(log: &str) -> (usize, usize) {
    let mut runs = 0;
    let mut changes = 0;
    for line in log.lines() {
        let Some((_, tail)) = line.split_once("After path selection, newbest is ") else {
            continue;
        };
        runs += 1;
        let Some((new, old)) = tail.split_once(" oldbest was ") else {
            continue;
        };
        let new = new.split_whitespace().next().unwrap_or("");
        if new != old.trim() {
            changes += 1;
        }
    }
    (runs, changes)
}

struct Roll {
    min_paths: usize,
    selections: usize,
    best_changes: usize,
    polls_below: usize,
    polls: usize,
    removed: u64,
    updates: u64,
    cpu: Duration,
    took: Duration,
    eor_ms: Vec<u64>,
}

fn roll(kind: Kind, n: usize, gr: bool, binary: &PathBuf) -> Roll {
    let lab = Lab::new(SUITE);
    let router = Router::start(&lab, kind, gr, n);
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
    let log0 = router.log().len();
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
    let (selections, best_changes) = selections(router.log().get(log0..).unwrap_or(""));
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
        selections,
        best_changes,
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
        vec![10, 50, 200]
    } else {
        counts
    };
    // ROUTERS=frr,gobgpd picks the routers (default both).
    let routers: Vec<Kind> = std::env::var("ROUTERS")
        .unwrap_or_else(|_| "frr,gobgpd".into())
        .split(',')
        .filter_map(|r| match r.trim() {
            "frr" => Some(Kind::Frr),
            "gobgpd" => Some(Kind::GoBgp),
            _ => None,
        })
        .collect();
    let binary = gracewire_e2e::gracewire::build(true);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "{cores} cores; FRR 8.4 bgpd and gobgpd 3.10 as the router; a rolling update of N speakers, one at a time"
    );
    println!(
        "{:<7} {:>4} {:>4} {:>8} {:>12} {:>11} {:>11} {:>14} {:>9} {:>8} {:>14}",
        "router",
        "N",
        "GR",
        "VIP min",
        "polls < N",
        "paths gone",
        "UPDATEs in",
        "VIP best/runs",
        "CPU",
        "roll",
        "start->EoR ms"
    );
    for &kind in &routers {
        for &n in &counts {
            assert!(n <= 240, "one /24 of loopback addresses per run");
            for gr in [true, false] {
                let r = roll(kind, n, gr, &binary);
                let mut eor = r.eor_ms.clone();
                eor.sort_unstable();
                let selections = match kind {
                    Kind::Frr => format!("{}/{}", r.best_changes, r.selections),
                    Kind::GoBgp => "-".into(),
                };
                println!(
                    "{:<7} {n:>4} {:>4} {:>8} {:>6}/{:<5} {:>11} {:>11} {:>14} {:>8.2}s {:>7.1}s {:>6} (max {})",
                    match kind {
                        Kind::Frr => "frr",
                        Kind::GoBgp => "gobgpd",
                    },
                    if gr { "on" } else { "off" },
                    r.min_paths,
                    r.polls_below,
                    r.polls,
                    r.removed,
                    r.updates,
                    selections,
                    r.cpu.as_secs_f64(),
                    r.took.as_secs_f64(),
                    eor[eor.len() / 2],
                    eor[eor.len() - 1],
                );
            }
        }
    }
}
