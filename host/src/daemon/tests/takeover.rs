//! A takeover as the two daemons see it, without sockets: the old one's state for a paused
//! session goes through the takeover format into a new one, which takes it in without sending
//! a thing, and then sends exactly what its own config changes. Every step enters as an
//! [`Input::Takeover`], as the driver gives it.

use super::harness::*;
use crate::daemon::{Input, TakeoverFrame, TakeoverStep};
use crate::session::{Paused, SessionEventKind};
use crate::takeover::format::SessionBody;
use crate::takeover::read_session;
use crate::wire::{CodecContext, Message};
use std::time::Duration;

fn config(extra: &str) -> String {
    global("")
        + &peer("a", 2, 65001, "")
        + &announce("198.51.100.10/32", "med = 5")
        + &announce("2001:db8:10::/64", "")
        + extra
}

/// The old daemon with `a` up for an hour, a route from it, and its table sent; the session
/// as its task would pause it.
fn old() -> (Harness, Paused) {
    let mut h = Harness::new(&config(""));
    h.connect("a", &open(65001));
    h.receive("a", route(&["203.0.113.0/24"], &[65001, 65010]));
    h.advance(Duration::from_secs(3600));
    assert_eq!(h.take_updates("a").announced.len(), 2);
    let paused = paused(&h, &open(65001), vec![0xff; 5]);
    (h, paused)
}

/// `a`'s session as its task would pause it: 1.2 s to the next KEEPALIVE, 7 s of hold time.
fn paused(h: &Harness, peer_open: &PeerOpen, unread: Vec<u8>) -> Paused {
    let up = h.daemon.peers["a"].up.as_ref().unwrap();
    let negotiated = up.negotiated.clone();
    let encode = |m: Message| m.encode(CodecContext::default()).to_vec();
    Paused {
        local: up.local,
        remote: "10.0.0.2:179".parse().unwrap(),
        received_open: encode(Message::Open(peer_open.build())),
        negotiated,
        unread,
        keepalive_in: Duration::from_millis(1200),
        hold_in: Duration::from_millis(7000),
    }
}

/// What the old daemon frames for the sessions the driver paused, by peer.
fn frames(old: &mut Harness, paused: &[(&str, &Paused)]) -> Vec<(String, Option<TakeoverFrame>)> {
    let sessions = paused
        .iter()
        .map(|(name, p)| ((*name).into(), (*p).clone()))
        .collect();
    old.input(Input::Takeover(TakeoverStep::Paused(sessions)));
    std::mem::take(&mut old.fx.takeover_frames)
}

/// The frame for `a`'s paused session.
fn frame(old: &mut Harness, paused: &Paused) -> TakeoverFrame {
    let mut framed = frames(old, &[("a", paused)]);
    assert_eq!(framed.len(), 1);
    framed.pop().unwrap().1.expect("a is up")
}

/// The new daemon given `a`'s session as the old one sent it.
fn new(old: &mut Harness, paused: &Paused, config: &str) -> Harness {
    let (mut state, body) = frame(old, paused);
    // Through the format, as the frame would cross.
    let wire = crate::takeover::format::encode(
        &crate::takeover::format::Frame::Session(state.clone()),
        &body,
    );
    let (h, b) = crate::takeover::format::lengths(wire[..8].try_into().unwrap()).unwrap();
    let crate::takeover::format::Frame::Session(back) =
        crate::takeover::format::header(&wire[8..8 + h]).unwrap()
    else {
        panic!("a session frame");
    };
    assert_eq!(back, state);
    state = back;
    let body = SessionBody::split(&state, &wire[8 + h..8 + h + b]).unwrap();
    assert_eq!(body.unread, paused.unread);
    assert_eq!((state.keepalive_in_ms, state.hold_in_ms), (1200, 7000));
    let (negotiated, resumed) = read_session(
        &state,
        &body,
        "10.0.0.2".parse().unwrap(),
        crate::fsm::RemoteAs::Is(65001),
    )
    .unwrap();
    assert_eq!(
        negotiated, paused.negotiated,
        "the OPENs negotiate to the same session"
    );
    let mut h = Harness::new(config);
    h.resume(
        "a",
        SessionEventKind::Established {
            negotiated: Box::new(negotiated),
            local: paused.local,
            remote: paused.remote,
            resumed: Some(Box::new(resumed)),
        },
    );
    h.settle();
    h
}

#[test]
fn a_session_taken_over_with_the_same_config_sends_nothing_and_keeps_everything() {
    let (mut old, paused) = old();
    let advertised = old.daemon.advertised_routes(&|_, _| true);
    let mut h = new(&mut old, &paused, &config(""));
    let sent = h.take_sent("a");
    assert!(sent.is_empty(), "no UPDATE, no End-of-RIB again: {sent:?}");
    let now = h.daemon.advertised_routes(&|_, _| true);
    let line = |r: &Vec<crate::api::RouteView>| -> Vec<String> {
        r.iter()
            .map(|r| format!("{} {} {:?} {:?}", r.prefix, r.next_hop, r.med, r.as_path))
            .collect()
    };
    assert_eq!(
        line(&now),
        line(&advertised),
        "the Adj-RIB-Out came along as it was"
    );
    let received = h.received("a");
    assert_eq!(
        received.len(),
        1,
        "the peer's route came along: {received:?}"
    );
    let summary = h.neighbor("a");
    assert!(
        summary.uptime_secs.unwrap() >= 3600,
        "uptime carried: {:?}",
        summary.uptime_secs
    );
    assert_eq!(old.take_sent("a").len(), 0);
}

#[test]
fn a_session_taken_over_with_a_changed_config_sends_exactly_the_change() {
    let (mut old, paused) = old();
    let changed = config(&announce("198.51.100.11/32", "")).replace("med = 5", "med = 6");
    let mut h = new(&mut old, &paused, &changed);
    let sent = h.take_updates("a");
    let mut announced: Vec<String> = sent.announced.keys().map(|p| p.to_string()).collect();
    announced.sort();
    assert_eq!(
        announced,
        ["198.51.100.10/32", "198.51.100.11/32"],
        "{sent:?}"
    );
    assert!(sent.withdrawn.is_empty(), "{sent:?}");
}

#[test]
fn a_session_whose_peer_changed_is_not_resumed() {
    let (mut old, paused) = old();
    let (state, bytes) = frame(&mut old, &paused);
    let body = SessionBody::split(&state, &bytes).unwrap();
    let moved = read_session(
        &state,
        &body,
        "10.0.0.9".parse().unwrap(),
        crate::fsm::RemoteAs::Is(65001),
    )
    .unwrap_err();
    assert!(moved.contains("the config now says 10.0.0.9"), "{moved}");
    let other_as = read_session(
        &state,
        &body,
        "10.0.0.2".parse().unwrap(),
        crate::fsm::RemoteAs::Is(65099),
    )
    .unwrap_err();
    assert!(other_as.contains("no longer negotiate"), "{other_as}");
}

/// The old daemon as the GR helper of `a`, which restarted and has sent one of its two
/// routes again, 100 s into the stale-path time (360 s).
fn old_mid_refresh() -> (Harness, Paused) {
    let mut h = Harness::new(&config(""));
    h.connect("a", &open(65001).gr(120));
    h.receive("a", route(&["203.0.113.0/24", "203.0.114.0/24"], &[65001]));
    h.disconnect("a", crate::fsm::DownReason::ConnectionLost);
    h.connect("a", &open(65001).gr(120));
    h.advance(Duration::from_secs(100));
    h.receive("a", route(&["203.0.113.0/24"], &[65001]));
    let paused = paused(&h, &open(65001).gr(120), Vec::new());
    (h, paused)
}

fn received(h: &mut Harness) -> Vec<String> {
    let mut r: Vec<String> = h
        .received("a")
        .into_iter()
        .map(|(p, stale, _)| format!("{p}{}", if stale { " stale" } else { "" }))
        .collect();
    r.sort();
    r
}

#[test]
fn a_refresh_under_way_moves_with_the_session_and_its_end_of_rib_sweeps_there() {
    let (mut old, paused) = old_mid_refresh();
    let before = received(&mut old);
    assert_eq!(before, ["203.0.113.0/24", "203.0.114.0/24 stale"]);
    let mut h = new(&mut old, &paused, &config(""));
    assert_eq!(received(&mut h), before, "fresh and stale as they were");
    let stale_timer: Vec<Duration> = h
        .pending_timers()
        .into_iter()
        .filter(|(_, t)| matches!(t, crate::daemon::Timer::HelperStale { .. }))
        .map(|(d, _)| d)
        .collect();
    assert_eq!(
        stale_timer,
        [Duration::from_secs(260)],
        "what was left of the stale-path time"
    );
    h.end_of_rib("a", crate::wire::Family::Ipv4Unicast);
    assert_eq!(
        received(&mut h),
        ["203.0.113.0/24"],
        "the End-of-RIB the old process waited for sweeps here"
    );
}

#[test]
fn a_refresh_moved_elsewhere_still_ends_with_its_stale_path_time() {
    let (mut old, paused) = old_mid_refresh();
    let mut h = new(&mut old, &paused, &config(""));
    h.advance(Duration::from_secs(259));
    assert_eq!(received(&mut h), ["203.0.113.0/24", "203.0.114.0/24 stale"]);
    h.advance(Duration::from_secs(2));
    assert_eq!(
        received(&mut h),
        ["203.0.113.0/24"],
        "never sent again within 360 s in all"
    );
}

#[test]
fn without_a_refresh_nothing_stale_travels() {
    let (mut old, paused) = old();
    let (state, bytes) = frame(&mut old, &paused);
    assert!(state.refreshing.is_empty());
    assert_eq!((state.parts.stale_rib_in, state.stale_in_ms), (0, 0));
    let body = SessionBody::split(&state, &bytes).unwrap();
    let (_, r) = read_session(
        &state,
        &body,
        "10.0.0.2".parse().unwrap(),
        crate::fsm::RemoteAs::Is(65001),
    )
    .unwrap();
    assert!(r.stale_rib_in.is_empty() && r.refreshing.is_empty());
}

#[test]
fn a_session_whose_peer_went_down_or_away_is_not_framed_and_stays() {
    let (mut old, paused) = old();
    old.disconnect("a", crate::fsm::DownReason::ConnectionLost);
    let framed = frames(&mut old, &[("a", &paused), ("gone", &paused)]);
    let names: Vec<(&str, bool)> = framed
        .iter()
        .map(|(n, f)| (n.as_str(), f.is_some()))
        .collect();
    assert_eq!(
        names,
        [("a", false), ("gone", false)],
        "each answered, none framed"
    );
}

const BFD: &str = "[bfd_profiles.fast]\nreceive_interval_ms = 300\ntransmit_interval_ms = 300\ndetect_multiplier = 3\n";

#[test]
fn a_failed_takeover_sets_every_bfd_session_up_again_and_is_counted() {
    let config =
        global("") + BFD + &peer("a", 2, 65001, "bfd = \"fast\"") + &peer("b", 3, 65002, "");
    let mut h = Harness::new(&config);
    let asked = h.fx.bfd.clone();
    assert_eq!(asked.keys().collect::<Vec<_>>(), ["a"]);
    // The BFD task ended for the takeover, taking its sessions with it.
    h.fx.bfd.clear();
    let failed = |h: &mut Harness| {
        super::metrics::sample(h, "gracewire_takeovers_failed_total", &[]).unwrap()
    };
    assert_eq!(failed(&mut h), 0.0);
    h.input(Input::Takeover(TakeoverStep::Failed));
    assert_eq!(h.fx.bfd, asked, "the same sessions, asked for again");
    assert_eq!(failed(&mut h), 1.0);
}

#[test]
fn the_sessions_a_new_process_could_not_resume_are_counted() {
    let mut h = Harness::new(&config(""));
    h.input(Input::Takeover(TakeoverStep::Declined(2)));
    let declined = super::metrics::sample(
        &mut h,
        "gracewire_takeover_sessions",
        &[("result", "declined")],
    );
    assert_eq!(declined, Some(2.0));
}
