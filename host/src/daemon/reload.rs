//! Config reload (SIGHUP): apply only the difference, never reset a session that does not need
//! it, and keep running as before when the new file is bad.

use super::{local_settings, Daemon};
use crate::config::{Config, Peer};
use crate::policy::plugins::Candidates;
use crate::session::SessionCommand;
use crate::wire::notification::cease;
use std::sync::Arc;
use tracing::{error, info, warn};

/// Fields whose change needs a new TCP session.
fn needs_new_session(old: &Peer, new: &Peer) -> bool {
    old.address != new.address
        || old.port != new.port
        || old.asn != new.asn
        || old.local_address != new.local_address
        || old.passive != new.passive
}

impl Daemon {
    pub(super) fn reload(&mut self) {
        let mut new = match Config::load(&self.config_path) {
            Ok(c) => c,
            Err(e) => {
                error!("config reload rejected, running config unchanged: {e}");
                return;
            }
        };
        let old_global = &self.config.global;
        if new.global.asn != old_global.asn
            || new.global.router_id != old_global.router_id
            || new.global.listen != old_global.listen
            || new.global.state_dir != old_global.state_dir
            || new.global.control_socket != old_global.control_socket
        {
            warn!("changes to [global] asn, router_id, listen, state_dir or control_socket take effect at the next restart");
            new.global = old_global.clone();
        }
        let old_peers: Vec<Peer> = self.config.peers().cloned().collect();
        let old_plugins = self.config.plugins.clone();
        let new_peers: Vec<Peer> = new.peers().cloned().collect();
        let restart_time_changed = new.global.restart_time != self.config.global.restart_time;
        self.config = new;

        for old in &old_peers {
            if !new_peers.iter().any(|p| p.name() == old.name()) {
                let name: Arc<str> = old.name().into();
                self.remove_peer(
                    &name,
                    cease::PEER_DECONFIGURED,
                    "peer removed from configuration",
                );
            }
        }
        for peer in new_peers {
            let name: Arc<str> = peer.name().into();
            match old_peers.iter().find(|p| p.name() == peer.name()) {
                None => {
                    self.start_peer(peer, None);
                    self.refresh_gr_timers(&name);
                }
                Some(old) if needs_new_session(old, &peer) => {
                    self.remove_peer(
                        &name,
                        cease::OTHER_CONFIG_CHANGE,
                        "peer address, port or AS changed",
                    );
                    self.start_peer(peer, None);
                    self.refresh_gr_timers(&name);
                }
                Some(old) => {
                    let restarting =
                        self.restarting && !self.peers.get(&name).is_some_and(|p| p.up_once);
                    let gr = self.peers.get(&name).and_then(|p| p.gr_timers.clone());
                    let settings =
                        local_settings(&self.config.global, &peer, restarting, gr.as_ref());
                    if local_settings(&self.config.global, old, restarting, gr.as_ref()) != settings
                        || restart_time_changed
                    {
                        info!(peer = %name, "session settings changed; they take effect at the next OPEN, the session is not reset");
                    }
                    if let Some(state) = self.peers.get_mut(&name) {
                        let _ = state.commands.send(SessionCommand::Settings(settings));
                        state.cfg = peer;
                    }
                }
            }
        }
        self.candidates = Arc::new(Candidates::new(self.config.take_announcements()));
        self.reload_changed_plugins(&old_plugins);
        self.evaluate_all();
        info!(
            peers = self.peers.len(),
            announcements = self.candidates.announce.len(),
            "config reloaded"
        );
    }
}
