//! Graceful Restart against real peers (RFC 4724, RFC 8538): gracewire restarting (SIGTERM and
//! SIGKILL) never makes a peer lose a route; a peer restarting finds gracewire a correct helper.
//! Per-restart figures are printed (run with `--nocapture` to see them).

use gracewire_e2e::bird::Bird;
use gracewire_e2e::frr::Frr;
use gracewire_e2e::gobgp::GoBgp;
use gracewire_e2e::{wait_for, Gracewire, Lab, PeerRoute, PeerSpec, Router};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SUITE: u8 = 23;
const GW_ASN: u32 = 64512;
const T: Duration = Duration::from_secs(30);
const OURS: [&str; 2] = ["198.51.100.10/32", "2001:db8:100::/64"];

fn config(spec: &PeerSpec, restart_time: u16, extra_global: &str) -> String {
    format!(
        r#"[global]
asn = {GW_ASN}
router_id = "{gw}"
listen = "{gw}:179"
state_dir = "{{state_dir}}"
restart_time = {restart_time}
stale_path_time = 30
{extra_global}

[[peers]]
name = "peer"
address = "{peer}"
asn = {asn}
local_address = "{gw}"
hold_time = 9
connect_retry = 1

[[announce]]
prefix = "198.51.100.10/32"
next_hop = "192.0.2.1"
communities = ["64512:100"]

[[announce]]
prefix = "2001:db8:100::/64"
next_hop = "2001:db8::1"
"#,
        gw = spec.gracewire_addr,
        peer = spec.addr,
        asn = spec.asn,
    )
}

fn spec(lab: &Lab, asn: u32) -> PeerSpec {
    let mut s = lab.spec(2, asn, GW_ASN);
    s.originate = vec![
        ("203.0.113.0/24".into(), "192.0.2.2".into()),
        ("2001:db8:200::/48".into(), "2001:db8::2".into()),
    ];
    s
}

fn ours(routes: &[PeerRoute]) -> Vec<&PeerRoute> {
    routes
        .iter()
        .filter(|r| OURS.contains(&r.prefix.as_str()))
        .collect()
}

fn up(router: &mut dyn Router, lab: &Lab, restart_time: u16) -> Gracewire {
    router.start();
    let gw = Gracewire::start(lab, &config(router.spec(), restart_time, ""));
    gw.wait_established("peer", T);
    wait_for("peer has both routes, not stale", T, || {
        let r = router.routes();
        let o = ours(&r);
        (o.len() == 2 && o.iter().all(|r| !r.stale)).then_some(())
    });
    gw
}

struct Sample {
    at: Instant,
    present: usize,
    stale: usize,
}

/// Restarts gracewire `rounds` times with `signal` while another thread polls the peer every
/// 100 ms. Asserts: our routes never missing, stale during each gap, fresh after each restart.
fn restart_loop(router: &mut dyn Router, lab: &Lab, signal: &str, rounds: usize) {
    let kind = router.kind();
    let mut gw = up(router, lab, 120);
    let samples = Mutex::new(Vec::<Sample>::new());
    let done = AtomicBool::new(false);
    let mut gaps = Vec::new();
    let router: &dyn Router = router;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                let routes = router.routes();
                let o = ours(&routes);
                let stale = o.iter().filter(|r| r.stale).count();
                samples.lock().unwrap().push(Sample {
                    at: Instant::now(),
                    present: o.len(),
                    stale,
                });
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        for round in 0..rounds {
            let stopped = Instant::now();
            gw.process.stop(signal, Duration::from_secs(10));
            // A rolling update takes a moment: the gap is long enough to be seen.
            std::thread::sleep(Duration::from_millis(700));
            let started = Instant::now();
            gw.restart();
            let fresh = wait_for(
                &format!("{kind}: routes fresh after restart {round}"),
                T,
                || {
                    let s = samples.lock().unwrap();
                    s.iter()
                        .find(|s| s.at > started && s.present == 2 && s.stale == 0)
                        .map(|s| s.at)
                },
            );
            gaps.push((stopped, started, fresh));
        }
        done.store(true, Ordering::SeqCst);
    });
    let samples = samples.into_inner().unwrap();
    let missing: Vec<_> = samples.iter().filter(|s| s.present < 2).collect();
    assert!(
        missing.is_empty(),
        "{kind}: routes missing at the peer in {} of {} samples",
        missing.len(),
        samples.len()
    );
    println!("{kind} {signal}: {} samples, 0 missing", samples.len());
    println!("round | gap (stop->start) | start->routes fresh at peer | stale seen in gap");
    for (i, (stopped, started, fresh)) in gaps.iter().enumerate() {
        let stale_seen = samples
            .iter()
            .any(|s| s.at >= *stopped && s.at <= *fresh && s.stale == 2);
        println!(
            "{i:5} | {:17?} | {:27?} | {stale_seen}",
            started.duration_since(*stopped),
            fresh.duration_since(*started)
        );
        assert!(stale_seen, "{kind}: routes not marked stale during gap {i}");
    }
    let log = gw.process.log_text();
    let eor: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("End-of-RIB sent"))
        .collect();
    assert_eq!(eor.len(), rounds + 1, "{kind}: one End-of-RIB per start");
    assert!(
        log.contains("this start is a graceful restart"),
        "{kind}: restart recognised"
    );
    for line in eor {
        if let Some(ms) = line.split("since_start_ms=").nth(1) {
            println!(
                "{kind}: End-of-RIB sent {} ms after process start",
                ms.split_whitespace().next().unwrap_or("?")
            );
        }
    }
}

#[test]
fn frr_keeps_routes_across_ten_sigterm_restarts() {
    let lab = Lab::new(SUITE);
    restart_loop(&mut Frr::new(&lab, spec(&lab, 65002)), &lab, "TERM", 10);
}

#[test]
fn frr_keeps_routes_across_ten_sigkill_restarts() {
    let lab = Lab::new(SUITE);
    restart_loop(&mut Frr::new(&lab, spec(&lab, 65002)), &lab, "KILL", 10);
}

#[test]
fn gobgp_keeps_routes_across_ten_sigterm_restarts() {
    let lab = Lab::new(SUITE);
    restart_loop(&mut GoBgp::new(&lab, spec(&lab, 65001)), &lab, "TERM", 10);
}

#[test]
fn gobgp_keeps_routes_across_ten_sigkill_restarts() {
    let lab = Lab::new(SUITE);
    restart_loop(&mut GoBgp::new(&lab, spec(&lab, 65001)), &lab, "KILL", 10);
}

#[test]
fn bird_keeps_routes_across_ten_sigterm_restarts() {
    let lab = Lab::new(SUITE);
    restart_loop(&mut Bird::new(&lab, spec(&lab, 65003)), &lab, "TERM", 10);
}

#[test]
fn bird_keeps_routes_across_ten_sigkill_restarts() {
    let lab = Lab::new(SUITE);
    restart_loop(&mut Bird::new(&lab, spec(&lab, 65003)), &lab, "KILL", 10);
}
