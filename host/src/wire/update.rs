//! UPDATE message (RFC 4271 §4.3) with MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760) and the
//! error handling of RFC 7606.
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! |   Withdrawn Routes (variable)                       |
//! |   Total Path Attribute Length (2 octets)            |
//! |   Path Attributes (variable)                        |
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```

use super::attribute::{
    decode_known, error_action, As4Parts, AttrContext, AttrErrorAction, PathAttributes,
    RawAttribute,
};
use super::iana::{attr_code, attr_flag, Family};
use super::notification::{code, update as sub, Notification};
use bytes::{BufMut, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NextHop {
    V4(Ipv4Addr),
    /// RFC 2545 §3: a global address, optionally followed by a link-local one.
    V6 {
        global: Ipv6Addr,
        link_local: Option<Ipv6Addr>,
    },
}

impl NextHop {
    pub fn addr(&self) -> IpAddr {
        match self {
            NextHop::V4(a) => IpAddr::V4(*a),
            NextHop::V6 { global, .. } => IpAddr::V6(*global),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MpReach {
    pub family: Family,
    pub next_hop: NextHop,
    pub nlri: Vec<IpNet>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MpUnreach {
    pub family: Family,
    pub withdrawn: Vec<IpNet>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Update {
    pub withdrawn: Vec<Ipv4Net>,
    pub attributes: PathAttributes,
    pub nlri: Vec<Ipv4Net>,
    pub mp_reach: Option<MpReach>,
    pub mp_unreach: Option<MpUnreach>,
    /// RFC 7606 treat-as-withdraw: set by decoding (malformed attribute) or by session checks.
    /// When set, every prefix in the message is to be handled as withdrawn.
    pub treat_as_withdraw: Option<TreatAsWithdraw>,
    /// Attribute codes dropped under RFC 7606 attribute-discard.
    pub discarded: Vec<u8>,
}

/// Why every prefix of an UPDATE is handled as withdrawn (RFC 7606 §2), as a value the daemon can
/// match on rather than a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreatAsWithdraw {
    /// RFC 7606 §4: the attribute list ends inside an attribute header.
    TruncatedAttributeHeader,
    /// RFC 7606 §4: the attribute list ends inside an attribute length.
    TruncatedAttributeLength,
    /// RFC 7606 §4: an attribute's length runs past the attribute field.
    AttributeOverrun { code: u8 },
    /// RFC 7606 §7: an attribute whose error handling is treat-as-withdraw is malformed.
    MalformedAttribute { code: u8 },
    /// RFC 7606 §3.d: a well-known mandatory attribute is missing.
    MissingWellKnown(&'static str),
    /// RFC 7606 §7.2 / RFC 4271 §6.3: an eBGP path must start with the peer's AS.
    FirstAsNotPeer { peer_as: u32 },
    /// RFC 4271 §9.1.2: the path holds our own AS, the route has looped back to us. Not an
    /// error: routers see their own routes come back all the time.
    OwnAsInPath,
    /// RFC 7606 §7.11 (RFC 4760 §6): MP_REACH_NLRI for a family the session did not negotiate.
    FamilyNotNegotiated(Family),
    /// RFC 9234 §5: the route's OTC says it was meant only for customers, and it came from a
    /// customer, an RS client, or a peer other than the one that set it. Such a route is not
    /// eligible for selection; gracewire keeps no ineligible paths, so it goes as a withdrawal
    /// does.
    RouteLeak { otc: u32 },
    /// RFC 8950 §4: IPv4 routes with an IPv6 next hop on a session that did not negotiate the
    /// Extended Next Hop capability.
    NextHopNotNegotiated,
}

impl TreatAsWithdraw {
    /// A loop is normal routing, not a malformed message: not worth a warning.
    pub fn is_error(&self) -> bool {
        *self != TreatAsWithdraw::OwnAsInPath
    }
}

impl std::fmt::Display for TreatAsWithdraw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TreatAsWithdraw::TruncatedAttributeHeader => {
                write!(f, "truncated path attribute header")
            }
            TreatAsWithdraw::TruncatedAttributeLength => {
                write!(f, "truncated path attribute length")
            }
            TreatAsWithdraw::AttributeOverrun { code } => {
                write!(f, "attribute {code} overruns the message")
            }
            TreatAsWithdraw::MalformedAttribute { code } => {
                write!(f, "malformed path attribute {code}")
            }
            TreatAsWithdraw::MissingWellKnown(name) => {
                write!(f, "missing well-known attribute {name}")
            }
            TreatAsWithdraw::FirstAsNotPeer { peer_as } => {
                write!(f, "AS_PATH does not start with the peer's AS {peer_as}")
            }
            TreatAsWithdraw::OwnAsInPath => write!(f, "AS_PATH contains our own AS (loop)"),
            TreatAsWithdraw::NextHopNotNegotiated => write!(
                f,
                "IPv4 routes with an IPv6 next hop, and Extended Next Hop (RFC 8950) was not negotiated"
            ),
            TreatAsWithdraw::RouteLeak { otc } => {
                write!(
                    f,
                    "route leak: Only to Customer {otc}, not for us (RFC 9234)"
                )
            }
            TreatAsWithdraw::FamilyNotNegotiated(family) => {
                write!(f, "{family} was not negotiated")
            }
        }
    }
}

fn invalid_network() -> Notification {
    Notification::new(code::UPDATE_MESSAGE, sub::INVALID_NETWORK_FIELD)
}

fn malformed_list() -> Notification {
    Notification::new(code::UPDATE_MESSAGE, sub::MALFORMED_ATTRIBUTE_LIST)
}

/// Decodes a run of (length, prefix) NLRI entries (RFC 4271 §4.3). Host bits beyond the length
/// are cleared so equal prefixes compare equal.
pub fn decode_prefixes(mut v: &[u8], family: Family) -> Result<Vec<IpNet>, Notification> {
    let max_len = match family {
        Family::Ipv4Unicast => 32,
        Family::Ipv6Unicast => 128,
    };
    let mut out = Vec::with_capacity(v.len() / 4);
    while let [len, rest @ ..] = v {
        let len = *len;
        let n = (len as usize).div_ceil(8);
        if len > max_len || rest.len() < n {
            return Err(invalid_network());
        }
        let prefix = match family {
            Family::Ipv4Unicast => {
                let mut o = [0u8; 4];
                o[..n].copy_from_slice(&rest[..n]);
                IpNet::V4(Ipv4Net::new(o.into(), len).unwrap().trunc())
            }
            Family::Ipv6Unicast => {
                let mut o = [0u8; 16];
                o[..n].copy_from_slice(&rest[..n]);
                IpNet::V6(Ipv6Net::new(o.into(), len).unwrap().trunc())
            }
        };
        out.push(prefix);
        v = &rest[n..];
    }
    Ok(out)
}

pub fn encode_prefix(p: &IpNet, out: &mut BytesMut) {
    let len = p.prefix_len();
    let n = (len as usize).div_ceil(8);
    out.put_u8(len);
    match p {
        IpNet::V4(p) => out.put_slice(&p.network().octets()[..n]),
        IpNet::V6(p) => out.put_slice(&p.network().octets()[..n]),
    }
}

/// Encoded size of one prefix in NLRI.
pub fn prefix_wire_len(p: &IpNet) -> usize {
    1 + (p.prefix_len() as usize).div_ceil(8)
}

fn v4_only(prefixes: Vec<IpNet>) -> Vec<Ipv4Net> {
    prefixes
        .into_iter()
        .filter_map(|p| match p {
            IpNet::V4(p) => Some(p),
            IpNet::V6(_) => None,
        })
        .collect()
}

fn decode_mp_family(v: &[u8]) -> Option<(Option<Family>, &[u8])> {
    if v.len() < 3 {
        return None;
    }
    let afi = u16::from_be_bytes([v[0], v[1]]);
    Some((Family::from_afi_safi(afi, v[2]), &v[3..]))
}

/// MP_REACH_NLRI (RFC 4760 §3). `Ok(None)` for a family we do not speak: ignored, not fatal.
fn decode_mp_reach(v: &[u8]) -> Result<Option<MpReach>, ()> {
    let (family, rest) = decode_mp_family(v).ok_or(())?;
    let [nh_len, rest @ ..] = rest else {
        return Err(());
    };
    let nh_len = *nh_len as usize;
    if rest.len() < nh_len + 1 {
        return Err(());
    }
    let (nh, rest) = rest.split_at(nh_len);
    let nlri = &rest[1..]; // skip the reserved octet
    let Some(family) = family else {
        return Ok(None);
    };
    let next_hop = match (family, nh_len) {
        (Family::Ipv4Unicast, 4) => NextHop::V4(Ipv4Addr::new(nh[0], nh[1], nh[2], nh[3])),
        // RFC 8950 §3: IPv4 routes with an IPv6 next hop, laid out as RFC 2545's. Whether the
        // session negotiated it is the session's check, not the codec's.
        (_, 16) => NextHop::V6 {
            global: <[u8; 16]>::try_from(nh).unwrap().into(),
            link_local: None,
        },
        (_, 32) => NextHop::V6 {
            global: <[u8; 16]>::try_from(&nh[..16]).unwrap().into(),
            link_local: Some(<[u8; 16]>::try_from(&nh[16..]).unwrap().into()),
        },
        _ => return Err(()),
    };
    let nlri = decode_prefixes(nlri, family).map_err(|_| ())?;
    Ok(Some(MpReach {
        family,
        next_hop,
        nlri,
    }))
}

fn decode_mp_unreach(v: &[u8]) -> Result<Option<MpUnreach>, ()> {
    let (family, rest) = decode_mp_family(v).ok_or(())?;
    let Some(family) = family else {
        return Ok(None);
    };
    let withdrawn = decode_prefixes(rest, family).map_err(|_| ())?;
    Ok(Some(MpUnreach { family, withdrawn }))
}

impl Update {
    /// Decodes an UPDATE body. `Err` is a NOTIFICATION to send (session reset); RFC 7606
    /// non-fatal outcomes are reported in `treat_as_withdraw` and `discarded`.
    pub fn decode(body: &[u8], ctx: AttrContext) -> Result<Update, Notification> {
        if body.len() < 4 {
            return Err(malformed_list());
        }
        let wlen = u16::from_be_bytes([body[0], body[1]]) as usize;
        if body.len() < 2 + wlen + 2 {
            return Err(malformed_list());
        }
        let withdrawn = v4_only(decode_prefixes(&body[2..2 + wlen], Family::Ipv4Unicast)?);
        let alen_at = 2 + wlen;
        let alen = u16::from_be_bytes([body[alen_at], body[alen_at + 1]]) as usize;
        let attrs_start = alen_at + 2;
        // RFC 7606 §4: an overrunning Total Path Attribute Length leaves the NLRI unlocatable.
        if body.len() < attrs_start + alen {
            return Err(malformed_list());
        }
        let nlri = v4_only(decode_prefixes(
            &body[attrs_start + alen..],
            Family::Ipv4Unicast,
        )?);
        let mut update = Update {
            withdrawn,
            nlri,
            ..Default::default()
        };
        update.decode_attributes(&body[attrs_start..attrs_start + alen], ctx)?;
        update.check_mandatory();
        Ok(update)
    }

    fn decode_attributes(&mut self, mut v: &[u8], ctx: AttrContext) -> Result<(), Notification> {
        let mut seen = [false; 256];
        let mut as4 = As4Parts::default();
        let mut worst: Option<(AttrErrorAction, u8)> = None;
        while !v.is_empty() {
            let [flags, code, rest @ ..] = v else {
                // A trailing single octet: the list itself is malformed (§4: treat-as-withdraw).
                self.treat_as_withdraw = Some(TreatAsWithdraw::TruncatedAttributeHeader);
                return Ok(());
            };
            let (flags, code) = (*flags, *code);
            let ext = flags & attr_flag::EXTENDED_LENGTH != 0;
            let (len, rest) = match (ext, rest) {
                (true, [a, b, r @ ..]) => (u16::from_be_bytes([*a, *b]) as usize, r),
                (false, [a, r @ ..]) => (*a as usize, r),
                _ => {
                    self.treat_as_withdraw = Some(TreatAsWithdraw::TruncatedAttributeLength);
                    return Ok(());
                }
            };
            if rest.len() < len {
                // RFC 7606 §4: attribute overruns the attribute field.
                if code == attr_code::MP_REACH_NLRI || code == attr_code::MP_UNREACH_NLRI {
                    return Err(Notification::new(
                        code::UPDATE_MESSAGE,
                        sub::ATTRIBUTE_LENGTH,
                    ));
                }
                self.treat_as_withdraw = Some(TreatAsWithdraw::AttributeOverrun { code });
                return Ok(());
            }
            let (value, tail) = rest.split_at(len);
            v = tail;
            if seen[code as usize] {
                // RFC 7606 §3.g: repeated MP attributes reset; others: keep the first.
                if code == attr_code::MP_REACH_NLRI || code == attr_code::MP_UNREACH_NLRI {
                    return Err(malformed_list());
                }
                continue;
            }
            seen[code as usize] = true;
            let result = match code {
                attr_code::MP_REACH_NLRI => decode_mp_reach(value).map(|r| {
                    self.mp_reach = r;
                    true
                }),
                attr_code::MP_UNREACH_NLRI => decode_mp_unreach(value).map(|r| {
                    self.mp_unreach = r;
                    true
                }),
                _ => decode_known(&mut self.attributes, &mut as4, flags, code, value, ctx),
            };
            match result {
                Ok(true) => {}
                Ok(false) => {
                    if flags & attr_flag::OPTIONAL == 0 {
                        // Unrecognized well-known attribute (RFC 4271 §6.3).
                        let mut data = vec![flags, code];
                        data.extend_from_slice(value);
                        return Err(Notification::with_data(
                            code::UPDATE_MESSAGE,
                            sub::UNRECOGNIZED_WELL_KNOWN,
                            data,
                        ));
                    }
                    if flags & attr_flag::TRANSITIVE != 0 {
                        self.attributes.unknown.push(RawAttribute {
                            flags: flags & !attr_flag::EXTENDED_LENGTH,
                            code,
                            value: value.to_vec(),
                        });
                    }
                }
                Err(()) => {
                    let action = error_action(code);
                    if action == AttrErrorAction::SessionReset {
                        return Err(Notification::new(
                            code::UPDATE_MESSAGE,
                            sub::OPTIONAL_ATTRIBUTE,
                        ));
                    }
                    if worst.is_none_or(|(a, _)| action > a) {
                        worst = Some((action, code));
                    }
                    if action == AttrErrorAction::Discard {
                        self.discarded.push(code);
                    }
                }
            }
        }
        if let Some((AttrErrorAction::TreatAsWithdraw, code)) = worst {
            self.treat_as_withdraw = Some(TreatAsWithdraw::MalformedAttribute { code });
        }
        if !ctx.four_octet_as {
            as4.merge_into(&mut self.attributes);
        }
        Ok(())
    }

    /// RFC 7606 §3.d: a missing well-known mandatory attribute means treat-as-withdraw.
    fn check_mandatory(&mut self) {
        if self.treat_as_withdraw.is_some() {
            return;
        }
        let carries_routes =
            !self.nlri.is_empty() || self.mp_reach.as_ref().is_some_and(|m| !m.nlri.is_empty());
        if !carries_routes {
            return;
        }
        let a = &self.attributes;
        let missing = if a.origin.is_none() {
            Some("ORIGIN")
        } else if a.as_path.is_none() {
            Some("AS_PATH")
        } else if !self.nlri.is_empty() && a.next_hop.is_none() {
            Some("NEXT_HOP")
        } else {
            None
        };
        if let Some(name) = missing {
            self.treat_as_withdraw = Some(TreatAsWithdraw::MissingWellKnown(name));
        }
    }

    /// The family this UPDATE ends the initial table of (RFC 4724 §2), if it is an End-of-RIB.
    pub fn end_of_rib(&self) -> Option<Family> {
        let no_attrs = self.attributes == PathAttributes::default();
        if self.withdrawn.is_empty() && self.nlri.is_empty() && self.mp_reach.is_none() {
            match &self.mp_unreach {
                None if no_attrs => return Some(Family::Ipv4Unicast),
                Some(u) if u.withdrawn.is_empty() => return Some(u.family),
                _ => {}
            }
        }
        None
    }

    /// The End-of-RIB marker for `family`: an empty UPDATE for IPv4 unicast, an empty
    /// MP_UNREACH_NLRI for any other family.
    pub fn end_of_rib_marker(family: Family) -> Update {
        match family {
            Family::Ipv4Unicast => Update::default(),
            _ => Update {
                mp_unreach: Some(MpUnreach {
                    family,
                    withdrawn: Vec::new(),
                }),
                ..Default::default()
            },
        }
    }

    /// Every prefix this UPDATE makes reachable, with its family.
    pub fn announced(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.nlri
            .iter()
            .map(|p| IpNet::V4(*p))
            .chain(self.mp_reach.iter().flat_map(|m| m.nlri.iter().copied()))
    }

    /// What this UPDATE makes reachable, as the RIB holds it: the path attributes without
    /// NEXT_HOP, and each next hop with its prefixes (the IPv4 NLRI with NEXT_HOP, then
    /// MP_REACH_NLRI's, RFC 4760 §3). Empty groups are left out.
    pub fn into_reachable(mut self) -> (PathAttributes, Vec<(NextHop, Vec<IpNet>)>) {
        let mut path = std::mem::take(&mut self.attributes);
        let mut groups = Vec::new();
        if let Some(v4) = path.next_hop.take().filter(|_| !self.nlri.is_empty()) {
            let prefixes = self.nlri.into_iter().map(IpNet::V4).collect();
            groups.push((NextHop::V4(v4), prefixes));
        }
        if let Some(m) = self.mp_reach {
            groups.push((m.next_hop, m.nlri));
        }
        (path, groups)
    }

    /// The families this UPDATE announces routes of.
    pub fn announced_families(&self) -> Vec<Family> {
        let mut out = Vec::new();
        if !self.nlri.is_empty() {
            out.push(Family::Ipv4Unicast);
        }
        if let Some(m) = self.mp_reach.as_ref().filter(|m| !m.nlri.is_empty()) {
            if !out.contains(&m.family) {
                out.push(m.family);
            }
        }
        out
    }

    /// Every prefix this UPDATE withdraws, counting treat-as-withdraw.
    pub fn withdrawals(&self) -> Vec<IpNet> {
        let mut out: Vec<IpNet> = self.withdrawn.iter().map(|p| IpNet::V4(*p)).collect();
        out.extend(
            self.mp_unreach
                .iter()
                .flat_map(|m| m.withdrawn.iter().copied()),
        );
        if self.treat_as_withdraw.is_some() {
            out.extend(self.announced());
        }
        out
    }

    pub fn encode_body(&self, out: &mut BytesMut, ctx: AttrContext) {
        let wlen_at = out.len();
        out.put_u16(0);
        for p in &self.withdrawn {
            encode_prefix(&IpNet::V4(*p), out);
        }
        let wlen = out.len() - wlen_at - 2;
        out[wlen_at..wlen_at + 2].copy_from_slice(&(wlen as u16).to_be_bytes());
        let alen_at = out.len();
        out.put_u16(0);
        if let Some(m) = &self.mp_reach {
            encode_mp_reach(m, out);
        }
        if let Some(m) = &self.mp_unreach {
            encode_mp_unreach(m, out);
        }
        self.attributes.encode(out, ctx);
        let alen = out.len() - alen_at - 2;
        out[alen_at..alen_at + 2].copy_from_slice(&(alen as u16).to_be_bytes());
        for p in &self.nlri {
            encode_prefix(&IpNet::V4(*p), out);
        }
    }
}

fn put_mp_attr(out: &mut BytesMut, code: u8, body: &BytesMut) {
    out.put_u8(attr_flag::OPTIONAL | attr_flag::EXTENDED_LENGTH);
    out.put_u8(code);
    out.put_u16(body.len() as u16);
    out.put_slice(body);
}

fn encode_mp_reach(m: &MpReach, out: &mut BytesMut) {
    let mut b = BytesMut::new();
    let (afi, safi) = m.family.afi_safi();
    b.put_u16(afi);
    b.put_u8(safi);
    match m.next_hop {
        NextHop::V4(a) => {
            b.put_u8(4);
            b.put_slice(&a.octets());
        }
        NextHop::V6 { global, link_local } => {
            b.put_u8(if link_local.is_some() { 32 } else { 16 });
            b.put_slice(&global.octets());
            if let Some(ll) = link_local {
                b.put_slice(&ll.octets());
            }
        }
    }
    b.put_u8(0);
    for p in &m.nlri {
        encode_prefix(p, &mut b);
    }
    put_mp_attr(out, attr_code::MP_REACH_NLRI, &b);
}

fn encode_mp_unreach(m: &MpUnreach, out: &mut BytesMut) {
    let mut b = BytesMut::new();
    let (afi, safi) = m.family.afi_safi();
    b.put_u16(afi);
    b.put_u8(safi);
    for p in &m.withdrawn {
        encode_prefix(p, &mut b);
    }
    put_mp_attr(out, attr_code::MP_UNREACH_NLRI, &b);
}

/// Fixed bytes an UPDATE spends around its prefixes (header, two length fields).
pub const UPDATE_OVERHEAD: usize = super::HEADER_LEN + 4;
/// Room taken by MP_REACH around its NLRI: flags, code, 2-octet length, AFI, SAFI, NH length,
/// the largest next hop (32), reserved.
pub const MP_REACH_OVERHEAD: usize = 4 + 3 + 1 + 32 + 1;
