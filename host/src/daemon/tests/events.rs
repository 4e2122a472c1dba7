//! What `WatchEvents` streams (issue 27), from the daemon driven without sockets: the harness
//! watches, so every event the daemon publishes is recorded in order.

use super::harness::*;
use crate::api::proto::event::Kind;
use crate::api::ControlRequest;
use crate::fsm::DownReason;
use serde_json::json;
use std::time::Duration;

fn config() -> String {
    global("") + &peer("a", 2, 65001, "") + &announce("198.51.100.1/32", "")
}

fn take(h: &mut Harness) -> Vec<Kind> {
    std::mem::take(&mut h.fx.events)
}

#[test]
fn a_session_its_routes_a_source_change_and_a_drain_are_told_in_order() {
    let mut h = Harness::new(&config());
    take(&mut h);
    h.connect("a", &open(65001));
    let events = take(&mut h);
    let up = events
        .iter()
        .position(|e| matches!(e, Kind::Session(s) if s.peer == "a" && s.state == "Established"));
    let sent = events.iter().position(|e| {
        matches!(e, Kind::Routes(r) if r.peer == "a" && r.announced == 1
            && r.announced_prefixes == ["198.51.100.1/32"])
    });
    assert!(up.is_some() && sent.is_some() && up < sent, "{events:?}");

    let set = ControlRequest::AnnounceSet {
        source: "ctl".into(),
        announcements: vec![json!({"prefix": "198.51.100.10/32"})],
    };
    h.control(set).unwrap();
    h.settle();
    let events = take(&mut h);
    assert!(
        matches!(&events[0], Kind::Announcements(a) if a.source == "ctl" && a.added == 1),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(e, Kind::Routes(r)
        if r.announced_prefixes == ["198.51.100.10/32"] && r.withdrawn == 0)));

    let drain = ControlRequest::Drain {
        wait_secs: Some(5),
        if_marked: false,
    };
    h.input(crate::daemon::Input::Control {
        request: drain,
        reply: 99,
    });
    h.advance(Duration::from_secs(6));
    h.settle();
    let phases: Vec<String> = take(&mut h)
        .into_iter()
        .filter_map(|e| match e {
            Kind::Drain(d) => Some(d.phase),
            _ => None,
        })
        .collect();
    assert_eq!(phases, ["announcing-shutdown", "withdrawn"]);

    h.disconnect("a", DownReason::HoldTimerExpired);
    let events = take(&mut h);
    assert!(
        events.iter().any(|e| matches!(e, Kind::Session(s)
            if s.state == "Idle" && s.reason.as_deref() == Some("hold timer expired"))),
        "{events:?}"
    );
}

#[test]
fn graceful_restart_phases_and_reloads_are_told() {
    let mut h = Harness::new(&config());
    h.connect("a", &open(65001).gr(120));
    h.receive("a", route(&["203.0.113.0/24"], &[65001]));
    h.end_of_rib("a", V4);
    take(&mut h);
    h.disconnect("a", DownReason::ConnectionLost);
    let events = take(&mut h);
    assert!(
        events.iter().any(|e| matches!(e, Kind::GracefulRestart(g)
            if g.peer == "a" && g.phase == "helper-started")),
        "{events:?}"
    );
    h.connect("a", &open(65001).gr(120));
    h.end_of_rib("a", V4);
    let events = take(&mut h);
    assert!(
        events.iter().any(|e| matches!(e, Kind::GracefulRestart(g)
            if g.peer == "a" && g.phase == "helper-ended")),
        "{events:?}"
    );

    h.input(crate::daemon::Input::Reload {
        config: Err("line 3: bad".into()),
        reply: None,
    });
    h.reload(&(config() + &announce("198.51.100.2/32", "")));
    let reloads: Vec<(bool, String)> = take(&mut h)
        .into_iter()
        .filter_map(|e| match e {
            Kind::Reload(r) => Some((r.applied, r.message)),
            _ => None,
        })
        .collect();
    assert_eq!(
        reloads,
        [
            (false, "line 3: bad".to_string()),
            (
                true,
                "config reloaded: 1 peers, 2 announcements".to_string()
            )
        ]
    );
}

#[test]
fn our_deferral_ending_and_a_peer_past_its_restart_time_are_told() {
    let config = global("") + &peer("a", 2, 65001, "") + &announce("198.51.100.1/32", "");
    let mut h = Harness::restart(&config, 5);
    h.connect("a", &open(65001).gr(120));
    take(&mut h);
    h.end_of_rib("a", V4);
    h.end_of_rib("a", V6);
    let events = take(&mut h);
    assert!(
        events.iter().any(|e| matches!(e, Kind::GracefulRestart(g)
            if g.peer.is_empty() && g.phase == "deferral-ended")),
        "{events:?}"
    );

    h.receive("a", route(&["203.0.113.0/24"], &[65001]));
    h.disconnect("a", DownReason::ConnectionLost);
    take(&mut h);
    h.advance(Duration::from_secs(121));
    let events = take(&mut h);
    assert!(
        events.iter().any(|e| matches!(e, Kind::GracefulRestart(g)
            if g.peer == "a" && g.phase == "restart-time-expired")),
        "{events:?}"
    );
}
