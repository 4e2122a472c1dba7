//! Our own graceful restart (RFC 4724 §4.1): whether this start is one and its restart window
//! is still open (first OPENs carry R=1), and the selection deferral that waits for every GR
//! peer's End-of-RIB. The helper role lives per peer ([`super::peer`]).

use crate::gr::SelectionDeferral;
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(Default)]
pub(super) struct OwnRestart {
    window_open: bool,
    /// After our own restart: route selection waits for these peers' End-of-RIB.
    pub deferral: SelectionDeferral,
}

impl OwnRestart {
    /// This start is a graceful restart: R=1 until the window closes, and selection waits for
    /// `gr_peers`.
    pub fn begin(&mut self, gr_peers: BTreeSet<Arc<str>>) {
        self.window_open = true;
        self.deferral = SelectionDeferral::start(gr_peers);
    }

    /// First OPENs carry the Restart State bit.
    pub fn restarting(&self) -> bool {
        self.window_open
    }

    /// The restart window is over; `true` if it was open.
    pub fn close_window(&mut self) -> bool {
        std::mem::take(&mut self.window_open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_closes_once_and_the_deferral_waits_for_the_gr_peers() {
        let mut r = OwnRestart::default();
        assert!(
            !r.restarting() && !r.deferral.is_deferring(),
            "a fresh start"
        );
        r.begin(["a".into()].into_iter().collect());
        assert!(r.restarting() && r.deferral.is_deferring());
        assert!(r.close_window());
        assert!(!r.close_window(), "closed already");
        assert!(
            r.deferral.is_deferring(),
            "the window does not end the deferral"
        );
    }
}
