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
    up_with(router, lab, restart_time, "")
}

fn up_with(router: &mut dyn Router, lab: &Lab, restart_time: u16, global: &str) -> Gracewire {
    router.start();
    let gw = Gracewire::start(lab, &config(router.spec(), restart_time, global));
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

/// gracewire down longer than its restart time: the peer's timer runs out and it withdraws.
#[test]
fn frr_withdraws_when_gracewire_stays_down_past_the_restart_time() {
    let lab = Lab::new(SUITE);
    let mut router = Frr::new(&lab, spec(&lab, 65002));
    let mut gw = up(&mut router, &lab, 4);
    let killed = Instant::now();
    gw.process.stop("KILL", Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        ours(&router.routes()).len(),
        2,
        "kept within the restart time"
    );
    wait_for("FRR withdraws after the restart time", T, || {
        ours(&router.routes()).is_empty().then_some(())
    });
    let after = killed.elapsed();
    println!("frr dropped our routes {after:?} after the kill (restart time 4 s)");
    assert!(
        after >= Duration::from_secs(3),
        "withdrawn too early: {after:?}"
    );
}

fn gw_route(gw: &Gracewire, prefix: &str) -> Option<serde_json::Value> {
    gw.received("peer")
        .into_iter()
        .find(|r| r["prefix"] == prefix)
}

/// The peer restarts gracefully, and no longer has one of its routes when it comes back:
/// gracewire keeps everything stale meanwhile, refreshes what comes back, and drops the rest on
/// the peer's End-of-RIB.
fn helper_refresh(router: &mut dyn Router, lab: &Lab) {
    let kind = router.kind();
    router
        .spec_mut()
        .originate
        .push(("203.0.114.0/24".into(), "192.0.2.2".into()));
    let gw = up(router, lab, 120);
    for p in ["203.0.113.0/24", "203.0.114.0/24", "2001:db8:200::/48"] {
        wait_for(&format!("{kind}: gracewire learns {p}"), T, || {
            gw_route(&gw, p)
        });
    }
    router.kill();
    let stale = wait_for(&format!("{kind}: routes stale"), T, || {
        let r = gw.received("peer");
        (r.len() == 3 && r.iter().all(|r| r["stale"] == true)).then_some(r)
    });
    assert_eq!(stale.len(), 3);
    let n = gw.neighbor("peer");
    assert_eq!(
        n["stale_families"].as_array().unwrap().len(),
        2,
        "{kind}: both families: {n}"
    );
    router
        .spec_mut()
        .originate
        .retain(|(p, _)| p != "203.0.114.0/24");
    router.start();
    wait_for(
        &format!("{kind}: refreshed after its End-of-RIB"),
        T,
        || {
            let r = gw.received("peer");
            let fresh = |p: &str| r.iter().any(|x| x["prefix"] == p && x["stale"] == false);
            (fresh("203.0.113.0/24") && fresh("2001:db8:200::/48") && r.len() == 2).then_some(())
        },
    );
    assert!(
        gw_route(&gw, "203.0.114.0/24").is_none(),
        "{kind}: route the peer no longer has is gone"
    );
    let log = gw.process.log_text();
    assert!(
        log.contains("stale routes the peer did not refresh dropped"),
        "{kind}: swept on End-of-RIB"
    );
    assert!(gw.neighbor("peer")["stale_families"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn helper_for_frr() {
    let lab = Lab::new(SUITE);
    helper_refresh(&mut Frr::new(&lab, spec(&lab, 65002)), &lab);
}

#[test]
fn helper_for_gobgp() {
    let lab = Lab::new(SUITE);
    helper_refresh(&mut GoBgp::new(&lab, spec(&lab, 65001)), &lab);
}

#[test]
fn helper_for_bird() {
    let lab = Lab::new(SUITE);
    helper_refresh(&mut Bird::new(&lab, spec(&lab, 65003)), &lab);
}

/// The peer comes back without what GR needs: stale routes are dropped at once, not kept until
/// an End-of-RIB.
fn helper_flush_on_return(router: &mut dyn Router, lab: &Lab, change: impl FnOnce(&mut PeerSpec)) {
    let kind = router.kind();
    let gw = up(router, lab, 120);
    wait_for(&format!("{kind}: gracewire learns its routes"), T, || {
        (gw.received("peer").len() == 2).then_some(())
    });
    router.kill();
    wait_for(&format!("{kind}: routes stale"), T, || {
        gw.received("peer")
            .iter()
            .all(|r| r["stale"] == true)
            .then_some(())
    });
    change(router.spec_mut());
    router.spec_mut().originate.clear(); // nothing to re-announce: only a flush can clear them
    router.start();
    wait_for(&format!("{kind}: stale routes dropped at once"), T, || {
        gw.received("peer").is_empty().then_some(())
    });
    assert!(
        gw.process
            .log_text()
            .contains("stale routes dropped at once"),
        "{kind}: dropped at re-establishment, not by a timer"
    );
}

#[test]
fn frr_returning_without_graceful_restart_flushes_stale_routes() {
    let lab = Lab::new(SUITE);
    helper_flush_on_return(&mut Frr::new(&lab, spec(&lab, 65002)), &lab, |s| {
        s.graceful_restart = false
    });
}

#[test]
fn frr_returning_with_f_bit_clear_flushes_stale_routes() {
    let lab = Lab::new(SUITE);
    helper_flush_on_return(&mut Frr::new(&lab, spec(&lab, 65002)), &lab, |s| {
        s.forwarding_preserved = false
    });
}

#[test]
fn bird_returning_with_f_bit_clear_flushes_stale_routes() {
    let lab = Lab::new(SUITE);
    helper_flush_on_return(&mut Bird::new(&lab, spec(&lab, 65003)), &lab, |s| {
        s.forwarding_preserved = false
    });
}

#[test]
fn gobgp_returning_without_graceful_restart_flushes_stale_routes() {
    let lab = Lab::new(SUITE);
    helper_flush_on_return(&mut GoBgp::new(&lab, spec(&lab, 65001)), &lab, |s| {
        s.graceful_restart = false
    });
}

/// `clear bgp` in FRR with the N bit negotiated: a Hard Reset flushes at once; an
/// Administrative Reset (FRR's default for `clear bgp`) is graceful and keeps routes stale.
#[test]
fn frr_hard_reset_flushes_and_soft_reset_keeps() {
    let lab = Lab::new(SUITE);
    let mut s = spec(&lab, 65002);
    s.hard_admin_reset = true;
    let mut router = Frr::new(&lab, s);
    let gw = up(&mut router, &lab, 120);
    wait_for("routes learned", T, || {
        (gw.received("peer").len() == 2).then_some(())
    });
    router.clear().expect("clear bgp");
    wait_for("Hard Reset flushes", T, || {
        gw.received("peer").is_empty().then_some(())
    });
    let n = gw.neighbor("peer");
    assert!(
        n["last_error"].as_str().unwrap().contains("(6/9)"),
        "Cease/Hard Reset received: {n}"
    );
    assert!(n["stale_families"].as_array().unwrap().is_empty());
    gw.wait_established("peer", T);
    wait_for("routes back", T, || {
        (gw.received("peer").len() == 2).then_some(())
    });

    // Now without hard-administrative-reset: the same command is a graceful restart for us.
    drop(router);
    drop(gw);
    let lab2 = Lab::new(SUITE);
    let mut router = Frr::new(&lab2, spec(&lab2, 65002));
    let gw = up(&mut router, &lab2, 120);
    wait_for("routes learned", T, || {
        (gw.received("peer").len() == 2).then_some(())
    });
    router.clear().expect("clear bgp");
    wait_for("soft reset: kept stale or refreshed", T, || {
        let log = gw.process.log_text();
        log.contains("keeping its routes as stale").then_some(())
    });
    assert_eq!(gw.received("peer").len(), 2, "nothing flushed");
}

/// How a drain is started: `gracewire drain --wait 3`, or SIGUSR1 with `drain_wait = 3`.
enum DrainBy {
    Command,
    Signal,
}

/// Drain (RFC 8326): GRACEFUL_SHUTDOWN on every route, then withdrawals after the wait; the
/// session stays up.
fn drain(router: &mut dyn Router, lab: &Lab, by: DrainBy) {
    let kind = router.kind();
    let gw = up_with(router, lab, 120, "drain_wait = 3");
    let started = Instant::now();
    let out = match by {
        DrainBy::Command => Some(
            std::process::Command::new(gracewire_e2e::gracewire::binary())
                .args(["drain", "--wait", "3", "--socket"])
                .arg(&gw.socket)
                .spawn()
                .unwrap(),
        ),
        DrainBy::Signal => {
            gw.process.signal("USR1");
            None
        }
    };
    let ibgp = router.spec().asn == GW_ASN;
    let drained = wait_for(&format!("{kind}: 65535:0 on every route"), T, || {
        let r = router.routes();
        let all = ours(&r).len() == 2
            && ours(&r)
                .iter()
                .all(|r| r.communities.iter().any(|c| c == "65535:0"));
        all.then_some(r)
    });
    for r in ours(&drained) {
        if ibgp {
            assert_eq!(
                r.local_pref,
                Some(0),
                "{kind}: LOCAL_PREF 0 over iBGP while draining: {r:?}"
            );
        }
        assert!(
            r.prefix != "198.51.100.10/32" || r.communities.contains(&"64512:100".to_string()),
            "own communities kept: {r:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{kind}: shutdown community came before the wait ended"
    );
    wait_for(&format!("{kind}: withdrawn after the wait"), T, || {
        ours(&router.routes()).is_empty().then_some(())
    });
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(2900),
        "{kind}: withdrawn after {waited:?}, before the wait"
    );
    if let Some(out) = out {
        let status = out.wait_with_output().unwrap().status;
        assert!(status.success(), "gracewire drain returns once withdrawn");
    } else {
        assert!(gw.process.log_text().contains("SIGUSR1 received: draining"));
    }
    assert!(
        router.established(),
        "{kind}: session kept through the drain"
    );
}

#[test]
fn drain_frr() {
    let lab = Lab::new(SUITE);
    drain(
        &mut Frr::new(&lab, spec(&lab, 65002)),
        &lab,
        DrainBy::Command,
    );
}

/// SIGUSR1 (a preStop hook's way) drains with the configured `drain_wait`.
#[test]
fn drain_by_sigusr1_at_gobgp_ibgp_sets_local_pref_zero() {
    let lab = Lab::new(SUITE);
    let mut router = GoBgp::new(&lab, spec(&lab, GW_ASN));
    drain(&mut router, &lab, DrainBy::Signal);
}

/// A new restart time (GR settings) is applied without resetting the session, and reaches the
/// peer with the next OPEN.
#[test]
fn gr_settings_change_at_the_next_open_without_a_reset() {
    let lab = Lab::new(SUITE);
    let mut router = Frr::new(&lab, spec(&lab, 65002));
    let gw = up(&mut router, &lab, 120);
    let received = |r: &Frr| {
        r.neighbor_json()["gracefulRestartInfo"]["timers"]["receivedRestartTimer"].as_u64()
    };
    assert_eq!(received(&router), Some(120));
    let uptime = gw.neighbor("peer")["uptime_secs"].as_u64().unwrap();
    gw.reload(&config(router.spec(), 90, ""), &lab);
    wait_for("reload logged", T, || {
        gw.process
            .log_text()
            .contains("take effect at the next OPEN, the session is not reset")
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        gw.neighbor("peer")["uptime_secs"].as_u64().unwrap() >= uptime,
        "same session"
    );
    assert_eq!(
        received(&router),
        Some(120),
        "the running session keeps the old value"
    );
    reset(&gw);
    wait_for("new OPEN carries 90 s", T, || {
        (received(&router) == Some(90) && router.established()).then_some(())
    });
}

/// Decommission is not a restart: a peer removed from the config is told with a Hard Reset
/// (N negotiated), so it drops our routes at once instead of keeping them stale.
#[test]
fn removing_a_peer_from_the_config_withdraws_at_once() {
    let lab = Lab::new(SUITE);
    let mut router = Frr::new(&lab, spec(&lab, 65002));
    let gw = up(&mut router, &lab, 120);
    let without_peer: String = config(router.spec(), 120, "")
        .split("[[peers]]")
        .next()
        .unwrap()
        .to_string();
    gw.reload(&without_peer, &lab);
    wait_for(
        "FRR drops our routes at once",
        Duration::from_secs(5),
        || ours(&router.routes()).is_empty().then_some(()),
    );
    let n = router.neighbor_json();
    let last = n["lastNotificationReason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    println!("FRR: last notification {last:?}, state {}", n["bgpState"]);
    assert_ne!(n["bgpState"], "Established");
    assert!(!n.to_string().contains("Stale"), "nothing kept stale: {n}");
}

/// The `since_start_ms=` of every log line containing `what`.
fn since_start_ms(log: &str, what: &str) -> Vec<u64> {
    log.lines()
        .filter(|l| l.contains(what))
        .filter_map(|l| l.split("since_start_ms=").nth(1))
        .filter_map(|v| v.split_whitespace().next()?.parse().ok())
        .collect()
}

/// After our restart, route selection waits for the GR peers' End-of-RIB (RFC 4724 §4.1) and
/// no longer: FRR's route is best in `show routes` within 2 s of FRR's End-of-RIB, not after
/// the 360 s selection deferral timer.
#[test]
fn frr_route_is_best_within_two_seconds_of_its_end_of_rib_after_a_restart() {
    let lab = Lab::new(SUITE);
    let mut router = Frr::new(&lab, spec(&lab, 65002));
    let mut gw = up(&mut router, &lab, 120);
    wait_for("FRR's route learned and best", T, || {
        gw_route(&gw, "203.0.113.0/24").filter(|r| r["best"] == true)
    });
    gw.process.stop("TERM", Duration::from_secs(10));
    let log_before = gw.process.log_text().len();
    let spawned = Instant::now();
    gw.restart();
    let best_at = wait_for(
        "FRR's route best again (not after the 360 s deferral timer)",
        Duration::from_secs(15),
        || {
            let routes = gw.show("routes");
            let best = routes["routes"].as_array().unwrap().iter().any(|r| {
                r["peer"] == "peer" && r["prefix"] == "203.0.113.0/24" && r["best"] == true
            });
            (best && routes["selection_deferred"] == false && routes["loc_rib_prefixes"] != 0)
                .then(Instant::now)
        },
    );
    let log = gw.process.log_text()[log_before..].to_string();
    assert!(
        log.contains("route selection deferred until End-of-RIB"),
        "{log}"
    );
    let eor = since_start_ms(&log, "End-of-RIB received");
    assert_eq!(eor.len(), 2, "FRR sent End-of-RIB for both families: {log}");
    // The daemon's clock starts after the process: this overstates the delay, never hides it.
    let last_eor = spawned + Duration::from_millis(*eor.iter().max().unwrap());
    let delay = best_at.saturating_duration_since(last_eor);
    println!("FRR's route best {delay:?} after its last End-of-RIB");
    assert!(delay < Duration::from_secs(2), "{delay:?}");
    let over = since_start_ms(&log, "selection deferral over");
    assert_eq!(over.len(), 1, "ended once, by the End-of-RIBs: {log}");
    assert!(log.contains("why=Complete"), "not by the timer");
}

/// FRR's own view of our GR capability (`show bgp neighbors X json`, gracefulRestartInfo).
fn frr_gr(router: &Frr) -> serde_json::Value {
    router.neighbor_json()["gracefulRestartInfo"].clone()
}

/// Waits until FRR's session with us is up again and returns its view of our capability.
fn frr_gr_once_up(router: &Frr) -> serde_json::Value {
    wait_for("FRR Established with our End-of-RIBs", T, || {
        let gr = frr_gr(router);
        let eor = &gr["endOfRibRecv"];
        (router.established() && eor["ipv4Unicast"] == true && eor["ipv6Unicast"] == true)
            .then_some(gr)
    })
}

fn reset(gw: &Gracewire) {
    let out = std::process::Command::new(gracewire_e2e::gracewire::binary())
        .args(["reset", "peer", "--socket"])
        .arg(&gw.socket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What FRR reads in our OPENs (its neighbor JSON: rBit, nBit, per-family fBit,
/// endOfRibRecv): R=1 only in the first OPEN after a restart, not after an ordinary reset nor
/// once the restart window has closed; F per `forwarding_preserved`; End-of-RIB per family.
#[test]
fn frr_sees_r_only_in_the_first_open_after_a_restart_and_our_f_bits() {
    let lab = Lab::new(SUITE);
    let mut router = Frr::new(&lab, spec(&lab, 65002));
    let mut gw = up(&mut router, &lab, 120);
    let fresh = frr_gr_once_up(&router);
    assert_eq!(
        (&fresh["rBit"], &fresh["nBit"]),
        (&false.into(), &true.into()),
        "{fresh}"
    );
    for f in ["ipv4Unicast", "ipv6Unicast"] {
        assert_eq!(fresh[f]["fBit"], true, "{f}: {fresh}");
    }

    gw.process.stop("TERM", Duration::from_secs(10));
    gw.restart();
    let restarted = frr_gr_once_up(&router);
    assert_eq!(
        restarted["rBit"], true,
        "first OPEN after a restart: {restarted}"
    );

    reset(&gw);
    wait_for("FRR sees a new OPEN with R=0", T, || {
        let gr = frr_gr(&router);
        (router.established() && gr["rBit"] == false).then_some(())
    });

    // F=0 from the next OPEN on, once the config says forwarding is not preserved.
    gw.reload(
        &config(router.spec(), 120, "forwarding_preserved = false"),
        &lab,
    );
    wait_for("reload logged", T, || {
        gw.process
            .log_text()
            .contains("config reloaded")
            .then_some(())
    });
    reset(&gw);
    wait_for("FRR sees F=0 for both families", T, || {
        let gr = frr_gr(&router);
        let f = |x: &str| gr[x]["fBit"] == false;
        (router.established() && f("ipv4Unicast") && f("ipv6Unicast")).then_some(())
    });
}

/// gracewire restarts while FRR is down and FRR comes back only after our restart window has
/// closed: that first OPEN is no restart any more (R=0).
#[test]
fn frr_sees_r_zero_once_the_restart_window_has_closed() {
    let lab = Lab::new(SUITE);
    let mut router = Frr::new(&lab, spec(&lab, 65002));
    let mut gw = up(&mut router, &lab, 4);
    router.kill();
    gw.process.stop("TERM", Duration::from_secs(10));
    gw.restart();
    assert!(gw
        .process
        .log_text()
        .contains("this start is a graceful restart"));
    wait_for("the restart window closes", T, || {
        gw.process
            .log_text()
            .contains("restart window closed")
            .then_some(())
    });
    router.start();
    let gr = frr_gr_once_up(&router);
    assert_eq!(gr["rBit"], false, "{gr}");
}
