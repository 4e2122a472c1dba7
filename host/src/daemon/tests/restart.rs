//! The restarting speaker (RFC 4724 §4.1): the R bit, F bits, our End-of-RIB, and selection
//! deferral until every GR peer's End-of-RIB.

use super::harness::*;
use crate::api::ControlRequest;
use crate::fsm::DownReason;
use crate::wire::notification::{cease, code};
use std::time::Duration;

fn two_gr_peers() -> String {
    global("")
        + &peer("a", 2, 65001, "")
        + &peer("b", 3, 65002, "")
        + &announce("198.51.100.10/32", "")
        + &announce("2001:db8:100::/64", "")
}

#[test]
fn the_first_open_after_a_restart_carries_r_and_a_later_flap_does_not() {
    let mut h = Harness::restart(&two_gr_peers(), 5);
    assert!(
        h.next_gr("a").unwrap().restart_state,
        "R=1 before the first session"
    );
    h.connect("a", &open(65001).gr(120));
    assert!(!h.next_gr("a").unwrap().restart_state, "R=0 once up");
    h.disconnect("a", DownReason::ConnectionLost);
    assert!(
        !h.next_gr("a").unwrap().restart_state,
        "an ordinary flap is no restart"
    );
    assert!(
        h.next_gr("b").unwrap().restart_state,
        "b has not been up yet"
    );
}

#[test]
fn a_fresh_start_and_a_start_after_the_restart_time_never_set_r() {
    let mut h = Harness::new(&two_gr_peers());
    assert!(!h.next_gr("a").unwrap().restart_state);
    let mut h = Harness::restart(&two_gr_peers(), 121);
    assert!(
        !h.next_gr("a").unwrap().restart_state,
        "peers have flushed us by now"
    );
    assert!(!h.routes().1, "no deferral either");
}

#[test]
fn r_is_cleared_when_the_restart_window_closes() {
    // Down for 100 s of a 120 s restart time: 20 s of window left.
    let mut h = Harness::restart(&two_gr_peers(), 100);
    assert!(h.next_gr("a").unwrap().restart_state);
    h.advance(Duration::from_secs(19));
    assert!(h.next_gr("a").unwrap().restart_state);
    h.advance(Duration::from_secs(2));
    assert!(!h.next_gr("a").unwrap().restart_state, "window closed");
}

#[test]
fn after_an_operator_reset_the_session_reopens_with_r_zero() {
    let mut h = Harness::restart(&two_gr_peers(), 5);
    h.connect("a", &open(65001).gr(120));
    h.control(ControlRequest::Reset {
        peer: "a".into(),
        hard: false,
    });
    let resets = h.resets("a");
    assert_eq!(
        (resets[0].code, resets[0].subcode),
        (code::CEASE, cease::ADMIN_RESET)
    );
    assert!(!h.next_gr("a").unwrap().restart_state);
}

#[test]
fn forwarding_preserved_false_advertises_f_zero_for_every_family() {
    let config = global("forwarding_preserved = false") + &peer("a", 2, 65001, "");
    let mut h = Harness::restart(&config, 5);
    let gr = h.next_gr("a").unwrap();
    assert_eq!(gr.families.len(), 2);
    assert!(gr.families.iter().all(|f| !f.forwarding_preserved));
    assert!(
        h.fx.records[0].families.is_empty(),
        "nothing kept forwarding"
    );
    let mut h = Harness::restart(&two_gr_peers(), 5);
    assert!(h
        .next_gr("a")
        .unwrap()
        .families
        .iter()
        .all(|f| f.forwarding_preserved));
}

#[test]
fn end_of_rib_goes_out_per_negotiated_family_after_the_initial_table() {
    let mut h = Harness::new(&two_gr_peers());
    h.connect("a", &open(65001).gr(120));
    let messages = h.take_sent("a");
    let sent = {
        // The table first, then one End-of-RIB per family, last.
        let eors: Vec<usize> = messages
            .iter()
            .enumerate()
            .filter(
                |(_, m)| matches!(m, crate::wire::Message::Update(u) if u.end_of_rib().is_some()),
            )
            .map(|(i, _)| i)
            .collect();
        assert_eq!(eors, vec![messages.len() - 2, messages.len() - 1]);
        messages
    };
    assert_eq!(sent.len(), 4, "one UPDATE per family, two End-of-RIBs");
    h.connect("b", &open(65002).gr(120).families(&[V4]));
    let b = h.take_updates("b");
    assert_eq!(b.end_of_rib, vec![V4], "only the family negotiated");
    assert_eq!(b.prefixes(), vec![net("198.51.100.10/32")]);
}

#[test]
fn selection_waits_for_every_gr_peers_end_of_rib_then_runs_at_once() {
    let mut h = Harness::restart(&two_gr_peers(), 5);
    h.connect("a", &open(65001).gr(120));
    h.connect("b", &open(65002).gr(120).families(&[V4]));
    h.receive("a", route(&["203.0.113.0/24"], &[65001]));
    h.receive("a", route(&["2001:db8:200::/48"], &[65001]));
    h.receive("b", route(&["203.0.114.0/24"], &[65002]));
    let (loc, deferred, routes) = h.routes();
    assert!(deferred && loc == 0);
    assert!(routes.iter().all(|r| !r.best), "no best while deferred");
    h.end_of_rib("a", V4);
    h.end_of_rib("a", V6);
    assert!(h.routes().1, "b has not sent End-of-RIB");
    h.end_of_rib("b", V4);
    let (loc, deferred, routes) = h.routes();
    assert!(!deferred, "over on the last End-of-RIB, not by the timer");
    assert_eq!(loc, 3);
    assert!(routes.iter().all(|r| r.best));
    assert_eq!(h.elapsed(), Duration::ZERO, "no time passed");
}

#[test]
fn deferral_is_ended_by_its_timer_when_a_peer_never_sends_end_of_rib() {
    let mut h = Harness::restart(&two_gr_peers(), 5);
    h.connect("a", &open(65001).gr(120));
    h.receive("a", route(&["203.0.113.0/24"], &[65001]));
    h.end_of_rib("a", V4);
    h.end_of_rib("a", V6);
    h.advance(Duration::from_secs(359));
    assert!(h.routes().1, "b never came: still waiting");
    h.advance(Duration::from_secs(2));
    let (loc, deferred, _) = h.routes();
    assert!(
        !deferred && loc == 1,
        "selection_deferral_time (360 s) ended it"
    );
}

#[test]
fn peers_without_gr_restarting_themselves_removed_or_down_stop_counting() {
    let config = global("")
        + &peer("a", 2, 65001, "")
        + &peer("b", 3, 65002, "")
        + &peer("c", 4, 65003, "")
        + &peer("d", 5, 65004, "");
    let mut h = Harness::restart(&config, 5);
    h.connect("a", &open(65001)); // no GR capability
    h.connect("b", &open(65002).gr(120).restarting()); // R=1: waits for us
    h.connect("d", &open(65004).gr(120));
    assert!(h.routes().1, "c and d still count");
    h.disconnect("d", DownReason::ConnectionLost);
    assert!(h.routes().1, "c still counts");
    let without_c =
        global("") + &peer("a", 2, 65001, "") + &peer("b", 3, 65002, "") + &peer("d", 5, 65004, "");
    h.reload(&without_c);
    assert!(!h.routes().1, "nobody left to wait for");
}

#[test]
fn a_peer_configured_without_gr_is_not_waited_for() {
    let config = global("") + &peer("a", 2, 65001, "graceful_restart = false");
    let mut h = Harness::restart(&config, 5);
    assert!(!h.routes().1);
    assert!(h.next_gr("a").is_none(), "no GR capability at all");
}

#[test]
fn our_end_of_rib_goes_out_while_a_restarting_peer_holds_its_own_back() {
    let mut h = Harness::restart(&two_gr_peers(), 5);
    h.connect("a", &open(65001).gr(120).restarting());
    // The peer restarts too and waits for our End-of-RIB before it sends its own.
    let sent = h.take_updates("a");
    assert_eq!(sent.end_of_rib, vec![V4, V6], "no deadlock: ours went out");
    assert_eq!(sent.prefixes().len(), 2);
}

#[test]
fn the_restart_record_is_kept_alive_and_marked_clean_at_a_planned_stop() {
    let mut h = Harness::new(&two_gr_peers());
    assert_eq!(h.fx.records.len(), 1);
    assert_eq!(h.fx.records[0].alive_at, UNIX_START);
    assert_eq!(
        h.fx.records[0].families,
        vec!["ipv4-unicast", "ipv6-unicast"],
        "the first record, written at start, already names what peers keep (a crash before \
         the first heartbeat once left it empty)"
    );
    h.advance(Duration::from_secs(5));
    assert_eq!(h.fx.records.len(), 3, "heartbeat every 2 s");
    assert_eq!(h.fx.records[2].alive_at, UNIX_START + 4);
    assert!(h.fx.records.iter().all(|r| !r.clean_stop));
    h.daemon.shutdown(&mut h.fx);
    let last = h.fx.records.last().unwrap();
    assert!(last.clean_stop);
    assert_eq!(last.families, vec!["ipv4-unicast", "ipv6-unicast"]);
}

#[test]
fn the_record_carries_the_long_lived_time_from_the_first_write() {
    let config = global("long_lived_stale_time = 600") + &peer("a", 2, 65001, "");
    let h = Harness::new(&config);
    assert_eq!(h.fx.records[0].long_lived_stale_time, 600);
    // Down 300 s with a 120 s restart time: still a restart, as peers keep our routes.
    let mut boot = Boot::after(300);
    boot.record.as_mut().unwrap().long_lived_stale_time = 600;
    let mut h = Harness::boot(&config, boot);
    assert!(h.next_gr("a").unwrap().restart_state, "R=1");
}
