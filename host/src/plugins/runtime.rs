//! The wasmtime engine shared by every plugin, and one loaded plugin version.

use super::bindings::{
    announce, announce_api, communities, communities_api, gr, gr_api, types, Level,
};
use super::budget::{self, StoreBudget, LOG_LINES_PER_SECOND};
use super::epoch::{self, EpochTicker};
use super::sandbox::{self, Sandbox};
use super::{answer, PluginError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, Linker, ResourceAny};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

/// The version of `wit/policy.wit` this host implements.
pub const CONTRACT_VERSION: &str = "0.6.0";

/// The three plugin kinds, one WIT world each.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    Announce,
    Gr,
    Communities,
}

impl PluginKind {
    pub const ALL: [PluginKind; 3] = [
        PluginKind::Announce,
        PluginKind::Gr,
        PluginKind::Communities,
    ];

    pub fn world(self) -> &'static str {
        match self {
            PluginKind::Announce => "announcement-policy",
            PluginKind::Gr => "gr-profile",
            PluginKind::Communities => "community-tagger",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PluginKind::Announce => "announce",
            PluginKind::Gr => "gr",
            PluginKind::Communities => "communities",
        }
    }
}

impl std::str::FromStr for PluginKind {
    type Err = String;

    /// The kind [`PluginKind::name`] names.
    fn from_str(name: &str) -> Result<PluginKind, String> {
        PluginKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| format!("`{name}` is not announce, communities or gr"))
    }
}

/// Limits of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PluginLimits {
    pub timeout: Duration,
    pub memory_bytes: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            timeout: Duration::from_millis(100),
            memory_bytes: 64 << 20,
        }
    }
}

/// Upper bound of linear memory any plugin may reach; per-plugin caps are lower.
const MAX_MEMORY: usize = 256 << 20;

/// Per-store data: the memory cap, where log lines go, and the WASI stand-ins.
pub struct PluginState {
    budget: StoreBudget,
    plugin: String,
    sandbox: Sandbox,
}

impl wasmtime_wasi::WasiView for PluginState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        self.sandbox.view()
    }
}

impl announce::gracewire::policy::host::Host for PluginState {
    fn log(&mut self, level: Level, message: String) {
        let plugin = self.plugin.as_str();
        let Some(dropped) = self.budget.admit_log_line(Instant::now()) else {
            return;
        };
        if dropped > 0 {
            tracing::warn!(
                plugin,
                dropped,
                "plugin log lines dropped (over {LOG_LINES_PER_SECOND} a second)"
            );
        }
        let message = budget::log_line(&message);
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// One engine and linker for all plugins, the epoch ticker, and the compile cache.
pub struct PluginRuntime {
    engine: Engine,
    ticker: EpochTicker,
    linker: Linker<PluginState>,
    cache_dir: Option<PathBuf>,
}

impl PluginRuntime {
    /// `cache_dir`: where compiled artifacts are kept (created if missing); `None` disables it.
    pub fn new(cache_dir: Option<PathBuf>) -> anyhow::Result<PluginRuntime> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        // On by default; it made calls 3-4x slower here and no plugin needs concurrency.
        config.concurrency_support(false);
        config.epoch_interruption(true);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(64);
        pool.total_core_instances(128);
        pool.total_memories(64);
        pool.total_tables(128);
        pool.max_memory_size(MAX_MEMORY);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        let ticker = EpochTicker::spawn(&engine)?;
        let mut linker = Linker::new(&engine);
        announce::gracewire::policy::host::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        sandbox::add_to_linker(&mut linker)?;
        let cache_dir = cache_dir.filter(|dir| {
            let usable = if dir.exists() {
                crate::private::check_private_dir(dir)
            } else {
                crate::private::private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))
            };
            match usable {
                Ok(()) => true,
                Err(why) => {
                    tracing::error!(why, "plugin compile cache refused: it holds native code gracewire runs, so only gracewire's user may write it (chmod 700 it, or remove it to have it made again); plugins are compiled without it");
                    false
                }
            }
        });
        Ok(PluginRuntime {
            engine,
            ticker,
            linker,
            cache_dir,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles `bytes`, or loads the artifact compiled earlier for the same bytes and engine.
    /// Returns the component and whether it came from the cache.
    /// The `gracewire:policy` version a component imports or exports, when it is not ours.
    fn other_contract(&self, component: &Component) -> Option<String> {
        let ty = component.component_type();
        let mut names: Vec<String> = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        names.extend(ty.imports(&self.engine).map(|(n, _)| n.to_string()));
        names
            .iter()
            .filter_map(|name| {
                let rest = name.strip_prefix("gracewire:policy/")?;
                Some(rest.split_once('@')?.1.to_string())
            })
            .find(|v| v != CONTRACT_VERSION)
    }

    pub fn compile(&self, bytes: &[u8]) -> Result<(Component, bool), PluginError> {
        let mut hasher = Sha256::new();
        hasher.update(bytes);
        // Artifacts are only valid for the same wasmtime version and engine settings.
        let mut compat = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&self.engine.precompile_compatibility_hash(), &mut compat);
        hasher.update(std::hash::Hasher::finish(&compat).to_le_bytes());
        let key: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let cached = self
            .cache_dir
            .as_ref()
            .map(|d| d.join(format!("{key}.cwasm")));
        if let Some(path) = cached.as_ref().filter(|p| p.symlink_metadata().is_ok()) {
            match crate::private::read_private(path) {
                // SAFETY: the bytes are a file we serialized ourselves into our own private
                // state_dir (owner-only directory, file ours, 0600, not a link: checked on the
                // open file), keyed by the hash of its source and of the engine configuration.
                Ok(artifact) => match unsafe { Component::deserialize(&self.engine, &artifact) } {
                    Ok(c) => return Ok((c, true)),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "plugin cache entry unusable; recompiling")
                    }
                },
                Err(why) => {
                    crate::bounds::reached(
                        crate::bounds::Limit::PluginCache,
                        "a cached plugin refused",
                    );
                    tracing::warn!(why, "plugin cache entry refused (native code is loaded only from files of ours, mode 0600, not links); recompiling over it")
                }
            }
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| PluginError::Compile(format!("{e:#}")))?;
        if let Some(path) = cached {
            match component.serialize() {
                Ok(artifact) => {
                    if let Err(e) = crate::private::write_private(&path, &artifact) {
                        tracing::warn!(error = %e, "cannot write the plugin cache");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot serialize the compiled plugin"),
            }
        }
        Ok((component, false))
    }

    /// Compiles, links, instantiates, runs `init(config)` and a self-check call: everything a
    /// swap needs before the plugin may serve. `config_json` is the plugin's TOML table as JSON.
    pub fn load(
        self: &Arc<Self>,
        kind: PluginKind,
        path: &Path,
        config_json: String,
        limits: PluginLimits,
    ) -> Result<Plugin, PluginError> {
        let started = Instant::now();
        let bytes = std::fs::read(path).map_err(|e| PluginError::Read {
            path: path.display().to_string(),
            source: e,
        })?;
        let (component, cached) = self.compile(&bytes)?;
        let other = self.other_contract(&component);
        let wrong = |e: wasmtime::Error| PluginError::WrongWorld {
            world: kind.world(),
            reason: match &other {
                Some(v) => format!(
                    "built for the contract gracewire:policy@{v}, and this gracewire speaks \
                     @{CONTRACT_VERSION}: rebuild the plugin against the SDK of this release \
                     ({e:#})"
                ),
                None => format!("{e:#}"),
            },
        };
        // host.log and WASI 0.2 (the sandbox's stand-ins) are all a plugin may import; anything
        // else refuses it here, naming the import. (Linking unknown imports as traps instead
        // would also shadow WASI: wasmtime 48 stubs `wasi:cli/environment@0.2.9` under that
        // exact name even where the semver-compatible @0.2.12 is defined.)
        let pre = self.linker.instantiate_pre(&component).map_err(wrong)?;
        let pre = match kind {
            PluginKind::Announce => {
                Pre::Announce(announce::AnnouncementPolicyPre::new(pre).map_err(wrong)?)
            }
            PluginKind::Gr => Pre::Gr(gr::GrProfilePre::new(pre).map_err(wrong)?),
            PluginKind::Communities => {
                Pre::Communities(communities::CommunityTaggerPre::new(pre).map_err(wrong)?)
            }
        };
        let plugin = Plugin {
            kind,
            name: path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: hex_sha256(&bytes),
            runtime: self.clone(),
            pre,
            config_json,
            limits,
            instance: Mutex::new(None),
            stats: PluginStats::default(),
        };
        plugin.with_instance(|_| Ok(()))?; // instantiate + init now, not at the first call
        plugin.self_check()?;
        tracing::info!(plugin = %plugin.name, kind = kind.name(), cached, load_ms = started.elapsed().as_secs_f64() * 1e3, "plugin loaded");
        Ok(plugin)
    }
}

/// A trap with what the plugin last printed (a Python traceback, a Rust panic message).
fn with_output(error: PluginError, store: &Store<PluginState>) -> PluginError {
    let output = store.data().sandbox.output_tail();
    match error {
        PluginError::Trap(cause) if !output.is_empty() => PluginError::Trap(format!(
            "{cause}; the plugin printed: {}",
            crate::text::Escaped(&output)
        )),
        other => other,
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

enum Pre {
    Announce(announce::AnnouncementPolicyPre<PluginState>),
    Gr(gr::GrProfilePre<PluginState>),
    Communities(communities::CommunityTaggerPre<PluginState>),
}

enum Bound {
    Announce(announce::AnnouncementPolicy),
    Gr(gr::GrProfile),
    Communities(communities::CommunityTagger),
}

struct Instance {
    store: Store<PluginState>,
    bound: Bound,
    /// The plugin's `routes` resource for the batch it was made from.
    prepared: Option<(u64, ResourceAny)>,
}

/// A batch of candidate routes with an identity: a plugin instance turns it into its `routes`
/// resource once and reuses that for every peer until a batch with another id comes.
pub struct RouteBatch {
    id: u64,
    pub batch: types::Batch,
}

impl RouteBatch {
    pub fn new(batch: types::Batch) -> RouteBatch {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        RouteBatch {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            batch,
        }
    }

    pub fn len(&self) -> usize {
        self.batch.prefix_len.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batch.prefix_len.is_empty()
    }
}

/// Counters shown by `gracewire show plugins`.
#[derive(Debug, Default)]
pub struct PluginStats {
    pub calls: AtomicU64,
    pub errors: AtomicU64,
    pub instantiations: AtomicU64,
    /// Batches handed to the plugin (`routes` resources made).
    pub prepares: AtomicU64,
    pub call_nanos: AtomicU64,
}

/// One loaded plugin version. Calls are serialized on its instance; after any error the
/// instance is dropped and a fresh one (with `init` run again) serves the next call.
pub struct Plugin {
    pub kind: PluginKind,
    pub name: String,
    /// First 8 octets of the SHA-256 of the file, to tell versions apart in logs.
    pub sha256: String,
    runtime: Arc<PluginRuntime>,
    pre: Pre,
    config_json: String,
    pub limits: PluginLimits,
    instance: Mutex<Option<Instance>>,
    pub stats: PluginStats,
}

impl Plugin {
    fn instantiate(&self) -> Result<Instance, PluginError> {
        let mut store = Store::new(
            self.runtime.engine(),
            PluginState {
                budget: StoreBudget::new(self.limits.memory_bytes),
                plugin: self.name.clone(),
                sandbox: Sandbox::new(&self.name),
            },
        );
        store.limiter(|s| &mut s.budget);
        store.epoch_deadline_trap();
        // Instantiation runs the component's start code and init: both under the deadline.
        let _ticking = self.runtime.ticker.call();
        store.set_epoch_deadline(self.deadline_ticks());
        let bound = match &self.pre {
            Pre::Announce(p) => p.instantiate(&mut store).map(Bound::Announce),
            Pre::Gr(p) => p.instantiate(&mut store).map(Bound::Gr),
            Pre::Communities(p) => p.instantiate(&mut store).map(Bound::Communities),
        };
        let bound = bound.map_err(|e| with_output(self.classify(e), &store))?;
        let init = match &bound {
            Bound::Announce(b) => b
                .gracewire_policy_announce()
                .call_init(&mut store, &self.config_json),
            Bound::Gr(b) => b
                .gracewire_policy_gr()
                .call_init(&mut store, &self.config_json),
            Bound::Communities(b) => b
                .gracewire_policy_communities()
                .call_init(&mut store, &self.config_json),
        };
        match init {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => return Err(PluginError::InitRejected(msg)),
            Err(e) => return Err(with_output(self.classify(e), &store)),
        }
        self.stats.instantiations.fetch_add(1, Ordering::Relaxed);
        Ok(Instance {
            store,
            bound,
            prepared: None,
        })
    }

    fn deadline_ticks(&self) -> u64 {
        (self.limits.timeout.as_nanos() / epoch::TICK.as_nanos()).max(1) as u64 + 1
    }

    fn classify(&self, e: wasmtime::Error) -> PluginError {
        match e.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => PluginError::Timeout(self.limits.timeout),
            // The wasm backtrace goes to the debug log; the error keeps the cause only.
            _ => {
                tracing::debug!(plugin = %self.name, "trap: {e:?}");
                PluginError::Trap(e.root_cause().to_string())
            }
        }
    }

    /// Runs `f` on a live instance (made if needed) with a fresh deadline. Any error drops the
    /// instance: a trapped instance may hold broken state.
    fn with_instance<R>(
        &self,
        f: impl FnOnce(&mut Instance) -> Result<R, PluginError>,
    ) -> Result<R, PluginError> {
        let mut slot = self.instance.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(self.instantiate()?);
        }
        let inst = slot.as_mut().expect("just made");
        let _ticking = self.runtime.ticker.call();
        inst.store.set_epoch_deadline(self.deadline_ticks());
        let started = Instant::now();
        let result = f(inst).map_err(|e| with_output(e, &inst.store));
        self.stats
            .call_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        if result.is_err() {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            *slot = None;
        }
        result
    }

    /// The instance's `routes` resource for `routes`, made from the batch if the instance
    /// holds none for it yet (the previous one is dropped).
    fn prepared(
        &self,
        inst: &mut Instance,
        routes: &RouteBatch,
        make: impl FnOnce(&mut Store<PluginState>, &Bound) -> wasmtime::Result<ResourceAny>,
    ) -> Result<ResourceAny, PluginError> {
        if let Some((id, resource)) = inst.prepared {
            if id == routes.id {
                return Ok(resource);
            }
            inst.prepared = None;
            resource
                .resource_drop(&mut inst.store)
                .map_err(|e| self.classify(e))?;
        }
        let resource = make(&mut inst.store, &inst.bound).map_err(|e| self.classify(e))?;
        inst.prepared = Some((routes.id, resource));
        self.stats.prepares.fetch_add(1, Ordering::Relaxed);
        Ok(resource)
    }

    fn invalid<T>(&self, message: String) -> Result<T, PluginError> {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        Err(PluginError::InvalidAnswer(message))
    }

    /// `announce.routes.decide`, with the answer checked against the batch.
    pub fn decide(
        &self,
        peer: &types::Peer,
        routes: &RouteBatch,
    ) -> Result<announce_api::Decisions, PluginError> {
        let out = self.with_instance(|inst| {
            let resource = self.prepared(inst, routes, |store, bound| match bound {
                Bound::Announce(b) => b
                    .gracewire_policy_announce()
                    .routes()
                    .call_constructor(store, &routes.batch),
                _ => Err(wasmtime::format_err!("not an announcement policy")),
            })?;
            match &inst.bound {
                Bound::Announce(b) => b
                    .gracewire_policy_announce()
                    .routes()
                    .call_decide(&mut inst.store, resource, peer)
                    .map_err(|e| self.classify(e)),
                _ => unreachable!("checked when prepared"),
            }
        })?;
        for (i, a) in out.announcements.iter().enumerate() {
            if a.prepend > 15 {
                return self.invalid(format!(
                    "announcement {i}: prepend {} is over 15",
                    a.prepend
                ));
            }
            if a.aggregate_len.is_some_and(|l| l > 128) {
                return self.invalid(format!("announcement {i}: aggregate length over 128"));
            }
            if let Err(e) = answer::check_rule(a.rule.as_deref()) {
                return self.invalid(format!("announcement {i}: {e}"));
            }
        }
        if let Err(e) = answer::check(
            &out.choice,
            &routes.batch,
            out.announcements.len(),
            "announcement",
        ) {
            return self.invalid(e);
        }
        // Only if some announcement sets a next hop: its IP version against each route's.
        if out.announcements.iter().any(|a| a.next_hop.is_some()) {
            let next_hop_v6: Vec<Option<bool>> = out
                .announcements
                .iter()
                .map(|a| a.next_hop.as_ref().map(|n| n.v6))
                .collect();
            let choices = answer::route_choices(&out.choice, &routes.batch);
            for (i, (choice, &v6)) in choices.zip(&routes.batch.v6).enumerate() {
                let Some(k) = choice.checked_sub(1) else {
                    continue;
                };
                if next_hop_v6[k as usize].is_some_and(|nh_v6| nh_v6 != (v6 != 0)) {
                    return self.invalid(format!("route {i}: next hop of the other IP version"));
                }
            }
        }
        Ok(out)
    }

    /// `communities.routes.tag`, with the answer checked against the batch.
    pub fn tag(
        &self,
        peer: &types::Peer,
        routes: &RouteBatch,
    ) -> Result<communities_api::Tagging, PluginError> {
        let out = self.with_instance(|inst| {
            let resource = self.prepared(inst, routes, |store, bound| match bound {
                Bound::Communities(b) => b
                    .gracewire_policy_communities()
                    .routes()
                    .call_constructor(store, &routes.batch),
                _ => Err(wasmtime::format_err!("not a community tagger")),
            })?;
            match &inst.bound {
                Bound::Communities(b) => b
                    .gracewire_policy_communities()
                    .routes()
                    .call_tag(&mut inst.store, resource, peer)
                    .map_err(|e| self.classify(e)),
                _ => unreachable!("checked when prepared"),
            }
        })?;
        if let Err(e) = answer::check(&out.choice, &routes.batch, out.sets.len(), "tag set") {
            return self.invalid(e);
        }
        for (i, set) in out.sets.iter().enumerate() {
            if let Err(e) = answer::check_rule(set.rule.as_deref()) {
                return self.invalid(format!("tag set {i}: {e}"));
            }
            if let Err(e) = answer::check_tag_octets(&set.tags) {
                return self.invalid(format!("tag set {i}: {e}"));
            }
        }
        Ok(out)
    }

    /// `gr.timers`, with values checked against RFC 4724 limits.
    pub fn timers(
        &self,
        peer: &types::Peer,
        cap: Option<&gr_api::PeerCapability>,
    ) -> Result<gr_api::GrTimers, PluginError> {
        let out = self.with_instance(|inst| match &inst.bound {
            Bound::Gr(b) => b
                .gracewire_policy_gr()
                .call_timers(&mut inst.store, peer, cap)
                .map_err(|e| self.classify(e)),
            _ => Err(PluginError::InvalidAnswer("not a GR profile".into())),
        })?;
        if out.restart_time > 4095 {
            return self.invalid(format!("restart time {} is over 4095 s", out.restart_time));
        }
        Ok(out)
    }

    /// A call with representative input before a new version may serve.
    fn self_check(&self) -> Result<(), PluginError> {
        let peer = types::Peer {
            name: "self-check".into(),
            address: types::Address {
                v6: false,
                hi: 0,
                lo: 0xc000_0202,
            },
            local_asn: 64512,
            remote_asn: 65001,
            vendor: "default".into(),
            hold_time: 90,
            families: vec![types::Family::Ipv4Unicast, types::Family::Ipv6Unicast],
        };
        let batch = RouteBatch::new(types::Batch {
            labels: vec![types::Label {
                key: "pool".into(),
                value: "self-check".into(),
            }],
            set_labels: vec![0],
            set_start: vec![0, 1],
            label_set: vec![0],
            addr_hi: vec![0],
            addr_lo: vec![0xc633_640a],
            prefix_len: vec![32],
            v6: vec![0],
        });
        match self.kind {
            PluginKind::Announce => self.decide(&peer, &batch).map(drop),
            PluginKind::Communities => self.tag(&peer, &batch).map(drop),
            PluginKind::Gr => self.timers(&peer, None).map(drop),
        }
    }
}
