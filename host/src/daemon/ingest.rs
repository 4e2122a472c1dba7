//! Received UPDATEs → Adj-RIB-In, after the checks that need the session.

use super::{Daemon, Effects};
use crate::fsm::Negotiated;
use crate::wire::role::{self, Ingress, Role};
use crate::wire::{Family, NextHop, TreatAsWithdraw, Update};
use std::sync::Arc;
use tracing::{info, warn};

impl Daemon {
    /// RFC 7606 §7: an eBGP AS_PATH must start with the peer's AS, MP_REACH must be for a
    /// negotiated family (with an IPv6 next hop for IPv4 only under RFC 8950); RFC 4271
    /// §9.1.2: our own AS means a loop; then RFC 9234's OTC rules. (LOCAL_PREF from eBGP is
    /// dropped by the decoder, which knows the session is external.)
    pub(super) fn ingest(&mut self, name: &Arc<str>, mut u: Update, fx: &mut dyn Effects) {
        let local_asn = self.config.global.asn.0;
        let Some(peer) = self.peers.get(name) else {
            return;
        };
        let Some(n) = peer.negotiated() else { return };
        let id = peer.rib_id;
        if let Some(family) = u.end_of_rib() {
            let since_start_ms = self.clock.since_start().as_millis() as u64;
            info!(peer = %name, %family, routes = self.ingest.rib().count(id, family), since_start_ms, "End-of-RIB received");
            return self.on_end_of_rib(name, family, fx);
        }
        if u.treat_as_withdraw.is_none() && u.announced().next().is_some() {
            u.treat_as_withdraw = session_check(&u, n, local_asn).or_else(|| {
                n.local_role
                    .and_then(|r| only_to_customer(&mut u, r, n.remote_asn))
            });
        }
        if let Some(why) = u.treat_as_withdraw.filter(TreatAsWithdraw::is_error) {
            warn!(peer = %name, reason = %why, prefixes = u.announced().count(), "UPDATE treated as withdraw (RFC 7606)");
        }
        if !u.discarded.is_empty() {
            warn!(peer = %name, attributes = ?u.discarded, "malformed attributes discarded (RFC 7606)");
        }
        self.ingest.apply(id, u);
    }
}

/// RFC 9234 §5 ingress rules on a session with roles: a leak goes, a route on its way down
/// is marked with the peer's AS.
fn only_to_customer(u: &mut Update, local: Role, peer_as: u32) -> Option<TreatAsWithdraw> {
    match role::ingress(local, peer_as, u.attributes.otc) {
        Ingress::Leak => Some(TreatAsWithdraw::RouteLeak {
            otc: u.attributes.otc.unwrap_or_default(),
        }),
        Ingress::SetOtc(asn) => {
            u.attributes.otc = Some(asn);
            None
        }
        Ingress::Keep => None,
    }
}

fn session_check(u: &Update, n: &Negotiated, local_asn: u32) -> Option<TreatAsWithdraw> {
    let peer_as = n.remote_asn;
    let path = u.attributes.as_path.as_ref();
    if let Some(m) = &u.mp_reach {
        if !n.families.contains(&m.family) {
            return Some(TreatAsWithdraw::FamilyNotNegotiated(m.family));
        }
        // RFC 8950 §4: an IPv6 next hop for IPv4 routes only where it was negotiated.
        let v6_for_v4 = m.family == Family::Ipv4Unicast && matches!(m.next_hop, NextHop::V6 { .. });
        if v6_for_v4 && !n.extended_next_hop {
            return Some(TreatAsWithdraw::NextHopNotNegotiated);
        }
    }
    if path.is_some_and(|p| p.asns().any(|a| a == local_asn)) {
        return Some(TreatAsWithdraw::OwnAsInPath);
    }
    let ebgp = peer_as != local_asn;
    if ebgp && path.and_then(|p| p.first_asn()) != Some(peer_as) {
        return Some(TreatAsWithdraw::FirstAsNotPeer { peer_as });
    }
    None
}
