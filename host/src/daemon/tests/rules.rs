//! Which rule decided: `show advertised` names, per route and peer, the plugin version and
//! rule of its outcome (or the config, or a fallback), and the metrics count routes per rule.

use super::harness::*;
use super::metrics::sample;
use crate::api::{ControlRequest, ControlResponse, DecidedBy, RouteView};
use crate::config::OnError;
use crate::plugins::{PluginError, PluginKind};
use crate::policy::plugins::Evaluation;
use crate::policy::{Decision, Export, Source, Why};

const VERSION: &str = "00112233aabbccdd";

fn config(plugins: bool) -> String {
    let mut c = global("")
        + &peer("a", 2, 65001, "")
        + &peer("b", 3, 65002, "")
        + &announce("198.51.100.10/32", "")
        + &announce("198.51.100.11/32", "")
        + &announce("198.51.100.12/32", "");
    if plugins {
        c += "\n[plugins.announce]\npath = \"announce.wasm\"\n";
        c += "\n[plugins.communities]\npath = \"communities.wasm\"\n";
    }
    c
}

fn rule(name: Option<&str>) -> Source {
    Source::Plugin {
        version: VERSION.into(),
        rule: name.map(Into::into),
    }
}

/// The announce plugin: .10 by rule "gold" (MED 10), .11 by an unnamed outcome, .12 skipped
/// by "hide"; the tagger names its one set "web" for peer a and nothing for b.
fn ruled(job: &crate::daemon::PolicyJob) -> Evaluation {
    let tagger = if job.view.name == "a" {
        Some("web")
    } else {
        None
    };
    let decisions = job
        .candidates
        .announce
        .iter()
        .map(|a| {
            let last = a.prefix.0.to_string();
            let (decision, announce) = match last.as_str() {
                "198.51.100.10/32" => (
                    Export {
                        med: Some(10),
                        ..Export::configured(a)
                    },
                    Some("gold"),
                ),
                "198.51.100.11/32" => (Export::configured(a), None),
                _ => {
                    let why = Why {
                        announce: rule(Some("hide")),
                        communities: Source::Configured,
                    };
                    return (Decision::Skip, why);
                }
            };
            let why = Why {
                announce: rule(announce),
                communities: rule(tagger),
            };
            (Decision::Announce(decision), why)
        })
        .collect();
    Evaluation {
        decisions,
        errors: Vec::new(),
        calls: Vec::new(),
    }
}

fn advertised(h: &mut Harness, peer: &str) -> Vec<(String, String)> {
    let filter = crate::api::RouteFilter {
        peer: Some(peer.into()),
        prefix: None,
    };
    match h.control(ControlRequest::Advertised { filter }) {
        Some(ControlResponse::Routes { routes, .. }) => routes
            .iter()
            .map(|r: &RouteView| (r.prefix.to_string(), DecidedBy::line(&r.decided_by)))
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn without_plugins_every_route_is_the_configs() {
    let mut h = Harness::new(&config(false));
    h.connect("a", &open(65001));
    let shown = advertised(&mut h, "a");
    assert_eq!(shown.len(), 3);
    assert!(shown.iter().all(|(_, by)| by == "config"), "{shown:?}");
    let text = h.daemon.metrics(&Default::default());
    assert!(
        !text.contains("gracewire_plugin_rule_routes{"),
        "no rule, no series"
    );
}

#[test]
fn each_advertised_route_names_its_plugin_version_and_rule_per_peer() {
    let mut h = Harness::new(&config(true));
    h.policy_answer = Some(Box::new(ruled));
    h.connect("a", &open(65001));
    h.connect("b", &open(65002));
    assert_eq!(
        advertised(&mut h, "a"),
        [
            (
                "198.51.100.10/32".into(),
                "announce@00112233:gold communities@00112233:web".into()
            ),
            (
                "198.51.100.11/32".into(),
                "announce@00112233 communities@00112233:web".into()
            ),
        ]
    );
    assert_eq!(
        advertised(&mut h, "b"),
        [
            (
                "198.51.100.10/32".into(),
                "announce@00112233:gold communities@00112233".into()
            ),
            (
                "198.51.100.11/32".into(),
                "announce@00112233 communities@00112233".into()
            ),
        ]
    );
    // The JSON carries the whole version and the rule as fields.
    let filter = crate::api::RouteFilter {
        peer: Some("a".into()),
        prefix: Some("198.51.100.10/32".into()),
    };
    let Some(ControlResponse::Routes { routes, .. }) =
        h.control(ControlRequest::Advertised { filter })
    else {
        panic!()
    };
    let json = serde_json::to_value(&routes[0]).unwrap();
    assert_eq!(json["decided_by"][0]["version"], VERSION);
    assert_eq!(json["decided_by"][0]["rule"], "gold");
    // Counted once per peer: .10 to a and b under "gold"; "web" only to a; unnamed outcomes
    // under ""; the skipped route under no rule.
    let count = |h: &mut Harness, kind: &str, rule: &str| {
        sample(
            h,
            "gracewire_plugin_rule_routes",
            &[("kind", kind), ("rule", rule)],
        )
    };
    assert_eq!(count(&mut h, "announce", "gold"), Some(2.0));
    assert_eq!(count(&mut h, "announce", ""), Some(2.0));
    assert_eq!(count(&mut h, "announce", "hide"), None);
    assert_eq!(count(&mut h, "communities", "web"), Some(2.0));
    assert_eq!(count(&mut h, "communities", ""), Some(2.0));
    // A peer that goes down no longer counts.
    h.disconnect("b", crate::fsm::DownReason::ConnectionLost);
    assert_eq!(count(&mut h, "announce", "gold"), Some(1.0));
}

#[test]
fn a_route_kept_after_a_fault_says_fallback_and_which_version_failed() {
    let mut h = Harness::new(&config(true));
    h.policy_answer = Some(Box::new(ruled));
    h.connect("a", &open(65001));
    h.policy_answer = Some(Box::new(|job: &crate::daemon::PolicyJob| {
        let error = PluginError::Trap("unreachable".into());
        let version = "ffeeddccbbaa9988".into();
        Evaluation::failed(
            &job.candidates,
            PluginKind::Announce,
            version,
            OnError::FailOpen,
            error,
        )
    }));
    h.reload(&config(true));
    let shown = advertised(&mut h, "a");
    // The two routes stay as they were; fail-open announces the skipped one as configured.
    assert_eq!(shown.len(), 3, "{shown:?}");
    assert!(
        shown
            .iter()
            .all(|(_, by)| by == "announce@ffeeddcc fallback"),
        "{shown:?}"
    );
    let text = h.daemon.metrics(&Default::default());
    assert!(
        !text.contains("gracewire_plugin_rule_routes{"),
        "a fallback is no rule's: {text}"
    );
}
