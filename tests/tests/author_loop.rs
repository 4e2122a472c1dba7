//! docs/plugins.md's "Writing a plugin" loop, run as written from a fresh directory outside this
//! repository: a new crate (or Python project) that depends on the SDK by path, its tests run
//! natively, the component built, and `gracewire check` accepting it in a config.

use gracewire_e2e::python::python;
use gracewire_e2e::run;
use gracewire_e2e::workspace;
use std::path::Path;
use std::process::Command;

/// A config that loads `wasm` as the announcement policy, with `config` for its `init`.
fn check(dir: &Path, wasm: &Path, config: &str) -> String {
    let toml = format!(
        r#"[global]
asn = 64512
router_id = "192.0.2.1"
state_dir = "{state}"

[[peers]]
name = "tor1"
address = "127.0.0.2"
asn = 65001

[[announce]]
prefix = "198.51.100.10/32"
next_hop = "192.0.2.1"
labels = {{ pool = "public" }}

[plugins.announce]
path = "{wasm}"
config = {config}
"#,
        state = dir.join("state").display(),
        wasm = wasm.display(),
    );
    std::fs::write(dir.join("gracewire.toml"), toml).unwrap();
    run(Command::new(gracewire_e2e::gracewire::binary())
        .args(["check", "--config"])
        .arg(dir.join("gracewire.toml")))
}

const RUST_POLICY: &str = r#"
use gracewire_sdk::announce::{Decisions, Guest, GuestRoutes};
use gracewire_sdk::types::{Batch, Peer};
use gracewire_sdk::{announce_as_configured, DecisionsBuilder, LabelSelector, label_set_slot};

pub struct SkipPrivate;
impl Guest for SkipPrivate {
    type Routes = Prepared;
    fn init(_config: String) -> Result<(), String> { Ok(()) }
}
pub struct Prepared(Vec<bool>);
impl GuestRoutes for Prepared {
    fn new(batch: Batch) -> Self {
        let private = LabelSelector::new().one_of(&batch, "pool", &["private"]);
        Prepared((0..batch.set_count()).map(|s| private.matches(&batch, s)).collect())
    }
    fn decide(&self, _peer: Peer) -> Decisions {
        let mut out = DecisionsBuilder::per_label_set(self.0.len());
        let announce = out.announcement(announce_as_configured());
        for (set, private) in self.0.iter().enumerate() {
            let choice = if *private { 0 } else { announce };
            out.set(label_set_slot(set, false), choice);
            out.set(label_set_slot(set, true), choice);
        }
        out.build()
    }
}
#[cfg(target_arch = "wasm32")]
gracewire_sdk::announce::export_announcement_policy!(SkipPrivate);

#[cfg(test)]
mod tests {
    use super::*;
    use gracewire_sdk::{test_peer, BatchBuilder};
    #[test]
    fn skips_private() {
        let batch = BatchBuilder::default()
            .route("198.51.100.10/32", &[("pool", "public")])
            .route("198.51.100.20/32", &[("pool", "private")])
            .build();
        let d = Prepared::new(batch.clone()).decide(test_peer("tor1", 64512, 65001, "frr"));
        assert!(d.get(&batch, 0).is_some());
        assert!(d.get(&batch, 1).is_none());
    }
}
"#;

#[test]
fn a_rust_plugin_from_a_fresh_crate() {
    let tmp = tempfile::tempdir().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(&cargo)
        .args(["new", "--lib", "--quiet", "my-policy"])
        .current_dir(tmp.path()));
    let dir = tmp.path().join("my-policy");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    // docs/plugins.md: crate-type cdylib + rlib; the SDK by path (or git) until it is published.
    let manifest = manifest.replace(
        "[dependencies]",
        &format!(
            "[lib]\ncrate-type = [\"cdylib\", \"rlib\"]\n\n[dependencies]\ngracewire-sdk = {{ path = \"{}\" }}",
            workspace().join("sdk").display()
        ),
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("src/lib.rs"), RUST_POLICY).unwrap();
    // Not in docs/plugins.md: this repository's lock file, so the crates built here are reused.
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let tested = run(Command::new(&cargo).args(["test", "-q"]).current_dir(&dir));
    assert!(tested.contains("1 passed"), "{tested}");
    run(Command::new(&cargo)
        .args(["build", "-q", "--release", "--target", "wasm32-wasip2"])
        .current_dir(&dir));
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.join("target"));
    let wasm = target.join("wasm32-wasip2/release/my_policy.wasm");
    let checked = check(tmp.path(), &wasm, "{}");
    assert!(
        checked.contains("ok (1 peers, 1 announcements, 1 plugins)"),
        "{checked}"
    );
}

const PY_APP: &str = r#"
import wit_world
import wit_world.exports
from gracewire_sdk import log

class Announce(wit_world.exports.Announce):
    def init(self, config: str) -> None:
        log("info", "skip-private ready")
"#;

const PY_ROUTES: &str = r#"
from gracewire_sdk import DecisionsBuilder, LabelSelector, announce_as_configured, label_set_slot, set_count
from wit_world.exports import announce as api

class Routes(api.Routes):
    def __init__(self, batch):
        private = LabelSelector().one_of(batch, "pool", ["private"])
        self.private = [private.matches(batch, s) for s in range(set_count(batch))]

    def decide(self, peer):
        out = DecisionsBuilder(sets=len(self.private))
        announce = out.announcement(announce_as_configured())
        for s, private in enumerate(self.private):
            out.set(label_set_slot(s, False), 0 if private else announce)
            out.set(label_set_slot(s, True), 0 if private else announce)
        return out.build()
"#;

const PY_TEST: &str = r#"
from gracewire_sdk import testing
testing.use_world("announcement-policy")

import announce
from gracewire_sdk import announcement_of

def test_skips_private():
    batch = testing.BatchBuilder().route("198.51.100.10/32", {"pool": "public"}).route(
        "198.51.100.20/32", {"pool": "private"}).build()
    decisions = announce.Routes(batch).decide(testing.test_peer("tor1"))
    assert announcement_of(decisions, batch, 0) is not None
    assert announcement_of(decisions, batch, 1) is None
"#;

#[test]
fn a_python_plugin_from_a_fresh_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    // A virtual environment of its own, the SDK installed from this checkout with its
    // dependencies (componentize-py, pytest) from PyPI, as docs/plugins.md says.
    run(Command::new(python()).args(["-m", "venv"]).arg(&venv));
    let py = venv.join("bin/python");
    let sdk = format!("{}[test]", workspace().join("sdk/python").display());
    run(Command::new(&py)
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
        .arg(sdk));
    let dir = tmp.path().join("my-policy");
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::write(dir.join("app.py"), PY_APP).unwrap();
    std::fs::write(dir.join("announce.py"), PY_ROUTES).unwrap();
    std::fs::write(dir.join("tests/test_policy.py"), PY_TEST).unwrap();
    let tested = run(Command::new(&py)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .env("PYTHONPATH", &dir)
        .current_dir(&dir));
    assert!(tested.contains("1 passed"), "{tested}");
    run(Command::new(&py)
        .args([
            "-m",
            "gracewire_sdk",
            "build",
            "--world",
            "announcement-policy",
            "-o",
            "policy.wasm",
            ".",
        ])
        .current_dir(&dir));
    let checked = check(tmp.path(), &dir.join("policy.wasm"), "{}");
    assert!(
        checked.contains("ok (1 peers, 1 announcements, 1 plugins)"),
        "{checked}"
    );
}
