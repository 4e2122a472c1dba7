//! The BGP decision process (RFC 4271 §9.1.2.2), in the order every implementation applies it.

use super::RouteAttrs;
use crate::wire::long_lived::LLGR_STALE;
use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};

/// Where a candidate route came from: what the tie-breakers need about the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathSource {
    pub peer: String,
    pub peer_address: IpAddr,
    pub peer_router_id: Ipv4Addr,
    pub ibgp: bool,
}

/// A candidate as the decision process sees it: its peer, attributes and stale mark.
pub type Candidate<'a> = (&'a PathSource, &'a RouteAttrs, bool);

/// Orders candidates best first.
pub fn better(a: Candidate<'_>, b: Candidate<'_>) -> Ordering {
    let (sa, aa, stale_a) = a;
    let (sb, ab, stale_b) = b;
    // LLGR_STALE routes are the least preferred of all (RFC 9494 §4.3), ours or received.
    let long_lived = |r: &RouteAttrs| r.communities.contains(&LLGR_STALE);
    long_lived(aa)
        .cmp(&long_lived(ab))
        // Non-stale routes win over stale ones (RFC 4724 §4.2 allows preferring fresh paths).
        .then_with(|| stale_a.cmp(&stale_b))
        // Highest LOCAL_PREF (eBGP routes count as the default 100).
        .then_with(|| {
            ab.local_pref
                .unwrap_or(100)
                .cmp(&aa.local_pref.unwrap_or(100))
        })
        // Shortest AS_PATH.
        .then_with(|| {
            let len = |r: &RouteAttrs| r.as_path.as_ref().map_or(0, |p| p.path_length());
            len(aa).cmp(&len(ab))
        })
        // Lowest ORIGIN.
        .then_with(|| aa.origin.cmp(&ab.origin))
        // Lowest MED, only between routes from the same neighbouring AS.
        .then_with(|| {
            let first = |r: &RouteAttrs| r.as_path.as_ref().and_then(|p| p.first_asn());
            if first(aa) == first(ab) {
                aa.med.unwrap_or(0).cmp(&ab.med.unwrap_or(0))
            } else {
                Ordering::Equal
            }
        })
        // eBGP over iBGP.
        .then_with(|| sa.ibgp.cmp(&sb.ibgp))
        // Lowest router ID, then lowest peer address.
        .then_with(|| sa.peer_router_id.cmp(&sb.peer_router_id))
        .then_with(|| sa.peer_address.cmp(&sb.peer_address))
}
