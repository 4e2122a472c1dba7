//! Routing information bases (RFC 4271 §3.2): an Adj-RIB-In per peer, the Loc-RIB of best
//! routes, and an Adj-RIB-Out per peer that turns a desired state into the minimal UPDATEs.
//! Pure data structures; the daemon owns them.
//!
//! Attribute sets are interned ([`AttrInterner`]): a full table holds about a million routes
//! but only thousands of distinct attribute sets, so routes share one `Arc` each.

mod adj_rib_out;
mod best_path;
#[cfg(test)]
mod tests;

pub use adj_rib_out::{encode_diff, AdjRibOut, OutRoute, RibDiff};
pub use best_path::{better, PathSource};

use crate::wire::{Family, NextHop, PathAttributes};
use ipnet::IpNet;
// FxHash instead of SipHash: prefixes come only from configured peers, and it cut full-table
// ingest from 2.1 s to 1.5 s. A peer crafting colliding prefixes could slow us down; prefix
// limits per peer are the defence to add.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
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

/// Routes learned from one peer, after RFC 7606 checks. A hash map: a full table is a million
/// entries, looked up by exact prefix, listed in order only for display.
#[derive(Default)]
pub struct AdjRibIn {
    routes: HashMap<IpNet, Route>,
}

impl AdjRibIn {
    /// Stores or replaces a route; returns true when something changed.
    pub fn insert(&mut self, prefix: IpNet, route: Route) -> bool {
        match self.routes.insert(prefix, route) {
            Some(old) => old != self.routes[&prefix],
            None => true,
        }
    }

    pub fn remove(&mut self, prefix: &IpNet) -> bool {
        self.routes.remove(prefix).is_some()
    }

    pub fn get(&self, prefix: &IpNet) -> Option<&Route> {
        self.routes.get(prefix)
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// In no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&IpNet, &Route)> {
        self.routes.iter()
    }

    pub fn count(&self, family: Family) -> usize {
        self.routes
            .keys()
            .filter(|p| Family::of_prefix(p) == family)
            .count()
    }

    /// Marks every route of `family` stale (the peer's session went down gracefully).
    pub fn mark_stale(&mut self, family: Family) -> usize {
        let mut n = 0;
        for (p, r) in self.routes.iter_mut() {
            if Family::of_prefix(p) == family {
                r.stale = true;
                n += 1;
            }
        }
        n
    }

    /// Drops the routes of `family` still stale; returns their prefixes.
    pub fn sweep_stale(&mut self, family: Family) -> Vec<IpNet> {
        let mut gone = Vec::new();
        self.routes.retain(|p, r| {
            let drop = r.stale && Family::of_prefix(p) == family;
            if drop {
                gone.push(*p);
            }
            !drop
        });
        gone.sort();
        gone
    }

    /// Drops every route of `family`; returns their prefixes.
    pub fn remove_family(&mut self, family: Family) -> Vec<IpNet> {
        let mut gone = Vec::new();
        self.routes.retain(|p, _| {
            let drop = Family::of_prefix(p) == family;
            if drop {
                gone.push(*p);
            }
            !drop
        });
        gone
    }

    /// Drops everything; returns the prefixes that were there.
    pub fn clear(&mut self) -> Vec<IpNet> {
        std::mem::take(&mut self.routes).into_keys().collect()
    }
}

type Candidate = (Arc<PathSource>, Route);

/// The candidates for one prefix. Almost every prefix has one, so that case needs no
/// allocation of its own.
enum Candidates {
    One(Candidate),
    Many(Vec<Candidate>),
}

impl Candidates {
    fn best(&self) -> &Candidate {
        match self {
            Candidates::One(c) => c,
            Candidates::Many(v) => &v[0],
        }
    }
}

/// The best route per prefix over all peers (RFC 4271 §9.1).
#[derive(Default)]
pub struct LocRib {
    routes: HashMap<IpNet, Candidates>,
}

impl LocRib {
    /// Replaces `source`'s candidate for `prefix` (or removes it when `route` is `None`) and
    /// re-runs the decision. Returns true when the best route changed.
    pub fn update(
        &mut self,
        prefix: IpNet,
        source: &Arc<PathSource>,
        route: Option<Route>,
    ) -> bool {
        use std::collections::hash_map::Entry;
        match self.routes.entry(prefix) {
            Entry::Vacant(v) => match route {
                Some(r) => {
                    v.insert(Candidates::One((source.clone(), r)));
                    true
                }
                None => false,
            },
            Entry::Occupied(mut o) => {
                let before = o.get().best().clone();
                let mut all = match std::mem::replace(o.get_mut(), Candidates::Many(Vec::new())) {
                    Candidates::One(c) => vec![c],
                    Candidates::Many(v) => v,
                };
                all.retain(|(s, _)| s.peer != source.peer);
                if let Some(r) = route {
                    all.push((source.clone(), r));
                }
                if all.is_empty() {
                    o.remove();
                    return true;
                }
                all.sort_by(better);
                let changed = all[0] != before;
                *o.get_mut() = if all.len() == 1 {
                    Candidates::One(all.pop().expect("one"))
                } else {
                    Candidates::Many(all)
                };
                changed
            }
        }
    }

    pub fn best(&self, prefix: &IpNet) -> Option<&(Arc<PathSource>, Route)> {
        self.routes.get(prefix).map(Candidates::best)
    }

    /// In no particular order.
    pub fn iter_best(&self) -> impl Iterator<Item = (&IpNet, &(Arc<PathSource>, Route))> {
        self.routes.iter().map(|(p, c)| (p, c.best()))
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}
