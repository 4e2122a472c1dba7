//! gracewire against real gobgpd, FRR and BIRD, over eBGP and iBGP: sessions come up, routes
//! flow both ways with the right attributes, withdrawals are seen on either side, and a peer
//! that dies is detected and comes back.

use gracewire_e2e::bird::Bird;
use gracewire_e2e::frr::Frr;
use gracewire_e2e::gobgp::GoBgp;
use gracewire_e2e::{wait_for, Gracewire, Lab, PeerRoute, PeerSpec, Router};
use std::time::Duration;

const SUITE: u8 = 21;
const GW_ASN: u32 = 64512;
const T: Duration = Duration::from_secs(30);

fn gracewire_config(spec: &PeerSpec, announce: &str, graceful_restart: bool) -> String {
    format!(
        r#"[global]
asn = {GW_ASN}
router_id = "{gw}"
listen = "{gw}:179"
state_dir = "{{state_dir}}"

[[peers]]
name = "peer"
address = "{peer}"
asn = {asn}
local_address = "{gw}"
hold_time = 9
connect_retry = 1
graceful_restart = {graceful_restart}
{announce}"#,
        gw = spec.gracewire_addr,
        peer = spec.addr,
        asn = spec.asn,
    )
}

const ANNOUNCE_V4_MAIN: &str = r#"
[[announce]]
prefix = "198.51.100.10/32"
next_hop = "192.0.2.1"
communities = ["64512:100", "large:64512:1:2"]
med = 20
local_pref = 200
labels = { pool = "public" }
"#;

const ANNOUNCE_V6: &str = r#"
[[announce]]
prefix = "2001:db8:100::/64"
next_hop = "2001:db8::1"
communities = ["64512:200"]
"#;

const ANNOUNCE_V4_EXTRA: &str = r#"
[[announce]]
prefix = "198.51.100.11/32"
next_hop = "192.0.2.1"
"#;

fn find<'a>(routes: &'a [PeerRoute], prefix: &str) -> Option<&'a PeerRoute> {
    routes.iter().find(|r| r.prefix == prefix)
}

fn interop(router: &mut dyn Router, lab: &Lab) {
    let spec = router.spec().clone();
    let ibgp = spec.asn == GW_ASN;
    let kind = router.kind();
    router.start();
    let all = format!("{ANNOUNCE_V4_MAIN}{ANNOUNCE_V6}{ANNOUNCE_V4_EXTRA}");
    let gw = Gracewire::start(lab, &gracewire_config(&spec, &all, false));

    // 1. Established on both sides.
    gw.wait_established("peer", T);
    wait_for(&format!("{kind} reports Established"), T, || {
        router.established().then_some(())
    });

    // 2. Our routes at the peer, with their attributes.
    let routes = wait_for(&format!("{kind} learns 3 routes"), T, || {
        let r = router.routes();
        (r.len() == 3).then_some(r)
    });
    let v4 = find(&routes, "198.51.100.10/32").expect("IPv4 route at peer");
    assert_eq!(v4.next_hop, "192.0.2.1", "{kind}: {v4:?}");
    assert_eq!(
        v4.as_path,
        if ibgp { vec![] } else { vec![GW_ASN] },
        "{kind}: {v4:?}"
    );
    assert_eq!(v4.med, Some(20), "{kind}: {v4:?}");
    assert_eq!(v4.communities, vec!["64512:100"], "{kind}: {v4:?}");
    assert_eq!(v4.large_communities, vec!["64512:1:2"], "{kind}: {v4:?}");
    if ibgp {
        assert_eq!(
            v4.local_pref,
            Some(200),
            "{kind}: LOCAL_PREF over iBGP: {v4:?}"
        );
    } else {
        assert_ne!(
            v4.local_pref,
            Some(200),
            "{kind}: LOCAL_PREF must not cross eBGP: {v4:?}"
        );
    }
    let v6 = find(&routes, "2001:db8:100::/64").expect("IPv6 route at peer");
    assert_eq!(v6.next_hop, "2001:db8::1", "{kind}: {v6:?}");
    assert_eq!(v6.communities, vec!["64512:200"], "{kind}: {v6:?}");
    assert_eq!(v6.as_path, v4.as_path, "{kind}: {v6:?}");

    // 3. The peer's routes in gracewire's RIB.
    let peer_path: Vec<u64> = if ibgp { vec![] } else { vec![spec.asn as u64] };
    for prefix in ["203.0.113.0/24", "2001:db8:200::/48"] {
        let route = wait_for(&format!("gracewire learns {prefix} from {kind}"), T, || {
            gw.received("peer")
                .into_iter()
                .find(|r| r["prefix"] == prefix)
        });
        let path: Vec<u64> = route["as_path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_u64().unwrap())
            .collect();
        assert_eq!(path, peer_path, "{kind}: {route}");
        assert_eq!(route["best"], true);
    }

    // 4. A withdraw at the peer reaches gracewire ...
    router.withdraw("203.0.113.0/24");
    wait_for(
        &format!("gracewire drops the route {kind} withdrew"),
        T,
        || (!gw.has_route("peer", "203.0.113.0/24")).then_some(()),
    );
    assert!(
        gw.has_route("peer", "2001:db8:200::/48"),
        "{kind}: other routes stay"
    );
    // ... and one at gracewire (config reload) reaches the peer, without a new session.
    let uptime = gw.neighbor("peer")["uptime_secs"].as_u64().unwrap();
    gw.reload(
        &gracewire_config(&spec, &format!("{ANNOUNCE_V4_MAIN}{ANNOUNCE_V6}"), false),
        lab,
    );
    wait_for(
        &format!("{kind} drops the withdrawn 198.51.100.11/32"),
        T,
        || {
            let r = router.routes();
            (find(&r, "198.51.100.11/32").is_none() && r.len() == 2).then_some(())
        },
    );
    assert!(
        gw.neighbor("peer")["uptime_secs"].as_u64().unwrap() >= uptime,
        "{kind}: session kept"
    );
    assert!(router.established());

    // 5. A peer that dies is detected, its routes leave our RIB, and the session comes back.
    router.kill();
    wait_for(&format!("gracewire sees {kind} gone"), T, || {
        (gw.state("peer") != "Established").then_some(())
    });
    wait_for("routes of a dead peer removed (no GR)", T, || {
        gw.received("peer").is_empty().then_some(())
    });
    router.start();
    gw.wait_established("peer", T);
    wait_for(&format!("{kind} relearns our routes"), T, || {
        (router.routes().len() == 2).then_some(())
    });
    wait_for(
        &format!("gracewire relearns {kind}'s IPv6 route"),
        T,
        || gw.has_route("peer", "2001:db8:200::/48").then_some(()),
    );
}

fn spec(lab: &Lab, asn: u32) -> PeerSpec {
    let mut s = lab.spec(2, asn, GW_ASN);
    s.graceful_restart = false;
    s.originate = vec![
        ("203.0.113.0/24".into(), "192.0.2.2".into()),
        ("2001:db8:200::/48".into(), "2001:db8::2".into()),
    ];
    s
}

#[test]
fn gobgp_ebgp() {
    let lab = Lab::new(SUITE);
    interop(&mut GoBgp::new(&lab, spec(&lab, 65001)), &lab);
}

#[test]
fn gobgp_ibgp() {
    let lab = Lab::new(SUITE);
    interop(&mut GoBgp::new(&lab, spec(&lab, GW_ASN)), &lab);
}

#[test]
fn frr_ebgp() {
    let lab = Lab::new(SUITE);
    interop(&mut Frr::new(&lab, spec(&lab, 65002)), &lab);
}

#[test]
fn frr_ibgp() {
    let lab = Lab::new(SUITE);
    interop(&mut Frr::new(&lab, spec(&lab, GW_ASN)), &lab);
}

#[test]
fn bird_ebgp() {
    let lab = Lab::new(SUITE);
    interop(&mut Bird::new(&lab, spec(&lab, 65003)), &lab);
}

#[test]
fn bird_ibgp() {
    let lab = Lab::new(SUITE);
    interop(&mut Bird::new(&lab, spec(&lab, GW_ASN)), &lab);
}

/// A peer that freezes with its TCP session open is caught by the hold timer.
#[test]
fn hold_timer_detects_a_frozen_peer() {
    let lab = Lab::new(SUITE);
    let mut peer = GoBgp::new(&lab, spec(&lab, 65001));
    peer.start();
    let config = gracewire_config(peer.spec(), ANNOUNCE_V4_MAIN, false)
        .replace("hold_time = 9", "hold_time = 3");
    let gw = Gracewire::start(&lab, &config);
    gw.wait_established("peer", T);
    peer.freeze(true);
    wait_for("hold timer expiry", Duration::from_secs(10), || {
        let n = gw.neighbor("peer");
        (n["state"] != "Established"
            && n["last_error"]
                .as_str()
                .unwrap_or("")
                .contains("hold timer"))
        .then_some(())
    });
    peer.freeze(false);
    gw.wait_established("peer", T);
}

/// RFC 9072 extended optional parameters both ways with FRR: with its
/// `extended-optional-parameters`, FRR sends its OPEN in the extended encoding and expects ours
/// the same (`extended_optional_parameters = true`); each reads the other's and the session
/// comes up with every capability.
#[test]
fn rfc9072_extended_optional_parameters_both_ways_with_frr() {
    let lab = Lab::new(SUITE);
    let mut frr = Frr::new(&lab, lab.spec(2, 65002, GW_ASN));
    frr.neighbor_lines = vec!["extended-optional-parameters".into()];
    frr.start();
    let config = gracewire_config(frr.spec(), ANNOUNCE_V4_MAIN, true).replace(
        "graceful_restart = true",
        "graceful_restart = true\nextended_optional_parameters = true",
    );
    let gw = Gracewire::start(&lab, &config);
    gw.wait_established("peer", T);
    let n = gw.neighbor("peer");
    assert_eq!(n["peer_graceful_restart"], 120, "GR capability read: {n}");
    assert_eq!(n["families"].as_array().unwrap().len(), 2, "{n}");
    wait_for("FRR has our route", T, || {
        (!frr.routes().is_empty()).then_some(())
    });
    let v = frr.neighbor_json();
    assert_eq!(
        v["gracefulRestartInfo"]["nBit"], true,
        "FRR read our GR capability: {v}"
    );
}
