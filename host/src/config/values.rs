//! The typed values of the config: each checks its range or form while it is deserialized, so
//! the TOML parser's span points at the bad value and the message says what is allowed.

use crate::wire::Family;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};
use std::net::Ipv4Addr;

/// Deserializes `T` through `FromStr`-like validation with a message serde will place.
macro_rules! validated {
    ($name:ident($inner:ty) from $raw:ty, |$v:ident| $check:expr) => {
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let $v = <$raw>::deserialize(d)?;
                let checked: Result<$inner, String> = $check;
                checked.map($name).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// An AS number: 1 ..= 4294967295, not AS_TRANS (RFC 6793 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asn(pub u32);
validated!(Asn(u32) from i64, |v| match u32::try_from(v) {
    Ok(0) => Err("AS number 0 is reserved (RFC 7607)".into()),
    Ok(23456) => Err("AS 23456 is AS_TRANS and cannot be used as a real AS number".into()),
    Ok(a) => Ok(a),
    Err(_) => Err(format!("AS number {v} is out of range 1..4294967295")),
});

/// A peer's `asn`: a number, or `"external"` / `"internal"` for any AS of that kind, learned
/// from the peer's OPEN.
impl<'de> Deserialize<'de> for crate::fsm::RemoteAs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Kind(String),
        }
        use crate::fsm::RemoteAs;
        let kind_error = |v: &str| {
            serde::de::Error::custom(format!(
                "asn `{v}`: a number, \"external\" (any AS but ours) or \"internal\" (ours)"
            ))
        };
        match Raw::deserialize(d).map_err(|_| kind_error("?"))? {
            Raw::Number(n) => {
                Asn::deserialize(serde::de::value::I64Deserializer::<D::Error>::new(n))
                    .map(|a| RemoteAs::Is(a.0))
            }
            Raw::Kind(k) if k == "external" => Ok(RemoteAs::External),
            Raw::Kind(k) if k == "internal" => Ok(RemoteAs::Internal),
            Raw::Kind(k) => Err(kind_error(&k)),
        }
    }
}

/// A peer's `role` (RFC 9234), by its name.
impl<'de> Deserialize<'de> for crate::wire::Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterId(pub Ipv4Addr);
validated!(RouterId(Ipv4Addr) from String, |v| match v.parse::<Ipv4Addr>() {
    Ok(a) if a.is_unspecified() => Err("router_id 0.0.0.0 is not allowed (RFC 6286)".into()),
    Ok(a) => Ok(a),
    Err(_) => Err(format!("router_id `{v}` is not an IPv4 address")),
});

/// Hold time in seconds: 0 (no keepalives) or 3..=65535 (RFC 4271 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldTime(pub u16);
validated!(HoldTime(u16) from i64, |v| match u16::try_from(v) {
    Ok(h) if h == 0 || h >= 3 => Ok(h),
    _ => Err(format!("hold_time {v} must be 0 or between 3 and 65535 seconds")),
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartTime(pub u16);
validated!(RestartTime(u16) from i64, |v| match u16::try_from(v) {
    Ok(t) if t <= 4095 => Ok(t),
    _ => Err(format!("restart_time {v} must be between 0 and 4095 seconds (12 bits, RFC 4724)")),
});

/// Long-lived stale time in seconds: 24 bits on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StaleTime(pub u32);
validated!(StaleTime(u32) from i64, |v| match u32::try_from(v) {
    Ok(t) if t <= crate::wire::long_lived::MAX_STALE_TIME => Ok(t),
    _ => Err(format!("long_lived_stale_time {v} must be between 0 and 16777215 seconds (24 bits, RFC 9494)")),
});

/// A prefix in canonical form (no host bits set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix(pub IpNet);
validated!(Prefix(IpNet) from String, |v| match v.parse::<IpNet>() {
    Ok(p) if p.trunc() == p => Ok(p),
    Ok(p) => Err(format!("prefix `{v}` has host bits set; did you mean `{}`?", p.trunc())),
    Err(_) => Err(format!("`{v}` is not a prefix (expected e.g. 198.51.100.10/32 or 2001:db8::/64)")),
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FamilyName(pub Family);
validated!(FamilyName(Family) from String, |v| v.parse::<Family>());
