//! What one peer should have: the decisions of an evaluation, the RFC 4271 §5.1 export rules,
//! a failed plugin's fallback and the drain state, as one pure function ([`desired_routes`]).
//! The daemon diffs the result against the peer's Adj-RIB-Out and sends the difference.

use super::{Decision, Decisions, Export, PeerView};
use crate::config::community::GRACEFUL_SHUTDOWN;
use crate::config::{Announce, OnError};
use crate::rib::{AdjRibOut, AttrInterner, OutRoute, OutRoutes, RouteTable};
use crate::wire::{AsPath, Family, NextHop, Origin, PathAttributes};
use ipnet::IpNet;
use rustc_hash::FxHashMap;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Where a drain (RFC 8326) stands, as far as exports are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrainState {
    Off,
    /// Every route carries GRACEFUL_SHUTDOWN.
    Announcing,
    /// Everything withdrawn.
    Withdrawn,
}

/// The routes `peer` should have, given one evaluation's `decisions` (one per candidate) and
/// what the peer has now (`last`). A [`Decision::Fallback`] (its plugin failed) keeps the route
/// the peer already has, or applies `on_error` to a route it has not been sent yet.
pub fn desired_routes(
    peer: &PeerView,
    candidates: &[Announce],
    decisions: &Decisions,
    last: &AdjRibOut,
    drain: DrainState,
    interner: &mut AttrInterner,
) -> RouteTable {
    if drain == DrainState::Withdrawn {
        return RouteTable::default();
    }
    let mut keep = Vec::new();
    let resolved: Decisions;
    let decisions = if decisions.has_fallback() {
        resolved = decisions
            .iter()
            .zip(candidates)
            .map(|(d, cand)| match d {
                Decision::Fallback {
                    on_error,
                    configured,
                } => match last.get(&cand.prefix.0) {
                    Some(sent) => {
                        keep.push((cand.prefix.0, sent.clone()));
                        Decision::Skip
                    }
                    None if *on_error == OnError::FailOpen => {
                        Decision::Announce(configured.clone())
                    }
                    None => Decision::Skip,
                },
                other => other.clone(),
            })
            .collect();
        &resolved
    } else {
        decisions
    };
    let mut routes = build_exports(peer, candidates, decisions, interner);
    if !keep.is_empty() {
        routes = routes.into_iter().chain(keep).collect();
    }
    match drain {
        DrainState::Announcing => with_graceful_shutdown(routes, peer.is_ibgp(), interner),
        _ => routes,
    }
}

/// The next hop when none is configured: our address on the session, or for an IPv6 route over
/// an IPv4 session its IPv4-mapped form (what FRR and GoBGP send in that case).
fn default_next_hop(family: Family, local: IpAddr, extended_next_hop: bool) -> IpAddr {
    match (family, local) {
        (Family::Ipv6Unicast, IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
        // RFC 8950: our IPv6 address itself.
        (Family::Ipv4Unicast, IpAddr::V6(_)) if extended_next_hop => local,
        (Family::Ipv4Unicast, IpAddr::V6(v6)) => {
            IpAddr::V4(v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED))
        }
        _ => local,
    }
}

/// Applies the decisions and the RFC 4271 export rules: the routes this peer should have.
pub fn build_exports(
    peer: &PeerView,
    candidates: &[Announce],
    decisions: &Decisions,
    interner: &mut AttrInterner,
) -> RouteTable {
    // Collected with each route's position, sorted in place on (prefix, position), and made
    // the table where it lies: no second copy of 100k routes at any point. `aggregated` marks
    // routes announced as a covering prefix: for those the first one wins.
    let mut out: Vec<(IpNet, u32, bool, OutRoute)> = Vec::with_capacity(candidates.len());
    // The route an outcome makes depends only on the outcome and the prefix's family.
    let mut made: FxHashMap<(u32, Family), Option<OutRoute>> = FxHashMap::default();
    let mut sets: HashMap<PathAttributes, Arc<PathAttributes>> = HashMap::new();
    let mut shared = OutRoutes::default();
    for (i, (cand, &k)) in candidates.iter().zip(decisions.of_route()).enumerate() {
        let Decision::Announce(export) = &decisions.outcomes()[k as usize] else {
            continue;
        };
        let (prefix, aggregated) = exported_prefix(cand, export);
        let family = Family::of_prefix(&prefix);
        if !peer.families.contains(&family) {
            continue;
        }
        let route = made.entry((k, family)).or_insert_with(|| {
            let route = export_route(peer, export, family, interner, &mut sets, &mut shared);
            if route.is_none() {
                tracing::warn!(peer = %peer.name, %prefix, next_hop = ?export.next_hop, "no usable next hop of the route's family; not announced, nor any route decided the same way");
            }
            route
        });
        if let Some(route) = route {
            out.push((prefix, i as u32, aggregated, route.clone()));
        }
    }
    out.sort_unstable_by_key(|r| (r.0, r.1));
    let aggregated: Vec<bool> = out.iter().map(|r| r.2).collect();
    let routes: Vec<(IpNet, OutRoute)> = out.into_iter().map(|(p, _, _, r)| (p, r)).collect();
    RouteTable::dedup_sorted(routes, |_, later| replaces(aggregated[later]))
}

/// Per prefix, in candidate order: whether a later route takes the prefix from an earlier one.
/// A plain route replaces what came before; a covering prefix is taken only if nothing holds
/// it yet.
fn replaces(later_is_covering: bool) -> bool {
    !later_is_covering
}

/// The prefix a candidate is announced as, and whether that is a covering prefix (several
/// routes may aggregate into one; the first wins).
fn exported_prefix(cand: &Announce, export: &Export) -> (IpNet, bool) {
    match export.aggregate_len {
        Some(len) if len < cand.prefix.0.prefix_len() => {
            let covering = match cand.prefix.0 {
                IpNet::V4(p) => {
                    IpNet::V4(ipnet::Ipv4Net::new(p.addr(), len).expect("shorter").trunc())
                }
                IpNet::V6(p) => {
                    IpNet::V6(ipnet::Ipv6Net::new(p.addr(), len).expect("shorter").trunc())
                }
            };
            (covering, true)
        }
        _ => (cand.prefix.0, false),
    }
}

/// Per prefix a peer would be sent under `decisions`, the outcome that made it (an index into
/// [`Decisions::outcomes`]), chosen as [`build_exports`] chooses: a plain route replaces what
/// came before, a covering prefix only fills an empty place. A route a fallback kept from
/// before is under its candidate's (fallback) outcome.
pub fn outcome_of_prefix(candidates: &[Announce], decisions: &Decisions) -> FxHashMap<IpNet, u32> {
    let mut of: FxHashMap<IpNet, u32> = FxHashMap::default();
    for (cand, &k) in candidates.iter().zip(decisions.of_route()) {
        let (prefix, aggregated) = match &decisions.outcomes()[k as usize] {
            Decision::Announce(export) => exported_prefix(cand, export),
            Decision::Fallback { .. } => (cand.prefix.0, false),
            Decision::Skip => continue,
        };
        match of.entry(prefix) {
            Entry::Occupied(mut e) if replaces(aggregated) => {
                e.insert(k);
            }
            Entry::Occupied(_) => {}
            Entry::Vacant(e) => {
                e.insert(k);
            }
        }
    }
    of
}

/// One outcome as sent to `peer` for a prefix of `family`, or `None` without a usable next hop.
fn export_route(
    peer: &PeerView,
    export: &Export,
    family: Family,
    interner: &mut AttrInterner,
    sets: &mut HashMap<PathAttributes, Arc<PathAttributes>>,
    shared: &mut OutRoutes,
) -> Option<OutRoute> {
    let nh = export
        .next_hop
        .unwrap_or_else(|| default_next_hop(family, peer.local_address, peer.extended_next_hop));
    let next_hop = match (family, nh) {
        (Family::Ipv4Unicast, IpAddr::V4(a)) if !a.is_unspecified() => NextHop::V4(a),
        // IPv6 next hops for IPv6 routes, and for IPv4 ones under RFC 8950.
        (_, IpAddr::V6(a))
            if a != Ipv6Addr::UNSPECIFIED
                && (family == Family::Ipv6Unicast || peer.extended_next_hop) =>
        {
            NextHop::V6 {
                global: a,
                link_local: None,
            }
        }
        _ => return None,
    };
    let mut as_path = AsPath::default();
    if !peer.is_ibgp() {
        as_path.prepend(peer.local_asn, 1 + export.prepend as usize);
    }
    let mut attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(as_path),
        med: export.med,
        local_pref: peer.is_ibgp().then(|| export.local_pref.unwrap_or(100)),
        ..Default::default()
    };
    attrs.communities = export.communities.clone();
    attrs.communities.sort_unstable();
    attrs.communities.dedup();
    attrs.large_communities = export.large_communities.clone();
    attrs.large_communities.sort_unstable();
    attrs.large_communities.dedup();
    attrs.ext_communities = export.ext_communities.clone();
    attrs.ext_communities.sort_unstable();
    attrs.ext_communities.dedup();
    if let Some(role) = peer.role {
        // RFC 9234 §5 egress: our routes carry no OTC yet; towards a customer, a peer or an
        // RS client they get ours.
        attrs.otc = crate::wire::role::egress(role, peer.local_asn, attrs.otc)?;
    }
    let attrs = sets
        .entry(attrs)
        .or_insert_with_key(|a| interner.intern(a.clone()))
        .clone();
    Some(shared.get(next_hop, attrs))
}

/// Drain (RFC 8326 §4): every route re-announced with GRACEFUL_SHUTDOWN, and LOCAL_PREF 0
/// towards iBGP peers, so traffic moves to other paths before the routes are withdrawn.
pub fn with_graceful_shutdown(
    routes: RouteTable,
    ibgp: bool,
    interner: &mut AttrInterner,
) -> RouteTable {
    let mut sets: HashMap<*const PathAttributes, Arc<PathAttributes>> = HashMap::new();
    let mut shared = OutRoutes::default();
    routes
        .into_iter()
        .map(|(prefix, route)| {
            let key = std::sync::Arc::as_ptr(&route.attrs);
            let attrs = sets
                .entry(key)
                .or_insert_with(|| {
                    let mut a = (*route.attrs).clone();
                    if !a.communities.contains(&GRACEFUL_SHUTDOWN) {
                        a.communities.push(GRACEFUL_SHUTDOWN);
                        a.communities.sort_unstable();
                    }
                    if ibgp {
                        a.local_pref = Some(0);
                    }
                    interner.intern(a)
                })
                .clone();
            (prefix, shared.get(route.next_hop, attrs))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::policy::Export;
    use std::path::Path;

    /// The candidates of a config with `announce` tables after its `[global]`.
    fn candidates(announce: &str) -> Vec<Announce> {
        let text = format!("[global]\nasn = 64512\nrouter_id = \"192.0.2.1\"\n{announce}");
        Config::parse(&text, Path::new("t.toml"))
            .unwrap()
            .announcements()
            .cloned()
            .collect()
    }

    fn announcements() -> Vec<Announce> {
        candidates(
            r#"
            [[announce]]
            prefix = "198.51.100.10/32"
            next_hop = "192.0.2.1"
            communities = ["64512:100", "large:64512:1:2"]
            local_pref = 200
            med = 7
            [[announce]]
            prefix = "2001:db8:10::/64"
        "#,
        )
    }

    fn peer(remote_asn: u32, families: Vec<Family>) -> PeerView {
        PeerView {
            name: "p".into(),
            address: "127.0.0.2".parse().unwrap(),
            local_address: "127.0.0.1".parse().unwrap(),
            local_asn: 64512,
            remote_asn,
            vendor: "default".into(),
            hold_time: 90,
            families,
            role: None,
            extended_next_hop: false,
        }
    }

    fn exports(peer: &PeerView) -> RouteTable {
        let c = announcements();
        let d: Decisions = c
            .iter()
            .map(|a| Decision::Announce(Export::configured(a)))
            .collect();
        build_exports(peer, &c, &d, &mut AttrInterner::default())
    }

    #[test]
    fn ebgp_prepends_own_asn_and_drops_local_pref() {
        let out = exports(&peer(65001, Family::ALL.to_vec()));
        let v4 = &out[&"198.51.100.10/32".parse().unwrap()];
        assert_eq!(v4.next_hop, NextHop::V4("192.0.2.1".parse().unwrap()));
        assert_eq!(v4.attrs.as_path, Some(AsPath::from_sequence(vec![64512])));
        assert_eq!(v4.attrs.local_pref, None);
        assert_eq!(v4.attrs.med, Some(7));
        assert_eq!(v4.attrs.communities, vec![0xfc00_0064]);
        assert_eq!(v4.attrs.large_communities.len(), 1);
        // IPv6 route without a configured next hop over an IPv4 session: mapped address.
        let v6 = &out[&"2001:db8:10::/64".parse().unwrap()];
        assert_eq!(
            v6.next_hop.addr(),
            "::ffff:127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn routes_going_down_or_sideways_carry_our_otc_and_routes_going_up_none() {
        use crate::wire::Role;
        for (role, otc) in [
            (None, None),
            (Some(Role::Customer), None),
            (Some(Role::RouteServerClient), None),
            (Some(Role::Provider), Some(64512)),
            (Some(Role::Peer), Some(64512)),
            (Some(Role::RouteServer), Some(64512)),
        ] {
            let out = exports(&PeerView {
                role,
                ..peer(65001, Family::ALL.to_vec())
            });
            assert_eq!(out.len(), 2, "{role:?}");
            for route in out.values() {
                assert_eq!(route.attrs.otc, otc, "{role:?}");
            }
        }
    }

    #[test]
    fn ibgp_keeps_empty_path_and_sends_local_pref() {
        let out = exports(&peer(64512, Family::ALL.to_vec()));
        let v4 = &out[&"198.51.100.10/32".parse().unwrap()];
        assert_eq!(v4.attrs.as_path, Some(AsPath::default()));
        assert_eq!(v4.attrs.local_pref, Some(200));
        let v6 = &out[&"2001:db8:10::/64".parse().unwrap()];
        assert_eq!(v6.attrs.local_pref, Some(100), "default LOCAL_PREF on iBGP");
    }

    #[test]
    fn aggregation_announces_the_covering_prefix_once() {
        let c = announcements();
        let agg = Export {
            aggregate_len: Some(24),
            ..Export::configured(&c[0])
        };
        let d = [Decision::Announce(agg), Decision::Skip]
            .into_iter()
            .collect();
        let out = build_exports(
            &peer(65001, Family::ALL.to_vec()),
            &c,
            &d,
            &mut AttrInterner::default(),
        );
        assert_eq!(
            out.keys().collect::<Vec<_>>(),
            vec![&"198.51.100.0/24".parse::<IpNet>().unwrap()]
        );
    }

    #[test]
    fn each_prefix_sent_is_traced_to_the_outcome_that_made_it() {
        let prefixes = [
            "198.51.100.10/32",
            "198.51.100.20/32",
            "198.51.100.0/24",
            "203.0.113.1/32",
        ];
        let tables: Vec<String> = prefixes
            .iter()
            .map(|p| format!("[[announce]]\nprefix = \"{p}\"\n"))
            .collect();
        let c = candidates(&tables.concat());
        let by = |rule: &str| super::super::Why {
            announce: super::super::Source::Plugin {
                version: "v".into(),
                rule: Some(rule.into()),
            },
            ..Default::default()
        };
        let agg = Decision::Announce(Export {
            aggregate_len: Some(24),
            ..Default::default()
        });
        let plain = Decision::Announce(Export::default());
        let view = peer(65001, Family::ALL.to_vec());
        let rule_of = |d: &Decisions, p: &str| {
            let of = outcome_of_prefix(&c, d);
            of.get(&p.parse::<IpNet>().unwrap())
                .map(|&k| d.why()[k as usize].clone())
        };
        // Two routes aggregate into the /24: the first one's rule; the skipped route has none.
        let d: Decisions = [
            (agg.clone(), by("a")),
            (agg.clone(), by("b")),
            (Decision::Skip, by("s")),
            (plain.clone(), by("d")),
        ]
        .into_iter()
        .collect();
        let sent = build_exports(&view, &c, &d, &mut AttrInterner::default());
        let mut traced: Vec<IpNet> = outcome_of_prefix(&c, &d).into_keys().collect();
        traced.sort();
        assert_eq!(sent.keys().copied().collect::<Vec<_>>(), traced);
        assert_eq!(rule_of(&d, "198.51.100.0/24"), Some(by("a")));
        assert_eq!(rule_of(&d, "203.0.113.1/32"), Some(by("d")));
        // The /24 announced as itself replaces the covering route: its own rule.
        let d: Decisions = [
            (agg.clone(), by("a")),
            (agg, by("b")),
            (plain.clone(), by("c")),
            (plain, by("d")),
        ]
        .into_iter()
        .collect();
        assert_eq!(rule_of(&d, "198.51.100.0/24"), Some(by("c")));
    }

    #[test]
    fn families_not_negotiated_are_not_announced() {
        let out = exports(&peer(65001, vec![Family::Ipv4Unicast]));
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_failed_plugin_keeps_what_was_sent_and_applies_on_error_to_the_rest() {
        let c = announcements();
        let view = peer(65001, Family::ALL.to_vec());
        let mut interner = AttrInterner::default();
        // The peer has the IPv4 route, with a MED the plugin once chose.
        let mut first = Export::configured(&c[0]);
        first.med = Some(99);
        let sent = build_exports(
            &view,
            &c,
            &[Decision::Announce(first), Decision::Skip]
                .into_iter()
                .collect(),
            &mut interner,
        );
        let mut last = AdjRibOut::default();
        last.replace(
            sent.clone(),
            &mut crate::rib::UpdateGroups::default(),
            crate::wire::CodecContext::default(),
        );
        let fallback = |on_error| {
            c.iter()
                .map(|a| Decision::Fallback {
                    on_error,
                    configured: Export::configured(a),
                })
                .collect::<Decisions>()
        };
        let open = desired_routes(
            &view,
            &c,
            &fallback(OnError::FailOpen),
            &last,
            DrainState::Off,
            &mut interner,
        );
        let v4: IpNet = "198.51.100.10/32".parse().unwrap();
        let v6: IpNet = "2001:db8:10::/64".parse().unwrap();
        assert_eq!(open[&v4], sent[&v4], "last good outcome kept (MED 99)");
        assert!(
            open.contains_key(&v6),
            "fail-open announces a route not sent yet"
        );
        let closed = desired_routes(
            &view,
            &c,
            &fallback(OnError::FailClosed),
            &last,
            DrainState::Off,
            &mut interner,
        );
        assert_eq!(
            closed.keys().collect::<Vec<_>>(),
            vec![&v4],
            "fail-closed sends nothing new"
        );
    }

    #[test]
    fn drain_tags_every_route_then_withdraws_everything() {
        let c = announcements();
        let d: Decisions = c
            .iter()
            .map(|a| Decision::Announce(Export::configured(a)))
            .collect();
        let mut interner = AttrInterner::default();
        let last = AdjRibOut::default();
        let ibgp = peer(64512, Family::ALL.to_vec());
        let tagged = desired_routes(&ibgp, &c, &d, &last, DrainState::Announcing, &mut interner);
        assert_eq!(tagged.len(), 2);
        for r in tagged.values() {
            assert!(r.attrs.communities.contains(&GRACEFUL_SHUTDOWN));
            assert_eq!(
                r.attrs.local_pref,
                Some(0),
                "RFC 8326 §4: LOCAL_PREF 0 over iBGP"
            );
        }
        let gone = desired_routes(&ibgp, &c, &d, &last, DrainState::Withdrawn, &mut interner);
        assert!(gone.is_empty());
    }
}
