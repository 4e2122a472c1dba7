//! Max-prefix against a real connection: one prefix too many gets Cease 1 with the RFC 4486
//! data, the routes go, and gracewire stays away for `max_prefix_restart`.

use gracewire_e2e::raw::{update, RawPeer, ATTRS_65001};
use gracewire_e2e::{quoted, wait_for, Gracewire, GwConfig, Lab};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const SUITE: u8 = 33;
const T: Duration = Duration::from_secs(20);

#[test]
fn one_prefix_too_many_resets_the_session_and_holds_it_down() {
    let lab = Lab::new(SUITE);
    let raw = RawPeer::listen(lab.addr(2));
    let config = GwConfig::new(lab.addr(1))
        .without("listen")
        .global("router_id", quoted("192.0.2.1"))
        .peer("raw", lab.addr(2), 65001)
        .unset("hold_time")
        .set("graceful_restart", false)
        .set("max_prefixes", "{ ipv4-unicast = 5 }")
        .set("max_prefix_restart", 3)
        .to_string();
    let gw = Gracewire::start(&lab, &config);
    let mut s = raw.accept(65001, Ipv4Addr::new(192, 0, 2, 2));
    gw.wait_established("raw", T);
    for i in 0..5u8 {
        s.send(&update(&[], &ATTRS_65001, &[24, 203, 0, i]));
    }
    wait_for("5 routes, within the limit", T, || {
        (gw.received("raw").len() == 5).then_some(())
    });
    s.send(&update(&[], &ATTRS_65001, &[24, 203, 0, 5]));
    let body = s.expect(3, T).expect("NOTIFICATION");
    let reset_at = Instant::now();
    assert_eq!(
        body,
        vec![6, 1, 0, 1, 1, 0, 0, 0, 5],
        "Cease 1: AFI 1, SAFI 1, limit 5"
    );
    assert!(s.closed(T));
    wait_for("routes flushed", T, || {
        gw.received("raw").is_empty().then_some(())
    });
    let n = gw.neighbor("raw");
    assert!(n["last_error"].as_str().unwrap().contains("(6/1)"), "{n}");
    // Held down: gracewire connects again only after max_prefix_restart (3 s).
    let _again = raw.accept(65001, Ipv4Addr::new(192, 0, 2, 2));
    let waited = reset_at.elapsed();
    println!("reconnected {waited:?} after the reset");
    assert!(
        waited >= Duration::from_millis(2900),
        "came back after {waited:?}"
    );
    gw.wait_established("raw", T);
}
