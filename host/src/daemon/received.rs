//! The ingest part of the daemon's state: every peer's received routes (the RIB), the
//! attribute sets they share, and the count that says when to sweep those sets. Every change
//! to the RIB goes through here, so the count is right by construction (a replaced or dropped
//! route may have been the last user of its attribute set), and each change that adds to it
//! sweeps the sets once it is due.

use crate::rib::{PathSource, PeerId, Rib, Route, RouteAttrs, RouteInterner};
use crate::wire::long_lived::{LLGR_STALE, NO_LLGR};
use crate::wire::{Family, Update};
use ipnet::IpNet;
use std::sync::Arc;

#[derive(Default)]
pub(super) struct Ingest {
    rib: Rib,
    /// Next hop and attributes of the routes we receive.
    interner: RouteInterner,
    /// Routes replaced or dropped since `interner` was last swept, and the sets it kept then:
    /// it is swept again once the churn reaches that size.
    churn: usize,
    sets_live: usize,
}

impl Ingest {
    /// Read access for views, metrics and the export side.
    pub fn rib(&self) -> &Rib {
        &self.rib
    }

    pub fn sets(&self) -> usize {
        self.interner.len()
    }

    pub fn add_peer(&mut self) -> PeerId {
        self.rib.add_peer()
    }

    pub fn set_source(&mut self, peer: PeerId, source: Arc<PathSource>) {
        self.rib.set_source(peer, source);
    }

    /// An UPDATE the session checks let through (`treat_as_withdraw` set: only its
    /// withdrawals count).
    pub fn apply(&mut self, peer: PeerId, u: Update) {
        for p in u.withdrawals() {
            if self.rib.remove(peer, &p) {
                self.churn += 1;
            }
        }
        if u.treat_as_withdraw.is_some() {
            return;
        }
        let (mut path, groups) = u.into_reachable();
        let mut groups = groups.into_iter().peekable();
        while let Some((next_hop, prefixes)) = groups.next() {
            // The last group takes the attributes, an earlier one (IPv4 beside MP) a copy.
            let path = if groups.peek().is_some() {
                path.clone()
            } else {
                std::mem::take(&mut path)
            };
            let attrs = self.interner.intern(RouteAttrs { next_hop, path });
            for prefix in prefixes {
                let route = Route {
                    attrs: attrs.clone(),
                    stale: false,
                };
                if self.rib.insert(peer, prefix, route) {
                    self.churn += 1;
                }
            }
        }
        self.collect(false);
    }

    /// Drops every route of `peer`; returns how many.
    pub fn remove_peer(&mut self, peer: PeerId) -> usize {
        let gone = self.rib.remove_peer(peer).len();
        self.churn += gone;
        self.collect(false);
        gone
    }

    /// Marks `peer`'s routes of `family` stale (GR helper); returns how many.
    pub fn mark_stale(&mut self, peer: PeerId, family: Family) -> usize {
        self.rib.mark_stale(peer, family)
    }

    /// RFC 9494 §4.2: `peer`'s stale routes of `family` kept long-lived with LLGR_STALE
    /// added, those with NO_LLGR dropped; returns the prefixes dropped.
    pub fn keep_long_lived(&mut self, peer: PeerId, family: Family) -> Vec<IpNet> {
        let interner = &mut self.interner;
        let dropped = self.rib.restamp_stale(peer, family, &mut |r| {
            (!r.communities.contains(&NO_LLGR)).then(|| {
                let mut r = (**r).clone();
                if !r.communities.contains(&LLGR_STALE) {
                    r.path.communities.push(LLGR_STALE);
                }
                interner.intern(r)
            })
        });
        // Every route kept got a new attribute set.
        self.churn += self.rib.count(peer, family) + dropped.len();
        self.collect(false);
        dropped
    }

    /// Drops `peer`'s routes of `family` that are still stale; returns their prefixes.
    pub fn sweep_stale(&mut self, peer: PeerId, family: Family) -> Vec<IpNet> {
        let gone = self.rib.sweep_stale(peer, family);
        self.churn += gone.len();
        self.collect(false);
        gone
    }

    /// Drops every route of `peer` in `family`; returns how many.
    pub fn remove_family(&mut self, peer: PeerId, family: Family) -> usize {
        let gone = self.rib.remove_family(peer, family).len();
        self.churn += gone;
        self.collect(false);
        gone
    }

    /// Frees the attribute sets no route uses any more, once as many routes have been
    /// replaced or dropped as there were sets in use at the last sweep (a sweep is linear in
    /// the sets, so this is amortised constant per route, and at most about twice the sets in
    /// use are ever kept), or at once when `now`.
    pub fn collect(&mut self, now: bool) {
        if now || self.churn >= self.sets_live.max(1024) {
            self.interner.collect();
            self.sets_live = self.interner.len();
            self.churn = 0;
        }
    }
}
