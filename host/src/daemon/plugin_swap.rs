//! Plugin hot swap: a changed file is compiled, instantiated, initialised and self-checked off
//! the loop; only then does the new version replace the old one, and every peer's Adj-RIB-Out
//! is re-evaluated so only the difference is sent. A bad version is rejected with its cause
//! and the running one stays. GR profile changes apply to our timers at once and to the
//! capability at the next OPEN; no session is reset for them.

use super::{Daemon, Effects, GrProfileJob, PeerCommand};
use crate::api::events::kind as events;
use crate::config::{PluginConfig, Plugins};
use crate::plugins::{Plugin, PluginError, PluginKind, PluginRuntime};
use crate::policy::plugins::{ActivePlugin, GrTimers};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
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
        /// How long the call took.
        took: Duration,
    },
}

impl std::fmt::Debug for PluginEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginEvent::Changed { kind, .. } => write!(f, "Changed({})", kind.name()),
            PluginEvent::Loaded { kind, result, .. } => {
                write!(f, "Loaded({}, ok: {})", kind.name(), result.is_ok())
            }
            PluginEvent::GrTimers { peer, result, .. } => {
                write!(f, "GrTimers({peer}, {result:?})")
            }
        }
    }
}

/// A plugin version to load off the loop.
pub struct PluginLoad {
    pub kind: PluginKind,
    pub config: PluginConfig,
    /// When the change was noticed (for the swap latency).
    pub since: Instant,
}

impl PluginLoad {
    pub fn run(self, runtime: &Arc<PluginRuntime>) -> PluginEvent {
        let config_json = self.config.config_json();
        let result = runtime.load(
            self.kind,
            &self.config.path,
            config_json.clone(),
            self.config.limits(),
        );
        PluginEvent::Loaded {
            kind: self.kind,
            since: self.since,
            path: self.config.path,
            config_json,
            result,
        }
    }
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
    pub(super) fn watch_plugin_files(&mut self, fx: &mut dyn Effects) {
        let files: Vec<(PluginKind, PathBuf)> = PluginKind::ALL
            .into_iter()
            .filter_map(|k| self.config.plugin(k).map(|p| (k, p.path.clone())))
            .collect();
        fx.watch_plugins(files);
    }

    /// After a config reload: reload plugins whose settings changed, drop removed ones.
    pub(super) fn reload_changed_plugins(&mut self, old: &Plugins, fx: &mut dyn Effects) {
        let changed: Vec<PluginKind> = PluginKind::ALL
            .into_iter()
            .filter(|k| old.get(*k) != self.config.plugin(*k))
            .collect();
        for kind in changed {
            if self.config.plugin(kind).is_some() {
                let since = self.clock.now();
                self.on_plugin_event(PluginEvent::Changed { kind, since }, fx);
            } else {
                info!(
                    plugin = kind.name(),
                    "plugin removed from the config; built-in behaviour from now on"
                );
                self.export.policy = Arc::new(self.export.policy.with(kind, None));
                self.after_swap(kind, fx);
            }
        }
        self.watch_plugin_files(fx);
    }

    pub(super) fn on_plugin_event(&mut self, ev: PluginEvent, fx: &mut dyn Effects) {
        match ev {
            PluginEvent::Changed { kind, since } => {
                let Some(config) = self.config.plugin(kind).cloned() else {
                    return;
                };
                info!(plugin = kind.name(), path = %config.path.display(), "plugin file changed: loading the new version off the hot path");
                fx.load_plugin(PluginLoad {
                    kind,
                    config,
                    since,
                });
            }
            PluginEvent::Loaded {
                kind,
                since,
                path,
                config_json,
                result,
            } => self.on_plugin_loaded(kind, since, path, config_json, result, fx),
            PluginEvent::GrTimers { peer, result, took } => {
                self.telemetry.plugin_call(PluginKind::Gr, took);
                if let Err(e) = &result {
                    self.telemetry.plugin_error(PluginKind::Gr, e);
                }
                self.on_gr_timers(peer, result, fx)
            }
        }
    }

    fn on_plugin_loaded(
        &mut self,
        kind: PluginKind,
        since: Instant,
        path: PathBuf,
        config_json: String,
        result: Result<Plugin, PluginError>,
        fx: &mut dyn Effects,
    ) {
        let status = self.plugin_status.entry(kind).or_default();
        let plugin = match result {
            Ok(plugin) => plugin,
            Err(e) => {
                self.telemetry.plugin_error(kind, &e);
                status.rejections += 1;
                status.last_error = Some(e.to_string());
                error!(plugin = kind.name(), path = %path.display(), cause = %e, "new plugin rejected; the running version stays");
                super::emit(fx, || {
                    events::plugin(kind.name(), "rejected", None, Some(e.to_string()))
                });
                return;
            }
        };
        let Some(cfg) = self.config.plugin(kind) else {
            return; // removed from the config while it loaded
        };
        let ms = self.clock.now().duration_since(since).as_secs_f64() * 1e3;
        status.swaps += 1;
        status.last_swap_ms = Some(ms);
        info!(plugin = kind.name(), version = %plugin.sha256, swap_ms = ms, "plugin swapped in");
        super::emit(fx, || {
            events::plugin(
                kind.name(),
                "swapped",
                Some(plugin.sha256.to_string()),
                None,
            )
        });
        let active = ActivePlugin {
            plugin: Arc::new(plugin),
            on_error: cfg.on_error,
            path,
            config_json,
            loaded_at: self.clock.now(),
        };
        self.export.policy = Arc::new(self.export.policy.with(kind, Some(active)));
        self.after_swap(kind, fx);
    }

    fn after_swap(&mut self, kind: PluginKind, fx: &mut dyn Effects) {
        if kind == PluginKind::Gr {
            let names: Vec<Arc<str>> = self.peers.keys().cloned().collect();
            for name in names {
                self.refresh_gr_timers(&name, fx);
            }
        } else {
            self.evaluate_all(fx);
        }
    }

    /// Asks the GR profile plugin for this peer's timers (off the loop). Without a plugin the
    /// config's values apply.
    pub(super) fn refresh_gr_timers(&mut self, name: &Arc<str>, fx: &mut dyn Effects) {
        let Some(peer) = self.peers.get_mut(name) else {
            return;
        };
        let Some(active) = self.export.policy.gr.clone() else {
            if peer.gr.timers.take().is_some() {
                let settings =
                    peer.open_settings(&self.config.global, self.own_restart.restarting());
                fx.command(name, PeerCommand::Settings(settings));
            }
            return;
        };
        fx.gr_profile(GrProfileJob {
            peer: name.clone(),
            plugin: active.plugin,
            view: peer.view(name, &self.config.global),
            peer_capability: peer
                .negotiated()
                .and_then(|n| n.peer_graceful_restart.clone()),
            peer_long_lived_stale_time: peer
                .negotiated()
                .and_then(|n| n.peer_long_lived.as_ref())
                .map_or(0, |l| {
                    l.families.iter().map(|f| f.stale_time).max().unwrap_or(0)
                }),
        });
    }

    fn on_gr_timers(
        &mut self,
        name: Arc<str>,
        result: Result<GrTimers, PluginError>,
        fx: &mut dyn Effects,
    ) {
        let Some(peer) = self.peers.get_mut(&name) else {
            return;
        };
        match result {
            Ok(t) => {
                if peer.gr.timers.as_ref() != Some(&t) {
                    info!(peer = %name, restart_time = t.restart_time, stale_path_time = t.stale_path_time, notification = t.notification, long_lived_stale_time = ?t.long_lived_stale_time, "GR timers from the profile plugin: our timers now, the capability at the next OPEN (no session reset)");
                }
                peer.gr.timers = Some(t);
                let settings =
                    peer.open_settings(&self.config.global, self.own_restart.restarting());
                fx.command(&name, PeerCommand::Settings(settings));
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
