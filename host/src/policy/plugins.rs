//! The policy step with plugins: candidates become one flat WIT batch (built once per config
//! version), the announce plugin decides, the community tagger tags, and a failing plugin turns
//! its decisions into [`Decision::Fallback`].

use super::decisions::DecisionsBuilder;
use super::{Decision, Decisions, Export, PeerView, Source, Why};
use crate::config::{Announce, OnError};
use crate::plugins::answer::route_choices;
use crate::plugins::bindings::announce_api;
use crate::plugins::bindings::communities_api::TagKind;
use crate::plugins::bindings::{gr_api as gr_wit, types};
use crate::plugins::{Plugin, PluginError, PluginKind, RouteBatch};
use crate::wire::{Family, LargeCommunity};
use ipnet::IpNet;
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// One plugin in service, with how its failures are handled.
#[derive(Clone)]
pub struct ActivePlugin {
    pub plugin: Arc<Plugin>,
    pub on_error: OnError,
    pub path: PathBuf,
    pub config_json: String,
    pub loaded_at: Instant,
}

impl ActivePlugin {
    /// The version as outcomes name it (the file's SHA-256 prefix).
    pub fn version(&self) -> Arc<str> {
        Arc::from(self.plugin.sha256.as_str())
    }

    /// Loads `cfg`'s file as `kind` (compile, init, self-check) with its settings.
    pub fn load(
        runtime: &Arc<crate::plugins::PluginRuntime>,
        kind: PluginKind,
        cfg: &crate::config::PluginConfig,
    ) -> Result<ActivePlugin, PluginError> {
        let config_json = cfg.config_json();
        let plugin = runtime.load(kind, &cfg.path, config_json.clone(), cfg.limits())?;
        Ok(ActivePlugin {
            plugin: Arc::new(plugin),
            on_error: cfg.on_error,
            path: cfg.path.clone(),
            config_json,
            loaded_at: Instant::now(),
        })
    }
}

/// The plugins in service. Replaced as a whole on a swap, so every evaluation sees one
/// consistent set.
#[derive(Clone, Default)]
pub struct PolicySet {
    pub announce: Option<ActivePlugin>,
    pub communities: Option<ActivePlugin>,
    pub gr: Option<ActivePlugin>,
}

impl PolicySet {
    pub fn get(&self, kind: PluginKind) -> Option<&ActivePlugin> {
        match kind {
            PluginKind::Announce => self.announce.as_ref(),
            PluginKind::Gr => self.gr.as_ref(),
            PluginKind::Communities => self.communities.as_ref(),
        }
    }

    pub fn with(&self, kind: PluginKind, plugin: Option<ActivePlugin>) -> PolicySet {
        let mut next = self.clone();
        match kind {
            PluginKind::Announce => next.announce = plugin,
            PluginKind::Gr => next.gr = plugin,
            PluginKind::Communities => next.communities = plugin,
        }
        next
    }
}

/// The configured announcements, and the same as a WIT batch (handed to each plugin instance
/// once, then reused for every peer).
pub struct Candidates {
    pub announce: Vec<Announce>,
    pub routes: RouteBatch,
    /// Every route as configured, worked out once for all peers and evaluations.
    pub configured: Decisions,
}

pub fn address(ip: IpAddr) -> types::Address {
    match ip {
        IpAddr::V4(v4) => types::Address {
            v6: false,
            hi: 0,
            lo: u32::from(v4) as u64,
        },
        IpAddr::V6(v6) => {
            let v = u128::from(v6);
            types::Address {
                v6: true,
                hi: (v >> 64) as u64,
                lo: v as u64,
            }
        }
    }
}

pub fn ip(a: &types::Address) -> IpAddr {
    if a.v6 {
        IpAddr::V6((((a.hi as u128) << 64) | a.lo as u128).into())
    } else {
        IpAddr::V4((a.lo as u32).into())
    }
}

fn family(f: Family) -> types::Family {
    match f {
        Family::Ipv4Unicast => types::Family::Ipv4Unicast,
        Family::Ipv6Unicast => types::Family::Ipv6Unicast,
    }
}

impl Candidates {
    /// Labels become a shared table, equal label lists one shared set, prefixes columns of
    /// integers: per route only integers cross, in blocks, and a plugin can decide per label
    /// set without hashing anything itself.
    pub fn new(announce: Vec<Announce>) -> Candidates {
        let mut batch = types::Batch {
            labels: Vec::new(),
            set_labels: Vec::new(),
            set_start: vec![0],
            label_set: Vec::with_capacity(announce.len()),
            addr_hi: Vec::with_capacity(announce.len()),
            addr_lo: Vec::with_capacity(announce.len()),
            prefix_len: Vec::with_capacity(announce.len()),
            v6: Vec::with_capacity(announce.len()),
        };
        let mut label_index: HashMap<(&str, &str), u32> = HashMap::new();
        let mut set_index: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut refs = Vec::new();
        for a in &announce {
            refs.clear();
            for (k, v) in a.attrs.labels.iter() {
                let i = *label_index
                    .entry((k.as_str(), v.as_str()))
                    .or_insert_with(|| {
                        batch.labels.push(types::Label {
                            key: k.clone(),
                            value: v.clone(),
                        });
                        batch.labels.len() as u32 - 1
                    });
                refs.push(i);
            }
            let set = match set_index.get(&refs) {
                Some(set) => *set,
                None => {
                    let set = set_index.len() as u32;
                    set_index.insert(refs.clone(), set);
                    batch.set_labels.extend_from_slice(&refs);
                    batch.set_start.push(batch.set_labels.len() as u32);
                    set
                }
            };
            batch.label_set.push(set);
            let p: IpNet = a.prefix.0;
            let addr = address(p.addr());
            batch.addr_hi.push(addr.hi);
            batch.addr_lo.push(addr.lo);
            batch.prefix_len.push(p.prefix_len());
            batch.v6.push(addr.v6 as u8);
        }
        let configured = announce
            .iter()
            .map(|a| Decision::Announce(Export::configured(a)))
            .collect();
        Candidates {
            configured,
            announce,
            routes: RouteBatch::new(batch),
        }
    }
}

pub fn wit_peer(view: &PeerView) -> types::Peer {
    types::Peer {
        name: view.name.clone(),
        address: address(view.address),
        local_asn: view.local_asn,
        remote_asn: view.remote_asn,
        vendor: view.vendor.clone(),
        hold_time: view.hold_time,
        families: view.families.iter().map(|f| family(*f)).collect(),
    }
}

/// The outcome of one evaluation: a decision per candidate, the plugin errors met, and how
/// long each plugin call took (for the metrics).
pub struct Evaluation {
    pub decisions: Decisions,
    pub errors: Vec<(PluginKind, PluginError)>,
    pub calls: Vec<(PluginKind, std::time::Duration)>,
}

impl Evaluation {
    /// The outcome when `version` of plugin `kind` failed: every route falls back (its last
    /// good outcome, else `on_error`), and the error is reported.
    pub fn failed(
        candidates: &Candidates,
        kind: PluginKind,
        version: Arc<str>,
        on_error: OnError,
        error: PluginError,
    ) -> Evaluation {
        let mut why = Why::default();
        let fallback = Source::Fallback { version };
        match kind {
            PluginKind::Communities => why.communities = fallback,
            _ => why.announce = fallback,
        }
        let decisions = candidates
            .announce
            .iter()
            .map(|a| {
                let d = Decision::Fallback {
                    on_error,
                    configured: Export::configured(a),
                };
                (d, why.clone())
            })
            .collect();
        Evaluation {
            decisions,
            errors: vec![(kind, error)],
            calls: Vec::new(),
        }
    }

    /// No plugin: every route as configured.
    pub fn configured(candidates: &Candidates) -> Evaluation {
        Evaluation {
            decisions: candidates.configured.clone(),
            errors: Vec::new(),
            calls: Vec::new(),
        }
    }
}

/// Runs the announce and community plugins of `set` over `candidates` for one peer. Meant for a
/// blocking worker thread.
pub fn evaluate(set: &PolicySet, view: &PeerView, candidates: &Candidates) -> Evaluation {
    let peer = wit_peer(view);
    let mut calls = Vec::new();
    let announce = match &set.announce {
        None => None,
        Some(p) => {
            let started = Instant::now();
            let answer = p.plugin.decide(&peer, &candidates.routes);
            calls.push((PluginKind::Announce, started.elapsed()));
            match answer {
                Ok(d) => Some(d),
                Err(err) => {
                    let version = p.version();
                    return Evaluation::failed(
                        candidates,
                        PluginKind::Announce,
                        version,
                        p.on_error,
                        err,
                    );
                }
            }
        }
    };
    let tagging = match &set.communities {
        None => None,
        Some(p) => {
            let started = Instant::now();
            let answer = p.plugin.tag(&peer, &candidates.routes);
            calls.push((PluginKind::Communities, started.elapsed()));
            match answer {
                Ok(t) => Some(t),
                Err(err) => {
                    let kind = PluginKind::Communities;
                    let mut e = Evaluation::failed(candidates, kind, p.version(), p.on_error, err);
                    e.calls = calls;
                    return e;
                }
            }
        }
    };
    let batch = &candidates.routes.batch;
    let configured = &candidates.configured;
    let mut announce_choices = announce.as_ref().map(|d| route_choices(&d.choice, batch));
    let mut tag_choices = tagging.as_ref().map(|t| route_choices(&t.choice, batch));
    // Who decides, per plugin answer entry (0: the plugin's "none"), made once per evaluation.
    let named = |p: &ActivePlugin, rules: Vec<Option<&str>>| {
        let version = p.version();
        let source = |rule: Option<&str>| Source::Plugin {
            version: version.clone(),
            rule: rule.map(Arc::from),
        };
        std::iter::once(source(None))
            .chain(rules.into_iter().map(source))
            .collect::<Vec<_>>()
    };
    let announce_by = match (&set.announce, &announce) {
        (Some(p), Some(answer)) => {
            let rules = answer.announcements.iter().map(|a| a.rule.as_deref());
            named(p, rules.collect())
        }
        _ => Vec::new(),
    };
    let tagged_by = match (&set.communities, &tagging) {
        (Some(p), Some(answer)) => {
            named(p, answer.sets.iter().map(|s| s.rule.as_deref()).collect())
        }
        _ => Vec::new(),
    };
    let source = |by: &[Source], k: u32| by.get(k as usize).cloned().unwrap_or_default();
    // Each distinct (configured route, announce choice, tag choice) is worked out once.
    const NO_PLUGIN: u32 = u32::MAX;
    let mut combined: FxHashMap<(u32, u32, u32), u32> = FxHashMap::default();
    let mut decisions = DecisionsBuilder::with_routes(configured.len());
    for &c in configured.of_route() {
        // Checked by the runtime: one choice per route, each 0 or a valid index.
        let a = announce_choices
            .as_mut()
            .map_or(NO_PLUGIN, |it| it.next().unwrap_or(0));
        let t = tag_choices
            .as_mut()
            .map_or(NO_PLUGIN, |it| it.next().unwrap_or(0));
        let k = *combined.entry((c, a, t)).or_insert_with(|| {
            let mut d = configured.outcomes()[c as usize].clone();
            if let Decision::Announce(e) = &mut d {
                let chosen = announce
                    .as_ref()
                    .map(|answer| a.checked_sub(1).map(|k| &answer.announcements[k as usize]));
                match chosen {
                    Some(None) => d = Decision::Skip,
                    Some(Some(choice)) => apply_announcement(e, choice),
                    None => {}
                }
            }
            let mut why = Why {
                announce: source(&announce_by, a),
                communities: Source::Configured,
            };
            if let (Decision::Announce(e), Some(tags)) = (&mut d, &tagging) {
                let set = t.checked_sub(1).map(|k| &tags.sets[k as usize]);
                for tag in set.map_or(&[][..], |s| &s.tags) {
                    apply_tag(e, tag);
                }
                why.communities = source(&tagged_by, t);
            }
            decisions.outcome(d, why)
        });
        decisions.push(k);
    }
    Evaluation {
        decisions: decisions.finish(),
        errors: Vec::new(),
        calls,
    }
}

fn apply_announcement(e: &mut Export, a: &announce_api::Announcement) {
    if let Some(nh) = &a.next_hop {
        e.next_hop = Some(ip(nh));
    }
    e.med = a.med.or(e.med);
    e.local_pref = a.local_pref.or(e.local_pref);
    e.prepend = a.prepend;
    e.aggregate_len = a.aggregate_len;
}

fn apply_tag(e: &mut Export, t: &crate::plugins::bindings::communities_api::Tag) {
    let large = LargeCommunity {
        global: t.a,
        local1: t.b,
        local2: t.c,
    };
    match t.kind {
        TagKind::AddStandard => e.communities.push(t.a),
        TagKind::AddLarge => e.large_communities.push(large),
        TagKind::AddExtended => e.ext_communities.push(t.ext),
        TagKind::RemoveStandard => e.communities.retain(|c| *c != t.a),
        TagKind::RemoveLarge => e.large_communities.retain(|c| *c != large),
        TagKind::RemoveExtended => e.ext_communities.retain(|c| *c != t.ext),
    }
}

/// GR timers for one peer from the `gr-profile` plugin.
pub fn gr_timers(
    plugin: &Plugin,
    view: &PeerView,
    peer_cap: Option<&crate::wire::GracefulRestartCap>,
    peer_long_lived_stale_time: u32,
) -> Result<GrTimers, PluginError> {
    let cap = peer_cap.map(|c| gr_wit::PeerCapability {
        restart_state: c.restart_state,
        notification: c.notification,
        restart_time: c.restart_time,
        families: c
            .families
            .iter()
            .filter_map(|f| {
                f.family().map(|fam| gr_wit::FamilyFlags {
                    family: family(fam),
                    forwarding_preserved: f.forwarding_preserved,
                })
            })
            .collect(),
        long_lived_stale_time: peer_long_lived_stale_time,
    });
    let t = plugin.timers(&wit_peer(view), cap.as_ref())?;
    Ok(GrTimers {
        restart_time: t.restart_time,
        stale_path_time: t.stale_path_time,
        selection_deferral_time: t.selection_deferral_time,
        notification: t.notification,
        long_lived_stale_time: t
            .long_lived_stale_time
            .map(|s| s.min(crate::wire::long_lived::MAX_STALE_TIME)),
        forwarding: t
            .forwarding_preserved
            .iter()
            .map(|f| {
                let fam = match f.family {
                    types::Family::Ipv4Unicast => Family::Ipv4Unicast,
                    types::Family::Ipv6Unicast => Family::Ipv6Unicast,
                };
                (fam, f.forwarding_preserved)
            })
            .collect(),
    })
}

/// GR timers chosen for a peer (by the plugin, or from the config without one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrTimers {
    pub restart_time: u16,
    pub stale_path_time: u32,
    pub selection_deferral_time: u32,
    pub notification: bool,
    /// `None`: the config's long-lived stale time stands.
    pub long_lived_stale_time: Option<u32>,
    pub forwarding: Vec<(Family, bool)>,
}

/// Loads every plugin the config names (at start, and for `gracewire check`): an error names the
/// plugin and its file.
pub fn load_all(
    config: &crate::config::Config,
    runtime: &Arc<crate::plugins::PluginRuntime>,
) -> anyhow::Result<PolicySet> {
    let mut set = PolicySet::default();
    for kind in PluginKind::ALL {
        let Some(cfg) = config.plugin(kind) else {
            continue;
        };
        let active = ActivePlugin::load(runtime, kind, cfg)
            .map_err(|e| anyhow::anyhow!("plugins.{}: {}: {e}", kind.name(), cfg.path.display()))?;
        set = set.with(kind, Some(active));
    }
    Ok(set)
}
