//! What the plugin tests share: a gracewire config with one gobgpd-facing peer (GR off) and
//! plugins, announcements with labels, and a plugin file replaced the way a deployment would.

use crate::Lab;
use std::path::Path;

/// A config for gracewire at `lab.addr(1)` with one peer "peer" at `lab.addr(2)`, AS 65001,
/// graceful restart off, then `plugins` and `routes` as they are.
pub fn plugin_config(lab: &Lab, plugins: &str, routes: &str) -> String {
    format!(
        r#"[global]
asn = 64512
router_id = "{gw}"
listen = "{gw}:179"
state_dir = "{{state_dir}}"

[[peers]]
name = "peer"
address = "{peer}"
asn = 65001
local_address = "{gw}"
hold_time = 9
connect_retry = 1
graceful_restart = false
{plugins}
{routes}"#,
        gw = lab.addr(1),
        peer = lab.addr(2),
    )
}

/// One `[[announce]]` entry; `labels` is the inside of a TOML inline table.
pub fn labelled_route(prefix: &str, nh: &str, labels: &str) -> String {
    format!("\n[[announce]]\nprefix = \"{prefix}\"\nnext_hop = \"{nh}\"\nlabels = {{ {labels} }}\n")
}

/// Replaces `dst` atomically, the way a deployment would.
pub fn install(src: &Path, dst: &Path) {
    let tmp = dst.with_extension("new");
    std::fs::copy(src, &tmp).unwrap();
    std::fs::rename(&tmp, dst).unwrap();
}
