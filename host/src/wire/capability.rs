//! Capabilities advertised in OPEN (RFC 5492).
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! | Capability Length (1 octet)  |
//! | Capability Value (variable)  |
//! +------------------------------+
//! ```
//! Unknown capabilities are kept as raw bytes: RFC 5492 §3 says a speaker must not refuse a
//! session over a capability it does not understand.

use super::iana::{cap_code, Family};
use super::long_lived::LongLivedCap;
use super::notification::{code, open, Notification};
use bytes::{BufMut, BytesMut};

/// Graceful Restart capability (RFC 4724 §3, RFC 8538 §2).
///
/// ```text
/// +--------------------------------------------------+
/// | Restart Flags (4 bits: R N . .)                  |
/// +--------------------------------------------------+
/// | Restart Time in seconds (12 bits)                |
/// +--------------------------------------------------+
/// | AFI (2) | SAFI (1) | Flags for AFI/SAFI (1: F .) |  repeated
/// +--------------------------------------------------+
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GracefulRestartCap {
    /// R: the sender has restarted and its peer must not wait for its End-of-RIB before
    /// advertising its own routes.
    pub restart_state: bool,
    /// N: the sender supports GR for NOTIFICATION messages (RFC 8538).
    pub notification: bool,
    /// Restart time in seconds (≤ 4095).
    pub restart_time: u16,
    /// Families with GR, each with the F bit (forwarding state preserved).
    pub families: Vec<GrFamily>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrFamily {
    pub afi: u16,
    pub safi: u8,
    pub forwarding_preserved: bool,
}

impl GrFamily {
    pub fn new(family: Family, forwarding_preserved: bool) -> GrFamily {
        let (afi, safi) = family.afi_safi();
        GrFamily {
            afi,
            safi,
            forwarding_preserved,
        }
    }

    pub fn family(&self) -> Option<Family> {
        Family::from_afi_safi(self.afi, self.safi)
    }
}

impl GracefulRestartCap {
    /// The F bit the peer set for `family`, or `None` when it did not list the family at all.
    pub fn forwarding_for(&self, family: Family) -> Option<bool> {
        self.families
            .iter()
            .find(|f| f.family() == Some(family))
            .map(|f| f.forwarding_preserved)
    }
}

/// One entry of the Extended Next Hop capability (RFC 8950 §3): routes of this NLRI family may
/// carry a next hop of that AFI.
///
/// ```text
/// | NLRI AFI (2) | NLRI SAFI (2) | Nexthop AFI (2) |   repeated
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHopFamily {
    pub nlri_afi: u16,
    pub nlri_safi: u16,
    pub next_hop_afi: u16,
}

impl NextHopFamily {
    /// IPv4 unicast with IPv6 next hops: the entry gracewire offers and looks for.
    pub const IPV4_OVER_IPV6: NextHopFamily = NextHopFamily {
        nlri_afi: super::iana::AFI_IPV4,
        nlri_safi: super::iana::SAFI_UNICAST as u16,
        next_hop_afi: super::iana::AFI_IPV6,
    };
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Capability {
    /// RFC 4760 §8: AFI (2), reserved (1), SAFI (1).
    Multiprotocol {
        afi: u16,
        safi: u8,
    },
    /// RFC 2918.
    RouteRefresh,
    /// RFC 7313.
    EnhancedRouteRefresh,
    /// RFC 6793.
    FourOctetAs(u32),
    GracefulRestart(GracefulRestartCap),
    /// RFC 9494.
    LongLivedGracefulRestart(LongLivedCap),
    /// RFC 8654.
    ExtendedMessage,
    /// RFC 8950.
    ExtendedNextHop(Vec<NextHopFamily>),
    /// RFC 9234: the sender's role, as sent (values 5..=255 are unassigned and refused by
    /// negotiation, not by the decoder).
    Role(u8),
    Unknown {
        code: u8,
        value: Vec<u8>,
    },
}

fn bad_length(cap: u8) -> Notification {
    // RFC 5492 does not name a subcode for a malformed capability; implementations use
    // OPEN error / unspecific (0) with the offending capability as data.
    Notification::with_data(code::OPEN_MESSAGE, 0, vec![cap])
}

impl Capability {
    pub fn multiprotocol(family: Family) -> Self {
        let (afi, safi) = family.afi_safi();
        Capability::Multiprotocol { afi, safi }
    }

    pub fn decode(cap: u8, v: &[u8]) -> Result<Capability, Notification> {
        Ok(match cap {
            cap_code::MULTIPROTOCOL => match v {
                [a, b, _, safi] => Capability::Multiprotocol {
                    afi: u16::from_be_bytes([*a, *b]),
                    safi: *safi,
                },
                _ => return Err(bad_length(cap)),
            },
            cap_code::ROUTE_REFRESH if v.is_empty() => Capability::RouteRefresh,
            cap_code::ENHANCED_ROUTE_REFRESH if v.is_empty() => Capability::EnhancedRouteRefresh,
            cap_code::EXTENDED_MESSAGE if v.is_empty() => Capability::ExtendedMessage,
            cap_code::EXTENDED_NEXT_HOP => {
                if v.is_empty() || v.len() % 6 != 0 {
                    return Err(bad_length(cap));
                }
                let u16_at = |c: &[u8], i: usize| u16::from_be_bytes([c[i], c[i + 1]]);
                Capability::ExtendedNextHop(
                    v.chunks_exact(6)
                        .map(|c| NextHopFamily {
                            nlri_afi: u16_at(c, 0),
                            nlri_safi: u16_at(c, 2),
                            next_hop_afi: u16_at(c, 4),
                        })
                        .collect(),
                )
            }
            cap_code::ROLE => match v {
                [role] => Capability::Role(*role),
                _ => return Err(bad_length(cap)),
            },
            cap_code::FOUR_OCTET_AS => match v {
                [a, b, c, d] => Capability::FourOctetAs(u32::from_be_bytes([*a, *b, *c, *d])),
                _ => return Err(bad_length(cap)),
            },
            // Lengths 2 (helper-only, no families), 6 (one family), 10 (two) ... all valid.
            cap_code::GRACEFUL_RESTART => {
                if v.len() < 2 || (v.len() - 2) % 4 != 0 {
                    return Err(bad_length(cap));
                }
                let head = u16::from_be_bytes([v[0], v[1]]);
                let families = v[2..]
                    .chunks_exact(4)
                    .map(|c| GrFamily {
                        afi: u16::from_be_bytes([c[0], c[1]]),
                        safi: c[2],
                        forwarding_preserved: c[3] & 0x80 != 0,
                    })
                    .collect();
                Capability::GracefulRestart(GracefulRestartCap {
                    restart_state: head & 0x8000 != 0,
                    notification: head & 0x4000 != 0,
                    restart_time: head & 0x0fff,
                    families,
                })
            }
            cap_code::LONG_LIVED_GRACEFUL_RESTART => match LongLivedCap::decode(v) {
                Some(ll) => Capability::LongLivedGracefulRestart(ll),
                None => return Err(bad_length(cap)),
            },
            cap_code::ROUTE_REFRESH
            | cap_code::ENHANCED_ROUTE_REFRESH
            | cap_code::EXTENDED_MESSAGE => return Err(bad_length(cap)),
            _ => Capability::Unknown {
                code: cap,
                value: v.to_vec(),
            },
        })
    }

    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol { .. } => cap_code::MULTIPROTOCOL,
            Capability::RouteRefresh => cap_code::ROUTE_REFRESH,
            Capability::EnhancedRouteRefresh => cap_code::ENHANCED_ROUTE_REFRESH,
            Capability::FourOctetAs(_) => cap_code::FOUR_OCTET_AS,
            Capability::GracefulRestart(_) => cap_code::GRACEFUL_RESTART,
            Capability::LongLivedGracefulRestart(_) => cap_code::LONG_LIVED_GRACEFUL_RESTART,
            Capability::ExtendedMessage => cap_code::EXTENDED_MESSAGE,
            Capability::Role(_) => cap_code::ROLE,
            Capability::ExtendedNextHop(_) => cap_code::EXTENDED_NEXT_HOP,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Appends code, length and value.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.code());
        let len_at = out.len();
        out.put_u8(0);
        match self {
            Capability::Multiprotocol { afi, safi } => {
                out.put_u16(*afi);
                out.put_u8(0);
                out.put_u8(*safi);
            }
            Capability::RouteRefresh
            | Capability::EnhancedRouteRefresh
            | Capability::ExtendedMessage => {}
            Capability::FourOctetAs(asn) => out.put_u32(*asn),
            Capability::Role(role) => out.put_u8(*role),
            Capability::ExtendedNextHop(families) => {
                for f in families {
                    out.put_u16(f.nlri_afi);
                    out.put_u16(f.nlri_safi);
                    out.put_u16(f.next_hop_afi);
                }
            }
            Capability::GracefulRestart(gr) => {
                let mut head = gr.restart_time.min(0x0fff);
                if gr.restart_state {
                    head |= 0x8000;
                }
                if gr.notification {
                    head |= 0x4000;
                }
                out.put_u16(head);
                for f in &gr.families {
                    out.put_u16(f.afi);
                    out.put_u8(f.safi);
                    out.put_u8(if f.forwarding_preserved { 0x80 } else { 0 });
                }
            }
            Capability::LongLivedGracefulRestart(ll) => ll.encode_value(out),
            Capability::Unknown { value, .. } => out.put_slice(value),
        }
        out[len_at] = (out.len() - len_at - 1) as u8;
    }
}

/// Decodes the Optional Parameters field of an OPEN (RFC 5492 §4): every parameter of type 2
/// holds one or more capabilities. Any other parameter type is refused with subcode 4.
/// Optional parameters of an OPEN; `extended`: RFC 9072's 2-octet parameter lengths.
pub fn decode_optional_parameters(
    mut params: &[u8],
    extended: bool,
) -> Result<Vec<Capability>, Notification> {
    let malformed = || Notification::new(code::OPEN_MESSAGE, 0);
    let mut caps = Vec::new();
    while !params.is_empty() {
        let (ptype, plen, rest) = match (extended, params) {
            (false, [t, l, rest @ ..]) => (t, *l as usize, rest),
            (true, [t, hi, lo, rest @ ..]) => (t, u16::from_be_bytes([*hi, *lo]) as usize, rest),
            _ => return Err(malformed()),
        };
        if rest.len() < plen {
            return Err(malformed());
        }
        let (mut body, tail) = rest.split_at(plen);
        params = tail;
        if *ptype != 2 {
            return Err(Notification::new(
                code::OPEN_MESSAGE,
                open::UNSUPPORTED_OPTIONAL_PARAMETER,
            ));
        }
        while !body.is_empty() {
            let [c, clen, crest @ ..] = body else {
                return Err(malformed());
            };
            let clen = *clen as usize;
            if crest.len() < clen {
                return Err(bad_length(*c));
            }
            caps.push(Capability::decode(*c, &crest[..clen])?);
            body = &crest[clen..];
        }
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(cap: &Capability) -> Vec<u8> {
        let mut out = BytesMut::new();
        cap.encode(&mut out);
        let back = Capability::decode(out[0], &out[2..]).unwrap();
        assert_eq!(&back, cap);
        assert_eq!(out[1] as usize, out.len() - 2);
        out.to_vec()
    }

    #[test]
    fn graceful_restart_lengths_2_6_and_10_all_parse() {
        // Length 2: a helper-only speaker (restart time, no families). A real implementation once
        // refused such peers.
        let c = Capability::decode(64, &[0x40, 0x78]).unwrap();
        let Capability::GracefulRestart(gr) = &c else {
            panic!()
        };
        assert!(!gr.restart_state && gr.notification);
        assert_eq!(gr.restart_time, 120);
        assert!(gr.families.is_empty());

        let c = Capability::decode(64, &[0x80, 0x5a, 0, 1, 1, 0x80]).unwrap();
        let Capability::GracefulRestart(gr) = &c else {
            panic!()
        };
        assert!(gr.restart_state && !gr.notification);
        assert_eq!(gr.restart_time, 90);
        assert_eq!(gr.forwarding_for(Family::Ipv4Unicast), Some(true));
        assert_eq!(gr.forwarding_for(Family::Ipv6Unicast), None);

        let c = Capability::decode(64, &[0x0f, 0xff, 0, 1, 1, 0, 0, 2, 1, 0x80]).unwrap();
        let Capability::GracefulRestart(gr) = &c else {
            panic!()
        };
        assert_eq!(gr.restart_time, 4095);
        assert_eq!(gr.forwarding_for(Family::Ipv4Unicast), Some(false));
        assert_eq!(gr.forwarding_for(Family::Ipv6Unicast), Some(true));

        assert!(Capability::decode(64, &[0x00]).is_err());
        assert!(Capability::decode(64, &[0, 0, 0, 1, 1]).is_err());
    }

    #[test]
    fn byte_vectors() {
        assert_eq!(
            round_trip(&Capability::multiprotocol(Family::Ipv6Unicast)),
            [1, 4, 0, 2, 0, 1]
        );
        assert_eq!(
            round_trip(&Capability::FourOctetAs(4_200_000_000)),
            [65, 4, 0xfa, 0x56, 0xea, 0]
        );
        assert_eq!(round_trip(&Capability::RouteRefresh), [2, 0]);
        assert_eq!(round_trip(&Capability::EnhancedRouteRefresh), [70, 0]);
        assert_eq!(round_trip(&Capability::ExtendedMessage), [6, 0]);
        // RFC 9234 §4.1: code 9, length 1, Customer = 3.
        assert_eq!(round_trip(&Capability::Role(3)), [9, 1, 3]);
        assert!(Capability::decode(9, &[]).is_err());
        assert!(Capability::decode(9, &[3, 3]).is_err());
        // RFC 8950 §3: IPv4 unicast over IPv6 next hops, as FRR sends it.
        assert_eq!(
            round_trip(&Capability::ExtendedNextHop(vec![
                NextHopFamily::IPV4_OVER_IPV6
            ])),
            [5, 6, 0, 1, 0, 1, 0, 2]
        );
        assert!(Capability::decode(5, &[]).is_err());
        assert!(Capability::decode(5, &[0, 1, 0, 1, 0]).is_err());
        let gr = Capability::GracefulRestart(GracefulRestartCap {
            restart_state: true,
            notification: true,
            restart_time: 120,
            families: vec![GrFamily {
                afi: 1,
                safi: 1,
                forwarding_preserved: true,
            }],
        });
        assert_eq!(round_trip(&gr), [64, 6, 0xc0, 0x78, 0, 1, 1, 0x80]);
        let unknown = Capability::Unknown {
            code: 73,
            value: b"host".to_vec(),
        };
        assert_eq!(round_trip(&unknown), [73, 4, b'h', b'o', b's', b't']);
    }

    #[test]
    fn optional_parameters_keep_unknown_and_refuse_other_types() {
        let params = [2, 6, 1, 4, 0, 1, 0, 1, 2, 2, 99, 0];
        let caps = decode_optional_parameters(&params, false).unwrap();
        assert_eq!(caps.len(), 2);
        assert_eq!(
            caps[1],
            Capability::Unknown {
                code: 99,
                value: vec![]
            }
        );
        let err = decode_optional_parameters(&[1, 0], false).unwrap_err();
        assert_eq!(err.subcode, open::UNSUPPORTED_OPTIONAL_PARAMETER);
        assert!(decode_optional_parameters(&[2, 5, 1, 4, 0], false).is_err());
    }
}
