//! Tables built from an evaluation, remembered by what they were built from.
//!
//! A peer's Adj-RIB-Out is a pure function of the candidates, the policy's decisions for it,
//! the few facts about the peer that the export rules read (see [`ExportContext`]) and the
//! drain state ([`desired_routes`](super::desired_routes)). A peer whose evaluation came out
//! as another's takes that peer's table as it is: 100 alike peers build one table of 100k
//! routes, not 100 that are then found equal and dropped. Outcomes are compared, not configs,
//! so a plugin that treats one peer differently still splits it off.

use super::plugins::Candidates;
use super::{Decisions, DrainState, PeerView};
use crate::rib::OutTable;
use crate::wire::Family;
use std::net::IpAddr;
use std::sync::{Arc, Weak};

/// Everything besides the decisions that [`desired_routes`](super::desired_routes) reads
/// (a fallback also reads the peer's last table: evaluations with one are never reused).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportContext {
    local_asn: u32,
    ibgp: bool,
    /// The default next hop comes from it.
    local_address: IpAddr,
    families: Vec<Family>,
    drain: DrainState,
    /// Our RFC 9234 role decides the OTC attribute.
    role: Option<crate::wire::Role>,
    /// Decides the default next hop of IPv4 routes over IPv6 (RFC 8950).
    extended_next_hop: bool,
}

impl ExportContext {
    pub fn new(peer: &PeerView, drain: DrainState) -> ExportContext {
        let mut families = peer.families.clone();
        families.sort_unstable();
        families.dedup();
        ExportContext {
            local_asn: peer.local_asn,
            ibgp: peer.is_ibgp(),
            local_address: peer.local_address,
            families,
            drain,
            role: peer.role,
            extended_next_hop: peer.extended_next_hop,
        }
    }
}

struct Built {
    /// Held weakly, so the address cannot be reused by other candidates while this lives.
    candidates: Weak<Candidates>,
    context: ExportContext,
    decisions: Arc<Decisions>,
    table: Weak<OutTable>,
}

/// Tables kept findable; each costs its decisions (4 bytes a route) while a peer holds it.
const KEPT: usize = 16;

#[derive(Default)]
pub struct BuiltTables(Vec<Built>);

impl BuiltTables {
    /// A table some peer holds that was built from the same, with the decisions it was built
    /// from (to be shared rather than kept twice).
    pub fn find(
        &self,
        candidates: &Arc<Candidates>,
        context: &ExportContext,
        decisions: &Decisions,
    ) -> Option<(Arc<OutTable>, Arc<Decisions>)> {
        if decisions.has_fallback() {
            return None;
        }
        self.0
            .iter()
            .filter(|b| {
                Weak::ptr_eq(&b.candidates, &Arc::downgrade(candidates))
                    && b.context == *context
                    && *b.decisions == *decisions
            })
            .find_map(|b| Some((b.table.upgrade()?, b.decisions.clone())))
    }

    /// Remembers that `table` was built from these.
    pub fn insert(
        &mut self,
        candidates: &Arc<Candidates>,
        context: ExportContext,
        decisions: Arc<Decisions>,
        table: &Arc<OutTable>,
    ) {
        if decisions.has_fallback() {
            return;
        }
        self.0
            .retain(|b| b.table.strong_count() > 0 && b.candidates.strong_count() > 0);
        if self.0.len() == KEPT {
            self.0.remove(0);
        }
        self.0.push(Built {
            candidates: Arc::downgrade(candidates),
            context,
            decisions,
            table: Arc::downgrade(table),
        });
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OnError;
    use crate::policy::{Decision, Export};
    use crate::rib::{RouteTable, UpdateGroups};

    fn view(remote_asn: u32) -> PeerView {
        PeerView {
            name: "p".into(),
            address: "127.0.0.2".parse().unwrap(),
            local_address: "127.0.0.1".parse().unwrap(),
            local_asn: 64512,
            remote_asn,
            vendor: String::new(),
            hold_time: 90,
            families: vec![Family::Ipv6Unicast, Family::Ipv4Unicast],
            role: None,
            extended_next_hop: false,
        }
    }

    fn decisions(med: u32) -> Decisions {
        (0..3)
            .map(|i| {
                if i == 1 {
                    Decision::Skip
                } else {
                    Decision::Announce(Export {
                        med: Some(med),
                        ..Default::default()
                    })
                }
            })
            .collect()
    }

    #[test]
    fn only_the_same_decisions_in_the_same_context_find_a_table() {
        let candidates = Arc::new(Candidates::new(Vec::new()));
        let mut groups = UpdateGroups::default();
        let table = groups.share(RouteTable::default());
        let mut built = BuiltTables::default();
        let ebgp = ExportContext::new(&view(65001), DrainState::Off);
        let first = Arc::new(decisions(1));
        built.insert(&candidates, ebgp.clone(), first.clone(), &table);
        let found = built.find(&candidates, &ebgp, &decisions(1));
        assert!(found.is_some_and(|(t, d)| Arc::ptr_eq(&t, &table) && Arc::ptr_eq(&d, &first)));
        let mut other_peer = view(65002);
        other_peer.families.reverse();
        let alike = ExportContext::new(&other_peer, DrainState::Off);
        assert!(
            built.find(&candidates, &alike, &decisions(1)).is_some(),
            "another eBGP peer with the same families is alike"
        );
        assert!(built.find(&candidates, &ebgp, &decisions(2)).is_none());
        let ibgp = ExportContext::new(&view(64512), DrainState::Off);
        assert!(built.find(&candidates, &ibgp, &decisions(1)).is_none());
        let draining = ExportContext::new(&view(65001), DrainState::Announcing);
        assert!(built.find(&candidates, &draining, &decisions(1)).is_none());
        // A customer's routes carry our OTC (RFC 9234), a peer without a role's do not.
        let towards_customer = PeerView {
            role: Some(crate::wire::Role::Provider),
            ..view(65001)
        };
        let towards_customer = ExportContext::new(&towards_customer, DrainState::Off);
        assert!(built
            .find(&candidates, &towards_customer, &decisions(1))
            .is_none());
        let newer = Arc::new(Candidates::new(Vec::new()));
        assert!(
            built.find(&newer, &ebgp, &decisions(1)).is_none(),
            "other candidates"
        );
        drop(table);
        assert!(
            built.find(&candidates, &ebgp, &decisions(1)).is_none(),
            "no peer holds the table any more"
        );
    }

    #[test]
    fn an_evaluation_with_a_fallback_is_never_reused() {
        let candidates = Arc::new(Candidates::new(Vec::new()));
        let table = UpdateGroups::default().share(RouteTable::default());
        let fallback: Decisions = [Decision::Fallback {
            on_error: OnError::FailOpen,
            configured: Export::default(),
        }]
        .into_iter()
        .collect();
        let mut built = BuiltTables::default();
        let ctx = ExportContext::new(&view(65001), DrainState::Off);
        built.insert(&candidates, ctx.clone(), Arc::new(fallback.clone()), &table);
        assert!(built.is_empty());
        assert!(built.find(&candidates, &ctx, &fallback).is_none());
    }
}
