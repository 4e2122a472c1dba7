//! Received UPDATEs: the RFC 7606 checks that need the session, and what `show` reports.

use super::harness::*;
use crate::wire::{MpReach, NextHop};

fn config() -> String {
    global("") + &peer("a", 2, 65001, "") + &peer("i", 3, 64512, "")
}

#[test]
fn ebgp_paths_must_start_with_the_peers_as_and_loops_are_dropped() {
    let mut h = Harness::new(&config());
    h.connect("a", &open(65001));
    h.receive("a", route(&["203.0.113.0/24"], &[65001, 65010]));
    assert_eq!(h.received("a").len(), 1);
    // RFC 7606 §7.2: a first AS other than the peer's withdraws what the UPDATE names.
    h.receive("a", route(&["203.0.113.0/24"], &[65099]));
    assert!(h.received("a").is_empty());
    // RFC 4271 §9.1.2: our own AS in the path is a loop.
    h.receive("a", route(&["203.0.114.0/24"], &[65001, 64512]));
    assert!(h.received("a").is_empty());
    h.receive("a", route(&["203.0.115.0/24"], &[65001]));
    assert_eq!(
        h.received("a").len(),
        1,
        "the session and later routes are fine"
    );
}

#[test]
fn mp_reach_for_a_family_not_negotiated_is_treated_as_withdraw() {
    let mut h = Harness::new(&config());
    h.connect("a", &open(65001).families(&[V4]));
    let mut u = route(&["203.0.113.0/24"], &[65001]);
    u.mp_reach = Some(MpReach {
        family: V6,
        next_hop: NextHop::V6 {
            global: "2001:db8::2".parse().unwrap(),
            link_local: None,
        },
        nlri: vec![net("2001:db8:1::/48")],
    });
    h.receive("a", u);
    assert!(h.received("a").is_empty(), "the whole UPDATE is withdrawn");
}

#[test]
fn local_pref_from_ebgp_is_dropped_and_kept_from_ibgp() {
    let mut h = Harness::new(&config());
    h.connect("a", &open(65001));
    h.connect("i", &open(64512));
    let mut u = route(&["203.0.113.0/24"], &[65001]);
    u.attributes.local_pref = Some(500);
    h.receive("a", u);
    let mut u = route(&["203.0.114.0/24"], &[]);
    u.attributes.local_pref = Some(500);
    h.receive("i", u);
    let (_, _, routes) = h.routes();
    let lp: Vec<(String, Option<u32>)> =
        routes.into_iter().map(|r| (r.peer, r.local_pref)).collect();
    assert_eq!(lp, vec![("a".into(), None), ("i".into(), Some(500))]);
}

#[test]
fn end_of_rib_received_per_family_shows_in_neighbors_until_the_session_ends() {
    let mut h = Harness::new(&config());
    h.connect("a", &open(65001).gr(120));
    h.end_of_rib("a", V6);
    assert_eq!(h.neighbor("a").end_of_rib_received, vec!["ipv6-unicast"]);
    h.end_of_rib("a", V4);
    assert_eq!(h.neighbor("a").end_of_rib_received.len(), 2);
    h.disconnect("a", crate::fsm::DownReason::ConnectionLost);
    assert!(h.neighbor("a").end_of_rib_received.is_empty());
}
