//! A hand-driven peer sends malformed messages: gracewire answers with the RFC-specified
//! NOTIFICATION or applies RFC 7606 treat-as-withdraw / attribute-discard, and stays up.

use gracewire_e2e::raw::{message, update, RawPeer, RawSession};
use gracewire_e2e::{wait_for, Gracewire, Lab};
use std::net::Ipv4Addr;
use std::time::Duration;

const SUITE: u8 = 22;
const T: Duration = Duration::from_secs(20);

/// ORIGIN IGP, AS_PATH [65001] (4-octet), NEXT_HOP 192.0.2.2.
const ATTRS: [u8; 20] = [
    0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, 0x40, 3, 4, 192, 0, 2, 2,
];

fn setup(lab: &Lab) -> (Gracewire, RawPeer) {
    let raw = RawPeer::listen(lab.addr(2));
    let config = format!(
        r#"[global]
asn = 64512
router_id = "192.0.2.1"
state_dir = "{{state_dir}}"

[[peers]]
name = "raw"
address = "{peer}"
asn = 65001
local_address = "{gw}"
connect_retry = 1
graceful_restart = false
"#,
        peer = lab.addr(2),
        gw = lab.addr(1)
    );
    (Gracewire::start(lab, &config), raw)
}

fn connect(gw: &Gracewire, raw: &RawPeer) -> RawSession {
    let s = raw.accept(65001, Ipv4Addr::new(192, 0, 2, 2));
    gw.wait_established("raw", T);
    s
}

fn with_attrs(extra: &[u8]) -> Vec<u8> {
    [&ATTRS[..], extra].concat()
}

#[test]
fn rfc7606_outcomes_keep_the_session() {
    let lab = Lab::new(SUITE);
    let (gw, raw) = setup(&lab);
    let mut s = connect(&gw, &raw);
    let uptime_before = gw.neighbor("raw")["uptime_secs"].as_u64().unwrap();

    s.send(&update(&[], &ATTRS, &[24, 203, 0, 113]));
    wait_for("route learned", T, || {
        gw.has_route("raw", "203.0.113.0/24").then_some(())
    });

    // Bad ORIGIN value: treat-as-withdraw removes the route the UPDATE names.
    let mut bad_origin = ATTRS;
    bad_origin[3] = 9;
    s.send(&update(&[], &bad_origin, &[24, 203, 0, 113]));
    wait_for("treat-as-withdraw", T, || {
        (!gw.has_route("raw", "203.0.113.0/24")).then_some(())
    });

    // Missing NEXT_HOP: treat-as-withdraw, nothing learned.
    s.send(&update(&[], &ATTRS[..13], &[24, 198, 51, 100]));
    // Malformed AGGREGATOR (3 octets): attribute discard, route kept.
    s.send(&update(
        &[],
        &with_attrs(&[0xc0, 7, 3, 1, 2, 3]),
        &[24, 192, 0, 2],
    ));
    // eBGP route whose AS_PATH does not start with the peer's AS: treat-as-withdraw.
    let mut wrong_first_as = ATTRS;
    wrong_first_as[12] = 0xea;
    s.send(&update(&[], &wrong_first_as, &[24, 198, 18, 0]));
    // A valid route after all that is still accepted.
    s.send(&update(&[], &ATTRS, &[24, 203, 0, 114]));
    wait_for("later valid route", T, || {
        gw.has_route("raw", "203.0.114.0/24").then_some(())
    });
    assert!(
        gw.has_route("raw", "192.0.2.0/24"),
        "AGGREGATOR discarded, route kept"
    );
    assert!(
        !gw.has_route("raw", "198.51.100.0/24"),
        "missing NEXT_HOP withdrawn"
    );
    assert!(
        !gw.has_route("raw", "198.18.0.0/24"),
        "wrong first AS withdrawn"
    );

    // No NOTIFICATION came, the session is the same one.
    s.send(&message(4, &[]));
    assert!(
        s.expect(3, Duration::from_millis(500)).is_none(),
        "no NOTIFICATION"
    );
    let n = gw.neighbor("raw");
    assert_eq!(n["state"], "Established");
    assert!(n["uptime_secs"].as_u64().unwrap() >= uptime_before);
}

fn expect_notification(s: &mut RawSession) -> (u8, u8) {
    let body = s.expect(3, T).expect("NOTIFICATION from gracewire");
    (body[0], body[1])
}

#[test]
fn session_errors_get_the_rfc_notification_and_gracewire_recovers() {
    let lab = Lab::new(SUITE);
    let (gw, raw) = setup(&lab);
    let cases: [(&str, Vec<u8>, (u8, u8)); 5] = [
        (
            "NLRI prefix length 33",
            update(&[], &ATTRS, &[33, 1, 2, 3, 4, 5]),
            (3, 10),
        ),
        (
            "bad marker",
            {
                let mut m = message(4, &[]);
                m[0] = 0;
                m
            },
            (1, 1),
        ),
        ("unknown message type", message(9, &[]), (1, 3)),
        (
            "unrecognized well-known attribute",
            update(&[], &with_attrs(&[0x40, 99, 0]), &[24, 203, 0, 113]),
            (3, 2),
        ),
        (
            "OPEN in Established",
            gracewire_e2e::raw::open(65001, Ipv4Addr::new(192, 0, 2, 2)),
            (5, 3),
        ),
    ];
    for (what, bytes, expected) in cases {
        let mut s = connect(&gw, &raw);
        s.send(&bytes);
        assert_eq!(expect_notification(&mut s), expected, "{what}");
        assert!(s.closed(T), "{what}: connection closed after NOTIFICATION");
        // gracewire itself is fine and connects again.
        wait_for("state leaves Established", T, || {
            (gw.state("raw") != "Established").then_some(())
        });
    }
    let _s = connect(&gw, &raw);
}
