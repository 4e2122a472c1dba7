//! Inputs that arrive after what they were for has gone: a policy result, a timer, a control
//! request or an UPDATE after the session went down, events of a replaced session task. None
//! may panic the daemon or be mistaken for the current session.

use super::harness::*;
use crate::api::{ControlRequest, ControlResponse};
use crate::fsm::DownReason;
use std::time::Duration;

fn config() -> String {
    global("") + &peer("a", 2, 65001, "") + &announce("198.51.100.10/32", "")
}

#[test]
fn a_policy_result_for_a_session_that_went_down_is_dropped() {
    // Before the daemon core was rebuilt, this was `panicked at ... expect("established")`:
    // the down session kept its state and generation, so the late result looked current.
    let mut h = Harness::new(&config());
    h.hold_policy = true;
    h.connect("a", &open(65001).gr(120));
    h.disconnect("a", DownReason::ConnectionLost);
    h.release_policy();
    assert_eq!(h.neighbor("a").advertised, 0);
    assert_eq!(h.neighbor("a").state, "Idle");
    assert!(h.take_sent("a").is_empty());
}

#[test]
fn only_the_current_sessions_result_is_applied_after_a_flap() {
    let mut h = Harness::new(&config());
    h.hold_policy = true;
    h.connect("a", &open(65001));
    h.disconnect("a", DownReason::ConnectionLost);
    h.connect("a", &open(65001));
    assert_eq!(h.fx.policy_jobs.len(), 2);
    h.release_policy();
    let sent = h.take_updates("a");
    assert_eq!(
        sent.end_of_rib,
        vec![V4, V6],
        "one table, one End-of-RIB per family"
    );
    assert_eq!(sent.updates, 1);
}

#[test]
fn timers_and_requests_for_a_removed_peer_do_nothing() {
    let mut h = Harness::new(&config());
    h.connect("a", &open(65001).gr(120));
    h.receive("a", route(&["203.0.113.0/24"], &[65001]));
    h.disconnect("a", DownReason::ConnectionLost);
    h.reload(&global("")); // a removed while its restart timer runs
    h.advance(Duration::from_secs(200));
    let answer = h.control(ControlRequest::Reset {
        peer: "a".into(),
        hard: true,
    });
    assert!(
        matches!(answer, Some(ControlResponse::Error { .. })),
        "{answer:?}"
    );
    assert!(h.routes().2.is_empty());
}

#[test]
fn requests_and_refreshes_for_a_down_session_are_answered_without_it() {
    let mut h = Harness::new(&config());
    h.connect("a", &open(65001));
    h.take_sent("a");
    h.disconnect("a", DownReason::ConnectionLost);
    let n = h.neighbor("a");
    assert_eq!((n.state.as_str(), n.uptime_secs), ("Idle", None));
    assert!(n.families.is_empty());
    h.route_refresh("a", V4);
    assert!(h.take_sent("a").is_empty());
    assert!(matches!(
        h.control(ControlRequest::Reset {
            peer: "a".into(),
            hard: false
        }),
        Some(ControlResponse::Done { .. })
    ));
}

#[test]
fn an_update_queued_before_the_session_went_down_is_not_taken() {
    let mut h = Harness::new(&config());
    h.connect("a", &open(65001));
    h.disconnect("a", DownReason::ConnectionLost);
    h.receive("a", route(&["203.0.113.0/24"], &[65001]));
    assert!(h.received("a").is_empty());
}

#[test]
fn events_of_a_replaced_session_task_are_ignored() {
    let mut h = Harness::new(&config());
    let old = h.fx.sessions["a"].config.id;
    // A new AS for the peer: its session is replaced by a new task.
    h.reload(&(global("") + &peer("a", 2, 65009, "")));
    assert_ne!(h.fx.sessions["a"].config.id, old);
    let established = h.established("a", &open(65009));
    h.event_from("a", old, established);
    assert_eq!(
        h.neighbor("a").state,
        "Idle",
        "the old task's Established was dropped"
    );
    assert!(h.fx.policy_jobs.is_empty());
}
