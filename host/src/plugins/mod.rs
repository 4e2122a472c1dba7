//! WebAssembly policy plugins: the wasmtime runtime, sandbox limits, compile cache and the
//! typed calls of each plugin kind.
//!
//! ```text
//!  plugin file ──read──► PluginRuntime::compile (cache: state_dir/plugin-cache/<sha256>.cwasm)
//!                              │ InstancePre per plugin version
//!                              ▼
//!                        Plugin::load: instantiate (fresh Store, StoreLimits), init(config),
//!                              │        self-check call — all off the session loop
//!                              ▼
//!  daemon ──Arc<Plugin>──► blocking worker: decide / tag / timers with an epoch deadline
//! ```
//! A plugin imports `host.log` and WASI 0.2, whose stand-ins ([`sandbox`]) give no
//! filesystem, network, real clock or randomness; a component importing anything else is
//! refused at load. A trap, a timeout, a
//! memory cap hit or an invalid answer is a [`PluginError`]: the instance is dropped and made
//! again on the next call, and the caller keeps the last good outcome.

pub mod answer;
pub mod bindings;
mod budget;
pub mod call;
mod epoch;
mod runtime;
pub mod sandbox;
pub mod watch;

pub use runtime::{Plugin, PluginKind, PluginLimits, PluginRuntime, PluginStats, RouteBatch};

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read plugin file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    #[error("does not implement the {world} world: {reason}")]
    WrongWorld { world: &'static str, reason: String },
    #[error("init rejected its config: {0}")]
    InitRejected(String),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("ran past its {0:?} deadline")]
    Timeout(Duration),
    #[error("invalid answer: {0}")]
    InvalidAnswer(String),
}

impl PluginError {
    /// A short name for the metrics' `reason` label.
    pub fn reason(&self) -> &'static str {
        match self {
            PluginError::Read { .. } => "read",
            PluginError::Compile(_) => "compile",
            PluginError::WrongWorld { .. } => "wrong-world",
            PluginError::InitRejected(_) => "init-rejected",
            PluginError::Trap(_) => "trap",
            PluginError::Timeout(_) => "timeout",
            PluginError::InvalidAnswer(_) => "invalid-answer",
        }
    }
}

#[cfg(test)]
mod contract_tests {
    use super::*;
    use std::sync::Arc;

    /// A component exporting an (empty) instance named like an interface of `version`.
    fn component_of(version: &str) -> Vec<u8> {
        use wasm_encoder::{
            Component, ComponentExportKind, ComponentExportSection, ComponentInstanceSection,
        };
        let mut c = Component::new();
        let mut instances = ComponentInstanceSection::new();
        instances.export_items(Vec::<(&str, ComponentExportKind, u32)>::new());
        c.section(&instances);
        let mut exports = ComponentExportSection::new();
        let name = format!("gracewire:policy/gr@{version}");
        exports.export(&name, ComponentExportKind::Instance, 0, None);
        c.section(&exports);
        c.finish()
    }

    /// Why `runtime` refuses `component` as a GR profile.
    fn refusal(component: Vec<u8>) -> String {
        let runtime = Arc::new(PluginRuntime::new(None).unwrap());
        let dir = tempfile_dir();
        let path = dir.join("plugin.wasm");
        std::fs::write(&path, component).unwrap();
        let err = runtime
            .load(
                PluginKind::Gr,
                &path,
                String::new(),
                PluginLimits::default(),
            )
            .err()
            .expect("refused")
            .to_string();
        std::fs::remove_dir_all(dir).unwrap();
        err
    }

    fn tempfile_dir() -> std::path::PathBuf {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("gw-contract-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_plugin_built_for_another_contract_version_is_refused_with_the_versions_named() {
        // 0.4.0: the contract before rule names; 0.3.0: before long-lived GR.
        for old in ["0.4.0", "0.3.0"] {
            let err = refusal(component_of(old));
            assert!(
                err.contains(&format!("built for the contract gracewire:policy@{old}"))
                    && err.contains(&format!("speaks @{}", runtime::CONTRACT_VERSION))
                    && err.contains("rebuild the plugin"),
                "{err}"
            );
        }
        // The right version with the wrong content is refused without that hint.
        let err = refusal(component_of(runtime::CONTRACT_VERSION));
        assert!(!err.contains("built for the contract"), "{err}");
    }

    /// A component that imports instance `name` with one function `handle: func()`.
    fn component_importing(name: &str) -> Vec<u8> {
        use wasm_encoder::{
            Component, ComponentImportSection, ComponentTypeRef, ComponentTypeSection,
            ComponentValType, InstanceType,
        };
        let mut instance = InstanceType::new();
        instance
            .ty()
            .function()
            .params(Vec::<(&str, ComponentValType)>::new())
            .result(None);
        instance.export("handle", ComponentTypeRef::Func(0));
        let mut c = Component::new();
        let mut types = ComponentTypeSection::new();
        types.instance(&instance);
        c.section(&types);
        let mut imports = ComponentImportSection::new();
        imports.import(name, ComponentTypeRef::Instance(0));
        c.section(&imports);
        c.finish()
    }

    #[test]
    fn an_import_beyond_host_log_and_wasi_is_refused_at_load_by_name() {
        let err = refusal(component_importing("wasi:http/incoming-handler@0.2.0"));
        assert!(err.contains("wasi:http/incoming-handler@0.2.0"), "{err}");
    }

    #[test]
    fn a_kind_is_read_back_from_its_name() {
        for kind in PluginKind::ALL {
            assert_eq!(kind.name().parse::<PluginKind>(), Ok(kind));
        }
        let err = "tagger".parse::<PluginKind>().unwrap_err();
        assert!(err.contains("`tagger`"), "{err}");
    }

    #[test]
    fn the_contract_version_is_the_wit_packages() {
        let wit = include_str!("../../../wit/policy.wit");
        assert!(wit.contains(&format!(
            "package gracewire:policy@{};",
            runtime::CONTRACT_VERSION
        )));
    }
}
