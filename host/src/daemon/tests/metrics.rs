//! The exposition as a scrape would see it: values from the state, counters that only grow
//! across sessions, reloads and plugin swaps, readiness.

use super::harness::*;
use crate::api::{ControlRequest, ControlResponse, ProcessStats};
use crate::daemon::PluginEvent;
use crate::fsm::{DownReason, State};
use crate::plugins::{PluginError, PluginKind};
use crate::session::{Direction, SessionEventKind};
use crate::wire::Message;
use std::time::{Duration, Instant};

/// The value of the sample `name{labels}` (labels as they are printed, in any order).
pub(super) fn sample(h: &mut Harness, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = h.daemon.metrics(&ProcessStats::default());
    text.lines().find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, rest) = series.split_once('{').unwrap_or((series, "}"));
        let all = labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        (n == name && all).then(|| value.parse().ok()).flatten()
    })
}

fn config() -> String {
    global("")
        + &peer("a", 2, 65001, "")
        + &announce("198.51.100.10/32", "")
        + &announce("2001:db8:100::/64", "")
}

#[test]
fn session_state_and_prefixes_per_family() {
    let mut h = Harness::new(&config());
    let a = [("peer", "a")];
    assert_eq!(sample(&mut h, "gracewire_bgp_session_up", &a), Some(0.0));
    assert_eq!(
        sample(&mut h, "gracewire_bgp_session_state", &a),
        Some(1.0),
        "Idle"
    );
    h.connect("a", &open(65001).gr(120));
    h.receive("a", route(&["203.0.113.0/24", "203.0.114.0/24"], &[65001]));
    assert_eq!(sample(&mut h, "gracewire_bgp_session_up", &a), Some(1.0));
    assert_eq!(sample(&mut h, "gracewire_bgp_session_state", &a), Some(6.0));
    let fam = |f| [("peer", "a"), ("family", f)];
    assert_eq!(
        sample(
            &mut h,
            "gracewire_bgp_announced_prefixes",
            &fam("ipv4-unicast")
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &mut h,
            "gracewire_bgp_announced_prefixes",
            &fam("ipv6-unicast")
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &mut h,
            "gracewire_bgp_received_prefixes",
            &fam("ipv4-unicast")
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(&mut h, "gracewire_gr_end_of_rib_seconds", &a),
        Some(0.0)
    );
    h.disconnect("a", DownReason::ConnectionLost);
    assert_eq!(
        sample(&mut h, "gracewire_gr_peer_restarting", &a),
        Some(1.0)
    );
    assert_eq!(sample(&mut h, "gracewire_gr_stale_routes", &a), Some(2.0));
    assert_eq!(sample(&mut h, "gracewire_bgp_session_up", &a), Some(0.0));
}

#[test]
fn counters_only_grow_across_sessions_and_a_reload_that_replaces_the_session() {
    let mut h = Harness::new(&config());
    let a = [("peer", "a")];
    for _ in 0..3 {
        h.connect("a", &open(65001));
        h.disconnect("a", DownReason::ConnectionLost);
    }
    let counters = h.fx.sessions["a"].config.counters.clone();
    counters.count(Direction::Received, &Message::Keepalive);
    counters.count(Direction::Received, &Message::Keepalive);
    assert_eq!(
        sample(&mut h, "gracewire_bgp_session_established_total", &a),
        Some(3.0)
    );
    assert_eq!(
        sample(&mut h, "gracewire_bgp_keepalives_received_total", &a),
        Some(2.0)
    );
    // A new AS: the session task is replaced, the counters stay with the peer.
    h.reload(&(global("") + &peer("a", 2, 65009, "")));
    assert_eq!(
        sample(&mut h, "gracewire_bgp_session_established_total", &a),
        Some(3.0)
    );
    assert_eq!(
        sample(&mut h, "gracewire_bgp_keepalives_received_total", &a),
        Some(2.0)
    );
    h.connect("a", &open(65009));
    assert_eq!(
        sample(&mut h, "gracewire_bgp_session_established_total", &a),
        Some(4.0)
    );
    // A reload that keeps the peer keeps everything too; one that is refused is counted.
    h.reload(&(global("") + &peer("a", 2, 65009, "")));
    h.input(crate::daemon::Input::Reload {
        config: Err("bad".into()),
        reply: None,
    });
    assert_eq!(
        sample(&mut h, "gracewire_bgp_session_established_total", &a),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &mut h,
            "gracewire_config_reloads_total",
            &[("result", "ok")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &mut h,
            "gracewire_config_reloads_total",
            &[("result", "refused")]
        ),
        Some(1.0)
    );
}

#[test]
fn notifications_are_counted_by_code_and_subcode() {
    let mut h = Harness::new(&config());
    let c = h.fx.sessions["a"].config.counters.clone();
    let n = crate::wire::Notification::new(6, 4);
    c.count(Direction::Sent, &Message::Notification(n.clone()));
    c.count(Direction::Sent, &Message::Notification(n));
    let labels = [("peer", "a"), ("code", "6"), ("subcode", "4")];
    assert_eq!(
        sample(
            &mut h,
            "gracewire_bgp_notifications_by_code_sent_total",
            &labels
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &mut h,
            "gracewire_bgp_notifications_sent_total",
            &[("peer", "a")]
        ),
        Some(2.0)
    );
}

#[test]
fn gr_restarts_add_up_across_processes() {
    let mut boot = Boot::after(5);
    boot.record.as_mut().unwrap().restarts = 4;
    let mut h = Harness::boot(&config(), boot);
    assert_eq!(
        sample(&mut h, "gracewire_gr_restarts_total", &[]),
        Some(5.0)
    );
    assert_eq!(
        h.fx.records.last().unwrap().restarts,
        5,
        "kept for the next process"
    );
    assert_eq!(
        sample(&mut h, "gracewire_gr_selection_deferred", &[]),
        Some(1.0)
    );
    let mut fresh = Boot::after(500);
    fresh.record.as_mut().unwrap().restarts = 4;
    let mut h = Harness::boot(&config(), fresh);
    assert_eq!(
        sample(&mut h, "gracewire_gr_restarts_total", &[]),
        Some(4.0),
        "a fresh start is no restart"
    );
}

#[test]
fn plugin_calls_errors_and_rejections_outlive_a_swap() {
    let mut h = Harness::new(&(config() + "\n[plugins.gr]\npath = \"gr.wasm\"\n"));
    for result in [Ok(profile()), Err(PluginError::Trap("boom".into()))] {
        h.plugin(PluginEvent::GrTimers {
            peer: "a".into(),
            result,
            took: Duration::from_micros(50),
        });
    }
    let since = Instant::now();
    h.plugin(PluginEvent::Loaded {
        kind: PluginKind::Gr,
        since,
        path: "gr.wasm".into(),
        config_json: "{}".into(),
        result: Err(PluginError::Compile("bad".into())),
    });
    let gr = [("kind", "gr")];
    assert_eq!(
        sample(&mut h, "gracewire_plugin_calls_total", &gr),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &mut h,
            "gracewire_plugin_errors_total",
            &[("kind", "gr"), ("reason", "trap")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &mut h,
            "gracewire_plugin_errors_total",
            &[("kind", "gr"), ("reason", "compile")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&mut h, "gracewire_plugin_rejections_total", &gr),
        Some(1.0)
    );
    assert_eq!(
        sample(&mut h, "gracewire_plugin_call_duration_seconds_count", &gr),
        Some(2.0)
    );
}

fn profile() -> crate::policy::plugins::GrTimers {
    crate::policy::plugins::GrTimers {
        restart_time: 120,
        stale_path_time: 360,
        selection_deferral_time: 360,
        notification: true,
        long_lived_stale_time: None,
        forwarding: vec![],
    }
}

#[test]
fn ready_once_every_peer_was_attempted() {
    let mut h = Harness::new(&(config() + &peer("b", 3, 65002, "")));
    let ready = |h: &mut Harness| match h.control(ControlRequest::Ready) {
        Some(ControlResponse::Ready {
            ready,
            not_attempted,
        }) => (ready, not_attempted),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        ready(&mut h),
        (false, vec!["a".to_string(), "b".to_string()])
    );
    let id = h.fx.sessions["a"].config.id;
    h.event_from("a", id, SessionEventKind::State(State::Connect));
    assert_eq!(ready(&mut h), (false, vec!["b".to_string()]));
    h.connect("b", &open(65002));
    assert_eq!(ready(&mut h), (true, vec![]));
}
