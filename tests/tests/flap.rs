//! No input from a peer may take the daemon down: a peer that completes the OPEN exchange and
//! at once sends a malformed UPDATE, reconnecting after every NOTIFICATION, hundreds of times,
//! while a real gobgpd session beside it stays up and keeps its routes.

use gracewire_e2e::gobgp::GoBgp;
use gracewire_e2e::raw::{update, RawSession};
use gracewire_e2e::{wait_for, Gracewire, GwConfig, Lab, Router};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const SUITE: u8 = 29;
const T: Duration = Duration::from_secs(30);
const FLAPS: usize = 2000;

#[test]
fn a_peer_flapping_with_malformed_updates_never_touches_the_session_beside_it() {
    let lab = Lab::new(SUITE);
    let mut spec = lab.spec(2, 65001, 64512);
    spec.originate = vec![("203.0.113.0/24".into(), "192.0.2.2".into())];
    let mut gobgp = GoBgp::new(&lab, spec);
    gobgp.start();
    let (gw_addr, raw_addr) = (lab.addr(1), lab.addr(3));
    let config = GwConfig::new(gw_addr)
        .peer("gobgp", lab.addr(2), 65001)
        .raw_peer("flapper", raw_addr, 65003)
        .announce(["198.51.100.10/32"], "192.0.2.1")
        .to_string();
    let mut gw = Gracewire::start(&lab, &config);
    gw.wait_established("gobgp", T);
    wait_for("the real session's route", T, || {
        gw.has_route("gobgp", "203.0.113.0/24").then_some(())
    });
    wait_for("gobgpd has our route", T, || {
        (gobgp.routes().len() == 1).then_some(())
    });
    let up_since =
        Instant::now() - Duration::from_secs(gw.neighbor("gobgp")["uptime_secs"].as_u64().unwrap());

    // NLRI with a prefix length of 33: UPDATE message error 3/10, session reset.
    let malformed = update(
        &[],
        &[
            0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfe, 0x4b, 0x40, 3, 4, 192, 0, 2, 3,
        ],
        &[33, 1, 2, 3, 4, 5],
    );
    let started = Instant::now();
    let mut sessions = 0;
    while sessions < FLAPS {
        let Some(mut s) =
            RawSession::connect(raw_addr, gw_addr, 65003, Ipv4Addr::new(192, 0, 2, 3))
        else {
            // Refused while gracewire's side of the last one is still closing: try again.
            assert_alive(&mut gw, sessions);
            std::thread::sleep(Duration::from_millis(5));
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "flapping stalled"
            );
            continue;
        };
        s.send(&malformed);
        let notification = s.expect(3, Duration::from_secs(5)).expect("NOTIFICATION");
        assert_eq!(notification[..2], [3, 10], "session {sessions}");
        sessions += 1;
    }
    let took = started.elapsed();
    println!("{FLAPS} malformed sessions in {took:?}");
    assert_alive(&mut gw, sessions);
    let n = gw.neighbor("gobgp");
    assert_eq!(n["state"], "Established", "{n}");
    let uptime = Duration::from_secs(n["uptime_secs"].as_u64().unwrap());
    assert!(
        Instant::now() - uptime <= up_since + Duration::from_secs(2),
        "the real session was never reset: {n}"
    );
    assert!(gw.has_route("gobgp", "203.0.113.0/24"));
    assert_eq!(gobgp.routes().len(), 1, "gobgpd still has our route");
    assert!(gobgp.established());
    let log = gw.process.log_text();
    assert!(!log.contains("panicked"), "no panic in the log");
    let flapper = gw.neighbor("flapper");
    assert!(
        flapper["last_error"].as_str().unwrap().contains("(3/10)"),
        "{flapper}"
    );
}

/// Fails with the end of gracewire's log if the process has exited.
fn assert_alive(gw: &mut Gracewire, sessions: usize) {
    let exited = gw
        .process
        .child
        .as_mut()
        .and_then(|c| c.try_wait().ok().flatten());
    if let Some(status) = exited {
        let log = gw.process.log_text();
        let why = log
            .lines()
            .find(|l| l.contains("panicked"))
            .unwrap_or_else(|| log.lines().last().unwrap_or(""));
        panic!("gracewire exited ({status}) after {sessions} sessions: {why}");
    }
}
