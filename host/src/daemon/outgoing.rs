//! The export part of the daemon's state: the plugins in service and the routes they choose
//! among, the attribute sets of the routes we send, the update groups (peers sent the same
//! table share it and its UPDATEs), and the tables evaluations built. Only this file changes
//! them; what a peer holds (its Adj-RIB-Out) is passed in.

use super::peer::{Applied, PeerState};
use super::{Effects, PeerCommand, PolicyJob, PolicyResult};
use crate::config::Global;
use crate::policy::plugins::{Candidates, PolicySet};
use crate::policy::{desired_routes, BuiltTables, DrainState, ExportContext};
use crate::rib::{AttrInterner, OutRoute, OutRoutes, OutTable, RouteTable, UpdateGroups};
use crate::wire::{Message, Update};
use ipnet::IpNet;
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

pub(super) struct Export {
    /// The plugins in service.
    pub policy: Arc<PolicySet>,
    /// The config's announcements, one batch per config version.
    pub candidates: Arc<Candidates>,
    /// Attribute sets of the routes we send.
    interner: AttrInterner,
    update_groups: UpdateGroups,
    /// Tables found by the evaluation they came from (see [`BuiltTables`]).
    built_tables: BuiltTables,
}

/// A peer's next Adj-RIB-Out: built for it, or one an alike peer holds already.
pub(super) enum Desired {
    Built(RouteTable),
    Shared(Arc<OutTable>),
}

impl Export {
    pub fn new(policy: PolicySet, candidates: Candidates) -> Export {
        Export {
            policy: Arc::new(policy),
            candidates: Arc::new(candidates),
            interner: AttrInterner::default(),
            update_groups: UpdateGroups::default(),
            built_tables: BuiltTables::default(),
        }
    }

    /// The evaluation for `peer`, if its session is up.
    pub fn job(&self, name: &Arc<str>, peer: &PeerState, global: &Global) -> Option<PolicyJob> {
        let up = peer.up.as_ref()?;
        Some(PolicyJob {
            peer: name.clone(),
            epoch: up.epoch,
            policy: self.policy.clone(),
            view: peer.view(name, global),
            candidates: self.candidates.clone(),
        })
    }

    /// An evaluation of the current candidates in effect for `peer`: its next table is one an
    /// alike peer holds (then `true`: reused) or one built for it (kept for alike peers to
    /// take), and the peer is sent the difference. The peer remembers who decided each route.
    pub fn apply(
        &mut self,
        peer: &mut PeerState,
        r: PolicyResult,
        drain: DrainState,
        since_start: Duration,
        fx: &mut dyn Effects,
    ) -> bool {
        let (name, view) = (&r.peer, &r.view);
        let context = ExportContext::new(view, drain);
        let candidates = self.candidates.clone();
        let decisions = r.evaluation.decisions;
        let (desired, decisions, reused) =
            match self.built_tables.find(&candidates, &context, &decisions) {
                Some((table, decisions)) => (Desired::Shared(table), decisions, true),
                None => {
                    let table = desired_routes(
                        view,
                        &candidates.announce,
                        &decisions,
                        &peer.adj_out,
                        drain,
                        &mut self.interner,
                    );
                    (Desired::Built(table), Arc::new(decisions), false)
                }
            };
        if let Some(up) = &mut peer.up {
            up.applied = Some(Applied {
                candidates: candidates.clone(),
                decisions: decisions.clone(),
            });
        }
        self.send(name, peer, desired, since_start, fx);
        if !reused {
            let table = peer.adj_out.table();
            self.built_tables
                .insert(&candidates, context, decisions, table);
        }
        reused
    }

    /// Makes `desired` the peer's Adj-RIB-Out and sends the difference, with End-of-RIB after
    /// the first table of a session. `since_start`: the daemon's age, for the log.
    pub fn send(
        &mut self,
        name: &Arc<str>,
        peer: &mut PeerState,
        desired: Desired,
        since_start: Duration,
        fx: &mut dyn Effects,
    ) {
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
            up.eor_sent = Some(since_start);
            let since_start_ms = since_start.as_millis() as u64;
            info!(peer = %name, routes = peer.adj_out.len(), since_start_ms, "initial table and End-of-RIB sent");
        }
        info!(peer = %name, announced = change.announced, withdrawn = change.withdrawn, messages = msgs.len(), "Adj-RIB-Out updated");
        if !change.is_empty() {
            super::emit(fx, || crate::api::events::kind::routes(name, &change));
        }
        if !msgs.is_empty() {
            peer.updates_sent += msgs.len() as u64;
            fx.command(name, PeerCommand::Send(msgs));
        }
        self.collect();
    }

    /// A session taken over arrives with what the peer was sent: that becomes its Adj-RIB-Out
    /// as it is, and nothing is sent. Returns how many routes it holds.
    pub fn adopt_sent(&mut self, peer: &mut PeerState, updates: Vec<Update>) -> usize {
        let mut shared = OutRoutes::default();
        let mut routes: Vec<(IpNet, OutRoute)> = Vec::new();
        for u in updates {
            let (path, groups) = u.into_reachable();
            let attrs = self.interner.intern(path);
            for (next_hop, prefixes) in groups {
                let route = shared.get(next_hop, attrs.clone());
                routes.extend(prefixes.into_iter().map(|p| (p, route.clone())));
            }
        }
        let table: RouteTable = routes.into_iter().collect();
        let sent = table.len();
        let Some(codec) = peer.up.as_ref().map(|u| u.negotiated.codec) else {
            return 0;
        };
        // The messages that would send it are not sent: the peer has these routes.
        let _ = peer.adj_out.replace(table, &mut self.update_groups, codec);
        sent
    }

    /// The interner `gracewire plan` builds its candidate tables with.
    pub fn interner(&mut self) -> &mut AttrInterner {
        &mut self.interner
    }

    pub fn sets(&self) -> usize {
        self.interner.len()
    }

    /// Frees the outgoing attribute sets and update groups nothing uses any more. They change
    /// only with evaluations, so this runs after each.
    pub fn collect(&mut self) {
        self.update_groups.sweep();
        self.interner.collect();
    }
}
