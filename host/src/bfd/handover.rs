//! A planned restart hands the BFD sessions to the next process through `state_dir`; a
//! takeover hands them over with their sockets ([`Inherited`]). To the router the session
//! stays Up (no RFC defines this; FRR 8.4 and BIRD 2.0.12 take BGP down for AdminDown, the
//! RFC's way to announce a planned stop).

use super::session::Handover;
use std::collections::HashMap;
use std::net::{IpAddr, UdpSocket};

/// Sessions handed over by the previous process, in `state_dir`.
pub const HANDOVER_FILE: &str = "bfd-handover.json";
/// Older than this, a handover is not taken: the router has long given up on it.
const HANDOVER_MAX_AGE_SECS: u64 = 60;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct HandoverFile {
    pub written_at: u64,
    pub sessions: HashMap<String, Saved>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Saved {
    pub remote: IpAddr,
    /// Our source port: RFC 5881 §4 keeps it for the session's life.
    pub port: u16,
    pub session: Handover,
}

/// What a takeover moves to the next process (`crate::takeover`): the sessions as a planned
/// restart hands them over, with their sockets, so the source ports stay and the packets that
/// arrive meanwhile wait in the receive sockets instead of finding no port.
#[derive(Debug, Default)]
pub struct Inherited {
    pub sessions: HashMap<String, Saved>,
    /// Each session's send socket, by peer.
    pub senders: HashMap<String, UdpSocket>,
    /// The receive sockets, by (IPv6, multihop).
    pub receivers: Vec<((bool, bool), UdpSocket)>,
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The largest handover file read (a few hundred bytes a session).
pub const HANDOVER_MAX_BYTES: u64 = 4 << 20;

/// Reads (and removes) the handover file, if fresh; a session that does not validate
/// ([`Handover::validate`]) is left out and starts anew.
pub fn take_handover(dir: &std::path::Path) -> HashMap<String, Saved> {
    let path = dir.join(HANDOVER_FILE);
    let Some(bytes) = crate::private::read_bounded(&path, HANDOVER_MAX_BYTES) else {
        return HashMap::new();
    };
    let _ = std::fs::remove_file(&path);
    parse_handover(&bytes, unix_now())
}

/// The sessions of a handover file read at `now`: none if it is stale or does not parse.
pub fn parse_handover(bytes: &[u8], now: u64) -> HashMap<String, Saved> {
    match serde_json::from_slice::<HandoverFile>(bytes) {
        Ok(f) if now.saturating_sub(f.written_at) <= HANDOVER_MAX_AGE_SECS => f
            .sessions
            .into_iter()
            .filter(|(peer, s)| match s.session.validate() {
                Ok(()) => true,
                Err(why) => {
                    tracing::warn!(%peer, why, "BFD handover refused; the session starts anew");
                    false
                }
            })
            .collect(),
        _ => HashMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(age: u64) -> HandoverFile {
        let session = Handover {
            local_discr: 7,
            remote_discr: 9,
            remote_min_rx_us: 300_000,
            remote_desired_min_tx_us: 300_000,
            remote_detect_mult: 3,
        };
        let saved = Saved {
            remote: "192.0.2.1".parse().unwrap(),
            port: 49200,
            session,
        };
        HandoverFile {
            written_at: unix_now() - age,
            sessions: HashMap::from([("router".to_string(), saved)]),
        }
    }

    #[test]
    fn a_fresh_handover_is_taken_once_and_an_old_one_never() {
        let dir = std::env::temp_dir().join(format!("gw-handover-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |f: &HandoverFile| {
            std::fs::write(dir.join(HANDOVER_FILE), serde_json::to_vec(f).unwrap()).unwrap()
        };
        write(&file(5));
        let taken = take_handover(&dir);
        assert_eq!(taken["router"].port, 49200);
        assert_eq!(taken["router"].session.local_discr, 7);
        assert!(
            take_handover(&dir).is_empty(),
            "taken once: the file is gone"
        );
        write(&file(HANDOVER_MAX_AGE_SECS + 1));
        assert!(
            take_handover(&dir).is_empty(),
            "too old for the router to still wait"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
