//! Plugins as the daemon sees them: a failing evaluation falls back per `on_error`, a rejected
//! version changes nothing, and the GR profile's answers reach our OPEN and our timers.

use super::harness::*;
use crate::api::{ControlRequest, ControlResponse};
use crate::config::OnError;
use crate::daemon::{PluginEvent, Timer};
use crate::fsm::DownReason;
use crate::plugins::{PluginError, PluginKind};
use crate::policy::plugins::{Evaluation, GrTimers};
use std::time::{Duration, Instant};

fn config(extra: &str) -> String {
    global("")
        + &peer("a", 2, 65001, "")
        + &announce("198.51.100.1/32", "")
        + extra
        + "\n[plugins.announce]\npath = \"announce.wasm\"\n"
}

fn fail(on_error: OnError) -> impl FnMut(&crate::daemon::PolicyJob) -> Evaluation {
    move |job| {
        let error = PluginError::Trap("unreachable".into());
        let version = "0123456789abcdef".into();
        Evaluation::failed(
            &job.candidates,
            PluginKind::Announce,
            version,
            on_error,
            error,
        )
    }
}

fn plugin_status(h: &mut Harness, kind: &str) -> crate::api::PluginView {
    match h.control(ControlRequest::Plugins) {
        Some(ControlResponse::Plugins(p)) => p.into_iter().find(|p| p.kind == kind).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_failing_plugin_keeps_every_route_where_it_is() {
    let mut h = Harness::new(&config(""));
    h.connect("a", &open(65001));
    assert_eq!(h.take_updates("a").announced.len(), 1);
    h.policy_answer = Some(Box::new(fail(OnError::FailClosed)));
    h.reload(&config(""));
    let sent = h.take_updates("a");
    assert!(
        sent.withdrawn.is_empty() && sent.announced.is_empty(),
        "{sent:?}"
    );
    assert_eq!(h.neighbor("a").advertised, 1);
    let status = plugin_status(&mut h, "announce");
    assert!(status.last_error.unwrap().contains("unreachable"));
}

#[test]
fn on_error_decides_for_routes_without_a_last_good_outcome() {
    let mut h = Harness::new(&config(""));
    h.connect("a", &open(65001));
    h.take_sent("a");
    let more = config(&announce("198.51.100.2/32", ""));
    h.policy_answer = Some(Box::new(fail(OnError::FailClosed)));
    h.reload(&more);
    assert!(
        h.take_updates("a").announced.is_empty(),
        "fail-closed: the new route waits"
    );
    h.policy_answer = Some(Box::new(fail(OnError::FailOpen)));
    h.reload(&more);
    assert_eq!(
        h.take_updates("a").prefixes(),
        vec![net("198.51.100.2/32")],
        "fail-open: announced as configured"
    );
    h.policy_answer = None;
    h.reload(&config(""));
    assert_eq!(
        h.take_updates("a").withdrawn,
        vec![net("198.51.100.2/32")],
        "working again"
    );
}

#[test]
fn a_rejected_plugin_version_changes_nothing() {
    let mut h = Harness::new(&config(""));
    h.connect("a", &open(65001));
    h.take_sent("a");
    let since = Instant::now();
    h.plugin(PluginEvent::Changed {
        kind: PluginKind::Announce,
        since,
    });
    let load = h.fx.plugin_loads.pop().expect("a load off the loop");
    assert_eq!(load.kind, PluginKind::Announce);
    h.plugin(PluginEvent::Loaded {
        kind: PluginKind::Announce,
        since,
        path: load.config.path,
        config_json: "{}".into(),
        result: Err(PluginError::Compile("bad magic".into())),
    });
    let status = plugin_status(&mut h, "announce");
    assert_eq!((status.rejections, status.swaps), (1, 0));
    assert!(status.last_error.unwrap().contains("bad magic"));
    // Watchers are told the rejection and why.
    assert!(h.fx.events.iter().any(|e| matches!(e,
        crate::api::proto::event::Kind::Plugin(p) if p.kind == "announce"
            && p.outcome == "rejected"
            && p.error.as_deref().is_some_and(|e| e.contains("bad magic")))));
    assert!(h.take_sent("a").is_empty());
    assert!(
        h.fx.policy_jobs.is_empty(),
        "no re-evaluation for a rejected version"
    );
}

fn profile(restart_time: u16, stale_path_time: u32, selection_deferral_time: u32) -> GrTimers {
    GrTimers {
        restart_time,
        stale_path_time,
        selection_deferral_time,
        notification: false,
        long_lived_stale_time: None,
        forwarding: vec![(V4, true), (V6, false)],
    }
}

#[test]
fn the_gr_profiles_answer_reaches_the_next_open_without_a_reset() {
    let mut h = Harness::new(&config(""));
    h.connect("a", &open(65001).gr(120));
    h.plugin(PluginEvent::GrTimers {
        peer: "a".into(),
        result: Ok(profile(77, 30, 60)),
        took: Duration::ZERO,
    });
    let gr = h.next_gr("a").unwrap();
    assert_eq!((gr.restart_time, gr.notification), (77, false));
    let f: Vec<bool> = gr.families.iter().map(|f| f.forwarding_preserved).collect();
    assert_eq!(f, vec![true, false]);
    assert!(h.resets("a").is_empty());
    h.plugin(PluginEvent::GrTimers {
        peer: "a".into(),
        result: Err(PluginError::Timeout(Duration::from_millis(100))),
        took: Duration::from_millis(100),
    });
    assert_eq!(
        h.next_gr("a").unwrap().restart_time,
        77,
        "a failure keeps the last answer"
    );
}

#[test]
fn selection_deferral_uses_the_gr_profiles_time() {
    let mut boot = Boot::after(5);
    boot.gr_profile = Some(profile(120, 360, 30));
    let mut h = Harness::boot(&config(""), boot);
    let timers = h.pending_timers();
    assert!(
        timers.contains(&(Duration::from_secs(30), Timer::SelectionDeferralExpired)),
        "{timers:?}"
    );
    h.advance(Duration::from_secs(31));
    assert!(!h.routes().1);
}

#[test]
fn the_helper_waits_the_gr_profiles_stale_path_time() {
    let mut h = Harness::new(&config(""));
    h.connect("a", &open(65001).gr(120));
    h.receive("a", route(&["203.0.113.0/24"], &[65001]));
    h.plugin(PluginEvent::GrTimers {
        peer: "a".into(),
        result: Ok(profile(120, 5, 60)),
        took: Duration::ZERO,
    });
    h.disconnect("a", DownReason::ConnectionLost);
    h.connect("a", &open(65001).gr(120));
    h.advance(Duration::from_secs(6));
    assert!(
        h.received("a").is_empty(),
        "swept after the profile's 5 s, not 360"
    );
}
