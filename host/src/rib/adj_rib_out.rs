//! What we have told one peer, and the difference to what we want it to know. Announcing only
//! the difference is what lets a policy change (or a plugin swap) touch no unchanged route.

use super::update_groups::{OutTable, UpdateGroups};
use crate::wire::{pack, CodecContext, NextHop, PathAttributes};
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

/// What one peer was sent: its handle on a table it may share with its update group.
#[derive(Default)]
pub struct AdjRibOut {
    table: Arc<OutTable>,
}

impl AdjRibOut {
    pub fn len(&self) -> usize {
        self.table.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.routes.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&IpNet, &OutRoute)> {
        self.table.routes.iter()
    }

    pub fn get(&self, prefix: &IpNet) -> Option<&OutRoute> {
        self.table.routes.get(prefix)
    }

    /// The table's id: peers with equal ids are in one update group.
    pub fn table_id(&self) -> u64 {
        self.table.id
    }

    /// Makes `desired` the new state (shared through `groups` with any peer that has the same)
    /// and returns what changed and the UPDATEs that send it, encoded once per group.
    pub fn replace(
        &mut self,
        desired: BTreeMap<IpNet, OutRoute>,
        groups: &mut UpdateGroups,
        ctx: CodecContext,
    ) -> (RibDiff, Vec<Bytes>) {
        let mut diff = RibDiff::default();
        let old = &self.table.routes;
        for (p, r) in &desired {
            if old.get(p) != Some(r) {
                diff.announce.push((*p, r.clone()));
            }
        }
        for p in old.keys() {
            if !desired.contains_key(p) {
                diff.withdraw.push(*p);
            }
        }
        let from = self.table.id;
        self.table = groups.share(desired);
        let msgs = groups.encode(from, self.table.id, &diff, ctx);
        (diff, msgs)
    }

    /// Forgets everything (the session went down): the next `replace` announces all.
    pub fn clear(&mut self) {
        self.table = Arc::default();
    }
}

impl RibDiff {
    /// The UPDATEs that send this diff: withdrawals, then announcements grouped by next hop
    /// and attribute set (routes sent alike share one [`OutRoute`], so grouping is by pointer);
    /// the packing itself is [`crate::wire::pack`]'s.
    pub fn encode(&self, ctx: CodecContext) -> Vec<Bytes> {
        let mut out = pack::withdrawals(&self.withdraw, ctx);
        let mut groups: Vec<(&OutRoute, Vec<IpNet>)> = Vec::new();
        let mut index: HashMap<(*const PathAttributes, NextHop), usize> = HashMap::new();
        for (p, r) in &self.announce {
            let key = (Arc::as_ptr(&r.attrs), r.next_hop);
            let i = *index.entry(key).or_insert_with(|| {
                groups.push((r, Vec::new()));
                groups.len() - 1
            });
            groups[i].1.push(*p);
        }
        for (route, prefixes) in groups {
            out.extend(pack::announcements(
                route.next_hop,
                &route.attrs,
                &prefixes,
                ctx,
            ));
        }
        out
    }
}
