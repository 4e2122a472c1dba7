use super::*;
use crate::wire::capability::GracefulRestartCap;
use crate::wire::notification::open as open_sub;
use crate::wire::{Capability, Family, Open};
use std::net::Ipv4Addr;

const RETRY: Duration = Duration::from_secs(2);

fn settings() -> LocalSettings {
    LocalSettings {
        local_asn: 64512,
        remote_as: RemoteAs::Is(65001),
        router_id: Ipv4Addr::new(192, 0, 2, 1),
        hold_time: 90,
        families: vec![Family::Ipv4Unicast, Family::Ipv6Unicast],
        graceful_restart: Some(GracefulRestartCap {
            restart_state: false,
            notification: true,
            restart_time: 120,
            families: vec![],
        }),
        long_lived: None,
        extended_parameters: false,
        role: None,
        strict_role: false,
        extended_next_hop: false,
    }
}

fn peer_open(asn: u32, hold: u16, caps: Vec<Capability>) -> Event {
    Event::Message(Message::Open(Open::new(
        asn,
        hold,
        Ipv4Addr::new(192, 0, 2, 2),
        caps,
    )))
}

fn established() -> Fsm {
    let mut fsm = Fsm::new(settings(), false, RETRY);
    fsm.handle(Event::ManualStart);
    fsm.handle(Event::TcpConnected);
    fsm.handle(peer_open(65001, 30, vec![Capability::FourOctetAs(65001)]));
    let out = fsm.handle(Event::Message(Message::Keepalive));
    assert!(matches!(out.last(), Some(Action::Established(_))));
    fsm
}

fn sent_notification(out: &[Action]) -> Option<&Notification> {
    out.iter().find_map(|a| match a {
        Action::Send(Message::Notification(n)) => Some(n),
        _ => None,
    })
}

#[test]
fn active_peer_connects_and_reaches_established() {
    let mut fsm = Fsm::new(settings(), false, RETRY);
    assert_eq!(
        fsm.handle(Event::ManualStart),
        vec![
            Action::Connect,
            Action::StartTimer(Timer::ConnectRetry, RETRY)
        ]
    );
    assert_eq!(fsm.state(), State::Connect);
    let out = fsm.handle(Event::TcpConnected);
    assert!(matches!(&out[1], Action::Send(Message::Open(o)) if o.hold_time == 90));
    assert_eq!(fsm.state(), State::OpenSent);
    let out = fsm.handle(peer_open(65001, 30, vec![]));
    assert_eq!(out[0], Action::Send(Message::Keepalive));
    assert!(out.contains(&Action::StartTimer(Timer::Hold, Duration::from_secs(30))));
    assert!(out.contains(&Action::StartTimer(
        Timer::Keepalive,
        Duration::from_secs(10)
    )));
    assert_eq!(fsm.state(), State::OpenConfirm);
    let out = fsm.handle(Event::Message(Message::Keepalive));
    let Some(Action::Established(n)) = out.last() else {
        panic!("{out:?}")
    };
    // A peer without Multiprotocol capabilities speaks IPv4 unicast only.
    assert_eq!(n.families, vec![Family::Ipv4Unicast]);
    assert!(!n.codec.four_octet_as);
    assert_eq!(fsm.state(), State::Established);
}

#[test]
fn passive_peer_waits_in_active() {
    let mut fsm = Fsm::new(settings(), true, RETRY);
    assert!(fsm.handle(Event::ManualStart).is_empty());
    assert_eq!(fsm.state(), State::Active);
    fsm.handle(Event::TcpConnected);
    assert_eq!(fsm.state(), State::OpenSent);
}

#[test]
fn connect_failure_backs_off_exponentially() {
    let mut fsm = Fsm::new(settings(), false, RETRY);
    fsm.handle(Event::ManualStart);
    let out = fsm.handle(Event::TcpFailed);
    assert_eq!(out, vec![Action::StartTimer(Timer::ConnectRetry, RETRY)]);
    assert_eq!(fsm.state(), State::Active);
    let out = fsm.handle(Event::TimerExpired(Timer::ConnectRetry));
    assert_eq!(out[0], Action::Connect);
    fsm.handle(Event::TcpFailed);
    assert_eq!(fsm.backoff(), RETRY * 2);
    for _ in 0..10 {
        fsm.handle(Event::TimerExpired(Timer::ConnectRetry));
        fsm.handle(Event::TcpFailed);
    }
    assert_eq!(fsm.backoff(), RETRY * 32, "capped");
}

#[test]
fn negotiation_picks_common_families_and_minimum_hold_time() {
    let fsm = {
        let mut fsm = Fsm::new(settings(), false, RETRY);
        fsm.handle(Event::ManualStart);
        fsm.handle(Event::TcpConnected);
        fsm.handle(peer_open(
            65001,
            180,
            vec![
                Capability::multiprotocol(Family::Ipv6Unicast),
                Capability::FourOctetAs(65001),
                Capability::EnhancedRouteRefresh,
                Capability::ExtendedMessage,
                Capability::Unknown {
                    code: 200,
                    value: vec![1],
                },
            ],
        ));
        fsm
    };
    let n = fsm.negotiated().unwrap();
    assert_eq!(n.families, vec![Family::Ipv6Unicast]);
    assert_eq!(n.hold_time, Duration::from_secs(90));
    assert!(n.codec.four_octet_as && n.codec.extended_message && n.enhanced_route_refresh);
    assert!(n.peer_graceful_restart.is_none() && !n.notification_gr());
}

#[test]
fn open_errors_send_the_rfc_notification() {
    let cases = [
        (peer_open(65002, 90, vec![]), open_sub::BAD_PEER_AS),
        (
            peer_open(65001, 2, vec![]),
            open_sub::UNACCEPTABLE_HOLD_TIME,
        ),
        (
            Event::Message(Message::Open(Open::new(
                65001,
                90,
                Ipv4Addr::UNSPECIFIED,
                vec![],
            ))),
            open_sub::BAD_BGP_IDENTIFIER,
        ),
    ];
    for (event, subcode) in cases {
        let mut fsm = Fsm::new(settings(), false, RETRY);
        fsm.handle(Event::ManualStart);
        fsm.handle(Event::TcpConnected);
        let out = fsm.handle(event);
        let n = sent_notification(&out).expect("notification");
        assert_eq!((n.code, n.subcode), (code::OPEN_MESSAGE, subcode));
        assert!(out.contains(&Action::Close));
        assert!(
            out.contains(&Action::Refused(DownReason::NotificationSent(n.clone()))),
            "the reason reaches the daemon: {out:?}"
        );
        assert_eq!(fsm.state(), State::Idle);
        assert!(out.contains(&Action::StartTimer(Timer::ConnectRetry, RETRY)));
    }
}

#[test]
fn four_octet_asn_in_open_uses_as_trans() {
    let mut s = settings();
    s.local_asn = 4_200_000_000;
    let open = s.open();
    assert_eq!(open.my_as, 23456);
    assert_eq!(open.asn(), 4_200_000_000);
}

#[test]
fn hold_time_zero_disables_keepalives() {
    let mut fsm = Fsm::new(settings(), false, RETRY);
    fsm.handle(Event::ManualStart);
    fsm.handle(Event::TcpConnected);
    let out = fsm.handle(peer_open(65001, 0, vec![]));
    assert!(out.contains(&Action::StopTimer(Timer::Hold)));
    assert!(!out
        .iter()
        .any(|a| matches!(a, Action::StartTimer(Timer::Keepalive, _))));
    let out = fsm.handle(Event::Message(Message::Keepalive));
    assert!(!out
        .iter()
        .any(|a| matches!(a, Action::StartTimer(Timer::Hold, _))));
}

#[test]
fn established_updates_restart_hold_timer() {
    let mut fsm = established();
    let out = fsm.handle(Event::Message(Message::Update(Update::default())));
    assert_eq!(
        out[0],
        Action::StartTimer(Timer::Hold, Duration::from_secs(30))
    );
    assert!(matches!(out[1], Action::Update(_)));
    let out = fsm.handle(Event::TimerExpired(Timer::Keepalive));
    assert_eq!(out[0], Action::Send(Message::Keepalive));
}

#[test]
fn hold_timer_expiry_sends_notification_and_reports_down() {
    let mut fsm = established();
    let out = fsm.handle(Event::TimerExpired(Timer::Hold));
    assert_eq!(
        sent_notification(&out).unwrap().code,
        code::HOLD_TIMER_EXPIRED
    );
    assert!(out.contains(&Action::Down(DownReason::HoldTimerExpired)));
    assert_eq!(fsm.state(), State::Idle);
    // And it comes back by itself after the back-off.
    let out = fsm.handle(Event::TimerExpired(Timer::ConnectRetry));
    assert_eq!(out[0], Action::Connect);
}

#[test]
fn notification_from_peer_and_connection_loss_report_down() {
    let mut fsm = established();
    let n = Notification::new(code::CEASE, cease::HARD_RESET);
    let out = fsm.handle(Event::Message(Message::Notification(n.clone())));
    assert!(sent_notification(&out).is_none());
    assert!(out.contains(&Action::Down(DownReason::NotificationReceived(n))));
    let mut fsm = established();
    let out = fsm.handle(Event::TcpFailed);
    assert!(out.contains(&Action::Down(DownReason::ConnectionLost)));
}

#[test]
fn unexpected_messages_are_fsm_errors_per_state() {
    let mut fsm = established();
    let out = fsm.handle(peer_open(65001, 90, vec![]));
    assert_eq!(
        sent_notification(&out).map(|n| (n.code, n.subcode)),
        Some((code::FSM, 3))
    );
    let mut fsm = Fsm::new(settings(), false, RETRY);
    fsm.handle(Event::ManualStart);
    fsm.handle(Event::TcpConnected);
    let out = fsm.handle(Event::Message(Message::Keepalive));
    assert_eq!(
        sent_notification(&out).map(|n| (n.code, n.subcode)),
        Some((code::FSM, 1))
    );
}

#[test]
fn decode_error_is_sent_as_is() {
    let mut fsm = established();
    let bad = Notification::new(code::UPDATE_MESSAGE, 10);
    let out = fsm.handle(Event::DecodeError(bad.clone()));
    assert_eq!(sent_notification(&out), Some(&bad));
    assert!(out.contains(&Action::Down(DownReason::NotificationSent(bad))));
}

#[test]
fn manual_stop_with_and_without_notification() {
    let mut fsm = established();
    let out = fsm.handle(Event::ManualStop(Some(admin_shutdown("maintenance"))));
    assert_eq!(
        sent_notification(&out)
            .unwrap()
            .shutdown_message()
            .as_deref(),
        Some("maintenance")
    );
    assert!(
        !out.iter().any(|a| matches!(a, Action::StartTimer(..))),
        "no restart after stop"
    );
    let mut fsm = established();
    let out = fsm.handle(Event::ManualStop(None));
    assert!(sent_notification(&out).is_none());
    assert!(out.contains(&Action::Down(DownReason::SilentStop)));
    assert!(fsm
        .handle(Event::TimerExpired(Timer::ConnectRetry))
        .is_empty());
    assert_eq!(fsm.handle(Event::TcpConnected), vec![Action::Close]);
}

#[test]
fn incoming_connection_during_back_off_is_accepted() {
    let mut fsm = established();
    fsm.handle(Event::TcpFailed);
    assert_eq!(fsm.state(), State::Idle);
    let out = fsm.handle(Event::TcpConnected);
    assert!(matches!(out[1], Action::Send(Message::Open(_))));
    assert_eq!(fsm.state(), State::OpenSent);
}

#[test]
fn losing_a_collision_sends_cease_7_and_does_not_grow_the_back_off() {
    let mut fsm = Fsm::new(settings(), false, RETRY);
    fsm.handle(Event::ManualStart);
    fsm.handle(Event::TcpConnected);
    assert_eq!(fsm.state(), State::OpenSent);
    let collision = Notification::new(code::CEASE, cease::CONNECTION_COLLISION);
    let out = fsm.handle(Event::CollisionLost(collision.clone()));
    assert_eq!(sent_notification(&out), Some(&collision));
    assert!(out.contains(&Action::Close));
    assert!(
        !out.iter()
            .any(|a| matches!(a, Action::StartTimer(..) | Action::Down(_))),
        "no retry timer, no Down: {out:?}"
    );
    assert_eq!(fsm.state(), State::Idle);
    assert_eq!(fsm.backoff(), RETRY, "no failure counted");
    // The winning connection goes on at once.
    let out = fsm.handle(Event::TcpConnected);
    assert!(matches!(out[1], Action::Send(Message::Open(_))));
    assert_eq!(fsm.state(), State::OpenSent);
    // From OpenConfirm the same.
    fsm.handle(peer_open(65001, 30, vec![]));
    assert_eq!(fsm.state(), State::OpenConfirm);
    fsm.handle(Event::CollisionLost(collision.clone()));
    assert_eq!((fsm.state(), fsm.backoff()), (State::Idle, RETRY));
    // An Established session ignores it.
    let mut up = established();
    assert_eq!(up.handle(Event::CollisionLost(collision)), vec![]);
    assert_eq!(up.state(), State::Established);
}

#[test]
fn a_reset_with_a_hold_down_refuses_the_peer_until_it_is_over() {
    let mut fsm = established();
    let n = Notification::new(code::CEASE, cease::MAX_PREFIXES);
    let hold = Duration::from_secs(60);
    let out = fsm.handle(Event::Reset {
        notification: n.clone(),
        hold_down: Some(hold),
    });
    assert_eq!(sent_notification(&out), Some(&n));
    assert_eq!(
        out.last(),
        Some(&Action::StartTimer(Timer::ConnectRetry, hold))
    );
    assert_eq!(fsm.state(), State::Idle);
    assert_eq!(
        fsm.handle(Event::TcpConnected),
        vec![Action::Close],
        "held down"
    );
    let out = fsm.handle(Event::TimerExpired(Timer::ConnectRetry));
    assert!(out.contains(&Action::Connect), "{out:?}");
    assert_eq!(fsm.state(), State::Connect);
}

#[test]
fn a_connection_without_an_open_is_closed_when_the_open_hold_time_ends() {
    let wait = Duration::from_secs(5);
    let mut fsm = Fsm::new(settings(), true, RETRY).with_open_hold_time(wait);
    fsm.handle(Event::ManualStart);
    let out = fsm.handle(Event::TcpConnected);
    assert!(
        out.contains(&Action::StartTimer(Timer::Hold, wait)),
        "{out:?}"
    );
    assert_eq!(fsm.state(), State::OpenSent);
    let out = fsm.handle(Event::TimerExpired(Timer::Hold));
    let n = sent_notification(&out).expect("NOTIFICATION");
    assert_eq!((n.code, n.subcode), (4, 0), "Hold Timer Expired");
    assert!(out.contains(&Action::Close));
    assert_eq!(fsm.state(), State::Idle);
}

#[test]
fn llgr_is_negotiated_beside_gr_and_ignored_without_it() {
    use crate::fsm::negotiate;
    use crate::wire::{GrFamily, LongLivedCap, LongLivedFamily};
    let ll = LongLivedCap {
        families: vec![LongLivedFamily::new(Family::Ipv4Unicast, true, 600)],
    };
    let gr = GracefulRestartCap {
        restart_state: false,
        notification: true,
        restart_time: 30,
        families: vec![GrFamily::new(Family::Ipv4Unicast, true)],
    };
    let mut ours = settings();
    ours.long_lived = Some(ll.clone());
    let open = |caps| Open::new(65001, 90, Ipv4Addr::new(192, 0, 2, 2), caps);
    // Our OPEN carries it right after the GR capability.
    let sent = ours.open().capabilities;
    let at = sent
        .iter()
        .position(|c| matches!(c, Capability::GracefulRestart(_)))
        .unwrap();
    assert_eq!(
        sent[at + 1],
        Capability::LongLivedGracefulRestart(ll.clone())
    );

    let both = vec![
        Capability::GracefulRestart(gr),
        Capability::LongLivedGracefulRestart(ll.clone()),
    ];
    let n = negotiate::negotiate(&ours, &open(both)).unwrap();
    assert_eq!(n.peer_long_lived.as_ref(), Some(&ll));
    assert_eq!(n.local_long_lived.as_ref(), Some(&ll));

    // RFC 9494 §3: without the GR capability, LLGR is ignored; ours is not sent without GR.
    let n = negotiate::negotiate(
        &ours,
        &open(vec![Capability::LongLivedGracefulRestart(ll.clone())]),
    )
    .unwrap();
    assert_eq!(n.peer_long_lived, None);
    ours.graceful_restart = None;
    assert!(!ours
        .open()
        .capabilities
        .iter()
        .any(|c| matches!(c, Capability::LongLivedGracefulRestart(_))));
}

#[test]
fn the_settings_an_open_was_made_from_are_read_back_from_its_bytes() {
    use crate::wire::LongLivedFamily;
    use crate::wire::{decode_message, CodecContext, Decoded, GrFamily, LongLivedCap};
    let mut variants = vec![settings()];
    let mut v = settings();
    v.families = vec![Family::Ipv6Unicast];
    v.graceful_restart = None;
    v.hold_time = 0;
    v.extended_parameters = true;
    v.local_asn = 4_200_000_000;
    variants.push(v);
    let mut v = settings();
    v.graceful_restart.as_mut().unwrap().families = vec![GrFamily::new(Family::Ipv4Unicast, true)];
    v.long_lived = Some(LongLivedCap {
        families: vec![LongLivedFamily::new(Family::Ipv4Unicast, false, 3600)],
    });
    variants.push(v);
    // A takeover re-reads the role and the next hop offer too (strict mode is not sent).
    let mut v = settings();
    v.role = Some(crate::wire::Role::RouteServerClient);
    v.extended_next_hop = true;
    variants.push(v);
    for s in variants {
        let bytes = Message::Open(s.open()).encode(CodecContext::default());
        let Ok(Decoded::Message(Message::Open(open))) =
            decode_message(&bytes, CodecContext::default())
        else {
            panic!("our OPEN decodes");
        };
        assert_eq!(LocalSettings::from_open(&open, s.remote_as), s);
    }
}

#[test]
fn a_resumed_machine_is_established_and_keeps_its_session() {
    let n = established().negotiated().cloned().unwrap();
    let mut fsm = Fsm::resume(settings(), false, RETRY, n.clone());
    assert_eq!(fsm.state(), State::Established);
    assert_eq!(fsm.negotiated(), Some(&n));
    let out = fsm.handle(Event::TimerExpired(Timer::Keepalive));
    assert!(out.contains(&Action::Send(Message::Keepalive)), "{out:?}");
    let out = fsm.handle(Event::Message(Message::Keepalive));
    assert!(
        out.contains(&Action::StartTimer(Timer::Hold, n.hold_time)),
        "{out:?}"
    );
    let out = fsm.handle(Event::TimerExpired(Timer::Hold));
    assert!(
        out.contains(&Action::Down(DownReason::HoldTimerExpired)),
        "{out:?}"
    );
}

/// RFC 2918 §4 (issue 24): a ROUTE-REFRESH on a session that did not negotiate the capability
/// is answered with Bad Message Type, not with the whole Adj-RIB-Out again.
#[test]
fn route_refresh_without_the_capability_is_a_bad_message_type() {
    let rr = RouteRefresh {
        afi: 1,
        safi: 1,
        kind: crate::wire::RefreshKind::Request,
    };
    let mut fsm = established();
    let out = fsm.handle(Event::Message(Message::RouteRefresh(rr)));
    let n = sent_notification(&out).expect("a NOTIFICATION");
    assert_eq!((n.code, n.subcode, n.data.as_slice()), (1, 3, &[5u8][..]));
    assert!(!out.iter().any(|a| matches!(a, Action::RouteRefresh(_))));
    assert_eq!(fsm.state(), State::Idle);

    let mut fsm = Fsm::new(settings(), false, RETRY);
    fsm.handle(Event::ManualStart);
    fsm.handle(Event::TcpConnected);
    fsm.handle(peer_open(65001, 30, vec![Capability::RouteRefresh]));
    fsm.handle(Event::Message(Message::Keepalive));
    let out = fsm.handle(Event::Message(Message::RouteRefresh(rr)));
    assert!(out.contains(&Action::RouteRefresh(rr)), "{out:?}");
}

/// Issue 24: a peer that answers each of our UPDATEs with an UPDATE message error (FRR's 3/8
/// for a next hop it will not take) had us reconnect and re-send every `connect_retry` for
/// ever; sessions it ends that way now back off as failures do.
#[test]
fn sessions_the_peer_ends_for_our_updates_back_off() {
    let retry_after = |out: &[Action]| {
        out.iter().find_map(|a| match a {
            Action::StartTimer(Timer::ConnectRetry, d) => Some(*d),
            _ => None,
        })
    };
    let refused = || Event::Message(Message::Notification(Notification::new(3, 8)));
    let mut fsm = established();
    let mut waits = Vec::new();
    for _ in 0..3 {
        waits.push(retry_after(&fsm.handle(refused())).unwrap());
        fsm.handle(Event::TimerExpired(Timer::ConnectRetry));
        fsm.handle(Event::TcpConnected);
        fsm.handle(peer_open(65001, 30, vec![Capability::FourOctetAs(65001)]));
        let out = fsm.handle(Event::Message(Message::Keepalive));
        assert!(
            matches!(out.last(), Some(Action::Established(_))),
            "{out:?}"
        );
    }
    assert_eq!(waits, vec![RETRY, RETRY * 2, RETRY * 4]);
    // A session that ends another way is not the peer refusing us: the back-off starts over.
    let out = fsm.handle(Event::TcpFailed);
    assert_eq!(retry_after(&out), Some(RETRY));
}

#[test]
fn a_remote_as_kind_admits_any_as_of_that_kind_and_learns_it() {
    let open = |asn: u32| {
        let caps = vec![Capability::FourOctetAs(asn)];
        Open::new(asn, 90, Ipv4Addr::new(192, 0, 2, 2), caps)
    };
    let bad_peer_as = |n: Notification| {
        assert_eq!(
            (n.code, n.subcode),
            (code::OPEN_MESSAGE, open_sub::BAD_PEER_AS)
        )
    };
    let mut s = settings();
    let ours = s.local_asn;
    s.remote_as = RemoteAs::External;
    assert!(!s.is_ibgp());
    for asn in [65002, 4_200_000_001] {
        let n = negotiate(&s, &open(asn)).unwrap();
        assert_eq!(n.remote_asn, asn, "learned from the OPEN");
        assert!(n.codec.external);
    }
    bad_peer_as(negotiate(&s, &open(ours)).unwrap_err());

    s.remote_as = RemoteAs::Internal;
    assert!(s.is_ibgp());
    let n = negotiate(&s, &open(ours)).unwrap();
    assert_eq!(n.remote_asn, ours);
    assert!(!n.codec.external);
    bad_peer_as(negotiate(&s, &open(65002)).unwrap_err());
    assert_eq!(RemoteAs::Internal.known(ours), Some(ours));
    assert_eq!(RemoteAs::External.known(ours), None);
}

/// RFC 9234 §4.2: roles that do not pair, several different ones, or none in strict mode are
/// refused with OPEN error 11; the capability goes only into eBGP OPENs.
#[test]
fn bgp_roles_pair_or_the_open_is_refused_with_role_mismatch() {
    use crate::wire::Role;
    let open = |roles: &[u8]| {
        let mut caps = vec![Capability::FourOctetAs(65001)];
        caps.extend(roles.iter().map(|r| Capability::Role(*r)));
        Open::new(65001, 90, Ipv4Addr::new(192, 0, 2, 2), caps)
    };
    let mismatch = |n: Notification| {
        assert_eq!(
            (n.code, n.subcode),
            (code::OPEN_MESSAGE, open_sub::ROLE_MISMATCH)
        );
        assert!(n.to_string().contains("role mismatch"), "{n}");
    };
    let mut s = settings();
    s.role = Some(Role::Customer);
    assert!(s.open().capabilities.contains(&Capability::Role(3)));
    let n = negotiate(&s, &open(&[Role::Provider.value()])).unwrap();
    assert_eq!(
        (n.local_role, n.peer_role),
        (Some(Role::Customer), Some(Role::Provider))
    );
    mismatch(negotiate(&s, &open(&[Role::Customer.value()])).unwrap_err());
    mismatch(negotiate(&s, &open(&[0, 4])).unwrap_err());
    mismatch(negotiate(&s, &open(&[7])).unwrap_err());
    // Without a role from the peer: fine, unless strict.
    let n = negotiate(&s, &open(&[])).unwrap();
    assert_eq!((n.local_role, n.peer_role), (Some(Role::Customer), None));
    s.strict_role = true;
    mismatch(negotiate(&s, &open(&[])).unwrap_err());
    // Ours unset: whatever the peer says is only shown.
    let n = negotiate(&settings(), &open(&[Role::Provider.value()])).unwrap();
    assert_eq!((n.local_role, n.peer_role), (None, Some(Role::Provider)));
    // Never on iBGP.
    let mut ibgp = settings();
    ibgp.remote_as = RemoteAs::Is(ibgp.local_asn);
    ibgp.role = Some(Role::Peer);
    assert!(!ibgp
        .open()
        .capabilities
        .iter()
        .any(|c| matches!(c, Capability::Role(_))));
}

/// RFC 8950: IPv4 routes with IPv6 next hops only when both sides list IPv4 unicast over
/// IPv6 next hops.
#[test]
fn extended_next_hop_is_negotiated_when_both_sides_list_ipv4_over_ipv6() {
    use crate::wire::NextHopFamily;
    let open = |enh: Option<Vec<NextHopFamily>>| {
        let mut caps = vec![Capability::FourOctetAs(65001)];
        caps.extend(enh.map(Capability::ExtendedNextHop));
        Open::new(65001, 90, Ipv4Addr::new(192, 0, 2, 2), caps)
    };
    let mut s = settings();
    assert!(
        !negotiate(&s, &open(Some(vec![NextHopFamily::IPV4_OVER_IPV6])))
            .unwrap()
            .extended_next_hop
    );
    s.extended_next_hop = true;
    assert!(s
        .open()
        .capabilities
        .contains(&Capability::ExtendedNextHop(vec![
            NextHopFamily::IPV4_OVER_IPV6
        ])));
    let both = negotiate(&s, &open(Some(vec![NextHopFamily::IPV4_OVER_IPV6]))).unwrap();
    assert!(both.extended_next_hop);
    assert!(!negotiate(&s, &open(None)).unwrap().extended_next_hop);
    // An entry for another family (VPNv4, SAFI 128) is not ours.
    let vpn = NextHopFamily {
        nlri_safi: 128,
        ..NextHopFamily::IPV4_OVER_IPV6
    };
    assert!(
        !negotiate(&s, &open(Some(vec![vpn])))
            .unwrap()
            .extended_next_hop
    );
    // Read back from our OPEN's bytes, as a takeover does.
    assert!(LocalSettings::from_open(&s.open(), s.remote_as).extended_next_hop);
}
