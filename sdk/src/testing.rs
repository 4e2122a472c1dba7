//! Run the built `.wasm` in the real gracewire plugin runtime (the same wasmtime engine,
//! limits and linker as the daemon) and call it with the SDK's plain Rust values, so a plugin's
//! tests can cover both its logic (natively) and its artifact.
//!
//! ```ignore
//! let wasm = gracewire_sdk::testing::build_wasm(env!("CARGO_MANIFEST_DIR"));
//! let plugin = TestPlugin::announce(&wasm, r#"{"default":"skip"}"#)?;
//! let decisions = plugin.decide(&peer, &batch)?;
//! assert!(decisions.get(0).is_some());
//! ```

use crate::{announce, communities, gr, types};
use anyhow::{bail, Context, Result};
use gracewire::plugins::{bindings, Plugin, PluginKind, PluginLimits, PluginRuntime, RouteBatch};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

/// Builds the plugin crate at `manifest_dir` for `wasm32-wasip2` (release) and returns the
/// path of its `.wasm`. Debug info is off, as in cargo's default release profile, even if the
/// workspace turns it on for native code: it would make the `.wasm` ~15 times larger, and the
/// host hashes and parses the whole file on every load.
pub fn build_wasm(manifest_dir: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--config",
            "profile.release.debug=false",
            "--target",
            "wasm32-wasip2",
            "--message-format=json",
            "--manifest-path",
        ])
        .arg(Path::new(manifest_dir).join("Cargo.toml"))
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "building the plugin failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = Path::new(manifest_dir)
        .join("Cargo.toml")
        .canonicalize()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| m["manifest_path"].as_str().map(PathBuf::from) == Some(manifest.clone()))
        .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
        .expect("the build produced a .wasm")
}

/// One runtime per test process, compiling through a cache in the target directory
/// (`target/<profile>/plugin-cache`), so each artifact is compiled once per build of it, not
/// once per test (an 18 MB Python component takes seconds).
fn runtime() -> Arc<PluginRuntime> {
    static RUNTIME: OnceLock<Arc<PluginRuntime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let cache = std::env::current_exe()
                .ok()
                .and_then(|exe| Some(exe.parent()?.parent()?.join("plugin-cache")));
            Arc::new(PluginRuntime::new(cache).expect("plugin runtime"))
        })
        .clone()
}

/// The SDK's types and the host's are generated from the same WIT: convert through serde.
fn convert<A: Serialize, B: DeserializeOwned>(a: &A) -> B {
    serde_json::from_value(serde_json::to_value(a).expect("serialize"))
        .expect("same WIT, same shape")
}

/// A loaded plugin artifact.
pub struct TestPlugin {
    plugin: Plugin,
}

impl TestPlugin {
    pub fn load(kind: PluginKind, wasm: &Path, config_json: &str) -> Result<TestPlugin> {
        let plugin = runtime()
            .load(kind, wasm, config_json.to_string(), PluginLimits::default())
            .with_context(|| format!("loading {}", wasm.display()))?;
        Ok(TestPlugin { plugin })
    }

    pub fn announce(wasm: &Path, config_json: &str) -> Result<TestPlugin> {
        Self::load(PluginKind::Announce, wasm, config_json)
    }

    pub fn communities(wasm: &Path, config_json: &str) -> Result<TestPlugin> {
        Self::load(PluginKind::Communities, wasm, config_json)
    }

    pub fn gr(wasm: &Path, config_json: &str) -> Result<TestPlugin> {
        Self::load(PluginKind::Gr, wasm, config_json)
    }

    /// The plugin's decisions for `batch` towards `peer`, checked as the daemon checks them.
    pub fn decide(&self, peer: &types::Peer, batch: &types::Batch) -> Result<announce::Decisions> {
        self.decide_prepared(peer, &self.prepare(batch))
    }

    /// A batch the plugin prepares once and then answers from for any peer, as in the daemon.
    pub fn prepare(&self, batch: &types::Batch) -> RouteBatch {
        RouteBatch::new(convert(batch))
    }

    pub fn decide_prepared(
        &self,
        peer: &types::Peer,
        routes: &RouteBatch,
    ) -> Result<announce::Decisions> {
        Ok(convert(&self.plugin.decide(&convert(peer), routes)?))
    }

    /// The plugin's tags for `batch` towards `peer`, checked as the daemon checks them.
    pub fn tag(&self, peer: &types::Peer, batch: &types::Batch) -> Result<communities::Tagging> {
        let routes = RouteBatch::new(convert(batch));
        let out = self.plugin.tag(&convert(peer), &routes)?;
        Ok(convert(&out))
    }

    pub fn timers(
        &self,
        peer: &types::Peer,
        cap: Option<&gr::PeerCapability>,
    ) -> Result<gr::GrTimers> {
        let cap: Option<bindings::gr_api::PeerCapability> = cap.map(convert);
        let out = self.plugin.timers(&convert(peer), cap.as_ref())?;
        Ok(convert(&out))
    }

    /// `routes` resources the plugin made since load (the load's self-check makes one).
    pub fn prepares(&self) -> u64 {
        self.plugin
            .stats
            .prepares
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Calls that failed (trap, timeout, invalid answer) since load.
    pub fn errors(&self) -> u64 {
        self.plugin
            .stats
            .errors
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Fails unless loading reports an error whose text contains `needle`.
pub fn expect_load_error(
    kind: PluginKind,
    wasm: &Path,
    config_json: &str,
    needle: &str,
) -> Result<()> {
    match TestPlugin::load(kind, wasm, config_json) {
        Ok(_) => bail!("loading succeeded; expected an error containing `{needle}`"),
        Err(e) if format!("{e:#}").contains(needle) => Ok(()),
        Err(e) => bail!("error `{e:#}` does not contain `{needle}`"),
    }
}
