//! What every source announces ([`crate::sources`]): the config file's `[[announce]]` entries,
//! in their order, and the controllers' sources, set over the control socket. A controller's
//! change is checked whole, written to `state_dir` and only then applied and answered, so an
//! answer means the change outlives this process.

use super::{Daemon, Effects};
use crate::api::{Code, ControlResponse, SourceView};
use crate::config::Announce;
use crate::sources::{Change, Sources, CONFIG};
use ipnet::IpNet;
use std::sync::{Arc, OnceLock};
use tracing::{error, info, warn};

#[derive(Default)]
pub(super) struct Announced {
    /// The config file's, moved out of the running config.
    config: Vec<Announce>,
    /// The config's prefixes sorted, made at the first controller request after a (re)load:
    /// a daemon no controller talks to pays nothing for it.
    config_index: OnceLock<Vec<IpNet>>,
    pub api: Sources,
}

impl Announced {
    pub fn new(config: Vec<Announce>) -> Announced {
        Announced {
            config,
            ..Announced::default()
        }
    }

    /// A reload's announcements replace the config file's.
    pub fn set_config(&mut self, config: Vec<Announce>) {
        self.config = config;
        self.config_index = OnceLock::new();
    }

    /// Whether the config file announces `net`.
    pub fn configured(&self, net: &IpNet) -> bool {
        let index = self.config_index.get_or_init(|| {
            let mut index: Vec<IpNet> = self.config.iter().map(|a| a.prefix.0).collect();
            index.sort_unstable();
            index
        });
        index.binary_search(net).is_ok()
    }

    /// How many announcements each source has, `config` first.
    pub fn counts(&self) -> Vec<(&str, usize)> {
        let api = self.api.iter().map(|(s, a)| (s, a.count()));
        std::iter::once((CONFIG, self.config.len()))
            .chain(api)
            .collect()
    }

    /// Every source's announcements: the config's in its order, then the controllers'.
    pub fn all(&self) -> Vec<Announce> {
        let mut all = Vec::with_capacity(self.config.len() + self.api.len());
        all.extend(self.config.iter().cloned());
        all.extend(self.api.announcements().cloned());
        all
    }
}

impl Daemon {
    /// `gracewire announce set|add|delete`: checked, kept in `state_dir`, then announced.
    pub(super) fn change_source(
        &mut self,
        source: &str,
        change: Change,
        fx: &mut dyn Effects,
    ) -> ControlResponse {
        let configured = |net: &IpNet| self.announced.configured(net);
        let changed = self
            .announced
            .api
            .changed(source, change, &self.config, &configured);
        let (next, delta) = match changed {
            Ok(c) => c,
            Err(refused) => {
                warn!(source, error = %refused, "announcement change refused");
                return ControlResponse::error(refused.code, refused.message);
            }
        };
        let unchanged = delta.added + delta.changed + delta.removed == 0;
        if unchanged {
            // The kept file already says this.
        } else if let Err(e) = fx.store_announcements(next.to_file()) {
            error!(source, error = %e, "cannot keep the announcements in state_dir: change refused");
            return ControlResponse::error(
                Code::Unavailable,
                format!(
                    "cannot write {} in state_dir ({e}): nothing changed",
                    crate::sources::FILE
                ),
            );
        }
        self.announced.api = next;
        info!(
            source,
            added = delta.added,
            changed = delta.changed,
            withdrawn = delta.removed,
            now = delta.now,
            "announcements of a source changed"
        );
        if !unchanged {
            self.announcements_changed(fx);
            let (added, removed, changed) = (delta.added, delta.removed, delta.changed);
            super::emit(fx, || {
                crate::api::events::kind::announcements(source, added, removed, changed)
            });
        }
        ControlResponse::Done {
            message: format!(
                "source {source}: {} announcements ({} added, {} changed, {} withdrawn)",
                delta.now, delta.added, delta.changed, delta.removed
            ),
        }
    }

    /// `gracewire announce list`: one source's announcements, or every source's.
    pub(super) fn list_sources(&self, source: Option<&str>) -> ControlResponse {
        let config = || SourceView {
            source: CONFIG.into(),
            announcements: self.announced.config.clone(),
        };
        let api = self.announced.api.iter().map(|(name, set)| SourceView {
            source: name.into(),
            announcements: set.cloned().collect(),
        });
        let sources: Vec<SourceView> = match source {
            None => std::iter::once(config()).chain(api).collect(),
            Some(CONFIG) => vec![config()],
            Some(s) => api.filter(|v| v.source == s).collect(),
        };
        if sources.is_empty() {
            let source = crate::text::Escaped(source.unwrap_or_default());
            return ControlResponse::error(Code::NotFound, format!("no source `{source}`"));
        }
        ControlResponse::Announcements { sources }
    }

    /// At start, before any peer has its first table: the sources the last process kept.
    pub(super) fn restore_sources(&mut self, file: Option<Vec<u8>>) {
        let Some(bytes) = file else {
            return;
        };
        let configured = |net: &IpNet| self.announced.configured(net);
        match Sources::from_file(&bytes, &self.config, &configured) {
            Ok((sources, dropped)) => {
                for why in &dropped {
                    error!(entry = %why, "an announcement kept in state_dir no longer fits the config: not announced");
                }
                info!(
                    sources = sources.iter().count(),
                    announcements = sources.len(),
                    "announcements set over the control socket restored from state_dir"
                );
                self.announced.api = sources;
            }
            Err(e) => error!(
                file = crate::sources::FILE,
                error = %e,
                "the announcements kept in state_dir cannot be read: none restored"
            ),
        }
    }

    /// The candidates again from every source's announcements, gated by the health checks.
    pub(super) fn configure_candidates(&mut self) {
        let now_ms = self.now_ms();
        let all = self.announced.all();
        self.export.candidates = Arc::new(self.health.configure(&self.config, all, now_ms));
    }

    /// The candidates again, then every peer evaluated: only what changed is sent.
    pub(super) fn announcements_changed(&mut self, fx: &mut dyn Effects) {
        self.configure_candidates();
        fx.health_probes(self.health.probes());
        self.evaluate_all(fx);
    }
}
