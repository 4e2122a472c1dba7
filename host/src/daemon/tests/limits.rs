//! Max-prefix: a warning at a share of the limit, a reset with RFC 4486 data past it, routes
//! flushed (not kept stale), a hold-down before the session may come back; or warnings only.

use super::harness::*;
use crate::fsm::DownReason;
use crate::wire::notification::{cease, code};
use std::time::Duration;

fn config(extra: &str) -> String {
    global("")
        + &peer(
            "a",
            2,
            65001,
            &format!("max_prefixes = {{ ipv4-unicast = 10 }}\n{extra}"),
        )
}

fn send(h: &mut Harness, from: usize, to: usize) {
    for i in from..to {
        h.receive("a", route(&[&format!("10.0.{i}.0/24")], &[65001]));
    }
}

#[test]
fn passing_the_limit_resets_with_the_rfc4486_data_and_flushes() {
    let mut h = Harness::new(&config(""));
    h.connect("a", &open(65001).gr(120));
    send(&mut h, 0, 10);
    assert!(h.resets("a").is_empty(), "10 of 10 is allowed");
    let reached = |h: &mut Harness| {
        super::metrics::sample(
            h,
            "gracewire_limit_reached_total",
            &[("limit", "max_prefixes")],
        )
        .expect("every limit is exposed")
    };
    let before = reached(&mut h);
    send(&mut h, 10, 11);
    assert!(reached(&mut h) > before, "the limit is counted");
    let resets = h.resets("a");
    assert_eq!(resets.len(), 1);
    let n = &resets[0];
    assert!(
        n.is_hard_reset(),
        "N negotiated: inside a Hard Reset (RFC 8538 §5.1)"
    );
    let inner = n.hard_reset_reason().unwrap();
    assert_eq!(
        (inner.code, inner.subcode),
        (code::CEASE, cease::MAX_PREFIXES)
    );
    assert_eq!(
        inner.data,
        vec![0, 1, 1, 0, 0, 0, 10],
        "AFI 1, SAFI 1, limit 10"
    );
    assert_eq!(
        h.fx.sessions["a"].hold_downs,
        vec![Some(Duration::from_secs(60))]
    );
    assert!(h
        .neighbor("a")
        .last_error
        .unwrap()
        .contains("passed the limit of 10"));
    send(&mut h, 11, 15);
    assert!(h.resets("a").is_empty(), "one reset per session");
    h.disconnect("a", DownReason::NotificationSent(n.clone()));
    assert!(h.received("a").is_empty(), "flushed, not kept stale");
}

#[test]
fn without_n_the_cease_itself_and_each_session_counts_afresh() {
    let mut h = Harness::new(&config("max_prefix_restart = 5"));
    h.connect("a", &open(65001));
    send(&mut h, 0, 11);
    let n = h.resets("a").remove(0);
    assert_eq!((n.code, n.subcode), (code::CEASE, cease::MAX_PREFIXES));
    assert_eq!(
        h.fx.sessions["a"].hold_downs,
        vec![Some(Duration::from_secs(5))]
    );
    h.disconnect("a", DownReason::NotificationSent(n));
    h.connect("a", &open(65001));
    send(&mut h, 0, 10);
    assert!(h.resets("a").is_empty());
}

#[test]
fn warn_only_keeps_the_session_and_other_families_have_no_limit() {
    let mut h = Harness::new(&config("max_prefix_warn_only = true"));
    h.connect("a", &open(65001));
    send(&mut h, 0, 20);
    assert!(h.resets("a").is_empty());
    assert_eq!(h.received("a").len(), 20);
    for i in 0..50 {
        h.receive("a", route(&[&format!("2001:db8:{i}::/48")], &[65001]));
    }
    assert_eq!(h.received("a").len(), 70);
}

#[test]
fn limits_are_checked_when_the_config_is_read() {
    for (extra, field) in [
        ("max_prefixes = { ipv4-unicast = 0 }", "max_prefixes"),
        ("max_prefix_warning = 0", "max_prefix_warning"),
        ("max_prefix_restart = 0", "max_prefix_restart"),
        ("max_prefixes = { ipv5 = 3 }", "max_prefixes"),
    ] {
        let text = global("") + &peer("a", 2, 65001, extra);
        let err = crate::config::Config::parse(&text, std::path::Path::new("t.toml")).unwrap_err();
        assert!(err.to_string().contains(field), "{extra}: {err}");
    }
}

#[test]
fn the_warning_is_a_metric_while_the_count_is_past_its_share() {
    let mut h = Harness::new(&config(""));
    h.connect("a", &open(65001));
    let labels = [("peer", "a"), ("family", "ipv4-unicast")];
    let warning =
        |h: &mut Harness| super::metrics::sample(h, "gracewire_bgp_max_prefix_warning", &labels);
    assert_eq!(
        super::metrics::sample(&mut h, "gracewire_bgp_max_prefixes", &labels),
        Some(10.0)
    );
    assert_eq!(
        super::metrics::sample(
            &mut h,
            "gracewire_bgp_max_prefixes",
            &[("peer", "a"), ("family", "ipv6-unicast")]
        ),
        None,
        "no limit, no series"
    );
    send(&mut h, 0, 7);
    assert_eq!(warning(&mut h), Some(0.0), "7 of 10 is under 75%");
    send(&mut h, 7, 8);
    assert_eq!(warning(&mut h), Some(1.0), "8 of 10 is 75% rounded up");
    h.receive("a", withdraw(&["10.0.0.0/24", "10.0.1.0/24"]));
    assert_eq!(warning(&mut h), Some(0.0), "back under after withdrawals");
    assert!(h.resets("a").is_empty());
}
