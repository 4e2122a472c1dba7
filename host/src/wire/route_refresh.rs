//! ROUTE-REFRESH message (RFC 2918 §3) with the RFC 7313 subtypes.
//!
//! ```text
//! +--------------------------------+
//! | AFI (2) | Subtype (1) | SAFI (1)|
//! +--------------------------------+
//! ```

use super::iana::Family;
use bytes::{BufMut, BytesMut};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshKind {
    /// 0: a plain request to re-send the Adj-RIB-Out.
    Request,
    /// 1: Beginning of Route Refresh (RFC 7313 §4).
    Begin,
    /// 2: End of Route Refresh.
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteRefresh {
    pub afi: u16,
    pub safi: u8,
    pub kind: RefreshKind,
}

/// Why a ROUTE-REFRESH was not usable. RFC 7313 §5: a wrong length is a session error
/// (code 7, subcode 1); an unknown subtype is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshError {
    InvalidLength,
    UnknownSubtype(u8),
}

impl RouteRefresh {
    pub fn request(family: Family) -> Self {
        let (afi, safi) = family.afi_safi();
        RouteRefresh {
            afi,
            safi,
            kind: RefreshKind::Request,
        }
    }

    pub fn family(&self) -> Option<Family> {
        Family::from_afi_safi(self.afi, self.safi)
    }

    pub fn decode(body: &[u8]) -> Result<Self, RefreshError> {
        let [a, b, subtype, safi] = body else {
            return Err(RefreshError::InvalidLength);
        };
        let kind = match subtype {
            0 => RefreshKind::Request,
            1 => RefreshKind::Begin,
            2 => RefreshKind::End,
            other => return Err(RefreshError::UnknownSubtype(*other)),
        };
        Ok(RouteRefresh {
            afi: u16::from_be_bytes([*a, *b]),
            safi: *safi,
            kind,
        })
    }

    pub fn encode_body(&self, out: &mut BytesMut) {
        out.put_u16(self.afi);
        out.put_u8(self.kind as u8);
        out.put_u8(self.safi);
    }
}
