//! Plugin hot swap: a changed file is compiled, instantiated, initialised and self-checked on a
//! blocking worker; only then does the new version replace the old one, and every peer's
//! Adj-RIB-Out is re-evaluated so only the difference is sent. A bad version is rejected with
//! its cause and the running one stays. GR profile changes apply to our timers at once and to
//! the capability at the next OPEN; no session is reset for them.

use super::{local_settings, Daemon};
use crate::config::Plugins;
use crate::plugins::watch::{watch, PluginWatcher};
use crate::plugins::{Plugin, PluginError, PluginKind};
use crate::policy::plugins::{gr_timers, ActivePlugin, GrTimers};
use crate::policy::PeerView;
use crate::session::SessionCommand;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tracing::{error, info, warn};

pub enum PluginEvent {
    /// The file changed (watch, or a reload changed its settings).
    Changed { kind: PluginKind, since: Instant },
    Loaded {
        kind: PluginKind,
        since: Instant,
        path: PathBuf,
        config_json: String,
        result: Result<Plugin, PluginError>,
    },
    GrTimers {
        peer: Arc<str>,
        result: Result<GrTimers, PluginError>,
    },
}

/// What `gracewire show plugins` reports per kind.
#[derive(Debug, Default, Clone)]
pub struct PluginStatus {
    pub swaps: u64,
    pub rejections: u64,
    pub last_swap_ms: Option<f64>,
    pub last_error: Option<String>,
}

impl Daemon {
    pub(super) fn start_plugin_watch(&mut self) {
        let files: Vec<(PluginKind, PathBuf)> = PluginKind::ALL
            .into_iter()
            .filter_map(|k| self.config.plugin(k).map(|p| (k, p.path.clone())))
            .collect();
        self.watcher = None;
        if files.is_empty() {
            return;
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        match watch(files, tx) {
            Ok(w) => self.watcher = Some(w as PluginWatcher),
            Err(e) => {
                error!(error = %e, "cannot watch plugin files; send SIGHUP after replacing a plugin");
                return;
            }
        }
        let events = self.plugin_tx.clone();
        tokio::spawn(async move {
            while let Some((kind, since)) = rx.recv().await {
                if events.send(PluginEvent::Changed { kind, since }).is_err() {
                    return;
                }
            }
        });
    }

    /// After a config reload: reload plugins whose settings changed, drop removed ones.
    pub(super) fn reload_changed_plugins(&mut self, old: &Plugins) {
        let old_config = Plugins::clone(old);
        let changed: Vec<PluginKind> = PluginKind::ALL
            .into_iter()
            .filter(|k| {
                let before = match k {
                    PluginKind::Announce => &old_config.announce,
                    PluginKind::Gr => &old_config.gr,
                    PluginKind::Communities => &old_config.communities,
                };
                before.as_ref() != self.config.plugin(*k)
            })
            .collect();
        for kind in changed {
            if self.config.plugin(kind).is_some() {
                self.on_plugin_event(PluginEvent::Changed {
                    kind,
                    since: Instant::now(),
                });
            } else {
                info!(
                    plugin = kind.name(),
                    "plugin removed from the config; built-in behaviour from now on"
                );
                self.policy = Arc::new(self.policy.with(kind, None));
                self.after_swap(kind);
            }
        }
        self.start_plugin_watch();
    }

    pub(super) fn on_plugin_event(&mut self, ev: PluginEvent) {
        match ev {
            PluginEvent::Changed { kind, since } => {
                let Some(cfg) = self.config.plugin(kind).cloned() else {
                    return;
                };
                info!(plugin = kind.name(), path = %cfg.path.display(), "plugin file changed: loading the new version off the hot path");
                let (runtime, tx) = (self.runtime.clone(), self.plugin_tx.clone());
                tokio::task::spawn_blocking(move || {
                    let config_json = cfg.config_json();
                    let result = runtime.load(kind, &cfg.path, config_json.clone(), cfg.limits());
                    let _ = tx.send(PluginEvent::Loaded {
                        kind,
                        since,
                        path: cfg.path,
                        config_json,
                        result,
                    });
                });
            }
            PluginEvent::Loaded {
                kind,
                since,
                path,
                config_json,
                result,
            } => {
                let status = self.plugin_status.entry(kind).or_default();
                match result {
                    Ok(plugin) => {
                        let Some(cfg) = self.config.plugin(kind) else {
                            return;
                        };
                        let ms = since.elapsed().as_secs_f64() * 1e3;
                        status.swaps += 1;
                        status.last_swap_ms = Some(ms);
                        info!(plugin = kind.name(), version = %plugin.sha256, swap_ms = ms, "plugin swapped in");
                        let active = ActivePlugin {
                            plugin: Arc::new(plugin),
                            on_error: cfg.on_error,
                            path,
                            config_json,
                            loaded_at: Instant::now(),
                        };
                        self.policy = Arc::new(self.policy.with(kind, Some(active)));
                        self.after_swap(kind);
                    }
                    Err(e) => {
                        status.rejections += 1;
                        status.last_error = Some(e.to_string());
                        error!(plugin = kind.name(), path = %path.display(), cause = %e, "new plugin rejected; the running version stays");
                    }
                }
            }
            PluginEvent::GrTimers { peer, result } => self.on_gr_timers(peer, result),
        }
    }

    fn after_swap(&mut self, kind: PluginKind) {
        if kind == PluginKind::Gr {
            self.refresh_gr_timers_all();
        } else {
            self.evaluate_all();
        }
    }

    /// The GR profile's answer for a peer about to start, asked synchronously: only called
    /// before the sessions exist.
    pub(super) fn initial_gr_timers(&self, cfg: &crate::config::Peer) -> Option<GrTimers> {
        let active = self.policy.gr.as_ref()?;
        let view = PeerView {
            name: cfg.name(),
            address: cfg.address,
            local_address: cfg.local_address.unwrap_or(cfg.address),
            local_asn: self.config.global.asn.0,
            remote_asn: cfg.asn.0,
            vendor: cfg.vendor.clone(),
            hold_time: cfg.hold_time.0,
            families: cfg.families(),
        };
        match gr_timers(&active.plugin, &view, None) {
            Ok(t) => Some(t),
            Err(e) => {
                warn!(peer = %cfg.name(), error = %e, "GR profile plugin failed; config values for now");
                None
            }
        }
    }

    pub(super) fn refresh_gr_timers_all(&mut self) {
        let names: Vec<Arc<str>> = self.peers.keys().cloned().collect();
        for name in names {
            self.refresh_gr_timers(&name);
        }
    }

    /// Asks the GR profile plugin for this peer's timers (off the loop). Without a plugin the
    /// config's values apply.
    pub(super) fn refresh_gr_timers(&mut self, name: &Arc<str>) {
        let Some(peer) = self.peers.get_mut(name) else {
            return;
        };
        let Some(active) = self.policy.gr.clone() else {
            if peer.gr_timers.take().is_some() {
                let settings = local_settings(
                    &self.config.global,
                    &peer.cfg,
                    self.restarting && !peer.up_once,
                    None,
                );
                let _ = peer.commands.send(SessionCommand::Settings(settings));
            }
            return;
        };
        let view = PeerView {
            name: name.to_string(),
            address: peer.cfg.address,
            local_address: peer.local.map_or(peer.cfg.address, |l| l.ip()),
            local_asn: self.config.global.asn.0,
            remote_asn: peer.cfg.asn.0,
            vendor: peer.cfg.vendor.clone(),
            hold_time: peer.cfg.hold_time.0,
            families: peer.cfg.families(),
        };
        let cap = peer
            .negotiated
            .as_ref()
            .and_then(|n| n.peer_graceful_restart.clone());
        let (tx, peer_name) = (self.plugin_tx.clone(), name.clone());
        tokio::task::spawn_blocking(move || {
            let result = gr_timers(&active.plugin, &view, cap.as_ref());
            let _ = tx.send(PluginEvent::GrTimers {
                peer: peer_name,
                result,
            });
        });
    }

    fn on_gr_timers(&mut self, name: Arc<str>, result: Result<GrTimers, PluginError>) {
        let Some(peer) = self.peers.get_mut(&name) else {
            return;
        };
        match result {
            Ok(t) => {
                if peer.gr_timers.as_ref() != Some(&t) {
                    info!(peer = %name, restart_time = t.restart_time, stale_path_time = t.stale_path_time, notification = t.notification, "GR timers from the profile plugin: our timers now, the capability at the next OPEN (no session reset)");
                }
                let settings = local_settings(
                    &self.config.global,
                    &peer.cfg,
                    self.restarting && !peer.up_once,
                    Some(&t),
                );
                let _ = peer.commands.send(SessionCommand::Settings(settings));
                peer.gr_timers = Some(t);
            }
            Err(e) => {
                warn!(peer = %name, error = %e, "GR profile plugin failed; keeping the previous timers");
                self.plugin_status
                    .entry(PluginKind::Gr)
                    .or_default()
                    .last_error = Some(e.to_string());
            }
        }
    }
}
