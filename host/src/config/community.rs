//! Community values as operators write them (MetalLB spelling): `"64512:100"` for a standard
//! community (RFC 1997), `"large:64512:1:2"` for a large one (RFC 8092), and the well-known
//! names `no-export`, `no-advertise`, `no-export-subconfed`, `blackhole` (RFC 7999) and
//! `graceful-shutdown` (RFC 8326).

use crate::wire::LargeCommunity;
use serde::{Deserialize, Deserializer};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommunityValue {
    Standard(u32),
    Large(LargeCommunity),
}

pub const GRACEFUL_SHUTDOWN: u32 = 0xffff_0000;
pub const BLACKHOLE: u32 = 0xffff_029a;
pub const NO_EXPORT: u32 = 0xffff_ff01;
pub const NO_ADVERTISE: u32 = 0xffff_ff02;
pub const NO_EXPORT_SUBCONFED: u32 = 0xffff_ff03;

const WELL_KNOWN: [(&str, u32); 5] = [
    ("graceful-shutdown", GRACEFUL_SHUTDOWN),
    ("blackhole", BLACKHOLE),
    ("no-export", NO_EXPORT),
    ("no-advertise", NO_ADVERTISE),
    ("no-export-subconfed", NO_EXPORT_SUBCONFED),
];

impl std::str::FromStr for CommunityValue {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some((_, v)) = WELL_KNOWN.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
            return Ok(CommunityValue::Standard(*v));
        }
        let bad = || {
            format!(
                "`{s}` is not a community (expected ASN:VALUE with both ≤ 65535, \
                 large:ASN:VALUE:VALUE, or a well-known name such as no-export)"
            )
        };
        if let Some(rest) = s.strip_prefix("large:") {
            let parts: Vec<u32> = rest
                .split(':')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .map_err(|_| bad())?;
            let [global, local1, local2] = parts[..] else {
                return Err(bad());
            };
            return Ok(CommunityValue::Large(LargeCommunity {
                global,
                local1,
                local2,
            }));
        }
        let (hi, lo) = s.split_once(':').ok_or_else(bad)?;
        let hi: u16 = hi.parse().map_err(|_| bad())?;
        let lo: u16 = lo.parse().map_err(|_| bad())?;
        Ok(CommunityValue::Standard(((hi as u32) << 16) | lo as u32))
    }
}

impl fmt::Display for CommunityValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommunityValue::Standard(v) => write!(f, "{}:{}", v >> 16, v & 0xffff),
            CommunityValue::Large(l) => write!(f, "large:{}:{}:{}", l.global, l.local1, l.local2),
        }
    }
}

impl<'de> Deserialize<'de> for CommunityValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_metallb_spelling() {
        assert_eq!(
            "64512:100".parse(),
            Ok(CommunityValue::Standard(0xfc00_0064))
        );
        assert_eq!("no-export".parse(), Ok(CommunityValue::Standard(NO_EXPORT)));
        assert_eq!(
            "large:64512:1:2".parse(),
            Ok(CommunityValue::Large(LargeCommunity {
                global: 64512,
                local1: 1,
                local2: 2
            }))
        );
        for bad in ["65536:1", "1", "large:1:2", "x:y", "large:1:2:3:4"] {
            assert!(bad.parse::<CommunityValue>().is_err(), "{bad}");
        }
        assert_eq!(
            CommunityValue::Standard(0xfc00_0064).to_string(),
            "64512:100"
        );
    }
}
