//! Operator actions through the daemon: drain (RFC 8326), resets, route refresh, a planned
//! stop.

use super::harness::*;
use crate::api::{ControlRequest, ControlResponse};
use crate::config::community::GRACEFUL_SHUTDOWN;
use crate::wire::notification::{cease, code};
use crate::wire::{Message, Notification, RefreshKind};
use std::time::Duration;

fn config() -> String {
    global("")
        + &peer("ebgp", 2, 65001, "")
        + &peer("ibgp", 3, 64512, "")
        + &announce("198.51.100.10/32", "communities = [\"64512:100\"]")
        + &announce("198.51.100.11/32", "")
}

fn up(h: &mut Harness) {
    h.connect("ebgp", &open(65001).gr(120));
    h.connect("ibgp", &open(64512).gr(120));
    h.take_sent("ebgp");
    h.take_sent("ibgp");
}

#[test]
fn drain_tags_every_route_then_withdraws_them_and_answers_after() {
    let mut h = Harness::new(&config());
    up(&mut h);
    let answer = h.control(ControlRequest::Drain {
        wait_secs: Some(30),
        if_marked: false,
    });
    assert!(answer.is_none(), "answered once withdrawn");
    let reply = h.last_request();
    for peer in ["ebgp", "ibgp"] {
        let sent = h.take_updates(peer);
        assert_eq!(sent.announced.len(), 2, "{peer}: every route again");
        for attrs in sent.announced.values() {
            assert!(attrs.communities.contains(&GRACEFUL_SHUTDOWN), "{peer}");
        }
        let kept = &sent.announced[&net("198.51.100.10/32")];
        assert!(
            kept.communities.contains(&0xfc00_0064),
            "own communities kept"
        );
        let lp = sent.announced.values().next().unwrap().local_pref;
        assert_eq!(
            lp,
            (peer == "ibgp").then_some(0),
            "LOCAL_PREF 0 over iBGP only"
        );
    }
    h.advance(Duration::from_secs(29));
    assert!(h.answer(reply).is_none());
    assert!(h.take_sent("ebgp").is_empty());
    h.advance(Duration::from_secs(2));
    for peer in ["ebgp", "ibgp"] {
        let mut w = h.take_updates(peer).withdrawn;
        w.sort();
        assert_eq!(w, vec![net("198.51.100.10/32"), net("198.51.100.11/32")]);
        assert_eq!(h.neighbor(peer).state, "Established", "the session stays");
    }
    assert!(matches!(
        h.answer(reply),
        Some(ControlResponse::Done { .. })
    ));
    // A drained speaker sends nothing to a peer that comes up.
    h.disconnect("ebgp", crate::fsm::DownReason::ConnectionLost);
    h.connect("ebgp", &open(65001));
    assert!(h.take_updates("ebgp").announced.is_empty());
}

#[test]
fn undrain_cancels_a_waiting_drain_and_announces_normally() {
    let mut h = Harness::new(&config());
    up(&mut h);
    h.control(ControlRequest::Drain {
        wait_secs: Some(30),
        if_marked: false,
    });
    let reply = h.last_request();
    h.take_sent("ebgp");
    h.control(ControlRequest::Undrain);
    assert!(matches!(
        h.answer(reply),
        Some(ControlResponse::Error { .. })
    ));
    let sent = h.take_updates("ebgp");
    assert_eq!(sent.announced.len(), 2);
    assert!(sent
        .announced
        .values()
        .all(|a| !a.communities.contains(&GRACEFUL_SHUTDOWN)));
    h.advance(Duration::from_secs(60));
    assert!(
        h.take_updates("ebgp").withdrawn.is_empty(),
        "the cancelled timer does nothing"
    );
}

#[test]
fn a_hard_reset_is_an_rfc8538_hard_reset_only_with_n() {
    let mut h = Harness::new(&config());
    up(&mut h);
    h.control(ControlRequest::Reset {
        peer: "ebgp".into(),
        hard: true,
    });
    let n = &h.resets("ebgp")[0];
    assert!(n.is_hard_reset(), "{n}");
    let inner = n.hard_reset_reason().unwrap();
    assert_eq!(
        (inner.code, inner.subcode),
        (code::CEASE, cease::ADMIN_RESET)
    );

    h.disconnect("ibgp", crate::fsm::DownReason::ConnectionLost);
    h.connect("ibgp", &open(64512).gr(120).without_n());
    h.control(ControlRequest::Reset {
        peer: "ibgp".into(),
        hard: true,
    });
    let n = &h.resets("ibgp")[0];
    assert_eq!(
        (n.code, n.subcode),
        (code::CEASE, cease::ADMIN_RESET),
        "no N: plain Cease"
    );
}

#[test]
fn route_refresh_is_answered_from_the_adj_rib_out_between_borr_and_eorr() {
    let mut h = Harness::new(&config());
    h.connect("ebgp", &open(65001).families(&[V4]));
    h.take_sent("ebgp");
    h.route_refresh("ebgp", V4);
    let nlri: Vec<usize> = h
        .take_sent("ebgp")
        .iter()
        .map(|m| match m {
            Message::Update(u) => u.nlri.len(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        nlri,
        vec![1, 1],
        "both routes again (two attribute sets), no End-of-RIB"
    );
    h.route_refresh("ebgp", V6);
    assert!(h.take_sent("ebgp").is_empty(), "IPv6 was not negotiated");
    // With enhanced route refresh (RFC 7313) the table comes between BoRR and EoRR.
    h.disconnect("ebgp", crate::fsm::DownReason::ConnectionLost);
    h.connect(
        "ebgp",
        &open(65001).families(&[V4]).enhanced_route_refresh(),
    );
    h.take_sent("ebgp");
    h.route_refresh("ebgp", V4);
    let kinds: Vec<&'static str> = h
        .take_sent("ebgp")
        .iter()
        .map(|m| match m {
            Message::RouteRefresh(r) if r.kind == RefreshKind::Begin => "BoRR",
            Message::RouteRefresh(r) if r.kind == RefreshKind::End => "EoRR",
            m => m.kind(),
        })
        .collect();
    assert_eq!(kinds, vec!["BoRR", "UPDATE", "UPDATE", "EoRR"]);
}

#[test]
fn a_planned_stop_keeps_routes_at_gr_peers_and_says_goodbye_to_the_rest() {
    let config = global("")
        + &peer("n", 2, 65001, "")
        + &peer("no-n", 3, 65002, "")
        + &peer("no-gr", 4, 65003, "")
        + &peer("never-up", 5, 65004, "");
    let mut h = Harness::new(&config);
    h.connect("n", &open(65001).gr(120));
    h.connect("no-n", &open(65002).gr(120).without_n());
    h.connect("no-gr", &open(65003));
    h.daemon.shutdown(&mut h.fx);
    let stop = |peer: &str| -> Option<Notification> {
        h.fx.stops
            .iter()
            .find(|(p, _)| p == peer)
            .unwrap()
            .1
            .clone()
    };
    let sub = |n: Option<Notification>| n.map(|n| (n.code, n.subcode));
    assert_eq!(
        sub(stop("n")),
        Some((6, cease::ADMIN_RESET)),
        "RFC 8538: graceful"
    );
    assert_eq!(stop("no-n"), None, "RFC 4724: close without a NOTIFICATION");
    assert_eq!(sub(stop("no-gr")), Some((6, cease::ADMIN_SHUTDOWN)));
    assert_eq!(sub(stop("never-up")), Some((6, cease::ADMIN_SHUTDOWN)));
    assert!(
        h.fx.stops
            .iter()
            .all(|(_, n)| n.as_ref().is_none_or(|n| !n.is_hard_reset())),
        "never a Hard Reset on a restart"
    );
}

#[test]
fn drain_if_marked_waits_for_a_decommission_mark() {
    let mut h = Harness::new(&config());
    up(&mut h);
    let hook = ControlRequest::Drain {
        wait_secs: Some(5),
        if_marked: true,
    };
    match h.control(hook.clone()) {
        Some(ControlResponse::Done { message }) => {
            assert!(message.contains("not marked"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        h.take_sent("ebgp").is_empty(),
        "a rolling update's stop is left to GR"
    );
    assert!(matches!(
        h.control(ControlRequest::Decommission),
        Some(ControlResponse::Done { .. })
    ));
    assert!(h.control(hook).is_none(), "draining");
    let sent = h.take_updates("ebgp");
    assert!(sent
        .announced
        .values()
        .all(|a| a.communities.contains(&GRACEFUL_SHUTDOWN)));
    h.advance(Duration::from_secs(6));
    assert_eq!(h.take_updates("ebgp").withdrawn.len(), 2);
}

#[test]
fn an_operator_refresh_asks_the_peer_and_sends_ours_again() {
    let mut h = Harness::new(&config());
    up(&mut h);
    let refresh = |inbound, outbound| ControlRequest::Refresh {
        peer: "ebgp".into(),
        inbound,
        outbound,
    };
    assert!(matches!(
        h.control(refresh(true, false)),
        Some(ControlResponse::Done { .. })
    ));
    let asked: Vec<(u16, RefreshKind)> = h
        .take_sent("ebgp")
        .into_iter()
        .map(|m| match m {
            Message::RouteRefresh(r) => (r.afi, r.kind),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        asked,
        vec![(1, RefreshKind::Request), (2, RefreshKind::Request)]
    );
    h.control(refresh(false, true));
    assert_eq!(h.take_updates("ebgp").announced.len(), 2, "our table again");
    h.disconnect("ebgp", crate::fsm::DownReason::ConnectionLost);
    h.connect("ebgp", &open(65001).without_route_refresh());
    h.take_sent("ebgp");
    match h.control(refresh(true, false)) {
        Some(ControlResponse::Error { error, .. }) => {
            assert!(error.contains("did not negotiate route refresh"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    h.disconnect("ebgp", crate::fsm::DownReason::ConnectionLost);
    assert!(
        matches!(
            h.control(refresh(true, true)),
            Some(ControlResponse::Error { .. })
        ),
        "not up"
    );
}
