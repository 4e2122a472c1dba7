//! RFC 8950 in the daemon: over an IPv6 session with Extended Next Hop, IPv4 routes go with
//! our IPv6 address as next hop, and come in with the peer's; without it they do neither.

use super::harness::*;
use crate::wire::{MpReach, NextHop};

fn config(enh: bool) -> String {
    global("")
        + &announce("198.51.100.10/32", "")
        + &format!(
            "[[peers]]\nname = \"v6\"\naddress = \"2001:db8::2\"\nasn = 65001\n\
             local_address = \"2001:db8::1\"\nextended_next_hop = {enh}\n"
        )
}

fn v4_over_v6(prefix: &str) -> crate::wire::Update {
    let mut u = route(&[], &[65001]);
    u.mp_reach = Some(MpReach {
        family: V4,
        next_hop: NextHop::V6 {
            global: "2001:db8::2".parse().unwrap(),
            link_local: Some("fe80::2".parse().unwrap()),
        },
        nlri: vec![net(prefix)],
    });
    u
}

fn enh_open() -> PeerOpen {
    open(65001).extended_next_hop()
}

#[test]
fn ipv4_routes_go_and_come_with_ipv6_next_hops_once_negotiated() {
    let mut h = Harness::new(&config(true));
    h.connect("v6", &enh_open());
    h.settle();
    assert!(h.neighbor("v6").session.unwrap().extended_next_hop);
    let sent = h.take_sent("v6");
    let reach: Vec<&MpReach> = sent
        .iter()
        .filter_map(|m| match m {
            crate::wire::Message::Update(u) => u.mp_reach.as_ref(),
            _ => None,
        })
        .filter(|m| m.family == V4)
        .collect();
    assert_eq!(reach.len(), 1, "{sent:?}");
    assert_eq!(reach[0].nlri, vec![net("198.51.100.10/32")]);
    assert_eq!(
        reach[0].next_hop,
        NextHop::V6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: None
        }
    );
    h.receive("v6", v4_over_v6("203.0.113.0/24"));
    let (_, _, routes) = h.routes();
    assert_eq!(routes.len(), 1);
    assert_eq!(
        routes[0].next_hop,
        "2001:db8::2".parse::<std::net::IpAddr>().unwrap()
    );
}

#[test]
fn without_extended_next_hop_ipv4_routes_neither_go_nor_come_over_ipv6() {
    for (ours, theirs) in [(false, true), (true, false)] {
        let mut h = Harness::new(&config(ours));
        let peer = if theirs { enh_open() } else { open(65001) };
        h.connect("v6", &peer);
        h.settle();
        assert!(!h.neighbor("v6").session.unwrap().extended_next_hop);
        let sent = h.take_updates("v6");
        assert!(
            sent.announced.is_empty(),
            "no IPv4 next hop to give: {sent:?}"
        );
        h.receive("v6", v4_over_v6("203.0.113.0/24"));
        assert!(
            h.received("v6").is_empty(),
            "RFC 8950 §4: treated as withdraw"
        );
    }
}
