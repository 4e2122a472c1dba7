//! `gracewire plugin call`: one call of a built plugin in the daemon's own runtime, with its
//! input and answer as JSON, so tests in any language (the Python SDK's harness, the shared
//! behaviour tables) run the real artifact under the real sandbox, limits and answer checks.
//!
//! Input (stdin): `{"peer": PEER, "batch": BATCH}` for `announce` and `communities`,
//! `{"peer": PEER, "capability": CAP|null}` for `gr`; the answer is the world's record
//! (`decisions`, `tagging`, `gr-timers`). Field names are the WIT names in snake case, enum
//! cases in UpperCamelCase (`"Ipv4Unicast"`, `"AddStandard"`), variants as `{"PerRoute": [..]}`.

use super::bindings::{gr_api, types};
use super::{PluginKind, PluginLimits, PluginRuntime, RouteBatch};
use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallInput {
    peer: types::Peer,
    #[serde(default)]
    batch: Option<types::Batch>,
    #[serde(default)]
    capability: Option<gr_api::PeerCapability>,
}

/// Loads `plugin` as `kind` with `config_json` (init and self-check, as a swap does), makes
/// the call `input` describes and returns the answer as JSON.
pub fn call_json(
    runtime: &Arc<PluginRuntime>,
    kind: PluginKind,
    plugin: &Path,
    config_json: &str,
    input: &str,
) -> Result<String> {
    let input: CallInput = serde_json::from_str(input).context("reading the call's input")?;
    let plugin = runtime.load(
        kind,
        plugin,
        config_json.to_string(),
        PluginLimits::default(),
    )?;
    let batch = || {
        input
            .batch
            .clone()
            .map(RouteBatch::new)
            .context("this kind of plugin needs a `batch`")
    };
    let answer = match kind {
        PluginKind::Announce => serde_json::to_string(&plugin.decide(&input.peer, &batch()?)?),
        PluginKind::Communities => serde_json::to_string(&plugin.tag(&input.peer, &batch()?)?),
        PluginKind::Gr => {
            serde_json::to_string(&plugin.timers(&input.peer, input.capability.as_ref())?)
        }
    };
    Ok(answer?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_names_the_problem() {
        let runtime = Arc::new(PluginRuntime::new(None).unwrap());
        let err = call_json(
            &runtime,
            PluginKind::Communities,
            Path::new("/nonexistent.wasm"),
            "",
            r#"{"peer": {"name": "p"}}"#,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("missing field"), "{err:#}");
        let err = call_json(
            &runtime,
            PluginKind::Communities,
            Path::new("/nonexistent.wasm"),
            "",
            r#"{"peer": {"name":"p","address":{"v6":false,"hi":0,"lo":1},"local_asn":1,
                "remote_asn":2,"vendor":"","hold_time":90,"families":["Ipv4Unicast"]}}"#,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent.wasm"), "{err:#}");
    }
}
