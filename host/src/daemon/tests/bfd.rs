//! BFD and BGP: which sessions the daemon asks for, and what their state changes do.

use super::harness::*;
use crate::bfd::{Change, Diag, State};
use crate::fsm::DownReason;
use crate::wire::notification::{cease, code};
use std::time::Duration;

const PROFILE: &str = "[bfd_profiles.fast]\nreceive_interval_ms = 300\ntransmit_interval_ms = 300\ndetect_multiplier = 3\n[bfd_profiles.slow]\nreceive_interval_ms = 1000\ntransmit_interval_ms = 1000\nminimum_ttl = 250\n";

fn config(a_extra: &str) -> String {
    global("")
        + PROFILE
        + &peer("a", 2, 65001, &format!("bfd = \"fast\"\n{a_extra}"))
        + &peer("b", 3, 65002, "")
}

fn change(from: State, to: State, diag: Diag, remote_admin_down: bool) -> Change {
    Change {
        from,
        to,
        diag,
        remote_admin_down,
        remote_restarted: false,
    }
}

#[test]
fn a_peer_with_a_profile_gets_a_single_hop_session_with_its_timers() {
    let h = Harness::new(&config(""));
    assert_eq!(
        h.fx.bfd.keys().collect::<Vec<_>>(),
        vec!["a"],
        "b has no bfd"
    );
    let s = &h.fx.bfd["a"];
    assert_eq!(s.remote.to_string(), "10.0.0.2");
    assert_eq!(s.local.map(|l| l.to_string()).as_deref(), Some("10.0.0.1"));
    assert_eq!(s.params.desired_min_tx, Duration::from_millis(300));
    assert_eq!(s.params.detect_mult, 3);
    assert!(!s.multihop);
    assert_eq!(s.minimum_ttl, 255, "single hop: RFC 5881 §5");

    let h = Harness::new(&config("ebgp_multihop = 3").replace("\"fast\"", "\"slow\""));
    let s = &h.fx.bfd["a"];
    assert!(s.multihop, "the BGP session crosses routers: RFC 5883");
    assert_eq!(s.minimum_ttl, 250);
}

#[test]
fn a_bfd_failure_ends_the_session_at_once_with_a_hard_reset_and_flushes_the_routes() {
    let mut h = Harness::new(&config(""));
    h.connect("a", &open(65001).gr(120));
    h.connect("b", &open(65002).gr(120));
    h.receive("a", route(&["203.0.113.0/24"], &[65001]));
    h.bfd("a", change(State::Down, State::Up, Diag::None, false));
    assert!(h.resets("a").is_empty(), "coming up resets nothing");

    h.bfd(
        "a",
        change(State::Up, State::Down, Diag::DetectionTimeExpired, false),
    );
    let resets = h.resets("a");
    assert_eq!(resets.len(), 1, "BGP does not wait for its hold timer");
    assert!(
        resets[0].is_hard_reset(),
        "N negotiated: no GR for a dead path"
    );
    let inner = resets[0].hard_reset_reason().unwrap();
    assert_eq!((inner.code, inner.subcode), (code::CEASE, cease::BFD_DOWN));
    h.disconnect("a", DownReason::NotificationSent(resets[0].clone()));
    assert!(
        h.received("a").is_empty(),
        "the peer's routes are flushed, not kept stale"
    );
    assert!(h.resets("b").is_empty(), "another peer is untouched");
    let n = h.neighbor("a");
    let bfd = n.bfd.expect("BFD in show neighbors");
    assert_eq!((bfd.state.as_str(), bfd.failures), ("Down", 1));
    assert_eq!(bfd.diag, "control detection time expired");
    assert_eq!(bfd.detection_time_ms, Some(900));
    let text = h.daemon.metrics(&crate::api::ProcessStats::default());
    for line in [
        "gracewire_bfd_session_up{peer=\"a\"} 0",
        "gracewire_bfd_failures_total{peer=\"a\"} 1",
        "gracewire_bfd_detection_time_seconds{peer=\"a\"} 0.9",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
    }
    assert!(
        !text.contains("gracewire_bfd_session_up{peer=\"b\"}"),
        "b has no BFD"
    );
}

#[test]
fn the_remote_going_admin_down_leaves_bgp_alone() {
    let mut h = Harness::new(&config(""));
    h.connect("a", &open(65001).gr(120));
    h.bfd("a", change(State::Down, State::Up, Diag::None, false));
    h.bfd(
        "a",
        change(State::Up, State::Down, Diag::NeighborSignaledDown, true),
    );
    assert!(h.resets("a").is_empty(), "RFC 5882 §3.2");
    assert_eq!(h.neighbor("a").bfd.unwrap().failures, 0);
    // The remote saying Down (its detection time expired) is a failure, once it has not come
    // Up again within 3 s.
    h.bfd("a", change(State::Down, State::Up, Diag::None, false));
    h.bfd(
        "a",
        change(State::Up, State::Down, Diag::NeighborSignaledDown, false),
    );
    assert!(h.resets("a").is_empty(), "it was heard: 3 s to come back");
    h.advance(Duration::from_secs(4));
    let inner = h.resets("a")[0].hard_reset_reason().unwrap();
    assert_eq!(inner.subcode, cease::BFD_DOWN);
}

#[test]
fn without_n_the_cease_itself() {
    let mut h = Harness::new(&config(""));
    h.connect("a", &open(65001));
    h.bfd("a", change(State::Down, State::Up, Diag::None, false));
    h.bfd(
        "a",
        change(State::Up, State::Down, Diag::DetectionTimeExpired, false),
    );
    let n = &h.resets("a")[0];
    assert_eq!((n.code, n.subcode), (code::CEASE, cease::BFD_DOWN));
}

#[test]
fn a_reload_changes_removes_and_adds_bfd_sessions() {
    let mut h = Harness::new(&config(""));
    h.reload(&config("").replace("bfd = \"fast\"", "bfd = \"slow\""));
    assert_eq!(h.fx.bfd["a"].params.desired_min_tx, Duration::from_secs(1));
    h.reload(&config("").replace("bfd = \"fast\"\n", ""));
    assert!(h.fx.bfd.is_empty(), "bfd removed: session removed");
    assert!(h.neighbor("a").bfd.is_none());
    h.reload(&config(""));
    assert!(h.fx.bfd.contains_key("a"));
    assert!(h.resets("a").is_empty(), "BGP untouched by all of it");
}

#[test]
fn a_router_that_says_down_gets_three_seconds_to_bring_the_session_up_again() {
    let restarted = Change {
        remote_restarted: true,
        ..change(State::Up, State::Down, Diag::NeighborSignaledDown, false)
    };
    let mut h = Harness::new(&config(""));
    h.connect("a", &open(65001).gr(120));
    h.bfd("a", change(State::Down, State::Up, Diag::None, false));
    h.bfd("a", restarted);
    assert!(h.resets("a").is_empty(), "its packets prove the path works");
    h.bfd("a", change(State::Down, State::Init, Diag::None, false));
    h.bfd("a", change(State::Init, State::Up, Diag::None, false));
    h.advance(Duration::from_secs(4));
    assert!(
        h.resets("a").is_empty(),
        "Up again in time: nothing happened"
    );
    assert_eq!(h.neighbor("a").bfd.unwrap().failures, 0);

    // Not Up again (Init is not enough) within 3 s: a failure after all.
    h.bfd("a", restarted);
    h.bfd("a", change(State::Down, State::Init, Diag::None, false));
    h.advance(Duration::from_secs(2));
    assert!(h.resets("a").is_empty());
    h.advance(Duration::from_secs(2));
    let resets = h.resets("a");
    assert_eq!(resets.len(), 1, "{resets:?}");
    let inner = resets[0].hard_reset_reason().unwrap();
    assert_eq!((inner.code, inner.subcode), (code::CEASE, cease::BFD_DOWN));
    assert_eq!(h.neighbor("a").bfd.unwrap().failures, 1);
}
