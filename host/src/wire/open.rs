//! OPEN message (RFC 4271 §4.2), with RFC 9072 extended optional parameters.
//!
//! ```text
//! +-----------------+---------------+-------------+----------------+--------------+----------+
//! | Version (1) = 4 | My AS (2)     | Hold Time(2)| BGP Identifier | Opt Parm Len | Opt Parms|
//! +-----------------+---------------+-------------+----------------+--------------+----------+
//! RFC 9072, when the parameters need more than 255 octets:
//! | ... BGP Identifier | 255 | Non-Ext OP Type 255 | Ext Opt Parm Len (2) | params: type (1), length (2), value |
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
    /// RFC 9072's encoding even when the parameters fit 255 octets (FRR's
    /// `extended-optional-parameters` expects it from its peer); it is used past 255 anyway.
    /// Set on decode when the peer used it.
    pub extended_parameters: bool,
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
            extended_parameters: false,
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
        // RFC 9072 §2: Opt Parm Len 255 followed by Non-Ext OP Type 255.
        let extended_parameters = opt_len == 255 && body.get(10) == Some(&255);
        let capabilities = if extended_parameters {
            let [_, _, hi, lo, params @ ..] = &body[9..] else {
                return Err(Notification::new(code::OPEN_MESSAGE, 0));
            };
            if params.len() != u16::from_be_bytes([*hi, *lo]) as usize {
                return Err(Notification::new(code::OPEN_MESSAGE, 0));
            }
            decode_optional_parameters(params, true)?
        } else {
            if body.len() != 10 + opt_len {
                return Err(Notification::new(code::OPEN_MESSAGE, 0));
            }
            decode_optional_parameters(&body[10..], false)?
        };
        Ok(Open {
            version,
            my_as,
            hold_time,
            bgp_id,
            capabilities,
            extended_parameters,
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
        // of them is what most implementations send. Past 255 octets, RFC 9072's encoding.
        if caps.is_empty() {
            out.put_u8(0);
        } else if caps.len() + 2 <= 255 && !self.extended_parameters {
            out.put_u8((caps.len() + 2) as u8);
            out.put_u8(2);
            out.put_u8(caps.len() as u8);
            out.put_slice(&caps);
        } else {
            out.put_u8(255);
            out.put_u8(255);
            out.put_u16((caps.len() + 3) as u16);
            out.put_u8(2);
            out.put_u16(caps.len() as u16);
            out.put_slice(&caps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{CodecContext, Decoded, Message};

    fn many_caps(n: u8) -> Vec<Capability> {
        (0..n)
            .map(|i| Capability::Unknown {
                code: 200,
                value: vec![i; 5],
            })
            .collect()
    }

    fn decode(m: &bytes::Bytes) -> Open {
        match crate::wire::decode_message(m, CodecContext::default()) {
            Ok(Decoded::Message(Message::Open(o))) => o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parameters_past_255_octets_use_the_rfc9072_encoding_both_ways() {
        let open = Open::new(64512, 90, Ipv4Addr::new(192, 0, 2, 1), many_caps(60));
        let bytes = Message::Open(open.clone()).encode(CodecContext::default());
        // 60 capabilities of 7 octets: 420 octets, past what one length octet holds.
        assert_eq!(bytes[19 + 9..19 + 12], [255, 255, 0x01]);
        assert_eq!(u16::from_be_bytes([bytes[30], bytes[31]]), 423);
        let back = decode(&bytes);
        assert!(back.extended_parameters);
        assert_eq!(back.capabilities, open.capabilities);
        // Asked for, the extended encoding of a small OPEN (what FRR's knob expects).
        let mut forced = Open::new(64512, 90, Ipv4Addr::new(192, 0, 2, 1), many_caps(3));
        forced.extended_parameters = true;
        let bytes = Message::Open(forced.clone()).encode(CodecContext::default());
        assert_eq!(bytes[19 + 9..19 + 11], [255, 255]);
        assert_eq!(decode(&bytes), forced);
        // Small enough: the RFC 4271 encoding, as before.
        let small = Open::new(64512, 90, Ipv4Addr::new(192, 0, 2, 1), many_caps(3));
        let bytes = Message::Open(small.clone()).encode(CodecContext::default());
        assert_eq!(bytes[19 + 9], 2 + 21);
        assert_eq!(decode(&bytes), small);
    }

    #[test]
    fn an_extended_length_that_does_not_match_is_an_open_error() {
        let open = Open::new(64512, 90, Ipv4Addr::new(192, 0, 2, 1), many_caps(60));
        let mut body = BytesMut::new();
        open.encode_body(&mut body);
        let mut bad = body.to_vec();
        bad[11] ^= 1;
        assert_eq!(Open::decode(&bad).unwrap_err().code, code::OPEN_MESSAGE);
        bad.truncate(12);
        assert!(
            Open::decode(&bad).is_err(),
            "truncated inside the extended length"
        );
    }
}
