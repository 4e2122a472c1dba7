//! What each peer is sent: policy evaluations off the loop, then the difference between what
//! the peer should have ([`desired_routes`]) and its Adj-RIB-Out; route refresh answers.

use super::peer::Applied;
use super::{Daemon, Drain, Effects, PeerCommand, PolicyJob, PolicyResult};
use crate::policy::{desired_routes, DrainState, ExportContext};
use crate::rib::RibDiff;
use crate::wire::{Family, Message, RefreshKind, RouteRefresh, Update};
use std::sync::Arc;
use tracing::{debug, info, warn};

impl Daemon {
    /// Asks for this peer's policy evaluation, if its session is up.
    pub(super) fn evaluate(&mut self, name: &Arc<str>, fx: &mut dyn Effects) {
        let Some(peer) = self.peers.get(name) else {
            return;
        };
        let Some(up) = &peer.up else { return };
        fx.evaluate(PolicyJob {
            peer: name.clone(),
            epoch: up.epoch,
            policy: self.policy.clone(),
            view: peer.view(name, &self.config.global),
            candidates: self.candidates.clone(),
        });
    }

    pub(super) fn evaluate_all(&mut self, fx: &mut dyn Effects) {
        let names: Vec<Arc<str>> = self.peers.keys().cloned().collect();
        for name in names {
            self.evaluate(&name, fx);
        }
    }

    pub(super) fn drain_state(&self) -> DrainState {
        match self.drain {
            Drain::Off => DrainState::Off,
            Drain::Announcing { .. } => DrainState::Announcing,
            Drain::Withdrawn => DrainState::Withdrawn,
        }
    }

    pub(super) fn on_policy_result(&mut self, r: PolicyResult, fx: &mut dyn Effects) {
        if !Arc::ptr_eq(&r.candidates, &self.candidates) {
            return; // the config changed meanwhile; a newer evaluation is on its way
        }
        let drain = self.drain_state();
        let Some(peer) = self.peers.get_mut(&r.peer) else {
            return;
        };
        if peer.up_with(r.epoch).is_none() {
            return; // computed for a session that is gone
        }
        for (kind, took) in &r.evaluation.calls {
            self.telemetry.plugin_call(*kind, *took);
        }
        for (kind, err) in &r.evaluation.errors {
            self.telemetry.plugin_error(*kind, err);
            warn!(peer = %r.peer, plugin = kind.name(), error = %err, "plugin failed; routes keep their last good outcome");
            let status = self.plugin_status.entry(*kind).or_default();
            status.last_error = Some(err.to_string());
        }
        let context = ExportContext::new(&r.view, drain);
        let decisions = r.evaluation.decisions;
        if let Some((table, decisions)) =
            self.built_tables.find(&r.candidates, &context, &decisions)
        {
            self.telemetry.tables_reused += 1;
            if let Some(up) = &mut peer.up {
                up.applied = Some(Applied {
                    candidates: r.candidates.clone(),
                    decisions,
                });
            }
            self.send_desired(&r.peer, Desired::Shared(table), fx);
            return;
        }
        let desired = desired_routes(
            &r.view,
            &r.candidates.announce,
            &decisions,
            &peer.adj_out,
            drain,
            &mut self.interner,
        );
        let decisions = Arc::new(decisions);
        if let Some(up) = &mut peer.up {
            up.applied = Some(Applied {
                candidates: r.candidates.clone(),
                decisions: decisions.clone(),
            });
        }
        self.send_desired(&r.peer, Desired::Built(desired), fx);
        if let Some(peer) = self.peers.get(&r.peer) {
            let table = peer.adj_out.table();
            self.built_tables
                .insert(&r.candidates, context, decisions, table);
        }
    }

    /// Makes `desired` the peer's Adj-RIB-Out and sends the difference, with End-of-RIB after
    /// the first table of a session.
    pub(super) fn send_desired(&mut self, name: &Arc<str>, desired: Desired, fx: &mut dyn Effects) {
        let since_start_ms = self.now.duration_since(self.started).as_millis() as u64;
        let Some(peer) = self.peers.get_mut(name) else {
            return;
        };
        let Some(up) = peer.up.as_mut() else { return };
        let codec = up.negotiated.codec;
        let (change, mut msgs) = match desired {
            Desired::Built(table) => peer.adj_out.replace(table, &mut self.update_groups, codec),
            Desired::Shared(table) => peer.adj_out.adopt(table, &mut self.update_groups, codec),
        };
        if up.eor_sent.is_none() {
            // RFC 4724 §2: End-of-RIB per family once the initial table is sent. Never held
            // back by our own selection deferral, so peers restarting with us cannot deadlock.
            for f in &up.negotiated.families {
                msgs.push(Message::Update(Update::end_of_rib_marker(*f)).encode(codec));
            }
            up.eor_sent = Some(self.now.duration_since(self.started));
            info!(peer = %name, routes = peer.adj_out.len(), since_start_ms, "initial table and End-of-RIB sent");
        }
        info!(peer = %name, announced = change.announced, withdrawn = change.withdrawn, messages = msgs.len(), "Adj-RIB-Out updated");
        if !msgs.is_empty() {
            peer.updates_sent += msgs.len() as u64;
            fx.command(name, PeerCommand::Send(msgs));
        }
        self.collect_interners(false);
    }

    /// RFC 2918 / RFC 7313: the family's Adj-RIB-Out again, between BoRR and EoRR when the
    /// peer speaks enhanced route refresh.
    pub(super) fn on_route_refresh(
        &mut self,
        name: &Arc<str>,
        rr: RouteRefresh,
        fx: &mut dyn Effects,
    ) {
        let Some(n) = self.peers.get(name).and_then(|p| p.negotiated()) else {
            return;
        };
        let Some(family) = rr.family().filter(|f| n.families.contains(f)) else {
            debug!(peer = %name, ?rr, "route refresh for a family not negotiated; ignored");
            return;
        };
        if rr.kind != RefreshKind::Request {
            return; // BoRR/EoRR from the peer concern its own re-advertisement
        }
        self.resend_family(name, family, fx);
    }

    /// Sends the peer its Adj-RIB-Out of `family` again.
    pub(super) fn resend_family(&mut self, name: &Arc<str>, family: Family, fx: &mut dyn Effects) {
        let Some(peer) = self.peers.get_mut(name) else {
            return;
        };
        let Some(n) = peer.up.as_ref().map(|u| &u.negotiated) else {
            return;
        };
        let diff = RibDiff {
            announce: peer
                .adj_out
                .iter()
                .filter(|(p, _)| Family::of_prefix(p) == family)
                .map(|(p, r)| (*p, r.clone()))
                .collect(),
            withdraw: vec![],
        };
        let (afi, safi) = family.afi_safi();
        let marker = |kind| Message::RouteRefresh(RouteRefresh { afi, safi, kind }).encode(n.codec);
        let mut msgs = Vec::new();
        if n.enhanced_route_refresh {
            msgs.push(marker(RefreshKind::Begin));
        }
        msgs.extend(diff.encode(n.codec));
        if n.enhanced_route_refresh {
            msgs.push(marker(RefreshKind::End));
        }
        info!(peer = %name, %family, routes = diff.announce.len(), "Adj-RIB-Out sent again (route refresh)");
        peer.updates_sent += msgs.len() as u64;
        fx.command(name, PeerCommand::Send(msgs));
    }

    /// Frees interned attribute sets no route uses any more. The outgoing sets change only
    /// with evaluations, so they are swept after each; received sets churn with every UPDATE,
    /// so they are swept once as many routes have been replaced or dropped as there were sets
    /// in use at the last sweep (a sweep is linear in the sets, so this is amortised constant
    /// per route, and at most about twice the sets in use are ever kept), or at once when `now`.
    pub(super) fn collect_interners(&mut self, now: bool) {
        self.update_groups.sweep();
        self.interner.collect();
        self.ingest.collect(now);
    }
}

/// A peer's next Adj-RIB-Out: built for it, or one an alike peer holds already.
pub(super) enum Desired {
    Built(crate::rib::RouteTable),
    Shared(Arc<crate::rib::OutTable>),
}
