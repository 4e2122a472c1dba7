//! Bad input, named: a raw peer sends every case of `gracewire_e2e::bad_input` (each RFC 7606
//! outcome and each RFC 4271 §6 error the codec can meet) and the test asserts the exact
//! outcome: treat-as-withdraw, the route learned without what was discarded, or the
//! NOTIFICATION's code and subcode. A gobgpd session on the same daemon is never touched.

use gracewire_e2e::bad_input::{cases, Outcome, Phase, PEER_ASN, PEER_ID};
use gracewire_e2e::gobgp::GoBgp;
use gracewire_e2e::raw::{message, open, open_with, RawSession};
use gracewire_e2e::{wait_for, Gracewire, GwConfig, Lab, Router};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const SUITE: u8 = 22;
const T: Duration = Duration::from_secs(20);

struct Bench {
    lab: Lab,
    gw: Gracewire,
    gobgp: GoBgp,
    gobgp_opens: u64,
    raw_addr: Ipv4Addr,
}

impl Bench {
    fn start() -> Bench {
        let lab = Lab::new(SUITE);
        let mut spec = lab.spec(2, 65002, 64512);
        spec.originate = vec![("203.0.113.0/24".into(), "192.0.2.9".into())];
        let mut gobgp = GoBgp::new(&lab, spec);
        gobgp.start();
        let (gw_addr, raw_addr) = (lab.addr(1), lab.addr(3));
        let config = GwConfig::new(gw_addr)
            .peer("gobgp", lab.addr(2), 65002)
            .raw_peer("raw", raw_addr, PEER_ASN)
            .set("open_hold_time", 3)
            .announce(["198.51.100.10/32"], "192.0.2.1")
            .to_string();
        let gw = Gracewire::start(&lab, &config);
        gw.wait_established("gobgp", T);
        wait_for("gobgpd's route", T, || {
            gw.has_route("gobgp", "203.0.113.0/24").then_some(())
        });
        wait_for("gobgpd has our route", T, || {
            (gobgp.routes().len() == 1).then_some(())
        });
        let gobgp_opens = gobgp.opens_received();
        Bench {
            lab,
            gw,
            gobgp,
            gobgp_opens,
            raw_addr,
        }
    }

    fn connect_raw(&self) -> RawSession {
        wait_for("a connection to gracewire", T, || {
            RawSession::connect_raw(self.raw_addr, self.lab.addr(1))
        })
    }

    /// An Established session of the raw peer.
    fn established(&self) -> RawSession {
        let s = wait_for("the raw peer's session", T, || {
            RawSession::connect(self.raw_addr, self.lab.addr(1), PEER_ASN, PEER_ID)
        });
        self.gw.wait_established("raw", T);
        s
    }

    /// The gobgpd session is the one it was at the start, with its routes both ways.
    fn check_untouched(&self, after: &str) {
        assert_eq!(
            self.gobgp.opens_received(),
            self.gobgp_opens,
            "after {after}: gobgpd's session was re-opened"
        );
        assert_eq!(self.gw.state("gobgp"), "Established", "after {after}");
        assert!(
            self.gw.has_route("gobgp", "203.0.113.0/24"),
            "after {after}"
        );
        assert_eq!(self.gobgp.routes().len(), 1, "after {after}");
    }
}

/// The NOTIFICATION gracewire sends (skipping its OPEN and KEEPALIVEs), then the close.
fn notification(s: &mut RawSession, what: &str) -> (u8, u8) {
    let body = s
        .expect(3, T)
        .unwrap_or_else(|| panic!("{what}: no NOTIFICATION from gracewire"));
    assert!(
        s.closed(T),
        "{what}: the connection stays open after the NOTIFICATION"
    );
    (body[0], body[1])
}

#[test]
fn every_malformed_message_gets_its_rfc_outcome_and_the_session_beside_it_never_notices() {
    let b = Bench::start();
    let all = cases();

    // The route outcomes, all on one session: none may reset it.
    let mut s = b.established();
    for c in all
        .iter()
        .filter(|c| c.outcome != Outcome::Learned && c.prefix.is_some())
    {
        let prefix = c.prefix.as_deref().unwrap();
        s.send(c.good.as_ref().unwrap());
        wait_for(&format!("{}: the well-formed route", c.name), T, || {
            b.gw.has_route("raw", prefix).then_some(())
        });
        s.send(&c.bytes);
        wait_for(
            &format!("{} ({}): treat-as-withdraw", c.name, c.rfc),
            T,
            || (!b.gw.has_route("raw", prefix)).then_some(()),
        );
    }
    for c in all.iter().filter(|c| c.outcome == Outcome::Learned) {
        let prefix = c.prefix.as_deref().unwrap();
        s.send(&c.bytes);
        wait_for(&format!("{} ({}): route learned", c.name, c.rfc), T, || {
            b.gw.has_route("raw", prefix).then_some(())
        });
    }
    let local_pref = b.gw.received("raw");
    let local_pref: Vec<_> = local_pref
        .iter()
        .filter(|r| r["local_pref"].as_u64().is_some())
        .collect();
    assert!(
        local_pref.is_empty(),
        "LOCAL_PREF from eBGP kept: {local_pref:?}"
    );
    s.send(&message(4, &[]));
    assert!(
        s.expect(3, Duration::from_millis(500)).is_none(),
        "a route case reset the session"
    );
    assert_eq!(b.gw.state("raw"), "Established");
    let route_cases = all.iter().filter(|c| c.prefix.is_some()).count();
    b.check_untouched("the route cases");
    drop(s);
    wait_for("the raw session down", T, || {
        (b.gw.state("raw") != "Established").then_some(())
    });

    // The errors: each on its own connection, in the phase it belongs to.
    let mut errors = 0;
    for c in all.iter().filter(|c| c.prefix.is_none()) {
        let Outcome::Notification(code, subcode) = c.outcome else {
            unreachable!("{}", c.name)
        };
        let mut s = match c.phase {
            Phase::Established => b.established(),
            Phase::OpenConfirm => {
                let mut s = b.connect_raw();
                s.send(&open(PEER_ASN, PEER_ID));
                s.expect(4, T)
                    .expect("gracewire's KEEPALIVE: it is in OpenConfirm");
                s
            }
            Phase::Open => b.connect_raw(),
        };
        s.send(&c.bytes);
        assert_eq!(
            notification(&mut s, c.name),
            (code, subcode),
            "{} ({})",
            c.name,
            c.rfc
        );
        errors += 1;
    }
    b.check_untouched("the error cases");

    // Hold timer (RFC 4271 §6.5): a session with hold time 3 that then says nothing.
    let mut s = b.connect_raw();
    s.send(&open_with(PEER_ASN, PEER_ID, 3, false));
    s.expect(4, T).expect("KEEPALIVE");
    s.send(&message(4, &[]));
    b.gw.wait_established("raw", T);
    let silent = Instant::now();
    assert_eq!(
        notification(&mut s, "hold timer"),
        (4, 0),
        "Hold Timer Expired"
    );
    let waited = silent.elapsed();
    assert!(
        waited < Duration::from_secs(6),
        "held {waited:?} for a 3 s hold time"
    );

    // A connection that never sends its OPEN is closed when open_hold_time (3 s) ends.
    let mut s = b.connect_raw();
    let connected = Instant::now();
    assert_eq!(
        notification(&mut s, "no OPEN"),
        (4, 0),
        "Hold Timer Expired in OpenSent"
    );
    let waited = connected.elapsed();
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(6)).contains(&waited),
        "closed after {waited:?} for open_hold_time = 3"
    );
    b.check_untouched("the timer cases");
    println!("{route_cases} route cases and {errors} errors, each with its RFC outcome");
}
