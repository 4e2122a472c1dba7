//! Adj-RIB-In of every peer and the Loc-RIB in one table: one entry per prefix holding its best
//! path, and a side table with the other candidates of the few prefixes that have more than
//! one (RFC 4271 §3.2 describes three RIBs; it does not ask for three copies).
//!
//! Why: a full table is a million prefixes, mostly learned from one peer. Keeping a per-peer map
//! and a Loc-RIB map stored every route twice, with 18-octet keys; here an IPv4 route is a
//! 24-octet slot (8-octet key, pointer to the interned attributes, peer id, stale flag), and a
//! route that more peers send costs a second slot only in the side table. IPv4 is split into
//! 256 tables by the first octet: each grows on its own, so growth never holds two copies of
//! a million-slot table at once, and the tables are on average fuller than one power-of-two
//! table would be.

use super::best_path::{better, PathSource};
use super::PeerKeyedMap as HashMap;
use super::{Route, RouteAttrs};
use crate::wire::Family;
use ipnet::{IpNet, Ipv4Net};
use std::cmp::Ordering;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// A peer's slot in the table, handed out by [`Rib::add_peer`].
pub type PeerId = u16;

/// One candidate path: 16 octets.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Path {
    attrs: Arc<RouteAttrs>,
    peer: PeerId,
    stale: bool,
}

impl Path {
    fn route(&self) -> Route {
        Route {
            attrs: self.attrs.clone(),
            stale: self.stale,
        }
    }
}

/// A prefix as a table key: IPv4 packs into a `u64`.
trait Key: Copy + Eq + std::hash::Hash {
    fn net(self) -> IpNet;
}

impl Key for u64 {
    fn net(self) -> IpNet {
        let addr = Ipv4Addr::from((self >> 8) as u32);
        IpNet::V4(Ipv4Net::new(addr, self as u8).expect("stored from a valid prefix"))
    }
}

impl Key for IpNet {
    fn net(self) -> IpNet {
        self
    }
}

fn v4_key(p: &Ipv4Net) -> u64 {
    ((u32::from(p.addr()) as u64) << 8) | p.prefix_len() as u64
}

/// The IPv4 table a key lives in: its first octet.
fn shard(key: u64) -> usize {
    (key >> 32) as usize
}

/// The paths of one family.
struct Table<K> {
    /// The best path per prefix.
    best: HashMap<K, Path>,
    /// The other paths of prefixes with more than one, best first.
    others: HashMap<K, Vec<Path>>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table {
            best: HashMap::default(),
            others: HashMap::default(),
        }
    }
}

/// The tie-breakers need each path's peer.
fn order(sources: &[Option<Arc<PathSource>>], a: &Path, b: &Path) -> Ordering {
    let source = |p: &Path| sources.get(p.peer as usize).and_then(|s| s.as_deref());
    match (source(a), source(b)) {
        (Some(sa), Some(sb)) => better((sa, &a.attrs, a.stale), (sb, &b.attrs, b.stale)),
        _ => a.peer.cmp(&b.peer),
    }
}

impl<K: Key> Table<K> {
    fn get(&self, key: K, peer: PeerId) -> Option<&Path> {
        let best = self.best.get(&key)?;
        if best.peer == peer {
            return Some(best);
        }
        self.others.get(&key)?.iter().find(|p| p.peer == peer)
    }

    /// Sets (`Some`) or removes (`None`) `peer`'s path for `key`. Returns the old path.
    fn set(
        &mut self,
        key: K,
        peer: PeerId,
        path: Option<Path>,
        sources: &[Option<Arc<PathSource>>],
    ) -> Option<Path> {
        use std::collections::hash_map::Entry;
        let mut slot = match self.best.entry(key) {
            Entry::Vacant(v) => {
                if let Some(p) = path {
                    v.insert(p);
                }
                return None;
            }
            Entry::Occupied(o) => o,
        };
        // The common case: the only path of this prefix is the peer's own.
        if slot.get().peer == peer && !self.others.contains_key(&key) {
            return match path {
                Some(p) => Some(std::mem::replace(slot.get_mut(), p)),
                None => Some(slot.remove()),
            };
        }
        let mut all = self.others.remove(&key).unwrap_or_default();
        all.push(slot.get().clone());
        let old = all
            .iter()
            .position(|p| p.peer == peer)
            .map(|i| all.swap_remove(i));
        all.extend(path);
        if all.is_empty() {
            slot.remove();
            return old;
        }
        all.sort_by(|a, b| order(sources, a, b));
        *slot.get_mut() = all.remove(0);
        if !all.is_empty() {
            self.others.insert(key, all);
        }
        old
    }

    /// Every path of `peer`, with whether it is the best.
    fn of_peer(&self, peer: PeerId) -> impl Iterator<Item = (K, &Path, bool)> + '_ {
        let best = self
            .best
            .iter()
            .filter(move |(_, p)| p.peer == peer)
            .map(|(k, p)| (*k, p, true));
        let others = self
            .others
            .iter()
            .flat_map(move |(k, v)| v.iter().filter(move |p| p.peer == peer).map(|p| (*k, p)))
            .map(|(k, p)| (k, p, false));
        best.chain(others)
    }

    /// Keys of `peer`'s paths that `pick` selects.
    fn keys_of(&self, peer: PeerId, pick: impl Fn(&Path) -> bool) -> Vec<K> {
        self.of_peer(peer)
            .filter(|(_, p, _)| pick(p))
            .map(|(k, _, _)| k)
            .collect()
    }

    /// Marks `peer`'s paths stale (they may lose to fresh ones: the order is run again).
    fn mark_stale(&mut self, peer: PeerId, sources: &[Option<Arc<PathSource>>]) -> usize {
        let keys = self.keys_of(peer, |_| true);
        for key in &keys {
            if let Some(mut path) = self.get(*key, peer).cloned() {
                path.stale = true;
                self.set(*key, peer, Some(path), sources);
            }
        }
        keys.len()
    }

    /// Gives each of `peer`'s paths the attributes `restamp` returns (`None` drops the path);
    /// returns the keys dropped.
    fn restamp(
        &mut self,
        peer: PeerId,
        restamp: &mut dyn FnMut(&Arc<RouteAttrs>) -> Option<Arc<RouteAttrs>>,
        sources: &[Option<Arc<PathSource>>],
    ) -> Vec<IpNet> {
        let mut dropped = Vec::new();
        for key in self.keys_of(peer, |_| true) {
            let Some(mut path) = self.get(key, peer).cloned() else {
                continue;
            };
            match restamp(&path.attrs) {
                Some(attrs) => {
                    path.attrs = attrs;
                    path.stale = true;
                    self.set(key, peer, Some(path), sources);
                }
                None => {
                    self.set(key, peer, None, sources);
                    dropped.push(key.net());
                }
            }
        }
        dropped
    }

    fn remove_where(
        &mut self,
        peer: PeerId,
        pick: impl Fn(&Path) -> bool,
        sources: &[Option<Arc<PathSource>>],
    ) -> Vec<IpNet> {
        let keys = self.keys_of(peer, pick);
        for key in &keys {
            self.set(*key, peer, None, sources);
        }
        keys.into_iter().map(Key::net).collect()
    }
}

/// Every peer's received routes and the best route per prefix.
pub struct Rib {
    /// Indexed by [`shard`].
    v4: Vec<Table<u64>>,
    v6: Table<IpNet>,
    /// Per peer id: what the decision process needs to know about it (set once its session is
    /// up) and how many routes it has per family.
    sources: Vec<Option<Arc<PathSource>>>,
    counts: Vec<[usize; 2]>,
    free: Vec<PeerId>,
}

fn family_index(f: Family) -> usize {
    match f {
        Family::Ipv4Unicast => 0,
        Family::Ipv6Unicast => 1,
    }
}

impl Default for Rib {
    fn default() -> Self {
        Rib {
            v4: (0..256).map(|_| Table::default()).collect(),
            v6: Table::default(),
            sources: Vec::new(),
            counts: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl Rib {
    /// A slot for a new peer.
    pub fn add_peer(&mut self) -> PeerId {
        if let Some(id) = self.free.pop() {
            return id;
        }
        self.sources.push(None);
        self.counts.push([0, 0]);
        (self.sources.len() - 1) as PeerId
    }

    /// Drops every route of `peer` and frees its slot. Returns the prefixes it had.
    pub fn remove_peer(&mut self, peer: PeerId) -> Vec<IpNet> {
        let gone = self.clear(peer);
        self.sources[peer as usize] = None;
        self.free.push(peer);
        gone
    }

    /// What the tie-breakers use about `peer` (its session's router ID, address, iBGP).
    pub fn set_source(&mut self, peer: PeerId, source: Arc<PathSource>) {
        self.sources[peer as usize] = Some(source);
    }

    /// Stores or replaces `peer`'s route for `prefix`; returns true when something changed.
    pub fn insert(&mut self, peer: PeerId, prefix: IpNet, route: Route) -> bool {
        let path = Path {
            attrs: route.attrs,
            peer,
            stale: route.stale,
        };
        let old = match prefix {
            IpNet::V4(p) => {
                let key = v4_key(&p);
                self.v4[shard(key)].set(key, peer, Some(path.clone()), &self.sources)
            }
            IpNet::V6(_) => self.v6.set(prefix, peer, Some(path.clone()), &self.sources),
        };
        if old.is_none() {
            self.counts[peer as usize][family_index(Family::of_prefix(&prefix))] += 1;
        }
        old.as_ref() != Some(&path)
    }

    /// Removes `peer`'s route for `prefix`; returns true if there was one.
    pub fn remove(&mut self, peer: PeerId, prefix: &IpNet) -> bool {
        let old = match prefix {
            IpNet::V4(p) => {
                let key = v4_key(p);
                self.v4[shard(key)].set(key, peer, None, &self.sources)
            }
            IpNet::V6(_) => self.v6.set(*prefix, peer, None, &self.sources),
        };
        if old.is_some() {
            self.counts[peer as usize][family_index(Family::of_prefix(prefix))] -= 1;
        }
        old.is_some()
    }

    pub fn get(&self, peer: PeerId, prefix: &IpNet) -> Option<Route> {
        match prefix {
            IpNet::V4(p) => self.v4[shard(v4_key(p))].get(v4_key(p), peer),
            IpNet::V6(_) => self.v6.get(*prefix, peer),
        }
        .map(Path::route)
    }

    /// The best route for `prefix` and the peer it came from.
    pub fn best(&self, prefix: &IpNet) -> Option<(PeerId, Route)> {
        let path = match prefix {
            IpNet::V4(p) => self.v4[shard(v4_key(p))].best.get(&v4_key(p)),
            IpNet::V6(_) => self.v6.best.get(prefix),
        }?;
        Some((path.peer, path.route()))
    }

    /// `peer`'s routes of `family`.
    pub fn count(&self, peer: PeerId, family: Family) -> usize {
        self.counts
            .get(peer as usize)
            .map_or(0, |c| c[family_index(family)])
    }

    /// All of `peer`'s routes.
    pub fn len(&self, peer: PeerId) -> usize {
        Family::ALL.iter().map(|f| self.count(peer, *f)).sum()
    }

    /// Prefixes with at least one route: the size of the Loc-RIB.
    pub fn prefixes(&self) -> usize {
        self.v4.iter().map(|t| t.best.len()).sum::<usize>() + self.v6.best.len()
    }

    /// `peer`'s routes, in no particular order, with whether each is the best for its prefix.
    pub fn routes_of(&self, peer: PeerId) -> impl Iterator<Item = (IpNet, Route, bool)> + '_ {
        let v4 = self.v4.iter().flat_map(move |t| t.of_peer(peer));
        let v4 = v4.map(|(k, p, b)| (k.net(), p, b));
        let v6 = self.v6.of_peer(peer).map(|(k, p, b)| (k.net(), p, b));
        v4.chain(v6).map(|(k, p, b)| (k, p.route(), b))
    }

    /// Marks every route of `peer` in `family` stale (its session went down gracefully).
    pub fn mark_stale(&mut self, peer: PeerId, family: Family) -> usize {
        match family {
            Family::Ipv4Unicast => {
                let sources = &self.sources;
                self.v4
                    .iter_mut()
                    .map(|t| t.mark_stale(peer, sources))
                    .sum()
            }
            Family::Ipv6Unicast => self.v6.mark_stale(peer, &self.sources),
        }
    }

    /// Long-lived GR (RFC 9494 §4.2): `peer`'s routes of `family` past its restart time. Each
    /// is kept stale with the attributes `restamp` gives (LLGR_STALE added), or dropped when it
    /// returns `None` (NO_LLGR). Returns the prefixes dropped.
    pub fn restamp_stale(
        &mut self,
        peer: PeerId,
        family: Family,
        restamp: &mut dyn FnMut(&Arc<RouteAttrs>) -> Option<Arc<RouteAttrs>>,
    ) -> Vec<IpNet> {
        let mut gone = match family {
            Family::Ipv4Unicast => {
                let sources = &self.sources;
                let tables = self.v4.iter_mut();
                tables
                    .flat_map(|t| t.restamp(peer, restamp, sources))
                    .collect()
            }
            Family::Ipv6Unicast => self.v6.restamp(peer, restamp, &self.sources),
        };
        self.counts[peer as usize][family_index(family)] -= gone.len();
        gone.sort();
        gone
    }

    fn remove_where(
        &mut self,
        peer: PeerId,
        family: Family,
        pick: fn(&Path) -> bool,
    ) -> Vec<IpNet> {
        let mut gone = match family {
            Family::Ipv4Unicast => {
                let sources = &self.sources;
                let tables = self.v4.iter_mut();
                tables
                    .flat_map(|t| t.remove_where(peer, pick, sources))
                    .collect()
            }
            Family::Ipv6Unicast => self.v6.remove_where(peer, pick, &self.sources),
        };
        self.counts[peer as usize][family_index(family)] -= gone.len();
        gone.sort();
        gone
    }

    /// Drops `peer`'s routes of `family` that are still stale; returns their prefixes.
    pub fn sweep_stale(&mut self, peer: PeerId, family: Family) -> Vec<IpNet> {
        self.remove_where(peer, family, |p| p.stale)
    }

    /// Drops every route of `peer` in `family`; returns their prefixes.
    pub fn remove_family(&mut self, peer: PeerId, family: Family) -> Vec<IpNet> {
        self.remove_where(peer, family, |_| true)
    }

    /// Drops every route of `peer`; returns their prefixes.
    pub fn clear(&mut self, peer: PeerId) -> Vec<IpNet> {
        Family::ALL
            .into_iter()
            .flat_map(|f| self.remove_family(peer, f))
            .collect()
    }
}
