//! What the control socket shows.

use super::provenance::Provenance;
use super::Daemon;
use crate::api::{
    Code, ControlResponse, GrView, PeerSummary, PluginView, RouteFilter, RouteView, SessionView,
    WithheldView,
};
use crate::fsm::{LocalSettings, Negotiated};
use crate::plugins::PluginKind;
use ipnet::IpNet;
use rustc_hash::FxHashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Views for the operator surface.
impl Daemon {
    /// `show routes` / `show advertised`: the routes the filter keeps, with the Loc-RIB's size.
    pub(super) fn routes_answer(&self, filter: &RouteFilter, advertised: bool) -> ControlResponse {
        match filter.matcher() {
            Err(error) => ControlResponse::error(Code::InvalidArgument, error),
            Ok(keep) => ControlResponse::Routes {
                loc_rib_prefixes: self.loc_rib_len(),
                selection_deferred: self.selection_deferred(),
                routes: if advertised {
                    self.advertised_routes(&keep)
                } else {
                    self.received_routes(&keep)
                },
                withheld: match advertised {
                    true => self.withheld_routes(&keep),
                    false => Vec::new(),
                },
            },
        }
    }

    pub(crate) fn peer_summaries(&self) -> Vec<PeerSummary> {
        self.peers
            .iter()
            .map(|(name, p)| {
                let n = p.negotiated();
                PeerSummary {
                    name: name.to_string(),
                    address: p.cfg.address,
                    asn: n
                        .map(|n| n.remote_asn)
                        .or(p.cfg.asn.known(self.config.global.asn.0))
                        .unwrap_or(0),
                    remote_as: p.cfg.asn.to_string(),
                    state: format!("{:?}", p.fsm_state),
                    uptime_secs: p
                        .up
                        .as_ref()
                        .map(|u| self.clock.now().duration_since(u.since).as_secs()),
                    families: n
                        .map(|n| n.families.iter().map(|f| f.name().to_string()).collect())
                        .unwrap_or_default(),
                    received: self.ingest.rib().len(p.rib_id),
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
                    long_lived_stale: p.gr.helper.is_long_lived(),
                    end_of_rib_received: p
                        .up
                        .iter()
                        .flat_map(|u| &u.eor_received)
                        .map(|f| f.name().to_string())
                        .collect(),
                    last_error: p.last_error.clone(),
                    session: n.map(session_view),
                    pending: n
                        .map(|n| {
                            let next =
                                p.open_settings(&self.config.global, self.own_restart.restarting());
                            pending_changes(&n.offered, &next)
                        })
                        .unwrap_or_default(),
                    warnings: n
                        .filter(|_| !p.graceful_restart_negotiated())
                        .map(|_| {
                            "Graceful Restart not negotiated both ways: a restart of gracewire \
                             withdraws every route at this peer"
                                .to_string()
                        })
                        .into_iter()
                        .collect(),
                    tcp_md5: p.cfg.password.is_some(),
                    ttl: p.cfg.ttl(self.config.global.asn.0).0,
                    min_ttl: p.cfg.ttl(self.config.global.asn.0).1,
                    bfd: p.bfd.as_ref().map(|b| crate::api::BfdView {
                        state: b.state.to_string(),
                        diag: b.diag.describe().into(),
                        failures: b.failures,
                        detection_time_ms: b.detection_time.map(|d| d.as_millis() as u64),
                        multihop: b.spec.multihop,
                        since_secs: self.clock.now().duration_since(b.since).as_secs(),
                    }),
                    update_group: if p.adj_out.is_empty() {
                        Vec::new()
                    } else {
                        self.peers
                            .iter()
                            .filter(|(_, q)| q.adj_out.table_id() == p.adj_out.table_id())
                            .map(|(n, _)| n.to_string())
                            .collect()
                    },
                }
            })
            .collect()
    }

    /// Received routes that `keep(peer, prefix)`, sorted by peer and prefix.
    pub(crate) fn received_routes(&self, keep: &dyn Fn(&str, &IpNet) -> bool) -> Vec<RouteView> {
        let deferred = self.own_restart.deferral.is_deferring();
        let mut out = Vec::new();
        for (name, p) in &self.peers {
            for (prefix, r, best) in self.ingest.rib().routes_of(p.rib_id) {
                if !keep(name, &prefix) {
                    continue;
                }
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

    pub(crate) fn advertised_routes(&self, keep: &dyn Fn(&str, &IpNet) -> bool) -> Vec<RouteView> {
        let mut out = Vec::new();
        // Alike peers share their decisions: each is traced once.
        let mut traced: FxHashMap<(usize, usize), Provenance> = FxHashMap::default();
        for (name, p) in &self.peers {
            let applied = p.up.as_ref().and_then(|up| up.applied.as_ref());
            for (prefix, r) in p.adj_out.iter().filter(|(prefix, _)| keep(name, prefix)) {
                let mut view = RouteView::new(name, *prefix, r.next_hop, &r.attrs, false, true);
                if let Some(applied) = applied {
                    let key = (
                        Arc::as_ptr(&applied.decisions) as usize,
                        Arc::as_ptr(&applied.candidates) as usize,
                    );
                    let by = traced
                        .entry(key)
                        .or_insert_with(|| Provenance::of_applied(applied));
                    view.decided_by = by.of(prefix);
                }
                out.push(view);
            }
        }
        out
    }

    /// The announcements health checks hold back, where the filter keeps them for a peer.
    fn withheld_routes(&self, keep: &dyn Fn(&str, &IpNet) -> bool) -> Vec<WithheldView> {
        let mut withheld = self.health.withheld(self.now_ms());
        withheld.retain(|w| self.peers.keys().any(|peer| keep(peer, &w.prefix)));
        withheld
    }

    pub(crate) fn plugin_views(&self) -> Vec<PluginView> {
        PluginKind::ALL
            .into_iter()
            .map(|kind| {
                let active = self.export.policy.get(kind);
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
        self.own_restart.deferral.is_deferring()
    }

    pub(crate) fn loc_rib_len(&self) -> usize {
        if self.own_restart.deferral.is_deferring() {
            return 0;
        }
        self.ingest.rib().prefixes()
    }

    /// Interned attribute sets, sent and received (tests watch these stay bounded).
    pub fn interned_sets(&self) -> (usize, usize) {
        (self.export.sets(), self.ingest.sets())
    }
}

fn session_view(n: &Negotiated) -> SessionView {
    SessionView {
        hold_time_secs: n.hold_time.as_secs(),
        keepalive_secs: n.keepalive.as_secs(),
        families: n.families.iter().map(|f| f.name().to_string()).collect(),
        four_octet_as: n.codec.four_octet_as,
        extended_message: n.codec.extended_message,
        route_refresh: n.route_refresh,
        enhanced_route_refresh: n.enhanced_route_refresh,
        local_graceful_restart: n
            .local_graceful_restart
            .as_ref()
            .map(|g| GrView::of(g, n.local_long_lived.as_ref())),
        peer_graceful_restart: n
            .peer_graceful_restart
            .as_ref()
            .map(|g| GrView::of(g, n.peer_long_lived.as_ref())),
        local_role: n.local_role.map(|r| r.name().to_string()),
        peer_role: n.peer_role.map(|r| r.name().to_string()),
        extended_next_hop: n.extended_next_hop,
    }
}

/// What the next OPEN will carry differently from the one this session was opened with (the R
/// bit aside: it is meant to change).
fn pending_changes(offered: &LocalSettings, next: &LocalSettings) -> Vec<String> {
    let mut out = Vec::new();
    if offered.extended_parameters != next.extended_parameters {
        let f = |on: bool| {
            if on {
                "extended (RFC 9072)"
            } else {
                "RFC 4271"
            }
        };
        out.push(format!(
            "OPEN parameters {} -> {}",
            f(offered.extended_parameters),
            f(next.extended_parameters)
        ));
    }
    if offered.hold_time != next.hold_time {
        out.push(format!(
            "hold time {} s -> {} s",
            offered.hold_time, next.hold_time
        ));
    }
    if offered.families != next.families {
        let names =
            |f: &[crate::wire::Family]| f.iter().map(|f| f.name()).collect::<Vec<_>>().join(",");
        out.push(format!(
            "families {} -> {}",
            names(&offered.families),
            names(&next.families)
        ));
    }
    if offered.extended_next_hop != next.extended_next_hop {
        let f = |on: bool| if on { "on" } else { "off" };
        out.push(format!(
            "extended next hop {} -> {}",
            f(offered.extended_next_hop),
            f(next.extended_next_hop)
        ));
    }
    if offered.role != next.role {
        let f = |r: Option<crate::wire::Role>| r.map_or("none", |r| r.name());
        out.push(format!("role {} -> {}", f(offered.role), f(next.role)));
    }
    match (&offered.graceful_restart, &next.graceful_restart) {
        (None, Some(_)) => out.push("graceful restart on".into()),
        (Some(_), None) => out.push("graceful restart off".into()),
        (Some(a), Some(b)) => {
            let (a, b) = (
                GrView::of(a, offered.long_lived.as_ref()),
                GrView::of(b, next.long_lived.as_ref()),
            );
            if a.restart_time != b.restart_time {
                out.push(format!(
                    "GR restart time {} s -> {} s",
                    a.restart_time, b.restart_time
                ));
            }
            if a.notification != b.notification {
                out.push(format!(
                    "GR N bit {} -> {}",
                    a.notification as u8, b.notification as u8
                ));
            }
            if a.families != b.families {
                let f = |v: &GrView| {
                    v.families
                        .iter()
                        .map(|f| format!("{} F={}", f.family, f.forwarding as u8))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                out.push(format!("GR families {} -> {}", f(&a), f(&b)));
            }
            if a.long_lived != b.long_lived {
                let f = |v: &GrView| match v.long_lived.first() {
                    Some(l) => format!("{} s", l.stale_time),
                    None => "off".into(),
                };
                out.push(format!("long-lived stale time {} -> {}", f(&a), f(&b)));
            }
        }
        (None, None) => {}
    }
    out
}
