//! Health checks against real peers (issue 26): a service that dies is withdrawn from FRR
//! within `fall × interval` + 100 ms while the node stays up, comes back after `rise` passes,
//! and a service that flaps does not flap the route.

use gracewire_e2e::backend::Backend;
use gracewire_e2e::bird::Bird;
use gracewire_e2e::frr::Frr;
use gracewire_e2e::gracewire::binary;
use gracewire_e2e::raw::{open_with, RawPeer};
use gracewire_e2e::{quoted, wait_for, Gracewire, GwConfig, Lab, Router};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SUITE: u8 = 49;
const T: Duration = Duration::from_secs(30);
const VIP: &str = "198.51.100.10/32";
const OTHER: &str = "198.51.100.11/32";
const INTERVAL_MS: u64 = 100;
const FALL: u64 = 3;

/// gracewire with FRR (AS 65002) at host 2, `VIP` gated by a tcp check of `backend`, `OTHER`
/// not gated; `extra`: more peers.
fn config(lab: &Lab, backend: SocketAddr, extra: impl FnOnce(GwConfig) -> GwConfig) -> String {
    let c = GwConfig::new(lab.addr(1)).peer("frr", lab.addr(2), 65002);
    config_with(c, backend, extra)
}

/// `peers` (a config of the peers) with `VIP` and `OTHER` as [`config`] has them.
fn config_with(
    peers: GwConfig,
    backend: SocketAddr,
    extra: impl FnOnce(GwConfig) -> GwConfig,
) -> String {
    // FRR refuses a loopback next hop (3/8); the documentation address goes through.
    let gw = "192.0.2.1";
    extra(peers)
        .text(&format!(
            "[[announce]]\nprefix = \"{VIP}\"\nnext_hop = \"{gw}\"\nhealth = \"svc\"\n\n\
             [[announce]]\nprefix = \"{OTHER}\"\nnext_hop = \"{gw}\"\n\n\
             [health_checks.svc]\nkind = \"tcp\"\naddress = {}\n\
             interval_ms = {INTERVAL_MS}\ntimeout_ms = 50\nrise = 3\nfall = {FALL}\n",
            quoted(backend)
        ))
        .to_string()
}

fn frr_has(frr: &Frr, prefix: &str) -> bool {
    has(frr, prefix)
}

fn has(router: &dyn Router, prefix: &str) -> bool {
    router.routes().iter().any(|r| r.prefix == prefix)
}

/// The withdrawn routes of an UPDATE body, as IPv4 prefixes.
fn withdrawn(body: &[u8]) -> Vec<String> {
    let len = u16::from_be_bytes([body[0], body[1]]) as usize;
    let mut out = Vec::new();
    let mut w = &body[2..2 + len];
    while let Some((&bits, rest)) = w.split_first() {
        let n = (bits as usize).div_ceil(8);
        let mut octets = [0u8; 4];
        octets[..n].copy_from_slice(&rest[..n]);
        out.push(format!("{}/{bits}", Ipv4Addr::from(octets)));
        w = &rest[n..];
    }
    out
}

#[test]
fn a_dead_service_is_withdrawn_within_fall_intervals_and_returns_after_rise() {
    let lab = Lab::new(SUITE);
    let backend_addr: SocketAddr = (lab.addr(10), 8080).into();
    let backend = Backend::open(backend_addr);
    let mut frr = Frr::new(&lab, lab.spec(2, 65002, 64512));
    frr.start();
    let raw = RawPeer::listen(lab.addr(3));
    let config = config(&lab, backend_addr, |c| {
        c.peer("raw", lab.addr(3), 65001)
            .set("graceful_restart", false)
    });
    let gw = Gracewire::start(&lab, &config);
    // Hold time 0: the raw peer sends no KEEPALIVEs and needs none.
    let mut s = raw.accept_with(&open_with(65001, Ipv4Addr::new(192, 0, 2, 3), 0, false));
    gw.wait_established("frr", T);
    wait_for("the VIP at FRR once its check rose", T, || {
        (frr_has(&frr, VIP) && frr_has(&frr, OTHER)).then_some(())
    });
    let health = gw.show_health();
    assert_eq!(health[0]["status"], "up", "{health}");
    assert_eq!(health[0]["serves"], 1);
    // Drain what the raw peer was sent so far.
    while s.read_message(Duration::from_millis(300)).is_some() {}

    drop(backend);
    let killed = Instant::now();
    let body = s.expect(2, T).expect("an UPDATE withdrawing the VIP");
    let to_raw = killed.elapsed();
    assert_eq!(withdrawn(&body), [VIP], "only the VIP");
    wait_for("the VIP gone at FRR", T, || {
        (!frr_has(&frr, VIP)).then_some(())
    });
    let to_frr = killed.elapsed();
    println!("service killed: withdrawal sent after {to_raw:?}, gone at FRR after {to_frr:?}");
    let bound = Duration::from_millis(FALL * INTERVAL_MS + 100);
    assert!(
        to_raw <= bound,
        "withdrawn after {to_raw:?}, bound {bound:?}"
    );
    assert!(frr_has(&frr, OTHER), "the route without a check stays");
    assert!(frr.established(), "the session is not touched");
    let health = gw.show_health();
    assert_eq!(health[0]["status"], "down");
    assert!(
        health[0]["error"].as_str().unwrap().contains("connect"),
        "{health}"
    );
    let table = Command::new(binary())
        .args(["health", "--socket"])
        .arg(&gw.socket)
        .output()
        .unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("CHECK") && header.contains("ERROR"),
        "{table}"
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row[..3], ["svc", "tcp", "down"], "{table}");
    assert!(row.contains(&"connect"), "{table}");
    let advertised = Command::new(binary())
        .args(["show", "advertised", "--socket"])
        .arg(&gw.socket)
        .output()
        .unwrap();
    let advertised = String::from_utf8(advertised.stdout).unwrap();
    assert!(
        advertised.contains("1 route held back from every peer by health checks")
            && advertised.contains(&format!("{VIP}  svc down")),
        "{advertised}"
    );

    let backend = Backend::open(backend_addr);
    let back = Instant::now();
    let body = s.expect(2, T).expect("an UPDATE announcing the VIP again");
    let returned = back.elapsed();
    assert!(withdrawn(&body).is_empty());
    wait_for("the VIP back at FRR", T, || {
        frr_has(&frr, VIP).then_some(())
    });
    println!("service back: announced after {returned:?}");
    // rise = 3 passes, the first at most one interval after the backend is back.
    assert!(
        returned >= Duration::from_millis(2 * INTERVAL_MS),
        "{returned:?}"
    );
    assert!(
        returned <= Duration::from_millis(4 * INTERVAL_MS + 100),
        "{returned:?}"
    );

    // Maintenance: set down by hand, the VIP goes although the backend answers; auto again
    // brings it back.
    assert!(health_set(&gw, "down").contains("health check svc set down"));
    let body = s.expect(2, T).expect("an UPDATE withdrawing the VIP");
    assert_eq!(withdrawn(&body), [VIP]);
    assert_eq!(gw.show_health()[0]["forced"], "down");
    health_set(&gw, "auto");
    let body = s.expect(2, T).expect("an UPDATE announcing the VIP again");
    assert!(withdrawn(&body).is_empty());
    drop(backend);
}

#[test]
fn a_flapping_service_sends_at_most_ten_updates_in_two_minutes() {
    let lab = Lab::new(SUITE);
    let backend_addr: SocketAddr = (lab.addr(10), 8081).into();
    let mut frr = Frr::new(&lab, lab.spec(2, 65002, 64512));
    frr.start();
    let gw = Gracewire::start(&lab, &config(&lab, backend_addr, |c| c));
    gw.wait_established("frr", T);
    let listener = Backend::open(backend_addr);
    wait_for("the VIP at FRR", T, || frr_has(&frr, VIP).then_some(()));
    let before = frr.updates_received().unwrap();

    // The backend listens for 500 ms, is gone for 500 ms, and so on, for two minutes.
    let stop = Arc::new(AtomicBool::new(false));
    let flipping = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut listener = Some(listener);
            let started = Instant::now();
            let mut flips = 0;
            while started.elapsed() < Duration::from_secs(120) && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                listener = match listener {
                    Some(l) => {
                        drop(l);
                        None
                    }
                    None => Some(Backend::open(backend_addr)),
                };
                flips += 1;
            }
            flips
        })
    };
    let flips = flipping.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let updates = frr.updates_received().unwrap() - before;
    let changes = gw.show_health()[0]["transitions"].as_u64().unwrap();
    println!("{flips} flips of the backend in 2 minutes: {updates} UPDATEs at FRR, {changes} changes of the check");
    assert!(flips >= 200, "{flips}");
    assert!(updates <= 10, "{updates} UPDATEs");
    assert!(
        updates >= 2,
        "the first flaps are still followed: {updates}"
    );
    assert!(frr.established(), "the session is not touched");
}

/// Runs `restart` `rounds` times while a thread polls FRR every 100 ms; returns how many polls
/// found the VIP missing, of how many.
fn restarts_with_polls(
    gw: &mut Gracewire,
    router: &dyn Router,
    rounds: usize,
    restart: fn(&mut Gracewire),
) -> (usize, usize) {
    let done = AtomicBool::new(false);
    let polls = std::sync::Mutex::new((0, 0));
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                let present = has(router, VIP);
                let mut p = polls.lock().unwrap();
                p.0 += !present as usize;
                p.1 += 1;
                drop(p);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        for _ in 0..rounds {
            restart(gw);
            gw.wait_established(router.kind(), T);
            wait_for("the VIP fresh at FRR", T, || {
                let fresh = router.routes().iter().any(|r| r.prefix == VIP && !r.stale);
                fresh.then_some(())
            });
        }
        done.store(true, Ordering::SeqCst);
    });
    polls.into_inner().unwrap()
}

/// SIGTERM, 700 ms down, a new process.
fn sigterm_restart(gw: &mut Gracewire) {
    gw.process.stop("TERM", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(700));
    gw.restart();
}

#[test]
fn restarts_keep_a_healthy_route_and_withdraw_one_whose_service_died_meanwhile() {
    let lab = Lab::new(SUITE);
    let backend_addr: SocketAddr = (lab.addr(10), 8082).into();
    let backend = Backend::open(backend_addr);
    let mut frr = Frr::new(&lab, lab.spec(2, 65002, 64512));
    frr.start();
    let mut gw = Gracewire::start(&lab, &config(&lab, backend_addr, |c| c));
    gw.wait_established("frr", T);
    wait_for("the VIP at FRR", T, || frr_has(&frr, VIP).then_some(()));

    // The new process goes on from the recorded verdict; it sends FRR its table and
    // End-of-RIB once the check has a first result, so FRR keeps the stale VIP meanwhile
    // instead of dropping it.
    let (missing, polls) = restarts_with_polls(&mut gw, &frr, 10, sigterm_restart);
    println!(
        "10 SIGTERM restarts with a healthy backend: VIP missing in {missing} of {polls} polls"
    );
    assert_eq!(missing, 0, "of {polls} polls");
    let (missing, polls) = restarts_with_polls(&mut gw, &frr, 10, |gw| {
        gw.upgrade();
    });
    println!("10 takeovers with a healthy backend: VIP missing in {missing} of {polls} polls");
    assert_eq!(missing, 0, "of {polls} polls");

    // The backend dies while gracewire is down: the new process withdraws the VIP at the
    // check's first failure (its recorded verdict is old news), and keeps the other route.
    gw.process.stop("TERM", Duration::from_secs(10));
    drop(backend);
    gw.restart();
    let up = Instant::now();
    wait_for("the VIP withdrawn at FRR", T, || {
        (!frr_has(&frr, VIP)).then_some(())
    });
    let took = up.elapsed();
    println!(
        "backend killed during a restart: VIP gone at FRR {took:?} after the new process was up"
    );
    assert!(took <= Duration::from_secs(1), "{took:?}");
    assert!(frr_has(&frr, OTHER));
    let log = gw.process.log_text();
    assert!(log.contains("health check down: withdrawing"), "{log}");

    // Set up by hand, the VIP is announced although the backend is dead; the setting moves
    // with a takeover to the new process, and auto hands the check back to its probes.
    health_set(&gw, "up");
    wait_for("the VIP announced by hand", T, || {
        frr_has(&frr, VIP).then_some(())
    });
    gw.upgrade();
    assert_eq!(
        gw.show_health()[0]["forced"],
        "up",
        "kept across the takeover"
    );
    std::thread::sleep(Duration::from_millis(FALL * INTERVAL_MS + 300));
    assert!(frr_has(&frr, VIP), "still announced after the takeover");
    health_set(&gw, "auto");
    wait_for("the VIP withdrawn again", T, || {
        (!frr_has(&frr, VIP)).then_some(())
    });
}

/// `gracewire health set svc MODE`; returns its message.
fn health_set(gw: &Gracewire, mode: &str) -> String {
    let out = Command::new(binary())
        .args(["health", "set", "svc", mode, "--socket"])
        .arg(&gw.socket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The same against BIRD: the VIP leaves its table when the service dies and returns with it,
/// and SIGTERM restarts with a healthy backend never take it away.
#[test]
fn bird_follows_the_check_and_keeps_the_route_across_restarts() {
    let lab = Lab::new(SUITE);
    let backend_addr: SocketAddr = (lab.addr(10), 8083).into();
    let backend = Backend::open(backend_addr);
    let mut bird = Bird::new(&lab, lab.spec(2, 65003, 64512));
    bird.start();
    let peers = GwConfig::new(lab.addr(1)).peer("bird", lab.addr(2), 65003);
    let mut gw = Gracewire::start(&lab, &config_with(peers, backend_addr, |c| c));
    gw.wait_established("bird", T);
    wait_for("the VIP at BIRD", T, || has(&bird, VIP).then_some(()));

    let killed = Instant::now();
    backend.close();
    wait_for("the VIP gone from BIRD", T, || {
        (!has(&bird, VIP)).then_some(())
    });
    let gone = killed.elapsed();
    let backend = Backend::open(backend_addr);
    let opened = Instant::now();
    wait_for("the VIP back at BIRD", T, || has(&bird, VIP).then_some(()));
    let back = opened.elapsed();
    println!("BIRD: VIP gone {gone:?} after the backend closed, back {back:?} after it opened");
    assert!(gone <= Duration::from_secs(1), "{gone:?}");
    assert!(has(&bird, OTHER), "the ungated route stays");

    let (missing, polls) = restarts_with_polls(&mut gw, &bird, 10, sigterm_restart);
    println!("BIRD: 10 SIGTERM restarts with a healthy backend: VIP missing in {missing} of {polls} polls");
    assert_eq!(missing, 0, "of {polls} polls");
    drop(backend);
}

/// With `when_down = "plugins"`, the VIP stays a candidate while its check is down, labelled
/// `health = "down"`, and the reference announce plugin's rule deprefers it (MED 1000, as
/// ExaBGP's healthcheck does) instead of it being withdrawn; the MED goes once the check is up.
#[test]
fn a_plugin_rule_deprefers_a_dead_service_instead_of_withdrawing_it() {
    let lab = Lab::new(SUITE);
    let backend_addr: SocketAddr = (lab.addr(10), 8084).into();
    let backend = Backend::open(backend_addr);
    let mut frr = Frr::new(&lab, lab.spec(2, 65002, 64512));
    frr.start();
    let plugin = lab.path("announce.wasm");
    let built = gracewire_sdk::testing::build_wasm(&format!(
        "{}/plugins/announce",
        gracewire_e2e::workspace().display()
    ));
    std::fs::copy(built, &plugin).unwrap();
    let rule = "{ name = \"deprefer-down\", labels = { health = \"down\" }, med = 1000 }";
    let text = config(&lab, backend_addr, |c| {
        c.text(&format!(
            "[plugins.announce]\npath = {}\nconfig = {{ rules = [{rule}] }}\n",
            quoted(plugin.display())
        ))
    })
    .replace(
        "health = \"svc\"\n",
        "health = \"svc\"\nwhen_down = \"plugins\"\n",
    );
    let gw = Gracewire::start(&lab, &text);
    gw.wait_established("frr", T);
    let med = |frr: &Frr| {
        frr.routes()
            .into_iter()
            .find(|r| r.prefix == VIP)
            .map(|r| r.med)
    };
    wait_for("the VIP at FRR", T, || {
        (med(&frr) == Some(None)).then_some(())
    });

    backend.close();
    let killed = Instant::now();
    wait_for("the VIP at MED 1000", T, || {
        let now = med(&frr);
        assert!(now.is_some(), "the VIP was withdrawn");
        (now == Some(Some(1000))).then_some(())
    });
    println!(
        "plugin rule: VIP at MED 1000 at FRR {:?} after the backend closed",
        killed.elapsed()
    );
    let advertised = gw.show("advertised");
    let routes = advertised["routes"].as_array().unwrap();
    let route = routes
        .iter()
        .find(|r| r["prefix"] == VIP)
        .expect("the VIP advertised");
    assert_eq!(
        route["decided_by"][0]["rule"], "deprefer-down",
        "{advertised}"
    );
    assert!(
        advertised["withheld"].as_array().is_some_and(Vec::is_empty),
        "not held back: {advertised}"
    );

    let _backend = Backend::open(backend_addr);
    wait_for("the VIP without MED again", T, || {
        (med(&frr) == Some(None)).then_some(())
    });
    assert!(frr.established(), "one session throughout");
}
