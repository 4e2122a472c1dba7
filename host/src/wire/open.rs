//! OPEN message (RFC 4271 §4.2).
//!
//! ```text
//! +-----------------+---------------+-------------+----------------+--------------+----------+
//! | Version (1) = 4 | My AS (2)     | Hold Time(2)| BGP Identifier | Opt Parm Len | Opt Parms|
//! +-----------------+---------------+-------------+----------------+--------------+----------+
//! ```

use super::capability::{decode_optional_parameters, Capability};
use super::iana::AS_TRANS;
use super::notification::{code, header, open, Notification};
use bytes::{BufMut, BytesMut};
use std::net::Ipv4Addr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    pub version: u8,
    /// The 2-octet My AS field; AS_TRANS when the real ASN needs four octets.
    pub my_as: u16,
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// Builds an OPEN for `asn`, placing AS_TRANS in My AS when it does not fit two octets.
    /// `capabilities` must include FourOctetAs for such an ASN (RFC 6793 §3).
    pub fn new(asn: u32, hold_time: u16, bgp_id: Ipv4Addr, capabilities: Vec<Capability>) -> Self {
        let my_as = u16::try_from(asn).unwrap_or(AS_TRANS);
        Open {
            version: 4,
            my_as,
            hold_time,
            bgp_id,
            capabilities,
        }
    }

    /// The sender's real ASN: the 4-octet AS capability when present, else My AS.
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::FourOctetAs(a) => Some(*a),
                _ => None,
            })
            .unwrap_or(self.my_as as u32)
    }

    pub fn decode(body: &[u8]) -> Result<Open, Notification> {
        if body.len() < 10 {
            return Err(Notification::with_data(
                code::MESSAGE_HEADER,
                header::BAD_MESSAGE_LENGTH,
                ((body.len() + super::HEADER_LEN) as u16).to_be_bytes(),
            ));
        }
        let version = body[0];
        if version != 4 {
            // §6.2: data is the largest supported version, as 2 octets.
            return Err(Notification::with_data(
                code::OPEN_MESSAGE,
                open::UNSUPPORTED_VERSION,
                4u16.to_be_bytes(),
            ));
        }
        let my_as = u16::from_be_bytes([body[1], body[2]]);
        let hold_time = u16::from_be_bytes([body[3], body[4]]);
        let bgp_id = Ipv4Addr::new(body[5], body[6], body[7], body[8]);
        let opt_len = body[9] as usize;
        if body.len() != 10 + opt_len {
            return Err(Notification::new(code::OPEN_MESSAGE, 0));
        }
        let capabilities = decode_optional_parameters(&body[10..])?;
        Ok(Open {
            version,
            my_as,
            hold_time,
            bgp_id,
            capabilities,
        })
    }

    pub fn encode_body(&self, out: &mut BytesMut) {
        out.put_u8(self.version);
        out.put_u16(self.my_as);
        out.put_u16(self.hold_time);
        out.put_slice(&self.bgp_id.octets());
        let mut caps = BytesMut::new();
        for c in &self.capabilities {
            c.encode(&mut caps);
        }
        // One capability per optional parameter would also be valid; one parameter holding all
        // of them is what most implementations send. It must fit 255 octets (no RFC 9072 here).
        if caps.is_empty() {
            out.put_u8(0);
        } else {
            out.put_u8((caps.len() + 2) as u8);
            out.put_u8(2);
            out.put_u8(caps.len() as u8);
            out.put_slice(&caps);
        }
    }
}
