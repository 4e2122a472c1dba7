//! What we have told one peer, and the difference to what we want it to know. Announcing only
//! the difference is what lets a policy change (or a plugin swap) touch no unchanged route.

use super::route_table::{RouteTable, Step};
use super::update_groups::{OutTable, UpdateGroups};
use crate::wire::{pack, CodecContext, NextHop, PathAttributes};
use bytes::Bytes;
use ipnet::IpNet;
use std::collections::HashMap;
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

/// How many routes one [`AdjRibOut::replace`] announced and withdrew, and the first
/// [`Change::NAMED`] prefixes of each (for the events `WatchEvents` streams).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Change {
    pub announced: usize,
    pub withdrawn: usize,
    pub first_announced: Vec<IpNet>,
    pub first_withdrawn: Vec<IpNet>,
}

impl Change {
    /// Prefixes named each way; the counts are whole.
    pub const NAMED: usize = 64;

    pub fn is_empty(&self) -> bool {
        self.announced == 0 && self.withdrawn == 0
    }
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

    /// The table, as shared with the update group.
    pub fn table(&self) -> &Arc<OutTable> {
        &self.table
    }

    /// The table's id: peers with equal ids are in one update group.
    pub fn table_id(&self) -> u64 {
        self.table.id
    }

    /// What going from this state to `desired` would send.
    pub fn diff_to(&self, desired: &RouteTable) -> RibDiff {
        let mut diff = RibDiff::default();
        self.table.routes.diff(desired, |s| match s {
            Step::Changed(p, r) => diff.announce.push((*p, r.clone())),
            Step::Gone(p) => diff.withdraw.push(*p),
        });
        diff
    }

    /// Makes `desired` the new state (shared through `groups` with any peer that has the same)
    /// and returns what changed and the UPDATEs that send it, encoded once per group.
    pub fn replace(
        &mut self,
        desired: RouteTable,
        groups: &mut UpdateGroups,
        ctx: CodecContext,
    ) -> (Change, Vec<Bytes>) {
        let table = groups.share(desired);
        self.adopt(table, groups, ctx)
    }

    /// [`replace`](Self::replace) with a table another peer already holds.
    pub fn adopt(
        &mut self,
        table: Arc<OutTable>,
        groups: &mut UpdateGroups,
        ctx: CodecContext,
    ) -> (Change, Vec<Bytes>) {
        let old = std::mem::replace(&mut self.table, table);
        let mut change = Change::default();
        old.routes.diff(&self.table.routes, |s| {
            let (count, named, prefix) = match s {
                Step::Changed(prefix, _) => {
                    (&mut change.announced, &mut change.first_announced, prefix)
                }
                Step::Gone(prefix) => (&mut change.withdrawn, &mut change.first_withdrawn, prefix),
            };
            *count += 1;
            if named.len() < Change::NAMED {
                named.push(*prefix);
            }
        });
        let msgs = if change.is_empty() {
            Vec::new()
        } else {
            groups.encode(&old, &self.table, ctx)
        };
        (change, msgs)
    }

    /// Forgets everything (the session went down): the next `replace` announces all.
    pub fn clear(&mut self) {
        self.table = Arc::default();
    }
}

/// Gathers announcements by next hop and attribute set (routes sent alike share one
/// [`OutRoute`], so grouping is by pointer) and withdrawals, for [`crate::wire::pack`].
#[derive(Default)]
pub struct Packer<'a> {
    withdraw: Vec<IpNet>,
    /// Prefixes by reference: 8 bytes each, not 18 (a full table is 100k of them).
    groups: Vec<(&'a OutRoute, Vec<&'a IpNet>)>,
    index: HashMap<(*const PathAttributes, NextHop), usize>,
}

impl<'a> Packer<'a> {
    pub fn announce(&mut self, prefix: &'a IpNet, route: &'a OutRoute) {
        let key = (Arc::as_ptr(&route.attrs), route.next_hop);
        let groups = &mut self.groups;
        let i = *self.index.entry(key).or_insert_with(|| {
            groups.push((route, Vec::new()));
            groups.len() - 1
        });
        self.groups[i].1.push(prefix);
    }

    pub fn withdraw(&mut self, prefix: IpNet) {
        self.withdraw.push(prefix);
    }

    /// The UPDATEs: withdrawals first, then announcements a group at a time.
    pub fn finish(self, ctx: CodecContext) -> Vec<Bytes> {
        let mut out = pack::withdrawals(&self.withdraw, ctx);
        for (route, prefixes) in self.groups {
            out.extend(pack::announcements(
                route.next_hop,
                &route.attrs,
                prefixes.iter().map(|p| **p),
                ctx,
            ));
        }
        out
    }
}

impl RibDiff {
    /// The UPDATEs that send this diff (see [`Packer`]).
    pub fn encode(&self, ctx: CodecContext) -> Vec<Bytes> {
        let mut packer = Packer::default();
        for p in &self.withdraw {
            packer.withdraw(*p);
        }
        for (p, r) in &self.announce {
            packer.announce(p, r);
        }
        packer.finish(ctx)
    }
}
