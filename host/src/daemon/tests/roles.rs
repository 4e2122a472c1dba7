//! BGP Roles (RFC 9234) in the daemon: the capability in our OPEN, the roles in `show
//! neighbors`, and the OTC rules on what we receive and what we send.

use super::harness::*;
use crate::wire::{Capability, Role};

fn config(role: &str) -> String {
    global("")
        + &announce("198.51.100.10/32", "")
        + &peer("up", 2, 65001, &format!("role = \"{role}\""))
}

fn otc(asn: Option<u32>, path: &[u32], prefix: &str) -> crate::wire::Update {
    let mut u = route(&[prefix], path);
    u.attributes.otc = asn;
    u
}

#[test]
fn our_open_carries_our_role_and_show_neighbors_both() {
    let mut h = Harness::new(&config("customer"));
    let roles: Vec<u8> = h
        .next_open("up")
        .capabilities
        .into_iter()
        .filter_map(|c| match c {
            Capability::Role(v) => Some(v),
            _ => None,
        })
        .collect();
    assert_eq!(roles, vec![Role::Customer.value()]);
    h.connect("up", &open(65001).role(Role::Provider));
    let s = h.neighbor("up").session.expect("up");
    assert_eq!(s.local_role.as_deref(), Some("customer"));
    assert_eq!(s.peer_role.as_deref(), Some("provider"));
    let text = crate::cli::neighbor(&h.neighbor("up"));
    assert!(text.contains("customer (peer: provider)"), "{text}");
}

#[test]
fn from_our_provider_routes_are_marked_otc_and_ours_go_up_without() {
    let mut h = Harness::new(&config("customer"));
    h.connect("up", &open(65001).role(Role::Provider));
    h.settle();
    let sent = h.take_updates("up");
    let ours = &sent.announced[&net("198.51.100.10/32")];
    assert_eq!(ours.otc, None, "up to a provider: no OTC");
    // Rule 3: from a provider the route gets OTC = its AS; one it set already stays.
    h.receive("up", otc(None, &[65001], "203.0.113.0/24"));
    h.receive("up", otc(Some(65077), &[65001, 65077], "203.0.114.0/24"));
    let (_, _, routes) = h.routes();
    let got: Vec<Option<u32>> = routes.iter().map(|r| r.otc).collect();
    assert_eq!(got, vec![Some(65001), Some(65077)]);
}

#[test]
fn a_customer_route_with_otc_is_a_leak_and_goes_and_ours_go_down_marked() {
    let mut h = Harness::new(&config("provider"));
    h.connect("up", &open(65001).role(Role::Customer));
    h.settle();
    let sent = h.take_updates("up");
    assert_eq!(sent.announced[&net("198.51.100.10/32")].otc, Some(64512));
    h.receive("up", otc(None, &[65001], "203.0.113.0/24"));
    assert_eq!(h.received("up").len(), 1, "a customer's own route is fine");
    // Rule 1: OTC from a customer is a leak; the route it replaces goes too.
    h.receive("up", otc(Some(65001), &[65001], "203.0.113.0/24"));
    assert!(h.received("up").is_empty());
    h.receive("up", otc(None, &[65001], "203.0.115.0/24"));
    assert_eq!(
        h.received("up").len(),
        1,
        "the session and later routes are fine"
    );
}

#[test]
fn a_lateral_peer_may_send_its_own_otc_only() {
    let mut h = Harness::new(&config("peer"));
    h.connect("up", &open(65001).role(Role::Peer));
    h.settle();
    let sent = h.take_updates("up");
    assert_eq!(sent.announced[&net("198.51.100.10/32")].otc, Some(64512));
    h.receive("up", otc(Some(65001), &[65001], "203.0.113.0/24"));
    h.receive("up", otc(Some(65009), &[65001, 65009], "203.0.114.0/24"));
    h.receive("up", otc(None, &[65001], "203.0.115.0/24"));
    let (_, _, routes) = h.routes();
    let got: Vec<(String, Option<u32>)> = routes
        .iter()
        .map(|r| (r.prefix.to_string(), r.otc))
        .collect();
    assert_eq!(
        got,
        vec![
            ("203.0.113.0/24".into(), Some(65001)),
            ("203.0.115.0/24".into(), Some(65001)),
        ]
    );
}

#[test]
fn a_role_change_waits_for_the_next_open_and_says_so() {
    let mut h = Harness::new(&config("customer"));
    h.connect("up", &open(65001).role(Role::Provider));
    h.settle();
    h.take_updates("up");
    h.reload(&config("peer"));
    assert_eq!(h.neighbor("up").pending, vec!["role customer -> peer"]);
    // The session keeps what it negotiated: still no OTC up to the provider.
    let sent = h.take_updates("up");
    assert!(sent.announced.values().all(|a| a.otc.is_none()));
}
