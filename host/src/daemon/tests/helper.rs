//! The receiving speaker ("helper", RFC 4724 §4.2, RFC 8538) through the daemon: which session
//! ends keep a peer's routes stale, and what ends the staleness.

use super::harness::*;
use crate::fsm::DownReason;
use crate::wire::notification::{cease, code};
use crate::wire::Notification;
use std::time::Duration;

fn config(extra_global: &str) -> String {
    global(extra_global) + &peer("a", 2, 65001, "") + &peer("b", 3, 65002, "")
}

/// `a` up with GR, holding 203.0.113.0/24, 203.0.114.0/24 and 2001:db8:200::/48.
fn up_with_routes(h: &mut Harness, peer_open: &PeerOpen) {
    h.connect("a", peer_open);
    h.receive("a", route(&["203.0.113.0/24", "203.0.114.0/24"], &[65001]));
    h.receive("a", route(&["2001:db8:200::/48"], &[65001]));
    h.end_of_rib("a", V4);
    h.end_of_rib("a", V6);
    assert_eq!(h.received("a").len(), 3);
}

fn all_stale(h: &mut Harness, peer: &str) -> bool {
    let r = h.received(peer);
    !r.is_empty() && r.iter().all(|(_, stale, _)| *stale)
}

#[test]
fn connection_loss_keeps_routes_stale_and_the_peers_end_of_rib_sweeps_per_family() {
    let mut h = Harness::new(&config(""));
    up_with_routes(&mut h, &open(65001).gr(120));
    h.disconnect("a", DownReason::ConnectionLost);
    assert!(all_stale(&mut h, "a"));
    assert_eq!(
        h.neighbor("a").stale_families,
        vec!["ipv4-unicast", "ipv6-unicast"]
    );
    h.connect("a", &open(65001).gr(120));
    assert!(all_stale(&mut h, "a"), "still stale until refreshed");
    h.receive("a", route(&["203.0.113.0/24"], &[65001]));
    h.end_of_rib("a", V4);
    let r = h.received("a");
    assert_eq!(
        r,
        vec![
            (net("203.0.113.0/24"), false, true),
            (net("2001:db8:200::/48"), true, true)
        ],
        "IPv4 swept on its End-of-RIB; IPv6 waits for its own"
    );
    h.end_of_rib("a", V6);
    assert!(h
        .received("a")
        .iter()
        .all(|(p, ..)| *p == net("203.0.113.0/24")));
    assert!(h.neighbor("a").stale_families.is_empty());
}

#[test]
fn the_restart_timer_fires_through_the_daemon_when_the_peer_stays_away() {
    let mut h = Harness::new(&config(""));
    up_with_routes(&mut h, &open(65001).gr(30));
    h.disconnect("a", DownReason::ConnectionLost);
    h.advance(Duration::from_secs(29));
    assert!(all_stale(&mut h, "a"), "kept for the peer's restart time");
    h.advance(Duration::from_secs(2));
    assert!(h.received("a").is_empty(), "flushed once it passed");
}

#[test]
fn the_stale_path_timer_fires_through_the_daemon_without_end_of_rib() {
    let mut h = Harness::new(&config("stale_path_time = 10"));
    up_with_routes(&mut h, &open(65001).gr(120));
    h.disconnect("a", DownReason::ConnectionLost);
    h.connect("a", &open(65001).gr(120));
    h.receive("a", route(&["203.0.113.0/24"], &[65001]));
    h.advance(Duration::from_secs(9));
    assert_eq!(h.received("a").len(), 3);
    h.advance(Duration::from_secs(2));
    assert_eq!(
        h.received("a"),
        vec![(net("203.0.113.0/24"), false, true)],
        "what was not refreshed is gone"
    );
}

#[test]
fn hold_timer_expiry_with_gr_keeps_the_routes() {
    let mut h = Harness::new(&config(""));
    up_with_routes(&mut h, &open(65001).gr(120));
    h.disconnect("a", DownReason::HoldTimerExpired);
    assert!(all_stale(&mut h, "a"));
}

#[test]
fn a_notification_keeps_routes_only_with_n_on_both_sides() {
    let admin_reset = Notification::new(code::CEASE, cease::ADMIN_RESET);
    let mut h = Harness::new(&config(""));
    up_with_routes(&mut h, &open(65001).gr(120));
    h.disconnect("a", DownReason::NotificationReceived(admin_reset.clone()));
    assert!(
        all_stale(&mut h, "a"),
        "RFC 8538: graceful with N on both sides"
    );

    let mut h = Harness::new(&config(""));
    up_with_routes(&mut h, &open(65001).gr(120).without_n());
    h.disconnect("a", DownReason::NotificationReceived(admin_reset));
    assert!(
        h.received("a").is_empty(),
        "without N a NOTIFICATION ends GR"
    );
}

#[test]
fn a_hard_reset_flushes_even_when_the_peer_reconnects_at_once() {
    let mut h = Harness::new(&config(""));
    up_with_routes(&mut h, &open(65001).gr(120));
    let inner = Notification::new(code::CEASE, cease::ADMIN_RESET);
    h.disconnect(
        "a",
        DownReason::NotificationReceived(Notification::hard_reset(&inner)),
    );
    // The peer is back before anything else happens (its new connection won the collision).
    h.connect("a", &open(65001).gr(120));
    assert!(h.received("a").is_empty(), "flushed, nothing kept stale");
    assert!(h.neighbor("a").last_error.unwrap().contains("(6/9)"));
}

#[test]
fn a_peer_back_with_f_zero_or_without_gr_loses_its_stale_routes_at_once() {
    let mut h = Harness::new(&config(""));
    up_with_routes(&mut h, &open(65001).gr(120));
    h.disconnect("a", DownReason::ConnectionLost);
    h.connect("a", &open(65001).gr(120).forwarding(V4, false));
    assert_eq!(
        h.received("a"),
        vec![(net("2001:db8:200::/48"), true, true)],
        "IPv4 lost its forwarding state: flushed; IPv6 waits for End-of-RIB"
    );
    h.disconnect("a", DownReason::ConnectionLost);
    h.connect("a", &open(65001));
    assert!(
        h.received("a").is_empty(),
        "back without GR: nothing to refresh with"
    );
}

#[test]
fn of_one_prefix_from_a_gr_and_a_non_gr_peer_only_the_gr_path_is_kept_stale() {
    let mut h = Harness::new(&config(""));
    h.connect("a", &open(65001).gr(120));
    h.connect("b", &open(65002));
    h.receive("a", route(&["203.0.113.0/24"], &[65001]));
    h.receive("b", route(&["203.0.113.0/24"], &[65002]));
    h.disconnect("a", DownReason::ConnectionLost);
    h.disconnect("b", DownReason::ConnectionLost);
    let (_, _, routes) = h.routes();
    let paths: Vec<(String, bool)> = routes.into_iter().map(|r| (r.peer, r.stale)).collect();
    assert_eq!(paths, vec![("a".to_string(), true)]);
}

#[test]
fn a_timer_of_a_helper_episode_that_ended_does_nothing() {
    let mut h = Harness::new(&config(""));
    up_with_routes(&mut h, &open(65001).gr(30));
    h.disconnect("a", DownReason::ConnectionLost);
    h.advance(Duration::from_secs(10));
    h.connect("a", &open(65001).gr(30));
    h.receive("a", route(&["203.0.113.0/24", "203.0.114.0/24"], &[65001]));
    h.receive("a", route(&["2001:db8:200::/48"], &[65001]));
    h.end_of_rib("a", V4);
    h.end_of_rib("a", V6);
    h.advance(Duration::from_secs(400));
    assert_eq!(
        h.received("a").len(),
        3,
        "the old restart timer was disarmed"
    );
}
