//! eBGP multihop and GTSM (RFC 5082) across real hops, in network namespaces:
//!
//! ```text
//!   hop:     gw ──10.x.1.0/30── router (forwards) ──10.x.2.0/30── frr
//!   direct:  gw ──10.x.3.0/30── frr
//! ```
//! Multihop is needed (TTL 1 dies at the router) and sufficient (TTL 2); GTSM with one hop
//! allowed comes up directly connected and is refused once a router is in between.

use gracewire_e2e::frr::Frr;
use gracewire_e2e::netns::Netns;
use gracewire_e2e::{wait_for, Gracewire, Lab, Router};
use std::net::Ipv4Addr;
use std::time::Duration;

const SUITE: u8 = 36;
const T: Duration = Duration::from_secs(30);
/// How long a session that must not come up is watched.
const NEVER: Duration = Duration::from_secs(10);

fn config(gw: Ipv4Addr, frr: Ipv4Addr, extra: &str) -> String {
    format!(
        r#"[global]
asn = 64512
router_id = "{gw}"
listen = "{gw}:179"
state_dir = "{{state_dir}}"

[[peers]]
name = "frr"
address = "{frr}"
asn = 65002
local_address = "{gw}"
hold_time = 9
connect_retry = 1
{extra}

[[announce]]
prefix = "198.51.100.10/32"
next_hop = "{gw}"
"#
    )
}

struct Net {
    gw: Netns,
    frr: Netns,
    _router: Option<Netns>,
    gw_addr: Ipv4Addr,
    frr_addr: Ipv4Addr,
}

fn net(lab: &Lab, tag: &str, hop: bool) -> Net {
    let name = |role: &str| format!("gt{role}{}{}{tag}", lab.net[1], lab.net[2]);
    let link = |l: &str| format!("t{}{tag}{l}", lab.net[2]);
    let (gw, frr) = (Netns::new(&name("g")), Netns::new(&name("f")));
    let o = lab.net[2];
    if hop {
        let router = Netns::new(&name("r"));
        gw.link(
            &router,
            &link("gr"),
            &format!("10.{o}.1.2/30"),
            &format!("10.{o}.1.1/30"),
        );
        router.link(
            &frr,
            &link("rf"),
            &format!("10.{o}.2.1/30"),
            &format!("10.{o}.2.2/30"),
        );
        router.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        gw.exec(&[
            "ip",
            "route",
            "add",
            "default",
            "via",
            &format!("10.{o}.1.1"),
        ]);
        frr.exec(&[
            "ip",
            "route",
            "add",
            "default",
            "via",
            &format!("10.{o}.2.1"),
        ]);
        Net {
            gw,
            frr,
            _router: Some(router),
            gw_addr: Ipv4Addr::new(10, o, 1, 2),
            frr_addr: Ipv4Addr::new(10, o, 2, 2),
        }
    } else {
        gw.link(
            &frr,
            &link("gf"),
            &format!("10.{o}.3.2/30"),
            &format!("10.{o}.3.1/30"),
        );
        Net {
            gw,
            frr,
            _router: None,
            gw_addr: Ipv4Addr::new(10, o, 3, 2),
            frr_addr: Ipv4Addr::new(10, o, 3, 1),
        }
    }
}

fn frr(lab: &Lab, n: &Net, lines: &[&str]) -> Frr {
    let mut spec = lab.spec(2, 65002, 64512);
    spec.addr = n.frr_addr;
    spec.gracewire_addr = n.gw_addr;
    let mut f = Frr::new(lab, spec);
    f.netns = Some(n.frr.name.clone());
    f.neighbor_lines = lines.iter().map(|l| l.to_string()).collect();
    f.start();
    f
}

fn never_up(gw: &Gracewire, f: &Frr, what: &str) {
    std::thread::sleep(NEVER);
    assert_ne!(gw.state("frr"), "Established", "{what}");
    assert!(!f.established(), "{what}");
}

#[test]
fn ebgp_multihop_is_needed_across_a_router_and_sufficient() {
    let lab = Lab::new(SUITE);
    let n = net(&lab, "m", true);
    let f = frr(&lab, &n, &["ebgp-multihop 2"]);
    let gw = Gracewire::start_in(&lab, &config(n.gw_addr, n.frr_addr, ""), Some(&n.gw.name));
    never_up(&gw, &f, "TTL 1 dies at the router");
    assert_eq!(gw.neighbor("frr")["ttl"], 1, "eBGP sends TTL 1 by default");
    gw.reload(&config(n.gw_addr, n.frr_addr, "ebgp_multihop = 2"), &lab);
    gw.wait_established("frr", T);
    wait_for("FRR has our route", T, || {
        (!f.routes().is_empty()).then_some(())
    });
}

#[test]
fn gtsm_comes_up_directly_connected() {
    let lab = Lab::new(SUITE);
    let n = net(&lab, "d", false);
    let f = frr(&lab, &n, &["ttl-security hops 1"]);
    let config = config(n.gw_addr, n.frr_addr, "ttl_security_hops = 1");
    let gw = Gracewire::start_in(&lab, &config, Some(&n.gw.name));
    gw.wait_established("frr", T);
    let nb = gw.neighbor("frr");
    assert_eq!(
        (nb["ttl"].as_u64(), nb["min_ttl"].as_u64()),
        (Some(255), Some(255))
    );
    wait_for("FRR has our route", T, || {
        (!f.routes().is_empty()).then_some(())
    });
}

#[test]
fn gtsm_refuses_a_peer_one_router_away() {
    let lab = Lab::new(SUITE);
    let n = net(&lab, "h", true);
    let f = frr(&lab, &n, &["ttl-security hops 1"]);
    let config = config(n.gw_addr, n.frr_addr, "ttl_security_hops = 1");
    let gw = Gracewire::start_in(&lab, &config, Some(&n.gw.name));
    never_up(&gw, &f, "segments arrive with TTL 254, below GTSM's 255");
}

/// Our own check: FRR sends TTL 255 but does not check (multihop 255); gracewire with one hop
/// allowed drops what arrives with 254, and with two hops allowed takes it.
#[test]
fn gtsm_on_our_side_counts_the_hops() {
    let lab = Lab::new(SUITE);
    let n = net(&lab, "o", true);
    let f = frr(&lab, &n, &["ebgp-multihop 255"]);
    let one = config(n.gw_addr, n.frr_addr, "ttl_security_hops = 1");
    let gw = Gracewire::start_in(&lab, &one, Some(&n.gw.name));
    never_up(&gw, &f, "TTL 254 is below 255");
    gw.reload(
        &config(n.gw_addr, n.frr_addr, "ttl_security_hops = 2"),
        &lab,
    );
    gw.wait_established("frr", T);
    assert_eq!(gw.neighbor("frr")["min_ttl"].as_u64(), Some(254));
}
