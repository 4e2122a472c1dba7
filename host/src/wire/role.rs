//! BGP Role (RFC 9234): the role a speaker has on an eBGP session, sent as capability 9, and
//! the Only to Customer (OTC) attribute rules that keep a route from leaking back up or
//! sideways (§5). Pure: the codec reads and writes the values, the session and export code
//! apply [`ingress`] and [`egress`].
//!
//! ```text
//! Capability 9, length 1:  | Role (1): 0 Provider, 1 RS, 2 RS-Client, 3 Customer, 4 Peer |
//! Attribute 35 (optional transitive), length 4:  | AS number (4) |
//! ```
//! The role named in the config is ours (FRR's `local-role`, BIRD's `local role`); the peer's
//! must be the one that pairs with it (§4.2).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Provider,
    RouteServer,
    RouteServerClient,
    Customer,
    Peer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Provider,
        Role::RouteServer,
        Role::RouteServerClient,
        Role::Customer,
        Role::Peer,
    ];

    /// The capability value (RFC 9234 §4.1).
    pub fn value(self) -> u8 {
        match self {
            Role::Provider => 0,
            Role::RouteServer => 1,
            Role::RouteServerClient => 2,
            Role::Customer => 3,
            Role::Peer => 4,
        }
    }

    /// `None` for the values RFC 9234 leaves unassigned (5..=255).
    pub fn from_value(v: u8) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.value() == v)
    }

    /// The role the other side of the session must have (§4.2, Table 2).
    pub fn counterpart(self) -> Role {
        match self {
            Role::Provider => Role::Customer,
            Role::Customer => Role::Provider,
            Role::RouteServer => Role::RouteServerClient,
            Role::RouteServerClient => Role::RouteServer,
            Role::Peer => Role::Peer,
        }
    }

    /// The name used in the config file and in `show neighbors`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Provider => "provider",
            Role::RouteServer => "rs-server",
            Role::RouteServerClient => "rs-client",
            Role::Customer => "customer",
            Role::Peer => "peer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                format!(
                "unknown role `{s}` (expected provider, customer, peer, rs-server or rs-client)"
            )
            })
    }
}

/// Why the OPEN's roles refuse the session: both become NOTIFICATION 2/11 (§4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleMismatch {
    /// The peer's role does not pair with ours.
    Pair { local: Role, peer: Role },
    /// The peer sent Role capabilities with different values.
    Several,
    /// A value RFC 9234 does not assign (5..=255).
    Unassigned(u8),
    /// `strict_role`, and the peer sent none.
    Missing,
}

/// §4.2: the peer's role, from the values of the Role capabilities in its OPEN (`peer`), for
/// our role `local` and `strict` mode.
pub fn check(local: Role, strict: bool, peer: &[u8]) -> Result<Option<Role>, RoleMismatch> {
    let Some(&first) = peer.first() else {
        return if strict {
            Err(RoleMismatch::Missing)
        } else {
            Ok(None)
        };
    };
    // Several capabilities with one value count as one.
    if peer.iter().any(|v| *v != first) {
        return Err(RoleMismatch::Several);
    }
    match Role::from_value(first) {
        Some(r) if r == local.counterpart() => Ok(Some(r)),
        Some(r) => Err(RoleMismatch::Pair { local, peer: r }),
        // An unassigned value pairs with nothing.
        None => Err(RoleMismatch::Unassigned(first)),
    }
}

/// What the ingress rules (§5, 1-3) make of a route received from a peer we have `local` role
/// towards, of AS `peer_as`, carrying `otc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingress {
    Keep,
    /// Add OTC with this AS (rule 3: from a provider, a peer or a route server).
    SetOtc(u32),
    /// A route leak (rules 1 and 2): not eligible for selection.
    Leak,
}

pub fn ingress(local: Role, peer_as: u32, otc: Option<u32>) -> Ingress {
    match (local.counterpart(), otc) {
        // Rule 1: a customer or an RS client never sends a route that was only for customers.
        (Role::Customer | Role::RouteServerClient, Some(_)) => Ingress::Leak,
        // Rule 2: from a lateral peer, only its own OTC is fine.
        (Role::Peer, Some(asn)) if asn != peer_as => Ingress::Leak,
        (Role::Provider | Role::Peer | Role::RouteServer, None) => Ingress::SetOtc(peer_as),
        _ => Ingress::Keep,
    }
}

/// What the egress rules (§5, 1-2) make of a route carrying `otc` sent to a peer we have
/// `local` role towards, we being AS `local_as`: `None` if it must not be sent.
pub fn egress(local: Role, local_as: u32, otc: Option<u32>) -> Option<Option<u32>> {
    match (local.counterpart(), otc) {
        // Rule 1: a route with OTC goes down only, never to a provider, a peer or an RS.
        (Role::Provider | Role::Peer | Role::RouteServer, Some(_)) => None,
        // Rule 2: towards customers, peers and RS clients it is marked as on its way down.
        (Role::Customer | Role::Peer | Role::RouteServerClient, None) => Some(Some(local_as)),
        (_, otc) => Some(otc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::from_value(r.value()), Some(r));
            assert_eq!(r.name().parse::<Role>(), Ok(r));
            assert_eq!(r.counterpart().counterpart(), r);
        }
        assert_eq!(Role::from_value(5), None);
        assert!("upstream"
            .parse::<Role>()
            .unwrap_err()
            .contains("rs-client"));
    }

    #[test]
    fn the_open_pairs_roles_as_table_2_says() {
        use Role::*;
        for (local, peer, ok) in [
            (Provider, Customer, true),
            (Customer, Provider, true),
            (RouteServer, RouteServerClient, true),
            (RouteServerClient, RouteServer, true),
            (Peer, Peer, true),
            (Provider, Provider, false),
            (Customer, Peer, false),
            (Peer, Customer, false),
            (RouteServer, RouteServer, false),
        ] {
            let got = check(local, false, &[peer.value()]);
            assert_eq!(got.is_ok(), ok, "{local} with {peer}");
            if !ok {
                assert_eq!(got, Err(RoleMismatch::Pair { local, peer }));
            }
        }
        assert_eq!(check(Customer, false, &[]), Ok(None));
        assert_eq!(check(Customer, true, &[]), Err(RoleMismatch::Missing));
        assert_eq!(check(Customer, false, &[0, 0]), Ok(Some(Provider)));
        assert_eq!(check(Customer, false, &[0, 4]), Err(RoleMismatch::Several));
        assert_eq!(
            check(Customer, false, &[9]),
            Err(RoleMismatch::Unassigned(9))
        );
    }

    #[test]
    fn ingress_marks_leaks_and_sets_otc_on_routes_coming_down() {
        use Role::*;
        // We are the provider: our customer's routes must not carry OTC.
        assert_eq!(ingress(Provider, 65002, None), Ingress::Keep);
        assert_eq!(ingress(Provider, 65002, Some(65002)), Ingress::Leak);
        assert_eq!(ingress(RouteServer, 65002, Some(1)), Ingress::Leak);
        // A lateral peer may send its own OTC, no other.
        assert_eq!(ingress(Peer, 65002, Some(65002)), Ingress::Keep);
        assert_eq!(ingress(Peer, 65002, Some(65009)), Ingress::Leak);
        assert_eq!(ingress(Peer, 65002, None), Ingress::SetOtc(65002));
        // From our provider or a route server, routes come down and are marked so.
        assert_eq!(ingress(Customer, 65002, None), Ingress::SetOtc(65002));
        assert_eq!(ingress(Customer, 65002, Some(7)), Ingress::Keep);
        assert_eq!(
            ingress(RouteServerClient, 65002, None),
            Ingress::SetOtc(65002)
        );
    }

    #[test]
    fn egress_sends_otc_routes_down_only_and_marks_what_goes_down() {
        use Role::*;
        // Up to a provider, sideways to a peer, to a route server: never with OTC.
        assert_eq!(egress(Customer, 65001, Some(7)), None);
        assert_eq!(egress(Peer, 65001, Some(7)), None);
        assert_eq!(egress(RouteServerClient, 65001, Some(7)), None);
        assert_eq!(egress(Customer, 65001, None), Some(None));
        assert_eq!(egress(RouteServerClient, 65001, None), Some(None));
        // Down to a customer or an RS client, sideways to a peer: marked with our AS.
        assert_eq!(egress(Provider, 65001, None), Some(Some(65001)));
        assert_eq!(egress(Peer, 65001, None), Some(Some(65001)));
        assert_eq!(egress(RouteServer, 65001, None), Some(Some(65001)));
        assert_eq!(egress(Provider, 65001, Some(7)), Some(Some(7)));
    }
}
