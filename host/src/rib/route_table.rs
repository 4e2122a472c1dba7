//! The routes of one Adj-RIB-Out: sorted by prefix, one per prefix, in one vector.
//!
//! A table is built whole from a policy answer and then only read (looked up, diffed against
//! the next one, walked to encode), never edited in place, so a sorted vector serves better
//! than a B-tree: it is built where it was collected (sorted in place: see [`build_exports`](crate::policy::build_exports)),
//! takes 32 bytes a route against a B-tree's ~40 plus the copy that
//! `BTreeMap::from_iter` sorts, and two tables diff in one merge.

use super::OutRoute;
use ipnet::IpNet;
use std::cmp::Ordering;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteTable(Vec<(IpNet, OutRoute)>);

impl RouteTable {
    /// From routes in any order; of several for one prefix the last is kept (as inserting
    /// them one by one into a map would).
    pub fn from_routes(mut routes: Vec<(IpNet, OutRoute)>) -> RouteTable {
        routes.sort_by_key(|a| a.0); // stable: equal prefixes stay in order
        RouteTable::dedup_sorted(routes, |_, _| true)
    }

    /// From routes sorted by prefix (equal prefixes in the order given): of several for one
    /// prefix, `replaces(kept, later)` says whether the route at position `later` of
    /// `routes` takes the place of the one kept so far (at position `kept` of the result).
    pub fn dedup_sorted(
        mut routes: Vec<(IpNet, OutRoute)>,
        mut replaces: impl FnMut(usize, usize) -> bool,
    ) -> RouteTable {
        debug_assert!(routes.windows(2).all(|w| w[0].0 <= w[1].0), "not sorted");
        let mut kept = 0;
        for i in 0..routes.len() {
            if kept > 0 && routes[kept - 1].0 == routes[i].0 {
                if replaces(kept - 1, i) {
                    routes.swap(kept - 1, i);
                }
            } else {
                routes.swap(kept, i);
                kept += 1;
            }
        }
        routes.truncate(kept);
        routes.shrink_to_fit();
        RouteTable(routes)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, prefix: &IpNet) -> Option<&OutRoute> {
        self.0
            .binary_search_by(|(p, _)| p.cmp(prefix))
            .ok()
            .map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, prefix: &IpNet) -> bool {
        self.get(prefix).is_some()
    }

    /// In prefix order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&IpNet, &OutRoute)> + '_ {
        self.0.iter().map(|(p, r)| (p, r))
    }

    pub fn values(&self) -> impl ExactSizeIterator<Item = &OutRoute> + '_ {
        self.0.iter().map(|(_, r)| r)
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &IpNet> + '_ {
        self.0.iter().map(|(p, _)| p)
    }

    /// Walks `self` (the old table) and `new` together, handing `step` every route of `new`
    /// that `self` lacks or has otherwise and every prefix only `self` has, in prefix order.
    pub fn diff<'a>(&'a self, new: &'a RouteTable, mut step: impl FnMut(Step<'a>)) {
        let (mut a, mut b) = (self.0.iter().peekable(), new.0.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (None, None) => return,
                (Some((p, _)), None) => {
                    step(Step::Gone(p));
                    a.next();
                }
                (None, Some((p, r))) => {
                    step(Step::Changed(p, r));
                    b.next();
                }
                (Some((pa, ra)), Some((pb, rb))) => match pa.cmp(pb) {
                    Ordering::Less => {
                        step(Step::Gone(pa));
                        a.next();
                    }
                    Ordering::Greater => {
                        step(Step::Changed(pb, rb));
                        b.next();
                    }
                    Ordering::Equal => {
                        if ra != rb {
                            step(Step::Changed(pb, rb));
                        }
                        a.next();
                        b.next();
                    }
                },
            }
        }
    }
}

/// One difference between two tables (see [`RouteTable::diff`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// New, or sent otherwise before: announce it.
    Changed(&'a IpNet, &'a OutRoute),
    /// Only in the old table: withdraw it.
    Gone(&'a IpNet),
}

/// The route for a prefix the table holds; panics for one it does not (as a map does).
impl std::ops::Index<&IpNet> for RouteTable {
    type Output = OutRoute;
    fn index(&self, prefix: &IpNet) -> &OutRoute {
        self.get(prefix).expect("no route for this prefix")
    }
}

impl FromIterator<(IpNet, OutRoute)> for RouteTable {
    fn from_iter<I: IntoIterator<Item = (IpNet, OutRoute)>>(iter: I) -> RouteTable {
        RouteTable::from_routes(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a RouteTable {
    type Item = (&'a IpNet, &'a OutRoute);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (IpNet, OutRoute)>,
        fn(&'a (IpNet, OutRoute)) -> (&'a IpNet, &'a OutRoute),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(p, r)| (p, r))
    }
}

impl IntoIterator for RouteTable {
    type Item = (IpNet, OutRoute);
    type IntoIter = std::vec::IntoIter<(IpNet, OutRoute)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rib::AttrInterner;
    use crate::wire::{NextHop, PathAttributes};
    use std::collections::BTreeMap;

    fn route(med: u32, interner: &mut AttrInterner) -> OutRoute {
        let attrs = interner.intern(PathAttributes {
            med: Some(med),
            ..Default::default()
        });
        OutRoute::new(NextHop::V4("192.0.2.1".parse().unwrap()), attrs)
    }

    fn p(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn built_like_a_map_where_the_last_route_for_a_prefix_wins() {
        let mut i = AttrInterner::default();
        let routes = vec![
            (p("10.0.0.2/32"), route(1, &mut i)),
            (p("10.0.0.1/32"), route(2, &mut i)),
            (p("10.0.0.2/32"), route(3, &mut i)),
            (p("2001:db8::/64"), route(4, &mut i)),
            (p("10.0.0.2/32"), route(5, &mut i)),
        ];
        let map: BTreeMap<IpNet, OutRoute> = routes.iter().cloned().collect();
        let table = RouteTable::from_routes(routes);
        assert!(table.iter().eq(map.iter()));
        assert_eq!(table.get(&p("10.0.0.2/32")), Some(&route(5, &mut i)));
        assert_eq!(table.get(&p("10.0.0.3/32")), None);
        assert!(table.contains_key(&p("2001:db8::/64")));
    }

    #[test]
    fn a_caller_may_keep_the_first_of_equal_prefixes() {
        let mut i = AttrInterner::default();
        let routes = vec![
            (p("10.0.0.0/24"), route(1, &mut i)),
            (p("10.0.0.0/24"), route(2, &mut i)),
            (p("10.0.1.0/24"), route(3, &mut i)),
        ];
        let table = RouteTable::dedup_sorted(routes, |_, _| false);
        assert_eq!(table.len(), 2);
        assert_eq!(table.get(&p("10.0.0.0/24")), Some(&route(1, &mut i)));
    }

    #[test]
    fn the_diff_names_what_is_new_or_changed_and_what_is_gone() {
        let mut i = AttrInterner::default();
        let old: RouteTable = [
            (p("10.0.0.1/32"), route(1, &mut i)),
            (p("10.0.0.2/32"), route(1, &mut i)),
            (p("10.0.0.3/32"), route(1, &mut i)),
        ]
        .into_iter()
        .collect();
        let new: RouteTable = [
            (p("10.0.0.0/32"), route(1, &mut i)),
            (p("10.0.0.2/32"), route(2, &mut i)),
            (p("10.0.0.3/32"), route(1, &mut i)),
            (p("10.0.0.4/32"), route(1, &mut i)),
        ]
        .into_iter()
        .collect();
        let (mut changed, mut gone) = (Vec::new(), Vec::new());
        old.diff(&new, |s| match s {
            Step::Changed(p, _) => changed.push(*p),
            Step::Gone(p) => gone.push(*p),
        });
        assert_eq!(
            changed,
            vec![p("10.0.0.0/32"), p("10.0.0.2/32"), p("10.0.0.4/32")]
        );
        assert_eq!(gone, vec![p("10.0.0.1/32")]);
        let (mut changed, mut gone) = (0, Vec::new());
        new.diff(&RouteTable::default(), |s| match s {
            Step::Changed(..) => changed += 1,
            Step::Gone(p) => gone.push(*p),
        });
        assert_eq!((changed, gone.len()), (0, 4), "everything withdrawn");
    }
}
