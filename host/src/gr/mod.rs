//! Graceful Restart (RFC 4724, RFC 8538), beside the session FSM and as pure as it.
//!
//! - [`helper`]: the receiving speaker — what to do with a peer's routes when its session drops
//!   and comes back.
//! - [`deferral`]: the restarting speaker — when route selection may run after our restart.
//! - [`restart`]: the restarting speaker — whether this start is a restart (so the OPEN carries
//!   R=1), from a small record kept in `state_dir`.
//! - [`notification_is_graceful`]: which session ends leave routes in place.

pub mod deferral;
pub mod helper;
pub mod restart;

pub use deferral::{DeferralEnd, SelectionDeferral};
pub use helper::{GrHelper, HelperAction, HelperTimers};
pub use restart::{RestartRecord, RestartState};

use crate::fsm::{DownReason, Negotiated};

/// Does this end of an Established session start the helper procedures (keep routes stale)?
///
/// RFC 4724 §4.2: a TCP failure (or the hold timer, which is how one is detected) does, when
/// both sides exchanged the capability. RFC 8538 §4: with the N bit on both sides, so does any
/// NOTIFICATION, sent or received, except a Cease/Hard Reset.
pub fn notification_is_graceful(n: &Negotiated, reason: &DownReason) -> bool {
    let both_gr = n.peer_graceful_restart.is_some() && n.local_graceful_restart.is_some();
    if !both_gr {
        return false;
    }
    match reason {
        DownReason::ConnectionLost | DownReason::HoldTimerExpired => true,
        DownReason::NotificationReceived(x) | DownReason::NotificationSent(x) => {
            n.notification_gr() && !x.is_hard_reset()
        }
        // We stopped the session ourselves (shutting down): not a peer restart.
        DownReason::SilentStop => false,
    }
}
