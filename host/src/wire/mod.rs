//! BGP messages to and from bytes. Pure: no I/O, no clocks.
//!
//! Hand-written on `bytes` rather than built on an existing codec crate: gracewire needs RFC 7606
//! outcomes (treat-as-withdraw, attribute discard) as values rather than errors, GR capabilities
//! of every valid length, and control over allocation on the ingest path. `netgauze-bgp-pkt` is
//! used in the tests to cross-check the bytes both ways.
//!
//! ```text
//! +--------------------------------------------+
//! | Marker (16 octets of 0xff)                 |
//! | Length (2) | Type (1)                      |
//! | body ...                                   |
//! +--------------------------------------------+
//! ```

pub mod attribute;
pub mod capability;
pub mod iana;
pub mod long_lived;
pub mod notification;
pub mod open;
pub mod pack;
pub mod role;
pub mod route_refresh;
pub mod update;

pub use attribute::{AsPath, AsSegment, AttrContext, LargeCommunity, Origin, PathAttributes};
pub use capability::{Capability, GrFamily, GracefulRestartCap, NextHopFamily};
pub use iana::Family;
pub use long_lived::{LongLivedCap, LongLivedFamily};
pub use notification::Notification;
pub use open::Open;
pub use role::Role;
pub use route_refresh::{RefreshKind, RouteRefresh};
pub use update::{MpReach, MpUnreach, NextHop, TreatAsWithdraw, Update};

use bytes::{BufMut, Bytes, BytesMut};
use iana::msg_type;
use notification::{code, header};

pub const HEADER_LEN: usize = 19;
/// RFC 4271 §4.1.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// RFC 8654: once Extended Message is negotiated, for every type but OPEN and KEEPALIVE.
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

/// Per-session facts that change how bytes are read and written; produced by OPEN negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodecContext {
    pub four_octet_as: bool,
    pub extended_message: bool,
    /// An eBGP session: some attributes are read differently (RFC 7606 §7.5).
    pub external: bool,
}

impl Default for CodecContext {
    /// Before OPEN negotiation: the RFC 4271 defaults.
    fn default() -> Self {
        CodecContext {
            four_octet_as: false,
            extended_message: false,
            external: false,
        }
    }
}

impl CodecContext {
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    pub fn attrs(&self) -> AttrContext {
        AttrContext {
            four_octet_as: self.four_octet_as,
            external: self.external,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

impl Message {
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Open(_) => "OPEN",
            Message::Update(_) => "UPDATE",
            Message::Notification(_) => "NOTIFICATION",
            Message::Keepalive => "KEEPALIVE",
            Message::RouteRefresh(_) => "ROUTE-REFRESH",
        }
    }

    /// Encodes the whole message, header included.
    pub fn encode(&self, ctx: CodecContext) -> Bytes {
        let mut out = BytesMut::with_capacity(64);
        out.put_slice(&[0xff; 16]);
        out.put_u16(0);
        let t = match self {
            Message::Open(o) => {
                o.encode_body(&mut out);
                msg_type::OPEN
            }
            Message::Update(u) => {
                u.encode_body(&mut out, ctx.attrs());
                msg_type::UPDATE
            }
            Message::Notification(n) => {
                n.encode_body(&mut out);
                msg_type::NOTIFICATION
            }
            Message::Keepalive => msg_type::KEEPALIVE,
            Message::RouteRefresh(r) => {
                r.encode_body(&mut out);
                msg_type::ROUTE_REFRESH
            }
        };
        // The type octet goes before the body: insert it by rebuilding the header in place.
        let len = out.len() + 1;
        let mut msg = BytesMut::with_capacity(len);
        msg.put_slice(&[0xff; 16]);
        msg.put_u16(len as u16);
        msg.put_u8(t);
        msg.put_slice(&out[18..]);
        msg.freeze()
    }
}

/// Phase one of reading: how long is the message at the front of `buf`, if it is all there?
/// Validates marker and length so a corrupt stream is refused before anything is parsed.
pub fn frame_len(buf: &[u8], ctx: CodecContext) -> Result<Option<usize>, Notification> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    if buf[..16] != [0xff; 16] {
        return Err(Notification::new(
            code::MESSAGE_HEADER,
            header::CONNECTION_NOT_SYNCHRONIZED,
        ));
    }
    let len = u16::from_be_bytes([buf[16], buf[17]]) as usize;
    let t = buf[18];
    let bad_len = || {
        Notification::with_data(
            code::MESSAGE_HEADER,
            header::BAD_MESSAGE_LENGTH,
            [buf[16], buf[17]],
        )
    };
    let max = match t {
        msg_type::OPEN | msg_type::KEEPALIVE => MAX_MESSAGE_LEN,
        _ => ctx.max_message_len(),
    };
    let min = match t {
        msg_type::OPEN => HEADER_LEN + 10,
        msg_type::UPDATE => HEADER_LEN + 4,
        msg_type::NOTIFICATION => HEADER_LEN + 2,
        msg_type::KEEPALIVE => HEADER_LEN,
        msg_type::ROUTE_REFRESH => HEADER_LEN + 4,
        _ => {
            return Err(Notification::with_data(
                code::MESSAGE_HEADER,
                header::BAD_MESSAGE_TYPE,
                [t],
            ))
        }
    };
    if len < min || len > max || (t == msg_type::KEEPALIVE && len != HEADER_LEN) {
        return Err(bad_len());
    }
    Ok((buf.len() >= len).then_some(len))
}

/// The outcome of decoding one framed message.
#[derive(Debug)]
pub enum Decoded {
    Message(Message),
    /// RFC 7313 §5: a ROUTE-REFRESH with an unknown subtype is ignored.
    Ignored(&'static str),
}

/// Phase two: decode one message that [`frame_len`] has delimited. Given bytes that are not
/// exactly one message it answers with the header error [`frame_len`] finds, never a panic
/// (fuzzing found the missing check: `fuzz/regressions/fsm/`).
pub fn decode_message(frame: &[u8], ctx: CodecContext) -> Result<Decoded, Notification> {
    if frame_len(frame, ctx)? != Some(frame.len()) {
        let len = frame.get(16..18).map_or([0, 0], |l| [l[0], l[1]]);
        return Err(Notification::with_data(
            code::MESSAGE_HEADER,
            header::BAD_MESSAGE_LENGTH,
            len,
        ));
    }
    let body = &frame[HEADER_LEN..];
    let msg = match frame[18] {
        msg_type::OPEN => Message::Open(Open::decode(body)?),
        msg_type::UPDATE => Message::Update(Update::decode(body, ctx.attrs())?),
        msg_type::NOTIFICATION => Message::Notification(Notification::decode(body)?),
        msg_type::KEEPALIVE => Message::Keepalive,
        msg_type::ROUTE_REFRESH => match RouteRefresh::decode(body) {
            Ok(r) => Message::RouteRefresh(r),
            Err(route_refresh::RefreshError::UnknownSubtype(_)) => {
                return Ok(Decoded::Ignored("ROUTE-REFRESH with unknown subtype"))
            }
            Err(route_refresh::RefreshError::InvalidLength) => {
                let mut data = frame.to_vec();
                data.truncate(HEADER_LEN + 4 + 1);
                return Err(Notification::with_data(code::ROUTE_REFRESH, 1, data));
            }
        },
        t => {
            return Err(Notification::with_data(
                code::MESSAGE_HEADER,
                header::BAD_MESSAGE_TYPE,
                [t],
            ))
        }
    };
    Ok(Decoded::Message(msg))
}

#[cfg(test)]
mod tests;
