//! Path attributes (RFC 4271 §4.3, §5) other than MP_REACH/MP_UNREACH, which live with the NLRI
//! in `update.rs`.
//!
//! ```text
//! +---------------------------+---------------------------+----------------------+
//! | Attr. Flags (1) | Type (1)| Length (1, or 2 if E bit) | Value (variable)     |
//! +---------------------------+---------------------------+----------------------+
//! ```
//! Decoding is split from error policy: each attribute parser says *what* is wrong, and
//! [`AttrErrorAction`] (RFC 7606 §7) says what that costs: the whole session, the route, or only
//! the attribute.

use super::iana::{attr_code, attr_flag, AS_TRANS};
use bytes::{BufMut, BytesMut};
use std::net::Ipv4Addr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AsSegment {
    Set(Vec<u32>),
    Sequence(Vec<u32>),
    /// RFC 5065 confederation segments, carried so they are not lost.
    ConfedSequence(Vec<u32>),
    ConfedSet(Vec<u32>),
}

impl AsSegment {
    fn type_code(&self) -> u8 {
        match self {
            AsSegment::Set(_) => 1,
            AsSegment::Sequence(_) => 2,
            AsSegment::ConfedSequence(_) => 3,
            AsSegment::ConfedSet(_) => 4,
        }
    }
    pub fn asns(&self) -> &[u32] {
        match self {
            AsSegment::Set(v)
            | AsSegment::Sequence(v)
            | AsSegment::ConfedSequence(v)
            | AsSegment::ConfedSet(v) => v,
        }
    }
    fn asns_mut(&mut self) -> &mut Vec<u32> {
        match self {
            AsSegment::Set(v)
            | AsSegment::Sequence(v)
            | AsSegment::ConfedSequence(v)
            | AsSegment::ConfedSet(v) => v,
        }
    }
    /// Contribution to the path length used by best-path selection and AS4 merging
    /// (RFC 4271 §9.1.2.2: a set counts 1; RFC 5065: confederation segments count 0).
    fn path_length(&self) -> usize {
        match self {
            AsSegment::Sequence(v) => v.len(),
            AsSegment::Set(_) => 1,
            _ => 0,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AsPath {
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    pub fn from_sequence(asns: Vec<u32>) -> Self {
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath {
            segments: vec![AsSegment::Sequence(asns)],
        }
    }

    pub fn path_length(&self) -> usize {
        self.segments.iter().map(AsSegment::path_length).sum()
    }

    /// The neighbouring AS: the first ASN of a leading AS_SEQUENCE.
    pub fn first_asn(&self) -> Option<u32> {
        match self.segments.first()? {
            AsSegment::Sequence(v) => v.first().copied(),
            _ => None,
        }
    }

    /// Prepends `asn` `count` times, starting a new sequence if the path starts with a set or a
    /// full (255) sequence.
    pub fn prepend(&mut self, asn: u32, count: usize) {
        for _ in 0..count {
            match self.segments.first_mut() {
                Some(AsSegment::Sequence(v)) if v.len() < 255 => v.insert(0, asn),
                _ => self.segments.insert(0, AsSegment::Sequence(vec![asn])),
            }
        }
    }

    pub fn asns(&self) -> impl Iterator<Item = u32> + '_ {
        self.segments.iter().flat_map(|s| s.asns().iter().copied())
    }

    fn needs_four_octets(&self) -> bool {
        self.asns().any(|a| a > u16::MAX as u32)
    }

    fn decode(v: &[u8], asn_len: usize) -> Option<AsPath> {
        let mut segments = Vec::new();
        let mut rest = v;
        while !rest.is_empty() {
            let [t, n, body @ ..] = rest else { return None };
            let n = *n as usize;
            // RFC 7606 §7.2: a zero-length segment or unknown type is malformed.
            if n == 0 || body.len() < n * asn_len {
                return None;
            }
            let asns: Vec<u32> = body[..n * asn_len]
                .chunks_exact(asn_len)
                .map(|c| {
                    if asn_len == 4 {
                        u32::from_be_bytes([c[0], c[1], c[2], c[3]])
                    } else {
                        u16::from_be_bytes([c[0], c[1]]) as u32
                    }
                })
                .collect();
            segments.push(match t {
                1 => AsSegment::Set(asns),
                2 => AsSegment::Sequence(asns),
                3 => AsSegment::ConfedSequence(asns),
                4 => AsSegment::ConfedSet(asns),
                _ => return None,
            });
            rest = &body[n * asn_len..];
        }
        Some(AsPath { segments })
    }

    fn encode(&self, out: &mut BytesMut, four_octet: bool) {
        for seg in &self.segments {
            // A segment holds at most 255 ASNs; longer ones are split.
            for chunk in seg.asns().chunks(255) {
                out.put_u8(seg.type_code());
                out.put_u8(chunk.len() as u8);
                for &a in chunk {
                    if four_octet {
                        out.put_u32(a);
                    } else {
                        out.put_u16(u16::try_from(a).unwrap_or(AS_TRANS));
                    }
                }
            }
        }
    }

    /// RFC 6793 §4.2.3: rebuild the real path from AS_PATH (2-octet, with AS_TRANS) and AS4_PATH.
    fn merge_as4(self, as4: AsPath) -> AsPath {
        let (n2, n4) = (self.path_length(), as4.path_length());
        if n4 > n2 {
            return self;
        }
        let mut keep = n2 - n4;
        let mut segments = Vec::new();
        for mut seg in self.segments {
            if keep == 0 {
                break;
            }
            let len = seg.path_length();
            if len <= keep {
                keep -= len;
                segments.push(seg);
            } else {
                seg.asns_mut().truncate(keep);
                keep = 0;
                segments.push(seg);
            }
        }
        segments.extend(as4.segments);
        AsPath { segments }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    pub global: u32,
    pub local1: u32,
    pub local2: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Aggregator {
    pub asn: u32,
    pub address: Ipv4Addr,
}

/// An attribute gracewire does not interpret, kept as is. Only optional transitive ones are
/// passed on, with the Partial bit set (RFC 4271 §5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    pub flags: u8,
    pub code: u8,
    pub value: Vec<u8>,
}

/// The path attributes of a route. `Hash`/`Eq` so that identical sets can be interned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathAttributes {
    pub origin: Option<Origin>,
    pub as_path: Option<AsPath>,
    pub next_hop: Option<Ipv4Addr>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    pub aggregator: Option<Aggregator>,
    pub communities: Vec<u32>,
    pub ext_communities: Vec<u64>,
    pub large_communities: Vec<LargeCommunity>,
    /// Only to Customer (RFC 9234 §5): the AS that sent the route down or sideways.
    pub otc: Option<u32>,
    pub unknown: Vec<RawAttribute>,
}

/// What a malformed attribute costs (RFC 7606 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttrErrorAction {
    /// Drop the attribute, keep the route.
    Discard,
    /// Keep the session, withdraw every prefix in the UPDATE.
    TreatAsWithdraw,
    /// Send NOTIFICATION and close.
    SessionReset,
}

/// Per-session facts the attribute codec needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttrContext {
    pub four_octet_as: bool,
    /// From an eBGP peer.
    pub external: bool,
}

/// Well-known attributes have O=0,T=1; optional ones O=1 and T as given (RFC 4271 §5).
fn expected_flags(code: u8) -> Option<u8> {
    use attr_code::*;
    use attr_flag::{OPTIONAL, TRANSITIVE};
    Some(match code {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => TRANSITIVE,
        MED | MP_REACH_NLRI | MP_UNREACH_NLRI => OPTIONAL,
        AGGREGATOR | COMMUNITIES | EXTENDED_COMMUNITIES | AS4_PATH | AS4_AGGREGATOR
        | LARGE_COMMUNITIES | OTC => OPTIONAL | TRANSITIVE,
        _ => return None,
    })
}

/// RFC 7606 §7: the action for a malformed instance of each attribute.
pub fn error_action(code: u8) -> AttrErrorAction {
    use attr_code::*;
    match code {
        ATOMIC_AGGREGATE | AGGREGATOR | AS4_PATH | AS4_AGGREGATOR => AttrErrorAction::Discard,
        MP_REACH_NLRI | MP_UNREACH_NLRI => AttrErrorAction::SessionReset,
        _ => AttrErrorAction::TreatAsWithdraw,
    }
}

/// Decodes one known non-MP attribute into `attrs`. `Err(())` means malformed; the caller
/// applies [`error_action`]. Unknown codes return `Ok(false)` so the caller decides.
pub(super) fn decode_known(
    attrs: &mut PathAttributes,
    as4: &mut As4Parts,
    flags: u8,
    code: u8,
    v: &[u8],
    ctx: AttrContext,
) -> Result<bool, ()> {
    use attr_code::*;
    if let Some(expected) = expected_flags(code) {
        if flags & (attr_flag::OPTIONAL | attr_flag::TRANSITIVE) != expected {
            return Err(());
        }
    }
    let u32_at = |v: &[u8]| u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
    match code {
        ORIGIN => {
            attrs.origin = Some(match v {
                [0] => Origin::Igp,
                [1] => Origin::Egp,
                [2] => Origin::Incomplete,
                _ => return Err(()),
            })
        }
        AS_PATH => {
            let asn_len = if ctx.four_octet_as { 4 } else { 2 };
            attrs.as_path = Some(AsPath::decode(v, asn_len).ok_or(())?);
        }
        NEXT_HOP => match v {
            // RFC 4271 §6.3: a next hop that is no host address (0.0.0.0, multicast, the
            // broadcast address) is semantically incorrect and the route is ignored: the
            // treat-as-withdraw of RFC 7606 §7.3.
            [a, b, c, d] => {
                let hop = Ipv4Addr::new(*a, *b, *c, *d);
                if hop.is_unspecified() || hop.is_multicast() || hop.is_broadcast() {
                    return Err(());
                }
                attrs.next_hop = Some(hop)
            }
            _ => return Err(()),
        },
        MED if v.len() == 4 => attrs.med = Some(u32_at(v)),
        // RFC 7606 §7.5: LOCAL_PREF from an eBGP peer is discarded, whatever its length.
        LOCAL_PREF if ctx.external => {}
        LOCAL_PREF if v.len() == 4 => attrs.local_pref = Some(u32_at(v)),
        ATOMIC_AGGREGATE if v.is_empty() => attrs.atomic_aggregate = true,
        AGGREGATOR => {
            let asn_len = if ctx.four_octet_as { 4 } else { 2 };
            if v.len() != asn_len + 4 {
                return Err(());
            }
            let asn = if asn_len == 4 {
                u32_at(v)
            } else {
                u16::from_be_bytes([v[0], v[1]]) as u32
            };
            let a = &v[asn_len..];
            attrs.aggregator = Some(Aggregator {
                asn,
                address: Ipv4Addr::new(a[0], a[1], a[2], a[3]),
            });
        }
        COMMUNITIES if !v.is_empty() && v.len() % 4 == 0 => {
            attrs.communities = v.chunks_exact(4).map(u32_at).collect()
        }
        EXTENDED_COMMUNITIES if !v.is_empty() && v.len() % 8 == 0 => {
            attrs.ext_communities = v
                .chunks_exact(8)
                .map(|c| u64::from_be_bytes(c.try_into().unwrap()))
                .collect()
        }
        LARGE_COMMUNITIES if !v.is_empty() && v.len() % 12 == 0 => {
            attrs.large_communities = v
                .chunks_exact(12)
                .map(|c| LargeCommunity {
                    global: u32_at(c),
                    local1: u32_at(&c[4..]),
                    local2: u32_at(&c[8..]),
                })
                .collect()
        }
        // RFC 9234 §5: any length but 4 is malformed (treat-as-withdraw).
        OTC if v.len() == 4 => attrs.otc = Some(u32_at(v)),
        // RFC 6793 §4.1: a 4-octet speaker ignores AS4_* from another 4-octet speaker.
        AS4_PATH if ctx.four_octet_as => {}
        AS4_AGGREGATOR if ctx.four_octet_as => {}
        AS4_PATH => as4.path = Some(AsPath::decode(v, 4).ok_or(())?),
        AS4_AGGREGATOR if v.len() == 8 => {
            as4.aggregator = Some(Aggregator {
                asn: u32_at(v),
                address: Ipv4Addr::new(v[4], v[5], v[6], v[7]),
            })
        }
        MED | LOCAL_PREF | ATOMIC_AGGREGATE | COMMUNITIES | EXTENDED_COMMUNITIES
        | LARGE_COMMUNITIES | AS4_AGGREGATOR | OTC => return Err(()),
        _ => return Ok(false),
    }
    Ok(true)
}

/// AS4_PATH / AS4_AGGREGATOR seen on a 2-octet session, merged once all attributes are read.
#[derive(Default)]
pub(super) struct As4Parts {
    pub path: Option<AsPath>,
    pub aggregator: Option<Aggregator>,
}

impl As4Parts {
    /// RFC 6793 §4.2.3.
    pub fn merge_into(self, attrs: &mut PathAttributes) {
        if let (Some(agg), Some(a4)) = (attrs.aggregator, self.aggregator) {
            if agg.asn != AS_TRANS as u32 {
                // The AGGREGATOR was set by a 2-octet speaker after aggregation: AS4_PATH
                // is then stale too and must be ignored.
                return;
            }
            attrs.aggregator = Some(a4);
        }
        // AS4_PATH without AS_PATH has nothing to merge into and is dropped.
        if let Some(p4) = self.path {
            attrs.as_path = attrs.as_path.take().map(|path| path.merge_as4(p4));
        }
    }
}

fn put_attr(out: &mut BytesMut, flags: u8, code: u8, value: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_u8(flags | attr_flag::EXTENDED_LENGTH);
    out.put_u8(code);
    out.put_u16(0);
    value(out);
    let len = out.len() - start - 4;
    if len <= 255 {
        // Use the short form when it fits: shift the value down by one byte.
        out[start] &= !attr_flag::EXTENDED_LENGTH;
        out[start + 2] = len as u8;
        out.copy_within(start + 4.., start + 3);
        out.truncate(out.len() - 1);
    } else if let Ok(len) = u16::try_from(len) {
        out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    } else {
        // Over 65,535 octets an attribute cannot be written (RFC 4271 §4.3): left out whole
        // rather than sent with a cut length that every peer would reset the session for.
        // Plugin tag sets and configs are bounded well below it, so this is a last guard.
        out.truncate(start);
    }
}

impl PathAttributes {
    /// Encodes every attribute except MP_REACH/MP_UNREACH, in type-code order. On a 2-octet
    /// session, ASNs above 65535 become AS_TRANS and AS4_PATH/AS4_AGGREGATOR carry the truth.
    pub fn encode(&self, out: &mut BytesMut, ctx: AttrContext) {
        use attr_code::*;
        use attr_flag::{OPTIONAL, PARTIAL, TRANSITIVE};
        if let Some(o) = self.origin {
            put_attr(out, TRANSITIVE, ORIGIN, |b| b.put_u8(o as u8));
        }
        let empty = AsPath::default();
        let path = self.as_path.as_ref().unwrap_or(&empty);
        if self.origin.is_some() || self.as_path.is_some() {
            put_attr(out, TRANSITIVE, AS_PATH, |b| {
                path.encode(b, ctx.four_octet_as)
            });
        }
        if let Some(nh) = self.next_hop {
            put_attr(out, TRANSITIVE, NEXT_HOP, |b| b.put_slice(&nh.octets()));
        }
        if let Some(med) = self.med {
            put_attr(out, OPTIONAL, MED, |b| b.put_u32(med));
        }
        if let Some(lp) = self.local_pref {
            put_attr(out, TRANSITIVE, LOCAL_PREF, |b| b.put_u32(lp));
        }
        if self.atomic_aggregate {
            put_attr(out, TRANSITIVE, ATOMIC_AGGREGATE, |_| {});
        }
        if let Some(agg) = self.aggregator {
            put_attr(out, OPTIONAL | TRANSITIVE, AGGREGATOR, |b| {
                if ctx.four_octet_as {
                    b.put_u32(agg.asn);
                } else {
                    b.put_u16(u16::try_from(agg.asn).unwrap_or(AS_TRANS));
                }
                b.put_slice(&agg.address.octets());
            });
        }
        if !self.communities.is_empty() {
            put_attr(out, OPTIONAL | TRANSITIVE, COMMUNITIES, |b| {
                self.communities.iter().for_each(|c| b.put_u32(*c))
            });
        }
        if !self.ext_communities.is_empty() {
            put_attr(out, OPTIONAL | TRANSITIVE, EXTENDED_COMMUNITIES, |b| {
                self.ext_communities.iter().for_each(|c| b.put_u64(*c))
            });
        }
        if !ctx.four_octet_as && path.needs_four_octets() {
            put_attr(out, OPTIONAL | TRANSITIVE, AS4_PATH, |b| {
                path.encode(b, true)
            });
        }
        if let Some(agg) = self
            .aggregator
            .filter(|a| !ctx.four_octet_as && a.asn > u16::MAX as u32)
        {
            put_attr(out, OPTIONAL | TRANSITIVE, AS4_AGGREGATOR, |b| {
                b.put_u32(agg.asn);
                b.put_slice(&agg.address.octets());
            });
        }
        if !self.large_communities.is_empty() {
            put_attr(out, OPTIONAL | TRANSITIVE, LARGE_COMMUNITIES, |b| {
                for c in &self.large_communities {
                    b.put_u32(c.global);
                    b.put_u32(c.local1);
                    b.put_u32(c.local2);
                }
            });
        }
        if let Some(asn) = self.otc {
            put_attr(out, OPTIONAL | TRANSITIVE, OTC, |b| b.put_u32(asn));
        }
        for raw in &self.unknown {
            // Only optional transitive attributes survive decoding; we did not originate them.
            put_attr(
                out,
                raw.flags & (OPTIONAL | TRANSITIVE) | PARTIAL,
                raw.code,
                |b| b.put_slice(&raw.value),
            );
        }
    }
}

#[cfg(test)]
mod length_tests {
    use super::*;

    /// Issue 24: past 64 KiB an attribute's length was cut by `as u16`; now the attribute is
    /// left out and what was written before it stays as it was.
    #[test]
    fn an_attribute_too_long_for_its_length_field_is_left_out_not_cut() {
        let mut out = BytesMut::from(&b"before"[..]);
        put_attr(&mut out, attr_flag::OPTIONAL, 8, |b| {
            b.put_slice(&vec![0u8; 70_000])
        });
        assert_eq!(&out[..], b"before");
        put_attr(&mut out, attr_flag::OPTIONAL, 8, |b| {
            b.put_slice(&[1u8; 300])
        });
        assert_eq!(out.len(), 6 + 4 + 300);
        assert_eq!(u16::from_be_bytes([out[8], out[9]]), 300);
    }
}
