//! What tests feed the daemon: config snippets, the OPEN a peer sends, UPDATEs.

use crate::wire::{
    AsPath, Capability, Family, GrFamily, GracefulRestartCap, MpReach, NextHop, Open, Origin,
    PathAttributes, Update,
};
use ipnet::IpNet;
use std::net::Ipv4Addr;

pub const V4: Family = Family::Ipv4Unicast;
pub const V6: Family = Family::Ipv6Unicast;
/// Unix time of every harness start.
pub const UNIX_START: u64 = 1_800_000_000;

/// `[global]` for AS 64512 with the given extra lines.
pub fn global(extra: &str) -> String {
    format!("[global]\nasn = 64512\nrouter_id = \"192.0.2.1\"\n{extra}\n")
}

/// A `[[peers]]` entry: `n` is the host number of 10.0.0.n.
pub fn peer(name: &str, n: u8, asn: u32, extra: &str) -> String {
    format!(
        "[[peers]]\nname = \"{name}\"\naddress = \"10.0.0.{n}\"\nasn = {asn}\nlocal_address = \"10.0.0.1\"\n{extra}\n"
    )
}

/// An `[[announce]]` entry.
pub fn announce(prefix: &str, extra: &str) -> String {
    format!("[[announce]]\nprefix = \"{prefix}\"\n{extra}\n")
}

pub fn net(s: &str) -> IpNet {
    s.parse().expect("a prefix")
}

/// The OPEN a test peer sends.
#[derive(Clone, Debug)]
pub struct PeerOpen {
    pub asn: u32,
    pub id: Ipv4Addr,
    pub families: Vec<Family>,
    pub gr: Option<GracefulRestartCap>,
    pub long_lived: Option<crate::wire::LongLivedCap>,
    pub enhanced_route_refresh: bool,
    pub route_refresh: bool,
    /// RFC 9234 Role capability values, as sent (a peer may send several).
    pub roles: Vec<u8>,
    /// RFC 8950: IPv4 unicast over IPv6 next hops.
    pub extended_next_hop: bool,
}

/// A peer with both families and no Graceful Restart.
pub fn open(asn: u32) -> PeerOpen {
    PeerOpen {
        asn,
        id: Ipv4Addr::new(192, 0, 2, (asn % 200) as u8 + 2),
        families: vec![V4, V6],
        gr: None,
        long_lived: None,
        enhanced_route_refresh: false,
        route_refresh: true,
        roles: Vec::new(),
        extended_next_hop: false,
    }
}

impl PeerOpen {
    /// Graceful Restart with N=1, R=0, F=1 for every family, this restart time.
    pub fn gr(mut self, restart_time: u16) -> Self {
        self.gr = Some(GracefulRestartCap {
            restart_state: false,
            notification: true,
            restart_time,
            families: self.families.iter().map(|f| gr_family(*f, true)).collect(),
        });
        self
    }

    /// Long-lived GR (RFC 9494) with F=1 and this stale time for every family.
    pub fn long_lived(mut self, stale_time: u32) -> Self {
        use crate::wire::{LongLivedCap, LongLivedFamily};
        self.long_lived = Some(LongLivedCap {
            families: self
                .families
                .iter()
                .map(|f| LongLivedFamily::new(*f, true, stale_time))
                .collect(),
        });
        self
    }

    /// R=1: the peer itself is restarting.
    pub fn restarting(mut self) -> Self {
        self.gr.as_mut().expect("gr first").restart_state = true;
        self
    }

    pub fn without_n(mut self) -> Self {
        self.gr.as_mut().expect("gr first").notification = false;
        self
    }

    /// The F bit for `family` (which stays listed).
    pub fn forwarding(mut self, family: Family, kept: bool) -> Self {
        let gr = self.gr.as_mut().expect("gr first");
        gr.families.retain(|f| f.family() != Some(family));
        gr.families.push(gr_family(family, kept));
        self
    }

    pub fn families(mut self, families: &[Family]) -> Self {
        self.families = families.to_vec();
        if let Some(gr) = self.gr.as_mut() {
            gr.families
                .retain(|f| f.family().is_some_and(|x| families.contains(&x)));
        }
        self
    }

    /// RFC 7313 enhanced route refresh.
    pub fn enhanced_route_refresh(mut self) -> Self {
        self.enhanced_route_refresh = true;
        self
    }

    /// The peer's BGP Role (RFC 9234).
    pub fn role(mut self, role: crate::wire::Role) -> Self {
        self.roles.push(role.value());
        self
    }

    /// The Extended Next Hop capability for IPv4 unicast (RFC 8950).
    pub fn extended_next_hop(mut self) -> Self {
        self.extended_next_hop = true;
        self
    }

    /// No route refresh capability at all.
    pub fn without_route_refresh(mut self) -> Self {
        self.route_refresh = false;
        self
    }

    pub fn build(&self) -> Open {
        let mut caps: Vec<Capability> = self
            .families
            .iter()
            .map(|f| Capability::multiprotocol(*f))
            .collect();
        if self.route_refresh {
            caps.push(Capability::RouteRefresh);
        }
        if self.enhanced_route_refresh {
            caps.push(Capability::EnhancedRouteRefresh);
        }
        caps.push(Capability::FourOctetAs(self.asn));
        caps.extend(self.roles.iter().map(|r| Capability::Role(*r)));
        if self.extended_next_hop {
            caps.push(Capability::ExtendedNextHop(vec![
                crate::wire::NextHopFamily::IPV4_OVER_IPV6,
            ]));
        }
        if let Some(gr) = &self.gr {
            caps.push(Capability::GracefulRestart(gr.clone()));
        }
        if let Some(ll) = &self.long_lived {
            caps.push(Capability::LongLivedGracefulRestart(ll.clone()));
        }
        Open::new(self.asn, 90, self.id, caps)
    }
}

fn gr_family(f: Family, forwarding_preserved: bool) -> GrFamily {
    GrFamily::new(f, forwarding_preserved)
}

/// An UPDATE announcing `prefixes` (one family) from AS path `path`.
pub fn route(prefixes: &[&str], path: &[u32]) -> Update {
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(path.to_vec())),
        ..Default::default()
    };
    let nets: Vec<IpNet> = prefixes.iter().map(|p| net(p)).collect();
    match nets.first() {
        Some(IpNet::V6(_)) => Update {
            attributes: attrs,
            mp_reach: Some(MpReach {
                family: V6,
                next_hop: NextHop::V6 {
                    global: "2001:db8::2".parse().unwrap(),
                    link_local: None,
                },
                nlri: nets,
            }),
            ..Default::default()
        },
        _ => Update {
            attributes: PathAttributes {
                next_hop: Some(Ipv4Addr::new(10, 0, 0, 2)),
                ..attrs
            },
            nlri: nets
                .into_iter()
                .filter_map(|n| match n {
                    IpNet::V4(v4) => Some(v4),
                    IpNet::V6(_) => None,
                })
                .collect(),
            ..Default::default()
        },
    }
}

/// An UPDATE withdrawing IPv4 `prefixes`.
pub fn withdraw(prefixes: &[&str]) -> Update {
    Update {
        withdrawn: prefixes
            .iter()
            .filter_map(|p| match net(p) {
                IpNet::V4(v4) => Some(v4),
                IpNet::V6(_) => None,
            })
            .collect(),
        ..Default::default()
    }
}
