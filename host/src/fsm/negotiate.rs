//! OPEN validation and capability negotiation (RFC 4271 §6.2, RFC 5492): what both sides can
//! do, as the per-session settings the codec and the RIB use.

use crate::wire::capability::GracefulRestartCap;
use crate::wire::notification::{code, open as sub};
use crate::wire::role::{self, Role};
use crate::wire::{
    Capability, CodecContext, Family, LongLivedCap, NextHopFamily, Notification, Open,
};
use std::net::Ipv4Addr;
use std::time::Duration;

/// The AS a peer must have: one number, or any of a kind (FRR's `remote-as external` and
/// `internal`, MetalLB's dynamic ASN), learned from its OPEN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteAs {
    Is(u32),
    /// Any AS but ours: eBGP.
    External,
    /// Ours: iBGP.
    Internal,
}

impl RemoteAs {
    /// Whether a peer whose OPEN says `asn` is the one configured, we being `local`.
    pub fn admits(self, asn: u32, local: u32) -> bool {
        match self {
            RemoteAs::Is(n) => asn == n,
            RemoteAs::External => asn != local,
            RemoteAs::Internal => asn == local,
        }
    }

    /// iBGP, known before the OPEN arrives.
    pub fn is_internal(self, local: u32) -> bool {
        match self {
            RemoteAs::Is(n) => n == local,
            RemoteAs::External => false,
            RemoteAs::Internal => true,
        }
    }

    /// The number, where the config gives it or the kind implies it (iBGP: ours).
    pub fn known(self, local: u32) -> Option<u32> {
        match self {
            RemoteAs::Is(n) => Some(n),
            RemoteAs::External => None,
            RemoteAs::Internal => Some(local),
        }
    }
}

impl std::fmt::Display for RemoteAs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteAs::Is(n) => write!(f, "{n}"),
            RemoteAs::External => f.write_str("external"),
            RemoteAs::Internal => f.write_str("internal"),
        }
    }
}

/// What we are configured to offer a peer, and expect of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalSettings {
    pub local_asn: u32,
    pub remote_as: RemoteAs,
    pub router_id: Ipv4Addr,
    /// Proposed hold time in seconds; 0 disables keepalives (RFC 4271 §4.2).
    pub hold_time: u16,
    pub families: Vec<Family>,
    /// The GR capability to advertise; `None` leaves it out of the OPEN.
    pub graceful_restart: Option<GracefulRestartCap>,
    /// The LLGR capability (RFC 9494); sent only beside the GR capability.
    pub long_lived: Option<LongLivedCap>,
    /// Send the OPEN's parameters in RFC 9072's extended encoding.
    pub extended_parameters: bool,
    /// Our BGP Role on this eBGP session (RFC 9234), sent as its capability.
    pub role: Option<Role>,
    /// Refuse a peer that sends no role (RFC 9234 §4.2 strict mode).
    pub strict_role: bool,
    /// Offer IPv4 unicast with IPv6 next hops (RFC 8950); only with IPv4 among `families`.
    pub extended_next_hop: bool,
}

impl LocalSettings {
    /// The settings an OPEN we sent was made from ([`open`](Self::open) read back), for a
    /// peer of `remote_as`: how a process taking a session over knows what was offered.
    pub fn from_open(open: &Open, remote_as: RemoteAs) -> LocalSettings {
        let mut s = LocalSettings {
            local_asn: open.asn(),
            remote_as,
            router_id: open.bgp_id,
            hold_time: open.hold_time,
            families: Vec::new(),
            graceful_restart: None,
            long_lived: None,
            extended_parameters: open.extended_parameters,
            role: None,
            // Strict mode is not in the OPEN; it mattered only while the session came up.
            strict_role: false,
            extended_next_hop: false,
        };
        for cap in &open.capabilities {
            match cap {
                Capability::Multiprotocol { afi, safi } => {
                    s.families.extend(Family::from_afi_safi(*afi, *safi))
                }
                Capability::GracefulRestart(gr) => s.graceful_restart = Some(gr.clone()),
                Capability::LongLivedGracefulRestart(ll) => s.long_lived = Some(ll.clone()),
                Capability::Role(v) => s.role = Role::from_value(*v),
                Capability::ExtendedNextHop(f) => {
                    s.extended_next_hop = f.contains(&NextHopFamily::IPV4_OVER_IPV6)
                }
                _ => {}
            }
        }
        s
    }

    pub fn is_ibgp(&self) -> bool {
        self.remote_as.is_internal(self.local_asn)
    }

    pub fn open(&self) -> Open {
        let mut caps: Vec<Capability> = self
            .families
            .iter()
            .map(|f| Capability::multiprotocol(*f))
            .collect();
        caps.extend([
            Capability::RouteRefresh,
            Capability::EnhancedRouteRefresh,
            Capability::FourOctetAs(self.local_asn),
            Capability::ExtendedMessage,
        ]);
        if self.extended_next_hop {
            caps.push(Capability::ExtendedNextHop(vec![
                NextHopFamily::IPV4_OVER_IPV6,
            ]));
        }
        // RFC 9234 §4: roles are for eBGP sessions only (the config refuses one on iBGP).
        if let Some(role) = self.role.filter(|_| !self.is_ibgp()) {
            caps.push(Capability::Role(role.value()));
        }
        if let Some(gr) = &self.graceful_restart {
            caps.push(Capability::GracefulRestart(gr.clone()));
            if let Some(ll) = &self.long_lived {
                caps.push(Capability::LongLivedGracefulRestart(ll.clone()));
            }
        }
        let mut open = Open::new(self.local_asn, self.hold_time, self.router_id, caps);
        open.extended_parameters = self.extended_parameters;
        open
    }
}

/// The outcome of a successful OPEN exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub remote_asn: u32,
    pub remote_id: Ipv4Addr,
    /// Zero when keepalives are disabled.
    pub hold_time: Duration,
    pub keepalive: Duration,
    pub codec: CodecContext,
    /// Families both sides announced (RFC 4760 §8); IPv4 unicast is implied by a peer that
    /// sends no Multiprotocol capability at all.
    pub families: Vec<Family>,
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    /// The peer's GR capability, when it sent one.
    pub peer_graceful_restart: Option<GracefulRestartCap>,
    /// Ours, as sent in this session's OPEN.
    pub local_graceful_restart: Option<GracefulRestartCap>,
    /// The peer's LLGR capability (RFC 9494), when it sent one.
    pub peer_long_lived: Option<LongLivedCap>,
    /// Ours, as sent in this session's OPEN.
    pub local_long_lived: Option<LongLivedCap>,
    /// Our role (RFC 9234) on this session, which the peer's agreed with, and the peer's
    /// (`None` when it sent no Role capability).
    pub local_role: Option<Role>,
    pub peer_role: Option<Role>,
    /// IPv4 unicast routes may carry IPv6 next hops both ways (RFC 8950: both sides listed
    /// the family).
    pub extended_next_hop: bool,
    /// What we offered in this session's OPEN (`show neighbors` compares it with the next).
    pub offered: LocalSettings,
}

impl Negotiated {
    /// A session with AS 65001 (identifier 192.0.2.2), hold time 90 s, 4-octet AS, route
    /// refresh, these families and GR capabilities: for the GR machines' tests.
    #[cfg(test)]
    pub fn example(
        families: Vec<Family>,
        peer_graceful_restart: Option<GracefulRestartCap>,
        local_graceful_restart: Option<GracefulRestartCap>,
    ) -> Negotiated {
        Negotiated {
            remote_asn: 65001,
            remote_id: Ipv4Addr::new(192, 0, 2, 2),
            hold_time: Duration::from_secs(90),
            keepalive: Duration::from_secs(30),
            codec: CodecContext {
                four_octet_as: true,
                extended_message: false,
                external: true,
            },
            route_refresh: true,
            enhanced_route_refresh: false,
            offered: LocalSettings {
                local_asn: 64512,
                remote_as: RemoteAs::Is(65001),
                router_id: Ipv4Addr::new(192, 0, 2, 1),
                hold_time: 90,
                families: families.clone(),
                graceful_restart: local_graceful_restart.clone(),
                long_lived: None,
                extended_parameters: false,
                role: None,
                strict_role: false,
                extended_next_hop: false,
            },
            families,
            peer_graceful_restart,
            local_graceful_restart,
            peer_long_lived: None,
            local_long_lived: None,
            local_role: None,
            peer_role: None,
            extended_next_hop: false,
        }
    }

    /// RFC 8538 §2: GR for NOTIFICATION applies only when both sides set N.
    pub fn notification_gr(&self) -> bool {
        let n = |g: &Option<GracefulRestartCap>| g.as_ref().is_some_and(|g| g.notification);
        n(&self.peer_graceful_restart) && n(&self.local_graceful_restart)
    }
}

/// Checks the peer's OPEN against our settings and negotiates (RFC 4271 §6.2).
pub fn negotiate(local: &LocalSettings, open: &Open) -> Result<Negotiated, Notification> {
    let remote_asn = open.asn();
    if !local.remote_as.admits(remote_asn, local.local_asn) {
        return Err(Notification::with_data(
            code::OPEN_MESSAGE,
            sub::BAD_PEER_AS,
            open.my_as.to_be_bytes(),
        ));
    }
    // RFC 6286 §2.2: non-zero, and different from ours within an AS.
    if open.bgp_id.is_unspecified() || (local.is_ibgp() && open.bgp_id == local.router_id) {
        return Err(Notification::new(
            code::OPEN_MESSAGE,
            sub::BAD_BGP_IDENTIFIER,
        ));
    }
    if open.hold_time == 1 || open.hold_time == 2 {
        return Err(Notification::with_data(
            code::OPEN_MESSAGE,
            sub::UNACCEPTABLE_HOLD_TIME,
            open.hold_time.to_be_bytes(),
        ));
    }
    let hold = local.hold_time.min(open.hold_time);
    let mut peer_families = Vec::new();
    let (mut rr, mut err, mut four, mut ext) = (false, false, false, false);
    let (mut gr, mut ll) = (None, None);
    let mut roles = Vec::new();
    let mut peer_enh = false;
    for cap in &open.capabilities {
        match cap {
            Capability::Multiprotocol { afi, safi } => {
                peer_families.extend(Family::from_afi_safi(*afi, *safi))
            }
            Capability::RouteRefresh => rr = true,
            Capability::EnhancedRouteRefresh => err = true,
            Capability::FourOctetAs(_) => four = true,
            Capability::ExtendedMessage => ext = true,
            Capability::GracefulRestart(g) => gr = Some(g.clone()),
            Capability::LongLivedGracefulRestart(l) => ll = Some(l.clone()),
            Capability::Role(v) => roles.push(*v),
            Capability::ExtendedNextHop(f) => {
                peer_enh |= f.contains(&NextHopFamily::IPV4_OVER_IPV6)
            }
            Capability::Unknown { .. } => {}
        }
    }
    let external = remote_asn != local.local_asn;
    let local_role = local.role.filter(|_| external);
    let peer_role = match local_role {
        Some(ours) => role::check(ours, local.strict_role, &roles).map_err(|_| {
            Notification::with_data(code::OPEN_MESSAGE, sub::ROLE_MISMATCH, roles.clone())
        })?,
        None => roles.first().and_then(|v| Role::from_value(*v)),
    };
    let sent_mp = open
        .capabilities
        .iter()
        .any(|c| matches!(c, Capability::Multiprotocol { .. }));
    if !sent_mp {
        peer_families.push(Family::Ipv4Unicast);
    }
    let families: Vec<Family> = local
        .families
        .iter()
        .copied()
        .filter(|f| peer_families.contains(f))
        .collect();
    let extended_next_hop =
        peer_enh && local.extended_next_hop && families.contains(&Family::Ipv4Unicast);
    Ok(Negotiated {
        remote_asn,
        remote_id: open.bgp_id,
        hold_time: Duration::from_secs(hold as u64),
        keepalive: Duration::from_secs(hold as u64 / 3),
        codec: CodecContext {
            four_octet_as: four,
            extended_message: ext,
            external,
        },
        families,
        route_refresh: rr || err,
        enhanced_route_refresh: err,
        peer_graceful_restart: gr.clone(),
        local_graceful_restart: local.graceful_restart.clone(),
        // RFC 9494 §4.1: LLGR without GR is ignored.
        peer_long_lived: ll.filter(|_| gr.is_some()),
        local_long_lived: local
            .long_lived
            .clone()
            .filter(|_| local.graceful_restart.is_some()),
        local_role,
        peer_role,
        extended_next_hop,
        offered: local.clone(),
    })
}
