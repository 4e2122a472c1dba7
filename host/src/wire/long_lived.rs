//! Long-lived Graceful Restart (RFC 9494): its capability and its two well-known communities.
//!
//! ```text
//! +--------------------------------------------------+
//! | AFI (2) | SAFI (1) | Flags (1: F . . . . . . .)  |
//! | Long-lived Stale Time in seconds (3)             |  repeated per family
//! +--------------------------------------------------+
//! ```

use super::iana::Family;
use bytes::{BufMut, BytesMut};

/// LLGR_STALE (RFC 9494 §4.3): the route is kept past its peer's restart time, least preferred.
pub const LLGR_STALE: u32 = 0xFFFF_0006;
/// NO_LLGR (RFC 9494 §4.4): the route must not be kept as long-lived stale.
pub const NO_LLGR: u32 = 0xFFFF_0007;
/// The stale time is 24 bits.
pub const MAX_STALE_TIME: u32 = 0x00FF_FFFF;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LongLivedCap {
    pub families: Vec<LongLivedFamily>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongLivedFamily {
    pub afi: u16,
    pub safi: u8,
    /// F: forwarding state preserved (RFC 9494 §3).
    pub forwarding_preserved: bool,
    /// Seconds the peer may keep the family's routes after its restart time (≤ 2^24 − 1).
    pub stale_time: u32,
}

impl LongLivedFamily {
    pub fn new(family: Family, forwarding_preserved: bool, stale_time: u32) -> Self {
        let (afi, safi) = family.afi_safi();
        LongLivedFamily {
            afi,
            safi,
            forwarding_preserved,
            stale_time: stale_time.min(MAX_STALE_TIME),
        }
    }

    pub fn family(&self) -> Option<Family> {
        Family::from_afi_safi(self.afi, self.safi)
    }
}

impl LongLivedCap {
    /// The family's entry, when the sender listed it with a stale time above zero (RFC 9494
    /// §4.2: a zero stale time means no long-lived retention for that family).
    pub fn for_family(&self, family: Family) -> Option<&LongLivedFamily> {
        self.families
            .iter()
            .find(|f| f.family() == Some(family) && f.stale_time > 0)
    }

    /// `None` when the length is not a multiple of 7.
    pub fn decode(v: &[u8]) -> Option<LongLivedCap> {
        if v.len() % 7 != 0 {
            return None;
        }
        let families = v
            .chunks_exact(7)
            .map(|c| LongLivedFamily {
                afi: u16::from_be_bytes([c[0], c[1]]),
                safi: c[2],
                forwarding_preserved: c[3] & 0x80 != 0,
                stale_time: u32::from_be_bytes([0, c[4], c[5], c[6]]),
            })
            .collect();
        Some(LongLivedCap { families })
    }

    pub fn encode_value(&self, out: &mut BytesMut) {
        for f in &self.families {
            out.put_u16(f.afi);
            out.put_u8(f.safi);
            out.put_u8(if f.forwarding_preserved { 0x80 } else { 0 });
            out.put_slice(&f.stale_time.min(MAX_STALE_TIME).to_be_bytes()[1..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Capability;

    #[test]
    fn byte_vector_and_round_trip() {
        let cap = Capability::LongLivedGracefulRestart(LongLivedCap {
            families: vec![
                LongLivedFamily::new(Family::Ipv4Unicast, true, 3600),
                LongLivedFamily::new(Family::Ipv6Unicast, false, MAX_STALE_TIME + 5),
            ],
        });
        let mut out = BytesMut::new();
        cap.encode(&mut out);
        assert_eq!(
            out.as_ref(),
            [71, 14, 0, 1, 1, 0x80, 0x00, 0x0e, 0x10, 0, 2, 1, 0, 0xff, 0xff, 0xff],
            "3600 s, and a time past 24 bits clamped"
        );
        let back = Capability::decode(71, &out[2..]).unwrap();
        let Capability::LongLivedGracefulRestart(ll) = &back else {
            panic!("{back:?}")
        };
        assert_eq!(ll.for_family(Family::Ipv4Unicast).unwrap().stale_time, 3600);
        assert_eq!(ll.families[1].stale_time, MAX_STALE_TIME);
    }

    #[test]
    fn empty_is_valid_a_zero_time_is_no_retention_and_a_bad_length_is_refused() {
        assert_eq!(LongLivedCap::decode(&[]).unwrap().families, vec![]);
        let zero = LongLivedCap::decode(&[0, 1, 1, 0x80, 0, 0, 0]).unwrap();
        assert!(zero.for_family(Family::Ipv4Unicast).is_none());
        assert!(Capability::decode(71, &[0, 1, 1, 0x80, 0, 0]).is_err());
    }
}
