//! The gracewire binary under test.

use crate::{run, wait_for, Lab, Process};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// Builds the binary once per test process (so tests always run the current code), unless
/// `GRACEWIRE_BIN` names another build to test (an older one, to show a test fails there).
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build(false)).clone()
}

/// Paths received from all peers, as `binary show neighbors` over `socket` says (0 while it
/// does not answer): what the ingest benches poll.
pub fn paths_received(binary: &Path, socket: &Path) -> usize {
    crate::try_run(
        Command::new(binary)
            .args(["show", "neighbors", "--json", "--socket"])
            .arg(socket),
    )
    .and_then(|o| serde_json::from_str::<Value>(&o).ok())
    .and_then(|v| {
        v["peers"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["received"].as_u64()).sum::<u64>())
    })
    .unwrap_or(0) as usize
}

/// Builds `gracewire` (debug, or release for benchmarks) and returns its path; with
/// `GRACEWIRE_BIN` set, that build instead (to measure an older one beside the current).
pub fn build(release: bool) -> PathBuf {
    if let Some(bin) = std::env::var_os("GRACEWIRE_BIN") {
        return PathBuf::from(bin);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ws = crate::workspace();
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&ws)
        .args(["build", "-q", "-p", "gracewire", "--bin", "gracewire"]);
    if release {
        cmd.arg("--release");
    }
    run(&mut cmd);
    let bin = crate::target_dir()
        .join(if release { "release" } else { "debug" })
        .join("gracewire");
    assert!(bin.exists(), "{} missing after build", bin.display());
    bin
}

pub struct Gracewire {
    pub process: Process,
    pub config: PathBuf,
    pub socket: PathBuf,
    /// Network namespace to run in, if not the host's.
    pub netns: Option<String>,
    /// More arguments to `run`, and environment, for every start.
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Gracewire {
    /// Writes `config` (which should use `{state_dir}` for its state_dir) and starts the daemon.
    pub fn start(lab: &Lab, config: &str) -> Gracewire {
        Self::start_in(lab, config, None)
    }

    /// Like [`Gracewire::start`], with more `run` arguments and environment.
    pub fn start_with(lab: &Lab, config: &str, args: &[&str], env: &[(&str, &str)]) -> Gracewire {
        let mut gw = Self::prepare(lab, config, None);
        gw.args = args.iter().map(|a| a.to_string()).collect();
        gw.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        gw.restart();
        gw
    }

    /// Like [`Gracewire::start`], inside network namespace `netns`.
    pub fn start_in(lab: &Lab, config: &str, netns: Option<&str>) -> Gracewire {
        let mut gw = Self::prepare(lab, config, netns);
        gw.restart();
        gw
    }

    fn prepare(lab: &Lab, config: &str, netns: Option<&str>) -> Gracewire {
        let state_dir = lab.path("gracewire-state");
        let config_path = lab.path("gracewire.toml");
        std::fs::write(
            &config_path,
            config.replace("{state_dir}", state_dir.to_str().unwrap()),
        )
        .unwrap();
        let socket = state_dir.join("gracewire.sock");
        Gracewire {
            process: Process {
                child: None,
                log: lab.path("gracewire.log"),
            },
            config: config_path,
            socket,
            netns: netns.map(str::to_string),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Starts the process again with the same config and waits for its control socket.
    pub fn restart(&mut self) {
        self.restart_with(&[]);
    }

    /// [`Self::restart`] with `extra` arguments for `run`.
    pub fn restart_with(&mut self, extra: &[&str]) {
        let _ = std::fs::remove_file(&self.socket);
        let mut cmd = self.command(extra);
        self.process = Process::spawn(&mut cmd, &self.process.log.clone());
        self.wait_for_control();
    }

    /// A hitless upgrade: starts a second process with `--takeover` (the same binary and
    /// config) and waits until the running one has handed its sessions over and exited.
    /// Returns how long that took from the new process's start.
    pub fn upgrade(&mut self) -> Duration {
        let started = std::time::Instant::now();
        let mut cmd = self.command(&["--takeover"]);
        let new = Process::spawn(&mut cmd, &self.process.log.clone());
        let mut old = std::mem::replace(&mut self.process, new);
        let mut child = old.child.take().expect("a running gracewire to upgrade");
        let status = wait_for(
            "the old process to hand over and exit",
            Duration::from_secs(60),
            || child.try_wait().unwrap(),
        );
        assert!(
            status.success(),
            "the old process failed: {status}; log:\n{}",
            self.process.log_text()
        );
        let took = started.elapsed();
        self.wait_for_control();
        took
    }

    fn command(&self, extra: &[&str]) -> Command {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(binary());
                c
            }
            None => Command::new(binary()),
        };
        cmd.args(["run", "--config"])
            .arg(&self.config)
            .args(&self.args)
            .args(extra)
            .env("RUST_LOG", "debug")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn wait_for_control(&self) {
        // A debug build compiles its plugins with Cranelift before it serves; with other tests
        // doing the same on two cores that has taken over 10 s.
        wait_for("gracewire control socket", Duration::from_secs(40), || {
            self.try_show("neighbors")
        });
    }

    pub fn try_show(&self, what: &str) -> Option<Value> {
        let out = Command::new(binary())
            .args(["show", what, "--json", "--socket"])
            .arg(&self.socket)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    pub fn show(&self, what: &str) -> Value {
        self.try_show(what).unwrap_or_else(|| {
            panic!(
                "gracewire show {what} failed; log:\n{}",
                self.process.log_text()
            )
        })
    }

    /// Runs `gracewire ARGS --socket S` and returns stdout; panics with stderr on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(binary())
            .args(args)
            .arg("--socket")
            .arg(&self.socket)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `gracewire health --json`: the checks, in name order.
    pub fn show_health(&self) -> Value {
        let out = Command::new(binary())
            .args(["health", "--json", "--socket"])
            .arg(&self.socket)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gracewire health: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
        reply["checks"].clone()
    }

    pub fn neighbor(&self, name: &str) -> Value {
        self.show("neighbors")["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no neighbor {name}"))
    }

    pub fn state(&self, name: &str) -> String {
        self.neighbor(name)["state"].as_str().unwrap().to_string()
    }

    /// Routes received from `peer`, by prefix.
    pub fn received(&self, peer: &str) -> Vec<Value> {
        self.show("routes")["routes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["peer"] == peer)
            .cloned()
            .collect()
    }

    pub fn has_route(&self, peer: &str, prefix: &str) -> bool {
        self.received(peer).iter().any(|r| r["prefix"] == prefix)
    }

    /// Rewrites the config and asks the daemon to reload it (SIGHUP).
    pub fn reload(&self, config: &str, lab: &Lab) {
        self.write_config(config, lab);
        self.process.signal("HUP");
    }

    /// Rewrites the config file (for the next start, reload or upgrade).
    pub fn write_config(&self, config: &str, lab: &Lab) {
        let state_dir = lab.path("gracewire-state");
        std::fs::write(
            &self.config,
            config.replace("{state_dir}", state_dir.to_str().unwrap()),
        )
        .unwrap();
    }

    pub fn wait_established(&self, name: &str, timeout: Duration) {
        wait_for(
            &format!("gracewire session {name} Established"),
            timeout,
            || (self.state(name) == "Established").then_some(()),
        );
    }
}
