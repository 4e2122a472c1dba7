//! The policy step between what the config wants announced and each peer's Adj-RIB-Out.
//!
//! A policy sees one peer and a *batch* of candidate routes and answers with one decision per
//! candidate: without plugins every route is announced as configured; with them the
//! `announcement-policy` and `community-tagger` plugins decide ([`plugins::evaluate`]). The
//! daemon runs this on a blocking worker, never on the session loop, so a slow policy cannot
//! delay a KEEPALIVE.
//!
//! The BGP export rules that are not a matter of taste (RFC 4271 §5.1: AS_PATH prepend and no
//! LOCAL_PREF towards eBGP peers, a next hop of the right family) are applied afterwards by
//! [`build_exports`], whatever the policy said.

pub mod plugins;

use crate::config::community::GRACEFUL_SHUTDOWN;
use crate::config::{Announce, CommunityValue, OnError};
use crate::rib::{AttrInterner, OutRoute, OutRoutes};
use crate::wire::{AsPath, Family, LargeCommunity, NextHop, Origin, PathAttributes};
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The peer a batch is evaluated for.
#[derive(Clone, Debug)]
pub struct PeerView {
    pub name: String,
    pub address: IpAddr,
    pub local_address: IpAddr,
    pub local_asn: u32,
    pub remote_asn: u32,
    pub vendor: String,
    pub hold_time: u16,
    /// Families negotiated on the session.
    pub families: Vec<Family>,
}

impl PeerView {
    pub fn is_ibgp(&self) -> bool {
        self.local_asn == self.remote_asn
    }
}

/// What to send for one candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Skip,
    Announce(Export),
    /// A plugin failed: keep the route's last good outcome, or apply `on_error` if it has none.
    Fallback {
        on_error: OnError,
        configured: Export,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Export {
    pub next_hop: Option<IpAddr>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    /// Extra copies of our ASN on eBGP sessions.
    pub prepend: u8,
    /// Announce the covering prefix of this length instead.
    pub aggregate_len: Option<u8>,
    pub communities: Vec<u32>,
    pub large_communities: Vec<LargeCommunity>,
    pub ext_communities: Vec<u64>,
}

impl Export {
    /// The route exactly as the config describes it.
    pub fn configured(a: &Announce) -> Export {
        let mut e = Export {
            next_hop: a.next_hop,
            med: a.med,
            local_pref: a.local_pref,
            ..Default::default()
        };
        for c in &a.communities {
            match c {
                CommunityValue::Standard(v) => e.communities.push(*v),
                CommunityValue::Large(l) => e.large_communities.push(*l),
            }
        }
        e
    }
}

/// The next hop when none is configured: our address on the session, or for an IPv6 route over
/// an IPv4 session its IPv4-mapped form (what FRR and GoBGP send in that case).
fn default_next_hop(family: Family, local: IpAddr) -> IpAddr {
    match (family, local) {
        (Family::Ipv6Unicast, IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
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
    decisions: &[Decision],
    interner: &mut AttrInterner,
) -> BTreeMap<IpNet, OutRoute> {
    // Collected, then sorted into the map in one go: a map built by bulk insertion has full
    // nodes, half the memory of one built route by route. `aggregated` marks routes announced
    // as a covering prefix: for those the first one wins.
    let mut out: Vec<(IpNet, bool, OutRoute)> = Vec::with_capacity(candidates.len());
    let mut sets: HashMap<PathAttributes, std::sync::Arc<PathAttributes>> = HashMap::new();
    let mut shared = OutRoutes::default();
    for (cand, decision) in candidates.iter().zip(decisions) {
        let Decision::Announce(export) = decision else {
            continue;
        };
        let (prefix, aggregated) = match export.aggregate_len {
            Some(len) if len < cand.prefix.0.prefix_len() => {
                // The covering prefix: several routes may aggregate into it; the first wins.
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
        };
        let family = Family::of_prefix(&prefix);
        if !peer.families.contains(&family) {
            continue;
        }
        let nh = export
            .next_hop
            .unwrap_or_else(|| default_next_hop(family, peer.local_address));
        let next_hop = match (family, nh) {
            (Family::Ipv4Unicast, IpAddr::V4(a)) if !a.is_unspecified() => NextHop::V4(a),
            (Family::Ipv6Unicast, IpAddr::V6(a)) if a != Ipv6Addr::UNSPECIFIED => NextHop::V6 {
                global: a,
                link_local: None,
            },
            _ => {
                tracing::warn!(peer = %peer.name, %prefix, next_hop = %nh, "no usable next hop of the route's family; not announced");
                continue;
            }
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
        let attrs = sets
            .entry(attrs)
            .or_insert_with_key(|a| interner.intern(a.clone()))
            .clone();
        out.push((prefix, aggregated, shared.get(next_hop, attrs)));
    }
    // Per prefix, in candidate order: a plain route replaces what came before; a covering
    // prefix is taken only if nothing holds it yet.
    out.sort_by_key(|a| a.0);
    let mut kept: Vec<(IpNet, OutRoute)> = Vec::with_capacity(out.len());
    for (prefix, aggregated, route) in out {
        match kept.last_mut() {
            Some(last) if last.0 == prefix => {
                if !aggregated {
                    last.1 = route;
                }
            }
            _ => kept.push((prefix, route)),
        }
    }
    kept.into_iter().collect()
}

/// Drain (RFC 8326 §4): every route re-announced with GRACEFUL_SHUTDOWN, and LOCAL_PREF 0
/// towards iBGP peers, so traffic moves to other paths before the routes are withdrawn.
pub fn with_graceful_shutdown(
    routes: BTreeMap<IpNet, OutRoute>,
    ibgp: bool,
    interner: &mut AttrInterner,
) -> BTreeMap<IpNet, OutRoute> {
    let mut sets: HashMap<*const PathAttributes, std::sync::Arc<PathAttributes>> = HashMap::new();
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
    use std::path::Path;

    fn announcements() -> Vec<Announce> {
        let text = r#"
            [global]
            asn = 64512
            router_id = "192.0.2.1"
            [[announce]]
            prefix = "198.51.100.10/32"
            next_hop = "192.0.2.1"
            communities = ["64512:100", "large:64512:1:2"]
            local_pref = 200
            med = 7
            [[announce]]
            prefix = "2001:db8:10::/64"
        "#;
        Config::parse(text, Path::new("t.toml"))
            .unwrap()
            .announcements()
            .cloned()
            .collect()
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
        }
    }

    fn exports(peer: &PeerView) -> BTreeMap<IpNet, OutRoute> {
        let c = announcements();
        let d: Vec<Decision> = c
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
        let d = vec![Decision::Announce(agg), Decision::Skip];
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
    fn families_not_negotiated_are_not_announced() {
        let out = exports(&peer(65001, vec![Family::Ipv4Unicast]));
        assert_eq!(out.len(), 1);
    }
}
