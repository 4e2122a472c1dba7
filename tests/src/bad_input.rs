//! The malformed-input matrix: every RFC 7606 case and every RFC 4271 §6 error gracewire's
//! codec can meet, as the bytes a peer sends and the outcome the RFCs give. `tests/bad_input.rs`
//! drives each against a running gracewire; `corpus-capture` writes them into the fuzz seeds.
//!
//! The session they are sent on: eBGP, peer AS 65001 (4-octet AS negotiated), IPv4 and IPv6
//! unicast, gracewire AS 64512.

use crate::raw::{message, open, update};
use std::net::Ipv4Addr;

/// What gracewire must do with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// RFC 7606 treat-as-withdraw: the routes the UPDATE names are withdrawn, the session stays.
    Withdrawn,
    /// RFC 7606 attribute discard (or an attribute ignored by rule): the route is learned.
    Learned,
    /// This NOTIFICATION (code, subcode), then the connection is closed.
    Notification(u8, u8),
}

/// Where in a session the bytes are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Instead of the peer's OPEN.
    Open,
    /// After the peer's OPEN, before its KEEPALIVE (gracewire is in OpenConfirm).
    OpenConfirm,
    /// On an Established session.
    Established,
}

pub struct Case {
    pub name: &'static str,
    /// Where the outcome is specified.
    pub rfc: &'static str,
    pub phase: Phase,
    pub bytes: Vec<u8>,
    pub outcome: Outcome,
    /// The prefix the UPDATE carries, for the route outcomes.
    pub prefix: Option<String>,
    /// A well-formed UPDATE for that prefix, sent first where the outcome is a withdrawal.
    pub good: Option<Vec<u8>>,
}

pub const PEER_ASN: u32 = 65001;
pub const PEER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const LOCAL_ASN: u32 = 64512;

pub const ORIGIN: [u8; 4] = [0x40, 1, 1, 0];
/// AS_SEQUENCE [65001], 4-octet.
pub const AS_PATH: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9];
pub const NEXT_HOP: [u8; 7] = [0x40, 3, 4, 192, 0, 2, 2];

/// Well-formed ORIGIN, AS_PATH and NEXT_HOP followed by `extra`.
pub fn attrs(extra: &[u8]) -> Vec<u8> {
    [&ORIGIN[..], &AS_PATH, &NEXT_HOP, extra].concat()
}

/// The NLRI 10.`n`.0.0/24.
fn nlri(n: u8) -> Vec<u8> {
    vec![24, 10, n, 0]
}

fn prefix(n: u8) -> Option<String> {
    Some(format!("10.{n}.0.0/24"))
}

/// MP_REACH_NLRI for IPv6 unicast, next hop 2001:db8::2, NLRI 2001:db8:`n`::/48.
fn mp_reach_v6(n: u8) -> Vec<u8> {
    let mut v = vec![0, 2, 1, 16];
    v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    v.push(0);
    v.extend_from_slice(&[48, 0x20, 0x01, 0x0d, 0xb8, 0, n]);
    let mut a = vec![0x80, 14, v.len() as u8];
    a.extend_from_slice(&v);
    a
}

/// An OPEN body with its optional parameters given raw.
fn open_body(version: u8, asn: u16, hold: u16, id: [u8; 4], params: &[u8]) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(&asn.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id);
    b.push(params.len() as u8);
    b.extend_from_slice(params);
    b
}

/// Capabilities 4-octet AS 65001, IPv4 and IPv6 unicast, in one parameter.
fn good_params() -> Vec<u8> {
    let caps = [1, 4, 0, 1, 0, 1, 1, 4, 0, 2, 0, 1, 65, 4, 0, 0, 0xfd, 0xe9];
    [&[2, caps.len() as u8][..], &caps].concat()
}

/// A header with `len` in its length field and `body` after it.
fn with_length(len: u16, msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = message(msg_type, body);
    m[16..18].copy_from_slice(&len.to_be_bytes());
    m
}

fn case(
    name: &'static str,
    rfc: &'static str,
    phase: Phase,
    bytes: Vec<u8>,
    outcome: Outcome,
) -> Case {
    Case {
        name,
        rfc,
        phase,
        bytes,
        outcome,
        prefix: None,
        good: None,
    }
}

/// A route case: an UPDATE announcing 10.`n`.0.0/24 with `attributes`.
fn route(
    n: u8,
    name: &'static str,
    rfc: &'static str,
    attributes: &[u8],
    outcome: Outcome,
) -> Case {
    Case {
        prefix: prefix(n),
        good: Some(update(&[], &attrs(&[]), &nlri(n))),
        ..case(
            name,
            rfc,
            Phase::Established,
            update(&[], attributes, &nlri(n)),
            outcome,
        )
    }
}

/// Every case, numbered so each route case has its own prefix. RFC 4271's UPDATE subcodes
/// 3 (missing well-known), 4 (flags), 5 (length), 6 (ORIGIN), 8 (NEXT_HOP) and 11 (AS_PATH) for
/// the attributes below are replaced by RFC 7606's treat-as-withdraw and attribute discard.
#[rustfmt::skip]
pub fn cases() -> Vec<Case> {
    use Outcome::*;
    use Phase::*;
    let as_path = |body: &[u8]| [&[0x40, 2, body.len() as u8][..], body].concat();
    let with_path = |path: Vec<u8>| [&ORIGIN[..], &path, &NEXT_HOP].concat();
    let v6_good = [&ORIGIN[..], &AS_PATH, &mp_reach_v6(40)].concat();
    let v6_bad_origin = [&[0x40, 1, 1, 7][..], &AS_PATH, &mp_reach_v6(40)].concat();
    let v6_mp_twice = [&ORIGIN[..], &AS_PATH, &mp_reach_v6(41), &mp_reach_v6(42)].concat();
    let bad_marker = { let mut m = message(4, &[]); m[3] = 0; m };
    let open_with_params = |version, hold, id, params: &[u8]| message(1, &open_body(version, 65001, hold, id, params));
    let id = [192, 0, 2, 2];
    vec![
        // RFC 7606 treat-as-withdraw.
        route(1, "ORIGIN value 3", "RFC 7606 §7.1", &[&[0x40, 1, 1, 3][..], &AS_PATH, &NEXT_HOP].concat(), Withdrawn),
        route(2, "ORIGIN length 2", "RFC 7606 §7.1", &[&[0x40, 1, 2, 0, 0][..], &AS_PATH, &NEXT_HOP].concat(), Withdrawn),
        route(3, "ORIGIN flagged optional", "RFC 7606 §3.c", &[&[0xc0, 1, 1, 0][..], &AS_PATH, &NEXT_HOP].concat(), Withdrawn),
        route(4, "AS_PATH segment type 5", "RFC 7606 §7.2", &with_path(as_path(&[5, 1, 0, 0, 0xfd, 0xe9])), Withdrawn),
        route(5, "AS_PATH segment overruns the attribute", "RFC 7606 §7.2", &with_path(as_path(&[2, 2, 0, 0, 0xfd, 0xe9])), Withdrawn),
        route(6, "AS_PATH segment of length 0", "RFC 7606 §7.2", &with_path(as_path(&[2, 1, 0, 0, 0xfd, 0xe9, 2, 0])), Withdrawn),
        route(7, "AS_PATH with one octet after its last segment", "RFC 7606 §7.2", &with_path(as_path(&[2, 1, 0, 0, 0xfd, 0xe9, 2])), Withdrawn),
        route(8, "AS_PATH not starting with the eBGP peer's AS", "RFC 4271 §6.3, RFC 7606 §7.2", &with_path(as_path(&[2, 1, 0, 0, 0xfd, 0xea])), Withdrawn),
        route(9, "NEXT_HOP length 5", "RFC 7606 §7.3", &[&ORIGIN[..], &AS_PATH, &[0x40, 3, 5, 192, 0, 2, 2, 0]].concat(), Withdrawn),
        route(10, "NEXT_HOP 0.0.0.0", "RFC 4271 §6.3, RFC 7606 §7.3", &[&ORIGIN[..], &AS_PATH, &[0x40, 3, 4, 0, 0, 0, 0]].concat(), Withdrawn),
        route(11, "NEXT_HOP multicast 224.0.0.5", "RFC 4271 §6.3, RFC 7606 §7.3", &[&ORIGIN[..], &AS_PATH, &[0x40, 3, 4, 224, 0, 0, 5]].concat(), Withdrawn),
        route(12, "MULTI_EXIT_DISC length 3", "RFC 7606 §7.4", &attrs(&[0x80, 4, 3, 0, 0, 1]), Withdrawn),
        route(13, "COMMUNITIES length 5", "RFC 7606 §7.8", &attrs(&[0xc0, 8, 5, 0, 1, 0, 1, 9]), Withdrawn),
        route(14, "COMMUNITIES flagged non-transitive", "RFC 7606 §3.c", &attrs(&[0x80, 8, 4, 0, 1, 0, 1]), Withdrawn),
        route(15, "EXTENDED_COMMUNITIES length 9", "RFC 7606 §7.14", &attrs(&[0xc0, 16, 9, 0, 2, 0, 1, 0, 0, 0, 1, 9]), Withdrawn),
        route(16, "LARGE_COMMUNITY length 13", "RFC 8092 §5", &attrs(&[0xc0, 32, 13, 0, 0, 0xfd, 0xe9, 0, 0, 0, 1, 0, 0, 0, 1, 9]), Withdrawn),
        route(17, "ORIGIN missing", "RFC 7606 §3.d", &[&AS_PATH[..], &NEXT_HOP].concat(), Withdrawn),
        route(18, "AS_PATH missing", "RFC 7606 §3.d", &[&ORIGIN[..], &NEXT_HOP].concat(), Withdrawn),
        route(19, "NEXT_HOP missing with IPv4 NLRI", "RFC 7606 §3.d", &[&ORIGIN[..], &AS_PATH].concat(), Withdrawn),
        route(20, "an attribute overrunning the attribute field", "RFC 7606 §4", &attrs(&[0xc0, 8, 200, 0, 1]), Withdrawn),
        route(21, "a single octet after the last attribute", "RFC 7606 §4", &attrs(&[0xc0]), Withdrawn),
        route(22, "our own AS in the path", "RFC 4271 §9.1.2 (a loop, not an error)", &with_path(as_path(&[2, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0xfc, 0])), Withdrawn),
        Case {
            prefix: Some("2001:db8:28::/48".into()),
            good: Some(update(&[], &v6_good, &[])),
            ..case("IPv6 route with ORIGIN value 7", "RFC 7606 §7.1", Established, update(&[], &v6_bad_origin, &[]), Withdrawn)
        },
        // RFC 7606 attribute discard, and attributes ignored by rule: the route is learned.
        route(30, "ATOMIC_AGGREGATE length 1", "RFC 7606 §7.6", &attrs(&[0x40, 6, 1, 0]), Learned),
        route(31, "AGGREGATOR length 3", "RFC 7606 §7.7", &attrs(&[0xc0, 7, 3, 1, 2, 3]), Learned),
        route(32, "AGGREGATOR flagged well-known", "RFC 7606 §3.c, §7.7", &attrs(&[0x40, 7, 8, 0, 0, 0xfd, 0xe9, 192, 0, 2, 2]), Learned),
        route(33, "LOCAL_PREF from an eBGP peer", "RFC 7606 §7.5", &attrs(&[0x40, 5, 4, 0, 0, 0, 200]), Learned),
        route(34, "LOCAL_PREF of length 2 from an eBGP peer", "RFC 7606 §7.5", &attrs(&[0x40, 5, 2, 0, 200]), Learned),
        route(35, "ORIGIN twice, the second malformed", "RFC 7606 §3.g", &attrs(&[0x40, 1, 1, 9]), Learned),
        route(36, "an unknown optional transitive attribute", "RFC 4271 §5", &attrs(&[0xc0, 250, 2, 1, 2]), Learned),
        route(37, "an unknown optional non-transitive attribute", "RFC 4271 §5", &attrs(&[0x80, 251, 1, 7]), Learned),
        route(38, "AS4_PATH on a 4-octet session", "RFC 6793 §4.1", &attrs(&[0xc0, 17, 3, 2, 9, 9]), Learned),
        // UPDATE errors that reset the session.
        case("an unrecognized well-known attribute", "RFC 4271 §6.3", Established, update(&[], &attrs(&[0x40, 99, 0]), &nlri(50)), Notification(3, 2)),
        case("Withdrawn Routes Length past the message", "RFC 7606 §5.3, RFC 4271 §6.3", Established, message(2, &[0, 40, 0, 0]), Notification(3, 1)),
        case("Total Path Attribute Length past the message", "RFC 7606 §4", Established, message(2, &[0, 0, 0, 40, 0x40, 1, 1, 0]), Notification(3, 1)),
        case("NLRI prefix length 33", "RFC 4271 §6.3", Established, update(&[], &attrs(&[]), &[33, 10, 51, 0, 0, 0]), Notification(3, 10)),
        case("NLRI prefix longer than the message", "RFC 7606 §5.3", Established, update(&[], &attrs(&[]), &[24, 10]), Notification(3, 10)),
        case("withdrawn prefix length 40", "RFC 7606 §5.3", Established, update(&[40, 10, 0, 0, 0, 0], &[], &[]), Notification(3, 10)),
        case("MP_REACH_NLRI twice", "RFC 7606 §3.g", Established, update(&[], &v6_mp_twice, &[]), Notification(3, 1)),
        case("MP_REACH_NLRI overrunning the attribute field", "RFC 7606 §7.11", Established, update(&[], &[&ORIGIN[..], &AS_PATH, &[0x80, 14, 60, 0, 2, 1]].concat(), &[]), Notification(3, 5)),
        case("MP_REACH_NLRI next hop longer than the attribute", "RFC 7606 §7.11", Established, update(&[], &[&ORIGIN[..], &AS_PATH, &[0x80, 14, 5, 0, 2, 1, 32, 0]].concat(), &[]), Notification(3, 9)),
        case("MP_UNREACH_NLRI prefix length 129", "RFC 7606 §7.11", Established, update(&[], &[0x80, 15, 6, 0, 2, 1, 129, 0x20, 0x01], &[]), Notification(3, 9)),
        // Message header errors (RFC 4271 §6.1).
        case("marker not all ones", "RFC 4271 §6.1", Established, bad_marker, Notification(1, 1)),
        case("message length 18", "RFC 4271 §6.1", Established, with_length(18, 4, &[]), Notification(1, 2)),
        case("message length 4097 without Extended Message", "RFC 4271 §6.1, RFC 8654 §4", Established, with_length(4097, 2, &[]), Notification(1, 2)),
        case("KEEPALIVE with a body", "RFC 4271 §6.1", Established, message(4, &[0]), Notification(1, 2)),
        case("UPDATE shorter than 23 octets", "RFC 4271 §6.1", Established, message(2, &[0, 0]), Notification(1, 2)),
        case("message type 9", "RFC 4271 §6.1", Established, message(9, &[]), Notification(1, 3)),
        case("ROUTE-REFRESH of 5 octets", "RFC 7313 §5", Established, message(5, &[0, 1, 0, 1, 0]), Notification(7, 1)),
        // Finite state machine errors (RFC 6608).
        case("OPEN on an Established session", "RFC 6608 §3", Established, open(PEER_ASN, PEER_ID), Notification(5, 3)),
        case("UPDATE in OpenConfirm", "RFC 6608 §3", OpenConfirm, update(&[], &attrs(&[]), &nlri(60)), Notification(5, 2)),
        case("KEEPALIVE instead of an OPEN", "RFC 6608 §3", Open, message(4, &[]), Notification(5, 1)),
        // OPEN errors (RFC 4271 §6.2).
        case("OPEN version 3", "RFC 4271 §6.2", Open, open_with_params(3, 90, id, &good_params()), Notification(2, 1)),
        case("OPEN from the wrong AS", "RFC 4271 §6.2", Open, open(65099, PEER_ID), Notification(2, 2)),
        case("OPEN with BGP Identifier 0.0.0.0", "RFC 6286 §2.2", Open, open_with_params(4, 90, [0; 4], &good_params()), Notification(2, 3)),
        case("OPEN with optional parameter type 1", "RFC 5492 §4", Open, open_with_params(4, 90, id, &[1, 2, 0, 0]), Notification(2, 4)),
        case("OPEN with hold time 2", "RFC 4271 §6.2", Open, open_with_params(4, 2, id, &good_params()), Notification(2, 6)),
        case("OPEN whose parameters overrun it", "RFC 4271 §6.2", Open, open_with_params(4, 90, id, &[2, 40, 1, 4]), Notification(2, 0)),
        case("OPEN of 28 octets", "RFC 4271 §6.1", Open, message(1, &[4, 0xfd, 0xe9, 0, 90, 192, 0, 2, 2]), Notification(1, 2)),
    ]
}
