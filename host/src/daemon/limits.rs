//! Max-prefix (RFC 4486 §4): a peer that sends more prefixes of a family than its limit is
//! warned about once its count passes a share of the limit, and reset past it with Cease 1
//! (AFI, SAFI and the limit as data; inside a Hard Reset when N is negotiated, as RFC 8538 §5.1
//! suggests, so its routes are flushed, not kept stale), then held down for
//! `max_prefix_restart`. With `max_prefix_warn_only` it is only warned about. The limits are
//! also what bounds the RIB's memory, and its unkeyed hash, per peer.

use super::{Daemon, Effects, PeerCommand};
use crate::config::FamilyName;
use crate::wire::notification::{cease, code};
use crate::wire::{Family, Notification};
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, warn};

/// RFC 4486 §4: AFI (2 octets), SAFI (1), upper bound (4).
fn max_prefix_data(family: Family, limit: u32) -> Vec<u8> {
    let (afi, safi) = family.afi_safi();
    let mut data = afi.to_be_bytes().to_vec();
    data.push(safi);
    data.extend_from_slice(&limit.to_be_bytes());
    data
}

/// The prefix count from which a peer is warned about: `percent` of `limit`, rounded up.
pub(super) fn warn_at(limit: u32, percent: u8) -> u64 {
    (limit as u64 * percent as u64).div_ceil(100)
}

impl Daemon {
    /// After an UPDATE: checks the families it announced routes of.
    pub(super) fn check_prefix_limits(
        &mut self,
        name: &Arc<str>,
        families: &[Family],
        fx: &mut dyn Effects,
    ) {
        let Some(p) = self.peers.get_mut(name) else {
            return;
        };
        let Some(up) = p.up.as_mut() else { return };
        for &family in families {
            let Some(&limit) = p.cfg.max_prefixes.get(&FamilyName(family)) else {
                continue;
            };
            let count = self.ingest.rib().count(p.rib_id, family);
            let warn_at = warn_at(limit, p.cfg.max_prefix_warning);
            if (count as u64) < warn_at {
                up.limit_warned.remove(&family);
                continue;
            }
            if count as u64 <= limit as u64 || p.cfg.max_prefix_warn_only {
                if up.limit_warned.insert(family) {
                    warn!(peer = %name, %family, count, limit, warn_only = p.cfg.max_prefix_warn_only, "prefix count at {}% of the limit or more", p.cfg.max_prefix_warning);
                }
                continue;
            }
            if up.limit_reset {
                continue; // the reset is on its way
            }
            up.limit_reset = true;
            crate::bounds::reached(
                crate::bounds::Limit::MaxPrefix,
                "a peer passed max_prefixes",
            );
            let hold_down = Duration::from_secs(p.cfg.max_prefix_restart as u64);
            error!(peer = %name, %family, count, limit, hold_down_secs = hold_down.as_secs(), "prefix limit passed: session reset (Cease 1), routes flushed");
            p.last_error = Some(format!(
                "{count} {family} prefixes passed the limit of {limit}"
            ));
            let inner = Notification::with_data(
                code::CEASE,
                cease::MAX_PREFIXES,
                max_prefix_data(family, limit),
            );
            let notification = Self::hard_reset_if_n(Some(&up.negotiated), inner);
            let hold_down = Some(hold_down);
            fx.command(
                name,
                PeerCommand::Reset {
                    notification,
                    hold_down,
                },
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cease_carries_afi_safi_and_the_limit() {
        assert_eq!(
            max_prefix_data(Family::Ipv6Unicast, 1000),
            vec![0, 2, 1, 0, 0, 3, 0xe8]
        );
    }
}
