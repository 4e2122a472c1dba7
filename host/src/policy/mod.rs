//! The policy step between what the config wants announced and each peer's Adj-RIB-Out.
//!
//! A policy sees one peer and a *batch* of candidate routes and answers with one decision per
//! candidate: without plugins every route is announced as configured; with them the
//! `announcement-policy` and `community-tagger` plugins decide ([`plugins::evaluate`]). The
//! daemon runs this on a blocking worker, never on the session loop, so a slow policy cannot
//! delay a KEEPALIVE.
//!
//! The BGP export rules that are not a matter of taste (RFC 4271 §5.1: AS_PATH prepend and no
//! LOCAL_PREF towards eBGP peers, a next hop of the right family) are applied afterwards by
//! [`build_exports`], whatever the policy said; [`desired_routes`] turns an evaluation into
//! everything a peer should have.

pub mod decisions;
pub mod export;
pub mod plugins;
pub mod reuse;

pub use decisions::{Decisions, Source, Why};
pub use export::{
    build_exports, desired_routes, outcome_of_prefix, with_graceful_shutdown, DrainState,
};
pub use reuse::{BuiltTables, ExportContext};

use crate::config::{Announce, CommunityValue, OnError};
use crate::wire::{Family, LargeCommunity};
use std::net::IpAddr;

/// The peer a batch is evaluated for.
#[derive(Clone, Debug)]
pub struct PeerView {
    pub name: String,
    pub address: IpAddr,
    pub local_address: IpAddr,
    pub local_asn: u32,
    pub remote_asn: u32,
    pub vendor: String,
    pub hold_time: u16,
    /// Families negotiated on the session.
    pub families: Vec<Family>,
    /// Our BGP Role (RFC 9234) as the session negotiated it; `None` while it is down.
    pub role: Option<crate::wire::Role>,
    /// IPv4 routes may go with an IPv6 next hop (RFC 8950, negotiated).
    pub extended_next_hop: bool,
}

impl PeerView {
    pub fn is_ibgp(&self) -> bool {
        self.local_asn == self.remote_asn
    }
}

/// What to send for one candidate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    Skip,
    Announce(Export),
    /// A plugin failed: keep the route's last good outcome, or apply `on_error` if it has none.
    Fallback {
        on_error: OnError,
        configured: Export,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Export {
    pub next_hop: Option<IpAddr>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    /// Extra copies of our ASN on eBGP sessions.
    pub prepend: u8,
    /// Announce the covering prefix of this length instead.
    pub aggregate_len: Option<u8>,
    pub communities: Vec<u32>,
    pub large_communities: Vec<LargeCommunity>,
    pub ext_communities: Vec<u64>,
}

impl Export {
    /// The route exactly as the config describes it.
    pub fn configured(a: &Announce) -> Export {
        let mut e = Export {
            next_hop: a.attrs.next_hop,
            med: a.attrs.med,
            local_pref: a.attrs.local_pref,
            ..Default::default()
        };
        for c in &a.attrs.communities {
            match c {
                CommunityValue::Standard(v) => e.communities.push(*v),
                CommunityValue::Large(l) => e.large_communities.push(*l),
            }
        }
        e
    }
}
