//! Received UPDATEs and ROUTE-REFRESH requests.

use super::Daemon;
use crate::rib::{encode_diff, OutRoute, Route, RouteAttrs};
use crate::session::SessionCommand;
use crate::wire::{Family, Message, NextHop, RefreshKind, RouteRefresh, Update};
use ipnet::IpNet;
use std::sync::Arc;
use tracing::{debug, info, warn};

impl Daemon {
    pub(super) fn on_route_refresh(&mut self, name: &Arc<str>, rr: RouteRefresh) {
        let Some(peer) = self.peers.get_mut(name) else {
            return;
        };
        let Some(n) = &peer.negotiated else { return };
        let Some(family) = rr.family().filter(|f| n.families.contains(f)) else {
            debug!(peer = %name, ?rr, "route refresh for a family not negotiated; ignored");
            return;
        };
        if rr.kind != RefreshKind::Request {
            return; // BoRR/EoRR from the peer concern its own re-advertisement
        }
        let announce: Vec<(IpNet, OutRoute)> = peer
            .adj_out
            .iter()
            .filter(|(p, _)| Family::of_prefix(p) == family)
            .map(|(p, r)| (*p, r.clone()))
            .collect();
        let diff = crate::rib::RibDiff {
            announce,
            withdraw: vec![],
        };
        let mut msgs = Vec::new();
        let (afi, safi) = family.afi_safi();
        let marker = |kind| Message::RouteRefresh(RouteRefresh { afi, safi, kind }).encode(n.codec);
        if n.enhanced_route_refresh {
            msgs.push(marker(RefreshKind::Begin));
        }
        msgs.extend(encode_diff(&diff, n.codec));
        if n.enhanced_route_refresh {
            msgs.push(marker(RefreshKind::End));
        }
        info!(peer = %name, %family, routes = diff.announce.len(), "route refresh answered");
        let _ = peer.commands.send(SessionCommand::Send(msgs));
    }

    /// Received UPDATE → Adj-RIB-In → Loc-RIB, after the checks that need the session
    /// (RFC 7606 §7: AS_PATH must start with an eBGP peer's AS, LOCAL_PREF from eBGP dropped).
    pub(super) fn ingest(&mut self, name: &Arc<str>, mut u: Update) {
        let local_asn = self.config.global.asn.0;
        let Some(peer) = self.peers.get_mut(name) else {
            return;
        };
        let Some(n) = &peer.negotiated else {
            return;
        };
        let id = peer.rib_id;
        if let Some(family) = u.end_of_rib() {
            info!(peer = %name, %family, routes = self.rib.count(id, family), "End-of-RIB received");
            return self.on_end_of_rib(name, family);
        }
        let ebgp = n.remote_asn != local_asn;
        if ebgp && u.attributes.local_pref.take().is_some() {
            debug!(peer = %name, "LOCAL_PREF from an eBGP peer discarded (RFC 7606 §7.5)");
        }
        if u.treat_as_withdraw.is_none() && u.announced().next().is_some() {
            let first = u.attributes.as_path.as_ref().and_then(|p| p.first_asn());
            if ebgp && first != Some(n.remote_asn) {
                u.treat_as_withdraw = Some(format!(
                    "AS_PATH does not start with the peer's AS {}",
                    n.remote_asn
                ));
            }
            // RFC 4271 §9.1.2: a path holding our own AS has looped back to us.
            if u.attributes
                .as_path
                .as_ref()
                .is_some_and(|p| p.asns().any(|a| a == local_asn))
            {
                u.treat_as_withdraw = Some("AS_PATH contains our own AS (loop)".into());
            }
            if let Some(m) = &u.mp_reach {
                if !n.families.contains(&m.family) {
                    u.treat_as_withdraw = Some(format!("{} was not negotiated", m.family));
                }
            }
        }
        if let Some(why) = u
            .treat_as_withdraw
            .as_deref()
            .filter(|w| !w.contains("(loop)"))
        {
            warn!(peer = %name, reason = %why, prefixes = u.announced().count(), "UPDATE treated as withdraw (RFC 7606)");
        }
        if !u.discarded.is_empty() {
            warn!(peer = %name, attributes = ?u.discarded, "malformed attributes discarded (RFC 7606)");
        }
        for p in u.withdrawals() {
            self.rib.remove(id, &p);
        }
        if u.treat_as_withdraw.is_some() {
            return;
        }
        let mut path = std::mem::take(&mut u.attributes);
        let v4_next_hop = path.next_hop.take().map(NextHop::V4);
        if let Some(next_hop) = v4_next_hop.filter(|_| !u.nlri.is_empty()) {
            let attrs = self.route_interner.intern(RouteAttrs {
                next_hop,
                path: path.clone(),
            });
            for p in u.nlri.iter().map(|p| IpNet::V4(*p)) {
                let route = Route {
                    attrs: attrs.clone(),
                    stale: false,
                };
                self.rib.insert(id, p, route);
            }
        }
        if let Some(m) = u.mp_reach {
            let attrs = self.route_interner.intern(RouteAttrs {
                next_hop: m.next_hop,
                path,
            });
            for p in m.nlri {
                let route = Route {
                    attrs: attrs.clone(),
                    stale: false,
                };
                self.rib.insert(id, p, route);
            }
        }
    }
}
