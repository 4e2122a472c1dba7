//! What the control socket shows.

use super::Daemon;
use crate::api::{PeerSummary, RouteView};

/// Views for the operator surface.
impl Daemon {
    pub(crate) fn peer_summaries(&self) -> Vec<PeerSummary> {
        self.peers
            .iter()
            .map(|(name, p)| PeerSummary {
                name: name.to_string(),
                address: p.cfg.address,
                asn: p.cfg.asn.0,
                state: format!("{:?}", p.state),
                uptime_secs: p.established_at.map(|t| t.elapsed().as_secs()),
                families: p
                    .negotiated
                    .as_ref()
                    .map(|n| n.families.iter().map(|f| f.name().to_string()).collect())
                    .unwrap_or_default(),
                received: p.adj_in.len(),
                advertised: p.adj_out.len(),
                updates_received: p.updates_received,
                updates_sent: p.updates_sent,
                peer_graceful_restart: p
                    .negotiated
                    .as_ref()
                    .and_then(|n| n.peer_graceful_restart.clone())
                    .map(|g| g.restart_time),
                stale_families: p
                    .helper
                    .stale_families()
                    .iter()
                    .map(|f| f.name().to_string())
                    .collect(),
                end_of_rib_received: p
                    .eor_received
                    .iter()
                    .map(|f| f.name().to_string())
                    .collect(),
                last_error: p.last_error.clone(),
            })
            .collect()
    }

    pub(crate) fn received_routes(&self) -> Vec<RouteView> {
        let mut out = Vec::new();
        for (name, p) in &self.peers {
            for (prefix, r) in p.adj_in.iter() {
                let best = self
                    .loc_rib
                    .best(prefix)
                    .is_some_and(|(s, _)| s.peer == name.as_ref());
                out.push(RouteView::new(
                    name, *prefix, r.next_hop, &r.attrs, r.stale, best,
                ));
            }
        }
        out
    }

    pub(crate) fn advertised_routes(&self) -> Vec<RouteView> {
        let mut out = Vec::new();
        for (name, p) in &self.peers {
            for (prefix, r) in p.adj_out.iter() {
                out.push(RouteView::new(
                    name, *prefix, r.next_hop, &r.attrs, false, true,
                ));
            }
        }
        out
    }

    pub(crate) fn selection_deferred(&self) -> bool {
        self.deferral.is_some()
    }

    pub(crate) fn loc_rib_len(&self) -> usize {
        self.loc_rib.len()
    }
}
