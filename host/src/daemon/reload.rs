//! Config reload (SIGHUP): apply only the difference, never reset a session that does not need
//! it, and keep running as before when the new file is bad.

use super::{Daemon, Effects, PeerCommand};
use crate::config::{Config, Peer};
use crate::wire::notification::cease;
use std::sync::Arc;
use tracing::{error, info, warn};

/// Fields whose change needs a new TCP session (the MD5 key and TTLs are set on the socket).
fn needs_new_session(old: &Peer, new: &Peer) -> bool {
    old.address != new.address
        || old.port != new.port
        || old.asn != new.asn
        || old.local_address != new.local_address
        || old.passive != new.passive
        || old.password != new.password
        || old.ebgp_multihop != new.ebgp_multihop
        || old.ttl_security_hops != new.ttl_security_hops
}

impl Daemon {
    /// Applies a re-read config: what it applied, or why it refused it (nothing changed then).
    pub(super) fn reload(
        &mut self,
        new: Result<Config, String>,
        fx: &mut dyn Effects,
    ) -> Result<String, String> {
        let new = new.and_then(|new| self.announced.api.fit(&new).map(|()| new));
        let mut new = match new {
            Ok(c) => c,
            Err(e) => {
                self.telemetry.reloads_refused += 1;
                error!("config reload rejected, running config unchanged: {e}");
                super::emit(fx, || crate::api::events::kind::reload(false, e.clone()));
                return Err(e);
            }
        };
        let old_global = &self.config.global;
        if new.global.asn != old_global.asn
            || new.global.router_id != old_global.router_id
            || new.global.listen != old_global.listen
            || new.global.state_dir != old_global.state_dir
            || new.global.control_socket != old_global.control_socket
            || new.global.metrics != old_global.metrics
        {
            warn!("changes to [global] asn, router_id, listen, state_dir, control_socket or metrics take effect at the next restart");
            new.global.asn = old_global.asn;
            new.global.router_id = old_global.router_id;
            new.global.listen = old_global.listen;
            new.global.state_dir = old_global.state_dir.clone();
            new.global.control_socket = old_global.control_socket.clone();
            new.global.metrics = old_global.metrics;
        }
        let old_peers: Vec<Peer> = self.config.peers().cloned().collect();
        let old_plugins = self.config.plugins.clone();
        let new_peers: Vec<Peer> = new.peers().cloned().collect();
        let restart_time_changed = new.global.restart_time != self.config.global.restart_time;
        let old_config = std::mem::replace(&mut self.config, new);

        for old in &old_peers {
            if !new_peers.iter().any(|p| p.name() == old.name()) {
                let name: Arc<str> = old.name().into();
                let why = "peer removed from configuration";
                self.remove_peer(&name, cease::PEER_DECONFIGURED, why, fx);
            }
        }
        for peer in new_peers {
            let name: Arc<str> = peer.name().into();
            match old_peers.iter().find(|p| p.name() == peer.name()) {
                None => {
                    self.start_peer(peer, Default::default(), &|_| None, fx);
                    self.refresh_gr_timers(&name, fx);
                }
                Some(old) if needs_new_session(old, &peer) => {
                    let why = "peer address, port, AS, password or TTL changed";
                    let totals = self.peers.get(&name).map(|p| p.totals.clone());
                    self.remove_peer(&name, cease::OTHER_CONFIG_CHANGE, why, fx);
                    self.start_peer(peer, totals.unwrap_or_default(), &|_| None, fx);
                    self.refresh_gr_timers(&name, fx);
                }
                Some(_) => {
                    let Some(state) = self.peers.get_mut(&name) else {
                        continue;
                    };
                    let before =
                        state.open_settings(&old_config.global, self.own_restart.restarting());
                    state.cfg = peer;
                    let settings =
                        state.open_settings(&self.config.global, self.own_restart.restarting());
                    if before != settings || restart_time_changed {
                        info!(peer = %name, "session settings changed; they take effect at the next OPEN, the session is not reset");
                    }
                    fx.command(&name, PeerCommand::Settings(settings));
                    self.sync_bfd(&name, fx);
                }
            }
        }
        let removed: Vec<std::net::IpAddr> = old_peers
            .iter()
            .map(|p| p.address)
            .filter(|a| !self.peers.values().any(|p| p.cfg.address == *a))
            .collect();
        self.push_listener_keys(&removed, fx);
        self.announced.set_config(self.config.take_announcements());
        self.configure_candidates();
        fx.health_probes(self.health.probes());
        self.reload_changed_plugins(&old_plugins, fx);
        self.evaluate_all(fx);
        self.collect_interners(true);
        crate::heap::release_free_memory();
        self.telemetry.reloads_ok += 1;
        let (peers, announcements) = (self.peers.len(), self.export.candidates.announce.len());
        info!(peers, announcements, "config reloaded");
        let message = format!("config reloaded: {peers} peers, {announcements} announcements");
        super::emit(fx, || {
            crate::api::events::kind::reload(true, message.clone())
        });
        Ok(message)
    }
}
