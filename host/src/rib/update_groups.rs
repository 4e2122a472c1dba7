//! Update groups: peers whose Adj-RIB-Out comes out the same share one table and one encoded
//! UPDATE stream (FRR's update groups, found by outcome rather than by config).
//!
//! Every evaluation still decides per peer — the plugin contract answers per peer, so only the
//! outcome can say who is alike — but its result is hash-consed here: a table equal to one
//! some peer already holds is dropped and that one shared, so N alike peers keep one table, not
//! N. The UPDATEs taking a table to another are encoded once per codec context and handed out
//! as the same `Bytes` to every member making that step. A peer whose outcome diverges simply
//! gets a table of its own (it splits off); when it converges again it shares once more. Route
//! refresh, End-of-RIB, GR re-announcement and drain stay per peer: each peer keeps its own
//! handle on a table and its own session.

use super::adj_rib_out::Packer;
use super::route_table::{RouteTable, Step};
use crate::wire::CodecContext;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Weak};

/// One Adj-RIB-Out, possibly held by several peers.
#[derive(Debug, Default)]
pub struct OutTable {
    /// Tells tables apart for the encoding cache (an address could be reused once freed).
    pub id: u64,
    pub routes: RouteTable,
}

/// Encodings kept: enough for every group to make its step in one evaluation round.
const ENCODINGS_KEPT: usize = 16;

#[derive(Default)]
pub struct UpdateGroups {
    tables: HashMap<u64, Vec<Weak<OutTable>>>,
    next_id: u64,
    /// (from table, to table, codec) → the UPDATEs, newest last.
    encoded: VecDeque<((u64, u64, CodecContext), Vec<Bytes>)>,
    /// Tables shared instead of kept twice, and encodings reused, since start.
    pub stats: GroupStats,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupStats {
    pub tables_shared: u64,
    pub encodings_reused: u64,
}

fn fingerprint(routes: &RouteTable) -> u64 {
    // FxHash: tables come from our own config and policy, not from peers.
    let mut h = rustc_hash::FxHasher::default();
    routes.len().hash(&mut h);
    for (prefix, r) in routes {
        prefix.hash(&mut h);
        r.next_hop.hash(&mut h);
        // Attribute sets are interned: equal sets are one pointer (unequal pointers only miss
        // a share, equality below is by value).
        (Arc::as_ptr(&r.attrs) as usize).hash(&mut h);
    }
    h.finish()
}

impl UpdateGroups {
    /// The table for `routes`: one a peer already holds when equal, else a new one.
    pub fn share(&mut self, routes: RouteTable) -> Arc<OutTable> {
        let key = fingerprint(&routes);
        let slot = self.tables.entry(key).or_default();
        slot.retain(|w| w.strong_count() > 0);
        if let Some(t) = slot
            .iter()
            .filter_map(Weak::upgrade)
            .find(|t| t.routes == routes)
        {
            self.stats.tables_shared += 1;
            return t;
        }
        self.next_id += 1;
        let table = Arc::new(OutTable {
            id: self.next_id,
            routes,
        });
        slot.push(Arc::downgrade(&table));
        table
    }

    /// The UPDATEs that take a peer from table `from` to table `to`, encoded once per codec
    /// (and straight from the two tables: no list of the changes is made on the way).
    pub fn encode(&mut self, from: &OutTable, to: &OutTable, ctx: CodecContext) -> Vec<Bytes> {
        let key = (from.id, to.id, ctx);
        if let Some((_, msgs)) = self.encoded.iter().find(|(k, _)| *k == key) {
            self.stats.encodings_reused += 1;
            return msgs.clone();
        }
        let mut packer = Packer::default();
        from.routes.diff(&to.routes, |s| match s {
            Step::Changed(p, r) => packer.announce(p, r),
            Step::Gone(p) => packer.withdraw(*p),
        });
        let msgs = packer.finish(ctx);
        if self.encoded.len() == ENCODINGS_KEPT {
            self.encoded.pop_front();
        }
        self.encoded.push_back((key, msgs.clone()));
        msgs
    }

    /// Forgets tables no peer holds any more, and encodings that lead to or from one.
    pub fn sweep(&mut self) {
        self.tables.retain(|_, v| {
            v.retain(|w| w.strong_count() > 0);
            !v.is_empty()
        });
        let live: std::collections::HashSet<u64> = self
            .tables
            .values()
            .flatten()
            .filter_map(Weak::upgrade)
            .map(|t| t.id)
            .collect();
        // Id 0 is every peer's empty table.
        let alive = |id: &u64| *id == 0 || live.contains(id);
        self.encoded
            .retain(|((from, to, _), _)| alive(from) && alive(to));
    }

    /// Distinct tables held right now.
    pub fn len(&self) -> usize {
        self.tables
            .values()
            .flatten()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
