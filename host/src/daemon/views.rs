//! What the control socket shows.

use super::Daemon;
use crate::api::{PeerSummary, PluginView, RouteView};
use crate::plugins::PluginKind;
use std::sync::atomic::Ordering;

/// Views for the operator surface.
impl Daemon {
    pub(crate) fn peer_summaries(&self) -> Vec<PeerSummary> {
        self.peers
            .iter()
            .map(|(name, p)| {
                let n = p.negotiated();
                PeerSummary {
                    name: name.to_string(),
                    address: p.cfg.address,
                    asn: p.cfg.asn.0,
                    state: format!("{:?}", p.fsm_state),
                    uptime_secs: p
                        .up
                        .as_ref()
                        .map(|u| self.now.duration_since(u.since).as_secs()),
                    families: n
                        .map(|n| n.families.iter().map(|f| f.name().to_string()).collect())
                        .unwrap_or_default(),
                    received: self.rib.len(p.rib_id),
                    advertised: p.adj_out.len(),
                    updates_received: p.updates_received,
                    updates_sent: p.updates_sent,
                    peer_graceful_restart: n
                        .and_then(|n| n.peer_graceful_restart.as_ref())
                        .map(|g| g.restart_time),
                    stale_families: p
                        .gr
                        .helper
                        .stale_families()
                        .iter()
                        .map(|f| f.name().to_string())
                        .collect(),
                    end_of_rib_received: p
                        .up
                        .iter()
                        .flat_map(|u| &u.eor_received)
                        .map(|f| f.name().to_string())
                        .collect(),
                    last_error: p.last_error.clone(),
                }
            })
            .collect()
    }

    pub(crate) fn received_routes(&self) -> Vec<crate::api::RouteView> {
        let deferred = self.deferral.is_deferring();
        let mut out = Vec::new();
        for (name, p) in &self.peers {
            for (prefix, r, best) in self.rib.routes_of(p.rib_id) {
                // While selection waits (after our restart), no route is best yet.
                let best = best && !deferred;
                out.push(RouteView::new(
                    name,
                    prefix,
                    r.next_hop(),
                    &r.attrs.path,
                    r.stale,
                    best,
                ));
            }
        }
        out.sort_by(|a, b| (&a.peer, a.prefix).cmp(&(&b.peer, b.prefix)));
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

    pub(crate) fn plugin_views(&self) -> Vec<PluginView> {
        PluginKind::ALL
            .into_iter()
            .map(|kind| {
                let active = self.policy.get(kind);
                let status = self.plugin_status.get(&kind).cloned().unwrap_or_default();
                let stat =
                    |f: fn(&crate::plugins::PluginStats) -> &std::sync::atomic::AtomicU64| {
                        active.map_or(0, |a| f(&a.plugin.stats).load(Ordering::Relaxed))
                    };
                let calls = stat(|s| &s.calls);
                let nanos = stat(|s| &s.call_nanos);
                PluginView {
                    kind: kind.name().into(),
                    path: active.map(|a| a.path.display().to_string()),
                    version: active.map(|a| a.plugin.sha256.clone()),
                    on_error: active.map(|a| format!("{:?}", a.on_error)),
                    calls,
                    errors: stat(|s| &s.errors),
                    instantiations: stat(|s| &s.instantiations),
                    prepares: stat(|s| &s.prepares),
                    mean_call_us: (calls > 0).then(|| nanos as f64 / calls as f64 / 1e3),
                    swaps: status.swaps,
                    rejections: status.rejections,
                    last_swap_ms: status.last_swap_ms,
                    last_error: status.last_error,
                }
            })
            .collect()
    }

    pub(crate) fn selection_deferred(&self) -> bool {
        self.deferral.is_deferring()
    }

    pub(crate) fn loc_rib_len(&self) -> usize {
        if self.deferral.is_deferring() {
            return 0;
        }
        self.rib.prefixes()
    }

    /// Interned attribute sets, sent and received (tests watch these stay bounded).
    pub fn interned_sets(&self) -> (usize, usize) {
        (self.interner.len(), self.route_interner.len())
    }
}
