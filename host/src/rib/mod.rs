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
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Shares identical attribute sets between routes.
#[derive(Default)]
pub struct AttrInterner {
    sets: HashSet<Arc<PathAttributes>>,
}

impl AttrInterner {
    pub fn intern(&mut self, attrs: PathAttributes) -> Arc<PathAttributes> {
        if let Some(existing) = self.sets.get(&attrs) {
            return existing.clone();
        }
        let arc = Arc::new(attrs);
        self.sets.insert(arc.clone());
        arc
    }

    /// Forgets sets no route uses any more.
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

/// A route as received: its next hop kept apart from the shared attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub next_hop: NextHop,
    pub attrs: Arc<PathAttributes>,
    /// Kept across a peer's graceful restart, awaiting refresh (RFC 4724 §4.2).
    pub stale: bool,
}

/// Routes learned from one peer, after RFC 7606 checks.
#[derive(Default)]
pub struct AdjRibIn {
    routes: BTreeMap<IpNet, Route>,
}

impl AdjRibIn {
    /// Stores or replaces a route; returns true when something changed.
    pub fn insert(&mut self, prefix: IpNet, route: Route) -> bool {
        self.routes.insert(prefix, route.clone()).as_ref() != Some(&route)
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
        let gone: Vec<IpNet> = self
            .routes
            .iter()
            .filter(|(p, r)| r.stale && Family::of_prefix(p) == family)
            .map(|(p, _)| *p)
            .collect();
        for p in &gone {
            self.routes.remove(p);
        }
        gone
    }

    /// Drops every route of `family`; returns their prefixes.
    pub fn remove_family(&mut self, family: Family) -> Vec<IpNet> {
        let gone: Vec<IpNet> = self
            .routes
            .keys()
            .filter(|p| Family::of_prefix(p) == family)
            .copied()
            .collect();
        for p in &gone {
            self.routes.remove(p);
        }
        gone
    }

    /// Drops everything; returns the prefixes that were there.
    pub fn clear(&mut self) -> Vec<IpNet> {
        std::mem::take(&mut self.routes).into_keys().collect()
    }
}

/// The best route per prefix over all peers (RFC 4271 §9.1).
#[derive(Default)]
pub struct LocRib {
    /// Per prefix, every candidate with its source; the first is the best.
    routes: BTreeMap<IpNet, Vec<(PathSource, Route)>>,
}

impl LocRib {
    /// Replaces `source`'s candidate for `prefix` (or removes it when `route` is `None`) and
    /// re-runs the decision. Returns true when the best route changed.
    pub fn update(&mut self, prefix: IpNet, source: &PathSource, route: Option<Route>) -> bool {
        let candidates = self.routes.entry(prefix).or_default();
        let best_before = candidates.first().cloned();
        candidates.retain(|(s, _)| s.peer != source.peer);
        if let Some(r) = route {
            candidates.push((source.clone(), r));
        }
        candidates.sort_by(better);
        let best_after = candidates.first().cloned();
        if candidates.is_empty() {
            self.routes.remove(&prefix);
        }
        best_before != best_after
    }

    pub fn best(&self, prefix: &IpNet) -> Option<&(PathSource, Route)> {
        self.routes.get(prefix).and_then(|c| c.first())
    }

    pub fn iter_best(&self) -> impl Iterator<Item = (&IpNet, &(PathSource, Route))> {
        self.routes
            .iter()
            .filter_map(|(p, c)| c.first().map(|b| (p, b)))
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}
