//! Health checks (issue 26): a route is announced only while every check it names is up, a
//! change of verdict sends only the routes it gates, and reports of a replaced check count
//! for nothing.

use super::harness::*;
use crate::api::{ControlRequest, ControlResponse, HealthView};
use crate::daemon::Input;
use crate::health::{Forced, Report};
use std::time::Duration;

const CHECKS: &str = "[health_checks.web]\nkind = \"tcp\"\naddress = \"127.0.0.1:8080\"\n\
                      interval_ms = 100\ntimeout_ms = 50\nrise = 2\nfall = 2\n\n\
                      [health_checks.db]\nkind = \"exec\"\ncommand = [\"/bin/true\"]\nrise = 1\nfall = 1\n";

fn config(checks: &str) -> String {
    global("")
        + &peer("a", 2, 65001, "")
        + &announce("198.51.100.1/32", "health = \"web\"")
        + &announce("198.51.100.2/32", "health = [\"web\", \"db\"]")
        + &announce("198.51.100.3/32", "")
        + checks
}

/// The generation the daemon gave `check` when it last asked for the probes.
fn generation(h: &Harness, check: &str) -> u64 {
    let probes = h.fx.health_probes.as_ref().expect("probes asked for");
    probes
        .iter()
        .find(|(c, _)| c == check)
        .expect("a probe of it")
        .1
}

fn report(h: &mut Harness, check: &str, ok: bool) {
    let generation = generation(h, check);
    let outcome = if ok {
        Ok(())
    } else {
        Err("connect 127.0.0.1:8080: refused".into())
    };
    h.advance(Duration::from_millis(100));
    let took = Duration::from_millis(1);
    h.input(Input::Health(Report {
        check: check.into(),
        generation,
        outcome,
        took,
    }));
}

fn views(h: &mut Harness) -> Vec<HealthView> {
    match h.control(ControlRequest::Health) {
        Some(ControlResponse::Health(v)) => v,
        other => panic!("{other:?}"),
    }
}

#[test]
fn peers_get_their_first_table_once_every_check_has_a_verdict() {
    let mut h = Harness::new(&config(CHECKS));
    let probes = h.fx.health_probes.clone().unwrap();
    assert_eq!(
        probes.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        ["db", "web"]
    );
    h.connect("a", &open(65001));
    let sent = h.take_updates("a");
    assert_eq!(
        (sent.updates, sent.end_of_rib.len()),
        (0, 0),
        "no table, no End-of-RIB yet"
    );
    report(&mut h, "web", true);
    report(&mut h, "web", true);
    assert_eq!(
        h.take_updates("a").updates,
        0,
        "web is up, db has no verdict yet"
    );
    report(&mut h, "db", true);
    let sent = h.take_updates("a");
    let all = [
        net("198.51.100.1/32"),
        net("198.51.100.2/32"),
        net("198.51.100.3/32"),
    ];
    assert_eq!(
        sent.prefixes(),
        all,
        "announced with the first table: never withdrawn first"
    );
    assert_eq!(sent.end_of_rib, [V4, V6], "End-of-RIB after it");

    let web = &views(&mut h)[1];
    assert_eq!(
        (web.check.as_str(), web.status.as_str(), web.serves),
        ("web", "up", 2)
    );
    assert_eq!(web.transitions, 1);
    assert_eq!(web.error, None);
}

#[test]
fn checks_without_a_verdict_in_time_leave_their_routes_out_of_the_first_table() {
    let mut h = Harness::new(&config(CHECKS));
    h.connect("a", &open(65001));
    report(&mut h, "web", true);
    report(&mut h, "web", true);
    // db: rise = fall = 1 probe of 1000 ms, plus its 800 ms timeout.
    h.advance(Duration::from_millis(1800 - 200 - 1));
    assert_eq!(h.take_updates("a").updates, 0);
    h.advance(Duration::from_millis(1));
    let sent = h.take_updates("a");
    assert_eq!(
        sent.prefixes(),
        [net("198.51.100.1/32"), net("198.51.100.3/32")]
    );
    assert_eq!(sent.end_of_rib, [V4, V6]);
    report(&mut h, "db", true);
    assert_eq!(h.take_updates("a").prefixes(), [net("198.51.100.2/32")]);
}

#[test]
fn a_check_that_falls_withdraws_only_the_routes_it_gates() {
    let mut h = Harness::new(&config(CHECKS));
    h.connect("a", &open(65001));
    for check in ["web", "web", "db"] {
        report(&mut h, check, true);
    }
    h.take_updates("a");
    report(&mut h, "web", false);
    assert_eq!(
        h.take_updates("a").updates,
        0,
        "one failure of fall = 2 withdraws nothing"
    );
    report(&mut h, "web", false);
    let sent = h.take_updates("a");
    assert_eq!(
        sent.withdrawn,
        [net("198.51.100.1/32"), net("198.51.100.2/32")]
    );
    assert!(sent.announced.is_empty());
    assert!(h.resets("a").is_empty(), "the session is not touched");
    // Watchers are told each verdict (WatchEvents), the fall last.
    let verdicts: Vec<(String, String)> = (h.fx.events.iter())
        .filter_map(|e| match e {
            crate::api::proto::event::Kind::Health(v) => Some((v.check.clone(), v.status.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        verdicts.last(),
        Some(&("web".into(), "down".into())),
        "{verdicts:?}"
    );
    let web = &views(&mut h)[1];
    assert_eq!(web.status, "down");
    assert_eq!(
        web.error.as_deref(),
        Some("connect 127.0.0.1:8080: refused")
    );

    let text = h.control(ControlRequest::Metrics {
        process: Default::default(),
    });
    let Some(ControlResponse::Metrics { metrics }) = text else {
        panic!()
    };
    assert!(
        metrics.contains("gracewire_health_check_up{check=\"web\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gracewire_health_check_up{check=\"db\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("gracewire_health_check_transitions_total{check=\"web\"} 2"));
    assert!(metrics.contains("gracewire_health_check_duration_seconds_count{check=\"web\"} 4"));
}

#[test]
fn a_reload_keeps_the_verdict_of_an_unchanged_check_and_restarts_a_changed_one() {
    let mut h = Harness::new(&config(CHECKS));
    h.connect("a", &open(65001));
    for check in ["web", "web", "db"] {
        report(&mut h, check, true);
    }
    h.take_updates("a");
    h.advance(Duration::from_secs(2)); // past the wait for the first verdicts
    let (web, db) = (generation(&h, "web"), generation(&h, "db"));
    h.reload(&config(&CHECKS.replace("rise = 1\n", "rise = 2\n")));
    assert_eq!(generation(&h, "web"), web, "unchanged: its probe goes on");
    assert_ne!(
        generation(&h, "db"),
        db,
        "changed: a new probe, from unknown"
    );
    let sent = h.take_updates("a");
    assert_eq!(
        sent.withdrawn,
        [net("198.51.100.2/32")],
        "db must rise again"
    );
    assert!(sent.announced.is_empty(), "web's route stays as it was");

    // A report of the probe that was replaced counts for nothing.
    h.advance(Duration::from_millis(100));
    let stale = Report {
        check: "db".into(),
        generation: db,
        outcome: Ok(()),
        took: Duration::ZERO,
    };
    h.input(Input::Health(stale.clone()));
    h.input(Input::Health(stale));
    assert_eq!(h.take_updates("a").updates, 0);
    assert_eq!(views(&mut h)[0].status, "unknown");
}

#[test]
fn an_operator_sets_a_check_down_for_maintenance_and_it_stays_so_across_a_restart() {
    let mut h = Harness::new(&config(CHECKS));
    h.connect("a", &open(65001));
    for check in ["web", "web", "db"] {
        report(&mut h, check, true);
    }
    h.take_updates("a");
    let set = |h: &mut Harness, check: &str, forced| {
        h.control(ControlRequest::HealthSet {
            check: check.into(),
            forced,
        })
    };
    match set(&mut h, "web", Some(Forced::Down)) {
        Some(ControlResponse::Done { message }) => {
            assert!(message.contains("set down"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let sent = h.take_updates("a");
    assert_eq!(
        sent.withdrawn,
        [net("198.51.100.1/32"), net("198.51.100.2/32")]
    );
    report(&mut h, "web", true);
    assert_eq!(
        h.take_updates("a").updates,
        0,
        "passing probes do not bring it back"
    );
    let web = &views(&mut h)[1];
    assert_eq!(
        (web.status.as_str(), web.forced.as_deref()),
        ("up", Some("down"))
    );
    match set(&mut h, "cache", Some(Forced::Up)) {
        Some(ControlResponse::Error { error, .. }) => {
            assert!(error.contains("no health check named `cache`"))
        }
        other => panic!("{other:?}"),
    }

    // The record keeps it; the next process starts with the check down, whatever it probes.
    let record = h.fx.records.last().cloned().unwrap();
    assert_eq!(record.health_overrides.get("web"), Some(&Forced::Down));
    let mut next = Harness::boot(
        &config(CHECKS),
        Boot {
            record: Some(record),
            gr_profile: None,
            announcements: None,
        },
    );
    next.connect("a", &open(65001));
    for check in ["web", "web", "db"] {
        report(&mut next, check, true);
    }
    let sent = next.take_updates("a");
    assert_eq!(sent.prefixes(), [net("198.51.100.3/32")]);
    assert_eq!(set(&mut next, "web", None).map(|_| ()), Some(()));
    let sent = next.take_updates("a");
    assert_eq!(
        sent.prefixes(),
        [net("198.51.100.1/32"), net("198.51.100.2/32")],
        "auto again"
    );
    assert!(next.fx.records.last().unwrap().health_overrides.is_empty());
}

/// The next process after `h`, from the record `h` wrote last, with `config`.
fn restarted(h: &Harness, config: &str) -> Harness {
    let record = h.fx.records.last().cloned().expect("a record");
    Harness::boot(
        config,
        Boot {
            record: Some(record),
            gr_profile: None,
            announcements: None,
        },
    )
}

#[test]
fn a_restart_goes_on_from_the_recorded_verdicts_and_the_first_result_decides() {
    let mut h = Harness::new(&config(CHECKS));
    h.connect("a", &open(65001));
    for check in ["web", "web", "db"] {
        report(&mut h, check, true);
    }
    assert_eq!(h.take_updates("a").prefixes().len(), 3);
    let record = h.fx.records.last().cloned().unwrap();
    assert_eq!(
        record.health_checks.keys().collect::<Vec<_>>(),
        ["db", "web"]
    );
    assert!(record.health_checks.values().all(|c| c.machine.up));

    // Both still up: one pass each (not rise = 2 for web) and the whole table goes.
    let mut next = restarted(&h, &config(CHECKS));
    next.connect("a", &open(65001));
    assert_eq!(
        next.take_updates("a").updates,
        0,
        "not before a first result"
    );
    let web = &views(&mut next)[1];
    assert_eq!(web.status, "up", "the recorded verdict");
    report(&mut next, "web", true);
    report(&mut next, "db", true);
    let sent = next.take_updates("a");
    assert_eq!(sent.prefixes().len(), 3);
    assert_eq!(sent.end_of_rib, [V4, V6]);

    // The service behind web died while no process watched: its first failure withdraws it
    // before the table goes (not fall = 2 failures later).
    let mut next = restarted(&h, &config(CHECKS));
    next.connect("a", &open(65001));
    report(&mut next, "web", false);
    report(&mut next, "db", true);
    let sent = next.take_updates("a");
    assert_eq!(sent.prefixes(), [net("198.51.100.3/32")]);
    assert_eq!(sent.end_of_rib, [V4, V6]);

    // web now probes another address: its verdict is not the old one's, so rise passes again.
    let moved = config(&CHECKS.replace("127.0.0.1:8080", "127.0.0.1:8081"));
    let mut next = restarted(&h, &moved);
    next.connect("a", &open(65001));
    assert_eq!(views(&mut next)[1].status, "unknown");
    for check in ["web", "db"] {
        report(&mut next, check, true);
    }
    assert_eq!(
        next.take_updates("a").updates,
        0,
        "web has passed once of 2"
    );
    report(&mut next, "web", true);
    assert_eq!(next.take_updates("a").prefixes().len(), 3);
}

#[test]
fn a_hold_down_is_kept_across_a_restart() {
    let flappy = CHECKS.replace("rise = 2\nfall = 2", "rise = 1\nfall = 1");
    let mut h = Harness::new(&config(&flappy));
    h.connect("a", &open(65001));
    report(&mut h, "db", true);
    for ok in [true, false, true, false] {
        report(&mut h, "web", ok);
    }
    let held = views(&mut h)[1]
        .held_secs
        .expect("held down after two falls");
    let mut next = restarted(&h, &config(&flappy));
    next.connect("a", &open(65001));
    for _ in 0..5 {
        report(&mut next, "web", true);
    }
    report(&mut next, "db", true);
    let web = &views(&mut next)[1];
    assert_eq!(web.status, "down", "passes do not end a hold-down");
    let still = web.held_secs.expect("still held down");
    assert!(still > held - 5.0 && still <= held, "{still} vs {held}");
    assert_eq!(next.take_updates("a").prefixes(), [net("198.51.100.3/32")]);
}

fn withheld(h: &mut Harness) -> Vec<(String, Vec<String>)> {
    let filter = Default::default();
    match h.control(ControlRequest::Advertised { filter }) {
        Some(ControlResponse::Routes { withheld, .. }) => withheld
            .into_iter()
            .map(|w| (w.prefix.to_string(), w.why))
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn show_advertised_says_which_checks_hold_each_route_back() {
    let mut h = Harness::new(&config(CHECKS));
    h.connect("a", &open(65001));
    let unknown = |c: &str| format!("{c} has no verdict yet");
    assert_eq!(
        withheld(&mut h),
        [
            ("198.51.100.1/32".into(), vec![unknown("web")]),
            (
                "198.51.100.2/32".into(),
                vec![unknown("web"), unknown("db")]
            ),
        ]
    );
    for check in ["web", "web", "db"] {
        report(&mut h, check, true);
    }
    assert_eq!(withheld(&mut h), []);
    report(&mut h, "web", false);
    report(&mut h, "web", false);
    h.control(ControlRequest::HealthSet {
        check: "db".into(),
        forced: Some(Forced::Down),
    });
    assert_eq!(
        withheld(&mut h),
        [
            ("198.51.100.1/32".into(), vec!["web down".to_string()]),
            (
                "198.51.100.2/32".into(),
                vec!["web down".into(), "db set down".into()]
            ),
        ]
    );
    let text = crate::cli::withheld(&match h.control(ControlRequest::Advertised {
        filter: Default::default(),
    }) {
        Some(ControlResponse::Routes { withheld, .. }) => withheld,
        other => panic!("{other:?}"),
    });
    assert!(
        text.starts_with("2 routes held back from every peer by health checks\n"),
        "{text}"
    );
    assert!(
        text.contains("198.51.100.2/32  web down; db set down"),
        "{text}"
    );
}

/// `gracewire plan --health ...`, run as the daemon asks (off the loop); its answer.
fn plan_health(h: &mut Harness, health: Vec<(String, Forced)>) -> ControlResponse {
    let request = ControlRequest::Plan {
        config: None,
        plugins: vec![],
        health,
    };
    if let Some(refused) = h.control(request) {
        return refused;
    }
    let reply = h.last_request();
    let job = h.fx.plans.pop().expect("a plan job");
    let runtime = std::sync::Arc::new(crate::plugins::PluginRuntime::new(None).unwrap());
    h.input(Input::Plan(job.run(&runtime)));
    h.answer(reply).expect("answered")
}

#[test]
fn plan_shows_what_a_health_transition_would_change_and_changes_nothing() {
    let mut h = Harness::new(&config(CHECKS));
    h.connect("a", &open(65001));
    for check in ["web", "web", "db"] {
        report(&mut h, check, true);
    }
    h.take_updates("a");
    let down = vec![("db".to_string(), Forced::Down)];
    let ControlResponse::Plan(planned) = plan_health(&mut h, down) else {
        panic!("a plan");
    };
    assert_eq!(planned.health, ["db: down, now up"]);
    let peer = &planned.peers[0];
    assert_eq!(peer.withdraw, [net("198.51.100.2/32")]);
    assert_eq!((peer.announce.len(), peer.unchanged), (0, 2));
    let text = crate::cli::plan(&planned);
    assert!(
        text.starts_with("health check db: down, now up\n"),
        "{text}"
    );
    assert_eq!(h.take_updates("a").updates, 0, "nothing applied");
    assert_eq!(views(&mut h)[0].status, "up");

    report(&mut h, "web", false);
    report(&mut h, "web", false);
    h.take_updates("a");
    let up = vec![("web".to_string(), Forced::Up)];
    let ControlResponse::Plan(planned) = plan_health(&mut h, up) else {
        panic!("a plan");
    };
    let announce: Vec<_> = planned.peers[0].announce.iter().map(|r| r.prefix).collect();
    assert_eq!(announce, [net("198.51.100.1/32"), net("198.51.100.2/32")]);
    match plan_health(&mut h, vec![("cache".into(), Forced::Up)]) {
        ControlResponse::Error { error, .. } => assert!(error.contains("`cache`"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn when_down_plugins_keeps_the_route_for_policy_labelled_with_its_health() {
    let text = global("")
        + &peer("a", 2, 65001, "")
        + &announce(
            "198.51.100.1/32",
            "health = \"web\"\nlabels = { pool = \"public\" }",
        )
        + &announce(
            "198.51.100.2/32",
            "health = \"web\"\nwhen_down = \"plugins\"",
        )
        + &announce(
            "198.51.100.3/32",
            "health = \"web\"\nwhen_down = \"plugins\"",
        )
        + &announce("198.51.100.4/32", "")
        + CHECKS.split("[health_checks.db]").next().unwrap();
    let text = text + "[plugins.communities]\npath = \"tagger.wasm\"\n";
    let path = std::path::Path::new("/etc/gracewire/gracewire.toml");
    let mut config = crate::config::Config::parse(&text, path).unwrap();
    let announce = config.take_announcements();
    let labels = |gated: &[crate::config::Announce]| -> Vec<(String, Option<String>)> {
        let label = |a: &crate::config::Announce| a.attrs.labels.get("health").cloned();
        gated
            .iter()
            .map(|a| (a.prefix.0.to_string(), label(a)))
            .collect()
    };
    let up: std::collections::BTreeSet<std::sync::Arc<str>> = ["web".into()].into();
    let gated = crate::daemon::health::gate(announce.clone(), &up);
    let up = |p: &str| (p.to_string(), Some("up".to_string()));
    assert_eq!(
        labels(&gated),
        [
            up("198.51.100.1/32"),
            up("198.51.100.2/32"),
            up("198.51.100.3/32"),
            ("198.51.100.4/32".into(), None)
        ]
    );
    assert_eq!(
        gated[0].attrs.labels["pool"], "public",
        "its own labels stay"
    );
    let down = crate::daemon::health::gate(announce, &Default::default());
    let down_label = |p: &str| (p.to_string(), Some("down".to_string()));
    assert_eq!(
        labels(&down),
        [
            down_label("198.51.100.2/32"),
            down_label("198.51.100.3/32"),
            ("198.51.100.4/32".into(), None)
        ],
        "withdrawn by default, kept for the plugins with when_down"
    );
    assert!(
        std::sync::Arc::ptr_eq(&down[0].attrs, &down[1].attrs),
        "alike announcements share their labelled settings"
    );
}

/// A controller's announcement names a check as a config entry does, and is gated alike.
#[test]
fn a_controllers_announcement_follows_its_health_check() {
    let mut h = Harness::new(&config(CHECKS));
    h.connect("a", &open(65001));
    for check in ["web", "web", "db"] {
        report(&mut h, check, true);
    }
    h.take_updates("a");
    let set = ControlRequest::AnnounceSet {
        source: "ctl".into(),
        announcements: vec![serde_json::json!({"prefix": "198.51.100.20/32", "health": "web"})],
    };
    assert!(matches!(h.control(set), Some(ControlResponse::Done { .. })));
    assert_eq!(h.take_updates("a").prefixes(), [net("198.51.100.20/32")]);
    report(&mut h, "web", false);
    report(&mut h, "web", false);
    let mut withdrawn = h.take_updates("a").withdrawn;
    withdrawn.sort();
    assert_eq!(
        withdrawn,
        [
            net("198.51.100.1/32"),
            net("198.51.100.2/32"),
            net("198.51.100.20/32")
        ],
        "the check's config and controller routes together"
    );
}
