//! The session machine, section by section of RFC 5880.

use super::*;

const MS: fn(u64) -> Duration = Duration::from_millis;

fn params(ms: u64, mult: u8) -> Params {
    Params {
        desired_min_tx: MS(ms),
        required_min_rx: MS(ms),
        detect_mult: mult,
        passive: false,
    }
}

trait WithRx {
    fn with_rx(self, rx: Duration) -> Self;
}

impl WithRx for Params {
    fn with_rx(self, rx: Duration) -> Params {
        Params {
            required_min_rx: rx,
            ..self
        }
    }
}

fn sent(out: &[Output]) -> Vec<Packet> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn changes(out: &[Output]) -> Vec<Change> {
    out.iter()
        .filter_map(|o| match o {
            Output::Changed(c) => Some(*c),
            _ => None,
        })
        .collect()
}

fn last_transmit(out: &[Output]) -> Option<Duration> {
    out.iter().rev().find_map(|o| match o {
        Output::TransmitIn(t) => Some(t.unwrap_or(Duration::MAX)),
        _ => None,
    })
}

/// Delivers every packet in `out` to `to`, returning what `to` answered.
fn deliver(out: &[Output], to: &mut Session) -> Vec<Output> {
    sent(out)
        .into_iter()
        .flat_map(|p| to.handle(Input::Received(p)))
        .collect()
}

/// Two sessions brought Up by the three-way handshake; returns them with Poll Sequences done.
fn up_pair(a: Params, b: Params) -> (Session, Session) {
    let mut x = Session::new(a, 1, 7);
    let mut y = Session::new(b, 2, 9);
    let mut to_y = x.start();
    for _ in 0..6 {
        let to_x = deliver(&to_y, &mut y);
        to_y = deliver(&to_x, &mut x);
        if to_y.is_empty() {
            to_y = x.handle(Input::TransmitTimer);
        }
    }
    assert_eq!((x.state(), y.state()), (State::Up, State::Up));
    (x, y)
}

#[test]
fn section_6_2_the_three_way_handshake_brings_both_sides_up() {
    let mut a = Session::new(params(300, 3), 0xa, 1);
    let mut b = Session::new(params(300, 3), 0xb, 2);
    let first = sent(&a.start());
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].state, first[0].your_discriminator),
        (State::Down, 0)
    );
    let from_b = b.handle(Input::Received(first[0].clone()));
    assert_eq!(b.state(), State::Init, "Down heard in Down: Init");
    assert_eq!(sent(&from_b)[0].your_discriminator, 0xa);
    let from_a = deliver(&from_b, &mut a);
    assert_eq!(a.state(), State::Up, "Init heard in Down: Up");
    assert_eq!(
        changes(&from_a),
        vec![Change {
            from: State::Down,
            to: State::Up,
            diag: Diag::None,
            remote_admin_down: false,
            remote_restarted: false
        }]
    );
    deliver(&from_a, &mut b);
    assert_eq!(b.state(), State::Up, "Up heard in Init: Up");
}

#[test]
fn section_6_8_3_the_slow_rate_while_not_up_and_a_poll_sequence_to_leave_it() {
    let mut a = Session::new(params(300, 3), 1, 5);
    let out = a.start();
    assert_eq!(
        sent(&out)[0].desired_min_tx,
        SLOW_TX,
        "advertised while Down"
    );
    assert!(
        last_transmit(&out).unwrap() >= MS(750),
        "1 s less jitter while Down"
    );
    let (mut a, mut b) = up_pair(params(300, 3), params(300, 3));
    // Up: packets advertise 300 ms and, once the Poll got its Final, go every 225–300 ms.
    let out = a.handle(Input::TransmitTimer);
    let p = &sent(&out)[0];
    assert_eq!(p.desired_min_tx, MS(300));
    assert!(!p.poll, "the Poll Sequence ended with the handshake");
    assert!(last_transmit(&out).unwrap() <= MS(300));
    assert_eq!(a.transmit_interval(), MS(300));
    let _ = b.handle(Input::TransmitTimer);
}

#[test]
fn section_6_8_3_a_poll_is_answered_at_once_with_final_and_ends_on_final() {
    let (mut a, mut b) = up_pair(params(300, 3), params(300, 3));
    // a slows down: the old, faster rate stays in force until b's Final.
    let out = a.handle(Input::SetParams(params(900, 3)));
    let poll = sent(&out);
    assert!(poll[0].poll && poll[0].desired_min_tx == MS(900));
    assert_eq!(
        a.transmit_interval(),
        MS(300),
        "not slower before the Final"
    );
    let answer = deliver(&out, &mut b);
    let finals = sent(&answer);
    assert_eq!(finals.len(), 1, "one packet, sent at once");
    assert!(finals[0].final_ && !finals[0].poll);
    deliver(&answer, &mut a);
    assert_eq!(a.transmit_interval(), MS(900), "in force after the Final");
    assert!(
        !sent(&a.handle(Input::TransmitTimer))[0].poll,
        "the Poll Sequence ended"
    );
}

#[test]
fn section_6_8_4_detection_time_is_the_remote_multiplier_times_the_slower_interval() {
    let (a, _) = up_pair(
        params(300, 3),
        Params {
            desired_min_tx: MS(500),
            required_min_rx: MS(200),
            detect_mult: 4,
            passive: false,
        },
    );
    assert_eq!(a.detection_time(), Some(MS(2000)), "4 × max(300, 500)");
}

#[test]
fn section_6_8_4_no_packet_for_a_detection_time_is_a_failure() {
    let (mut a, _) = up_pair(params(300, 3), params(300, 3));
    let out = a.handle(Input::DetectionTimer);
    let c = changes(&out)[0];
    assert_eq!((c.to, c.diag), (State::Down, Diag::DetectionTimeExpired));
    assert!(c.is_failure());
    let p = &sent(&out)[0];
    assert_eq!(
        (p.state, p.diag, p.your_discriminator),
        (State::Down, Diag::DetectionTimeExpired, 0)
    );
    assert_eq!(
        a.remote_discriminator(),
        0,
        "§6.8.1: the remote is forgotten"
    );
}

#[test]
fn section_6_8_6_the_remote_going_down_is_a_failure_but_its_admin_down_is_not() {
    let (mut a, mut b) = up_pair(params(300, 3), params(300, 3));
    // b's detection time expired: it says Down.
    let out = b.handle(Input::DetectionTimer);
    let c = changes(&deliver(&out, &mut a))[0];
    assert_eq!(
        (c.to, c.diag, c.is_failure()),
        (State::Down, Diag::NeighborSignaledDown, true)
    );

    let (mut a, mut b) = up_pair(params(300, 3), params(300, 3));
    let out = b.handle(Input::AdminDown);
    let c = changes(&deliver(&out, &mut a))[0];
    assert_eq!(c.diag, Diag::NeighborSignaledDown);
    assert!(c.remote_admin_down);
    assert!(!c.is_failure(), "RFC 5882 §3.2");
}

#[test]
fn a_remote_that_restarts_its_session_is_told_apart_from_one_that_detected_a_failure() {
    // b's detection time expired: Down, still knowing us and with its old discriminator.
    let (mut a, mut b) = up_pair(params(300, 3), params(300, 3));
    let out = b.handle(Input::DetectionTimer);
    assert!(!changes(&deliver(&out, &mut a))[0].remote_restarted);

    // b replaced by a new session (as FRR's bfdd does when bgpd changes the source address):
    // Down, your-discriminator 0, a new my-discriminator.
    let (mut a, _) = up_pair(params(300, 3), params(300, 3));
    let mut fresh = Session::new(params(300, 3), 0xbeef, 11);
    let out = fresh.start();
    assert_eq!(sent(&out)[0].your_discriminator, 0);
    let answer = deliver(&out, &mut a);
    let c = changes(&answer)[0];
    assert!(c.is_failure() && c.remote_restarted, "{c:?}");
    assert_eq!(a.remote_discriminator(), 0xbeef);
    // And it comes back up with the new session as with any other.
    let mut to_a = deliver(&answer, &mut fresh);
    for _ in 0..4 {
        let to_fresh = deliver(&to_a, &mut a);
        to_a = deliver(&to_fresh, &mut fresh);
    }
    assert_eq!((a.state(), fresh.state()), (State::Up, State::Up));
    // A second Down from the same (new) session is no restart.
    let out = fresh.handle(Input::DetectionTimer);
    assert!(!changes(&deliver(&out, &mut a))[0].remote_restarted);
}

#[test]
fn section_6_8_16_admin_down_is_sent_and_nothing_received_changes_it() {
    let (mut a, mut b) = up_pair(params(300, 3), params(300, 3));
    let out = a.handle(Input::AdminDown);
    let p = &sent(&out)[0];
    assert_eq!((p.state, p.diag), (State::AdminDown, Diag::AdminDown));
    assert!(out.contains(&Output::DetectIn(None)));
    assert!(
        !changes(&out)[0].is_failure(),
        "our own AdminDown is no failure"
    );
    let from_b = b.handle(Input::TransmitTimer);
    deliver(&from_b, &mut a);
    assert_eq!(a.state(), State::AdminDown);
    a.handle(Input::AdminUp);
    assert_eq!(a.state(), State::Down);
}

#[test]
fn section_6_8_7_jitter_stays_within_75_to_100_percent_and_90_with_multiplier_1() {
    for (mult, top) in [(3, 100), (1, 90)] {
        let mut s = Session::new(params(1000, mult), 1, 42);
        let mut seen = Vec::new();
        for _ in 0..2000 {
            seen.push(last_transmit(&s.handle(Input::TransmitTimer)).unwrap());
        }
        let (lo, hi) = (seen.iter().min().unwrap(), seen.iter().max().unwrap());
        assert_eq!(*lo, MS(750), "multiplier {mult}");
        assert_eq!(*hi, MS(10 * top), "multiplier {mult}");
    }
}

#[test]
fn section_6_8_7_nothing_periodic_while_the_remote_asks_for_no_packets() {
    let (mut a, mut b) = up_pair(params(300, 3), params(300, 3));
    let out = b.handle(Input::SetParams(Params {
        required_min_rx: Duration::ZERO,
        ..params(300, 3)
    }));
    deliver(&out, &mut a);
    assert_eq!(
        last_transmit(&a.handle(Input::TransmitTimer)),
        Some(Duration::MAX)
    );
}

#[test]
fn section_6_1_a_passive_session_waits_for_the_remote() {
    let mut p = Session::new(
        Params {
            passive: true,
            ..params(300, 3)
        },
        5,
        3,
    );
    let out = p.start();
    assert!(sent(&out).is_empty());
    assert_eq!(last_transmit(&out), Some(Duration::MAX));
    let mut active = Session::new(params(300, 3), 6, 4);
    let reply = deliver(&active.start(), &mut p);
    assert_eq!(sent(&reply).len(), 1, "speaks once spoken to");
    assert_eq!(p.state(), State::Init);
}

#[test]
fn a_packet_for_another_discriminator_is_ignored() {
    let (mut a, mut b) = up_pair(params(300, 3), params(300, 3));
    let mut p = sent(&b.handle(Input::AdminDown))[0].clone();
    p.your_discriminator = 0xdead;
    assert!(a.handle(Input::Received(p)).is_empty());
    assert_eq!(a.state(), State::Up);
}

#[test]
fn section_6_8_7_packets_received_do_not_postpone_ours() {
    let (mut a, mut b) = up_pair(params(300, 3), params(300, 3));
    a.handle(Input::TransmitTimer);
    for _ in 0..10 {
        let from_b = b.handle(Input::TransmitTimer);
        let out = deliver(&from_b, &mut a);
        assert_eq!(
            last_transmit(&out),
            None,
            "the transmit timer is left running: {out:?}"
        );
    }
    // But a change of interval re-arms it.
    let out = deliver(
        &b.handle(Input::SetParams(params(300, 3).with_rx(MS(600)))),
        &mut a,
    );
    assert!(last_transmit(&out).unwrap() >= MS(450), "{out:?}");
}

#[test]
fn a_planned_restart_hands_the_session_over_and_the_remote_sees_no_change() {
    let (mut old, mut remote) = up_pair(params(300, 3), params(300, 3));
    // Before exiting: announce a long multiplier, so the remote waits for the next process.
    let out = old.handle(Input::SetParams(Params {
        detect_mult: HANDOVER_DETECT_MULT,
        ..params(300, 3)
    }));
    let answer = deliver(&out, &mut remote);
    assert_eq!(remote.detection_time(), Some(MS(300) * 255), "{answer:?}");
    let h = old.handover().expect("Up");
    let _ = old;
    // The next process resumes: Up at once, the same discriminators, the normal multiplier.
    let mut new = Session::resume(params(300, 3), &h, 11);
    let out = new.start();
    assert_eq!(new.state(), State::Up);
    assert!(out.contains(&Output::DetectIn(Some(MS(900)))));
    let first = &sent(&out)[0];
    assert_eq!(
        (first.state, first.my_discriminator, first.detect_mult),
        (State::Up, 1, 3)
    );
    let reply = deliver(&out, &mut remote);
    assert!(
        changes(&reply).is_empty(),
        "the remote saw no change: {reply:?}"
    );
    assert_eq!(remote.state(), State::Up);
    assert_eq!(remote.detection_time(), Some(MS(900)), "back to 3 × 300 ms");
}
