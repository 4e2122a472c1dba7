//! Messages sent and received per peer, by type, for the metrics. The session task counts;
//! the daemon keeps the counters with the peer's state across sessions and reloads, so they
//! only ever grow, as Prometheus counters must.

use crate::wire::iana::msg_type;
use crate::wire::{Message, Notification};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    Sent,
    Received,
}

/// The message types counted, in the order of [`MessageCounters::get`]'s index.
pub const KINDS: [&str; 5] = [
    "opens",
    "updates",
    "notifications",
    "keepalives",
    "route_refresh",
];

#[derive(Debug, Default)]
pub struct MessageCounters {
    sent: [AtomicU64; 5],
    received: [AtomicU64; 5],
    /// NOTIFICATIONs by (direction, code, subcode).
    notifications: Mutex<BTreeMap<(Direction, u8, u8), u64>>,
    /// ROUTE-REFRESH requests dropped because the last answer was still queued.
    refreshes_coalesced: AtomicU64,
}

fn index(msg_type: u8) -> Option<usize> {
    match msg_type {
        msg_type::OPEN => Some(0),
        msg_type::UPDATE => Some(1),
        msg_type::NOTIFICATION => Some(2),
        msg_type::KEEPALIVE => Some(3),
        msg_type::ROUTE_REFRESH => Some(4),
        _ => None,
    }
}

impl MessageCounters {
    fn side(&self, d: Direction) -> &[AtomicU64; 5] {
        match d {
            Direction::Sent => &self.sent,
            Direction::Received => &self.received,
        }
    }

    pub fn count(&self, d: Direction, msg: &Message) {
        let t = match msg {
            Message::Open(_) => msg_type::OPEN,
            Message::Update(_) => msg_type::UPDATE,
            Message::Notification(n) => return self.notification(d, n),
            Message::Keepalive => msg_type::KEEPALIVE,
            Message::RouteRefresh(_) => msg_type::ROUTE_REFRESH,
        };
        self.count_type(d, t);
    }

    /// An encoded message (header included), counted by its type octet.
    pub fn count_encoded(&self, d: Direction, bytes: &[u8]) {
        match bytes.get(18) {
            Some(&msg_type::NOTIFICATION) => {
                if let Ok(n) = Notification::decode(&bytes[19..]) {
                    self.notification(d, &n);
                }
            }
            Some(t) => self.count_type(d, *t),
            None => {}
        }
    }

    pub fn count_coalesced_refresh(&self) {
        self.refreshes_coalesced.fetch_add(1, Ordering::Relaxed);
    }

    pub fn coalesced_refreshes(&self) -> u64 {
        self.refreshes_coalesced.load(Ordering::Relaxed)
    }

    fn count_type(&self, d: Direction, t: u8) {
        if let Some(i) = index(t) {
            self.side(d)[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn notification(&self, d: Direction, n: &Notification) {
        self.side(d)[2].fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = self.notifications.lock() {
            *m.entry((d, n.code, n.subcode)).or_default() += 1;
        }
    }

    /// Messages of `KINDS[kind]` counted in direction `d`.
    pub fn get(&self, d: Direction, kind: usize) -> u64 {
        self.side(d)[kind].load(Ordering::Relaxed)
    }

    pub fn notifications(&self) -> Vec<((Direction, u8, u8), u64)> {
        self.notifications
            .lock()
            .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::CodecContext;

    #[test]
    fn counts_by_type_and_notifications_by_code() {
        let c = MessageCounters::default();
        c.count(Direction::Received, &Message::Keepalive);
        c.count_encoded(
            Direction::Sent,
            &Message::Update(Default::default()).encode(CodecContext::default()),
        );
        let n = Notification::new(6, 4);
        c.count_encoded(
            Direction::Sent,
            &Message::Notification(n.clone()).encode(CodecContext::default()),
        );
        c.count(Direction::Received, &Message::Notification(n));
        assert_eq!(c.get(Direction::Received, 3), 1);
        assert_eq!(c.get(Direction::Sent, 1), 1);
        assert_eq!(c.get(Direction::Sent, 2), 1);
        assert_eq!(
            c.notifications(),
            vec![
                ((Direction::Sent, 6, 4), 1),
                ((Direction::Received, 6, 4), 1)
            ]
        );
    }
}
