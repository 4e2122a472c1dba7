//! Churn: does a long-running gracewire keep every attribute set it ever saw? (run as root;
//! loopback addresses only)
//!
//! gracewire announces `ROUTES` prefixes from its config to one peer; the peer announces
//! `ROUTES` prefixes of its own back. Each cycle:
//! - the config is rewritten with a new community on every route (a new attribute set for
//!   each) and a different tenth of the routes left out, then gracewire reloads it (SIGHUP);
//! - the peer re-announces its routes with new AS paths (one new set per ten routes) and
//!   withdraws a different tenth.
//!
//! The cycle ends once the peer has seen gracewire's last UPDATE of it (a sentinel route whose
//! MED is the cycle number) and gracewire has counted every UPDATE the peer sent. gracewire's
//! RSS is read from /proc after each cycle; the table shows it at checkpoints.
//!
//! `cargo run --release -p gracewire-e2e --bin churn-bench -- [CYCLES] [ROUTES] [BINARY]`
//! (defaults 1000 and 10000; BINARY: another gracewire build to measure, e.g. an older one).

use gracewire::wire::{AttrContext, Update};
use gracewire_e2e::raw::{message, update, RawSession};
use gracewire_e2e::{proc_status_kb, wait_for, Lab, Process};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const SUITE: u8 = 30;
const GW_ASN: u32 = 64512;
const PEER_ASN: u32 = 65001;
/// Routes per attribute set on the peer's side.
const PER_SET: usize = 10;

fn our_prefix(i: usize) -> String {
    format!("100.{}.{}.{}/32", 64 + i / 65536, (i / 256) % 256, i % 256)
}

fn config(lab: &Lab, routes: usize, cycle: usize) -> String {
    let me = lab.addr(1);
    let mut c = format!(
        "[global]\nasn = {GW_ASN}\nrouter_id = \"{me}\"\nlisten = \"{me}:179\"\nstate_dir = \"{}\"\n\n\
         [[peers]]\nname = \"churn\"\naddress = \"{}\"\nasn = {PEER_ASN}\npassive = true\n\n",
        lab.path("gw").display(),
        lab.addr(2),
    );
    for i in (0..routes).filter(|i| i % 10 != cycle % 10) {
        let community = (i + cycle * 7919) % 65000 + 1;
        let _ = writeln!(
            c,
            "[[announce]]\nprefix = \"{}\"\nnext_hop = \"192.0.2.1\"\ncommunities = [\"64512:{community}\"]\n",
            our_prefix(i)
        );
    }
    // The sentinel: highest prefix, an attribute set of its own, so its UPDATE comes last.
    let _ = writeln!(
        c,
        "[[announce]]\nprefix = \"203.0.113.255/32\"\nnext_hop = \"192.0.2.1\"\nmed = {cycle}\n"
    );
    c
}

/// The peer's UPDATEs for `cycle`: its routes in sets of ten with a fresh AS path each, a
/// different tenth withdrawn.
fn peer_updates(routes: usize, cycle: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let prefix = |i: usize| [24u8, 10, (i / 256 % 256) as u8, (i % 256) as u8];
    let withdrawn: Vec<u8> = (0..routes)
        .filter(|i| i % 10 == cycle % 10)
        .flat_map(prefix)
        .collect();
    for chunk in withdrawn.chunks(4 * 900) {
        out.push(update(chunk, &[], &[]));
    }
    let kept: Vec<usize> = (0..routes).filter(|i| i % 10 != cycle % 10).collect();
    for (set, group) in kept.chunks(PER_SET).enumerate() {
        let second_as = (cycle * routes / PER_SET + set) as u32 % 4_000_000 + 100_000;
        let mut attrs = vec![0x40, 1, 1, 0, 0x40, 2, 10, 2, 2];
        attrs.extend_from_slice(&PEER_ASN.to_be_bytes());
        attrs.extend_from_slice(&second_as.to_be_bytes());
        attrs.extend_from_slice(&[0x40, 3, 4, 192, 0, 2, 2]);
        let nlri: Vec<u8> = group.iter().flat_map(|i| prefix(*i)).collect();
        out.push(update(&[], &attrs, &nlri));
    }
    out
}

fn show_neighbor(bin: &PathBuf, socket: &PathBuf) -> Option<serde_json::Value> {
    let out = Command::new(bin)
        .args(["show", "neighbors", "--json", "--socket"])
        .arg(socket)
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["peers"].as_array()?.first().cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cycles: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let routes: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let bin = args
        .get(3)
        .map(PathBuf::from)
        .unwrap_or_else(|| gracewire_e2e::gracewire::build(true));
    let lab = Lab::new(SUITE);
    let config_path = lab.path("gracewire.toml");
    std::fs::write(&config_path, config(&lab, routes, 0)).unwrap();
    let socket = lab.path("gw").join("gracewire.sock");
    let mut cmd = Command::new(&bin);
    cmd.args(["run", "--config"])
        .arg(&config_path)
        .env("RUST_LOG", "warn");
    let gw = Process::spawn(&mut cmd, &lab.path("gracewire.log"));
    let pid = gw.pid().unwrap();
    let mut s = wait_for("session with gracewire", Duration::from_secs(20), || {
        RawSession::connect(lab.addr(2), lab.addr(1), PEER_ASN, lab.addr(2))
    });
    let ctx = AttrContext {
        four_octet_as: true,
        external: true,
    };
    let sentinel: ipnet::Ipv4Net = "203.0.113.255/32".parse().unwrap();
    let mut sent = 0u64;
    let mut samples: Vec<(usize, u64)> = Vec::new();
    let started = Instant::now();
    for cycle in 0..=cycles {
        if cycle > 0 {
            std::fs::write(&config_path, config(&lab, routes, cycle)).unwrap();
            gw.signal("HUP");
        }
        s.send(&message(4, &[]));
        for u in peer_updates(routes, cycle) {
            s.send(&u);
            sent += 1;
        }
        // gracewire's last UPDATE of the cycle carries the sentinel with MED = cycle.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                Instant::now() < deadline,
                "cycle {cycle}: no sentinel from gracewire"
            );
            let Some((kind, body)) = s.read_message(Duration::from_secs(5)) else {
                continue;
            };
            if kind != 2 {
                continue;
            }
            let Ok(u) = Update::decode(&body, ctx) else {
                continue;
            };
            if u.nlri.contains(&sentinel) && u.attributes.med == Some(cycle as u32) {
                break;
            }
        }
        wait_for(
            "gracewire took every UPDATE",
            Duration::from_secs(60),
            || {
                let n = show_neighbor(&bin, &socket)?;
                (n["updates_received"].as_u64()? >= sent).then_some(())
            },
        );
        samples.push((cycle, proc_status_kb(pid, "VmRSS:")));
    }
    let took = started.elapsed();
    let mib = |kb: u64| kb as f64 / 1024.0;
    println!(
        "{routes} routes each way, {cycles} cycles of new attributes on every route and a tenth withdrawn, in {:.0} s",
        took.as_secs_f64()
    );
    println!("cycle    gracewire RSS MiB");
    for (cycle, kb) in &samples {
        if [0, 1, 10, 50].contains(cycle) || cycle % 100 == 0 {
            println!("{cycle:5}    {:8.1}", mib(*kb));
        }
    }
    let at = |c: usize| samples.iter().find(|(x, _)| *x == c).map(|(_, kb)| *kb);
    if let (Some(a), Some(b)) = (at(100), at(cycles)) {
        println!(
            "from cycle 100 to {cycles}: {:+.1} MiB ({:+.1}%)",
            mib(b) - mib(a),
            (b as f64 / a as f64 - 1.0) * 100.0
        );
    }
    let n = show_neighbor(&bin, &socket).unwrap_or_default();
    println!(
        "session: {}, UPDATEs received {}, prefixes received {}, advertised {}",
        n["state"], n["updates_received"], n["received"], n["advertised"]
    );
    let max_kb = samples.iter().map(|(_, kb)| *kb).max().unwrap_or(0);
    println!("peak of the samples: {:.1} MiB", mib(max_kb));
    drop(gw);
}
