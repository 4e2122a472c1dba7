//! `gracewire plan`: a candidate config evaluated as a reload would, the per-peer difference
//! answered, and nothing sent or changed.

use super::harness::*;
use crate::api::{ControlRequest, ControlResponse, PlanReport};
use crate::daemon::Input;
use crate::plugins::PluginRuntime;
use std::sync::Arc;

fn config(announcements: &str) -> String {
    global("") + &peer("ebgp", 2, 65001, "") + &peer("ibgp", 3, 64512, "") + announcements
}

fn running() -> String {
    config(
        &(announce("198.51.100.10/32", "communities = [\"64512:100\"]")
            + &announce("198.51.100.11/32", "")
            + &announce("198.51.100.12/32", "")),
    )
}

/// Runs the plan the daemon asked for (off the loop in the daemon) and returns its answer.
fn plan(h: &mut Harness, candidate: &str) -> ControlResponse {
    let dir = tempfile_dir();
    let path = dir.join("candidate.toml");
    std::fs::write(&path, candidate).unwrap();
    let answer = h.control(ControlRequest::Plan {
        config: Some(path),
        plugins: vec![],
        health: vec![],
    });
    assert!(answer.is_none(), "answered once evaluated off the loop");
    let reply = h.last_request();
    let job = h.fx.plans.pop().expect("a plan job");
    let runtime = Arc::new(PluginRuntime::new(None).unwrap());
    h.input(Input::Plan(job.run(&runtime)));
    std::fs::remove_dir_all(dir).unwrap();
    h.answer(reply).expect("answered")
}

fn tempfile_dir() -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("gw-plan-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn up(h: &mut Harness) {
    h.connect("ebgp", &open(65001));
    h.connect("ibgp", &open(64512));
    h.take_sent("ebgp");
    h.take_sent("ibgp");
}

#[test]
fn a_plan_lists_each_peers_difference_and_sends_nothing() {
    let mut h = Harness::new(&running());
    up(&mut h);
    let candidate = config(
        &(announce("198.51.100.10/32", "communities = [\"64512:200\"]")
            + &announce("198.51.100.12/32", "")
            + &announce("198.51.100.13/32", "")),
    );
    let ControlResponse::Plan(report) = plan(&mut h, &candidate) else {
        panic!("not a plan");
    };
    assert_eq!(report.peers.len(), 2, "{report:?}");
    for p in &report.peers {
        let announced: Vec<String> = p.announce.iter().map(|r| r.prefix.to_string()).collect();
        assert_eq!(announced, ["198.51.100.13/32"], "{}", p.peer);
        let withdrawn: Vec<String> = p.withdraw.iter().map(|n| n.to_string()).collect();
        assert_eq!(withdrawn, ["198.51.100.11/32"], "{}", p.peer);
        assert_eq!(p.change.len(), 1, "{}", p.peer);
        assert_eq!(p.change[0].route.prefix.to_string(), "198.51.100.10/32");
        assert_eq!(
            p.change[0].differences,
            ["communities: 64512:100 -> 64512:200"],
            "{}",
            p.peer
        );
        assert_eq!(p.unchanged, 1, "198.51.100.12/32");
    }
    for peer in ["ebgp", "ibgp"] {
        assert!(h.take_sent(peer).is_empty(), "{peer}: a plan sends nothing");
    }
    // The running config is untouched: the same plan again gives the same answer.
    let ControlResponse::Plan(again) = plan(&mut h, &candidate) else {
        panic!("not a plan");
    };
    assert_eq!(again.peers[0].withdraw, report.peers[0].withdraw);
}

#[test]
fn a_plan_of_the_running_config_changes_nothing() {
    let mut h = Harness::new(&running());
    up(&mut h);
    let ControlResponse::Plan(PlanReport { peers, .. }) = plan(&mut h, &running()) else {
        panic!("not a plan");
    };
    for p in peers {
        assert!(p.announce.is_empty() && p.withdraw.is_empty() && p.change.is_empty());
        assert_eq!(p.unchanged, 3);
    }
}

#[test]
fn a_bad_candidate_gets_the_reloads_error_and_new_and_removed_peers_are_named() {
    let mut h = Harness::new(&running());
    up(&mut h);
    let answer = plan(&mut h, "[global]\nasn = \"x\"\n");
    let ControlResponse::Error { error, .. } = answer else {
        panic!("{answer:?}");
    };
    assert!(error.contains("would be refused by a reload"), "{error}");
    assert!(error.contains("asn"), "{error}");
    let candidate = global("")
        + &peer("ebgp", 2, 65001, "")
        + &peer("new", 4, 65009, "")
        + &announce("198.51.100.10/32", "");
    let ControlResponse::Plan(report) = plan(&mut h, &candidate) else {
        panic!("not a plan");
    };
    assert_eq!(report.new_peers, ["new"]);
    assert_eq!(report.removed_peers, ["ibgp"]);
    assert_eq!(
        report.peers.len(),
        1,
        "only the peers that stay are evaluated"
    );
}
