//! NOTIFICATION message (RFC 4271 §4.5, §6) with Cease subcodes (RFC 4486) and the shutdown
//! communication (RFC 9003).
//!
//! ```text
//!  0                   1                   2                   3
//!  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!  | Error code    | Error subcode |   Data (variable)             |
//!  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use bytes::{BufMut, BytesMut};
use std::fmt;

/// Error codes (RFC 4271 §4.5).
pub mod code {
    pub const MESSAGE_HEADER: u8 = 1;
    pub const OPEN_MESSAGE: u8 = 2;
    pub const UPDATE_MESSAGE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;
    pub const ROUTE_REFRESH: u8 = 7;
    /// RFC 9687.
    pub const SEND_HOLD_TIMER_EXPIRED: u8 = 8;
}

/// Message header error subcodes (RFC 4271 §6.1).
pub mod header {
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    pub const BAD_MESSAGE_TYPE: u8 = 3;
}

/// OPEN message error subcodes (RFC 4271 §6.2, RFC 5492).
pub mod open {
    pub const UNSUPPORTED_VERSION: u8 = 1;
    pub const BAD_PEER_AS: u8 = 2;
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
    /// RFC 9234 §4.2.
    pub const ROLE_MISMATCH: u8 = 11;

    /// The IANA name of an OPEN error subcode, for logs and `show`.
    pub fn name(subcode: u8) -> &'static str {
        match subcode {
            UNSUPPORTED_VERSION => "unsupported version number",
            BAD_PEER_AS => "bad peer AS",
            BAD_BGP_IDENTIFIER => "bad BGP identifier",
            UNSUPPORTED_OPTIONAL_PARAMETER => "unsupported optional parameter",
            UNACCEPTABLE_HOLD_TIME => "unacceptable hold time",
            UNSUPPORTED_CAPABILITY => "unsupported capability",
            ROLE_MISMATCH => "role mismatch",
            _ => "unknown subcode",
        }
    }
}

/// UPDATE message error subcodes (RFC 4271 §6.3).
pub mod update {
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    pub const UNRECOGNIZED_WELL_KNOWN: u8 = 2;
    pub const MISSING_WELL_KNOWN: u8 = 3;
    pub const ATTRIBUTE_FLAGS: u8 = 4;
    pub const ATTRIBUTE_LENGTH: u8 = 5;
    pub const INVALID_ORIGIN: u8 = 6;
    pub const INVALID_NEXT_HOP: u8 = 8;
    pub const OPTIONAL_ATTRIBUTE: u8 = 9;
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    pub const MALFORMED_AS_PATH: u8 = 11;
}

/// Cease subcodes (RFC 4486, RFC 8538).
pub mod cease {
    pub const MAX_PREFIXES: u8 = 1;
    pub const ADMIN_SHUTDOWN: u8 = 2;
    pub const PEER_DECONFIGURED: u8 = 3;
    pub const ADMIN_RESET: u8 = 4;
    pub const CONNECTION_REJECTED: u8 = 5;
    pub const OTHER_CONFIG_CHANGE: u8 = 6;
    pub const CONNECTION_COLLISION: u8 = 7;
    pub const OUT_OF_RESOURCES: u8 = 8;
    /// RFC 8538 §3: the one Cease that always bypasses Graceful Restart.
    pub const HARD_RESET: u8 = 9;
    /// RFC 9384.
    pub const BFD_DOWN: u8 = 10;

    /// The IANA name of a Cease subcode, for logs and `show`.
    pub fn name(subcode: u8) -> &'static str {
        match subcode {
            MAX_PREFIXES => "maximum number of prefixes reached",
            ADMIN_SHUTDOWN => "administrative shutdown",
            PEER_DECONFIGURED => "peer de-configured",
            ADMIN_RESET => "administrative reset",
            CONNECTION_REJECTED => "connection rejected",
            OTHER_CONFIG_CHANGE => "other configuration change",
            CONNECTION_COLLISION => "connection collision resolution",
            OUT_OF_RESOURCES => "out of resources",
            HARD_RESET => "hard reset",
            BFD_DOWN => "BFD down",
            _ => "unknown subcode",
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

impl Notification {
    pub fn new(code: u8, subcode: u8) -> Self {
        Notification {
            code,
            subcode,
            data: Vec::new(),
        }
    }

    pub fn with_data(code: u8, subcode: u8, data: impl Into<Vec<u8>>) -> Self {
        Notification {
            code,
            subcode,
            data: data.into(),
        }
    }

    /// A Cease carrying an RFC 9003 shutdown communication (length octet + UTF-8, ≤ 255 bytes).
    /// Longer texts are cut at a character boundary rather than refused.
    pub fn cease_with_message(subcode: u8, message: &str) -> Self {
        let mut end = message.len().min(255);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let mut data = Vec::with_capacity(end + 1);
        data.push(end as u8);
        data.extend_from_slice(&message.as_bytes()[..end]);
        Notification::with_data(code::CEASE, subcode, data)
    }

    /// The RFC 9003 shutdown communication, when this is an Administrative Shutdown or Reset that
    /// carries one.
    pub fn shutdown_message(&self) -> Option<String> {
        let is_admin = self.code == code::CEASE
            && matches!(self.subcode, cease::ADMIN_SHUTDOWN | cease::ADMIN_RESET);
        let (&len, text) = self.data.split_first()?;
        if !is_admin || len as usize > text.len() {
            return None;
        }
        String::from_utf8(text[..len as usize].to_vec()).ok()
    }

    pub fn is_hard_reset(&self) -> bool {
        self.code == code::CEASE && self.subcode == cease::HARD_RESET
    }

    /// RFC 8538 §3: a Hard Reset carries the Cease it stands for (code, subcode, data) as its
    /// data, so the peer learns the real reason and still flushes.
    pub fn hard_reset(inner: &Notification) -> Self {
        let mut data = Vec::with_capacity(inner.data.len() + 2);
        data.extend_from_slice(&[inner.code, inner.subcode]);
        data.extend_from_slice(&inner.data);
        Notification::with_data(code::CEASE, cease::HARD_RESET, data)
    }

    /// The NOTIFICATION a Hard Reset stands for, when its data holds one.
    pub fn hard_reset_reason(&self) -> Option<Notification> {
        match (self.is_hard_reset(), self.data.as_slice()) {
            (true, [code, subcode, data @ ..]) => {
                Some(Notification::with_data(*code, *subcode, data))
            }
            _ => None,
        }
    }

    pub fn decode(body: &[u8]) -> Result<Self, Notification> {
        match body {
            [code, subcode, data @ ..] => Ok(Notification::with_data(*code, *subcode, data)),
            _ => Err(Notification::with_data(
                code::MESSAGE_HEADER,
                header::BAD_MESSAGE_LENGTH,
                ((body.len() + super::HEADER_LEN) as u16).to_be_bytes(),
            )),
        }
    }

    pub fn encode_body(&self, out: &mut BytesMut) {
        out.put_u8(self.code);
        out.put_u8(self.subcode);
        out.put_slice(&self.data);
    }

    fn code_name(&self) -> &'static str {
        match self.code {
            code::MESSAGE_HEADER => "message header error",
            code::OPEN_MESSAGE => "OPEN message error",
            code::UPDATE_MESSAGE => "UPDATE message error",
            code::HOLD_TIMER_EXPIRED => "hold timer expired",
            code::FSM => "finite state machine error",
            code::CEASE => "cease",
            code::ROUTE_REFRESH => "ROUTE-REFRESH message error",
            code::SEND_HOLD_TIMER_EXPIRED => "send hold timer expired",
            _ => "unknown error",
        }
    }
}

/// How many octets of a NOTIFICATION's data a log line or `show` prints; the rest is counted.
const SHOWN_DATA: usize = 32;

impl fmt::Debug for Notification {
    /// Never recursive: a Hard Reset's inner NOTIFICATION is shown one level deep (RFC 8538 §3
    /// nests exactly one), so a peer cannot make formatting deep or long by nesting them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_one(f)?;
        if let Some(inner) = self.hard_reset_reason() {
            write!(f, " for ")?;
            inner.fmt_one(f)?;
            inner.fmt_data(f)
        } else {
            self.fmt_data(f)
        }
    }
}

impl Notification {
    fn fmt_one(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code_name())?;
        match self.code {
            code::CEASE => write!(f, ", {}", cease::name(self.subcode))?,
            code::OPEN_MESSAGE => write!(f, ", {}", open::name(self.subcode))?,
            _ => {}
        }
        write!(f, " ({}/{})", self.code, self.subcode)
    }

    /// The shutdown communication with control characters escaped (it is the peer's text and
    /// reaches terminals and text logs), or the data in hex, cut at [`SHOWN_DATA`] octets.
    fn fmt_data(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(msg) = self.shutdown_message() {
            return write!(f, " \"{}\"", crate::text::Escaped(&msg));
        }
        if self.data.is_empty() {
            return Ok(());
        }
        let shown = &self.data[..self.data.len().min(SHOWN_DATA)];
        write!(f, " data={shown:02x?}")?;
        if self.data.len() > SHOWN_DATA {
            write!(f, "… ({} octets)", self.data.len())?;
        }
        Ok(())
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for Notification {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_communication_round_trips_and_is_cut_at_char_boundary() {
        let n =
            Notification::cease_with_message(cease::ADMIN_SHUTDOWN, "maintenance, back at 10:00");
        assert_eq!(n.data[0] as usize, n.data.len() - 1);
        assert_eq!(
            n.shutdown_message().as_deref(),
            Some("maintenance, back at 10:00")
        );
        let long = "é".repeat(200); // 400 bytes
        let n = Notification::cease_with_message(cease::ADMIN_SHUTDOWN, &long);
        assert_eq!(n.data[0], 254);
        assert_eq!(n.shutdown_message().unwrap().chars().count(), 127);
    }

    #[test]
    fn hard_reset_carries_the_cease_it_stands_for() {
        let inner = Notification::cease_with_message(cease::PEER_DECONFIGURED, "gone");
        let hard = Notification::hard_reset(&inner);
        assert_eq!((hard.code, hard.subcode), (code::CEASE, cease::HARD_RESET));
        assert_eq!(hard.data[..3], [code::CEASE, cease::PEER_DECONFIGURED, 4]);
        assert_eq!(hard.hard_reset_reason(), Some(inner));
        assert_eq!(
            format!("{hard}"),
            "cease, hard reset (6/9) for cease, peer de-configured (6/3) data=[04, 67, 6f, 6e, 65]"
        );
        assert_eq!(
            Notification::new(code::CEASE, cease::ADMIN_RESET).hard_reset_reason(),
            None
        );
    }

    /// The attack of issue 24: a Hard Reset nested 32,757 levels in one 65,535-octet message
    /// overflowed the stack of the task logging it. Formatting is one level and bounded.
    #[test]
    fn nested_hard_resets_format_one_level_and_bounded() {
        let mut data = Vec::new();
        for _ in 0..32_000 {
            data.extend_from_slice(&[code::CEASE, cease::HARD_RESET]);
        }
        let n = Notification::with_data(code::CEASE, cease::HARD_RESET, data);
        let shown = format!("{n}");
        assert!(
            shown.starts_with("cease, hard reset (6/9) for cease, hard reset (6/9) data=[06, 09")
        );
        assert!(shown.ends_with("… (63998 octets)"), "{shown}");
        assert!(shown.len() < 300, "{} bytes", shown.len());
    }

    #[test]
    fn shutdown_text_is_shown_with_control_characters_escaped() {
        let n = Notification::cease_with_message(cease::ADMIN_SHUTDOWN, "bye\x1b[2J\nFAKE line");
        assert_eq!(
            format!("{n}"),
            "cease, administrative shutdown (6/2) \"bye\\u{1b}[2J\\nFAKE line\""
        );
    }

    #[test]
    fn decode_rejects_short_body() {
        let err = Notification::decode(&[6]).unwrap_err();
        assert_eq!(
            (err.code, err.subcode),
            (code::MESSAGE_HEADER, header::BAD_MESSAGE_LENGTH)
        );
        assert_eq!(
            Notification::decode(&[6, 9]).unwrap(),
            Notification::new(6, 9)
        );
    }
}
