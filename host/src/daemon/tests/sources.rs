//! Announcement sources (issue 27): a controller sets, adds and deletes its announcements over
//! the control socket; only the difference goes out, the change is written before it is
//! answered, a refused change sends nothing, and the next process announces what was kept
//! before its End-of-RIB.

use super::harness::*;
use crate::api::{ControlRequest, ControlResponse};
use serde_json::json;

fn config() -> String {
    global("") + &peer("a", 2, 65001, "") + &announce("198.51.100.1/32", "")
}

fn set(h: &mut Harness, source: &str, entries: &[serde_json::Value]) -> ControlResponse {
    let request = ControlRequest::AnnounceSet {
        source: source.into(),
        announcements: entries.to_vec(),
    };
    h.control(request).expect("answered at once")
}

fn done(answer: ControlResponse) -> String {
    match answer {
        ControlResponse::Done { message } => message,
        other => panic!("not done: {other:?}"),
    }
}

/// The refusal as the API's client shows it: `CODE: message`.
fn error(answer: ControlResponse) -> String {
    match answer {
        ControlResponse::Error { code, error } => format!("{}: {error}", code.as_str()),
        other => panic!("not refused: {other:?}"),
    }
}

fn listed(h: &mut Harness, source: Option<&str>) -> Vec<(String, Vec<String>)> {
    let request = ControlRequest::AnnounceList {
        source: source.map(Into::into),
    };
    match h.control(request) {
        Some(ControlResponse::Announcements { sources }) => sources
            .into_iter()
            .map(|s| {
                let prefixes = s.announcements.iter().map(|a| a.prefix.0.to_string());
                (s.source, prefixes.collect())
            })
            .collect(),
        other => panic!("list: {other:?}"),
    }
}

#[test]
fn a_controller_sets_adds_and_deletes_and_the_peer_gets_only_the_difference() {
    let mut h = Harness::new(&config());
    h.connect("a", &open(65001));
    assert_eq!(h.take_updates("a").prefixes(), [net("198.51.100.1/32")]);

    let two = [
        json!({"prefix": "198.51.100.10/32", "med": 7}),
        json!({"prefix": "198.51.100.11/32"}),
    ];
    let message = done(set(&mut h, "ctl", &two));
    assert_eq!(
        message,
        "source ctl: 2 announcements (2 added, 0 changed, 0 withdrawn)"
    );
    assert!(
        h.fx.announcements.is_some(),
        "kept in state_dir before the answer"
    );
    let sent = h.take_updates("a");
    assert_eq!(
        sent.prefixes(),
        [net("198.51.100.10/32"), net("198.51.100.11/32")]
    );
    assert_eq!(sent.announced[&net("198.51.100.10/32")].med, Some(7));

    let add = ControlRequest::AnnounceAdd {
        source: "ctl".into(),
        announcements: vec![json!({"prefix": "2001:db8::10/128"})],
    };
    done(h.control(add).unwrap());
    let sent = h.take_updates("a");
    assert_eq!(
        sent.prefixes(),
        [net("2001:db8::10/128")],
        "only the new one"
    );
    assert!(sent.withdrawn.is_empty());

    let delete = ControlRequest::AnnounceDelete {
        source: "ctl".into(),
        prefixes: vec!["198.51.100.11/32".into()],
    };
    done(h.control(delete).unwrap());
    let sent = h.take_updates("a");
    assert_eq!(sent.withdrawn, [net("198.51.100.11/32")]);
    assert!(sent.announced.is_empty());

    assert_eq!(
        listed(&mut h, None),
        [
            ("config".to_string(), vec!["198.51.100.1/32".to_string()]),
            (
                "ctl".to_string(),
                vec![
                    "198.51.100.10/32".to_string(),
                    "2001:db8::10/128".to_string()
                ]
            ),
        ]
    );
    assert_eq!(listed(&mut h, Some("config")).len(), 1);
    let metric = |h: &mut Harness, source| {
        super::metrics::sample(h, "gracewire_announcements", &[("source", source)])
    };
    assert_eq!(metric(&mut h, "config"), Some(1.0));
    assert_eq!(metric(&mut h, "ctl"), Some(2.0));
    let unknown = ControlRequest::AnnounceList {
        source: Some("nobody".into()),
    };
    assert_eq!(
        error(h.control(unknown).unwrap()),
        "NOT_FOUND: no source `nobody`"
    );

    // The same set again changes nothing and sends nothing.
    let same = [
        json!({"prefix": "198.51.100.10/32", "med": 7}),
        json!({"prefix": "2001:db8::10/128"}),
    ];
    assert!(done(set(&mut h, "ctl", &same)).contains("(0 added, 0 changed, 0 withdrawn)"));
    assert_eq!(h.take_updates("a").updates, 0);
}

#[test]
fn a_refused_change_sends_nothing_and_keeps_what_was_set() {
    let mut h = Harness::new(&config());
    h.connect("a", &open(65001));
    done(set(&mut h, "ctl", &[json!({"prefix": "198.51.100.10/32"})]));
    h.take_updates("a");
    let kept = h.fx.announcements.clone();

    let bad = [
        json!({"prefix": "198.51.100.20/32"}),
        json!({"prefix": "198.51.100.1/32"}),
    ];
    let e = error(set(&mut h, "ctl", &bad));
    assert_eq!(
        e,
        "FAILED_PRECONDITION: announcements[1].prefix: 198.51.100.1/32 is announced by source `config` (the config file)"
    );
    assert_eq!(h.take_updates("a").updates, 0, "nothing half-applied");
    assert_eq!(h.fx.announcements, kept, "the kept file unchanged");

    // state_dir refuses the write: the change is refused, not announced.
    h.fx.state_dir_broken = true;
    let e = error(set(&mut h, "ctl", &[json!({"prefix": "198.51.100.30/32"})]));
    assert!(
        e.starts_with("UNAVAILABLE: cannot write announcements.json in state_dir"),
        "{e}"
    );
    assert_eq!(h.take_updates("a").updates, 0);
    assert_eq!(listed(&mut h, Some("ctl"))[0].1, ["198.51.100.10/32"]);
}

#[test]
fn the_next_process_announces_the_kept_sources_before_its_end_of_rib() {
    let mut h = Harness::new(&config());
    done(set(
        &mut h,
        "ctl",
        &[json!({"prefix": "198.51.100.10/32", "communities": ["64512:9"]})],
    ));
    let kept = h.fx.announcements.clone();

    let mut boot = Boot::after(5);
    boot.announcements = kept;
    let mut next = Harness::boot(&config(), boot);
    next.connect("a", &open(65001).gr(120));
    let sent = next.take_updates("a");
    assert_eq!(
        sent.prefixes(),
        [net("198.51.100.1/32"), net("198.51.100.10/32")]
    );
    assert_eq!(
        sent.announced[&net("198.51.100.10/32")].communities,
        [0xfc00_0009]
    );
    assert!(
        !sent.end_of_rib.is_empty(),
        "in the first table, before End-of-RIB"
    );
}

#[test]
fn a_reload_that_claims_a_controllers_prefix_is_refused_and_the_running_state_stays() {
    let mut h = Harness::new(&config());
    h.connect("a", &open(65001));
    done(set(&mut h, "ctl", &[json!({"prefix": "198.51.100.10/32"})]));
    h.take_updates("a");
    h.reload(
        &(config() + &announce("198.51.100.10/32", "med = 1") + &announce("198.51.100.2/32", "")),
    );
    assert_eq!(
        h.take_updates("a").updates,
        0,
        "nothing of the refused reload sent"
    );
    assert_eq!(listed(&mut h, Some("config"))[0].1, ["198.51.100.1/32"]);
    // A reload that fits goes through, and the controller's routes stay.
    h.reload(&(config() + &announce("198.51.100.2/32", "")));
    let sent = h.take_updates("a");
    assert_eq!(sent.prefixes(), [net("198.51.100.2/32")]);
    assert!(
        sent.withdrawn.is_empty(),
        "the controller's route is not withdrawn"
    );
}
