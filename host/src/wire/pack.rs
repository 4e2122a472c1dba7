//! Packing routes into as few UPDATE messages as the session's maximum message size allows
//! (RFC 4271 §4.3, RFC 8654): withdrawals per family, announcements of one next hop and
//! attribute set per run of messages. IPv4 unicast travels in the UPDATE's own fields, every
//! other family in MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760 §3, §4).

use super::update::{prefix_wire_len, MP_REACH_OVERHEAD, UPDATE_OVERHEAD};
use super::{CodecContext, Family, Message, MpReach, MpUnreach, NextHop, PathAttributes, Update};
use bytes::Bytes;
use ipnet::{IpNet, Ipv4Net};

/// UPDATEs withdrawing `prefixes` (any mix of families).
pub fn withdrawals(prefixes: &[IpNet], ctx: CodecContext) -> Vec<Bytes> {
    let mut out = Vec::new();
    let room = ctx.max_message_len() - UPDATE_OVERHEAD - MP_REACH_OVERHEAD;
    for family in Family::ALL {
        let of_family = prefixes
            .iter()
            .copied()
            .filter(|p| Family::of_prefix(p) == family);
        runs_by_size(of_family, room, |run| {
            let mut u = Update::default();
            match family {
                Family::Ipv4Unicast => u.withdrawn = run.iter().filter_map(as_v4).collect(),
                Family::Ipv6Unicast => {
                    u.mp_unreach = Some(MpUnreach {
                        family,
                        withdrawn: run.to_vec(),
                    })
                }
            }
            out.push(Message::Update(u).encode(ctx));
        });
    }
    out
}

/// UPDATEs announcing `prefixes` (any mix of families) with one next hop and attribute set;
/// `attrs` carries no NEXT_HOP of its own. The prefixes are walked once per family and packed
/// as they come: no copy of them is made.
pub fn announcements<I>(
    next_hop: NextHop,
    attrs: &PathAttributes,
    prefixes: I,
    ctx: CodecContext,
) -> Vec<Bytes>
where
    I: Iterator<Item = IpNet> + Clone,
{
    let mut attrs = attrs.clone();
    if let NextHop::V4(nh) = next_hop {
        attrs.next_hop = Some(nh);
    }
    let mut probe = bytes::BytesMut::new();
    attrs.encode(&mut probe, ctx.attrs());
    let room = ctx
        .max_message_len()
        .saturating_sub(UPDATE_OVERHEAD + MP_REACH_OVERHEAD + probe.len());
    let mut out = Vec::new();
    for family in Family::ALL {
        let of_family = prefixes.clone().filter(|p| Family::of_prefix(p) == family);
        runs_by_size(of_family, room, |run| {
            let mut u = Update {
                attributes: attrs.clone(),
                ..Default::default()
            };
            match (family, next_hop) {
                (Family::Ipv4Unicast, NextHop::V4(_)) => {
                    u.nlri = run.iter().filter_map(as_v4).collect();
                }
                _ => {
                    u.attributes.next_hop = None;
                    u.mp_reach = Some(MpReach {
                        family,
                        next_hop,
                        nlri: run.to_vec(),
                    });
                }
            }
            out.push(Message::Update(u).encode(ctx));
        });
    }
    out
}

/// Hands `emit` runs of `prefixes` whose NLRI encoding fits in `room` octets (at least one
/// prefix per run, so a tiny room still makes progress).
fn runs_by_size(
    prefixes: impl Iterator<Item = IpNet>,
    room: usize,
    mut emit: impl FnMut(&[IpNet]),
) {
    let (mut run, mut used) = (Vec::new(), 0);
    for p in prefixes {
        let len = prefix_wire_len(&p);
        if used + len > room && !run.is_empty() {
            emit(&run);
            run.clear();
            used = 0;
        }
        used += len;
        run.push(p);
    }
    if !run.is_empty() {
        emit(&run);
    }
}

fn as_v4(p: &IpNet) -> Option<Ipv4Net> {
    match p {
        IpNet::V4(p) => Some(*p),
        IpNet::V6(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode_message, AsPath, Decoded, Origin};
    use std::net::Ipv4Addr;

    const CTX: CodecContext = CodecContext {
        four_octet_as: true,
        extended_message: false,
        external: false,
    };

    fn decode(m: &Bytes) -> Update {
        match decode_message(m, CTX) {
            Ok(Decoded::Message(Message::Update(u))) => u,
            other => panic!("not an UPDATE: {other:?}"),
        }
    }

    fn v4s(n: u32) -> Vec<IpNet> {
        (0..n)
            .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap()))
            .collect()
    }

    #[test]
    fn announcements_fill_messages_up_to_the_maximum_size() {
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence(vec![64512])),
            ..Default::default()
        };
        let nh = NextHop::V4(Ipv4Addr::new(192, 0, 2, 1));
        let msgs = announcements(nh, &attrs, v4s(3000).into_iter(), CTX);
        // 3000 /24s at 4 octets each: 12,000 octets of NLRI, three 4 KiB messages.
        assert_eq!(msgs.len(), 3);
        let mut seen = 0;
        for m in &msgs {
            assert!(m.len() <= 4096);
            let u = decode(m);
            assert_eq!(u.attributes.next_hop, Some(Ipv4Addr::new(192, 0, 2, 1)));
            seen += u.nlri.len();
        }
        assert_eq!(seen, 3000);
        let extended = CodecContext {
            extended_message: true,
            external: false,
            ..CTX
        };
        assert_eq!(
            announcements(nh, &attrs, v4s(3000).into_iter(), extended).len(),
            1
        );
    }

    #[test]
    fn ipv6_travels_in_mp_reach_and_mp_unreach() {
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            ..Default::default()
        };
        let p6: IpNet = "2001:db8:1::/48".parse().unwrap();
        let nh = NextHop::V6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: None,
        };
        let u = decode(&announcements(nh, &attrs, [p6].into_iter(), CTX)[0]);
        assert_eq!(u.nlri, vec![]);
        assert_eq!(u.attributes.next_hop, None);
        let m = u.mp_reach.unwrap();
        assert_eq!(
            (m.family, m.next_hop, m.nlri),
            (Family::Ipv6Unicast, nh, vec![p6])
        );

        let p4: IpNet = "192.0.2.0/24".parse().unwrap();
        let msgs = withdrawals(&[p6, p4], CTX);
        assert_eq!(msgs.len(), 2, "one per family");
        assert_eq!(decode(&msgs[0]).withdrawals(), vec![p4]);
        assert_eq!(decode(&msgs[1]).withdrawals(), vec![p6]);
    }
}
