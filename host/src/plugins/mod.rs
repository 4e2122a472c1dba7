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
//! A plugin imports nothing but `host.log`: any other import (WASI included) is linked as a
//! trap, so a plugin has no filesystem, network, clock or randomness. A trap, a timeout, a
//! memory cap hit or an invalid answer is a [`PluginError`]: the instance is dropped and made
//! again on the next call, and the caller keeps the last good outcome.

pub mod answer;
pub mod bindings;
mod runtime;
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
