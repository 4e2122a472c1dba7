//! BFD Control packets (RFC 5880 §4.1) <-> bytes, with the reception checks of §6.8.6 that need
//! only the packet. Authentication (§4.2–4.4) is not implemented: a packet with the A bit is
//! refused, as §6.8.6 requires of a session without authentication.

use std::time::Duration;

/// The mandatory section: 24 octets.
pub const LEN: usize = 24;

/// Session states (RFC 5880 §4.1 "Sta").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    AdminDown = 0,
    Down = 1,
    Init = 2,
    Up = 3,
}

impl State {
    fn from_bits(b: u8) -> State {
        match b & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Diagnostic codes (RFC 5880 §4.1 "Diag"): why the session last left Up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Diag {
    None,
    DetectionTimeExpired,
    EchoFailed,
    NeighborSignaledDown,
    ForwardingPlaneReset,
    PathDown,
    ConcatenatedPathDown,
    AdminDown,
    ReverseConcatenatedPathDown,
    /// 9–31, reserved: kept so a packet is read whole.
    Other(u8),
}

impl Diag {
    pub fn code(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::DetectionTimeExpired => 1,
            Diag::EchoFailed => 2,
            Diag::NeighborSignaledDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdminDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Other(c) => c,
        }
    }

    fn from_code(c: u8) -> Diag {
        match c {
            0 => Diag::None,
            1 => Diag::DetectionTimeExpired,
            2 => Diag::EchoFailed,
            3 => Diag::NeighborSignaledDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdminDown,
            8 => Diag::ReverseConcatenatedPathDown,
            c => Diag::Other(c),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Diag::None => "no diagnostic",
            Diag::DetectionTimeExpired => "control detection time expired",
            Diag::EchoFailed => "echo function failed",
            Diag::NeighborSignaledDown => "neighbor signaled session down",
            Diag::ForwardingPlaneReset => "forwarding plane reset",
            Diag::PathDown => "path down",
            Diag::ConcatenatedPathDown => "concatenated path down",
            Diag::AdminDown => "administratively down",
            Diag::ReverseConcatenatedPathDown => "reverse concatenated path down",
            Diag::Other(_) => "reserved diagnostic",
        }
    }
}

/// One Control packet, without authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub diag: Diag,
    pub state: State,
    /// Poll: the sender asks for a packet with Final (§6.5).
    pub poll: bool,
    pub final_: bool,
    /// Control Plane Independent: the sender's BFD does not share fate with its control plane.
    pub control_plane_independent: bool,
    pub demand: bool,
    pub detect_mult: u8,
    pub my_discriminator: u32,
    pub your_discriminator: u32,
    pub desired_min_tx: Duration,
    pub required_min_rx: Duration,
    pub required_min_echo_rx: Duration,
}

/// Why a received packet is discarded (RFC 5880 §6.8.6, the checks before any session is found).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Discard {
    #[error("shorter than 24 octets or than its Length field")]
    Length,
    #[error("version {0}, not 1")]
    Version(u8),
    #[error("Detect Mult 0")]
    DetectMult,
    #[error("Multipoint bit set")]
    Multipoint,
    #[error("My Discriminator 0")]
    MyDiscriminator,
    #[error("Your Discriminator 0 in state {0}")]
    YourDiscriminator(State),
    #[error("authentication requested, none configured")]
    Authentication,
}

fn micros(v: &[u8]) -> Duration {
    Duration::from_micros(u32::from_be_bytes([v[0], v[1], v[2], v[3]]) as u64)
}

fn put_micros(out: &mut Vec<u8>, d: Duration) {
    out.extend_from_slice(&(d.as_micros().min(u32::MAX as u128) as u32).to_be_bytes());
}

impl Packet {
    pub fn decode(b: &[u8]) -> Result<Packet, Discard> {
        if b.len() < LEN {
            return Err(Discard::Length);
        }
        let version = b[0] >> 5;
        if version != 1 {
            return Err(Discard::Version(version));
        }
        let length = b[3] as usize;
        if length < LEN || length > b.len() {
            return Err(Discard::Length);
        }
        let flags = b[1];
        if flags & 0x04 != 0 {
            return Err(Discard::Authentication);
        }
        if b[2] == 0 {
            return Err(Discard::DetectMult);
        }
        if flags & 0x01 != 0 {
            return Err(Discard::Multipoint);
        }
        let p = Packet {
            diag: Diag::from_code(b[0] & 0x1f),
            state: State::from_bits(flags >> 6),
            poll: flags & 0x20 != 0,
            final_: flags & 0x10 != 0,
            control_plane_independent: flags & 0x08 != 0,
            demand: flags & 0x02 != 0,
            detect_mult: b[2],
            my_discriminator: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            your_discriminator: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            desired_min_tx: micros(&b[12..]),
            required_min_rx: micros(&b[16..]),
            required_min_echo_rx: micros(&b[20..]),
        };
        if p.my_discriminator == 0 {
            return Err(Discard::MyDiscriminator);
        }
        if p.your_discriminator == 0 && !matches!(p.state, State::Down | State::AdminDown) {
            return Err(Discard::YourDiscriminator(p.state));
        }
        Ok(p)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(LEN);
        out.push(1 << 5 | (self.diag.code() & 0x1f));
        let bit = |b: bool, v: u8| if b { v } else { 0 };
        out.push(
            (self.state as u8) << 6
                | bit(self.poll, 0x20)
                | bit(self.final_, 0x10)
                | bit(self.control_plane_independent, 0x08)
                | bit(self.demand, 0x02),
        );
        out.push(self.detect_mult);
        out.push(LEN as u8);
        out.extend_from_slice(&self.my_discriminator.to_be_bytes());
        out.extend_from_slice(&self.your_discriminator.to_be_bytes());
        put_micros(&mut out, self.desired_min_tx);
        put_micros(&mut out, self.required_min_rx);
        put_micros(&mut out, self.required_min_echo_rx);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet as FRR's bfdd sends it while Down, before it knows our discriminator: slow
    /// rate (1 s), 300 ms receive, multiplier 3.
    const DOWN: [u8; 24] = [
        0x20, 0x40, 3, 24, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 0x00, 0x0f, 0x42, 0x40, 0x00, 0x04,
        0x93, 0xe0, 0, 0, 0xc3, 0x50,
    ];

    #[test]
    fn a_down_packet_decodes_field_by_field() {
        let p = Packet::decode(&DOWN).unwrap();
        assert_eq!(p.state, State::Down);
        assert_eq!(p.diag, Diag::None);
        assert_eq!(p.detect_mult, 3);
        assert_eq!(p.my_discriminator, 0x12345678);
        assert_eq!(p.your_discriminator, 0);
        assert_eq!(p.desired_min_tx, Duration::from_secs(1));
        assert_eq!(p.required_min_rx, Duration::from_millis(300));
        assert_eq!(p.required_min_echo_rx, Duration::from_millis(50));
        assert!(!p.poll && !p.final_ && !p.control_plane_independent && !p.demand);
        assert_eq!(p.encode(), DOWN);
    }

    #[test]
    fn flags_and_diag_are_where_section_4_1_puts_them() {
        let p = Packet {
            diag: Diag::AdminDown,
            state: State::Up,
            poll: true,
            final_: true,
            control_plane_independent: true,
            demand: true,
            your_discriminator: 9,
            ..Packet::decode(&DOWN).unwrap()
        };
        let b = p.encode();
        assert_eq!(b[0], 0x20 | 7);
        assert_eq!(b[1], 0xc0 | 0x20 | 0x10 | 0x08 | 0x02);
        assert_eq!(Packet::decode(&b).unwrap(), p);
    }

    #[test]
    fn section_6_8_6_discards() {
        let with = |i: usize, v: u8| {
            let mut b = DOWN;
            b[i] = v;
            Packet::decode(&b)
        };
        assert_eq!(Packet::decode(&DOWN[..23]), Err(Discard::Length));
        assert_eq!(with(0, 0x40), Err(Discard::Version(2)));
        assert_eq!(with(3, 23), Err(Discard::Length));
        assert_eq!(with(3, 25), Err(Discard::Length));
        assert_eq!(with(2, 0), Err(Discard::DetectMult));
        assert_eq!(with(1, 0x41), Err(Discard::Multipoint));
        assert_eq!(with(1, 0x44), Err(Discard::Authentication));
        assert_eq!(with(1, 0xc0), Err(Discard::YourDiscriminator(State::Up)));
        let mut b = DOWN;
        b[4..8].fill(0);
        assert_eq!(Packet::decode(&b), Err(Discard::MyDiscriminator));
        // A Length below what the buffer holds: the rest is ignored.
        let mut long = DOWN.to_vec();
        long.extend_from_slice(&[0; 8]);
        assert!(Packet::decode(&long).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn whatever_decodes_encodes_back_to_the_same_packet(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 24..40)) {
            if let Ok(p) = Packet::decode(&bytes) {
                proptest::prop_assert_eq!(Packet::decode(&p.encode()), Ok(p));
            }
        }
    }
}
