//! Connection collision detection (RFC 4271 §6.8), as a pure decision.
//!
//! Two TCP connections to the same peer exist when both sides connect at once, or when the
//! peer opens a new connection while an old one is still being set up (a peer that restarted,
//! or reconnected right after a Hard Reset). Once the second connection's OPEN has been read,
//! [`resolve`] says which one stays; the driver closes the other with Cease / Connection
//! Collision Resolution (RFC 4486 subcode 7). Losing a collision is not a failure: it never
//! grows the back-off ([`super::Event::CollisionLost`]).

use super::State;
use std::net::Ipv4Addr;

/// Who opened a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initiator {
    /// We connected to the peer.
    Local,
    /// The peer connected to us.
    Remote,
}

/// What is known when a second connection's OPEN has arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Collision {
    /// The session's state on the existing connection.
    pub state: State,
    pub existing: Initiator,
    /// Always [`Initiator::Remote`] today (our own connects are abandoned once a connection
    /// exists), kept explicit so every case reads the same.
    pub new: Initiator,
    pub local_id: Ipv4Addr,
    pub local_asn: u32,
    /// The BGP Identifier and AS in the new connection's OPEN.
    pub remote_id: Ipv4Addr,
    pub remote_asn: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Close the new connection.
    KeepExisting,
    /// Close the existing connection and go on with the new one.
    KeepNew,
}

/// RFC 4271 §6.8: the connection opened by the speaker with the higher BGP Identifier stays.
/// An Established session always stays (we do not implement the optional
/// CollisionDetectEstablishedState). Two connections opened by the same side are no collision
/// of the two speakers: the peer has given up the older one, so the newer one stays.
pub fn resolve(c: &Collision) -> Resolution {
    if c.state == State::Established {
        return Resolution::KeepExisting;
    }
    if c.existing == c.new {
        return Resolution::KeepNew;
    }
    let keep = if keep_locally_initiated(c.local_id, c.local_asn, c.remote_id, c.remote_asn) {
        Initiator::Local
    } else {
        Initiator::Remote
    };
    if keep == c.existing {
        Resolution::KeepExisting
    } else {
        Resolution::KeepNew
    }
}

/// Should the connection that *we* initiated survive? RFC 4271 §6.8 compares the BGP
/// Identifiers as unsigned integers; RFC 6286 §2.3: when they are equal (possible between
/// ASes), the side with the larger AS number keeps the connection it opened.
pub fn keep_locally_initiated(
    local_id: Ipv4Addr,
    local_asn: u32,
    remote_id: Ipv4Addr,
    remote_asn: u32,
) -> bool {
    match u32::from(local_id).cmp(&u32::from(remote_id)) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => local_asn > remote_asn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Initiator::*;
    use Resolution::*;

    const LOW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const HIGH: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn case(
        state: State,
        existing: Initiator,
        local_id: Ipv4Addr,
        remote_id: Ipv4Addr,
    ) -> Resolution {
        resolve(&Collision {
            state,
            existing,
            new: Remote,
            local_id,
            local_asn: 64512,
            remote_id,
            remote_asn: 65001,
        })
    }

    #[test]
    fn higher_identifier_keeps_its_own_connection_in_open_sent_and_open_confirm() {
        for state in [State::OpenSent, State::OpenConfirm] {
            // Ours came first; we have the higher identifier: ours stays.
            assert_eq!(case(state, Local, HIGH, LOW), KeepExisting, "{state:?}");
            // Ours came first; the peer has the higher identifier: its connection stays.
            assert_eq!(case(state, Local, LOW, HIGH), KeepNew, "{state:?}");
        }
    }

    #[test]
    fn the_peers_connection_first_then_another_from_the_peer_keeps_the_newer() {
        for state in [State::OpenSent, State::OpenConfirm] {
            for (l, r) in [(HIGH, LOW), (LOW, HIGH)] {
                assert_eq!(case(state, Remote, l, r), KeepNew, "{state:?}");
            }
        }
    }

    #[test]
    fn an_established_session_is_never_replaced() {
        for existing in [Local, Remote] {
            for (l, r) in [(HIGH, LOW), (LOW, HIGH), (LOW, LOW)] {
                assert_eq!(case(State::Established, existing, l, r), KeepExisting);
            }
        }
    }

    #[test]
    fn equal_identifiers_are_decided_by_the_as_number() {
        let mut c = Collision {
            state: State::OpenSent,
            existing: Local,
            new: Remote,
            local_id: LOW,
            local_asn: 65001,
            remote_id: LOW,
            remote_asn: 64512,
        };
        assert_eq!(resolve(&c), KeepExisting, "our AS is larger: ours stays");
        c.local_asn = 64000;
        assert_eq!(resolve(&c), KeepNew, "theirs is larger: theirs stays");
    }

    #[test]
    fn identifiers_compare_as_unsigned_integers() {
        let big = Ipv4Addr::new(200, 0, 0, 1);
        let small = Ipv4Addr::new(9, 255, 255, 255);
        assert!(keep_locally_initiated(big, 1, small, 2));
        assert!(!keep_locally_initiated(small, 2, big, 1));
    }
}
