//! Config reload: only the difference goes out, peers come and go with the right Cease, and
//! session settings wait for the next OPEN.

use super::harness::*;
use crate::fsm::DownReason;
use crate::wire::notification::cease;

fn peers() -> String {
    global("") + &peer("a", 2, 65001, "")
}

#[test]
fn a_reload_sends_only_the_difference() {
    let before = peers()
        + &announce("198.51.100.1/32", "med = 1")
        + &announce("198.51.100.2/32", "")
        + &announce("198.51.100.3/32", "");
    let mut h = Harness::new(&before);
    h.connect("a", &open(65001));
    assert_eq!(h.take_updates("a").announced.len(), 3);
    let after = peers()
        + &announce("198.51.100.1/32", "med = 2")
        + &announce("198.51.100.2/32", "")
        + &announce("198.51.100.4/32", "");
    h.reload(&after);
    let sent = h.take_updates("a");
    assert_eq!(
        sent.prefixes(),
        vec![net("198.51.100.1/32"), net("198.51.100.4/32")]
    );
    assert_eq!(sent.announced[&net("198.51.100.1/32")].med, Some(2));
    assert_eq!(sent.withdrawn, vec![net("198.51.100.3/32")]);
    assert!(sent.end_of_rib.is_empty(), "End-of-RIB once per session");
    assert!(h.resets("a").is_empty());
    h.reload(&after);
    assert_eq!(
        h.take_updates("a").updates,
        0,
        "the same config again sends nothing"
    );
}

#[test]
fn a_removed_peer_is_told_peer_deconfigured_as_a_hard_reset_when_n_is_on() {
    let config = peers() + &peer("b", 3, 65002, "");
    let mut h = Harness::new(&config);
    h.connect("a", &open(65001).gr(120));
    h.connect("b", &open(65002));
    h.reload(&global(""));
    let stop = |p: &str| {
        h.fx.stops
            .iter()
            .find(|(x, _)| x == p)
            .unwrap()
            .1
            .clone()
            .unwrap()
    };
    let a = stop("a");
    assert!(
        a.is_hard_reset(),
        "RFC 8538 §5.1: the peer flushes, no stale wait"
    );
    assert_eq!(
        a.hard_reset_reason().unwrap().subcode,
        cease::PEER_DECONFIGURED
    );
    assert_eq!(
        stop("b").subcode,
        cease::PEER_DECONFIGURED,
        "no N: the Cease itself"
    );
    assert!(h.routes().2.is_empty());
}

#[test]
fn an_added_peer_starts_and_a_changed_address_replaces_the_session() {
    let mut h = Harness::new(&peers());
    h.reload(&(peers() + &peer("b", 3, 65002, "")));
    assert!(h.fx.sessions.contains_key("b"));
    h.connect("b", &open(65002));
    let old = h.fx.sessions["b"].config.id;
    h.reload(&(peers() + &peer("b", 4, 65002, "")));
    let (_, n) = h.fx.stops.iter().find(|(p, _)| p == "b").unwrap();
    assert_eq!(n.as_ref().unwrap().subcode, cease::OTHER_CONFIG_CHANGE);
    let s = &h.fx.sessions["b"];
    assert_ne!(s.config.id, old);
    assert_eq!(s.config.remote, "10.0.0.4:179".parse().unwrap());
}

#[test]
fn graceful_restart_switched_off_by_reload_applies_from_the_next_session() {
    let mut h = Harness::new(&peers());
    h.connect("a", &open(65001).gr(120));
    h.receive("a", route(&["203.0.113.0/24"], &[65001]));
    h.reload(&(global("") + &peer("a", 2, 65001, "graceful_restart = false")));
    assert!(h.next_gr("a").is_none(), "the next OPEN leaves GR out");
    assert!(h.resets("a").is_empty(), "the session is not reset for it");
    assert_eq!(h.neighbor("a").state, "Established");
    // The running session negotiated GR: its loss still keeps the routes.
    h.disconnect("a", DownReason::ConnectionLost);
    assert_eq!(h.received("a"), vec![(net("203.0.113.0/24"), true, true)]);
    // The next session has no GR on our side: its loss flushes.
    h.connect("a", &open(65001).gr(120));
    h.receive("a", route(&["203.0.113.0/24"], &[65001]));
    h.end_of_rib("a", V4);
    assert_eq!(h.received("a"), vec![(net("203.0.113.0/24"), false, true)]);
    h.disconnect("a", DownReason::ConnectionLost);
    assert!(
        h.received("a").is_empty(),
        "not negotiated on both sides: flushed"
    );
    // And on again.
    h.reload(&peers());
    assert!(h.next_gr("a").is_some());
}

#[test]
fn hold_time_and_restart_time_changes_wait_for_the_next_open() {
    let mut h = Harness::new(&peers());
    h.connect("a", &open(65001));
    h.reload(&(global("restart_time = 90") + &peer("a", 2, 65001, "hold_time = 30")));
    assert!(h.resets("a").is_empty());
    assert_eq!(h.next_open("a").hold_time, 30);
    assert_eq!(h.next_gr("a").unwrap().restart_time, 90);
}

#[test]
fn a_refused_config_changes_nothing() {
    let mut h = Harness::new(&(peers() + &announce("198.51.100.1/32", "")));
    h.connect("a", &open(65001));
    h.take_sent("a");
    h.input(crate::daemon::Input::Reload {
        config: Err("line 3: bad".into()),
        reply: None,
    });
    assert!(h.take_sent("a").is_empty());
    assert!(h.fx.stops.is_empty());
    assert_eq!(h.neighbor("a").advertised, 1);
}

#[test]
fn global_settings_that_need_a_restart_are_kept_and_the_rest_applies() {
    let mut h = Harness::new(&peers());
    let changed = "[global]\nasn = 64999\nrouter_id = \"192.0.2.9\"\nrestart_time = 60\n"
        .to_string()
        + &peer("a", 2, 65001, "");
    h.reload(&changed);
    let open = h.next_open("a");
    assert_eq!(
        (open.asn(), open.bgp_id.to_string().as_str()),
        (64512, "192.0.2.1")
    );
    assert_eq!(
        h.next_gr("a").unwrap().restart_time,
        60,
        "restart_time is not one of them"
    );
}
