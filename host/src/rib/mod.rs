//! Routing information bases (RFC 4271 §3.2): every peer's Adj-RIB-In and the Loc-RIB of best
//! routes in one table ([`Rib`]), and an Adj-RIB-Out per peer that turns a desired state into
//! the minimal UPDATEs, shared by peers with the same outcome ([`UpdateGroups`]). Pure data
//! structures; the daemon owns them.
//!
//! Attribute sets are interned ([`AttrInterner`]): a full table holds about a million routes
//! but only thousands of distinct attribute sets, so routes share one `Arc` each.

mod adj_rib_out;
mod best_path;
mod route_table;
mod table;
#[cfg(test)]
mod tests;
mod update_groups;

pub use adj_rib_out::{AdjRibOut, Change, OutRoute, OutRoutes, Packer, RibDiff, SentAs};
pub use best_path::{better, Candidate, PathSource};
pub use route_table::{RouteTable, Step};
pub use table::{PeerId, Rib};
pub use update_groups::{GroupStats, OutTable, UpdateGroups};

use crate::wire::{NextHop, PathAttributes};

/// The hasher of every map keyed by what a peer chooses (prefixes, interned attribute sets):
/// aHash with a random key per map, so a peer cannot craft keys that collide (with unkeyed
/// FxHash, 40k chosen /128s took 3 s to insert where random ones took 3 ms, growing
/// quadratically). aHash is as fast as FxHash on these keys (BENCHMARKS.md, ingest); SipHash,
/// std's default, cost full-table ingest a third more.
pub type PeerKeyed = ahash::RandomState;
pub type PeerKeyedMap<K, V> = std::collections::HashMap<K, V, PeerKeyed>;
type HashSet<T> = std::collections::HashSet<T, PeerKeyed>;
use std::sync::Arc;

/// Shares identical values (attribute sets) between routes.
pub struct Interner<T> {
    sets: HashSet<Arc<T>>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            sets: HashSet::default(),
        }
    }
}

impl<T: std::hash::Hash + Eq> Interner<T> {
    pub fn intern(&mut self, value: T) -> Arc<T> {
        if let Some(existing) = self.sets.get(&value) {
            return existing.clone();
        }
        let arc = Arc::new(value);
        self.sets.insert(arc.clone());
        arc
    }

    /// Forgets values no route uses any more.
    pub fn collect(&mut self) {
        self.sets.retain(|a| Arc::strong_count(a) > 1);
    }

    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

/// Attribute sets of routes we send.
pub type AttrInterner = Interner<PathAttributes>;

/// Everything a received route carries but its prefix: next hop and path attributes, interned
/// together, so a stored route is one pointer and a flag.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RouteAttrs {
    pub next_hop: NextHop,
    pub path: PathAttributes,
}

impl std::ops::Deref for RouteAttrs {
    type Target = PathAttributes;
    fn deref(&self) -> &PathAttributes {
        &self.path
    }
}

pub type RouteInterner = Interner<RouteAttrs>;

/// A route as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub attrs: Arc<RouteAttrs>,
    /// Kept across a peer's graceful restart, awaiting refresh (RFC 4724 §4.2).
    pub stale: bool,
}

impl Route {
    pub fn next_hop(&self) -> NextHop {
        self.attrs.next_hop
    }
}
