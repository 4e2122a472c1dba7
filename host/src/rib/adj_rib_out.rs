//! What we have told one peer, and the difference to what we want it to know. Announcing only
//! the difference is what lets a policy change (or a plugin swap) touch no unchanged route.

use crate::wire::update::{prefix_wire_len, MP_REACH_OVERHEAD, UPDATE_OVERHEAD};
use crate::wire::{
    CodecContext, Family, Message, MpReach, MpUnreach, NextHop, PathAttributes, Update,
};
use bytes::Bytes;
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A route as sent to a peer: its next hop and attributes behind one pointer, shared by the
/// routes sent alike ([`OutRoutes`]), so an Adj-RIB-Out entry is a prefix and a pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutRoute(Arc<SentAs>);

#[derive(Debug, PartialEq, Eq)]
pub struct SentAs {
    pub next_hop: NextHop,
    /// Without NEXT_HOP: that lives in `next_hop`, so routes differing only there share a set.
    pub attrs: Arc<PathAttributes>,
}

impl OutRoute {
    pub fn new(next_hop: NextHop, attrs: Arc<PathAttributes>) -> OutRoute {
        OutRoute(Arc::new(SentAs { next_hop, attrs }))
    }
}

impl std::ops::Deref for OutRoute {
    type Target = SentAs;
    fn deref(&self) -> &SentAs {
        &self.0
    }
}

/// Hands out one [`OutRoute`] per next hop and attribute set (attributes come interned, so
/// they are told apart by pointer).
#[derive(Default)]
pub struct OutRoutes(HashMap<(NextHop, *const PathAttributes), OutRoute>);

impl OutRoutes {
    pub fn get(&mut self, next_hop: NextHop, attrs: Arc<PathAttributes>) -> OutRoute {
        self.0
            .entry((next_hop, Arc::as_ptr(&attrs)))
            .or_insert_with(|| OutRoute::new(next_hop, attrs))
            .clone()
    }
}

/// Changes to send: announcements (new or changed) and withdrawals.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RibDiff {
    pub announce: Vec<(IpNet, OutRoute)>,
    pub withdraw: Vec<IpNet>,
}

impl RibDiff {
    pub fn is_empty(&self) -> bool {
        self.announce.is_empty() && self.withdraw.is_empty()
    }
}

#[derive(Default)]
pub struct AdjRibOut {
    routes: BTreeMap<IpNet, OutRoute>,
}

impl AdjRibOut {
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&IpNet, &OutRoute)> {
        self.routes.iter()
    }

    pub fn get(&self, prefix: &IpNet) -> Option<&OutRoute> {
        self.routes.get(prefix)
    }

    /// Makes `desired` the new state and returns what changed.
    pub fn replace(&mut self, desired: BTreeMap<IpNet, OutRoute>) -> RibDiff {
        let mut diff = RibDiff::default();
        for (p, r) in &desired {
            if self.routes.get(p) != Some(r) {
                diff.announce.push((*p, r.clone()));
            }
        }
        for p in self.routes.keys() {
            if !desired.contains_key(p) {
                diff.withdraw.push(*p);
            }
        }
        self.routes = desired;
        diff
    }

    /// Forgets everything (the session went down): the next `replace` announces all.
    pub fn clear(&mut self) {
        self.routes.clear();
    }
}

/// Packs a diff into as few UPDATE messages as the session's maximum size allows: routes that
/// share attributes and next hop go together.
pub fn encode_diff(diff: &RibDiff, ctx: CodecContext) -> Vec<Bytes> {
    let max = ctx.max_message_len();
    let mut out = Vec::new();
    // Withdrawals, per family.
    for family in Family::ALL {
        let prefixes: Vec<IpNet> = diff
            .withdraw
            .iter()
            .copied()
            .filter(|p| Family::of_prefix(p) == family)
            .collect();
        for chunk in chunk_by_size(&prefixes, max - UPDATE_OVERHEAD - MP_REACH_OVERHEAD) {
            let mut u = Update::default();
            match family {
                Family::Ipv4Unicast => {
                    u.withdrawn = chunk.iter().filter_map(as_v4).collect();
                }
                Family::Ipv6Unicast => {
                    u.mp_unreach = Some(MpUnreach {
                        family,
                        withdrawn: chunk.to_vec(),
                    })
                }
            }
            out.push(Message::Update(u).encode(ctx));
        }
    }
    // Announcements, grouped by (attributes, next hop).
    let mut groups: Vec<(&OutRoute, Vec<IpNet>)> = Vec::new();
    let mut index: std::collections::HashMap<(*const PathAttributes, NextHop), usize> =
        Default::default();
    for (p, r) in &diff.announce {
        let key = (Arc::as_ptr(&r.attrs), r.next_hop);
        let i = *index.entry(key).or_insert_with(|| {
            groups.push((r, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(*p);
    }
    for (route, prefixes) in groups {
        let mut attrs = (*route.attrs).clone();
        let mut probe = bytes::BytesMut::new();
        if let NextHop::V4(nh) = route.next_hop {
            attrs.next_hop = Some(nh);
        }
        attrs.encode(&mut probe, ctx.attrs());
        let room = max.saturating_sub(UPDATE_OVERHEAD + MP_REACH_OVERHEAD + probe.len());
        for family in Family::ALL {
            let of_family: Vec<IpNet> = prefixes
                .iter()
                .copied()
                .filter(|p| Family::of_prefix(p) == family)
                .collect();
            for chunk in chunk_by_size(&of_family, room) {
                let mut u = Update {
                    attributes: attrs.clone(),
                    ..Default::default()
                };
                match (family, route.next_hop) {
                    (Family::Ipv4Unicast, NextHop::V4(_)) => {
                        u.nlri = chunk.iter().filter_map(as_v4).collect();
                    }
                    _ => {
                        u.attributes.next_hop = None;
                        u.mp_reach = Some(MpReach {
                            family,
                            next_hop: route.next_hop,
                            nlri: chunk.to_vec(),
                        });
                    }
                }
                out.push(Message::Update(u).encode(ctx));
            }
        }
    }
    out
}

fn as_v4(p: &IpNet) -> Option<ipnet::Ipv4Net> {
    match p {
        IpNet::V4(p) => Some(*p),
        IpNet::V6(_) => None,
    }
}

fn chunk_by_size(prefixes: &[IpNet], room: usize) -> Vec<&[IpNet]> {
    let mut chunks = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (i, p) in prefixes.iter().enumerate() {
        let len = prefix_wire_len(p);
        if used + len > room && i > start {
            chunks.push(&prefixes[start..i]);
            start = i;
            used = 0;
        }
        used += len;
    }
    if start < prefixes.len() {
        chunks.push(&prefixes[start..]);
    }
    chunks
}
