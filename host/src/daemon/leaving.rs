//! How this speaker leaves: the drain (RFC 8326: re-announce with GRACEFUL_SHUTDOWN, wait,
//! withdraw) and the decommission mark that lets a preStop hook tell a node that goes for
//! good from a restart. Pure bookkeeping: the daemon arms the timer and sends the routes.

use super::ReplyTo;
use crate::policy::DrainState;

#[derive(Default)]
pub(super) struct Leaving {
    drain: Drain,
    /// Marked for decommission: `drain --if-marked` drains.
    marked: bool,
}

#[derive(Default)]
enum Drain {
    #[default]
    Off,
    /// Routes carry GRACEFUL_SHUTDOWN; withdrawn when the timer with `token` fires.
    Announcing {
        token: u64,
        waiting: Vec<ReplyTo>,
    },
    Withdrawn,
}

/// What a drain request does.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum DrainStart {
    /// Already withdrawn: the request is answered at once.
    AlreadyDrained,
    /// A drain is under way: the request is answered with it.
    Joined,
    /// A new drain: arm its timer with the token given.
    Started,
}

impl Leaving {
    pub fn state(&self) -> DrainState {
        match self.drain {
            Drain::Off => DrainState::Off,
            Drain::Announcing { .. } => DrainState::Announcing,
            Drain::Withdrawn => DrainState::Withdrawn,
        }
    }

    /// A drain request; `token` names the withdraw timer if this starts one.
    pub fn drain(&mut self, token: u64, reply: Option<ReplyTo>) -> DrainStart {
        match &mut self.drain {
            Drain::Withdrawn => DrainStart::AlreadyDrained,
            Drain::Announcing { waiting, .. } => {
                waiting.extend(reply);
                DrainStart::Joined
            }
            Drain::Off => {
                let waiting = reply.into_iter().collect();
                self.drain = Drain::Announcing { token, waiting };
                DrainStart::Started
            }
        }
    }

    /// The withdraw timer `token` fired: the requests to answer, or `None` if that timer is
    /// stale (an undrain came in between).
    pub fn withdraw_due(&mut self, token: u64) -> Option<Vec<ReplyTo>> {
        if !matches!(self.drain, Drain::Announcing { token: t, .. } if t == token) {
            return None;
        }
        match std::mem::replace(&mut self.drain, Drain::Withdrawn) {
            Drain::Announcing { waiting, .. } => Some(waiting),
            _ => None,
        }
    }

    /// Undrain: the requests still waiting for a drain (answered as cancelled), or `None` when
    /// nothing was drained.
    pub fn cancel(&mut self) -> Option<Vec<ReplyTo>> {
        match std::mem::take(&mut self.drain) {
            Drain::Off => None,
            Drain::Announcing { waiting, .. } => Some(waiting),
            Drain::Withdrawn => Some(Vec::new()),
        }
    }

    pub fn mark_decommission(&mut self) {
        self.marked = true;
    }

    pub fn marked_for_decommission(&self) -> bool {
        self.marked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_is_joined_while_announcing_and_refused_once_withdrawn() {
        let mut l = Leaving::default();
        assert_eq!(l.drain(7, Some(1)), DrainStart::Started);
        assert_eq!(l.drain(8, Some(2)), DrainStart::Joined);
        assert_eq!(l.state(), DrainState::Announcing);
        assert_eq!(l.withdraw_due(8), None, "a timer not armed for this drain");
        assert_eq!(l.withdraw_due(7), Some(vec![1, 2]));
        assert_eq!(l.state(), DrainState::Withdrawn);
        assert_eq!(l.drain(9, Some(3)), DrainStart::AlreadyDrained);
    }

    #[test]
    fn an_undrain_cancels_the_waiting_requests_and_makes_the_timer_stale() {
        let mut l = Leaving::default();
        assert_eq!(l.cancel(), None, "nothing to undrain");
        l.drain(1, Some(5));
        assert_eq!(l.cancel(), Some(vec![5]));
        assert_eq!(l.withdraw_due(1), None);
        assert_eq!(l.state(), DrainState::Off);
    }
}
