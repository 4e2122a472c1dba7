//! What each peer is sent: policy evaluations off the loop, then the difference between what
//! the peer should have ([`desired_routes`]) and its Adj-RIB-Out; route refresh answers.

use super::outgoing::Desired;
use super::{Daemon, Effects, PeerCommand, PolicyResult};
use crate::policy::DrainState;
use crate::rib::RibDiff;
use crate::wire::{Family, Message, RefreshKind, RouteRefresh};
use std::sync::Arc;
use tracing::{debug, info, warn};

impl Daemon {
    /// Asks for this peer's policy evaluation, if its session is up.
    pub(super) fn evaluate(&mut self, name: &Arc<str>, fx: &mut dyn Effects) {
        let Some(peer) = self.peers.get(name) else {
            return;
        };
        if self.health.settling(self.now_ms()) {
            return; // every peer is evaluated once the first verdicts are in
        }
        if let Some(job) = self.export.job(name, peer, &self.config.global) {
            fx.evaluate(job);
        }
    }

    pub(super) fn evaluate_all(&mut self, fx: &mut dyn Effects) {
        let names: Vec<Arc<str>> = self.peers.keys().cloned().collect();
        for name in names {
            self.evaluate(&name, fx);
        }
    }

    pub(super) fn drain_state(&self) -> DrainState {
        self.leaving.state()
    }

    pub(super) fn on_policy_result(&mut self, r: PolicyResult, fx: &mut dyn Effects) {
        if !Arc::ptr_eq(&r.candidates, &self.export.candidates) {
            return; // the config changed meanwhile; a newer evaluation is on its way
        }
        let drain = self.drain_state();
        let since_start = self.clock.since_start();
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
        if self.export.apply(peer, r, drain, since_start, fx) {
            self.telemetry.tables_reused += 1;
        }
    }

    /// Makes `desired` the peer's Adj-RIB-Out and sends the difference.
    pub(super) fn send_desired(&mut self, name: &Arc<str>, desired: Desired, fx: &mut dyn Effects) {
        let since_start = self.clock.since_start();
        if let Some(peer) = self.peers.get_mut(name) {
            self.export.send(name, peer, desired, since_start, fx);
        }
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

    /// Frees the attribute sets no route uses any more: the outgoing ones (they change only
    /// with evaluations) at once, the received ones when their churn says so or when `now`.
    pub(super) fn collect_interners(&mut self, now: bool) {
        self.export.collect();
        self.ingest.collect(now);
    }
}
