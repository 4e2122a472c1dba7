//! Long-lived Graceful Restart (RFC 9494) against FRR 8.4, gobgpd and BIRD 2.0.12, both roles.
//!
//! - gracewire restarting: down 8 s with a restart time of 3 s and a long-lived stale time of
//!   60 s. Each router keeps our routes throughout (polled every 100 ms), marks them LLGR_STALE
//!   once the restart time has passed, and has them fresh again after we are back. Without LLGR
//!   the same outage withdraws them (`graceful_restart.rs` shows FRR doing so).
//! - gracewire helping: the router goes down past its restart time; gracewire keeps its routes
//!   with LLGR_STALE and takes them fresh when it returns.

use gracewire_e2e::bird::Bird;
use gracewire_e2e::frr::Frr;
use gracewire_e2e::gobgp::GoBgp;
use gracewire_e2e::{wait_for, Gracewire, Lab, PeerSpec, Router};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SUITE: u8 = 40;
const GW_ASN: u32 = 64512;
const T: Duration = Duration::from_secs(30);
const VIP: &str = "198.51.100.10/32";
const LLGR_STALE: &str = "65535:6";

fn config(spec: &PeerSpec) -> String {
    format!(
        r#"[global]
asn = {GW_ASN}
router_id = "{gw}"
listen = "{gw}:179"
state_dir = "{{state_dir}}"
restart_time = 3
long_lived_stale_time = 60

[[peers]]
name = "peer"
address = "{peer}"
asn = {asn}
local_address = "{gw}"
hold_time = 9
connect_retry = 1

[[announce]]
prefix = "{VIP}"
next_hop = "192.0.2.1"
"#,
        gw = spec.gracewire_addr,
        peer = spec.addr,
        asn = spec.asn,
    )
}

fn router_spec(lab: &Lab, asn: u32) -> PeerSpec {
    let mut s = lab.spec(2, asn, GW_ASN);
    s.restart_time = 3;
    s.long_lived_stale_time = Some(60);
    s.originate = vec![("203.0.113.0/24".into(), "192.0.2.2".into())];
    s
}

/// Our VIP at the router: (present, carries LLGR_STALE).
fn vip(router: &dyn Router) -> (bool, bool) {
    router
        .routes()
        .iter()
        .find(|r| r.prefix == VIP)
        .map_or((false, false), |r| {
            (true, r.communities.iter().any(|c| c == LLGR_STALE))
        })
}

/// gracewire stopped (`signal`) for 8 s, past its 3 s restart time; returns how long after the
/// stop the router first showed LLGR_STALE.
fn down_past_the_restart_time(router: &mut dyn Router, lab: &Lab, signal: &str) -> Duration {
    let kind = router.kind();
    router.start();
    let mut gw = Gracewire::start(lab, &config(router.spec()));
    gw.wait_established("peer", T);
    let peer_ll = &gw.neighbor("peer")["session"]["peer_graceful_restart"]["long_lived"];
    println!("{kind}: its LLGR capability as gracewire saw it: {peer_ll}");
    wait_for(&format!("{kind}: the VIP, fresh"), T, || {
        (vip(router) == (true, false)).then_some(())
    });

    let (polls, missing) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let (done, first_llgr) = (AtomicBool::new(false), std::sync::Mutex::new(None));
    let stopped = Instant::now();
    let router: &dyn Router = router;
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                polls.fetch_add(1, Ordering::SeqCst);
                match vip(router) {
                    (false, _) => {
                        missing.fetch_add(1, Ordering::SeqCst);
                    }
                    (true, true) => {
                        first_llgr.lock().unwrap().get_or_insert(stopped.elapsed());
                    }
                    (true, false) => {}
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        gw.process.stop(signal, Duration::from_secs(10));
        std::thread::sleep(Duration::from_secs(8));
        gw.restart();
        gw.wait_established("peer", T);
        wait_for(&format!("{kind}: the VIP fresh again"), T, || {
            (vip(router) == (true, false)).then_some(())
        });
        done.store(true, Ordering::SeqCst);
    });
    let (polls, missing) = (polls.into_inner(), missing.into_inner());
    let first = first_llgr.into_inner().unwrap();
    println!("{kind} {signal}: down 8 s (restart time 3 s, long-lived 60 s): the VIP missing in {missing} of {polls} polls; LLGR_STALE from {first:?} after the stop");
    assert_eq!(missing, 0, "{kind}: the VIP was withdrawn");
    let first = first.unwrap_or_else(|| panic!("{kind}: never marked LLGR_STALE"));
    assert!(
        first >= Duration::from_secs(2),
        "{kind}: LLGR_STALE before the restart time ran out: {first:?}"
    );
    let log = gw.process.log_text();
    if !log.contains("this start is a graceful restart") {
        println!("{log}");
    }
    assert!(
        log.contains("this start is a graceful restart"),
        "{kind}: 8 s down is within the restart and long-lived times: still a restart"
    );
    first
}

#[test]
fn frr_keeps_our_routes_llgr_stale_past_the_restart_time() {
    let lab = Lab::new(SUITE);
    let mut frr = Frr::new(&lab, router_spec(&lab, 65002));
    down_past_the_restart_time(&mut frr, &lab, "TERM");
}

#[test]
fn gobgp_keeps_our_routes_llgr_stale_past_the_restart_time() {
    let lab = Lab::new(SUITE);
    let mut gobgp = GoBgp::new(&lab, router_spec(&lab, 65001));
    down_past_the_restart_time(&mut gobgp, &lab, "KILL");
}

#[test]
fn bird_keeps_our_routes_llgr_stale_past_the_restart_time() {
    let lab = Lab::new(SUITE);
    let mut bird = Bird::new(&lab, router_spec(&lab, 65003));
    down_past_the_restart_time(&mut bird, &lab, "TERM");
}

/// The router stays down past its restart time: gracewire keeps its route as LLGR_STALE, and
/// takes it fresh when the router is back.
fn helper_past_the_restart_time(router: &mut dyn Router, lab: &Lab) {
    let kind = router.kind();
    router.start();
    let gw = Gracewire::start(lab, &config(router.spec()));
    gw.wait_established("peer", T);
    let learned = |gw: &Gracewire| {
        gw.received("peer")
            .into_iter()
            .find(|r| r["prefix"] == "203.0.113.0/24")
    };
    wait_for(&format!("{kind}: gracewire learns its route"), T, || {
        learned(&gw)
    });
    router.kill();
    let killed = Instant::now();
    let r = wait_for(&format!("{kind}: its route LLGR_STALE"), T, || {
        learned(&gw).filter(|r| r["communities"].to_string().contains(LLGR_STALE))
    });
    let after = killed.elapsed();
    println!(
        "{kind}: down; gracewire keeps its route LLGR_STALE from {after:?} (restart time 3 s): {r}"
    );
    assert!(after >= Duration::from_secs(2), "{after:?}");
    assert_eq!(r["stale"], true);
    assert_eq!(gw.neighbor("peer")["long_lived_stale"], true);
    std::thread::sleep(Duration::from_secs(3));
    assert!(learned(&gw).is_some(), "{kind}: still kept");
    router.start();
    wait_for(&format!("{kind}: refreshed"), T, || {
        learned(&gw)
            .filter(|r| r["stale"] == false && !r["communities"].to_string().contains(LLGR_STALE))
    });
    assert_eq!(gw.neighbor("peer")["long_lived_stale"], false);
}

#[test]
fn helper_for_frr_past_its_restart_time() {
    let lab = Lab::new(SUITE);
    helper_past_the_restart_time(&mut Frr::new(&lab, router_spec(&lab, 65002)), &lab);
}

#[test]
fn helper_for_gobgp_past_its_restart_time() {
    let lab = Lab::new(SUITE);
    helper_past_the_restart_time(&mut GoBgp::new(&lab, router_spec(&lab, 65001)), &lab);
}

#[test]
fn helper_for_bird_past_its_restart_time() {
    let lab = Lab::new(SUITE);
    helper_past_the_restart_time(&mut Bird::new(&lab, router_spec(&lab, 65003)), &lab);
}
