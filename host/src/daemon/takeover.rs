//! The daemon's part in a takeover ([`crate::takeover`]): what a paused session's peer has in
//! this process, as the old side hands it over; and the tables a resumed session arrives
//! with, as the new side takes them in (without sending a thing).

use super::{Daemon, Effects, TakeoverFrame, TakeoverStep};
use crate::rib::{OutRoute, RibDiff, RouteAttrs};
use crate::session::Paused;
use crate::session::Resumed;
use crate::takeover::format::{SessionBody, SessionState};
use crate::wire::{CodecContext, Message};
use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

impl Daemon {
    pub(super) fn on_takeover(&mut self, step: TakeoverStep, fx: &mut dyn Effects) {
        match step {
            TakeoverStep::Paused(sessions) => {
                // The new process reads the health checks' verdicts (and what operators set)
                // from the record: as of now, not of the last heartbeat.
                self.write_record(false, fx);
                for (name, paused) in sessions {
                    let frame = self.takeover_frame(&name, &paused);
                    fx.takeover_frame(name, frame);
                }
            }
            TakeoverStep::Failed => {
                self.telemetry.takeover_failed += 1;
                // The BFD task ended for the takeover: the sessions go on from what it gave up.
                for status in self.peers.values().filter_map(|p| p.bfd.as_ref()) {
                    fx.bfd(crate::bfd::io::Command::Set(status.spec.clone()));
                }
            }
            TakeoverStep::Declined(n) => self.telemetry.takeover_declined += n as u64,
        }
    }

    /// The frame for `name`'s paused session: its Adj-RIB-In and Adj-RIB-Out as the UPDATEs
    /// that carry them on the session, with what the session task gave up.
    fn takeover_frame(&self, name: &str, paused: &Paused) -> Option<TakeoverFrame> {
        let peer = self.peers.get(name)?;
        let up = peer.up.as_ref()?;
        let codec = up.negotiated.codec;
        let adj_rib_out = RibDiff {
            announce: peer.adj_out.iter().map(|(p, r)| (*p, r.clone())).collect(),
            withdraw: Vec::new(),
        };
        // Routes sharing an attribute set share one OutRoute, so they pack into one UPDATE.
        let mut shared: FxHashMap<*const RouteAttrs, OutRoute> = FxHashMap::default();
        // Fresh and stale apart: stale routes are those the peer has not sent again yet since
        // a restart of its own; the new process keeps them stale and sweeps them as we would.
        let mut rib_in = |stale: bool| RibDiff {
            announce: self
                .ingest
                .rib()
                .routes_of(peer.rib_id)
                .filter(|(_, route, _)| route.stale == stale)
                .map(|(prefix, route, _)| {
                    let a = &route.attrs;
                    let out = shared
                        .entry(Arc::as_ptr(a))
                        .or_insert_with(|| OutRoute::new(a.next_hop, Arc::new(a.path.clone())));
                    (prefix, out.clone())
                })
                .collect(),
            withdraw: Vec::new(),
        };
        let (adj_rib_in, stale_rib_in) = (rib_in(false), rib_in(true));
        let refreshing = peer.gr.helper.refreshing();
        let stale_in = match peer.gr.stale_until {
            Some(until) if !refreshing.is_empty() => {
                until.saturating_duration_since(self.clock.now())
            }
            _ => Duration::ZERO,
        };
        let body = SessionBody {
            sent_open: Message::Open(paused.negotiated.offered.open())
                .encode(CodecContext::default())
                .to_vec(),
            received_open: paused.received_open.clone(),
            unread: paused.unread.clone(),
            adj_rib_in: adj_rib_in.encode(codec).concat(),
            stale_rib_in: stale_rib_in.encode(codec).concat(),
            adj_rib_out: adj_rib_out.encode(codec).concat(),
        };
        let mut state = SessionState {
            peer: name.to_string(),
            local: paused.local,
            remote: paused.remote,
            keepalive_in_ms: paused.keepalive_in.as_millis() as u64,
            hold_in_ms: paused.hold_in.as_millis() as u64,
            established_ms: self.clock.now().duration_since(up.since).as_millis() as u64,
            eor_sent: up.eor_sent.is_some(),
            eor_received: up
                .eor_received
                .iter()
                .map(|f| f.name().to_string())
                .collect(),
            refreshing: refreshing.iter().map(|f| f.name().to_string()).collect(),
            stale_in_ms: stale_in.as_millis() as u64,
            parts: Default::default(),
        };
        let bytes = body.join(&mut state);
        Some((state, bytes))
    }

    /// A session taken over is up with what it had: the peer's routes go into the RIB, and
    /// what the peer was sent becomes its Adj-RIB-Out as it is, so the evaluation that follows
    /// sends only what this process decides differently.
    pub(super) fn resume_tables(&mut self, name: &Arc<str>, r: Resumed, fx: &mut dyn Effects) {
        let (now, since_start) = (self.clock.now(), self.clock.since_start());
        let Some(peer) = self.peers.get_mut(name) else {
            return;
        };
        let Some(up) = peer.up.as_mut() else { return };
        up.since = now.checked_sub(r.established_for).unwrap_or(now);
        if r.eor_sent {
            up.eor_sent = Some(since_start);
        }
        up.eor_received.extend(r.eor_received);
        let peer_rib_id = peer.rib_id;
        let sent = self.export.adopt_sent(peer, r.adj_rib_out);
        self.telemetry.takeover_resumed += 1;
        let received = r.adj_rib_in.len();
        if !r.refreshing.is_empty() {
            // The peer's refresh after its own restart goes on here: its routes not sent again
            // yet come in stale (alone in the RIB for now, so marking the families marks only
            // them), and the End-of-RIBs still awaited or the stale-path timer sweep them.
            for u in r.stale_rib_in {
                self.ingest(name, u, fx);
            }
            let id = peer_rib_id;
            let stale: usize = r
                .refreshing
                .iter()
                .map(|f| self.ingest.mark_stale(id, *f))
                .sum();
            info!(peer = %name, families = ?r.refreshing, stale, stale_left_s = r.stale_left.as_secs(), "the peer's refresh after its restart goes on here (GR helper)");
            let actions = self.peers.get_mut(name).map_or(Vec::new(), |p| {
                p.gr.helper.resume_refreshing(r.refreshing, r.stale_left)
            });
            self.apply_helper(name, actions, fx);
        }
        for u in r.adj_rib_in {
            self.ingest(name, u, fx);
        }
        info!(peer = %name, advertised = sent, received_updates = received, established_for_s = r.established_for.as_secs(), "session taken over from the previous process");
    }
}
